/* app-force.c: client-forced refreshes, the shell's side: each waiting client's connection, and the events they make. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-force.h"
#include "app-internal.h"
#include "protocol.h"

/* A client behind a core waiter: the core knows its id, generation and deadline; this, where to reply. */
struct waiter {
        struct waiter *next, **prev;
        struct item *item;
        uint64_t id;
        force_reply_fn reply;
        void *userdata;
        bool want_token;                /* "token":true: the answer carries the token it names */
};

static void waiter_unlink(struct waiter *w) {
        *w->prev = w->next;
        if (w->next)
                w->next->prev = w->prev;
        free(w);
}

static struct waiter *waiter_find(struct item *it, uint64_t id) {
        for (struct waiter *w = it->waiters; w; w = w->next)
                if (w->id == id)
                        return w;
        return NULL;
}

/*
 * The answer with the token, all three of one slot: the segment's published one, read
 * now. It is the answered generation (the core answers once it is published); should
 * they ever differ, the client gets the published generation with its own token and
 * expiry rather than a generation and a token that do not belong together.
 */
static char *answer_with_token(struct item *it, const struct core_action *a) {
        char buf[WXSHM_LAYOUT_TOKEN_CAPACITY + 1];
        struct segment_slot slot;
        char *line;

        if (!it->seg || wxshm_writer_current(it->seg, buf, sizeof(buf), &slot) < 0)
                /* Nothing readable to name: without the field, as an older agent answers (read the segment). */
                return protocol_refresh_ok_call((uint64_t)a->num, a->at_ms, a->answer == CORE_ANSWER_VERIFIED,
                                                a->upstream_call);
        line = protocol_refresh_ok_token(slot.generation, slot.expires_at_ms, a->answer == CORE_ANSWER_VERIFIED,
                                         a->upstream_call, buf);
        explicit_bzero(buf, sizeof(buf));
        return line;
}

void force_answer(struct item *it, const struct core_action *a) {
        struct waiter *w = waiter_find(it, a->waiter);
        force_reply_fn reply;
        void *userdata;
        char *line;

        if (!w)
                return;
        if ((a->answer == CORE_ANSWER_PUBLISHED || a->answer == CORE_ANSWER_VERIFIED) && w->want_token)
                line = answer_with_token(it, a);
        else if (a->answer == CORE_ANSWER_PUBLISHED || a->answer == CORE_ANSWER_VERIFIED)
                line = protocol_refresh_ok_call((uint64_t)a->num, a->at_ms, a->answer == CORE_ANSWER_VERIFIED,
                                                a->upstream_call);
        else
                line = protocol_error(a->code, a->text, a->retry_after_ms);
        reply = w->reply;
        userdata = w->userdata;
        waiter_unlink(w);
        reply(userdata, line);
}

struct waiter *force_request(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms, force_reply_fn reply,
                             void *userdata) {
        return force_request_from(it, has_gen, gen, timeout_ms, reply, userdata, -1, -1);
}

struct waiter *force_request_from(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms,
                                  force_reply_fn reply, void *userdata, int64_t uid, int64_t pid) {
        return force_request_token(it, has_gen, gen, timeout_ms, false, reply, userdata, uid, pid);
}

struct waiter *force_request_token(struct item *it, bool has_gen, uint64_t gen, int64_t timeout_ms, bool want_token,
                                   force_reply_fn reply, void *userdata, int64_t uid, int64_t pid) {
        struct waiter *w = calloc(1, sizeof(*w));
        uint64_t id = ++it->next_waiter;

        if (!w) {
                reply(userdata, protocol_error(PROTO_E_BUSY, "out of memory", -1));
                return NULL;
        }
        *w = (struct waiter){ .next = it->waiters, .prev = &it->waiters, .item = it, .id = id, .reply = reply,
                              .userdata = userdata, .want_token = want_token };
        if (it->waiters)
                it->waiters->prev = &w->next;
        it->waiters = w;
        item_step(it, &(struct core_event){ .type = CORE_EV_REQUEST, .waiter = id, .has_generation = has_gen,
                                            .generation = gen, .timeout_ms = timeout_ms, .caller_uid = uid,
                                            .caller_pid = pid });
        /* Answered at once, or waiting: the step said which. */
        return waiter_find(it, id);
}

void force_cancel(struct waiter *w) {
        struct item *it;
        uint64_t id;

        if (!w)
                return;
        it = w->item;
        id = w->id;
        waiter_unlink(w);
        item_step(it, &(struct core_event){ .type = CORE_EV_WAITER_GONE, .waiter = id });
}

int64_t force_waiters_until(const struct item *it) {
        return core_item_waiters_until(&it->core);
}

void force_remote(struct item *it, uint64_t gen, int64_t timeout_ms) {
        item_step(it, &(struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = gen, .timeout_ms = timeout_ms });
}

void force_remote_verified(struct item *it, uint64_t gen) {
        item_step(it, &(struct core_event){ .type = CORE_EV_REMOTE_VERIFIED, .generation = gen });
}

void force_remote_failed(struct item *it, uint64_t gen, const char *code, const char *message,
                         int64_t retry_after_ms) {
        item_step(it, &(struct core_event){ .type = CORE_EV_REMOTE_FAILED, .generation = gen, .code = code,
                                            .errmsg = message, .retry_after_ms = retry_after_ms });
}

char *force_retry(struct item *it, int64_t uid, int64_t pid) {
        char *line;

        it->retry_reply = NULL;
        item_step(it, &(struct core_event){ .type = CORE_EV_RETRY, .caller_uid = uid, .caller_pid = pid });
        line = it->retry_reply;
        it->retry_reply = NULL;
        return line ? line : protocol_error(PROTO_E_INTERNAL, "out of memory", -1);
}

void force_retry_remote(struct item *it, const char *node, int64_t uid, int64_t pid) {
        it->retry_reply = NULL;
        item_step(it, &(struct core_event){ .type = CORE_EV_RETRY, .caller_uid = uid, .caller_pid = pid,
                                            .from_node = node });
        /* Nobody to answer: the asking host's client had its answer; the core logged the outcome. */
        free(it->retry_reply);
        it->retry_reply = NULL;
}

void force_budget_counted(struct item *it, long long n) {
        item_step(it, &(struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = n });
}
