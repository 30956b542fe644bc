/* test-item.c: the item machine with a fake clock: every backoff step, coalescing, spacing, the budget (each (state, event) pair: test-item-pairs.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "item.h"
#include "test-item-rig.h"
#include "upstream.h"
#include "wxshm.h"

static void test_start(void) {
        struct rig r;

        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        CHECK(r.it.state == WXSHM_STATE_STARTING && core_item_wake(&r.it) == T0, "a cold start calls at once");
        CHECK(!r.it.settled, "not settled before the first attempt");
        rig_free(&r);

        /* A failure recorded 200 ms ago: the first call waits for backoff_min from it. */
        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START, .last_errcode = -1002, .last_error_at_ms = T0 - 200 });
        CHECK(core_item_wake(&r.it) == T0 - 200 + 1 * SEC, "backoff_min after the last failure (%lld)",
              (long long)(core_item_wake(&r.it) - T0));
        rig_free(&r);
        /* ... but not one from the future, nor one older than backoff_max. */
        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START, .last_errcode = -1002, .last_error_at_ms = T0 + 50 });
        CHECK(core_item_wake(&r.it) == T0, "a failure from the future is no reason to wait");
        rig_free(&r);
        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START, .last_errcode = -1002,
                                      .last_error_at_ms = T0 - r.pol.backoff_max_ms });
        CHECK(core_item_wake(&r.it) == T0, "nor one backoff_max old");
        rig_free(&r);
        /* A segment that says "adopted" but holds no generation has nothing to adopt. */
        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START, .adopted = true, .generation = 0,
                                      .expires_at_ms = T0 + 3600 * SEC, .fetched_at_ms = T0 - 3600 * SEC });
        CHECK(r.it.state == WXSHM_STATE_STARTING && !r.it.settled && r.it.generation == 0 && core_item_wake(&r.it) == T0,
              "no generation: a cold start");
        rig_free(&r);

        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START, .adopted = true, .generation = 7,
                                      .expires_at_ms = T0 + 3600 * SEC, .fetched_at_ms = T0 - 3600 * SEC });
        CHECK(r.it.state == WXSHM_STATE_FRESH && r.it.settled && r.it.generation == 7, "an adopted token is fresh");
        CHECK(core_item_wake(&r.it) >= T0 + 3270 * SEC && core_item_wake(&r.it) <= T0 + 3330 * SEC,
              "refresh at expiry - margin +-10%% (%lld s)", (long long)((core_item_wake(&r.it) - T0) / SEC));
        rig_free(&r);
}

static void test_fetch(void) {
        const struct core_action *call;
        struct rig r;

        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        call = fire(&r);
        CHECK(call && !call->call.force && !call->call.probe && call->call.budget_ms == 10000, "the first call");
        started(&r);
        CHECK(r.it.in_flight && r.it.calls == 1 && r.it.state == WXSHM_STATE_REFRESHING, "in flight");
        CHECK(core_item_wake(&r.it) == INT64_MAX, "no wake-up while only a call is pending");
        published(&r, 1, false);
        CHECK(r.it.state == WXSHM_STATE_FRESH && r.it.generation == 1 && !r.it.in_flight, "published");
        CHECK(count(&r, CORE_ACT_SAVE) == 1 && count(&r, CORE_ACT_PUSH) == 1 && count(&r, CORE_ACT_SETTLED) == 1 &&
              count(&r, CORE_ACT_FETCH_TICKETS) == 1, "saved, pushed, settled, tickets fetched");
        CHECK(core_item_wake(&r.it) > T0 + 6800 * SEC && core_item_wake(&r.it) < T0 + 7000 * SEC,
              "next refresh inside the margin");
        /* The same token again (the generation did not move): no save, no ticket refetch. */
        fire(&r);
        started(&r);
        published(&r, 1, true);
        CHECK(count(&r, CORE_ACT_SAVE) == 0 && count(&r, CORE_ACT_FETCH_TICKETS) == 0, "same token: nothing saved");
        /* A timer while in flight starts nothing. */
        fire(&r);
        started(&r);
        step(&r, timer(&r, 10000));
        CHECK(count(&r, CORE_ACT_START_CALL) == 0, "one call at a time");
        rig_free(&r);
}

/* Every backoff step: full jitter in [min, min(max, min * 2^attempt)], one log line per change. */
static void test_backoff(void) {
        struct rig r;

        rig_init(&r, APP_KIND_TOKEN);
        r.pol.n_api_base = 3;
        step(&r, (struct core_event){ .type = CORE_EV_START });
        for (unsigned attempt = 0; attempt < 12; attempt++) {
                const struct core_action *call = fire(&r);
                int64_t hi = r.pol.backoff_min_ms << (attempt < 20 ? attempt : 20), delay;

                if (hi > r.pol.backoff_max_ms)
                        hi = r.pol.backoff_max_ms;
                CHECK(call && call->call.api_index == (int)(attempt % 3), "attempt %u on api_base %d", attempt,
                      call ? call->call.api_index : -1);
                started(&r);
                failed(&r, -1002);
                delay = core_item_wake(&r.it) - r.clock.now_ms;
                CHECK(delay >= r.pol.backoff_min_ms && delay <= hi, "attempt %u: delay %lld in [%lld, %lld]", attempt,
                      (long long)delay, (long long)r.pol.backoff_min_ms, (long long)hi);
                CHECK(count(&r, CORE_ACT_LOG) == (attempt == 0), "one line per change of what is wrong (%u)", attempt);
                CHECK(r.it.state == WXSHM_STATE_RETRYING && r.it.attempt == attempt + 1 && r.it.settled, "retrying");
        }
        /* A config error waits backoff_max; 45009 is the quota state. */
        fire(&r);
        started(&r);
        failed(&r, 40125);
        CHECK(r.it.state == WXSHM_STATE_CONFIG_ERROR && core_item_wake(&r.it) - r.clock.now_ms == r.pol.backoff_max_ms,
              "config error: backoff_max");
        CHECK(count(&r, CORE_ACT_LOG) == 1 && strstr(r.it.advice, "secret"), "a new log line with advice: %s",
              r.it.advice);
        fire(&r);
        started(&r);
        failed(&r, 45009);
        CHECK(r.it.state == WXSHM_STATE_QUOTA, "quota");
        fire(&r);
        started(&r);
        published(&r, 1, false);
        CHECK(r.it.attempt == 0 && r.it.api_index == 0 && r.it.failure == FAILURE_NONE, "recovered");
        CHECK(find(&r, CORE_ACT_LOG) && strstr(find(&r, CORE_ACT_LOG)->text, "recovered after 14"), "said: %s",
              find(&r, CORE_ACT_LOG) ? find(&r, CORE_ACT_LOG)->text : "");
        rig_free(&r);
}

