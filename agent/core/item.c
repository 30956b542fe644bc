/* item.c: the per-item state machine: when to call, what an outcome means, forced refreshes and their waiters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "item.h"
#include "item-internal.h"
#include "upstream.h"
#include "wxshm.h"

static void core_settle(struct core_item *it, struct core_actions *out) {
        if (it->settled)
                return;
        it->settled = true;
        core_act(out, CORE_ACT_SETTLED);
}

/* ---- the schedule ---- */

void core_schedule(struct core_item *it, int64_t at_ms) {
        it->next_at_ms = at_ms;
        it->armed = true;
}

/* Tickets follow the token's rules; they have no stable window of their own. */
static enum app_kind schedule_kind(const struct core_policy *pol) {
        return pol->ticket ? APP_KIND_TOKEN : pol->kind;
}

static int64_t refresh_at(const struct core_item *it, const struct core_policy *pol, const struct core_clock *c) {
        return schedule_refresh_at(schedule_kind(pol), c->now_ms, it->expires_at_ms, pol->refresh_margin_ms,
                                   it->lifetime_ms, c->rng);
}

/* The next proactive refresh of the token now published (same: it did not change). */
void core_schedule_refresh(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                           bool same) {
        int64_t now = c->now_ms, at = refresh_at(it, pol, c);

        /*
         * The same token again, already inside the margin: upstream will not renew it yet. Its
         * schedule has its own floor: WeCom renews at the expiry, not backoff_min after it.
         */
        if (same && at <= now + pol->backoff_min_ms) {
                core_schedule(it, schedule_same_token_at(now, it->expires_at_ms, pol->backoff_min_ms));
                return;
        }
        /* However short-lived the token upstream hands out, no tighter loop than backoff_min. */
        if (at < now + pol->backoff_min_ms)
                at = now + pol->backoff_min_ms;
        core_schedule(it, at);
}

void core_fetch_at(struct core_item *it, const struct core_clock *c, int64_t at_ms) {
        /* A refresh or retry already due sooner is kept: its outcome answers the waiters too. */
        if (!it->in_flight && it->armed && it->next_at_ms > c->now_ms && it->next_at_ms < at_ms)
                at_ms = it->next_at_ms;
        core_schedule(it, at_ms);
}

/* A new holder: a refresh already due (the last holder died before making it) is made now. */
void core_resume(struct core_item *it, const struct core_policy *pol, const struct core_clock *c) {
        bool forced = it->force_stage != CORE_FORCE_NONE && it->armed;
        int64_t forced_at = it->next_at_ms;

        if (it->in_flight)
                return;
        if (it->generation && refresh_at(it, pol, c) > c->now_ms)
                core_schedule_refresh(it, pol, c, false);
        else
                core_schedule(it, c->now_ms);
        /*
         * A forced call already planned (a client asked while the lease was being taken) keeps
         * its time: the proactive schedule must not push it past the client's timeout.
         */
        if (forced && forced_at < it->next_at_ms)
                core_schedule(it, forced_at > c->now_ms ? forced_at : c->now_ms);
}

/*
 * The first call of an agent started while upstream fails: no sooner than backoff_min
 * after the last failure the segment records. Otherwise each restart (a crash loop, an
 * operator's restarts) called at once, faster than the schedule ever would
 * (tests/soak/test-soak-faults). A failure from the future (a clock stepped back) or
 * older than backoff_max is no reason to wait.
 */
static int64_t after_last_failure(const struct core_policy *pol, const struct core_event *ev, int64_t at_ms,
                                  int64_t now) {
        int64_t failed_at = ev->last_error_at_ms;

        if (ev->last_errcode == 0 || failed_at > now || now - failed_at >= pol->backoff_max_ms)
                return at_ms;
        return at_ms > failed_at + pol->backoff_min_ms ? at_ms : failed_at + pol->backoff_min_ms;
}

bool core_item_times_plausible(const struct core_policy *pol, int64_t fetched_at_ms, int64_t expires_at_ms,
                               int64_t now_ms) {
        return schedule_times_plausible(fetched_at_ms, expires_at_ms, now_ms, pol->min_token_lifetime_ms);
}

int64_t core_item_wake(const struct core_item *it) {
        int64_t wake = it->armed ? it->next_at_ms : INT64_MAX;

        for (unsigned i = 0; i < it->n_waiters; i++)
                if (it->waiters[i].until_ms < wake)
                        wake = it->waiters[i].until_ms;
        return wake;
}

