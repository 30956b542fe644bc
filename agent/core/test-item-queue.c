/* test-item-queue.c: the item machine while its call waits for a slot in the agent's queue: still what it was, one call, dropped at its turn. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "item.h"
#include "test-item-rig.h"
#include "wxshm.h"

/* Queued: no state change and no call counted until the transfer starts; then refreshing, one call. */
static void test_queued_then_started(void) {
        struct rig r;

        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        REQUIRE(fire(&r), "a cold start calls");
        queued(&r);
        CHECK(r.it.in_flight && r.it.queued, "decided and waiting");
        CHECK(r.it.state == WXSHM_STATE_STARTING && count(&r, CORE_ACT_SET_STATE) == 0, "still starting while queued");
        CHECK_EQ(r.it.calls, 0);
        CHECK(!r.it.settled && count(&r, CORE_ACT_SETTLED) == 0, "a wait in the queue settles nothing");
        CHECK(count(&r, CORE_ACT_LOG) == 0, "and logs nothing");
        /* Long in the queue: no second call, no warning, no retry. */
        advance(&r, 60 * SEC);
        step(&r, timer(&r, 10000));
        CHECK(r.out.n == 0, "a timer while queued does nothing (%zu actions)", r.out.n);
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        CHECK(r.out.n == 0 && !r.it.armed, "nor does fetch-now");
        started(&r);
        CHECK(r.it.in_flight && !r.it.queued && r.it.state == WXSHM_STATE_REFRESHING, "its turn: refreshing");
        CHECK_EQ(r.it.calls, 1);
        published(&r, 1, false);
        CHECK(r.it.state == WXSHM_STATE_FRESH && !r.it.in_flight && !r.it.queued && r.it.calls == 1, "one call, fresh");
        rig_free(&r);

        /* A fresh item's refresh waits as fresh; a failure while queued (the request could not be built) ends the wait. */
        fresh(&r, APP_KIND_TOKEN);
        fire(&r);
        queued(&r);
        CHECK(r.it.state == WXSHM_STATE_FRESH, "fresh while its refresh waits");
        failed(&r, -1);
        CHECK(!r.it.in_flight && !r.it.queued && r.it.state == WXSHM_STATE_RETRYING && r.it.armed, "failed: retried");
        rig_free(&r);
}

/* A client's forced refresh while the call waits joins it; the probe planned before keeps its kind at the turn. */
static void test_join(void) {
        const struct core_action *call;
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        fire(&r);
        queued(&r);
        id = request(&r, 1, 5000);
        CHECK(count(&r, CORE_ACT_START_CALL) == 0 && r.it.n_waiters == 1, "joins the queued call");
        started(&r);
        published(&r, 2, false);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_PUBLISHED, "answered by its publish");
        rig_free(&r);

        fresh(&r, APP_KIND_TOKEN);
        r.pol.verify_before_force = true;
        id = request(&r, 1, 5000);
        call = fire(&r);
        REQUIRE(call && call->call.probe, "a probe");
        queued(&r);
        CHECK(r.it.probing, "the queued call is the probe");
        started(&r);
        CHECK(r.it.probing && r.it.state == WXSHM_STATE_REFRESHING, "still the probe at its turn");
        rig_free(&r);
}

/* At its turn the call may not be made (cluster: the lease ran short): not a failure. */
static void test_dropped(void) {
        struct rig r;
        uint64_t id, calls;

        /* The holder: tried again half a tick later, nothing logged, the state as it was. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        r.pol.tick_ms = 2000;
        advance(&r, 7000 * SEC);
        fire(&r);
        calls = r.it.calls;
        queued(&r);
        step(&r, (struct core_event){ .type = CORE_EV_CALL_DROPPED });
        CHECK(!r.it.in_flight && !r.it.queued && r.it.armed && core_item_wake(&r.it) == r.clock.now_ms + 1000,
              "holder: again in half a tick");
        CHECK(count(&r, CORE_ACT_LOG) == 0 && count(&r, CORE_ACT_SET_STATE) == 0 && r.it.failure == FAILURE_NONE,
              "not a failure");
        CHECK_EQ(r.it.calls, calls);
        rig_free(&r);

        /* No longer the holder, with a client waiting: its wait goes to the holder. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        id = request(&r, 1, 5000);
        fire(&r);
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        REQUIRE(fire(&r), "the forced call");
        queued(&r);
        r.pol.holder = false;
        step(&r, (struct core_event){ .type = CORE_EV_CALL_DROPPED });
        CHECK(count(&r, CORE_ACT_FORWARD) == 1 && r.it.n_waiters == 1 && !answer_of(&r, id), "handed to the holder");
        rig_free(&r);

        /* Outside a cluster it cannot happen; should it, the item is tried again, not left without a wake-up. */
        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        fire(&r);
        queued(&r);
        step(&r, (struct core_event){ .type = CORE_EV_CALL_DROPPED });
        CHECK(r.it.armed && core_item_wake(&r.it) == r.clock.now_ms + r.pol.backoff_min_ms && r.it.settled,
              "unclustered: again after backoff_min");
        rig_free(&r);

        /* Only a queued call can be dropped: one upstream is answered, whatever comes. */
        fresh(&r, APP_KIND_TOKEN);
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_CALL_DROPPED });
        CHECK(r.out.n == 0 && r.it.in_flight && r.it.state == WXSHM_STATE_REFRESHING, "a call upstream is not dropped");
        rig_free(&r);
}

int main(void) {
        test_queued_then_started();
        test_join();
        test_dropped();
        if (check_failures() == 0)
                printf("ok: the item machine with the queue\n");
        return check_exit_code();
}
