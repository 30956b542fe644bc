/* metrics-text.h: the Prometheus text exposition (format 0.0.4) of a snapshot of the agent: pure, libc only. */
#ifndef METRICS_TEXT_H
#define METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quota.h"

/* One token or ticket as the exposition shows it; no token, no secret. */
struct metrics_item {
        const char *app, *item;         /* "shop", "shop.jsapi" */
        const char *state;              /* one of metrics_agent.states */
        uint64_t generation;            /* 0: none yet (no expiry then) */
        int64_t expires_at_ms;
        int64_t next_refresh_ms;        /* wall clock; <= 0: none scheduled */
        uint64_t results[4];            /* upstream answers: ok, transient, config, quota */
        long last_errcode;
        uint64_t forced, coalesced, rate_limited;
        unsigned waiters;
};

/* One app: its calls today per endpoint, and its lease in cluster mode. */
struct metrics_app {
        const char *app;
        uint64_t calls_today[QUOTA_ENDPOINT_MAX];
        unsigned endpoints;             /* bit per endpoint the app calls: only those are shown */
        const char *holder;             /* cluster mode: the lease holder's node id, "" if unknown */
        bool is_holder;
        bool platform;                  /* a component or suite: its pushed ticket's age and alarm are shown */
        bool ticket_usable;             /* a ticket the next call may use: its age is shown */
        int64_t ticket_age_s;
        bool ticket_alarm;              /* core/ticket-alarm.h */
};

struct metrics_agent {
        const char *version;
        int64_t now_ms;                 /* wall clock: "seconds until refresh" counts from it */
        int64_t started_at_ms;
        bool ready;                     /* READY=1 was sent */
        uint64_t reloads;               /* reloads taken */
        uint64_t connections_total;     /* control socket connections accepted */
        unsigned connections;           /* open now */
        uint64_t connections_evicted;   /* idle kept-alive connections closed for a new one */
        bool clustered;
        bool redis_up;
        const char *const *states;      /* every state name, one series each */
        size_t n_states;
};

/*
 * The whole exposition, malloc'd and NUL-terminated (*len without the NUL), or NULL if
 * out of memory. Families in a fixed order, each with HELP and TYPE, its samples
 * together; label values escaped per the format.
 */
char *metrics_text(const struct metrics_agent *ag, const struct metrics_app *apps, size_t n_apps,
                   const struct metrics_item *items, size_t n_items, size_t *len);

/* Append s to out as a label value (backslash, double quote and newline escaped); out has room for 2 * strlen(s) + 1. */
void metrics_escape_label(char *out, const char *s);

#endif
