/* test-protocol.c: every request shape and error, hostile lines, and replies that parse back as one JSON line. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "protocol.h"
#include "test-util.h"

static struct request req;
static const char *code;
static char message[128];

static int parse(const char *line) {
        memset(&req, 0x5a, sizeof(req));
        code = NULL;
        message[0] = '\0';
        return protocol_parse(line, strlen(line), &req, &code, message, sizeof(message));
}

/* The line is refused with this code, and the message stays short and printable. */
static void refused(const char *line, const char *want) {
        size_t i;

        CHECK(parse(line) == -EINVAL && code && !strcmp(code, want), "%s: got %s (%s), expected %s", line,
              code ? code : "success", message, want);
        CHECK(message[0] != '\0');
        for (i = 0; message[i]; i++)
                CHECK(message[i] >= 0x20 && message[i] < 0x7f);
}

static void refused_len(const char *line, size_t len, const char *want) {
        CHECK_EQ(protocol_parse(line, len, &req, &code, message, sizeof(message)), -EINVAL);
        CHECK(code && !strcmp(code, want), "got %s", code ? code : "success");
}

/* {"op":"get","app":"<app_len a's>[.<suffix_len b's>]"}, in a static buffer. */
static const char *get_line(size_t app_len, size_t suffix_len) {
        static char line[512];
        size_t n = strlen("{\"op\":\"get\",\"app\":\"");

        memcpy(line, "{\"op\":\"get\",\"app\":\"", n);
        memset(line + n, 'a', app_len);
        n += app_len;
        if (suffix_len > 0) {
                line[n++] = '.';
                memset(line + n, 'b', suffix_len);
                n += suffix_len;
        }
        memcpy(line + n, "\"}", 3);
        return line;
}