/* ---- outcomes ---- */

static bool token_refused(long errcode) {
        return errcode == 40001 || errcode == 40014 || errcode == 42001;
}

static void on_start(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                     const struct core_event *ev, struct core_actions *out) {
        int64_t now = c->now_ms;

        if (ev->adopted && ev->generation > 0) {
                it->generation = ev->generation;
                it->expires_at_ms = ev->expires_at_ms;
                it->fetched_at_ms = ev->fetched_at_ms;
                it->lifetime_ms = ev->expires_at_ms - ev->fetched_at_ms;
                it->settled = true;
                core_set_state(it, out, WXSHM_STATE_FRESH);
                core_schedule(it, after_last_failure(pol, ev, refresh_at(it, pol, c), now));
        } else {
                core_set_state(it, out, WXSHM_STATE_STARTING);
                core_schedule(it, after_last_failure(pol, ev, now, now));
        }
}

static void on_published(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                         const struct core_event *ev, struct core_actions *out) {
        int64_t now = c->now_ms;
        uint64_t prev = it->generation;

        it->in_flight = it->queued = false;
        it->expires_at_ms = ev->expires_at_ms;
        it->fetched_at_ms = now;
        it->lifetime_ms = ev->expires_at_ms - now;
        it->api_index = 0; /* the next refresh, hours away, tries the first api_base again */
        it->generation = ev->generation;
        core_act(out, CORE_ACT_SET_ERROR)->at_ms = now;
        if (it->failure != FAILURE_NONE)
                core_log(out, LOG_NOTICE, 0, "recovered after %u failed attempts", it->attempt);
        it->failure = FAILURE_NONE;
        it->errcode = 0;
        it->attempt = 0;
        it->last_errmsg[0] = '\0';
        /* At once: a reader of the new token must not see "refreshing" while the state file syncs. */
        core_set_state(it, out, WXSHM_STATE_FRESH);
        if (it->generation != prev) {
                core_save(out, now);
                core_log(out, LOG_INFO, 0, "%s %s, generation %llu, expires in %lld s",
                        it->generation == 1 ? "first" : "new", pol->ticket && !pol->account ? "ticket" : "token",
                        (unsigned long long)it->generation, (long long)((ev->expires_at_ms - now) / 1000));
                /* Tickets are fetched again after every new access token. */
                if (!pol->ticket)
                        core_act(out, CORE_ACT_FETCH_TICKETS);
        }
        core_schedule_refresh(it, pol, c, ev->same);
        core_act(out, CORE_ACT_PUSH);
        /* Clients waiting for a new token: answered, or the forced call goes on. */
        if (it->generation == prev)
                core_force_same_token(it, pol, c, out);
        else
                core_force_published(it, out);
        core_settle(it, out);
}

static int failure_state(enum failure_class f) {
        switch (f) {
        case FAILURE_CONFIG:
                return WXSHM_STATE_CONFIG_ERROR;
        case FAILURE_QUOTA:
                return WXSHM_STATE_QUOTA;
        default:
                return WXSHM_STATE_RETRYING;
        }
}

