/* wxtokend.c: the agent's main: options, the event loop, signals, reload, readiness. */
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

#include "agent.h"
#include "app.h"
#include "clock.h"
#include "cluster.h"
#include "file.h"
#include "log.h"
#include "server.h"

int64_t agent_now_ms(void) {
        return clock_wall_ms();
}

void agent_app_settled(struct agent *a) {
        if (a->ready_sent)
                return;
        for (size_t i = 0; i < a->n_apps; i++)
                if (!a->apps[i]->token.settled)
                        return;
        a->ready_sent = true;
        sd_notify(false, "READY=1");
        log_info("ready: %zu apps", a->n_apps);
}

/* The first item whose state file could not be written, NULL if none. */
static const struct item *agent_unsaved(const struct agent *a) {
        for (size_t i = 0; i < a->n_apps; i++) {
                const struct app *app = a->apps[i];

                if (app && app->token.save_error)
                        return &app->token;
                for (int t = 0; app && t < app->n_tickets; t++)
                        if (app->tickets[t].save_error)
                                return &app->tickets[t];
        }
        return NULL;
}

void agent_state_changed(struct agent *a) {
        const struct app *bad = NULL;
        const struct item *unsaved = agent_unsaved(a);
        size_t fresh = 0;
        char line[sizeof(a->status)], head[sizeof(a->status)], cluster[160];

        for (size_t i = 0; i < a->n_apps; i++) {
                const struct app *app = a->apps[i];

                if (!app)
                        continue;
                if (app->token.generation > 0 && app->token.failure == FAILURE_NONE)
                        fresh++;
                else if (!bad && app->token.failure != FAILURE_NONE)
                        bad = app;
        }
        /* An item that could not start outranks all else: nothing serves it. */
        if (a->failed.n)
                snprintf(head, sizeof(head), "%zu of %zu apps fresh; %zu items could not start: %s", fresh,
                         a->n_apps, a->failed.n, a->failed.v[0].why);
        /* A state file that cannot be written is said early: a long advice may be cut, this may not. */
        else if (unsaved)
                snprintf(head, sizeof(head), "%zu of %zu apps fresh; %s: state file not saved: %s", fresh, a->n_apps,
                         unsaved->name, strerror(unsaved->save_error));
        else
                snprintf(head, sizeof(head), "%zu of %zu apps fresh", fresh, a->n_apps);
        /* The cluster's words go in both branches: a failing app is likely when Redis is away too. */
        cluster_status_text(a->cluster, cluster, sizeof(cluster));
        if (bad) {
                time_t since = (time_t)(bad->token.failing_since_ms / 1000);
                char when[16];

                strftime(when, sizeof(when), "%H:%M", localtime(&since));
                /* Stable words only (no request ids), so a failure that repeats sends nothing new. */
                if (snprintf(line, sizeof(line), "%s; app %s: errcode %ld since %s, %s%s", head, bad->cfg->name,
                             bad->token.errcode, when, bad->token.advice, cluster) >= (int)sizeof(line))
                        strcpy(line + sizeof(line) - 4, "...");
        } else {
                if (snprintf(line, sizeof(line), "%s%s", head, cluster) >= (int)sizeof(line))
                        strcpy(line + sizeof(line) - 4, "...");
        }
        /* One message per change, not per refresh. */
        if (strcmp(line, a->status) == 0)
                return;
        snprintf(a->status, sizeof(a->status), "%s", line);
        sd_notifyf(false, "STATUS=%s", line);
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;
        int64_t now = agent_now_ms();

        for (size_t i = 0; i < a->n_apps; i++)
                app_heartbeat(a->apps[i], now);
        sd_event_source_set_time_relative(s, AGENT_HEARTBEAT_MS * 1000);
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
        a->apps = calloc(a->config->n_apps ? a->config->n_apps : 1, sizeof(*a->apps));
        if (!a->apps)
                return -ENOMEM;
        for (size_t i = 0; i < a->config->n_apps; i++) {
                int r = app_new(&a->apps[a->n_apps], a, &a->config->apps[i], false);

                if (r == 0)
                        a->n_apps++;
        }
        return 0;
}

