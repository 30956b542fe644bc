/* test-emu.c: checks that wxemu behaves as WeChat documents, by driving the real binary. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-emu-util.h"

static struct emu_proc emu_a, emu_b;

static void test_token(void)
{
        const char *base = "/cgi-bin/token?grant_type=client_credential";
        char *t1, *t2, *t3, *t4, *r1, *t5;
        struct http_res r;

        CHECK(call(&emu_a, "GET", fmt("/cgi-bin/token?grant_type=x&appid=wxA&secret=%s",
                                      SECRET_A), NULL) == 40002, "bad grant_type");
        CHECK(call(&emu_a, "GET", fmt("%s&secret=%s", base, SECRET_A), NULL) == 41002, "no appid");
        CHECK(call(&emu_a, "GET", fmt("%s&appid=wxA", base), NULL) == 41004, "no secret");
        CHECK(call(&emu_a, "GET", fmt("%s&appid=wxNope&secret=x", base), NULL) == 40013, "appid");
        CHECK(call(&emu_a, "GET", fmt("%s&appid=wxA&secret=wrong", base), NULL) == 40001, "secret");
        CHECK(call(&emu_a, "GET", fmt("%s&appid=wwC&secret=%s", base, SECRET_C), NULL) == 40013,
              "a WeCom corpid is no appid");

        http_call(&emu_a, "GET", fmt("%s&appid=wxA&secret=%s", base, SECRET_A), NULL, 5000, &r);
        CHECK(r.json && json_int(r.json, "expires_in", 0) == 7200, "%s", r.body);
        t1 = r.json && json_str(r.json, "access_token") ?
                strdup(json_str(r.json, "access_token")) : NULL;
        http_res_free(&r);
        CHECK(t1 && strlen(t1) == 157, "default token length");
        CHECK(callback(&emu_a, t1) == 0, "fresh token works");

        /* Every call rotates; only the latest predecessor keeps its overlap. */
        t2 = token(&emu_a, "wxA", SECRET_A);
        CHECK(!same(t1, t2), "a new token per call");
        CHECK(callback(&emu_a, t1) == 0 && callback(&emu_a, t2) == 0, "overlap");
        t3 = token(&emu_a, "wxA", SECRET_A);
        CHECK(callback(&emu_a, t1) == 40001, "superseded twice: dead");
        CHECK(callback(&emu_a, t2) == 0 && callback(&emu_a, t3) == 0, "overlap");
        control(&emu_a, "/emu/advance?s=301");
        CHECK(callback(&emu_a, t2) == 40001, "overlap over");
        CHECK(callback(&emu_a, t3) == 0, "current still valid");
        control(&emu_a, "/emu/expire?app=wxA");
        CHECK(callback(&emu_a, t3) == 42001, "expired");
        CHECK(callback(&emu_a, "bogus") == 40001, "unknown token");
        CHECK(call(&emu_a, "GET", "/cgi-bin/getcallbackip", NULL) == 41001, "missing token");
        t4 = token(&emu_a, "wxA", SECRET_A);
        CHECK(callback(&emu_a, t4) == 0, "new token after expiry");

        /* An outside rotation puts ours into its overlap. */
        http_call(&emu_a, "POST", "/emu/rotate?app=wxA", NULL, 5000, &r);
        r1 = r.json ? strdup(json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "apps"),
                                                           "wxA"), "access_token")) : NULL;
        http_res_free(&r);
        CHECK(r1 && !same(r1, t4), "rotate answers the new token");
        CHECK(callback(&emu_a, t4) == 0 && callback(&emu_a, r1) == 0, "overlap after rotate");
        t5 = token(&emu_a, "wxA", SECRET_A);
        CHECK(callback(&emu_a, t4) == 40001, "dead after two rotations");
        free(t1), free(t2), free(t3), free(t4), free(r1), free(t5);
}

