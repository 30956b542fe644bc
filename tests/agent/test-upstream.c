/* test-upstream.c: requests built for each kind and ticket, and every response shape parsed or refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "redact.h"
#include "test-util.h"
#include "upstream.h"

#define SECRET "Zq9x&SECRET=va lue/+%\"\\42"
#define SECRET_ESC "Zq9x%26SECRET%3Dva%20lue%2F%2B%25%22%5C42"
#define BASE "https://api.weixin.qq.com"
#define OK_TOKEN "{\"access_token\":\"ACCESS_TOKEN\",\"expires_in\":7200}"

static struct app_config app_of(enum app_kind kind) {
        return (struct app_config){ .name = "shop", .kind = kind, .appid = "wx1234", .secret = SECRET };
}

static void check_no_secret(const struct upstream_request *req) {
        CHECK(strstr(req->redacted_url, "Zq9x") == NULL && strstr(req->redacted_url, "SECRET") == NULL);
}

static void test_token_requests(void) {
        struct app_config app = app_of(APP_KIND_TOKEN);
        struct upstream_request req = { .body = NULL };
        cJSON *o;

        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/token?grant_type=client_credential&appid=wx1234&secret=" SECRET_ESC) == 0);
        CHECK(strcmp(req.redacted_url, BASE "/cgi-bin/token?grant_type=client_credential&appid=wx1234&secret=***") == 0);
        CHECK(req.body == NULL);
        upstream_request_clear(&req);
        CHECK_EQ(req.url[0], 0);

        app = app_of(APP_KIND_WORK);
        CHECK_EQ(upstream_token_request(&app, "https://qyapi.weixin.qq.com", true, &req), 0);
        CHECK(strcmp(req.url, "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=wx1234&corpsecret=" SECRET_ESC) == 0);
        CHECK(strcmp(req.redacted_url, "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=wx1234&corpsecret=***") == 0);
        CHECK(req.body == NULL);
        upstream_request_clear(&req);

        app = app_of(APP_KIND_STABLE);
        for (int force = 0; force < 2; force++) {
                CHECK_EQ(upstream_token_request(&app, BASE, force, &req), 0);
                CHECK(strcmp(req.url, BASE "/cgi-bin/stable_token") == 0);
                CHECK(strcmp(req.redacted_url, req.url) == 0);
                CHECK(req.body != NULL);
                o = cJSON_Parse(req.body);
                CHECK(o != NULL);
                CHECK(strcmp(cJSON_GetObjectItem(o, "grant_type")->valuestring, "client_credential") == 0);
                CHECK(strcmp(cJSON_GetObjectItem(o, "appid")->valuestring, "wx1234") == 0);
                CHECK(strcmp(cJSON_GetObjectItem(o, "secret")->valuestring, SECRET) == 0);
                CHECK(force ? cJSON_IsTrue(cJSON_GetObjectItem(o, "force_refresh"))
                            : cJSON_IsFalse(cJSON_GetObjectItem(o, "force_refresh")));
                cJSON_Delete(o);
                upstream_request_clear(&req);
                CHECK(req.body == NULL);
                upstream_request_clear(&req);
        }
}

static void test_token_request_refusals(void) {
        struct app_config app = app_of(APP_KIND_TOKEN);
        struct upstream_request req;
        const char *bases[] = { NULL, "", "http://h/?secret=x", "http://h#", "http://h /x", "http://h\n" };
        char *long_secret = malloc(UPSTREAM_URL_MAX + 1000); /* no URL holds it */

        SETUP_OK(long_secret);
        /* Refused requests leave req as it was. */
        memset(&req, 'Q', sizeof(req));
        for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
                CHECK_EQ(upstream_token_request(&app, bases[i], false, &req), -EINVAL);
        CHECK_EQ(upstream_token_request(NULL, BASE, false, &req), -EINVAL);
        CHECK_EQ(upstream_token_request(&app, BASE, false, NULL), -EINVAL);
        app.appid = "";
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), -EINVAL);
        app = app_of(APP_KIND_WORK);
        app.secret = NULL;
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), -EINVAL);
        app.kind = (enum app_kind)7;
        app.secret = SECRET;
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), -EINVAL);
        memset(long_secret, 'S', UPSTREAM_URL_MAX + 999);
        long_secret[UPSTREAM_URL_MAX + 999] = '\0';
        app = app_of(APP_KIND_TOKEN);
        app.secret = long_secret;
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), -EINVAL);
        for (size_t i = 0; i < sizeof(req.url); i++)
                CHECK_EQ(req.url[i], 'Q');
        /* stable carries the secret in the body, which has no slot limit. */
        app.kind = APP_KIND_STABLE;
        memset(&req, 0, sizeof(req));
        CHECK_EQ(upstream_token_request(&app, BASE, true, &req), 0);
        CHECK(strstr(req.body, long_secret) != NULL);
        upstream_request_clear(&req);
        free(long_secret);
}

