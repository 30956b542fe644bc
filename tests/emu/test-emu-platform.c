/* test-emu-platform.c: checks wxemu's Open Platform and WeCom service-provider endpoints as WeChat documents them, over HTTP to the real binary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-emu-util.h"

#define SEC_C1 "Sec-Comp1-77aa"
#define SEC_C2 "Sec-Comp2-88bb"
#define SEC_S "Sec-Suite-99cc"
#define SEC_P "Sec-Prov-00dd"
#define SEC_R "Sec-Rot-11ee"
#define SEED 9

static struct emu_proc emu, emu_rot;

/* A POST's answer as JSON (NULL and a failure when it is not). */
static cJSON *post(struct emu_proc *p, const char *path, const char *body)
{
        struct http_res r;
        cJSON *j;

        http_call(p, "POST", path, body, 10000, &r);
        CHECK(r.json, "POST %s: %s", path, r.body ? r.body : "(nothing)");
        j = r.json;
        r.json = NULL;
        http_res_free(&r);
        return j;
}

/* A string field of a control's or endpoint's answer, malloc'd. */
static char *field(struct emu_proc *p, const char *path, const char *body, const char *name)
{
        cJSON *j = post(p, path, body);
        const char *v = json_str(j, name);
        char *out = v ? strdup(v) : NULL;

        CHECK(out, "POST %s: no %s", path, name);
        cJSON_Delete(j);
        return out;
}

static char *push(struct emu_proc *p, const char *owner)
{
        return field(p, fmt("/emu/push_ticket?%s", owner), NULL, "ticket");
}

static const char *ctoken_body(const char *comp, const char *secret, const char *ticket)
{
        return fmt("{\"component_appid\":\"%s\",\"component_appsecret\":\"%s\","
                   "\"component_verify_ticket\":\"%s\"}", comp, secret, ticket);
}

static int ctoken_call(struct emu_proc *p, const char *comp, const char *secret, const char *ticket)
{
        return call(p, "POST", "/cgi-bin/component/api_component_token", ctoken_body(comp, secret, ticket));
}

static char *ctoken(struct emu_proc *p, const char *comp, const char *secret, const char *ticket)
{
        return field(p, "/cgi-bin/component/api_component_token", ctoken_body(comp, secret, ticket),
                     "component_access_token");
}

static const char *atoken_path(const char *ct)
{
        return fmt("/cgi-bin/component/api_authorizer_token?component_access_token=%s", ct);
}

static const char *atoken_body(const char *comp, const char *appid, const char *rt)
{
        return fmt("{\"component_appid\":\"%s\",\"authorizer_appid\":\"%s\","
                   "\"authorizer_refresh_token\":\"%s\"}", comp, appid, rt);
}

static const char *list_path(const char *ct)
{
        return fmt("/cgi-bin/component/api_get_authorizer_list?component_access_token=%s", ct);
}

static uint64_t fnv(const char *s, uint64_t h)
{
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

/* The documented derivation (wxemu --help, emu-plat.c): what a test may compute itself.
 * In one of fmt's rotating buffers: copy it to keep it. */
static const char *derived_rt(const char *appid, unsigned gen)
{
        uint64_t h1 = fnv(fmt("%d:%s:%u", SEED, appid, gen), 0xcbf29ce484222325ULL);

        return fmt("refreshtoken@@@%016llx%016llx", (unsigned long long)h1,
                   (unsigned long long)fnv("#", h1));
}

/* One page of the list: its length, total_count, and the first appid (in *first). */
static int list_page(const char *ct, const char *comp, int offset, int count, int *total, char **first)
{
        cJSON *j = post(&emu, list_path(ct), fmt("{\"component_appid\":\"%s\",\"offset\":%d,"
                                                  "\"count\":%d}", comp, offset, count));
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "list");
        int n = cJSON_GetArraySize(list);

        *total = json_int(j, "total_count", -1);
        if (first)
                *first = n ? strdup(json_str(cJSON_GetArrayItem(list, 0), "authorizer_appid")) : NULL;
        cJSON_Delete(j);
        return n;
}

