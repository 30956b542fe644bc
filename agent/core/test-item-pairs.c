/* test-item-pairs.c: the item machine, table-driven: every event (in several forms) from every state a short script reaches, invariants after each. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "check.h"
#include "item.h"
#include "test-item-rig.h"
#include "wxshm.h"

/*
 * The states: each a short script from a new item. Together they cover every segment
 * state the machine sets, every stage of a forced call, a call in flight or not, waiters
 * here and on other hosts, the fleet's count asked for, tickets, stable, a rebase.
 */
static const char *const state_names[] = {
        "new",                          /*  0 */
        "started",                      /*  1 */
        "fresh",                        /*  2 */
        "refreshing",                   /*  3 */
        "retrying",                     /*  4 */
        "forced, planned",              /*  5 */
        "probing, in flight",           /*  6 */
        "stable normal-mode, in flight",/*  7 */
        "holder, fleet count asked",    /*  8 */
        "non-holder, waiter",           /*  9 */
        "ticket, stopped",              /* 10 */
        "quota",                        /* 11 */
        "config error, waiter",         /* 12 */
        "ticket, no token yet",         /* 13 */
        "stable, forced and spaced",    /* 14 */
        "rebased with a waiter",        /* 15 */
        "probe planned",                /* 16 */
        "ticket, in flight",            /* 17 */
        "holder, other hosts wait",     /* 18 */
        "forced, in flight",            /* 19 */
        "queued",                       /* 20 */
        "forced, queued",               /* 21 */
        "holder, queued",               /* 22 */
};
#define STATES (int)(sizeof(state_names) / sizeof(state_names[0]))

static void reach(struct rig *r, int state) {
        switch (state) {
        case 0: rig_init(r, APP_KIND_TOKEN); break;
        case 1: rig_init(r, APP_KIND_TOKEN); step(r, (struct core_event){ .type = CORE_EV_START }); break;
        case 2: fresh(r, APP_KIND_TOKEN); break;
        case 3: fresh(r, APP_KIND_TOKEN); fire(r); started(r); break;
        case 4: fresh(r, APP_KIND_TOKEN); fire(r); started(r); failed(r, -1002); break;
        case 5: fresh(r, APP_KIND_TOKEN); request(r, 1, 5000); break;
        case 6: fresh(r, APP_KIND_TOKEN); r->pol.verify_before_force = true; request(r, 1, 5000); fire(r); started(r); break;
        case 7: fresh(r, APP_KIND_STABLE); request(r, 1, 5000); fire(r); started(r); break;
        case 8: fresh(r, APP_KIND_TOKEN); r->pol.clustered = r->pol.holder = r->pol.redis_up = true;
                request(r, 1, 5000); fire(r); break;
        case 9: fresh(r, APP_KIND_TOKEN); r->pol.clustered = r->pol.redis_up = true; request(r, 1, 5000); break;
        case 10: fresh(r, APP_KIND_WORK); r->pol.ticket = true; step(r, (struct core_event){ .type = CORE_EV_STOPPED }); break;
        case 11: fresh(r, APP_KIND_TOKEN); fire(r); started(r); failed(r, 45009); break;
        case 12: rig_init(r, APP_KIND_TOKEN); step(r, (struct core_event){ .type = CORE_EV_START }); fire(r); started(r);
                failed(r, 40125); request(r, 0, 5000); break;
        case 13: rig_init(r, APP_KIND_TOKEN); r->pol.ticket = true; step(r, (struct core_event){ .type = CORE_EV_START });
                step(r, (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = 5000 }); break;
        case 14: fresh(r, APP_KIND_STABLE); advance(r, 30 * SEC); request(r, 1, 60000); fire(r); started(r);
                published(r, 1, true); break;
        case 15: fresh(r, APP_KIND_TOKEN); request(r, 1, 5000); step(r, (struct core_event){ .type = CORE_EV_REBASE, .ok = true });
                break;
        case 16: fresh(r, APP_KIND_TOKEN); r->pol.verify_before_force = true; request(r, 1, 5000); break;
        case 17: rig_init(r, APP_KIND_TOKEN); r->pol.ticket = true; step(r, (struct core_event){ .type = CORE_EV_START });
                fire(r); started(r); break;
        case 18: fresh(r, APP_KIND_TOKEN); r->pol.clustered = r->pol.holder = r->pol.redis_up = true;
                step(r, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = 1, .timeout_ms = 5000 }); break;
        case 19: fresh(r, APP_KIND_TOKEN); request(r, 1, 5000); fire(r); started(r); request(r, 1, 5000); break;
        case 20: fresh(r, APP_KIND_TOKEN); fire(r); queued(r); break;
        case 21: fresh(r, APP_KIND_TOKEN); request(r, 1, 5000); fire(r); queued(r); request(r, 1, 5000); break;
        default: fresh(r, APP_KIND_TOKEN); r->pol.clustered = r->pol.holder = r->pol.redis_up = true;
                request(r, 1, 5000); fire(r); step(r, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = 1 });
                fire(r); queued(r); break;
        }
}