static void test_ticket_requests(void) {
        struct upstream_request req = { .body = NULL };
        const char *tok = "TOKEN&x=1+2/SECRET";

        for (enum app_kind k = APP_KIND_TOKEN; k <= APP_KIND_STABLE; k++) {
                CHECK_EQ(upstream_ticket_request(k, BASE, "ACCESS_TOKEN_1", TICKET_JSAPI, &req), 0);
                CHECK(strcmp(req.url, BASE "/cgi-bin/ticket/getticket?access_token=ACCESS_TOKEN_1&type=jsapi") == 0);
                CHECK(strstr(req.redacted_url, "ACCESS_TOKEN_1") == NULL && strstr(req.redacted_url, "type=jsapi"));
                CHECK(req.body == NULL);
                CHECK_EQ(upstream_ticket_request(k, BASE, "ACCESS_TOKEN_1", TICKET_WX_CARD, &req), 0);
                CHECK(strcmp(req.url, BASE "/cgi-bin/ticket/getticket?access_token=ACCESS_TOKEN_1&type=wx_card") == 0);
                upstream_request_clear(&req);
        }
        CHECK_EQ(upstream_ticket_request(APP_KIND_WORK, "https://q", tok, TICKET_JSAPI, &req), 0);
        CHECK(strcmp(req.url, "https://q/cgi-bin/get_jsapi_ticket?access_token=TOKEN%26x%3D1%2B2%2FSECRET") == 0);
        CHECK(strcmp(req.redacted_url, "https://q/cgi-bin/get_jsapi_ticket?access_token=***") == 0);
        upstream_request_clear(&req);
        memset(&req, 0, sizeof(req));
        CHECK_EQ(upstream_ticket_request(APP_KIND_WORK, "https://q", tok, TICKET_AGENT_CONFIG, &req), 0);
        CHECK(strcmp(req.url, "https://q/cgi-bin/ticket/get?access_token=TOKEN%26x%3D1%2B2%2FSECRET&type=agent_config") == 0);
        CHECK(strcmp(req.redacted_url, "https://q/cgi-bin/ticket/get?access_token=***&type=agent_config") == 0);
        upstream_request_clear(&req);
        memset(&req, 0, sizeof(req));
        {
                /* A token as long as a segment holds still makes its tickets' requests (and the probe's). */
                char big[UPSTREAM_TOKEN_MAX + 1];

                memset(big, 'A', UPSTREAM_TOKEN_MAX);
                big[UPSTREAM_TOKEN_MAX] = '\0';
                CHECK_EQ(upstream_ticket_request(APP_KIND_WORK, BASE, big, TICKET_AGENT_CONFIG, &req), 0);
                CHECK(strstr(req.url, big) && !strstr(req.redacted_url, "AAAA"));
                upstream_request_clear(&req);
                CHECK_EQ(upstream_probe_request(BASE, big, &req), 0);
                upstream_request_clear(&req);
                memset(&req, 0, sizeof(req));
        }
        CHECK_EQ(upstream_ticket_request(APP_KIND_WORK, BASE, "T", TICKET_WX_CARD, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_TOKEN, BASE, "T", TICKET_AGENT_CONFIG, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_STABLE, BASE, "T", TICKET_AGENT_CONFIG, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_TOKEN, BASE, "T", 0, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_TOKEN, BASE, "T", TICKET_JSAPI | TICKET_WX_CARD, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_TOKEN, BASE, "", TICKET_JSAPI, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_TOKEN, BASE, NULL, TICKET_JSAPI, &req), -EINVAL);
        CHECK_EQ(upstream_ticket_request(APP_KIND_TOKEN, "", "T", TICKET_JSAPI, &req), -EINVAL);
        CHECK_EQ(req.url[0], 0);
        CHECK(strcmp(ticket_type_name(TICKET_JSAPI), "jsapi") == 0);
        CHECK(strcmp(ticket_type_name(TICKET_WX_CARD), "wx_card") == 0);
        CHECK(strcmp(ticket_type_name(TICKET_AGENT_CONFIG), "agent_config") == 0);
        CHECK(ticket_type_name(0) != NULL);
        upstream_request_clear(NULL);
}

/* Short lifetimes as the emulator's tests use them; the default bounds have a test of their own. */
static struct upstream_policy test_policy = { .min_lifetime_s = 1 };

/*
 * Parse s[0..len) from an exact-size copy (ASan catches any read past len), and again
 * with garbage after len that would change the verdict if it were read.
 */
static int parse_len(bool ticket, enum app_kind kind, long status, const char *s, size_t len,
                     struct upstream_result *res) {
        char *exact = malloc(len ? len : 1), *padded = malloc(len + 8);
        struct upstream_result again;
        int r, r2;

        SETUP_OK(exact && padded);
        memcpy(exact, s, len);
        memcpy(padded, s, len);
        memcpy(padded + len, "}\"x\0{[1,", 8);
        r = (ticket ? upstream_ticket_parse : upstream_token_parse)(kind, status, exact, len, &test_policy, res);
        r2 = (ticket ? upstream_ticket_parse : upstream_token_parse)(kind, status, padded, len, &test_policy, &again);
        CHECK_EQ(r, r2);
        CHECK(memcmp(res, &again, sizeof(again)) == 0);
        free(exact);
        free(padded);
        /* Never a token on failure; always a bounded errmsg. */
        REQUIRE(memchr(res->errmsg, '\0', sizeof(res->errmsg)) != NULL);
        if (r != 0) {
                CHECK_EQ(r, -EPROTO);
                CHECK(res->errcode != 0);
                CHECK_EQ(res->value_len, 0);
                CHECK_EQ(res->value[0], 0);
                CHECK_EQ(res->expires_in_s, 0);
        } else {
                CHECK_EQ(res->errcode, 0);
                CHECK(res->expires_in_s > 0);
                CHECK_EQ(strlen(res->value), res->value_len);
        }
        return r;
}