static void test_component_token(void)
{
        const char *path = "/cgi-bin/component/api_component_token";
        char *t1, *t2, *c1, *c2, *t3;
        cJSON *j;
        int i;

        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, "ticket@@@never"), 61006);
        t1 = push(&emu, "component=wxc1");
        t2 = push(&emu, "component=wxc2");
        CHECK(t1 && !strncmp(t1, "ticket@@@", 9) && !same(t1, t2), "tickets: %s %s", t1, t2);
        CHECK_EQ(call(&emu, "GET", path, NULL), 43002);
        CHECK_EQ(call(&emu, "POST", path, "not json"), 47001);
        CHECK_EQ(call(&emu, "POST", path, "{\"component_appsecret\":\"x\"}"), 41002);
        CHECK_EQ(ctoken_call(&emu, "wxNope", SEC_C1, t1), 61011);
        CHECK_EQ(call(&emu, "POST", path, fmt("{\"component_appid\":\"wxc1\","
                                               "\"component_verify_ticket\":\"%s\"}", t1)), 41004);
        CHECK_EQ(ctoken_call(&emu, "wxc1", "wrong", t1), 40125);
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t2), 61006);      /* another's ticket */
        c1 = ctoken(&emu, "wxc1", SEC_C1, t1);
        j = post(&emu, path, ctoken_body("wxc1", SEC_C1, t1));
        CHECK_EQ(json_int(j, "expires_in", -1), 7200);
        c2 = j && json_str(j, "component_access_token") ? strdup(json_str(j, "component_access_token")) : NULL;
        cJSON_Delete(j);
        CHECK(c1 && c2 && !same(c1, c2), "each mint is a new token");
        /* the previous token lives out the overlap, then is refused */
        CHECK_EQ(list_page(c1, "wxc1", 0, 1, &i, NULL), 1);
        control(&emu, "/emu/advance?s=301");
        CHECK_EQ(call(&emu, "POST", list_path(c1), "{\"component_appid\":\"wxc1\",\"offset\":0,\"count\":1}"), 40001);
        CHECK_EQ(list_page(c2, "wxc1", 0, 1, &i, NULL), 1);

        control(&emu, "/emu/ip_block?component=wxc1&on=1");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t1), 61004);
        CHECK_EQ(call(&emu, "POST", list_path(c2), "{\"component_appid\":\"wxc1\",\"offset\":0,\"count\":1}"), 61004);
        control(&emu, "/emu/ip_block?component=wxc1&on=0");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t1), 0);

        control(&emu, "/emu/invalidate_ticket?component=wxc1");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t1), 61006);
        t3 = push(&emu, "component=wxc1");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t3), 0);
        control(&emu, "/emu/expire_ticket?component=wxc1");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t3), 61005);

        control(&emu, "/emu/reset-quota?app=wxc1");     /* --quota-component 4 is spent */
        /* api_start_push_ticket: "ok", and a new ticket is there to forward */
        CHECK_EQ(call(&emu, "POST", "/cgi-bin/component/api_start_push_ticket",
                      "{\"component_appid\":\"wxc1\",\"component_secret\":\"wrong\"}"), 40125);
        CHECK_EQ(call(&emu, "POST", "/cgi-bin/component/api_start_push_ticket",
                      "{\"component_appid\":\"wxc1\",\"component_secret\":\"" SEC_C1 "\"}"), 0);
        free(t3);
        t3 = field(&emu, "/emu/ticket?component=wxc1", NULL, "ticket");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, t3), 0);

        /* --quota-component 4: the fifth call of the Beijing day is 45009 */
        control(&emu, "/emu/reset-quota?app=wxc2");
        for (i = 0; i < 4; i++)
                CHECK_EQ(ctoken_call(&emu, "wxc2", SEC_C2, t2), 0);
        CHECK_EQ(ctoken_call(&emu, "wxc2", SEC_C2, t2), 45009);
        control(&emu, "/emu/reset-quota?app=wxc2");
        CHECK_EQ(ctoken_call(&emu, "wxc2", SEC_C2, t2), 0);
        free(t1), free(t2), free(t3), free(c1), free(c2);
}

