/* wxconf.h: the conformance kit's token formula, shared by its writer, its samples and the C reader test. */
#ifndef WXCONF_H
#define WXCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Generation g's token: length 1 + (g * 7919) % 2048, byte i ALPHA[(g * 17 + i) % 64],
 * expires_at_ms WXCONF_BASE_MS + g, fetched_at_ms WXCONF_BASE_MS - g. A reader recomputes
 * all four from the generation it read: a copy mixing two generations cannot match (7919
 * is prime, so consecutive generations differ in length, and their bytes are shifted by 17).
 */
#define WXCONF_ALPHA "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define WXCONF_ALPHA_LEN 64
#define WXCONF_TOKEN_MAX 2048
/* 2100-01-01T00:00:00Z: never stale, and far from any real clock. */
#define WXCONF_BASE_MS INT64_C(4102444800000)

static inline size_t wxconf_length(uint64_t g) {
        return 1 + (size_t)((g * 7919) % WXCONF_TOKEN_MAX);
}

/*
 * The alphabet repeated: token(g) is the wxconf_length(g) bytes at rep + wxconf_offset(g),
 * so the writer publishes without building anything. rep holds WXCONF_REP_SIZE bytes.
 */
#define WXCONF_REP_SIZE (WXCONF_ALPHA_LEN + WXCONF_TOKEN_MAX)

static inline size_t wxconf_offset(uint64_t g) {
        return (size_t)((g * 17) % WXCONF_ALPHA_LEN);
}

static inline void wxconf_rep_init(char rep[WXCONF_REP_SIZE]) {
        for (size_t i = 0; i < WXCONF_REP_SIZE; i++)
                rep[i] = WXCONF_ALPHA[i % WXCONF_ALPHA_LEN];
}

/* Whether (token, length, expires, fetched) is exactly what generation g publishes. */
static inline bool wxconf_matches(const char rep[WXCONF_REP_SIZE], uint64_t g, const char *token, size_t length,
                                  int64_t expires_at_ms, int64_t fetched_at_ms) {
        return g > 0 && length == wxconf_length(g) && expires_at_ms == WXCONF_BASE_MS + (int64_t)g &&
               fetched_at_ms == WXCONF_BASE_MS - (int64_t)g && memcmp(token, rep + wxconf_offset(g), length) == 0;
}

/*
 * Make dir (mode 0751) if missing and open it: a directory of this euid that group and
 * others cannot write, as readers require. The descriptor, or -errno (-EPERM: not such a directory).
 */
int wxconf_open_dir(const char *dir);

#endif
