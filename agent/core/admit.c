/* admit.c: when an upstream call waiting for a slot may start: a cap on calls at once and a steady rate; pure, the clock an input. */
#include "admit.h"

void core_admit_init(struct core_admit *a, unsigned max_running, unsigned per_second) {
        *a = (struct core_admit){ 0 };
        core_admit_set(a, max_running, per_second);
}

void core_admit_set(struct core_admit *a, unsigned max_running, unsigned per_second) {
        a->max_running = max_running > 0 ? max_running : 1;
        a->interval_us = 1000000 / (per_second > 0 ? per_second : 1);
        if (a->interval_us < 1)
                a->interval_us = 1;
}

int64_t core_admit_when(const struct core_admit *a, int64_t now_us) {
        /* One interval of slack: a start may come that much before its theoretical time. */
        int64_t at = a->due_us - a->interval_us;

        if (a->running >= a->max_running)
                return INT64_MAX;
        return at > now_us ? at : now_us;
}

bool core_admit_take(struct core_admit *a, int64_t now_us) {
        if (core_admit_when(a, now_us) > now_us)
                return false;
        a->running++;
        /* After an idle spell the pace starts from now: time not used is not saved up. */
        a->due_us = (a->due_us > now_us ? a->due_us : now_us) + a->interval_us;
        return true;
}

void core_admit_done(struct core_admit *a) {
        if (a->running > 0)
                a->running--;
}
