/* force.c: client-forced refreshes as data: compare-and-refresh, one upstream call for all waiters, spacing, budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "item-internal.h"
#include "upstream.h"
#include "wire.h"

#define MESSAGE_SPACED "forced refreshes of this app are spaced by min_force_interval"
#define MESSAGE_NO_COUNT "the cluster's count of forced refreshes cannot be taken in Redis; the last token stays published"

const char *core_answer_code(enum core_answer a) {
        switch (a) {
        case CORE_ANSWER_TIMEOUT:
                return PROTO_E_TIMEOUT;
        case CORE_ANSWER_BUSY:
                return PROTO_E_BUSY;
        case CORE_ANSWER_RATE_LIMITED:
                return PROTO_E_RATE_LIMITED;
        case CORE_ANSWER_UPSTREAM:
        case CORE_ANSWER_REMOTE:
                return PROTO_E_UPSTREAM;
        case CORE_ANSWER_STOPPING:
                return PROTO_E_STOPPING;
        case CORE_ANSWER_UNKNOWN_APP:
                return PROTO_E_UNKNOWN_APP;
        default:
                return "";
        }
}

int64_t core_force_interval(const struct core_policy *pol) {
        int64_t interval = pol->min_force_interval_ms;

        if (pol->kind == APP_KIND_STABLE && !pol->ticket && interval < CORE_FORCE_STABLE_SPACING_MS)
                interval = CORE_FORCE_STABLE_SPACING_MS;
        return interval;
}

static bool stable_force(const struct core_policy *pol) {
        return pol->kind == APP_KIND_STABLE && !pol->ticket;
}

static unsigned cap_of(const struct core_policy *pol) {
        return budget_cap(pol->max_forced_per_day, stable_force(pol));
}

/* ---- waiters ---- */

static struct core_action *answer(const struct core_item *it, struct core_actions *out, uint64_t id,
                                  enum core_answer ans, const char *code, const char *text, int64_t retry_after_ms) {
        struct core_action *a = core_act(out, CORE_ACT_ANSWER);

        a->waiter = id;
        a->answer = ans;
        a->num = (int64_t)it->generation;
        a->at_ms = it->expires_at_ms;
        a->retry_after_ms = retry_after_ms;
        snprintf(a->code, sizeof(a->code), "%s", code ? code : core_answer_code(ans));
        snprintf(a->text, sizeof(a->text), "%s", text ? text : "");
        /* Answered after waiting: a call (here or on the holder) was made for it; the compare's answer says false. */
        a->upstream_call = true;
        return a;
}

static void waiter_drop(struct core_item *it, unsigned i) {
        memmove(&it->waiters[i], &it->waiters[i + 1], (it->n_waiters - i - 1) * sizeof(it->waiters[0]));
        it->n_waiters--;
}

void core_waiter_remove(struct core_item *it, uint64_t id) {
        for (unsigned i = 0; i < it->n_waiters; i++)
                if (it->waiters[i].id == id) {
                        waiter_drop(it, i);
                        return;
                }
}

static bool waiter_add(struct core_item *it, const struct core_event *ev, uint64_t gen, int64_t until_ms) {
        if (it->n_waiters == it->waiters_size) {
                unsigned size = it->waiters_size ? it->waiters_size * 2 : 4;
                struct core_waiter *v = realloc(it->waiters, size * sizeof(*v));

                if (!v)
                        return false;
                it->waiters = v;
                it->waiters_size = size;
        }
        it->waiters[it->n_waiters++] = (struct core_waiter){ .id = ev->waiter, .generation = gen, .until_ms = until_ms,
                                                             .uid = ev->caller_uid, .pid = ev->caller_pid };
        return true;
}

/* Which waiters an outcome answers. */
enum which { ALL, OLDER_THAN_PUBLISHED, AT_LEAST, AT_MOST };

static bool matches(const struct core_waiter *w, enum which which, uint64_t gen) {
        switch (which) {
        case OLDER_THAN_PUBLISHED:
                return gen > w->generation;
        case AT_LEAST:
                return w->generation >= gen;
        case AT_MOST:
                return w->generation <= gen;
        default:
                return true;
        }
}

static void answer_waiters(struct core_item *it, struct core_actions *out, enum which which, uint64_t gen,
                           enum core_answer ans, const char *code, const char *text, int64_t retry_after_ms) {
        for (unsigned i = 0; i < it->n_waiters;)
                if (matches(&it->waiters[i], which, gen)) {
                        answer(it, out, it->waiters[i].id, ans, code, text, retry_after_ms);
                        waiter_drop(it, i);
                } else {
                        i++;
                }
}

