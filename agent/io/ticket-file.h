/* ticket-file.h: a component's component_verify_tickets in state_dir, so a restart calls without waiting 10 minutes for a push. */
#ifndef TICKET_FILE_H
#define TICKET_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct verify_ticket {
        char value[PROTOCOL_VERIFY_TICKET_MAX + 1];     /* "" if none */
        int64_t create_time_s;                          /* WeChat's CreateTime of the push */
        int64_t received_at_ms;                         /* when it was put (wall clock) */
};

struct ticket_store {
        struct verify_ticket newest;    /* the newest by create time: never replaced by an older one */
        struct verify_ticket good;      /* the last one WeChat minted a token for ("" none) */
        bool newest_refused;            /* WeChat answered 61005/61006 to the newest */
        bool good_refused;              /* ... and to the good one since */
};

/*
 * Write st for component app (of appid) to dir/<app>.verify_ticket: mode 0600, write,
 * fsync, rename, fsync of dir (state_write_file). 0 or -errno. No secret is in it; the
 * tickets are not secrets, but the file is the agent's alone all the same.
 */
int ticket_file_save(const char *dir, const char *app, const char *appid, const struct ticket_store *st);

/*
 * Read it back: 0, -ENOENT if there is none, -EXDEV if it is another appid's, -EBADMSG if
 * it is not a complete record, or the refusals of state_read_file (-EPERM, -ELOOP, ...).
 */
int ticket_file_load(const char *dir, const char *app, const char *appid, struct ticket_store *st);

#endif