static void test_ticket(void) {
        struct rig r;

        rig_init(&r, APP_KIND_TOKEN);
        r.pol.ticket = true;
        step(&r, (struct core_event){ .type = CORE_EV_START });
        step(&r, (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = 10000, .token_ready = false });
        CHECK(r.out.n == 0 && core_item_wake(&r.it) == INT64_MAX, "no ticket before the token; fetched when it comes");
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        CHECK(fire(&r) != NULL, "the token came: the ticket is fetched");
        started(&r);
        failed(&r, 40001);
        CHECK(count(&r, CORE_ACT_TOKEN_DEAD) == 1 && r.it.failure == FAILURE_TRANSIENT, "a refused token: fetch it");
        CHECK(strstr(r.it.advice, "refused the access token"), "advice: %s", r.it.advice);
        rig_free(&r);

        /* The token side: fetched again at once, but not within min_force_interval of its last fetch. */
        fresh(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW, .dead = true });
        CHECK(core_item_wake(&r.it) > r.clock.now_ms, "not within min_force_interval");
        advance(&r, 10 * SEC);
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW, .dead = true });
        CHECK(core_item_wake(&r.it) == r.clock.now_ms, "after it: now");
        rig_free(&r);
}

/* A ticket call refused for its access token (40001, 40014, 42001): the token is dead; other codes are the ticket's. */
static void test_ticket_token_codes(void) {
        static const struct {
                long errcode;
                bool dead;
        } cases[] = { { 40001, true }, { 40014, true }, { 42001, true }, { -1002, false }, { 40164, false } };
        struct rig r;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                rig_init(&r, APP_KIND_TOKEN);
                r.pol.ticket = true;
                step(&r, (struct core_event){ .type = CORE_EV_START });
                fire(&r);
                started(&r);
                failed(&r, cases[i].errcode);
                CHECK(count(&r, CORE_ACT_TOKEN_DEAD) == cases[i].dead, "%ld: token dead %d", cases[i].errcode,
                      cases[i].dead);
                CHECK(!cases[i].dead || (r.it.failure == FAILURE_TRANSIENT && r.it.state == WXSHM_STATE_RETRYING),
                      "%ld: a dead token is a transient failure of the ticket", cases[i].errcode);
                /* 40001 is a bad secret at a token fetch, but at a ticket fetch a refused token: so the advice says. */
                CHECK(!strstr(r.it.advice, "a new token is fetched") == !cases[i].dead, "%ld: %s", cases[i].errcode,
                      r.it.advice);
                rig_free(&r);
        }
}

/* A failure with no message; another code of the same class is a change worth a line. */
static void test_failure_lines(void) {
        struct rig r;

        rig_init(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_FAILED, .errcode = -1002 });
        CHECK(r.it.last_errmsg[0] == '\0' && count(&r, CORE_ACT_LOG) == 1 && strstr(find(&r, CORE_ACT_LOG)->text, "()"),
              "no message: an empty one");
        fire(&r);
        started(&r);
        failed(&r, -1002);
        CHECK(count(&r, CORE_ACT_LOG) == 0, "the same again: no line");
        fire(&r);
        started(&r);
        failed(&r, -1001);
        CHECK(count(&r, CORE_ACT_LOG) == 1 && r.it.failure == FAILURE_TRANSIENT && r.it.errcode == -1001,
              "another transient code: a line");
        rig_free(&r);
}

/* A mirror of the generation already here; one reaching a holder whose own calls fail. */
static void test_mirror_corners(void) {
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        step(&r, (struct core_event){ .type = CORE_EV_MIRRORED, .generation = 1, .fetched_at_ms = r.clock.now_ms,
                                      .expires_at_ms = r.clock.now_ms + 7200 * SEC });
        CHECK(!answer_of(&r, id) && r.it.n_waiters == 1 && count(&r, CORE_ACT_LOG) == 0 && count(&r, CORE_ACT_SAVE) == 1,
              "the same generation: saved (new times), no line, the waiter still waits");
        rig_free(&r);

        /* The holder failing: a mirror (its own push read back) must not paint the segment fresh. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        fire(&r);
        started(&r);
        failed(&r, -1002);
        step(&r, (struct core_event){ .type = CORE_EV_MIRRORED, .generation = 1, .fetched_at_ms = r.it.fetched_at_ms,
                                      .expires_at_ms = r.it.expires_at_ms });
        CHECK(r.it.state == WXSHM_STATE_RETRYING && count(&r, CORE_ACT_SET_STATE) == 0, "still retrying");
        /* A non-holder takes the holder's token as it is: fresh. */
        r.pol.holder = false;
        step(&r, (struct core_event){ .type = CORE_EV_MIRRORED, .generation = 2, .fetched_at_ms = r.clock.now_ms,
                                      .expires_at_ms = r.clock.now_ms + 7200 * SEC });
        CHECK(r.it.state == WXSHM_STATE_FRESH && r.it.generation == 2, "fresh");
        rig_free(&r);
}

