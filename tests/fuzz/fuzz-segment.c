/* fuzz-segment.c: libFuzzer target for segment_validate() and segment_copy() over hostile segment bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs stand for a larger mapped object; the cap keeps each run cheap. */
#define FUZZ_SEGMENT_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct segment_slot slot;
        char token[WXSHM_LAYOUT_TOKEN_CAPACITY];
        struct wxshm_layout *seg;
        size_t object_size = sizeof(struct wxshm_layout);
        int r;

        if (size > FUZZ_SEGMENT_MAX)
                size = FUZZ_SEGMENT_MAX;
        if (size > object_size)
                object_size = size;
        /* Zeroed and exactly object_size bytes (malloc aligns to 16): a read past it is an ASan report. */
        seg = calloc(1, object_size);
        if (!seg)
                return 0;
        memcpy(seg, data, size);
        r = segment_validate(seg, object_size);
        if (r == 0) {
                /* A buffer as large as a slot, then a small one: the copy must clamp to each. */
                r = segment_copy(seg, &slot, token, sizeof(token));
                if (r == 0 && slot.length > WXSHM_LAYOUT_TOKEN_CAPACITY)
                        abort();
                r = segment_copy(seg, &slot, token, 5);
                if (r == 0 && slot.length > WXSHM_LAYOUT_TOKEN_CAPACITY)
                        abort();
        }
        free(seg);
        return 0;
}
