/* reconcile.c: cluster mode's verdicts when two hosts' tokens meet, pure. */
#include "reconcile.h"

static struct reconcile_action verdict(enum reconcile_verdict v, uint64_t generation) {
        return (struct reconcile_action){ v, generation };
}

struct reconcile_action reconcile_record(bool holder, const struct reconcile_ours *ours,
                                         const struct reconcile_theirs *theirs, bool same) {
        if (same) {
                if (theirs->generation > ours->generation ||
                    (theirs->generation == ours->generation && theirs->expires_at_ms > ours->expires_at_ms))
                        return verdict(RECONCILE_MIRROR_THEIRS, theirs->generation);
                if (holder && theirs->generation < ours->generation && ours->servable)
                        return verdict(RECONCILE_PUSH, 0);
                return verdict(RECONCILE_NOTHING, 0);
        }
        if (theirs->fetched_at_ms >= ours->fetched_at_ms) {
                /* Redis's token is the later fetch. */
                if (theirs->generation > ours->generation)
                        return verdict(RECONCILE_MIRROR_THEIRS, theirs->generation);
                /* Pushed only if taken: a refused one (times implausible) would be read back, forever. */
                if (holder)
                        return verdict(RECONCILE_THEIRS_ABOVE, ours->generation + 1);
                return verdict(RECONCILE_SYNC, 0);
        }
        /* Ours is the later fetch. */
        if (!ours->servable)
                return verdict(RECONCILE_NOTHING, 0);
        return verdict(holder ? RECONCILE_PUSH : RECONCILE_SYNC, 0);
}

struct reconcile_action reconcile_missing(bool holder, const struct reconcile_ours *ours, bool unusable) {
        if (!holder || !ours->servable)
                return verdict(RECONCILE_NOTHING, 0);
        return verdict(unusable ? RECONCILE_REPLACE : RECONCILE_PUSH, 0);
}

struct reconcile_action reconcile_sync(bool holder, const struct reconcile_ours *ours,
                                       const struct reconcile_theirs *theirs) {
        uint64_t top = (theirs->generation > ours->generation ? theirs->generation : ours->generation) + 1;

        if (!holder)
                return verdict(RECONCILE_NOTHING, 0);
        /* A token not taken here (times implausible) is not pushed: the asker would only ask again. */
        if (theirs->fetched_at_ms > ours->fetched_at_ms)
                return verdict(RECONCILE_THEIRS_ABOVE, top);
        if (theirs->generation >= ours->generation && ours->servable)
                return verdict(RECONCILE_OURS_ABOVE, top);
        /* The asker is behind, and catches up by mirroring what Redis has. */
        return verdict(RECONCILE_NOTHING, 0);
}

struct reconcile_action reconcile_raise(uint64_t ours_generation, long long need, uint64_t generation_limit,
                                        uint64_t step) {
        if (need <= 0 || (uint64_t)need >= generation_limit || (uint64_t)need <= ours_generation)
                return verdict(RECONCILE_NOTHING, 0);
        /*
         * The script bounds the record it weighs by the generation pushed, but the other hosts
         * take a "pub" note only up to step above what they serve, which is one below ours until
         * they mirror it: a raise past that would publish a generation nobody else takes, and
         * their clients would wait in vain. Such a record is as good as poison: replaced.
         */
        if ((uint64_t)need > ours_generation - (ours_generation > 0) + step)
                return verdict(RECONCILE_REPLACE, 0);
        return verdict(RECONCILE_OURS_ABOVE, (uint64_t)need);
}
