/* segment.c: names, trust, header validation and the latch copy shared by reader and writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "segment.h"
#include "wxshm.h"

/* Relaxed atomic loads of 8-byte words only pay off if they are plain loads. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

static bool name_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
}

/* Length of the run of name characters at s, or 0 if longer than max. */
static size_t name_run(const char *s, size_t max) {
        size_t n = 0;

        while (name_char(s[n])) {
                if (++n > max)
                        return 0;
        }
        return n;
}

bool segment_dir_valid(const char *dir) {
        return dir && dir[0] == '/' && strnlen(dir, SEGMENT_DIR_MAX) < SEGMENT_DIR_MAX;
}

bool segment_name_valid(const char *name) {
        size_t n, m;

        if (!name)
                return false;
        n = name_run(name, WXSHM_LAYOUT_NAME_MAX);
        if (n == 0)
                return false;
        if (name[n] == '\0')
                return true;
        if (name[n] != '.')
                return false;
        m = name_run(name + n + 1, WXSHM_LAYOUT_SUFFIX_MAX - 1);
        return m > 0 && name[n + 1 + m] == '\0';
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
        uint64_t slots_end;

        if (object_size < sizeof(struct wxshm_layout))
                return -EBADMSG;
        /* A lock-based atomic would take a lock inside a read-only mapping: refuse. */
        if (!atomic_is_lock_free(&seg->seq))
                return -EOPNOTSUPP;
        /* Acquire pairs with the writer's release of magic: the rest of the header is set. */
        if (atomic_load_explicit(&seg->magic, memory_order_acquire) != WXSHM_LAYOUT_MAGIC)
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

/* Copy n bytes of token words into buf with relaxed atomic loads: no data race with a writer. */
static void copy_words(char *buf, const _Atomic uint64_t *words, size_t n) {
        size_t i;

        for (i = 0; i + 8 <= n; i += 8) {
                uint64_t w = atomic_load_explicit(&words[i / 8], memory_order_relaxed);
                memcpy(buf + i, &w, 8);
        }
        if (i < n) {
                uint64_t w = atomic_load_explicit(&words[i / 8], memory_order_relaxed);
                memcpy(buf + i, &w, n - i);
        }
}

int segment_copy(const struct wxshm_layout *seg, struct segment_slot *slot, char *buf, size_t buf_size) {
        unsigned attempt;

        for (attempt = 0; attempt < SEGMENT_READ_ATTEMPTS; attempt++) {
                uint64_t seq = atomic_load_explicit(&seg->seq, memory_order_acquire);
                const struct wxshm_layout_slot *s = &seg->slot[seq & 1];
                struct segment_slot copy;

                copy.length = atomic_load_explicit(&s->length, memory_order_relaxed);
                copy.generation = atomic_load_explicit(&s->generation, memory_order_relaxed);
                copy.expires_at_ms = atomic_load_explicit(&s->expires_at_ms, memory_order_relaxed);
                copy.fetched_at_ms = atomic_load_explicit(&s->fetched_at_ms, memory_order_relaxed);
                /* A torn length may be anything: clamp before it sizes a copy. */
                if (copy.length <= buf_size && copy.length <= WXSHM_LAYOUT_TOKEN_CAPACITY)
                        copy_words(buf, s->token, copy.length);

                /* Orders the copy before the re-check (Boehm 2012, "seqlocks" section 5). */
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&seg->seq, memory_order_relaxed) != seq)
                        continue;

                if (copy.length > WXSHM_LAYOUT_TOKEN_CAPACITY)
                        return -EBADMSG;
                *slot = copy;
                return 0;
        }
        return -EAGAIN;
}

int64_t segment_now_ms(void) {
        struct timespec ts;

        /* Coarse: a token lives two hours, and the coarse clock never traps to the kernel. */
        if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
                return 0;
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
