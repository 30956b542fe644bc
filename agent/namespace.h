/* namespace.h: the agent's segment directory (shm_dir): made or checked, locked, the old names retired. */
#ifndef NAMESPACE_H
#define NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>

/* The lock file inside shm_dir; a leading dot is never an item name, so it clashes with none. */
#define NAMESPACE_LOCK_NAME ".lock"

struct namespace {
        int dir_fd;     /* O_PATH descriptor of shm_dir, for openat/unlinkat: no path races */
        int lock_fd;    /* flock'ed for the agent's life */
};

#define NAMESPACE_NULL { .dir_fd = -1, .lock_fd = -1 }

/*
 * Make shm_dir (0751) if it is missing, or check the one there: it must be a directory
 * (not a link), owned by this uid, and not writable by group or others, or no one could
 * tell the agent's segments from a squatter's. Then take its lock, or fail naming the
 * pid that holds it; a failed open leaves every existing segment untouched. Each
 * failure is logged with what to do about it. 0 or -errno.
 */
int namespace_open(struct namespace *ns, const char *dir);

/*
 * Before shm_dir, segments were /dev/shm/<prefix>.<item>. Mark the old objects this uid
 * owns retired (their readers re-open, and a new libwxshm finds the new place) and
 * unlink them. Objects of other uids are never opened for writing or mapped: each is
 * named in one log line, with the command that removes it.
 */
void namespace_retire_legacy(const char *shm_root, const char *prefix);

/*
 * Segments in shm_dir (ns, named dir in messages) of items known() says are not in the
 * configuration (the app was removed, or its ticket dropped, while no agent ran, or its
 * start failed) are marked removed (retired = 2: readers get -ENXIO, and do not re-open)
 * and unlinked. Anything that is not a segment of ours is left alone. At start, before any
 * app opens its segments, and after a reload.
 */
void namespace_remove_unknown(struct namespace *ns, const char *dir, bool (*known)(const char *item, void *userdata),
                              void *userdata);

void namespace_close(struct namespace *ns);

/*
 * wxtokend -t: what namespace_open would meet, without making anything or taking the
 * lock (a running agent holds it). 0, or -errno with one line naming what to do in err.
 */
int namespace_check(const char *dir, char *err, size_t err_size);

#endif
