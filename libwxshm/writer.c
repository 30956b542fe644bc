/* writer.c: create or adopt a segment, publish tokens under the latch, update status words. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writer.h"

struct wxshm_writer {
        struct wxshm_layout *seg;
        dev_t dev;      /* the object's identity: wxshm_writer_remove unlinks the name only if it is still this */
        ino_t ino;
};

static int map_object(int fd, struct wxshm_layout **ret) {
        void *map = mmap(NULL, sizeof(struct wxshm_layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

        if (map == MAP_FAILED)
                return -errno;
        *ret = map;
        return 0;
}

/* Permissions and owner group are set explicitly, never left to the umask. */
static int set_access(int fd, const struct wxshm_writer_options *opts) {
        if (fchmod(fd, opts->mode ? opts->mode : 0640) < 0)
                return -errno;
        if (opts->group != (gid_t)-1 && fchown(fd, (uid_t)-1, opts->group) < 0)
                return -errno;
        return 0;
}

/*
 * Give the object every page it will ever use before it is mapped. On a full tmpfs a
 * store into a page that cannot be allocated is a SIGBUS; this makes it an ENOSPC here.
 */
static int reserve(int fd) {
        int r = posix_fallocate(fd, 0, sizeof(struct wxshm_layout));

        return r == 0 ? 0 : -r;
}

/* Size a fresh object and write its header; magic goes last so readers see all or nothing. */
static int init_object(int fd, const struct wxshm_writer_options *opts, struct wxshm_layout **ret) {
        struct wxshm_layout *seg = NULL;
        int r;

        r = reserve(fd);
        if (r < 0)
                return r;
        r = map_object(fd, &seg);
        if (r < 0)
                return r;
        seg->version = WXSHM_LAYOUT_VERSION;
        seg->header_size = offsetof(struct wxshm_layout, slot);
        seg->total_size = sizeof(struct wxshm_layout);
        seg->slot_size = sizeof(struct wxshm_layout_slot);
        seg->token_capacity = WXSHM_LAYOUT_TOKEN_CAPACITY;
        seg->heartbeat_interval_ms = opts->heartbeat_interval_ms ? opts->heartbeat_interval_ms : 5000;
        atomic_store_explicit(&seg->magic, WXSHM_LAYOUT_MAGIC, memory_order_release);
        *ret = seg;
        return 0;
}

/*
 * Open name in the directory, creating it if absent (or only if absent, with excl). Only
 * a regular file of this uid is ever used: the directory is the agent's alone, so
 * anything else there was put by root by hand, and it is not ours to map or change.
 */
static int open_object(int dir_fd, const char *name, bool excl, int *ret, struct stat *st) {
        int fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (excl ? O_EXCL : 0),
                        0600);

        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_uid != geteuid()) {
                close(fd);
                return -EPERM;
        }
        *ret = fd;
        return 0;
}

/*
 * Decide what our object under the name is: to adopt (1), to replace (0: another layout
 * version, inconsistent, retired, or of a size that is not the layout's), or to
 * initialise in place (2: empty, or creation never finished). Nothing past size is read.
 */
static int classify(const struct wxshm_layout *seg, off_t size) {
        if (size == 0)
                return 2;
        if (size != (off_t)sizeof(struct wxshm_layout))
                return 0;
        switch (atomic_load_explicit(&seg->magic, memory_order_acquire)) {
        case 0:
                return 2;
        case WXSHM_LAYOUT_MAGIC:
                if (segment_validate(seg, (uint64_t)size) < 0)
                        return 0;
                return atomic_load_explicit(&seg->retired, memory_order_relaxed) ? 0 : 1;
        default:
                return 0;
        }
}

