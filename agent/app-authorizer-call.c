/* app-authorizer-call.c: an account's own call (api_authorizer_token, get_corp_token, get_permanent_code) and what its answer does to the account's record. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "http.h"
#include "log.h"
#include "upstream-platform.h"

/* WeCom's "invalid permanent_code" (the corp cancelled, or a wrong code) and "invalid temporary auth code". */
#define ERRCODE_PERMANENT_CODE_INVALID 40084
#define ERRCODE_AUTH_CODE_INVALID 40078

int app_authorizer_request(struct item *it, const char *base, struct upstream_request *req, long *errcode) {
        struct authorizer *a = it->auth;
        struct app *app = it->app;

        if (a->rec.refused) {
                *errcode = a->rec.refused;
                return -EKEYREVOKED;
        }
        a->exchanging = a->auth_code[0] != '\0';
        if (a->exchanging)
                return upstream_permanent_code_request(base, item_value(&app->token), a->auth_code, req);
        snprintf(a->calling, sizeof(a->calling), "%s", a->rec.refresh_token);
        if (authorizer_is_suite(app))
                return upstream_corp_request(base, item_value(&app->token), a->rec.appid, a->calling, req);
        return upstream_authorizer_request(base, app->cfg->appid, item_value(&app->token), a->rec.appid, a->calling,
                                           req);
}

/*
 * get_permanent_code's answer: the corp's permanent code, saved before its access_token
 * is published (the code cannot be asked for again), and that token (no second call).
 */
static int exchange_parse(struct item *it, const struct http_response *http, const struct upstream_policy *pol,
                          struct upstream_result *res) {
        struct authorizer *a = it->auth;
        char code[PROTOCOL_REFRESH_TOKEN_MAX + 1], corpid[PROTOCOL_AUTHORIZER_APPID_MAX + 1];
        int r = upstream_permanent_code_parse(http->status, http->body, http->body_len, pol, res, code, sizeof(code),
                                              corpid, sizeof(corpid));

        a->exchanging = false;
        if (r == 0 && strcmp(corpid, a->rec.appid) != 0) {
                explicit_bzero(res->value, sizeof(res->value));
                res->errcode = ERRCODE_AUTH_CODE_INVALID;
                snprintf(res->errmsg, sizeof(res->errmsg), "the auth code is corp %s's, not %s's", corpid,
                         a->rec.appid);
                r = -EPROTO;
        }
        /* Good once: whatever the answer, the auth code is spent. */
        explicit_bzero(a->auth_code, sizeof(a->auth_code));
        if (r == 0) {
                memcpy(a->rec.refresh_token, code, sizeof(code));
                if (authorizers_save(it->app) == 0)
                        log_app(LOG_NOTICE, it->name, 0, "the auth code was exchanged for the corp's permanent code "
                                "(%zu bytes): saved", strlen(code));
                else
                        log_app(LOG_ERR, it->name, 0, "the auth code was exchanged for the corp's permanent code, but "
                                "it could not be saved: a restart loses the corp until it authorizes again");
        } else if (res->errcode != UPSTREAM_ERR_TRANSPORT && res->errcode != -1) {
                /* Anything but a transient failure: the code will not work again; the corp must authorize again. */
                a->rec.refused = res->errcode;
        }
        explicit_bzero(code, sizeof(code));
        return r;
}

int app_authorizer_parse(struct item *it, const struct http_response *http, const struct upstream_policy *pol,
                         struct upstream_result *res) {
        struct authorizer *a = it->auth;
        char back[PROTOCOL_REFRESH_TOKEN_MAX + 1] = "";
        /* An add while the call was under way replaced the refresh token: what this call says is about the old one. */
        bool current = strcmp(a->calling, a->rec.refresh_token) == 0;
        int r;

        if (a->exchanging)
                return exchange_parse(it, http, pol, res);
        /* A corp's get_corp_token: access_token as gettoken's; its permanent code never changes. */
        r = authorizer_is_suite(it->app) ? upstream_token_parse(APP_KIND_WORK, http->status, http->body, http->body_len, pol, res)
                              : upstream_authorizer_parse(http->status, http->body, http->body_len, pol, res, back,
                                                          sizeof(back));

        if (r == 0 && back[0] && current && strcmp(back, a->rec.refresh_token) != 0) {
                /* Persisted before the token is published (on_response publishes after this returns). */
                snprintf(a->rec.refresh_token, sizeof(a->rec.refresh_token), "%s", back);
                authorizer_bump(&a->rec);
                /* Into Redis before the token is: whoever holds the lease next has both or neither. */
                authorizer_share(it->app, &a->rec, false);
                if (authorizers_save(it->app) == 0)
                        log_app(LOG_NOTICE, it->name, 0, "WeChat handed out a new refresh token (%zu bytes): saved",
                                strlen(back));
                else
                        log_app(LOG_ERR, it->name, 0, "WeChat handed out a new refresh token, but it could not be "
                                "saved: a restart would use the old one (valid a few minutes more)");
        }
        if (r < 0 && current && (authorizer_is_suite(it->app) ? res->errcode == ERRCODE_PERMANENT_CODE_INVALID :
                                 res->errcode == ERRCODE_REFRESH_INVALID || res->errcode == ERRCODE_NOT_AUTHORIZED)) {
                a->rec.refused = res->errcode;
                authorizer_bump(&a->rec);
                authorizers_save(it->app);
                authorizer_share(it->app, &a->rec, false);
                /*
                 * WeChat may hold another refresh token for it (a rotation lost: 61023), or none (the
                 * account cancelled the authorization: 61003, or 61023 too): its list says which, and
                 * a sync takes the other token or removes the account as revoked.
                 */
                if (!authorizer_is_suite(it->app))
                        app_onboard_auto_sync(it->app, it->name, res->errcode);
        }
        explicit_bzero(back, sizeof(back));
        explicit_bzero(a->calling, sizeof(a->calling));
        return r;
}

/* The reply to an op the component cannot take, said in the log too when it matters. */
