/* budget.c: the daily cap on client-forced upstream calls of an item, per Beijing (quota) day: pure arithmetic. */
#include <stdio.h>

#include "budget.h"

int64_t budget_day(int64_t ms) {
        return (ms + BUDGET_BEIJING_OFFSET_MS) / BUDGET_DAY_MS;
}

int64_t budget_until_tomorrow(int64_t ms) {
        return (budget_day(ms) + 1) * BUDGET_DAY_MS - BUDGET_BEIJING_OFFSET_MS - ms;
}

unsigned budget_cap(unsigned max_forced_per_day, bool stable_force) {
        if (stable_force && max_forced_per_day > BUDGET_STABLE_PER_DAY)
                return BUDGET_STABLE_PER_DAY;
        return max_forced_per_day;
}

/* The count belongs to a day: a new day starts from zero. */
static void budget_roll(struct core_budget *b, int64_t day) {
        if (b->forced_day != day) {
                b->forced_day = day;
                b->forced_today = 0;
        }
}

int64_t budget_check(struct core_budget *b, unsigned cap, bool stable_force, const char *name, int64_t now,
                     char *why, size_t why_size) {
        int64_t day = budget_day(now);

        budget_roll(b, day);
        if (now < b->blocked_until_ms) {
                snprintf(why, why_size, "WeCom answered 45009 (a frequency limit, which blocks the call for an hour): "
                         "no forced refresh for %lld s; the published one stays",
                         (long long)((b->blocked_until_ms - now + 999) / 1000));
                return b->blocked_until_ms - now;
        }
        if (b->quota_day == day) {
                snprintf(why, why_size, "WeChat answered 45009 (daily quota reached) today: no forced refresh "
                         "until midnight Beijing time; the published token stays");
                return budget_until_tomorrow(now);
        }
        if (b->forced_today >= cap) {
                snprintf(why, why_size, "%u forced refreshes of %s today: max_forced_per_day%s is reached until "
                         "midnight Beijing time", b->forced_today, name,
                         stable_force && cap == BUDGET_STABLE_PER_DAY ? " (stable_token allows 20)" : "");
                return budget_until_tomorrow(now);
        }
        return 0;
}

bool budget_spend(struct core_budget *b, unsigned cap, int64_t now) {
        budget_roll(b, budget_day(now));
        b->forced_today++;
        return b->forced_today == cap;
}

bool budget_upstream(struct core_budget *b, long errcode, int64_t now) {
        int64_t day = budget_day(now);

        if (errcode != BUDGET_ERRCODE_QUOTA || b->quota_day == day)
                return false;
        b->quota_day = day;
        return true;
}

bool budget_upstream_work(struct core_budget *b, long errcode, int64_t now) {
        if (errcode != BUDGET_ERRCODE_QUOTA || now < b->blocked_until_ms)
                return false;
        b->blocked_until_ms = now + BUDGET_WORK_BLOCK_MS;
        return true;
}

void budget_spent_elsewhere(struct core_budget *b, unsigned cap, int64_t now) {
        b->forced_day = budget_day(now);
        if (b->forced_today < cap)
                b->forced_today = cap;
}

unsigned budget_today(const struct core_budget *b, int64_t now) {
        return b->forced_day == budget_day(now) ? b->forced_today : 0;
}

void budget_restore(struct core_budget *b, int64_t forced_day, int64_t forced_today, int64_t quota_day) {
        b->forced_day = forced_day;
        b->forced_today = forced_today > BUDGET_COUNT_CLAMP || forced_today < 0 ? BUDGET_COUNT_CLAMP
                                                                                : (unsigned)forced_today;
        b->quota_day = quota_day;
}