/* The events, each in the forms that lead different ways; gen/waiter filled from the item at hand. */
enum gen_of { GEN_NONE, GEN_CURRENT, GEN_NEXT, GEN_OLDER };

static const struct variant {
        const char *name;
        struct core_event ev;
        enum gen_of gen;
        bool waiter_first;              /* the first waiter's id (or 9999 if none waits) */
} variants[] = {
        { "start", { .type = CORE_EV_START }, GEN_NONE, false },
        { "start adopted", { .type = CORE_EV_START, .adopted = true, .expires_at_ms = T0 + 7200 * SEC,
                             .fetched_at_ms = T0 - 60 * SEC, .last_errcode = -1, .last_error_at_ms = T0 }, GEN_NEXT, false },
        { "timer", { .type = CORE_EV_TIMER, .call_budget_ms = 5000, .token_ready = true }, GEN_NONE, false },
        { "timer, no lease", { .type = CORE_EV_TIMER, .call_budget_ms = 0, .token_ready = true }, GEN_NONE, false },
        { "timer, no token", { .type = CORE_EV_TIMER, .call_budget_ms = 5000 }, GEN_NONE, false },
        { "call started", { .type = CORE_EV_CALL_STARTED }, GEN_NONE, false },
        { "call queued", { .type = CORE_EV_CALL_STARTED, .queued = true }, GEN_NONE, false },
        { "call dropped", { .type = CORE_EV_CALL_DROPPED }, GEN_NONE, false },
        { "published", { .type = CORE_EV_PUBLISHED, .expires_at_ms = T0 + 7200 * SEC }, GEN_NEXT, false },
        { "published same", { .type = CORE_EV_PUBLISHED, .expires_at_ms = T0 + 7200 * SEC, .same = true }, GEN_CURRENT,
          false },
        { "failed 40001", { .type = CORE_EV_FAILED, .errcode = 40001, .errmsg = "invalid credential" }, GEN_NONE, false },
        { "failed -1002", { .type = CORE_EV_FAILED, .errcode = -1002 }, GEN_NONE, false },
        { "failed 45009", { .type = CORE_EV_FAILED, .errcode = 45009, .errmsg = "quota" }, GEN_NONE, false },
        { "probed ok", { .type = CORE_EV_PROBED }, GEN_NONE, false },
        { "probed dead", { .type = CORE_EV_PROBED, .errcode = 40001, .errmsg = "x" }, GEN_NONE, false },
        { "probed unknown", { .type = CORE_EV_PROBED, .errcode = -1 }, GEN_NONE, false },
        { "request", { .type = CORE_EV_REQUEST, .waiter = 9999, .has_generation = true, .timeout_ms = 3000 }, GEN_CURRENT,
          false },
        { "request stale", { .type = CORE_EV_REQUEST, .waiter = 9999, .has_generation = true, .timeout_ms = 3000 },
          GEN_OLDER, false },
        { "request, any", { .type = CORE_EV_REQUEST, .waiter = 9999, .timeout_ms = 60000 }, GEN_NONE, false },
        { "waiter gone", { .type = CORE_EV_WAITER_GONE }, GEN_NONE, true },
        { "fetch now", { .type = CORE_EV_FETCH_NOW }, GEN_NONE, false },
        { "fetch now, dead", { .type = CORE_EV_FETCH_NOW, .dead = true }, GEN_NONE, false },
        { "mirrored", { .type = CORE_EV_MIRRORED, .expires_at_ms = T0 + 7200 * SEC, .fetched_at_ms = T0 }, GEN_NEXT, false },
        { "mirrored same", { .type = CORE_EV_MIRRORED, .expires_at_ms = T0 + 7200 * SEC, .fetched_at_ms = T0 }, GEN_CURRENT,
          false },
        { "resume", { .type = CORE_EV_RESUME }, GEN_NONE, false },
        { "remote force", { .type = CORE_EV_REMOTE_FORCE, .timeout_ms = 3000 }, GEN_CURRENT, false },
        { "remote failed", { .type = CORE_EV_REMOTE_FAILED, .code = "upstream_failed", .errmsg = "e", .retry_after_ms = 5 },
          GEN_CURRENT, false },
        { "remote verified", { .type = CORE_EV_REMOTE_VERIFIED }, GEN_CURRENT, false },
        { "budget counted", { .type = CORE_EV_BUDGET_COUNTED, .count = 1 }, GEN_NONE, false },
        { "budget not counted", { .type = CORE_EV_BUDGET_COUNTED, .count = -1 }, GEN_NONE, false },
        { "budget spent", { .type = CORE_EV_BUDGET_COUNTED, .count = 1000000 }, GEN_NONE, false },
        { "rebase", { .type = CORE_EV_REBASE, .ok = true }, GEN_NONE, false },
        { "rebase failed", { .type = CORE_EV_REBASE }, GEN_NONE, false },
        { "abort stopping", { .type = CORE_EV_ABORT, .answer = CORE_ANSWER_STOPPING }, GEN_NONE, false },
        { "abort removed", { .type = CORE_EV_ABORT, .answer = CORE_ANSWER_UNKNOWN_APP }, GEN_NONE, false },
        { "stopped", { .type = CORE_EV_STOPPED }, GEN_NONE, false },
        { "no such event", { .type = (enum core_event_type)99 }, GEN_NONE, false },
};
#define VARIANTS (sizeof(variants) / sizeof(variants[0]))

