/* bench-authorizers.c: ./dev bench: 10,000 accounts under one component, wxemu answering after 150 ms: adds to all fresh, calls per account, warnings, memory, idle wakeups, a metrics scrape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authorizers-util.h"
#include "check.h"
#include "scale-util.h"

#define CONNS 64                        /* clients adding at once */
#define SCRAPES 20

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static uint64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One {"op":"metrics"} over the socket, read to the end (the agent closes it): milliseconds, or -1. */
static double scrape_ms(struct agent_proc *a, size_t *bytes) {
        uint64_t start = mono_ns();
        char buf[65536];
        int fd = socket_dial(a->socket);
        ssize_t r;

        *bytes = 0;
        if (fd < 0 || write(fd, "{\"op\":\"metrics\"}\n", 17) != 17) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        while ((r = read(fd, buf, sizeof(buf))) > 0)
                *bytes += (size_t)r;
        close(fd);
        return (double)(mono_ns() - start) / 1e6;
}

int main(int argc, char **argv) {
        static struct emu_proc emu;
        static struct agent_proc a;
        int n = argc > 1 ? atoi(argv[1]) : 10000, latency = argc > 2 ? atoi(argv[2]) : 150;
        int idle_s = argc > 3 ? atoi(argv[3]) : 20, added, fresh, calls, warnings, saves, watch;
        double add_s, fresh_s = -1, scrapes[SCRAPES];
        long rss_anon, sw0, sw1;
        long long t0;
        size_t metrics_bytes = 0;

        if (n < 1 || n > 10000 || latency < 0 || idle_s < 1) {
                fprintf(stderr, "usage: bench-authorizers [ACCOUNTS (1-10000, 10000) [LATENCY_MS (150) [IDLE_S (20)]]]\n"
                                "  BENCH_STATE_TMPFS=1: state_dir on /dev/shm, to tell the disk's share\n");
                return EXIT_SETUP;
        }
        auths_start(&emu, &a, n, latency, NULL);

        /* From the first add to every account's segment holding a token. */
        watch = auths_watch(&a);
        t0 = scale_now_ms();
        added = auths_add(&a, 0, n, CONNS);
        add_s = (double)(scale_now_ms() - t0) / 1000.0;
        saves = auths_saves(watch);
        close(watch);
        if (auths_wait_fresh(n, 600000))
                fresh_s = (double)(scale_now_ms() - t0) / 1000.0;
        fresh = auths_fresh(n);
        calls = emu_endpoint_calls(&emu, "api_authorizer_token");
        warnings = auths_warnings(&a);
        rss_anon = proc_status(a.pid, "RssAnon");

        /* Idle: tokens live 7200 s; only the heartbeat is due. A wakeup is a sleep ended (voluntary switches). */
        sw0 = proc_status(a.pid, "voluntary_ctxt_switches");
        harness_sleep_ms(idle_s * 1000L);
        sw1 = proc_status(a.pid, "voluntary_ctxt_switches");

        for (int i = 0; i < SCRAPES; i++)
                scrapes[i] = scrape_ms(&a, &metrics_bytes);
        qsort(scrapes, SCRAPES, sizeof(scrapes[0]), cmp_double);

        printf("bench-authorizers: %d accounts under one component, wxemu answering after %d ms\n", n, latency);
        printf("  adds over %d connections: %d added in %.1f s, %d saves of the file (group commit)\n", CONNS, added,
               add_s, saves);
        printf("  all fresh: %.1f s after the first add (target <= 60 s: %s); %d of %d segments hold a token\n",
               fresh_s, fresh_s >= 0 && fresh_s <= 60 ? "met" : "MISSED", fresh, n);
        printf("  api_authorizer_token calls: %d, %.3f per account (target exactly 1); warnings and errors: %d\n",
               calls, (double)calls / n, warnings);
        printf("  RssAnon %ld KiB = %.2f KiB per account; bound 4 KiB per account + 8 MiB = %d KiB: %s\n", rss_anon,
               (double)rss_anon / n, 4 * n + 8192, rss_anon <= 4L * n + 8192 ? "within" : "OVER");
        printf("  idle: %ld wakeups in %d s, %.2f per second (target <= 2/s)\n", sw1 - sw0, idle_s,
               (double)(sw1 - sw0) / idle_s);
        printf("  metrics scrape (%zu bytes): median %.2f ms of %d (min %.2f, max %.2f)\n", metrics_bytes,
               (scrapes[SCRAPES / 2 - 1] + scrapes[SCRAPES / 2]) / 2, SCRAPES, scrapes[0], scrapes[SCRAPES - 1]);
        agent_stop(&a);
        if (getenv("BENCH_STATE_TMPFS") && atoi(getenv("BENCH_STATE_TMPFS"))) {
                char cmd[200];

                snprintf(cmd, sizeof(cmd), "rm -rf %s", a.state_dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench-authorizers: could not remove %s\n", a.state_dir);
        }
        agent_cleanup_all();
        proc_cleanup_all();
        return 0;
}
