/* test-c-reader.c: libwxshm against the conformance kit: every sample's EXPECTED answer, then wxconf-writer at full speed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "layout.h"
#include "wxconf.h"
#include "wxshm.h"

/* The contract's counts for a conformance run, and the time allowed to reach them on a loaded machine. */
#define GOOD_READS 1000000
#define GOOD_GENERATIONS 1000
#define GOOD_MAX_S 120
/* The negative control stops at this many torn copies, or after CONTROL_READS reads. */
#define CONTROL_TORN 1000
#define CONTROL_READS 5000000
#define CONTROL_MAX_S 20

static char tmp[] = "/dev/shm/wxconf-test.XXXXXX";
static pid_t writer_pid;

static void cleanup(void) {
        char cmd[64];

        if (writer_pid > 0) {
                kill(writer_pid, SIGKILL);
                waitpid(writer_pid, NULL, 0);
                writer_pid = 0;
        }
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", tmp);
}

static uint64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The kit's tools sit beside this test in the build tree ($WXCONF_BIN overrides). */
static void tool_path(char *buf, size_t size, const char *tool) {
        const char *dir = getenv("WXCONF_BIN");

        snprintf(buf, size, "%s/%s", dir ? dir : "./tests/conformance", tool);
}

/* What EXPECTED calls each result: "ok", "stale" or the errno's name. */
static const char *result_name(int r) {
        static const struct {
                int errnum;
                const char *name;
        } names[] = {
                { ENOENT, "ENOENT" },   { EPERM, "EPERM" },   { EACCES, "EACCES" },
                { EBADMSG, "EBADMSG" }, { EPROTONOSUPPORT, "EPROTONOSUPPORT" },
                { EAGAIN, "EAGAIN" },   { EIDRM, "EIDRM" },   { ENXIO, "ENXIO" },
                { ENODATA, "ENODATA" }, { EINVAL, "EINVAL" }, { ENOBUFS, "ENOBUFS" },
        };
        static char other[32];

        if (r >= 0)
                return "ok";
        if (r == -ESTALE)
                return "stale";
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].errnum == -r)
                        return names[i].name;
        snprintf(other, sizeof(other), "errno%d", -r);
        return other;
}

/* wxshm_open as a binding opens: a segment still being made (-EAGAIN) is retried 20 times, 1 ms apart. */
static int open_retrying(wxshm **h, const char *item) {
        int r = -EAGAIN;

        for (int i = 0; i < 20 && r == -EAGAIN; i++) {
                r = wxshm_open(h, item);
                if (r == -EAGAIN)
                        sleep_ms(1);
        }
        return r;
}

/* Open then read, as the contract has every binding do it: a retired segment is re-opened once. */
static int open_then_read(const char *item, char *buf, size_t size, wxshm_info *info) {
        bool reopened = false;
        wxshm *h;
        int r;

        r = open_retrying(&h, item);
        if (r < 0)
                return r;
        for (;;) {
                info->size = sizeof(*info);
                r = wxshm_read(h, buf, size, info);
                if (r != -EIDRM || reopened)
                        break;
                wxshm_close(h);
                reopened = true;
                r = open_retrying(&h, item);
                if (r < 0)
                        return r;
        }
        wxshm_close(h);
        return r;
}

