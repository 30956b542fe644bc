/* force.c: client-forced refreshes: compare-and-refresh, one upstream call for all waiters, spacing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "budget.h"
#include "cluster.h"
#include "log.h"
#include "protocol.h"

#define FORCE_STABLE_SPACING_MS (30 * 1000LL)

struct waiter {
        struct waiter *next, **prev;
        struct item *item;
        uint64_t generation;            /* the one the client saw fail */
        int64_t until_ms;               /* when its timeout_ms runs out (wall clock) */
        sd_event_source *timer;
        force_reply_fn reply;
        void *userdata;
};

static const struct agent_config *agent_config_of(const struct item *it) {
        return it->app->agent->config;
}

/* WeChat spaces stable_token's force_refresh calls 30 s apart, whatever min_force_interval says. */
static int64_t force_interval(const struct item *it) {
        int64_t interval = agent_config_of(it)->min_force_interval_ms;

        if (it->app->cfg->kind == APP_KIND_STABLE && !it->ticket && interval < FORCE_STABLE_SPACING_MS)
                interval = FORCE_STABLE_SPACING_MS;
        return interval;
}

static void waiter_unlink(struct waiter *w) {
        *w->prev = w->next;
        if (w->next)
                w->next->prev = w->prev;
        w->item->n_waiters--;
        sd_event_source_disable_unref(w->timer);
        free(w);
}

/* Answer w with line (taking it) and forget it. */
static void waiter_answer(struct waiter *w, char *line) {
        force_reply_fn reply = w->reply;
        void *userdata = w->userdata;

        waiter_unlink(w);
        reply(userdata, line);
}

static int on_waiter_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct waiter *w = userdata;

        waiter_answer(w, protocol_error(PROTO_E_TIMEOUT, "no new token within timeout_ms", -1));
        return 0;
}

static struct waiter *waiter_add(struct item *it, uint64_t gen, int64_t timeout_ms, force_reply_fn reply,
                                 void *userdata) {
        struct waiter *w = calloc(1, sizeof(*w));

        if (!w)
                return NULL;
        if (sd_event_add_time_relative(it->app->agent->loop, &w->timer, CLOCK_MONOTONIC, (uint64_t)timeout_ms * 1000,
                                       1000, on_waiter_timeout, w) < 0) {
                free(w);
                return NULL;
        }
        w->until_ms = agent_now_ms() + timeout_ms;
        w->item = it;
        w->generation = gen;
        w->reply = reply;
        w->userdata = userdata;
        w->next = it->waiters;
        w->prev = &it->waiters;
        if (it->waiters)
                it->waiters->prev = &w->next;
        it->waiters = w;
        it->n_waiters++;
        return w;
}

static char *reply_published(const struct item *it, bool verified) {
        return protocol_refresh_ok(it->generation, it->expires_at_ms, verified);
}

/* Clients here, or (cluster holder) on other hosts, still wait for the forced call. */
static bool anyone_waits(const struct item *it) {
        return it->waiters || it->remote_until_ms > agent_now_ms();
}

/* Plan the forced call: probe, normal-mode first (stable), or rotate; at allowed at the earliest. */
static void force_start(struct item *it, int64_t now, int64_t allowed) {
        it->force_stage = it->app->cfg->verify_before_force && !it->ticket ? FORCE_PROBE
                          : it->app->cfg->kind == APP_KIND_STABLE && !it->ticket ? FORCE_NORMAL
                          : FORCE_ROTATE;
        it->forced_refreshes++;
        item_fetch_at(it, allowed > now ? allowed : now);
}

