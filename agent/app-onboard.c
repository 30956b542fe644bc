/* app-onboard.c: a component's accounts from WeChat's side: onboarding by authorization code (api_query_auth) and sync from api_get_authorizer_list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-event.h>

#include "app.h"
#include "app-internal.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "protocol.h"
#include "redact.h"
#include "services.h"
#include "state-file.h"
#include "upstream-platform.h"

/* api_query_auth: the code is unknown or used (61009), or older than its hour (61010). */
#define ERRCODE_CODE_INVALID 61009
#define ERRCODE_CODE_EXPIRED 61010
/* A refused refresh token starts a sync at most this often per component: each costs a call per 500 accounts. */
#define AUTO_SYNC_SPACING_MS (5 * 60 * 1000)

/*
 * One call to a component's own endpoint on behalf of a client (reply set) or of the agent
 * (a sync after 61023): api_query_auth once, or api_get_authorizer_list page after page.
 */
struct authorizer_job {
        struct app *app;
        struct authorizer_job *next, **prev;
        struct http_call *call;
        bool sync;
        char code[PROTOCOL_AUTH_CODE_MAX + 1];  /* onboarding: the authorization code, wiped once used */
        uint64_t offset, total;
        unsigned added, updated, unchanged, failed;
        app_reply_fn reply;             /* NULL: the agent's own sync, said in the log only */
        void *userdata;
        int64_t uid, pid;
        char why[96];                   /* an automatic sync: the account whose refresh token was refused */
        struct authorizer_job **slot;   /* a client waiting for a save: its change's pointer, cleared when it goes */
};

/* What a list entry did to the accounts held. */
enum sync_outcome { SYNC_ADDED, SYNC_UPDATED, SYNC_UNCHANGED, SYNC_FAILED };

static void sync_begin(struct app *app) {
        for (struct authorizer *a = app->authorizers; a; a = a->next)
                a->listed = false;
}

static enum sync_outcome sync_take(struct app *app, const char *appid, const char *refresh_token) {
        struct authorizer_record rec = { 0 };
        struct authorizer *a = authorizer_find(app, appid);
        bool wake;
        int r;

