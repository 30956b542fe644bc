/* test-agent-wecom-rotation.c: a WeCom suite's corps and the provider's token rotating (WeCom renews only at expiry) while 4 processes call WeCom with what they read, following libwxshm's refresh protocol: 0 errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-harness.h"
#include "client.h"
#include "rotation-workers.h"

#define WORKERS 4
#define ROTATIONS 3
#define SUITE "wwsuite0001"
#define SSECRET "Suite-Secret-4b7e1d9a2c"
#define PROV "wwprov0001"
#define PSECRET "Prov-Secret-8c2f5a1e7d"
#define SEED "7"
#define N_ITEMS 3

static const char *const corps[] = { "wwc00000001", "wwc00000002" };
static const char *const items[N_ITEMS] = { "crm.wwc00000001", "crm.wwc00000002", "isv" };

/* One request line to the agent, its reply checked for "ok":true. */
static void request_ok(struct agent_proc *a, const char *line, const char *what) {
        char reply[4096];

        SETUP_OK(client_request(a->socket, line, reply, sizeof(reply), 15000) >= 0 && strstr(reply, "\"ok\":true"),
                 "%s: %s", what, reply);
}

int main(void) {
        /*
         * Every token lives 8 s; WeCom hands the same one out until it expires (wxemu's
         * same-while-valid rule), so each rotation is a call at or after expiry.
         */
        static const char *const emu_args[] = { "--suite", SUITE ":" SSECRET, "--corps", "2", "--provider",
                                                PROV ":" PSECRET, "--seed", SEED, "--expires-in", "8", NULL };
        struct rotation_result total;
        struct rotation_workers w = { .follow_protocol = true };
        struct emu_proc emu;
        struct agent_proc a;
        struct http_res res;
        char apps[2048], line[1024];

        signal(SIGPIPE, SIG_IGN);
        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app crm]\nkind = suite\nappid = " SUITE "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app isv]\nkind = provider\nappid = " PROV "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "crm", SSECRET), emu.port, agent_secret_file(&a, "isv", PSECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 4", apps);
        agent_start(&a);

        http_call(&emu, "POST", "/emu/push_ticket?suite=" SUITE, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"crm\",\"ticket\":\"%s\",\"create_time\":%lld}\n",
                 json_str(res.json, "ticket"), (long long)json_int(res.json, "create_time", 0));
        http_res_free(&res);
        request_ok(&a, line, "ticket put");
        for (int i = 0; i < 2; i++) {
                char *pcode = emu_seeded_permanent_code(SEED, corps[i]);

                snprintf(line, sizeof(line), "{\"op\":\"authorizer_add\",\"component\":\"crm\",\"appid\":\"%s\","
                         "\"refresh_token\":\"%s\"}\n", corps[i], pcode);
                free(pcode);
                request_ok(&a, line, "authorizer_add");
        }
        for (int i = 0; i < N_ITEMS; i++)
                SETUP_OK(agent_wait_generation(items[i], 1, 30000), "%s's first token", items[i]);

        /* The provider's token opens no business API (40001 at getcallbackip): it rotates unread. */
        rotation_workers_start(&w, WORKERS, &emu, items, 2);
        for (int i = 0; i < N_ITEMS; i++)
                CHECK(agent_wait_generation(items[i], 1 + ROTATIONS, 90000), "%d rotations of %s", ROTATIONS, items[i]);
        rotation_workers_stop(&w, &total);
        CHECK(total.calls > 100, "the workers really called WeChat");
        /* Each reader that saw the token die mended it once with a refresh, as libwxshm's header says. */
        CHECK(total.errors == 0, "no business call failed after the reader's one refresh");
        CHECK(total.read_failures == 0, "no read failed after the reader's one refresh");
        for (int i = 0; i < N_ITEMS; i++) {
                const char *id = i < 2 ? corps[i] : PROV;
                int calls = emu_stat(&emu, id, "gettoken_calls");

                printf("%s: generation %llu after %d token calls\n", items[i],
                       (unsigned long long)agent_generation(items[i]), calls);
        }
        return harness_finish(&a);
}
