/* manager.c: the agent as a whole: the services it lends the modules, READY and STATUS=, start and stop (manager-reload.c: reload). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "app.h"
#include "clock.h"
#include "cluster.h"
#include "failed.h"
#include "file.h"
#include "http.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "manager-internal.h"
#include "namespace.h"
#include "server.h"
#include "status-line.h"
#include "status.h"
#include "verdict.h"



/*
 * READY=1 once every app's token has settled (a token, or its first attempt failed), as
 * wxtokend(8) says; apps that could not start have failed theirs already. The log says
 * which apps READY waits for, and at READY which are not fresh.
 */
static void agent_app_settled(struct agent *a) {
        if (a->ready_sent)
                return;
        /* Settled stays settled: the walk goes on from the first app that was not (a reload starts it over). */
        for (; a->settled_scan < a->svc.n_apps; a->settled_scan++)
                if (!a->svc.apps[a->settled_scan]->token.core.settled)
                        return;
        a->ready_sent = true;
        a->svc.stats.ready = true;
        sd_notify(false, "READY=1");
        ready_log_ready(&a->svc, &a->failed);
}

/* The first item whose state file could not be written, NULL if none. */
static const struct item *agent_unsaved(const struct agent *a) {
        for (size_t i = 0; i < a->svc.n_apps; i++) {
                const struct app *app = a->svc.apps[i];

                if (app && app->token.save_error)
                        return &app->token;
                for (int t = 0; app && t < app->n_tickets; t++)
                        if (app->tickets[t].save_error)
                                return &app->tickets[t];
        }
        return NULL;
}

static void agent_status_send(struct agent *a) {
        const struct item *unsaved = agent_unsaved(a);
        struct status_line st = { .apps = a->svc.n_apps, .failed = a->failed.n };
        const struct app *bad = NULL;
        char line[sizeof(a->status)], cluster[160], when[16];
        size_t settled = 0;

        for (size_t i = 0; i < a->svc.n_apps; i++) {
                const struct app *app = a->svc.apps[i];

                if (!app)
                        continue;
                settled += app->token.core.settled;
                if (app->token.core.generation > 0 && app->token.core.failure == FAILURE_NONE)
                        st.fresh++;
                else if (!bad && app->token.core.failure != FAILURE_NONE)
                        bad = app;
        }
        if (a->failed.n)
                st.failed_why = a->failed.v[0].why;
        if (unsaved) {
                st.unsaved_name = unsaved->name;
                st.unsaved_why = strerror(unsaved->save_error);
        }
        if (bad) {
                time_t since = (time_t)(bad->token.core.failing_since_ms / 1000);

                strftime(when, sizeof(when), "%H:%M", localtime(&since));
                st.bad_app = bad->cfg->name;
                st.bad_errcode = bad->token.core.errcode;
                st.bad_since = when;
                st.bad_advice = bad->token.core.advice;
        }
        cluster_status_text(a->svc.cluster, cluster, sizeof(cluster));
        st.cluster = cluster;
        status_line_format(&st, line);
        /*
         * While starting, one more app settled (fresh or failed) is progress: systemd's start
         * timeout (90 s by default) is moved START_PROGRESS_USEC past it, so a cold start of
         * 20,000 apps at the queue's pace is not killed, while one that stops settling still is.
         */
        if (!a->ready_sent && settled > a->start_progress) {
                a->start_progress = settled;
                sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)START_PROGRESS_USEC);
        }
        /* One message per change, not per refresh. */
        if (strcmp(line, a->status) == 0)
                return;
        snprintf(a->status, sizeof(a->status), "%s", line);
        sd_notifyf(false, "STATUS=%s", line);
}

/* ---- the services lent to the modules ---- */

static int on_status_defer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        a->status_sent_us = usec;
        agent_status_send(a);
        return 0;
}

/*
 * Whatever changed, STATUS= is worked out once, after the loop's iteration, and at most
 * every STATUS_INTERVAL_US: it walks every app, and a cold start of 10,000 apps changes
 * something 10,000 times (a walk per change was 10^8 steps).
 */