/* A rebase whose new segment could not be made leaves the state as it was. */
static void test_rebase_failed(void) {
        struct rig r;

        fresh(&r, APP_KIND_TOKEN);
        step(&r, (struct core_event){ .type = CORE_EV_REBASE, .ok = false });
        CHECK(r.it.generation == 0 && r.it.state == WXSHM_STATE_FRESH && r.out.n == 0, "no state written");
        rig_free(&r);
}

/* 1,000 clients report one generation: one call, every one answered with the next. */
static void test_coalesce(void) {
        const struct core_action *call;
        struct rig r;
        uint64_t first;

        fresh(&r, APP_KIND_TOKEN);
        advance(&r, 60 * SEC);
        first = request(&r, 1, 5000);
        CHECK(r.out.n == 0 && r.it.force_stage == CORE_FORCE_ROTATE && core_item_wake(&r.it) == r.clock.now_ms,
              "the first starts a forced call now");
        for (int i = 1; i < 1000; i++)
                request(&r, 1, 5000);
        CHECK(r.it.n_waiters == 1000 && r.it.coalesced_waiters == 999 && r.it.forced_refreshes == 1, "999 joined");
        call = fire(&r);
        CHECK(call && call->call.force, "one forced call");
        started(&r);
        CHECK(request(&r, 1, 5000) && r.it.n_waiters == 1001, "a call in flight: joins");
        published(&r, 2, false);
        CHECK(count(&r, CORE_ACT_ANSWER) == 1001 && r.it.n_waiters == 0, "all answered (%zu)",
              count(&r, CORE_ACT_ANSWER));
        CHECK(answer_of(&r, first) && answer_of(&r, first)->answer == CORE_ANSWER_PUBLISHED &&
              answer_of(&r, first)->num == 2, "with generation 2");
        /* Compare: a stale report is answered at once, no call. */
        request(&r, 1, 5000);
        CHECK(r.out.n == 1 && r.out.v[0].answer == CORE_ANSWER_PUBLISHED && r.it.force_stage == CORE_FORCE_NONE,
              "stale: answered at once");
        /* max_waiters */
        r.pol.max_waiters = 1;
        request(&r, 2, 60000);
        request(&r, 2, 60000);
        CHECK(r.out.n == 1 && r.out.v[0].answer == CORE_ANSWER_BUSY, "too many waiters");
        rig_free(&r);
}

/* min_force_interval: refused if the client cannot wait that long, else waited for. */
static void test_spacing(void) {
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        request(&r, 1, 5000);
        fire(&r);
        started(&r);
        published(&r, 2, false);
        advance(&r, 2 * SEC);
        id = request(&r, 2, 100);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_RATE_LIMITED &&
              answer_of(&r, id)->retry_after_ms == 8 * SEC, "spaced: rate_limited, retry in 8 s (%lld)",
              answer_of(&r, id) ? (long long)answer_of(&r, id)->retry_after_ms : -1LL);
        CHECK(r.it.rate_limited == 1, "counted");
        id = request(&r, 2, 10000);
        CHECK(!answer_of(&r, id) && core_item_wake(&r.it) == r.clock.now_ms + 8 * SEC, "a long timeout waits for it");
        CHECK(fire(&r) != NULL, "then the call");
        rig_free(&r);
}

/* stable: a normal-mode call first, then force_refresh; WeChat allows 20 a day whatever the cap says. */
static void test_stable(void) {
        const struct core_action *call;
        struct rig r;
        uint64_t gen = 1, id;

        fresh(&r, APP_KIND_STABLE);
        r.pol.max_forced_per_day = 100;
        for (int n = 0; n < 20; n++) {
                advance(&r, 30 * SEC);
                request(&r, gen, 60000);
                CHECK(r.it.force_stage == CORE_FORCE_NORMAL, "normal mode first");
                call = fire(&r);
                CHECK(call && !call->call.force, "no force_refresh yet");
                started(&r);
                published(&r, gen, true);
                CHECK(r.it.force_stage == CORE_FORCE_ROTATE, "the same token: now force");
                call = fire(&r);
                CHECK(call && call->call.force, "force_refresh %d", n);
                started(&r);
                published(&r, ++gen, false);
        }
        advance(&r, 30 * SEC);
        id = request(&r, gen, 60000);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_RATE_LIMITED &&
              strstr(answer_of(&r, id)->text, "stable_token allows 20"), "the 21st: %s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        CHECK(answer_of(&r, id)->retry_after_ms == 8 * 3600 * SEC - 21 * 30 * SEC,
              "until Beijing midnight (%lld)", (long long)answer_of(&r, id)->retry_after_ms);
        /* Beijing midnight: a new day, a new budget. */
        advance(&r, answer_of(&r, id)->retry_after_ms);
        id = request(&r, gen, 60000);
        CHECK(!answer_of(&r, id) && r.it.force_stage == CORE_FORCE_NORMAL, "a new day");
        rig_free(&r);

        /* Clients joined a proactive normal-mode call that brought nothing new: forced, spaced 30 s. */
        fresh(&r, APP_KIND_STABLE);
        fire(&r);
        started(&r);
        request(&r, 1, 60000);
        published(&r, 1, true);
        CHECK(r.it.force_stage == CORE_FORCE_ROTATE && r.it.forced_refreshes == 1, "forced for the joiners");
        rig_free(&r);
}