static struct app *agent_take_app(struct agent *a, const char *name) {
        for (size_t i = 0; i < a->n_apps; i++) {
                struct app *app = a->apps[i];

                if (app && strcmp(app->cfg->name, name) == 0) {
                        a->apps[i] = NULL;
                        return app;
                }
        }
        return NULL;
}

static bool agent_settings_equal(const struct agent_config *x, const struct agent_config *y) {
        return strcmp(x->shm_dir, y->shm_dir) == 0 && strcmp(x->state_dir, y->state_dir) == 0 &&
               cluster_config_equal(&x->cluster, &y->cluster);
}

/*
 * SIGHUP: a new config replaces the old one only if it loads cleanly. Unchanged apps
 * keep running untouched, changed ones restart (adopting their own token unless the
 * appid or kind changed), removed ones have their segments retired.
 */
static void agent_reload(struct agent *a) {
        struct agent_config *next;
        struct app **apps;
        size_t n = 0;
        char err[CONFIG_ERROR_MAX];
        int r;

        sd_notify(false, "RELOADING=1");
        r = config_load(a->config->path, &next, err, sizeof(err));
        if (r < 0 || !agent_settings_equal(a->config, next)) {
                if (r == 0) {
                        snprintf(err, sizeof(err), "shm_dir, state_dir and [cluster] cannot change on reload: "
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
                log_error("reload refused: out of memory");
                sd_notify(false, "READY=1");
                return;
        }
        /* Whatever could not start is tried again below, and listed again if it still cannot. */
        failed_clear(&a->failed);
        for (size_t i = 0; i < next->n_apps; i++) {
                const struct app_config *cfg = &next->apps[i];
                struct app *old = agent_take_app(a, cfg->name);

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
                        r = app_new(&apps[n], a, cfg, fresh);
                        if (r == 0)
                                n++;
                        log_app(r < 0 ? LOG_ERR : LOG_INFO, cfg->name, 0, "configuration changed%s%s",
                                fresh ? ", fetching anew" : "", r < 0 ? ", but the app could not start" : "");
                        continue;
                }
                if (app_new(&apps[n], a, cfg, false) == 0) {
                        n++;
                        log_app(LOG_INFO, cfg->name, 0, "added");
                }
        }
        for (size_t i = 0; i < a->n_apps; i++) {
                struct app *gone = a->apps[i];

                if (!gone)
                        continue;
                /* Out of the list before it is freed: nothing may find it half gone. */
                a->apps[i] = NULL;
                log_app(LOG_INFO, gone->cfg->name, 0, "removed: segment retired");
                app_free(gone, true);
        }
        free(a->apps);
        config_free(a->config);
        a->apps = apps;
        a->n_apps = n;
        a->config = next;
        log_set_level(next->log_level);
        if (http_set_policy(a->http, next->proxy, next->allow_plain_http) < 0)
                log_error("reload: out of memory for the proxy setting, calls keep the previous one");
        log_info("reloaded: %zu apps", n);
        sd_notify(false, "READY=1");
}

static void on_released(void *userdata) {
        struct agent *a = userdata;

        sd_event_exit(a->loop, 0);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;

        if (si->ssi_signo == SIGHUP) {
                agent_reload(a);
                return 0;
        }
        if (a->stopping)
                return sd_event_exit(a->loop, 0);
        a->stopping = true;
        sd_notify(false, "STOPPING=1");
        log_info("stopping on %s", strsignal((int)si->ssi_signo));
        /* In cluster mode the leases go first, so other agents take the apps at once. */
        if (a->cluster && cluster_release(a->cluster, on_released, a) > 0)
                return 0;
        return sd_event_exit(a->loop, 0);
}

static void usage(FILE *f) {
        fprintf(f, "usage: wxtokend [-c CONFIG] [-t]\n"
                   "  -c CONFIG  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                   "  -t         check the configuration and every secret, then exit\n"
                   "Keeps each configured WeChat app's access token fresh in shared memory.\n");
}

static int run(struct agent *a) {
        static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
                sigaddset(&mask, signals[i]);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&a->loop);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
                r = sd_event_add_signal(a->loop, NULL, signals[i], on_signal, a);
                if (r < 0)
                        return r;
        }
        r = http_new(&a->http, a->loop);
        if (r < 0)
                return r;
        r = http_set_policy(a->http, a->config->proxy, a->config->allow_plain_http);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(a->loop, &a->heartbeat, CLOCK_MONOTONIC, AGENT_HEARTBEAT_MS * 1000,
                                       100 * 1000, on_heartbeat, a);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(a->heartbeat, SD_EVENT_ON);
        r = cluster_new(&a->cluster, a);
        if (r < 0)
                return r;
        r = agent_start_apps(a);
        if (r < 0)
                return r;
        r = server_new(&a->server, a);
        if (r < 0)
                return r;
        /* WATCHDOG=1 from the loop itself, at half of WatchdogSec, when systemd asks for it. */
        sd_event_set_watchdog(a->loop, true);
        log_info("started with %zu of %zu apps", a->n_apps, a->config->n_apps);
        agent_app_settled(a); /* no apps, or all adopted */
        return sd_event_loop(a->loop);
}

