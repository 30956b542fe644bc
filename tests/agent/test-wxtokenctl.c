/* test-wxtokenctl.c: wxtokenctl's outputs and exit statuses against the real agent. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "agent-harness.h"

#define SEC_T "Ctl-T-0123456789"

/* Run wxtokenctl with args; its stdout in out, its exit status returned. */
static int ctl(const char *args, char *out, size_t size) {
        const char *bin = getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl";
        char cmd[512];
        size_t n = 0;
        FILE *p;
        int status;

        snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", bin, args);
        p = popen(cmd, "r");
        if (!p)
                return -1;
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        status = pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxT:" SEC_T, "--app", "wxC:" SEC_T, NULL };
        char apps[1024], out[65536], token[WXSHM_TOKEN_MAX + 1], args[256];
        struct emu_proc emu;
        struct agent_proc a;
        wxshm_info info;
        cJSON *j;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app tok]\nkind = token\nappid = wxT\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "tok", SEC_T), emu.port);
        agent_write_config(&a, "min_force_interval = 1", apps);
        agent_start(&a);
        CHECK(agent_read("tok", token, sizeof(token), &info) > 0, "token published");

        CHECK(ctl("get tok", out, sizeof(out)) == 0, "get: exit 0");
        CHECK(!strncmp(out, token, strlen(token)) && out[strlen(token)] == '\n', "get prints the token");
        CHECK(ctl("get --json tok", out, sizeof(out)) == 0, "get --json: exit 0");
        j = cJSON_Parse(out);
        CHECK(j && json_int(j, "generation", 0) == 1 && !strcmp(json_str(j, "token"), token), "get --json: %s", out);
        cJSON_Delete(j);
        CHECK(ctl("get nosuch", out, sizeof(out)) == 1 && out[0] == '\0', "get of an unknown app: exit 1, no output");

        CHECK(ctl("refresh tok", out, sizeof(out)) == 0 && atoi(out) == 2, "refresh prints the new generation: %s", out);
        CHECK(ctl("refresh tok --generation 1", out, sizeof(out)) == 0 && atoi(out) == 2,
              "refresh of an old generation: the current, no rotation");
        CHECK(emu_stat(&emu, "wxT", "token_calls") == 2, "one rotation in all");

        CHECK(ctl("status", out, sizeof(out)) == 0 && strstr(out, "tok"), "status: a table, exit 0: %s", out);
        CHECK(ctl("status --json", out, sizeof(out)) == 0, "status --json: exit 0");
        j = cJSON_Parse(out);
        CHECK(j && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "apps")), "status --json parses: %s", out);
        cJSON_Delete(j);

        /* An app in config_error makes status fail: fit for a health check (tests/agent/test-agent-verdict: every code). */
        snprintf(apps, sizeof(apps),
                 "[app tok]\nkind = token\nappid = wxT\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app bad]\nkind = token\nappid = wxC\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "tok", SEC_T), emu.port, agent_secret_file(&a, "bad", "wrong-secret"), emu.port);
        agent_write_config(&a, "min_force_interval = 1", apps);
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_state("bad", WXSHM_STATE_CONFIG_ERROR, 10000), "bad: config error");
        CHECK(ctl("status", out, sizeof(out)) == 2 && strstr(out, "40001"), "status: exit 2 (CRITICAL), names the error: %s",
              out);

        snprintf(args, sizeof(args), "--socket %s/nowhere status", a.dir);
        CHECK(ctl(args, out, sizeof(out)) == 2, "no agent on --socket: exit 2 (CRITICAL)");
        CHECK(ctl("frobnicate", out, sizeof(out)) == 64, "usage error: exit 64 (EX_USAGE)");
        return harness_finish(&a);
}
