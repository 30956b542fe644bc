/* server-internal.h: the connection and server state shared by server.c, server-conn.c and server-dispatch.c. */
#ifndef SERVER_INTERNAL_H
#define SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "peer.h"
#include "protocol.h"
#include "server.h"

struct waiter;

/*
 * Replies a client has not read yet: past SOFT its requests wait, past MAX it is dropped.
 * MAX leaves room for a status page (PROTOCOL_STATUS_BYTES and one entry) above SOFT.
 */
#define CONN_OUT_SOFT (64 * 1024)
#define CONN_OUT_MAX (400 * 1024)
/* So every reply the agent sends fits the buffer a client keeps for one (libwxshm/wire.h). */
_Static_assert(CONN_OUT_MAX <= PROTOCOL_REPLY_MAX, "a queued reply may outgrow PROTOCOL_REPLY_MAX");

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
        struct authorizer_job *job;     /* an onboarding or sync being waited for (app-onboard.c): the same */
        struct conn *rnext, **rprev;    /* on the server's resume list (rprev NULL: not on it) */
        struct conn *snext, **sprev;    /* on the server's status queue (sprev NULL: not on it) */
        struct request status;          /* the status request waiting there */
        /*
         * On the server's idle list (iprev NULL: not on it): kept alive after a request, with
         * nothing pending, half-read or unsent. Such a connection outlives idle_timeout, and
         * the one longest there is closed when a new connection finds the agent full.
         */
        struct conn *inext, **iprev;
        bool served;                    /* a request was parsed: idle_timeout no longer applies while idle */
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
        struct conn *idle, **idle_tail; /* idle kept-alive connections, the longest idle first */
        bool evict_logged;              /* the first eviction is logged at info, the others at debug */
        struct peer_table uids;         /* connections and waiters per peer uid */
        uint64_t status_replies;
};

/* server-conn.c: a connection's buffers, its reading and writing, accepting and closing it. */
void conn_unqueue(struct conn *c);
/* Off the idle list: the connection is busy (a request came), or goes. */
void idle_unlink(struct conn *c);
void status_unqueue(struct conn *c);
void conn_waiter_done(struct conn *c);
void conn_free(struct conn *c);
bool conn_flush(struct conn *c);
void conn_reply(struct conn *c, char *line);
/* Queue text (taking it; len bytes) past the reply cap, then close once it is out: the metrics op. */
void conn_stream(struct conn *c, char *text, size_t len);
void conn_resume(struct conn *c);
void server_accept_one(struct server *s, int fd);

/* server-dispatch.c: one request line to its answer; status requests queued behind gets and refreshes. */
void conn_dispatch(struct conn *c, const char *line, size_t len);
int server_on_resume(sd_event_source *src, void *userdata);
int server_on_status(sd_event_source *src, void *userdata);

#endif
