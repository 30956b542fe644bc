/* segment.h: what the reader and the writer share: names, header checks, the latch copy. */
#ifndef WXSHM_SEGMENT_H
#define WXSHM_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "wire.h"

/* An item name and its NUL: the file's name inside the segment directory. */
#define SEGMENT_NAME_SIZE WIRE_NAME_SIZE
/* Longest segment directory path, so "<dir>/<item>" always fits in PATH_MAX. */
#define SEGMENT_DIR_MAX 256
/*
 * Segment directories owned by a uid up to this are trusted by every reader (root and
 * Debian's system users, SYS_UID_MAX in login.defs); a directory owned by any other uid
 * only by readers running as that uid. See segment_trusted().
 */
#define SEGMENT_SYSTEM_UID_MAX 999

/* Bounded so a reader never spins on a writer gone wild; one retry is already rare. */
#define SEGMENT_READ_ATTEMPTS 1024

/* A consistent copy of one slot, without the token bytes. */
struct segment_slot {
        uint64_t length;
        uint64_t generation;
        int64_t expires_at_ms;
        int64_t fetched_at_ms;
};

/* True if name is an item name: wire_name_valid() (wire.h), out of line for the tests and the fuzzers. */
bool segment_name_valid(const char *name);

/* True if dir is an absolute path shorter than SEGMENT_DIR_MAX. */
bool segment_dir_valid(const char *dir);

/*
 * The directory readers use: $WXSHM_DIR if set and valid, else WXSHM_DEFAULT_DIR. Read
 * with secure_getenv: a setuid or setgid reader is never pointed elsewhere.
 */
const char *segment_reader_dir(void);

/*
 * May a reader running as euid trust the file described by file inside the directory
 * described by dir? Only the directory's owner can create names in a directory that
 * is not group- or other-writable, so: the directory must not be, the file must belong
 * to the directory's owner, and that owner must be root, a system user or the reader
 * itself (anyone can make a directory in /dev/shm before the agent does). 0 or -EPERM.
 */
struct stat;
int segment_trusted(const struct stat *dir, const struct stat *file, unsigned euid);

/*
 * Check the header of a mapped object of object_size bytes before anything else is
 * read. 0, -EBADMSG (not ours, truncated, inconsistent sizes), -EPROTONOSUPPORT, or
 * -EOPNOTSUPP where 64-bit atomics are not lock-free (they must be plain loads).
 * An all-zero first word is -EAGAIN: the writer sets it last, so creation is not finished.
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

/* The uid that owns h's segment (0 for an attached handle): only it, or root, may answer refreshes. */
unsigned reader_owner(const struct wxshm *h);

/* Coarse wall clock in Unix ms; read through the vDSO, no system call on Linux. */
int64_t segment_now_ms(void);

#endif