struct waiter *force_request(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms, force_reply_fn reply,
                             void *userdata) {
        const struct agent_config *c = agent_config_of(it);
        int64_t now = agent_now_ms(), allowed, tomorrow;
        char why[256];
        struct waiter *w;
        bool joins;

        /* A generation we never published (the client saw an earlier agent's): the current one. */
        if (!has_gen || gen > it->generation)
                gen = it->generation;
        /* Compare: someone already replaced the token that failed. No upstream call. */
        if (it->generation > gen) {
                reply(userdata, reply_published(it, false));
                return NULL;
        }
        if (it->n_waiters >= c->max_waiters) {
                reply(userdata, protocol_error(PROTO_E_BUSY, "too many clients wait for this app already", -1));
                return NULL;
        }
        /* A call in flight or a forced one pending: its outcome answers this client too. */
        joins = it->call || it->force_stage != FORCE_NONE || it->generation == 0;
        /* Joining costs nothing; a new forced call needs today's budget. */
        if (!joins && (tomorrow = budget_check(it, why, sizeof(why))) > 0) {
                it->rate_limited++;
                reply(userdata, protocol_error(PROTO_E_RATE_LIMITED, why, tomorrow));
                return NULL;
        }
        allowed = it->forced_at_ms + force_interval(it);
        if (!joins && allowed - now > timeout_ms) {
                it->rate_limited++;
                reply(userdata, protocol_error(PROTO_E_RATE_LIMITED, "forced refreshes of this app are spaced by "
                                               "min_force_interval", allowed - now));
                return NULL;
        }
        w = waiter_add(it, gen, timeout_ms, reply, userdata);
        if (!w) {
                reply(userdata, protocol_error(PROTO_E_BUSY, "out of memory", -1));
                return NULL;
        }
        if (joins) {
                it->coalesced_waiters++;
                return w;
        }
        force_start(it, now, allowed);
        return w;
}

void force_remote(struct item *it, uint64_t gen, int64_t timeout_ms) {
        int64_t now = agent_now_ms(), allowed = it->forced_at_ms + force_interval(it), tomorrow;
        char why[256];

        if (it->generation > gen || it->generation == 0 || timeout_ms <= 0)
                return;
        if (timeout_ms > PROTOCOL_TIMEOUT_MAX_MS)
                timeout_ms = PROTOCOL_TIMEOUT_MAX_MS;
        if (now + timeout_ms > it->remote_until_ms)
                it->remote_until_ms = now + timeout_ms;
        if (it->call || it->force_stage != FORCE_NONE) {
                it->coalesced_waiters++;
                return;
        }
        if ((tomorrow = budget_check(it, why, sizeof(why))) > 0) {
                it->rate_limited++;
                cluster_force_failed(it, PROTO_E_RATE_LIMITED, why, tomorrow);
                return;
        }
        if (allowed - now > timeout_ms) {
                it->rate_limited++;
                cluster_force_failed(it, PROTO_E_RATE_LIMITED, "forced refreshes of this app are spaced by "
                                     "min_force_interval (on the lease holder)", allowed - now);
                return;
        }
        force_start(it, now, allowed);
}

void force_remote_verified(struct item *it, uint64_t gen) {
        struct waiter *w, *next;

        if (gen != it->generation)
                return;
        for (w = it->waiters; w; w = next) {
                next = w->next;
                if (w->generation >= gen)
                        waiter_answer(w, reply_published(it, true));
        }
}

void force_remote_failed(struct item *it, uint64_t gen, const char *code, const char *message,
                         int64_t retry_after_ms) {
        struct waiter *w, *next;

        if (gen < it->generation)
                return;
        for (w = it->waiters; w; w = next) {
                next = w->next;
                if (w->generation <= gen)
                        waiter_answer(w, protocol_error(code, message, retry_after_ms));
        }
}

int64_t force_waiters_until(const struct item *it) {
        int64_t until = 0;

        for (const struct waiter *w = it->waiters; w; w = w->next)
                if (w->until_ms > until)
                        until = w->until_ms;
        return until;
}

void force_cancel(struct waiter *w) {
        if (w)
                waiter_unlink(w);
}

