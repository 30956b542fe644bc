/* segment.c: names, trust, header validation and the latch copy shared by reader and writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "latch.h"
#include "segment.h"
#include "wxshm.h"

/* Relaxed atomic loads of 8-byte words only pay off if they are plain loads. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

bool segment_dir_valid(const char *dir) {
        return dir && dir[0] == '/' && strnlen(dir, SEGMENT_DIR_MAX) < SEGMENT_DIR_MAX;
}

bool segment_name_valid(const char *name) {
        return wire_name_valid(name);
}

const char *segment_reader_dir(void) {
        const char *d = secure_getenv("WXSHM_DIR");

        return segment_dir_valid(d) ? d : WXSHM_DEFAULT_DIR;
}

int segment_trusted(const struct stat *dir, const struct stat *file, unsigned euid) {
        if (!S_ISDIR(dir->st_mode) || (dir->st_mode & (S_IWGRP | S_IWOTH)))
                return -EPERM;
        if (file->st_uid != dir->st_uid)
                return -EPERM;
        if (dir->st_uid > SEGMENT_SYSTEM_UID_MAX && dir->st_uid != euid)
                return -EPERM;
        return 0;
}

int segment_validate(const struct wxshm_layout *seg, uint64_t object_size) {
        uint64_t slots_end, magic;

        if (object_size < sizeof(struct wxshm_layout))
                return -EBADMSG;
        /* A lock-based atomic would take a lock inside a read-only mapping: refuse. */
        if (!atomic_is_lock_free(&seg->seq))
                return -EOPNOTSUPP;
        /* Acquire pairs with the writer's release of magic: the rest of the header is set. */
        magic = atomic_load_explicit(&seg->magic, memory_order_acquire);
        /* Written last: zero is a segment the agent is still making, not a foreign object. */
        if (magic == 0)
                return -EAGAIN;
        if (magic != WXSHM_LAYOUT_MAGIC)
                return -EBADMSG;
        if (seg->version != WXSHM_LAYOUT_VERSION)
                return -EPROTONOSUPPORT;
        /* Version 1 fixes the geometry; a mismatch is a corrupt or hostile header. */
        if (seg->header_size != offsetof(struct wxshm_layout, slot) ||
            seg->slot_size != sizeof(struct wxshm_layout_slot) ||
            seg->token_capacity != WXSHM_LAYOUT_TOKEN_CAPACITY)
                return -EBADMSG;
        slots_end = (uint64_t)seg->header_size + 2 * (uint64_t)seg->slot_size;
        if (seg->total_size < slots_end || seg->total_size > object_size)
                return -EBADMSG;
        return 0;
}

/* The writer, the tests and the fuzz target copy with the reader's code: one latch to get right. */
int segment_copy(const struct wxshm_layout *seg, struct segment_slot *slot, char *buf, size_t buf_size) {
        return latch_read(seg, slot, buf, buf_size, buf_size);
}

int64_t segment_now_ms(void) {
        struct timespec ts;

        /* Coarse: a token lives two hours, and the coarse clock never traps to the kernel. */
        if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
                return 0;
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