static void test_probe(void) {
        const struct core_action *call;
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        r.pol.verify_before_force = true;
        id = request(&r, 1, 5000);
        call = fire(&r);
        CHECK(call && call->call.probe && !call->call.force, "a probe first");
        started(&r);
        CHECK(r.it.probing, "probing");
        step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = 0 });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_VERIFIED && r.it.generation == 1,
              "the token works: verified, nothing rotated");
        CHECK(count(&r, CORE_ACT_NOTE_VERIFIED) == 0, "no other host waited");
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = 42001 });
        CHECK(r.it.force_stage == CORE_FORCE_ROTATE && !answer_of(&r, id), "dead: rotate");
        call = fire(&r);
        CHECK(call && call->call.force, "the rotation");
        started(&r);
        published(&r, 2, false);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->num == 2, "answered with the new one");
        advance(&r, 10 * SEC);
        id = request(&r, 2, 5000);
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = -1002 });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_UPSTREAM &&
              strstr(answer_of(&r, id)->text, "could not verify the token (no answer)"), "unverifiable: %s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        rig_free(&r);
}

static void test_waiters_leave(void) {
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_TOKEN);
        id = request(&r, 1, 5000);
        step(&r, (struct core_event){ .type = CORE_EV_WAITER_GONE, .waiter = id });
        CHECK(r.it.n_waiters == 0, "gone");
        step(&r, timer(&r, 10000));
        CHECK(count(&r, CORE_ACT_START_CALL) == 0 && r.it.force_stage == CORE_FORCE_NONE,
              "nobody waits: no rotation for nobody");
        CHECK(core_item_wake(&r.it) > r.clock.now_ms + 6000 * SEC, "the proactive schedule again");
        /* Timeout: the waiter is answered at its deadline. */
        advance(&r, 10 * SEC);
        request(&r, 1, 5000);
        fire(&r);
        started(&r);
        advance(&r, 5 * SEC);
        step(&r, timer(&r, 10000));
        CHECK(count(&r, CORE_ACT_ANSWER) == 1 && r.out.v[0].answer == CORE_ANSWER_TIMEOUT, "timed out");
        /* Aborts. */
        request(&r, 1, 5000);
        step(&r, (struct core_event){ .type = CORE_EV_ABORT, .answer = CORE_ANSWER_UNKNOWN_APP });
        CHECK(count(&r, CORE_ACT_ANSWER) == 1 && !strcmp(r.out.v[0].code, "unknown_app"), "removed: unknown_app");
        rig_free(&r);
}

static void test_same_token_failures(void) {
        struct rig r;
        uint64_t id;

        /* WeCom hands out the same token until it expires: a forced call gives nothing new. */
        fresh(&r, APP_KIND_WORK);
        id = request(&r, 1, 5000);
        fire(&r);
        started(&r);
        published(&r, 1, true);
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_UPSTREAM &&
              strstr(answer_of(&r, id)->text, "WeCom renews only after expiry"), "work: %s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        rig_free(&r);
        /* 45009 on a forced call: no forced call until Beijing midnight. */
        fresh(&r, APP_KIND_TOKEN);
        request(&r, 1, 5000);
        fire(&r);
        started(&r);
        failed(&r, 45009);
        CHECK(count(&r, CORE_ACT_SAVE) == 1, "the quota day is saved");
        advance(&r, 20 * SEC);
        id = request(&r, 1, 5000);
        CHECK(answer_of(&r, id) && strstr(answer_of(&r, id)->text, "45009"), "quota: refused");
        rig_free(&r);
}

/*
 * WeCom's 45009 at a ticket fetch: an hourly limit, which blocks the call for an hour. No
 * call before the hour is up (its retry, a new token, a client's forced refresh), and
 * no day-long stop: after the hour it is fetched again.
 */
static void test_work_ticket_block(void) {
        const struct core_action *a;
        struct rig r;
        uint64_t id;

        fresh(&r, APP_KIND_WORK);
        r.pol.ticket = true;
        fire(&r);
        started(&r);
        failed(&r, 45009);
        CHECK(r.it.state == WXSHM_STATE_QUOTA && core_item_wake(&r.it) - r.clock.now_ms == BUDGET_WORK_BLOCK_MS,
              "retried when the hour's block ends: in %lld ms", (long long)(core_item_wake(&r.it) - r.clock.now_ms));
        CHECK(strstr(r.it.advice, "100 an hour per app") && strstr(r.it.advice, "in an hour"), "advice: %s",
              r.it.advice);
        CHECK(r.it.budget.quota_day == 0, "not a day's stop: WeCom has no daily quota");
        advance(&r, 10 * SEC);
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        CHECK(core_item_wake(&r.it) - r.clock.now_ms == BUDGET_WORK_BLOCK_MS - 10 * SEC,
              "a new token does not fetch the blocked ticket sooner");
        id = request(&r, 1, 5000);
        a = answer_of(&r, id);
        CHECK(a && a->answer == CORE_ANSWER_RATE_LIMITED && strstr(a->text, "45009") &&
              a->retry_after_ms == BUDGET_WORK_BLOCK_MS - 10 * SEC, "a forced refresh waits out the block: %s (%lld)",
              a ? a->text : "", a ? (long long)a->retry_after_ms : -1LL);
        CHECK(fire(&r) != NULL && r.clock.now_ms - T0 >= BUDGET_WORK_BLOCK_MS, "fetched again after the hour");
        started(&r);
        published(&r, 2, false);
        id = request(&r, 2, 5000);
        CHECK(!answer_of(&r, id), "after the hour a forced refresh is taken again");
        rig_free(&r);
        /* The token of a WeCom app: its 45009 keeps backoff_max (a per-minute limit may be what it met). */
        fresh(&r, APP_KIND_WORK);
        fire(&r);
        started(&r);
        failed(&r, 45009);
        CHECK(core_item_wake(&r.it) - r.clock.now_ms == r.pol.backoff_max_ms && r.it.budget.quota_day == 0,
              "a WeCom token retries after backoff_max");
        rig_free(&r);
}

