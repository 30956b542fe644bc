/* agent.h: the process-wide state of wxtokend that every app shares: loop, HTTP, config, apps. */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "failed.h"
#include "http.h"
#include "namespace.h"
#include "schedule.h"
#include "upstream.h"

#define AGENT_HEARTBEAT_MS 5000         /* written into every segment; readers allow 3 intervals */
#define AGENT_HTTP_TIMEOUT_MS 10000     /* one upstream call, connection included */
/*
 * WeChat tokens and tickets live 7200 s. One rule for fetched and adopted tokens: a
 * lifetime outside [min_token_lifetime, 86400 s] is not believed.
 */
#define AGENT_TOKEN_LIFETIME_MAX_MS (UPSTREAM_LIFETIME_MAX * 1000LL)

struct app;
struct server;
struct cluster;

struct agent {
        sd_event *loop;
        struct http *http;
        struct agent_config *config;
        struct namespace ns;            /* shm_dir, locked: where every segment is made */
        struct failed_list failed;      /* items of the config that could not start, until the next reload */
        struct app **apps;
        size_t n_apps;
        struct rng rng;
        sd_event_source *heartbeat;
        struct server *server;
        struct cluster *cluster;        /* NULL outside cluster mode */
        bool ready_sent;
        bool stopping;                  /* SIGTERM/SIGINT seen; a second one ends at once */
        char status[384];               /* the last STATUS= sent to systemd */
};

/* Wall clock in Unix ms (clock_wall_ms): token expiry is wall-clock time. The agent's one place to read it. */
int64_t agent_now_ms(void);

/* An app finished its first attempt: tell systemd READY=1 once all of them have. */
void agent_app_settled(struct agent *a);

/* An item's state changed: keep systemd's one-line STATUS= current. */
void agent_state_changed(struct agent *a);

#endif
