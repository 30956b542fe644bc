/* test-item-force.c: forced refreshes at their corners: spacing by kind, tickets, remote waiters, the fleet's count, blocked calls. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "item.h"
#include "test-item-rig.h"
#include "wxshm.h"

/* WeChat spaces stable_token's force_refresh 30 s apart; a longer min_force_interval, and tickets, keep their own. */
static void test_interval(void) {
        struct core_policy pol = { .kind = APP_KIND_STABLE, .min_force_interval_ms = 10 * SEC };

        CHECK_EQ(core_force_interval(&pol), 30 * SEC);
        pol.min_force_interval_ms = 60 * SEC;
        CHECK_EQ(core_force_interval(&pol), 60 * SEC);
        pol.min_force_interval_ms = 10 * SEC;
        pol.ticket = true;
        CHECK_EQ(core_force_interval(&pol), 10 * SEC);
        pol = (struct core_policy){ .kind = APP_KIND_TOKEN, .min_force_interval_ms = 10 * SEC };
        CHECK_EQ(core_force_interval(&pol), 10 * SEC);
}

/* A stable app's ticket is a ticket: no normal-mode call first, no probe, its own spacing and cap. */
static void test_stable_ticket(void) {
        const struct core_action *call;
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_STABLE);
        r.pol.ticket = true;
        r.pol.verify_before_force = true;
        r.pol.max_forced_per_day = 25;
        advance(&r, 10 * SEC);
        request(&r, 1, 5000);
        CHECK(r.it.force_stage == CORE_FORCE_ROTATE && core_item_wake(&r.it) == r.clock.now_ms,
              "straight to the rotating call (stage %d), now", r.it.force_stage);
        call = fire(&r);
        CHECK(call && call->call.force && !call->call.probe, "the ticket's forced call");
        started(&r);
        published(&r, 2, false);
        /* 10 s later (not 30): allowed; and the 21st of the day too, since 20 is stable_token's rule. */
        r.it.budget.forced_today = 20;
        advance(&r, 10 * SEC);
        id = request(&r, 2, 5000);
        CHECK(!answer_of(&r, id) && r.it.force_stage == CORE_FORCE_ROTATE, "spaced by min_force_interval alone");
        rig_free(&r);
}

/* A client that names no generation, or one this agent never published, forces the current one. */
static void test_request_generations(void) {
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        advance(&r, 10 * SEC);
        id = ++r.next_id;
        step(&r, (struct core_event){ .type = CORE_EV_REQUEST, .waiter = id, .timeout_ms = 5000 });
        CHECK(!answer_of(&r, id) && r.it.n_waiters == 1 && r.it.waiters[0].generation == 1 &&
              r.it.force_stage == CORE_FORCE_ROTATE, "no generation: the current one is forced");
        rig_free(&r);

        fresh(&r, APP_KIND_TOKEN);
        advance(&r, 10 * SEC);
        id = request(&r, 9, 5000);
        CHECK(!answer_of(&r, id) && r.it.n_waiters == 1 && r.it.waiters[0].generation == 1 &&
              r.it.force_stage == CORE_FORCE_ROTATE, "an earlier agent's generation 9: the current one is forced");
        fire(&r);
        started(&r);
        published(&r, 2, false);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_PUBLISHED && answer_of(&r, id)->num == 2,
              "answered with the next");
        rig_free(&r);
}

/* Tickets are never probed: verify_before_force checks the access token, which a ticket is not. */
static void test_ticket_no_probe(void) {
        const struct core_action *call;
        struct rig r;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.ticket = true;
        r.pol.verify_before_force = true;
        advance(&r, 10 * SEC);
        request(&r, 1, 5000);
        call = fire(&r);
        CHECK(r.it.force_stage == CORE_FORCE_ROTATE && call && !call->call.probe && call->call.force,
              "a ticket's forced call rotates at once");
        rig_free(&r);
}