int wxshm_writer_open(wxshm_writer **ret, int dir_fd, const char *name, const struct wxshm_writer_options *opts) {
        static const struct wxshm_writer_options defaults = WXSHM_WRITER_OPTIONS_DEFAULT;
        char carried[WXSHM_LAYOUT_TOKEN_CAPACITY];
        struct segment_slot carried_slot = { 0 };
        struct wxshm_layout *seg = NULL;
        struct wxshm_writer *w;
        struct stat st;
        int fd = -1, r, kind = 0;

        if (!ret || !segment_name_valid(name))
                return -EINVAL;
        if (!opts)
                opts = &defaults;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;

        r = open_object(dir_fd, name, false, &fd, &st);
        if (r < 0)
                goto err_free;
        /* Another size is replaced unread: mapping past the end of an object faults. */
        if (st.st_size == (off_t)sizeof(struct wxshm_layout)) {
                r = reserve(fd);
                if (r == 0)
                        r = map_object(fd, &seg);
                if (r < 0)
                        goto err_close;
                kind = classify(seg, st.st_size);
        } else if (st.st_size == 0) {
                kind = 2;
        }
        /* A token of another appid must not stay readable under this name: start empty. */
        if (kind == 1 && opts->discard && atomic_load(&seg->slot[atomic_load(&seg->seq) & 1].generation) > 0)
                kind = 0;
        if (kind == 2) {
                if (seg)
                        munmap(seg, sizeof(*seg));
                seg = NULL;
                r = init_object(fd, opts, &seg);
                if (r < 0)
                        goto err_unlink;
        } else if (kind == 0) {
                /*
                 * Readers hold the old object: mark it retired so they re-open the name, and
                 * carry a still-valid token of this layout over so nobody needs a new fetch.
                 */
                if (seg) {
                        if (opts->discard || segment_validate(seg, (uint64_t)st.st_size) < 0 ||
                            segment_copy(seg, &carried_slot, carried, sizeof(carried)) < 0)
                                carried_slot.generation = 0;
                        atomic_store_explicit(&seg->retired, WXSHM_LAYOUT_RETIRED_REOPEN, memory_order_release);
                        munmap(seg, sizeof(*seg));
                        seg = NULL;
                }
                close(fd);
                fd = -1;
                if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
                        r = -errno;
                        goto err_free;
                }
                r = open_object(dir_fd, name, true, &fd, &st);
                if (r < 0)
                        goto err_free;
                r = init_object(fd, opts, &seg);
                if (r < 0)
                        goto err_unlink;
        }
        /* Only now that the object is known to be ours may its access change. */
        r = set_access(fd, opts);
        if (r < 0)
                goto err_unmap;
        close(fd);
        w->seg = seg;
        w->dev = st.st_dev;
        w->ino = st.st_ino;
        atomic_store_explicit(&seg->agent_pid, getpid(), memory_order_relaxed);
        if (carried_slot.generation > 0)
                wxshm_writer_publish_generation(w, carried, carried_slot.length, carried_slot.expires_at_ms,
                                                carried_slot.fetched_at_ms, carried_slot.generation);
        explicit_bzero(carried, sizeof(carried));
        *ret = w;
        return 0;

err_unmap:
        munmap(seg, sizeof(*seg));
err_close:
        close(fd);
        goto err_free;
err_unlink:
        /* An object that could not be given its pages would only be an -EBADMSG to readers. */
        close(fd);
        unlinkat(dir_fd, name, 0);
err_free:
        explicit_bzero(carried, sizeof(carried));
        free(w);
        return r;
}

/* Relaxed stores only: the latch's fences and the counter's release order them. */
static void slot_write(struct wxshm_layout_slot *s, const char *token, size_t length, uint64_t generation,
                       int64_t expires_at_ms, int64_t fetched_at_ms) {
        size_t i;

        atomic_store_explicit(&s->length, length, memory_order_relaxed);
        atomic_store_explicit(&s->generation, generation, memory_order_relaxed);
        atomic_store_explicit(&s->expires_at_ms, expires_at_ms, memory_order_relaxed);
        atomic_store_explicit(&s->fetched_at_ms, fetched_at_ms, memory_order_relaxed);
        for (i = 0; i < length; i += 8) {
                uint64_t w = 0;

                memcpy(&w, token + i, length - i < 8 ? length - i : 8);
                atomic_store_explicit(&s->token[i / 8], w, memory_order_relaxed);
        }
}