void core_waiters_expire(struct core_item *it, int64_t now, struct core_actions *out) {
        for (unsigned i = 0; i < it->n_waiters;)
                if (it->waiters[i].until_ms <= now) {
                        answer(it, out, it->waiters[i].id, CORE_ANSWER_TIMEOUT, NULL,
                               "no new token within timeout_ms", -1);
                        waiter_drop(it, i);
                } else {
                        i++;
                }
}

int64_t core_item_waiters_until(const struct core_item *it) {
        int64_t until = 0;

        for (unsigned i = 0; i < it->n_waiters; i++)
                if (it->waiters[i].until_ms > until)
                        until = it->waiters[i].until_ms;
        return until;
}

/* Clients here, or (cluster holder) on other hosts, still wait for the forced call. */
static bool anyone_waits(const struct core_item *it, const struct core_clock *c) {
        return it->n_waiters > 0 || it->remote_until_ms > c->now_ms;
}

/* ---- the forced call ---- */

/* Plan the forced call: probe, normal-mode first (stable), or rotate; at allowed at the earliest. */
static void core_force_start(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                        int64_t allowed) {
        it->force_stage = pol->verify_before_force && !pol->ticket ? CORE_FORCE_PROBE
                          : stable_force(pol)                      ? CORE_FORCE_NORMAL
                                                                   : CORE_FORCE_ROTATE;
        it->forced_refreshes++;
        core_fetch_at(it, c, allowed > c->now_ms ? allowed : c->now_ms);
}

/* May a new forced call start? 0 if so, else retry_after_ms with why filled (counted by the caller). */
static int64_t core_force_refused(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                             int64_t timeout_ms, char *why, size_t why_size) {
        int64_t wait = it->forced_at_ms + core_force_interval(pol) - c->now_ms;
        int64_t tomorrow = budget_check(&it->budget, cap_of(pol), stable_force(pol), pol->name, c->quota_now_ms,
                                        why, why_size);

        if (tomorrow > 0)
                return tomorrow;
        if (wait > timeout_ms) {
                snprintf(why, why_size, "%s", MESSAGE_SPACED);
                return wait;
        }
        return 0;
}

void core_force_request(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                   const struct core_event *ev, struct core_actions *out) {
        uint64_t gen = ev->generation;
        char why[256];
        int64_t retry;
        bool joins;

        /* A generation we never published (the client saw an earlier agent's): the current one. */
        if (!ev->has_generation || gen > it->generation)
                gen = it->generation;
        /* Compare: someone already replaced the token that failed. No upstream call. */
        if (it->generation > gen) {
                answer(it, out, ev->waiter, CORE_ANSWER_PUBLISHED, NULL, NULL, -1)->upstream_call = false;
                return;
        }
        /*
         * No token, the last attempt failed and none is under way: waiting would only end in
         * "timeout". Answer now with what went wrong (a retry is the operator's: wxtokenctl retry).
         */
        if (it->generation == 0 && it->failure != FAILURE_NONE && !it->in_flight) {
                snprintf(why, sizeof(why), "no token yet: the last attempt failed with errcode %ld: %.120s; next "
                         "attempt in %lld s", it->errcode, it->last_errmsg,
                         (long long)((it->armed && it->next_at_ms > c->now_ms ? it->next_at_ms - c->now_ms : 0) / 1000));
                answer(it, out, ev->waiter, CORE_ANSWER_UPSTREAM, NULL, why, -1);
                return;
        }
        if (it->n_waiters >= pol->max_waiters) {
                answer(it, out, ev->waiter, CORE_ANSWER_BUSY, NULL, "too many clients wait for this app already", -1);
                return;
        }
        /* A call in flight or a forced one pending: its outcome answers this client too. */
        joins = it->in_flight || it->force_stage != CORE_FORCE_NONE || it->generation == 0;
        /* Joining costs nothing; a new forced call needs today's budget and WeChat's spacing. */
        if (!joins && (retry = core_force_refused(it, pol, c, ev->timeout_ms, why, sizeof(why))) > 0) {
                /* Refused, but a refresh due within the client's wait (WeCom's at the expiry, as its clients
                 * see 42001; or one waiting for the app's token) answers this client too. */
                joins = it->generation > 0 && it->next_at_ms <= c->now_ms + ev->timeout_ms &&
                        (it->armed || (pol->ticket && it->next_at_ms <= c->now_ms));
                if (!joins) {
                        it->rate_limited++;
                        answer(it, out, ev->waiter, CORE_ANSWER_RATE_LIMITED, NULL, why, retry);
                        return;
                }
        }
        if (!waiter_add(it, ev, gen, c->now_ms + ev->timeout_ms)) {
                answer(it, out, ev->waiter, CORE_ANSWER_BUSY, NULL, "out of memory", -1);
                return;
        }
        if (joins) {
                it->coalesced_waiters++;
                return;
        }
        it->force_uid = ev->caller_uid;
        it->force_pid = ev->caller_pid;
        core_force_start(it, pol, c, it->forced_at_ms + core_force_interval(pol));
}