static struct core_event event_for(const struct rig *r, const struct variant *v) {
        struct core_event ev = v->ev;

        switch (v->gen) {
        case GEN_CURRENT: ev.generation = r->it.generation; break;
        case GEN_NEXT: ev.generation = r->it.generation + 1; break;
        case GEN_OLDER: ev.generation = r->it.generation ? r->it.generation - 1 : 0; break;
        case GEN_NONE: break;
        }
        if (v->waiter_first)
                ev.waiter = r->it.n_waiters ? r->it.waiters[0].id : 9999;
        return ev;
}

/* The table itself is complete: every event type, every segment state and force stage, in flight and not. */
static void test_table_complete(void) {
        bool type_seen[CORE_EV_STOPPED + 1] = { false }, state_seen[WXSHM_STATE_STOPPED + 1] = { false };
        bool stage_seen[CORE_FORCE_ROTATE + 1] = { false }, flight_seen[2] = { false };

        for (size_t v = 0; v < VARIANTS; v++)
                if ((int)variants[v].ev.type <= CORE_EV_STOPPED)
                        type_seen[variants[v].ev.type] = true;
        for (int t = CORE_EV_START; t <= CORE_EV_STOPPED; t++)
                CHECK(type_seen[t], "event type %d has no row in the table", t);
        for (int s = 0; s < STATES; s++) {
                struct rig r;

                reach(&r, s);
                REQUIRE(r.it.state >= 0 && r.it.state <= WXSHM_STATE_STOPPED, "state %s", state_names[s]);
                state_seen[r.it.state] = true;
                stage_seen[r.it.force_stage] = true;
                flight_seen[r.it.in_flight] = true;
                rig_free(&r);
        }
        for (int s = WXSHM_STATE_STARTING; s <= WXSHM_STATE_STOPPED; s++)
                CHECK(state_seen[s], "no script reaches segment state %d", s);
        for (int s = CORE_FORCE_NONE; s <= CORE_FORCE_ROTATE; s++)
                CHECK(stage_seen[s], "no script reaches force stage %d", s);
        CHECK(flight_seen[0] && flight_seen[1], "in flight and not");
}