static long parse_code(bool ticket, enum app_kind kind, long status, const char *s) {
        struct upstream_result res;

        return parse_len(ticket, kind, status, s, strlen(s), &res) == 0 ? 0 : res.errcode;
}

static void test_parse_success(void) {
        struct upstream_result res;
        const char *work = "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"W-TOK_1\",\"expires_in\":7200}";
        const char *esc, *ticket = "{\"errcode\":0,\"errmsg\":\"ok\",\"ticket\":\"bxLdikRXVbTPdHSM05e5u5sUoXNKd8\",\"expires_in\":7200}";

        for (enum app_kind k = APP_KIND_TOKEN; k <= APP_KIND_WORK; k++) {
                CHECK_EQ(parse_len(false, k, 200, OK_TOKEN, strlen(OK_TOKEN), &res), 0);
                CHECK(strcmp(res.value, "ACCESS_TOKEN") == 0 && res.value_len == 12 && res.expires_in_s == 7200);
                CHECK_EQ(parse_len(false, k, 200, work, strlen(work), &res), 0);
                CHECK(strcmp(res.value, "W-TOK_1") == 0);
                CHECK_EQ(parse_len(true, k, 200, ticket, strlen(ticket), &res), 0);
                CHECK(strcmp(res.value, "bxLdikRXVbTPdHSM05e5u5sUoXNKd8") == 0 && res.expires_in_s == 7200);
        }
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, " \r\n{ \"expires_in\" : 1 ,\n \"access_token\" : \"a\" }\n\t "), 0);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"access_token\":\"!~\",\"expires_in\":86400}"), 0);
        /* A UTF-8 byte order mark is allowed before the object (cJSON skips it). */
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "\xef\xbb\xbf" OK_TOKEN), 0);
        /* Escapes a token needs no more than other characters, decoded in full. */
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"access_token\":\"A\\u0041\\/\\\"\\\\B\",\"expires_in\":9}"), 0);
        esc = "{\"access_token\":\"A\\u0041\\/B\",\"expires_in\":9}";
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, esc, strlen(esc), &res), 0);
        CHECK(strcmp(res.value, "AA/B") == 0);
        /* The body's length is len, not the string's: a cut object fails though the bytes after complete it. */
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, OK_TOKEN, strlen(OK_TOKEN) - 1, &res), -EPROTO);
        CHECK_EQ(res.errcode, UPSTREAM_ERR_BODY);
}

static void test_parse_errors(void) {
        struct upstream_result res;
        const char *codes[] = { "-1", "40001", "40013", "40125", "40164", "45009", "45011", "61004", "89503" };
        char body[256];

        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
                for (enum app_kind k = APP_KIND_TOKEN; k <= APP_KIND_WORK; k++) {
                        snprintf(body, sizeof(body), "{\"errcode\":%s,\"errmsg\":\"invalid ip 1.2.3.4 rid: 1\"}", codes[i]);
                        CHECK_EQ(parse_len(k & 1, k, 200, body, strlen(body), &res), -EPROTO);
                        CHECK_EQ(res.errcode, strtol(codes[i], NULL, 10));
                        CHECK(strcmp(res.errmsg, "invalid ip 1.2.3.4 rid: 1") == 0);
                }
        }
        /* A nonzero errcode fails even beside a token. */
        CHECK_EQ(parse_code(false, APP_KIND_WORK, 200,
                            "{\"errcode\":40014,\"errmsg\":\"x\",\"access_token\":\"T\",\"expires_in\":7200}"), 40014);
        CHECK_EQ(parse_code(true, APP_KIND_TOKEN, 200, "{\"errcode\":42001,\"ticket\":\"T\",\"expires_in\":7200}"), 42001);
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, "{\"errcode\":45009}", 17, &res), -EPROTO);
        CHECK(strstr(res.errmsg, "45009") != NULL);
        /* errcodes that are not WeChat's: ours spoofed, strings, fractions, huge. */
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"errcode\":-1001,\"errmsg\":\"x\"}"), UPSTREAM_ERR_BODY);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"errcode\":\"40001\",\"errmsg\":\"x\"}"), UPSTREAM_ERR_BODY);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"errcode\":40001.5}"), UPSTREAM_ERR_BODY);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"errcode\":1e300}"), UPSTREAM_ERR_BODY);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"errcode\":null," "\"access_token\":\"T\",\"expires_in\":1}"),
                 UPSTREAM_ERR_BODY);
        /* HTTP status other than 200, whatever the body. */
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 500, OK_TOKEN), UPSTREAM_ERR_HTTP);
        CHECK_EQ(parse_code(true, APP_KIND_WORK, 502, "<html>Bad Gateway</html>"), UPSTREAM_ERR_HTTP);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 302, ""), UPSTREAM_ERR_HTTP);
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 0, OK_TOKEN), UPSTREAM_ERR_HTTP);
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 503, "x", 1, &res), -EPROTO);
        CHECK(strcmp(res.errmsg, "HTTP status 503") == 0);
        CHECK_EQ(upstream_token_parse(APP_KIND_TOKEN, 200, NULL, 0, NULL, &res), -EPROTO);
        CHECK_EQ(res.errcode, UPSTREAM_ERR_BODY);
        CHECK_EQ(upstream_token_parse(APP_KIND_TOKEN, 200, OK_TOKEN, strlen(OK_TOKEN), NULL, NULL), -EINVAL);
}