static void test_shapes(void) {
        CHECK_EQ(parse("{\"op\":\"status\"}"), 0);
        CHECK_EQ(req.op, OP_STATUS);
        CHECK(!req.has_app && req.offset == 0 && req.limit == PROTOCOL_STATUS_LIMIT_DEFAULT);
        CHECK_EQ(parse("  {\"op\" : \"status\", \"x\": [1, {\"y\": null}]}\t"), 0);
        CHECK_EQ(req.op, OP_STATUS);
        /* metrics: no app, nothing else asked. */
        CHECK_EQ(parse("{\"op\":\"metrics\"}"), 0);
        CHECK_EQ(req.op, OP_METRICS);
        /* Paging and filtering status. */
        CHECK_EQ(parse("{\"op\":\"status\",\"app\":\"shop.jsapi\",\"offset\":500,\"limit\":2}"), 0);
        CHECK(req.op == OP_STATUS && req.has_app && !strcmp(req.app, "shop.jsapi"));
        CHECK(req.offset == 500 && req.limit == 2);
        CHECK_EQ(parse("{\"op\":\"status\",\"limit\":10000}"), 0);
        CHECK_EQ(req.limit, 10000);
        refused("{\"op\":\"status\",\"app\":7}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"status\",\"app\":\"../x\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"status\",\"offset\":-1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"status\",\"offset\":1.5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"status\",\"limit\":0}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"status\",\"limit\":10001}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"status\",\"limit\":\"5\"}", PROTO_E_BAD_REQUEST);

        /* reload takes nothing; retry an app, checked like get's. */
        CHECK_EQ(parse("{\"op\":\"reload\"}"), 0);
        CHECK_EQ(req.op, OP_RELOAD);
        CHECK_EQ(parse("{\"op\":\"retry\",\"app\":\"shop.jsapi\"}"), 0);
        CHECK(req.op == OP_RETRY && !strcmp(req.app, "shop.jsapi"));
        refused("{\"op\":\"retry\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"retry\",\"app\":\"../x\"}", PROTO_E_BAD_REQUEST);

        CHECK_EQ(parse("{\"op\":\"get\",\"app\":\"shop\"}"), 0);
        CHECK_EQ(req.op, OP_GET);
        CHECK(!strcmp(req.app, "shop"));
        CHECK_EQ(parse("{\"app\":\"shop.jsapi\",\"op\":\"get\",\"generation\":\"ignored\"}"), 0);
        CHECK(!strcmp(req.app, "shop.jsapi"));

        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"a-b_C9\",\"generation\":42}"), 0);
        CHECK_EQ(req.op, OP_REFRESH);
        CHECK(!strcmp(req.app, "a-b_C9"));
        CHECK(req.has_generation);
        CHECK_EQ(req.generation, 42);
        CHECK_EQ(req.timeout_ms, PROTOCOL_TIMEOUT_DEFAULT_MS);
        CHECK(!req.want_token);
        /* "token":true asks for the token in the reply; false is the same as leaving it out. */
        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":3,\"token\":true}"), 0);
        CHECK(req.want_token);
        CHECK_EQ(req.generation, 3);
        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"x\",\"token\":false}"), 0);
        CHECK(!req.want_token);

        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":0,\"timeout_ms\":1,\"extra\":true}"), 0);
        CHECK(req.has_generation);
        CHECK_EQ(req.generation, 0);
        CHECK_EQ(req.timeout_ms, 1);
        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":9007199254740991,\"timeout_ms\":60000}"), 0);
        CHECK(req.generation == 9007199254740991ull);
        CHECK_EQ(req.timeout_ms, PROTOCOL_TIMEOUT_MAX_MS);
        /* JSON has one number type: 1e3 and 7.0 are integers. */
        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":7.0,\"timeout_ms\":1e3}"), 0);
        CHECK_EQ(req.generation, 7);
        CHECK_EQ(req.timeout_ms, 1000);
        /* Without a generation: whatever is published now. */
        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"x\"}"), 0);
        CHECK(!req.has_generation);

        /* Names at their limits: 64 characters, then 64 + "." + 40 (105 bytes). */
        CHECK_EQ(parse(get_line(64, 0)), 0);
        CHECK_EQ(strlen(req.app), 64);
        CHECK_EQ(parse(get_line(64, 40)), 0);
        CHECK_EQ(strlen(req.app), 105);
        CHECK_EQ(parse(get_line(1, 40)), 0);
        CHECK_EQ(strlen(req.app), 42);
        CHECK_EQ(parse("{\"op\":\"refresh\",\"app\":\"platform.wx0123456789abcdef\",\"generation\":3}"), 0);
        CHECK(!strcmp(req.app, "platform.wx0123456789abcdef"));
}

static void test_errors(void) {
        refused("", PROTO_E_BAD_JSON);
        refused("not json", PROTO_E_BAD_JSON);
        refused("[1,2]", PROTO_E_BAD_JSON);
        refused("\"op\"", PROTO_E_BAD_JSON);
        refused("null", PROTO_E_BAD_JSON);
        refused("{\"op\":\"status\"", PROTO_E_BAD_JSON);
        refused("{\"op\":\"status\"} {}", PROTO_E_BAD_JSON);
        refused("{\"op\":\"status\"}x", PROTO_E_BAD_JSON);

        refused("{}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":null}", PROTO_E_BAD_REQUEST);
        refused("{\"OP\":\"status\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"dance\"}", PROTO_E_UNKNOWN_OP);
        refused("{\"op\":\"Status\"}", PROTO_E_UNKNOWN_OP);
        refused("{\"op\":\"\"}", PROTO_E_UNKNOWN_OP);

        refused("{\"op\":\"get\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"a b\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"../etc\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"a.\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\".a\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"a.b.c.d\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"a.b.\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"a/b\"}", PROTO_E_BAD_REQUEST);
        /* One past each limit: an app part of 65, a suffix of 41 (alone, and behind the longest app part). */
        refused(get_line(65, 0), PROTO_E_BAD_REQUEST);
        refused(get_line(65, 5), PROTO_E_BAD_REQUEST);
        refused(get_line(1, 41), PROTO_E_BAD_REQUEST);
        refused(get_line(64, 41), PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"a..b\"}", PROTO_E_BAD_REQUEST);
        /* An account's ticket: one more dot inside the suffix. */
        CHECK_EQ(parse("{\"op\":\"get\",\"app\":\"platform.wx01.jsapi\"}"), 0);
        refused("{\"op\":\"get\",\"app\":\"shop\\u0000x\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"get\",\"app\":\"shop\",\"z\":\"\\u0000\"}", PROTO_E_BAD_REQUEST);
        /* An escaped backslash followed by "u0000" is not the escape. */
        CHECK_EQ(parse("{\"op\":\"get\",\"app\":\"shop\",\"z\":\"\\\\u0000\"}"), 0);

        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":-1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1.5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1e400}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":-1e400}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":9007199254740992}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":\"5\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":null}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":true}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":[1]}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":NaN}", PROTO_E_BAD_JSON);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"timeout_ms\":0}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"timeout_ms\":60001}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"timeout_ms\":-5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"timeout_ms\":2.5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"timeout_ms\":\"100\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"token\":\"yes\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"refresh\",\"app\":\"x\",\"generation\":1,\"token\":1}", PROTO_E_BAD_REQUEST);
}

