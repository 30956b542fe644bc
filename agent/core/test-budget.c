/* test-budget.c: the daily cap on forced calls: Beijing days, the stable cap, 45009, counts spent elsewhere or read back. */
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "check.h"

#define T0 1800000000000LL /* 2027-01-15 08:00 UTC, 16:00 in Beijing */
#define SEC 1000LL

static void test_budget_days(void) {
        struct core_budget b = { 0 };
        /* 2027-01-15 16:00 UTC is Beijing midnight. */
        int64_t midnight = T0 + 8 * 3600 * SEC;

        CHECK(budget_day(midnight - 1) + 1 == budget_day(midnight), "the day turns at Beijing midnight");
        CHECK(budget_until_tomorrow(midnight - 1) == 1 && budget_until_tomorrow(midnight) == 24 * 3600 * SEC,
              "until tomorrow");
        CHECK(budget_cap(100, true) == 20 && budget_cap(5, true) == 5 && budget_cap(100, false) == 100, "caps");
        budget_restore(&b, budget_day(T0), -5, 0);
        CHECK(b.forced_today == BUDGET_COUNT_CLAMP, "a negative saved count is spent, not a fresh budget");
        budget_restore(&b, budget_day(T0), 2, 0);
        CHECK(budget_today(&b, T0) == 2 && budget_today(&b, midnight) == 0, "today's count");
        CHECK(!budget_spend(&b, 4, T0) && budget_spend(&b, 4, T0), "the spend that reaches the cap says so");
        CHECK(budget_upstream(&b, 45009, T0) && !budget_upstream(&b, 45009, T0) && !budget_upstream(&b, 1, T0),
              "45009 once a day");
}

/* WeCom's 45009: an hour's block of forced calls, not the day's; not extended by a call that meets it. */
static void test_work_block(void) {
        struct core_budget b = { 0 };
        char why[256];

        CHECK(!budget_upstream_work(&b, 45011, T0) && budget_check(&b, 10, false, "w.jsapi", T0, why, sizeof(why)) == 0,
              "only 45009 blocks");
        CHECK(budget_upstream_work(&b, 45009, T0) && !budget_upstream_work(&b, 45009, T0 + 60 * SEC),
              "the block starts once");
        CHECK(budget_check(&b, 10, false, "w.jsapi", T0 + 60 * SEC, why, sizeof(why)) == BUDGET_WORK_BLOCK_MS - 60 * SEC &&
              strstr(why, "45009") && strstr(why, "3540 s"), "%s", why);
        CHECK(b.quota_day == 0 && budget_check(&b, 10, false, "w.jsapi", T0 + BUDGET_WORK_BLOCK_MS, why, sizeof(why)) == 0,
              "over after the hour, and no day is spent");
}

/* A count read back from a state file: beyond any cap (or past int range) is clamped to spent, never wrapped. */
static void test_restore_clamp(void) {
        struct core_budget b = { 0 };

        budget_restore(&b, budget_day(T0), (int64_t)BUDGET_COUNT_CLAMP + 1, 7);
        CHECK_EQ(b.forced_today, BUDGET_COUNT_CLAMP);
        CHECK_EQ(b.quota_day, 7);
        budget_restore(&b, budget_day(T0), 5000000000LL, 0); /* would wrap to 705032704 as unsigned */
        CHECK_EQ(b.forced_today, BUDGET_COUNT_CLAMP);
        budget_restore(&b, budget_day(T0), BUDGET_COUNT_CLAMP, 0);
        CHECK_EQ(b.forced_today, BUDGET_COUNT_CLAMP);
        budget_restore(&b, budget_day(T0), 0, 0);
        CHECK_EQ(b.forced_today, 0);
}

/* Why a request is refused: the 20-a-day text only where WeChat's rule, not the config, set the cap. */
static void test_check_messages(void) {
        struct core_budget b = { 0 };
        char why[256];

        /* stable, max_forced_per_day 5: the configured cap is the one reached. */
        budget_restore(&b, budget_day(T0), 5, 0);
        CHECK(budget_check(&b, budget_cap(5, true), true, "shop", T0, why, sizeof(why)) == 8 * 3600 * SEC,
              "refused until Beijing midnight");
        CHECK(strstr(why, "5 forced refreshes of shop today") && !strstr(why, "stable_token allows 20"), "%s", why);
        /* stable, max_forced_per_day 100: WeChat's 20 is the cap, and the message says why. */
        budget_restore(&b, budget_day(T0), 20, 0);
        CHECK(budget_check(&b, budget_cap(100, true), true, "shop", T0, why, sizeof(why)) > 0 &&
              strstr(why, "(stable_token allows 20)"), "%s", why);
        /* A ticket of a stable app (not stable's force_refresh) with a cap of 20 set in the config. */
        CHECK(budget_check(&b, 20, false, "shop.jsapi", T0, why, sizeof(why)) > 0 &&
              !strstr(why, "stable_token allows 20"), "%s", why);
        /* Below the cap: allowed, why untouched. */
        budget_restore(&b, budget_day(T0), 4, 0);
        snprintf(why, sizeof(why), "untouched");
        CHECK(budget_check(&b, 5, true, "shop", T0, why, sizeof(why)) == 0 && !strcmp(why, "untouched"));
        /* Yesterday's count does not hold today back. */
        budget_restore(&b, budget_day(T0) - 1, 5, 0);
        CHECK(budget_check(&b, 5, true, "shop", T0, why, sizeof(why)) == 0 && b.forced_today == 0,
              "a new day starts from zero");
        /* The 45009 day refuses whatever the count. */
        budget_restore(&b, budget_day(T0), 0, budget_day(T0));
        CHECK(budget_check(&b, 5, false, "shop", T0 + 3600 * SEC, why, sizeof(why)) == 7 * 3600 * SEC &&
              strstr(why, "45009"), "%s", why);
}

/* The fleet counted past the cap: the day is spent here too, but a higher local count is not lowered. */
static void test_spent_elsewhere(void) {
        struct core_budget b = { 0 };

        budget_spent_elsewhere(&b, 10, T0);
        CHECK(budget_today(&b, T0) == 10, "spent: %u", budget_today(&b, T0));
        /* The cap was lowered by a reload after this host spent more: its own count stands. */
        budget_restore(&b, budget_day(T0), 12, 0);
        budget_spent_elsewhere(&b, 10, T0);
        CHECK(budget_today(&b, T0) == 12, "kept: %u", budget_today(&b, T0));
        /* Yesterday's count is replaced by today's, spent. */
        budget_restore(&b, budget_day(T0) - 1, 50, 0);
        budget_spent_elsewhere(&b, 10, T0);
        CHECK(b.forced_day == budget_day(T0) && budget_today(&b, T0) >= 10, "today is spent: %u",
              budget_today(&b, T0));
}

int main(void) {
        test_budget_days();
        test_work_block();
        test_restore_clamp();
        test_check_messages();
        test_spent_elsewhere();
        return check_exit_code();
}
