/* cluster.h: cluster mode: one agent per app calls WeChat (a Redis lease); the others mirror it. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

struct services;
struct app;
struct item;
struct cluster;

/* Connect to the [cluster] Redis (asynchronously) if the config has one; *ret stays NULL if not. */
int cluster_new(struct cluster **ret, struct services *svc);
void cluster_free(struct cluster *cl);

/*
 * How many ms the app's next upstream call may take: APP_HTTP_TIMEOUT_MS outside
 * cluster mode; in it, what is left of this agent's lease with a margin, or 0 if this
 * agent does not hold the lease (then it must not call WeChat at all).
 */
int64_t cluster_call_budget(const struct app *app);

/* The cluster's part of an item's core policy: clustered, holder, Redis up, the tick (cl may be NULL). */
struct core_policy;
void cluster_item_policy(const struct cluster *cl, const struct app *app, struct core_policy *pol);

/* Hand this host's waiting forced refreshes of it to the holder (again from the tick while they wait). */
void cluster_forward(struct cluster *cl, struct item *it);

/* Hand an operator's retry of it to the holder: a "retry" note, once (the holder logs what it did). */
void cluster_forward_retry(struct cluster *cl, struct item *it, int64_t caller_uid, int64_t caller_pid);

/* This agent (the holder) published a token: write it to Redis and tell the others. */
void cluster_published(struct item *it);

/* The holder could not serve other hosts' forced refresh: tell them, so their clients hear it. */
void cluster_force_failed(struct item *it, const char *code, const char *message, int64_t retry_after_ms);

/* The holder's probe found the token works (verify_before_force): tell the hosts whose clients wait. */
void cluster_force_verified(struct item *it);

/*
 * A clean stop: give up every lease this agent holds (no call is made from now on), so
 * other agents take those apps at once rather than after lease_ms. 1: done(userdata)
 * runs once Redis has answered, or after a short wait at most; 0: nothing to give up.
 */
int cluster_release(struct cluster *cl, void (*done)(void *userdata), void *userdata);

/*
 * Cluster mode, on the holder: count a client-forced call of it in Redis, fleet-wide, for
 * Beijing day day (the key expires after ttl_ms). 1: asked, force_budget_counted gets the
 * count; 0: not in cluster mode (the local count is all); -ENOTCONN: Redis is unreachable.
 */
int cluster_budget_take(struct item *it, int64_t day, int64_t ttl_ms);

/* An account of component app, or its verify ticket, changed on this agent: into Redis, sealed (cluster-accounts.c). */
struct authorizer_record;
void cluster_account_changed(struct cluster *cl, struct app *app, const struct authorizer_record *rec, bool removed);
void cluster_ticket_changed(struct cluster *cl, struct app *app, const char *ticket, int64_t create_time_s);

/* For status: what is wrong with the item's record or the app's lease in Redis; NULL if nothing. */
const char *cluster_problem(const struct item *it);

/* For status: is Redis reachable, since when not, and why (struct cluster_status: protocol.h). */
void cluster_get_status(const struct cluster *cl, struct cluster_status *st);

/* The STATUS= words for the cluster: "" outside cluster mode. */
void cluster_status_text(const struct cluster *cl, char *buf, size_t size);

#endif
