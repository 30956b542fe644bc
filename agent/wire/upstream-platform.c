/* upstream-platform.c: a component's account endpoints (api_query_auth, api_get_authorizer_list): strict parsing of their answers (the requests: upstream-request.c, declared in upstream.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream-platform.h"

static int fail(struct upstream_result *res, long errcode, const char *msg) {
        res->errcode = errcode;
        snprintf(res->errmsg, sizeof(res->errmsg), "%s", msg);
        explicit_bzero(res->value, sizeof(res->value));
        res->value_len = 0;
        return -EPROTO;
}

int upstream_query_auth_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                              struct upstream_result *res, char appid[static PROTOCOL_AUTHORIZER_APPID_MAX + 1],
                              char refresh_token[static PROTOCOL_REFRESH_TOKEN_MAX + 1]) {
        cJSON *root = http_status == 200 && body ? cJSON_ParseWithLength(body, len) : NULL;
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(root, "authorization_info");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(info, "authorizer_appid");
        char *inner;
        int r;

        if (!res)
                return -EINVAL;
        memset(res, 0, sizeof(*res));
        appid[0] = refresh_token[0] = '\0';
        if (!cJSON_IsObject(info)) {
                cJSON_Delete(root);
                /* An errcode (61009, 61010), an HTTP error or no JSON: said as for api_authorizer_token. */
                r = upstream_authorizer_parse(http_status, body, len, pol, res, refresh_token,
                                              PROTOCOL_REFRESH_TOKEN_MAX + 1);
                explicit_bzero(refresh_token, PROTOCOL_REFRESH_TOKEN_MAX + 1);
                return r < 0 ? r : fail(res, UPSTREAM_ERR_BODY, "no authorization_info in the body");
        }
        if (!cJSON_IsString(id) || !id->valuestring || !wire_authorizer_appid_valid(id->valuestring)) {
                cJSON_Delete(root);
                return fail(res, UPSTREAM_ERR_BODY, "authorization_info has no valid authorizer_appid");
        }
        snprintf(appid, PROTOCOL_AUTHORIZER_APPID_MAX + 1, "%s", id->valuestring);
        /* The token and refresh token inside it are checked as api_authorizer_token's answer is. */
        inner = cJSON_PrintUnformatted(info);
        cJSON_Delete(root);
        if (!inner)
                return fail(res, UPSTREAM_ERR_BODY, "out of memory");
        r = upstream_authorizer_parse(200, inner, strlen(inner), pol, res, refresh_token,
                                      PROTOCOL_REFRESH_TOKEN_MAX + 1);
        explicit_bzero(inner, strlen(inner));
        free(inner);
        if (r == 0 && !refresh_token[0])
                r = fail(res, UPSTREAM_ERR_BODY, "authorization_info has no usable authorizer_refresh_token");
        if (r < 0)
                appid[0] = '\0';
        return r;
}

/* A refresh token goes back to WeChat as it is: printable ASCII without spaces, within the bound. */
static bool refresh_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > PROTOCOL_REFRESH_TOKEN_MAX)
                return false;
        for (; *s; s++)
                if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

static bool count_of(const cJSON *v, uint64_t *out) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0 ||
            v->valuedouble != (double)(uint64_t)v->valuedouble)
                return false;
        *out = (uint64_t)v->valuedouble;
        return true;
}

int upstream_authorizer_list_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                                   struct upstream_result *res, struct upstream_listed *out, size_t max, size_t *n,
                                   uint64_t *total) {
        cJSON *root = http_status == 200 && body ? cJSON_ParseWithLength(body, len) : NULL;
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "errcode");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "list"), *x;
        int r = 0;

        if (!res || !n || !total)
                return -EINVAL;
        memset(res, 0, sizeof(*res));
        *n = 0;
        *total = 0;
        if (!cJSON_IsObject(root) || (err && !(cJSON_IsNumber(err) && err->valuedouble == 0))) {
                cJSON_Delete(root);
                /* Not an answer with a list: the probe's parser says what it is (HTTP, errcode, body). */
                r = upstream_probe_parse(http_status, body, len, pol, res);
                return r < 0 ? r : fail(res, UPSTREAM_ERR_BODY, "no list in the body");
        }
        if (!count_of(cJSON_GetObjectItemCaseSensitive(root, "total_count"), total) || !cJSON_IsArray(list))
                r = fail(res, UPSTREAM_ERR_BODY, "no total_count or list in the body");
        cJSON_ArrayForEach(x, list) {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "authorizer_appid");
                const cJSON *rt = cJSON_GetObjectItemCaseSensitive(x, "refresh_token");

                if (r < 0)
                        break;
                if (*n >= max) {
                        r = fail(res, UPSTREAM_ERR_BODY, "more entries in the list than asked for");
                        break;
                }
                if (!cJSON_IsString(id) || !id->valuestring || !wire_authorizer_appid_valid(id->valuestring) ||
                    !cJSON_IsString(rt) || !rt->valuestring || !refresh_ok(rt->valuestring)) {
                        r = fail(res, UPSTREAM_ERR_BODY, "a list entry has no valid authorizer_appid or refresh_token");
                        break;
                }
                snprintf(out[*n].appid, sizeof(out[*n].appid), "%s", id->valuestring);
                snprintf(out[*n].refresh_token, sizeof(out[*n].refresh_token), "%s", rt->valuestring);
                (*n)++;
        }
        cJSON_ArrayForEach(x, list) {
                const cJSON *rt = cJSON_GetObjectItemCaseSensitive(x, "refresh_token");

                if (cJSON_IsString(rt) && rt->valuestring)
                        explicit_bzero(rt->valuestring, strlen(rt->valuestring));
        }
        cJSON_Delete(root);
        if (r < 0) {
                explicit_bzero(out, *n * sizeof(*out));
                *n = 0;
        }
        return r;
}
