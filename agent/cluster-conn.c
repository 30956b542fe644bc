/* cluster-conn.c: the two Redis links of cluster mode: connect, authenticate, subscribe, watch, reconnect; their status. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "clock.h"
#include "app.h"
#include "clock.h"
#include "cluster-internal.h"
#include "log.h"
#include "redis-event.h"
#include "resolve.h"

#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 2000
#define LOOKUP_POLL_MS 20              /* how often a lookup in progress is looked at */

struct pending_cmd {
        cluster_reply_fn fn;
        void *userdata;
};

/*
 * Lease arithmetic runs on CLOCK_BOOTTIME, as the refresh timers do: Redis's expiry keeps
 * counting through a suspend or a paused VM, and so must our idea of when our lease ends,
 * or a resumed agent could call WeChat on a lease that passed to another meanwhile.
 */
int64_t cluster_clock_ms(void) {
        return clock_boot_ms();
}

int64_t cluster_io_timeout_ms(const struct cluster *cl) {
        int64_t t = cl->svc->config->cluster.lease_ms / 2;

        return t > 2000 ? 2000 : t;
}

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->svc->config->cluster;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        cluster_connect(userdata);
        return 0;
}

static void arm_retry(struct cluster *cl) {
        int64_t delay = cl->retry_ms;

        cl->retry_ms = cl->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : cl->retry_ms * 2;
        sd_event_source_set_time_relative(cl->retry, (uint64_t)delay * 1000);
        sd_event_source_set_enabled(cl->retry, SD_EVENT_ONESHOT);
}

void cluster_link_down(struct cluster *cl, const char *why) {
        if (cl->up || !cl->down_since_ms) {
                log_warning("cluster: Redis %s: %s; local tokens stay published, and no app is refreshed here once "
                            "its lease lapses", conf(cl)->redis, why);
                cl->down_since_ms = clock_wall_ms();
        }
        if (why != cl->last_error) /* callers may pass last_error itself: no overlapping copy */
                snprintf(cl->last_error, sizeof(cl->last_error), "%s", why);
        cl->up = cl->cmd_ready = cl->sub_ready = false;
        if (sd_event_source_get_enabled(cl->retry, NULL) == 0)
                arm_retry(cl);
        services_changed(cl->svc);
}

static void up_if_ready(struct cluster *cl) {
        if (cl->up || !cl->cmd_ready || !cl->sub_ready)
                return;
        cl->up = true;
        cl->retry_ms = RETRY_MIN_MS;
        if (cl->down_since_ms)
                log_notice("cluster: connected to Redis %s as node %s", conf(cl)->redis, conf(cl)->node_id);
        cl->down_since_ms = 0;
        cl->last_error[0] = '\0';
        services_changed(cl->svc);
        cluster_on_up(cl);
}

static void on_cmd_reply(redisAsyncContext *ac, void *r, void *privdata) {
        struct pending_cmd *p = privdata;
        struct cluster *cl = ac->data;

        cl->pending--;
        cl->progress_ms = cluster_clock_ms();
        p->fn(cl, r, p->userdata);
        free(p);
}

int cluster_command(struct cluster *cl, cluster_reply_fn fn, void *userdata, int argc, const char **argv,
                    const size_t *lens) {
        struct pending_cmd *p;

        if (!cl->cmd || !cl->cmd_ready)
                return -ENOTCONN;
        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (struct pending_cmd){ fn, userdata };
        if (redisAsyncCommandArgv(cl->cmd, on_cmd_reply, p, argc, argv, lens) != REDIS_OK) {
                free(p);
                return -EIO;
        }
        if (cl->pending++ == 0)
                cl->progress_ms = cluster_clock_ms();
        return 0;
}

