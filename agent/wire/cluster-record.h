/* cluster-record.h: what cluster mode reads back from Redis, taken as untrusted input: bounds, and the fleet key's HMAC. */
#ifndef CLUSTER_RECORD_H
#define CLUSTER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream.h"
#include "wire.h"

/*
 * Whoever can write the cluster's keys is not a WeChat caller: nothing read from Redis
 * may make an agent call WeChat, stop publishing, or hold memory it did not plan for.
 *
 * Generations stay below 2^53, the protocol's own ceiling (a JSON number a client reads
 * exactly), and, where this agent has one, at most CLUSTER_GENERATION_STEP above its
 * own: a fleet rotates a token every two hours, so a jump of 1,000 is months of
 * rotations, never a lag. The Lua scripts enforce the same bounds.
 */
#define CLUSTER_GENERATION_LIMIT PROTOCOL_GENERATION_LIMIT
#define CLUSTER_GENERATION_STEP 1000
/* Hosts' clocks may disagree by this much; a fetch further in the future is refused. */
#define CLUSTER_SKEW_MS (60 * 1000)
/* The longest field a record may hold (the token); Lua checks it with HSTRLEN before a read. */
#define CLUSTER_FIELD_MAX UPSTREAM_TOKEN_MAX
/* HMAC-SHA256 in lowercase hex. */
#define CLUSTER_MAC_HEX 64
/* A fleet key shorter than this is a typo or a guessable word. */
#define CLUSTER_KEY_MIN CONFIG_FLEET_KEY_MIN

/* The fields of a record, in the order the read script returns them. */
enum { CLUSTER_F_GENERATION, CLUSTER_F_TOKEN, CLUSTER_F_EXPIRES, CLUSTER_F_FETCHED, CLUSTER_F_MAC, CLUSTER_F_MAX };

/* One field as Redis gave it: str NULL if the field is absent. */
struct cluster_field {
        const char *str;
        size_t len;
};

struct cluster_record {
        uint64_t generation;
        char token[UPSTREAM_TOKEN_MAX + 1];
        size_t token_len;
        int64_t expires_at_ms, fetched_at_ms;
};

/*
 * Decode the record read from Redis key (its full name, which the MAC covers). Checks:
 * every field present and within CLUSTER_FIELD_MAX; generation a decimal in
 * 1..CLUSTER_GENERATION_LIMIT-1 and, if local_gen > 0, at most local_gen +
 * CLUSTER_GENERATION_STEP; a token as a reader may get it (printable, no space, at most
 * UPSTREAM_TOKEN_MAX); fetched_at no later than now + CLUSTER_SKEW_MS; expires_at after
 * fetched_at, within a token's longest life of it, and not past; with fleet_key, the
 * "mac" field (a record without one, or with a wrong one, is refused).
 *   0: rec filled;  -EBADMSG: malformed or out of bounds;  -EPERM: unsigned or forged.
 * On error why says what is wrong in words (never the token).
 */
int cluster_record_decode(const struct cluster_field f[CLUSTER_F_MAX], const char *key, uint64_t local_gen,
                          int64_t now_ms, const char *fleet_key, struct cluster_record *rec, char *why,
                          size_t why_size);

/* The "mac" field for a record this agent writes: CLUSTER_MAC_HEX hex digits and a NUL in out. */
void cluster_record_sign(const char *fleet_key, const char *key, uint64_t generation, const char *token,
                         int64_t expires_at_ms, int64_t fetched_at_ms, char out[CLUSTER_MAC_HEX + 1]);

/*
 * A note on the channel is "m=<mac> TEXT" in a keyed fleet, plain "TEXT" otherwise; the
 * MAC covers the channel's name too, so a note is not replayed into another fleet.
 * cluster_note_sign writes the note to send in out (size bytes): false if it does not fit.
 */
bool cluster_note_sign(const char *fleet_key, const char *channel, const char *text, char *out, size_t size);

/*
 * The TEXT of a note received, in *text and *text_len (pointing into msg). With a fleet
 * key, an unsigned or forged note is refused (-EPERM); without one, a signed note's MAC
 * is skipped unchecked (a fleet rolling its key out).  0, -EPERM, -EBADMSG.
 */
int cluster_note_open(const char *fleet_key, const char *channel, const char *msg, size_t len, const char **text,
                      size_t *text_len);

#endif