static void test_parse_bad_bodies(void) {
        static const char *bad[] = {
                "", " ", "<html>502</html>", "null", "[]", "\"ACCESS_TOKEN\"", "7200", "{", "{}",
                OK_TOKEN "x", OK_TOKEN OK_TOKEN, "{\"access_token\":\"T\",\"expires_in\":7200,}",
                "{\"access_token\":\"\",\"expires_in\":7200}", "{\"access_token\":null,\"expires_in\":7200}",
                "{\"access_token\":12345,\"expires_in\":7200}", "{\"access_token\":[\"T\"],\"expires_in\":7200}",
                "{\"Access_Token\":\"T\",\"expires_in\":7200}", "{\"ticket\":\"T\",\"expires_in\":7200}",
                "{\"access_token\":\"T\"}", "{\"access_token\":\"T\",\"expires_in\":\"7200\"}",
                "{\"access_token\":\"T\",\"expires_in\":7200.5}", "{\"access_token\":\"T\",\"expires_in\":1e300}",
                "{\"access_token\":\"T\",\"expires_in\":null}", "{\"access_token\":\"T\",\"expires_in\":true}",
                "{\"access_token\":\"A B\",\"expires_in\":7200}", "{\"access_token\":\"A\\nB\",\"expires_in\":7200}",
                "{\"access_token\":\"A\\tB\",\"expires_in\":7200}", "{\"access_token\":\"A\\u007fB\",\"expires_in\":7200}",
                "{\"access_token\":\"A\\u00e9B\",\"expires_in\":7200}", "{\"access_token\":\"A\xc3\xa9\",\"expires_in\":7200}",
                "{\"access_token\":\"AB\\u0000CD\",\"expires_in\":7200}", "{\"access_token\":\"A\\uZZZZ\",\"expires_in\":1}",
                "{\"access_token\":\"A\\u00zzB\",\"expires_in\":1}", "{\"access_token\":\"A\\u004\",\"expires_in\":1}",
                "{\"access_token\":\"A\\uD800B\",\"expires_in\":1}", "{\"access_token\":\"A\\xB\",\"expires_in\":1}",
                "{\"errcode\":0,\"errmsg\":\"ok\"}", "{\"access_token\":\"T\",\"expires_in\":7200",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK(parse_code(false, APP_KIND_TOKEN, 200, bad[i]) == UPSTREAM_ERR_BODY, "body %zu accepted or misread: %s",
                      i, bad[i]);
        CHECK_EQ(parse_code(true, APP_KIND_TOKEN, 200, OK_TOKEN), UPSTREAM_ERR_BODY);
}

/* A body of n bytes: fill, with text at its start and end. */
static char *body_make(size_t n, char fill, const char *head, const char *tail) {
        char *b = malloc(n);

        SETUP_OK(b && strlen(head) + strlen(tail) <= n);
        memset(b, fill, n);
        memcpy(b, head, strlen(head));
        memcpy(b + n - strlen(tail), tail, strlen(tail));
        return b;
}

static void test_parse_odd(void) {
        struct upstream_result res;
        const char nul[] = "{\"access_token\":\"AB\0CD\",\"expires_in\":7200}";
        const char nul_after[] = OK_TOKEN "\0";
        char token[UPSTREAM_TOKEN_MAX + 1], body[UPSTREAM_TOKEN_MAX + 128], *b;
        size_t n;

        /* NUL bytes inside len, in the token or after the object. */
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, nul, sizeof(nul) - 1, &res), -EPROTO);
        CHECK_EQ(res.errcode, UPSTREAM_ERR_BODY);
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, nul_after, sizeof(nul_after) - 1, &res), -EPROTO);
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, nul_after, sizeof(nul_after) - 2, &res), 0);

        /* A slot holds 2048 bytes: that fits, one more does not. */
        memset(token, 'T', sizeof(token));
        for (int extra = 0; extra < 2; extra++) {
                n = (size_t)snprintf(body, sizeof(body), "{\"access_token\":\"%.*s\",\"expires_in\":7200}",
                                     UPSTREAM_TOKEN_MAX + extra, token);
                CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, body, n, &res), extra ? -EPROTO : 0);
                CHECK_EQ(res.value_len, extra ? 0 : UPSTREAM_TOKEN_MAX);
        }

        /* 100 KB: of whitespace around a good token, of token, of errmsg. */
        b = body_make(100 * 1024, ' ', "{\"access_token\":\"T\",", "\"expires_in\":7200}");
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, 100 * 1024, &res), 0);
        free(b);
        b = body_make(100 * 1024, 'T', "{\"access_token\":\"", "\",\"expires_in\":7200}");
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, 100 * 1024, &res), -EPROTO);
        CHECK_EQ(res.errcode, UPSTREAM_ERR_BODY);
        free(b);
        b = body_make(100 * 1024, 'e', "{\"errcode\":40164,\"errmsg\":\"invalid ip 1.2.3.4 \n", "\"}");
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, 100 * 1024, &res), -EPROTO);
        free(b);
        b = body_make(100 * 1024, 'e', "{\"errcode\":40164,\"errmsg\":\"invalid ip 1.2.3.4 \\n\\u0001", "\"}");
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, 100 * 1024, &res), -EPROTO);
        CHECK_EQ(res.errcode, 40164);
        CHECK_EQ(strlen(res.errmsg), UPSTREAM_ERRMSG_MAX - 1);
        CHECK(strncmp(res.errmsg, "invalid ip 1.2.3.4   eee", 24) == 0);
        free(b);
        /* 2 MB: refused unread. */
        b = body_make(2 * 1024 * 1024, ' ', "{\"access_token\":\"T\",", "\"expires_in\":7200}");
        CHECK_EQ(upstream_token_parse(APP_KIND_TOKEN, 200, b, 2 * 1024 * 1024, NULL, &res), -EPROTO);
        CHECK_EQ(res.errcode, UPSTREAM_ERR_BODY);
        free(b);

        /* Deep nesting, alone and beside a good token: refused, and the stack survives. */
        b = body_make(200000, '[', "", "");
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, 200000, &res), -EPROTO);
        free(b);
        b = body_make(4000, '[', "{\"access_token\":\"T\",\"expires_in\":7200,\"x\":", "");
        memset(b + 2000, ']', 2000 - 1);
        b[3999] = '}';
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, 4000, &res), -EPROTO);
        free(b);

        /* errmsg: one line; a UTF-8 character cut by truncation is dropped whole. */
        CHECK_EQ(parse_code(false, APP_KIND_TOKEN, 200, "{\"errcode\":89503,\"errmsg\":\"\xe6\xad\xa4IP\\r\\n\"}"), 89503);
        n = (size_t)snprintf(body, sizeof(body), "{\"errcode\":-1,\"errmsg\":\"a");
        for (int i = 0; i < 300; i++)
                n += (size_t)snprintf(body + n, sizeof(body) - n, "\xe4\xb8\xad");
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}");
        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, body, n, &res), -EPROTO);
        CHECK_EQ(strlen(res.errmsg), 1 + 84 * 3);
}

