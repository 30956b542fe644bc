/* cluster-lease.c: cluster mode's leases: claim, renew, lose, the call budget they give, and giving them up at a stop. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "cluster-internal.h"
#include "cluster-scripts.h"
#include "http.h"
#include "log.h"

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->svc->config->cluster;
}

void cluster_lease_lost(struct cluster *cl, struct app *app, const char *why) {
        app->lease.holder = false;
        /*
         * A token this agent could not push is not pushed later as if current: if the lease
         * comes back, on_read weighs it against Redis's by fetch time first.
         */
        for (int t = -1; t < app->n_tickets; t++)
                (t < 0 ? &app->token : &app->tickets[t])->cluster_dirty = false;
        for (struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it))
                it->cluster_dirty = false;
        log_app(LOG_WARNING, app->cfg->name, 0, "cluster: no longer the lease holder (%s): this agent does not call "
                "WeChat for this app", why);
        services_changed(cl->svc);
}

/* ---- leases ---- */

/*
 * What is wrong with the app's lease key, why (NULL: nothing any more): one log line per
 * change, and status shows it, since no agent can hold the lease (so none refreshes the
 * app) while it lasts.
 */
static void lease_problem(struct cluster *cl, struct app *app, const char *why) {
        if (!cluster_problem_set(&app->lease_problem, why))
                return;
        if (!why)
                log_app(LOG_NOTICE, app->cfg->name, 0, "cluster: the lease key in Redis is usable again");
        else
                log_app(LOG_ERR, app->cfg->name, 0, "cluster: %s", app->lease_problem);
        services_changed(cl->svc);
}

/* The claim script's {-1, type} or {-2, length}: the key is not a lease any agent wrote. */
static void lease_refused(struct cluster *cl, struct app *app, long long code, const char *what) {
        char key[CLUSTER_NAME_MAX + 80], why[CLUSTER_PROBLEM_MAX];

        cluster_lease_key(cl, app, key, sizeof(key));
        if (code == -1)
                snprintf(why, sizeof(why), "Redis key %s is a %.16s, not a lease: no agent can refresh this app until "
                         "it is deleted (DEL %s); the last token stays published until it expires", key, what, key);
        else
                snprintf(why, sizeof(why), "Redis key %s holds %.20s bytes, not a lease: no agent can refresh this "
                         "app until it is deleted (DEL %s); the last token stays published until it expires", key,
                         what, key);
        lease_problem(cl, app, why);
}

static void on_lease(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct app *app = cluster_find_app(cl, ref->name);
        enum lease_answer answer;

        if (!app) {
                free(ref);
                return;
        }
        app->lease.inflight = false;
        if (ref->what == REF_RENEW && reply && reply->type == REDIS_REPLY_INTEGER) {
                answer = lease_on_renewal(&app->lease, reply->integer == 1);
                if (answer == LEASE_EXTENDED)
                        app->lease.deadline_ms = lease_deadline(ref->sent_ms, conf(cl)->lease_ms);
                else if (answer == LEASE_LOST)
                        cluster_lease_lost(cl, app, "the lease was not ours any more at renewal");
        } else if (ref->what == REF_CLAIM && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                   reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[1]->type == REDIS_REPLY_STRING) {
                if (reply->element[0]->integer < 0) {
                        lease_refused(cl, app, reply->element[0]->integer, reply->element[1]->str);
                        free(ref);
                        return;
                }
                lease_problem(cl, app, NULL);
                answer = lease_on_claim(&app->lease, reply->element[0]->integer == 1, cl->stopping);
                /* Shown by its node id: the process's random part means nothing to an operator. */
                snprintf(app->lease_holder, sizeof(app->lease_holder), "%.*s",
                         (int)strcspn(reply->element[1]->str, "/"), reply->element[1]->str);
                if (answer == LEASE_WON) {
                        app->lease.holder = true;
                        app->lease.deadline_ms = lease_deadline(ref->sent_ms, conf(cl)->lease_ms);
                        log_app(LOG_NOTICE, app->cfg->name, 0, "cluster: this agent (%s) now holds the lease: it "
                                "alone calls WeChat for this app", conf(cl)->node_id);
                        services_changed(cl->svc);
                        /*
                         * Take Redis's token first; call WeChat only if that one needs it. No
                         * call before that read is answered (cluster_call_budget).
                         */
                        for (int t = -1; t < app->n_tickets; t++) {
                                struct item *it = t < 0 ? &app->token : &app->tickets[t];

                                it->cluster_resume = true;
                                cluster_read_item(cl, it, REF_RESUME);
                        }
                        /*
                         * A component: its accounts first (a refresh token the last holder got
                         * is in Redis before that account's token is), then each account's token.
                         */
                        cluster_accounts_read(cl, app, true);
                        for (struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it)) {
                                it->cluster_resume = true;
                                cluster_read_item(cl, it, REF_RESUME);
                        }
                }
        } else if (reply && reply->type == REDIS_REPLY_ERROR) {
                char why[CLUSTER_PROBLEM_MAX];

                snprintf(why, sizeof(why), "Redis refused the lease script: %.150s", reply->str);
                lease_problem(cl, app, why);
        }
        free(ref);
}

