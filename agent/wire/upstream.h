/* upstream.h: WeChat's token and ticket endpoints as pure request builders and response parsers. */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Room for a token of UPSTREAM_TOKEN_MAX, escaped, in a ticket or probe request's query after api_base. */
#define UPSTREAM_URL_MAX 8192
#define UPSTREAM_TOKEN_MAX 2048         /* a slot's capacity: a longer token is refused */
#define UPSTREAM_ERRMSG_MAX 256

/*
 * Failures that are not WeChat errcodes, stored as the errcode in segments and status.
 * WeChat's own codes are >= -1 (-1: system busy).
 */
#define UPSTREAM_ERR_HTTP (-1001)       /* HTTP status other than 200 */
#define UPSTREAM_ERR_TRANSPORT (-1002)  /* connect, DNS, TLS, timeout */
#define UPSTREAM_ERR_BODY (-1003)       /* not JSON, or no usable token in it */
#define UPSTREAM_ERR_REQUEST (-1004)    /* the request could not be built (an api_base too long) */
#define UPSTREAM_ERR_LIFETIME (-1005)   /* expires_in outside [min_token_lifetime, 86400] s: not believed */
#define UPSTREAM_ERR_NO_TICKET (-1006)  /* a component has no component_verify_ticket to call with yet */

/* What a parse must know beyond the body. */
struct upstream_policy {
        const char *secret;             /* redacted from errmsg (also URL-encoded) before it is cut; NULL: none */
        int64_t min_lifetime_s;         /* a shorter expires_in is refused; 0: UPSTREAM_LIFETIME_MIN_DEFAULT */
};
#define UPSTREAM_LIFETIME_MIN_DEFAULT 60
#define UPSTREAM_LIFETIME_MAX 86400     /* WeChat's tokens live 7200 s: a day is already generous */

/* One HTTP request. url and body may carry the secret: log redacted_url only. */
struct upstream_request {
        char url[UPSTREAM_URL_MAX];
        char redacted_url[UPSTREAM_URL_MAX];
        char *body;                     /* POST body (malloc'd, may hold the secret), NULL for GET */
};

/* What a response said. */
struct upstream_result {
        long errcode;                   /* 0 on success, else WeChat's or UPSTREAM_ERR_* */
        char errmsg[UPSTREAM_ERRMSG_MAX];
        char value[UPSTREAM_TOKEN_MAX + 1]; /* the access token or ticket, NUL-terminated */
        size_t value_len;
        int64_t expires_in_s;           /* > 0 on success */
};

/*
 * The token request for app at api_base (no trailing slash). force only matters for
 * stable (force_refresh). Returns 0, or -EINVAL if a field does not fit; -ENOMEM.
 */
int upstream_token_request(const struct app_config *app, const char *api_base, bool force,
                           struct upstream_request *req);

/*
 * kind component: POST /cgi-bin/component/api_component_token with the component's appid,
 * secret and verify_ticket (the component_verify_ticket WeChat pushed). upstream_token_parse
 * reads its answer (component_access_token). -EINVAL for another kind or an empty field.
 */
int upstream_component_request(const struct app_config *app, const char *api_base, const char *verify_ticket,
                               struct upstream_request *req);

/*
 * An account authorized to a component (Open Platform): POST
 * /cgi-bin/component/api_authorizer_token?component_access_token= with the component's
 * appid, the account's appid and its refresh token. -EINVAL for an empty field.
 */
int upstream_authorizer_request(const char *api_base, const char *component_appid, const char *component_token,
                                const char *appid, const char *refresh_token, struct upstream_request *req);

/*
 * Its answer: authorizer_access_token and expires_in into res (as upstream_token_parse),
 * and the authorizer_refresh_token that came back into refresh_token ("" if none or not
 * usable: printable ASCII shorter than refresh_size).
 */
int upstream_authorizer_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                              struct upstream_result *res, char *refresh_token, size_t refresh_size);

/*
 * A corp authorized to a WeCom suite: POST
 * /cgi-bin/service/get_corp_token?suite_access_token= with the corp's id and its
 * permanent code; upstream_token_parse(APP_KIND_WORK, ...) reads its answer (access_token,
 * no errcode on success). -EINVAL for an empty field.
 */
