/* schedule.h: when to refresh and when to retry: pure functions of time and a seeded random source. */
#ifndef SCHEDULE_H
#define SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"

/* A small PRNG (xorshift64*); the agent seeds it from getrandom, tests with constants. */
struct rng {
        uint64_t state;
};

uint64_t rng_next(struct rng *r);
double rng_unit(struct rng *r); /* uniform in [0, 1) */

/*
 * A token's times are believable: fetched in the past (a minute of clock skew allowed),
 * not yet expired, and a lifetime in [min_lifetime_ms, 86400 s], the rule a fetched
 * token's expires_in follows too. A clock stepped since, or a corrupt record, must not
 * keep a dead token published for hours without a refresh.
 */
bool schedule_times_plausible(int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now_ms, int64_t min_lifetime_ms);

/* Stable tokens renew only in their last 5 minutes: a normal-mode call before that returns the same token. */
#define SCHEDULE_STABLE_WINDOW_MS (300 * 1000)

/*
 * The margin actually used for a token of lifetime_ms: the configured one, but never
 * more than a quarter of the lifetime (short-lived test tokens), and for stable at most
 * 80% of the platform's early window, so that the jittered refresh falls inside it.
 */
int64_t schedule_margin(enum app_kind kind, int64_t margin_ms, int64_t lifetime_ms);

/*
 * When to refresh a token that expires at expires_at_ms: expires_at - margin, jittered
 * by up to +-10% of the margin (stable: -20%..0, staying inside the window). Never
 * earlier than now_ms.
 */
int64_t schedule_refresh_at(enum app_kind kind, int64_t now_ms, int64_t expires_at_ms, int64_t margin_ms,
                            int64_t lifetime_ms, struct rng *r);

/*
 * The refresh returned the token we already had (stable outside its window, WeCom
 * before expiry): try again halfway to expiry, but not sooner than min_ms from now and
 * not later than expiry (even if that is sooner than min_ms: WeCom renews only then);
 * at or past expiry, after as long as it is overdue, between SCHEDULE_SAME_TOKEN_STEP_MS
 * and min_ms.
 */
#define SCHEDULE_SAME_TOKEN_STEP_MS 250
int64_t schedule_same_token_at(int64_t now_ms, int64_t expires_at_ms, int64_t min_ms);

/*
 * Delay before retry number attempt (0 for the first retry) after a failure of class c:
 * transient: full jitter, uniform in [min, min(max, min * 2^attempt)];
 * config and quota: max (no tight loop; the operator or the next day must act).
 */
int64_t schedule_retry_delay(enum failure_class c, unsigned attempt, int64_t min_ms, int64_t max_ms,
                             struct rng *r);

#endif