static void test_cluster(void) {
        struct rig r;
        uint64_t id;

        /* A non-holder hands a forced refresh to the holder, or fails it while Redis is away. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = true;
        r.pol.redis_up = true;
        r.pol.tick_ms = 1000;
        id = request(&r, 1, 5000);
        step(&r, timer(&r, 0));
        CHECK(count(&r, CORE_ACT_FORWARD) == 1 && !answer_of(&r, id) && r.it.force_stage == CORE_FORCE_NONE,
              "forwarded");
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_VERIFIED, .generation = 1 });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_VERIFIED, "the holder verified it");
        id = request(&r, 1, 5000);
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FAILED, .generation = 1, .code = "rate_limited",
                                      .errmsg = "spaced", .retry_after_ms = 77 });
        CHECK(answer_of(&r, id) && !strcmp(answer_of(&r, id)->code, "rate_limited") &&
              answer_of(&r, id)->retry_after_ms == 77, "the holder's refusal");
        r.pol.redis_up = false;
        r.pol.redis = "redis://x";
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        step(&r, timer(&r, 0));
        CHECK(answer_of(&r, id) && strstr(answer_of(&r, id)->text, "Redis redis://x is unreachable"), "Redis away");
        /* A holder short of lease tries again in half a tick. */
        r.pol.holder = true;
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        step(&r, timer(&r, 0));
        CHECK(core_item_wake(&r.it) == r.clock.now_ms + 500, "half a tick");
        /* The fleet's count: asked, then granted, over the cap, or not taken. */
        r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        request(&r, 1, 30000);
        step(&r, timer(&r, 10000));
        CHECK(count(&r, CORE_ACT_TAKE_BUDGET) == 1 && r.it.budget_asked, "Redis counts first");
        step(&r, timer(&r, 10000));
        CHECK(count(&r, CORE_ACT_START_CALL) == 0, "no call before the count");
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 3 });
        CHECK(fire(&r) && r.it.budget.forced_today == 1, "granted: the call, counted here too");
        started(&r);
        published(&r, 2, false);
        advance(&r, 10 * SEC);
        id = request(&r, 2, 30000);
        fire(&r);
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1001 });
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_RATE_LIMITED &&
              count(&r, CORE_ACT_SAVE) == 1 && r.it.budget.forced_today == 1000, "spent across the cluster");
        rig_free(&r);

        /* The holder serves another host's clients: a note if it cannot. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 90000 });
        CHECK(r.it.force_stage == CORE_FORCE_ROTATE && r.it.remote_until_ms == r.clock.now_ms + 60000,
              "forced for them, their wait capped at 60 s");
        fire(&r);
        started(&r);
        failed(&r, -1002);
        CHECK(count(&r, CORE_ACT_NOTE_FAILED) == 1, "the failure goes to them");
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 100 });
        CHECK(count(&r, CORE_ACT_NOTE_FAILED) == 1 && strstr(find(&r, CORE_ACT_NOTE_FAILED)->text, "on the lease holder"),
              "spaced on the holder");
        /* Resume: this host's own waiters, handed on, now wait here. */
        rig_free(&r);
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.redis_up = true;
        advance(&r, 10 * SEC);
        request(&r, 1, 5000);
        r.pol.holder = true;
        step(&r, (struct core_event){ .type = CORE_EV_RESUME });
        CHECK(r.it.remote_until_ms > r.clock.now_ms, "own waiters as remote ones");
        rig_free(&r);
        /* A client asked while the lease was being taken: resuming keeps its forced call due now. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.redis_up = r.pol.holder = true;
        advance(&r, 10 * SEC);
        request(&r, 1, 5000);
        CHECK(core_item_wake(&r.it) == r.clock.now_ms, "the forced call is due");
        step(&r, (struct core_event){ .type = CORE_EV_RESUME });
        CHECK(core_item_wake(&r.it) == r.clock.now_ms && r.it.force_stage == CORE_FORCE_ROTATE,
              "and stays due after the resume (%lld)", (long long)(core_item_wake(&r.it) - r.clock.now_ms));
        /* A mirror answers waiters; a rebase makes them wait for any token. */
        step(&r, (struct core_event){ .type = CORE_EV_MIRRORED, .generation = 5, .expires_at_ms = r.clock.now_ms + 7000 * SEC,
                                      .fetched_at_ms = r.clock.now_ms });
        CHECK(r.it.generation == 5 && count(&r, CORE_ACT_ANSWER) == 1 && count(&r, CORE_ACT_SAVE) == 1, "mirrored");
        request(&r, 5, 5000);
        step(&r, (struct core_event){ .type = CORE_EV_REBASE, .ok = true });
        CHECK(r.it.generation == 0 && r.it.waiters[0].generation == 0 && r.it.state == WXSHM_STATE_STARTING, "rebased");
        rig_free(&r);
        /*
         * A forced call spaced to later, and a refresh that fell due while this agent was not
         * the holder: the new holder refreshes now, not at the forced call's time.
         */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.clustered = r.pol.redis_up = r.pol.holder = true;
        r.pol.min_force_interval_ms = 600 * SEC;
        request(&r, 1, 60000);
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PUBLISHED, .generation = 2,
                                      .expires_at_ms = r.clock.now_ms + 200 * SEC });
        r.pol.holder = false;
        advance(&r, 160 * SEC);
        step(&r, timer(&r, 0));
        CHECK(r.out.n == 0 && core_item_wake(&r.it) == INT64_MAX, "not the holder: its refresh is the holder's");
        request(&r, 2, 500 * SEC);
        CHECK(core_item_wake(&r.it) == r.clock.now_ms + 440 * SEC, "a forced call spaced 440 s on");
        r.pol.holder = true;
        step(&r, (struct core_event){ .type = CORE_EV_RESUME });
        CHECK(core_item_wake(&r.it) == r.clock.now_ms, "the due refresh now, not put off to the forced call's (%lld s)",
              (long long)((core_item_wake(&r.it) - r.clock.now_ms) / SEC));
        rig_free(&r);
}

