/* app.h: one configured app: its token and tickets, each kept fresh in its own segment. */
#ifndef APP_H
#define APP_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "classify.h"
#include "force.h"
#include "upstream.h"
#include "writer.h"

struct app;

/*
 * One published item: the access token ("shop") or a ticket ("shop.jsapi"). Each has
 * its own segment, schedule, in-flight call and failure state.
 */
struct item {
        struct app *app;
        enum ticket_type ticket;        /* 0: the access token */
        char name[96];
        wxshm_writer *seg;
        sd_event_source *timer;
        struct http_call *call;
        unsigned attempt;               /* consecutive failures */
        int api_index;                  /* api_base in use; moves on after a transient failure */
        long errcode;                   /* of the last call, 0 if it succeeded */
        enum failure_class failure;
        int state;                      /* enum wxshm_state */
        bool settled;                   /* has a token, or its first attempt failed */
        char value[UPSTREAM_TOKEN_MAX + 1];
        size_t value_len;
        uint64_t generation;            /* 0: none yet */
        int64_t expires_at_ms;
        int64_t fetched_at_ms;
        int64_t lifetime_ms;
        int64_t next_at_ms;             /* next scheduled call */
        uint64_t calls;                 /* upstream calls made */
        char last_errmsg[UPSTREAM_ERRMSG_MAX]; /* of the last failure, for status */
        char advice[512];               /* what the operator should do about it */
        int64_t failing_since_ms;       /* when the present failure began */
        int save_error;                 /* errno of the last state file write if it failed, else 0 */

        /* Client-forced refreshes (force.c). */
        struct waiter *waiters;         /* answered at the next generation, a failure or their timeout */
        unsigned n_waiters;
        enum force_stage force_stage;   /* FORCE_NONE: no forced call pending or running */
        int64_t forced_at_ms;           /* start of the last client-forced upstream call */
        int64_t forced_day;             /* Beijing day of forced_today (budget.c) */
        unsigned forced_today;          /* client-forced upstream calls that day, capped by max_forced_per_day */
        int64_t quota_day;              /* Beijing day upstream answered 45009: no forced call that day */
        bool budget_asked;              /* cluster mode: the fleet-wide count is being taken in Redis */
        bool budget_granted;            /* cluster mode: Redis counted the forced call within the cap */
        uint64_t forced_refreshes, coalesced_waiters, rate_limited;

        /* Cluster mode (cluster.c). */
        int64_t remote_until_ms;        /* holder: other hosts' clients wait for a forced refresh until then */
        uint64_t forwarded_gen;         /* a forced refresh of this generation was handed to the holder */
        int64_t forwarded_at_ms;        /* cluster_clock_ms */
        bool cluster_dirty;             /* holder: published here, not yet in Redis */
        bool cluster_resume;            /* holder: read Redis, then schedule the next refresh */
        char cluster_problem[768];      /* what is wrong with the record in Redis, "" if nothing */
};

struct app {
        struct agent *agent;
        const struct app_config *cfg;   /* points into agent->config, re-pointed on reload */
        struct item token;
        struct item tickets[2];
        int n_tickets;

        /* Cluster mode (cluster.c): the app's lease in Redis. */
        bool holder;                    /* this agent holds it: it alone calls WeChat for the app */
        bool lease_inflight;            /* a claim or renewal awaits its answer */
        int64_t lease_deadline_ms;      /* cluster_clock_ms: the lease surely lasts until then */
        int64_t lease_sent_ms;          /* cluster_clock_ms: the last claim or renewal sent */
        int64_t quiet_until_ms;         /* cluster_clock_ms: no WeChat call before (a lease Redis lost) */
        char lease_holder[96];          /* the holder's node id as last seen, "" if unknown */
        char lease_problem[768];        /* what is wrong with the lease key in Redis, "" if nothing */
};

/*
 * Open the app's segments, adopt a token from them or from the state file if one is
 * still good, and schedule the first call. With fresh, adopt nothing (the appid or kind
 * changed): fetch now.
 */
int app_new(struct app **ret, struct agent *a, const struct app_config *cfg, bool fresh);

/* False if a ticket of the app's configuration could not start (its failure is in agent->failed). */
bool app_complete(const struct app *app);

/* Stop the app's calls and timers and close its segments; retire them if it was removed. */
void app_free(struct app *app, bool retire);

/*
 * Take a changed config without a restart where the segments stay as they are (secret,
 * api_base, ca_file, refresh_margin). False if appid, kind, group or tickets changed:
 * then the app must be freed and made anew.
 */
bool app_reconfigure(struct app *app, const struct app_config *cfg);

/* Retire the segments of the app's tickets whose type is not in keep (they were dropped). */
void app_retire_tickets(struct app *app, unsigned keep);

/* The agent is stopping: mark the segments stopped (readers keep the token until it expires). */
void app_stop(struct app *app);

void app_heartbeat(struct app *app, int64_t now_ms);

/* The item called name ("shop" or "shop.jsapi") among the agent's apps, or NULL. */
struct item *agent_find_item(struct agent *a, const char *name);

/* Write the item's token and budget to its state file (fetched_at_ms: when the token was fetched). */
void item_save(struct item *it, int64_t fetched_at_ms);

/* Start the item's next call now (force.c uses it to run a forced call). */
void item_fetch_at(struct item *it, int64_t at_ms);

/*
 * Cluster mode: publish the token another agent fetched (read from Redis) with its
 * global generation. Ignored, with a log line, if its times are implausible (or it
 * cannot be published): false then.
 */
bool item_mirror(struct item *it, const char *token, size_t len, uint64_t generation, int64_t expires_at_ms,
                 int64_t fetched_at_ms);

/* Whether a token fetched now could be published (a generation can follow): never call WeChat for one that could not. */
bool item_can_publish(const struct item *it);

/*
 * Retire the item's segment and make it anew, empty (its generation can go no higher):
 * readers re-open the name. 0, or -errno.
 */
int item_segment_renew(struct item *it);

/* Cluster mode: this agent became the holder: schedule the next refresh (now if there is no token). */
void item_cluster_resume(struct item *it);

#endif
