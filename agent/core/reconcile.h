/* reconcile.h: cluster mode's verdicts when this host's token meets another's (Redis's record, a sync note, a refused push). */
#ifndef CORE_RECONCILE_H
#define CORE_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Equal tokens differ at most in generation, and the higher one wins everywhere.
 * Different tokens mean a fetch that did not reach Redis (a holder cut off, then its lease
 * gone); the later fetch is the live one, since a fetch retires the token before it.
 * Whoever holds the lease settles it with a push above both generations; a host without
 * it hands its side to the holder (a sync note). Fetch times are wall clocks of two hosts:
 * skew matters only for two fetches closer than it, never in planned use.
 */

/* This host's token. */
struct reconcile_ours {
        uint64_t generation;
        int64_t fetched_at_ms, expires_at_ms;
        bool servable;                  /* a token that has not expired */
};

/* The other side's: Redis's record, or the token a sync note carries. */
struct reconcile_theirs {
        uint64_t generation;
        int64_t fetched_at_ms, expires_at_ms;
};

enum reconcile_verdict {
        RECONCILE_NOTHING,
        RECONCILE_MIRROR_THEIRS,        /* take their token at .generation (theirs) */
        RECONCILE_THEIRS_ABOVE,         /* take their token at .generation (above both), then push it if taken */
        RECONCILE_OURS_ABOVE,           /* keep our token, at .generation (above theirs), then push it if taken */
        RECONCILE_PUSH,                 /* push our token as it is */
        RECONCILE_REPLACE,              /* push our token over a record no agent may take */
        RECONCILE_SYNC,                 /* hand our token to the holder (a sync note) */
};

struct reconcile_action {
        enum reconcile_verdict verdict;
        uint64_t generation;            /* for MIRROR_THEIRS, THEIRS_ABOVE, OURS_ABOVE; else 0 */
};

/* Redis's usable record against ours (same: the very same token). */
struct reconcile_action reconcile_record(bool holder, const struct reconcile_ours *ours,
                                         const struct reconcile_theirs *theirs, bool same);

/*
 * Redis has no record (restarted empty), or one no agent may take (unusable): the holder
 * puts back what it serves.
 */
struct reconcile_action reconcile_missing(bool holder, const struct reconcile_ours *ours, bool unusable);

/*
 * A sync note from a host whose token disagrees with Redis's: the holder keeps the later
 * fetch of the two and pushes it above both generations, so every host mirrors it. The
 * publish script keeps a later fetch already in Redis, whichever of these is pushed.
 */
struct reconcile_action reconcile_sync(bool holder, const struct reconcile_ours *ours,
                                       const struct reconcile_theirs *theirs);

/*
 * The publish script's {-3, need}: Redis holds this generation or a later one for another
 * token, so ours goes above it everywhere, at need (which the script bounded: below
 * generation_limit, above ours; anything else is not believed). A need more than step above
 * what the other hosts serve (ours - 1) is one they would refuse: RECONCILE_REPLACE.
 */
struct reconcile_action reconcile_raise(uint64_t ours_generation, long long need, uint64_t generation_limit,
                                        uint64_t step);

#endif