static void test_hostile(void) {
        static const char nul[] = "{\"op\":\"status\"}\0garbage";
        static const char garbage[] = "\x01\xff\x00garbage{{{";
        const size_t big_len = 1u << 20;
        char *big = malloc(big_len + 1), q[80];
        size_t i;

        /* A NUL inside the line: refused, and nothing after len is read. */
        CHECK_EQ(protocol_parse(nul, sizeof(nul) - 1, &req, &code, message, sizeof(message)), -EINVAL);
        CHECK(!strcmp(code, PROTO_E_BAD_JSON));
        CHECK_EQ(protocol_parse(garbage, sizeof(garbage) - 1, &req, &code, message, sizeof(message)), -EINVAL);
        CHECK(!strcmp(code, PROTO_E_BAD_JSON));
        /* Exactly the object, cut out of a longer buffer that is not NUL-terminated at len. */
        CHECK_EQ(protocol_parse(nul, 15, &req, &code, message, sizeof(message)), 0);
        CHECK_EQ(req.op, OP_STATUS);
        CHECK_EQ(protocol_parse(nul, 14, &req, &code, message, sizeof(message)), -EINVAL);

        /* Long lines: 4095 bytes (4096 with the newline) is the most. */
        SETUP_OK(big);
        memset(big, ' ', big_len);
        memcpy(big, "{\"op\":\"status\"}", 15);
        CHECK_EQ(protocol_parse(big, PROTOCOL_LINE_MAX - 1, &req, &code, message, sizeof(message)), 0);
        CHECK_EQ(protocol_parse(big, PROTOCOL_LINE_MAX, &req, &code, message, sizeof(message)), -EINVAL);
        CHECK(!strcmp(code, PROTO_E_LINE_TOO_LONG));
        memset(big, 'x', big_len);
        CHECK_EQ(protocol_parse(big, big_len, &req, &code, message, sizeof(message)), -EINVAL);
        CHECK(!strcmp(code, PROTO_E_LINE_TOO_LONG));

        /* Deep nesting within the limit: cJSON refuses depth > 1000, and nothing overflows. */
        for (i = 0; i < 2000; i++) {
                big[i] = '[';
                big[4000 - 1 - i] = ']';
        }
        CHECK_EQ(protocol_parse(big, 4000, &req, &code, message, sizeof(message)), -EINVAL);
        CHECK(!strcmp(code, PROTO_E_BAD_JSON));
        /* Deep but within cJSON's limit: parsed, then refused for want of "op". */
        for (i = 0; i < 800; i++) {
                memcpy(big + 4 * i, "{\"\":", 4);
                big[3201 + i] = '}';
        }
        big[3200] = '1';
        refused_len(big, 4001, PROTO_E_BAD_REQUEST);
        free(big);

        /* Messages quote at most 32 bytes of input, made printable. */
        snprintf(q, sizeof(q), "{\"op\":\"%s\"}", "\\u00ff\\n\\t\\\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        refused(q, PROTO_E_UNKNOWN_OP);
        /* 32 quoted bytes, escaped, and the fixed words naming the ops. */
        CHECK(strlen(message) < 32 + 80, "%zu: %s", strlen(message), message);
        CHECK(!strstr(message, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        /* A message buffer too small is cut, not overrun. */
        CHECK_EQ(protocol_parse("{}", 2, &req, &code, q, 4), -EINVAL);
        CHECK_EQ(strlen(q), 3);
        CHECK_EQ(protocol_parse("{}", 2, &req, &code, NULL, 0), -EINVAL);
}

/* line is one JSON object on one line ending in "\n"; returns it parsed, to be deleted. */
static cJSON *one_line(char *line) {
        size_t n;
        cJSON *o;

        REQUIRE(line);
        n = strlen(line);
        CHECK(n > 1 && line[n - 1] == '\n');
        CHECK(memchr(line, '\n', n) == line + n - 1);
        o = cJSON_ParseWithLength(line, n);
        REQUIRE(cJSON_IsObject(o), "%s", line);
        free(line);
        return o;
}

static double num(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        REQUIRE(cJSON_IsNumber(v), "\"%s\"", key);
        return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        REQUIRE(cJSON_IsString(v), "\"%s\"", key);
        return v->valuestring;
}

static void test_replies(void) {
        struct status_entry e[2] = {
                { .name = "shop", .kind = "token", .generation = 3, .expires_at_ms = 1700000007200000,
                  .fetched_at_ms = 1700000000000000, .next_refresh_ms = 1700000006900000, .state = "fresh",
                  .last_errcode = 0, .last_errmsg = "", .upstream_calls = 4, .forced_refreshes = 1,
                  .coalesced_waiters = 999, .rate_limited = 2, .forced_today = 3, .forced_cap = 200 },
                { .name = "shop.jsapi", .kind = "ticket", .generation = 0, .state = "config_error",
                  .last_errcode = 40164, .last_errmsg = "invalid ip \"1.2.3.4\"\n\x01\xff\xc3\xa9 ok" },
        };
        cJSON *o, *apps, *a;
        char *raw;

        o = one_line(protocol_error(PROTO_E_RATE_LIMITED, "wait \"a\" bit\n\\", 1500));
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "ok")));
        CHECK(!strcmp(str(o, "error"), "rate_limited"));
        CHECK(!strcmp(str(o, "message"), "wait \"a\" bit\n\\"));
        CHECK_EQ(num(o, "retry_after_ms"), 1500);
        cJSON_Delete(o);
        o = one_line(protocol_error(PROTO_E_BAD_JSON, "not a JSON object", -1));
        CHECK(!cJSON_GetObjectItemCaseSensitive(o, "retry_after_ms"));
        cJSON_Delete(o);

        o = one_line(protocol_refresh_ok(9007199254740991ull, 1700000007200000, false));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
        CHECK(num(o, "generation") == 9007199254740991.0);
        CHECK(num(o, "expires_at") == 1700000007200000.0);
        CHECK(!cJSON_GetObjectItemCaseSensitive(o, "verified"));
        cJSON_Delete(o);
        raw = protocol_refresh_ok(5, 6, true);
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"generation\":5,\"expires_at\":6,\"verified\":true}\n"));
        free(raw);
        /* Whether a call was made for it goes last: older clients read the same fields as before. */
        raw = protocol_refresh_ok_call(5, 6, false, true);
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"generation\":5,\"expires_at\":6,\"upstream_call\":true}\n"));
        free(raw);
        raw = protocol_refresh_ok_call(5, 6, true, false);
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"generation\":5,\"expires_at\":6,\"verified\":true,"
                                  "\"upstream_call\":false}\n"));
        free(raw);
        /*
         * The token goes after every other field: libwxshm reads the prefix {"ok":true,"generation":
         * and older clients the fields before it.
         */
        raw = protocol_refresh_ok_token(5, 6, true, false, "T0k-en_");
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"generation\":5,\"expires_at\":6,\"verified\":true,"
                                  "\"upstream_call\":false,\"token\":\"T0k-en_\"}\n"));
        free(raw);
        raw = protocol_refresh_ok_token(5, 6, false, true, NULL);
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"generation\":5,\"expires_at\":6,\"upstream_call\":true}\n"));
        free(raw);
        raw = protocol_reload_ok(3);
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"reload\":\"taken\",\"apps\":3}\n"));
        free(raw);
        raw = protocol_retry_ok("now");
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"retry\":\"now\"}\n"));
        free(raw);

        o = one_line(protocol_get_ok("shop", "TOKEN\"\\x", 12, 34));
        CHECK(!strcmp(str(o, "app"), "shop"));
        CHECK(!strcmp(str(o, "token"), "TOKEN\"\\x"));
        CHECK_EQ(num(o, "generation"), 12);
        CHECK_EQ(num(o, "expires_at"), 34);
        cJSON_Delete(o);

        o = one_line(protocol_status_ok(e, 2, NULL, 502, &(struct status_server){ .connections = 7,
                                                                           .status_replies = 8,
                                                                           .evicted_idle = 9 }));
        CHECK_EQ(num(o, "next"), 502);
        CHECK_EQ(num(cJSON_GetObjectItemCaseSensitive(o, "server"), "connections"), 7);
        CHECK_EQ(num(cJSON_GetObjectItemCaseSensitive(o, "server"), "status_replies"), 8);
        CHECK_EQ(num(cJSON_GetObjectItemCaseSensitive(o, "server"), "evicted_idle"), 9);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
        apps = cJSON_GetObjectItemCaseSensitive(o, "apps");
        REQUIRE(cJSON_IsArray(apps) && cJSON_GetArraySize(apps) == 2);
        a = cJSON_GetArrayItem(apps, 0);
        CHECK(!strcmp(str(a, "app"), "shop") && !strcmp(str(a, "kind"), "token") && !strcmp(str(a, "state"), "fresh"));
        CHECK(num(a, "expires_at") == 1700000007200000.0 && num(a, "next_refresh_at") == 1700000006900000.0);
        CHECK(num(a, "fetched_at") == 1700000000000000.0 && num(a, "generation") == 3);
        CHECK(num(a, "upstream_calls") == 4 && num(a, "forced_refreshes") == 1);
        CHECK(num(a, "coalesced_waiters") == 999 && num(a, "rate_limited") == 2);
        CHECK(num(a, "forced_today") == 3 && num(a, "max_forced_per_day") == 200);
        CHECK(num(a, "last_errcode") == 0 && !strcmp(str(a, "last_errmsg"), ""));
        a = cJSON_GetArrayItem(apps, 1);
        CHECK_EQ(num(a, "last_errcode"), 40164);
        /* Malformed UTF-8 from upstream becomes '?'; well-formed (é) stays. */
        CHECK(!strcmp(str(a, "last_errmsg"), "invalid ip \"1.2.3.4\"\n\x01?\xc3\xa9 ok"));
        CHECK(!cJSON_GetObjectItemCaseSensitive(a, "token"));
        CHECK(!cJSON_GetObjectItemCaseSensitive(a, "holder"));
        CHECK(!cJSON_GetObjectItemCaseSensitive(o, "cluster"));
        cJSON_Delete(o);

        raw = protocol_status_ok(NULL, 0, NULL, -1, NULL);
        CHECK(raw && !strcmp(raw, "{\"ok\":true,\"apps\":[]}\n"));
        free(raw);

        /* Cluster mode: who holds each app's lease, and whether Redis answers. */
        e[0].holder = "host-b";
        e[0].is_holder = false;
        o = one_line(protocol_status_ok(e, 1, &(struct cluster_status){ .node_id = "host-a", .redis = "redis://r:6379/0",
                                                                        .connected = false, .down_since_ms = 17,
                                                                        .last_error = "Connection refused" }, -1, NULL));
        a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0);
        CHECK(!strcmp(str(a, "holder"), "host-b"));
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "lease_held_here")));
        a = cJSON_GetObjectItemCaseSensitive(o, "cluster");
        CHECK(!strcmp(str(a, "node"), "host-a") && !strcmp(str(a, "redis"), "redis://r:6379/0"));
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "connected")));
        CHECK(num(a, "down_since") == 17 && !strcmp(str(a, "last_error"), "Connection refused"));
        cJSON_Delete(o);
}

