/* app.c: one configured app: fetch, publish and schedule its token and tickets (app-persist.c, app-mirror.c: the rest). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "budget.h"
#include "app-internal.h"
#include "cluster.h"
#include "cluster-record.h"
#include "log.h"
#include "protocol.h"
#include "redact.h"
#include "state.h"
#include "wxshm.h"

static void item_fetch(struct item *it);

const struct agent_config *item_agent_config(const struct item *it) {
        return it->app->agent->config;
}

/* Tickets follow the token's rules; they have no stable window of their own. */
enum app_kind item_schedule_kind(const struct item *it) {
        return it->ticket ? APP_KIND_TOKEN : it->app->cfg->kind;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        item_fetch(userdata);
        return 0;
}

/*
 * Arm the item's one timer for wall-clock time at_ms, as a delay on CLOCK_BOOTTIME: it
 * keeps counting through a suspend or a paused VM, where CLOCK_MONOTONIC would stop and
 * the token expire unrefreshed.
 */
void item_schedule(struct item *it, int64_t at_ms) {
        int64_t delay_ms = at_ms - agent_now_ms();
        uint64_t now_us;

        if (delay_ms < 0)
                delay_ms = 0;
        it->next_at_ms = at_ms;
        sd_event_now(it->app->agent->loop, CLOCK_BOOTTIME, &now_us);
        sd_event_source_set_time(it->timer, now_us + (uint64_t)delay_ms * 1000);
        sd_event_source_set_enabled(it->timer, SD_EVENT_ONESHOT);
}

void item_set_state(struct item *it, int state) {
        it->state = state;
        wxshm_writer_set_state(it->seg, state);
        agent_state_changed(it->app->agent);
}

void item_settle(struct item *it) {
        if (it->settled)
                return;
        it->settled = true;
        if (!it->ticket)
                agent_app_settled(it->app->agent);
}

static void item_fail(struct item *it, const struct upstream_result *res, int64_t now);

/* The next proactive refresh of the token now published (same: it did not change). */
void item_schedule_refresh(struct item *it, int64_t now, bool same) {
        const struct agent_config *c = item_agent_config(it);
        int64_t at = schedule_refresh_at(item_schedule_kind(it), now, it->expires_at_ms, it->app->cfg->refresh_margin_ms,
                                         it->lifetime_ms, &it->app->agent->rng);

        /* The same token again, already inside the margin: upstream will not renew it yet. */
        if (same && at <= now + c->backoff_min_ms)
                at = schedule_same_token_at(now, it->expires_at_ms, c->backoff_min_ms);
        /* However short-lived the token upstream hands out, no tighter loop than backoff_min. */
        if (at < now + c->backoff_min_ms)
                at = now + c->backoff_min_ms;
        item_schedule(it, at);
}

void item_fetch_at(struct item *it, int64_t at_ms) {
        int64_t now = agent_now_ms();

        /* A refresh or retry already due sooner is kept: its outcome answers the waiters too. */
        if (!it->call && it->next_at_ms > now && it->next_at_ms < at_ms)
                at_ms = it->next_at_ms;
        item_schedule(it, at_ms);
}

static void item_succeed(struct item *it, const struct upstream_result *res, int64_t now) {
        int64_t expires_at = now + res->expires_in_s * 1000;
        bool same = it->value_len == res->value_len && memcmp(it->value, res->value, res->value_len) == 0;
        uint64_t generation, prev = it->generation;
        int r;

        r = wxshm_writer_publish(it->seg, res->value, res->value_len, expires_at, now, &generation);
        if (r < 0) {
                /* A second writer on the segment, or a corrupt one: keep the old token, retry later. */
                struct upstream_result failed = { .errcode = UPSTREAM_ERR_BODY };

                snprintf(failed.errmsg, sizeof(failed.errmsg), "cannot publish: %s", strerror(-r));
                item_fail(it, &failed, now);
                return;
        }
        memcpy(it->value, res->value, res->value_len + 1);
        it->value_len = res->value_len;
        it->expires_at_ms = expires_at;
        it->fetched_at_ms = now;
        it->lifetime_ms = res->expires_in_s * 1000;
        it->api_index = 0; /* the next refresh, hours away, tries the first api_base again */
        it->generation = generation;
        wxshm_writer_set_error(it->seg, 0, now);
        if (it->failure != FAILURE_NONE)
                log_app(LOG_NOTICE, it->name, 0, "recovered after %u failed attempts", it->attempt);
        it->failure = FAILURE_NONE;
        it->errcode = 0;
        it->attempt = 0;
        it->last_errmsg[0] = '\0';
        /* At once: a reader of the new token must not see "refreshing" while the state file syncs. */
        item_set_state(it, WXSHM_STATE_FRESH);

        if (generation != prev) {
                item_save(it, now);
                log_app(LOG_INFO, it->name, 0, "%s %s, generation %llu, expires in %lld s",
                        generation == 1 ? "first" : "new", it->ticket ? "ticket" : "token",
                        (unsigned long long)generation, (long long)res->expires_in_s);
                /* Tickets are fetched again after every new access token. */
                for (int i = 0; !it->ticket && i < it->app->n_tickets; i++) {
                        struct item *t = &it->app->tickets[i];

                        if (!t->call)
                                item_schedule(t, now);
                }
        }
        item_schedule_refresh(it, now, same);
        cluster_published(it);

        /* Clients waiting for a new token: answered, or the forced call goes on. */
        if (generation == prev)
                force_same_token(it);
        else
                force_published(it);
}

