/* bench-compare.c: ./dev bench: one token read five ways side by side: wxshm_read, its floor, a file, the socket, Redis. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent-harness.h"
#include "bench-compare.h"
#include "bench-util.h"

#define TOKEN_LEN "512"
#define SECRET "Cmp-0123456789ab"
#define MAX_RUNS 64     /* struct compare_result keeps one median per repetition */

static const char *fs_name(const char *path) {
        struct statfs st;

        if (statfs(path, &st) != 0)
                return "an unknown file system";
        switch ((unsigned long)st.f_type) {
        case EXT4_SUPER_MAGIC: return "ext4";
        case TMPFS_MAGIC: return "tmpfs";
        case BTRFS_SUPER_MAGIC: return "btrfs";
        case XFS_SUPER_MAGIC: return "xfs";
        case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
        default: return "another file system";
        }
}

static void setup_fail(const char *what, int r) {
        fprintf(stderr, "bench-compare: cannot run: %s: %s\n", what, strerror(r < 0 ? -r : r));
        agent_cleanup_all();
        proc_cleanup_all();
        exit(EXIT_SETUP);
}

/* The token as a file of its own in dir, as file-based set-ups keep it. */
static void token_file(char *path, size_t size, const char *dir, const char *token, size_t len) {
        int fd;

        snprintf(path, size, "%s/access_token", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, token, len) != (ssize_t)len || close(fd) != 0)
                setup_fail(path, errno);
}

/* The token in Redis under key, binary-safe, as an SDK's cache sets it. */
static void redis_put(redisContext *ctx, const char *key, const char *token, size_t len) {
        redisReply *rep = redisCommand(ctx, "SET %s %b", key, token, len);

        if (!rep || rep->type != REDIS_REPLY_STATUS)
                setup_fail("redis SET", EPROTO);
        freeReplyObject(rep);
}

/* Pin the servers where m wants them (if they are not there yet), then time one repetition of m. */
static bool timed(struct compare_ctx *c, enum method m, double *out, const pid_t *servers, enum placement *at) {
        int r;

        if (method_info[m].place != *at) {
                if ((r = place_set(method_info[m].place, servers, 2)) < 0)
                        setup_fail("pinning to CPUs", r);
                *at = method_info[m].place;
        }
        return compare_run(c, m, out);
}

/*
 * Every repetition runs each method once, in turn, so noise of the shared machine hits
 * all of them. Without a second CPU the other-CPU round trips are left out (n_all 0).
 */
static bool measure(struct compare_ctx *c, struct compare_result *res, int runs, const pid_t *servers, bool across) {
        static double scratch[4096];
        enum placement at = PLACE_SAME;
        int r;

        if ((r = place_set(PLACE_SAME, servers, 2)) < 0)
                setup_fail("pinning to CPUs", r);
        for (int m = 0; m < N_METHODS; m++) {
                if (method_info[m].place == PLACE_ACROSS && !across)
                        continue;
                res[m].n_all = (size_t)runs * method_info[m].samples;
                if (!(res[m].all = calloc(res[m].n_all, sizeof(double))))
                        setup_fail("calloc", ENOMEM);
                /* Unmeasured warm-up: page faults, caches, connections and the CPU's clock settle. */
                if (!timed(c, m, scratch, servers, &at))
                        return false;
        }
        for (int i = 0; i < runs; i++)
                for (int m = 0; m < N_METHODS; m++) {
                        unsigned n = method_info[m].samples;
                        double *v = res[m].all + (size_t)i * n;

                        if (!res[m].n_all)
                                continue;
                        if (!timed(c, m, v, servers, &at))
                                return false;
                        memcpy(scratch, v, n * sizeof(double));
                        bench_sort(scratch, n);
                        res[m].run_median[i] = bench_median(scratch, n);
                }
        for (int m = 0; m < N_METHODS; m++) {
                if (!res[m].n_all)
                        continue;
                bench_sort(res[m].all, res[m].n_all);
                res[m].median = bench_median(res[m].all, res[m].n_all);
                res[m].p99 = bench_rank(res[m].all, res[m].n_all, 99);
        }
        return true;
}

