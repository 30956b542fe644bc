/* budget.h: the daily cap on client-forced upstream calls of each item, per Beijing (quota) day. */
#ifndef BUDGET_H
#define BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct item;
struct state_record;

/* WeChat allows stable_token's force_refresh 20 times a day, whatever max_forced_per_day says. */
#define BUDGET_STABLE_PER_DAY 20
#define BUDGET_BEIJING_OFFSET_MS (8 * 3600 * 1000LL)
#define BUDGET_DAY_MS (24 * 3600 * 1000LL)

/*
 * The clock quota days are counted on: the wall clock, shifted by
 * $WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS if set. That variable is a test hook (it lets a test
 * live through a Beijing midnight without waiting for one); it moves nothing else.
 */
int64_t budget_now_ms(void);

/* The Beijing day number of a wall-clock time (WeChat's quotas turn at 00:00 UTC+8). */
int64_t budget_day(int64_t ms);

/* Milliseconds from ms to the next Beijing midnight. */
int64_t budget_until_tomorrow(int64_t ms);

/* The item's cap: max_forced_per_day of its app (or [agent]), and 20 for stable's force_refresh. */
unsigned budget_cap(const struct item *it);

/*
 * May a client-forced upstream call of it be made today? 0 if so; else the milliseconds
 * until the quota day turns, with why (a message for the client) filled.
 */
int64_t budget_check(struct item *it, char *why, size_t why_size);

/* A client-forced upstream call of it starts: count it, and save the count in state_dir. */
void budget_spend(struct item *it);

/* Upstream answered a call of it with errcode: 45009 (daily quota) stops forced calls until tomorrow. */
void budget_upstream(struct item *it, long errcode);

/* Copy the budget into a state record being written, or take it from one read back. */
void budget_record(const struct item *it, struct state_record *rec);
void budget_restore(struct item *it, const struct state_record *rec);

#endif
