/* test-read.c: every path of wxshm_open/wxshm_read against real shm objects, good and hostile. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define HOUR_MS 3600000

/* A read-write view of the object, standing in for a corrupt or hostile writer. */
static struct wxshm_layout *raw_map(const char *name, int *fd_out) {
        struct wxshm_layout *seg;
        int fd;

        fd = openat(test_shm_dirfd(), name, O_RDWR);
        SETUP_OK(fd >= 0);
        seg = mmap(NULL, sizeof(*seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        SETUP_OK(seg != MAP_FAILED);
        if (fd_out)
                *fd_out = fd;
        else
                close(fd);
        return seg;
}

static wxshm_writer *writer_new(const char *name) {
        wxshm_writer *w;

        test_unlink_at_exit(name);
        SETUP_OK(wxshm_writer_open(&w, test_shm_dirfd(), name, NULL) == 0);
        return w;
}

static void test_open_errors(void) {
        wxshm *h = NULL;
        int fd;

        CHECK_EQ(wxshm_open(NULL, "app"), -EINVAL);
        CHECK_EQ(wxshm_open(&h, NULL), -EINVAL);
        CHECK_EQ(wxshm_open(&h, "../../etc/passwd"), -EINVAL);
        CHECK_EQ(wxshm_open(&h, "a b"), -EINVAL);
        CHECK_EQ(wxshm_open(&h, "nosuchapp"), -ENOENT);
        CHECK(h == NULL); /* untouched on failure */

        /* A foreign object under a valid name: too small, then the right size but not ours. */
        test_unlink_at_exit("foreign");
        fd = openat(test_shm_dirfd(), "foreign", O_RDWR | O_CREAT, 0600);
        SETUP_OK(fd >= 0);
        SETUP_OK(write(fd, "hello", 5) == 5);
        CHECK_EQ(wxshm_open(&h, "foreign"), -EBADMSG);
        /* Empty: what the agent's openat makes before posix_fallocate sizes it, so "being made". */
        SETUP_OK(ftruncate(fd, 0) == 0);
        CHECK_EQ(wxshm_open(&h, "foreign"), -EAGAIN);
        SETUP_OK(ftruncate(fd, 1 << 20) == 0);
        CHECK_EQ(wxshm_open(&h, "foreign"), -EBADMSG);
        close(fd);
        CHECK(h == NULL);
}

static void test_states(void) {
        wxshm_writer *w = writer_new("app");
        char buf[WXSHM_TOKEN_MAX + 1], small[8];
        wxshm_info info = { .size = sizeof(info) };
        int64_t now = test_now_ms();
        uint64_t gen;
        wxshm *h;

        REQUIRE_EQ(wxshm_open(&h, "app"), 0);
        /* Created, never published. */
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), -ENODATA);
        CHECK_EQ(wxshm_read(NULL, buf, sizeof(buf), NULL), -EINVAL);
        CHECK_EQ(wxshm_read(h, NULL, sizeof(buf), NULL), -EINVAL);
        CHECK_EQ(wxshm_read(h, buf, 0, NULL), -EINVAL);