/* The parser never sees a secret; an errmsg echoing one is the caller's to redact. */
static void test_secret_paths(void) {
        struct upstream_result res;
        const char *b = "{\"errcode\":40001,\"errmsg\":\"bad secret Zq9xSECRETv rid: 1\"}";

        CHECK_EQ(parse_len(false, APP_KIND_TOKEN, 200, b, strlen(b), &res), -EPROTO);
        redact_secret(res.errmsg, "Zq9xSECRETv");
        CHECK(strcmp(res.errmsg, "bad secret *** rid: 1") == 0);
        for (enum app_kind k = APP_KIND_TOKEN; k <= APP_KIND_WORK; k++) {
                struct app_config app = app_of(k);
                struct upstream_request req = { .body = NULL };

                CHECK_EQ(upstream_token_request(&app, BASE, true, &req), 0);
                check_no_secret(&req);
                upstream_request_clear(&req);
        }
}

/*
 * expires_in outside [min_token_lifetime, 86400] s is an upstream error with its own code
 * and a message naming the value, whatever the bound (issue 11: 1 s cost a call per
 * backoff_min, 2^31-1 s was believed until 2094).
 */
static void test_parse_lifetimes(void) {
        static const struct { const char *exp; long min; bool ok; } cases[] = {
                { "0", 0, false }, { "1", 0, false }, { "59", 0, false }, { "60", 0, true }, { "7200", 0, true },
                { "86400", 0, true }, { "86401", 0, false }, { "2147483647", 0, false }, { "-7200", 0, false },
                { "9999999999", 0, false }, { "1", 1, true }, { "4", 5, false }, { "5", 5, true },
        };
        struct upstream_result res;
        char body[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct upstream_policy pol = { .min_lifetime_s = cases[i].min };
                int r;

                snprintf(body, sizeof(body), "{\"access_token\":\"T\",\"ticket\":\"T\",\"expires_in\":%s}", cases[i].exp);
                r = upstream_token_parse(APP_KIND_TOKEN, 200, body, strlen(body), cases[i].min ? &pol : NULL, &res);
                CHECK(r == (cases[i].ok ? 0 : -EPROTO), "expires_in %s, min %ld: %d", cases[i].exp, cases[i].min, r);
                if (!cases[i].ok) {
                        CHECK(res.errcode == UPSTREAM_ERR_LIFETIME, "expires_in %s: errcode %ld", cases[i].exp, res.errcode);
                        CHECK(strstr(res.errmsg, cases[i].exp) && strstr(res.errmsg, "not believed"), "%s", res.errmsg);
                        CHECK_EQ(res.value_len, 0);
                }
                r = upstream_ticket_parse(APP_KIND_TOKEN, 200, body, strlen(body), cases[i].min ? &pol : NULL, &res);
                CHECK(r == (cases[i].ok ? 0 : -EPROTO), "ticket: expires_in %s", cases[i].exp);
        }
}