static void usage(void) {
        fprintf(stderr, "usage: bench-compare [--runs N, 1 to %d] [--json FILE] [--png FILE]\n"
                "  runs wxemu ($WXEMU), wxtokend ($WXTOKEND) and redis-server (on $PATH or /usr/bin)\n", MAX_RUNS);
        exit(EXIT_SETUP);
}

int main(int argc, char **argv) {
        static const char *const emu_args[] = { "--app", "wxCmp:" SECRET, "--token-length", TOKEN_LEN, NULL };
        static char token[WXSHM_TOKEN_MAX + 1];
        static struct compare_result res[N_METHODS];
        const char *json = NULL, *png = NULL;
        struct compare_setup setup = { .runs = 11, .cpus = sysconf(_SC_NPROCESSORS_ONLN) };
        struct compare_ctx c = { .get_line = "{\"op\":\"get\",\"app\":\"cmp\"}\n", .redis_key = "wx:access_token:cmp" };
        struct redis_proc redis;
        struct emu_proc emu;
        struct agent_proc a;
        wxshm_info info = { .size = sizeof(info) };
        char apps[512], file[192];
        bool ok, plotted = true;
        int r;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
                        setup.runs = atoi(argv[++i]);
                else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
                        json = argv[++i];
                else if (strcmp(argv[i], "--png") == 0 && i + 1 < argc)
                        png = argv[++i];
                else
                        usage();
        }
        if (setup.runs < 1 || setup.runs > MAX_RUNS)
                usage();

        /* The token: fetched by the real agent from wxemu, read back through the public API. */
        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps), "[app cmp]\nkind = token\nappid = wxCmp\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "cmp", SECRET), emu.port);
        agent_write_config(&a, NULL, apps);
        agent_start(&a);
        if ((r = wxshm_open(&c.shm, "cmp")) < 0)
                setup_fail("wxshm_open", r);
        if ((r = wxshm_read(c.shm, token, sizeof(token), &info)) != atoi(TOKEN_LEN))
                setup_fail("the agent's token is not " TOKEN_LEN " bytes", r < 0 ? r : EPROTO);
        c.token = token;
        c.length = (size_t)r;
        c.generation = info.generation;

        /* The same bytes everywhere else. */
        bench_floor_fill(token, c.length);
        token_file(file, sizeof(file), a.dir, token, c.length);
        c.file_path = file;
        setup.file_fs = fs_name(file);
        if ((r = redis_start(&redis, a.dir)) < 0)
                setup_fail("starting redis-server", r);
        setup.redis_version = redis.version;
        if (!(c.redis = redis_connect(&redis)))
                setup_fail("connecting to redis-server", ECONNREFUSED);
        redis_put(c.redis, c.redis_key, token, c.length);
        if ((c.socket_fd = socket_dial(a.socket)) < 0)
                setup_fail(a.socket, errno);

        setup.across = place_init();
        setup.cpu[0] = place_cpu(0);
        setup.cpu[1] = place_cpu(1);
        setup.clock_ns = compare_clock_cost();
        printf("bench-compare: one %zu-byte token (generation %llu, fetched by wxtokend from wxemu) read five ways, "
               "%d repetitions\n", c.length, (unsigned long long)c.generation, setup.runs);
        fflush(stdout);
        ok = measure(&c, res, setup.runs, (pid_t[]){ a.pid, redis.pid }, setup.across);
        if (ok) {
                report_table(&setup, &c, res);
                if (json)
                        ok = report_json(json, &setup, &c, res);
                if (png)
                        plotted = report_plot(png, a.dir, &setup, res);
        } else {
                fprintf(stderr, "bench-compare: a connection broke while measuring\n");
        }
        for (int m = 0; m < N_METHODS; m++) {
                ok = ok && c.wrong[m] == 0;
                free(res[m].all);
        }

        close(c.socket_fd);
        redisFree(c.redis);
        redis_stop(&redis);
        wxshm_close(c.shm);
        r = harness_finish(&a);
        return r ? r : ok && plotted ? 0 : 1;
}
