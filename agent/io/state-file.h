/* state-file.h: each item's state file in state_dir, so a reboot (empty /dev/shm) needs no upstream call. */
#ifndef STATE_FILE_H
#define STATE_FILE_H

#include "state.h"

/*
 * Write rec for item (an app or "app.jsapi") of appid to dir/item: a temporary file
 * (mode 0600), fsync, rename, fsync of dir, so a crash or a full disk leaves the old
 * file or the new one, never a mix. The secret is never part of it.
 */
int state_save(const char *dir, const char *item, const char *appid, const struct state_record *rec);

/*
 * state_save, but the rename is not waited for: the file's contents are on the disk
 * before it takes the name (so a power cut still leaves the old file or the new one,
 * never a part), while the name itself may be the old one after a power cut until the
 * next state_sync_dir(dir). An fsync of a directory of 20,000 files for every new
 * token held a cold start of 10,000 apps to the disk's pace: the agent syncs the
 * directory once for a burst of saves.
 */
int state_save_rename_later(const char *dir, const char *item, const char *appid, const struct state_record *rec);

/* The renames (and removals) in dir so far reach the disk: an fsync of dir. 0 or -errno. */
int state_sync_dir(const char *dir);

/*
 * Read dir/item back (state_decode). -ENOENT if there is none, -EXDEV if it is a record
 * of another appid, -EBADMSG if it is not a complete record (anything odd is refused,
 * never half-used), -EINVAL if it is not a regular file (a FIFO never blocks the read),
 * -EPERM if it is owned by another user or writable by group or others, -ELOOP for a
 * symlink.
 */
int state_load(const char *dir, const char *item, const char *appid, struct state_record *rec);

/*
 * The same safe write for another small file of the agent's in dir (name, e.g. the
 * quota counts "shop.quota"): buf's len bytes, mode 0600. 0 or -errno.
 */
int state_write_file(const char *dir, const char *name, const char *buf, size_t len);

/*
 * state_write_file without waiting for the disk (no fsync of the file or the directory):
 * still whole or not at all for every reader and across a crash of the agent, but a
 * power cut may bring back the previous contents. For counts that matter only as long
 * as the host runs (the quota file, written at every call: two fsyncs per call held a
 * cold start of thousands of apps to the disk's pace).
 */
int state_write_file_unsynced(const char *dir, const char *name, const char *buf, size_t len);

/*
 * Read dir/name, checked like a state file, into buf (NUL-terminated): its length, or
 * -errno (-EBADMSG if it does not fit size).
 */
int state_read_file(const char *dir, const char *name, char *buf, size_t size);

/*
 * Remove dir/item: after a failed state_save it holds a superseded token, which a reboot
 * must not adopt. 0 if it is gone (or was never there), else -errno.
 */
int state_remove(const char *dir, const char *item);

/* What a state_load or state_save error means, for "state file DIR/ITEM <this>". */
const char *state_strerror(int r);

#endif