/*
 * libwxshm/wire.h is the one definition every side compiles in; clients built against an
 * older libwxshm, wxtokenctl and the other languages' bindings hold these values as text,
 * so each is pinned here as the literal it is on the wire.
 */
static void test_wire_facts(void) {
        static const struct {
                const char *code, *want;
        } codes[] = {
                { PROTO_E_BAD_JSON, "bad_json" },
                { PROTO_E_BAD_REQUEST, "bad_request" },
                { PROTO_E_UNKNOWN_OP, "unknown_op" },
                { PROTO_E_UNKNOWN_APP, "unknown_app" },
                { PROTO_E_LINE_TOO_LONG, "line_too_long" },
                { PROTO_E_PERMISSION, "permission_denied" },
                { PROTO_E_RATE_LIMITED, "rate_limited" },
                { PROTO_E_UPSTREAM, "upstream_failed" },
                { PROTO_E_TIMEOUT, "timeout" },
                { PROTO_E_BUSY, "too_many_waiters" },
                { PROTO_E_NO_TOKEN, "no_token" },
                { PROTO_E_STOPPING, "shutting_down" },
                { PROTO_E_CONNECTIONS, "too_many_connections" },
                { PROTO_E_INTERNAL, "internal" },
        };
        char *line;
        size_t i;

        for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
                CHECK(!strcmp(codes[i].code, codes[i].want), "wire.h spells \"%s\" as \"%s\"", codes[i].want,
                      codes[i].code);
        CHECK(!strcmp(PROTOCOL_SOCKET_DEFAULT, "/run/wxtokend/wxtokend.sock"));
        CHECK_EQ(PROTOCOL_LINE_MAX, 4096);
        CHECK_EQ(PROTOCOL_TIMEOUT_DEFAULT_MS, 5000);
        CHECK_EQ(PROTOCOL_TIMEOUT_MAX_MS, 60000);
        CHECK(PROTOCOL_GENERATION_LIMIT == 9007199254740992ull);
        /* Messages name the limits through PROTOCOL_STR: it must give the digits, not the macro's name. */
        CHECK(!strcmp(PROTOCOL_STR(PROTOCOL_LINE_MAX), "4096"));
        CHECK(!strcmp(PROTOCOL_STR(PROTOCOL_TIMEOUT_MAX_MS), "60000"));
        /* server-conn.c builds the out-of-memory reply by hand (protocol_error needs memory): the same bytes. */
        line = protocol_error(PROTO_E_INTERNAL, "out of memory", -1);
        SETUP_OK(line);
        CHECK(!strcmp(line, "{\"ok\":false,\"error\":\"internal\",\"message\":\"out of memory\"}\n"));
        free(line);
}

