/* manager-failed.c: what could not start (no segment) is started again every backoff_max, without a reload. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "manager-internal.h"

static const struct app_config *config_app(const struct agent_config *config, const char *name) {
        for (size_t i = 0; i < config->n_apps; i++)
                if (strcmp(config->apps[i].name, name) == 0)
                        return &config->apps[i];
        return NULL;
}

static struct app *running_app(const struct services *svc, const char *name) {
        for (size_t i = 0; i < svc->n_apps; i++)
                if (svc->apps[i] && strcmp(svc->apps[i]->cfg->name, name) == 0)
                        return svc->apps[i];
        return NULL;
}

/* Whether an entry before the f-th is of the app called name (itself or a ticket of it). */
static bool seen_before(const struct failed_list *l, size_t f, const char *name) {
        size_t len = strlen(name);

        for (size_t k = 0; k < f; k++)
                if (strncmp(l->v[k].name, name, len) == 0 && (l->v[k].name[len] == '\0' || l->v[k].name[len] == '.'))
                        return true;
        return false;
}

/* Try each failed item once more: a failure lands in the list again (app.c), a success leaves it. */
static void retry_all(struct failed_retry *r) {
        struct services *svc = r->svc;
        struct failed_list before = *r->failed;
        size_t started = 0;

        *r->failed = (struct failed_list){ .v = NULL };
        for (size_t f = 0; f < before.n; f++) {
                char name[sizeof(before.v[f].name)];
                char *dot;
                const struct app_config *cfg;
                struct app *app;

                snprintf(name, sizeof(name), "%s", before.v[f].name);
                dot = strchr(name, '.');
                if (dot)
                        *dot = '\0';
                app = running_app(svc, name);
                if (app) {
                        /* Its tickets are all tried at the app's first entry in the list. */
                        if (dot && !seen_before(&before, f, name))
                                started += (size_t)app_retry_tickets(app);
                        continue;
                }
                cfg = config_app(svc->config, name);
                /* The apps array has room for every app of the configuration (manager.c). */
                if (cfg && svc->n_apps < svc->config->n_apps && app_new(&svc->apps[svc->n_apps], svc, cfg, false) == 0) {
                        svc->n_apps++;
                        started++;
                        log_app(LOG_INFO, name, 0, "started now, after %u failed attempts", before.v[f].attempts);
                }
        }
        failed_retry_update(r, &before);
        failed_clear(&before);
        if (started)
                log_info("retried what could not start: %zu items started, %zu still cannot", started, r->failed->n);
        services_changed(svc);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        retry_all(userdata);
        return 0;
}

void failed_retry_update(struct failed_retry *r, const struct failed_list *before) {
        int64_t every = r->svc->config->backoff_max_ms, now = clock_wall_ms();
        int rc;

        failed_stamp(r->failed, before, now, now + every);
        if (r->failed->n == 0) {
                if (r->timer)
                        sd_event_source_set_enabled(r->timer, SD_EVENT_OFF);
                return;
        }
        if (!r->timer) {
                rc = sd_event_add_time_relative(r->svc->loop, &r->timer, CLOCK_BOOTTIME, (uint64_t)every * 1000,
                                                100 * 1000, on_retry, r);
                if (rc < 0) {
                        log_error("cannot arm the retry of what could not start: %s; a reload retries it",
                                  strerror(-rc));
                        return;
                }
        } else {
                sd_event_source_set_time_relative(r->timer, (uint64_t)every * 1000);
        }
        sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
        /* The entries carried over keep their stamp: all are tried at the one timer. */
        for (size_t i = 0; i < r->failed->n; i++)
                r->failed->v[i].next_at_ms = now + every;
}

void failed_retry_free(struct failed_retry *r) {
        r->timer = sd_event_source_disable_unref(r->timer);
}
