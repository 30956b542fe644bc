/* test-lease.c: the lease rules (agent/core/lease.c) over every combination of their inputs, at the boundaries. */
#include <stdio.h>

#include "lease.h"
#include "check.h"

#define LEASE 10000     /* ms: margin 200 (capped), a quarter 2500, renewals from 3333 / 2 = 1666 */
#define SHORT 1000      /* ms: margin 100 (a tenth), a quarter 250 */
#define CAP 10000       /* one HTTP call's timeout */
#define NOW 5000000

static void test_tick(void) {
        static const struct {
                int64_t lease, tick;
        } rows[] = {
                { 0, 0 }, { 2, 0 }, { 3, 1 }, { 300, 100 }, { 2999, 999 }, { 3000, 1000 }, { 3003, 1000 },
                { 30000, 1000 },
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                CHECK_EQ(lease_tick_ms(rows[i].lease), rows[i].tick);
}

static void test_deadline_expired(void) {
        CHECK_EQ(lease_deadline(NOW, LEASE), NOW + LEASE);
        for (int holder = 0; holder < 2; holder++)
                for (int64_t d = -1; d <= 1; d++) {
                        struct core_lease l = { .holder = holder, .deadline_ms = NOW };

                        /* Lost at the deadline itself: Redis's lease may end then. */
                        CHECK_EQ(lease_expired(&l, NOW + d), holder && d >= 0);
                }
}

static void test_should_send(void) {
        /* lease / 3 / 2, in integers: the same 500 for 3000..3005, 501 from 3006. */
        static const struct {
                int64_t lease, since, renew;
        } rows[] = {
                { 3000, 499, 0 }, { 3000, 500, 1 }, { 3005, 499, 0 }, { 3005, 500, 1 }, { 3006, 500, 0 },
                { 3006, 501, 1 }, { LEASE, 1665, 0 }, { LEASE, 1666, 1 }, { LEASE, 9000, 1 }, { LEASE, -5, 0 },
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                for (int holder = 0; holder < 2; holder++)
                        for (int inflight = 0; inflight < 2; inflight++) {
                                struct core_lease l = { .holder = holder, .inflight = inflight, .sent_ms = NOW };
                                bool want = !inflight && (!holder || rows[i].renew);

                                /* A claim goes at every tick; nothing goes while an answer is awaited. */
                                if (lease_should_send(&l, NOW + rows[i].since, rows[i].lease) != want) {
                                        fprintf(stderr, "row %zu holder %d inflight %d\n", i, holder, inflight);
                                        CHECK(false);
                                }
                        }
}

static void test_answers(void) {
        static const struct {
                bool holder, ours;
                enum lease_answer want;
        } renew[] = {
                { false, false, LEASE_KEEP }, { false, true, LEASE_KEEP },
                { true, false, LEASE_LOST }, { true, true, LEASE_EXTENDED },
        };
        static const struct {
                bool holder, won, stopping;
                enum lease_answer want;
        } claim[] = {
                { false, false, false, LEASE_KEEP }, { false, false, true, LEASE_KEEP },
                { false, true, false, LEASE_WON }, { false, true, true, LEASE_KEEP },
                { true, false, false, LEASE_KEEP }, { true, false, true, LEASE_KEEP },
                { true, true, false, LEASE_KEEP }, { true, true, true, LEASE_KEEP },
        };

        for (size_t i = 0; i < sizeof(renew) / sizeof(renew[0]); i++) {
                struct core_lease l = { .holder = renew[i].holder };

                CHECK_EQ(lease_on_renewal(&l, renew[i].ours), renew[i].want);
        }
        for (size_t i = 0; i < sizeof(claim) / sizeof(claim[0]); i++) {
                struct core_lease l = { .holder = claim[i].holder };

                CHECK_EQ(lease_on_claim(&l, claim[i].won, claim[i].stopping), claim[i].want);
        }
}

/* The budget with every other condition met: holder, not resuming, not quiet. */
static int64_t budget_at(int64_t lease, int64_t left_of_deadline, int64_t cap) {
        struct core_lease l = { .holder = true, .deadline_ms = NOW + left_of_deadline, .quiet_until_ms = 0 };

        return lease_call_budget(&l, NOW, lease, false, cap);
}

static void test_budget_values(void) {
        static const struct {
                int64_t lease, left, cap, budget;
        } rows[] = {
                /* margin 200; calls need a quarter (2500) left after it. */
                { LEASE, LEASE, CAP, LEASE - 200 },
                { LEASE, 2700, CAP, 2500 },
                { LEASE, 2699, CAP, 0 },
                { LEASE, 200, CAP, 0 },
                { LEASE, 0, CAP, 0 },
                { LEASE, -1, CAP, 0 },
                /* capped at one HTTP call's timeout */
                { 60000, 60000, CAP, CAP },
                { 60000, 15200, CAP, CAP },
                { 60000, 15199, CAP, 0 },
                /* a short lease: margin a tenth (100), a quarter 250 */
                { SHORT, SHORT, CAP, 900 },
                { SHORT, 350, CAP, 250 },
                { SHORT, 349, CAP, 0 },
                { 2000, 2000, CAP, 1800 },
                { 2000, 699, CAP, 0 },
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                if (budget_at(rows[i].lease, rows[i].left, rows[i].cap) != rows[i].budget) {
                        fprintf(stderr, "row %zu: %lld\n", i,
                                (long long)budget_at(rows[i].lease, rows[i].left, rows[i].cap));
                        CHECK(false);
                }
}

/*
 * Every combination of holder, resuming, quiet (before, at, after now) and lease left:
 * no call without the lease, while resuming, or in the quiet period; and a call allowed
 * always ends, margin included, before the deadline.
 */
static void test_budget_all(void) {
        static const int64_t leases[] = { 30, 1000, 2000, LEASE, 60000 };
        static const int64_t quiet[] = { -1, 0, 1 };
        unsigned allowed = 0;

        for (size_t k = 0; k < sizeof(leases) / sizeof(leases[0]); k++)
                for (int64_t left = -leases[k]; left <= 2 * leases[k]; left += leases[k] / 30 ? leases[k] / 30 : 1)
                        for (int holder = 0; holder < 2; holder++)
                                for (int resuming = 0; resuming < 2; resuming++)
                                        for (size_t q = 0; q < 3; q++) {
                                                struct core_lease l = { .holder = holder, .deadline_ms = NOW + left,
                                                                        .quiet_until_ms = NOW + quiet[q] };
                                                int64_t b = lease_call_budget(&l, NOW, leases[k], resuming, CAP);
                                                int64_t margin = leases[k] / 10 < 200 ? leases[k] / 10 : 200;

                                                CHECK(b >= 0 && b <= CAP);
                                                if (!holder || resuming || quiet[q] > 0)
                                                        CHECK_EQ(b, 0);
                                                if (b > 0) {
                                                        CHECK(NOW + b + margin <= l.deadline_ms);
                                                        CHECK(b >= (leases[k] / 4 < CAP ? leases[k] / 4 : CAP));
                                                        allowed++;
                                                }
                                        }
        /* The sweep reaches calls that are allowed, or it proves nothing. */
        CHECK(allowed > 100);
}

static void test_quiet_after_resume(void) {
        static const int64_t before[] = { 0, NOW + LEASE - 1, NOW + LEASE, NOW + LEASE + 1 };

        for (int holder = 0; holder < 2; holder++)
                for (int found = 0; found < 2; found++)
                        for (int servable = 0; servable < 2; servable++)
                                for (size_t q = 0; q < 4; q++) {
                                        struct core_lease l = { .holder = holder, .quiet_until_ms = before[q] };
                                        int64_t got = lease_quiet_after_resume(&l, found, servable, NOW, LEASE);
                                        /* Raised, never lowered, to the read's send time plus a lease. */
                                        bool raise = holder && !found && servable && before[q] < NOW + LEASE;

                                        CHECK_EQ(got, raise ? NOW + LEASE : before[q]);
                                }
}

int main(void) {
        test_tick();
        test_deadline_expired();
        test_should_send();
        test_answers();
        test_budget_values();
        test_budget_all();
        test_quiet_after_resume();
        return 0;
}
