/* server-conn.c: the control socket's connections: accept, read lines, queue and write replies, close. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "app-force.h"
#include "log.h"
#include "server-internal.h"

void conn_unqueue(struct conn *c) {
        if (!c->rprev)
                return;
        *c->rprev = c->rnext;
        if (c->rnext)
                c->rnext->rprev = c->rprev;
        c->rprev = NULL;
}

void status_unqueue(struct conn *c) {
        if (!c->sprev)
                return;
        *c->sprev = c->snext;
        if (c->snext)
                c->snext->sprev = c->sprev;
        else
                c->srv->statusq_tail = c->sprev;
        c->sprev = NULL;
}

void idle_unlink(struct conn *c) {
        if (!c->iprev)
                return;
        *c->iprev = c->inext;
        if (c->inext)
                c->inext->iprev = c->iprev;
        else
                c->srv->idle_tail = c->iprev;
        c->iprev = NULL;
}

static void idle_append(struct conn *c) {
        c->inext = NULL;
        c->iprev = c->srv->idle_tail;
        *c->srv->idle_tail = c;
        c->srv->idle_tail = &c->inext;
}

/* The connection's refresh is over (answered or cancelled): it no longer counts against its uid. */
void conn_waiter_done(struct conn *c) {
        if (c->waiter_counted)
                peer_table_add(&c->srv->uids, c->peer.uid, 0, -1);
        c->waiter_counted = false;
}

void conn_free(struct conn *c) {
        conn_unqueue(c);
        status_unqueue(c);
        idle_unlink(c);
        conn_waiter_done(c);
        force_cancel(c->pending);
        app_onboard_cancel(c->job);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->idle);
        close(c->fd);
        *c->prev = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->srv->n_conns--;
        c->srv->svc->stats.connections = c->srv->n_conns;
        peer_table_add(&c->srv->uids, c->peer.uid, -1, 0);
        peer_clear(&c->peer);
        free(c->out);
        free(c);
}

static size_t conn_backlog(const struct conn *c) {
        return c->out_len - c->out_sent;
}

/* Kept alive and idle: a request answered before, and nothing waiting, half-read or unsent now. */
static bool conn_kept_idle(const struct conn *c) {
        return c->served && !c->pending && !c->job && !c->sprev && !c->rprev && !c->closing && !c->dead && c->in_len == 0 &&
               conn_backlog(c) == 0;
}

/*
 * Listen for what the connection can do next: read only when not waiting and not behind
 * with replies (a client that does not read stops being read), write when behind.
 * idle_timeout runs unless a refresh is pending or the connection is kept alive and idle:
 * a client that never completes a request, or stops halfway through one, or does not read
 * its replies is still closed; one that pools its connection between requests is not.
 */
static void conn_update(struct conn *c) {
        uint32_t events = 0;
        bool idle = conn_kept_idle(c);

        if (!c->pending && !c->job && !c->sprev && !c->closing && conn_backlog(c) < CONN_OUT_SOFT)
                events |= EPOLLIN;
        if (conn_backlog(c) > 0)
                events |= EPOLLOUT;
        sd_event_source_set_io_events(c->io, events);
        /* Busy again without a request (the start of a line): the idle clock starts now, not at the last one. */
        if (!idle && c->iprev)
                sd_event_source_set_time_relative(c->idle, (uint64_t)c->srv->svc->config->idle_timeout_ms * 1000);
        if (idle && !c->iprev)
                idle_append(c);
        else if (!idle)
                idle_unlink(c);
        sd_event_source_set_enabled(c->idle, c->pending || c->job || idle ? SD_EVENT_OFF : SD_EVENT_ONESHOT);
}

