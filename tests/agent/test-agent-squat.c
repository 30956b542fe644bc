/* test-agent-squat.c: a local user plants segments before the agent starts; nothing of theirs is adopted or read. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "writer.h"

#define SEC_SQ "Squat-0123456789abcdef"
#define SEC_OK "Clean-0123456789abcdef"
#define ATTACKER "wxtsquat"
#define PLANTED "PLANTED-by-the-attacker-0123456789"
#define PROTECTED_REGULAR "/proc/sys/fs/protected_regular"

static char saved_protected[8];
static uid_t attacker_uid;
static gid_t attacker_gid;

/* The sysctl goes back to what it was however the test ends. */
static void protected_restore(void) {
        FILE *f;

        if (!saved_protected[0] || !(f = fopen(PROTECTED_REGULAR, "we")))
                return;
        fputs(saved_protected, f);
        fclose(f);
}

/*
 * 0, as on this machine: the kernel does not stop a root O_CREAT open from following
 * someone else's file in a sticky directory, the case where the old agent adopted it.
 */
static void protected_off(void) {
        FILE *f = fopen(PROTECTED_REGULAR, "re");

        SETUP_OK(f && fgets(saved_protected, sizeof(saved_protected), f), "read " PROTECTED_REGULAR ": %m");
        fclose(f);
        atexit(protected_restore);
        f = fopen(PROTECTED_REGULAR, "we");
        SETUP_OK(f && fputs("0", f) >= 0 && fclose(f) == 0, "write " PROTECTED_REGULAR ": %m");
}

/* An ordinary login user (uid >= 1000), made once and kept: useradd is slow and idempotence is enough. */
static void attacker_make(void) {
        struct passwd *pw = getpwnam(ATTACKER);

        SETUP_OK(pw || system("useradd -M -s /usr/sbin/nologin " ATTACKER " >/dev/null 2>&1") == 0);
        pw = getpwnam(ATTACKER);
        SETUP_OK(pw, "getpwnam " ATTACKER);
        attacker_uid = pw->pw_uid;
        attacker_gid = pw->pw_gid;
}

/* Run fn(arg) in a child as the attacker; its exit status (0: fn returned 0). */
static int as_attacker(int (*fn)(const void *), const void *arg) {
        pid_t pid = fork();
        int status;

        SETUP_OK(pid >= 0, "fork: %m");
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(attacker_gid) < 0 || setuid(attacker_uid) < 0)
                        _exit(EXIT_SETUP);
                _exit(fn(arg) == 0 ? 0 : 1);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

/* A valid segment holding the planted token, made with the library, mode 0666: what a squatter leaves. */
static int plant_in(int dir_fd, const char *name) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        int64_t now = (int64_t)time(NULL) * 1000;
        wxshm_writer *w;

        opts.mode = 0666;
        if (wxshm_writer_open(&w, dir_fd, name, &opts) < 0)
                return -1;
        if (wxshm_writer_publish(w, PLANTED, strlen(PLANTED), now + 7200000, now, NULL) < 0)
                return -1;
        wxshm_writer_close(w);
        return 0;
}

struct plant {
        const char *dir;
        const char *name;       /* as the file is to be called */
};

static int plant_named(const void *arg) {
        const struct plant *p = arg;
        int fd = open(p->dir, O_PATH | O_DIRECTORY | O_CLOEXEC), r;

        if (fd < 0)
                return -1;
        /* Made under a valid item name, then renamed: legacy names have two dots. */
        r = plant_in(fd, "planting");
        if (r == 0 && renameat(fd, "planting", fd, p->name) < 0)
                r = -1;
        close(fd);
        return r;
}

/* The attacker's own directory at the agent's shm_dir, with a segment in it. */
static int squat_dir(const void *arg) {
        const struct plant *p = arg;

        if (mkdir(p->dir, 0755) < 0)
                return -1;
        return plant_named(p);
}

/* Inside the agent's own directory the attacker can make nothing. */
static int create_inside(const void *arg) {
        const char *dir = arg;
        char path[160];
        int fd;

        snprintf(path, sizeof(path), "%s/sq", dir);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
                close(fd);
                return 0;
        }
        return errno == EACCES ? 1 : -1;
}