int main(int argc, char **argv) {
        const char *path = CONFIG_DEFAULT_PATH;
        struct agent a = { .ns = NAMESPACE_NULL };
        char err[CONFIG_ERROR_MAX];
        bool test_only = false;
        int c, r;

        while ((c = getopt(argc, argv, "c:th")) != -1) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 't':
                        test_only = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        /* Every client connection is a descriptor: use all the hard limit allows. */
        {
                struct rlimit nofile;

                if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                        nofile.rlim_cur = nofile.rlim_max;
                        setrlimit(RLIMIT_NOFILE, &nofile);
                }
        }
        /* Before libcurl ever starts (see http_new): TLS session keys must not leave the process. */
        unsetenv("SSLKEYLOGFILE");
        /* Secrets live in this process's memory: no core dump, no ptrace by other users. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });

        r = config_load(path, &a.config, err, sizeof(err));
        if (test_only) {
                if (r < 0)
                        fprintf(stderr, "wxtokend: %s\n", err);
                else
                        printf("wxtokend: %s: configuration ok, %zu apps\n", path, a.config->n_apps);
                config_free(a.config);
                return r < 0 ? 1 : 0;
        }
        if (r < 0) {
                fprintf(stderr, "wxtokend: %s\n", err);
                return 1;
        }
        log_setup(a.config->log_level);
        /* Said at every start, so a test setting cannot pass unnoticed into production. */
        if (a.config->allow_plain_http)
                log_warning("allow_plain_http = yes: an http:// api_base gets the AppSecret in clear; for tests "
                            "and wxemu only");
        if (getrandom(&a.rng.state, sizeof(a.rng.state), 0) != sizeof(a.rng.state))
                a.rng.state = (uint64_t)agent_now_ms() ^ (uint64_t)getpid();
        /* The namespace first: a second agent must leave without touching a segment or a state file. */
        if (namespace_open(&a.ns, a.config->shm_dir) < 0 || ensure_state_dir(a.config->state_dir) < 0 ||
            lock_instance(a.config->state_dir) < 0) {
                config_free(a.config); /* wipes the secrets; and LeakSanitizer would turn exit 1 into 23 */
                return 1;
        }
        namespace_retire_legacy("/dev/shm", a.config->shm_prefix);

        r = run(&a);
        if (r < 0)
                log_error("fatal: %s", strerror(-r));
        /* First: freeing the Redis links answers their pending commands, which look apps up. */
        cluster_free(a.cluster);
        a.cluster = NULL;
        /* All marked stopped first: freeing one while another still reports would read freed memory. */
        for (size_t i = 0; i < a.n_apps; i++)
                app_stop(a.apps[i]);
        for (size_t i = 0; i < a.n_apps; i++) {
                struct app *app = a.apps[i];

                a.apps[i] = NULL;
                app_free(app, false); /* never unlink: readers keep the token; waiters hear shutting_down */
        }
        server_free(a.server);
        free(a.apps);
        sd_event_source_disable_unref(a.heartbeat);
        http_free(a.http);
        sd_event_unref(a.loop);
        config_free(a.config);
        failed_clear(&a.failed);
        namespace_close(&a.ns);
        return r < 0 ? 1 : 0;
}