static int failure_state(enum failure_class f) {
        switch (f) {
        case FAILURE_CONFIG:
                return WXSHM_STATE_CONFIG_ERROR;
        case FAILURE_QUOTA:
                return WXSHM_STATE_QUOTA;
        default:
                return WXSHM_STATE_RETRYING;
        }
}

static void item_fail(struct item *it, const struct upstream_result *res, int64_t now) {
        const struct agent_config *c = item_agent_config(it);
        const struct app_config *cfg = it->app->cfg;
        enum failure_class f = classify_errcode(it->ticket ? APP_KIND_TOKEN : cfg->kind, res->errcode);
        char advice[512];
        int64_t delay;

        /*
         * At a ticket fetch, a token error means the token we hold is dead (rotated by
         * someone else, or expired): fetch a new one, but no more often than
         * min_force_interval; the ticket follows the new token.
         */
        if (it->ticket && (res->errcode == 40001 || res->errcode == 40014 || res->errcode == 42001)) {
                struct item *token = &it->app->token;

                f = FAILURE_TRANSIENT;
                if (!token->call && now - token->fetched_at_ms >= c->min_force_interval_ms)
                        item_schedule(token, now);
        }
        wxshm_writer_set_error(it->seg, res->errcode, now);
        /* One line per change of what is wrong, not one per attempt. */
        if (f != it->failure || res->errcode != it->errcode) {
                if (it->ticket && res->errcode == 40001)
                        snprintf(advice, sizeof(advice), "WeChat refused the access token used for the ticket: a "
                                 "new token is fetched (at most once per min_force_interval), then the ticket");
                else
                        classify_advice(cfg->kind, res->errcode, res->errmsg, advice, sizeof(advice));
                snprintf(it->advice, sizeof(it->advice), "%s", advice);
                it->failing_since_ms = now;
                log_app(f == FAILURE_TRANSIENT ? LOG_WARNING : LOG_ERR, it->name, res->errcode,
                        "%s failure, errcode %ld (%s): %s; %s", failure_class_name(f), res->errcode, res->errmsg,
                        advice, it->generation ? "the last token stays published" : "no token yet");
        }
        it->failure = f;
        it->errcode = res->errcode;
        snprintf(it->last_errmsg, sizeof(it->last_errmsg), "%s", res->errmsg);
        item_set_state(it, failure_state(f));
        if (f == FAILURE_TRANSIENT && cfg->n_api_base > 1)
                it->api_index = (it->api_index + 1) % cfg->n_api_base;
        delay = schedule_retry_delay(f, it->attempt, c->backoff_min_ms, c->backoff_max_ms, &it->app->agent->rng);
        it->attempt++;
        item_schedule(it, now + delay);
        /* Waiters learn of the failure; a forced call nobody waits for any more is dropped too. */
        force_failed(it, res);
}