        if (a) {
                a->listed = true;
                /* A call under way decides with the token it was made with: the next sync sees what it kept. */
                if (strcmp(a->rec.refresh_token, refresh_token) == 0 || a->item.call)
                        return SYNC_UNCHANGED;
                wake = a->rec.refused || a->item.core.failure != FAILURE_NONE || a->item.core.generation == 0;
                snprintf(a->rec.refresh_token, sizeof(a->rec.refresh_token), "%s", refresh_token);
                a->rec.refused = 0;
                /* Shared before the page's file is written, as a rotated refresh token is. */
                authorizer_bump(&a->rec);
                authorizer_share(app, &a->rec, false);
                log_app(LOG_NOTICE, a->item.name, 0, "api_get_authorizer_list holds another refresh token for it: "
                        "taken%s", wake ? ", calling now" : "");
                if (wake)
                        item_step(&a->item, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
                return SYNC_UPDATED;
        }
        if (authorizers_count(app) >= PROTOCOL_AUTHORIZERS_MAX || strlen(app->cfg->name) + 1 + strlen(appid) >= sizeof(a->item.name))
                return SYNC_FAILED;
        memcpy(rec.appid, appid, strnlen(appid, sizeof(rec.appid) - 1));
        snprintf(rec.refresh_token, sizeof(rec.refresh_token), "%s", refresh_token);
        authorizer_bump(&rec);
        /* Its first call is queued: it starts from the loop, after the file is saved. */
        r = authorizer_start(app, &rec, true, &a);
        explicit_bzero(&rec, sizeof(rec));
        if (r < 0)
                return SYNC_FAILED;
        authorizer_share(app, &a->rec, false);
        a->listed = true;
        log_app(LOG_NOTICE, a->item.name, 0, "authorizer added from api_get_authorizer_list");
        return SYNC_ADDED;
}

static unsigned sync_end(struct app *app, bool complete) {
        struct authorizer *next;
        unsigned revoked = 0;

        authorizers_flush(app);
        /* Only a whole list says an account is gone, and only one WeChat refused (61023, 61003) is removed for it. */
        for (struct authorizer *a = complete ? app->authorizers : NULL; a; a = next) {
                char item_name[sizeof(a->item.name)];

                next = a->next;
                if (a->listed || (a->rec.refused != ERRCODE_REFRESH_INVALID && a->rec.refused != ERRCODE_NOT_AUTHORIZED))
                        continue;
                authorizer_unlink(app, a);
                snprintf(item_name, sizeof(item_name), "%s", a->item.name);
                log_app(LOG_WARNING, item_name, a->rec.refused, "authorizer revoked: its refresh token was refused "
                        "and api_get_authorizer_list no longer lists it (de-authorized): removed, segment removed");
                authorizer_bump(&a->rec);
                authorizer_share(app, &a->rec, true);
                authorizer_stop(a);
                state_remove(app->svc->config->state_dir, item_name);
                revoked++;
        }
        app->authorizers_revoked += revoked;
        authorizers_save(app);
        return revoked;
}

static void job_free(struct authorizer_job *j) {
        *j->prev = j->next;
        if (j->next)
                j->next->prev = j->prev;
        if (j->slot)
                *j->slot = NULL;
        http_cancel(j->call);
        explicit_bzero(j, sizeof(*j));
        free(j);
}

/* The job is over: its client answered (line taken), or the line said in the log for the agent's own sync. */
static void job_finish(struct authorizer_job *j, char *line) {
        app_reply_fn reply = j->reply;
        void *userdata = j->userdata;

        j->call = NULL;
        job_free(j);
        if (reply)
                reply(userdata, line);
        else
                free(line);
}

static void on_done(void *userdata, const struct http_response *http);

/* The next call of the job (a page, or the query) queued: 0 or -errno. */
static int job_queue(struct authorizer_job *j);

static void on_turn(void *userdata, struct http_call *c) {
        struct authorizer_job *j = userdata;
        struct app *app = j->app;
        const struct app_config *cfg = app->cfg;
        int64_t budget = app->svc->ops->call_budget(app->svc->userdata, app);
        struct upstream_request req;
        char message[256];
        int r;

        memset(&req, 0, sizeof(req));
        /*
         * An agent that does not hold the lease calls too: an auth code is good once and a sync
         * only reads, and what they yield reaches the holder through Redis (authorizer_holder_publishes).
         * A holder still reading Redis (budget 0) waits like any of its calls.
         */
        if (budget <= 0 && authorizer_holder_publishes(app))
                budget = APP_HTTP_TIMEOUT_MS;
        if (budget <= 0 || app->token.core.generation == 0) {
                http_cancel(c);
                j->call = NULL;
                snprintf(message, sizeof(message), "%s has no %s token to call with now (%s): try again later",
                         cfg->name, authorizer_is_suite(app) ? "suite" : "component",
                         budget <= 0 ? "another agent holds its lease" : "none fetched yet");
                job_finish(j, protocol_error(PROTO_E_AUTHORIZER_REFUSED, message, -1));
                return;
        }
        /* A suite's corp onboarded by its auth code alone: get_permanent_code says which corp it is. */
        if (j->sync)
                r = upstream_authorizer_list_request(cfg->api_base[0], cfg->appid, item_value(&app->token), j->offset,
                                                     UPSTREAM_AUTHORIZER_PAGE, &req);
        else if (authorizer_is_suite(app))
                r = upstream_permanent_code_request(cfg->api_base[0], item_value(&app->token), j->code, &req);
        else
                r = upstream_query_auth_request(cfg->api_base[0], cfg->appid, item_value(&app->token), j->code, &req);
        if (r == 0)
                r = http_begin(c, &req, cfg->ca_pem, cfg->ca_len, budget);
        if (r == 0)
                log_app(LOG_DEBUG, cfg->name, 0, "POST %s", req.redacted_url);
        upstream_request_clear(&req);
        if (r < 0) {
                http_cancel(c);
                j->call = NULL;
                snprintf(message, sizeof(message), "cannot start the request: %s", strerror(-r));
                job_finish(j, protocol_error(PROTO_E_AUTHORIZER_REFUSED, message, -1));
        }
}

static int job_queue(struct authorizer_job *j) {
        return http_queue(j->app->svc->http, j->reply != NULL, on_turn, on_done, j, &j->call);
}

/* What WeChat said, for a reply: errcode, and its errmsg (the secret already out of it). */
static char *failed(struct authorizer_job *j, const char *what, const struct upstream_result *res) {
        char message[512];

        if (!j->sync && (res->errcode == ERRCODE_CODE_INVALID || res->errcode == ERRCODE_CODE_EXPIRED))
                snprintf(message, sizeof(message), "api_query_auth refused the authorization code (errcode %ld: %s): "
                         "it is good once and for an hour; the merchant must authorize again for a new one",
                         res->errcode, res->errcode == ERRCODE_CODE_INVALID ? "unknown or already used" : "expired");
        else
                snprintf(message, sizeof(message), "%s failed: errcode %ld: %.200s", what, res->errcode, res->errmsg);
        log_app(LOG_WARNING, j->app->cfg->name, res->errcode, "%s", message);
        return protocol_error(PROTO_E_AUTHORIZER_REFUSED, message, -1);
}

static void page_done(struct authorizer_job *j, const struct http_response *http, const struct upstream_policy *pol) {
        struct app *app = j->app;
        struct upstream_result res = { 0 };
        struct upstream_listed *page = calloc(UPSTREAM_AUTHORIZER_PAGE, sizeof(*page));
        size_t n = 0;
        uint64_t total = 0;
        unsigned revoked;
        char message[256];
        int r;

        if (!page) {
                job_finish(j, protocol_error(PROTO_E_AUTHORIZER_REFUSED, "out of memory", -1));
                return;
        }
        if (http->curl_code != 0) {
                res.errcode = UPSTREAM_ERR_TRANSPORT;
                snprintf(res.errmsg, sizeof(res.errmsg), "%s", http->curl_error);
                r = -EIO;
        } else {
                r = upstream_authorizer_list_parse(http->status, http->body, http->body_len, pol, &res, page,
                                                   UPSTREAM_AUTHORIZER_PAGE, &n, &total);
        }
        /* Clients' adds and removes waiting for a save are settled before the list changes the accounts. */
        authorizers_flush(app);
        for (size_t i = 0; r == 0 && i < n; i++) {
                switch (sync_take(app, page[i].appid, page[i].refresh_token)) {
                case SYNC_ADDED: j->added++; break;
                case SYNC_UPDATED: j->updated++; break;
                case SYNC_UNCHANGED: j->unchanged++; break;
                default: j->failed++; break;
                }
        }
        explicit_bzero(page, UPSTREAM_AUTHORIZER_PAGE * sizeof(*page));
        free(page);
        if (r < 0) {
                /* What was taken so far is kept: on the disk before anything else happens. */
                authorizers_save(app);
                job_finish(j, failed(j, "api_get_authorizer_list", &res));
                return;
        }
        /* Each page on the disk before its new accounts' first calls (queued, made from the loop). */
        authorizers_save(app);
        j->total = total;
        j->offset += n;
        if (n > 0 && j->offset < total && job_queue(j) == 0)
                return;
        revoked = sync_end(app, j->offset >= total);
        snprintf(message, sizeof(message), "%s%s%s: %u added, %u updated, %u unchanged, %u revoked, %u not taken, "
                 "%llu listed", j->reply ? "synced" : "synced after a refused refresh token (", j->why,
                 j->reply ? "" : ")", j->added, j->updated, j->unchanged, revoked, j->failed,
                 (unsigned long long)total);
        log_app(LOG_NOTICE, app->cfg->name, 0, "%s", message);
        job_finish(j, protocol_authorizer_synced(app->cfg->name, j->added, j->updated, j->unchanged, revoked, total,
                                                 message));
}

static void on_done(void *userdata, const struct http_response *http) {
        struct authorizer_job *j = userdata;
        const struct app_config *cfg = j->app->cfg;
        struct upstream_policy pol = { .secret = cfg->secret,
                                       .min_lifetime_s = j->app->svc->config->min_token_lifetime_ms / 1000 };
        struct upstream_result res = { 0 };
        char appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1], rt[PROTOCOL_REFRESH_TOKEN_MAX + 1];
        char *line;
        int r;

