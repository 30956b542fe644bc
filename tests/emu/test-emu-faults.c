/* test-emu-faults.c: test-emu's checks of fault injection, stats, quotas and shutdown. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-emu-util.h"

static const char token_f[] =
        "/cgi-bin/token?grant_type=client_credential&appid=wxF&secret=" SECRET_F;

static const char stable_b[] =
        "{\"grant_type\":\"client_credential\",\"appid\":\"wxB\",\"secret\":\"" SECRET_B "\"}";

static void faults_http(struct emu_proc *a)
{
        struct http_res r;

        control(a, "/emu/fault?app=wxF&kind=http500&count=1");
        http_call(a, "GET", token_f, NULL, 5000, &r);
        CHECK(r.cc == CURLE_OK && r.status == 500, "http500: %d %ld", r.cc, r.status);
        http_res_free(&r);

        control(a, "/emu/fault?app=wxF&kind=garbage&count=1");
        http_call(a, "GET", token_f, NULL, 5000, &r);
        CHECK(r.cc == CURLE_OK && r.status == 200 && r.body && !r.json, "garbage: %s", r.body);
        http_res_free(&r);

        control(a, "/emu/fault?app=wxF&kind=slow&ms=200&count=1");
        CHECK(call(a, "GET", token_f, NULL) == 0, "slow still answers");

        control(a, "/emu/fault?app=wxF&kind=refuse&count=1");
        http_fresh_connect = true;
        http_call(a, "GET", token_f, NULL, 5000, &r);
        http_fresh_connect = false;
        CHECK(r.cc == CURLE_GOT_NOTHING, "refuse: %s", curl_easy_strerror(r.cc));
        http_res_free(&r);

        /* hang lasts until cleared; other apps keep being served meanwhile. */
        control(a, "/emu/fault?app=wxF&kind=hang");
        for (int i = 0; i < 2; i++) {
                http_call(a, "GET", token_f, NULL, 1000, &r);
                CHECK(r.cc == CURLE_OPERATION_TIMEDOUT, "hang: %s", curl_easy_strerror(r.cc));
                http_res_free(&r);
        }
        CHECK(call(a, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxA&secret="
                   SECRET_A, NULL) == 0, "a hang on one app leaves the others alone");
        control(a, "/emu/fault?app=wxF&kind=none");
        CHECK(call(a, "GET", token_f, NULL) == 0, "cleared");

        /* Any errcode and errmsg; echo= grows errmsg echoing the request's secret, raw and URL-encoded. */
        control(a, "/emu/fault?app=wxF&kind=errcode&errcode=40164&errmsg=not%20whitelisted&count=1");
        http_call(a, "GET", token_f, NULL, 5000, &r);
        CHECK(r.json && json_int(r.json, "errcode", 0) == 40164 && !strcmp(json_str(r.json, "errmsg"), "not whitelisted"),
              "errcode: %s", r.body);
        http_res_free(&r);
        control(a, "/emu/fault?app=wxF&kind=errcode&errcode=40125&errmsg=bad&echo=100000&count=1");
        http_call(a, "GET", token_f, NULL, 5000, &r);
        CHECK(r.json && json_int(r.json, "errcode", 0) == 40125 && strlen(json_str(r.json, "errmsg")) >= 100000 &&
              strstr(json_str(r.json, "errmsg"), SECRET_F), "echo: %.200s", r.body ? r.body : "");
        http_res_free(&r);
        CHECK(call(a, "GET", token_f, NULL) == 0, "count=1 is used up");

        /* Any expires_in, on an answer otherwise normal. */
        control(a, "/emu/fault?app=wxF&kind=expires&expires_in=2147483647&count=1");
        http_call(a, "GET", token_f, NULL, 5000, &r);
        CHECK(r.json && json_str(r.json, "access_token") && json_int(r.json, "expires_in", 0) == 2147483647,
              "expires: %s", r.body);
        http_res_free(&r);
        control(a, "/emu/fault?app=wxF&kind=expires&expires_in=0&count=1");
        http_call(a, "GET", token_f, NULL, 5000, &r);
        CHECK(r.json && json_int(r.json, "expires_in", -1) == 0, "expires 0: %s", r.body);
        http_res_free(&r);
}

