/* manager-reload.c: SIGHUP and the reload op: a new config taken whole or refused with why, apps kept, changed, added or retired. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "app.h"
#include "authorizer-file.h"
#include "clock.h"
#include "cluster.h"
#include "http.h"
#include "log.h"
#include "manager-internal.h"
#include "metrics.h"

/* A running app's name and place: sorted, the new config's apps find theirs by bsearch. */
struct by_name {
        const char *name;
        size_t i;
};

static int by_name_cmp(const void *x, const void *y) {
        return strcmp(((const struct by_name *)x)->name, ((const struct by_name *)y)->name);
}

/*
 * The running apps sorted by name (names of the old config, alive until the reload
 * ends), *n of them; NULL: out of memory.
 */
static struct by_name *agent_index_apps(const struct agent *a, size_t *n) {
        struct by_name *v = malloc((a->svc.n_apps ? a->svc.n_apps : 1) * sizeof(*v));

        *n = 0;
        if (!v)
                return NULL;
        for (size_t i = 0; i < a->svc.n_apps; i++)
                if (a->svc.apps[i])
                        v[(*n)++] = (struct by_name){ a->svc.apps[i]->cfg->name, i };
        qsort(v, *n, sizeof(*v), by_name_cmp);
        return v;
}

/* Take the running app called name out of the list: a reload of 10,000 apps does not compare every pair. */
static struct app *agent_take_app(struct agent *a, const struct by_name *index, size_t n_index, const char *name) {
        const struct by_name key = { name, 0 }, *hit;
        struct app *app;

        if (!index) {
                for (size_t i = 0; i < a->svc.n_apps; i++) {
                        app = a->svc.apps[i];
                        if (app && strcmp(app->cfg->name, name) == 0) {
                                a->svc.apps[i] = NULL;
                                return app;
                        }
                }
                return NULL;
        }
        hit = bsearch(&key, index, n_index, sizeof(*index), by_name_cmp);
        if (!hit)
                return NULL;
        app = a->svc.apps[hit->i];
        a->svc.apps[hit->i] = NULL;
        return app;
}

/* "APPID.TYPE": a ticket of the platform's account APPID, of a type its authorizer_tickets or corp_tickets has. */
static bool account_ticket_configured(const char *state_dir, const struct app_config *app, const char *rest) {
        const char *dot = strchr(rest, '.');
        char appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1];
        bool type = false;

        if (!dot || (size_t)(dot - rest) >= sizeof(appid))
                return false;
        for (unsigned t = 1; t != 0 && t <= app->account_tickets; t <<= 1)
                type = type || ((app->account_tickets & t) && strcmp(dot + 1, ticket_type_name((enum ticket_type)t)) == 0);
        memcpy(appid, rest, (size_t)(dot - rest));
        appid[dot - rest] = '\0';
        return type && authorizer_file_has(state_dir, app->name, appid);
}

bool agent_item_configured(const char *item, void *config) {
        const struct agent_config *c = config;
        const char *dot = strchr(item, '.');
        size_t n = dot ? (size_t)(dot - item) : strlen(item);

        for (size_t i = 0; i < c->n_apps; i++) {
                const struct app_config *app = &c->apps[i];

                if (strncmp(app->name, item, n) != 0 || app->name[n] != '\0')
                        continue;
                if (!dot)
                        return true;
                /* An account authorized to a component at run time: listed in state_dir, not in the config. */
                if (app_kind_platform(app->kind) && authorizer_file_has(c->state_dir, app->name, dot + 1))
                        return true;
                if (app_kind_platform(app->kind) && account_ticket_configured(c->state_dir, app, dot + 1))
                        return true;
                /* Every ticket bit the app has, whatever types a later version adds: a list here went stale once. */
                for (unsigned t = 1; t != 0 && t <= app->tickets; t <<= 1)
                        if ((app->tickets & t) && strcmp(dot + 1, ticket_type_name((enum ticket_type)t)) == 0)
                                return true;
                return false;
        }
        return false;
}

static bool agent_settings_equal(const struct agent_config *x, const struct agent_config *y) {
        return strcmp(x->shm_dir, y->shm_dir) == 0 && strcmp(x->state_dir, y->state_dir) == 0 &&
               cluster_config_equal(&x->cluster, &y->cluster);
}

/*
 * SIGHUP: a new config replaces the old one only if it loads cleanly. Unchanged apps
 * keep running untouched, changed ones restart (adopting their own token unless the
 * appid or kind changed), removed ones (and dropped tickets) have their segments marked
 * removed and unlinked.
 */