/* The ticket op: a bounded printable ticket and WeChat's CreateTime; anything else refused by name. */
static void test_ticket(void) {
        char line[1024], big[PROTOCOL_VERIFY_TICKET_MAX + 2];
        struct status_component comp = { .has_ticket = true, .create_time_s = 1700000000, .age_s = 60,
                                          .received_at_ms = 1700000001000, .previous = true,
                                          .previous_create_time_s = 1699999400, .note = "fell \"back\"\n" };
        struct status_entry e = { .name = "plat", .kind = "component", .state = "fresh", .last_errmsg = "",
                                  .component = &comp };
        struct status_server st = { .connections = 1 };
        const cJSON *apps, *x;
        cJSON *j;
        char *reply;

        CHECK_EQ(parse("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"ticket@@@a-B_9\",\"create_time\":1700000000}"), 0);
        CHECK(req.op == OP_TICKET && !strcmp(req.app, "plat") && !strcmp(req.verify_ticket, "ticket@@@a-B_9") &&
              req.create_time_s == 1700000000);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"create_time\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"t\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"ticket\":\"t\",\"create_time\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"\",\"create_time\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"a b\",\"create_time\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"a\\u00e9\",\"create_time\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":7,\"create_time\":1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"t\",\"create_time\":0}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"t\",\"create_time\":-5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"t\",\"create_time\":1.5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"t\",\"create_time\":\"1\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"t\",\"create_time\":1e300}", PROTO_E_BAD_REQUEST);
        /* The longest ticket fits; one byte more is refused. */
        memset(big, 'x', sizeof(big));
        big[PROTOCOL_VERIFY_TICKET_MAX] = '\0';
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\",\"create_time\":1}", big);
        CHECK_EQ(parse(line), 0);
        CHECK_EQ(strlen(req.verify_ticket), PROTOCOL_VERIFY_TICKET_MAX);
        big[PROTOCOL_VERIFY_TICKET_MAX] = 'x';
        big[PROTOCOL_VERIFY_TICKET_MAX + 1] = '\0';
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\",\"create_time\":1}", big);
        refused(line, PROTO_E_BAD_REQUEST);

        reply = protocol_ticket_ok(false, 1700000000, "an older ticket: ignored");
        j = reply ? cJSON_Parse(reply) : NULL;
        CHECK(j && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")) &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "ticket")), "ignored"), "%s", reply);
        cJSON_Delete(j);
        free(reply);
        /* A component's status entry carries its intake; the ticket itself is not among its fields. */
        reply = protocol_status_ok(&e, 1, NULL, -1, &st);
        j = reply ? cJSON_Parse(reply) : NULL;
        apps = cJSON_GetObjectItemCaseSensitive(j, "apps");
        x = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(apps, 0), "component");
        CHECK(cJSON_IsObject(x) && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "ticket_age_s")) == 60 &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "ticket_in_use")), "previous") &&
              cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "previous_ticket_create_time")) == 1699999400,
              "%s", reply);
        CHECK(reply && strlen(reply) <= protocol_status_entry_size(&e) + 400, "the size estimate holds");
        cJSON_Delete(j);
        free(reply);
}