/* Which link an error or a disconnect came from doesn't matter: both are made anew. */
static void on_disconnect(const redisAsyncContext *ac, int status) {
        struct cluster *cl = ac->data;

        /* A link this agent freed itself (cluster_links_free) is already accounted for. */
        if (cl->cmd != ac && cl->sub != ac)
                return;
        if (cl->cmd == ac)
                cl->cmd = NULL;
        if (cl->sub == ac)
                cl->sub = NULL;
        cluster_link_down(cl, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_connect(const redisAsyncContext *ac, int status) {
        struct cluster *cl = ac->data;

        if (status == REDIS_OK || (cl->cmd != ac && cl->sub != ac))
                return;
        /* hiredis frees a context whose connect failed; it is no longer ours. */
        if (cl->cmd == ac)
                cl->cmd = NULL;
        if (cl->sub == ac)
                cl->sub = NULL;
        cluster_link_down(cl, ac->errstr[0] ? ac->errstr : "cannot connect");
}

/* The last setup command on the command link: its answer proves AUTH and SELECT worked. */
static void on_ping(redisAsyncContext *ac, void *r, void *privdata) {
        struct cluster *cl = ac->data;
        redisReply *reply = r;

        if (!reply)
                return;
        if (reply->type == REDIS_REPLY_ERROR) {
                char why[200];

                snprintf(why, sizeof(why), "refused the connection: %.150s", reply->str);
                cluster_link_down(cl, why);
                return;
        }
        cl->cmd_ready = true;
        cl->progress_ms = cluster_clock_ms();
        up_if_ready(cl);
}

/* AUTH and SELECT answers: an error shows up again at the PING, which says what went wrong. */
static void on_setup(redisAsyncContext *ac, void *r, void *privdata) {
        struct cluster *cl = ac->data;
        redisReply *reply = r;

        if (reply && reply->type == REDIS_REPLY_ERROR) {
                char why[200];

                snprintf(why, sizeof(why), "refused %s: %.150s", (const char *)privdata, reply->str);
                cluster_link_down(cl, why);
        }
}

static void on_subscribed(redisAsyncContext *ac, void *r, void *privdata) {
        struct cluster *cl = ac->data;
        redisReply *reply = r;

        if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
            reply->element[0]->type != REDIS_REPLY_STRING) {
                if (reply && reply->type == REDIS_REPLY_ERROR) {
                        char why[200];

                        snprintf(why, sizeof(why), "refused SUBSCRIBE: %.150s", reply->str);
                        cluster_link_down(cl, why);
                }
                return;
        }
        if (!strcmp(reply->element[0]->str, "subscribe")) {
                cl->sub_ready = true;
                up_if_ready(cl);
        } else if (!strcmp(reply->element[0]->str, "message") && reply->element[2]->type == REDIS_REPLY_STRING) {
                cluster_on_message(cl, reply->element[2]->str, reply->element[2]->len);
        }
}

static redisAsyncContext *link_open(struct cluster *cl) {
        const struct cluster_config *c = conf(cl);
        redisAsyncContext *ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(cl->addr, c->port);

        if (!ac)
                return NULL;
        if (ac->err) {
                snprintf(cl->last_error, sizeof(cl->last_error), "%s", ac->errstr);
                redisAsyncFree(ac);
                return NULL;
        }
        ac->data = cl;
        /* TCP keepalive: a half-open link (a NAT or firewall that forgot us) ends instead of hanging. */
        if (!c->unix_path)
                redisEnableKeepAlive(&ac->c);
        if (redis_event_attach(ac, cl->svc->loop) < 0) {
                redisAsyncFree(ac);
                return NULL;
        }
        redisAsyncSetConnectCallback(ac, on_connect);
        redisAsyncSetDisconnectCallback(ac, on_disconnect);
        /* Queued now, sent once connected: AUTH first, the password never in a log. */
        if (c->password)
                redisAsyncCommand(ac, on_setup, (void *)"AUTH", "AUTH %s", c->password);
        return ac;
}

void cluster_links_free(struct cluster *cl) {
        redisAsyncContext *cmd = cl->cmd, *sub = cl->sub;

        /* NULL first: the callbacks hiredis runs while freeing must find no link to use. */
        cl->cmd = cl->sub = NULL;
        cl->up = cl->cmd_ready = cl->sub_ready = false;
        if (cmd)
                redisAsyncFree(cmd);
        if (sub)
                redisAsyncFree(sub);
        cl->pending = 0;
}

/*
 * The Redis host's address: as written if numeric, else looked up anew at every connect
 * (a moved Redis is found again) in the background, since hiredis's own lookup would
 * block the loop, and with it every client, for as long as DNS takes to fail.
 * 0: cl->addr is set; -EINPROGRESS: not yet; other -errno: failed, last_error says why.
 */
static int redis_address(struct cluster *cl) {
        const char *host = conf(cl)->host, *why = "";
        int r;

        if (resolve_numeric(host, cl->addr, sizeof(cl->addr)) == 0)
                return 0;
        if (!cl->resolving) {
                r = resolve_start(&cl->resolving, host);
                if (r < 0) {
                        snprintf(cl->last_error, sizeof(cl->last_error), "cannot look up %s: %s", host, strerror(-r));
                        return r;
                }
        }
        r = resolve_result(cl->resolving, cl->addr, sizeof(cl->addr), &why);
        if (r == -EINPROGRESS)
                return r;
        resolve_free(cl->resolving);
        cl->resolving = NULL;
        if (r < 0)
                snprintf(cl->last_error, sizeof(cl->last_error), "cannot look up %s: %s", host, why);
        return r;
}

void cluster_connect(struct cluster *cl) {
        const struct cluster_config *c = conf(cl);
        int r;

        cluster_links_free(cl);
        if (!c->unix_path) {
                r = redis_address(cl);
                if (r == -EINPROGRESS) {
                        sd_event_source_set_time_relative(cl->retry, LOOKUP_POLL_MS * 1000);
                        sd_event_source_set_enabled(cl->retry, SD_EVENT_ONESHOT);
                        return;
                }
                if (r < 0) {
                        cluster_link_down(cl, cl->last_error);
                        return;
                }
        }
        cl->connect_started_ms = cluster_clock_ms();
        cl->cmd = link_open(cl);
        cl->sub = cl->cmd ? link_open(cl) : NULL;
        if (!cl->cmd || !cl->sub) {
                cluster_links_free(cl);
                cluster_link_down(cl, cl->last_error[0] ? cl->last_error : "cannot create a connection");
                return;
        }
        redisAsyncCommand(cl->cmd, on_setup, (void *)"SELECT", "SELECT %d", c->db);
        redisAsyncCommand(cl->cmd, on_ping, NULL, "PING");
        redisAsyncCommand(cl->sub, on_subscribed, NULL, "SUBSCRIBE %s", cl->channel);
}

void cluster_link_check(struct cluster *cl) {
        int64_t now = cluster_clock_ms(), limit = cluster_io_timeout_ms(cl);
        char why[96];

        if (!cl->up && (cl->cmd || cl->sub) && now - cl->connect_started_ms > limit) {
                snprintf(why, sizeof(why), "no answer within %lld ms of connecting", (long long)limit);
                cluster_link_down(cl, why);
                cluster_links_free(cl);
        } else if (cl->up && cl->pending > 0 && now - cl->progress_ms > limit) {
                snprintf(why, sizeof(why), "no answer within %lld ms", (long long)limit);
                cluster_link_down(cl, why);
                cluster_links_free(cl);
        }
}

int cluster_new(struct cluster **ret, struct services *svc) {
        const struct cluster_config *c = &svc->config->cluster;
        struct cluster *cl;
        uint64_t nonce;
        int r;

        *ret = NULL;
        if (!c->enabled)
                return 0;
        cl = calloc(1, sizeof(*cl));
        if (!cl)
                return -ENOMEM;
        cl->svc = svc;
        cl->retry_ms = RETRY_MIN_MS;
        cl->down_since_ms = clock_wall_ms();
        snprintf(cl->last_error, sizeof(cl->last_error), "connecting");
        snprintf(cl->channel, sizeof(cl->channel), "%s:events", c->key_prefix);
        if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
                r = -errno;
                free(cl);
                return r;
        }
        snprintf(cl->lease_id, sizeof(cl->lease_id), "%s/%016" PRIx64, c->node_id, nonce);
        /* Said at every start, since it is a standing hole, not an event. */
        if (!c->fleet_key)
                log_warning("cluster: no fleet_key_file: any client that can write to Redis %s can plant tokens that "
                            "every agent publishes; give every agent the same key (wxtokend.conf(5), fleet_key_file)",
                            c->redis);
        r = sd_event_add_time(svc->loop, &cl->retry, CLOCK_BOOTTIME, UINT64_MAX, 10 * 1000, on_retry, cl);
        if (r < 0) {
                free(cl);
                return r;
        }
        /* Armed only when a link goes down (cluster_link_down looks at whether it is). */
        sd_event_source_set_enabled(cl->retry, SD_EVENT_OFF);
        r = cluster_start(cl);
        if (r < 0) {
                cluster_free(cl);
                return r;
        }
        *ret = cl;
        return 0;
}