void agent_reload(struct agent *a) {
        struct agent_config *next;
        struct by_name *index;
        struct app **apps;
        size_t n = 0, n_index;
        char *err = a->reload.reason;
        char listen_err[256];
        struct failed_list before;
        int r;

        _Static_assert(sizeof(a->reload.reason) >= CONFIG_ERROR_MAX, "room for config_load's message");
        a->reload = (struct reload_result){ .at_ms = clock_wall_ms() };
        sd_notify(false, "RELOADING=1");
        r = config_load(a->svc.config->path, &next, err, sizeof(a->reload.reason));
        if (r < 0 || !agent_settings_equal(a->svc.config, next)) {
                if (r == 0) {
                        snprintf(err, sizeof(a->reload.reason), "shm_dir, state_dir and [cluster] cannot change on reload: "
                                 "restart");
                        config_free(next);
                }
                log_error("reload refused, the running configuration stays: %s", err);
                sd_notify(false, "READY=1");
                return;
        }
        apps = calloc(next->n_apps ? next->n_apps : 1, sizeof(*apps));
        if (!apps) {
                config_free(next);
                snprintf(err, sizeof(a->reload.reason), "out of memory");
                log_error("reload refused: out of memory");
                sd_notify(false, "READY=1");
                return;
        }
        /* Out of memory for it, apps are found the slow way. */
        index = agent_index_apps(a, &n_index);
        /* Whatever could not start is tried again below, and listed again (since when kept) if it still cannot. */
        before = a->failed;
        a->failed = (struct failed_list){ .v = NULL };
        for (size_t i = 0; i < next->n_apps; i++) {
                const struct app_config *cfg = &next->apps[i];
                struct app *old = agent_take_app(a, index, n_index, cfg->name);

                /* An app with a ticket that could not start is started again: a reload retries it. */
                if (old && app_config_equal(old->cfg, cfg) && app_complete(old)) {
                        old->cfg = cfg;
                        apps[n++] = old;
                        continue;
                }
                if (old && app_complete(old) && app_reconfigure(old, cfg)) {
                        apps[n++] = old;
                        log_app(LOG_INFO, cfg->name, 0, "configuration changed, taken in place");
                        continue;
                }
                if (old) {
                        bool fresh = strcmp(old->cfg->appid, cfg->appid) != 0 || old->cfg->kind != cfg->kind;

                        app_retire_tickets(old, cfg->tickets);
                        /* If the new app cannot start, readers must not see the old one as fresh. */
                        app_stop(old);
                        app_free(old, false);
                        r = app_new(&apps[n], &a->svc, cfg, fresh);
                        if (r == 0)
                                n++;
                        log_app(r < 0 ? LOG_ERR : LOG_INFO, cfg->name, 0, "configuration changed%s%s",
                                fresh ? ", fetching anew" : "", r < 0 ? ", but the app could not start" : "");
                        continue;
                }
                if (app_new(&apps[n], &a->svc, cfg, false) == 0) {
                        n++;
                        log_app(LOG_INFO, cfg->name, 0, "added");
                }
        }
        for (size_t i = 0; i < a->svc.n_apps; i++) {
                struct app *gone = a->svc.apps[i];

                if (!gone)
                        continue;
                /* Out of the list before it is freed: nothing may find it half gone. */
                a->svc.apps[i] = NULL;
                log_app(LOG_INFO, gone->cfg->name, 0, "removed: its segments are unlinked, their readers told");
                app_free(gone, true);
        }
        /* What no app held (an item that could not start, since removed): found by name. */
        namespace_remove_unknown(&a->ns, next->shm_dir, agent_item_configured, next);
        free(index);
        free(a->svc.apps);
        config_free(a->svc.config);
        a->svc.apps = apps;
        a->svc.n_apps = n;
        a->settled_scan = 0;
        a->svc.config = next;
        log_set_level(next->log_level);
        log_set_json(next->log_json);
        if (http_set_policy(a->svc.http, next->proxy, next->allow_plain_http) < 0)
                log_error("reload: out of memory for the proxy setting, calls keep the previous one");
        http_set_limits(a->svc.http, next->max_concurrent_calls, next->max_calls_per_second);
        if (metrics_listener_apply(&a->metrics, &a->svc, listen_err, sizeof(listen_err)) < 0)
                log_error("reload: %s; the previous listener, if any, is closed", listen_err);
        a->svc.stats.reloads++;
        failed_retry_update(&a->retry, &before);
        failed_clear(&before);
        log_info("reloaded: %zu apps", n);
        a->reload.taken = true;
        a->reload.n_apps = n;
        sd_notify(false, "READY=1");
        services_changed(&a->svc);
}