/* No window of this many bytes of the secret may survive (issue 11: "every 8-byte window"). */
#define WINDOW 8

static bool has_window(const char *hay, const char *secret) {
        size_t n = strlen(secret);

        for (size_t i = 0; i + WINDOW <= n; i++) {
                if (memmem(hay, strlen(hay), secret + i, WINDOW))
                        return true;
        }
        return false;
}

/*
 * A 100 KB errmsg echoing the secret, raw and URL-encoded, at every offset against the
 * 255-byte cut: redacted before it is cut, so no prefix of it is left at the end.
 */
static void test_parse_redacts_before_cut(void) {
        const char *secret = "S3cr+t/Val=ue_0123456789abcdefXYZ";
        const char *encoded = "S3cr%2Bt%2FVal%3Due_0123456789abcdefXYZ";
        const char *lower = "S3cr%2bt%2fVal%3due_0123456789abcdefXYZ";
        struct upstream_policy pol = { .secret = secret };
        struct upstream_result res;
        size_t size = 100 * 1024;
        char *body = malloc(size + 64);

        SETUP_OK(body);
        for (int form = 0; form < 3; form++) {
                const char *echo = form == 0 ? secret : form == 1 ? encoded : lower;

                for (size_t off = 200; off < 260; off++) {
                        size_t n = (size_t)snprintf(body, size, "{\"errcode\":40125,\"errmsg\":\"");

                        memset(body + n, 'x', off);
                        n += off;
                        while (n + strlen(echo) + 8 < size) {
                                memcpy(body + n, echo, strlen(echo));
                                n += strlen(echo);
                                body[n++] = ' ';
                        }
                        n += (size_t)sprintf(body + n, "\"}");
                        CHECK_EQ(upstream_token_parse(APP_KIND_STABLE, 200, body, n, &pol, &res), -EPROTO);
                        CHECK_EQ(res.errcode, 40125);
                        CHECK(!has_window(res.errmsg, secret) && !has_window(res.errmsg, encoded) &&
                               !has_window(res.errmsg, lower), "form %d, offset %zu: %s", form, off, res.errmsg);
                        CHECK(off > 251 || strstr(res.errmsg, "***"), "form %d offset %zu: %s", form, off, res.errmsg);
                }
        }
        free(body);
}