void force_published(struct item *it) {
        struct waiter *w = it->waiters, *next;

        it->force_stage = FORCE_NONE;
        it->remote_until_ms = 0; /* other hosts' clients learn of it through Redis */
        for (; w; w = next) {
                next = w->next;
                if (it->generation > w->generation)
                        waiter_answer(w, reply_published(it, false));
        }
}

void force_failed(struct item *it, const struct upstream_result *res) {
        char message[UPSTREAM_ERRMSG_MAX + 64];

        it->force_stage = FORCE_NONE;
        budget_upstream(it, res->errcode);
        snprintf(message, sizeof(message), "errcode %ld: %s; the last token stays published", res->errcode,
                 res->errmsg);
        if (it->remote_until_ms > agent_now_ms())
                cluster_force_failed(it, PROTO_E_UPSTREAM, message, -1);
        force_abort(it, PROTO_E_UPSTREAM, message);
}

void force_abort(struct item *it, const char *code, const char *message) {
        it->force_stage = FORCE_NONE;
        it->remote_until_ms = 0;
        while (it->waiters)
                waiter_answer(it->waiters, protocol_error(code, message, -1));
}

/* The pending forced call will not be made: answer every waiter here and on other hosts. */
static void force_refuse(struct item *it, const char *code, const char *why, int64_t retry_after_ms) {
        if (!strcmp(code, PROTO_E_RATE_LIMITED))
                it->rate_limited += it->n_waiters;
        it->force_stage = FORCE_NONE;
        if (it->remote_until_ms > agent_now_ms())
                cluster_force_failed(it, code, why, retry_after_ms);
        it->remote_until_ms = 0;
        while (it->waiters)
                waiter_answer(it->waiters, protocol_error(code, why, retry_after_ms));
}

bool force_due(struct item *it) {
        int64_t now = agent_now_ms(), tomorrow;
        char why[256];

        if (it->force_stage == FORCE_NONE)
                return false;
        /* Nobody waits any more (all timed out or left): no reason to rotate. */
        if (!anyone_waits(it)) {
                it->force_stage = FORCE_NONE;
                it->budget_granted = false;
                return false;
        }
        it->forced_at_ms = now;
        /* Only the rotating call spends the budget: probes and stable's normal-mode call rotate nothing. */
        if (it->force_stage != FORCE_ROTATE)
                return true;
        /* Checked again here: the cap may have been reached since the request was let in. */
        if ((tomorrow = budget_check(it, why, sizeof(why))) > 0) {
                force_refuse(it, PROTO_E_RATE_LIMITED, why, tomorrow);
                return false;
        }
        /* Cluster mode: the fleet's count in Redis first; its answer makes the call (or refuses it). */
        if (it->budget_asked)
                return false;
        if (!it->budget_granted) {
                int64_t day_now = budget_now_ms();
                int r = cluster_budget_take(it, budget_day(day_now), budget_until_tomorrow(day_now) + BUDGET_DAY_MS);

                if (r > 0) {
                        it->budget_asked = true;
                        return false;
                }
                if (r < 0) {
                        force_refuse(it, PROTO_E_UPSTREAM, "the cluster's count of forced refreshes cannot be taken "
                                     "in Redis; the last token stays published", -1);
                        return false;
                }
        }
        it->budget_granted = false;
        budget_spend(it);
        return true;
}