        CHECK_EQ(wxshm_writer_publish(w, "token-one", 9, now + HOUR_MS, now, &gen), 0);
        CHECK_EQ(gen, 1);
        wxshm_writer_heartbeat(w, now);
        wxshm_writer_set_state(w, WXSHM_STATE_FRESH);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), 9);
        CHECK(strcmp(buf, "token-one") == 0);
        CHECK_EQ(info.generation, 1);
        CHECK_EQ(info.expires_at_ms, now + HOUR_MS);
        CHECK_EQ(info.fetched_at_ms, now);
        CHECK_EQ(info.state, WXSHM_STATE_FRESH);
        CHECK_EQ(info.agent_pid, getpid());
        CHECK_EQ(info.agent_alive, 1);
        CHECK_EQ(info.token_length, 9);
        CHECK_EQ(info.last_errcode, 0);
        CHECK(strcmp(wxshm_state_name(info.state), "fresh") == 0);
        CHECK(strcmp(wxshm_state_name(99), "unknown") == 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), 9);

        /* The same token again keeps its generation; another one bumps it. */
        CHECK_EQ(wxshm_writer_publish(w, "token-one", 9, now + 2 * HOUR_MS, now, &gen), 0);
        CHECK_EQ(gen, 1);
        CHECK_EQ(wxshm_writer_publish(w, "token-two!", 10, now + HOUR_MS, now, &gen), 0);
        CHECK_EQ(gen, 2);

        /* Buffer too small: exactly length + 1 fits, length does not. */
        CHECK_EQ(wxshm_read(h, small, sizeof(small), NULL), -ENOBUFS);
        CHECK_EQ(wxshm_read(h, buf, 11, NULL), 10);
        CHECK_EQ(wxshm_read(h, buf, 10, NULL), -ENOBUFS);

        /* An info struct from an older caller: only the fields it has are written. */
        {
                struct {
                        wxshm_info head;
                        uint64_t guard;
                } old = { .head = { .size = offsetof(wxshm_info, expires_at_ms) }, .guard = 0x5a5a5a5a5a5a5a5au };
                old.head.expires_at_ms = -7;
                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &old.head), 10);
                CHECK_EQ(old.head.generation, 2);
                CHECK_EQ(old.head.expires_at_ms, -7);
                CHECK_EQ(old.guard, 0x5a5a5a5a5a5a5a5au);
                old.head.size = 0;
                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &old.head), -EINVAL);
        }

        /* Expired: -ESTALE, but the token and info are there for a last try. */
        CHECK_EQ(wxshm_writer_publish(w, "token-old", 9, now - 1000, now - HOUR_MS, NULL), 0);
        memset(buf, 0, sizeof(buf));
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), -ESTALE);
        CHECK(strcmp(buf, "token-old") == 0);
        CHECK_EQ(info.generation, 3);

        /* A silent agent: heartbeat older than three intervals. */
        wxshm_writer_heartbeat(w, now - 60000);
        wxshm_writer_set_error(w, 40164, now);
        wxshm_writer_set_state(w, WXSHM_STATE_CONFIG_ERROR);
        CHECK_EQ(wxshm_writer_publish(w, "token-new", 9, now + HOUR_MS, now, NULL), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), 9);
        CHECK_EQ(info.agent_alive, 0);
        CHECK_EQ(info.last_errcode, 40164);
        CHECK_EQ(info.last_error_at_ms, now);
        CHECK_EQ(info.state, WXSHM_STATE_CONFIG_ERROR);

        /* Retired: readers are told to re-open, whatever the slots hold. */
        wxshm_writer_retire(w);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), -EIDRM);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EIDRM);
        /* 2: the app was removed, do not re-open; any other value (a later writer's) is a re-open. */
        {
                _Atomic uint64_t *retired = (_Atomic uint64_t *)&wxshm_writer_layout(w)->retired;

                atomic_store(retired, WXSHM_LAYOUT_RETIRED_REMOVED);
                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), -ENXIO);
                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -ENXIO);
                atomic_store(retired, 3);
                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EIDRM);
                atomic_store(retired, UINT64_MAX);
                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EIDRM);
        }
        wxshm_close(h);
        wxshm_writer_close(w);
        wxshm_close(NULL);
}

