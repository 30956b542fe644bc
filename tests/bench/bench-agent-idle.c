/* bench-agent-idle.c: ./dev bench: how often an idle wxtokend with many apps wakes up, and its memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-harness.h"

/* Every time the process went to sleep and was woken counts as a switch. */
static long switches(pid_t pid) {
        return proc_status(pid, "voluntary_ctxt_switches") + proc_status(pid, "nonvoluntary_ctxt_switches");
}

int main(int argc, char **argv) {
        int apps = argc > 1 ? atoi(argv[1]) : 100, seconds = argc > 2 ? atoi(argv[2]) : 60;
        const char **emu_args = calloc((size_t)(2 * apps + 1), sizeof(*emu_args));
        char (*ids)[48] = calloc((size_t)apps, 48), *config = calloc((size_t)apps, 256);
        struct emu_proc emu;
        struct agent_proc a;
        long before, after;

        if (apps < 1 || apps > 200 || seconds < 1 || !emu_args || !ids || !config) {
                fprintf(stderr, "usage: bench-agent-idle [APPS (1-200) [SECONDS]]\n");
                return EXIT_SETUP;
        }
        for (int i = 0; i < apps; i++) {
                snprintf(ids[i], sizeof(ids[i]), "wxidle%03d:Idle-Secret-%03d", i, i);
                emu_args[2 * i] = "--app";
                emu_args[2 * i + 1] = ids[i];
        }
        emu_start(&emu, emu_args);
        agent_init(&a);
        for (int i = 0; i < apps; i++) {
                char name[16], secret[32], section[256];

                snprintf(name, sizeof(name), "idle%03d", i);
                snprintf(secret, sizeof(secret), "Idle-Secret-%03d", i);
                snprintf(section, sizeof(section),
                         "[app %s]\nkind = token\nappid = wxidle%03d\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n",
                         name, i, agent_secret_file(&a, name, secret), emu.port);
                strcat(config, section);
        }
        agent_write_config(&a, NULL, config);
        agent_start(&a);

        /* Tokens live 7200 s: nothing but the heartbeat is due in the next minute. */
        before = switches(a.pid);
        harness_sleep_ms(seconds * 1000L);
        after = switches(a.pid);
        printf("bench-agent-idle: %d apps, %d idle seconds\n", apps, seconds);
        printf("  wakeups: %ld, %.2f per second (target at most 2)\n", after - before,
               (double)(after - before) / seconds);
        printf("  VmRSS %ld KiB (anon %ld, shared libraries %ld, segments %ld; target at most 8192)\n",
               proc_status(a.pid, "VmRSS"), proc_status(a.pid, "RssAnon"), proc_status(a.pid, "RssFile"),
               proc_status(a.pid, "RssShmem"));
        agent_stop(&a);
        agent_cleanup_all();
        proc_cleanup_all();
        free(emu_args);
        free(ids);
        free(config);
        return 0;
}
