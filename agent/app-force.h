/* app-force.h: client-forced refreshes, the shell's side: each waiting client's connection, and the events they make. */
#ifndef APP_FORCE_H
#define APP_FORCE_H

#include <stdbool.h>
#include <stdint.h>

struct core_action;
struct item;
struct waiter;

/* Receives the reply line (malloc'd, ending in "\n"; the callee frees it). */
typedef void (*force_reply_fn)(void *userdata, char *line);

/*
 * A client says the token of generation gen (has_gen false: the published one) failed.
 * The core (agent/core/force.c) answers at once through reply (a newer generation is
 * published, the request is rate limited, too many wait), or queues a waiter answered at
 * the next generation, a failure of the forced call, or timeout_ms. Returns the waiter
 * (to cancel if the client goes away), or NULL if already answered.
 */
struct waiter *force_request(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms, force_reply_fn reply,
                             void *userdata);

/* The same, naming the client (peer credentials; -1 unknown) for the forced call's log line. */
struct waiter *force_request_from(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms,
                                  force_reply_fn reply, void *userdata, int64_t uid, int64_t pid);

/*
 * The same; with want_token a successful answer also carries the token ("token", last),
 * generation, expiry and token all taken from the segment's published slot at answer time.
 */
struct waiter *force_request_token(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms, bool want_token,
                                   force_reply_fn reply, void *userdata, int64_t uid, int64_t pid);

/*
 * An operator (uid, pid) asks for the item's next attempt now, skipping its backoff wait
 * once (agent/core/retry.c decides): the reply line (malloc'd, ending in "\n").
 */
char *force_retry(struct item *it, int64_t uid, int64_t pid);

/* The same asked on another host (node: its agent's lease id) and handed to this holder: no reply, a log line. */
void force_retry_remote(struct item *it, const char *node, int64_t uid, int64_t pid);

/* The client went away: drop its waiter without replying. */
void force_cancel(struct waiter *w);

/* When the last of the item's waiters times out (wall clock ms); 0 if none waits. */
int64_t force_waiters_until(const struct item *it);

/* Cluster mode, on the holder: clients on another host saw generation gen fail and wait up to timeout_ms. */
void force_remote(struct item *it, uint64_t gen, int64_t timeout_ms);

/* Cluster mode: the holder's probe found generation gen still works: answer its waiters "verified". */
void force_remote_verified(struct item *it, uint64_t gen);

/* Cluster mode: the holder could not refresh generation gen: answer the waiters for it. */
void force_remote_failed(struct item *it, uint64_t gen, const char *code, const char *message,
                         int64_t retry_after_ms);

/* Cluster mode: Redis counted n client-forced calls of it today across the fleet (n < 0: it could not count). */
void force_budget_counted(struct item *it, long long n);

#endif