static void svc_changed(void *userdata) {
        struct agent *a = userdata;
        uint64_t now = 0;
        int on = SD_EVENT_OFF;

        if (!a->status_defer) {
                agent_status_send(a);
                return;
        }
        if (sd_event_source_get_enabled(a->status_defer, &on) >= 0 && on != SD_EVENT_OFF)
                return; /* already due */
        sd_event_now(a->svc.loop, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(a->status_defer, now > a->status_sent_us + STATUS_INTERVAL_US
                                                          ? now : a->status_sent_us + STATUS_INTERVAL_US);
        sd_event_source_set_enabled(a->status_defer, SD_EVENT_ONESHOT);
}

static void svc_settled(void *userdata) {
        agent_app_settled(userdata);
}

static void svc_cluster_policy(void *userdata, const struct app *app, struct core_policy *pol) {
        cluster_item_policy(((struct agent *)userdata)->svc.cluster, app, pol);
}

static int64_t svc_call_budget(void *userdata, const struct app *app) {
        return cluster_call_budget(app);
}

static void svc_push(void *userdata, struct item *it) {
        cluster_published(it);
}

static void svc_note_failed(void *userdata, struct item *it, const char *code, const char *message,
                            int64_t retry_after_ms) {
        cluster_force_failed(it, code, message, retry_after_ms);
}

static void svc_note_verified(void *userdata, struct item *it) {
        cluster_force_verified(it);
}

static void svc_forward(void *userdata, struct item *it) {
        struct agent *a = userdata;

        if (a->svc.cluster)
                cluster_forward(a->svc.cluster, it);
}

static void svc_forward_retry(void *userdata, struct item *it, int64_t caller_uid, int64_t caller_pid) {
        struct agent *a = userdata;

        if (a->svc.cluster)
                cluster_forward_retry(a->svc.cluster, it, caller_uid, caller_pid);
}

static int svc_take_budget(void *userdata, struct item *it, int64_t day, int64_t ttl_ms) {
        return cluster_budget_take(it, day, ttl_ms);
}

static void svc_account_changed(void *userdata, struct app *app, const struct authorizer_record *rec, bool removed) {
        struct agent *a = userdata;

        if (a->svc.cluster)
                cluster_account_changed(a->svc.cluster, app, rec, removed);
}

static void svc_ticket_changed(void *userdata, struct app *app, const char *ticket, int64_t create_time_s) {
        struct agent *a = userdata;

        if (a->svc.cluster)
                cluster_ticket_changed(a->svc.cluster, app, ticket, create_time_s);
}

/* /healthz: the verdict of `wxtokenctl status` (core/verdict.c) over every item. */
static int svc_health(void *userdata) {
        struct verdict v;

        status_verdict(&((struct agent *)userdata)->svc, NULL, clock_wall_ms(), &v);
        return (int)v.code;
}

static const struct reload_result *svc_reload(void *userdata) {
        struct agent *a = userdata;

        agent_reload(a);
        return &a->reload;
}

static const struct service_ops agent_ops = {
        .changed = svc_changed,
        .settled = svc_settled,
        .cluster_policy = svc_cluster_policy,
        .call_budget = svc_call_budget,
        .push = svc_push,
        .note_failed = svc_note_failed,
        .note_verified = svc_note_verified,
        .forward = svc_forward,
        .forward_retry = svc_forward_retry,
        .take_budget = svc_take_budget,
        .account_changed = svc_account_changed,
        .ticket_changed = svc_ticket_changed,
        .health = svc_health,
        .reload = svc_reload,
};

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;
        int64_t now = clock_wall_ms();

        for (size_t i = 0; i < a->svc.n_apps; i++)
                app_heartbeat(a->svc.apps[i], now);
        sd_event_source_set_time_relative(s, APP_HEARTBEAT_MS * 1000);
        return 0;
}

/*
 * The state directory holds tokens: it is made private if it has to be made at all, and
 * one that another user could write to is refused (they could plant a token we adopt).
 */
static int ensure_state_dir(const char *dir) {
        char what[4096 + 16], err[sizeof(what) + 256];
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                log_error("cannot create state_dir %s: %s", dir, strerror(errno));
                return -errno;
        }
        snprintf(what, sizeof(what), "state_dir %s", dir);
        r = file_check_dir(dir, what, err, sizeof(err));
        if (r < 0)
                log_error("%s", err);
        return r;
}

/*
 * Two agents on the same segments would rotate classic tokens against each other: the
 * very storm wxtokend exists to stop. The lock lives as long as the process.
 */
static int lock_instance(const char *state_dir) {
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/wxtokend.lock", state_dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                log_error("cannot open %s: %s", path, strerror(errno));
                return -errno;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = -errno;

                log_error("another wxtokend holds %s: only one agent may serve a state_dir", path);
                close(fd);
                return r;
        }
        return fd;
}

/* Start every app of the config; an app that cannot start is logged and left out. */
static int agent_start_apps(struct agent *a) {
        a->svc.apps = calloc(a->svc.config->n_apps ? a->svc.config->n_apps : 1, sizeof(*a->svc.apps));
        if (!a->svc.apps)
                return -ENOMEM;
        for (size_t i = 0; i < a->svc.config->n_apps; i++) {
                int r = app_new(&a->svc.apps[a->svc.n_apps], &a->svc, &a->svc.config->apps[i], false);

                if (r == 0)
                        a->svc.n_apps++;
        }
        return 0;
}

