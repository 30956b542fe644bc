/* notes.h: cluster mode's notes on the Redis channel (pub, force, fail, verified, sync, retry) as text, pure. */
#ifndef WIRE_NOTES_H
#define WIRE_NOTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

/*
 * The notes every agent of a fleet publishes and reads, one line of words each (the fleet
 * key's MAC, if any, is put around them by cluster-record.c):
 *
 *   pub NAME GEN                         the holder published generation GEN in Redis
 *   force NAME GEN NODE TIMEOUT_MS       NODE's clients want GEN replaced, and wait that long
 *   fail NAME GEN RETRY_MS CODE MESSAGE  the holder could not replace GEN for other hosts
 *   verified NAME GEN                    the holder's probe found GEN works
 *   sync NAME GEN FETCHED_AT EXPIRES_AT TOKEN   a host's token that differs from Redis's
 *   retry NAME GEN NODE UID PID          an operator on NODE ran wxtokenctl retry (as UID, PID; -1
 *                                        unknown): the holder skips the backoff wait under its own
 *                                        rules. GEN is NODE's generation, 0 if it has none (the one
 *                                        note where 0 is allowed). Added after the others: an agent
 *                                        from before it (158e902 and older) finds no verb it knows
 *                                        and drops the note without a word; GEN 0 it drops earlier.
 *
 * Whoever can publish on the channel is not trusted: every number is bounded, every word
 * fits its buffer or the note is refused. Agents of older and newer versions share one
 * channel, so a note's format does not change: a new verb is added, never a word to an old one.
 */

#define NOTE_NAME_MAX 192               /* an item's name with its NUL: "token:<appid>.jsapi" */
#define NOTE_NODE_MAX 96                /* a lease id with its NUL: a node_id (64 at most), '/', 16 hex digits */
#define NOTE_CODE_MAX 32                /* a protocol error code with its NUL */
#define NOTE_MESSAGE_MAX 300            /* a fail note's message is cut to this many bytes */
#define NOTE_TEXT_MAX (NOTE_NAME_MAX + UPSTREAM_TOKEN_MAX + 128) /* a longer note is no agent's */
#define NOTE_RETRY_MAX_MS (24 * 3600 * 1000LL) /* a fail note's retry_after: -1 (none) up to a day */

enum note_verb {
        NOTE_PUB,
        NOTE_FORCE,
        NOTE_FAIL,
        NOTE_VERIFIED,
        NOTE_SYNC,
        NOTE_RETRY,
};

/* A note parsed: name and generation always, the rest as its verb has them. */
struct note {
        enum note_verb verb;
        char name[NOTE_NAME_MAX];
        uint64_t generation;                    /* 1 .. 2^53-1 (retry: 0 too) */
        char node[NOTE_NODE_MAX];               /* force, retry: the asking agent's lease id */
        int64_t timeout_ms;                     /* force: 1 .. PROTOCOL_TIMEOUT_MAX_MS */
        int64_t caller_uid, caller_pid;         /* retry: -1 or 0 .. 2^32-2, -1 or 1 .. 2^31-1 */
        int64_t retry_after_ms;                 /* fail: -1 .. NOTE_RETRY_MAX_MS */
        char code[NOTE_CODE_MAX];               /* fail */
        const char *message;                    /* fail: points into text, "" if none */
        int64_t fetched_at_ms, expires_at_ms;   /* sync */
        char token[UPSTREAM_TOKEN_MAX + 1];     /* sync: printable, no space, 1 .. UPSTREAM_TOKEN_MAX bytes */
        size_t token_len;
        char text[NOTE_TEXT_MAX];               /* the note as received, up to its first NUL */
};

/*
 * Parse a note's text (len bytes, not NUL-terminated; a NUL ends it early). 0 and n
 * filled, or -EBADMSG: too long, an unknown verb, a generation not 1..2^53-1 in plain
 * digits (retry: 0..2^53-1), a word missing or out of bounds. Words are split at white space, and a word
 * longer than its field runs on into the next one, as the first agents read notes.
 */
int note_parse(const char *text, size_t len, struct note *n);

/* A token as a reader may get it: 1 .. UPSTREAM_TOKEN_MAX bytes, printable ASCII, no space. */
bool note_token_sane(const char *s, size_t len);

/*
 * Write a note into buf (size bytes). Each returns what snprintf does: the note's length,
 * which fits if it is below size (a longer one is cut).
 */
int note_format_pub(char *buf, size_t size, const char *name, uint64_t generation);
int note_format_force(char *buf, size_t size, const char *name, uint64_t generation, const char *node,
                      int64_t timeout_ms);
int note_format_fail(char *buf, size_t size, const char *name, uint64_t generation, int64_t retry_after_ms,
                     const char *code, const char *message);
int note_format_verified(char *buf, size_t size, const char *name, uint64_t generation);
int note_format_retry(char *buf, size_t size, const char *name, uint64_t generation, const char *node,
                      int64_t caller_uid, int64_t caller_pid);
int note_format_sync(char *buf, size_t size, const char *name, uint64_t generation, int64_t fetched_at_ms,
                     int64_t expires_at_ms, const char *token);

#endif
