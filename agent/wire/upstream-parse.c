/* upstream-parse.c: WeChat's token and ticket responses checked into a result, never a doubtful token published. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hex.h"
#include "redact.h"
#include "upstream.h"

/* Far above any token response (a few hundred bytes): beyond it, parsing is only a cost. */
#define PARSE_BODY_MAX (1024 * 1024)
/* WeChat's own codes are small; -1 is "system busy". Ours (UPSTREAM_ERR_*) are below -1. */
#define ERRCODE_MIN (-1)
#define ERRCODE_MAX INT32_MAX
/* expires_in is seconds (7200): any integer of up to 10 digits gets a message saying its value. */
#define EXPIRES_IN_MAX 9999999999.0

static int fail(struct upstream_result *res, long errcode, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct upstream_result *res, long errcode, const char *fmt, ...) {
        va_list ap;

        res->errcode = errcode;
        va_start(ap, fmt);
        vsnprintf(res->errmsg, sizeof(res->errmsg), fmt, ap);
        va_end(ap);
        return -EPROTO;
}

/*
 * WeChat's errmsg goes to logs and status as one line: control characters become
 * spaces, and a UTF-8 sequence cut by truncation is dropped rather than left broken.
 */
static void errmsg_copy(char *dst, size_t size, const char *src) {
        size_t n = 0, cut;

        for (; src[n] && n + 1 < size; n++) {
                unsigned char c = (unsigned char)src[n];

                dst[n] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
        }
        dst[n] = '\0';
        /* Only a continuation byte next means a character was cut. */
        if (((unsigned char)src[n] & 0xc0) != 0x80)
                return;
        cut = n;
        while (cut > 0 && ((unsigned char)dst[cut - 1] & 0xc0) == 0x80)
                cut--;
        if (cut > 0 && (unsigned char)dst[cut - 1] >= 0xc0)
                dst[cut - 1] = '\0';
}

/* An integral JSON number within [min, max]. */
static bool json_integer(const cJSON *v, double min, double max, int64_t *ret) {
        double d;

        if (!cJSON_IsNumber(v))
                return false;
        d = v->valuedouble;
        /* Range first: converting a double outside int64_t is undefined. */
        if (!isfinite(d) || d < min || d > max || (double)(int64_t)d != d)
                return false;
        *ret = (int64_t)d;
        return true;
}

/* A token goes into HTTP headers and URLs of business code: printable ASCII only, no space. */
static bool value_chars_ok(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
                        return false;
        }
        return true;
}

/*
 * cJSON turns \u0000, and a \u without four hex digits, into a terminator: the string
 * ends there, silently, and a token cut short would pass. Such escapes are refused first.
 */
static bool escapes_ok(const char *s) {
        for (const char *p = s; (p = strchr(p, '\\'));) {
                unsigned v = 0;

                if (p[1] != 'u') {
                        if (p[1] == '\0')
                                return false;
                        p += 2;
                        continue;
                }
                for (int i = 2; i < 6; i++) {
                        int h = hex_value(p[i]);

                        if (h < 0)
                                return false;
                        v = v * 16 + (unsigned)h;
                }
                if (v == 0)
                        return false;
                p += 6;
        }
        return true;
}

/* The body as a JSON object, or NULL with res saying why. */
static cJSON *body_parse(const char *body, size_t len, struct upstream_result *res) {
        const char *end = NULL;
        cJSON *root;
        char *copy;

        if (!body || len == 0) {
                fail(res, UPSTREAM_ERR_BODY, "empty body");
                return NULL;
        }
        if (len > PARSE_BODY_MAX) {
                fail(res, UPSTREAM_ERR_BODY, "body of %zu bytes is too large", len);
                return NULL;
        }
        if (memchr(body, '\0', len)) {
                fail(res, UPSTREAM_ERR_BODY, "body holds a NUL byte");
                return NULL;
        }
        /* A terminated copy: the parser cannot run past len whatever the body holds. */
        copy = malloc(len + 1);
        if (!copy) {
                fail(res, UPSTREAM_ERR_BODY, "out of memory for the body");
                return NULL;
        }
        memcpy(copy, body, len);
        copy[len] = '\0';
        root = escapes_ok(copy) ? cJSON_ParseWithLengthOpts(copy, len, &end, false) : NULL;
        if (root && end) {
                end += strspn(end, " \t\r\n");
                if (*end != '\0') {
                        cJSON_Delete(root);
                        root = NULL;
                }
        }
        explicit_bzero(copy, len);
        free(copy);
        if (!root) {
                fail(res, UPSTREAM_ERR_BODY, "body is not JSON");
                return NULL;
        }
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                fail(res, UPSTREAM_ERR_BODY, "body is not a JSON object");
                return NULL;
        }
        return root;
}