        j->call = NULL;
        if (j->sync) {
                page_done(j, http, &pol);
                return;
        }
        explicit_bzero(j->code, sizeof(j->code));
        if (http->curl_code != 0) {
                res.errcode = UPSTREAM_ERR_TRANSPORT;
                snprintf(res.errmsg, sizeof(res.errmsg), "%s", http->curl_error);
                r = -EIO;
        } else if (authorizer_is_suite(j->app)) {
                /* The corp's token comes with its permanent code, as api_query_auth's with a refresh token. */
                r = upstream_permanent_code_parse(http->status, http->body, http->body_len, &pol, &res, rt, sizeof(rt),
                                                  appid, sizeof(appid));
        } else {
                r = upstream_query_auth_parse(http->status, http->body, http->body_len, &pol, &res, appid, rt);
        }
        redact_secret_forms(res.errmsg, cfg->secret);
        line = r == 0 ? authorizer_onboard(j->app, appid, rt, &res, j->uid, j->pid)
                      : failed(j, authorizer_is_suite(j->app) ? "get_permanent_code" : "api_query_auth", &res);
        explicit_bzero(rt, sizeof(rt));
        explicit_bzero(&res, sizeof(res));
        job_finish(j, line);
}

static struct authorizer_job *job_new(struct app *app, bool sync, app_reply_fn reply, void *userdata) {
        struct authorizer_job *j = calloc(1, sizeof(*j));