/* Cluster mode: tell the hosts whose clients wait (only the holder's notes are heard). */
static void note_failed(const struct core_item *it, const struct core_clock *c, struct core_actions *out,
                        const char *code, const char *text, int64_t retry_after_ms) {
        struct core_action *a;

        if (it->remote_until_ms <= c->now_ms)
                return;
        a = core_act(out, CORE_ACT_NOTE_FAILED);
        a->num = (int64_t)it->generation;
        a->retry_after_ms = retry_after_ms;
        snprintf(a->code, sizeof(a->code), "%s", code);
        snprintf(a->text, sizeof(a->text), "%s", text);
}

void core_force_remote(struct core_item *it, const struct core_policy *pol, const struct core_clock *c, uint64_t gen,
                  int64_t timeout_ms, struct core_actions *out) {
        char why[256];
        int64_t retry;

        if (it->generation > gen || it->generation == 0 || timeout_ms <= 0)
                return;
        if (timeout_ms > PROTOCOL_TIMEOUT_MAX_MS)
                timeout_ms = PROTOCOL_TIMEOUT_MAX_MS;
        if (c->now_ms + timeout_ms > it->remote_until_ms)
                it->remote_until_ms = c->now_ms + timeout_ms;
        if (it->in_flight || it->force_stage != CORE_FORCE_NONE) {
                it->coalesced_waiters++;
                return;
        }
        if ((retry = core_force_refused(it, pol, c, timeout_ms, why, sizeof(why))) > 0) {
                it->rate_limited++;
                if (!strcmp(why, MESSAGE_SPACED))
                        snprintf(why, sizeof(why), "%s (on the lease holder)", MESSAGE_SPACED);
                note_failed(it, c, out, PROTO_E_RATE_LIMITED, why, retry);
                return;
        }
        it->force_uid = it->force_pid = -1;
        core_force_start(it, pol, c, it->forced_at_ms + core_force_interval(pol));
}

void core_force_remote_verified(struct core_item *it, uint64_t gen, struct core_actions *out) {
        if (gen != it->generation)
                return;
        answer_waiters(it, out, AT_LEAST, gen, CORE_ANSWER_VERIFIED, NULL, NULL, -1);
}

void core_force_remote_failed(struct core_item *it, const struct core_event *ev, struct core_actions *out) {
        if (ev->generation < it->generation)
                return;
        answer_waiters(it, out, AT_MOST, ev->generation, CORE_ANSWER_REMOTE, ev->code, ev->errmsg,
                       ev->retry_after_ms);
}

void core_force_published(struct core_item *it, struct core_actions *out) {
        it->force_stage = CORE_FORCE_NONE;
        it->remote_until_ms = 0; /* other hosts' clients learn of it through Redis */
        answer_waiters(it, out, OLDER_THAN_PUBLISHED, it->generation, CORE_ANSWER_PUBLISHED, NULL, NULL, -1);
}

static void abort_with(struct core_item *it, struct core_actions *out, enum core_answer ans, const char *code,
                       const char *text, int64_t retry_after_ms) {
        it->force_stage = CORE_FORCE_NONE;
        it->remote_until_ms = 0;
        answer_waiters(it, out, ALL, 0, ans, code, text, retry_after_ms);
}

void core_force_failed(struct core_item *it, const struct core_policy *pol, const struct core_clock *c, long errcode,
                  const char *errmsg, struct core_actions *out) {
        char message[UPSTREAM_ERRMSG_MAX + 64];

        it->force_stage = CORE_FORCE_NONE;
        if (pol->kind == APP_KIND_WORK) {
                if (budget_upstream_work(&it->budget, errcode, c->quota_now_ms))
                        core_log(out, LOG_WARNING, errcode, "WeCom's frequency limit: no forced refresh for an hour");
        } else if (budget_upstream(&it->budget, errcode, c->quota_now_ms)) {
                core_log(out, LOG_WARNING, errcode, "daily quota reached: no forced refresh until midnight Beijing time");
                if (it->generation)
                        core_save(out, it->fetched_at_ms);
        }
        snprintf(message, sizeof(message), "errcode %ld: %s; the last token stays published", errcode, errmsg);
        note_failed(it, c, out, PROTO_E_UPSTREAM, message, -1);
        abort_with(it, out, CORE_ANSWER_UPSTREAM, NULL, message, -1);
}

