/* server.c: the control socket: activation or bind, connections, JSON-line requests, access control. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "app.h"
#include "file.h"
#include "log.h"
#include "peer.h"
#include "protocol.h"
#include "server.h"
#include "status.h"
#include "wxshm.h"

/*
 * Replies a client has not read yet: past SOFT its requests wait, past MAX it is dropped.
 * MAX leaves room for a status page (PROTOCOL_STATUS_BYTES and one entry) above SOFT.
 */
#define CONN_OUT_SOFT (64 * 1024)
#define CONN_OUT_MAX (320 * 1024)

struct conn {
        struct server *srv;
        struct conn *next, **prev;
        int fd;
        sd_event_source *io, *idle;
        struct peer peer;
        char in[PROTOCOL_LINE_MAX];
        size_t in_len;
        char *out;
        size_t out_len, out_sent;
        struct waiter *pending;         /* a refresh being waited for: later requests wait too */
        struct conn *rnext, **rprev;    /* on the server's resume list (rprev NULL: not on it) */
        struct conn *snext, **sprev;    /* on the server's status queue (sprev NULL: not on it) */
        struct request status;          /* the status request waiting there */
        bool waiter_counted;            /* pending counts against the peer's max_waiters_per_uid */
        bool dispatching;               /* inside force_request: a reply now is synchronous */
        bool closing;                   /* close once the replies are out */
        bool dead;                      /* close now: too far behind reading its replies */
};

struct server {
        struct services *svc;
        int fd;
        bool bound;                     /* we made the socket file (not systemd) */
        sd_event_source *listener;
        sd_event_source *pause;         /* re-enables the listener after running out of descriptors */
        sd_event_source *resume;        /* one deferred pass over every connection whose wait ended */
        struct conn *resumable;
        /*
         * status requests wait here, served one per loop iteration by an idle-priority
         * source: every get and refresh ready in an iteration goes first, so a status
         * flood cannot starve them.
         */
        sd_event_source *status_src;
        struct conn *statusq, **statusq_tail;
        struct conn *conns;
        unsigned n_conns;
        struct peer_table uids;         /* connections and waiters per peer uid */
        uint64_t status_replies;
};

static void conn_unqueue(struct conn *c) {
        if (!c->rprev)
                return;
        *c->rprev = c->rnext;
        if (c->rnext)
                c->rnext->rprev = c->rprev;
        c->rprev = NULL;
}

static void status_unqueue(struct conn *c) {
        if (!c->sprev)
                return;
        *c->sprev = c->snext;
        if (c->snext)
                c->snext->sprev = c->sprev;
        else
                c->srv->statusq_tail = c->sprev;
        c->sprev = NULL;
}

/* The connection's refresh is over (answered or cancelled): it no longer counts against its uid. */
static void conn_waiter_done(struct conn *c) {
        if (c->waiter_counted)
                peer_table_add(&c->srv->uids, c->peer.uid, 0, -1);
        c->waiter_counted = false;
}

static void conn_free(struct conn *c) {
        conn_unqueue(c);
        status_unqueue(c);
        conn_waiter_done(c);
        force_cancel(c->pending);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->idle);
        close(c->fd);
        *c->prev = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->srv->n_conns--;
        peer_table_add(&c->srv->uids, c->peer.uid, -1, 0);
        peer_clear(&c->peer);
        free(c->out);
        free(c);
}

static size_t conn_backlog(const struct conn *c) {
        return c->out_len - c->out_sent;
}

/*
 * Listen for what the connection can do next: read only when not waiting and not behind
 * with replies (a client that does not read stops being read), write when behind.
 */
static void conn_update(struct conn *c) {
        uint32_t events = 0;

        if (!c->pending && !c->sprev && !c->closing && conn_backlog(c) < CONN_OUT_SOFT)
                events |= EPOLLIN;
        if (conn_backlog(c) > 0)
                events |= EPOLLOUT;
        sd_event_source_set_io_events(c->io, events);
        sd_event_source_set_enabled(c->idle, c->pending ? SD_EVENT_OFF : SD_EVENT_ONESHOT);
}

