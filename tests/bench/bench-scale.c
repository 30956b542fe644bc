/* bench-scale.c: ./dev bench: one agent with thousands of apps: cold start to all fresh, calls, memory, wakeups, status, reload, stop, restart. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale-util.h"

/*
 * A wakeup is a sleep ended: the voluntary switches. (The involuntary ones are the
 * scheduler taking the CPU away mid-work, which on a loaded machine says more about
 * the machine.)
 */
static long wakeups(pid_t pid) {
        return proc_status(pid, "voluntary_ctxt_switches");
}

static double seconds_since(long long t0) {
        return (double)(scale_now_ms() - t0) / 1000.0;
}

int main(int argc, char **argv) {
        static struct emu_proc emu;
        static struct agent_proc a;
        int apps = argc > 1 ? atoi(argv[1]) : 10000, latency = argc > 2 ? atoi(argv[2]) : 150;
        int idle_s = argc > 3 ? atoi(argv[3]) : 10, fresh, entries, status, warnings;
        double ready_s = -1, fresh_s = -1, status_s, reload_s = -1, stop_s, restart_s = -1;
        struct scale_calls calls, after;
        long before_sw, rss_anon, rss_file;
        long long t0;
        char raw[4096], load[64] = "?";
        bool tmpfs_state = false;
        cJSON *reply;
        FILE *f;

        if (apps < 1 || apps > 99999 || latency < 0 || idle_s < 1) {
                fprintf(stderr, "usage: bench-scale [APPS (1-99999, 10000) [LATENCY_MS (150) [IDLE_S (10)]]]\n"
                                "  BENCH_SCALE_STATE_TMPFS=1: state_dir on /dev/shm, to tell the disk's share\n");
                return EXIT_SETUP;
        }
        scale_emu_start(&emu, apps, latency, NULL);
        agent_init(&a);
        /* Each new token is saved with two fsyncs: on tmpfs they cost nothing, which shows what the disk costs. */
        if (getenv("BENCH_SCALE_STATE_TMPFS") && atoi(getenv("BENCH_SCALE_STATE_TMPFS"))) {
                snprintf(a.state_dir, sizeof(a.state_dir), "%s-state", a.shm_dir);
                tmpfs_state = true;
        }
        scale_write_config(&a, apps, emu.port, NULL);

        /* The machine's load when it starts: the figures below are times, and the CPUs may be shared. */
        f = fopen("/proc/loadavg", "re");
        if (f) {
                if (!fgets(load, sizeof(load), f))
                        snprintf(load, sizeof(load), "?");
                load[strcspn(load, " ")] = '\0';
                fclose(f);
        }
        /* Cold start: no state, no segments. */
        t0 = scale_now_ms();
        agent_spawn(&a);
        if (agent_wait_notify(&a, "READY=1", 600000))
                ready_s = seconds_since(t0);
        if (scale_wait_all_fresh(&a, apps, 600000))
                fresh_s = seconds_since(t0);
        fresh = scale_count_fresh(apps);
        scale_emu_calls(&emu, &calls);
        warnings = scale_log_warnings(&a);
        if (warnings > 0) {
                char *log = agent_log(&a), *w = strstr(log, "wxtokend: warning: ");

                if (!w)
                        w = strstr(log, "wxtokend: error: ");
                if (w)
                        fprintf(stderr, "bench-scale: the first warning: %.*s\n", (int)strcspn(w, "\n"), w);
                free(log);
        }
        rss_anon = proc_status(a.pid, "RssAnon");
        rss_file = proc_status(a.pid, "RssFile");

        /* Idle: tokens live 7200 s, nothing but the heartbeat is due. */
        before_sw = wakeups(a.pid);
        harness_sleep_ms(idle_s * 1000L);
        long idle_switches = wakeups(a.pid) - before_sw;

        t0 = scale_now_ms();
        entries = scale_status_entries(&status);
        status_s = seconds_since(t0);

        /* A reload of the same config: every app kept as it is. */
        t0 = scale_now_ms();
        reply = agent_request(&a, "{\"op\":\"reload\"}\n", raw, sizeof(raw));
        if (reply && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
                reload_s = seconds_since(t0);
        cJSON_Delete(reply);

        t0 = scale_now_ms();
        int stop_rc = agent_stop(&a);
        stop_s = seconds_since(t0);

        /* A restart adopts every token from its segment: no upstream call. */
        t0 = scale_now_ms();
        agent_spawn(&a);
        if (agent_wait_notify(&a, "READY=1", 600000))
                restart_s = seconds_since(t0);
        scale_emu_calls(&emu, &after);

        printf("bench-scale: %d token apps, wxemu answering after %d ms, state_dir on %s; load average %s\n", apps,
               latency, tmpfs_state ? "tmpfs" : "the disk", load);
        printf("  cold start: READY after %.1f s, all fresh after %.1f s (%d of %d segments hold a token)\n", ready_s,
               fresh_s, fresh, apps);
        printf("  upstream calls: %ld (%d apps called exactly once); warnings and errors logged: %d\n", calls.calls,
               calls.once, warnings);
        printf("  RssAnon %ld KiB (%.2f KiB per app; RssFile %ld KiB)\n", rss_anon, (double)rss_anon / apps, rss_file);
        printf("  idle after: %ld wakeups (voluntary switches) in %d s, %.2f per second\n", idle_switches, idle_s,
               (double)idle_switches / idle_s);
        printf("  wxtokenctl status (every page): %.2f s, %d entries, exit %d\n", status_s, entries, status);
        printf("  reload (same config): %.2f s; SIGTERM to exit: %.2f s (exit %d)\n", reload_s, stop_s, stop_rc);
        printf("  restart: READY after %.2f s, %ld more upstream calls\n", restart_s, after.calls - calls.calls);
        agent_stop(&a);
        if (tmpfs_state) {
                char cmd[200];

                snprintf(cmd, sizeof(cmd), "rm -rf %s", a.state_dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench-scale: could not remove %s\n", a.state_dir);
        }
        agent_cleanup_all();
        proc_cleanup_all();
        return 0;
}
