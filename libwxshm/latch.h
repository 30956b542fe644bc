/* latch.h: the reader's side of the latch, inline, so wxshm_read's common path calls nothing but the clock. */
#ifndef WXSHM_LATCH_H
#define WXSHM_LATCH_H

#include <errno.h>
#include <string.h>

#include "segment.h"

#if defined(__GNUC__)
#define LATCH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LATCH_INLINE static inline __attribute__((always_inline))
#else
#define LATCH_UNLIKELY(x) (x)
#define LATCH_INLINE static inline
#endif

/*
 * n whole words by relaxed atomic loads: no data race with a writer, and each a plain load.
 * Four to a turn: a one-word loop spends more instructions on its own turn than on the
 * word, and its speed swung with where the compiler placed it (1.75x the floor at 2 KiB in
 * one build); four to a turn ran at half the one-word floor's time from 512 bytes up.
 */
LATCH_INLINE void latch_copy_words(char *buf, const _Atomic uint64_t *words, size_t n) {
        const _Atomic uint64_t *end4 = words + (n & ~(size_t)3), *end = words + n;

        /* Pointers, not an index: an index made the loop's own bookkeeping cost as much as a word. */
        for (; words < end4; words += 4, buf += 32) {
                uint64_t w0 = atomic_load_explicit(&words[0], memory_order_relaxed);
                uint64_t w1 = atomic_load_explicit(&words[1], memory_order_relaxed);
                uint64_t w2 = atomic_load_explicit(&words[2], memory_order_relaxed);
                uint64_t w3 = atomic_load_explicit(&words[3], memory_order_relaxed);

                memcpy(buf, &w0, 8);
                memcpy(buf + 8, &w1, 8);
                memcpy(buf + 16, &w2, 8);
                memcpy(buf + 24, &w3, 8);
        }
        for (; words < end; words++, buf += 8) {
                uint64_t w = atomic_load_explicit(words, memory_order_relaxed);

                memcpy(buf, &w, 8);
        }
}

/* The first n < 8 bytes of one word, in pieces of constant size: a tail never costs a memcpy call. */
LATCH_INLINE void latch_copy_tail(char *buf, const _Atomic uint64_t *word, size_t n) {
        uint64_t w = atomic_load_explicit(word, memory_order_relaxed);
        unsigned char b[8];
        size_t i = 0;

        memcpy(b, &w, 8);
        if (n & 4) {
                memcpy(buf, b, 4);
                i = 4;
        }
        if (n & 2) {
                memcpy(buf + i, b + i, 2);
                i += 2;
        }
        if (n & 1)
                buf[i] = (char)b[i];
}

/*
 * segment_copy() (see segment.h) with two limits: a token of at most max_len bytes is
 * copied, and nothing at or past buf + room is written (room >= max_len). When the token's
 * last word fits in room it is copied whole, up to 7 bytes past the token's end: the slot
 * holds whole words (token_capacity is a multiple of 8), and a tail costs more than a word.
 */
LATCH_INLINE int latch_read(const struct wxshm_layout *seg, struct segment_slot *slot, char *buf, size_t max_len,
                            size_t room) {
        unsigned attempt;

        for (attempt = 0; attempt < SEGMENT_READ_ATTEMPTS; attempt++) {
                uint64_t seq = atomic_load_explicit(&seg->seq, memory_order_acquire);
                const struct wxshm_layout_slot *s = &seg->slot[seq & 1];
                struct segment_slot copy;

                copy.length = atomic_load_explicit(&s->length, memory_order_relaxed);
                /* A torn length may be anything: clamp before it sizes a copy. */
                if (copy.length <= max_len && copy.length <= WXSHM_LAYOUT_TOKEN_CAPACITY) {
                        size_t len = (size_t)copy.length, whole = (len + 7) & ~(size_t)7;

                        if (whole <= room) {
                                latch_copy_words(buf, s->token, whole / 8);
                        } else {
                                latch_copy_words(buf, s->token, len / 8);
                                latch_copy_tail(buf + (len & ~(size_t)7), &s->token[len / 8], len & 7);
                        }
                }
                /* The rest of the slot after the copy: fewer values live across it, fewer spills. */
                copy.generation = atomic_load_explicit(&s->generation, memory_order_relaxed);
                copy.expires_at_ms = atomic_load_explicit(&s->expires_at_ms, memory_order_relaxed);
                copy.fetched_at_ms = atomic_load_explicit(&s->fetched_at_ms, memory_order_relaxed);

                /* Orders the copy before the re-check (Boehm 2012, "seqlocks" section 5). */
                atomic_thread_fence(memory_order_acquire);
                if (LATCH_UNLIKELY(atomic_load_explicit(&seg->seq, memory_order_relaxed) != seq))
                        continue;

                if (LATCH_UNLIKELY(copy.length > WXSHM_LAYOUT_TOKEN_CAPACITY))
                        return -EBADMSG;
                *slot = copy;
                return 0;
        }
        return -EAGAIN;
}

#endif
