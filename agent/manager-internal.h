/* manager-internal.h: the manager's parts beside manager.c: the agent struct, reload, retrying what could not start, the lines about READY. */
#ifndef MANAGER_INTERNAL_H
#define MANAGER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "failed.h"
#include "namespace.h"
#include "schedule.h"
#include "services.h"
#include "status-line.h"

struct metrics_listener;
struct server;

/* What could not start is tried again every backoff_max, not only at a reload. */
struct failed_retry {
        struct services *svc;
        struct failed_list *failed;
        sd_event_source *timer;         /* armed while something failed */
};

/* The shortest time between two STATUS= lines worked out: each walks every app. */
#define STATUS_INTERVAL_US (100 * 1000)

/* How far past the last app to settle systemd's start timeout is moved while starting. */
#define START_PROGRESS_USEC (30ULL * 1000 * 1000)

/* The agent as a whole: what manager.c and its parts share. */
struct agent {
        struct services svc;            /* lent to the apps, the server and the cluster: loop, config, apps */
        struct namespace ns;            /* shm_dir, locked: where every segment is made */
        struct failed_list failed;      /* items of the config that could not start, tried every backoff_max */
        struct failed_retry retry;
        struct rng rng;
        sd_event_source *heartbeat;
        sd_event_source *status_defer;  /* STATUS= after whatever changed, at most every STATUS_INTERVAL_US */
        uint64_t status_sent_us;        /* CLOCK_MONOTONIC of the last STATUS= worked out */
        size_t settled_scan;            /* apps before this one have settled (READY's walk) */
        size_t start_progress;          /* apps settled at the last EXTEND_TIMEOUT_USEC= (before READY) */
        struct server *server;
        struct metrics_listener *metrics; /* metrics_listen's HTTP listener, NULL: off */
        bool ready_sent;
        bool stopping;                  /* SIGTERM/SIGINT seen; a second one ends at once */
        char status[STATUS_LINE_MAX]; /* the last STATUS= sent to systemd */
        struct reload_result reload;    /* the last reload's outcome (services.last_reload) */
};

/*
 * SIGHUP or the reload op (manager-reload.c): a new config replaces the old one only if
 * it loads cleanly; a->reload says how it went.
 */
void agent_reload(struct agent *a);

/* Whether config (a struct agent_config) publishes item: an app, or a ticket it has (namespace_remove_unknown). */
bool agent_item_configured(const char *item, void *config);

/*
 * After a start or a reload: stamp the new entries of r->failed (before: the list as it
 * was, NULL at the start) and arm the timer for the next try if anything failed.
 */
void failed_retry_update(struct failed_retry *r, const struct failed_list *before);

void failed_retry_free(struct failed_retry *r);

/* READY=1 (manager-ready.c): at the start, which apps it waits for; when it goes, which are fresh and which not. */
void ready_log_waiting(const struct services *svc);
void ready_log_ready(const struct services *svc, const struct failed_list *failed);

#endif