void test_faults(struct emu_proc *a)
{
        struct http_res r;
        char *t;

        control(a, "/emu/fault?app=wxF&kind=busy&count=1");
        CHECK(call(a, "GET", token_f, NULL) == -1, "busy");
        CHECK(call(a, "GET", token_f, NULL) == 0, "count=1 is used up");
        faults_http(a);

        /* Without app=, a fault hits every app and all three token endpoints. */
        control(a, "/emu/fault?kind=busy&count=2");
        CHECK(call(a, "POST", "/cgi-bin/stable_token", stable_b) == -1, "busy stable_token");
        CHECK(call(a, "GET", "/cgi-bin/gettoken?corpid=wwC&corpsecret=" SECRET_C, NULL) == -1,
              "busy gettoken");
        CHECK(call(a, "POST", "/cgi-bin/stable_token", stable_b) == 0, "count=2 is used up");

        control(a, "/emu/fault?app=wxA&kind=busy&count=1&on=tickets");
        t = token(a, "wxA", SECRET_A);
        CHECK(call(a, "GET", fmt("/cgi-bin/ticket/getticket?type=jsapi&access_token=%s", t),
                   NULL) == -1, "ticket fault");
        CHECK(call(a, "GET", fmt("/cgi-bin/ticket/getticket?type=jsapi&access_token=%s", t),
                   NULL) == 0, "ticket fault used up");
        free(t);

        http_call(a, "POST", "/emu/fault?kind=nope", NULL, 5000, &r);
        CHECK(r.status == 400, "unknown fault kind: %ld", r.status);
        http_res_free(&r);
        http_call(a, "POST", "/emu/fault?app=wxNope&kind=busy", NULL, 5000, &r);
        CHECK(r.status == 404, "unknown app: %ld", r.status);
        http_res_free(&r);
}

static int stat_of(const cJSON *root, const char *group, const char *app, const char *name)
{
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, group);

        if (app)
                g = cJSON_GetObjectItemCaseSensitive(g, app);
        return json_int(g, name, -1);
}

void test_stats(struct emu_proc *a)
{
        struct http_res r;
        char *t1, *t2;
        const cJSON *e;
        int n = 0, last_t = -1, codes[3] = { 0, 0, 40001 }, gen0 = 0;

        control(a, "/emu/reset-stats");
        t1 = token(a, "wxA", SECRET_A);
        t2 = token(a, "wxA", SECRET_A);
        CHECK(call(a, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxA&secret=x",
                   NULL) == 40001, "bad secret");
        CHECK(callback(a, t2) == 0 && callback(a, "bogus") == 40001, "callbacks");
        control(a, "/emu/expire?app=wxA");
        CHECK(callback(a, t2) == 42001, "expired");

        http_call(a, "GET", "/emu/stats", NULL, 5000, &r);
        CHECK(stat_of(r.json, "apps", "wxA", "token_calls") == 3, "token_calls");
        CHECK(stat_of(r.json, "apps", "wxA", "token_ok") == 2, "token_ok");
        CHECK(stat_of(r.json, "apps", "wxA", "callback_ok") == 1, "callback_ok");
        CHECK(stat_of(r.json, "apps", "wxA", "callback_42001") == 1, "callback_42001");
        CHECK(stat_of(r.json, "unknown", NULL, "callback_40001") == 1, "unknown 40001");
        CHECK(stat_of(r.json, "apps", "wxB", "stable_normal") == 0, "reset");
        CHECK(stat_of(r.json, "apps", "wxA", "token_generation") >= 2, "generation kept");
        http_res_free(&r);

        /*
         * The log lists upstream calls in order, with a monotonic ms clock. Requests an
         * earlier test left hanging (app wxF) are logged when they are dropped, which may
         * fall after the reset: only wxA's entries are this test's.
         */
        http_call(a, "GET", "/emu/log", NULL, 5000, &r);
        cJSON_ArrayForEach(e, r.json) {
                const char *app = json_str(e, "app");

                if (!app || strcmp(app, "wxA") != 0)
                        continue;
                CHECK(n < 3, "log entries: %s", r.body);
                CHECK(!strcmp(json_str(e, "endpoint"), "token"), "log entry %d", n);
                CHECK(json_int(e, "errcode", -2) == codes[n], "log errcode %d", n);
                CHECK(json_int(e, "t_ms", -1) >= last_t, "log time runs forward");
                last_t = json_int(e, "t_ms", -1);
                if (n == 0)
                        gen0 = json_int(e, "generation", -1);
                if (n == 1)
                        CHECK(json_int(e, "generation", -1) == gen0 + 1, "generation");
                n++;
        }
        CHECK(n == 3, "wxA log entries: %s", r.body);
        http_res_free(&r);
        free(t1), free(t2);
}

