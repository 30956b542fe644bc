/* test-agent-many.c: 100 apps on one agent: every token fetched once and valid; RSS printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-harness.h"

#define APPS 100

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
        emu_start(&emu, emu_args);
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
                char id[16];

                snprintf(name, sizeof(name), "app%03d", i);
                snprintf(id, sizeof(id), "wx%03d", i);
                if (agent_read(name, buf, sizeof(buf), &info) > 0 && info.generation == 1 && callback(&emu, buf) == 0)
                        ok++;
                calls += emu_stat(&emu, id, "token_calls");
        }
        /* RSS counts shared library pages too (libcrypto alone is some 3 MiB): print the parts. */
        printf("%d apps: %d tokens valid, %d upstream calls; agent VmRSS %ld KiB = anon %ld + file %ld + shmem %ld\n",
               APPS, ok, calls, proc_status(a.pid, "VmRSS"), proc_status(a.pid, "RssAnon"),
               proc_status(a.pid, "RssFile"), proc_status(a.pid, "RssShmem"));
        CHECK(ok == APPS, "every app has a valid token (%d)", ok);
        CHECK(calls == APPS, "one upstream call per app (%d)", calls);
        free(apps);
        return harness_finish(&a);
}
