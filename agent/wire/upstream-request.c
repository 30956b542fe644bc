/* upstream-request.c: the HTTP requests for WeChat's token and ticket endpoints, built without touching the network. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "redact.h"
#include "upstream.h"

const char *ticket_type_name(enum ticket_type type) {
        switch (type) {
        case TICKET_JSAPI:
                return "jsapi";
        case TICKET_WX_CARD:
                return "wx_card";
        case TICKET_AGENT_CONFIG:
                return "agent_config";
        }
        return "unknown";
}

void upstream_request_clear(struct upstream_request *req) {
        if (!req)
                return;
        if (req->body) {
                explicit_bzero(req->body, strlen(req->body));
                free(req->body);
                req->body = NULL;
        }
        explicit_bzero(req->url, sizeof(req->url));
        explicit_bzero(req->redacted_url, sizeof(req->redacted_url));
}

static bool field_ok(const char *s) {
        return s && s[0] != '\0';
}

/*
 * api_base is pasted in front of a path and a query: a '?', '#' or a control character
 * in it would move the secret somewhere redact_url does not look.
 */
static bool base_ok(const char *base) {
        if (!field_ok(base))
                return false;
        for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
                if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#')
                        return false;
        }
        return true;
}

/* URL-encoded copy of s (curl_free it, wiping first if it was a secret), or NULL. */
static char *escape(const char *s) {
        return curl_easy_escape(NULL, s, 0);
}

static void escaped_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        curl_free(s);
}