static void test_stable_errors(void)
{
        const char *good = "{\"grant_type\":\"client_credential\",\"appid\":\"wxB\",\"secret\":\""
                SECRET_B "\"";

        CHECK(call(&emu_a, "GET", "/cgi-bin/stable_token", NULL) == 43002, "GET");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", "not json") == 47001, "body");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", fmt("%s,\"force_refresh\":\"yes\"}",
                                                                 good)) == 47001, "force type");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", "{\"grant_type\":\"x\",\"appid\":"
                   "\"wxB\",\"secret\":\"" SECRET_B "\"}") == 40002, "grant_type");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", "{\"grant_type\":\"client_credential"
                   "\",\"secret\":\"x\"}") == 41002, "no appid");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", "{\"grant_type\":\"client_credential"
                   "\",\"appid\":\"wxB\"}") == 41004, "no secret");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", "{\"grant_type\":\"client_credential"
                   "\",\"appid\":\"wxNope\",\"secret\":\"x\"}") == 40013, "appid");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", "{\"grant_type\":\"client_credential"
                   "\",\"appid\":\"wxB\",\"secret\":\"x\"}") == 40125, "secret");
        CHECK(call(&emu_a, "POST", "/cgi-bin/stable_token", fmt("%s}", good)) == 0,
              "force_refresh is optional");
}

static void test_stable(void)
{
        char *s1, *s2, *n1, *f1, *f2, *f3, *g;
        int exp;

        s1 = stable(&emu_a, "wxB", SECRET_B, false, &exp);
        CHECK(exp > 300 && exp <= 7200, "expires_in %d", exp);
        CHECK(callback(&emu_a, s1) == 0, "stable token works");
        s2 = stable(&emu_a, "wxB", SECRET_B, false, NULL);
        CHECK(same(s1, s2), "normal mode: the same token");
        n1 = token(&emu_a, "wxB", SECRET_B);
        CHECK(!same(n1, s1), "stable and normal tokens are separate");
        free(s2);
        s2 = stable(&emu_a, "wxB", SECRET_B, false, NULL);
        CHECK(same(s1, s2), "/cgi-bin/token does not touch the stable token");

        f1 = stable(&emu_a, "wxB", SECRET_B, true, NULL);
        CHECK(!same(f1, s1) && callback(&emu_a, s1) == 0, "force rotates, old in overlap");
        f2 = stable(&emu_a, "wxB", SECRET_B, true, NULL);
        CHECK(same(f1, f2), "force inside the spacing does not refresh");
        control(&emu_a, "/emu/advance?s=31");
        f3 = stable(&emu_a, "wxB", SECRET_B, true, &exp);
        CHECK(!same(f3, f1) && exp == 7200, "force after the spacing rotates");
        CHECK(callback(&emu_a, f1) == 0 && callback(&emu_a, s1) == 40001, "one overlap only");

        /* Normal mode renews inside the last five minutes; the old one lives out its life. */
        control(&emu_a, fmt("/emu/advance?s=%d", 7200 - 299));
        g = stable(&emu_a, "wxB", SECRET_B, false, &exp);
        CHECK(!same(g, f3) && exp == 7200, "renewed in the last 5 minutes");
        CHECK(callback(&emu_a, f3) == 0, "old stable token still valid");
        control(&emu_a, "/emu/advance?s=300");
        CHECK(callback(&emu_a, f3) == 42001, "old stable token expired naturally");
        CHECK(callback(&emu_a, g) == 0, "new stable token valid");
        free(s1), free(s2), free(n1), free(f1), free(f2), free(f3), free(g);
}

