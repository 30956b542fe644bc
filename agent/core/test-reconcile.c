/* test-reconcile.c: every reconcile verdict (agent/core/reconcile.c) over every order of two hosts' tokens. */
#include <limits.h>
#include <stdio.h>

#include "reconcile.h"
#include "check.h"

#define LIMIT (UINT64_C(1) << 53)

/* How theirs compares with ours, as bits so a rule can take several. */
enum { LT = 1, EQ = 2, GT = 4, ANY = 7 };

/* Which generation a verdict names. */
enum { G_NONE, G_THEIRS, G_OURS_PLUS1, G_TOP };

/*
 * The rules as a table, first match wins: each input is a bit mask of what the rule takes
 * (holder, same, servable: 1 no, 2 yes, 3 either).
 */
struct rule {
        int same, holder, servable, gen, fetched, expires;
        enum reconcile_verdict verdict;
        int which;
};

static const struct rule record_rules[] = {
        /* The same token: the higher generation, then the later expiry, wins everywhere. */
        { 2, 3, 3, GT, ANY, ANY, RECONCILE_MIRROR_THEIRS, G_THEIRS },
        { 2, 3, 3, EQ, ANY, GT, RECONCILE_MIRROR_THEIRS, G_THEIRS },
        { 2, 2, 2, LT, ANY, ANY, RECONCILE_PUSH, G_NONE },
        { 2, 3, 3, ANY, ANY, ANY, RECONCILE_NOTHING, G_NONE },
        /* Different tokens, Redis's the later fetch (or as late): it wins, above ours if need be. */
        { 1, 3, 3, GT, EQ | GT, ANY, RECONCILE_MIRROR_THEIRS, G_THEIRS },
        { 1, 2, 3, ANY, EQ | GT, ANY, RECONCILE_THEIRS_ABOVE, G_OURS_PLUS1 },
        { 1, 1, 3, ANY, EQ | GT, ANY, RECONCILE_SYNC, G_NONE },
        /* Ours the later fetch: pushed, or handed to the holder, if it can still be served. */
        { 1, 3, 1, ANY, LT, ANY, RECONCILE_NOTHING, G_NONE },
        { 1, 2, 2, ANY, LT, ANY, RECONCILE_PUSH, G_NONE },
        { 1, 1, 2, ANY, LT, ANY, RECONCILE_SYNC, G_NONE },
};

static const struct rule sync_rules[] = {
        { 3, 1, 3, ANY, ANY, ANY, RECONCILE_NOTHING, G_NONE },
        /* The asker's token is the later fetch: the holder takes it above both. */
        { 3, 2, 3, ANY, GT, ANY, RECONCILE_THEIRS_ABOVE, G_TOP },
        /* Ours is as late or later, and the asker is not behind: ours goes above both. */
        { 3, 2, 2, EQ | GT, LT | EQ, ANY, RECONCILE_OURS_ABOVE, G_TOP },
        { 3, 2, 3, ANY, ANY, ANY, RECONCILE_NOTHING, G_NONE },
};

static int rel(int64_t theirs, int64_t ours) {
        return theirs < ours ? LT : theirs == ours ? EQ : GT;
}

static const struct rule *match(const struct rule *rules, size_t n, bool same, bool holder, bool servable, int g,
                                int f, int e) {
        for (size_t i = 0; i < n; i++)
                if ((rules[i].same & (same ? 2 : 1)) && (rules[i].holder & (holder ? 2 : 1)) &&
                    (rules[i].servable & (servable ? 2 : 1)) && (rules[i].gen & g) && (rules[i].fetched & f) &&
                    (rules[i].expires & e))
                        return &rules[i];
        return NULL;
}

static uint64_t named(int which, uint64_t ours, uint64_t theirs) {
        switch (which) {
        case G_THEIRS:
                return theirs;
        case G_OURS_PLUS1:
                return ours + 1;
        case G_TOP:
                return (theirs > ours ? theirs : ours) + 1;
        default:
                return 0;
        }
}

static bool takes_theirs(enum reconcile_verdict v) {
        return v == RECONCILE_MIRROR_THEIRS || v == RECONCILE_THEIRS_ABOVE;
}

/*
 * What holds whatever the rules say: a host without the lease never writes Redis and the
 * holder never asks itself; no generation goes back; a token taken above both is above
 * both; only a servable token of ours is pushed (a sync note may carry an expired one:
 * the holder weighs it).
 */
static void check_invariants(enum reconcile_verdict v, uint64_t gen, bool holder, const struct reconcile_ours *o,
                             const struct reconcile_theirs *t, bool same) {
        if (!holder)
                CHECK(v == RECONCILE_NOTHING || v == RECONCILE_MIRROR_THEIRS || v == RECONCILE_SYNC);
        else
                CHECK(v != RECONCILE_SYNC);
        if (v == RECONCILE_MIRROR_THEIRS)
                CHECK(gen > o->generation || (same && gen == o->generation && t->expires_at_ms > o->expires_at_ms));
        if (v == RECONCILE_THEIRS_ABOVE || v == RECONCILE_OURS_ABOVE)
                CHECK(gen > o->generation && gen > t->generation);
        if (v == RECONCILE_PUSH || v == RECONCILE_OURS_ABOVE)
                CHECK(o->servable);
        /* Of two different tokens, the later fetch is the one kept or handed on. */
        if (!same && takes_theirs(v))
                CHECK(t->fetched_at_ms >= o->fetched_at_ms);
        if (v == RECONCILE_NOTHING || (v != RECONCILE_MIRROR_THEIRS && v != RECONCILE_THEIRS_ABOVE &&
                                       v != RECONCILE_OURS_ABOVE))
                CHECK_EQ(gen, 0);
}

