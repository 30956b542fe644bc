/* test-agent-many.c: 100 apps on one agent: every token fetched once and valid; RSS printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-harness.h"

#define APPS 100

/* A line of /proc/PID/status such as "VmRSS", in KiB; -1 if absent. */
static long status_kib(pid_t pid, const char *field) {
        char path[64], line[256], want[64];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
        snprintf(want, sizeof(want), "%s: %%ld kB", field);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, want, &kib) == 1)
                        break;
        if (f)
                fclose(f);
        return kib;
}

int main(void) {
        const char *emu_args[2 * APPS + 1];
        static char ids[APPS][48], sections[APPS][256];
        char *apps = calloc(APPS, sizeof(sections[0]));
        char buf[WXSHM_TOKEN_MAX + 1], name[16];
        struct emu_proc emu;
        struct agent_proc a;
        wxshm_info info;
        int ok = 0, calls = 0;

        for (int i = 0; i < APPS; i++) {
                snprintf(ids[i], sizeof(ids[i]), "wx%03d:Many-Secret-%03d", i, i);
                emu_args[2 * i] = "--app";
                emu_args[2 * i + 1] = ids[i];
        }
        emu_args[2 * APPS] = NULL;
        proc_start(&emu, getenv("WXEMU") ? getenv("WXEMU") : "./tests/emu/wxemu", emu_args);
        agent_init(&a);
        for (int i = 0; i < APPS; i++) {
                char secret[32];

                snprintf(secret, sizeof(secret), "Many-Secret-%03d", i);
                snprintf(name, sizeof(name), "app%03d", i);
                snprintf(sections[i], sizeof(sections[i]),
                         "[app %s]\nkind = token\nappid = wx%03d\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n",
                         name, i, agent_secret_file(&a, name, secret), emu.port);
                strcat(apps, sections[i]);
        }
        agent_write_config(&a, NULL, apps);
        agent_start(&a);

        for (int i = 0; i < APPS; i++) {
                char id[8];

                snprintf(name, sizeof(name), "app%03d", i);
                snprintf(id, sizeof(id), "wx%03d", i);
                if (agent_read(name, buf, sizeof(buf), &info) > 0 && info.generation == 1 && callback(&emu, buf) == 0)
                        ok++;
                calls += emu_stat(&emu, id, "token_calls");
        }
        /* RSS counts shared library pages too (libcrypto alone is some 3 MiB): print the parts. */
        printf("%d apps: %d tokens valid, %d upstream calls; agent VmRSS %ld KiB = anon %ld + file %ld + shmem %ld\n",
               APPS, ok, calls, status_kib(a.pid, "VmRSS"), status_kib(a.pid, "RssAnon"),
               status_kib(a.pid, "RssFile"), status_kib(a.pid, "RssShmem"));
        CHECK(ok == APPS, "every app has a valid token (%d)", ok);
        CHECK(calls == APPS, "one upstream call per app (%d)", calls);
        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_cleanup_all();
        proc_cleanup_all();
        free(apps);
        if (test_failures)
                fprintf(stderr, "%d check(s) failed\n", test_failures);
        return test_failures ? 1 : 0;
}
