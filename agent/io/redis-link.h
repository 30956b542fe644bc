/* redis-link.h: a pair of Redis links on the agent's loop (commands, and one subscribed channel) that reconnect by themselves. */
#ifndef REDIS_LINK_H
#define REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct redisReply;
struct redis_link;

/* Where to connect: asked anew at every connect, so an owner whose configuration a reload replaced is read as it is now. */
struct redis_link_target {
        const char *unix_path;          /* a unix socket, or NULL: host and port */
        const char *host;               /* a name or a numeric address; a name is looked up in the background */
        int port;
        const char *password;           /* AUTH, NULL: none; never in last_error nor a log line */
        int db;                         /* SELECT */
        const char *channel;            /* SUBSCRIBEd on the second link */
};

/* What the link tells its owner; every one is called with the owner given to redis_link_new. */
struct redis_link_ops {
        void (*target)(void *owner, struct redis_link_target *t);
        /* Both links answer: authenticated, the database selected, the channel subscribed. */
        void (*up)(void *owner);
        /* The links went down (was_up: they had been up), or a connect failed; a reconnect is armed. */
        void (*down)(void *owner, bool was_up, const char *why);
        /* A message on the channel. */
        void (*message)(void *owner, const char *msg, size_t len);
};

/* A reply to one command, NULL if the link went down (or was freed) first. */
typedef void (*redis_link_reply_fn)(void *owner, struct redisReply *reply, void *userdata);

/* A link that is not connected yet (redis_link_connect starts it); last_error says "connecting". */
int redis_link_new(struct redis_link **ret, sd_event *loop, const struct redis_link_ops *ops, void *owner);

/* Close both links (pending replies get NULL) and free l. NULL is allowed. */
void redis_link_free(struct redis_link *l);

/*
 * (Re)connect both links; the old ones, if any, are freed first. Never from a reply or
 * a message callback. A failure calls ops->down and retries, with a delay that doubles
 * from 200 ms to 2 s and starts again at 200 ms once up.
 */
void redis_link_connect(struct redis_link *l);

/*
 * The watchdog, called now and then by the owner: a connect that took longer than
 * timeout_ms, or a command unanswered for longer, drops both links and reconnects.
 */
void redis_link_check(struct redis_link *l, int64_t timeout_ms);

/* Send argv on the command link; fn gets the reply (or NULL). -ENOTCONN if that link does not answer yet. */
int redis_link_command(struct redis_link *l, redis_link_reply_fn fn, void *userdata, int argc, const char **argv,
                       const size_t *lens);

/*
 * Write what the command link holds to its socket now, not at the loop's next turn: a
 * record that must reach Redis before this agent goes on (a rotated refresh token, before
 * its token is published and clients answered) is on the wire even if a kill -9 follows.
 * No callback runs from here; an error is noticed at the link's next event.
 */
void redis_link_flush(struct redis_link *l);

/* Both links answer. */
bool redis_link_up(const struct redis_link *l);

/* Why the links are down (or "connecting"), "" while up. */
const char *redis_link_last_error(const struct redis_link *l);

#endif