/* Write what we can, keeping what is left at the front; false if the connection died. */
static bool conn_flush(struct conn *c) {
        while (c->out_sent < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0)
                        return false;
                c->out_sent += (size_t)n;
        }
        if (c->out_sent > 0) {
                memmove(c->out, c->out + c->out_sent, conn_backlog(c));
                c->out_len = conn_backlog(c);
                c->out_sent = 0;
        }
        return true;
}

/* Queue a reply (taking line). A client too far behind reading is marked dead, not buffered for. */
static void conn_reply(struct conn *c, char *line) {
        size_t len;
        char *p;

        if (!line)
                line = strdup("{\"ok\":false,\"error\":\"" PROTO_E_INTERNAL "\",\"message\":\"out of memory\"}\n");
        len = line ? strlen(line) : 0;
        if (conn_backlog(c) + len > CONN_OUT_MAX || !line) {
                free(line);
                c->dead = true;
                return;
        }
        p = realloc(c->out, c->out_len + len);
        if (!p) {
                free(line);
                c->dead = true;
                return;
        }
        memcpy(p + c->out_len, line, len);
        c->out = p;
        c->out_len += len;
        free(line);
}

static void conn_resume(struct conn *c);

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

static int on_resume(sd_event_source *src, void *userdata) {
        struct server *s = userdata;

        while (s->resumable) {
                struct conn *c = s->resumable;

                conn_unqueue(c);
                conn_resume(c);
        }
        return 0;
}

static void conn_dispatch(struct conn *c, const char *line, size_t len) {
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
        it = app_find_item(a, req.app);
        if (!it) {
                conn_reply(c, protocol_error(PROTO_E_UNKNOWN_APP, "no such app or ticket in the configuration", -1));
                return;
        }
        if (!peer_allowed(&c->peer, it)) {
                conn_reply(c, protocol_error(PROTO_E_PERMISSION, "only root, the agent's user and members of the "
                                             "app's group may get or refresh its token", -1));
                return;
        }
        if (req.op == OP_GET) {
                if (it->core.generation == 0)
                        conn_reply(c, protocol_error(PROTO_E_NO_TOKEN, "no token published yet", -1));
                else
                        conn_reply(c, protocol_get_ok(it->name, it->value, it->core.generation, it->core.expires_at_ms));
                return;
        }
        if (c->peer.uid != 0 && peer_table_get(&c->srv->uids, c->peer.uid).waiters >= a->config->max_waiters_per_uid) {
                conn_reply(c, protocol_error(PROTO_E_BUSY, "max_waiters_per_uid: your user waits for too many "
                                             "refreshes already", -1));
                return;
        }
        c->dispatching = true;
        w = force_request(it, req.has_generation, req.generation, req.timeout_ms, on_refresh_reply, c);
        c->dispatching = false;
        if (w && peer_table_add(&c->srv->uids, c->peer.uid, 0, 1) == 0)
                c->waiter_counted = true;
        if (w)
                c->pending = w;
}

/* Handle every complete line buffered, in order, until one has to wait. */
static void conn_process(struct conn *c) {
        while (!c->pending && !c->sprev && !c->closing && !c->dead && conn_backlog(c) < CONN_OUT_SOFT) {
                char *nl = memchr(c->in, '\n', c->in_len);
                size_t len;

                if (!nl) {
                        if (c->in_len == sizeof(c->in)) {
                                conn_reply(c, protocol_error(PROTO_E_LINE_TOO_LONG, "a request line is at most "
                                                             PROTOCOL_STR(PROTOCOL_LINE_MAX) " bytes", -1));
                                c->closing = true;
                        }
                        return;
                }
                len = (size_t)(nl - c->in);
                sd_event_source_set_time_relative(c->idle, (uint64_t)c->srv->svc->config->idle_timeout_ms * 1000);
                conn_dispatch(c, c->in, len > 0 && c->in[len - 1] == '\r' ? len - 1 : len);
                c->in_len -= len + 1;
                memmove(c->in, nl + 1, c->in_len);
        }
}

