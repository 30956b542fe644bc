/* services.h: what the manager lends the app, server and cluster modules at construction, as data and an ops table. */
#ifndef SERVICES_H
#define SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct agent_config;
struct app;
struct cluster;
struct core_policy;
struct failed_list;
struct http;
struct item;
struct rng;

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
        /* 1: asked (the count comes back as an event); 0: nothing to count; < 0: cannot ask. */
        int (*take_budget)(void *userdata, struct item *it, int64_t day, int64_t ttl_ms);
};

/* The last SIGHUP (or socket reload): when, whether the new config was taken, and why not. */
struct reload_record {
        int64_t at_ms;                  /* wall clock; 0: no reload since the start */
        bool taken;
        size_t apps;                    /* taken: apps running after it */
        char reason[512];               /* refused: why (config_load's words), "" when taken */
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
        const struct service_ops *ops;
        void *userdata;
        int64_t started_at_ms;          /* wall clock of the agent's start */
        struct reload_record last_reload; /* written by the manager at each reload */
};

static inline void services_changed(const struct services *s) {
        s->ops->changed(s->userdata);
}

#endif