static void test_authorizer_list(const char *ct1, const char *ct2)
{
        int total, n[3];
        char *f[3], *g;

        n[0] = list_page(ct1, "wxc1", 0, 500, &total, &f[0]);
        n[1] = list_page(ct1, "wxc1", 500, 500, &total, &f[1]);
        n[2] = list_page(ct1, "wxc1", 1000, 500, &total, &f[2]);
        CHECK(n[0] == 500 && n[1] == 500 && n[2] == 200, "pages %d+%d+%d", n[0], n[1], n[2]);
        CHECK_EQ(total, 1200);
        CHECK(same(f[0], "wxa00000001") && same(f[1], "wxa00000501") && same(f[2], "wxa00001001"),
              "page starts %s %s %s", f[0], f[1], f[2]);
        CHECK_EQ(list_page(ct2, "wxc2", 0, 1, &total, &g), 1);
        CHECK(same(g, "wxa00001201") && total == 1200, "the second component's accounts: %s", g);
        CHECK_EQ(call(&emu, "POST", list_path(ct1), "{\"component_appid\":\"wxc1\",\"offset\":0,\"count\":501}"), 40097);
        CHECK_EQ(call(&emu, "POST", list_path(ct1), "{\"component_appid\":\"wxc1\",\"offset\":0}"), 40097);
        CHECK_EQ(call(&emu, "POST", list_path(ct2), "{\"component_appid\":\"wxc1\",\"offset\":0,\"count\":1}"), 40001);
        CHECK_EQ(call(&emu, "POST", "/cgi-bin/component/api_get_authorizer_list",
                      "{\"component_appid\":\"wxc1\",\"offset\":0,\"count\":1}"), 41001);
        for (int i = 0; i < 3; i++)
                free(f[i]);
        free(g);
}

static void test_authorizer_token(const char *ct1, const char *ct2)
{
        char *rt1 = strdup(derived_rt("wxa00000001", 1)), *a1, *a2, *a3, *b1, *code, *rtb, *bq;
        cJSON *j;
        int total;

        j = post(&emu, atoken_path(ct1), atoken_body("wxc1", "wxa00000001", rt1));
        CHECK(same(json_str(j, "authorizer_refresh_token"), rt1), "refresh token unchanged: %s",
              json_str(j, "authorizer_refresh_token"));
        CHECK_EQ(json_int(j, "expires_in", -1), 7200);
        a1 = json_str(j, "authorizer_access_token") ? strdup(json_str(j, "authorizer_access_token")) : NULL;
        cJSON_Delete(j);
        CHECK_EQ(callback(&emu, a1), 0);
        CHECK_EQ(call(&emu, "GET", fmt("/cgi-bin/ticket/getticket?access_token=%s&type=jsapi", a1), NULL), 0);
        CHECK_EQ(call(&emu, "GET", fmt("/cgi-bin/ticket/getticket?access_token=%s&type=wx_card", a1), NULL), 0);
        /* a platform's own token opens no business API */
        CHECK_EQ(callback(&emu, ct1), 40001);
        CHECK_EQ(call(&emu, "GET", fmt("/cgi-bin/ticket/getticket?access_token=%s&type=jsapi", ct1), NULL), 40001);

        /* one overlap, as for app tokens; expiry is 42001 */
        a2 = field(&emu, atoken_path(ct1), atoken_body("wxc1", "wxa00000001", rt1), "authorizer_access_token");
        CHECK(!same(a1, a2) && callback(&emu, a1) == 0 && callback(&emu, a2) == 0, "overlap");
        a3 = field(&emu, atoken_path(ct1), atoken_body("wxc1", "wxa00000001", rt1), "authorizer_access_token");
        CHECK_EQ(callback(&emu, a1), 40001);
        control(&emu, "/emu/expire?app=wxa00000001");
        CHECK_EQ(callback(&emu, a3), 42001);

        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00000001", "refreshtoken@@@x")), 61023);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00000001", derived_rt("wxa00000002", 1))), 61023);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00099999", rt1)), 61003);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00001201", derived_rt("wxa00001201", 1))), 61003);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct2), atoken_body("wxc1", "wxa00000001", rt1)), 40001);
        CHECK_EQ(call(&emu, "POST", atoken_path("bogus"), atoken_body("wxc1", "wxa00000001", rt1)), 40001);

        /* de-authorized: out of the list, its token dead, 61003 */
        b1 = field(&emu, atoken_path(ct1), atoken_body("wxc1", "wxa00000002", derived_rt("wxa00000002", 1)),
                   "authorizer_access_token");
        control(&emu, "/emu/deauthorize?authorizer=wxa00000002");
        list_page(ct1, "wxc1", 0, 1, &total, NULL);
        CHECK_EQ(total, 1199);
        CHECK_EQ(callback(&emu, b1), 40001);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00000002", derived_rt("wxa00000002", 1))), 61003);

        /* re-authorized through a one-time code: a new refresh token, the old one dead */
        code = field(&emu, "/emu/auth_code?authorizer=wxa00000002", NULL, "authorization_code");
        j = post(&emu, fmt("/cgi-bin/component/api_query_auth?component_access_token=%s", ct1),
                 fmt("{\"component_appid\":\"wxc1\",\"authorization_code\":\"%s\"}", code));
        {
                const cJSON *info = cJSON_GetObjectItemCaseSensitive(j, "authorization_info");

                CHECK(same(json_str(info, "authorizer_appid"), "wxa00000002"), "query_auth: appid");
                rtb = json_str(info, "authorizer_refresh_token") ? strdup(json_str(info, "authorizer_refresh_token")) : NULL;
                bq = json_str(info, "authorizer_access_token") ? strdup(json_str(info, "authorizer_access_token")) : NULL;
                CHECK_EQ(json_int(info, "expires_in", -1), 7200);
        }
        cJSON_Delete(j);
        CHECK(same(rtb, derived_rt("wxa00000002", 2)), "a new refresh token: %s", rtb);
        CHECK_EQ(callback(&emu, bq), 0);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00000002", derived_rt("wxa00000002", 1))), 61023);
        CHECK_EQ(call(&emu, "POST", atoken_path(ct1), atoken_body("wxc1", "wxa00000002", rtb)), 0);
        list_page(ct1, "wxc1", 0, 1, &total, NULL);
        CHECK_EQ(total, 1200);
        CHECK_EQ(call(&emu, "POST", fmt("/cgi-bin/component/api_query_auth?component_access_token=%s", ct1),
                      fmt("{\"component_appid\":\"wxc1\",\"authorization_code\":\"%s\"}", code)), 61009);
        free(code);
        code = field(&emu, "/emu/auth_code?authorizer=wxa00000003", NULL, "authorization_code");
        CHECK_EQ(call(&emu, "POST", fmt("/cgi-bin/component/api_query_auth?component_access_token=%s", ct2),
                      fmt("{\"component_appid\":\"wxc2\",\"authorization_code\":\"%s\"}", code)), 61009);
        free(rt1), free(a1), free(a2), free(a3), free(b1), free(code), free(rtb), free(bq);
}