/* Write what we can, keeping what is left at the front; false if the connection died. */
bool conn_flush(struct conn *c) {
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
void conn_reply(struct conn *c, char *line) {
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

void conn_stream(struct conn *c, char *text, size_t len) {
        char *p;

        c->closing = true;
        if (!text) {
                c->dead = true;
                return;
        }
        /* The connection's own replies so far come first; nothing is read after this. */
        p = c->out_len ? realloc(c->out, c->out_len + len) : NULL;
        if (c->out_len && !p) {
                free(text);
                c->dead = true;
                return;
        }
        if (p) {
                memcpy(p + c->out_len, text, len);
                free(text);
                c->out = p;
        } else {
                free(c->out);
                c->out = text;
        }
        c->out_len += len;
}

/* Handle every complete line buffered, in order, until one has to wait. */
static void conn_process(struct conn *c) {
        while (!c->pending && !c->job && !c->sprev && !c->closing && !c->dead && conn_backlog(c) < CONN_OUT_SOFT) {
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
                /* Active: off the idle list, back at its end (the most recently used) once idle again. */
                idle_unlink(c);
                sd_event_source_set_time_relative(c->idle, (uint64_t)c->srv->svc->config->idle_timeout_ms * 1000);
                conn_dispatch(c, c->in, len > 0 && c->in[len - 1] == '\r' ? len - 1 : len);
                c->in_len -= len + 1;
                memmove(c->in, nl + 1, c->in_len);
        }
}

void conn_resume(struct conn *c) {
        conn_process(c);
        if (c->dead || !conn_flush(c) || (c->closing && conn_backlog(c) == 0)) {
                conn_free(c);
                return;
        }
        conn_update(c);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct conn *c = userdata;

        if ((revents & EPOLLIN) && !c->pending && !c->job && !c->sprev && !c->closing) {
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

/* Refuse a connection with one reply line, never blocking on it. */
static void refuse(int fd, const char *message) {
        char *line = protocol_error(PROTO_E_CONNECTIONS, message, -1);
        ssize_t n = line ? send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

        (void)n;
        free(line);
        close(fd);
}

/*
 * The connection idle longest (of uid, unless uid is -1) that can be closed without losing
 * anything: a request already in its socket, not yet read, makes it busy. NULL if none.
 * At most IDLE_PEEK_MAX are looked into: if that many have requests arriving, the agent is
 * busy rather than full of idle clients, and refusing costs less than searching on.
 */
#define IDLE_PEEK_MAX 32
static struct conn *idle_oldest(struct server *s, uid_t uid) {
        unsigned peeked = 0;

        for (struct conn *c = s->idle; c && peeked < IDLE_PEEK_MAX; c = c->inext) {
                char byte;

                if (uid != (uid_t)-1 && c->peer.uid != uid)
                        continue;
                peeked++;
                if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
                        continue;
                return c;
        }
        return NULL;
}

/* Close an idle kept-alive connection for a new one: its client sees EOF and connects again when it needs to. */
static void evict(struct server *s, struct conn *c, const char *limit) {
        s->svc->stats.connections_evicted++;
        /* Once at info, so an operator learns it happens; then debug, as a full agent may do it often. */
        log_app(s->evict_logged ? LOG_DEBUG : LOG_INFO, NULL, 0,
                "control socket: %s reached; closed the connection idle longest (uid %ld pid %ld) for a new one "
                "(counted in status's server.evicted_idle; further ones are logged at debug)", limit,
                (long)c->peer.uid, (long)c->peer.pid);
        s->evict_logged = true;
        conn_free(c);
}

void server_accept_one(struct server *s, int fd) {
        const struct agent_config *cfg = s->svc->config;
        bool full = s->n_conns >= cfg->max_connections, uid_full;
        struct conn *c, *victim;
        struct peer peer;

        /* Full with nothing idle: refused before any work, as a flood of connects finds it. */
        if (full && !s->idle) {
                refuse(fd, "max_connections reached");
                return;
        }
        peer_credentials(&peer, fd);
        /* One user may not hold the whole socket: the others' gets must still find a place. */
        uid_full = peer.uid != 0 && peer_table_get(&s->uids, peer.uid).conns >= cfg->max_connections_per_uid;
        if (full || uid_full) {
                /* Over its share, a user makes room among its own connections only. */
                victim = idle_oldest(s, uid_full ? peer.uid : (uid_t)-1);
                if (!victim) {
                        peer_clear(&peer);
                        refuse(fd, uid_full ? "max_connections_per_uid reached: your user holds its share of the socket"
                                            : "max_connections reached");
                        return;
                }
                evict(s, victim, uid_full ? "max_connections_per_uid" : "max_connections");
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
        s->svc->stats.connections = s->n_conns;
        s->svc->stats.connections_total++;
        if (sd_event_add_io(s->svc->loop, &c->io, fd, EPOLLIN, on_conn_io, c) < 0 ||
            sd_event_add_time_relative(s->svc->loop, &c->idle, CLOCK_MONOTONIC,
                                       (uint64_t)s->svc->config->idle_timeout_ms * 1000, 100000, on_conn_idle, c) < 0)
                conn_free(c);
}
