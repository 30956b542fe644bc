/* writer.h: the writer half of libwxshm, linked by the agent and the tests only. */
#ifndef WXSHM_WRITER_H
#define WXSHM_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "segment.h"

/* One writer per segment: the agent is the single writer of every segment it owns. */
typedef struct wxshm_writer wxshm_writer;

struct wxshm_writer_options {
        mode_t mode;                    /* permission bits, set with fchmod; 0 means 0640 */
        gid_t group;                    /* owner group, set with fchown; (gid_t)-1 keeps it */
        uint64_t heartbeat_interval_ms; /* written into a new segment; 0 means 5000 */
        bool discard;                   /* never keep a token there (it belongs to another appid) */
};

#define WXSHM_WRITER_OPTIONS_DEFAULT \
        { .mode = 0640, .group = (gid_t)-1, .heartbeat_interval_ms = 5000, .discard = false }

/*
 * Create the file name in the directory dir_fd (the agent's shm_dir, which only it can
 * write) or adopt the valid segment already there, keeping its token and generation
 * sequence (wxshm_writer_current() tells what was there). A retired segment, or our own
 * file that is not a segment of this layout (any other size, version or content), is
 * replaced by a new object that carries a still-valid token over; readers of the old
 * one are told to re-open. Every page is allocated before the object is mapped, so a
 * full tmpfs is -ENOSPC, never a SIGBUS. Mode and group are applied to the kept object.
 * With opts->discard, a segment holding a token is retired and replaced by an empty one.
 *   -EINVAL  bad name;  -EPERM  the name is not a regular file of this uid (never
 *   adopted, changed or mapped);  -ENOSPC, -EACCES, -ENOMEM, ... from openat,
 *   posix_fallocate, fchmod, fchown, mmap.
 */
int wxshm_writer_open(wxshm_writer **ret, int dir_fd, const char *name, const struct wxshm_writer_options *opts);

/*
 * Publish a token. A token equal to the current one keeps its generation (only the
 * times change); any other gets generation + 1. *generation, if not NULL, receives it.
 *   -EINVAL  empty token, or longer than WXSHM_LAYOUT_TOKEN_CAPACITY.
 */
int wxshm_writer_publish(wxshm_writer *w, const char *token, size_t length, int64_t expires_at_ms,
                         int64_t fetched_at_ms, uint64_t *generation);

/*
 * Publish with a generation given by the caller (cluster mode mirrors a global one).
 * -ESTALE if generation is lower than the published one: generations never go back.
 */
int wxshm_writer_publish_generation(wxshm_writer *w, const char *token, size_t length, int64_t expires_at_ms,
                                    int64_t fetched_at_ms, uint64_t generation);

/*
 * The token now published (what was adopted), NUL-terminated in buf of size bytes.
 * Returns its length, -ENODATA if none, -ENOBUFS if buf is too small.
 */
int wxshm_writer_current(wxshm_writer *w, char *buf, size_t size, struct segment_slot *slot);

/* Status words, outside the latch: each one is a single atomic store. */
void wxshm_writer_heartbeat(wxshm_writer *w, int64_t now_ms);
void wxshm_writer_set_state(wxshm_writer *w, int state);
void wxshm_writer_set_error(wxshm_writer *w, int64_t errcode, int64_t at_ms);

/*
 * Tell readers to re-open the name (retired = 1: the object is replaced, or the layout
 * changed). The object is not unlinked.
 */
void wxshm_writer_retire(wxshm_writer *w);

/*
 * The item was removed from the configuration: mark the segment removed (retired = 2:
 * readers get -ENXIO and know not to re-open) and unlink name from dir_fd if it still
 * names this writer's object, so a new wxshm_open() is -ENOENT. The mapping stays until
 * wxshm_writer_close(). 0 (also when the name is already gone), or -errno of fstatat/unlinkat.
 */
int wxshm_writer_remove(wxshm_writer *w, int dir_fd, const char *name);

/* The writer's own mapping, for reader_attach() in tests. */
const struct wxshm_layout *wxshm_writer_layout(wxshm_writer *w);

/* Unmap. Never unlinks: readers keep their mapping and the next agent adopts it. */
void wxshm_writer_close(wxshm_writer *w);

#endif