/* --rotate-refresh-tokens: a new refresh token per call, the previous one good for the
 * overlap only, then 61023; one predecessor at a time, as for access tokens. */
static void test_rotation(const char *bin)
{
        const char *const args[] = { "--component", "wxr:" SEC_R, "--authorizers", "2", "--seed", "9",
                                     "--rotate-refresh-tokens", "--overlap", "60", NULL };
        char *rt0 = strdup(derived_rt("wxa00000001", 1)), *tk, *ct, *rt1, *rt2;

        proc_start(&emu_rot, bin, args);
        tk = push(&emu_rot, "component=wxr");
        ct = ctoken(&emu_rot, "wxr", SEC_R, tk);
        rt1 = field(&emu_rot, atoken_path(ct), atoken_body("wxr", "wxa00000001", rt0), "authorizer_refresh_token");
        CHECK(rt1 && !same(rt1, rt0), "rotated: %s", rt1);
        /* the old one is still good inside the overlap, and rotates again */
        rt2 = field(&emu_rot, atoken_path(ct), atoken_body("wxr", "wxa00000001", rt0), "authorizer_refresh_token");
        CHECK(rt2 && !same(rt2, rt1) && !same(rt2, rt0), "rotated again");
        CHECK_EQ(call(&emu_rot, "POST", atoken_path(ct), atoken_body("wxr", "wxa00000001", rt0)), 61023);
        control(&emu_rot, "/emu/advance?s=61");
        CHECK_EQ(call(&emu_rot, "POST", atoken_path(ct), atoken_body("wxr", "wxa00000001", rt1)), 61023);
        CHECK_EQ(call(&emu_rot, "POST", atoken_path(ct), atoken_body("wxr", "wxa00000001", rt2)), 0);
        CHECK(proc_stop(&emu_rot) == 0, "clean stop");
        free(rt0), free(tk), free(ct), free(rt1), free(rt2);
}