/* A component: POST api_component_token with appid, secret and ticket in the body, none in the URL; its answer's own field name. */
static void test_component(void) {
        struct app_config app = app_of(APP_KIND_COMPONENT);
        struct upstream_request req = { .body = NULL };
        struct upstream_policy pol = { .secret = SECRET };
        struct upstream_result res;
        const char *ok = "{\"component_access_token\":\"C-TOK_1\",\"expires_in\":7200}";
        const char *bad = "{\"errcode\":61006,\"errmsg\":\"component ticket is invalid\"}";
        cJSON *o;

        CHECK_EQ(upstream_component_request(&app, BASE, "ticket@@@T1", &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/component/api_component_token") == 0 && !strcmp(req.redacted_url, req.url));
        o = req.body ? cJSON_Parse(req.body) : NULL;
        CHECK(o && !strcmp(cJSON_GetObjectItem(o, "component_appid")->valuestring, "wx1234") &&
              !strcmp(cJSON_GetObjectItem(o, "component_appsecret")->valuestring, SECRET) &&
              !strcmp(cJSON_GetObjectItem(o, "component_verify_ticket")->valuestring, "ticket@@@T1"), "%s", req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        /* No ticket, another kind, or the plain token builder: refused, nothing half-built. */
        CHECK_EQ(upstream_component_request(&app, BASE, "", &req), -EINVAL);
        CHECK_EQ(upstream_component_request(&app, BASE, NULL, &req), -EINVAL);
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), -EINVAL);
        app = app_of(APP_KIND_TOKEN);
        CHECK_EQ(upstream_component_request(&app, BASE, "t", &req), -EINVAL);

        CHECK_EQ(upstream_token_parse(APP_KIND_COMPONENT, 200, ok, strlen(ok), &pol, &res), 0);
        CHECK(!strcmp(res.value, "C-TOK_1") && res.expires_in_s == 7200);
        /* An app's field name is no component token, and the other way round. */
        CHECK_EQ(upstream_token_parse(APP_KIND_COMPONENT, 200, OK_TOKEN, strlen(OK_TOKEN), &pol, &res), -EPROTO);
        CHECK_EQ(upstream_token_parse(APP_KIND_TOKEN, 200, ok, strlen(ok), &pol, &res), -EPROTO);
        CHECK_EQ(upstream_token_parse(APP_KIND_COMPONENT, 200, bad, strlen(bad), &pol, &res), -EPROTO);
        CHECK(res.errcode == 61006 && strstr(res.errmsg, "invalid"), "%s", res.errmsg);
}

/* An authorizer: the component's token in the query (redacted), the refresh token in the body only; the one that comes back. */
static void test_authorizer(void) {
        struct upstream_request req = { .body = NULL };
        struct upstream_policy pol = { .secret = SECRET };
        struct upstream_result res;
        char rt[64];
        const char *ok = "{\"authorizer_access_token\":\"A-TOK_1\",\"expires_in\":7200,"
                         "\"authorizer_refresh_token\":\"refreshtoken@@@R2\"}";
        const char *no_rt = "{\"authorizer_access_token\":\"A-TOK_1\",\"expires_in\":7200}";
        const char *bad_rt = "{\"authorizer_access_token\":\"A-TOK_1\",\"expires_in\":7200,"
                             "\"authorizer_refresh_token\":\"a b\"}";
        const char *refused = "{\"errcode\":61023,\"errmsg\":\"refresh_token is invalid\"}";
        cJSON *o;

        CHECK_EQ(upstream_authorizer_request(BASE, "wxc1", "C-TOK", "wxa1", "refreshtoken@@@R1", &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/component/api_authorizer_token?component_access_token=C-TOK") == 0 &&
              !strstr(req.redacted_url, "C-TOK") && !strstr(req.url, "refreshtoken"), "%s", req.redacted_url);
        o = req.body ? cJSON_Parse(req.body) : NULL;
        CHECK(o && !strcmp(cJSON_GetObjectItem(o, "component_appid")->valuestring, "wxc1") &&
              !strcmp(cJSON_GetObjectItem(o, "authorizer_appid")->valuestring, "wxa1") &&
              !strcmp(cJSON_GetObjectItem(o, "authorizer_refresh_token")->valuestring, "refreshtoken@@@R1"), "%s",
              req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_authorizer_request(BASE, "wxc1", "", "wxa1", "r", &req), -EINVAL);
        CHECK_EQ(upstream_authorizer_request(BASE, "wxc1", "C", "wxa1", "", &req), -EINVAL);

        CHECK_EQ(upstream_authorizer_parse(200, ok, strlen(ok), &pol, &res, rt, sizeof(rt)), 0);
        CHECK(!strcmp(res.value, "A-TOK_1") && res.expires_in_s == 7200 && !strcmp(rt, "refreshtoken@@@R2"));
        CHECK_EQ(upstream_authorizer_parse(200, no_rt, strlen(no_rt), &pol, &res, rt, sizeof(rt)), 0);
        CHECK(rt[0] == '\0', "none came back: %s", rt);
        CHECK_EQ(upstream_authorizer_parse(200, bad_rt, strlen(bad_rt), &pol, &res, rt, sizeof(rt)), 0);
        CHECK(rt[0] == '\0', "one that could not go back to WeChat is not kept: %s", rt);
        CHECK_EQ(upstream_authorizer_parse(200, ok, strlen(ok), &pol, &res, rt, 8), 0);
        CHECK(rt[0] == '\0', "nor one longer than the room for it");
        CHECK_EQ(upstream_authorizer_parse(200, refused, strlen(refused), &pol, &res, rt, sizeof(rt)), -EPROTO);
        CHECK(res.errcode == 61023 && rt[0] == '\0');
        CHECK_EQ(upstream_authorizer_parse(200, OK_TOKEN, strlen(OK_TOKEN), &pol, &res, rt, sizeof(rt)), -EPROTO);
}

/* A string member of o, "" if there is none (a missing field fails the check, not the run). */
static const char *field(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

/* WeCom's service provider: the suite's and provider's bodies, their answers' field names. */
static void test_suite_provider(void) {
        struct app_config app = app_of(APP_KIND_SUITE);
        struct upstream_request req = { .body = NULL };
        struct upstream_policy pol = { .secret = SECRET };
        struct upstream_result res;
        const char *ok = "{\"errcode\":0,\"errmsg\":\"ok\",\"suite_access_token\":\"S-TOK_1\",\"expires_in\":7200}";
        const char *pok = "{\"errcode\":0,\"errmsg\":\"ok\",\"provider_access_token\":\"P-TOK_1\",\"expires_in\":7200}";
        const char *bad = "{\"errcode\":40085,\"errmsg\":\"invalid suite_ticket\"}";
        cJSON *o;

        CHECK_EQ(upstream_component_request(&app, BASE, "suiteticket@@@T1", &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/service/get_suite_token") == 0 && !strcmp(req.redacted_url, req.url));
        o = req.body ? cJSON_Parse(req.body) : NULL;
        CHECK(o && !strcmp(field(o, "suite_id"), "wx1234") &&
              !strcmp(field(o, "suite_secret"), SECRET) &&
              !strcmp(field(o, "suite_ticket"), "suiteticket@@@T1") &&
              !cJSON_GetObjectItem(o, "component_appid"), "%s", req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_component_request(&app, BASE, "", &req), -EINVAL);
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), -EINVAL);
        CHECK_EQ(upstream_token_parse(APP_KIND_SUITE, 200, ok, strlen(ok), &pol, &res), 0);
        CHECK(!strcmp(res.value, "S-TOK_1") && res.expires_in_s == 7200);
        CHECK_EQ(upstream_token_parse(APP_KIND_SUITE, 200, OK_TOKEN, strlen(OK_TOKEN), &pol, &res), -EPROTO);
        CHECK_EQ(upstream_token_parse(APP_KIND_SUITE, 200, bad, strlen(bad), &pol, &res), -EPROTO);
        CHECK(res.errcode == 40085);

        app = app_of(APP_KIND_PROVIDER);
        CHECK_EQ(upstream_component_request(&app, BASE, "t", &req), -EINVAL);
        CHECK_EQ(upstream_token_request(&app, BASE, false, &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/service/get_provider_token") == 0 && !strstr(req.url, SECRET));
        o = req.body ? cJSON_Parse(req.body) : NULL;
        CHECK(o && !strcmp(field(o, "corpid"), "wx1234") &&
              !strcmp(field(o, "provider_secret"), SECRET) && cJSON_GetArraySize(o) == 2,
              "%s", req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_token_parse(APP_KIND_PROVIDER, 200, pok, strlen(pok), &pol, &res), 0);
        CHECK(!strcmp(res.value, "P-TOK_1"));
        CHECK_EQ(upstream_token_parse(APP_KIND_PROVIDER, 200, ok, strlen(ok), &pol, &res), -EPROTO);
}

/* A corp under a suite: the suite's token in the query (redacted), the permanent code in the body only; the exchange. */
static void test_corp(void) {
        struct upstream_request req = { .body = NULL };
        struct upstream_policy pol = { .secret = SECRET };
        struct upstream_result res;
        char pc[64], corpid[33];
        const char *ok = "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"CORP-TOK_1\",\"expires_in\":7200,"
                         "\"permanent_code\":\"pcode@@@P1\",\"auth_corp_info\":{\"corpid\":\"wwc1\"}}";
        const char *no_corp = "{\"access_token\":\"CORP-TOK_1\",\"expires_in\":7200,\"permanent_code\":\"pcode@@@P1\"}";
        const char *bad_pc = "{\"access_token\":\"CORP-TOK_1\",\"expires_in\":7200,\"permanent_code\":\"a b\","
                             "\"auth_corp_info\":{\"corpid\":\"wwc1\"}}";
        const char *refused = "{\"errcode\":40078,\"errmsg\":\"invalid auth_code\"}";
        cJSON *o;

        CHECK_EQ(upstream_corp_request(BASE, "S-TOK", "wwc1", "pcode@@@P1", &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/service/get_corp_token?suite_access_token=S-TOK") == 0 &&
              !strstr(req.redacted_url, "S-TOK") && !strstr(req.url, "pcode"), "%s", req.redacted_url);
        o = req.body ? cJSON_Parse(req.body) : NULL;
        CHECK(o && !strcmp(field(o, "auth_corpid"), "wwc1") &&
              !strcmp(field(o, "permanent_code"), "pcode@@@P1"), "%s", req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_corp_request(BASE, "", "wwc1", "p", &req), -EINVAL);
        CHECK_EQ(upstream_corp_request(BASE, "S", "wwc1", "", &req), -EINVAL);

        CHECK_EQ(upstream_permanent_code_request(BASE, "S-TOK", "authcode@@@A1", &req), 0);
        CHECK(strcmp(req.url, BASE "/cgi-bin/service/get_permanent_code?suite_access_token=S-TOK") == 0 &&
              !strstr(req.redacted_url, "S-TOK") && strstr(req.body, "\"auth_code\":\"authcode@@@A1\""), "%s",
              req.body);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_permanent_code_parse(200, ok, strlen(ok), &pol, &res, pc, sizeof(pc), corpid, sizeof(corpid)),
                 0);
        CHECK(!strcmp(res.value, "CORP-TOK_1") && !strcmp(pc, "pcode@@@P1") && !strcmp(corpid, "wwc1"));
        /* No corpid, or a code that could not go back to WeCom: no token either (nothing half-kept). */
        CHECK_EQ(upstream_permanent_code_parse(200, no_corp, strlen(no_corp), &pol, &res, pc, sizeof(pc), corpid,
                                               sizeof(corpid)), -EPROTO);
        CHECK(res.errcode == UPSTREAM_ERR_BODY && res.value[0] == '\0' && res.value_len == 0 && pc[0] == '\0');
        CHECK_EQ(upstream_permanent_code_parse(200, bad_pc, strlen(bad_pc), &pol, &res, pc, sizeof(pc), corpid,
                                               sizeof(corpid)), -EPROTO);
        CHECK(res.value_len == 0 && pc[0] == '\0');
        CHECK_EQ(upstream_permanent_code_parse(200, refused, strlen(refused), &pol, &res, pc, sizeof(pc), corpid,
                                               sizeof(corpid)), -EPROTO);
        CHECK(res.errcode == 40078 && pc[0] == '\0');
}

int main(void) {
        test_suite_provider();
        test_corp();
        test_component();
        test_authorizer();
        test_parse_lifetimes();
        test_parse_redacts_before_cut();
        test_token_requests();
        test_token_request_refusals();
        test_ticket_requests();
        test_parse_success();
        test_parse_errors();
        test_parse_bad_bodies();
        test_parse_odd();
        test_secret_paths();
        return 0;
}