/* Print the URL into req; -EINVAL if it does not fit. */
static int url_set(struct upstream_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int url_set(struct upstream_request *req, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(req->url, sizeof(req->url), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(req->url))
                return -EINVAL;
        redact_url(req->redacted_url, sizeof(req->redacted_url), req->url);
        return 0;
}


/* o printed into a buffer of size bytes of its own (*ret): no realloc leaves a copy of a secret behind. */
static int print_wiped(cJSON *o, size_t size, char **ret) {
        char *buf = malloc(size);

        if (!buf)
                return -ENOMEM;
        if (!cJSON_PrintPreallocated(o, buf, (int)size, false)) {
                explicit_bzero(buf, size);
                free(buf);
                return -EINVAL;
        }
        *ret = buf;
        return 0;
}

/* The request object freed, its secret's bytes zeroed first. */
static void wipe_free(cJSON *o, cJSON *secret) {
        if (secret && secret->valuestring)
                explicit_bzero(secret->valuestring, strlen(secret->valuestring));
        cJSON_Delete(o);
}
/*
 * The stable_token body. Printed into a buffer sized for the worst case so cJSON never
 * reallocs: a realloc would leave a copy of the secret in freed memory.
 */
static int stable_body(const struct app_config *app, bool force, char **ret) {
        size_t size = 128 + 6 * (strlen(app->appid) + strlen(app->secret));
        cJSON *o = cJSON_CreateObject();
        cJSON *secret = NULL;
        int r = -ENOMEM;

        if (!o)
                return -ENOMEM;
        if (!cJSON_AddStringToObject(o, "grant_type", "client_credential") ||
            !cJSON_AddStringToObject(o, "appid", app->appid) ||
            !(secret = cJSON_AddStringToObject(o, "secret", app->secret)) ||
            !cJSON_AddBoolToObject(o, "force_refresh", force))
                goto out;
        r = print_wiped(o, size, ret);
out:
        wipe_free(o, secret);
        return r;
}

/*
 * The body of a platform's own token (api_component_token, get_suite_token,
 * get_provider_token): its id, its secret and, but for the provider, the ticket pushed to
 * the platform, under the field names of its kind. Preallocated, as stable_body, so no
 * copy of the secret is left in freed memory.
 */
static int platform_body(const struct app_config *app, const char *verify_ticket, char **ret) {
        static const char *const fields[][3] = {
                [APP_KIND_COMPONENT] = { "component_appid", "component_appsecret", "component_verify_ticket" },
                [APP_KIND_SUITE] = { "suite_id", "suite_secret", "suite_ticket" },
                [APP_KIND_PROVIDER] = { "corpid", "provider_secret", NULL },
        };
        const char *const *f = fields[app->kind];
        size_t size = 160 + 6 * (strlen(app->appid) + strlen(app->secret) + (verify_ticket ? strlen(verify_ticket) : 0));
        cJSON *o = cJSON_CreateObject();
        cJSON *secret = NULL;
        int r = -ENOMEM;

        if (!o)
                return -ENOMEM;
        if (!cJSON_AddStringToObject(o, f[0], app->appid) || !(secret = cJSON_AddStringToObject(o, f[1], app->secret)) ||
            (f[2] && !cJSON_AddStringToObject(o, f[2], verify_ticket)))
                goto out;
        r = print_wiped(o, size, ret);
out:
        wipe_free(o, secret);
        return r;
}

/* The GET query carrying a credential: "<base><path>?<id_name>=<id>&<secret_name>=<secret>". */
static int query_request(struct upstream_request *req, const char *base, const char *path, const char *extra,
                         const char *id_name, const char *id, const char *secret_name, const char *secret) {
        char *e_id = escape(id), *e_secret = escape(secret);
        int r = -ENOMEM;

        if (e_id && e_secret)
                r = url_set(req, "%s%s?%s%s=%s&%s=%s", base, path, extra, id_name, e_id, secret_name, e_secret);
        escaped_free(e_id);
        escaped_free(e_secret);
        return r;
}

static int token_build(const struct app_config *app, const char *base, bool force, struct upstream_request *req) {
        switch (app->kind) {
        case APP_KIND_TOKEN:
                return query_request(req, base, "/cgi-bin/token", "grant_type=client_credential&", "appid",
                                     app->appid, "secret", app->secret);
        case APP_KIND_WORK:
                return query_request(req, base, "/cgi-bin/gettoken", "", "corpid", app->appid, "corpsecret",
                                     app->secret);
        case APP_KIND_STABLE: {
                int r = url_set(req, "%s/cgi-bin/stable_token", base);

                return r < 0 ? r : stable_body(app, force, &req->body);
        }
        case APP_KIND_COMPONENT:
        case APP_KIND_SUITE:
                return -EINVAL; /* the ticket is needed: upstream_component_request */
        case APP_KIND_PROVIDER: {
                int r = url_set(req, "%s/cgi-bin/service/get_provider_token", base);

                return r < 0 ? r : platform_body(app, NULL, &req->body);
        }
        }
        return -EINVAL;
}

int upstream_token_request(const struct app_config *app, const char *api_base, bool force,
                           struct upstream_request *req) {
        struct upstream_request tmp = { .body = NULL };
        int r;

        if (!app || !req || !field_ok(app->appid) || !field_ok(app->secret) || !base_ok(api_base))
                return -EINVAL;
        /* Built aside: on failure req is untouched, and no half-written secret is left in it. */
        r = token_build(app, api_base, force, &tmp);
        if (r == 0)
                *req = tmp;
        else
                upstream_request_clear(&tmp);
        explicit_bzero(&tmp, sizeof(tmp));
        return r;
}

int upstream_component_request(const struct app_config *app, const char *api_base, const char *verify_ticket,
                               struct upstream_request *req) {
        struct upstream_request tmp = { .body = NULL };
        int r;

        if (!app || !req || !app_kind_platform(app->kind) || !field_ok(app->appid) || !field_ok(app->secret) ||
            !field_ok(verify_ticket) || !base_ok(api_base))
                return -EINVAL;
        r = url_set(&tmp, app->kind == APP_KIND_SUITE ? "%s/cgi-bin/service/get_suite_token" :
                                                        "%s/cgi-bin/component/api_component_token", api_base);
        if (r == 0)
                r = platform_body(app, verify_ticket, &tmp.body);
        if (r == 0)
                *req = tmp;
        else
                upstream_request_clear(&tmp);
        explicit_bzero(&tmp, sizeof(tmp));
        return r;
}

/*
 * A GET that carries the access token in its query: path and extra ("&type=jsapi" or "")
 * around it. The token is a bearer credential for two hours: it stays out of logs too.
 */
static int token_query_request(const char *api_base, const char *path, const char *access_token, const char *extra,
                               struct upstream_request *req) {
        struct upstream_request tmp = { .body = NULL };
        char *e_token;
        int r;

        if (!req || !field_ok(access_token) || !base_ok(api_base))
                return -EINVAL;
        e_token = escape(access_token);
        if (!e_token)
                return -ENOMEM;
        r = url_set(&tmp, "%s%s?access_token=%s%s", api_base, path, e_token, extra);
        if (r == 0)
                redact_secret(tmp.redacted_url, e_token);
        escaped_free(e_token);
        if (r == 0)
                *req = tmp;
        explicit_bzero(&tmp, sizeof(tmp));
        return r;
}

int upstream_ticket_request(enum app_kind kind, const char *api_base, const char *access_token,
                            enum ticket_type type, struct upstream_request *req) {
        char extra[32];

        if (type != TICKET_JSAPI && type != TICKET_WX_CARD && type != TICKET_AGENT_CONFIG)
                return -EINVAL;
        /*
         * WeCom has the corp's jsapi ticket (wx.config) and the app's ticket for
         * wx.agentConfig, fetched with the same access token; no card ticket.
         */
        if (kind == APP_KIND_WORK && type == TICKET_JSAPI)
                return token_query_request(api_base, "/cgi-bin/get_jsapi_ticket", access_token, "", req);
        if (kind == APP_KIND_WORK && type == TICKET_AGENT_CONFIG)
                return token_query_request(api_base, "/cgi-bin/ticket/get", access_token, "&type=agent_config", req);
        if (kind == APP_KIND_WORK || type == TICKET_AGENT_CONFIG)
                return -EINVAL;
        snprintf(extra, sizeof(extra), "&type=%s", ticket_type_name(type));
        return token_query_request(api_base, "/cgi-bin/ticket/getticket", access_token, extra, req);
}

int upstream_probe_request(const char *api_base, const char *access_token, struct upstream_request *req) {
        /* The cheapest authenticated call there is: it only lists WeChat's callback IPs. */
        return token_query_request(api_base, "/cgi-bin/getcallbackip", access_token, "", req);
}

/*
 * An account's call under a platform: names[i] = values[i] for i < n, the last being the
 * account's one credential (the refresh token, permanent code or auth code: the body is
 * wiped with the request). Preallocated, so cJSON leaves no copy of it in freed memory.
 */
static int account_body(const char *const *names, const char *const *values, size_t n, char **ret) {
        size_t size = 160;
        cJSON *o = cJSON_CreateObject();
        cJSON *cred = NULL;
        char *buf = NULL;
        int r = -ENOMEM;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size += 6 * strlen(values[i]) + strlen(names[i]) + 8;
                if (!(cred = cJSON_AddStringToObject(o, names[i], values[i])))
                        goto out;
        }
        buf = malloc(size);
        if (!buf)
                goto out;
        if (!cJSON_PrintPreallocated(o, buf, (int)size, false)) {
                explicit_bzero(buf, size);
                free(buf);
                r = -EINVAL;
                goto out;
        }
        *ret = buf;
        r = 0;
out:
        if (cred && cred->valuestring)
                explicit_bzero(cred->valuestring, strlen(cred->valuestring));
        cJSON_Delete(o);
        return r;
}

