/* schedule.c: when to refresh and when to retry: pure functions of time and a seeded random source. */
#include "schedule.h"
#include "upstream.h"

uint64_t rng_next(struct rng *r) {
        uint64_t x = r->state ? r->state : 0x9e3779b97f4a7c15u;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r->state = x;
        return x * 0x2545f4914f6cdd1du;
}

double rng_unit(struct rng *r) {
        return (double)(rng_next(r) >> 11) / (double)(UINT64_C(1) << 53);
}

int64_t schedule_margin(enum app_kind kind, int64_t margin_ms, int64_t lifetime_ms) {
        int64_t m = margin_ms;

        if (lifetime_ms > 0 && m > lifetime_ms / 4)
                m = lifetime_ms / 4;
        if (kind == APP_KIND_STABLE) {
                int64_t window = SCHEDULE_STABLE_WINDOW_MS;

                /* A short-lived stable token renews in the last quarter of its life (min(300 s, life/4)). */
                if (lifetime_ms > 0 && lifetime_ms / 4 < window)
                        window = lifetime_ms / 4;
                if (m > window * 8 / 10)
                        m = window * 8 / 10;
        }
        return m > 0 ? m : 0;
}

int64_t schedule_refresh_at(enum app_kind kind, int64_t now_ms, int64_t expires_at_ms, int64_t margin_ms,
                            int64_t lifetime_ms, struct rng *r) {
        int64_t m = schedule_margin(kind, margin_ms, lifetime_ms);
        double factor = kind == APP_KIND_STABLE ? 0.8 + 0.2 * rng_unit(r) : 0.9 + 0.2 * rng_unit(r);
        int64_t at = expires_at_ms - (int64_t)((double)m * factor);

        return at > now_ms ? at : now_ms;
}

int64_t schedule_same_token_at(int64_t now_ms, int64_t expires_at_ms, int64_t min_ms) {
        int64_t at = now_ms + (expires_at_ms - now_ms) / 2, past = now_ms - expires_at_ms;

        if (expires_at_ms > now_ms) {
                if (at < now_ms + min_ms)
                        at = now_ms + min_ms;
                /* The expiry itself even if sooner than min: the new token comes no sooner, and readers wait. */
                return at < expires_at_ms ? at : expires_at_ms;
        }
        /*
         * Still the same token at or past the expiry believed (upstream's whole seconds put it a
         * little later): again soon, then as long as it is overdue, never more often than
         * SCHEDULE_SAME_TOKEN_STEP_MS nor less often than min_ms.
         */
        if (past < SCHEDULE_SAME_TOKEN_STEP_MS)
                past = SCHEDULE_SAME_TOKEN_STEP_MS;
        return now_ms + (past < min_ms ? past : min_ms);
}

int64_t schedule_retry_delay(enum failure_class c, unsigned attempt, int64_t min_ms, int64_t max_ms,
                             struct rng *r) {
        int64_t cap = min_ms;

        if (c != FAILURE_TRANSIENT)
                return max_ms;
        /* Doubling stops at max; attempt is capped so the shift cannot overflow. */
        for (unsigned i = 0; i < attempt && i < 40 && cap < max_ms; i++)
                cap *= 2;
        if (cap > max_ms)
                cap = max_ms;
        return min_ms + (int64_t)((double)(cap - min_ms) * rng_unit(r));
}

bool schedule_times_plausible(int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now_ms, int64_t min_lifetime_ms) {
        int64_t lifetime = expires_at_ms - fetched_at_ms;

        return fetched_at_ms <= now_ms + 60 * 1000 && expires_at_ms > now_ms && lifetime >= min_lifetime_ms &&
               lifetime <= UPSTREAM_LIFETIME_MAX * 1000LL;
}