static bool checksum_ok(const char *t)
{
        size_t body = strlen(t) - 16;
        uint64_t h = 0xcbf29ce484222325ULL;
        char hex[17];

        for (size_t i = 0; i < body; i++) {
                h ^= (unsigned char)t[i];
                h *= 0x100000001b3ULL;
        }
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
        return !strcmp(t + body, hex);
}

void test_quota(struct emu_proc *b)
{
        const char *q = "/cgi-bin/token?grant_type=client_credential&appid=wxQ&secret=" SECRET_Q;
        struct http_res r;
        char *t, *f1, *f2, *s, *s2;
        int exp;

        for (int i = 0; i < 3; i++) {
                t = token(b, "wxQ", SECRET_Q);
                CHECK(t && strlen(t) == 64 && checksum_ok(t), "checksum token %s", t);
                free(t);
        }
        CHECK(call(b, "GET", q, NULL) == 45009, "daily quota");
        http_call(b, "GET", "/emu/stats", NULL, 5000, &r);
        CHECK(stat_of(r.json, "apps", "wxQ", "quota_rejects") == 1, "quota_rejects");
        http_res_free(&r);
        control(b, "/emu/reset-quota?app=wxQ");
        CHECK(call(b, "GET", q, NULL) == 0, "quota reset");

        /* --force-spacing 0 --overlap 0: every force rotates and kills the old token. */
        f1 = stable(b, "wxQ", SECRET_Q, true, NULL);
        f2 = stable(b, "wxQ", SECRET_Q, true, NULL);
        CHECK(!same(f1, f2), "force rotates");
        CHECK(callback(b, f1) == 40001 && callback(b, f2) == 0, "no overlap with --overlap 0");
        CHECK(call(b, "POST", "/cgi-bin/stable_token", "{\"grant_type\":\"client_credential\","
                   "\"appid\":\"wxQ\",\"secret\":\"" SECRET_Q "\",\"force_refresh\":true}") ==
              45009, "force limit per day");

        /* --expires-in 40: normal mode renews in the last min(300, 40/4) = 10 s. */
        s = stable(b, "wxQ", SECRET_Q, false, &exp);
        CHECK(same(s, f2) && exp > 30 && exp <= 40, "normal keeps it: %d", exp);
        control(b, "/emu/advance?s=31");
        s2 = stable(b, "wxQ", SECRET_Q, false, &exp);
        CHECK(!same(s2, f2) && exp == 40, "normal renews in the window: %d", exp);
        free(f1), free(f2), free(s), free(s2);
}

void test_shutdown(struct emu_proc *a, struct emu_proc *b)
{
        const char *secrets[] = { SECRET_A, SECRET_B, SECRET_C, SECRET_F };
        struct http_res r;
        char *log;

        /* Stopping must not wait for a request that is hanging on purpose. */
        control(b, "/emu/fault?kind=hang");
        http_call(b, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxQ&secret="
                  SECRET_Q, NULL, 1000, &r);
        CHECK(r.cc == CURLE_OPERATION_TIMEDOUT, "hang: %s", curl_easy_strerror(r.cc));
        http_res_free(&r);
        CHECK(proc_stop(b) == 0, "clean stop with a hung request");
        CHECK(proc_stop(a) == 0, "clean stop");

        log = file_slurp(a->err_file);
        CHECK(log && strstr(log, "corpsecret=***") && strstr(log, "&secret=***"),
              "--verbose logs requests, redacted");
        for (size_t i = 0; log && i < sizeof(secrets) / sizeof(secrets[0]); i++)
                CHECK(!strstr(log, secrets[i]), "secret %zu leaked into stderr", i);
        free(log);
}
