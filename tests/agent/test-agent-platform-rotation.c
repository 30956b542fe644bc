/* test-agent-platform-rotation.c: authorizer tokens (and their component's) rotating while 4 processes call WeChat with what they read: 0 errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"
#include "rotation-workers.h"
#include "test-emu-util.h"

#define WORKERS 4
#define ROTATIONS 3
#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-5e1b7c3a9d20"
#define SEED "11"
#define N_AUTH 2

static const char *const appids[N_AUTH] = { "wxa00000001", "wxa00000002" };
static const char *const items[N_AUTH] = { "plat.wxa00000001", "plat.wxa00000002" };

/* One request line to the agent, its reply checked for "ok":true. */
static void request_ok(struct agent_proc *a, const char *line, const char *what) {
        char reply[4096];

        SETUP_OK(client_request(a->socket, line, reply, sizeof(reply), 15000) >= 0 && strstr(reply, "\"ok\":true"),
                 "%s: %s", what, reply);
}

int main(void) {
        /* Every token lives 12 s (the agent renews some 3 s early: room for a loaded machine, as distcheck is); a retired component token is kept 5 min, as WeChat does. */
        static const char *const emu_args[] = { "--component", COMP ":" CSECRET, "--authorizers", "2", "--seed", SEED,
                                                "--expires-in", "12", NULL };
        struct rotation_result total;
        struct rotation_workers w = { .follow_protocol = false };
        struct emu_proc emu;
        struct agent_proc a;
        struct http_res res;
        char apps[1024], line[1024];

        signal(SIGPIPE, SIG_IGN);
        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 4", apps);
        agent_start(&a);

        http_call(&emu, "POST", "/emu/push_ticket?component=" COMP, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\",\"create_time\":%lld}\n",
                 json_str(res.json, "ticket"), (long long)time(NULL));
        http_res_free(&res);
        request_ok(&a, line, "ticket put");
        for (int i = 0; i < N_AUTH; i++) {
                char *rt = emu_seeded_refresh_token(SEED, appids[i]);

                snprintf(line, sizeof(line), "{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"%s\","
                         "\"refresh_token\":\"%s\"}\n", appids[i], rt);
                free(rt);
                request_ok(&a, line, "authorizer_add");
        }
        for (int i = 0; i < N_AUTH; i++)
                SETUP_OK(agent_wait_generation(items[i], 1, 30000), "%s's first token", items[i]);

        rotation_workers_start(&w, WORKERS, &emu, items, N_AUTH);
        for (int i = 0; i < N_AUTH; i++)
                CHECK(agent_wait_generation(items[i], 1 + ROTATIONS, 90000), "%d rotations of %s", ROTATIONS, items[i]);
        CHECK(agent_wait_generation("plat", 1 + ROTATIONS, 90000), "%d rotations of the component's token", ROTATIONS);

        rotation_workers_stop(&w, &total);
        CHECK(total.calls > 100, "the workers really called WeChat");
        CHECK(total.errors == 0, "no business call failed");
        CHECK(total.read_failures == 0, "no read failed");
        for (int i = 0; i < N_AUTH; i++) {
                char buf[WXSHM_TOKEN_MAX + 1];
                wxshm_info info = { .size = sizeof(info) };
                uint64_t gen = agent_read(items[i], buf, sizeof(buf), &info) > 0 ? info.generation : 0;
                int calls = emu_stat(&emu, appids[i], "token_calls");

                printf("%s: generation %llu after %d api_authorizer_token calls\n", items[i], (unsigned long long)gen,
                       calls);
                /* Every call bought a generation (the last one may still be publishing). */
                CHECK(calls >= (int)gen && calls <= (int)gen + 1, "no wasted call for %s: %d calls, generation %llu",
                      items[i], calls, (unsigned long long)gen);
        }
        return harness_finish(&a);
}
