/* test-schedule.c: refresh times, jitter bounds, same-token retries and backoff, with injected time. */
#include "check.h"
#include "schedule.h"

#define S 1000
#define MIN (60 * S)
#define HOUR (60 * MIN)

static void test_margin(void) {
        /* The configured margin, capped at a quarter of the lifetime. */
        CHECK_EQ(schedule_margin(APP_KIND_TOKEN, 300 * S, 2 * HOUR), 300 * S);
        CHECK_EQ(schedule_margin(APP_KIND_TOKEN, 300 * S, 60 * S), 15 * S);
        CHECK_EQ(schedule_margin(APP_KIND_WORK, 300 * S, 2 * HOUR), 300 * S);
        /* stable: inside 80% of the 5-minute window, or of a quarter of a short life. */
        CHECK_EQ(schedule_margin(APP_KIND_STABLE, 300 * S, 2 * HOUR), 240 * S);
        CHECK_EQ(schedule_margin(APP_KIND_STABLE, 100 * S, 2 * HOUR), 100 * S);
        CHECK_EQ(schedule_margin(APP_KIND_STABLE, 300 * S, 60 * S), 12 * S);
        CHECK_EQ(schedule_margin(APP_KIND_TOKEN, 300 * S, 0), 300 * S);
        /* stable with no known lifetime (an adopted token without one): the 5-minute window alone. */
        CHECK_EQ(schedule_margin(APP_KIND_STABLE, 300 * S, 0), 240 * S);
        CHECK_EQ(schedule_margin(APP_KIND_STABLE, 300 * S, -5 * S), 240 * S);
}

/* A zero seed is xorshift's fixed point: it is replaced, so the jitter never sticks at one end. */
static void test_rng_zero_seed(void) {
        struct rng zero = { 0 }, seeded = { 0x9e3779b97f4a7c15u };
        uint64_t a = rng_next(&zero), b = rng_next(&seeded);

        CHECK(a != 0 && zero.state != 0, "a zero state must not stay zero");
        CHECK_EQ(a, b);
        CHECK_EQ(rng_next(&zero), rng_next(&seeded));
}

static void test_refresh_at(void) {
        struct rng r = { 1 };
        int64_t now = 1700000000000, exp = now + 2 * HOUR;
        int64_t lo = INT64_MAX, hi = 0;

        for (int i = 0; i < 10000; i++) {
                int64_t at = schedule_refresh_at(APP_KIND_TOKEN, now, exp, 300 * S, 2 * HOUR, &r);

                CHECK(at >= exp - 330 * S && at <= exp - 270 * S); /* +-10% of the margin */
                lo = at < lo ? at : lo;
                hi = at > hi ? at : hi;
        }
        /* The jitter really spreads: both ends of the range are reached within a second. */
        CHECK(lo < exp - 329 * S && hi > exp - 271 * S);

        for (int i = 0; i < 10000; i++) {
                int64_t at = schedule_refresh_at(APP_KIND_STABLE, now, exp, 300 * S, 2 * HOUR, &r);

                /* Always inside the 5-minute window, never later than 80% of the margin. */
                CHECK(at >= exp - 300 * S && at <= exp - 192 * S);
        }
        /* Never in the past: a token already inside its margin is refreshed now. */
        CHECK_EQ(schedule_refresh_at(APP_KIND_TOKEN, now, now + 10 * S, 300 * S, 2 * HOUR, &r), now);
        CHECK_EQ(schedule_refresh_at(APP_KIND_TOKEN, now, now - 10 * S, 300 * S, 2 * HOUR, &r), now);
}

