/* status.c: the status reply: one page of the agent's items, cheap whatever their number. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "failed.h"
#include "cluster.h"
#include "protocol.h"
#include "schedule.h"
#include "status.h"
#include "verdict.h"
#include "wxshm.h"

/* A platform's token: whether its pushed ticket is in alarm (app-component.c). */
static bool ticket_alarm_of(const struct app *app, const struct item *it, int64_t now_ms) {
        int64_t age;
        bool has;

        return it == &app->token && app->component && app_component_alarm(app, now_ms, &has, &age);
}

/* What the verdict knows of a running item. */
static struct verdict_item verdict_of(const struct app *app, const struct item *it, int64_t now_ms) {
        return (struct verdict_item){
                .name = it->name,
                .state = it->core.state,
                .failure = it->core.failure,
                .errcode = it->core.errcode,
                .generation = it->core.generation,
                .expires_at_ms = it->core.expires_at_ms,
                .margin_ms = schedule_margin(it->ticket ? APP_KIND_TOKEN : app->cfg->kind, app->cfg->refresh_margin_ms,
                                             it->core.lifetime_ms),
                .started_at_ms = it->started_at_ms,
                .quota_permille = item_quota_permille(it),
                .ticket_alarm = ticket_alarm_of(app, it, now_ms),
        };
}

static struct verdict_item verdict_of_failed(const struct failed_item *x) {
        return (struct verdict_item){ .name = x->name, .failed_to_start = true };
}

static struct status_entry entry_of(const struct services *a, const struct app *app, const struct item *it) {
        return (struct status_entry){
                .name = it->name,
                .kind = it->ticket ? "ticket" : app_kind_name(app->cfg->kind),
                .generation = it->core.generation,
                .expires_at_ms = it->core.expires_at_ms,
                .fetched_at_ms = it->core.fetched_at_ms,
                .next_refresh_ms = it->core.next_at_ms,
                .state = wxshm_state_name(it->core.state),
                .last_errcode = it->core.errcode,
                .last_errmsg = it->core.last_errmsg,
                .upstream_calls = it->core.calls,
                .forced_refreshes = it->core.forced_refreshes,
                .coalesced_waiters = it->core.coalesced_waiters,
                .rate_limited = it->core.rate_limited,
                .forced_today = budget_today(&it->core.budget, app_quota_now_ms()),
                .forced_cap = item_forced_cap(it),
                .holder = a->cluster ? app->lease_holder : NULL,
                .is_holder = app->lease.holder,
                .cluster_problem = a->cluster ? cluster_problem(it) : NULL,
                .state_since_ms = it->shown_since_ms,
                .attempts = it->core.attempt,
                .last_error_at_ms = it->last_error_at_ms,
                .errcode_meaning = classify_meaning(it->core.errcode),
                .advice = it->core.failure != FAILURE_NONE || it->core.awaiting_ticket ? it->core.advice : "",
        };
}

/* x is name, or a ticket of the app called name. */
static bool failed_matches(const struct failed_item *x, const char *name) {
        size_t len = strlen(name);

        return strncmp(x->name, name, len) == 0 && (x->name[len] == '\0' || x->name[len] == '.');
}

static bool failed_named(const struct services *a, const char *name) {
        for (size_t f = 0; f < a->failed->n; f++)
                if (failed_matches(&a->failed->v[f], name))
                        return true;
        return false;
}

/* The item at index i of app (0: the token, then its tickets). */
static const struct item *item_at(const struct app *app, int i) {
        return i == 0 ? &app->token : &app->tickets[i - 1];
}