/* ---- status ---- */

void cluster_get_status(const struct cluster *cl, struct cluster_status *st) {
        unsigned n = 0;

        for (size_t i = 0; i < cl->svc->n_apps; i++)
                if (cl->svc->apps[i] && cl->svc->apps[i]->holder)
                        n++;
        *st = (struct cluster_status){
                .node_id = conf(cl)->node_id,
                .redis = conf(cl)->redis,
                .connected = cl->up,
                .down_since_ms = cl->up ? 0 : cl->down_since_ms,
                .last_error = cl->last_error,
                .holder_of = n,
                .notes_refused = cl->notes_refused,
        };
}

void cluster_status_text(const struct cluster *cl, char *buf, size_t size) {
        struct cluster_status st;
        time_t since;
        char when[16];

        if (!cl) {
                buf[0] = '\0';
                return;
        }
        cluster_get_status(cl, &st);
        if (st.connected) {
                snprintf(buf, size, "; cluster node %s: lease holder of %u apps", st.node_id, st.holder_of);
                return;
        }
        since = (time_t)(st.down_since_ms / 1000);
        strftime(when, sizeof(when), "%H:%M", localtime(&since));
        snprintf(buf, size, "; cluster node %s: Redis unreachable since %s (%s), serving local tokens", st.node_id, when,
                 st.last_error);
}
