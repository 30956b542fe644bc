/* budget.c: the daily cap on client-forced upstream calls of each item, per Beijing (quota) day. */
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "budget.h"
#include "log.h"
#include "state.h"

/* WeChat's "reach max api daily quota limit". */
#define ERRCODE_QUOTA 45009

int64_t budget_now_ms(void) {
        static int64_t offset_ms;
        static int read;

        if (!read) {
                const char *v = secure_getenv("WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS");

                read = 1;
                if (v && *v) {
                        offset_ms = strtoll(v, NULL, 10);
                        log_warning("test hook WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS: quota days are counted %lld ms "
                                    "off the wall clock", (long long)offset_ms);
                }
        }
        return agent_now_ms() + offset_ms;
}

int64_t budget_day(int64_t ms) {
        return (ms + BUDGET_BEIJING_OFFSET_MS) / BUDGET_DAY_MS;
}

int64_t budget_until_tomorrow(int64_t ms) {
        return (budget_day(ms) + 1) * BUDGET_DAY_MS - BUDGET_BEIJING_OFFSET_MS - ms;
}

static bool is_stable_force(const struct item *it) {
        return it->app->cfg->kind == APP_KIND_STABLE && !it->ticket;
}

unsigned budget_cap(const struct item *it) {
        unsigned cap = it->app->cfg->max_forced_per_day;

        if (is_stable_force(it) && cap > BUDGET_STABLE_PER_DAY)
                cap = BUDGET_STABLE_PER_DAY;
        return cap;
}

/* The count belongs to a day: a new day starts from zero. */
static void budget_roll(struct item *it, int64_t day) {
        if (it->forced_day != day) {
                it->forced_day = day;
                it->forced_today = 0;
        }
}

int64_t budget_check(struct item *it, char *why, size_t why_size) {
        int64_t now = budget_now_ms(), day = budget_day(now);
        unsigned cap = budget_cap(it);

        budget_roll(it, day);
        if (it->quota_day == day) {
                snprintf(why, why_size, "WeChat answered 45009 (daily quota reached) today: no forced refresh "
                         "until midnight Beijing time; the published token stays");
                return budget_until_tomorrow(now);
        }
        if (it->forced_today >= cap) {
                snprintf(why, why_size, "%u forced refreshes of %s today: max_forced_per_day%s is reached until "
                         "midnight Beijing time", it->forced_today, it->name,
                         is_stable_force(it) && cap == BUDGET_STABLE_PER_DAY ? " (stable_token allows 20)" : "");
                return budget_until_tomorrow(now);
        }
        return 0;
}

void budget_spend(struct item *it) {
        budget_roll(it, budget_day(budget_now_ms()));
        it->forced_today++;
        if (it->forced_today == budget_cap(it))
                log_app(LOG_NOTICE, it->name, 0, "max_forced_per_day (%u) reached: clients' forced refreshes are "
                        "refused until midnight Beijing time", budget_cap(it));
        /* Saved before the call: a crash or restart mid-call must not give the call back. */
        if (it->generation)
                item_save(it, it->fetched_at_ms);
}

void budget_upstream(struct item *it, long errcode) {
        int64_t day = budget_day(budget_now_ms());

        if (errcode != ERRCODE_QUOTA || it->quota_day == day)
                return;
        it->quota_day = day;
        log_app(LOG_WARNING, it->name, errcode, "daily quota reached: no forced refresh until midnight Beijing time");
        if (it->generation)
                item_save(it, it->fetched_at_ms);
}

void budget_record(const struct item *it, struct state_record *rec) {
        rec->forced_day = it->forced_day;
        rec->forced_today = it->forced_today;
        rec->quota_day = it->quota_day;
}

void budget_restore(struct item *it, const struct state_record *rec) {
        it->forced_day = rec->forced_day;
        /* A count beyond any cap still means "spent": clamped, never wrapped to a fresh budget. */
        it->forced_today = rec->forced_today > 100000 ? 100000 : (unsigned)rec->forced_today;
        it->quota_day = rec->quota_day;
}
