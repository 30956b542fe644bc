/* server-dispatch.c: the control socket's requests: get, refresh (waiting on force.c) and the status queue. */
#include <string.h>

#include "app.h"
#include "app-force.h"
#include "server-internal.h"
#include "metrics.h"
#include "log.h"
#include "status.h"

/*
 * force.c answers a waiting refresh, now (inside conn_dispatch) or later. A later answer
 * only queues the reply: the connection resumes from the loop, never from inside
 * force.c's walk over its waiters or an app being freed.
 */
static void on_refresh_reply(void *userdata, char *line) {
        struct conn *c = userdata;

        c->pending = NULL;
        conn_waiter_done(c);
        conn_reply(c, line);
        if (c->dispatching)
                return;
        /* The wait is over: the idle clock starts again now, not from the request. */
        sd_event_source_set_time_relative(c->idle, (uint64_t)c->srv->svc->config->idle_timeout_ms * 1000);
        /*
         * One deferred pass resumes every answered connection: 10,000 waiters answered at
         * once cost one loop iteration, not one each.
         */
        if (!c->rprev) {
                c->rnext = c->srv->resumable;
                c->rprev = &c->srv->resumable;
                if (c->rnext)
                        c->rnext->rprev = &c->rnext;
                c->srv->resumable = c;
        }
        sd_event_source_set_enabled(c->srv->resume, SD_EVENT_ONESHOT);
}

/* An onboarding or sync answered (always later, from the loop): as a refresh's answer. */
static void on_job_reply(void *userdata, char *line) {
        struct conn *c = userdata;

        c->job = NULL;
        on_refresh_reply(c, line);
}

int server_on_resume(sd_event_source *src, void *userdata) {
        struct server *s = userdata;

        while (s->resumable) {
                struct conn *c = s->resumable;

                conn_unqueue(c);
                conn_resume(c);
        }
        return 0;
}

