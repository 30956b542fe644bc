/* retry.c: an operator's "retry now" (wxtokenctl retry): skip one backoff wait, within the forced-call rules. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "item-internal.h"
#include "wire.h"

static void retried(struct core_actions *out, const char *code, int64_t retry_after_ms, const char *text) {
        struct core_action *a = core_act(out, CORE_ACT_RETRIED);

        snprintf(a->code, sizeof(a->code), "%s", code);
        a->retry_after_ms = retry_after_ms;
        snprintf(a->text, sizeof(a->text), "%s", text);
}

/*
 * The operator fixed a secret or a whitelist and wants the next attempt now, not after
 * up to backoff_max. It is a call WeChat counts like any other, so it obeys what forced
 * refreshes obey: max_forced_per_day (the same count), no call on a day that answered
 * 45009, and one per min_force_interval (core_force_interval) per item. Only the agent
 * that makes the app's calls (the lease holder in cluster mode) may take it.
 */
void core_retry(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                const struct core_event *ev, struct core_actions *out) {
        bool stable = pol->kind == APP_KIND_STABLE && !pol->ticket;
        unsigned cap = budget_cap(pol->max_forced_per_day, stable);
        int64_t wait, tomorrow;
        char why[256];

        if (pol->clustered && !pol->holder) {
                snprintf(why, sizeof(why), "%s: cluster mode: another agent holds the app's lease and makes its "
                         "calls; run the retry on the lease holder (wxtokenctl status shows it)", pol->name);
                retried(out, PROTO_E_NOT_HOLDER, -1, why);
                return;
        }
        /* 45009 today: WeChat refuses until its quota day turns (after it, a retry is fair again). */
        if (it->failure == FAILURE_QUOTA && it->budget.quota_day == budget_day(c->quota_now_ms)) {
                snprintf(why, sizeof(why), "%s: WeChat answered %d (the daily quota of this call is spent): a retry "
                         "now would be refused too; calls resume after midnight Beijing time", pol->name,
                         BUDGET_ERRCODE_QUOTA);
                retried(out, PROTO_E_RATE_LIMITED, budget_until_tomorrow(c->quota_now_ms), why);
                return;
        }
        if (it->in_flight) {
                retried(out, "", -1, "in_flight");
                return;
        }
        if (it->failure == FAILURE_NONE) {
                snprintf(why, sizeof(why), "%s is not failing: it waits for no retry (to replace a token WeChat "
                         "refuses, use wxtokenctl refresh)", pol->name);
                retried(out, PROTO_E_NOT_FAILING, -1, why);
                return;
        }
        wait = it->retried_at_ms ? it->retried_at_ms + core_force_interval(pol) - c->now_ms : 0;
        if (wait > 0) {
                it->rate_limited++;
                snprintf(why, sizeof(why), "%s: retries are spaced by min_force_interval (%lld s), like forced "
                         "refreshes", pol->name, (long long)(core_force_interval(pol) / 1000));
                retried(out, PROTO_E_RATE_LIMITED, wait, why);
                return;
        }
        tomorrow = budget_check(&it->budget, cap, stable, pol->name, c->quota_now_ms, why, sizeof(why));
        if (tomorrow > 0) {
                it->rate_limited++;
                retried(out, PROTO_E_RATE_LIMITED, tomorrow, why);
                return;
        }
        if (budget_spend(&it->budget, cap, c->quota_now_ms))
                core_log(out, LOG_NOTICE, 0, "max_forced_per_day (%u) reached: forced refreshes and retries are "
                         "refused until midnight Beijing time", cap);
        /* Saved before the call, as a forced call's count is: a restart must not give it back. */
        if (it->generation)
                core_save(out, it->fetched_at_ms);
        it->retried_at_ms = c->now_ms;
        core_log(out, LOG_NOTICE, it->errcode, "retry asked by uid %lld pid %lld: calling now instead of in %lld s "
                 "(%u of max_forced_per_day %u today)", (long long)ev->caller_uid, (long long)ev->caller_pid,
                 (long long)((it->armed ? it->next_at_ms - c->now_ms : 0) / 1000),
                 budget_today(&it->budget, c->quota_now_ms), cap);
        core_schedule(it, c->now_ms);
        retried(out, "", -1, "now");
}