static struct core_event retry_ev(void) {
        return (struct core_event){ .type = CORE_EV_RETRY, .caller_uid = 1000, .caller_pid = 4242 };
}

/* wxtokenctl retry: the backoff wait skipped once, within the forced calls' budget and spacing; never on 45009. */
static void test_retry(void) {
        const struct core_action *a;
        struct rig r;
        uint64_t id;

        /* A wrong secret with backoff_max 600 s: the retry moves the next call to now. */
        rig_init(&r, APP_KIND_TOKEN);
        r.pol.backoff_max_ms = 600 * SEC;
        r.pol.max_forced_per_day = 2;
        step(&r, (struct core_event){ .type = CORE_EV_START });
        fire(&r);
        started(&r);
        for (int i = 0; i < 6; i++) {
                failed(&r, 40125);
                if (i < 5) {
                        fire(&r);
                        started(&r);
                }
        }
        CHECK(r.it.state == WXSHM_STATE_CONFIG_ERROR && core_item_wake(&r.it) - r.clock.now_ms >= 300 * SEC,
              "a config error waits long (%lld s)", (long long)((core_item_wake(&r.it) - r.clock.now_ms) / SEC));
        /* A client's refresh of an item with no token is answered at once, with the errcode, not after its timeout. */
        id = request(&r, 0, 5000);
        a = answer_of(&r, id);
        CHECK(a && a->answer == CORE_ANSWER_UPSTREAM && strstr(a->text, "40125") && r.it.n_waiters == 0,
              "refresh with no token: answered now with the errcode (%s)", a ? a->text : "none");
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !a->code[0] && !strcmp(a->text, "now"), "retry taken: %s %s", a ? a->code : "-", a ? a->text : "-");
        CHECK(core_item_wake(&r.it) == r.clock.now_ms, "the next call is now");
        CHECK(r.it.budget.forced_today == 1, "counted against max_forced_per_day");
        a = find(&r, CORE_ACT_LOG);
        CHECK(a && strstr(a->text, "uid 1000") && strstr(a->text, "pid 4242"), "logged with the caller: %s",
              a ? a->text : "none");
        /* While the call is under way: nothing to skip, nothing counted. */
        CHECK(fire(&r) != NULL, "the call starts");
        started(&r);
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !a->code[0] && !strcmp(a->text, "in_flight") && r.it.budget.forced_today == 1, "in flight");
        failed(&r, 40125);
        /* Spaced by min_force_interval: a second retry 1 s later is rate limited, with when. */
        advance(&r, 1 * SEC);
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !strcmp(a->code, "rate_limited") && a->retry_after_ms == 9 * SEC, "spaced: %s %lld",
              a ? a->code : "-", a ? (long long)a->retry_after_ms : -1LL);
        CHECK(core_item_wake(&r.it) - r.clock.now_ms > 10 * SEC, "and the backoff wait stays");
        /* After the spacing, the second retry of the day spends the cap of 2; a third is refused till midnight. */
        advance(&r, 10 * SEC);
        step(&r, retry_ev());
        CHECK(find(&r, CORE_ACT_RETRIED) && !find(&r, CORE_ACT_RETRIED)->code[0], "the second retry");
        fire(&r);
        started(&r);
        failed(&r, 40125);
        advance(&r, 11 * SEC);
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !strcmp(a->code, "rate_limited") && strstr(a->text, "max_forced_per_day") &&
              a->retry_after_ms == budget_until_tomorrow(r.clock.quota_now_ms), "the cap: %s", a ? a->text : "-");
        rig_free(&r);

        /* 45009: refused, with the reason, whatever the budget. */
        fresh(&r, APP_KIND_TOKEN);
        fire(&r);
        started(&r);
        failed(&r, 45009);
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !strcmp(a->code, "rate_limited") && strstr(a->text, "45009") && strstr(a->text, "a retry now") &&
              a->retry_after_ms == budget_until_tomorrow(r.clock.quota_now_ms) && r.it.budget.forced_today == 0 &&
              core_item_wake(&r.it) > r.clock.now_ms, "quota: refused (%s)", a ? a->text : "-");
        /* Past midnight Beijing time the quota is WeChat's new day's: the retry is taken. */
        advance(&r, budget_until_tomorrow(r.clock.quota_now_ms));
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !a->code[0] && core_item_wake(&r.it) == r.clock.now_ms, "quota of yesterday: retried (%s)",
              a ? a->text : "-");
        rig_free(&r);

        /* Fresh: nothing to retry. Cluster, not the holder: the holder's to do. */
        fresh(&r, APP_KIND_TOKEN);
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !strcmp(a->code, "not_failing"), "fresh: %s", a ? a->code : "-");
        fire(&r);
        started(&r);
        failed(&r, -1);
        r.pol.clustered = true;
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !strcmp(a->code, "not_lease_holder") && strstr(a->text, "Redis"),
              "not the holder, Redis down: %s", a ? a->code : "-");
        r.pol.redis_up = true;
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !strcmp(a->code, "not_lease_holder") && strstr(a->text, "no lease holder is known"),
              "not the holder, none known: %s", a ? a->code : "-");
        CHECK(count(&r, CORE_ACT_FORWARD_RETRY) == 0, "nothing handed on without a holder");
        /* Another agent holds it: handed on with who asked, and the client told so; no call here. */
        r.pol.holder_known = true;
        step(&r, retry_ev());
        a = find(&r, CORE_ACT_RETRIED);
        CHECK(a && !a->code[0] && !strcmp(a->text, "forwarded"), "forwarded: %s", a ? a->text : "-");
        a = find(&r, CORE_ACT_FORWARD_RETRY);
        CHECK(a && a->caller_uid == 1000 && a->caller_pid == 4242 && count(&r, CORE_ACT_START_CALL) == 0 &&
              !r.it.in_flight, "handed to the holder");
        /* A retry handed on to an agent that lost the lease meanwhile: refused, never handed on again. */
        {
                struct core_event ev = retry_ev();

                ev.from_node = "host-b/00ff";
                step(&r, ev);
                a = find(&r, CORE_ACT_RETRIED);
                CHECK(a && !strcmp(a->code, "not_lease_holder") && count(&r, CORE_ACT_FORWARD_RETRY) == 0,
                      "no ping-pong");
                /* The holder takes it, and says in its log where it came from. */
                r.pol.holder = true;
                step(&r, ev);
                a = find(&r, CORE_ACT_RETRIED);
                CHECK(a && !a->code[0] && !strcmp(a->text, "now"), "the holder retries a handed-on one");
                a = find(&r, CORE_ACT_LOG);
                CHECK(a && strstr(a->text, "retry asked on host-b by uid 1000 pid 4242"), "logged: %s",
                      a ? a->text : "-");
        }
        rig_free(&r);
}

