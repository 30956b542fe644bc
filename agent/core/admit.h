/* admit.h: when an upstream call waiting for a slot may start: a cap on calls at once and a steady rate; pure, the clock an input. */
#ifndef CORE_ADMIT_H
#define CORE_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Calls start only while fewer than max_running are under way, and no faster than
 * per_second on average: a start is due every interval_us, with one interval of slack
 * so that a timer that fires a little late does not slow the rate down. A burst (a cold
 * start of thousands of apps, a reload) so leaves at an even pace instead of all at
 * once, and every call's own timeout starts with its transfer, not with its wait.
 */
struct core_admit {
        unsigned max_running;           /* max_concurrent_calls */
        int64_t interval_us;            /* 1 s / max_calls_per_second */
        unsigned running;               /* started and not yet ended */
        int64_t due_us;                 /* when the rate allows the next start (its theoretical time) */
};

void core_admit_init(struct core_admit *a, unsigned max_running, unsigned per_second);

/* New limits (a reload): the calls under way stay counted, the pace goes on from where it is. */
void core_admit_set(struct core_admit *a, unsigned max_running, unsigned per_second);

/*
 * When the next call may start (monotonic microseconds): now_us if at once, a later time
 * if the rate holds it back, INT64_MAX while every slot is taken (only an end frees one).
 */
int64_t core_admit_when(const struct core_admit *a, int64_t now_us);

/* Start one call now, if core_admit_when allows it: true and counted, else false and nothing changed. */
bool core_admit_take(struct core_admit *a, int64_t now_us);

/* A started call ended (answered, failed, or given up). */
void core_admit_done(struct core_admit *a);

#endif
