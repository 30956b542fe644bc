/* services.h: what the manager lends the app, server and cluster modules at construction, as data and an ops table. */
#ifndef SERVICES_H
#define SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct agent_config;
struct authorizer_record;
struct app;
struct cluster;
struct core_policy;
struct failed_list;
struct http;
struct item;
struct rng;

/*
 * The outcome of the last reload (SIGHUP or the reload op), kept by the manager for the
 * reload op's answer and for status: when, whether the new config was taken, why not.
 */
struct reload_result {
        int64_t at_ms;                  /* wall clock; 0: no reload since the start */
        bool taken;
        size_t n_apps;                  /* taken: the apps running after it */
        char reason[512];               /* refused: the parse or check error (file:line where known), else "" */
};

/*
 * The manager's services, called back through this table so that nothing below the
 * manager includes it (tests/test-include-graph.sh). userdata is the manager's.
 */
struct service_ops {
        /* Something status shows changed: keep systemd's STATUS= current (deferred, once per iteration). */
        void (*changed)(void *userdata);
        /* An app's token settled (has a token, or its first attempt failed): READY=1 once all have. */
        void (*settled)(void *userdata);
        /* Cluster mode, for the apps' items (no-ops outside it): */
        void (*cluster_policy)(void *userdata, const struct app *app, struct core_policy *pol);
        int64_t (*call_budget)(void *userdata, const struct app *app);
        void (*push)(void *userdata, struct item *it);
        void (*note_failed)(void *userdata, struct item *it, const char *code, const char *message,
                            int64_t retry_after_ms);
        void (*note_verified)(void *userdata, struct item *it);
        void (*forward)(void *userdata, struct item *it);
        /* An operator's retry, handed to the app's lease holder (the caller's uid and pid for its log). */
        void (*forward_retry)(void *userdata, struct item *it, int64_t caller_uid, int64_t caller_pid);
        /* 1: asked (the count comes back as an event); 0: nothing to count; < 0: cannot ask. */
        int (*take_budget)(void *userdata, struct item *it, int64_t day, int64_t ttl_ms);
        /*
         * Cluster mode: an account of component app changed on this agent (added, replaced,
         * rotated, refused; removed: gone), or its verify ticket did: into Redis, sealed
         * (cluster-accounts.c). NULL or a no-op outside cluster mode.
         */
        void (*account_changed)(void *userdata, struct app *app, const struct authorizer_record *rec, bool removed);
        void (*ticket_changed)(void *userdata, struct app *app, const char *ticket, int64_t create_time_s);
        /* The agent's health as a Nagios code, 0..3 (the rule of `wxtokenctl status`): /healthz. */
        int (*health)(void *userdata);
        /* Reload the config now, as SIGHUP does; the outcome (also in services.last_reload). */
        const struct reload_result *(*reload)(void *userdata);
};

/* What the metrics show of the agent as a whole; kept by the manager and the server. */
struct agent_stats {
        int64_t started_at_ms;          /* wall clock */
        uint64_t reloads;               /* reloads taken */
        uint64_t connections_total;     /* control socket connections accepted */
        unsigned connections;           /* open now */
        uint64_t connections_evicted;   /* idle kept-alive connections closed for a new one (agent full) */
        bool ready;                     /* READY=1 was sent */
};

struct services {
        sd_event *loop;
        struct http *http;
        struct agent_config *config;    /* re-pointed by the manager at a reload */
        int shm_dir_fd;                 /* where every segment is made */
        struct failed_list *failed;     /* items of the config that could not start */
        struct rng *rng;
        struct app **apps;              /* the manager's apps (a slot may be NULL during a reload) */
        size_t n_apps;
        struct cluster *cluster;        /* NULL outside cluster mode */
        const struct reload_result *last_reload; /* the manager's: the last reload's outcome */
        const struct service_ops *ops;
        void *userdata;
        struct agent_stats stats;
        sd_event_source *state_sync;    /* app-persist.c: state_dir's one fsync after a burst of saves */
};

static inline void services_changed(const struct services *s) {
        s->ops->changed(s->userdata);
}

#endif
