/* cluster-internal.h: what cluster.c (leases, mirroring) and cluster-conn.c (Redis links) share. */
#ifndef CLUSTER_INTERNAL_H
#define CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <systemd/sd-event.h>

#include "cluster.h"
#include "lease.h"
#include "notes.h"
#include "reconcile.h"

struct redisReply;

#define CLUSTER_LEASE_ID_MAX NOTE_NODE_MAX /* a node_id (64 at most), '/', 16 hex digits */
#define CLUSTER_NAME_MAX NOTE_NAME_MAX  /* an item's name in Redis: "token:<appid>.jsapi" */

struct app;
struct item;

/* A reply to one command, NULL if the link went down first. */
typedef void (*cluster_reply_fn)(struct cluster *cl, struct redisReply *reply, void *userdata);

struct cluster {
        struct services *svc;           /* the manager's: loop, config, apps */
        redisAsyncContext *cmd;         /* commands and scripts */
        redisAsyncContext *sub;         /* SUBSCRIBE: a subscribed link takes no other command */
        bool cmd_ready, sub_ready;      /* authenticated and answering; subscribed */
        bool up;                        /* both ready */
        sd_event_source *tick;          /* leases, reconcile, the links' watchdog */
        sd_event_source *retry;         /* reconnect, or look at a lookup in progress */
        struct resolve *resolving;      /* the Redis host's lookup in progress, if any */
        char addr[64];                  /* the Redis host's address, numeric */
        int64_t retry_ms;               /* the next reconnect's delay; doubles to a cap */
        unsigned pending;               /* commands sent on cmd without a reply yet */
        int64_t progress_ms;            /* cluster_clock_ms: the last reply, or the first command while idle */
        int64_t connect_started_ms;     /* cluster_clock_ms */
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
        char last_error[200];
        uint64_t notes_refused;         /* notes that failed the fleet key's check */
        int64_t notes_refused_logged_ms; /* cluster_clock_ms of the last log line about them */
};

/* The lease clock: clock_boot_ms (cluster-conn.c says why). */
int64_t cluster_clock_ms(void);

/* How long a command or a connection may take before the links are dropped and made anew. */
int64_t cluster_io_timeout_ms(const struct cluster *cl);

/* (Re)connect both links; the old ones, if any, are freed first. Never from a hiredis callback. */
void cluster_connect(struct cluster *cl);

/* Drop both links (from a hiredis callback too): the retry timer frees them and reconnects. */
void cluster_link_down(struct cluster *cl, const char *why);

/* The watchdog, from the tick: a link that stopped answering is dropped. */
void cluster_link_check(struct cluster *cl);

void cluster_links_free(struct cluster *cl);

/* Send argv on the command link; fn gets the reply (or NULL). -ENOTCONN if down. */
int cluster_command(struct cluster *cl, cluster_reply_fn fn, void *userdata, int argc, const char **argv,
                    const size_t *lens);

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

/* The holder writes the item's record to Redis and tells every agent. */
void cluster_push(struct cluster *cl, struct item *it);

/* Publish a note on the channel (fire and forget). */
void cluster_note(struct cluster *cl, const char *note);


/* Ask the holder to settle a token that differs from Redis's (a "sync" note). */
void cluster_send_sync(struct cluster *cl, struct item *it);

/* The item has a token that has not expired. */
bool cluster_servable(const struct item *it);

/* The app's lease as the core's rules take it (agent/core/lease.h). */
struct core_lease cluster_lease_of(const struct app *app);

/* The item's token as the core's reconcile verdicts take it (agent/core/reconcile.h). */
struct reconcile_ours cluster_ours(const struct item *it);

/*
 * Carry out a reconcile verdict: mirror, push, or send a sync note. Their token (NULL for
 * the verdicts that do not take it) is Redis's record or a sync note's.
 */
void cluster_settle(struct cluster *cl, struct item *it, struct reconcile_action a, const char *token, size_t len,
                    int64_t expires_at_ms, int64_t fetched_at_ms);

int64_t cluster_tick_ms(const struct cluster *cl);

#endif
