/* test-agent-scale.c: 2,000 token apps on one agent, wxemu answering after 50 ms: every app fresh, one upstream call each, no warning, status lists them all (counts, never times). */
#include <stdio.h>

#include "scale-util.h"

#define APPS 2000
#define LATENCY_MS 50

int main(void) {
        static struct emu_proc emu;
        static struct agent_proc a;
        struct scale_calls calls;
        int entries, status;

        scale_emu_start(&emu, APPS, LATENCY_MS, NULL);
        agent_init(&a);
        scale_write_config(&a, APPS, emu.port, NULL);
        agent_spawn(&a);
        /* Bounds for a loaded machine and a sanitizer build, not expectations (the queue takes some 10 s). */
        REQUIRE(agent_wait_notify(&a, "READY=1", 600000), "READY=1");
        CHECK(scale_wait_all_fresh(&a, APPS, 120000), "the agent's STATUS= says every app is fresh");

        /* The segments themselves: each holds a token. */
        CHECK_EQ(scale_count_fresh(APPS), APPS);
        /* WeChat saw each app exactly once: no call timed out in the queue and was made again. */
        REQUIRE(scale_emu_calls(&emu, &calls), "wxemu's /emu/stats");
        CHECK_EQ(calls.apps, APPS);
        CHECK_EQ(calls.calls, APPS);
        CHECK_EQ(calls.once, APPS);
        /* A call that only waited for its turn is no failure: nothing to warn about. */
        CHECK_EQ(scale_log_warnings(&a), 0);
        /* wxtokenctl pages through every item; the verdict is OK. */
        entries = scale_status_entries(&status);
        CHECK_EQ(entries, APPS);
        CHECK_EQ(status, 0);
        printf("%d apps: %d fresh, %ld upstream calls (%d apps once), status lists %d\n", APPS, scale_count_fresh(APPS),
               calls.calls, calls.once, entries);
        return harness_finish(&a);
}