static void on_failed(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                      const struct core_event *ev, struct core_actions *out) {
        enum failure_class f = classify_errcode(schedule_kind(pol), ev->errcode);
        const char *errmsg = ev->errmsg ? ev->errmsg : "";
        int64_t now = c->now_ms, delay;
        struct core_action *a;

        it->in_flight = it->queued = false;
        /*
         * At a ticket fetch, a token error means the token we hold is dead (rotated by
         * someone else, or expired): fetch a new one, but no more often than
         * min_force_interval; the ticket follows the new token.
         */
        if (pol->ticket && token_refused(ev->errcode)) {
                f = FAILURE_TRANSIENT;
                core_act(out, CORE_ACT_TOKEN_DEAD);
        }
        a = core_act(out, CORE_ACT_SET_ERROR);
        a->num = ev->errcode;
        a->at_ms = now;
        /* One line per change of what is wrong, not one per attempt. */
        if (f != it->failure || ev->errcode != it->errcode) {
                if (pol->ticket && ev->errcode == 40001)
                        snprintf(it->advice, sizeof(it->advice), "WeChat refused the access token used for the "
                                 "%s: a new token is fetched (at most once per min_force_interval), then the %s",
                                 pol->account ? "account's token" : "ticket", pol->account ? "account's" : "ticket");
                else
                        classify_advice(pol->kind, ev->errcode, errmsg, it->advice, sizeof(it->advice));
                it->failing_since_ms = now;
                core_log(out, f == FAILURE_TRANSIENT ? LOG_WARNING : LOG_ERR, ev->errcode,
                        "%s failure, errcode %ld (%s): %s; %s", failure_class_name(f), ev->errcode, errmsg,
                        it->advice, it->generation ? "the last token stays published" : "no token yet");
        }
        it->failure = f;
        it->errcode = ev->errcode;
        snprintf(it->last_errmsg, sizeof(it->last_errmsg), "%s", errmsg);
        core_set_state(it, out, failure_state(f));
        if (f == FAILURE_TRANSIENT && pol->n_api_base > 1)
                it->api_index = (it->api_index + 1) % pol->n_api_base;
        delay = schedule_retry_delay(f, it->attempt, pol->backoff_min_ms, pol->backoff_max_ms, c->rng);
        /* A WeCom ticket's hourly limit blocks it for an hour: a call sooner would only meet the block. */
        if (pol->kind == APP_KIND_WORK && pol->ticket && ev->errcode == BUDGET_ERRCODE_QUOTA &&
            delay < BUDGET_WORK_BLOCK_MS)
                delay = BUDGET_WORK_BLOCK_MS;
        it->attempt++;
        core_schedule(it, now + delay);
        /* Waiters learn of the failure; a forced call nobody waits for any more is dropped too. */
        core_force_failed(it, pol, c, ev->errcode, errmsg, out);
        core_settle(it, out);
}

static void on_mirrored(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                        const struct core_event *ev, struct core_actions *out) {
        uint64_t prev = it->generation;

        it->generation = ev->generation;
        it->expires_at_ms = ev->expires_at_ms;
        it->fetched_at_ms = ev->fetched_at_ms;
        it->lifetime_ms = ev->expires_at_ms - ev->fetched_at_ms;
        core_save(out, ev->fetched_at_ms);
        if (it->generation != prev)
                core_log(out, LOG_INFO, 0, "cluster: generation %llu, expires in %lld s",
                        (unsigned long long)it->generation, (long long)((ev->expires_at_ms - c->now_ms) / 1000));
        if (it->failure == FAILURE_NONE || !pol->holder)
                core_set_state(it, out, WXSHM_STATE_FRESH);
        core_settle(it, out);
        if (it->generation != prev)
                core_force_published(it, out);
}

/*
 * A component's call is due, but no component_verify_ticket was forwarded yet: no call
 * (WeChat would only answer 61006). Said once; the first attempt counts as over for
 * READY; clients waiting are answered now; the ticket's arrival wakes the item
 * (CORE_EV_FETCH_NOW).
 */
static void on_no_ticket(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                         struct core_actions *out) {
        if (!it->awaiting_ticket) {
                it->awaiting_ticket = true;
                /* A suite's suite_ticket is as good as none past its 30 minutes: "no usable one". */
                if (pol->kind == APP_KIND_SUITE)
                        snprintf(it->advice, sizeof(it->advice), "no usable suite_ticket (none yet, or the last "
                                 "one is past its 30 minutes): forward WeCom's push (wxtokenctl ticket put %s "
                                 "TICKET TIMESTAMP)", pol->name ? pol->name : "NAME");
                else
                        snprintf(it->advice, sizeof(it->advice), "no component_verify_ticket yet: forward WeChat's "
                                 "push (wxtokenctl ticket put %s TICKET CREATE_TIME)", pol->name ? pol->name : "NAME");
                core_log(out, LOG_WARNING, UPSTREAM_ERR_NO_TICKET, "%s", it->advice);
                core_act(out, CORE_ACT_CHANGED);
        }
        if (it->n_waiters > 0)
                core_force_failed(it, pol, c, UPSTREAM_ERR_NO_TICKET, it->advice, out);
        core_settle(it, out);
}

