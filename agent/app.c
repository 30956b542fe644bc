/* app.c: one configured app: its items' segments, their upstream calls, and their lifecycle (app-step.c: the core's steps). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "cluster-record.h"
#include "clock.h"
#include "failed.h"
#include "http.h"
#include "log.h"
#include "redact.h"
#include "state-file.h"
#include "wxshm.h"

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct item *it = userdata;
        struct app *app = it->app;
        /*
         * A ticket, or an account of a component or suite, is fetched with the app's token. An
         * account waits for a new one once it has expired: WeCom renews a suite's token only at
         * its expiry, when its corps' tokens run out too, and a call with the old one is a
         * certain failure (42009) and a backoff. The new token wakes it (app_authorizers_poke).
         */
        bool ready = (!it->ticket && !it->auth) ||
                     (item_ticket_ready(it) && (!it->auth || app->token.core.expires_at_ms > clock_wall_ms()));
        struct upstream_result fail = { .errcode = UPSTREAM_ERR_BODY };

        if (app_authorizer_refused(it))
                return 0; /* no call until the account is added again */
        if (it->auth)
                it->auth->awaiting_token = !ready;
        /* A segment that can take no further generation is made anew before any call (app-mirror.c). */
        if (!it->core.in_flight && ready && it->core.armed && it->core.next_at_ms <= clock_wall_ms() &&
            !item_can_publish(it) && (!it->seg || item_segment_renew(it) < 0)) {
                snprintf(fail.errmsg, sizeof(fail.errmsg), "cannot publish: the segment cannot be made anew");
                item_step(it, &(struct core_event){ .type = CORE_EV_FAILED, .errcode = fail.errcode,
                                                    .errmsg = fail.errmsg });
                return 0;
        }
        item_step(it, &(struct core_event){ .type = CORE_EV_TIMER, .token_ready = ready,
                                            .ticket_missing = !it->ticket && !it->auth &&
                                                              app_component_ticket_missing(app),
                                            .call_budget_ms = app->svc->ops->call_budget(app->svc->userdata, app) });
        return 0;
}

/* A successful fetch: published (a generation) or not (a failure that keeps the old token). */
static void item_publish(struct item *it, const struct upstream_result *res, int64_t now) {
        int64_t expires_at = now + res->expires_in_s * 1000;
        bool same = it->value && it->value_len == res->value_len && memcmp(it->value, res->value, res->value_len) == 0;
        /* Allocated before the publish: once readers have the new token, the agent holds it too. */
        char *copy = item_value_copy(res->value, res->value_len);
        char errmsg[UPSTREAM_ERRMSG_MAX];
        uint64_t generation;
        int r;

        /*
         * The same token: upstream counts what it has left in whole seconds, so a later answer
         * puts its end up to a second later than the first did, when it was new. The earlier
         * end stays (readers and the next call go by it), unless it has passed: then upstream
         * still handing it out says it lives on.
         */
        if (same && it->core.expires_at_ms > now && it->core.expires_at_ms < expires_at)
                expires_at = it->core.expires_at_ms;
        r = copy ? wxshm_writer_publish(it->seg, res->value, res->value_len, expires_at, now, &generation) : -ENOMEM;
        if (r < 0) {
                /* A second writer on the segment, or a corrupt one: keep the old token, retry later. */
                item_value_drop(copy, res->value_len);
                snprintf(errmsg, sizeof(errmsg), "cannot publish: %s", strerror(-r));
                item_step(it, &(struct core_event){ .type = CORE_EV_FAILED, .errcode = UPSTREAM_ERR_BODY,
                                                    .errmsg = errmsg });
                return;
        }
        item_value_take(it, copy, res->value_len);
        item_step(it, &(struct core_event){ .type = CORE_EV_PUBLISHED, .generation = generation,
                                            .expires_at_ms = expires_at, .same = same });
        if (it->auth && !same) /* the core pokes an app's tickets, not an account's */
                app_account_tickets_poke(it);
}

