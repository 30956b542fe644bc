/* app-authorizer.c: accounts authorized to a platform, added at run time: a component's authorizers (refresh tokens), a WeCom suite's corps (permanent codes); their items and file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "authorizer-file.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "protocol.h"
#include "state-file.h"

/* The account's credential as messages name it. */
static const char *credential_name(const struct app *app) {
        return authorizer_is_suite(app) ? "permanent code" : "refresh token";
}

bool app_authorizer_refused(const struct item *it) {
        return it->auth && it->auth->rec.refused != 0;
}

void app_authorizers_count(const struct app *app, unsigned *total, unsigned *refused, unsigned *failing) {
        *total = *refused = *failing = 0;
        for (const struct authorizer *a = app->authorizers; a; a = a->next) {
                (*total)++;
                *refused += a->rec.refused != 0;
                *failing += !a->rec.refused && a->item.core.failure != FAILURE_NONE;
        }
}

/*
 * Write every account's record, fsync'd: 0 or -errno (said in the log). While the file
 * read at start was refused, nothing is written over it (it may still be mended).
 */
int authorizers_save(struct app *app) {
        const char *dir = app->svc->config->state_dir;
        size_t n = authorizers_count(app), i = 0;
        struct authorizer_record *recs = n ? calloc(n, sizeof(*recs)) : NULL;
        int r;

        if (app->authorizers_refused_file)
                return -EBADMSG;
        if (n && !recs)
                return -ENOMEM;
        /* A corp still exchanging its auth code has no permanent code to keep yet. */
        for (const struct authorizer *a = app->authorizers; a; a = a->next)
                if (a->rec.refresh_token[0])
                        recs[i++] = a->rec;
        r = authorizer_file_save(dir, app->cfg->name, app->cfg->appid, recs, i);
        if (recs)
                explicit_bzero(recs, n * sizeof(*recs));
        free(recs);
        if (r < 0)
                log_app(LOG_ERR, app->cfg->name, 0, "cannot write %s/%s.authorizers: %s", dir, app->cfg->name,
                        state_strerror(r));
        return r;
}

/*
 * Cluster mode: a record that changed here goes to Redis, sealed (cluster-accounts.c), with
 * a version above the one it had, so every agent takes it and none takes an older one back.
 */
int authorizer_renew(struct app *app, struct authorizer *a, const char *credential) {
        struct authorizer_record old = a->rec;
        int r;

        snprintf(a->rec.refresh_token, sizeof(a->rec.refresh_token), "%s", credential);
        a->rec.refused = 0;
        authorizer_bump(&a->rec);
        r = authorizers_save(app);
        if (r < 0)
                a->rec = old;
        else
                authorizer_share(app, &a->rec, false);
        explicit_bzero(&old, sizeof(old));
        return r;
}

void authorizer_bump(struct authorizer_record *rec) {
        uint64_t now = (uint64_t)clock_wall_ms();

        rec->changed_ms = now > rec->changed_ms ? now : rec->changed_ms + 1;
}

void authorizer_share(struct app *app, const struct authorizer_record *rec, bool removed) {
        if (app->svc->ops->account_changed)
                app->svc->ops->account_changed(app->svc->userdata, app, rec, removed);
}

static void wipe_free(struct authorizer *a) {
        explicit_bzero(a, sizeof(*a));
        free(a);
}

/* Start the account's item (its segment, adopting a token still good): 0, or -errno with nothing left. */
int authorizer_start(struct app *app, const struct authorizer_record *rec, bool fresh, struct authorizer **ret) {
        struct authorizer *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return -ENOMEM;
        a->rec = *rec;
        a->item.auth = a;
        r = snprintf(a->item.name, sizeof(a->item.name), "%s.%s", app->cfg->name, rec->appid) <
                            (int)sizeof(a->item.name) ? item_init(&a->item, app, 0, fresh) : -ENAMETOOLONG;
        if (r < 0) {
                item_free(&a->item, false);
                wipe_free(a);
                return r;
        }
        /* A refused refresh token makes no call until the account is added again (re-authorized). */
        r = authorizer_link(app, a);
        if (r < 0) {
                item_free(&a->item, true);
                wipe_free(a);
                return r;
        }
        account_tickets_start(app, a, fresh);
        *ret = a;
        return 0;
}