/* The timer: waiters whose time is up are answered; a call that is due is started (or not). */
static void on_timer(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                     const struct core_event *ev, struct core_actions *out) {
        struct core_action *a;

        core_waiters_expire(it, c->now_ms, out);
        if (!it->armed || it->next_at_ms > c->now_ms)
                return;
        it->armed = false;
        if (it->in_flight)
                return;
        if (pol->ticket && !ev->token_ready)
                return; /* fetched when the token arrives */
        if (ev->ticket_missing) {
                on_no_ticket(it, pol, c, out);
                return;
        }
        it->awaiting_ticket = false;
        /* Cluster mode: only the lease holder calls WeChat, and only while the lease surely lasts. */
        if (ev->call_budget_ms <= 0) {
                core_force_blocked(it, pol, c, out);
                core_settle(it, out);
                return;
        }
        /* A forced call whose clients all left is not made: rotating for nobody costs quota. */
        if (it->force_stage != CORE_FORCE_NONE && !core_force_due(it, pol, c, out)) {
                if (it->force_stage == CORE_FORCE_NONE && it->generation)
                        core_schedule_refresh(it, pol, c, false);
                return;
        }
        if (it->api_index >= pol->n_api_base)
                it->api_index = 0;
        /* One line per forced upstream call: who asked first, and how many joined it. */
        if (it->force_stage != CORE_FORCE_NONE) {
                char who[64] = "another host's clients";

                if (it->force_uid >= 0)
                        snprintf(who, sizeof(who), "uid %lld pid %lld", (long long)it->force_uid,
                                 (long long)it->force_pid);
                core_log(out, LOG_NOTICE, 0, "forced refresh of generation %llu: upstream %s call for %s, %u waiters "
                         "coalesced", (unsigned long long)it->generation, it->force_stage == CORE_FORCE_PROBE ? "probe"
                         : it->force_stage == CORE_FORCE_NORMAL ? "normal-mode" : "rotating", who,
                         it->n_waiters > 0 ? it->n_waiters - 1 : 0);
        }
        a = core_act(out, CORE_ACT_START_CALL);
        a->call.probe = it->force_stage == CORE_FORCE_PROBE;
        a->call.force = it->force_stage == CORE_FORCE_ROTATE;
        a->call.api_index = it->api_index;
        a->call.budget_ms = ev->call_budget_ms;
}

/*
 * A call waiting for its turn in the agent's queue is in flight (nothing else is decided
 * for the item meanwhile) but not yet upstream: the item still shows what it was (fresh,
 * starting, retrying) until its transfer starts, and only then counts as a call.
 */
static void on_call_started(struct core_item *it, const struct core_event *ev, struct core_actions *out) {
        if (!(it->in_flight && it->queued)) {
                it->in_flight = true;
                it->probing = it->force_stage == CORE_FORCE_PROBE;
        }
        it->queued = ev->queued;
        if (ev->queued)
                return;
        it->calls++;
        core_set_state(it, out, WXSHM_STATE_REFRESHING);
}

/* At its turn the queued call may not be made (cluster: the lease ran short): as a timer without a lease. */
static void on_call_dropped(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                            struct core_actions *out) {
        if (!it->queued)
                return;
        it->in_flight = it->queued = it->probing = false;
        core_force_blocked(it, pol, c, out);
        /* Outside a cluster every turn may call; should one not, the item is tried again, never left unscheduled. */
        if (!pol->clustered)
                core_schedule(it, c->now_ms + pol->backoff_min_ms);
        core_settle(it, out);
}

/* Fetch now: a ticket after a new token; the token after a ticket call saw it refused. */
static void on_fetch_now(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                         const struct core_event *ev) {
        if (it->in_flight)
                return;
        if (ev->dead && c->now_ms - it->fetched_at_ms < pol->min_force_interval_ms)
                return;
        /* A ticket WeCom blocks (its hourly limit) waits out the block, new token or not. */
        if (pol->ticket && it->budget.blocked_until_ms > c->quota_now_ms) {
                core_fetch_at(it, c, c->now_ms + (it->budget.blocked_until_ms - c->quota_now_ms));
                return;
        }
        core_schedule(it, c->now_ms);
}

static void on_rebase(struct core_item *it, const struct core_event *ev, struct core_actions *out) {
        it->generation = 0;
        it->expires_at_ms = it->fetched_at_ms = 0;
        /* Every waiter now waits for the next token, whatever its number. */
        for (unsigned i = 0; i < it->n_waiters; i++)
                it->waiters[i].generation = 0;
        if (ev->ok)
                core_set_state(it, out, WXSHM_STATE_STARTING);
}

