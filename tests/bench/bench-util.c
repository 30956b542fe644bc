/* bench-util.c: the bare-copy floor and order statistics the benchmarks share. */
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "layout.h"

#define SLOT_TOKEN_OFFSET (offsetof(struct wxshm_layout, slot) + offsetof(struct wxshm_layout_slot, token))
_Static_assert(SLOT_TOKEN_OFFSET % 8 == 0 && SLOT_TOKEN_OFFSET + BENCH_FLOOR_MAX <= 4096, "fits the page");

static _Alignas(4096) _Atomic uint64_t floor_page[4096 / 8];

_Atomic uint64_t *bench_floor_source(void) {
        return floor_page + SLOT_TOKEN_OFFSET / 8;
}

void bench_floor_fill(const char *token, size_t len) {
        _Atomic uint64_t *src = bench_floor_source();

        for (size_t i = 0; i < len && i < BENCH_FLOOR_MAX; i += 8) {
                uint64_t w = 0;

                memcpy(&w, token + i, len - i < 8 ? len - i : 8);
                atomic_store_explicit(&src[i / 8], w, memory_order_relaxed);
        }
}

__attribute__((noinline)) void bench_floor_copy(char *buf, const _Atomic uint64_t *words, size_t n) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
                uint64_t w = atomic_load_explicit(&words[i / 8], memory_order_relaxed);

                memcpy(buf + i, &w, 8);
        }
}

static int double_cmp(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n) {
        qsort(v, n, sizeof(*v), double_cmp);
}

double bench_median(const double *sorted, size_t n) {
        return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

double bench_rank(const double *sorted, size_t n, unsigned pct) {
        /* In integers: 0.9 * 10 in floating point is not 9, and ceil would make it 10. */
        size_t rank = (pct * n + 99) / 100;

        return sorted[rank < 1 ? 0 : rank - 1];
}
