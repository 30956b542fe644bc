/* bench-agent-memory.c: the agent's private memory (RssAnon) with N token apps, all fresh, against the 4 KiB per app + 8 MiB target. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent-harness.h"

#define TARGET_BASE_KIB 8192L
#define TARGET_PER_APP_KIB 4L

static struct emu_proc emu;
static struct agent_proc a;

static long elapsed_ms(const struct timespec *since) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Apps from..to-1 fresh (a generation published), waited for until one deadline: how many are. */
static int wait_fresh(int from, int to, int wait_s) {
        struct timespec start;
        int fresh = 0;

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (int i = from; i < to; i++) {
                long left = wait_s * 1000L - elapsed_ms(&start);
                char name[16];

                snprintf(name, sizeof(name), "mem%05d", i);
                if (agent_wait_generation(name, 1, left > 1 ? (int)left : 1))
                        fresh++;
        }
        return fresh;
}

/*
 * The apps are added step apps at a time (a start, then reloads), each step fresh before
 * the next: what is measured is the steady state of all of them fresh, not a cold start's
 * calls in flight (the scale issue's queue and bench measure that).
 */
static void measure(int apps, int step, int wait_s) {
        const char **emu_args = calloc((size_t)(2 * apps + 1), sizeof(*emu_args));
        char (*ids)[48] = calloc((size_t)apps, 48), *config = calloc((size_t)apps, 256);
        size_t used = 0;
        int n = 0, fresh = 0, added = 0;
        long anon;

        if (!emu_args || !ids || !config) {
                fprintf(stderr, "bench-agent-memory: out of memory\n");
                exit(EXIT_SETUP);
        }
        for (int i = 0; i < apps; i++) {
                snprintf(ids[i], sizeof(ids[i]), "wxmem%05d:Mem-Secret-%05d", i, i);
                emu_args[n++] = "--app";
                emu_args[n++] = ids[i];
        }
        emu_start(&emu, emu_args);
        agent_init(&a);
        while (added < apps) {
                int next = added + step < apps ? added + step : apps;

                for (int i = added; i < next; i++) {
                        char name[16], secret[32];

                        snprintf(name, sizeof(name), "mem%05d", i);
                        snprintf(secret, sizeof(secret), "Mem-Secret-%05d", i);
                        used += (size_t)snprintf(config + used, 256,
                                                 "[app %s]\nkind = token\nappid = wxmem%05d\nsecret_file = %s\n"
                                                 "api_base = http://127.0.0.1:%d\n\n",
                                                 name, i, agent_secret_file(&a, name, secret), emu.port);
                }
                agent_write_config(&a, NULL, config);
                /* Not agent_start: READY's 30 s bound is not what is measured here. */
                if (added == 0)
                        agent_spawn(&a);
                else
                        agent_signal(&a, SIGHUP);
                fresh += wait_fresh(added, next, wait_s);
                added = next;
        }
        /* Settled: no call in flight holds a response buffer. */
        harness_sleep_ms(2000);
        anon = proc_status(a.pid, "RssAnon");
        printf("bench-agent-memory: %d token apps (added %d at a time), %d fresh\n", apps, step, fresh);
        printf("  RssAnon %ld KiB (%.2f KiB per app over the %ld KiB base; target %ld KiB: %s)\n", anon,
               (double)(anon - TARGET_BASE_KIB) / apps, TARGET_BASE_KIB,
               TARGET_BASE_KIB + TARGET_PER_APP_KIB * apps,
               anon <= TARGET_BASE_KIB + TARGET_PER_APP_KIB * apps ? "met" : "missed");
        printf("  VmRSS %ld KiB (segments %ld, shared libraries %ld), VmHWM %ld KiB\n", proc_status(a.pid, "VmRSS"),
               proc_status(a.pid, "RssShmem"), proc_status(a.pid, "RssFile"), proc_status(a.pid, "VmHWM"));
        fflush(stdout);
        agent_stop(&a);
        agent_cleanup_all();
        proc_cleanup_all();
        free(emu_args);
        free(ids);
        free(config);
}

int main(int argc, char **argv) {
        int step = 1000, wait_s = 300, first = 1;

        if (argc > 2 && !strcmp(argv[1], "--step")) {
                step = atoi(argv[2]);
                first = 3;
        }
        if (step < 1) {
                fprintf(stderr, "usage: bench-agent-memory [--step N] [APPS (1-10000)]...\n");
                return EXIT_SETUP;
        }
        if (first >= argc) {
                measure(1000, step, wait_s);
                measure(10000, step, wait_s);
                return 0;
        }
        for (int i = first; i < argc; i++) {
                int apps = atoi(argv[i]);

                if (apps < 1 || apps > 10000) {
                        fprintf(stderr, "usage: bench-agent-memory [--step N] [APPS (1-10000)]...\n");
                        return EXIT_SETUP;
                }
                measure(apps, step, wait_s);
        }
        return 0;
}
