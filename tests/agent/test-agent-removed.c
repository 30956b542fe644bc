/* test-agent-removed.c: an app or ticket that leaves the config has its segment marked removed (-ENXIO) and unlinked, at a reload and at the next start. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_K "Removed-K-0123456789"
#define SEC_G "Removed-G-0123456789"

static struct agent_proc a;
static struct emu_proc emu;
static char section_keep[512], section_keep_jsapi[sizeof(section_keep) + 32], section_gone[512];

static void configure(const char *s1, const char *s2) {
        char apps[2048];

        snprintf(apps, sizeof(apps), "%s\n%s\n", s1, s2 ? s2 : "");
        agent_write_config(&a, NULL, apps);
}

static void reload(const char *s1, const char *s2) {
        configure(s1, s2);
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_notify(&a, "RELOADING=1", 10000), "RELOADING=1 on SIGHUP");
        CHECK(agent_wait_notify(&a, "READY=1", 10000), "READY=1 after the reload");
}

/* Whether shm_dir holds name (not following a link). */
static bool present(const char *name) {
        char path[256];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", a.shm_dir, name);
        return lstat(path, &st) == 0;
}

/* A reader's handle on item, as a program holding it across the change would have. */
static wxshm *hold(const char *item) {
        wxshm *h = NULL;
        int r = wxshm_open(&h, item);

        CHECK(r == 0, "a reader opens %s: %d", item, r);
        return h;
}

static int read_held(wxshm *h) {
        char buf[WXSHM_TOKEN_MAX + 1];

        return h ? wxshm_read(h, buf, sizeof(buf), NULL) : -EBADF;
}

static int reopen(const char *item) {
        wxshm *h = NULL;
        int r = wxshm_open(&h, item);

        wxshm_close(h);
        return r;
}

/* A file of ours in shm_dir: size bytes, and the first words as given (magic 0: none). */
static void plant(const char *name, off_t size, uint64_t magic, uint32_t version) {
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", a.shm_dir, name);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        SETUP_OK(fd >= 0 && ftruncate(fd, size) == 0, "plant %s: %m", path);
        if (magic) {
                struct wxshm_layout *seg = mmap(NULL, 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

                SETUP_OK(seg != MAP_FAILED, "map %s: %m", path);
                seg->version = version;
                atomic_store(&seg->magic, magic);
                munmap(seg, 64);
        }
        close(fd);
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxK:" SEC_K, "--app", "wxG:" SEC_G, NULL };
        wxshm *gone, *jsapi, *keep;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(section_keep, sizeof(section_keep), "[app keep]\nkind = token\nappid = wxK\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "keep", SEC_K), emu.port);
        snprintf(section_keep_jsapi, sizeof(section_keep_jsapi), "%stickets = jsapi\n", section_keep);
        snprintf(section_gone, sizeof(section_gone), "[app gone]\nkind = token\nappid = wxG\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "gone", SEC_G), emu.port);
        configure(section_keep_jsapi, section_gone);
        agent_start(&a);
        REQUIRE(agent_wait_generation("keep", 1, 10000) && agent_wait_generation("keep.jsapi", 1, 10000) &&
                agent_wait_generation("gone", 1, 10000), "keep, keep.jsapi and gone served");

        /*
         * A reload removes the app gone and keep's ticket: readers holding them are told the
         * app is gone (not "re-open"), the files are unlinked, a new open finds nothing.
         * keep itself stays, with its token.
         */
        gone = hold("gone");
        jsapi = hold("keep.jsapi");
        keep = hold("keep");
        reload(section_keep, NULL);
        CHECK_EQ(read_held(gone), -ENXIO);
        CHECK_EQ(read_held(jsapi), -ENXIO);
        CHECK(read_held(keep) > 0, "keep's reader still reads");
        CHECK(!present("gone") && !present("keep.jsapi") && present("keep"), "the removed files are unlinked");
        CHECK_EQ(reopen("gone"), -ENOENT);
        CHECK_EQ(reopen("keep.jsapi"), -ENOENT);
        CHECK(agent_log_count(&a, "app gone: removed") == 1, "the removal is logged");
        /* The apps removed their own segments: the sweep after the reload (for items that never started) found none. */
        CHECK(agent_log_count(&a, "removed the segment") == 0, "nothing left for the sweep");
        wxshm_close(gone);
        wxshm_close(jsapi);
        wxshm_close(keep);

        /* Both back, then the agent stops: segments outlive it, and readers keep them. */
        reload(section_keep_jsapi, section_gone);
        REQUIRE(agent_wait_generation("keep.jsapi", 1, 10000) && agent_wait_generation("gone", 1, 10000),
                "keep.jsapi and gone served again");
        CHECK_EQ(agent_stop(&a), 0);
        CHECK(present("gone") && present("keep.jsapi"), "a stop unlinks nothing");
        gone = hold("gone");
        jsapi = hold("keep.jsapi");
        keep = hold("keep");
        CHECK(read_held(gone) > 0, "gone still reads with the agent stopped");

        /*
         * While it is stopped, gone and keep's ticket leave the config. Beside them: our
         * segment of a later layout version for an unknown item (removed too: the first 64
         * bytes mean the same in every version), our file that is no segment, and one whose
         * making never finished (neither is a segment: both stay).
         */
        plant("future", 2 * (off_t)sizeof(struct wxshm_layout), WXSHM_LAYOUT_MAGIC, WXSHM_LAYOUT_VERSION + 1);
        plant("junk", 5, 0, 0);
        plant("half", (off_t)sizeof(struct wxshm_layout), 0, 0);
        CHECK_EQ(reopen("future"), -EPROTONOSUPPORT);
        configure(section_keep, NULL);
        agent_start(&a);
        CHECK_EQ(read_held(gone), -ENXIO);
        CHECK_EQ(read_held(jsapi), -ENXIO);
        CHECK(read_held(keep) > 0, "keep's reader still reads after the restart");
        CHECK(!present("gone") && !present("keep.jsapi") && !present("future"), "unlinked at the start");
        CHECK(present("keep") && present("junk") && present("half") && present(".lock"),
              "the configured segment, the non-segments and the lock stay");
        CHECK_EQ(reopen("gone"), -ENOENT);
        CHECK(agent_log_count(&a, "removed the segment") == 3, "one line per removed segment");
        CHECK(emu_stat(&emu, "wxK", "token_calls") == 1, "keep adopted its token at every step");
        wxshm_close(gone);
        wxshm_close(jsapi);
        wxshm_close(keep);

        return harness_finish(&a);
}