static const char *suite_path(const char *what, const char *st)
{
        return fmt("/cgi-bin/service/%s?suite_access_token=%s", what, st);
}

static const char *corp_body(const char *corp, const char *pc)
{
        return fmt("{\"auth_corpid\":\"%s\",\"permanent_code\":\"%s\"}", corp, pc);
}

static const char *suite_body(const char *id, const char *secret, const char *ticket)
{
        return fmt("{\"suite_id\":\"%s\",\"suite_secret\":\"%s\",\"suite_ticket\":\"%s\"}",
                   id, secret, ticket);
}

/* A temporary code turned into a permanent one; *token gets the corp token it came with. */
static char *permanent(const char *st, const char *corp, char **token)
{
        char *code = field(&emu, fmt("/emu/auth_code?corp=%s", corp), NULL, "auth_code");
        cJSON *j = post(&emu, suite_path("get_permanent_code", st), fmt("{\"auth_code\":\"%s\"}", code));
        const char *pc = json_str(j, "permanent_code");
        char *out = pc ? strdup(pc) : NULL;

        CHECK(same(json_str(cJSON_GetObjectItemCaseSensitive(j, "auth_corp_info"), "corpid"), corp), "corpid");
        *token = json_str(j, "access_token") ? strdup(json_str(j, "access_token")) : NULL;
        cJSON_Delete(j);
        CHECK_EQ(call(&emu, "POST", suite_path("get_permanent_code", st), fmt("{\"auth_code\":\"%s\"}", code)), 40078);
        free(code);
        return out;
}

static void account_ticket_limits(const char *k);