/* POST path?token_name=platform_token with the account's body; the platform's token redacted from the log's URL. */
static int account_request(const char *api_base, const char *path, const char *token_name, const char *platform_token,
                           const char *const *names, const char *const *values, size_t n,
                           struct upstream_request *req) {
        struct upstream_request tmp = { .body = NULL };
        char *e_token;
        int r;

        if (!req || !field_ok(platform_token) || !base_ok(api_base))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!field_ok(values[i]))
                        return -EINVAL;
        e_token = escape(platform_token);
        if (!e_token)
                return -ENOMEM;
        r = url_set(&tmp, "%s%s?%s=%s", api_base, path, token_name, e_token);
        if (r == 0)
                redact_secret(tmp.redacted_url, e_token);
        escaped_free(e_token);
        if (r == 0)
                r = account_body(names, values, n, &tmp.body);
        if (r == 0)
                *req = tmp;
        else
                upstream_request_clear(&tmp);
        explicit_bzero(&tmp, sizeof(tmp));
        return r;
}

int upstream_authorizer_request(const char *api_base, const char *component_appid, const char *component_token,
                                const char *appid, const char *refresh_token, struct upstream_request *req) {
        static const char *const names[] = { "component_appid", "authorizer_appid", "authorizer_refresh_token" };
        const char *values[] = { component_appid, appid, refresh_token };

        return account_request(api_base, "/cgi-bin/component/api_authorizer_token", "component_access_token",
                               component_token, names, values, 3, req);
}