char *status_reply(struct services *a, const struct request *req, const struct status_server *server) {
        const struct app *only = NULL;
        const struct item *one = NULL;
        struct cluster_status cs;
        struct status_agent agent;
        struct verdict v;
        char summary[VERDICT_SUMMARY_MAX];
        int64_t now = clock_wall_ms();
        struct status_entry *e;
        struct status_component *comp;
        size_t n = 0, bytes = 0, first = 0, k;
        uint64_t skip = req->offset;
        int64_t next = -1;
        bool failed_only = false;
        char *line;
        int i = 0;

        if (req->has_app) {
                one = app_find_item(a, req->app);
                if (one && !one->ticket)
                        only = one->app, one = NULL;
                else if (one)
                        only = one->app;
                else if (failed_named(a, req->app))
                        failed_only = true;
                else
                        return protocol_error(PROTO_E_UNKNOWN_APP, "no such app or ticket in the configuration", -1);
        }
        e = calloc(req->limit, sizeof(*e));
        comp = calloc(req->limit, sizeof(*comp));
        if (!e || !comp) {
                free(e);
                free(comp);
                return NULL;
        }
        /* Skip whole apps first: a page deep into 10,000 apps costs a walk over pointers, nothing more. */
        for (k = failed_only ? a->n_apps : 0; k < a->n_apps; k++) {
                const struct app *app = a->apps[k];
                uint64_t items;

                if (!app || (only && app != only))
                        continue;
                items = one ? 1 : 1 + (uint64_t)app->n_tickets;
                if (skip < items) {
                        first = k;
                        i = (int)skip;
                        skip = 0;
                        break;
                }
                skip -= items;
        }
        if (skip > 0 || k == a->n_apps)
                first = a->n_apps; /* past the apps: into the failed items, or an empty last page */
        else
                skip = 0;
        for (k = first; k < a->n_apps; k++, i = 0) {
                const struct app *app = a->apps[k];

                if (!app || (only && app != only))
                        continue;
                for (; i <= (one ? 0 : app->n_tickets); i++) {
                        const struct item *it = one ? one : item_at(app, i);

                        if (n == req->limit || (n > 0 && bytes >= PROTOCOL_STATUS_BYTES)) {
                                next = (int64_t)(req->offset + n);
                                goto done;
                        }
                        e[n] = entry_of(a, app, it);
                        if (app->component && !it->ticket) {
                                app_component_status(app, &comp[n], now);
                                e[n].component = &comp[n];
                        }
                        {
                                struct verdict_item vi = verdict_of(app, it, now);

                                e[n].verdict = (int)verdict_item(&vi, now, &e[n].verdict_reason);
                        }
                        bytes += protocol_status_entry_size(&e[n]);
                        n++;
                }
        }
        /* Then what could not start, after every running item, so that paging stays stable. */
        for (size_t f = 0; f < a->failed->n; f++) {
                const struct failed_item *x = &a->failed->v[f];

                if (req->has_app && !failed_matches(x, req->app))
                        continue;
                if (skip > 0) {
                        skip--;
                        continue;
                }
                if (n == req->limit || (n > 0 && bytes >= PROTOCOL_STATUS_BYTES)) {
                        next = (int64_t)(req->offset + n);
                        goto done;
                }
                e[n] = (struct status_entry){ .name = x->name, .kind = x->kind, .state = "failed",
                                              .last_errcode = 0, .last_errmsg = x->why,
                                              .next_refresh_ms = x->next_at_ms, .state_since_ms = x->since_ms,
                                              .attempts = x->attempts, .last_error_at_ms = x->last_at_ms,
                                              .errcode_meaning = "",
                                              .advice = "retried every backoff_max, and at a reload" };
                {
                        struct verdict_item vi = verdict_of_failed(x);

                        e[n].verdict = (int)verdict_item(&vi, now, &e[n].verdict_reason);
                }
                bytes += protocol_status_entry_size(&e[n]);
                n++;
        }
done:
        if (a->cluster)
                cluster_get_status(a->cluster, &cs);
        /* The verdict covers every item the request names, not only this page: any page tells the whole. */
        status_verdict(a, req->has_app ? req->app : NULL, now, &v);
        verdict_summary(&v, summary, sizeof(summary));
        agent = (struct status_agent){
                .version = PACKAGE_VERSION,
                .pid = (long)getpid(),
                .started_at_ms = a->stats.started_at_ms,
                .config = a->config->path,
                .reload_at_ms = a->last_reload->at_ms,
                .reload_taken = a->last_reload->taken,
                .reload_apps = a->last_reload->n_apps,
                .reload_reason = a->last_reload->reason,
                .verdict = (int)v.code,
                .verdict_summary = summary,
        };
        line = protocol_status_page(e, n, a->cluster ? &cs : NULL, next, server, &agent);
        free(e);
        free(comp);
        return line;
}

void status_verdict(const struct services *a, const char *only, int64_t now_ms, struct verdict *v) {
        const struct item *one = only ? app_find_item(a, only) : NULL;
        size_t apps = 0;

        verdict_init(v);
        for (size_t k = 0; k < a->n_apps; k++) {
                const struct app *app = a->apps[k];

                /* only names an app that could not start: no running app is its. */
                if (!app || (one && one->app != app) || (only && !one))
                        continue;
                apps++;
                for (int i = 0; i <= app->n_tickets; i++) {
                        const struct item *it = item_at(app, i);
                        struct verdict_item x;

                        if (one && one->ticket && it != one)
                                continue;
                        x = verdict_of(app, it, now_ms);
                        verdict_add(v, &x, now_ms, NULL);
                }
                /* An account's ticket, named: not among the app's own items. */
                if (one && one->owner) {
                        struct verdict_item x = verdict_of(app, one, now_ms);

                        verdict_add(v, &x, now_ms, NULL);
                }
        }
        for (size_t f = 0; f < a->failed->n; f++) {
                const struct failed_item *x = &a->failed->v[f];
                struct verdict_item fx;

                if (only && !failed_matches(x, only))
                        continue;
                /* An app whose token could not start counts as an app; a ticket that could not, only as an item. */
                if (!strchr(x->name, '.'))
                        apps++;
                fx = verdict_of_failed(x);
                verdict_add(v, &fx, now_ms, NULL);
        }
        verdict_finish(v, only ? (apps ? apps : 1) : a->config->n_apps);
}
