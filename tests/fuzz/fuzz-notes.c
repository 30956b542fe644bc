/* fuzz-notes.c: libFuzzer target for the cluster channel's note parser (agent/wire/notes.c): bounds and round trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notes.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the note again from its fields: it must parse to the same fields. */
static void round_trip(const struct note *n) {
        static struct note again;
        static char buf[NOTE_TEXT_MAX + 64];
        int len = -1;

        switch (n->verb) {
        case NOTE_PUB:
                len = note_format_pub(buf, sizeof(buf), n->name, n->generation);
                break;
        case NOTE_VERIFIED:
                len = note_format_verified(buf, sizeof(buf), n->name, n->generation);
                break;
        case NOTE_FORCE:
                len = note_format_force(buf, sizeof(buf), n->name, n->generation, n->node, n->timeout_ms);
                break;
        case NOTE_FAIL:
                len = note_format_fail(buf, sizeof(buf), n->name, n->generation, n->retry_after_ms, n->code,
                                       n->message);
                break;
        case NOTE_SYNC:
                len = note_format_sync(buf, sizeof(buf), n->name, n->generation, n->fetched_at_ms,
                                       n->expires_at_ms, n->token);
                break;
        case NOTE_RETRY:
                len = note_format_retry(buf, sizeof(buf), n->name, n->generation, n->node, n->caller_uid,
                                        n->caller_pid);
                break;
        }
        if (len <= 0 || (size_t)len >= sizeof(buf) || note_parse(buf, (size_t)len, &again) != 0)
                abort();
        if (again.verb != n->verb || strcmp(again.name, n->name) || again.generation != n->generation)
                abort();
        if (n->verb == NOTE_FORCE && (strcmp(again.node, n->node) || again.timeout_ms != n->timeout_ms))
                abort();
        /* The message is cut at NOTE_MESSAGE_MAX bytes on the way out. */
        if (n->verb == NOTE_FAIL && (strcmp(again.code, n->code) || again.retry_after_ms != n->retry_after_ms ||
                                     strncmp(again.message, n->message, NOTE_MESSAGE_MAX)))
                abort();
        if (n->verb == NOTE_RETRY && (strcmp(again.node, n->node) || again.caller_uid != n->caller_uid ||
                                      again.caller_pid != n->caller_pid))
                abort();
        if (n->verb == NOTE_SYNC && (strcmp(again.token, n->token) || again.fetched_at_ms != n->fetched_at_ms ||
                                     again.expires_at_ms != n->expires_at_ms))
                abort();
}

/* The input is the note's text as it arrives on the channel, its MAC already taken off. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct note n;
        char *text = malloc(size ? size : 1);

        if (!text)
                return 0;
        /* A copy of exactly the input's size: a read past it is an ASan report. */
        memcpy(text, data, size);
        if (note_parse(text, size, &n) == 0) {
                /* What is accepted is within bounds. */
                /* Generation 0 is a retry's alone (an app with no token yet). */
                if ((n.generation == 0 && n.verb != NOTE_RETRY) || n.generation >= PROTOCOL_GENERATION_LIMIT ||
                    strnlen(n.name, NOTE_NAME_MAX) >= NOTE_NAME_MAX || !n.message)
                        abort();
                if (n.verb == NOTE_FORCE && (n.timeout_ms <= 0 || n.timeout_ms > PROTOCOL_TIMEOUT_MAX_MS))
                        abort();
                if (n.verb == NOTE_FAIL && (n.retry_after_ms < -1 || n.retry_after_ms > NOTE_RETRY_MAX_MS ||
                                            n.message < n.text || n.message > n.text + strlen(n.text)))
                        abort();
                if (n.verb == NOTE_RETRY && (n.caller_uid < -1 || n.caller_uid > 4294967294LL || n.caller_pid < -1 ||
                                             n.caller_pid == 0 || n.caller_pid > 2147483647LL))
                        abort();
                if (n.verb == NOTE_SYNC && (n.token_len != strlen(n.token) || !note_token_sane(n.token, n.token_len)))
                        abort();
                round_trip(&n);
        }
        free(text);
        return 0;
}
