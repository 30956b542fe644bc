/* app-persist.c: what an item leaves for the next agent: its state file, and its app's calls today. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "log.h"
#include "state-file.h"

static int on_state_sync(sd_event_source *s, uint64_t usec, void *userdata) {
        const struct services *svc = userdata;

        state_sync_dir(svc->config->state_dir);
        return 0;
}

/*
 * The names of the state files saved in the last STATE_SYNC_DELAY_MS reach the disk
 * together, with one fsync of state_dir: at 200 new tokens a second, one instead of 200.
 */
static void state_sync_soon(struct services *svc) {
        int on = SD_EVENT_OFF;

        if (!svc->state_sync &&
            sd_event_add_time_relative(svc->loop, &svc->state_sync, CLOCK_MONOTONIC, STATE_SYNC_DELAY_MS * 1000, 1000,
                                       on_state_sync, svc) < 0) {
                state_sync_dir(svc->config->state_dir); /* no timer: at once, as before */
                return;
        }
        if (sd_event_source_get_enabled(svc->state_sync, &on) >= 0 && on != SD_EVENT_OFF)
                return; /* a sync is already due, and takes this save too */
        sd_event_source_set_time_relative(svc->state_sync, STATE_SYNC_DELAY_MS * 1000);
        sd_event_source_set_enabled(svc->state_sync, SD_EVENT_ONESHOT);
}

void app_state_flush(struct services *svc) {
        int on = SD_EVENT_OFF;

        if (!svc->state_sync)
                return;
        if (sd_event_source_get_enabled(svc->state_sync, &on) >= 0 && on != SD_EVENT_OFF)
                state_sync_dir(svc->config->state_dir);
        svc->state_sync = sd_event_source_disable_unref(svc->state_sync);
}

void item_save(struct item *it, int64_t fetched_at_ms) {
        const struct agent_config *c = it->app->svc->config;
        struct state_record rec = {
                .generation = it->core.generation,
                .expires_at_ms = it->core.expires_at_ms,
                .fetched_at_ms = fetched_at_ms,
                .token_len = it->value_len,
                .forced_day = it->core.budget.forced_day,
                .forced_today = it->core.budget.forced_today,
                .quota_day = it->core.budget.quota_day,
        };
        int r;

        memcpy(rec.token, item_value(it), it->value_len + 1);
        r = state_save_rename_later(c->state_dir, it->name, it->app->cfg->appid, &rec);
        state_sync_soon(it->app->svc);
        if (r < 0) {
                /*
                 * The file left holds an older token, superseded now: after a reboot it would
                 * be adopted and handed out dead (tests/test-soak-fullfs). Removing it works
                 * even on a full disk, and costs one fetch at the next boot.
                 */
                int gone = state_remove(c->state_dir, it->name);

                /* One line per change of what is wrong, not one per rotation. */
                if (-r != it->save_error)
                        log_app(LOG_WARNING, it->name, 0, "cannot save state in %s: %s%s; %s%s", c->state_dir,
                                r == -EINVAL || r == -EPERM || r == -ELOOP ? "its temporary file " : "",
                                state_strerror(r), gone == 0 ? "the older state file is removed, a reboot will "
                                "need a new fetch" : "the older state file cannot be removed: ",
                                gone == 0 ? "" : strerror(-gone));
                it->save_error = -r;
                services_changed(it->app->svc);
                return;
        }
        if (it->save_error) {
                log_app(LOG_NOTICE, it->name, 0, "state saved in %s again", c->state_dir);
                it->save_error = 0;
                services_changed(it->app->svc);
        }
}

/* The quota file's name beside the state files: an app name has no dot, so it is no item's. */
static void quota_name(const struct app *app, char *buf, size_t size) {
        snprintf(buf, size, "%s.quota", app->cfg->name);
}

void app_quota_load(struct app *app) {
        const struct agent_config *c = app->svc->config;
        char name[128], buf[1024];
        int r;

        quota_name(app, name, sizeof(name));
        r = state_read_file(c->state_dir, name, buf, sizeof(buf));
        if (r == -ENOENT)
                return;
        if (r < 0 || quota_parse(&app->quota, buf) < 0)
                log_app(LOG_WARNING, app->cfg->name, 0, "quota file %s/%s refused: %s; today's calls are counted "
                        "from zero", c->state_dir, name, r < 0 ? state_strerror(r) : "not a quota file");
}

static void count_one(struct item *it, enum quota_endpoint e, int64_t now) {
        struct app *app = it->app;

        if (!quota_count(&app->quota, e, now))
                return;
        log_app(LOG_WARNING, app->cfg->name, 0, "%" PRIu64 " calls to %s today: %u %% of WeChat's documented %" PRIu64
                " a day (the count turns at midnight Beijing time)", quota_today(&app->quota, e, now),
                quota_endpoint_name(e), QUOTA_WARN_PERMILLE / 10, quota_limit(e));
}

void item_quota_count(struct item *it, bool force) {
        struct app *app = it->app;
        const struct agent_config *c = app->svc->config;
        enum quota_endpoint e = quota_endpoint_of(app->cfg->kind, it->ticket);
        int64_t now = app_quota_now_ms();
        char name[128], buf[1024];
        int n, r;

        count_one(it, e, now);
        if (force && e == QUOTA_STABLE)
                count_one(it, QUOTA_STABLE_FORCE, now);
        quota_name(app, name, sizeof(name));
        n = quota_format(&app->quota, buf, sizeof(buf));
        /* A count for warnings and metrics: a power cut may lose the last calls of it, no token. */
        r = n < 0 ? -ENOBUFS : state_write_file_unsynced(c->state_dir, name, buf, (size_t)n);
        if (r < 0)
                log_app(LOG_DEBUG, app->cfg->name, 0, "cannot save the quota count in %s/%s: %s", c->state_dir, name,
                        strerror(-r));
}

unsigned item_quota_permille(const struct item *it) {
        return quota_permille(&it->app->quota, quota_mask_of(it->app->cfg->kind, it->ticket),
                              app_quota_now_ms());
}
