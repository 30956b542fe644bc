/* bench-cascade.c: ./dev bench, ./dev cascade: what token rotations cost 200 processes, three ways (main). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent-harness.h"
#include "bench-cascade.h"

static char scratch[64];        /* redis-server's directory */

static void usage(void) {
        fprintf(stderr,
                "usage: bench-cascade [--workers N] [--rotations N] [--expires-in S] [--overlap-ms N]\n"
                "                     [--pause-ms MIN-MAX] [--setups abc] [--json FILE]\n"
                "  defaults: 200 workers, 10 rotations, tokens of 6 s with a 250 ms overlap (WeChat's\n"
                "  300 s of 7200 scaled), a 5-20 ms pause between calls, set-ups a, b and c.\n"
                "  Runs wxemu ($WXEMU), wxtokend ($WXTOKEND) and redis-server (on $PATH or /usr/bin).\n");
        exit(EXIT_SETUP);
}

static int number(const char *s, int min, int max) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                usage();
        return (int)v;
}

static void parse(int argc, char **argv, struct cascade_opts *o, const char **json) {
        for (int i = 1; i < argc; i++) {
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;

                if (!v)
                        usage();
                if (strcmp(argv[i], "--workers") == 0)
                        o->workers = number(v, 1, 2000);
                else if (strcmp(argv[i], "--rotations") == 0)
                        o->rotations = number(v, 1, 1000);
                else if (strcmp(argv[i], "--expires-in") == 0)
                        o->expires_in = number(v, 4, 7200);
                else if (strcmp(argv[i], "--overlap-ms") == 0)
                        o->overlap_ms = number(v, 0, 600000);
                else if (strcmp(argv[i], "--pause-ms") == 0) {
                        if (sscanf(v, "%d-%d", &o->pause_min_ms, &o->pause_max_ms) != 2 || o->pause_min_ms < 0 ||
                            o->pause_max_ms < o->pause_min_ms || o->pause_max_ms > 10000)
                                usage();
                } else if (strcmp(argv[i], "--setups") == 0) {
                        for (int s = 0; s < N_SETUPS; s++)
                                o->run[s] = strchr(v, 'a' + s) != NULL;
                        if (strspn(v, "abc") != strlen(v) || !*v)
                                usage();
                } else if (strcmp(argv[i], "--json") == 0)
                        *json = v;
                else
                        usage();
                i++;
        }
}

/* Whatever path exit takes: workers, agent, wxemu, segments, directories (redis-server has its own). */
static void cleanup(void) {
        char cmd[96];

        cascade_kill_workers();
        agent_cleanup_all();
        proc_cleanup_all();
        if (scratch[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench-cascade: could not remove %s\n", scratch);
                scratch[0] = '\0';
        }
}

static void on_signal(int sig) {
        (void)sig;
        cascade_interrupted = 1;
}

int main(int argc, char **argv) {
        struct cascade_opts o = { .workers = 200, .rotations = 10, .expires_in = 6, .overlap_ms = 250,
                                  .pause_min_ms = 5, .pause_max_ms = 20, .run = { true, true, true } };
        static struct setup_result res[N_SETUPS];
        struct sigaction sa = { .sa_handler = on_signal };
        struct redis_proc redis = { 0 };
        const char *json = NULL;
        int status = 0, r;

        parse(argc, argv, &o, &json);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return EXIT_SETUP;
        /* Registered first, so it runs last: after redis-server is stopped, its directory goes. */
        atexit(cleanup);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (o.run[SETUP_REDIS]) {
                strcpy(scratch, "/tmp/bench-cascade.XXXXXX");
                if (!mkdtemp(scratch)) {
                        scratch[0] = '\0';
                        fprintf(stderr, "bench-cascade: cannot run: mkdtemp: %s\n", strerror(errno));
                        return EXIT_SETUP;
                }
                if ((r = redis_start(&redis, scratch)) < 0) {
                        fprintf(stderr, "bench-cascade: cannot run: starting redis-server: %s\n", strerror(-r));
                        return EXIT_SETUP;
                }
        }
        printf("bench-cascade: %d worker processes call getcallbackip every %d-%d ms; wxemu's tokens live %d s,\n"
               "a superseded one %d ms more; %.1f s counted per set-up, one outside rotation (another server\n"
               "fetched) in the middle; set-ups one after another, each with a fresh wxemu\n",
               o.workers, o.pause_min_ms, o.pause_max_ms, o.expires_in, o.overlap_ms,
               (double)cascade_run_ms(&o) / 1000);
        for (int s = 0; s < N_SETUPS && !cascade_interrupted; s++) {
                if (!o.run[s])
                        continue;
                printf("  running %s ...\n", setup_label(s));
                fflush(stdout);
                if (!cascade_run(s, &o, o.run[SETUP_REDIS] ? &redis : NULL, &res[s]))
                        status = EXIT_SETUP;
                /* A worker saw something that is neither success nor 40001/42001: the figures are suspect. */
                else if (res[s].other || res[s].fetch_failed || res[s].source_failed)
                        status = status ? status : 1;
        }
        if (cascade_interrupted) {
                fprintf(stderr, "bench-cascade: interrupted\n");
                return EXIT_SETUP;
        }
        redis_stop(&redis);
        report_table(&o, res);
        if (json && !report_json(json, &o, res))
                status = EXIT_SETUP;
        cleanup();
        curl_global_cleanup();
        return status;
}