static void test_suite(void)
{
        const char *sp = "/cgi-bin/service/get_suite_token";
        char *tk, *st, *st2, *pc, *k0, *k1, *k2, *k3, *pc2, *k4, *pt, *pt2;
        struct http_res r;

        CHECK_EQ(call(&emu, "POST", sp, suite_body("wss1", SEC_S, "suiteticket@@@never")), 40085);
        tk = push(&emu, "suite=wss1");
        CHECK_EQ(call(&emu, "POST", sp, suite_body("wssNope", SEC_S, tk)), 40083);
        CHECK_EQ(call(&emu, "POST", sp, suite_body("wss1", "wrong", tk)), 40080);
        control(&emu, "/emu/ip_block?suite=wss1&on=1");
        CHECK_EQ(call(&emu, "POST", sp, suite_body("wss1", SEC_S, tk)), 60020);
        control(&emu, "/emu/ip_block?suite=wss1&on=0");
        st = field(&emu, sp, suite_body("wss1", SEC_S, tk), "suite_access_token");
        st2 = field(&emu, sp, suite_body("wss1", SEC_S, tk), "suite_access_token");
        CHECK(same(st, st2), "the same suite token while it is valid");
        CHECK_EQ(callback(&emu, st), 40001);

        pc = permanent(st, "wwc00000001", &k0);
        http_call(&emu, "POST", suite_path("get_corp_token", st), corp_body("wwc00000001", pc), 5000, &r);
        CHECK(r.json && !cJSON_GetObjectItemCaseSensitive(r.json, "errcode") &&
              json_int(r.json, "expires_in", -1) > 7100, "no errcode on success: %s", r.body);
        k1 = r.json && json_str(r.json, "access_token") ? strdup(json_str(r.json, "access_token")) : NULL;
        http_res_free(&r);
        k2 = field(&emu, suite_path("get_corp_token", st), corp_body("wwc00000001", pc), "access_token");
        CHECK(same(k0, k1) && same(k1, k2), "WeCom: the same corp token while it is valid");
        CHECK_EQ(call(&emu, "GET", fmt("/cgi-bin/get_jsapi_ticket?access_token=%s", k1), NULL), 0);
        CHECK_EQ(call(&emu, "GET", fmt("/cgi-bin/ticket/get?access_token=%s&type=agent_config", k1), NULL), 0);
        account_ticket_limits(k1);
        CHECK_EQ(callback(&emu, k1), 0);
        control(&emu, "/emu/expire?app=wwc00000001");
        CHECK_EQ(callback(&emu, k1), 42001);
        k3 = field(&emu, suite_path("get_corp_token", st), corp_body("wwc00000001", pc), "access_token");
        CHECK(k3 && !same(k3, k1), "a new corp token once expired");

        CHECK_EQ(call(&emu, "POST", suite_path("get_corp_token", st), corp_body("wwc00000001", "pcode@@@x")), 40084);
        CHECK_EQ(call(&emu, "POST", suite_path("get_corp_token", st), corp_body("wwc00000099", pc)), 40013);
        CHECK_EQ(call(&emu, "POST", suite_path("get_corp_token", "bogus"), corp_body("wwc00000001", pc)), 40082);
        CHECK_EQ(call(&emu, "POST", "/cgi-bin/service/get_corp_token", corp_body("wwc00000001", pc)), 41001);

        /* a cancelled authorization: its permanent code refused, its token dead */
        pc2 = permanent(st, "wwc00000002", &k4);
        control(&emu, "/emu/deauthorize?corp=wwc00000002");
        CHECK_EQ(call(&emu, "POST", suite_path("get_corp_token", st), corp_body("wwc00000002", pc2)), 40084);
        CHECK_EQ(callback(&emu, k4), 40014);    /* WeCom's word for a dead token */

        pt = field(&emu, "/cgi-bin/service/get_provider_token", "{\"corpid\":\"wwp1\",\"provider_secret\":\"" SEC_P "\"}",
                   "provider_access_token");
        pt2 = field(&emu, "/cgi-bin/service/get_provider_token", "{\"corpid\":\"wwp1\",\"provider_secret\":\"" SEC_P "\"}",
                    "provider_access_token");
        CHECK(same(pt, pt2), "the same provider token while it is valid");
        CHECK_EQ(call(&emu, "POST", "/cgi-bin/service/get_provider_token", "{\"corpid\":\"wwp1\",\"provider_secret\":\"x\"}"), 40001);
        CHECK_EQ(call(&emu, "POST", "/cgi-bin/service/get_provider_token", "{\"corpid\":\"wwNope\",\"provider_secret\":\"x\"}"), 40013);

        /* lifetimes on the emulator clock: the ticket's 30 minutes, the suite token's 7200 s */
        control(&emu, "/emu/advance?s=1799");
        CHECK_EQ(call(&emu, "POST", sp, suite_body("wss1", SEC_S, tk)), 0);
        control(&emu, "/emu/advance?s=2");
        CHECK_EQ(call(&emu, "POST", sp, suite_body("wss1", SEC_S, tk)), 40085);
        control(&emu, "/emu/advance?s=5400");
        CHECK_EQ(call(&emu, "POST", suite_path("get_corp_token", st), corp_body("wwc00000001", pc)), 42009);
        free(tk), free(st), free(st2), free(pc), free(k0), free(k1), free(k2), free(k3), free(pc2), free(k4);
        free(pt), free(pt2);
}

/* The ticket's 12 hours and the authorization code's hour, on the emulator clock. */
static void test_expiry(void)
{
        char *tk = push(&emu, "component=wxc1"), *ct, *code;

        ct = ctoken(&emu, "wxc1", SEC_C1, tk);
        code = field(&emu, "/emu/auth_code?authorizer=wxa00000004", NULL, "authorization_code");
        control(&emu, "/emu/advance?s=3601");
        free(ct);
        ct = ctoken(&emu, "wxc1", SEC_C1, tk);  /* the first one expired with the hour */
        CHECK_EQ(call(&emu, "POST", fmt("/cgi-bin/component/api_query_auth?component_access_token=%s", ct),
                      fmt("{\"component_appid\":\"wxc1\",\"authorization_code\":\"%s\"}", code)), 61010);
        control(&emu, fmt("/emu/advance?s=%d", 12 * 3600 - 3601 - 2));
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, tk), 0);
        control(&emu, "/emu/advance?s=3");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, tk), 61005);
        free(tk), free(ct), free(code);
}

static int stat_at(const cJSON *root, const char *a, const char *b, const char *c)
{
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, a);

        o = cJSON_GetObjectItemCaseSensitive(o, b);
        return json_int(c ? cJSON_GetObjectItemCaseSensitive(o, c) : o, c ? "calls" : "token_calls", -1);
}

