/* bench-util.h: what the benchmarks share: the bare-copy floor a token read is held against, and order statistics. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The floor's source: 8-byte words at the page offset of the token in a segment's slot 0
 * (the slot readers use between publishes), in a page of its own. Cache-line splits and
 * 4 KiB aliasing of loads against the caller's stores then hit the floor as they hit a read.
 * Holds BENCH_FLOOR_MAX bytes; fill it with bench_floor_fill before copying.
 */
#define BENCH_FLOOR_MAX 2048
_Atomic uint64_t *bench_floor_source(void);

/* Store len bytes of token (at most BENCH_FLOOR_MAX; a last partial word is padded with zeros) as relaxed words. */
void bench_floor_fill(const char *token, size_t len);

/*
 * The pinned floor of issue 18, inlined into the timing loop: relaxed atomic 8-byte loads
 * over (len + 7) / 8 words stored into buf, then a compiler barrier so the stores stay.
 * buf must hold (len + 7) / 8 * 8 bytes. A read can do no less and still be race-free.
 */
static inline void bench_floor_inline(char *buf, const _Atomic uint64_t *words, size_t len) {
        size_t n = (len + 7) / 8;

        for (size_t i = 0; i < n; i++) {
                uint64_t w = atomic_load_explicit(&words[i], memory_order_relaxed);

                __builtin_memcpy(buf + 8 * i, &w, 8);
        }
        __asm__ volatile("" ::: "memory");
}

/*
 * The same copy four words to a turn, as wxshm_read's latch copy does: the pinned floor
 * runs one word per loop turn, and on a CPU that retires two stores a cycle the loop's own
 * bookkeeping is most of its cost; a read can beat it. Against this one it cannot.
 */
static inline void bench_floor4_inline(char *buf, const _Atomic uint64_t *words, size_t len) {
        size_t n = (len + 7) / 8, i = 0;

        for (; i + 4 <= n; i += 4) {
                uint64_t w0 = atomic_load_explicit(&words[i], memory_order_relaxed);
                uint64_t w1 = atomic_load_explicit(&words[i + 1], memory_order_relaxed);
                uint64_t w2 = atomic_load_explicit(&words[i + 2], memory_order_relaxed);
                uint64_t w3 = atomic_load_explicit(&words[i + 3], memory_order_relaxed);

                __builtin_memcpy(buf + 8 * i, &w0, 8);
                __builtin_memcpy(buf + 8 * i + 8, &w1, 8);
                __builtin_memcpy(buf + 8 * i + 16, &w2, 8);
                __builtin_memcpy(buf + 8 * i + 24, &w3, 8);
        }
        for (; i < n; i++) {
                uint64_t w = atomic_load_explicit(&words[i], memory_order_relaxed);

                __builtin_memcpy(buf + 8 * i, &w, 8);
        }
        __asm__ volatile("" ::: "memory");
}

/*
 * The floor itself: segment.c's copy_words, out of line as segment_copy is, with nothing
 * around it: relaxed atomic 8-byte loads stored into buf. n is a multiple of 8 (a token's
 * tail is never copied otherwise for the lengths benchmarked).
 */
void bench_floor_copy(char *buf, const _Atomic uint64_t *words, size_t n);

/* Sort v ascending in place; the statistics below take a sorted array of n > 0 values. */
void bench_sort(double *v, size_t n);

/* The median: the mean of the middle two for an even count. */
double bench_median(const double *sorted, size_t n);

/* The pct-th percentile (0 < pct <= 100) by nearest rank: the value at rank ceil(pct/100 * n). */
double bench_rank(const double *sorted, size_t n, unsigned pct);

#endif