/* WeChat's errcode, if the body carries one: 0 to go on, else -EPROTO with res set. */
static int errcode_check(const cJSON *root, const struct upstream_policy *pol, struct upstream_result *res) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "errcode");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "errmsg");
        int64_t e;

        /* token and stable answer success without errcode; work and tickets with errcode 0. */
        if (!code)
                return 0;
        /* Our own codes (< -1) coming from upstream would lie about where the failure was. */
        if (!json_integer(code, ERRCODE_MIN, ERRCODE_MAX, &e))
                return fail(res, UPSTREAM_ERR_BODY, "errcode is not a WeChat error code");
        if (e == 0)
                return 0;
        res->errcode = (long)e;
        /*
         * Redacted whole, then cut: cut first, a secret echoed across the cut would leave
         * its prefix behind, where no search for the whole secret finds it.
         */
        if (cJSON_IsString(msg) && msg->valuestring) {
                redact_secret_forms(msg->valuestring, pol ? pol->secret : NULL);
                errmsg_copy(res->errmsg, sizeof(res->errmsg), msg->valuestring);
        }
        else
                snprintf(res->errmsg, sizeof(res->errmsg), "errcode %ld without errmsg", res->errcode);
        return -EPROTO;
}

static int value_check(const cJSON *root, const char *field, const struct upstream_policy *pol,
                       struct upstream_result *res) {
        int64_t min = pol && pol->min_lifetime_s > 0 ? pol->min_lifetime_s : UPSTREAM_LIFETIME_MIN_DEFAULT;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
        size_t n;
        int64_t s;

        if (!cJSON_IsString(v) || !v->valuestring)
                return fail(res, UPSTREAM_ERR_BODY, "no %s in the body", field);
        n = strlen(v->valuestring);
        if (n == 0)
                return fail(res, UPSTREAM_ERR_BODY, "%s is empty", field);
        if (n > UPSTREAM_TOKEN_MAX)
                return fail(res, UPSTREAM_ERR_BODY, "%s of %zu bytes is longer than %d", field, n,
                            UPSTREAM_TOKEN_MAX);
        if (!value_chars_ok(v->valuestring, n))
                return fail(res, UPSTREAM_ERR_BODY, "%s has a character outside printable ASCII", field);
        if (!json_integer(exp, -EXPIRES_IN_MAX, EXPIRES_IN_MAX, &s))
                return fail(res, UPSTREAM_ERR_BODY, "expires_in is missing or not an integer of at most 10 digits");
        /*
         * A lifetime of 1 s would cost a call per backoff_min forever; one of 2^31-1 s would
         * keep a dead token published for decades. Neither is believed.
         */
        if (s < min || s > UPSTREAM_LIFETIME_MAX)
                return fail(res, UPSTREAM_ERR_LIFETIME, "expires_in %lld s is outside %lld..%d s (min_token_lifetime): "
                            "not believed", (long long)s, (long long)min, UPSTREAM_LIFETIME_MAX);
        memcpy(res->value, v->valuestring, n);
        res->value[n] = '\0';
        res->value_len = n;
        res->expires_in_s = s;
        res->errcode = 0;
        snprintf(res->errmsg, sizeof(res->errmsg), "ok");
        return 0;
}

/*
 * What every response shares: HTTP 200, a JSON object, no errcode. 0 with *root set, or
 * -EPROTO with res saying why (*root may still be set, for the caller to wipe and free).
 */
static int response_open(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                         struct upstream_result *res, cJSON **root) {
        memset(res, 0, sizeof(*res));
        *root = NULL;
        /* WeChat answers its errors with 200: any other status is a proxy or an outage. */
        if (http_status != 200)
                return fail(res, UPSTREAM_ERR_HTTP, "HTTP status %ld", http_status);
        *root = body_parse(body, len, res);
        if (!*root)
                return -EPROTO;
        return errcode_check(*root, pol, res);
}

static int response_parse(const char *field, long http_status, const char *body, size_t len,
                          const struct upstream_policy *pol, struct upstream_result *res) {
        cJSON *root, *v;
        int r;

        if (!res)
                return -EINVAL;
        r = response_open(http_status, body, len, pol, res, &root);
        if (r == 0)
                r = value_check(root, field, pol, res);
        /* The parser's copy of the token goes back to the heap wiped. */
        v = cJSON_GetObjectItemCaseSensitive(root, field);
        if (cJSON_IsString(v) && v->valuestring)
                explicit_bzero(v->valuestring, strlen(v->valuestring));
        cJSON_Delete(root);
        return r;
}

