/* redis-link.c: a command link and a subscribed link to one Redis: connect, authenticate, subscribe, watch, reconnect. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "redis-event.h"
#include "redis-link.h"
#include "resolve.h"

#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 2000
#define LOOKUP_POLL_MS 20              /* how often a lookup in progress is looked at */

struct redis_link {
        sd_event *loop;
        const struct redis_link_ops *ops;
        void *owner;
        redisAsyncContext *cmd;         /* commands and scripts */
        redisAsyncContext *sub;         /* SUBSCRIBE: a subscribed link takes no other command */
        bool cmd_ready, sub_ready;      /* authenticated and answering; subscribed */
        bool up;                        /* both ready */
        sd_event_source *retry;         /* reconnect, or look at a lookup in progress */
        struct resolve *resolving;      /* the Redis host's lookup in progress, if any */
        char addr[64];                  /* the Redis host's address, numeric */
        int64_t retry_ms;               /* the next reconnect's delay; doubles to a cap */
        unsigned pending;               /* commands sent on cmd without a reply yet */
        /*
         * Boot time, as the owner's leases: a link that answered before a suspend is not
         * judged by a clock that stopped meanwhile.
         */
        int64_t progress_ms;            /* the last reply, or the first command while idle */
        int64_t connect_started_ms;
        char last_error[200];
};

struct pending_cmd {
        struct redis_link *link;
        redis_link_reply_fn fn;
        void *userdata;
};

static struct redis_link_target target(const struct redis_link *l) {
        struct redis_link_target t = { 0 };

        l->ops->target(l->owner, &t);
        return t;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        redis_link_connect(userdata);
        return 0;
}

static void arm_retry(struct redis_link *l) {
        int64_t delay = l->retry_ms;

        l->retry_ms = l->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : l->retry_ms * 2;
        sd_event_source_set_time_relative(l->retry, (uint64_t)delay * 1000);
        sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
}

/* Both links are done for (from a hiredis callback too): the retry timer frees them and reconnects. */
static void link_down(struct redis_link *l, const char *why) {
        bool was_up = l->up;

        if (why != l->last_error) /* callers may pass last_error itself: no overlapping copy */
                snprintf(l->last_error, sizeof(l->last_error), "%s", why);
        l->up = l->cmd_ready = l->sub_ready = false;
        if (sd_event_source_get_enabled(l->retry, NULL) == 0)
                arm_retry(l);
        l->ops->down(l->owner, was_up, l->last_error);
}

static void up_if_ready(struct redis_link *l) {
        if (l->up || !l->cmd_ready || !l->sub_ready)
                return;
        l->up = true;
        l->retry_ms = RETRY_MIN_MS;
        l->last_error[0] = '\0';
        l->ops->up(l->owner);
}

static void on_cmd_reply(redisAsyncContext *ac, void *r, void *privdata) {
        struct pending_cmd *p = privdata;
        struct redis_link *l = p->link;

        l->pending--;
        l->progress_ms = clock_boot_ms();
        p->fn(l->owner, r, p->userdata);
        free(p);
}

int redis_link_command(struct redis_link *l, redis_link_reply_fn fn, void *userdata, int argc, const char **argv,
                       const size_t *lens) {
        struct pending_cmd *p;

        if (!l->cmd || !l->cmd_ready)
                return -ENOTCONN;
        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (struct pending_cmd){ l, fn, userdata };
        if (redisAsyncCommandArgv(l->cmd, on_cmd_reply, p, argc, argv, lens) != REDIS_OK) {
                free(p);
                return -EIO;
        }
        if (l->pending++ == 0)
                l->progress_ms = clock_boot_ms();
        return 0;
}

void redis_link_flush(struct redis_link *l) {
        int done = 0;

        /* redisBufferWrite on the context itself: hiredis's async layer would call back on an error. */
        if (l->cmd && l->cmd_ready && l->cmd->c.err == 0)
                (void)redisBufferWrite(&l->cmd->c, &done);
}