/*
 * A suite's corp's ticket calls are counted per endpoint (the two just made with k, its
 * token), and WeCom's hourly limit holds for it as for a --corp: 100 agent_config tickets an
 * hour for the app (document 90454), the 101st answered 45009.
 */
static void account_ticket_limits(const char *k)
{
        struct http_res r;
        int ok = 0, last = 0;

        http_call(&emu, "GET", "/emu/stats", NULL, 5000, &r);
        CHECK_EQ(stat_at(r.json, "platform", "endpoints", "get_jsapi_ticket"), 1);
        CHECK_EQ(stat_at(r.json, "platform", "endpoints", "ticket/get"), 1);
        http_res_free(&r);
        while (ok < 200 && (last = call(&emu, "GET", fmt("/cgi-bin/ticket/get?access_token=%s&type=agent_config", k),
                                        NULL)) == 0)
                ok++;
        CHECK(ok == 99 && last == 45009, "the corp's app: 100 an hour, then 45009: %d more ok, then %d", ok, last);
}

/* Tests count calls: per endpoint under "platform", per account under "apps" (only the
 * accounts something touched, so 10,000 idle ones cost nothing there). */
static void test_plat_stats(void)
{
        char *tk = push(&emu, "component=wxc1");
        struct http_res r;

        control(&emu, "/emu/reset-stats");
        CHECK_EQ(ctoken_call(&emu, "wxc1", SEC_C1, tk), 0);
        CHECK_EQ(ctoken_call(&emu, "wxc1", "wrong", tk), 40125);
        http_call(&emu, "GET", "/emu/stats", NULL, 5000, &r);
        CHECK_EQ(stat_at(r.json, "platform", "endpoints", "api_component_token"), 2);
        CHECK_EQ(json_int(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(r.json, "platform"), "endpoints"), "api_component_token"), "ok", -1), 1);
        CHECK_EQ(stat_at(r.json, "apps", "wxc1", NULL), 2);
        CHECK(!cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "apps"), "wxa00000999"),
              "an untouched authorizer is not listed");
        CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "apps"), "wxa00000001"),
              "a used one is");
        http_res_free(&r);
        free(tk);
}

int main(int argc, char **argv)
{
        const char *bin = argc > 1 ? argv[1] : getenv("WXEMU") ? getenv("WXEMU") : "./tests/emu/wxemu";
        const char *const args[] = {
                "--component", "wxc1:" SEC_C1, "--component", "wxc2:" SEC_C2, "--authorizers", "1200",
                "--suite", "wss1:" SEC_S, "--corps", "3", "--provider", "wwp1:" SEC_P,
                "--quota-component", "4", "--seed", "9", "--verbose", NULL,
        };
        char *tk1, *tk2, *ct1, *ct2, *log;

        SETUP_OK(access(bin, X_OK) == 0, "no wxemu at %s (pass it as argv[1] or $WXEMU)", bin);
        SETUP_OK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
        proc_start(&emu, bin, args);
        test_component_token();
        tk1 = push(&emu, "component=wxc1");
        tk2 = push(&emu, "component=wxc2");
        control(&emu, "/emu/reset-quota");
        ct1 = ctoken(&emu, "wxc1", SEC_C1, tk1);
        ct2 = ctoken(&emu, "wxc2", SEC_C2, tk2);
        test_authorizer_list(ct1, ct2);
        test_authorizer_token(ct1, ct2);
        test_plat_stats();
        test_rotation(bin);
        test_suite();
        control(&emu, "/emu/reset-quota");
        test_expiry();
        CHECK(proc_stop(&emu) == 0, "clean stop");
        /* --verbose logs every request: no secret of any kind in it */
        log = file_slurp(emu.err_file);
        CHECK(log && strstr(log, "api_component_token") && !strstr(log, SEC_C1) && !strstr(log, SEC_S) &&
              !strstr(log, SEC_P), "wxemu's log holds no secret");
        free(log), free(tk1), free(tk2), free(ct1), free(ct2);
        proc_cleanup_all();
        curl_global_cleanup();
        if (!check_failures())
                fprintf(stderr, "all wxemu platform checks passed\n");
        return check_exit_code();
}