static void on_response(void *userdata, const struct http_response *http) {
        struct item *it = userdata;
        const struct app_config *cfg = it->app->cfg;
        struct upstream_policy pol = { .secret = cfg->secret,
                                       .min_lifetime_s = item_agent_config(it)->min_token_lifetime_ms / 1000 };
        struct upstream_result res;
        int r;

        it->call = NULL;
        memset(&res, 0, sizeof(res));
        if (it->force_stage == FORCE_PROBE) {
                if (http->curl_code != 0)
                        res.errcode = UPSTREAM_ERR_TRANSPORT;
                else
                        upstream_probe_parse(http->status, http->body, http->body_len, &pol, &res);
                force_probed(it, &res);
                if (it->force_stage == FORCE_NONE)
                        item_schedule_refresh(it, agent_now_ms(), false);
                return;
        }
        if (http->curl_code != 0) {
                res.errcode = UPSTREAM_ERR_TRANSPORT;
                snprintf(res.errmsg, sizeof(res.errmsg), "%s", http->curl_error);
                r = -EIO;
        } else if (it->ticket) {
                r = upstream_ticket_parse(cfg->kind, http->status, http->body, http->body_len, &pol, &res);
        } else {
                r = upstream_token_parse(cfg->kind, http->status, http->body, http->body_len, &pol, &res);
        }
        /* errmsg comes from outside; whatever it holds, the secret does not leave. */
        redact_secret_forms(res.errmsg, cfg->secret);
        if (r == 0)
                item_succeed(it, &res, agent_now_ms());
        else
                item_fail(it, &res, agent_now_ms());
        explicit_bzero(res.value, sizeof(res.value));
        item_settle(it);
}

static void item_fetch(struct item *it) {
        const struct app_config *cfg = it->app->cfg;
        const char *base = cfg->api_base[it->api_index];
        struct upstream_result fail;
        struct upstream_request req;
        int64_t budget;
        bool forced;
        int r;

        if (it->call)
                return;
        if (it->ticket && it->app->token.value_len == 0)
                return; /* fetched when the token arrives */
        if (!item_can_publish(it) && (!it->seg || item_segment_renew(it) < 0)) {
                fail = (struct upstream_result){ .errcode = UPSTREAM_ERR_BODY };
                snprintf(fail.errmsg, sizeof(fail.errmsg), "cannot publish: the segment cannot be made anew");
                item_fail(it, &fail, agent_now_ms());
                item_settle(it);
                return;
        }
        /* Cluster mode: only the lease holder calls WeChat, and only while the lease surely lasts. */
        budget = cluster_call_budget(it->app);
        if (budget <= 0) {
                cluster_blocked(it);
                item_settle(it);
                return;
        }
        /* A forced call whose clients all left is not made: rotating for nobody costs quota. */
        forced = it->force_stage != FORCE_NONE;
        if (forced && !force_due(it)) {
                if (it->force_stage == FORCE_NONE && it->generation)
                        item_schedule_refresh(it, agent_now_ms(), false);
                return;
        }
        memset(&req, 0, sizeof(req));
        if (it->force_stage == FORCE_PROBE)
                r = upstream_probe_request(base, it->value, &req);
        else if (it->ticket)
                r = upstream_ticket_request(cfg->kind, base, it->app->token.value, it->ticket, &req);
        else
                r = upstream_token_request(cfg, base, it->force_stage == FORCE_ROTATE, &req);
        if (r < 0) {
                fail = (struct upstream_result){ .errcode = UPSTREAM_ERR_REQUEST };
        } else {
                r = http_start(it->app->agent->http, &req, cfg->ca_pem, cfg->ca_len, budget, on_response, it, &it->call);
                if (r == 0)
                        log_app(LOG_DEBUG, it->name, 0, "%s %s", req.body ? "POST" : "GET", req.redacted_url);
                fail = (struct upstream_result){ .errcode = UPSTREAM_ERR_TRANSPORT };
        }
        upstream_request_clear(&req);
        if (r < 0) {
                snprintf(fail.errmsg, sizeof(fail.errmsg), "cannot start the request: %s", strerror(-r));
                item_fail(it, &fail, agent_now_ms());
                item_settle(it);
                return;
        }
        it->calls++;
        item_set_state(it, WXSHM_STATE_REFRESHING);
}

/*
 * A token's times are believable: fetched in the past, and valid for at least
 * min_token_lifetime and no longer than a WeChat token may live (a clock stepped since,
 * or a corrupt record, must not keep a dead token published for hours without a refresh).
 */
bool item_times_plausible(const struct item *it, int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now) {
        return schedule_times_plausible(fetched_at_ms, expires_at_ms, now, item_agent_config(it)->min_token_lifetime_ms);
}