/* The holder: other hosts' waits only lengthen; a refusal for the budget says so, not "spaced". */
static void test_remote(void) {
        const struct core_action *note;
        struct rig r;
        int64_t until;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 30000 });
        until = r.it.remote_until_ms;
        CHECK(until == r.clock.now_ms + 30000, "they wait 30 s");
        advance(&r, 1 * SEC);
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 2000 });
        CHECK(r.it.remote_until_ms == until && r.it.coalesced_waiters == 1, "a shorter wait joins, not shortens");
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 40000 });
        CHECK(r.it.remote_until_ms == r.clock.now_ms + 40000, "a longer one lengthens");
        rig_free(&r);

        /* The day's forced calls are spent: the note carries the budget's reason and Beijing midnight. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        r.pol.max_forced_per_day = 3;
        r.it.budget.forced_day = budget_day(r.clock.quota_now_ms);
        r.it.budget.forced_today = 3;
        advance(&r, 60 * SEC);
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 5000 });
        note = find(&r, CORE_ACT_NOTE_FAILED);
        CHECK(note && !strcmp(note->code, "rate_limited") && strstr(note->text, "3 forced refreshes of shop today") &&
              !strstr(note->text, "lease holder"), "the budget's reason: %s", note ? note->text : "");
        CHECK(note && note->retry_after_ms == budget_until_tomorrow(r.clock.quota_now_ms), "until Beijing midnight");
        CHECK(r.it.force_stage == CORE_FORCE_NONE && r.it.rate_limited == 1, "no forced call");
        rig_free(&r);
}

/* The fleet's count comes back after the forced call was settled another way: nothing is called. */
static void test_count_after_settled(void) {
        struct rig r;
        uint64_t id;
        int64_t wake;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 30000);
        fire(&r);
        CHECK(r.it.budget_asked, "the count is asked");
        /* Another agent's token arrives meanwhile (the lease moved and came back): the client has it. */
        step(&r, (struct core_event){ .type = CORE_EV_MIRRORED, .generation = 2, .fetched_at_ms = r.clock.now_ms,
                                      .expires_at_ms = r.clock.now_ms + 7200 * SEC });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->num == 2 && r.it.force_stage == CORE_FORCE_NONE, "answered by it");
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        wake = core_item_wake(&r.it);
        CHECK(!r.it.budget_granted && !r.it.budget_asked && r.out.n == 0, "the count is not used");
        CHECK(wake > r.clock.now_ms + 6000 * SEC, "the proactive schedule, not a call now (%lld s)",
              (long long)((wake - r.clock.now_ms) / SEC));
        CHECK(fire(&r) && !find(&r, CORE_ACT_START_CALL)->call.force && r.it.budget.forced_today == 0,
              "the next call is the planned one, uncounted");
        rig_free(&r);

        /*
         * The lease was lost while counting, the force handed to the new holder (its client
         * still waits here): the count that comes back grants nothing, so a later forced call
         * of this agent is counted afresh.
         */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 30000);
        fire(&r);
        r.pol.holder = false;
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        step(&r, timer(&r, 0));
        CHECK(count(&r, CORE_ACT_FORWARD) == 1 && r.it.n_waiters == 1, "handed to the holder");
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        CHECK(!r.it.budget_granted && r.it.armed && r.it.next_at_ms > r.clock.now_ms + 6000 * SEC,
              "not granted; the proactive schedule (the waiter's deadline aside)");
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_VERIFIED, .generation = 1 });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_VERIFIED, "the holder's answer");
        r.pol.holder = true;
        advance(&r, 10 * SEC);
        request(&r, 1, 30000);
        fire(&r);
        CHECK(count(&r, CORE_ACT_TAKE_BUDGET) == 1 && count(&r, CORE_ACT_START_CALL) == 0, "counted afresh");
        rig_free(&r);
}

/* A timer while the count is asked (a ticket saw the token dead): no call, no second count. */
static void test_timer_while_counting(void) {
        struct rig r;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        request(&r, 1, 30000);
        fire(&r);
        CHECK(count(&r, CORE_ACT_TAKE_BUDGET) == 1, "asked once");
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        fire(&r);
        CHECK(count(&r, CORE_ACT_TAKE_BUDGET) == 0 && count(&r, CORE_ACT_START_CALL) == 0,
              "waiting for the count: neither a call nor a second count");
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        CHECK(fire(&r) && find(&r, CORE_ACT_START_CALL)->call.force, "then the forced call");
        rig_free(&r);
}

/* Rebased (the segment made anew) while a forced call waits for the count: no token to save, the call still goes. */
static void test_rebased_force(void) {
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 30000);
        fire(&r);
        step(&r, (struct core_event){ .type = CORE_EV_REBASE, .ok = true });
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        CHECK(fire(&r) && find(&r, CORE_ACT_START_CALL)->call.force, "the forced call");
        CHECK(count(&r, CORE_ACT_SAVE) == 0 && r.it.budget.forced_today == 1, "counted, but no state of generation 0 "
              "saved");
        started(&r);
        published(&r, 1, false);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_PUBLISHED, "any new token answers it");
        rig_free(&r);

        /* The same, but the fleet has spent the day: refused, and still nothing saved. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 30000);
        fire(&r);
        step(&r, (struct core_event){ .type = CORE_EV_REBASE, .ok = true });
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 5000 });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_RATE_LIMITED && count(&r, CORE_ACT_SAVE) == 0,
              "refused, nothing saved");
        CHECK(budget_today(&r.it.budget, r.clock.quota_now_ms) == 1000, "the day is spent here too");
        CHECK(core_item_wake(&r.it) == r.clock.now_ms, "no token: the proactive call is due now");
        rig_free(&r);
}

/*
 * A forced refresh the spacing refuses, while the scheduled refresh comes within the client's
 * wait (WeCom's clients see 42001 just as it falls due): the client rides on it, not refused.
 */
