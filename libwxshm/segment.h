/* segment.h: what the reader and the writer share: names, header checks, the latch copy. */
#ifndef WXSHM_SEGMENT_H
#define WXSHM_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* "/" prefix "." name "\0": prefix and name are each checked to be short. */
#define SEGMENT_PATH_MAX (1 + SEGMENT_PREFIX_MAX + 1 + WXSHM_LAYOUT_NAME_MAX + WXSHM_LAYOUT_SUFFIX_MAX + 1)
#define SEGMENT_PREFIX_MAX 64

/* Bounded so a reader never spins on a writer gone wild; one retry is already rare. */
#define SEGMENT_READ_ATTEMPTS 1024

/* A consistent copy of one slot, without the token bytes. */
struct segment_slot {
        uint64_t length;
        uint64_t generation;
        int64_t expires_at_ms;
        int64_t fetched_at_ms;
};

/* True if name is an app name, "[A-Za-z0-9_-]{1,64}", optionally ".[A-Za-z0-9_-]{1,15}". */
bool segment_name_valid(const char *name);

/* True if prefix is "[A-Za-z0-9_-]{1,64}". */
bool segment_prefix_valid(const char *prefix);

/* Write "/<prefix>.<name>" into path; -EINVAL if either part is invalid. */
int segment_path(char path[static SEGMENT_PATH_MAX], const char *prefix, const char *name);

/* The prefix readers use: $WXSHM_PREFIX if set and valid, else the default. */
const char *segment_reader_prefix(void);

/*
 * Check the header of a mapped object of object_size bytes before anything else is
 * read. 0, -EBADMSG (not ours, truncated, inconsistent sizes), -EPROTONOSUPPORT, or
 * -EOPNOTSUPP where 64-bit atomics are not lock-free (they must be plain loads).
 * An all-zero first word (creation not finished) is -EBADMSG as well.
 */
int segment_validate(const struct wxshm_layout *seg, uint64_t object_size);

/*
 * Copy the slot readers should use into *slot and up to buf_size token bytes into buf
 * (no NUL), under the latch. The segment must have passed segment_validate().
 *   0        *slot and, if slot->length <= buf_size, buf hold one consistent slot
 *   -EBADMSG the consistent slot claims more bytes than token_capacity
 *   -EAGAIN  the counter moved during every attempt
 */
int segment_copy(const struct wxshm_layout *seg, struct segment_slot *slot, char *buf, size_t buf_size);

/*
 * A reader handle over a mapping the caller owns (wxshm_close() leaves it mapped).
 * Internal, for tests: ThreadSanitizer sees a race only where writer and reader use
 * the same addresses, and wxshm_open() always makes a mapping of its own.
 */
struct wxshm;
int reader_attach(struct wxshm **ret, const struct wxshm_layout *seg);

/* The item name h was opened with ("" for an attached handle): wxshm_refresh names it to the agent. */
const char *reader_name(const struct wxshm *h);

/* Coarse wall clock in Unix ms; read through the vDSO, no system call on Linux. */
int64_t segment_now_ms(void);

#endif
