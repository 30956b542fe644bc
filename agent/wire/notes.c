/* notes.c: cluster mode's channel notes formatted and parsed within bounds, pure (libc only). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "notes.h"
#include "wire.h"

/* The widths in the scanf formats below are these sizes less their NUL. */
_Static_assert(NOTE_NAME_MAX == 192, "%191s below");
_Static_assert(NOTE_NODE_MAX == 96, "%95s below");
_Static_assert(NOTE_CODE_MAX == 32, "%31s below");
_Static_assert(NOTE_MESSAGE_MAX == 300, "%.300s below");

/* 1 to 2^53-1 in plain decimal digits: not %llu, which takes "-1" as 2^64-1. */
static bool parse_generation(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = strlen(s);

        if (n == 0 || n > 16 || s[0] == '0' || strspn(s, "0123456789") != n)
                return false;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (uint64_t)(s[i] - '0');
        *ret = v;
        return v < PROTOCOL_GENERATION_LIMIT;
}

bool note_token_sane(const char *s, size_t len) {
        if (len == 0 || len > UPSTREAM_TOKEN_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
                        return false;
        return true;
}

/* "NODE TIMEOUT_MS": a client waits PROTOCOL_TIMEOUT_MAX_MS at most, so a longer wait is no client's. */
static int parse_force(const char *tail, struct note *n) {
        long long ms;

        if (sscanf(tail, " %95s %lld", n->node, &ms) != 2 || ms <= 0 || ms > PROTOCOL_TIMEOUT_MAX_MS)
                return -EBADMSG;
        n->timeout_ms = ms;
        return 0;
}

/*
 * "NODE UID PID": who asked, for the holder's log. A uid is 0 .. 2^32-2 and a pid
 * 1 .. 2^31-1; -1 for either is "unknown", as the socket's peer check may leave them.
 */
static int parse_retry(const char *tail, struct note *n) {
        long long uid, pid;

        if (sscanf(tail, " %95s %lld %lld", n->node, &uid, &pid) != 3 || uid < -1 || uid > 4294967294LL ||
            pid < -1 || pid == 0 || pid > 2147483647LL)
                return -EBADMSG;
        n->caller_uid = uid;
        n->caller_pid = pid;
        return 0;
}

/* "RETRY_MS CODE MESSAGE": retry_after goes to this host's clients, -1 (none) up to a day, nothing stranger. */
static int parse_fail(const char *tail, struct note *n) {
        long long ms;
        int rest = 0;

        if (sscanf(tail, " %lld %31s %n", &ms, n->code, &rest) != 2 || ms < -1 || ms > NOTE_RETRY_MAX_MS)
                return -EBADMSG;
        n->retry_after_ms = ms;
        n->message = tail + rest;
        return 0;
}

/* "FETCHED_AT EXPIRES_AT TOKEN": the token is the rest of the note, as a reader would get it. */
static int parse_sync(const char *tail, struct note *n) {
        long long fetched, expires;
        size_t len;
        int k = 0;

        if (sscanf(tail, " %lld %lld %n", &fetched, &expires, &k) != 2 || k == 0)
                return -EBADMSG;
        len = strlen(tail + k);
        if (!note_token_sane(tail + k, len))
                return -EBADMSG;
        memcpy(n->token, tail + k, len + 1);
        n->token_len = len;
        n->fetched_at_ms = fetched;
        n->expires_at_ms = expires;
        return 0;
}

int note_parse(const char *text, size_t len, struct note *n) {
        char verb[12], gens[24];
        const char *tail;
        int used = 0;

        if (len >= sizeof(n->text))
                return -EBADMSG;
        memcpy(n->text, text, len);
        n->text[len] = '\0';
        n->message = "";
        if (sscanf(n->text, "%11s %191s %23s%n", verb, n->name, gens, &used) != 3)
                return -EBADMSG;
        tail = n->text + used;
        /* A retry is for a failing app, which may never have had a token: generation 0 is its "none yet". */
        if (!strcmp(verb, "retry")) {
                n->verb = NOTE_RETRY;
                n->generation = 0;
                if (strcmp(gens, "0") != 0 && !parse_generation(gens, &n->generation))
                        return -EBADMSG;
                return parse_retry(tail, n);
        }
        if (!parse_generation(gens, &n->generation))
                return -EBADMSG;
        if (!strcmp(verb, "pub")) {
                n->verb = NOTE_PUB;
                return 0;
        }
        if (!strcmp(verb, "verified")) {
                n->verb = NOTE_VERIFIED;
                return 0;
        }
        if (!strcmp(verb, "force")) {
                n->verb = NOTE_FORCE;
                return parse_force(tail, n);
        }
        if (!strcmp(verb, "fail")) {
                n->verb = NOTE_FAIL;
                return parse_fail(tail, n);
        }
        if (!strcmp(verb, "sync")) {
                n->verb = NOTE_SYNC;
                return parse_sync(tail, n);
        }
        return -EBADMSG;
}

int note_format_pub(char *buf, size_t size, const char *name, uint64_t generation) {
        return snprintf(buf, size, "pub %s %" PRIu64, name, generation);
}

int note_format_force(char *buf, size_t size, const char *name, uint64_t generation, const char *node,
                      int64_t timeout_ms) {
        return snprintf(buf, size, "force %s %" PRIu64 " %s %" PRId64, name, generation, node, timeout_ms);
}

int note_format_fail(char *buf, size_t size, const char *name, uint64_t generation, int64_t retry_after_ms,
                     const char *code, const char *message) {
        return snprintf(buf, size, "fail %s %" PRIu64 " %" PRId64 " %s %.300s", name, generation, retry_after_ms,
                        code, message);
}

int note_format_verified(char *buf, size_t size, const char *name, uint64_t generation) {
        return snprintf(buf, size, "verified %s %" PRIu64, name, generation);
}

int note_format_sync(char *buf, size_t size, const char *name, uint64_t generation, int64_t fetched_at_ms,
                     int64_t expires_at_ms, const char *token) {
        return snprintf(buf, size, "sync %s %" PRIu64 " %" PRId64 " %" PRId64 " %s", name, generation,
                        fetched_at_ms, expires_at_ms, token);
}

int note_format_retry(char *buf, size_t size, const char *name, uint64_t generation, const char *node,
                      int64_t caller_uid, int64_t caller_pid) {
        return snprintf(buf, size, "retry %s %" PRIu64 " %s %" PRId64 " %" PRId64, name, generation, node,
                        caller_uid, caller_pid);
}
