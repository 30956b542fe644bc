/* upstream-platform.h: a component's account endpoints (api_query_auth, api_get_authorizer_list) as pure parsers (their requests: upstream.h). */
#ifndef UPSTREAM_PLATFORM_H
#define UPSTREAM_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"
#include "wire.h"

/* The requests (upstream_query_auth_request, upstream_authorizer_list_request) are in upstream.h, built
 * by upstream-request.c with the other requests. */

/* One account api_get_authorizer_list names: its appid and the refresh token WeChat holds for it. */
struct upstream_listed {
        char appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1];
        char refresh_token[PROTOCOL_REFRESH_TOKEN_MAX + 1];
};

/*
 * Its answer: authorization_info's authorizer_access_token and expires_in into res (the
 * checks of upstream_authorizer_parse), its authorizer_appid (wire_authorizer_appid_valid,
 * else UPSTREAM_ERR_BODY) and authorizer_refresh_token (required here: without it the
 * account could not be kept). 0, or -EPROTO with res->errcode (61009, 61010, ...).
 */
int upstream_query_auth_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                              struct upstream_result *res, char appid[static PROTOCOL_AUTHORIZER_APPID_MAX + 1],
                              char refresh_token[static PROTOCOL_REFRESH_TOKEN_MAX + 1]);

/*
 * Its answer: total_count into *total, the list's entries into out (at most max; more is
 * UPSTREAM_ERR_BODY), *n of them. An entry whose appid is outside the grammar or whose
 * refresh token could not go back to WeChat as it is makes the whole page refused: half a
 * list read as whole would make accounts look revoked. 0, or -EPROTO with res->errcode.
 */
int upstream_authorizer_list_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                                   struct upstream_result *res, struct upstream_listed *out, size_t max, size_t *n,
                                   uint64_t *total);

#endif