static void test_rides_scheduled(void) {
        const struct core_action *call;
        uint64_t limited;
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_WORK);
        r.pol.min_force_interval_ms = 4 * 3600 * SEC; /* longer than the token lives */
        r.pol.verify_before_force = false; /* straight to the call: no probe of the token first */
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        fire(&r);
        started(&r);
        published(&r, 2, false);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_PUBLISHED, "the first forced call");
        advance(&r, core_item_wake(&r.it) - r.clock.now_ms - 20 * SEC);
        limited = r.it.rate_limited;
        id = request(&r, 2, 5000);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_RATE_LIMITED &&
              r.it.rate_limited == limited + 1, "20 s before the scheduled refresh, a 5 s wait: refused (spaced)");
        advance(&r, 17 * SEC);
        id = request(&r, 2, 5000);
        CHECK(!answer_of(&r, id) && r.it.n_waiters == 1 && r.it.rate_limited == limited + 1 &&
              r.it.force_stage == CORE_FORCE_NONE, "3 s before it: the client waits for it, no forced call");
        advance(&r, 3 * SEC);
        call = fire(&r);
        CHECK(call && !call->call.force, "the scheduled call, not a forced one");
        started(&r);
        published(&r, 3, false);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_PUBLISHED && r.it.n_waiters == 0,
              "its token answers the client");
        rig_free(&r);
}

/* Only WeChat's "this token is dead" (40001, 40014, 42001) rotates after a probe; an empty reason reads "no answer". */
static void test_probe_codes(void) {
        static const long dead[] = { 40001, 40014, 42001 };
        struct rig r;
        uint64_t id;

        for (size_t i = 0; i < sizeof(dead) / sizeof(dead[0]); i++) {
                fresh(&r, APP_KIND_TOKEN);
                r.pol.verify_before_force = true;
                advance(&r, 10 * SEC);
                id = request(&r, 1, 5000);
                fire(&r);
                started(&r);
                step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = dead[i], .errmsg = "x" });
                CHECK(r.it.force_stage == CORE_FORCE_ROTATE && !answer_of(&r, id) && core_item_wake(&r.it) == r.clock.now_ms,
                      "%ld: rotate now", dead[i]);
                rig_free(&r);
        }
        fresh(&r, APP_KIND_TOKEN);
        r.pol.verify_before_force = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = 40164, .errmsg = "" });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_UPSTREAM &&
              strstr(answer_of(&r, id)->text, "errcode 40164: could not verify the token (no answer)"), "%s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        CHECK(r.it.force_stage == CORE_FORCE_NONE && r.it.generation == 1, "nothing rotated");
        rig_free(&r);
}

/* No lease to call with: outside cluster mode nothing is handed on; a non-holder's planned refresh is the holder's. */
static void test_blocked(void) {
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        step(&r, timer(&r, 0));
        CHECK(r.out.n == 0 && r.it.n_waiters == 1 && r.it.force_stage == CORE_FORCE_ROTATE,
              "not clustered: the waiter keeps waiting, nothing forwarded (%zu actions)", r.out.n);
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        CHECK(fire(&r) && find(&r, CORE_ACT_START_CALL)->call.force, "with a budget again: the forced call");
        (void)id;
        rig_free(&r);

        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.redis_up = true;
        advance(&r, core_item_wake(&r.it) - r.clock.now_ms);
        step(&r, timer(&r, 0));
        CHECK(r.out.n == 0 && !r.it.armed, "a non-holder's planned refresh: the holder makes it (%zu actions)", r.out.n);
        rig_free(&r);

        /* Redis unreachable and unnamed: the message still reads, no "(null)". */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        step(&r, timer(&r, 0));
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_UPSTREAM &&
              strstr(answer_of(&r, id)->text, "is unreachable") && !strstr(answer_of(&r, id)->text, "(null)"), "%s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        rig_free(&r);
}

int main(void) {
        test_interval();
        test_stable_ticket();
        test_request_generations();
        test_ticket_no_probe();
        test_remote();
        test_count_after_settled();
        test_timer_while_counting();
        test_rebased_force();
        test_rides_scheduled();
        test_probe_codes();
        test_blocked();
        return check_exit_code();
}