static void test_hostile_slots(void) {
        wxshm_writer *w = writer_new("hostile");
        char buf[WXSHM_TOKEN_MAX + 1];
        int64_t now = test_now_ms();
        struct wxshm_layout *raw;
        uint64_t seq;
        wxshm *h;

        CHECK_EQ(wxshm_writer_publish(w, "first", 5, now + HOUR_MS, now, NULL), 0);
        REQUIRE_EQ(wxshm_open(&h, "hostile"), 0);
        raw = raw_map("hostile", NULL);

        /*
         * Odd counter, as a writer killed after its first bump leaves it: slot 1 is the one
         * in use and must be the one read, whatever slot 0 holds.
         */
        seq = atomic_load(&raw->seq);
        CHECK_EQ(seq % 2, 0);
        atomic_store(&raw->slot[1].length, 6);
        atomic_store(&raw->slot[1].generation, 2);
        memcpy((void *)raw->slot[1].token, "second\0\0", 8);
        atomic_store(&raw->slot[1].expires_at_ms, now + HOUR_MS);
        atomic_store(&raw->slot[0].length, 3000); /* torn, never to be read */
        atomic_store(&raw->seq, seq + 1);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), 6);
        CHECK(strcmp(buf, "second") == 0);

        /* A writer of the next generation adopts the odd counter and leaves slot 1 consistent. */
        CHECK_EQ(wxshm_writer_publish(w, "third", 5, now + HOUR_MS, now, NULL), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), 5);
        CHECK(strcmp(buf, "third") == 0);

        /* An oversize length field in the slot in use: refused, no read past the slot. */
        seq = atomic_load(&raw->seq);
        atomic_store(&raw->slot[seq & 1].length, (uint64_t)WXSHM_LAYOUT_TOKEN_CAPACITY + 8);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EBADMSG);
        atomic_store(&raw->slot[seq & 1].length, UINT64_MAX);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EBADMSG);
        wxshm_close(h);

        /* A header rewritten to another version, or another magic: refused at open. */
        raw->version = 9;
        CHECK_EQ(wxshm_open(&h, "hostile"), -EPROTONOSUPPORT);
        raw->version = WXSHM_LAYOUT_VERSION;
        raw->token_capacity = 1u << 20;
        CHECK_EQ(wxshm_open(&h, "hostile"), -EBADMSG);
        raw->token_capacity = WXSHM_LAYOUT_TOKEN_CAPACITY;
        atomic_store(&raw->magic, 0xdeadbeefu);
        CHECK_EQ(wxshm_open(&h, "hostile"), -EBADMSG);
        atomic_store(&raw->magic, WXSHM_LAYOUT_MAGIC);
        REQUIRE_EQ(wxshm_open(&h, "hostile"), 0);
        wxshm_close(h);
        munmap(raw, sizeof(*raw));
        wxshm_writer_close(w);
}