void core_force_abort(struct core_item *it, enum core_answer ans, struct core_actions *out) {
        abort_with(it, out, ans, NULL,
                   ans == CORE_ANSWER_UNKNOWN_APP ? "the app was removed from the configuration"
                                                  : "the agent is stopping or restarting this app",
                   -1);
}

/* The pending forced call will not be made: answer every waiter here and on other hosts. */
static void core_force_refuse(struct core_item *it, const struct core_clock *c, struct core_actions *out,
                         enum core_answer ans, const char *why, int64_t retry_after_ms) {
        if (ans == CORE_ANSWER_RATE_LIMITED)
                it->rate_limited += it->n_waiters;
        note_failed(it, c, out, core_answer_code(ans), why, retry_after_ms);
        abort_with(it, out, ans, NULL, why, retry_after_ms);
}

bool core_force_due(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
               struct core_actions *out) {
        int64_t tomorrow;
        char why[256];

        /* Nobody waits any more (all timed out or left): no reason to rotate. */
        if (!anyone_waits(it, c)) {
                it->force_stage = CORE_FORCE_NONE;
                it->budget_granted = false;
                return false;
        }
        it->forced_at_ms = c->now_ms;
        /* Only the rotating call spends the budget: probes and stable's normal-mode call rotate nothing. */
        if (it->force_stage != CORE_FORCE_ROTATE)
                return true;
        /* Checked again here: the cap may have been reached since the request was let in. */
        tomorrow = budget_check(&it->budget, cap_of(pol), stable_force(pol), pol->name, c->quota_now_ms, why,
                                sizeof(why));
        if (tomorrow > 0) {
                core_force_refuse(it, c, out, CORE_ANSWER_RATE_LIMITED, why, tomorrow);
                return false;
        }
        /* Cluster mode: the fleet's count in Redis first; its answer makes the call (or refuses it). */
        if (it->budget_asked)
                return false;
        if (!it->budget_granted && pol->clustered) {
                struct core_action *a = core_act(out, CORE_ACT_TAKE_BUDGET);

                a->num = budget_day(c->quota_now_ms);
                a->at_ms = budget_until_tomorrow(c->quota_now_ms) + BUDGET_DAY_MS;
                it->budget_asked = true;
                return false;
        }
        it->budget_granted = false;
        if (budget_spend(&it->budget, cap_of(pol), c->quota_now_ms))
                core_log(out, LOG_NOTICE, 0, "max_forced_per_day (%u) reached: clients' forced refreshes are "
                        "refused until midnight Beijing time", cap_of(pol));
        /* Saved before the call: a crash or restart mid-call must not give the call back. */
        if (it->generation)
                core_save(out, it->fetched_at_ms);
        return true;
}

void core_force_budget_counted(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                          long long n, struct core_actions *out) {
        char why[256];

        /* A reply for an item made anew since (reload) asked nothing of this one. */
        if (!it->budget_asked)
                return;
        it->budget_asked = false;
        if (it->force_stage != CORE_FORCE_ROTATE || !anyone_waits(it, c)) {
                it->force_stage = CORE_FORCE_NONE;
        } else if (n < 0) {
                core_force_refuse(it, c, out, CORE_ANSWER_UPSTREAM, MESSAGE_NO_COUNT, -1);
        } else if (n > (long long)cap_of(pol)) {
                /* Spent elsewhere in the fleet: this host refuses at once from now on (and after a restart). */
                budget_spent_elsewhere(&it->budget, cap_of(pol), c->quota_now_ms);
                if (it->generation)
                        core_save(out, it->fetched_at_ms);
                snprintf(why, sizeof(why), "max_forced_per_day (%u) of %s is spent across the cluster until "
                         "midnight Beijing time", cap_of(pol), pol->name);
                core_force_refuse(it, c, out, CORE_ANSWER_RATE_LIMITED, why, budget_until_tomorrow(c->quota_now_ms));
        } else {
                it->budget_granted = true;
                core_fetch_at(it, c, c->now_ms);
                return;
        }
        core_resume(it, pol, c); /* the proactive schedule, which the forced call had replaced */
}