static void conn_resume(struct conn *c) {
        conn_process(c);
        if (c->dead || !conn_flush(c) || (c->closing && conn_backlog(c) == 0)) {
                conn_free(c);
                return;
        }
        conn_update(c);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct conn *c = userdata;

        if ((revents & EPOLLIN) && !c->pending && !c->sprev && !c->closing) {
                ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                        conn_free(c);
                        return 0;
                }
                if (n > 0)
                        c->in_len += (size_t)n;
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                conn_free(c);
                return 0;
        }
        conn_resume(c);
        return 0;
}

static int on_conn_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        conn_free(userdata);
        return 0;
}

/* One status request per call: the loop polls for I/O between two, and serves what it finds first. */
static int on_status(sd_event_source *src, void *userdata) {
        struct server *s = userdata;
        struct conn *c = s->statusq;
        struct status_server st;

        if (!c)
                return 0;
        status_unqueue(c);
        st = (struct status_server){ .connections = s->n_conns, .status_replies = ++s->status_replies };
        conn_reply(c, status_reply(s->svc, &c->status, &st));
        if (s->statusq)
                sd_event_source_set_enabled(s->status_src, SD_EVENT_ONESHOT);
        conn_resume(c);
        return 0;
}

/* Refuse a connection with one reply line, never blocking on it. */
static void refuse(int fd, const char *message) {
        char *line = protocol_error(PROTO_E_CONNECTIONS, message, -1);
        ssize_t n = line ? send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

        (void)n;
        free(line);
        close(fd);
}

static void server_accept_one(struct server *s, int fd) {
        const struct agent_config *cfg = s->svc->config;
        struct peer peer;
        struct conn *c;

        if (s->n_conns >= cfg->max_connections) {
                refuse(fd, "max_connections reached");
                return;
        }
        peer_credentials(&peer, fd);
        /* One user may not hold the whole socket: the others' gets must still find a place. */
        if (peer.uid != 0 && peer_table_get(&s->uids, peer.uid).conns >= cfg->max_connections_per_uid) {
                peer_clear(&peer);
                refuse(fd, "max_connections_per_uid reached: your user holds its share of the socket");
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c || peer_table_add(&s->uids, peer.uid, 1, 0) < 0) {
                free(c);
                peer_clear(&peer);
                close(fd);
                return;
        }
        c->peer = peer;
        c->srv = s;
        c->fd = fd;
        c->next = s->conns;
        c->prev = &s->conns;
        if (s->conns)
                s->conns->prev = &c->next;
        s->conns = c;
        s->n_conns++;
        if (sd_event_add_io(s->svc->loop, &c->io, fd, EPOLLIN, on_conn_io, c) < 0 ||
            sd_event_add_time_relative(s->svc->loop, &c->idle, CLOCK_MONOTONIC,
                                       (uint64_t)s->svc->config->idle_timeout_ms * 1000, 100000, on_conn_idle, c) < 0)
                conn_free(c);
}

static int on_listener_resume(sd_event_source *src, uint64_t usec, void *userdata) {
        struct server *s = userdata;

        sd_event_source_set_enabled(s->listener, SD_EVENT_ON);
        return 0;
}

static int on_listener(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct server *s = userdata;

        /* A bounded batch per wakeup, so a flood of connects cannot starve the other sources. */
        for (int i = 0; i < 256; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (cfd >= 0) {
                        server_accept_one(s, cfd);
                        continue;
                }
                if (errno == ECONNABORTED || errno == EINTR)
                        continue;
                /*
                 * Out of descriptors: the pending connection stays pending and the listener
                 * would wake us forever. Pause it a little instead of spinning.
                 */
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        sd_event_source_set_enabled(s->listener, SD_EVENT_OFF);
                        sd_event_source_set_time_relative(s->pause, 100 * 1000);
                        sd_event_source_set_enabled(s->pause, SD_EVENT_ONESHOT);
                }
                break;
        }
        return 0;
}

