/* budget.h: the daily cap on client-forced upstream calls of an item, per Beijing (quota) day: pure arithmetic. */
#ifndef CORE_BUDGET_H
#define CORE_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* WeChat allows stable_token's force_refresh 20 times a day, whatever max_forced_per_day says. */
#define BUDGET_STABLE_PER_DAY 20
#define BUDGET_BEIJING_OFFSET_MS (8 * 3600 * 1000LL)
#define BUDGET_DAY_MS (24 * 3600 * 1000LL)
#define BUDGET_ERRCODE_QUOTA 45009      /* WeChat's "reach max api daily quota limit" */
#define BUDGET_COUNT_CLAMP 100000       /* a saved count beyond any cap still means "spent" */
/*
 * WeCom has no daily quota: its 45009 is a frequency limit ("api freq out of limit"), and
 * one counted by the hour, as the tickets' 400 a corp and 100 an app are, blocks the call
 * for 60 minutes (developer.work.weixin.qq.com document 90454, "access frequency limits").
 */
#define BUDGET_WORK_BLOCK_MS (3600 * 1000LL)

/* An item's count of client-forced calls, of the day it belongs to. */
struct core_budget {
        int64_t forced_day;             /* Beijing day of forced_today */
        unsigned forced_today;
        int64_t quota_day;              /* Beijing day upstream answered 45009: no forced call that day */
        int64_t blocked_until_ms;       /* WeCom answered 45009: no forced call before (quota clock; not saved) */
};

/* The Beijing day number of a wall-clock time (WeChat's quotas turn at 00:00 UTC+8). */
int64_t budget_day(int64_t ms);

/* Milliseconds from ms to the next Beijing midnight. */
int64_t budget_until_tomorrow(int64_t ms);

/* The cap: max_forced_per_day, and at most 20 for stable's force_refresh (stable_force). */
unsigned budget_cap(unsigned max_forced_per_day, bool stable_force);

/*
 * May a client-forced call be made at now? 0 if so; else the milliseconds until the
 * quota day turns, with why (a message for the client naming the item name) filled.
 */
int64_t budget_check(struct core_budget *b, unsigned cap, bool stable_force, const char *name, int64_t now,
                     char *why, size_t why_size);

/* A client-forced call starts at now: counted. True if that reached the cap. */
bool budget_spend(struct core_budget *b, unsigned cap, int64_t now);

/* Upstream answered errcode at now: true if that is a 45009 newly stopping forced calls for the day. */
bool budget_upstream(struct core_budget *b, long errcode, int64_t now);

/* WeCom answered errcode at now: true if that is a 45009 newly blocking forced calls for BUDGET_WORK_BLOCK_MS. */
bool budget_upstream_work(struct core_budget *b, long errcode, int64_t now);

/* The fleet counted n beyond the cap: the day counts as spent here too. */
void budget_spent_elsewhere(struct core_budget *b, unsigned cap, int64_t now);

/* Today's count (0 if the count is of another day). */
unsigned budget_today(const struct core_budget *b, int64_t now);

/* A count read back from a state file: a count beyond any cap is clamped, never wrapped. */
void budget_restore(struct core_budget *b, int64_t forced_day, int64_t forced_today, int64_t quota_day);

#endif
