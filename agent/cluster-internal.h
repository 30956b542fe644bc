/* cluster-internal.h: what cluster.c (leases, mirroring), cluster-conn.c (its Redis links) and the other cluster-*.c share. */
#ifndef CLUSTER_INTERNAL_H
#define CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "cluster.h"
#include "lease.h"
#include "notes.h"
#include "reconcile.h"

struct redisReply;
struct redis_link;

#define CLUSTER_LEASE_ID_MAX NOTE_NODE_MAX /* a node_id (64 at most), '/', 16 hex digits */
#define CLUSTER_NAME_MAX NOTE_NAME_MAX  /* an item's name in Redis: "token:<appid>.jsapi" */
#define CLUSTER_PROBLEM_MAX 768         /* what is wrong with a lease or record in Redis, as status shows it */

struct app;
struct item;

/* A reply to one command, NULL if the link went down first. */
typedef void (*cluster_reply_fn)(struct cluster *cl, struct redisReply *reply, void *userdata);

struct cluster {
        struct services *svc;           /* the manager's: loop, config, apps */
        struct redis_link *link;        /* commands, and the channel subscribed (agent/io/redis-link.h) */
        sd_event_source *tick;          /* leases, reconcile, the links' watchdog */
        int64_t down_since_ms;          /* wall clock; 0 while up */
        unsigned ticks;
        bool stopping;                  /* cluster_release: no claim, no call any more */
        unsigned releasing;             /* release scripts sent without an answer yet */
        void (*release_done)(void *userdata);
        void *release_userdata;
        sd_event_source *release_wait;  /* done runs by then at the latest */
        char channel[96];               /* "<prefix>:events" */
        /*
         * What this process writes as a lease's holder: "<node_id>/<random>". Two agents
         * given one node_id (a cloned host, a default hostname) still never share a lease.
         */
        char lease_id[CLUSTER_LEASE_ID_MAX];
        uint64_t notes_refused;         /* notes that failed the fleet key's check */
        int64_t notes_refused_logged_ms; /* cluster_clock_ms of the last log line about them */
};

/* The lease clock: clock_boot_ms (cluster-conn.c says why). */
int64_t cluster_clock_ms(void);

/* How long a command or a connection may take before the links are dropped and made anew. */
int64_t cluster_io_timeout_ms(const struct cluster *cl);

/* Start the tick and connect (cluster.c); cluster_new calls it. */
int cluster_start(struct cluster *cl);

/* cluster.c's side: both links are up (claim and reconcile now); a message arrived on the channel. */
void cluster_on_up(struct cluster *cl);
void cluster_on_message(struct cluster *cl, const char *msg, size_t len);

/* ---- shared by cluster.c (records, the tick), cluster-lease.c and cluster-notes.c ---- */

enum cluster_ref_what { REF_CLAIM, REF_RENEW, REF_READ, REF_RESUME, REF_PUSH, REF_NOTE, REF_RELEASE, REF_BUDGET };

/* What a reply is about, by name: the app may be gone (reload) when it arrives. */
struct cluster_ref {
        enum cluster_ref_what what;
        char name[CLUSTER_NAME_MAX];
        int64_t sent_ms;                /* cluster_clock_ms */
        cluster_reply_fn fn;            /* what gets the reply (cluster_send sets it) */
};

/* The name every agent gives an app or item in Redis ("token:wx..", "token:wx...jsapi"). */
void cluster_app_name(const struct app *app, char *buf, size_t size);
void cluster_item_name(const struct item *it, char *buf, size_t size);
struct app *cluster_find_app(struct cluster *cl, const char *name);
struct item *cluster_find_item(struct cluster *cl, const char *name);

/* A reference for a reply about name (NULL if out of memory). */
struct cluster_ref *cluster_ref_new(enum cluster_ref_what what, const char *name);

/* Send a command about ref->name; on failure the ref is freed and false returned. */
bool cluster_send(struct cluster *cl, cluster_reply_fn fn, struct cluster_ref *ref, int argc, const char **argv);

void cluster_lease_key(const struct cluster *cl, const struct app *app, char *buf, size_t size);

/* Claim (or, renew, extend) the app's lease. */
void cluster_lease_send(struct cluster *cl, struct app *app, bool renew);
void cluster_lease_lost(struct cluster *cl, struct app *app, const char *why);

/* Read the item's record from Redis (what: REF_READ, or REF_RESUME for a new holder). */
void cluster_read_item(struct cluster *cl, struct item *it, enum cluster_ref_what what);

/* One item at a tick: a new holder reads its record first, a reconcile reads it, the holder pushes
 * what changed, a non-holder forwards a refresh it is still owed (an app's token or ticket, an account). */
void cluster_item_tick(struct cluster *cl, struct item *it, bool reconcile);

/* The holder writes the item's record to Redis and tells every agent. */
void cluster_push(struct cluster *cl, struct item *it);

/* Publish a note on the channel (fire and forget). */
void cluster_note(struct cluster *cl, const char *note);


/* Ask the holder to settle a token that differs from Redis's (a "sync" note). */
void cluster_send_sync(struct cluster *cl, struct item *it);

/* The item has a token that has not expired. */
bool cluster_servable(const struct item *it);

/*
 * Set a problem's text (*slot, allocated only while there is one) to why, cut to
 * CLUSTER_PROBLEM_MAX - 1 bytes; why NULL clears it. True if that changed it.
 */
bool cluster_problem_set(char **slot, const char *why);

/* The item's token as the core's reconcile verdicts take it (agent/core/reconcile.h). */
struct reconcile_ours cluster_ours(const struct item *it);

/*
 * Carry out a reconcile verdict: mirror, push, or send a sync note. Their token (NULL for
 * the verdicts that do not take it) is Redis's record or a sync note's.
 */
void cluster_settle(struct cluster *cl, struct item *it, struct reconcile_action a, const char *token, size_t len,
                    int64_t expires_at_ms, int64_t fetched_at_ms);

int64_t cluster_tick_ms(const struct cluster *cl);

/*
 * A component's accounts and verify ticket (a suite's corps and suite_ticket) in Redis, sealed
 * (cluster-accounts.c): shared only for kind component or suite with a fleet key. Read them (resume: a new holder, which calls
 * nothing until the answer), take what is newer, put back what Redis lacks.
 */
bool cluster_accounts_shared(const struct cluster *cl, const struct app *app);
void cluster_accounts_read(struct cluster *cl, struct app *app, bool resume);

/* The tick's work for a component's accounts: the set, then each account's token (as for the app's items). */
void cluster_accounts_tick(struct cluster *cl, struct app *app, bool reconcile);

/*
 * An account's name in Redis: "authorizer:<component appid>:<its appid>" (a suite's corp:
 * "corp:<suite id>:<corpid>"); an account's ticket's: that and ".jsapi" (it->owner).
 */
void cluster_authorizer_name(const struct item *it, char *buf, size_t size);

/* An account's item by its name in Redis ("authorizer:<component appid>:<appid>", "corp:..."), NULL if none. */
struct item *cluster_find_authorizer(struct cluster *cl, const char *name);

/* Whether a name in Redis is an account's (a component's or a suite's), not an app's. */
bool cluster_is_account_name(const char *name);

#endif
