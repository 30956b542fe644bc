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
#include "cluster.h"
#include "log.h"
#include "protocol.h"
#include "server.h"
#include "wxshm.h"

/* Replies a client has not read yet: past SOFT its requests wait, past MAX it is dropped. */
#define CONN_OUT_SOFT (64 * 1024)
#define CONN_OUT_MAX (256 * 1024)
#define CONN_GROUPS_MAX 256

struct conn {
        struct server *srv;
        struct conn *next, **prev;
        int fd;
        sd_event_source *io, *idle;
        uid_t uid;
        gid_t gid;
        gid_t *groups;                  /* the peer's supplementary groups at connect time */
        int n_groups;
        char in[PROTOCOL_LINE_MAX];
        size_t in_len;
        char *out;
        size_t out_len, out_sent;
        struct waiter *pending;         /* a refresh being waited for: later requests wait too */
        struct conn *rnext, **rprev;    /* on the server's resume list (rprev NULL: not on it) */
        bool dispatching;               /* inside force_request: a reply now is synchronous */
        bool closing;                   /* close once the replies are out */
        bool dead;                      /* close now: too far behind reading its replies */
};

struct server {
        struct agent *agent;
        int fd;
        bool bound;                     /* we made the socket file (not systemd) */
        sd_event_source *listener;
        sd_event_source *pause;         /* re-enables the listener after running out of descriptors */
        sd_event_source *resume;        /* one deferred pass over every connection whose wait ended */
        struct conn *resumable;
        struct conn *conns;
        unsigned n_conns;
};

static void conn_unqueue(struct conn *c) {
        if (!c->rprev)
                return;
        *c->rprev = c->rnext;
        if (c->rnext)
                c->rnext->rprev = c->rprev;
        c->rprev = NULL;
}

static void conn_free(struct conn *c) {
        conn_unqueue(c);
        force_cancel(c->pending);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->idle);
        close(c->fd);
        *c->prev = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->srv->n_conns--;
        free(c->groups);
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

        if (!c->pending && !c->closing && conn_backlog(c) < CONN_OUT_SOFT)
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
                line = strdup("{\"ok\":false,\"error\":\"internal\",\"message\":\"out of memory\"}\n");
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

static bool peer_allowed(const struct conn *c, const struct item *it) {
        gid_t g = it->app->cfg->gid != (gid_t)-1 ? it->app->cfg->gid : getegid();

        if (c->uid == 0 || c->uid == geteuid() || c->gid == g)
                return true;
        for (int i = 0; i < c->n_groups; i++)
                if (c->groups[i] == g)
                        return true;
        return false;
}

static char *status_reply(struct agent *a) {
        size_t n = 0, i = 0;
        struct cluster_status cs;
        struct status_entry *e;
        char *line;

        for (size_t k = 0; k < a->n_apps; k++)
                if (a->apps[k])
                        n += 1 + (size_t)a->apps[k]->n_tickets;
        e = calloc(n ? n : 1, sizeof(*e));
        if (!e)
                return NULL;
        for (size_t k = 0; k < a->n_apps; k++) {
                struct app *app = a->apps[k];

                for (int t = -1; app && t < app->n_tickets; t++) {
                        const struct item *it = t < 0 ? &app->token : &app->tickets[t];

                        e[i++] = (struct status_entry){
                                .name = it->name,
                                .kind = t < 0 ? app_kind_name(app->cfg->kind) : "ticket",
                                .generation = it->generation,
                                .expires_at_ms = it->expires_at_ms,
                                .fetched_at_ms = it->fetched_at_ms,
                                .next_refresh_ms = it->next_at_ms,
                                .state = wxshm_state_name(it->state),
                                .last_errcode = it->errcode,
                                .last_errmsg = it->last_errmsg,
                                .upstream_calls = it->calls,
                                .forced_refreshes = it->forced_refreshes,
                                .coalesced_waiters = it->coalesced_waiters,
                                .rate_limited = it->rate_limited,
                                .holder = a->cluster ? app->lease_holder : NULL,
                                .is_holder = app->holder,
                                .cluster_problem = a->cluster ? cluster_problem(it) : NULL,
                        };
                }
        }
        if (a->cluster)
                cluster_get_status(a->cluster, &cs);
        line = protocol_status_ok(e, n, a->cluster ? &cs : NULL);
        free(e);
        return line;
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
        conn_reply(c, line);
        if (c->dispatching)
                return;
        /* The wait is over: the idle clock starts again now, not from the request. */
        sd_event_source_set_time_relative(c->idle, (uint64_t)c->srv->agent->config->idle_timeout_ms * 1000);
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
        struct agent *a = c->srv->agent;
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
                conn_reply(c, status_reply(a));
                return;
        }
        it = agent_find_item(a, req.app);
        if (!it) {
                conn_reply(c, protocol_error(PROTO_E_UNKNOWN_APP, "no such app or ticket in the configuration", -1));
                return;
        }
        if (!peer_allowed(c, it)) {
                conn_reply(c, protocol_error(PROTO_E_PERMISSION, "only root, the agent's user and members of the "
                                             "app's group may get or refresh its token", -1));
                return;
        }
        if (req.op == OP_GET) {
                if (it->generation == 0)
                        conn_reply(c, protocol_error(PROTO_E_NO_TOKEN, "no token published yet", -1));
                else
                        conn_reply(c, protocol_get_ok(it->name, it->value, it->generation, it->expires_at_ms));
                return;
        }
        c->dispatching = true;
        w = force_request(it, req.has_generation, req.generation, req.timeout_ms, on_refresh_reply, c);
        c->dispatching = false;
        if (w)
                c->pending = w;
}