void core_item_init(struct core_item *it) {
        memset(it, 0, sizeof(*it));
        it->state = WXSHM_STATE_STARTING;
}

void core_item_free(struct core_item *it) {
        free(it->waiters);
        it->waiters = NULL;
        it->n_waiters = it->waiters_size = 0;
}

/* An answer to the call in flight, counted by what it meant (a failure before any call is not one). */
static void count_result(struct core_item *it, const struct core_policy *pol, const struct core_event *ev) {
        enum failure_class f = FAILURE_NONE;

        if (!it->in_flight)
                return;
        if (ev->type == CORE_EV_FAILED && pol->ticket && token_refused(ev->errcode))
                f = FAILURE_TRANSIENT;
        else if (ev->type != CORE_EV_PUBLISHED && ev->errcode != 0)
                f = classify_errcode(schedule_kind(pol), ev->errcode);
        it->results[f]++;
}

size_t core_item_step(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                      const struct core_event *ev, struct core_actions *out) {
        size_t before = out->n;

        if (ev->type == CORE_EV_PUBLISHED || ev->type == CORE_EV_FAILED || ev->type == CORE_EV_PROBED)
                count_result(it, pol, ev);

        switch (ev->type) {
        case CORE_EV_START:
                on_start(it, pol, c, ev, out);
                break;
        case CORE_EV_TIMER:
                on_timer(it, pol, c, ev, out);
                break;
        case CORE_EV_CALL_STARTED:
                on_call_started(it, ev, out);
                break;
        case CORE_EV_CALL_DROPPED:
                on_call_dropped(it, pol, c, out);
                break;
        case CORE_EV_PUBLISHED:
                on_published(it, pol, c, ev, out);
                break;
        case CORE_EV_FAILED:
                on_failed(it, pol, c, ev, out);
                break;
        case CORE_EV_PROBED:
                it->in_flight = it->queued = false;
                it->probing = false;
                core_force_probed(it, pol, c, ev->errcode, ev->errmsg, out);
                if (it->force_stage == CORE_FORCE_NONE)
                        core_schedule_refresh(it, pol, c, false);
                break;
        case CORE_EV_REQUEST:
                /* No token and no ticket to call with: waiting would only end in "timeout". */
                if (it->generation == 0 && it->awaiting_ticket && !it->in_flight) {
                        struct core_action *a = core_act(out, CORE_ACT_ANSWER);

                        a->waiter = ev->waiter;
                        a->answer = CORE_ANSWER_UPSTREAM;
                        a->retry_after_ms = -1;
                        snprintf(a->code, sizeof(a->code), "%s", core_answer_code(CORE_ANSWER_UPSTREAM));
                        snprintf(a->text, sizeof(a->text), "%.*s", (int)sizeof(a->text) - 1, it->advice);
                        break;
                }
                core_force_request(it, pol, c, ev, out);
                break;
        case CORE_EV_WAITER_GONE:
                core_waiter_remove(it, ev->waiter);
                break;
        case CORE_EV_FETCH_NOW:
                on_fetch_now(it, pol, c, ev);
                break;
        case CORE_EV_MIRRORED:
                on_mirrored(it, pol, c, ev, out);
                break;
        case CORE_EV_RESUME:
                core_force_resume(it, pol, c, out);
                break;
        case CORE_EV_REMOTE_FORCE:
                core_force_remote(it, pol, c, ev->generation, ev->timeout_ms, out);
                break;
        case CORE_EV_REMOTE_FAILED:
                core_force_remote_failed(it, ev, out);
                break;
        case CORE_EV_REMOTE_VERIFIED:
                core_force_remote_verified(it, ev->generation, out);
                break;
        case CORE_EV_BUDGET_COUNTED:
                core_force_budget_counted(it, pol, c, ev->count, out);
                break;
        case CORE_EV_REBASE:
                on_rebase(it, ev, out);
                break;
        case CORE_EV_ABORT:
                core_force_abort(it, ev->answer, out);
                break;
        case CORE_EV_STOPPED:
                core_set_state(it, out, WXSHM_STATE_STOPPED);
                break;
        case CORE_EV_RETRY:
                core_retry(it, pol, c, ev, out);
                break;
        }
        return out->n - before;
}