        if (!j)
                return NULL;
        *j = (struct authorizer_job){ .app = app, .sync = sync, .reply = reply, .userdata = userdata, .uid = -1,
                                      .pid = -1 };
        j->next = app->jobs;
        j->prev = &app->jobs;
        if (j->next)
                j->next->prev = &j->next;
        app->jobs = j;
        return j;
}

char *app_onboard_op(struct item *it, const struct request *req, int64_t uid, int64_t pid, app_reply_fn reply,
                     void *userdata, struct authorizer_job **ret) {
        struct app *app = it->app;
        struct authorizer_job *j;
        int r;

        *ret = NULL;
        /* A component's auth code or sync; a suite's auth code given alone (no corpid: its answer names the corp). */
        if (it != &app->token || app->authorizers_refused_file ||
            !(app->cfg->kind == APP_KIND_COMPONENT ? (req->op == OP_AUTHORIZER_ADD && req->auth_code[0]) ||
                                                     req->op == OP_AUTHORIZER_SYNC
                                                   : app->cfg->kind == APP_KIND_SUITE && req->op == OP_AUTHORIZER_ADD &&
                                                     req->auth_code[0] && !req->authorizer_appid[0]))
                /* Says why it cannot, lists, or adds or removes by refresh token (answered after the save). */
                return app_authorizer_op(it, req, uid, pid, reply, userdata, ret);
        if (req->op == OP_AUTHORIZER_ADD && req->authorizer_appid[0])
                return authorizer_refuse("%s is a component: give the auth code alone (wxtokenctl authorizer add %s "
                                         "--auth-code): the appid comes from WeChat's answer", app->cfg->name,
                                         app->cfg->name);
        if (app->token.core.generation == 0)
                return authorizer_refuse("%s has no %s token yet (wxtokenctl status): try again once it has one",
                                         app->cfg->name, authorizer_is_suite(app) ? "suite" : "component");
        for (j = app->jobs; j && req->op == OP_AUTHORIZER_SYNC; j = j->next)
                if (j->sync)
                        return authorizer_refuse("a sync of %s is under way%s: try again when it is done",
                                                 app->cfg->name, j->reply ? "" : " (a refresh token was refused)");
        j = job_new(app, req->op == OP_AUTHORIZER_SYNC, reply, userdata);
        if (!j)
                return authorizer_refuse("out of memory%s%s", "", "");
        if (j->sync)
                sync_begin(app);
        j->uid = uid;
        j->pid = pid;
        snprintf(j->code, sizeof(j->code), "%s", req->auth_code);
        r = job_queue(j);
        if (r < 0) {
                job_free(j);
                return authorizer_refuse("cannot queue the call: %s%s", strerror(-r), "");
        }
        *ret = j;
        return NULL;
}