/* Take over a token from the segment (agent restart) or the state file rec (reboot). */
static bool item_adopt(struct item *it, int64_t now, int on_disk, const struct state_record *rec) {
        struct segment_slot slot;
        const char *from;
        int r;

        r = wxshm_writer_current(it->seg, it->value, sizeof(it->value), &slot);
        if (r > 0 && item_times_plausible(it, slot.fetched_at_ms, slot.expires_at_ms, now)) {
                from = "segment";
                it->generation = slot.generation;
                it->expires_at_ms = slot.expires_at_ms;
                it->fetched_at_ms = slot.fetched_at_ms;
                it->value_len = (size_t)r;
        } else if (on_disk == 0 && item_times_plausible(it, rec->fetched_at_ms, rec->expires_at_ms, now)) {
                from = "state file";
                r = wxshm_writer_publish_generation(it->seg, rec->token, rec->token_len, rec->expires_at_ms,
                                                    rec->fetched_at_ms, rec->generation);
                if (r < 0)
                        return false;
                memcpy(it->value, rec->token, rec->token_len + 1);
                it->value_len = rec->token_len;
                it->generation = rec->generation;
                it->expires_at_ms = rec->expires_at_ms;
                it->fetched_at_ms = rec->fetched_at_ms;
        } else {
                int64_t life = rec->expires_at_ms - rec->fetched_at_ms, min = item_agent_config(it)->min_token_lifetime_ms;

                /* The rule of a fetched token's expires_in: said, then fetched anew. */
                if (on_disk == 0 && (life < min || life > AGENT_TOKEN_LIFETIME_MAX_MS))
                        log_app(LOG_WARNING, it->name, UPSTREAM_ERR_LIFETIME, "state file token not adopted: its lifetime "
                                "of %lld s is outside %lld..%d s (min_token_lifetime): not believed",
                                (long long)(life / 1000), (long long)(min / 1000), UPSTREAM_LIFETIME_MAX);
                explicit_bzero(it->value, sizeof(it->value));
                it->value_len = 0;
                return false;
        }
        it->lifetime_ms = it->expires_at_ms - it->fetched_at_ms;
        log_app(LOG_INFO, it->name, 0, "adopted generation %llu from the %s, expires in %lld s",
                (unsigned long long)it->generation, from, (long long)((it->expires_at_ms - now) / 1000));
        return true;
}

static int item_init(struct item *it, struct app *app, enum ticket_type ticket, bool fresh) {
        const struct app_config *cfg = app->cfg;
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        int64_t now = agent_now_ms(), margin;
        struct state_record rec;
        bool adopted;
        int r, on_disk;

        it->app = app;
        it->ticket = ticket;
        snprintf(it->name, sizeof(it->name), "%s%s%s", cfg->name, ticket ? "." : "", ticket ? ticket_type_name(ticket) : "");
        on_disk = state_load(app->agent->config->state_dir, it->name, cfg->appid, &rec);
        if (on_disk < 0 && on_disk != -ENOENT)
                log_app(LOG_WARNING, it->name, 0, "state file refused: %s/%s %s", app->agent->config->state_dir,
                        it->name, state_strerror(on_disk));
        opts.group = cfg->gid;
        opts.heartbeat_interval_ms = AGENT_HEARTBEAT_MS;
        /* The state file says the segment holds another appid's token: readers must not get it. */
        opts.discard = fresh || on_disk == -EXDEV;
        r = wxshm_writer_open(&it->seg, app->agent->ns.dir_fd, it->name, &opts);
        if (r < 0) {
                char why[192];

                explicit_bzero(&rec, sizeof(rec));
                snprintf(why, sizeof(why), "cannot open segment %s/%s: %s%s", app->agent->config->shm_dir, it->name,
                         strerror(-r),
                         r == -EPERM    ? " (not a file of the agent's user: remove it, then reload)"
                         : r == -ENOSPC ? " (the tmpfs is full: free space or raise its size, then reload)"
                                        : "");
                log_app(LOG_ERR, it->name, 0, "%s", why);
                failed_add(&app->agent->failed, it->name, ticket ? "ticket" : app_kind_name(cfg->kind), why);
                return r;
        }
        r = sd_event_add_time(app->agent->loop, &it->timer, CLOCK_BOOTTIME, UINT64_MAX, 50 * 1000, on_timer, it);
        if (r < 0)
                return r;
        wxshm_writer_heartbeat(it->seg, now);
        margin = cfg->refresh_margin_ms;
        if (on_disk == 0 && !fresh)
                budget_restore(it, &rec); /* even when the token itself is too old to adopt */
        adopted = !opts.discard && item_adopt(it, now, on_disk, &rec);
        explicit_bzero(&rec, sizeof(rec));
        if (!item_can_publish(it) && item_segment_renew(it) < 0)
                return -EIO;
        adopted = adopted && it->generation > 0;
        if (adopted) {
                it->settled = true;
                item_set_state(it, WXSHM_STATE_FRESH);
                item_schedule(it, item_after_last_failure(it, schedule_refresh_at(item_schedule_kind(it), now,
                                                                                  it->expires_at_ms, margin,
                                                                                  it->lifetime_ms, &app->agent->rng),
                                                          now));
        } else {
                item_set_state(it, WXSHM_STATE_STARTING);
                item_schedule(it, item_after_last_failure(it, now, now));
        }
        return 0;
}