static void test_wecom(void)
{
        const char *q = "/cgi-bin/gettoken?corpid=wwC&corpsecret=" SECRET_C;
        char *c1, *c2, *c3, *k1, *k2, *k3, *wx;

        CHECK(call(&emu_a, "GET", "/cgi-bin/gettoken?corpsecret=x", NULL) == 41002, "corpid");
        CHECK(call(&emu_a, "GET", "/cgi-bin/gettoken?corpid=wwC", NULL) == 41004, "secret");
        CHECK(call(&emu_a, "GET", "/cgi-bin/gettoken?corpid=wwX&corpsecret=x", NULL) == 40013,
              "bad corpid");
        CHECK(call(&emu_a, "GET", "/cgi-bin/gettoken?corpid=wwC&corpsecret=x", NULL) == 40001,
              "bad secret");
        CHECK(call(&emu_a, "GET", "/cgi-bin/gettoken?corpid=wxA&corpsecret=" SECRET_A, NULL) ==
              40013, "an appid is no corpid");
        CHECK(call(&emu_a, "GET", q, NULL) == 0, "errcode 0 on success");
        c1 = fetch(&emu_a, "GET", q, NULL, "access_token", NULL);
        c2 = fetch(&emu_a, "GET", q, NULL, "access_token", NULL);
        CHECK(same(c1, c2), "WeCom returns the same token while valid");
        CHECK(callback(&emu_a, c1) == 0, "corp token works");

        k1 = fetch(&emu_a, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", c1), NULL,
                   "ticket", NULL);
        k2 = fetch(&emu_a, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", c1), NULL,
                   "ticket", NULL);
        CHECK(same(k1, k2), "same ticket while valid");
        CHECK(call(&emu_a, "GET", "/cgi-bin/get_jsapi_ticket?access_token=bogus", NULL) == 40014,
              "WeCom: invalid token is 40014");
        CHECK(call(&emu_a, "GET", "/cgi-bin/get_jsapi_ticket", NULL) == 41001, "missing token");
        wx = token(&emu_a, "wxA", SECRET_A);
        CHECK(call(&emu_a, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", wx), NULL) ==
              40014, "WeCom does not know WeChat tokens");
        CHECK(call(&emu_a, "GET", fmt("/cgi-bin/ticket/getticket?type=jsapi&access_token=%s",
                                      c1), NULL) == 40001, "WeChat does not know WeCom tokens");

        control(&emu_a, "/emu/expire?app=wwC");
        CHECK(callback(&emu_a, c1) == 42001, "corp token expired");
        CHECK(call(&emu_a, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", c1), NULL) ==
              42001, "ticket with expired token");
        c3 = fetch(&emu_a, "GET", q, NULL, "access_token", NULL);
        CHECK(!same(c3, c1), "a new corp token after expiry");
        k3 = fetch(&emu_a, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", c3), NULL,
                   "ticket", NULL);
        CHECK(!same(k3, k1), "tickets expire with /emu/expire too");
        free(c1), free(c2), free(c3), free(k1), free(k2), free(k3), free(wx);
}

static void test_tickets(void)
{
        const char *tpl = "/cgi-bin/ticket/getticket?access_token=%s&type=%s";
        char *t = token(&emu_a, "wxA", SECRET_A), *j1, *j2, *w1;

        j1 = fetch(&emu_a, "GET", fmt(tpl, t, "jsapi"), NULL, "ticket", NULL);
        j2 = fetch(&emu_a, "GET", fmt(tpl, t, "jsapi"), NULL, "ticket", NULL);
        w1 = fetch(&emu_a, "GET", fmt(tpl, t, "wx_card"), NULL, "ticket", NULL);
        CHECK(same(j1, j2) && !same(j1, w1), "one ticket per type while valid");
        CHECK(call(&emu_a, "GET", fmt(tpl, t, "nope"), NULL) == 40097, "bad type");
        CHECK(call(&emu_a, "GET", fmt(tpl, "bogus", "jsapi"), NULL) == 40001, "bad token");
        control(&emu_a, "/emu/expire?app=wxA");
        CHECK(call(&emu_a, "GET", fmt(tpl, t, "jsapi"), NULL) == 42001, "expired token");
        free(t), free(j1), free(j2), free(w1);
}

/* A counter of /emu/stats for app; -1 if absent. */
static int stat_of(struct emu_proc *e, const char *app, const char *counter)
{
        struct http_res r;
        const cJSON *apps, *o;
        int v = -1;

        http_call(e, "GET", "/emu/stats", NULL, 5000, &r);
        apps = r.json ? cJSON_GetObjectItemCaseSensitive(r.json, "apps") : NULL;
        o = apps ? cJSON_GetObjectItemCaseSensitive(apps, app) : NULL;
        if (o)
                v = json_int(o, counter, -1);
        http_res_free(&r);
        return v;
}

/*
 * WeCom's agent_config ticket (ticket/get, type agent_config only) and the hourly ticket
 * limits: past --ticket-hour-limit, 45009 for an hour, then calls are counted anew.
 */
static void test_agent_config(const char *bin)
{
        const char *const args[] = { "--corp", "wwH:" SECRET_C, "--ticket-hour-limit", "2", NULL };
        static struct emu_proc e; /* proc_cleanup_all looks at every emulator started, at the end */
        const char *tpl = "/cgi-bin/ticket/get?access_token=%s&type=%s";
        char *c, *a1, *a2, *j;

        proc_start(&e, bin, args);
        c = fetch(&e, "GET", "/cgi-bin/gettoken?corpid=wwH&corpsecret=" SECRET_C, NULL, "access_token", NULL);
        a1 = fetch(&e, "GET", fmt(tpl, c, "agent_config"), NULL, "ticket", NULL);
        j = fetch(&e, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", c), NULL, "ticket", NULL);
        CHECK(a1 && j && !same(a1, j), "the app's ticket is not the corp's");
        CHECK(call(&e, "GET", fmt(tpl, c, "jsapi"), NULL) == 40097, "ticket/get serves agent_config only");
        CHECK(call(&e, "GET", fmt("/cgi-bin/ticket/get?access_token=%s", c), NULL) == 40097, "no type");
        a2 = fetch(&e, "GET", fmt(tpl, c, "agent_config"), NULL, "ticket", NULL);
        CHECK(same(a1, a2), "the same ticket while valid");
        CHECK(call(&e, "GET", fmt(tpl, c, "agent_config"), NULL) == 45009, "the third in an hour: 45009");
        CHECK(call(&e, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", c), NULL) == 0,
              "the corp's jsapi ticket is counted apart");
        control(&e, "/emu/advance?s=3599");
        CHECK(call(&e, "GET", fmt(tpl, c, "agent_config"), NULL) == 45009, "blocked for the hour");
        control(&e, "/emu/advance?s=2");
        CHECK(call(&e, "GET", fmt(tpl, c, "agent_config"), NULL) == 0, "after the hour, fetched again");
        CHECK(stat_of(&e, "wwH", "agent_config_calls") == 7 && stat_of(&e, "wwH", "quota_rejects") == 2,
              "counted: %d calls to ticket/get, %d refused", stat_of(&e, "wwH", "agent_config_calls"),
              stat_of(&e, "wwH", "quota_rejects"));
        CHECK(proc_stop(&e) == 0, "clean stop");
        free(c), free(a1), free(a2), free(j);
}

/* --overlap-ms: a sub-second overlap, for benchmarks that scale a token's life down to seconds. */
static void test_overlap_ms(const char *bin)
{
        const char *const args[] = { "--app", "wxA:" SECRET_A, "--overlap-ms", "1500", NULL };
        static struct emu_proc e; /* proc_cleanup_all looks at every emulator started, at the end */
        char *t1, *t2;

        proc_start(&e, bin, args);
        t1 = token(&e, "wxA", SECRET_A);
        t2 = token(&e, "wxA", SECRET_A);
        control(&e, "/emu/advance?ms=1400");
        CHECK(callback(&e, t1) == 0 && callback(&e, t2) == 0, "inside a 1500 ms overlap");
        control(&e, "/emu/advance?ms=200");
        CHECK(callback(&e, t1) == 40001 && callback(&e, t2) == 0, "past a 1500 ms overlap");
        CHECK(proc_stop(&e) == 0, "clean stop");
        free(t1), free(t2);
}

int main(int argc, char **argv)
{
        const char *bin = argc > 1 ? argv[1] : getenv("WXEMU") ? getenv("WXEMU") :
                "./tests/emu/wxemu";
        const char *const args_a[] = {
                "--app", "wxA:" SECRET_A, "--app", "wxB:" SECRET_B, "--app", "wxF:" SECRET_F,
                "--corp", "wwC:" SECRET_C, "--verbose", "--seed", "42", NULL,
        };
        const char *const args_b[] = {
                "--app", "wxQ:" SECRET_Q, "--quota-token", "3", "--quota-stable-force", "2",
                "--force-spacing", "0", "--overlap", "0", "--expires-in", "40",
                "--checksum-tokens", "--token-length", "64", NULL,
        };

        SETUP_OK(access(bin, X_OK) == 0, "no wxemu at %s (pass it as argv[1] or $WXEMU)", bin);
        SETUP_OK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
        proc_start(&emu_a, bin, args_a);
        proc_start(&emu_b, bin, args_b);
        test_token();
        test_stable_errors();
        test_stable();
        test_wecom();
        test_tickets();
        test_overlap_ms(bin);
        test_agent_config(bin);
        test_faults(&emu_a);
        test_stats(&emu_a);
        test_quota(&emu_b);
        test_shutdown(&emu_a, &emu_b);
        proc_cleanup_all();
        curl_global_cleanup();
        if (!check_failures())
                fprintf(stderr, "all wxemu checks passed\n");
        return check_exit_code();
}
