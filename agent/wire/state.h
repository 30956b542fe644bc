/* state.h: the last token of each item on disk, so a reboot (empty /dev/shm) needs no upstream call. */
#ifndef STATE_H
#define STATE_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

struct state_record {
        uint64_t generation;
        int64_t expires_at_ms;
        int64_t fetched_at_ms;
        char token[UPSTREAM_TOKEN_MAX + 1];
        size_t token_len;
        /* The item's forced-refresh budget (budget.c); 0 in files written before it existed. */
        int64_t forced_day;             /* Beijing day number of forced_today */
        int64_t forced_today;           /* client-forced upstream calls on forced_day */
        int64_t quota_day;              /* Beijing day upstream last answered 45009 */
};

/*
 * Write rec for item (an app or "app.jsapi") of appid to dir/item: a temporary file
 * (mode 0600), fsync, rename, fsync of dir, so a crash or a full disk leaves the old
 * file or the new one, never a mix. The secret is never part of it.
 */
int state_save(const char *dir, const char *item, const char *appid, const struct state_record *rec);

/*
 * The same safe write for another small file of the agent's in dir (name, e.g. the
 * quota counts "shop.quota"): buf's len bytes, mode 0600. 0 or -errno.
 */
int state_write_file(const char *dir, const char *name, const char *buf, size_t len);

/*
 * Read dir/name, checked like a state file, into buf (NUL-terminated): its length, or
 * -errno (-EBADMSG if it does not fit size).
 */
int state_read_file(const char *dir, const char *name, char *buf, size_t size);

/*
 * Read dir/item back. -ENOENT if there is none, -EXDEV if it is a record of another
 * appid, -EBADMSG if it is not a complete record (anything odd is refused, never
 * half-used), -EINVAL if it is not a regular file (a FIFO never blocks the read), -EPERM
 * if it is owned by another user or writable by group or others, -ELOOP for a symlink.
 */
int state_load(const char *dir, const char *item, const char *appid, struct state_record *rec);

/*
 * Remove dir/item: after a failed state_save it holds a superseded token, which a reboot
 * must not adopt. 0 if it is gone (or was never there), else -errno.
 */
int state_remove(const char *dir, const char *item);

/* What a state_load or state_save error means, for "state file DIR/ITEM <this>". */
const char *state_strerror(int r);

#endif