int app_authorizers_init(struct app *app, bool fresh) {
        const char *dir = app->svc->config->state_dir;
        struct authorizer_record *recs = NULL;
        struct authorizer *a;
        size_t n = 0;
        int r;

        if (!app_kind_platform(app->cfg->kind))
                return 0;
        r = authorizer_file_load(dir, app->cfg->name, app->cfg->appid, &recs, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                /* Its refresh tokens cannot be made again: the file is left as it is, for the operator. */
                app->authorizers_refused_file = true;
                log_app(LOG_ERR, app->cfg->name, 0, "%s/%s.authorizers refused: %s; its authorizers are not started "
                        "and the file is left untouched (authorizer_add and _remove are refused until it is mended "
                        "or moved away and the agent restarted)", dir, app->cfg->name,
                        r == -EXDEV ? "it is another component_appid's" : state_strerror(r));
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                r = authorizer_start(app, &recs[i], fresh, &a);
                if (r < 0)
                        log_app(LOG_ERR, app->cfg->name, 0, "authorizer %s could not start: %s; kept in the file, "
                                "started at the next restart", recs[i].appid, strerror(-r));
        }
        if (n > 0)
                log_app(LOG_INFO, app->cfg->name, 0, "%zu authorizers read from %s/%s.authorizers", n, dir,
                        app->cfg->name);
        if (recs)
                explicit_bzero(recs, n * sizeof(*recs));
        free(recs);
        return 0;
}

/* Stop (retire: remove, readers told) the account's item and free it. */
static void stop(struct authorizer *a, bool retire) {
        account_tickets_stop(a, retire);
        item_free(&a->item, retire);
        wipe_free(a);
}

void app_authorizers_free(struct app *app, bool retire) {
        /* Its clients answered first ("removed or stops"), then what waited for a save undone. */
        app_onboard_abort(app);
        authorizers_batch_abort(app);
        while (app->authorizers) {
                struct authorizer *a = app->authorizers;

                authorizer_unlink(app, a);
                stop(a, retire);
        }
        authorizers_index_free(app);
}

void app_authorizers_stop(struct app *app) {
        for (struct authorizer *a = app->authorizers; a; a = a->next)
                item_step(&a->item, &(struct core_event){ .type = CORE_EV_STOPPED });
}

void app_authorizers_heartbeat(struct app *app, int64_t now_ms) {
        for (struct authorizer *a = app->authorizers; a; a = a->next)
                wxshm_writer_heartbeat(a->item.seg, now_ms);
}