static void test_truncated(void) {
        wxshm_writer *w = writer_new("short");
        int64_t now = test_now_ms();
        wxshm *h;
        int fd;

        CHECK_EQ(wxshm_writer_publish(w, "tok", 3, now + HOUR_MS, now, NULL), 0);
        munmap(raw_map("short", &fd), sizeof(struct wxshm_layout));
        /* Cut inside slot 1: the header still says 4416 bytes, the object has fewer. */
        SETUP_OK(ftruncate(fd, sizeof(struct wxshm_layout) - 100) == 0);
        CHECK_EQ(wxshm_open(&h, "short"), -EBADMSG);
        SETUP_OK(ftruncate(fd, 64) == 0);
        CHECK_EQ(wxshm_open(&h, "short"), -EBADMSG);
        /* A later layout version of another size: the first 64 bytes still say which. */
        {
                struct wxshm_layout *raw;

                SETUP_OK(ftruncate(fd, 2 * sizeof(*raw)) == 0);
                raw = mmap(NULL, sizeof(*raw), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                SETUP_OK(raw != MAP_FAILED);
                atomic_store(&raw->magic, WXSHM_LAYOUT_MAGIC);
                raw->version = WXSHM_LAYOUT_VERSION + 1;
                CHECK_EQ(wxshm_open(&h, "short"), -EPROTONOSUPPORT);
                raw->version = WXSHM_LAYOUT_VERSION;
                CHECK_EQ(wxshm_open(&h, "short"), -EBADMSG);
                munmap(raw, sizeof(*raw));
        }
        close(fd);
        wxshm_writer_close(w);
}

/* Only what the directory's owner made is read: the checks of wxshm_open before any mapping. */
static void test_trust(void) {
        wxshm_writer *w = writer_new("trust");
        int64_t now = test_now_ms();
        char buf[64];
        struct stat dir, file;
        wxshm *h;
        int fd;

        CHECK_EQ(wxshm_writer_publish(w, "tok", 3, now + HOUR_MS, now, NULL), 0);
        REQUIRE_EQ(wxshm_open(&h, "trust"), 0);
        wxshm_close(h);

        /* A directory others could write to: anyone could have made the file. */
        SETUP_OK(chmod(test_shm_dir(), 0771) == 0);
        CHECK_EQ(wxshm_open(&h, "trust"), -EPERM);
        SETUP_OK(chmod(test_shm_dir(), 0757) == 0);
        CHECK_EQ(wxshm_open(&h, "trust"), -EPERM);
        SETUP_OK(chmod(test_shm_dir(), 0751) == 0);

        /* A file that is not the directory owner's (only root can make one to try). */
        if (geteuid() != 0) {
                wxshm_writer_close(w);
                return;
        }
        fd = openat(test_shm_dirfd(), "trust", O_RDONLY);
        SETUP_OK(fd >= 0 && fchown(fd, 60123, (gid_t)-1) == 0);
        CHECK_EQ(wxshm_open(&h, "trust"), -EPERM);
        /* A directory made by an ordinary user (uid > 999) other than the reader, with its file. */
        SETUP_OK(chown(test_shm_dir(), 60123, (gid_t)-1) == 0);
        CHECK_EQ(wxshm_open(&h, "trust"), -EPERM);
        SETUP_OK(chown(test_shm_dir(), 0, (gid_t)-1) == 0 && fchown(fd, 0, (gid_t)-1) == 0);
        close(fd);
        REQUIRE_EQ(wxshm_open(&h, "trust"), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), 3);
        wxshm_close(h);

        /* A link to the segment is not followed, nor a FIFO waited on. */
        SETUP_OK(symlinkat("trust", test_shm_dirfd(), "link") == 0);
        CHECK_EQ(wxshm_open(&h, "link"), -EPERM);
        SETUP_OK(mkfifoat(test_shm_dirfd(), "fifo", 0644) == 0);
        CHECK_EQ(wxshm_open(&h, "fifo"), -EBADMSG);
        wxshm_writer_close(w);

        /* The rule itself: an ordinary uid's directory is trusted by that uid alone. */
        memset(&dir, 0, sizeof(dir));
        memset(&file, 0, sizeof(file));
        dir.st_mode = S_IFDIR | 0751;
        file.st_mode = S_IFREG | 0640;
        dir.st_uid = file.st_uid = 1000;
        CHECK_EQ(segment_trusted(&dir, &file, 1000), 0);
        CHECK_EQ(segment_trusted(&dir, &file, 1001), -EPERM);
        CHECK_EQ(segment_trusted(&dir, &file, 0), -EPERM);
        dir.st_uid = file.st_uid = SEGMENT_SYSTEM_UID_MAX;
        CHECK_EQ(segment_trusted(&dir, &file, 1001), 0);
        file.st_uid = 0;
        CHECK_EQ(segment_trusted(&dir, &file, 1001), -EPERM);
        dir.st_uid = 0;
        CHECK_EQ(segment_trusted(&dir, &file, 1001), 0);
        dir.st_mode = S_IFDIR | 0775;
        CHECK_EQ(segment_trusted(&dir, &file, 0), -EPERM);
        dir.st_mode = S_IFREG | 0755;
        CHECK_EQ(segment_trusted(&dir, &file, 0), -EPERM);
}

int main(void) {
        test_shm_dir();
        test_open_errors();
        test_trust();
        test_states();
        test_hostile_slots();
        test_truncated();
        return 0;
}