static int on_auto_sync_due(sd_event_source *s, uint64_t usec, void *userdata) {
        struct app *app = userdata;

        app->auto_sync_timer = sd_event_source_disable_unref(app->auto_sync_timer);
        app_onboard_auto_sync(app, app->cfg->name, app->auto_sync_errcode);
        return 0;
}

/*
 * Within the spacing, the sync is put off to its end rather than dropped: an account refused
 * then would otherwise stay refused (it calls no more) until someone runs a sync. One timer
 * a component covers every account refused meanwhile: the one sync reads the whole list.
 */
static void auto_sync_defer(struct app *app, const char *why, long errcode) {
        uint64_t due_us = (uint64_t)(app->auto_sync_at_ms + AUTO_SYNC_SPACING_MS) * 1000;
        int r;

        app->auto_sync_errcode = errcode;
        if (app->auto_sync_timer)
                return;
        r = sd_event_add_time(app->svc->loop, &app->auto_sync_timer, CLOCK_BOOTTIME, due_us, 1000 * 1000,
                              on_auto_sync_due, app);
        if (r < 0) {
                log_app(LOG_ERR, why, errcode, "cannot put off a sync of %s's api_get_authorizer_list: %s; run "
                        "wxtokenctl authorizer sync %s", app->cfg->name, strerror(-r), app->cfg->name);
                return;
        }
        log_app(LOG_INFO, why, errcode, "the last sync of %s's api_get_authorizer_list was less than 5 minutes ago: "
                "the next one is put off to %lld s from now", app->cfg->name,
                (long long)((app->auto_sync_at_ms + AUTO_SYNC_SPACING_MS - clock_boot_ms()) / 1000));
}

void app_onboard_auto_sync(struct app *app, const char *why, long errcode) {
        int64_t now = clock_boot_ms();
        struct authorizer_job *j;

        for (j = app->jobs; j; j = j->next)
                if (j->sync)
                        return; /* one under way reads the whole list anyway */
        if (app->auto_sync_at_ms && now < app->auto_sync_at_ms + AUTO_SYNC_SPACING_MS) {
                auto_sync_defer(app, why, errcode);
                return;
        }
        app->auto_sync_timer = sd_event_source_disable_unref(app->auto_sync_timer);
        app->auto_sync_at_ms = now;
        j = job_new(app, true, NULL, NULL);
        if (!j)
                return;
        snprintf(j->why, sizeof(j->why), "%s", why);
        sync_begin(app);
        log_app(LOG_NOTICE, why, errcode, "%s: reading %s's api_get_authorizer_list for another refresh token "
                "(or its revocation)", errcode == ERRCODE_NOT_AUTHORIZED ? "authorization cancelled" :
                "refresh token refused", app->cfg->name);
        if (job_queue(j) < 0)
                job_free(j);
}

struct authorizer_job *authorizer_wait(struct app *app, app_reply_fn reply, void *userdata,
                                       struct authorizer_job **slot) {
        struct authorizer_job *j = job_new(app, false, reply, userdata);

        if (j) {
                j->slot = slot;
                *slot = j;
        }
        return j;
}

void authorizer_answer(struct authorizer_job *j, char *line) {
        job_finish(j, line);
}

void app_onboard_cancel(struct authorizer_job *j) {
        if (j)
                job_free(j);
}

void app_onboard_abort(struct app *app) {
        app->auto_sync_timer = sd_event_source_disable_unref(app->auto_sync_timer);
        while (app->jobs)
                job_finish(app->jobs, protocol_error(PROTO_E_AUTHORIZER_REFUSED, "the component was removed or the "
                                                     "agent stops: nothing done", -1));
}