int upstream_corp_request(const char *api_base, const char *suite_token, const char *corpid,
                          const char *permanent_code, struct upstream_request *req) {
        static const char *const names[] = { "auth_corpid", "permanent_code" };
        const char *values[] = { corpid, permanent_code };

        return account_request(api_base, "/cgi-bin/service/get_corp_token", "suite_access_token", suite_token, names,
                               values, 2, req);
}

int upstream_permanent_code_request(const char *api_base, const char *suite_token, const char *auth_code,
                                    struct upstream_request *req) {
        static const char *const names[] = { "auth_code" };
        const char *values[] = { auth_code };

        return account_request(api_base, "/cgi-bin/service/get_permanent_code", "suite_access_token", suite_token,
                               names, values, 1, req);
}

int upstream_component_post(const char *api_base, const char *path, const char *component_token, char *body,
                            struct upstream_request *req) {
        struct upstream_request tmp = { .body = NULL };
        char *e_token;
        int r;

        if (!req || !body || !field_ok(component_token) || !base_ok(api_base)) {
                if (body)
                        explicit_bzero(body, strlen(body));
                free(body);
                return -EINVAL;
        }
        tmp.body = body;
        e_token = escape(component_token);
        r = e_token ? url_set(&tmp, "%s%s?component_access_token=%s", api_base, path, e_token) : -ENOMEM;
        if (r == 0)
                redact_secret(tmp.redacted_url, e_token);
        escaped_free(e_token);
        if (r == 0)
                *req = tmp;
        else
                upstream_request_clear(&tmp);
        explicit_bzero(&tmp, sizeof(tmp));
        return r;
}

/* The component's account endpoints (upstream-platform.h): the bodies, the component's token in the query. */
/* A body of small fields, printed into a buffer of its own, so the code's bytes can be wiped with it. */
static char *body_of(cJSON *o) {
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;

        cJSON_Delete(o);
        return s;
}

int upstream_query_auth_request(const char *api_base, const char *component_appid, const char *component_token,
                                const char *auth_code, struct upstream_request *req) {
        cJSON *o = cJSON_CreateObject();
        cJSON *code = NULL;
        char *body;

        if (!component_appid || !auth_code || !component_appid[0] || !auth_code[0]) {
                cJSON_Delete(o);
                return -EINVAL;
        }
        if (!o || !cJSON_AddStringToObject(o, "component_appid", component_appid) ||
            !(code = cJSON_AddStringToObject(o, "authorization_code", auth_code))) {
                cJSON_Delete(o);
                return -ENOMEM;
        }
        body = cJSON_PrintUnformatted(o);
        /* The code is good once, for an hour: still a credential while it lives. */
        explicit_bzero(code->valuestring, strlen(code->valuestring));
        cJSON_Delete(o);
        if (!body)
                return -ENOMEM;
        return upstream_component_post(api_base, "/cgi-bin/component/api_query_auth", component_token, body, req);
}

int upstream_authorizer_list_request(const char *api_base, const char *component_appid, const char *component_token,
                                     uint64_t offset, unsigned count, struct upstream_request *req) {
        cJSON *o = cJSON_CreateObject();
        char *body;

        if (!component_appid || !component_appid[0] || count == 0 || count > UPSTREAM_AUTHORIZER_PAGE) {
                cJSON_Delete(o);
                return -EINVAL;
        }
        if (!o || !cJSON_AddStringToObject(o, "component_appid", component_appid) ||
            !cJSON_AddNumberToObject(o, "offset", (double)offset) || !cJSON_AddNumberToObject(o, "count", count)) {
                cJSON_Delete(o);
                return -ENOMEM;
        }
        body = body_of(o);
        if (!body)
                return -ENOMEM;
        return upstream_component_post(api_base, "/cgi-bin/component/api_get_authorizer_list", component_token, body,
                                       req);
}
