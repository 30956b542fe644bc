/* app-step.c: one step of an item's core: its policy and clock readings in, the actions carried out. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "protocol.h"
#include "wxshm.h"

int64_t app_quota_now_ms(void) {
        static int64_t offset_ms;
        static int read;

        if (!read) {
                const char *v = secure_getenv("WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS");

                read = 1;
                if (v && *v) {
                        offset_ms = strtoll(v, NULL, 10);
                        log_warning("test hook WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS: quota days are counted %lld ms "
                                    "off the wall clock", (long long)offset_ms);
                }
        }
        return clock_wall_ms() + offset_ms;
}

void item_policy(const struct item *it, struct core_policy *pol) {
        const struct agent_config *c = it->app->svc->config;
        const struct app_config *cfg = it->app->cfg;

        *pol = (struct core_policy){
                .kind = cfg->kind,
                .ticket = it->ticket != 0 || it->auth, /* an authorizer too: it waits for its component's token */
                .account = it->auth != NULL,
                /* The probe (getcallbackip) takes no component_access_token: a component's forced refresh re-mints. */
                .verify_before_force = cfg->verify_before_force && !app_kind_platform(cfg->kind) &&
                                       cfg->kind != APP_KIND_PROVIDER,
                .n_api_base = cfg->n_api_base,
                .refresh_margin_ms = cfg->refresh_margin_ms,
                .backoff_min_ms = c->backoff_min_ms,
                .backoff_max_ms = c->backoff_max_ms,
                .min_force_interval_ms = c->min_force_interval_ms,
                .min_token_lifetime_ms = c->min_token_lifetime_ms,
                .max_waiters = c->max_waiters,
                .max_forced_per_day = cfg->max_forced_per_day,
                .name = it->name,
        };
        it->app->svc->ops->cluster_policy(it->app->svc->userdata, it->app, pol);
}

unsigned item_forced_cap(const struct item *it) {
        return budget_cap(it->app->cfg->max_forced_per_day, it->app->cfg->kind == APP_KIND_STABLE && !it->ticket);
}

static struct core_clock item_clock(const struct item *it) {
        return (struct core_clock){ .now_ms = clock_wall_ms(), .quota_now_ms = app_quota_now_ms(),
                                    .rng = it->app->svc->rng };
}

/*
 * Arm the item's one timer for the core's next wake-up (wall-clock ms), as a delay on
 * CLOCK_BOOTTIME: it keeps counting through a suspend or a paused VM, where
 * CLOCK_MONOTONIC would stop and the token expire unrefreshed.
 */
static void item_arm(struct item *it, int64_t now) {
        int64_t wake = core_item_wake(&it->core), delay_ms = wake - now;
        uint64_t now_us;

        if (!it->timer)
                return;
        if (wake == INT64_MAX) {
                sd_event_source_set_enabled(it->timer, SD_EVENT_OFF);
                return;
        }
        if (delay_ms < 0)
                delay_ms = 0;
        sd_event_now(it->app->svc->loop, CLOCK_BOOTTIME, &now_us);
        sd_event_source_set_time(it->timer, now_us + (uint64_t)delay_ms * 1000);
        sd_event_source_set_enabled(it->timer, SD_EVENT_ONESHOT);
}

/* The other items of the app: a ticket fetched again after a new token, the token (its app's or account's) after a ticket saw it dead. */
static void item_poke(struct item *it, bool dead) {
        struct app *app = it->app;

        if (dead) {
                item_step(item_token_source(it), &(struct core_event){ .type = CORE_EV_FETCH_NOW, .dead = true });
                return;
        }
        for (int i = 0; i < app->n_tickets; i++)
                item_step(&app->tickets[i], &(struct core_event){ .type = CORE_EV_FETCH_NOW });
        app_authorizers_poke(app);
}

static void item_do(struct item *it, const struct core_action *a) {
        const struct services *svc = it->app->svc;

        switch (a->type) {
        case CORE_ACT_START_CALL:
                item_call(it, a);
                break;
        case CORE_ACT_SET_STATE:
                if (it->seg)
                        wxshm_writer_set_state(it->seg, (int)a->num);
                break;
        case CORE_ACT_SET_ERROR:
                if (it->seg)
                        wxshm_writer_set_error(it->seg, a->num, a->at_ms);
                if (a->num != 0)
                        it->last_error_at_ms = a->at_ms;
                break;
        case CORE_ACT_SAVE:
                item_save(it, a->at_ms);
                break;
        case CORE_ACT_LOG:
                log_app(a->level, it->name, (long)a->num, "%s", a->text);
                break;
        case CORE_ACT_ANSWER:
                force_answer(it, a);
                break;
        case CORE_ACT_SETTLED:
                if (!it->ticket && !it->auth)
                        svc->ops->settled(svc->userdata);
                break;
        case CORE_ACT_FETCH_TICKETS:
                item_poke(it, false);
                break;
        case CORE_ACT_TOKEN_DEAD:
                item_poke(it, true);
                break;
        case CORE_ACT_PUSH:
                svc->ops->push(svc->userdata, it);
                break;
        case CORE_ACT_NOTE_FAILED:
                svc->ops->note_failed(svc->userdata, it, a->code, a->text, a->retry_after_ms);
                break;
        case CORE_ACT_NOTE_VERIFIED:
                svc->ops->note_verified(svc->userdata, it);
                break;
        case CORE_ACT_FORWARD:
                svc->ops->forward(svc->userdata, it);
                break;
        case CORE_ACT_FORWARD_RETRY:
                if (svc->ops->forward_retry)
                        svc->ops->forward_retry(svc->userdata, it, a->caller_uid, a->caller_pid);
                break;
        case CORE_ACT_TAKE_BUDGET:
                /* Not sent (Redis is away): the answer is "could not count". */
                if (svc->ops->take_budget(svc->userdata, it, a->num, a->at_ms) <= 0)
                        item_step(it, &(struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = -1 });
                break;
        case CORE_ACT_CHANGED:
                services_changed(svc);
                break;
        case CORE_ACT_RETRIED:
                free(it->retry_reply);
                it->retry_reply = a->code[0] ? protocol_error(a->code, a->text, a->retry_after_ms)
                                  : !strcmp(a->text, "forwarded") ? protocol_retry_forwarded(it->app->lease_holder)
                                  : protocol_retry_ok(a->text);
                break;
        }
}

void item_step(struct item *it, const struct core_event *ev) {
        struct core_actions out = { .v = NULL };
        struct core_policy pol;
        struct core_clock clock = item_clock(it);

        item_policy(it, &pol);
        core_item_step(&it->core, &pol, &clock, ev, &out);
        if (out.dropped)
                log_app(LOG_CRIT, it->name, 0, "out of memory: %zu actions of one step were lost", out.dropped);
        item_arm(it, clock.now_ms);
        for (size_t i = 0; i < out.n; i++)
                item_do(it, &out.v[i]);
        core_actions_free(&out);
        /* A client came to wait on a call still queued: it goes before the calls nobody waits for. */
        if (it->call && it->core.n_waiters > 0)
                http_hurry(it->call);
        if (item_shown(it) != it->shown) {
                it->shown = item_shown(it);
                it->shown_since_ms = clock.now_ms;
        }
}

int item_shown(const struct item *it) {
        if (it->core.failure != FAILURE_NONE)
                return 100 + (int)it->core.failure;
        if (it->core.state == WXSHM_STATE_STOPPED)
                return WXSHM_STATE_STOPPED;
        return it->core.generation > 0 ? WXSHM_STATE_FRESH : WXSHM_STATE_STARTING;
}