/* The corners: short-lived tokens, schedules kept, budgets spent meanwhile, answers ignored. */
static void test_edges(void) {
        struct rig r;
        uint64_t id, id2;

        /* The same token again inside the margin: halfway to expiry; a token shorter than backoff_min: not sooner. */
        fresh(&r, APP_KIND_WORK);
        fire(&r);
        started(&r);
        r.pol.backoff_min_ms = 250;
        step(&r, (struct core_event){ .type = CORE_EV_PUBLISHED, .generation = 1,
                                      .expires_at_ms = r.clock.now_ms + 300, .same = true });
        CHECK(core_item_wake(&r.it) == r.clock.now_ms + 250, "halfway to expiry, not sooner than backoff_min (%lld)",
              (long long)(core_item_wake(&r.it) - r.clock.now_ms));
        /* WeCom renews at the expiry: the call is made then, though sooner than backoff_min. */
        r.pol.backoff_min_ms = 1 * SEC;
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PUBLISHED, .generation = 1,
                                      .expires_at_ms = r.clock.now_ms + 300, .same = true });
        CHECK(core_item_wake(&r.it) == r.clock.now_ms + 300, "the same token: at its expiry, not backoff_min later "
              "(%lld)", (long long)(core_item_wake(&r.it) - r.clock.now_ms));
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PUBLISHED, .generation = 2, .expires_at_ms = r.clock.now_ms + 400 });
        CHECK(core_item_wake(&r.it) == r.clock.now_ms + r.pol.backoff_min_ms, "no tighter loop than backoff_min");
        CHECK(core_item_times_plausible(&r.pol, r.clock.now_ms - SEC, r.clock.now_ms + 3600 * SEC, r.clock.now_ms) &&
              !core_item_times_plausible(&r.pol, r.clock.now_ms, r.clock.now_ms + SEC, r.clock.now_ms),
              "plausible times: the schedule's rule with min_token_lifetime");
        CHECK(!strcmp(core_answer_code(CORE_ANSWER_PUBLISHED), "") && !strcmp(core_answer_code(CORE_ANSWER_BUSY),
              "too_many_waiters"), "codes");
        rig_free(&r);

        /* A retry due sooner than the spacing allows is kept: its outcome answers the client too. */
        fresh(&r, APP_KIND_TOKEN);
        request(&r, 1, 5000);
        fire(&r);
        started(&r);
        failed(&r, -1002);
        id = request(&r, 1, 30000);
        CHECK(core_item_wake(&r.it) - r.clock.now_ms <= 2 * SEC, "the retry, not the spacing");
        /* Fewer api_bases since (a reload): the index starts again. */
        r.it.api_index = 2;
        CHECK(fire(&r) && find(&r, CORE_ACT_START_CALL)->call.api_index == 0, "api_index within n_api_base");
        /* Leaving: a waiter not first in line; an unknown one. */
        id2 = request(&r, 1, 30000);
        step(&r, (struct core_event){ .type = CORE_EV_WAITER_GONE, .waiter = id2 });
        step(&r, (struct core_event){ .type = CORE_EV_WAITER_GONE, .waiter = 777777 });
        CHECK(r.it.n_waiters == 1 && r.it.waiters[0].id == id, "the other one stays");
        rig_free(&r);

        /* The cap reached between the request and the call: refused then, everyone told. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.max_forced_per_day = 1;
        r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        r.it.remote_until_ms = r.clock.now_ms + 60000;
        id = request(&r, 1, 30000);
        r.it.budget.forced_day = budget_day(r.clock.quota_now_ms);
        r.it.budget.forced_today = 1;
        step(&r, timer(&r, 10000));
        CHECK(answer_of(&r, id) && answer_of(&r, id)->answer == CORE_ANSWER_RATE_LIMITED &&
              count(&r, CORE_ACT_NOTE_FAILED) == 1 && r.it.rate_limited == 1, "refused at the call, here and there");
        /* A count nobody asked for is ignored; one for a force nobody waits for any more resumes the schedule. */
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        CHECK(r.out.n == 0, "not asked: ignored");
        r.it.budget.forced_today = 0;
        advance(&r, 10 * SEC);
        id = request(&r, 1, 30000);
        step(&r, timer(&r, 10000));
        step(&r, (struct core_event){ .type = CORE_EV_WAITER_GONE, .waiter = id });
        r.it.remote_until_ms = 0;
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
        CHECK(r.it.force_stage == CORE_FORCE_NONE && core_item_wake(&r.it) > r.clock.now_ms, "nobody waits: dropped");
        id = request(&r, 1, 30000);
        advance(&r, 10 * SEC);
        step(&r, timer(&r, 10000));
        step(&r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = -1 });
        CHECK(answer_of(&r, id) && strstr(answer_of(&r, id)->text, "cannot be taken in Redis"), "Redis could not count");
        rig_free(&r);

        /* The probe verifies for other hosts too; a probe's own error text is passed on. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.verify_before_force = r.pol.clustered = r.pol.holder = r.pol.redis_up = true;
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 5000 });
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = 0 });
        CHECK(count(&r, CORE_ACT_NOTE_VERIFIED) == 1, "verified for the other hosts");
        advance(&r, 10 * SEC);
        id = request(&r, 1, 5000);
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_PROBED, .errcode = -1, .errmsg = "system busy" });
        CHECK(answer_of(&r, id) && strstr(answer_of(&r, id)->text, "(system busy)"), "the probe's error: %s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        /* Remote events that do not apply. */
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 0, .timeout_ms = 5000 });
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 0 });
        CHECK(r.it.force_stage == CORE_FORCE_NONE, "an older generation, or no wait: nothing");
        advance(&r, 10 * SEC);
        request(&r, 1, 5000);
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_VERIFIED, .generation = 9 });
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FAILED, .generation = 0, .code = "x", .errmsg = "y" });
        CHECK(r.out.n == 0 && r.it.n_waiters == 1, "answers about other generations: ignored");
        fire(&r);
        started(&r);
        step(&r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 5000 });
        CHECK(r.it.coalesced_waiters >= 1 && count(&r, CORE_ACT_NOTE_FAILED) == 0, "in flight: joins");
        rig_free(&r);

        /* A ticket whose proactive call brought the same ticket while clients waited: nothing newer to be had. */
        fresh(&r, APP_KIND_TOKEN);
        r.pol.ticket = true;
        fire(&r);
        started(&r);
        id = request(&r, 1, 5000);
        published(&r, 1, true);
        CHECK(answer_of(&r, id) && strstr(answer_of(&r, id)->text, "tickets renew only near expiry"), "ticket: %s",
              answer_of(&r, id) ? answer_of(&r, id)->text : "");
        rig_free(&r);
}