void app_authorizers_poke(struct app *app) {
        /* Only those waiting for a component token: a new one does not make the accounts' tokens stale. */
        for (struct authorizer *a = app->authorizers; a; a = a->next)
                if (!a->rec.refused && (a->item.core.generation == 0 || a->item.core.failure != FAILURE_NONE ||
                                        a->awaiting_token)) {
                        a->awaiting_token = false;
                        item_step(&a->item, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
                }
}

char *authorizer_refuse(const char *fmt, const char *a, const char *b) {
        char message[320];

        snprintf(message, sizeof(message), fmt, a, b);
        return protocol_error(PROTO_E_AUTHORIZER_REFUSED, message, -1);
}

/* A corp onboarded with its auth code: the next call exchanges it; nothing is saved until the permanent code comes. */
static char *add_auth_code(struct app *app, struct authorizer *a, const char *auth_code, int64_t uid, int64_t pid) {
        snprintf(a->auth_code, sizeof(a->auth_code), "%s", auth_code);
        a->rec.refused = 0;
        log_app(LOG_NOTICE, a->item.name, 0, "auth code given by uid %lld pid %lld: exchanging it for the permanent "
                "code now", (long long)uid, (long long)pid);
        item_step(&a->item, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
        return protocol_authorizer_ok("added", app->cfg->name, a->rec.appid, "auth code taken: exchanging it for the "
                                      "permanent code and the corp's token now (wxtokenctl authorizer list says how "
                                      "it went)");
}

/*
 * An add by refresh token: applied now, answered after the save that covers it (NULL
 * returned, *job set), or refused at once (the reply line). A change of an account that
 * waits for a save already, or of one whose removal waits, saves that batch first: one
 * batch holds one change per account, so undoing it is exact.
 */
static char *add(struct app *app, const char *appid, const char *refresh_token, bool auth_code, int64_t uid,
                 int64_t pid, app_reply_fn reply, void *userdata, struct authorizer_job **job) {
        const char *name = app->cfg->name;
        struct authorizer_record rec = { 0 }, old;
        struct authorizer *a = authorizer_find(app, appid);
        int r;

        /* Open Platform appids are "wx..."; WeCom corpids "ww..." (old corps "wx..."). */
        if (!authorizer_is_suite(app) && appid[1] != 'x')
                return authorizer_refuse("%s is a component: %s is not an Open Platform appid (wx...)", name, appid);
        if (auth_code && !authorizer_is_suite(app))
                return authorizer_refuse("%s is a component: \"auth_code\" is WeCom's%s; give the refresh token", name, "");
        if ((a && a->change) || (!a && authorizer_removal_batched(app, appid))) {
                authorizers_flush(app);
                a = authorizer_find(app, appid);
        }
        if (a && auth_code)
                return add_auth_code(app, a, refresh_token, uid, pid);
        if (a) {
                /* Authorized again: the new refresh token replaces the old, and a refused account calls again. */
                old = a->rec;
                snprintf(a->rec.refresh_token, sizeof(a->rec.refresh_token), "%s", refresh_token);
                a->rec.refused = 0;
                authorizer_bump(&a->rec);
                r = authorizer_batch(app, CHANGE_RENEWED, a, &old, uid, pid, reply, userdata, job);
                if (r < 0)
                        a->rec = old;
                explicit_bzero(&old, sizeof(old));
                return r < 0 ? authorizer_refuse("cannot queue the save: %s%s", strerror(-r), "") : NULL;
        }
        if (authorizers_count(app) >= PROTOCOL_AUTHORIZERS_MAX)
                return authorizer_refuse("%s holds " PROTOCOL_STR(PROTOCOL_AUTHORIZERS_MAX) " authorizers already%s", name, "");
        if (strlen(name) + 1 + strlen(appid) >= sizeof(a->item.name))
                return authorizer_refuse("%s.%s: the name is too long for a segment", name, appid);
        memcpy(rec.appid, appid, strnlen(appid, sizeof(rec.appid) - 1));
        if (!auth_code)
                snprintf(rec.refresh_token, sizeof(rec.refresh_token), "%s", refresh_token);
        authorizer_bump(&rec);
        r = authorizer_start(app, &rec, true, &a);
        explicit_bzero(&rec, sizeof(rec));
        if (r < 0)
                return authorizer_refuse("authorizer %s could not start: %s", appid, strerror(-r));
        if (auth_code)
                return add_auth_code(app, a, refresh_token, uid, pid);
        /* On the disk before the add is answered: a lost refresh token cannot be made again. */
        r = authorizer_batch(app, CHANGE_ADDED, a, NULL, uid, pid, reply, userdata, job);
        if (r < 0) {
                authorizer_unlink(app, a);
                stop(a, true);
                return authorizer_refuse("cannot queue the save: %s%s", strerror(-r), "");
        }
        return NULL;
}

/* Unlinked now (no longer listed or found), stopped once the save without it returned 0. */
static char *remove_one(struct app *app, const char *appid, int64_t uid, int64_t pid, app_reply_fn reply,
                        void *userdata, struct authorizer_job **job) {
        struct authorizer *a = authorizer_find(app, appid);
        int r;

        if (a && a->change) {
                authorizers_flush(app);
                a = authorizer_find(app, appid);
        }
        if (!a)
                return authorizer_refuse("%s has no authorizer %s", app->cfg->name, appid);
        authorizer_unlink(app, a);
        r = authorizer_batch(app, CHANGE_REMOVED, a, NULL, uid, pid, reply, userdata, job);
        if (r < 0) {
                authorizer_link(app, a);
                return authorizer_refuse("cannot queue the save: %s%s", strerror(-r), "");
        }
        return NULL;
}

static void entry_of(const struct authorizer *a, struct authorizer_entry *e, char *note, size_t note_size) {
        const struct item *it = &a->item;

        *e = (struct authorizer_entry){ .appid = a->rec.appid, .generation = it->core.generation,
                                        .expires_at_ms = it->core.generation ? it->core.expires_at_ms : 0,
                                        .last_errcode = it->core.errcode, .note = note };
        note[0] = '\0';
        if (a->rec.refused) {
                e->state = "refused";
                e->last_errcode = a->rec.refused;
                snprintf(note, note_size, "%s refused the %s (errcode %ld): the account was de-authorized or the "
                         "%s retired; no call until it is authorized again and added again (wxtokenctl authorizer "
                         "add)", authorizer_is_suite(it->app) ? "WeCom" : "WeChat", a->rec.refresh_token[0] ?
                         credential_name(it->app) : "auth code", a->rec.refused, credential_name(it->app));
        } else if (it->core.failure != FAILURE_NONE) {
                e->state = "failing";
                snprintf(note, note_size, "%.300s", it->core.advice);
        } else if (it->core.generation > 0) {
                e->state = "fresh";
        } else if (it->app->token.core.generation == 0) {
                e->state = "waiting";
                snprintf(note, note_size, "waiting for the %s's token", authorizer_is_suite(it->app) ? "suite" : "component");
        } else {
                e->state = "starting";
        }
}

/*
 * A page of the list, oldest first (new accounts go last, so paging by offset while
 * accounts are added misses none): limit entries, fewer once PROTOCOL_STATUS_BYTES is passed.
 */
static char *list(struct app *app, uint64_t offset, unsigned limit) {
        size_t total = authorizers_count(app), n = 0, bytes = 0, room = total > offset ? total - offset : 0;
        struct authorizer_entry *entries;
        char (*notes)[320];
        const struct authorizer *a = app->authorizers;
        int64_t next = -1;
        char *line;

        room = room < limit ? room : limit;
        entries = room ? calloc(room, sizeof(*entries)) : NULL;
        notes = room ? calloc(room, sizeof(*notes)) : NULL;
        if (room && (!entries || !notes)) {
                free(entries);
                free(notes);
                return protocol_error(PROTO_E_AUTHORIZER_REFUSED, "out of memory", -1);
        }
        for (uint64_t skip = offset; a && skip > 0; skip--)
                a = a->next;
        for (; a && n < room; a = a->next, n++) {
                if (n > 0 && bytes >= PROTOCOL_STATUS_BYTES)
                        break;
                entry_of(a, &entries[n], notes[n], sizeof(notes[n]));
                /* The entry's JSON: its strings and some 120 bytes of names and numbers. */
                bytes += strlen(entries[n].appid) + strlen(entries[n].state) + strlen(notes[n]) + 120;
        }
        if (a)
                next = (int64_t)(offset + n);
        line = protocol_authorizer_list(app->cfg->name, entries, n, total, next);
        free(entries);
        free(notes);
        return line;
}

/* For app-onboard.c, app-authorizer-batch.c and app-authorizer-cluster.c. */
void authorizer_stop(struct authorizer *a) {
        stop(a, true);
}

char *app_authorizer_op(struct item *it, const struct request *req, int64_t uid, int64_t pid, app_reply_fn reply,
                        void *userdata, struct authorizer_job **job) {
        struct app *app = it->app;

        if (it != &app->token || !app_kind_platform(app->cfg->kind))
                return authorizer_refuse("%s is not a component or suite (kind %s): authorizers belong to an app of kind "
                              "component, corps to an app of kind suite",
                              it->name, it->ticket || it->auth ? "ticket" : app_kind_name(app->cfg->kind));
        if (req->op == OP_AUTHORIZER_LIST)
                return list(app, req->offset, req->limit);
        if (app->authorizers_refused_file)
                return authorizer_refuse("%s/%s.authorizers was refused at start (see the log): mend it or move it away, then "
                              "restart the agent", app->svc->config->state_dir, app->cfg->name);
        /* WeCom lists no suite's corps with their codes: a lost permanent code takes a new authorization. */
        if (req->op == OP_AUTHORIZER_SYNC)
                return authorizer_refuse("%s is a suite: sync reads a component's api_get_authorizer_list; WeCom has no such "
                              "list%s", app->cfg->name, " (a corp whose permanent code is lost authorizes again)");
        if (req->op == OP_AUTHORIZER_ADD && !req->authorizer_appid[0])
                return authorizer_refuse("%s is a suite: give the corp's id with its permanent code (wxtokenctl authorizer "
                              "add %s CORPID), or its auth code alone (--auth-code)", app->cfg->name, app->cfg->name);
        if (req->op == OP_AUTHORIZER_ADD)
                return add(app, req->authorizer_appid, req->auth_code[0] ? req->auth_code : req->refresh_token,
                           req->auth_code[0] != '\0', uid, pid, reply, userdata, job);
        return remove_one(app, req->authorizer_appid, uid, pid, reply, userdata, job);
}