/* The attacker's truncating holder: map the planted object, then cut it to nothing. */
static int truncate_planted(const void *arg) {
        const char *path = arg;
        int fd = open(path, O_RDWR);
        void *map;

        if (fd < 0)
                return -1;
        map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED || ftruncate(fd, 0) < 0)
                return -1;
        close(fd);
        return 0;
}

/* What a reader of the old library holds: a read-only mapping of the old object. */
static const struct wxshm_layout *map_old(const char *path) {
        int fd = open(path, O_RDONLY);
        void *map;

        if (fd < 0)
                return NULL;
        map = mmap(NULL, sizeof(struct wxshm_layout), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        return map == MAP_FAILED ? NULL : map;
}

/* What libwxshm gives a reader of item under dir: the token (>0) or -errno. */
static int read_in(const char *dir, const char *item, char *buf, size_t size) {
        char *old = getenv("WXSHM_DIR") ? strdup(getenv("WXSHM_DIR")) : NULL;
        wxshm_info info;
        int r;

        setenv("WXSHM_DIR", dir, 1);
        r = agent_read(item, buf, size, &info);
        if (old) {
                setenv("WXSHM_DIR", old, 1);
                free(old);
        }
        return r;
}

/* The file still holds exactly what the attacker planted, and is still theirs. */
static bool planted_intact(const char *path) {
        struct stat st;
        char *data;
        bool ok;
        int fd = open(path, O_RDONLY);

        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != (off_t)sizeof(struct wxshm_layout)) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        data = mmap(NULL, sizeof(struct wxshm_layout), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        ok = data != MAP_FAILED && st.st_uid == attacker_uid &&
             memmem(data, sizeof(struct wxshm_layout), PLANTED, strlen(PLANTED)) &&
             !memmem(data, sizeof(struct wxshm_layout), "wxSQ", 4);
        if (data != MAP_FAILED)
                munmap(data, sizeof(struct wxshm_layout));
        return ok;
}

static void squat_legacy_names(struct emu_proc *emu) {
        static struct agent_proc a;
        char legacy[32], token_path[96], jsapi_path[96], own_path[96], apps[1024], buf[WXSHM_TOKEN_MAX + 1];
        const struct wxshm_layout *old_reader;
        struct plant token, jsapi;
        int r;

        agent_init(&a);
        snprintf(legacy, sizeof(legacy), "sq%ld", (long)getpid());
        snprintf(token_path, sizeof(token_path), "/dev/shm/%s.sq", legacy);
        snprintf(jsapi_path, sizeof(jsapi_path), "/dev/shm/%s.sq.jsapi", legacy);
        token = (struct plant){ "/dev/shm", token_path + 9 };
        jsapi = (struct plant){ "/dev/shm", jsapi_path + 9 };
        CHECK(as_attacker(plant_named, &token) == 0 && as_attacker(plant_named, &jsapi) == 0,
              "the attacker planted %s and %s", token_path, jsapi_path);

        /*
         * The agent's own segment at an old name, held by an old reader: retired (the reader is
         * told to re-open) and unlinked at the agent's first start.
         */
        snprintf(own_path, sizeof(own_path), "/dev/shm/%s.ok", legacy);
        {
                struct plant own = { "/dev/shm", own_path + 9 };

                CHECK(plant_named(&own) == 0, "the agent's own old segment %s", own_path);
                old_reader = map_old(own_path);
        }

        /* The agent's directory, as tmpfiles makes it at boot: the attacker cannot add to it. */
        CHECK(mkdir(a.shm_dir, 0751) == 0 && chmod(a.shm_dir, 0751) == 0, "shm_dir made");
        CHECK(as_attacker(create_inside, a.shm_dir) == 1, "the attacker cannot create a name in shm_dir");

        snprintf(apps, sizeof(apps),
                 "[app sq]\nkind = token\nappid = wxSQ\nsecret_file = %s\ntickets = jsapi\napi_base = http://127.0.0.1:%d\n"
                 "[app ok]\nkind = token\nappid = wxOK\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "sq", SEC_SQ), emu->port, agent_secret_file(&a, "ok", SEC_OK), emu->port);
        {
                char extra[96];

                snprintf(extra, sizeof(extra), "shm_prefix = %s", legacy);
                agent_write_config(&a, extra, apps);
        }
        agent_start(&a);
        CHECK(agent_wait_generation("sq", 1, 10000) && agent_wait_generation("sq.jsapi", 1, 10000) &&
              agent_wait_generation("ok", 1, 10000), "every app fresh");

        /* Readers get the agent's tokens, never the planted one. */
        r = agent_read("sq", buf, sizeof(buf), &(wxshm_info){ 0 });
        CHECK(r > 0 && !strstr(buf, PLANTED), "sq is the agent's token (%d)", r);
        r = agent_read("sq.jsapi", buf, sizeof(buf), &(wxshm_info){ 0 });
        CHECK(r > 0 && !strstr(buf, PLANTED), "sq.jsapi is the agent's ticket (%d)", r);
        CHECK(agent_read("ok", buf, sizeof(buf), &(wxshm_info){ 0 }) > 0, "the unsquatted app is fresh");
        /* A reader pointed at /dev/shm itself (world-writable) trusts nothing there. */
        CHECK(read_in("/dev/shm", token_path + 9, buf, sizeof(buf)) == -EPERM, "a reader refuses /dev/shm");

        /* Its own old object is gone from /dev/shm, and the old reader was told so. */
        CHECK(access(own_path, F_OK) != 0 && errno == ENOENT, "the agent's old segment is unlinked");
        CHECK(old_reader && atomic_load(&old_reader->retired) == 1, "and retired for the reader that holds it");
        CHECK(agent_log_count(&a, "retired the old segment") == 1, "the agent says so once");
        if (old_reader)
                munmap((void *)old_reader, sizeof(*old_reader));

        /* The agent neither adopted nor changed the planted objects, and said what to remove. */
        CHECK(planted_intact(token_path) && planted_intact(jsapi_path), "the planted objects are untouched");
        CHECK(agent_log_count(&a, "is not this agent's") == 2 && agent_log_count(&a, "rm /dev/shm/") == 2,
              "the agent named both planted objects and how to remove them");

        /* The truncating holder: the agent never mapped the objects, so it cannot fault on them. */
        CHECK(as_attacker(truncate_planted, token_path) == 0 && as_attacker(truncate_planted, jsapi_path) == 0,
              "the attacker truncated what it planted");
        {
                cJSON *o = agent_request(&a, "{\"op\":\"status\"}\n", buf, sizeof(buf));

                CHECK(o && kill(a.pid, 0) == 0, "the agent lives on");
                cJSON_Delete(o);
        }
        unlink(token_path);
        unlink(jsapi_path);
        CHECK(agent_stop(&a) == 0, "clean stop (no SIGBUS)");
}

static void squat_directory(void) {
        static struct agent_proc b;
        char apps[512], buf[WXSHM_TOKEN_MAX + 1];
        struct plant seg;
        int status;

        agent_init(&b);
        seg = (struct plant){ b.shm_dir, "sq" };
        CHECK(as_attacker(squat_dir, &seg) == 0, "the attacker made %s first", b.shm_dir);
        snprintf(apps, sizeof(apps), "[app sq]\nkind = token\nappid = wxSQ\nsecret_file = %s\napi_base = http://127.0.0.1:1\n",
                 agent_secret_file(&b, "sq", SEC_SQ));
        agent_write_config(&b, NULL, apps);
        agent_spawn(&b);
        CHECK(agent_exited(&b, 20000, &status) && WIFEXITED(status) && WEXITSTATUS(status) != 0,
              "the agent refuses a directory it does not own");
        CHECK(agent_log_count(&b, "owned by uid") == 1 && agent_log_count(&b, "rm -r") == 1,
              "and says whose it is and how to fix it");
        {
                char path[96];

                snprintf(path, sizeof(path), "%s/sq", b.shm_dir);
                CHECK(planted_intact(path), "the planted segment is untouched");
        }
        /* Readers (here root) refuse a directory of an ordinary user other than themselves. */
        CHECK(read_in(b.shm_dir, "sq", buf, sizeof(buf)) == -EPERM, "a reader refuses the attacker's directory");
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxSQ:" SEC_SQ, "--app", "wxOK:" SEC_OK, NULL };
        struct emu_proc emu;

        if (geteuid() != 0) {
                printf("SKIP: needs root, to make a second user and change fs.protected_regular\n");
                return EXIT_SKIP;
        }
        attacker_make();
        protected_off();
        emu_start(&emu, emu_args);
        squat_legacy_names(&emu);
        squat_directory();
        return harness_finish(NULL);
}