void conn_dispatch(struct conn *c, const char *line, size_t len) {
        struct services *a = c->srv->svc;
        struct request req;
        const char *code;
        char message[128];
        struct item *it = NULL;
        struct waiter *w;

        if (protocol_parse(line, len, &req, &code, message, sizeof(message)) < 0) {
                conn_reply(c, protocol_error(code, message, -1));
                return;
        }
        /* A client that speaks the protocol: kept alive from now on while idle (server-conn.c). */
        c->served = true;
        if ((req.op == OP_RELOAD || req.op == OP_RETRY) && !peer_is_operator(&c->peer)) {
                conn_reply(c, protocol_error(PROTO_E_PERMISSION, "only root and the agent's user may reload or "
                                             "retry: run it with sudo, or as the agent's user", -1));
                return;
        }
        if (req.op == OP_RELOAD) {
                const struct reload_result *r;

                log_info("reload asked by uid %ld pid %ld", (long)c->peer.uid, (long)c->peer.pid);
                r = a->ops->reload(a->userdata);
                conn_reply(c, r->taken ? protocol_reload_ok(r->n_apps)
                                       : protocol_error(PROTO_E_RELOAD_REFUSED, r->reason, -1));
                return;
        }
        if (req.op == OP_STATUS) {
                /* Answered from the status queue, after the gets and refreshes of this iteration. */
                c->status = req;
                c->snext = NULL;
                c->sprev = c->srv->statusq_tail;
                *c->srv->statusq_tail = c;
                c->srv->statusq_tail = &c->snext;
                sd_event_source_set_enabled(c->srv->status_src, SD_EVENT_ONESHOT);
                return;
        }
        if (req.op == OP_METRICS) {
                /* Open to anyone who can connect: no token or secret is in it. */
                size_t n = 0;
                char *text = metrics_compose(a, &n);

                conn_stream(c, text, n);
                return;
        }
        it = app_find_item(a, req.app);
        if (!it) {
                conn_reply(c, protocol_error(PROTO_E_UNKNOWN_APP, "no such app or ticket in the configuration", -1));
                return;
        }
        /* A ticket or an account changes what the agent calls WeChat with: operators and the agent's
         * group, not the token's readers (issue 17). A list holds no secret: readers may see it. */
        bool steers = req.op == OP_TICKET || req.op == OP_AUTHORIZER_ADD || req.op == OP_AUTHORIZER_REMOVE ||
                      req.op == OP_AUTHORIZER_SYNC;
        if (steers && !peer_may_steer(&c->peer, it)) {
                conn_reply(c, protocol_error(PROTO_E_PERMISSION, req.op == OP_TICKET
                                             ? "only root, the agent's user and members of the agent's group may "
                                               "put a component's or suite's ticket"
                                             : "only root, the agent's user and members of the agent's group may "
                                               "add or remove a component's accounts", -1));
                return;
        }
        if (!steers && !peer_allowed(&c->peer, it)) {
                conn_reply(c, protocol_error(PROTO_E_PERMISSION, "only root, the agent's user and members of the "
                                             "app's group may get or refresh its token", -1));
                return;
        }
        if (req.op == OP_TICKET) {
                conn_reply(c, app_component_put(it, req.verify_ticket, req.create_time_s,
                                                c->peer.uid == (uid_t)-1 ? -1 : (int64_t)c->peer.uid, c->peer.pid));
                return;
        }
        /* The accounts authorized to a component (add and remove checked above, as a ticket is). */
        if (req.op == OP_AUTHORIZER_ADD || req.op == OP_AUTHORIZER_REMOVE || req.op == OP_AUTHORIZER_LIST ||
            req.op == OP_AUTHORIZER_SYNC) {
                /* An auth_code or a sync calls WeChat first: answered later (on_job_reply), reading paused. */
                char *now = app_onboard_op(it, &req, c->peer.uid == (uid_t)-1 ? -1 : (int64_t)c->peer.uid,
                                           c->peer.pid, on_job_reply, c, &c->job);

                if (now)
                        conn_reply(c, now);
                explicit_bzero(req.refresh_token, sizeof(req.refresh_token));
                explicit_bzero(req.auth_code, sizeof(req.auth_code));
                return;
        }
        if (req.op == OP_RETRY) {
                conn_reply(c, force_retry(it, c->peer.uid == (uid_t)-1 ? -1 : (int64_t)c->peer.uid, c->peer.pid));
                return;
        }
        if (req.op == OP_GET) {
                if (it->core.generation == 0)
                        conn_reply(c, protocol_error(PROTO_E_NO_TOKEN, "no token published yet", -1));
                else
                        conn_reply(c, protocol_get_ok(it->name, item_value(it), it->core.generation, it->core.expires_at_ms));
                return;
        }
        if (c->peer.uid != 0 && peer_table_get(&c->srv->uids, c->peer.uid).waiters >= a->config->max_waiters_per_uid) {
                conn_reply(c, protocol_error(PROTO_E_BUSY, "max_waiters_per_uid: your user waits for too many "
                                             "refreshes already", -1));
                return;
        }
        c->dispatching = true;
        /* "token":true asks for nothing get would not give this peer: the same peer_allowed() let it here. */
        w = force_request_token(it, req.has_generation, req.generation, req.timeout_ms, req.want_token,
                                on_refresh_reply, c, c->peer.uid == (uid_t)-1 ? -1 : (int64_t)c->peer.uid,
                                c->peer.pid);
        c->dispatching = false;
        if (w && peer_table_add(&c->srv->uids, c->peer.uid, 0, 1) == 0)
                c->waiter_counted = true;
        if (w)
                c->pending = w;
}

/* One status request per call: the loop polls for I/O between two, and serves what it finds first. */
int server_on_status(sd_event_source *src, void *userdata) {
        struct server *s = userdata;
        struct conn *c = s->statusq;
        struct status_server st;

        if (!c)
                return 0;
        status_unqueue(c);
        st = (struct status_server){ .connections = s->n_conns, .status_replies = ++s->status_replies,
                                     .shm_dir = s->svc->config->shm_dir,
                                     .evicted_idle = s->svc->stats.connections_evicted };
        conn_reply(c, status_reply(s->svc, &c->status, &st));
        if (s->statusq)
                sd_event_source_set_enabled(s->status_src, SD_EVENT_ONESHOT);
        conn_resume(c);
        return 0;
}