void core_force_probed(struct core_item *it, const struct core_policy *pol, const struct core_clock *c, long errcode,
                  const char *errmsg, struct core_actions *out) {
        char message[UPSTREAM_ERRMSG_MAX];

        if (errcode == 0) {
                /* The token works: the client's failure was something else. Nothing rotates. */
                it->force_stage = CORE_FORCE_NONE;
                answer_waiters(it, out, AT_LEAST, it->generation, CORE_ANSWER_VERIFIED, NULL, NULL, -1);
                core_log(out, LOG_INFO, 0, "forced refresh not needed: the token of generation %llu works",
                        (unsigned long long)it->generation);
                if (it->remote_until_ms > c->now_ms)
                        core_act(out, CORE_ACT_NOTE_VERIFIED)->num = (int64_t)it->generation;
                it->remote_until_ms = 0;
                return;
        }
        /* Only WeChat saying the token is dead justifies a rotation for everyone. */
        if (errcode != 40001 && errcode != 40014 && errcode != 42001) {
                snprintf(message, sizeof(message), "could not verify the token (%.180s): not rotating it",
                         errmsg && errmsg[0] ? errmsg : "no answer");
                core_force_failed(it, pol, c, errcode, message, out);
                return;
        }
        it->force_stage = stable_force(pol) ? CORE_FORCE_NORMAL : CORE_FORCE_ROTATE;
        core_fetch_at(it, c, c->now_ms);
}

void core_force_same_token(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                      struct core_actions *out) {
        int64_t allowed;

        if (!anyone_waits(it, c)) {
                it->force_stage = CORE_FORCE_NONE;
                return;
        }
        switch (it->force_stage) {
        case CORE_FORCE_NONE:
                if (stable_force(pol)) {
                        /* Clients joined a proactive normal-mode call that brought nothing new: force one for them. */
                        allowed = it->forced_at_ms + core_force_interval(pol);
                        it->force_stage = CORE_FORCE_ROTATE;
                        it->forced_refreshes++;
                        it->force_uid = it->n_waiters ? it->waiters[0].uid : -1;
                        it->force_pid = it->n_waiters ? it->waiters[0].pid : -1;
                        core_fetch_at(it, c, allowed > c->now_ms ? allowed : c->now_ms);
                } else {
                        /* token rotates on every call, so this is WeCom or a ticket: nothing newer to be had. */
                        core_force_failed(it, pol, c, 0, "upstream returned the same token (WeCom and tickets renew only "
                                     "near expiry)", out);
                }
                break;
        case CORE_FORCE_NORMAL:
                /* Nobody else rotated it: now force, within WeChat's spacing. */
                it->force_stage = CORE_FORCE_ROTATE;
                core_fetch_at(it, c, c->now_ms);
                break;
        case CORE_FORCE_ROTATE:
                core_force_failed(it, pol, c, 0, "upstream returned the same token (WeCom renews only after expiry)", out);
                break;
        case CORE_FORCE_PROBE:
                break;
        }
}

/* The item wanted to call WeChat but may not (cluster mode): wait for the lease, or hand the force on. */
void core_force_blocked(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                   struct core_actions *out) {
        char message[256];

        if (!pol->clustered)
                return;
        /* The holder with too little lease left: its renewal is on the way; try again shortly. */
        if (pol->holder) {
                core_fetch_at(it, c, c->now_ms + pol->tick_ms / 2);
                return;
        }
        if (it->force_stage == CORE_FORCE_NONE)
                return; /* a planned refresh: the holder makes it */
        it->force_stage = CORE_FORCE_NONE;
        if (!pol->redis_up) {
                snprintf(message, sizeof(message), "cluster: Redis %s is unreachable, so no agent can refresh this "
                         "app now; the last token stays published", pol->redis ? pol->redis : "");
                abort_with(it, out, CORE_ANSWER_UPSTREAM, NULL, message, -1);
                return;
        }
        core_act(out, CORE_ACT_FORWARD);
}

/* Cluster mode: this agent became the holder and read Redis: its schedule, and its own waiters, now here. */
void core_force_resume(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                  struct core_actions *out) {
        int64_t left = core_item_waiters_until(it) - c->now_ms;

        core_resume(it, pol, c);
        /* This host's own clients, handed to the last holder, now wait on this one. */
        if (left > 0)
                core_force_remote(it, pol, c, it->generation, left, out);
}