/*
 * A component with no component_verify_ticket: no call, said once, settled for READY; a
 * client is answered at once; a ticket's arrival (CORE_EV_FETCH_NOW) makes the call.
 */
static void test_component_no_ticket(void) {
        const struct core_action *a;
        struct rig r;
        uint64_t w;

        rig_init(&r, APP_KIND_COMPONENT);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        step(&r, (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = 10000, .ticket_missing = true });
        CHECK(count(&r, CORE_ACT_START_CALL) == 0, "no call without a ticket");
        CHECK(count(&r, CORE_ACT_SETTLED) == 1 && r.it.settled, "settled: READY does not wait for the ticket");
        CHECK(count(&r, CORE_ACT_LOG) == 1 && strstr(find(&r, CORE_ACT_LOG)->text, "no component_verify_ticket yet"),
              "said once");
        CHECK(r.it.state == WXSHM_STATE_STARTING && r.it.awaiting_ticket && strstr(r.it.advice, "ticket put"),
              "starting, with what to do: %s", r.it.advice);
        CHECK(core_item_wake(&r.it) == INT64_MAX, "no wake-up: the ticket's arrival wakes it");
        w = request(&r, 0, 5000);
        a = answer_of(&r, w);
        CHECK(a && a->answer == CORE_ANSWER_UPSTREAM && strstr(a->text, "component_verify_ticket"),
              "a refresh is answered at once, with why");
        step(&r, (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = 10000, .ticket_missing = true });
        CHECK(count(&r, CORE_ACT_LOG) == 0, "not said again");
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        CHECK(fire(&r) != NULL && !r.it.awaiting_ticket, "a ticket came: the call is made");
        rig_free(&r);
}

/* A WeCom suite with no usable suite_ticket: no call either, and the advice names WeCom's ticket. */
static void test_suite_no_ticket(void) {
        struct rig r;

        rig_init(&r, APP_KIND_SUITE);
        step(&r, (struct core_event){ .type = CORE_EV_START });
        step(&r, (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = 10000, .ticket_missing = true });
        CHECK(count(&r, CORE_ACT_START_CALL) == 0 && r.it.awaiting_ticket, "no call without a suite_ticket");
        CHECK(strstr(r.it.advice, "suite_ticket") && !strstr(r.it.advice, "component_verify_ticket"),
              "the advice names the suite_ticket: %s", r.it.advice);
        step(&r, (struct core_event){ .type = CORE_EV_FETCH_NOW });
        CHECK(fire(&r) != NULL && !r.it.awaiting_ticket, "a ticket came: the call is made");
        rig_free(&r);
}

int main(void) {
        test_start();
        test_component_no_ticket();
        test_suite_no_ticket();
        test_fetch();
        test_backoff();
        test_ticket();
        test_ticket_token_codes();
        test_failure_lines();
        test_mirror_corners();
        test_rebase_failed();
        test_coalesce();
        test_spacing();
        test_stable();
        test_probe();
        test_waiters_leave();
        test_same_token_failures();
        test_work_ticket_block();
        test_cluster();
        test_edges();
        test_retry();
        if (check_failures() == 0)
                printf("ok: the item machine\n");
        return check_exit_code();
}