static void item_free(struct item *it, bool retire) {
        if (retire)
                force_abort(it, PROTO_E_UNKNOWN_APP, "the app was removed from the configuration");
        else
                force_abort(it, PROTO_E_STOPPING, "the agent is stopping or restarting this app");
        http_cancel(it->call);
        it->call = NULL;
        sd_event_source_disable_unref(it->timer);
        it->timer = NULL;
        if (it->seg && retire)
                wxshm_writer_retire(it->seg);
        wxshm_writer_close(it->seg);
        it->seg = NULL;
        explicit_bzero(it->value, sizeof(it->value));
}

int app_new(struct app **ret, struct agent *a, const struct app_config *cfg, bool fresh) {
        static const enum ticket_type types[] = { TICKET_JSAPI, TICKET_WX_CARD };
        struct app *app = calloc(1, sizeof(*app));
        int r;

        if (!app)
                return -ENOMEM;
        app->agent = a;
        app->cfg = cfg;
        r = item_init(&app->token, app, 0, fresh);
        if (r < 0) {
                app_free(app, false);
                return r;
        }
        /* A ticket that cannot start is left out (failed.h says so); the app's token still serves. */
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if ((cfg->tickets & types[i]) && item_init(&app->tickets[app->n_tickets], app, types[i], fresh) == 0)
                        app->n_tickets++;
                else if (cfg->tickets & types[i]) {
                        item_free(&app->tickets[app->n_tickets], false);
                        memset(&app->tickets[app->n_tickets], 0, sizeof(app->tickets[0]));
                }
        *ret = app;
        return 0;
}

bool app_complete(const struct app *app) {
        return app->n_tickets == __builtin_popcount((unsigned)app->cfg->tickets);
}

void app_free(struct app *app, bool retire) {
        if (!app)
                return;
        item_free(&app->token, retire);
        for (int i = 0; i < app->n_tickets; i++)
                item_free(&app->tickets[i], retire);
        free(app);
}

bool app_reconfigure(struct app *app, const struct app_config *cfg) {
        const struct app_config *old = app->cfg;

        if (strcmp(old->appid, cfg->appid) != 0 || old->kind != cfg->kind || old->gid != cfg->gid ||
            old->tickets != cfg->tickets)
                return false;
        /* Secret, api_base, ca_file, margin: the next call uses them; calls in flight finish. */
        app->cfg = cfg;
        if (app->token.api_index >= cfg->n_api_base)
                app->token.api_index = 0;
        for (int i = 0; i < app->n_tickets; i++)
                if (app->tickets[i].api_index >= cfg->n_api_base)
                        app->tickets[i].api_index = 0;
        return true;
}

void app_retire_tickets(struct app *app, unsigned keep) {
        for (int i = 0; i < app->n_tickets; i++)
                if (!(app->tickets[i].ticket & keep))
                        wxshm_writer_retire(app->tickets[i].seg);
}

void app_stop(struct app *app) {
        item_set_state(&app->token, WXSHM_STATE_STOPPED);
        for (int i = 0; i < app->n_tickets; i++)
                item_set_state(&app->tickets[i], WXSHM_STATE_STOPPED);
}

void app_heartbeat(struct app *app, int64_t now_ms) {
        wxshm_writer_heartbeat(app->token.seg, now_ms);
        for (int i = 0; i < app->n_tickets; i++)
                wxshm_writer_heartbeat(app->tickets[i].seg, now_ms);
}

struct item *agent_find_item(struct agent *a, const char *name) {
        for (size_t i = 0; i < a->n_apps; i++) {
                struct app *app = a->apps[i];

                if (!app)
                        continue;
                if (strcmp(app->token.name, name) == 0)
                        return &app->token;
                for (int t = 0; t < app->n_tickets; t++)
                        if (strcmp(app->tickets[t].name, name) == 0)
                                return &app->tickets[t];
        }
        return NULL;
}