static void on_released(void *userdata) {
        struct agent *a = userdata;

        sd_event_exit(a->svc.loop, 0);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;

        if (si->ssi_signo == SIGHUP) {
                agent_reload(a);
                return 0;
        }
        if (a->stopping)
                return sd_event_exit(a->svc.loop, 0);
        a->stopping = true;
        /* What still waits in the queue is not made: a stopping agent starts no upstream call. */
        http_hold(a->svc.http);
        sd_notify(false, "STOPPING=1");
        log_info("stopping on %s", strsignal((int)si->ssi_signo));
        /* In cluster mode the leases go first, so other agents take the apps at once. */
        if (a->svc.cluster && cluster_release(a->svc.cluster, on_released, a) > 0)
                return 0;
        return sd_event_exit(a->svc.loop, 0);
}

static int run(struct agent *a) {
        static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
                sigaddset(&mask, signals[i]);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&a->svc.loop);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
                r = sd_event_add_signal(a->svc.loop, NULL, signals[i], on_signal, a);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_time(a->svc.loop, &a->status_defer, CLOCK_MONOTONIC, 0, 1000, on_status_defer, a);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(a->status_defer, SD_EVENT_OFF);
        r = http_new(&a->svc.http, a->svc.loop);
        if (r < 0)
                return r;
        r = http_set_policy(a->svc.http, a->svc.config->proxy, a->svc.config->allow_plain_http);
        if (r < 0)
                return r;
        http_set_limits(a->svc.http, a->svc.config->max_concurrent_calls, a->svc.config->max_calls_per_second);
        r = sd_event_add_time_relative(a->svc.loop, &a->heartbeat, CLOCK_MONOTONIC, APP_HEARTBEAT_MS * 1000,
                                       100 * 1000, on_heartbeat, a);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(a->heartbeat, SD_EVENT_ON);
        r = cluster_new(&a->svc.cluster, &a->svc);
        if (r < 0)
                return r;
        r = agent_start_apps(a);
        if (r < 0)
                return r;
        failed_retry_update(&a->retry, NULL);
        r = server_new(&a->server, &a->svc);
        if (r < 0)
                return r;
        {
                char err[256];

                r = metrics_listener_apply(&a->metrics, &a->svc, err, sizeof(err));
                if (r < 0) {
                        log_error("%s", err);
                        return r;
                }
        }
        /* WATCHDOG=1 from the loop itself, at half of WatchdogSec, when systemd asks for it. */
        sd_event_set_watchdog(a->svc.loop, true);
        log_info("started with %zu of %zu apps", a->svc.n_apps, a->svc.config->n_apps);
        ready_log_waiting(&a->svc);
        agent_app_settled(a); /* no apps, or all adopted */
        return sd_event_loop(a->svc.loop);
}

int manager_run(struct agent_config *config) {
        struct agent a = { .ns = NAMESPACE_NULL };
        int r;

        a.svc = (struct services){ .config = config, .failed = &a.failed, .rng = &a.rng, .ops = &agent_ops,
                                   .userdata = &a, .shm_dir_fd = -1, .stats.started_at_ms = clock_wall_ms(),
                                   .last_reload = &a.reload };
        a.retry = (struct failed_retry){ .svc = &a.svc, .failed = &a.failed };
        if (getrandom(&a.rng.state, sizeof(a.rng.state), 0) != sizeof(a.rng.state))
                a.rng.state = (uint64_t)clock_wall_ms() ^ (uint64_t)getpid();
        /* The namespace first: a second agent must leave without touching a segment or a state file. */
        if (namespace_open(&a.ns, config->shm_dir) < 0 || ensure_state_dir(config->state_dir) < 0 ||
            lock_instance(config->state_dir) < 0) {
                config_free(config); /* wipes the secrets; and LeakSanitizer would turn exit 1 into 23 */
                return 1;
        }
        a.svc.shm_dir_fd = a.ns.dir_fd;
        namespace_retire_legacy("/dev/shm", config->shm_prefix);
        /* Before any app opens its segments: what was removed from the config while no agent ran. */
        namespace_remove_unknown(&a.ns, config->shm_dir, agent_item_configured, config);

        r = run(&a);
        if (r < 0)
                log_error("fatal: %s", strerror(-r));
        /* First: freeing the Redis links answers their pending commands, which look apps up. */
        cluster_free(a.svc.cluster);
        a.svc.cluster = NULL;
        /* All marked stopped first: freeing one while another still reports would read freed memory. */
        for (size_t i = 0; i < a.svc.n_apps; i++)
                app_stop(a.svc.apps[i]);
        for (size_t i = 0; i < a.svc.n_apps; i++) {
                struct app *app = a.svc.apps[i];

                a.svc.apps[i] = NULL;
                app_free(app, false); /* never unlink: readers keep the token; waiters hear shutting_down */
        }
        app_state_flush(&a.svc);
        metrics_listener_free(a.metrics);
        server_free(a.server);
        failed_retry_free(&a.retry);
        free(a.svc.apps);
        sd_event_source_disable_unref(a.heartbeat);
        sd_event_source_disable_unref(a.status_defer);
        http_free(a.svc.http);
        sd_event_unref(a.svc.loop);
        config_free(a.svc.config);
        failed_clear(&a.failed);
        namespace_close(&a.ns);
        return r < 0 ? 1 : 0;
}
