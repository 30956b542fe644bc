/* status.c: the status reply: one page of the agent's items, cheap whatever their number. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "failed.h"
#include "cluster.h"
#include "protocol.h"
#include "status.h"
#include "wxshm.h"

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
        struct status_entry *e;
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
        if (!e)
                return NULL;
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
                                              .last_errcode = 0, .last_errmsg = x->why };
                bytes += protocol_status_entry_size(&e[n]);
                n++;
        }
done:
        if (a->cluster)
                cluster_get_status(a->cluster, &cs);
        line = protocol_status_ok(e, n, a->cluster ? &cs : NULL, next, server);
        free(e);
        return line;
}