int upstream_token_parse(enum app_kind kind, long http_status, const char *body, size_t len,
                         const struct upstream_policy *pol, struct upstream_result *res) {
        /* Open Platform names its token apart; the rest of the answer is the same shape. */
        return response_parse(kind == APP_KIND_COMPONENT ? "component_access_token" :
                              kind == APP_KIND_SUITE ? "suite_access_token" :
                              kind == APP_KIND_PROVIDER ? "provider_access_token" : "access_token", http_status,
                              body, len, pol, res);
}

int upstream_ticket_parse(enum app_kind kind, long http_status, const char *body, size_t len,
                          const struct upstream_policy *pol, struct upstream_result *res) {
        return response_parse("ticket", http_status, body, len, pol, res);
}

int upstream_probe_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                         struct upstream_result *res) {
        cJSON *root;
        int r;

        if (!res)
                return -EINVAL;
        r = response_open(http_status, body, len, pol, res, &root);
        if (r == 0 && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "ip_list")))
                r = fail(res, UPSTREAM_ERR_BODY, "no ip_list in the body");
        cJSON_Delete(root);
        return r;
}

int upstream_authorizer_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                              struct upstream_result *res, char *refresh_token, size_t refresh_size) {
        cJSON *root, *v, *rt;
        size_t n;
        int r;

        if (!res || !refresh_token || refresh_size == 0)
                return -EINVAL;
        refresh_token[0] = '\0';
        r = response_open(http_status, body, len, pol, res, &root);
        if (r == 0)
                r = value_check(root, "authorizer_access_token", pol, res);
        rt = cJSON_GetObjectItemCaseSensitive(root, "authorizer_refresh_token");
        /* The refresh token that comes back is kept only if it could go back to WeChat as it is. */
        if (r == 0 && cJSON_IsString(rt) && rt->valuestring && (n = strlen(rt->valuestring)) > 0 &&
            n < refresh_size && value_chars_ok(rt->valuestring, n))
                memcpy(refresh_token, rt->valuestring, n + 1);
        v = cJSON_GetObjectItemCaseSensitive(root, "authorizer_access_token");
        if (cJSON_IsString(v) && v->valuestring)
                explicit_bzero(v->valuestring, strlen(v->valuestring));
        if (cJSON_IsString(rt) && rt->valuestring)
                explicit_bzero(rt->valuestring, strlen(rt->valuestring));
        cJSON_Delete(root);
        return r;
}

/* A string field of o copied into buf if it could go back to WeCom as it is (printable, fits); else "". */
static void usable_copy(const cJSON *v, char *buf, size_t size) {
        size_t n;

        buf[0] = '\0';
        if (cJSON_IsString(v) && v->valuestring && (n = strlen(v->valuestring)) > 0 && n < size &&
            value_chars_ok(v->valuestring, n))
                memcpy(buf, v->valuestring, n + 1);
}

int upstream_permanent_code_parse(long http_status, const char *body, size_t len, const struct upstream_policy *pol,
                                  struct upstream_result *res, char *permanent_code, size_t code_size, char *corpid,
                                  size_t corpid_size) {
        cJSON *root, *v, *pc;
        int r;

        if (!res || !permanent_code || code_size == 0 || !corpid || corpid_size == 0)
                return -EINVAL;
        permanent_code[0] = corpid[0] = '\0';
        r = response_open(http_status, body, len, pol, res, &root);
        if (r == 0)
                r = value_check(root, "access_token", pol, res);
        pc = cJSON_GetObjectItemCaseSensitive(root, "permanent_code");
        if (r == 0) {
                usable_copy(pc, permanent_code, code_size);
                usable_copy(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "auth_corp_info"),
                                                             "corpid"), corpid, corpid_size);
                if (!permanent_code[0] || !corpid[0]) {
                        explicit_bzero(res->value, sizeof(res->value));
                        res->value_len = 0;
                        explicit_bzero(permanent_code, code_size);
                        permanent_code[0] = '\0';
                        r = fail(res, UPSTREAM_ERR_BODY, "no usable permanent_code or auth_corp_info.corpid in the body");
                }
        }
        v = cJSON_GetObjectItemCaseSensitive(root, "access_token");
        if (cJSON_IsString(v) && v->valuestring)
                explicit_bzero(v->valuestring, strlen(v->valuestring));
        if (cJSON_IsString(pc) && pc->valuestring)
                explicit_bzero(pc->valuestring, strlen(pc->valuestring));
        cJSON_Delete(root);
        return r;
}
