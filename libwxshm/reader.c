/* reader.c: the public reader API of libwxshm.so: open, read (no system call), close. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "latch.h"
#include "segment.h"
#include "wxshm.h"

struct wxshm {
        const struct wxshm_layout *seg;
        size_t map_size; /* 0: attached to a mapping someone else owns */
        unsigned owner; /* uid of the segment's owner: the agent that may answer refreshes */
        char name[SEGMENT_NAME_SIZE]; /* as given to wxshm_open */
};

const char *reader_name(const struct wxshm *h) {
        return h->name;
}

unsigned reader_owner(const struct wxshm *h) {
        return h->owner;
}

/*
 * An object of another size: a later layout version (its first 64 bytes keep their
 * meaning in every version, layout.h) is -EPROTONOSUPPORT, anything else -EBADMSG.
 */
static int other_layout(int fd, off_t size) {
        const struct wxshm_layout *head;
        int r = -EBADMSG;
        void *map;

        if (size < (off_t)offsetof(struct wxshm_layout, seq))
                return r;
        map = mmap(NULL, offsetof(struct wxshm_layout, seq), PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return r;
        head = map;
        if (atomic_load_explicit(&head->magic, memory_order_acquire) == WXSHM_LAYOUT_MAGIC &&
            head->version != WXSHM_LAYOUT_VERSION)
                r = -EPROTONOSUPPORT;
        munmap(map, offsetof(struct wxshm_layout, seq));
        return r;
}

/*
 * Open "<dir>/<app>" read-only and check, before anything is mapped, that the agent made
 * it (segment_trusted) and that it is a regular file of exactly the layout's size: a
 * mapping never reaches past the end of the object, so no read can SIGBUS.
 */
static int open_trusted(const char *app, int *ret, unsigned *owner) {
        struct stat dir_st, st;
        int dir_fd, fd, r;

        /* O_PATH: readers may traverse the directory (0751) without listing it. */
        dir_fd = open(segment_reader_dir(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        if (fstat(dir_fd, &dir_st) < 0) {
                r = -errno;
                close(dir_fd);
                return r;
        }
        fd = openat(dir_fd, app, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        close(dir_fd);
        if (r < 0)
                return r == -ELOOP ? -EPERM : r;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if ((r = segment_trusted(&dir_st, &st, (unsigned)geteuid())) < 0)
                ;
        else if (!S_ISREG(st.st_mode))
                r = -EBADMSG;
        else if (st.st_size == 0)
                r = -EAGAIN; /* the agent's openat made it, its posix_fallocate has not sized it yet */
        else if (st.st_size != (off_t)sizeof(struct wxshm_layout))
                r = other_layout(fd, st.st_size);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret = fd;
        *owner = (unsigned)st.st_uid;
        return 0;
}

WXSHM_EXPORT int wxshm_open(wxshm **ret, const char *app) {
        unsigned owner;
        void *map;
        wxshm *h;
        int fd, r;

        if (!ret || !segment_name_valid(app))
                return -EINVAL;
        r = open_trusted(app, &fd, &owner);
        if (r < 0)
                return r;
        map = mmap(NULL, sizeof(struct wxshm_layout), PROT_READ, MAP_SHARED, fd, 0);
        /* The mapping keeps the object alive; the descriptor is no longer needed. */
        close(fd);
        if (map == MAP_FAILED)
                return -errno;
        r = segment_validate(map, sizeof(struct wxshm_layout));
        if (r < 0)
                goto err_unmap;
        h = malloc(sizeof(*h));
        if (!h) {
                r = -ENOMEM;
                goto err_unmap;
        }
        h->seg = map;
        h->map_size = sizeof(struct wxshm_layout);
        h->owner = owner;
        snprintf(h->name, sizeof(h->name), "%s", app);
        *ret = h;
        return 0;

err_unmap:
        munmap(map, sizeof(struct wxshm_layout));
        return r;
}

/*
 * The wall clock of one read, in two precisions. time() is a load in the vDSO, about
 * half the cost of clock_gettime(CLOCK_REALTIME_COARSE) here, and both read the seconds of
 * the same tick: only a deadline within the current second needs the milliseconds.
 */
struct read_clock {
        int64_t sec; /* time(): the coarse clock's seconds, or -1 */
        int64_t ms;  /* segment_now_ms(), or -1 until a deadline needs it */
};

/* Seconds whose ms fit an int64_t with room: the year 292 million. */
#define READ_CLOCK_SEC_MAX (INT64_MAX / 1000 - 1)

/* Whether the coarse clock in ms has reached at_ms: exactly what comparing segment_now_ms() says. */
static bool clock_reached(struct read_clock *c, int64_t at_ms) {
        /* now < (sec + 1) * 1000 <= at_ms (a multiply: cheaper than dividing at_ms by 1000). */
        if (c->sec >= 0 && c->sec < READ_CLOCK_SEC_MAX && (c->sec + 1) * 1000 <= at_ms)
                return false;
        if (c->ms < 0)
                c->ms = segment_now_ms();
        return c->ms >= at_ms;
}

/* All of wxshm_info but size, from one consistent slot and the status words. */
static inline void info_compute(wxshm_info *out, const struct wxshm_layout *seg, const struct segment_slot *slot,
                                struct read_clock *clock) {
        int64_t interval = (int64_t)seg->heartbeat_interval_ms, dead_at;

        out->generation = slot->generation;
        out->expires_at_ms = slot->expires_at_ms;
        out->fetched_at_ms = slot->fetched_at_ms;
        out->heartbeat_ms = atomic_load_explicit(&seg->heartbeat_ms, memory_order_relaxed);
        out->last_errcode = atomic_load_explicit(&seg->last_errcode, memory_order_relaxed);
        out->last_error_at_ms = atomic_load_explicit(&seg->last_error_at_ms, memory_order_relaxed);
        out->state = (int32_t)atomic_load_explicit(&seg->state, memory_order_relaxed);
        out->agent_pid = (int32_t)atomic_load_explicit(&seg->agent_pid, memory_order_relaxed);
        /* Alive while now - heartbeat <= 3 intervals, i.e. until heartbeat + 3 intervals + 1 ms. */
        out->agent_alive = 0;
        if (out->agent_pid > 0 && out->heartbeat_ms > 0 && interval > 0) {
                if (__builtin_mul_overflow(interval, 3, &dead_at) ||
                    __builtin_add_overflow(dead_at, out->heartbeat_ms, &dead_at) ||
                    __builtin_add_overflow(dead_at, 1, &dead_at))
                        out->agent_alive = 1; /* a deadline past the end of time */
                else
                        out->agent_alive = !clock_reached(clock, dead_at);
        }
        out->token_length = (int32_t)slot->length;
}

/* Fill the fields of info that fit in info->size; later fields stay as the caller set them. */
static inline void info_fill(wxshm_info *info, const struct wxshm_layout *seg, const struct segment_slot *slot,
                             struct read_clock *clock) {
        wxshm_info full;

        /* The usual caller's size is this library's: written in place, no copy. */
        if (info->size >= sizeof(full)) {
                info_compute(info, seg, slot, clock);
                return;
        }
        full.size = info->size;
        info_compute(&full, seg, slot, clock);
        memcpy(info, &full, info->size);
}

/*
 * The read after the argument checks, always inlined into the two functions below: with
 * info a constant NULL in one of them, that one keeps fewer values and spills less.
 */
static inline __attribute__((always_inline)) int read_slot(const struct wxshm_layout *seg, char *buf, size_t size,
                                                           wxshm_info *info) {
        uint64_t retired = atomic_load_explicit(&seg->retired, memory_order_relaxed);
        struct segment_slot slot;
        struct read_clock clock;
        int r;

        /* Removed from the config for good (-ENXIO), or any other value: re-open the name (-EIDRM). */
        if (LATCH_UNLIKELY(retired))
                return retired == WXSHM_LAYOUT_RETIRED_REMOVED ? -ENXIO : -EIDRM;

        /* Up to size - 1 token bytes, the NUL's place, and whole words within size. */
        r = latch_read(seg, &slot, buf, size - 1, size);
        if (LATCH_UNLIKELY(r < 0))
                return r;
        if (LATCH_UNLIKELY(slot.generation == 0))
                return -ENODATA;
        if (LATCH_UNLIKELY(slot.length > size - 1))
                return -ENOBUFS;
        buf[slot.length] = '\0';

        clock.sec = (int64_t)time(NULL);
        clock.ms = -1;
        if (info)
                info_fill(info, seg, &slot, &clock);
        if (LATCH_UNLIKELY(clock_reached(&clock, slot.expires_at_ms)))
                return -ESTALE;
        return (int)slot.length;
}

/* Out of line, both: wxshm_read is then a frameless check that jumps to one of them. */
__attribute__((noinline)) static int read_with_info(const struct wxshm_layout *seg, char *buf, size_t size,
                                                    wxshm_info *info) {
        return read_slot(seg, buf, size, info);
}

__attribute__((noinline)) static int read_without_info(const struct wxshm_layout *seg, char *buf, size_t size) {
        return read_slot(seg, buf, size, NULL);
}

WXSHM_EXPORT int wxshm_read(wxshm *h, char *buf, size_t size, wxshm_info *info) {
        if (!h || !buf || size == 0)
                return -EINVAL;
        if (!info)
                return read_without_info(h->seg, buf, size);
        if (info->size < offsetof(wxshm_info, generation) + sizeof(info->generation))
                return -EINVAL;
        return read_with_info(h->seg, buf, size, info);
}

int reader_attach(wxshm **ret, const struct wxshm_layout *seg) {
        wxshm *h;
        int r = segment_validate(seg, sizeof(*seg));

        if (r < 0)
                return r;
        h = malloc(sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->seg = seg;
        h->map_size = 0;
        h->owner = 0;
        h->name[0] = '\0';
        *ret = h;
        return 0;
}

WXSHM_EXPORT void wxshm_close(wxshm *h) {
        if (!h)
                return;
        if (h->map_size)
                munmap((void *)h->seg, h->map_size);
        free(h);
}

WXSHM_EXPORT const char *wxshm_state_name(int state) {
        switch (state) {
        case WXSHM_STATE_STARTING:
                return "starting";
        case WXSHM_STATE_FRESH:
                return "fresh";
        case WXSHM_STATE_REFRESHING:
                return "refreshing";
        case WXSHM_STATE_RETRYING:
                return "retrying";
        case WXSHM_STATE_CONFIG_ERROR:
                return "config_error";
        case WXSHM_STATE_QUOTA:
                return "quota";
        case WXSHM_STATE_STOPPED:
                return "stopped";
        default:
                return "unknown";
        }
}