static void test_same_token(void) {
        int64_t now = 1000000, exp = now + 200 * S;

        /* Halfway to expiry, at least min from now, at most the expiry (sooner than min if it comes first). */
        CHECK_EQ(schedule_same_token_at(now, exp, 1 * S), now + 100 * S);
        CHECK_EQ(schedule_same_token_at(now, now + 1500, 1 * S), now + 1000);
        CHECK_EQ(schedule_same_token_at(now, now + 800, 1 * S), now + 800);
        CHECK_EQ(schedule_same_token_at(now, now + 30, 1 * S), now + 30);
        /* At or past the expiry: again after as long as it is overdue, at least the step, at most min. */
        CHECK_EQ(schedule_same_token_at(now, now, 1 * S), now + SCHEDULE_SAME_TOKEN_STEP_MS);
        CHECK_EQ(schedule_same_token_at(now, now - 400, 1 * S), now + 400);
        CHECK_EQ(schedule_same_token_at(now, now - 5 * S, 1 * S), now + 1 * S);
        CHECK_EQ(schedule_same_token_at(now, now - 5 * S, 100), now + 100);
}

static void test_backoff(void) {
        struct rng r = { 7 };

        for (unsigned attempt = 0; attempt < 64; attempt++) {
                int64_t cap = 1 * S, d;

                for (unsigned i = 0; i < attempt && cap < 300 * S; i++)
                        cap *= 2;
                if (cap > 300 * S)
                        cap = 300 * S;
                for (int i = 0; i < 1000; i++) {
                        d = schedule_retry_delay(FAILURE_TRANSIENT, attempt, 1 * S, 300 * S, &r);
                        CHECK(d >= 1 * S && d <= cap);
                }
        }
        /* Configuration errors and quota: backoff_max every time, never a tight loop. */
        CHECK_EQ(schedule_retry_delay(FAILURE_CONFIG, 0, 1 * S, 300 * S, &r), 300 * S);
        CHECK_EQ(schedule_retry_delay(FAILURE_CONFIG, 50, 1 * S, 300 * S, &r), 300 * S);
        CHECK_EQ(schedule_retry_delay(FAILURE_QUOTA, 0, 1 * S, 300 * S, &r), 300 * S);
        /*
         * Doubling stops after 40 steps even when max is further still: min << attempt would
         * overflow int64 for attempt 63, and wrap to a negative (or zero) delay.
         */
        for (int i = 0; i < 1000; i++) {
                int64_t d = schedule_retry_delay(FAILURE_TRANSIENT, 63, 1, INT64_MAX, &r);

                CHECK(d >= 1 && d <= INT64_C(1) << 40, "attempt 63: %lld", (long long)d);
        }
        /* min == max: no jitter left to apply. */
        CHECK_EQ(schedule_retry_delay(FAILURE_TRANSIENT, 3, 5 * S, 5 * S, &r), 5 * S);
}

/* Adopted tokens follow the fetched ones' rule: lifetime in [min, 86400 s], not expired, not from the future. */
static void test_times_plausible(void) {
        const int64_t now = 1700000000000LL, min = 60 * 1000;

        CHECK(schedule_times_plausible(now - 1000, now + 7199 * 1000LL, now, min));
        CHECK(schedule_times_plausible(now - 1000, now - 1000 + min, now, min));
        CHECK(!schedule_times_plausible(now - 1000, now - 1000 + min - 1, now, min));
        CHECK(schedule_times_plausible(now - 1000, now - 1000 + 86400 * 1000LL, now, min));
        CHECK(!schedule_times_plausible(now - 1000, now - 1000 + 86400 * 1000LL + 1, now, min));
        CHECK(!schedule_times_plausible(now - 1000, now - 1000 + 2147483647LL * 1000, now, min));
        CHECK(!schedule_times_plausible(now - 7200 * 1000LL, now, now, min));            /* expired */
        CHECK(!schedule_times_plausible(now + 61 * 1000, now + 7200 * 1000LL, now, min)); /* from the future */
        CHECK(schedule_times_plausible(now - 1000, now + 1000, now, 1000));             /* tests lower min */
}

int main(void) {
        test_times_plausible();
        test_margin();
        test_rng_zero_seed();
        test_refresh_at();
        test_same_token();
        test_backoff();
        return 0;
}