void force_budget_counted(struct item *it, long long n) {
        char why[256];
        int64_t now = budget_now_ms();

        /* A reply for an item made anew since (reload) asked nothing of this one. */
        if (!it->budget_asked)
                return;
        it->budget_asked = false;
        if (it->force_stage != FORCE_ROTATE || !anyone_waits(it)) {
                it->force_stage = FORCE_NONE;
                item_cluster_resume(it); /* the proactive schedule, which the forced call had replaced */
                return;
        }
        if (n < 0) {
                force_refuse(it, PROTO_E_UPSTREAM, "the cluster's count of forced refreshes cannot be taken in "
                             "Redis; the last token stays published", -1);
                item_cluster_resume(it);
                return;
        }
        if (n > (long long)budget_cap(it)) {
                /* Spent elsewhere in the fleet: this host refuses at once from now on (and after a restart). */
                it->forced_day = budget_day(now);
                if (it->forced_today < budget_cap(it))
                        it->forced_today = budget_cap(it);
                if (it->generation)
                        item_save(it, it->fetched_at_ms);
                snprintf(why, sizeof(why), "max_forced_per_day (%u) of %s is spent across the cluster until "
                         "midnight Beijing time", budget_cap(it), it->name);
                force_refuse(it, PROTO_E_RATE_LIMITED, why, budget_until_tomorrow(now));
                item_cluster_resume(it);
                return;
        }
        it->budget_granted = true;
        item_fetch_at(it, agent_now_ms());
}

void force_probed(struct item *it, const struct upstream_result *res) {
        struct waiter *w, *next;

        if (res->errcode == 0) {
                /* The token works: the client's failure was something else. Nothing rotates. */
                it->force_stage = FORCE_NONE;
                for (w = it->waiters; w; w = next) {
                        next = w->next;
                        if (w->generation >= it->generation)
                                waiter_answer(w, reply_published(it, true));
                }
                log_app(LOG_INFO, it->name, 0, "forced refresh not needed: the token of generation %llu works",
                        (unsigned long long)it->generation);
                if (it->remote_until_ms > agent_now_ms())
                        cluster_force_verified(it);
                it->remote_until_ms = 0;
                return;
        }
        /* Only WeChat saying the token is dead justifies a rotation for everyone. */
        if (res->errcode != 40001 && res->errcode != 40014 && res->errcode != 42001) {
                struct upstream_result failed = *res;

                snprintf(failed.errmsg, sizeof(failed.errmsg), "could not verify the token (%.180s): not rotating it",
                         res->errmsg[0] ? res->errmsg : "no answer");
                force_failed(it, &failed);
                return;
        }
        it->force_stage = it->app->cfg->kind == APP_KIND_STABLE ? FORCE_NORMAL : FORCE_ROTATE;
        item_fetch_at(it, agent_now_ms());
}

bool force_same_token(struct item *it) {
        struct upstream_result res = { .errcode = 0 };

        if (!anyone_waits(it)) {
                it->force_stage = FORCE_NONE;
                return false;
        }
        if (it->force_stage == FORCE_NONE && it->app->cfg->kind == APP_KIND_STABLE && !it->ticket) {
                /* Clients joined a proactive normal-mode call that brought nothing new: force one for them. */
                int64_t now = agent_now_ms(), allowed = it->forced_at_ms + force_interval(it);

                it->force_stage = FORCE_ROTATE;
                it->forced_refreshes++;
                item_fetch_at(it, allowed > now ? allowed : now);
                return true;
        }
        if (it->force_stage == FORCE_NONE) {
                /* token rotates on every call, so this is WeCom or a ticket: nothing newer to be had. */
                snprintf(res.errmsg, sizeof(res.errmsg), "upstream returned the same token (WeCom and tickets renew "
                         "only near expiry)");
                force_failed(it, &res);
                return false;
        }
        if (it->force_stage == FORCE_NORMAL) {
                /* Nobody else rotated it: now force, within WeChat's spacing. */
                it->force_stage = FORCE_ROTATE;
                item_fetch_at(it, agent_now_ms());
                return true;
        }
        if (it->force_stage == FORCE_ROTATE) {
                snprintf(res.errmsg, sizeof(res.errmsg), "upstream returned the same token (WeCom renews only "
                         "after expiry)");
                force_failed(it, &res);
        }
        return false;
}

void force_rebase(struct item *it) {
        for (struct waiter *w = it->waiters; w; w = w->next)
                w->generation = 0;
        it->forwarded_gen = 0;
}
