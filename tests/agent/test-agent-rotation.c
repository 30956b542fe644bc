/* test-agent-rotation.c: proactive rotations while 4 processes call WeChat with the token they read: 0 errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-harness.h"
#include "rotation-workers.h"

#define WORKERS 4
#define ROTATIONS 3
#define SECRET_R "Rot-Secret-13579bdf"
#define SECRET_S "Stb-Secret-2468ace0"

static const char *const items[] = { "rot", "stb" };

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxR:" SECRET_R, "--app", "wxS:" SECRET_S, "--expires-in", "8", NULL,
        };
        struct rotation_result total;
        struct rotation_workers w = { .follow_protocol = false };
        struct emu_proc emu;
        struct agent_proc a;
        char apps[1024];
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        uint64_t gen_rot, gen_stb;
        int token_calls;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app rot]\nkind = token\nappid = wxR\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app stb]\nkind = stable\nappid = wxS\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "rot", SECRET_R), emu.port, agent_secret_file(&a, "stb", SECRET_S), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 4", apps);
        agent_start(&a);

        rotation_workers_start(&w, WORKERS, &emu, items, 2);
        /* Tokens live 8 s and are renewed about 2 s early: 3 rotations take some 20 s. */
        CHECK(agent_wait_generation("rot", 1 + ROTATIONS, 90000), "%d rotations of the token app", ROTATIONS);
        CHECK(agent_wait_generation("stb", 1 + ROTATIONS, 90000), "%d rotations of the stable app", ROTATIONS);

        rotation_workers_stop(&w, &total);
        gen_rot = agent_read("rot", buf, sizeof(buf), &info) > 0 ? info.generation : 0;
        gen_stb = agent_read("stb", buf, sizeof(buf), &info) > 0 ? info.generation : 0;
        token_calls = emu_stat(&emu, "wxR", "token_calls");
        printf("token app: generation %llu after %d upstream calls; stable app: generation %llu after %d normal "
               "and %d force calls\n",
               (unsigned long long)gen_rot, token_calls, (unsigned long long)gen_stb,
               emu_stat(&emu, "wxS", "stable_normal"), emu_stat(&emu, "wxS", "stable_force"));
        CHECK(total.calls > 100, "the workers really called WeChat");
        CHECK(total.errors == 0, "no business call failed");
        CHECK(total.read_failures == 0, "no read failed");
        /* Every token call bought a generation (the last one may still be publishing). */
        CHECK(token_calls >= (int)gen_rot && token_calls <= (int)gen_rot + 1, "no wasted token call");
        CHECK(emu_stat(&emu, "wxS", "stable_force") == 0, "proactive stable refreshes never force");

        return harness_finish(&a);
}