/* Run a tool to its end: its exit status, or -1. */
static int run_tool(const char *tool, const char *arg) {
        char path[256];
        int status;
        pid_t pid;

        tool_path(path, sizeof(path), tool);
        pid = fork();
        SETUP_OK(pid >= 0, "fork: %m");
        if (pid == 0) {
                execl(path, path, arg, (char *)NULL);
                fprintf(stderr, "%s: %m\n", path);
                _exit(127);
        }
        SETUP_OK(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Part 1: every line of EXPECTED, and the token and times of the samples that hold one. */
static void check_samples(const char *rep) {
        char dir[64], path[96], line[256];
        unsigned lines = 0;
        FILE *f;

        snprintf(dir, sizeof(dir), "%s/samples", tmp);
        SETUP_OK(run_tool("wxconf-samples", dir) == 0, "wxconf-samples %s failed", dir);
        snprintf(path, sizeof(path), "%s/EXPECTED", dir);
        f = fopen(path, "re");
        SETUP_OK(f, "%s: %m", path);
        setenv("WXSHM_DIR", dir, 1);
        while (fgets(line, sizeof(line), f)) {
                char item[160], expect[32], token[WXSHM_TOKEN_MAX + 1];
                wxshm_info info;
                const char *got;
                int r;

                REQUIRE(sscanf(line, "%159s %31s", item, expect) == 2, "EXPECTED line '%s'", line);
                lines++;
                memset(&info, 0, sizeof(info));
                r = open_then_read(item, token, sizeof(token), &info);
                got = result_name(r);
                printf("%-70s %-16s %s\n", item, expect, got);
                CHECK(strcmp(got, expect) == 0, "%s: expected %s, libwxshm gave %s", item, expect, got);
                /* ok and stale both hand out token(1): a stale token is returned, never thrown away. */
                if (r >= 0 || r == -ESTALE) {
                        size_t len = r >= 0 ? (size_t)r : (size_t)info.token_length;

                        CHECK_EQ(info.generation, 1);
                        CHECK(len == wxconf_length(1) && memcmp(token, rep + wxconf_offset(1), len) == 0,
                              "%s: not token(1)", item);
                        if (r == -ESTALE)
                                CHECK(info.expires_at_ms < WXCONF_BASE_MS, "%s", item);
                        else
                                CHECK_EQ(info.expires_at_ms, WXCONF_BASE_MS + 1);
                }
        }
        fclose(f);
        /* wrongowner is left out unless we are root. */
        CHECK(lines >= 23, "EXPECTED has %u lines", lines);
}

/* Start wxconf-writer DIR ITEM and wait (bounded) for its "ready 1"; its stdout stays open in *out. */
static void writer_start(const char *dir, const char *item, int *out) {
        char path[256], line[64] = "";
        struct pollfd p;
        size_t used = 0;
        int fds[2];

        tool_path(path, sizeof(path), "wxconf-writer");
        SETUP_OK(pipe2(fds, O_CLOEXEC) == 0);
        writer_pid = fork();
        SETUP_OK(writer_pid >= 0, "fork: %m");
        if (writer_pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                execl(path, path, dir, item, "300", (char *)NULL);
                fprintf(stderr, "%s: %m\n", path);
                _exit(127);
        }
        close(fds[1]);
        p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
        /* Generous: a sanitizer build on a loaded machine. */
        while (!strchr(line, '\n') && used < sizeof(line) - 1 && poll(&p, 1, 30000) == 1) {
                ssize_t n = read(fds[0], line + used, sizeof(line) - 1 - used);

                if (n <= 0)
                        break;
                used += (size_t)n;
                line[used] = '\0';
        }
        SETUP_OK(strcmp(line, "ready 1\n") == 0, "wxconf-writer said '%s', not 'ready 1'", line);
        *out = fds[0];
}

/* SIGTERM the writer: it must end cleanly with "wrote N"; N, or 0. */
static uint64_t writer_stop(int out) {
        unsigned long long wrote = 0;
        char buf[64] = "";
        ssize_t n;
        int status;

        kill(writer_pid, SIGTERM);
        for (size_t used = 0; used < sizeof(buf) - 1; used += (size_t)n) {
                n = read(out, buf + used, sizeof(buf) - 1 - used);
                if (n <= 0)
                        break;
                buf[used + (size_t)n] = '\0';
        }
        close(out);
        SETUP_OK(waitpid(writer_pid, &status, 0) == writer_pid);
        writer_pid = 0;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wxconf-writer ended with status %d", status);
        CHECK(sscanf(buf, "wrote %llu", &wrote) == 1, "wxconf-writer said '%s'", buf);
        return wrote;
}

struct counts {
        uint64_t reads, generations, torn, backwards, busy, failed, last_gen, first_torn_read;
        int last_error;
        double seconds;
};

/* Part 2: libwxshm reads until the contract's counts are reached; every copy checked. */
static void good_reader(const char *item, const char *rep, struct counts *c) {
        uint64_t start = mono_ns(), deadline = start + (uint64_t)GOOD_MAX_S * 1000000000u;
        char token[WXSHM_TOKEN_MAX + 1];
        wxshm *h;
        int r;

        memset(c, 0, sizeof(*c));
        SETUP_OK(wxshm_open(&h, item) == 0);
        for (uint64_t i = 0; c->reads < GOOD_READS || c->generations < GOOD_GENERATIONS; i++) {
                wxshm_info info = { .size = sizeof(info) };

                if ((i & 1023) == 0 && mono_ns() > deadline)
                        break;
                r = wxshm_read(h, token, sizeof(token), &info);
                if (r < 0) {
                        if (r == -EAGAIN)
                                c->busy++;
                        else
                                c->failed++;
                        c->last_error = r;
                        continue;
                }
                c->reads++;
                if (!wxconf_matches(rep, info.generation, token, (size_t)r, info.expires_at_ms, info.fetched_at_ms))
                        c->torn++;
                if (info.generation != c->last_gen)
                        c->generations++;
                if (info.generation < c->last_gen)
                        c->backwards++;
                c->last_gen = info.generation;
        }
        c->seconds = (double)(mono_ns() - start) / 1e9;
        wxshm_close(h);
}

/* The segment mapped as doc/segment.md says (the trust checks aside: wxshm_open made them above). */
static const struct wxshm_layout *map_segment(const char *dir, const char *item) {
        char path[128];
        void *map;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, item);
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        SETUP_OK(fd >= 0, "%s: %m", path);
        map = mmap(NULL, sizeof(struct wxshm_layout), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        SETUP_OK(map != MAP_FAILED, "mmap %s: %m", path);
        return map;
}

/*
 * The negative control: the documented read without its second load of seq. Each copied
 * word is a relaxed atomic load (no data race in C), then the acquire fence, then nothing:
 * the copy is used whatever the writer did meanwhile. The kit's checks must catch it.
 */
static void control_reader(const struct wxshm_layout *seg, const char *rep, struct counts *c) {
        uint64_t start = mono_ns(), deadline = start + (uint64_t)CONTROL_MAX_S * 1000000000u;
        char token[WXCONF_TOKEN_MAX];

        memset(c, 0, sizeof(*c));
        for (uint64_t i = 0; c->torn < CONTROL_TORN && c->reads < CONTROL_READS; i++) {
                uint64_t s = atomic_load_explicit(&seg->seq, memory_order_acquire);
                const struct wxshm_layout_slot *slot = &seg->slot[s & 1];
                uint64_t length = atomic_load_explicit(&slot->length, memory_order_relaxed);
                uint64_t gen = atomic_load_explicit(&slot->generation, memory_order_relaxed);
                int64_t expires = atomic_load_explicit(&slot->expires_at_ms, memory_order_relaxed);
                int64_t fetched = atomic_load_explicit(&slot->fetched_at_ms, memory_order_relaxed);
                size_t n = length < WXCONF_TOKEN_MAX ? (size_t)length : WXCONF_TOKEN_MAX;

                if ((i & 1023) == 0 && mono_ns() > deadline)
                        break;
                for (size_t w = 0; w < (n + 7) / 8; w++) {
                        uint64_t word = atomic_load_explicit(&slot->token[w], memory_order_relaxed);

                        memcpy(token + w * 8, &word, 8);
                }
                atomic_thread_fence(memory_order_acquire);
                /* (here the recipe loads seq again and retries if it moved) */
                c->reads++;
                if (gen != c->last_gen)
                        c->generations++;
                c->last_gen = gen;
                if (length > WXCONF_TOKEN_MAX || !wxconf_matches(rep, gen, token, n, expires, fetched)) {
                        if (c->torn++ == 0)
                                c->first_torn_read = c->reads;
                }
        }
        c->seconds = (double)(mono_ns() - start) / 1e9;
}

static void check_writer(const char *rep) {
        const struct wxshm_layout *seg;
        struct counts good, control;
        char dir[64];
        uint64_t wrote;
        int out;

        snprintf(dir, sizeof(dir), "%s/writer", tmp);
        writer_start(dir, "conc", &out);
        setenv("WXSHM_DIR", dir, 1);

        good_reader("conc", rep, &good);
        printf("libwxshm: %llu reads, %llu generations (last %llu), %llu torn, %llu backwards, "
               "%llu busy (-EAGAIN), %llu failed (last %s) in %.2f s\n",
               (unsigned long long)good.reads, (unsigned long long)good.generations,
               (unsigned long long)good.last_gen, (unsigned long long)good.torn,
               (unsigned long long)good.backwards, (unsigned long long)good.busy,
               (unsigned long long)good.failed, result_name(good.last_error), good.seconds);
        CHECK(good.reads >= GOOD_READS, "only %llu successful reads in %d s", (unsigned long long)good.reads,
              GOOD_MAX_S);
        CHECK(good.generations >= GOOD_GENERATIONS, "only %llu generations seen",
              (unsigned long long)good.generations);
        CHECK_EQ(good.torn, 0);
        CHECK_EQ(good.backwards, 0);
        CHECK_EQ(good.failed, 0);

        seg = map_segment(dir, "conc");
        control_reader(seg, rep, &control);
        munmap((void *)seg, sizeof(*seg));
        printf("control (no second seq check): %llu reads, %llu generations, %llu torn (the first at read %llu) "
               "in %.2f s\n",
               (unsigned long long)control.reads, (unsigned long long)control.generations,
               (unsigned long long)control.torn, (unsigned long long)control.first_torn_read, control.seconds);
        CHECK(control.torn > 0, "the kit did not catch a reader without the second seq check");

        wrote = writer_stop(out);
        printf("wxconf-writer: wrote %llu generations\n", (unsigned long long)wrote);
        CHECK(wrote >= good.last_gen && wrote >= control.last_gen, "wrote %llu, but generation %llu was read",
              (unsigned long long)wrote, (unsigned long long)good.last_gen);
}

int main(void) {
        char rep[WXCONF_REP_SIZE];

        SETUP_OK(mkdtemp(tmp), "mkdtemp: %m");
        check_on_stop(cleanup);
        wxconf_rep_init(rep);

        check_samples(rep);
        check_writer(rep);

        cleanup();
        return check_exit_code();
}