/* The authorizer ops: a component's name, an appid of the grammar, a bounded printable refresh token never echoed. */
static void test_authorizer(void) {
        char line[1024], big[PROTOCOL_REFRESH_TOKEN_MAX + 2];
        struct authorizer_entry e = { .appid = "wxa00000001", .state = "refused", .generation = 3,
                                      .expires_at_ms = 1700000000000, .last_errcode = 61023, .note = "re-\"add\"\n" };
        cJSON *j;
        char *reply;

        CHECK_EQ(parse("{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"wx0123456789abcdef\","
                       "\"refresh_token\":\"refreshtoken@@@a-B_9\"}"), 0);
        CHECK(req.op == OP_AUTHORIZER_ADD && !strcmp(req.app, "plat") && !strcmp(req.authorizer_appid,
              "wx0123456789abcdef") && !strcmp(req.refresh_token, "refreshtoken@@@a-B_9"));
        CHECK_EQ(parse("{\"op\":\"authorizer_remove\",\"component\":\"plat\",\"appid\":\"wxa1\"}"), 0);
        CHECK(req.op == OP_AUTHORIZER_REMOVE && !strcmp(req.authorizer_appid, "wxa1"));
        CHECK_EQ(parse("{\"op\":\"authorizer_list\",\"component\":\"plat\"}"), 0);
        CHECK(req.op == OP_AUTHORIZER_LIST && !strcmp(req.app, "plat"));
        /* Paged as status is: the first page of the default size, or the page asked for. */
        CHECK(req.offset == 0 && req.limit == PROTOCOL_STATUS_LIMIT_DEFAULT, "offset %llu limit %u",
              (unsigned long long)req.offset, req.limit);
        CHECK_EQ(parse("{\"op\":\"authorizer_list\",\"component\":\"plat\",\"offset\":1500,\"limit\":10000}"), 0);
        CHECK(req.offset == 1500 && req.limit == 10000, "offset %llu limit %u", (unsigned long long)req.offset,
              req.limit);
        refused("{\"op\":\"authorizer_list\",\"component\":\"plat\",\"limit\":10001}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_list\",\"component\":\"plat\",\"limit\":0}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_list\",\"component\":\"plat\",\"offset\":-1}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_list\",\"component\":\"plat\",\"offset\":1.5}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_list\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_list\",\"component\":\"plat.jsapi\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_frob\",\"component\":\"plat\"}", PROTO_E_UNKNOWN_OP);
        refused("{\"op\":\"authorizer_remove\",\"component\":\"plat\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_remove\",\"component\":\"plat\",\"appid\":\"wx_card\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_remove\",\"component\":\"plat\",\"appid\":\"wx\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_remove\",\"component\":\"plat\",\"appid\":\"wxABC\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_remove\",\"component\":\"plat\",\"appid\":\"ab123\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_remove\",\"component\":\"plat\","
                "\"appid\":\"wx0123456789012345678901234567890\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"wxa1\"}", PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"wxa1\",\"refresh_token\":\"\"}",
                PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"wxa1\",\"refresh_token\":\"a b\"}",
                PROTO_E_BAD_REQUEST);
        refused("{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"wxa1\",\"refresh_token\":7}",
                PROTO_E_BAD_REQUEST);
        CHECK(!strstr(message, "7"), "the refresh token is not quoted back: %s", message);
        /* The longest refresh token fits; one byte more is refused. */
        memset(big, 'r', sizeof(big));
        big[PROTOCOL_REFRESH_TOKEN_MAX] = '\0';
        snprintf(line, sizeof(line), "{\"op\":\"authorizer_add\",\"component\":\"p\",\"appid\":\"wxa1\","
                 "\"refresh_token\":\"%s\"}", big);
        CHECK_EQ(parse(line), 0);
        CHECK_EQ(strlen(req.refresh_token), PROTOCOL_REFRESH_TOKEN_MAX);
        big[PROTOCOL_REFRESH_TOKEN_MAX] = 'r';
        big[PROTOCOL_REFRESH_TOKEN_MAX + 1] = '\0';
        snprintf(line, sizeof(line), "{\"op\":\"authorizer_add\",\"component\":\"p\",\"appid\":\"wxa1\","
                 "\"refresh_token\":\"%s\"}", big);
        refused(line, PROTO_E_BAD_REQUEST);
        CHECK(!strstr(message, "rrrr"), "nor a long one: %s", message);

        reply = protocol_authorizer_list("plat", &e, 1, 7, 3);
        REQUIRE(reply, "the list reply");
        j = cJSON_Parse(reply);
        CHECK(j && reply[strlen(reply) - 1] == '\n' && !memchr(reply, '\n', strlen(reply) - 1) &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
                      cJSON_GetObjectItemCaseSensitive(j, "authorizers"), 0), "state")), "refused"), "%s", reply);
        CHECK(j && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "total")) == 7 &&
              cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "next")) == 3, "total and next: %s", reply);
        cJSON_Delete(j);
        free(reply);
        /* The last page: no "next". */
        reply = protocol_authorizer_list("plat", &e, 1, 7, -1);
        CHECK(reply && !strstr(reply, "\"next\"") && strstr(reply, "\"total\":7"), "%s", reply);
        free(reply);
        reply = protocol_authorizer_ok("added", "plat", "wxa1", "added");
        CHECK(reply && strstr(reply, "\"authorizer\":\"added\""), "%s", reply);
        free(reply);
}

int main(void) {
        test_shapes();
        test_ticket();
        test_authorizer();
        test_errors();
        test_hostile();
        test_replies();
        test_wire_facts();
        return 0;
}