/* What a step's actions must look like, whatever the state and event. */
static void check_actions(const struct rig *r, const struct core_event *ev, const char *where) {
        int last_state = -1;

        for (size_t i = 0; i < r->out.n; i++) {
                const struct core_action *a = &r->out.v[i];

                switch (a->type) {
                case CORE_ACT_START_CALL:
                        CHECK(ev->type == CORE_EV_TIMER && ev->call_budget_ms > 0, "%s: a call only at a timer, with a budget",
                              where);
                        CHECK(a->call.budget_ms == ev->call_budget_ms, "%s: the call's budget", where);
                        CHECK(a->call.api_index >= 0 && a->call.api_index < r->pol.n_api_base, "%s: api_index %d", where,
                              a->call.api_index);
                        CHECK(!(a->call.probe && a->call.force), "%s: a probe rotates nothing", where);
                        CHECK(!a->call.probe || r->pol.verify_before_force, "%s: a probe only with verify_before_force",
                              where);
                        break;
                case CORE_ACT_SET_STATE:
                        CHECK(a->num >= WXSHM_STATE_STARTING && a->num <= WXSHM_STATE_STOPPED, "%s: state %lld", where,
                              (long long)a->num);
                        CHECK(i + 1 < r->out.n && r->out.v[i + 1].type == CORE_ACT_CHANGED, "%s: a state change is "
                              "announced", where);
                        last_state = (int)a->num;
                        break;
                case CORE_ACT_LOG:
                        CHECK(a->level >= LOG_EMERG && a->level <= LOG_DEBUG && a->text[0], "%s: a log line", where);
                        break;
                case CORE_ACT_ANSWER: {
                        bool ok = a->answer == CORE_ANSWER_PUBLISHED || a->answer == CORE_ANSWER_VERIFIED;

                        CHECK(ok == (a->code[0] == '\0'), "%s: answer %d with code '%s'", where, a->answer, a->code);
                        CHECK(a->answer != CORE_ANSWER_REMOTE || !strcmp(a->code, ev->code), "%s: the holder's code",
                              where);
                        CHECK(a->num == (int64_t)r->it.generation, "%s: the answer names the generation", where);
                        break;
                }
                case CORE_ACT_NOTE_FAILED:
                        CHECK(a->code[0] && a->text[0], "%s: a note says what and why", where);
                        break;
                default:
                        break;
                }
        }
        CHECK(last_state < 0 || last_state == r->it.state, "%s: the segment's state is the item's", where);
}

/* Every waiter before the step is answered once, still waits, or left; no one else is answered. */
static void check_waiters(const struct rig *r, const struct core_event *ev, const uint64_t *ids, unsigned n_before,
                          const char *where) {
        size_t answered = 0;

        for (size_t a = 0; a < r->out.n; a++) {
                bool known = r->out.v[a].waiter == ev->waiter && ev->type == CORE_EV_REQUEST;

                if (r->out.v[a].type != CORE_ACT_ANSWER)
                        continue;
                answered++;
                for (unsigned i = 0; i < n_before; i++)
                        known |= ids[i] == r->out.v[a].waiter;
                CHECK(known, "%s: answered a waiter that did not wait", where);
                for (size_t b = a + 1; b < r->out.n; b++)
                        CHECK(r->out.v[b].type != CORE_ACT_ANSWER || r->out.v[b].waiter != r->out.v[a].waiter,
                              "%s: answered twice", where);
                for (unsigned i = 0; i < r->it.n_waiters; i++)
                        CHECK(r->it.waiters[i].id != r->out.v[a].waiter, "%s: answered but still waiting", where);
        }
        for (unsigned i = 0; i < n_before; i++) {
                bool waits = false, gone = ev->type == CORE_EV_WAITER_GONE && ev->waiter == ids[i];

                for (unsigned j = 0; j < r->it.n_waiters; j++)
                        waits |= r->it.waiters[j].id == ids[i];
                CHECK(waits || gone || answer_of(r, ids[i]), "%s: waiter %llu vanished unanswered", where,
                      (unsigned long long)ids[i]);
        }
        CHECK(r->it.n_waiters + answered + (ev->type == CORE_EV_WAITER_GONE && ev->waiter != 9999) ==
              n_before + (ev->type == CORE_EV_REQUEST), "%s: waiters counted", where);
        CHECK(r->it.n_waiters == 0 || core_item_wake(&r->it) != INT64_MAX, "%s: a waiter always has a deadline to wake at",
              where);
        if (ev->type == CORE_EV_ABORT) {
                CHECK(r->it.n_waiters == 0 && r->it.force_stage == CORE_FORCE_NONE && answered == n_before,
                      "%s: an abort answers everyone", where);
                for (size_t a = 0; a < r->out.n; a++)
                        CHECK(r->out.v[a].type != CORE_ACT_ANSWER || r->out.v[a].answer == ev->answer, "%s: with its answer",
                              where);
        }
}