int wxshm_writer_publish_generation(wxshm_writer *w, const char *token, size_t length, int64_t expires_at_ms,
                                    int64_t fetched_at_ms, uint64_t generation) {
        struct wxshm_layout *seg = w->seg;
        uint64_t seq;

        if (!token || length == 0 || length > WXSHM_LAYOUT_TOKEN_CAPACITY || generation == 0)
                return -EINVAL;
        seq = atomic_load_explicit(&seg->seq, memory_order_relaxed);
        if (generation < atomic_load_explicit(&seg->slot[seq & 1].generation, memory_order_relaxed))
                return -ESTALE;

        /* A reader still on seq - 1 uses the slot written next: its re-check must fail. */
        atomic_thread_fence(memory_order_release);
        slot_write(&seg->slot[(seq + 1) & 1], token, length, generation, expires_at_ms, fetched_at_ms);
        atomic_store_explicit(&seg->seq, seq + 1, memory_order_release);
        /* Readers now use the new slot; order that switch before touching the old one. */
        atomic_thread_fence(memory_order_release);
        slot_write(&seg->slot[seq & 1], token, length, generation, expires_at_ms, fetched_at_ms);
        atomic_store_explicit(&seg->seq, seq + 2, memory_order_release);
        return 0;
}

int wxshm_writer_publish(wxshm_writer *w, const char *token, size_t length, int64_t expires_at_ms,
                         int64_t fetched_at_ms, uint64_t *generation) {
        char current[WXSHM_LAYOUT_TOKEN_CAPACITY];
        struct segment_slot slot;
        uint64_t next;
        int r;

        if (!token || length == 0 || length > WXSHM_LAYOUT_TOKEN_CAPACITY)
                return -EINVAL;
        r = segment_copy(w->seg, &slot, current, sizeof(current));
        if (r < 0)
                return r;
        next = slot.generation + 1;
        if (slot.generation > 0 && slot.length == length && memcmp(current, token, length) == 0)
                next = slot.generation;
        r = wxshm_writer_publish_generation(w, token, length, expires_at_ms, fetched_at_ms, next);
        if (r < 0)
                return r;
        if (generation)
                *generation = next;
        return 0;
}

int wxshm_writer_current(wxshm_writer *w, char *buf, size_t size, struct segment_slot *slot) {
        struct segment_slot copy;
        int r;

        if (!buf || size == 0)
                return -EINVAL;
        r = segment_copy(w->seg, &copy, buf, size - 1);
        if (r < 0)
                return r;
        if (copy.generation == 0)
                return -ENODATA;
        if (copy.length > size - 1)
                return -ENOBUFS;
        buf[copy.length] = '\0';
        if (slot)
                *slot = copy;
        return (int)copy.length;
}

void wxshm_writer_heartbeat(wxshm_writer *w, int64_t now_ms) {
        atomic_store_explicit(&w->seg->heartbeat_ms, now_ms, memory_order_relaxed);
}

void wxshm_writer_set_state(wxshm_writer *w, int state) {
        atomic_store_explicit(&w->seg->state, state, memory_order_relaxed);
}

void wxshm_writer_set_error(wxshm_writer *w, int64_t errcode, int64_t at_ms) {
        atomic_store_explicit(&w->seg->last_errcode, errcode, memory_order_relaxed);
        atomic_store_explicit(&w->seg->last_error_at_ms, at_ms, memory_order_relaxed);
}

void wxshm_writer_retire(wxshm_writer *w) {
        atomic_store_explicit(&w->seg->retired, WXSHM_LAYOUT_RETIRED_REOPEN, memory_order_release);
}

int wxshm_writer_remove(wxshm_writer *w, int dir_fd, const char *name) {
        struct stat st;

        /* Marked first: a reader that re-opens before the unlink still learns the app is gone. */
        atomic_store_explicit(&w->seg->retired, WXSHM_LAYOUT_RETIRED_REMOVED, memory_order_release);
        if (!segment_name_valid(name))
                return -EINVAL;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        /* Another object under the name is not this writer's to remove. */
        if (st.st_dev != w->dev || st.st_ino != w->ino)
                return 0;
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

const struct wxshm_layout *wxshm_writer_layout(wxshm_writer *w) {
        return w->seg;
}

void wxshm_writer_close(wxshm_writer *w) {
        if (!w)
                return;
        munmap(w->seg, sizeof(*w->seg));
        free(w);
}