/* Remove path only if it is a socket nobody listens on: never another file, never a live agent. */
static int stale_remove(const char *path, const struct sockaddr_un *sa) {
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode)) {
                log_error("socket %s: there is a file that is not a socket; not replacing it", path);
                return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
        close(fd);
        if (r == 0) {
                log_error("socket %s: another process listens there", path);
                return -EADDRINUSE;
        }
        return unlink(path) < 0 ? -errno : 0;
}

static int listener_bind(const struct agent_config *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old;
        int fd, r;

        if (strlen(c->socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, c->socket_path);
        r = stale_remove(c->socket_path, &sa);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Born 0660 (no window where others could connect), then set explicitly anyway. */
        old = umask(0117);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        r = r < 0 ? -errno : file_set_socket_access(c->socket_path, 0660, c->socket_gid);
        if (r < 0 || listen(fd, SOMAXCONN) < 0) {
                r = r < 0 ? r : -errno;
                log_error("socket %s: %s", c->socket_path, strerror(-r));
                close(fd);
                return r;
        }
        return fd;
}

int server_new(struct server **ret, struct services *a) {
        struct server *s = calloc(1, sizeof(*s));
        int n, r;

        if (!s)
                return -ENOMEM;
        s->svc = a;
        s->statusq_tail = &s->statusq;
        n = sd_listen_fds(true);
        if (n > 1) {
                log_error("systemd passed %d sockets; wxtokend takes one (Accept=no, one ListenStream=)", n);
                r = -EINVAL;
                goto fail;
        }
        if (n == 1) {
                s->fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(s->fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
                        log_error("the socket systemd passed is not a listening AF_UNIX stream socket");
                        r = -EINVAL;
                        goto fail;
                }
                fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
        } else {
                s->fd = listener_bind(a->config);
                if (s->fd < 0) {
                        r = s->fd;
                        goto fail;
                }
                s->bound = true;
        }
        r = sd_event_add_io(a->loop, &s->listener, s->fd, EPOLLIN, on_listener, s);
        if (r >= 0)
                r = sd_event_add_defer(a->loop, &s->resume, on_resume, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->resume, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(a->loop, &s->status_src, on_status, s);
        if (r >= 0)
                r = sd_event_source_set_priority(s->status_src, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->status_src, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(a->loop, &s->pause, CLOCK_MONOTONIC, 100 * 1000, 10 * 1000,
                                               on_listener_resume, s);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(s->pause, SD_EVENT_OFF);
        log_info("listening on %s%s", n == 1 ? "the socket systemd passed" : a->config->socket_path,
                 n == 1 ? "" : " (bound by wxtokend)");
        *ret = s;
        return 0;
fail:
        sd_event_source_disable_unref(s->listener);
        sd_event_source_disable_unref(s->resume);
        sd_event_source_disable_unref(s->status_src);
        if (s->bound) {
                close(s->fd);
                unlink(a->config->socket_path);
        }
        free(s);
        return r;
}

void server_free(struct server *s) {
        if (!s)
                return;
        /* Replies already queued (shutting_down to waiters) get one try before the close. */
        while (s->conns) {
                conn_flush(s->conns);
                conn_free(s->conns);
        }
        sd_event_source_disable_unref(s->listener);
        sd_event_source_disable_unref(s->pause);
        sd_event_source_disable_unref(s->resume);
        sd_event_source_disable_unref(s->status_src);
        peer_table_free(&s->uids);
        if (s->bound) {
                close(s->fd);
                unlink(s->svc->config->socket_path);
        }
        free(s);
}
