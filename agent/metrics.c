/* metrics.c: the agent's metrics: a snapshot of its apps and items, as Prometheus text (wire/metrics-text.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "cluster.h"
#include "failed.h"
#include "metrics.h"
#include "metrics-text.h"
#ifdef HAVE_MICROHTTPD
#include "metrics-http.h"
#endif
#include "protocol.h"
#include "wxshm.h"

#define N_STATES (WXSHM_STATE_STOPPED + 2) /* the segment's states, and "failed" (could not start) */

static struct metrics_item item_of(const struct item *it) {
        struct metrics_item m = {
                .app = it->app->cfg->name,
                .item = it->name,
                .state = wxshm_state_name(it->core.state),
                .generation = it->core.generation,
                .expires_at_ms = it->core.expires_at_ms,
                .next_refresh_ms = it->core.armed ? it->core.next_at_ms : 0,
                .last_errcode = it->core.errcode,
                .forced = it->core.forced_refreshes,
                .coalesced = it->core.coalesced_waiters,
                .rate_limited = it->core.rate_limited,
                .waiters = it->core.n_waiters,
        };

        memcpy(m.results, it->core.results, sizeof(m.results));
        return m;
}

char *metrics_compose(const struct services *a, size_t *len) {
        const char *states[N_STATES];
        struct metrics_agent ag = {
                .version = PACKAGE_VERSION,
                .now_ms = clock_wall_ms(),
                .started_at_ms = a->stats.started_at_ms,
                .ready = a->stats.ready,
                .reloads = a->stats.reloads,
                .connections_total = a->stats.connections_total,
                .connections = a->stats.connections,
                .connections_evicted = a->stats.connections_evicted,
                .clustered = a->cluster != NULL,
                .states = states,
                .n_states = N_STATES,
        };
        int64_t quota_now = app_quota_now_ms();
        struct metrics_app *apps;
        struct metrics_item *items;
        char (*fapps)[96] = NULL;
        size_t n_apps = 0, n_items = 0, max_items = a->failed->n;
        char *text = NULL;

        for (int s = 0; s < N_STATES - 1; s++)
                states[s] = wxshm_state_name(s);
        states[N_STATES - 1] = "failed";
        if (a->cluster) {
                struct cluster_status cs;

                cluster_get_status(a->cluster, &cs);
                ag.redis_up = cs.connected;
        }
        for (size_t k = 0; k < a->n_apps; k++)
                max_items += a->apps[k] ? 1 + (size_t)a->apps[k]->n_tickets : 0;
        apps = calloc(a->n_apps ? a->n_apps : 1, sizeof(*apps));
        items = calloc(max_items ? max_items : 1, sizeof(*items));
        fapps = calloc(a->failed->n ? a->failed->n : 1, sizeof(*fapps));
        if (!apps || !items || !fapps)
                goto out;
        for (size_t k = 0; k < a->n_apps; k++) {
                const struct app *app = a->apps[k];
                struct metrics_app *m = &apps[n_apps++];

                if (!app) {
                        n_apps--;
                        continue;
                }
                *m = (struct metrics_app){ .app = app->cfg->name, .holder = app->lease_holder,
                                           .is_holder = app->lease.holder,
                                           .endpoints = quota_mask_of(app->cfg->kind, 0) };
                for (int t = 0; t < app->n_tickets; t++)
                        m->endpoints |= quota_mask_of(app->cfg->kind, app->tickets[t].ticket);
                /* Its accounts' tickets are counted with the platform's calls (app-account-tickets.c). */
                for (unsigned t = 1; t != 0 && t <= app->cfg->account_tickets; t <<= 1)
                        if (app->cfg->account_tickets & t)
                                m->endpoints |= quota_mask_of(app->cfg->kind, t);
                for (int e = 0; e < QUOTA_ENDPOINT_MAX; e++)
                        m->calls_today[e] = quota_today(&app->quota, e, quota_now);
                m->platform = app->component != NULL;
                m->ticket_alarm = app_component_alarm(app, ag.now_ms, &m->ticket_usable, &m->ticket_age_s);
                items[n_items++] = item_of(&app->token);
                for (int t = 0; t < app->n_tickets; t++)
                        items[n_items++] = item_of(&app->tickets[t]);
        }
        /* What could not start shows as "failed", with no numbers: the log and status say why. */
        for (size_t f = 0; f < a->failed->n; f++) {
                const struct failed_item *x = &a->failed->v[f];

                /* A ticket's app is the part of its name before the dot. */
                snprintf(fapps[f], sizeof(fapps[f]), "%.*s", (int)strcspn(x->name, "."), x->name);
                items[n_items++] = (struct metrics_item){ .app = fapps[f], .item = x->name, .state = "failed" };
        }
        text = metrics_text(&ag, apps, n_apps, items, n_items, len);
out:
        free(apps);
        free(items);
        free(fapps);
        return text;
}

#ifdef HAVE_MICROHTTPD
struct metrics_listener {
        struct metrics_http *http;
        char *address;
};

static char *listener_text(void *userdata, size_t *len) {
        return metrics_compose(userdata, len);
}

static int listener_health(void *userdata) {
        const struct services *a = userdata;

        return a->ops->health(a->userdata);
}

static bool listener_ready(void *userdata) {
        const struct services *a = userdata;

        return a->stats.ready;
}

static const struct metrics_http_ops listener_ops = {
        .text = listener_text,
        .health = listener_health,
        .ready = listener_ready,
};

int metrics_listener_apply(struct metrics_listener **l, struct services *a, char *err, size_t err_size) {
        const char *want = a->config->metrics_listen;
        struct metrics_listener *n;
        int r;

        if (*l && want && !strcmp((*l)->address, want))
                return 0;
        if (!want) {
                metrics_listener_free(*l);
                *l = NULL;
                return 0;
        }
        n = calloc(1, sizeof(*n));
        if (!n || !(n->address = strdup(want))) {
                free(n);
                snprintf(err, err_size, "metrics_listen: out of memory");
                return -ENOMEM;
        }
        /* The old address is let go first: a reload that keeps the port but changes the host may need it. */
        metrics_listener_free(*l);
        *l = NULL;
        r = metrics_http_new(&n->http, a->loop, want, &listener_ops, a, err, err_size);
        if (r < 0) {
                free(n->address);
                free(n);
                return r;
        }
        *l = n;
        return 0;
}

void metrics_listener_free(struct metrics_listener *l) {
        if (!l)
                return;
        metrics_http_free(l->http);
        free(l->address);
        free(l);
}
#else
int metrics_listener_apply(struct metrics_listener **l, struct services *a, char *err, size_t err_size) {
        return 0; /* config-keys.c refuses metrics_listen in a build without libmicrohttpd */
}

void metrics_listener_free(struct metrics_listener *l) {
}
#endif