/* Which link an error or a disconnect came from doesn't matter: both are made anew. */
static void on_disconnect(const redisAsyncContext *ac, int status) {
        struct redis_link *l = ac->data;

        /* A link freed here (links_free) is already accounted for. */
        if (l->cmd != ac && l->sub != ac)
                return;
        if (l->cmd == ac)
                l->cmd = NULL;
        if (l->sub == ac)
                l->sub = NULL;
        link_down(l, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_connect(const redisAsyncContext *ac, int status) {
        struct redis_link *l = ac->data;

        if (status == REDIS_OK || (l->cmd != ac && l->sub != ac))
                return;
        /* hiredis frees a context whose connect failed; it is no longer ours. */
        if (l->cmd == ac)
                l->cmd = NULL;
        if (l->sub == ac)
                l->sub = NULL;
        link_down(l, ac->errstr[0] ? ac->errstr : "cannot connect");
}

/* The last setup command on the command link: its answer proves AUTH and SELECT worked. */
static void on_ping(redisAsyncContext *ac, void *r, void *privdata) {
        struct redis_link *l = ac->data;
        redisReply *reply = r;

        if (!reply)
                return;
        if (reply->type == REDIS_REPLY_ERROR) {
                char why[200];

                snprintf(why, sizeof(why), "refused the connection: %.150s", reply->str);
                link_down(l, why);
                return;
        }
        l->cmd_ready = true;
        l->progress_ms = clock_boot_ms();
        up_if_ready(l);
}

/* AUTH and SELECT answers: an error shows up again at the PING, which says what went wrong. */
static void on_setup(redisAsyncContext *ac, void *r, void *privdata) {
        struct redis_link *l = ac->data;
        redisReply *reply = r;

        if (reply && reply->type == REDIS_REPLY_ERROR) {
                char why[200];

                snprintf(why, sizeof(why), "refused %s: %.150s", (const char *)privdata, reply->str);
                link_down(l, why);
        }
}

static void on_subscribed(redisAsyncContext *ac, void *r, void *privdata) {
        struct redis_link *l = ac->data;
        redisReply *reply = r;

        if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
            reply->element[0]->type != REDIS_REPLY_STRING) {
                if (reply && reply->type == REDIS_REPLY_ERROR) {
                        char why[200];

                        snprintf(why, sizeof(why), "refused SUBSCRIBE: %.150s", reply->str);
                        link_down(l, why);
                }
                return;
        }
        if (!strcmp(reply->element[0]->str, "subscribe")) {
                l->sub_ready = true;
                up_if_ready(l);
        } else if (!strcmp(reply->element[0]->str, "message") && reply->element[2]->type == REDIS_REPLY_STRING) {
                l->ops->message(l->owner, reply->element[2]->str, reply->element[2]->len);
        }
}

static redisAsyncContext *link_open(struct redis_link *l, const struct redis_link_target *t) {
        redisAsyncContext *ac = t->unix_path ? redisAsyncConnectUnix(t->unix_path) : redisAsyncConnect(l->addr, t->port);

        if (!ac)
                return NULL;
        if (ac->err) {
                snprintf(l->last_error, sizeof(l->last_error), "%s", ac->errstr);
                redisAsyncFree(ac);
                return NULL;
        }
        ac->data = l;
        /* TCP keepalive: a half-open link (a NAT or firewall that forgot us) ends instead of hanging. */
        if (!t->unix_path)
                redisEnableKeepAlive(&ac->c);
        if (redis_event_attach(ac, l->loop) < 0) {
                redisAsyncFree(ac);
                return NULL;
        }
        redisAsyncSetConnectCallback(ac, on_connect);
        redisAsyncSetDisconnectCallback(ac, on_disconnect);
        /* Queued now, sent once connected: AUTH first, the password never in a log. */
        if (t->password)
                redisAsyncCommand(ac, on_setup, (void *)"AUTH", "AUTH %s", t->password);
        return ac;
}

static void links_free(struct redis_link *l) {
        redisAsyncContext *cmd = l->cmd, *sub = l->sub;

        /* NULL first: the callbacks hiredis runs while freeing must find no link to use. */
        l->cmd = l->sub = NULL;
        l->up = l->cmd_ready = l->sub_ready = false;
        if (cmd)
                redisAsyncFree(cmd);
        if (sub)
                redisAsyncFree(sub);
        l->pending = 0;
}

/*
 * The Redis host's address: as written if numeric, else looked up anew at every connect
 * (a moved Redis is found again) in the background, since hiredis's own lookup would
 * block the loop, and with it every client, for as long as DNS takes to fail.
 * 0: l->addr is set; -EINPROGRESS: not yet; other -errno: failed, last_error says why.
 */
static int redis_address(struct redis_link *l, const char *host) {
        const char *why = "";
        int r;

        if (resolve_numeric(host, l->addr, sizeof(l->addr)) == 0)
                return 0;
        if (!l->resolving) {
                r = resolve_start(&l->resolving, host);
                if (r < 0) {
                        snprintf(l->last_error, sizeof(l->last_error), "cannot look up %s: %s", host, strerror(-r));
                        return r;
                }
        }
        r = resolve_result(l->resolving, l->addr, sizeof(l->addr), &why);
        if (r == -EINPROGRESS)
                return r;
        resolve_free(l->resolving);
        l->resolving = NULL;
        if (r < 0)
                snprintf(l->last_error, sizeof(l->last_error), "cannot look up %s: %s", host, why);
        return r;
}

void redis_link_connect(struct redis_link *l) {
        struct redis_link_target t = target(l);
        int r;

        links_free(l);
        if (!t.unix_path) {
                r = redis_address(l, t.host);
                if (r == -EINPROGRESS) {
                        sd_event_source_set_time_relative(l->retry, LOOKUP_POLL_MS * 1000);
                        sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
                        return;
                }
                if (r < 0) {
                        link_down(l, l->last_error);
                        return;
                }
        }
        l->connect_started_ms = clock_boot_ms();
        l->cmd = link_open(l, &t);
        l->sub = l->cmd ? link_open(l, &t) : NULL;
        if (!l->cmd || !l->sub) {
                links_free(l);
                link_down(l, l->last_error[0] ? l->last_error : "cannot create a connection");
                return;
        }
        redisAsyncCommand(l->cmd, on_setup, (void *)"SELECT", "SELECT %d", t.db);
        redisAsyncCommand(l->cmd, on_ping, NULL, "PING");
        redisAsyncCommand(l->sub, on_subscribed, NULL, "SUBSCRIBE %s", t.channel);
}

void redis_link_check(struct redis_link *l, int64_t timeout_ms) {
        int64_t now = clock_boot_ms();
        char why[96];

        if (!l->up && (l->cmd || l->sub) && now - l->connect_started_ms > timeout_ms) {
                snprintf(why, sizeof(why), "no answer within %lld ms of connecting", (long long)timeout_ms);
                link_down(l, why);
                links_free(l);
        } else if (l->up && l->pending > 0 && now - l->progress_ms > timeout_ms) {
                snprintf(why, sizeof(why), "no answer within %lld ms", (long long)timeout_ms);
                link_down(l, why);
                links_free(l);
        }
}

bool redis_link_up(const struct redis_link *l) {
        return l->up;
}

const char *redis_link_last_error(const struct redis_link *l) {
        return l->last_error;
}

int redis_link_new(struct redis_link **ret, sd_event *loop, const struct redis_link_ops *ops, void *owner) {
        struct redis_link *l;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        *l = (struct redis_link){ .loop = loop, .ops = ops, .owner = owner, .retry_ms = RETRY_MIN_MS };
        snprintf(l->last_error, sizeof(l->last_error), "connecting");
        r = sd_event_add_time(loop, &l->retry, CLOCK_BOOTTIME, UINT64_MAX, 10 * 1000, on_retry, l);
        if (r < 0) {
                free(l);
                return r;
        }
        /* Armed only when a link goes down (link_down looks at whether it is). */
        sd_event_source_set_enabled(l->retry, SD_EVENT_OFF);
        *ret = l;
        return 0;
}

void redis_link_free(struct redis_link *l) {
        if (!l)
                return;
        links_free(l);
        resolve_free(l->resolving);
        sd_event_source_disable_unref(l->retry);
        free(l);
}
