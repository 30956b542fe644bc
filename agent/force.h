/* force.h: client-forced refreshes: compare-and-refresh, one upstream call for all waiters, spacing. */
#ifndef FORCE_H
#define FORCE_H

#include <stdbool.h>
#include <stdint.h>

#include "upstream.h"

struct item;
struct waiter;

/* Receives the reply line (malloc'd, ending in "\n"; the callee frees it). */
typedef void (*force_reply_fn)(void *userdata, char *line);

/* What the forced call of an item does next. */
enum force_stage {
        FORCE_NONE,
        FORCE_PROBE,    /* verify_before_force: is the published token really dead? */
        FORCE_NORMAL,   /* stable: a normal-mode call first, to adopt another host's rotation */
        FORCE_ROTATE,   /* the call that rotates (token, work; stable with force_refresh) */
};

/*
 * A client says the token of generation gen (has_gen false: the published one) failed.
 * Answers at once through reply if a newer generation is published, if the request is
 * rate limited or the waiters are too many; otherwise queues a waiter answered when the
 * next generation is published, the forced call fails, or timeout_ms passes. Returns
 * the waiter (to cancel if the client goes away) or NULL if already answered.
 */
struct waiter *force_request(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms, force_reply_fn reply,
                             void *userdata);

/* When the last of the item's waiters times out (wall clock ms); 0 if none waits. */
int64_t force_waiters_until(const struct item *it);

/* The client went away: drop its waiter without replying. */
void force_cancel(struct waiter *w);

/* The item published generation gen: answer every waiter holding an older one. */
void force_published(struct item *it);

/* The forced call failed with res: answer every waiter with upstream_failed. */
void force_failed(struct item *it, const struct upstream_result *res);

/*
 * The item's generations start again (its segment was made anew): every waiter now waits
 * for the next token, whatever its number.
 */
void force_rebase(struct item *it);

/* The item goes away (app removed, agent stopping): answer every waiter with code. */
void force_abort(struct item *it, const char *code, const char *message);

/*
 * Cluster mode, on the holder: clients on another host saw generation gen fail and wait
 * up to timeout_ms. Starts (or joins) a forced call as force_request does, waiter-less.
 */
void force_remote(struct item *it, uint64_t gen, int64_t timeout_ms);

/* Cluster mode: the holder's probe found generation gen still works: answer its waiters "verified". */
void force_remote_verified(struct item *it, uint64_t gen);

/* Cluster mode: the holder could not refresh generation gen: answer the waiters for it. */
void force_remote_failed(struct item *it, uint64_t gen, const char *code, const char *message,
                         int64_t retry_after_ms);

/* Is a forced call due? Moves FORCE_* on for item_fetch; false if none is pending. */
bool force_due(struct item *it);

/*
 * Cluster mode: Redis counted n client-forced calls of it today across the fleet (this one
 * included; n < 0: it could not count). Goes on with the forced call, or refuses it.
 */
void force_budget_counted(struct item *it, long long n);

/* The probe's answer: verified (answer waiters, no rotation) or go on to rotate. */
void force_probed(struct item *it, const struct upstream_result *res);

/* A forced call returned the token already published: go on to force (stable) or give up. */
bool force_same_token(struct item *it);

#endif
