/* test-agent-queue.c: the agent's queue of upstream calls at two calls a second: a queued app stays starting, a forced refresh goes first, each app is called once. */
#include <stdio.h>
#include <string.h>

#include "agent-harness.h"
#include "scale-util.h"

#define APPS 20

/* Every app's token calls in wxemu, summed. */
static long calls_now(struct emu_proc *emu) {
        struct scale_calls c;

        SETUP_OK(scale_emu_calls(emu, &c), "wxemu's /emu/stats");
        return c.calls;
}

int main(void) {
        static struct emu_proc emu;
        static struct agent_proc a;
        char name[16], raw[1024];
        long before, after;
        int64_t state, errcode;
        struct scale_calls c;
        cJSON *reply;

        scale_emu_start(&emu, APPS, 0, NULL);
        agent_init(&a);
        /* Two calls a second, one at a time: the cold start of 20 apps takes 10 s, the queue is long all along. */
        scale_write_config(&a, APPS, emu.port, "max_calls_per_second = 2\nmax_concurrent_calls = 1\n");
        agent_spawn(&a);
        snprintf(name, sizeof(name), SCALE_NAME_FMT, 0);
        REQUIRE(agent_wait_generation(name, 1, 30000), "the first app's token");

        /* The last app waits its turn: still starting, no error (a wait is no failure). */
        snprintf(name, sizeof(name), SCALE_NAME_FMT, APPS - 1);
        CHECK(agent_status(name, &state, &errcode) && state == WXSHM_STATE_STARTING && errcode == 0,
              "a queued app is starting, with no error (state %lld, errcode %lld)", (long long)state, (long long)errcode);

        /* A client's forced refresh goes before the apps still queued. */
        before = calls_now(&emu);
        CHECK(before < APPS, "the queue paces the cold start (%ld calls so far)", before);
        reply = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"s00000\",\"generation\":1,\"timeout_ms\":20000}\n",
                              raw, sizeof(raw));
        after = calls_now(&emu);
        CHECK(reply && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) &&
              cJSON_GetObjectItemCaseSensitive(reply, "generation") &&
              cJSON_GetObjectItemCaseSensitive(reply, "generation")->valuedouble == 2, "the forced refresh: %s", raw);
        cJSON_Delete(reply);
        /* It went first: only a call or two of the queue went before it (one may have been under way). */
        CHECK(after - before <= 3, "%ld calls between the request and its answer", after - before);
        CHECK(after < APPS, "the queue is still long (%ld calls)", after);

        /* Then the queue drains: every app once, the forced one twice; no warning. */
        REQUIRE(agent_wait_notify(&a, "READY=1", 300000), "READY=1");
        /* A start that takes its time moves systemd's start timeout on as apps settle. */
        CHECK(agent_notified(&a, "EXTEND_TIMEOUT_USEC=30000000"), "EXTEND_TIMEOUT_USEC= while starting");
        REQUIRE(scale_emu_calls(&emu, &c), "wxemu's /emu/stats");
        CHECK_EQ(c.calls, APPS + 1);
        CHECK_EQ(c.once, APPS - 1);
        CHECK_EQ(scale_count_fresh(APPS), APPS);
        CHECK_EQ(scale_log_warnings(&a), 0);
        return harness_finish(&a);
}