void cluster_lease_send(struct cluster *cl, struct app *app, bool renew) {
        char name[CLUSTER_NAME_MAX], key[CLUSTER_NAME_MAX + 80], ms[24];
        char max[16];
        const char *argv[] = { "EVAL", renew ? cluster_script_renew : cluster_script_claim, "1", key,
                               cl->lease_id, ms, max };

        cluster_app_name(app, name, sizeof(name));
        cluster_lease_key(cl, app, key, sizeof(key));
        snprintf(ms, sizeof(ms), "%" PRId64, conf(cl)->lease_ms);
        snprintf(max, sizeof(max), "%d", CLUSTER_LEASE_ID_MAX);
        app->lease.inflight = cluster_send(cl, on_lease, cluster_ref_new(renew ? REF_RENEW : REF_CLAIM, name),
                                           renew ? 6 : 7, argv);
        if (app->lease.inflight)
                app->lease.sent_ms = cluster_clock_ms();
}

int64_t cluster_call_budget(const struct app *app) {
        const struct cluster *cl = app->svc->cluster;
        bool resuming = false;

        if (!cl)
                return APP_HTTP_TIMEOUT_MS;
        /* A new holder calls nothing before it has read what Redis holds (on_read, REF_RESUME). */
        for (int t = -1; t < app->n_tickets; t++)
                if ((t < 0 ? &app->token : &app->tickets[t])->cluster_resume)
                        resuming = true;
        resuming = resuming || app->accounts_resume;
        for (const struct item *it = app_authorizer_next(app, NULL); it && !resuming; it = app_authorizer_next(app, it))
                resuming = it->cluster_resume;
        return lease_call_budget(&app->lease, cluster_clock_ms(), conf(cl)->lease_ms, resuming, APP_HTTP_TIMEOUT_MS);
}

/* ---- a clean stop ---- */

/* A call still in the agent's queue is not upstream: it will never be made once the agent stops (http_hold). */
static bool app_call_in_flight(const struct app *app) {
        if (http_running(app->token.call))
                return true;
        for (int t = 0; t < app->n_tickets; t++)
                if (http_running(app->tickets[t].call))
                        return true;
        for (const struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it))
                if (http_running(it->call))
                        return true;
        return false;
}

static void release_finish(struct cluster *cl) {
        void (*done)(void *userdata) = cl->release_done;

        cl->release_done = NULL;
        sd_event_source_set_enabled(cl->release_wait, SD_EVENT_OFF);
        if (done)
                done(cl->release_userdata);
}

static void on_release(struct cluster *cl, redisReply *reply, void *userdata) {
        free(userdata);
        if (cl->releasing > 0 && --cl->releasing == 0)
                release_finish(cl);
}

static int on_release_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        release_finish(userdata);
        return 0;
}

int cluster_release(struct cluster *cl, void (*done)(void *userdata), void *userdata) {
        char name[CLUSTER_NAME_MAX], key[CLUSTER_NAME_MAX + 80];
        const char *argv[] = { "EVAL", cluster_script_release, "1", key, cl->lease_id };

        cl->stopping = true;
        for (size_t i = 0; i < cl->svc->n_apps; i++) {
                struct app *app = cl->svc->apps[i];

                /* A claim still in flight may have won in Redis: the compare-and-delete is harmless if not. */
                if (!app || (!app->lease.holder && !app->lease.inflight))
                        continue;
                /*
                 * With a WeChat call in flight the lease stays, to run out as it would have:
                 * another agent taking it now could rotate the token while ours is answered.
                 */
                if (app_call_in_flight(app))
                        continue;
                app->lease.holder = false;
                cluster_app_name(app, name, sizeof(name));
                cluster_lease_key(cl, app, key, sizeof(key));
                if (cluster_send(cl, on_release, cluster_ref_new(REF_RELEASE, name), 5, argv))
                        cl->releasing++;
        }
        if (cl->releasing == 0)
                return 0;
        /* A Redis that does not answer holds the stop up no longer than a command may take. */
        if (sd_event_add_time_relative(cl->svc->loop, &cl->release_wait, CLOCK_BOOTTIME,
                                       (uint64_t)cluster_io_timeout_ms(cl) * 1000, 10 * 1000, on_release_wait, cl) < 0)
                return 0;
        cl->release_done = done;
        cl->release_userdata = userdata;
        log_info("cluster: giving up %u leases before stopping", cl->releasing);
        return 1;
}
