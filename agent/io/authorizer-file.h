/* authorizer-file.h: the accounts authorized to a component and their refresh tokens in state_dir: losing one means the merchant must authorize again. */
#ifndef AUTHORIZER_FILE_H
#define AUTHORIZER_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct authorizer_record {
        char appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1];
        char refresh_token[PROTOCOL_REFRESH_TOKEN_MAX + 1];
        long refused;                   /* 0, or WeChat's errcode that refused the refresh token (61023, 61003) */
        /*
         * Cluster mode: when the record last changed (wall ms, made to rise), its version in
         * Redis: a record there is taken only if newer, so an older one replayed is not.
         * 0 in a file written before cluster mode served components.
         */
        uint64_t changed_ms;
};

/*
 * Write the n records of component (of component_appid) to dir/<component>.authorizers:
 * mode 0600, write, fsync, rename, fsync of dir (state_write_file), so once it returns 0
 * a kill -9 or a power cut loses none of them. 0 or -errno.
 */
int authorizer_file_save(const char *dir, const char *component, const char *component_appid,
                         const struct authorizer_record *recs, size_t n);

/*
 * Read them back into *recs (malloc'd, *n of them; NULL and 0 if none): 0, -ENOENT if
 * there is no file, -EXDEV if it is another component_appid's, -EBADMSG if it is not a
 * complete, valid record (an appid outside the grammar, a refresh token that is not
 * printable, twice the same appid, more than PROTOCOL_AUTHORIZERS_MAX), or the refusals
 * of state_read_file (-EPERM, -ELOOP, ...). On an error nothing is returned.
 */
int authorizer_file_load(const char *dir, const char *component, const char *component_appid,
                         struct authorizer_record **recs, size_t *n);

/* Whether dir/<component>.authorizers lists appid (a segment "COMPONENT.APPID" is the agent's, not stale). */
bool authorizer_file_has(const char *dir, const char *component, const char *appid);

#endif
