/* layout.h: the byte layout of a wxshm segment, shared by the reader and the writer. */
#ifndef WXSHM_LAYOUT_H
#define WXSHM_LAYOUT_H

/*
 * One file per published item, "<shm_dir>/<item>" (the name's grammar: wire.h).
 * Every field is a naturally aligned 64-bit word in host byte order, so that every
 * access can be a single atomic load or store. doc/segment.md says the same in prose
 * for readers written in other languages.
 *
 *   offset  size  field                 written
 *        0     8  magic                 once, last of the header (release)
 *        8     4  version               once
 *       12     4  header_size           once: offset of slot 0
 *       16     8  total_size            once: bytes the object must have
 *       24     4  slot_size             once: distance between slots
 *       28     4  token_capacity        once: token bytes a slot can hold
 *       32     8  heartbeat_interval_ms once: how often the agent beats
 *       40     8  retired               0; then for ever 1 (re-open the name) or 2 (the app
 *                                        was removed from the config; the file is unlinked)
 *       64     8  seq                   the latch counter (own cache line)
 *      128     8  agent_pid             status words, outside the latch
 *      136     8  heartbeat_ms
 *      144     8  state                 enum wxshm_state (wxshm.h)
 *      152     8  last_errcode          last upstream errcode, 0 if none
 *      160     8  last_error_at_ms
 *      192  2112  slot[0]
 *     2304  2112  slot[1]
 *
 *   slot: length, generation, expires_at_ms, fetched_at_ms, 4 reserved words,
 *         then token_capacity bytes of token (not NUL-terminated).
 *
 * The first 64 bytes (magic .. retired) keep this meaning in every layout version, so a
 * writer of any version can retire a segment of any other.
 *
 * The latch (Linux's seqcount_latch, arranged so that a writer killed at any point
 * leaves a consistent slot): readers use slot[seq & 1], which is always complete.
 * A publish writes slot[(seq + 1) & 1], which no reader uses, then bumps seq so readers
 * move to it, then writes the other slot and bumps seq again. A reader loads seq
 * (acquire), copies slot[seq & 1] with relaxed 8-byte atomic loads, issues an acquire
 * fence and re-loads seq; if it changed, the copy may be torn and is retried.
 */

#include <stdatomic.h>
#include <stdint.h>

#define WXSHM_LAYOUT_MAGIC UINT64_C(0x4745534d48535857) /* "WXSHMSEG" in little endian */
#define WXSHM_LAYOUT_VERSION 1u
#define WXSHM_LAYOUT_TOKEN_CAPACITY 2048u

/*
 * The retired word: 0 while the segment is live. Any other value is for ever: a reader
 * drops its handle. 1 (and any value but 2, from a later writer): re-open the name, a new
 * segment is or will be there (layout change, replaced, old name). 2: the app was removed
 * from the agent's configuration and the file unlinked: re-opening finds nothing.
 */
#define WXSHM_LAYOUT_RETIRED_REOPEN UINT64_C(1)
#define WXSHM_LAYOUT_RETIRED_REMOVED UINT64_C(2)

struct wxshm_layout_slot {
        _Atomic uint64_t length;
        _Atomic uint64_t generation; /* 0: never published */
        _Atomic int64_t expires_at_ms;
        _Atomic int64_t fetched_at_ms;
        _Atomic uint64_t reserved[4];
        _Atomic uint64_t token[WXSHM_LAYOUT_TOKEN_CAPACITY / 8];
};

struct wxshm_layout {
        /* immutable once magic is set, but for retired */
        _Atomic uint64_t magic;
        uint32_t version;
        uint32_t header_size;
        uint64_t total_size;
        uint32_t slot_size;
        uint32_t token_capacity;
        uint64_t heartbeat_interval_ms;
        _Atomic uint64_t retired;
        uint64_t reserved0[2];

        _Atomic uint64_t seq;
        uint64_t pad_seq[7];

        _Atomic int64_t agent_pid;
        _Atomic int64_t heartbeat_ms;
        _Atomic int64_t state;
        _Atomic int64_t last_errcode;
        _Atomic int64_t last_error_at_ms;
        uint64_t reserved1[3];

        struct wxshm_layout_slot slot[2];
};

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics are plain words");
_Static_assert(__builtin_offsetof(struct wxshm_layout, retired) == 40, "retired at 40");
_Static_assert(__builtin_offsetof(struct wxshm_layout, seq) == 64, "seq at 64");
_Static_assert(__builtin_offsetof(struct wxshm_layout, agent_pid) == 128, "status at 128");
_Static_assert(__builtin_offsetof(struct wxshm_layout, last_error_at_ms) == 160, "status ends");
_Static_assert(__builtin_offsetof(struct wxshm_layout, slot) == 192, "slot 0 at 192");
_Static_assert(sizeof(struct wxshm_layout_slot) == 2112, "slot size");
_Static_assert(sizeof(struct wxshm_layout) == 4416, "total size");

#endif