int upstream_corp_request(const char *api_base, const char *suite_token, const char *corpid,
                          const char *permanent_code, struct upstream_request *req);

/*
 * WeCom's onboarding: POST /cgi-bin/service/get_permanent_code?suite_access_token= with
 * the temporary auth code of the authorization callback (10 minutes, once).
 */
int upstream_permanent_code_request(const char *api_base, const char *suite_token, const char *auth_code,
                                    struct upstream_request *req);

/*
 * Its answer: the corp's access_token and expires_in into res (as upstream_token_parse),
 * its permanent code into permanent_code and the corpid it is for (auth_corp_info.corpid)
 * into corpid; a success without a usable permanent code or corpid is UPSTREAM_ERR_BODY.
 */
int upstream_permanent_code_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                                  struct upstream_result *res, char *permanent_code, size_t code_size, char *corpid,
                                  size_t corpid_size);

/*
 * A POST to one of the component's own endpoints (path, e.g. "/cgi-bin/component/api_query_auth")
 * with the component's token in the query (redacted in redacted_url) and body (malloc'd JSON,
 * taken: freed, wiped, with the request or on failure). 0 or -EINVAL, -ENOMEM.
 */
int upstream_component_post(const char *api_base, const char *path, const char *component_token, char *body,
                            struct upstream_request *req);

/* api_get_authorizer_list: "count" is at most 500 a call (WeChat's page of it). */
#define UPSTREAM_AUTHORIZER_PAGE 500

/* POST api_query_auth {component_appid, authorization_code}: the code the authorization redirect carried. */
int upstream_query_auth_request(const char *api_base, const char *component_appid, const char *component_token,
                                const char *auth_code, struct upstream_request *req);

/* POST api_get_authorizer_list {component_appid, offset, count (1..UPSTREAM_AUTHORIZER_PAGE)}. */
int upstream_authorizer_list_request(const char *api_base, const char *component_appid, const char *component_token,
                                     uint64_t offset, unsigned count, struct upstream_request *req);

/* The ticket request of type (TICKET_JSAPI, TICKET_WX_CARD; work: TICKET_JSAPI, TICKET_AGENT_CONFIG) with access_token. */
int upstream_ticket_request(enum app_kind kind, const char *api_base, const char *access_token,
                            enum ticket_type type, struct upstream_request *req);

/* Free what a request holds (wiping the body); the struct itself is the caller's. */
void upstream_request_clear(struct upstream_request *req);

/*
 * Parse a token response of kind with HTTP status http_status and body (not
 * NUL-terminated, len bytes). 0 with res->value set, or -EPROTO with res->errcode and
 * res->errmsg saying why: WeChat's errcode, UPSTREAM_ERR_HTTP for a status other than
 * 200, UPSTREAM_ERR_BODY for a body that is not JSON, lacks the token, has an empty or
 * too long token or no integral expires_in, UPSTREAM_ERR_LIFETIME for an expires_in
 * outside [pol->min_lifetime_s, UPSTREAM_LIFETIME_MAX]. Never a token on failure. pol
 * may be NULL (the defaults); pol->secret is taken out of errmsg before it is truncated,
 * so no part of it survives the cut.
 */
int upstream_token_parse(enum app_kind kind, long http_status, const char *body, size_t len,
                         const struct upstream_policy *pol, struct upstream_result *res);

/* The same for a ticket response ("ticket" instead of "access_token"). */
int upstream_ticket_parse(enum app_kind kind, long http_status, const char *body, size_t len,
                          const struct upstream_policy *pol, struct upstream_result *res);

/*
 * A business call that only proves a token works (getcallbackip), for
 * verify_before_force. The parser returns 0 if WeChat accepted the token, else -EPROTO
 * with res->errcode (40001, 42001: the token is dead) as for the others.
 */
int upstream_probe_request(const char *api_base, const char *access_token, struct upstream_request *req);
int upstream_probe_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                         struct upstream_result *res);

const char *ticket_type_name(enum ticket_type type); /* "jsapi", "wx_card", "agent_config" */

#endif
