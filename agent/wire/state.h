/* state.h: the state file's record (the last token of an item, so a reboot needs no upstream call) and its JSON. */
#ifndef STATE_H
#define STATE_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

struct state_record {
        uint64_t generation;
        int64_t expires_at_ms;
        int64_t fetched_at_ms;
        char token[UPSTREAM_TOKEN_MAX + 1];
        size_t token_len;
        /* The item's forced-refresh budget (budget.c); 0 in files written before it existed. */
        int64_t forced_day;             /* Beijing day number of forced_today */
        int64_t forced_today;           /* client-forced upstream calls on forced_day */
        int64_t quota_day;              /* Beijing day upstream last answered 45009 */
};

/* A state file larger than this is not a record (a token is at most UPSTREAM_TOKEN_MAX). */
#define STATE_RECORD_MAX 8192

/*
 * rec as the state file of item (an app or "app.jsapi") of appid holds it: one line of
 * JSON (malloc'd, NUL-terminated), or NULL if out of memory. These bytes are the file's
 * format, which agents of other versions read too: keep them.
 */
char *state_encode(const char *item, const char *appid, const struct state_record *rec);

/*
 * The record in buf (NUL-terminated) back, if it is item's of appid: 0, -EXDEV if it is
 * a record of another appid, -EBADMSG if it is not a complete record (anything odd is
 * refused, never half-used). rec may be partly written when it fails.
 */
int state_decode(const char *buf, const char *item, const char *appid, struct state_record *rec);

#endif