/* Handle every complete line buffered, in order, until one has to wait. */
static void conn_process(struct conn *c) {
        while (!c->pending && !c->closing && !c->dead && conn_backlog(c) < CONN_OUT_SOFT) {
                char *nl = memchr(c->in, '\n', c->in_len);
                size_t len;

                if (!nl) {
                        if (c->in_len == sizeof(c->in)) {
                                conn_reply(c, protocol_error(PROTO_E_LINE_TOO_LONG, "a request line is at most "
                                                             "4096 bytes", -1));
                                c->closing = true;
                        }
                        return;
                }
                len = (size_t)(nl - c->in);
                sd_event_source_set_time_relative(c->idle, (uint64_t)c->srv->agent->config->idle_timeout_ms * 1000);
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

        if ((revents & EPOLLIN) && !c->pending && !c->closing) {
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

/* Who is on the other end: uid and gids now, so a later setuid of the peer changes nothing. */
static void conn_credentials(struct conn *c) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        gid_t groups[CONN_GROUPS_MAX];

        c->uid = (uid_t)-1;
        c->gid = (gid_t)-1;
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
                c->uid = cred.uid;
                c->gid = cred.gid;
        }
        len = sizeof(groups);
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0 && len > 0) {
                c->groups = malloc(len);
                if (c->groups)
                        memcpy(c->groups, groups, len);
        } else if (errno == ERANGE && len > 0 && (c->groups = malloc(len))) {
                /* More groups than the buffer: the kernel said how many; ask again. */
                if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) < 0)
                        len = 0;
        } else {
                len = 0;
        }
        c->n_groups = c->groups ? (int)(len / sizeof(gid_t)) : 0;
}

static void server_accept_one(struct server *s, int fd) {
        struct conn *c;

        if (s->n_conns >= s->agent->config->max_connections) {
                static const char busy[] = "{\"ok\":false,\"error\":\"too_many_connections\","
                                           "\"message\":\"max_connections reached\"}\n";
                ssize_t n = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

                (void)n;
                close(fd);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return;
        }
        c->srv = s;
        c->fd = fd;
        c->next = s->conns;
        c->prev = &s->conns;
        if (s->conns)
                s->conns->prev = &c->next;
        s->conns = c;
        s->n_conns++;
        conn_credentials(c);
        if (sd_event_add_io(s->agent->loop, &c->io, fd, EPOLLIN, on_conn_io, c) < 0 ||
            sd_event_add_time_relative(s->agent->loop, &c->idle, CLOCK_MONOTONIC,
                                       (uint64_t)s->agent->config->idle_timeout_ms * 1000, 100000, on_conn_idle, c) < 0)
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
        if (r < 0 || chmod(c->socket_path, 0660) < 0 ||
            (c->socket_gid != (gid_t)-1 && chown(c->socket_path, (uid_t)-1, c->socket_gid) < 0) ||
            listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                log_error("socket %s: %s", c->socket_path, strerror(errno));
                close(fd);
                return r;
        }
        return fd;
}

int server_new(struct server **ret, struct agent *a) {
        struct server *s = calloc(1, sizeof(*s));
        int n, r;

        if (!s)
                return -ENOMEM;
        s->agent = a;
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
        if (s->bound) {
                close(s->fd);
                unlink(s->agent->config->socket_path);
        }
        free(s);
}