/*
 * Every (same, holder, servable, generation, fetch, expiry) order: 216 cases for the
 * record, 108 for sync (which no expiry changes).
 */
static void test_exhaustive(bool sync) {
        static const int64_t delta[] = { -1, 0, 1 };
        const struct rule *rules = sync ? sync_rules : record_rules;
        size_t n = sync ? sizeof(sync_rules) / sizeof(sync_rules[0]) : sizeof(record_rules) / sizeof(record_rules[0]);
        unsigned cases = 0, hit[16] = { 0 };

        for (int i = 0; i < 2 * 2 * 2 * 3 * 3 * 3; i++) {
                bool same = i & 1, holder = i & 2, servable = i & 4;
                int g = i / 8 % 3, f = i / 24 % 3, e = i / 72;
                struct reconcile_ours o = { 5, 1000, 9000, servable };
                struct reconcile_theirs t = { 5 + delta[g], 1000 + delta[f], 9000 + delta[e] };
                struct reconcile_action a;
                const struct rule *r;

                if (sync && same)
                        continue; /* a sync note is about a token that differs from the holder's */
                a = sync ? reconcile_sync(holder, &o, &t) : reconcile_record(holder, &o, &t, same);
                r = match(rules, n, same, holder, servable, rel((int64_t)t.generation, (int64_t)o.generation),
                          rel(t.fetched_at_ms, o.fetched_at_ms), rel(t.expires_at_ms, o.expires_at_ms));
                CHECK(r);
                if (a.verdict != r->verdict || a.generation != named(r->which, o.generation, t.generation)) {
                        fprintf(stderr, "same %d holder %d servable %d gen %+lld fetched %+lld expires %+lld: "
                                "verdict %d gen %llu, rule %td\n", same, holder, servable, (long long)delta[g],
                                (long long)delta[f], (long long)delta[e], a.verdict,
                                (unsigned long long)a.generation, r - rules);
                        CHECK(false);
                }
                if (!sync)
                        check_invariants(a.verdict, a.generation, holder, &o, &t, same);
                hit[r - rules]++;
                cases++;
        }
        CHECK_EQ(cases, sync ? 108 : 216);
        /* Every rule is reached: a rule nothing reaches would be a rule nothing tests. */
        for (size_t i = 0; i < n; i++)
                CHECK(hit[i] > 0);
}

static void test_missing(void) {
        for (int holder = 0; holder < 2; holder++)
                for (int servable = 0; servable < 2; servable++)
                        for (int unusable = 0; unusable < 2; unusable++) {
                                struct reconcile_ours o = { 5, 1000, 9000, servable };
                                struct reconcile_action a = reconcile_missing(holder, &o, unusable);
                                enum reconcile_verdict want = !holder || !servable ? RECONCILE_NOTHING
                                                              : unusable           ? RECONCILE_REPLACE
                                                                                   : RECONCILE_PUSH;

                                CHECK_EQ(a.verdict, want);
                                CHECK_EQ(a.generation, 0);
                        }
}

static void test_raise(void) {
        static const struct {
                uint64_t ours;
                long long need;
                enum reconcile_verdict want;
        } rows[] = {
                { 5, -1, RECONCILE_NOTHING }, { 5, 0, RECONCILE_NOTHING }, { 5, 4, RECONCILE_NOTHING },
                { 5, 5, RECONCILE_NOTHING }, { 5, 6, RECONCILE_OURS_ABOVE }, { 0, 1, RECONCILE_OURS_ABOVE },
                { 0, 0, RECONCILE_NOTHING },
                /* The other hosts serve 4 and take a note up to 4 + 1000: 1004 is raised to, 1005 replaced. */
                { 5, 1004, RECONCILE_OURS_ABOVE }, { 5, 1005, RECONCILE_REPLACE }, { 5, 5000, RECONCILE_REPLACE },
                { 0, 1000, RECONCILE_OURS_ABOVE }, { 0, 1001, RECONCILE_REPLACE },
                { LIMIT - 2, (long long)LIMIT - 1, RECONCILE_OURS_ABOVE }, { LIMIT - 2, (long long)LIMIT, RECONCILE_NOTHING },
                { 5, (long long)LIMIT, RECONCILE_NOTHING }, { 5, LLONG_MAX, RECONCILE_NOTHING },
                { 5, LLONG_MIN, RECONCILE_NOTHING },
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct reconcile_action a = reconcile_raise(rows[i].ours, rows[i].need, LIMIT, 1000);

                CHECK_EQ(a.verdict, rows[i].want);
                CHECK_EQ(a.generation, rows[i].want == RECONCILE_OURS_ABOVE ? (uint64_t)rows[i].need : 0);
        }
}

/* At the top of the range the verdict names 2^53 itself: item_mirror refuses it, so nothing is pushed. */
static void test_top(void) {
        struct reconcile_ours o = { LIMIT - 1, 1000, 9000, true };
        struct reconcile_theirs t = { LIMIT - 1, 1001, 9000 };
        struct reconcile_action a = reconcile_record(true, &o, &t, false);

        CHECK_EQ(a.verdict, RECONCILE_THEIRS_ABOVE);
        CHECK(a.generation == LIMIT);
}

int main(void) {
        test_exhaustive(false);
        test_exhaustive(true);
        test_missing();
        test_raise();
        test_top();
        return 0;
}