static void on_response(void *userdata, const struct http_response *http) {
        struct item *it = userdata;
        const struct app_config *cfg = it->app->cfg;
        struct upstream_policy pol = { .secret = cfg->secret,
                                       .min_lifetime_s = it->app->svc->config->min_token_lifetime_ms / 1000 };
        struct upstream_result res;
        bool fallback;
        int r;

        it->call = NULL;
        memset(&res, 0, sizeof(res));
        if (it->core.probing) {
                if (http->curl_code != 0)
                        res.errcode = UPSTREAM_ERR_TRANSPORT;
                else
                        upstream_probe_parse(http->status, http->body, http->body_len, &pol, &res);
                item_step(it, &(struct core_event){ .type = CORE_EV_PROBED, .errcode = res.errcode,
                                                    .errmsg = res.errmsg });
                return;
        }
        if (http->curl_code != 0) {
                res.errcode = UPSTREAM_ERR_TRANSPORT;
                snprintf(res.errmsg, sizeof(res.errmsg), "%s", http->curl_error);
                r = -EIO;
        } else if (it->auth) {
                r = app_authorizer_parse(it, http, &pol, &res);
        } else if (it->ticket) {
                r = upstream_ticket_parse(item_ticket_kind(it), http->status, http->body, http->body_len, &pol, &res);
        } else {
                r = upstream_token_parse(cfg->kind, http->status, http->body, http->body_len, &pol, &res);
        }
        /* errmsg comes from outside; whatever it holds, the secret does not leave. */
        redact_secret_forms(res.errmsg, cfg->secret);
        /* A component: the ticket used is good, or refused (61005/61006): then maybe the previous one, now. */
        fallback = app_component_answered(it, r == 0 ? 0 : res.errcode);
        if (r == 0)
                item_publish(it, &res, clock_wall_ms());
        else
                item_step(it, &(struct core_event){ .type = CORE_EV_FAILED, .errcode = res.errcode,
                                                    .errmsg = res.errmsg });
        if (fallback)
                item_step(it, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
        explicit_bzero(res.value, sizeof(res.value));
}

/*
 * Its turn in the agent's queue (http.c): the call is built now, from the config and
 * token as they stand, and made with the time it may take from now. In a cluster the
 * lease may have run short while it waited: then it is not made at all.
 */
static void on_turn(void *userdata, struct http_call *c) {
        struct item *it = userdata;
        const struct app_config *cfg = it->app->cfg;
        int64_t budget = it->app->svc->ops->call_budget(it->app->svc->userdata, it->app);
        /* A reload may have shortened api_base meanwhile. */
        const char *base = cfg->api_base[it->call_api_index < cfg->n_api_base ? it->call_api_index : 0];
        struct upstream_request req;
        char errmsg[UPSTREAM_ERRMSG_MAX];
        long errcode = UPSTREAM_ERR_TRANSPORT;
        int r;

        if (budget <= 0) {
                http_cancel(c);
                it->call = NULL;
                item_step(it, &(struct core_event){ .type = CORE_EV_CALL_DROPPED });
                return;
        }
        memset(&req, 0, sizeof(req));
        if (it->call_probe)
                r = upstream_probe_request(base, item_value(it), &req);
        else if (it->auth)
                r = app_authorizer_request(it, base, &req, &errcode);
        else if (it->ticket)
                r = item_ticket_request(it, base, &req);
        else if (app_kind_platform(cfg->kind)) /* a component or suite: with the ticket pushed to it */
                r = upstream_component_request(cfg, base, app_component_ticket(it->app), &req);
        else
                r = upstream_token_request(cfg, base, it->call_force, &req);
        if (r < 0) {
                errcode = r == -EKEYREVOKED ? errcode : UPSTREAM_ERR_REQUEST;
        } else {
                r = http_begin(c, &req, cfg->ca_pem, cfg->ca_len, budget);
                if (r == 0)
                        log_app(LOG_DEBUG, it->name, 0, "%s %s", req.body ? "POST" : "GET", req.redacted_url);
                if (r == 0 && !it->call_probe && !it->auth) /* not the component's own endpoint */
                        item_quota_count(it, it->call_force);
        }
        upstream_request_clear(&req);
        if (r < 0) {
                http_cancel(c);
                it->call = NULL;
                snprintf(errmsg, sizeof(errmsg), "cannot start the request: %s", strerror(-r));
                item_step(it, &(struct core_event){ .type = CORE_EV_FAILED, .errcode = errcode, .errmsg = errmsg });
                return;
        }
        item_step(it, &(struct core_event){ .type = CORE_EV_CALL_STARTED });
}

/* The call the core decided waits for its turn: a client waiting on it puts it before the rest. */
void item_call(struct item *it, const struct core_action *a) {
        char errmsg[UPSTREAM_ERRMSG_MAX];
        int r;

        it->call_probe = a->call.probe;
        it->call_force = a->call.force;
        it->call_api_index = a->call.api_index;
        r = http_queue(it->app->svc->http, it->core.n_waiters > 0, on_turn, on_response, it, &it->call);
        if (r < 0) {
                snprintf(errmsg, sizeof(errmsg), "cannot start the request: %s", strerror(-r));
                item_step(it, &(struct core_event){ .type = CORE_EV_FAILED, .errcode = UPSTREAM_ERR_TRANSPORT,
                                                    .errmsg = errmsg });
                return;
        }
        item_step(it, &(struct core_event){ .type = CORE_EV_CALL_STARTED, .queued = true });
}

/* A token taken over at start: its number and times. */
struct adopted {
        uint64_t generation;
        int64_t expires_at_ms, fetched_at_ms;
};

/* Take over a token from the segment (agent restart) or the state file rec (reboot). */
static bool item_adopt(struct item *it, int64_t now, int on_disk, const struct state_record *rec, struct adopted *ad) {
        struct segment_slot slot;
        char current[UPSTREAM_TOKEN_MAX + 1], *copy;
        const char *from;
        int r;

        r = wxshm_writer_current(it->seg, current, sizeof(current), &slot);
        if (r > 0 && item_times_plausible(it, slot.fetched_at_ms, slot.expires_at_ms, now)) {
                from = "segment";
                *ad = (struct adopted){ slot.generation, slot.expires_at_ms, slot.fetched_at_ms };
                copy = item_value_copy(current, (size_t)r);
                explicit_bzero(current, sizeof(current));
                if (!copy)
                        return false;
                item_value_take(it, copy, (size_t)r);
        } else if (on_disk == 0 && item_times_plausible(it, rec->fetched_at_ms, rec->expires_at_ms, now)) {
                explicit_bzero(current, sizeof(current));
                from = "state file";
                copy = item_value_copy(rec->token, rec->token_len);
                r = copy ? wxshm_writer_publish_generation(it->seg, rec->token, rec->token_len, rec->expires_at_ms,
                                                           rec->fetched_at_ms, rec->generation)
                         : -ENOMEM;
                if (r < 0) {
                        item_value_drop(copy, rec->token_len);
                        return false;
                }
                item_value_take(it, copy, rec->token_len);
                *ad = (struct adopted){ rec->generation, rec->expires_at_ms, rec->fetched_at_ms };
        } else {
                explicit_bzero(current, sizeof(current));
                int64_t life = rec->expires_at_ms - rec->fetched_at_ms, min = it->app->svc->config->min_token_lifetime_ms;

                /* The rule of a fetched token's expires_in: said, then fetched anew. */
                if (on_disk == 0 && (life < min || life > UPSTREAM_LIFETIME_MAX * 1000LL))
                        log_app(LOG_WARNING, it->name, UPSTREAM_ERR_LIFETIME, "state file token not adopted: its lifetime "
                                "of %lld s is outside %lld..%d s (min_token_lifetime): not believed",
                                (long long)(life / 1000), (long long)(min / 1000), UPSTREAM_LIFETIME_MAX);
                item_value_clear(it);
                return false;
        }
        log_app(LOG_INFO, it->name, 0, "adopted generation %llu from the %s, expires in %lld s",
                (unsigned long long)ad->generation, from, (long long)((ad->expires_at_ms - now) / 1000));
        return true;
}

/* Why a segment could not be opened, and what to do about it. */
static void item_open_failed(struct item *it, int r) {
        const struct services *svc = it->app->svc;
        char why[256];

        snprintf(why, sizeof(why), "cannot open segment %s/%s: %s%s", svc->config->shm_dir, it->name, strerror(-r),
                 r == -EPERM    ? " (not a file of the agent's user: remove it; retried every backoff_max)"
                 : r == -ENOSPC ? " (the tmpfs is full: free space or raise its size; retried every backoff_max)"
                                : "");
        log_app(LOG_ERR, it->name, 0, "%s", why);
        failed_add(svc->failed, it->name, it->ticket ? "ticket" : app_kind_name(it->app->cfg->kind), why);
}

int item_init(struct item *it, struct app *app, enum ticket_type ticket, bool fresh) {
        const struct app_config *cfg = app->cfg;
        const struct services *svc = app->svc;
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        int64_t now = clock_wall_ms();
        struct adopted ad = { 0 };
        struct state_record rec;
        bool adopted;
        int r, on_disk;

        it->app = app;
        it->ticket = ticket;
        core_item_init(&it->core);
        it->started_at_ms = it->shown_since_ms = now;
        it->shown = item_shown(it);
        if (!it->auth && !it->owner) /* an account's items come named */
                snprintf(it->name, sizeof(it->name), "%s%s%s", cfg->name, ticket ? "." : "", ticket ? ticket_type_name(ticket) : "");
        on_disk = state_load(svc->config->state_dir, it->name, cfg->appid, &rec);
        if (on_disk < 0 && on_disk != -ENOENT)
                log_app(LOG_WARNING, it->name, 0, "state file refused: %s/%s %s", svc->config->state_dir,
                        it->name, state_strerror(on_disk));
        opts.group = cfg->gid;
        opts.heartbeat_interval_ms = APP_HEARTBEAT_MS;
        /* The state file says the segment holds another appid's token: readers must not get it. */
        opts.discard = fresh || on_disk == -EXDEV;
        r = wxshm_writer_open(&it->seg, svc->shm_dir_fd, it->name, &opts);
        if (r < 0) {
                explicit_bzero(&rec, sizeof(rec));
                item_open_failed(it, r);
                return r;
        }
        r = sd_event_add_time(svc->loop, &it->timer, CLOCK_BOOTTIME, UINT64_MAX, 50 * 1000, on_timer, it);
        if (r < 0)
                return r;
        wxshm_writer_heartbeat(it->seg, now);
        if (on_disk == 0 && !fresh) /* even when the token itself is too old to adopt */
                budget_restore(&it->core.budget, rec.forced_day, rec.forced_today, rec.quota_day);
        adopted = !opts.discard && item_adopt(it, now, on_disk, &rec, &ad);
        explicit_bzero(&rec, sizeof(rec));
        if (adopted && ad.generation >= CLUSTER_GENERATION_LIMIT - 1) {
                it->core.generation = ad.generation; /* for the line that says so; the renewal resets it */
                adopted = false;
                if (item_segment_renew(it) < 0)
                        return -EIO;
        }
        {
                const struct wxshm_layout *seg = wxshm_writer_layout(it->seg);

                /* The last failure the segment records: a restart does not call sooner than backoff allows. */
                item_step(it, &(struct core_event){
                                      .type = CORE_EV_START,
                                      .adopted = adopted && ad.generation > 0,
                                      .generation = ad.generation,
                                      .expires_at_ms = ad.expires_at_ms,
                                      .fetched_at_ms = ad.fetched_at_ms,
                                      .last_errcode = (long)atomic_load_explicit(&seg->last_errcode, memory_order_relaxed),
                                      .last_error_at_ms = atomic_load_explicit(&seg->last_error_at_ms,
                                                                               memory_order_relaxed),
                              });
        }
        return 0;
}

/* The item left the config: its readers get -ENXIO, and its name is free (a new open is -ENOENT). */
static void item_remove_segment(struct item *it) {
        const struct services *svc = it->app->svc;
        int r = wxshm_writer_remove(it->seg, svc->shm_dir_fd, it->name);

        if (r < 0)
                log_app(LOG_WARNING, it->name, 0, "cannot unlink segment %s/%s: %s; its readers are told the app "
                        "is gone all the same", svc->config->shm_dir, it->name, strerror(-r));
}

void item_free(struct item *it, bool retire) {
        item_step(it, &(struct core_event){ .type = CORE_EV_ABORT,
                                            .answer = retire ? CORE_ANSWER_UNKNOWN_APP : CORE_ANSWER_STOPPING });
        core_item_free(&it->core);
        http_cancel(it->call);
        it->call = NULL;
        sd_event_source_disable_unref(it->timer);
        it->timer = NULL;
        if (it->seg && retire)
                item_remove_segment(it);
        wxshm_writer_close(it->seg);
        it->seg = NULL;
        item_value_clear(it);
        free(it->cluster_problem);
        it->cluster_problem = NULL;
}

int app_new(struct app **ret, struct services *svc, const struct app_config *cfg, bool fresh) {
        static const enum ticket_type types[] = { TICKET_JSAPI, TICKET_WX_CARD, TICKET_AGENT_CONFIG };
        struct app *app = calloc(1, sizeof(*app));
        int r;

        if (!app)
                return -ENOMEM;
        app->svc = svc;
        app->cfg = cfg;
        /* Room for the configured tickets only (most apps have none); app_reconfigure keeps the set. */
        app->tickets_size = __builtin_popcount(cfg->tickets);
        if (app->tickets_size > 0 && !(app->tickets = calloc((size_t)app->tickets_size, sizeof(*app->tickets)))) {
                free(app);
                return -ENOMEM;
        }
        app_quota_load(app);
        r = app_component_init(app);
        if (r == 0)
                r = item_init(&app->token, app, 0, fresh);
        if (r == 0)
                r = app_authorizers_init(app, fresh);
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

int app_retry_tickets(struct app *app) {
        static const enum ticket_type types[] = { TICKET_JSAPI, TICKET_WX_CARD, TICKET_AGENT_CONFIG };
        int started = 0;

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                bool running = false;

                if (!(app->cfg->tickets & types[i]) || app->n_tickets >= app->tickets_size)
                        continue;
                for (int t = 0; t < app->n_tickets; t++)
                        running = running || app->tickets[t].ticket == types[i];
                if (running)
                        continue;
                if (item_init(&app->tickets[app->n_tickets], app, types[i], false) == 0) {
                        app->n_tickets++;
                        started++;
                } else {
                        item_free(&app->tickets[app->n_tickets], false);
                        memset(&app->tickets[app->n_tickets], 0, sizeof(app->tickets[0]));
                }
        }
        return started;
}

bool app_complete(const struct app *app) {
        return app->n_tickets == __builtin_popcount((unsigned)app->cfg->tickets);
}

void app_free(struct app *app, bool retire) {
        if (!app)
                return;
        app_authorizers_free(app, retire);
        item_free(&app->token, retire);
        for (int i = 0; i < app->n_tickets; i++)
                item_free(&app->tickets[i], retire);
        free(app->tickets);
        free(app->lease_problem);
        app_component_free(app);
        free(app);
}

bool app_reconfigure(struct app *app, const struct app_config *cfg) {
        const struct app_config *old = app->cfg;

        if (strcmp(old->appid, cfg->appid) != 0 || old->kind != cfg->kind || old->gid != cfg->gid ||
            old->tickets != cfg->tickets || old->account_tickets != cfg->account_tickets)
                return false;
        /* Secret, api_base, ca_file, margin: the next call uses them; calls in flight finish. */
        app->cfg = cfg;
        if (app->token.core.api_index >= cfg->n_api_base)
                app->token.core.api_index = 0;
        for (int i = 0; i < app->n_tickets; i++)
                if (app->tickets[i].core.api_index >= cfg->n_api_base)
                        app->tickets[i].core.api_index = 0;
        return true;
}

void app_retire_tickets(struct app *app, unsigned keep) {
        for (int i = 0; i < app->n_tickets; i++)
                if (!(app->tickets[i].ticket & keep))
                        item_remove_segment(&app->tickets[i]);
}

void app_stop(struct app *app) {
        item_step(&app->token, &(struct core_event){ .type = CORE_EV_STOPPED });
        for (int i = 0; i < app->n_tickets; i++)
                item_step(&app->tickets[i], &(struct core_event){ .type = CORE_EV_STOPPED });
        app_account_tickets_stopping(app);
        app_authorizers_stop(app);
}

void app_heartbeat(struct app *app, int64_t now_ms) {
        wxshm_writer_heartbeat(app->token.seg, now_ms);
        for (int i = 0; i < app->n_tickets; i++)
                wxshm_writer_heartbeat(app->tickets[i].seg, now_ms);
        app_authorizers_heartbeat(app, now_ms);
        app_component_alarm_check(app, now_ms);
        app_account_tickets_heartbeat(app, now_ms);
}

struct item *app_find_item(const struct services *svc, const char *name) {
        for (size_t i = 0; i < svc->n_apps; i++) {
                struct app *app = svc->apps[i];

                if (!app)
                        continue;
                if (strcmp(app->token.name, name) == 0)
                        return &app->token;
                for (int t = 0; t < app->n_tickets; t++)
                        if (strcmp(app->tickets[t].name, name) == 0)
                                return &app->tickets[t];
                if (app->authorizers && app_authorizer_find(app, name))
                        return app_authorizer_find(app, name);
                if (app->authorizers && app_account_ticket_find(app, name))
                        return app_account_ticket_find(app, name);
        }
        return NULL;
}
