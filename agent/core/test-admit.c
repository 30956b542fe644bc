/* test-admit.c: the upstream queue's admission: the cap on calls at once, the steady pace, slack for a late timer, no saved-up burst. */
#include <stdlib.h>

#include "admit.h"
#include "check.h"

#define MS 1000LL               /* the admission counts microseconds */
#define SEC (1000 * MS)

/* The cap: a slot frees only when a call ends; INT64_MAX says "wait for an end", not a time. */
static void test_cap(void) {
        struct core_admit a;

        core_admit_init(&a, 2, 1000000);
        CHECK(core_admit_take(&a, 0) && core_admit_take(&a, 10), "two slots");
        CHECK_EQ(core_admit_when(&a, 20), INT64_MAX);
        CHECK(!core_admit_take(&a, 20), "no third call while two run");
        CHECK_EQ(a.running, 2);
        core_admit_done(&a);
        CHECK(core_admit_when(&a, 30) == 30 && core_admit_take(&a, 30), "an end frees a slot");
        core_admit_done(&a);
        core_admit_done(&a);
        core_admit_done(&a); /* one more end than starts: never below zero */
        CHECK_EQ(a.running, 0);
}

/* The pace: one start per interval, the first two at once (the slack), none saved up over idle time. */
static void test_pace(void) {
        struct core_admit a;

        core_admit_init(&a, 100, 10); /* 100 ms apart */
        CHECK_EQ(a.interval_us, 100 * MS);
        CHECK(core_admit_take(&a, 0) && core_admit_take(&a, 0), "the slack: two at once");
        CHECK_EQ(core_admit_when(&a, 0), 100 * MS);
        CHECK(!core_admit_take(&a, 99 * MS), "not before its time");
        CHECK(core_admit_take(&a, 100 * MS), "at its time");
        CHECK_EQ(core_admit_when(&a, 100 * MS), 200 * MS);
        /* A minute idle: the next start is at once, but the pace is the same as after a start. */
        CHECK(core_admit_take(&a, 60 * SEC) && core_admit_take(&a, 60 * SEC), "after idle time: two at once");
        CHECK(!core_admit_take(&a, 60 * SEC), "no more: idle time is not saved up");
        CHECK_EQ(core_admit_when(&a, 60 * SEC), 60 * SEC + 100 * MS);
}

/*
 * A queue of calls drained by a loop that wakes when it is told, each wake late by late_us,
 * each call taking call_us: how many start in the first `window` microseconds, and the most
 * that started in any one second.
 */
static void drain(unsigned max_running, unsigned per_second, int64_t late_us, int64_t call_us, int calls,
                  int64_t *last_start, int *max_per_second) {
        struct core_admit a;
        int64_t now = 0, *ends = calloc((size_t)calls, sizeof(*ends)), *starts = calloc((size_t)calls, sizeof(*starts));
        int started = 0, ended = 0;

        REQUIRE(ends && starts);
        core_admit_init(&a, max_running, per_second);
        while (started < calls) {
                int64_t when;

                /* Calls answered by now end first: they free their slots. */
                while (ended < started && ends[ended] <= now) {
                        core_admit_done(&a);
                        ended++;
                }
                if (core_admit_take(&a, now)) {
                        starts[started] = now;
                        ends[started++] = now + call_us;
                        continue;
                }
                when = core_admit_when(&a, now);
                /* Every slot taken: wake at the first end; else at the pace's time, a little late. */
                now = when == INT64_MAX ? ends[ended] : when + late_us;
        }
        *last_start = starts[calls - 1];
        *max_per_second = 0;
        for (int i = 0, j = 0; i < calls; i++) {
                while (starts[i] - starts[j] >= SEC)
                        j++;
                if (i - j + 1 > *max_per_second)
                        *max_per_second = i - j + 1;
        }
        free(ends);
        free(starts);
}

/* A cold start: 10,000 calls of 150 ms at 200 a second with 32 slots leave evenly in 50 s. */
static void test_cold_start(void) {
        int64_t last;
        int most;

        drain(32, 200, 0, 150 * MS, 10000, &last, &most);
        CHECK(last >= 49 * SEC && last <= 50 * SEC, "the last start at %lld us", (long long)last);
        CHECK(most <= 201, "%d starts in one second", most);
        /* A timer late by 3 ms each time (under the 5 ms interval) costs nothing: the slack takes it. */
        drain(32, 200, 3 * MS, 150 * MS, 10000, &last, &most);
        CHECK(last >= 49 * SEC && last <= 50 * SEC, "late timer: the last start at %lld us", (long long)last);
        CHECK(most <= 201, "late timer: %d starts in one second", most);
        /* Slow answers: the cap, not the rate, sets the pace (4 slots, 1 s each: 4 a second). */
        drain(4, 200, 0, 1 * SEC, 100, &last, &most);
        CHECK(last >= 24 * SEC && last <= 25 * SEC, "capped: the last start at %lld us", (long long)last);
        CHECK(most <= 5, "capped: %d starts in one second", most);
}

/* A reload changes the limits; the calls under way stay counted. */
static void test_set(void) {
        struct core_admit a;

        core_admit_init(&a, 0, 0); /* nonsense limits are taken as the least: one call, one a second */
        CHECK_EQ(a.max_running, 1);
        CHECK_EQ(a.interval_us, SEC);
        core_admit_init(&a, 4, 2000000); /* faster than a microsecond apart: one microsecond */
        CHECK_EQ(a.interval_us, 1);
        CHECK(core_admit_take(&a, 0) && core_admit_take(&a, 1) && core_admit_take(&a, 2), "three running");
        core_admit_set(&a, 2, 10);
        CHECK_EQ(a.running, 3);
        CHECK_EQ(core_admit_when(&a, 3), INT64_MAX);
        core_admit_done(&a);
        core_admit_done(&a);
        CHECK(core_admit_take(&a, 4), "below the new cap again");
}

int main(void) {
        test_cap();
        test_pace();
        test_cold_start();
        test_set();
        return check_exit_code();
}
