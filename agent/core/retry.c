/* retry.c: an operator's "retry now" (wxtokenctl retry): skip one backoff wait, within the forced-call rules. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "item-internal.h"
#include "wire.h"

static void retried(struct core_actions *out, const struct core_event *ev, const char *code, int64_t retry_after_ms,
                    const char *text) {
        struct core_action *a;

        /*
         * Handed on by another host (ev->from_node): that host's client had its answer ("sent
         * to the holder") at once, so what this holder decides is said in its log, with who asked.
         */
        if (ev->from_node && code[0])
                core_log(out, LOG_NOTICE, 0, "retry asked on %.*s by uid %lld pid %lld refused (%s): %s",
                         (int)strcspn(ev->from_node, "/"), ev->from_node, (long long)ev->caller_uid,
                         (long long)ev->caller_pid, code, text);
        else if (ev->from_node && strcmp(text, "now") != 0)
                core_log(out, LOG_INFO, 0, "retry asked on %.*s by uid %lld pid %lld: nothing to do (%s)",
                         (int)strcspn(ev->from_node, "/"), ev->from_node, (long long)ev->caller_uid,
                         (long long)ev->caller_pid, text);
        a = core_act(out, CORE_ACT_RETRIED);
        snprintf(a->code, sizeof(a->code), "%s", code);
        a->retry_after_ms = retry_after_ms;
        snprintf(a->text, sizeof(a->text), "%s", text);
}

/*
 * The operator fixed a secret or a whitelist and wants the next attempt now, not after
 * up to backoff_max. It is a call WeChat counts like any other, so it obeys what forced
 * refreshes obey: max_forced_per_day (the same count), no call on a day that answered
 * 45009, and one per min_force_interval (core_force_interval) per item. Only the agent
 * that makes the app's calls (the lease holder in cluster mode) may take it; another
 * agent of the cluster hands it to the holder (a "retry" note), whose rules then apply.
 */
void core_retry(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                const struct core_event *ev, struct core_actions *out) {
        bool stable = pol->kind == APP_KIND_STABLE && !pol->ticket;
        unsigned cap = budget_cap(pol->max_forced_per_day, stable);
        int64_t wait, tomorrow;
        char why[256];

        if (pol->clustered && !pol->holder && pol->redis_up && pol->holder_known && !ev->from_node) {
                /*
                 * The holder decides, by its own count and spacing (this host's copy of them is
                 * not the one WeChat's calls are made by): hand it on, once; the client hears
                 * that it went, and status on any host shows the outcome as it is mirrored.
                 */
                struct core_action *f = core_act(out, CORE_ACT_FORWARD_RETRY);

                f->caller_uid = ev->caller_uid;
                f->caller_pid = ev->caller_pid;
                core_log(out, LOG_NOTICE, 0, "retry asked by uid %lld pid %lld: handed to the lease holder, which "
                         "applies its own rules", (long long)ev->caller_uid, (long long)ev->caller_pid);
                retried(out, ev, "", -1, "forwarded");
                return;
        }
        if (pol->clustered && !pol->holder) {
                if (ev->from_node)
                        /* The holder changed on the way: the new one's clients may ask again. */
                        snprintf(why, sizeof(why), "%s: this agent no longer holds the app's lease", pol->name);
                else if (!pol->redis_up)
                        snprintf(why, sizeof(why), "%s: cluster mode: Redis (%s) is unreachable, so the retry cannot "
                                 "reach the lease holder, which alone makes the app's calls; try again once Redis is "
                                 "back, or on the holder", pol->name, pol->redis ? pol->redis : "?");
                else
                        snprintf(why, sizeof(why), "%s: cluster mode: no lease holder is known yet (this agent does "
                                 "not hold the lease either); try again in a moment, or on the holder (wxtokenctl "
                                 "status shows it)", pol->name);
                retried(out, ev, PROTO_E_NOT_HOLDER, -1, why);
                return;
        }
        /* 45009 today: WeChat refuses until its quota day turns (after it, a retry is fair again). */
        if (it->failure == FAILURE_QUOTA && it->budget.quota_day == budget_day(c->quota_now_ms)) {
                snprintf(why, sizeof(why), "%s: WeChat answered %d (the daily quota of this call is spent): a retry "
                         "now would be refused too; calls resume after midnight Beijing time", pol->name,
                         BUDGET_ERRCODE_QUOTA);
                retried(out, ev, PROTO_E_RATE_LIMITED, budget_until_tomorrow(c->quota_now_ms), why);
                return;
        }
        if (it->in_flight) {
                retried(out, ev, "", -1, "in_flight");
                return;
        }
        if (it->failure == FAILURE_NONE) {
                snprintf(why, sizeof(why), "%s is not failing: it waits for no retry (to replace a token WeChat "
                         "refuses, use wxtokenctl refresh)", pol->name);
                retried(out, ev, PROTO_E_NOT_FAILING, -1, why);
                return;
        }
        wait = it->retried_at_ms ? it->retried_at_ms + core_force_interval(pol) - c->now_ms : 0;
        if (wait > 0) {
                it->rate_limited++;
                snprintf(why, sizeof(why), "%s: retries are spaced by min_force_interval (%lld s), like forced "
                         "refreshes", pol->name, (long long)(core_force_interval(pol) / 1000));
                retried(out, ev, PROTO_E_RATE_LIMITED, wait, why);
                return;
        }
        tomorrow = budget_check(&it->budget, cap, stable, pol->name, c->quota_now_ms, why, sizeof(why));
        if (tomorrow > 0) {
                it->rate_limited++;
                retried(out, ev, PROTO_E_RATE_LIMITED, tomorrow, why);
                return;
        }
        if (budget_spend(&it->budget, cap, c->quota_now_ms))
                core_log(out, LOG_NOTICE, 0, "max_forced_per_day (%u) reached: forced refreshes and retries are "
                         "refused until midnight Beijing time", cap);
        /* Saved before the call, as a forced call's count is: a restart must not give it back. */
        if (it->generation)
                core_save(out, it->fetched_at_ms);
        it->retried_at_ms = c->now_ms;
        core_log(out, LOG_NOTICE, it->errcode, "retry asked%s%.*s by uid %lld pid %lld: calling now instead of in "
                 "%lld s (%u of max_forced_per_day %u today)", ev->from_node ? " on " : "",
                 ev->from_node ? (int)strcspn(ev->from_node, "/") : 0, ev->from_node ? ev->from_node : "",
                 (long long)ev->caller_uid, (long long)ev->caller_pid,
                 (long long)((it->armed ? it->next_at_ms - c->now_ms : 0) / 1000),
                 budget_today(&it->budget, c->quota_now_ms), cap);
        core_schedule(it, c->now_ms);
        retried(out, ev, "", -1, "now");
}
