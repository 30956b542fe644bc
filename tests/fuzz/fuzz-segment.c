/* fuzz-segment.c: libFuzzer target for segment_validate(), segment_copy() and wxshm_read() over hostile segment bytes. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"
#include "wxshm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * wxshm_read into heap buffers of exactly size bytes (and an info of exactly its .size):
 * ASan reports any write past them, which whole-word copies and partial infos could make.
 */
static void read_exact(const struct wxshm_layout *seg, size_t size, size_t info_size) {
        wxshm_info *info = NULL;
        wxshm *h;
        char *buf;
        int r;

        if (reader_attach(&h, seg) < 0)
                return;
        buf = malloc(size);
        if (info_size)
                info = malloc(info_size);
        if (buf && (info || !info_size)) {
                if (info)
                        info->size = info_size;
                r = wxshm_read(h, buf, size, info);
                if ((r >= 0 || r == -ESTALE) && info && info_size >= sizeof(wxshm_info) &&
                    info->token_length >= (int32_t)size)
                        abort();
                if (r >= 0 && ((size_t)r >= size || buf[r] != '\0'))
                        abort();
        }
        free(info);
        free(buf);
        wxshm_close(h);
}

/* Larger inputs stand for a larger mapped object; the cap keeps each run cheap. */
#define FUZZ_SEGMENT_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct segment_slot slot;
        char token[WXSHM_LAYOUT_TOKEN_CAPACITY];
        struct wxshm_layout *seg;
        size_t object_size = sizeof(struct wxshm_layout);
        bool copied;
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
                copied = r == 0;
                r = segment_copy(seg, &slot, token, 5);
                if (r == 0 && slot.length > WXSHM_LAYOUT_TOKEN_CAPACITY)
                        abort();
                /* Sizes around the slot's length, and the last input byte's pick of partial infos. */
                read_exact(seg, WXSHM_TOKEN_MAX + 1, sizeof(wxshm_info));
                read_exact(seg, 1, 0);
                if (copied && slot.length < WXSHM_TOKEN_MAX) {
                        size_t info_size = 16 + data[size - 1] % (sizeof(wxshm_info) - 15);

                        for (size_t extra = 0; extra <= 8; extra++)
                                read_exact(seg, slot.length + extra, extra % 2 ? info_size : 0);
                }
        }
        free(seg);
        return 0;
}
