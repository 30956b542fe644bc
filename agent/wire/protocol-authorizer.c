/* protocol-authorizer.c: the authorizer ops (accounts authorized to a component): strict parsing and their replies. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol-internal.h"

/* A refresh token goes into WeChat's JSON body as it is: printable ASCII, no space, as WeChat's are. */
static bool refresh_chars_ok(const char *s) {
        for (; *s; s++)
                if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

int protocol_parse_authorizer(const struct cJSON *root, struct request *req, const char **error, char *message,
                              size_t message_size) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
        const cJSON *comp = cJSON_GetObjectItemCaseSensitive(root, "component");
        const cJSON *appid = cJSON_GetObjectItemCaseSensitive(root, "appid");
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(root, "refresh_token");
        /* A corp under a WeCom suite: its permanent code, or the temporary auth code to exchange for one. */
        const cJSON *pc = cJSON_GetObjectItemCaseSensitive(root, "permanent_code");
        const cJSON *ac = cJSON_GetObjectItemCaseSensitive(root, "auth_code");
        const char *field = "refresh_token";
        size_t n;

        if (!strcmp(op->valuestring, "authorizer_add"))
                req->op = OP_AUTHORIZER_ADD;
        else if (!strcmp(op->valuestring, "authorizer_remove"))
                req->op = OP_AUTHORIZER_REMOVE;
        else if (!strcmp(op->valuestring, "authorizer_list"))
                req->op = OP_AUTHORIZER_LIST;
        else if (!strcmp(op->valuestring, "authorizer_sync"))
                req->op = OP_AUTHORIZER_SYNC;
        else
                return protocol_fail(error, message, message_size, PROTO_E_UNKNOWN_OP,
                            "unknown op (authorizer_add, authorizer_remove, authorizer_list, authorizer_sync)");
        if (!cJSON_IsString(comp) || !wire_app_name_valid(comp->valuestring))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"component\" must be the component's name, " WIRE_APP_NAME_GRAMMAR);
        strcpy(req->app, comp->valuestring);
        /* A list is paged as status is: 10,000 accounts do not fit one reply. */
        if (req->op == OP_AUTHORIZER_LIST)
                return protocol_parse_page(root, req, error, message, message_size);
        if (req->op == OP_AUTHORIZER_SYNC)
                return 0;
        /*
         * An auth code: alone for a component (onboarding: the appid and refresh token come from
         * api_query_auth's answer), or with the corp's appid under a WeCom suite (get_permanent_code).
         */
        if (req->op == OP_AUTHORIZER_ADD && ac) {
                if (rt || pc)
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                                    "give one of \"refresh_token\", \"permanent_code\" and \"auth_code\"");
                if (!cJSON_IsString(ac) || !ac->valuestring)
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"auth_code\" must be a string");
                n = strlen(ac->valuestring);
                if (n == 0 || n > PROTOCOL_AUTH_CODE_MAX || !refresh_chars_ok(ac->valuestring))
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"auth_code\" must be 1 to "
                                    PROTOCOL_STR(PROTOCOL_AUTH_CODE_MAX) " bytes of printable ASCII without spaces");
                memcpy(req->auth_code, ac->valuestring, n + 1);
                if (!appid)
                        return 0;
        }
        if (!cJSON_IsString(appid) || !wire_authorizer_appid_valid(appid->valuestring))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"appid\" must be the authorizer's appid, " WIRE_AUTHORIZER_APPID_GRAMMAR);
        strcpy(req->authorizer_appid, appid->valuestring);
        if (req->op == OP_AUTHORIZER_REMOVE || req->auth_code[0])
                return 0;
        if (rt && pc)
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "give one of \"refresh_token\", \"permanent_code\" and \"auth_code\"");
        if (pc) {
                field = "permanent_code";
                rt = pc;
        }
        /* Never quoted back: it is the account's one credential. */
        if (!cJSON_IsString(rt) || !rt->valuestring)
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"%s\" must be a string", field);
        n = strlen(rt->valuestring);
        if (n == 0 || n > PROTOCOL_REFRESH_TOKEN_MAX)
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"%s\" must be 1 to "
                            PROTOCOL_STR(PROTOCOL_REFRESH_TOKEN_MAX) " bytes, got %zu", field, n);
        if (!refresh_chars_ok(rt->valuestring))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"%s\" must be printable ASCII without spaces, as WeChat's are", field);
        memcpy(req->refresh_token, rt->valuestring, n + 1);
        return 0;
}

char *protocol_authorizer_ok(const char *what, const char *component, const char *appid, const char *message) {
        cJSON *o = cJSON_CreateObject();

        return protocol_finish(o, o && cJSON_AddTrueToObject(o, "ok") && cJSON_AddStringToObject(o, "authorizer", what) &&
                                  cJSON_AddStringToObject(o, "component", component) &&
                                  cJSON_AddStringToObject(o, "appid", appid) &&
                                  cJSON_AddStringToObject(o, "message", message ? message : ""));
}

char *protocol_authorizer_list(const char *component, const struct authorizer_entry *entries, size_t n,
                               uint64_t total, int64_t next) {
        cJSON *o = cJSON_CreateObject(), *list = NULL;
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && cJSON_AddStringToObject(o, "component", component) &&
                  protocol_add_i64(o, "total", (int64_t)total) && (next < 0 || protocol_add_i64(o, "next", next)) &&
                  (list = cJSON_AddArrayToObject(o, "authorizers"));

        for (size_t i = 0; ok && i < n; i++) {
                const struct authorizer_entry *e = &entries[i];
                cJSON *x = cJSON_CreateObject();

                ok = x && cJSON_AddItemToArray(list, x) && cJSON_AddStringToObject(x, "appid", e->appid) &&
                     cJSON_AddStringToObject(x, "state", e->state) && protocol_add_i64(x, "generation", (int64_t)e->generation) &&
                     protocol_add_i64(x, "expires_at", e->expires_at_ms) && protocol_add_i64(x, "last_errcode", e->last_errcode) &&
                     cJSON_AddStringToObject(x, "note", e->note ? e->note : "");
        }
        return protocol_finish(o, ok);
}

char *protocol_authorizer_synced(const char *component, unsigned added, unsigned updated, unsigned unchanged,
                                 unsigned revoked, uint64_t total, const char *message) {
        cJSON *o = cJSON_CreateObject();

        return protocol_finish(o, o && cJSON_AddTrueToObject(o, "ok") && cJSON_AddStringToObject(o, "component", component) &&
                                  protocol_add_i64(o, "added", added) && protocol_add_i64(o, "updated", updated) &&
                                  protocol_add_i64(o, "unchanged", unchanged) && protocol_add_i64(o, "revoked", revoked) &&
                                  protocol_add_i64(o, "total", (int64_t)total) &&
                                  cJSON_AddStringToObject(o, "message", message ? message : ""));
}