/*
 * A forced call that is still to be made has its wake-up: armed, unless the call is
 * starting (this step said so), in flight, waiting for the fleet's count, or a ticket's
 * waiting for its token. (Outside cluster mode the shell never gives a timer no budget:
 * cluster_call_budget; a force left so waits for what comes next, test-item-force.c.)
 */
static void check_force_planned(const struct rig *r, const struct core_event *ev, const char *where) {
        bool ticket_waits = r->pol.ticket && ev->type == CORE_EV_TIMER && !ev->token_ready;
        bool no_budget_alone = !r->pol.clustered && ev->type == CORE_EV_TIMER && ev->call_budget_ms <= 0;

        if (r->it.force_stage == CORE_FORCE_NONE || r->it.in_flight || r->it.budget_asked || ticket_waits ||
            no_budget_alone || count(r, CORE_ACT_START_CALL))
                return;
        CHECK(r->it.armed, "%s: forced call (stage %d) planned but no wake-up for it", where, r->it.force_stage);
}

static void test_every_pair(void) {
        for (int state = 0; state < STATES; state++)
                for (size_t v = 0; v < VARIANTS; v++) {
                        struct rig r;
                        struct core_event ev;
                        uint64_t gen_before, ids[64];
                        unsigned n_before, calls_before;
                        bool in_flight, stranded;
                        char where[128];

                        reach(&r, state);
                        snprintf(where, sizeof(where), "state '%s', event '%s'", state_names[state], variants[v].name);
                        ev = event_for(&r, &variants[v]);
                        gen_before = r.it.generation;
                        n_before = r.it.n_waiters;
                        REQUIRE(n_before <= 64, "%s", where);
                        calls_before = (unsigned)r.it.calls;
                        in_flight = r.it.in_flight;
                        for (unsigned i = 0; i < n_before; i++)
                                ids[i] = r.it.waiters[i].id;
                        advance(&r, 1);
                        step(&r, ev);
                        CHECK(ev.type == CORE_EV_REBASE || r.it.generation >= gen_before, "%s: generation went back", where);
                        CHECK(count(&r, CORE_ACT_START_CALL) <= 1 && (!in_flight || count(&r, CORE_ACT_START_CALL) == 0),
                              "%s: one call at a time", where);
                        CHECK(r.it.calls <= calls_before + 1, "%s", where);
                        CHECK(ev.type != CORE_EV_STOPPED || (r.it.state == WXSHM_STATE_STOPPED &&
                                                              count(&r, CORE_ACT_SET_STATE) == 1), "%s: stopped", where);
                        CHECK((int)ev.type <= CORE_EV_STOPPED || r.out.n == 0, "%s: an unknown event does nothing",
                              where);
                        check_actions(&r, &ev, where);
                        check_waiters(&r, &ev, ids, n_before, where);
                        check_force_planned(&r, &ev, where);

                        /* The shell carries out a call it was told to start; then the next wake-up comes. */
                        if (count(&r, CORE_ACT_START_CALL))
                                started(&r);
                        in_flight = r.it.in_flight;
                        n_before = r.it.n_waiters;
                        for (unsigned i = 0; i < n_before; i++)
                                ids[i] = r.it.waiters[i].id;
                        stranded = !r.pol.clustered && ev.type == CORE_EV_TIMER && ev.call_budget_ms <= 0;
                        fire(&r);
                        ev = timer(&r, 10000);
                        strncat(where, ", then the timer", sizeof(where) - strlen(where) - 1);
                        CHECK(!in_flight || count(&r, CORE_ACT_START_CALL) == 0, "%s: one call at a time", where);
                        check_actions(&r, &ev, where);
                        check_waiters(&r, &ev, ids, n_before, where);
                        if (!stranded) /* by the no-budget timer above, which outside cluster mode never comes */
                                check_force_planned(&r, &ev, where);
                        rig_free(&r);
                }
}

int main(void) {
        test_table_complete();
        test_every_pair();
        return check_exit_code();
}
