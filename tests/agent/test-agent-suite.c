/* test-agent-suite.c: WeCom service providers against wxemu and the real agent: a suite (suite_ticket), the provider, and corps under the suite (permanent codes, auth codes, cancellation). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"

#define SUITE "wwsuite0001"
#define SSECRET "Suite-Secret-4b7e1d9a2c"
#define PROV "wwprov0001"
#define PSECRET "Prov-Secret-8c2f5a1e7d"
#define SEED "7"
#define N_CORPS 2
#define N_CONCURRENT 8

static struct emu_proc emu;
static struct agent_proc a;
static const char *const corps[N_CORPS] = { "wwc00000001", "wwc00000002" };

/* wxemu's first permanent code of corpid (doc/wxemu.md), into out. */
static void seed_pcode(const char *corpid, char out[64]) {
        char *code = emu_seeded_permanent_code(SEED, corpid);

        snprintf(out, 64, "%s", code);
        free(code);
}

/* Token calls wxemu answered for id (get_suite_token, get_provider_token, get_corp_token), ok or not. */
static int calls(const char *id) {
        int n = emu_stat(&emu, id, "gettoken_calls");

        return n < 0 ? 0 : n; /* an account nothing touched yet is not shown */
}

static int calls_all(void) {
        return calls(SUITE) + calls(PROV) + calls(corps[0]) + calls(corps[1]);
}

static const char *item_of(int i) {
        static char names[N_CORPS][64];

        snprintf(names[i], sizeof(names[i]), "crm.%s", corps[i]);
        return names[i];
}

/* A suite_ticket as WeCom would push it now (wxemu mints it): its text in ticket (malloc'd), its TimeStamp. */
static long long push_ticket(char **ticket) {
        struct http_res res;
        long long t;

        http_call(&emu, "POST", "/emu/push_ticket?suite=" SUITE, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        *ticket = strdup(json_str(res.json, "ticket"));
        t = json_int(res.json, "create_time", 0);
        http_res_free(&res);
        return t;
}

/* The ticket op with create_time t: the reply (to free), its raw text in raw. */
static cJSON *put(const char *ticket, long long t, char *raw, size_t size) {
        char line[1024];

        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"crm\",\"ticket\":\"%s\",\"create_time\":%lld}\n",
                 ticket, t);
        return agent_request(&a, line, raw, size);
}

/* The suite's status entry's "component" object (in *o, to free). */
static const cJSON *suite_status(cJSON **o, char *raw, size_t size) {
        *o = agent_request(&a, "{\"op\":\"status\",\"app\":\"crm\"}\n", raw, size);
        return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(*o, "apps"), 0),
                                                "component");
}

static char *verify_ticket_file(void) {
        char path[256];

        snprintf(path, sizeof(path), "%s/crm.verify_ticket", a.state_dir);
        return file_slurp(path);
}

static char *authorizers_file(void) {
        char path[256];

        snprintf(path, sizeof(path), "%s/crm.authorizers", a.state_dir);
        return file_slurp(path);
}

/* authorizer_list over the socket: the entry of corpid (the whole reply in *reply, to free). */
static const cJSON *listed(const char *corpid, cJSON **reply, char *raw, size_t size) {
        const cJSON *x;

        *reply = agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"crm\"}\n", raw, size);
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(*reply, "authorizers"))
                if (json_str(x, "appid") && !strcmp(json_str(x, "appid"), corpid))
                        return x;
        return NULL;
}

static const char *state_of(const cJSON *e) {
        return e && json_str(e, "state") ? json_str(e, "state") : "";
}

/* N_CONCURRENT clients refresh generation g of item at once; how many were answered ok (the last answer in last). */
static int force_all(const char *item, uint64_t g, char last[static 4096]) {
        return agent_refresh_all(&a, item, g, N_CONCURRENT, last);
}

/* The provider: fetched once at start, get_provider_token; readable through libwxshm. */
static void test_provider(void) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };

        CHECK(agent_wait_generation("isv", 1, 10000), "the provider's token published");
        CHECK(agent_read("isv", buf, sizeof(buf), &info) > 0 && info.state == WXSHM_STATE_FRESH, "readable");
        CHECK(calls(PROV) == 1, "one get_provider_token call: %d", calls(PROV));
}

/* No suite_ticket yet: no call, status says so; a put older than 30 minutes is refused; then one call. */
static void test_first_ticket(char **held, long long *held_t) {
        char raw[16384], *old;
        long long t;
        const cJSON *c;
        cJSON *o;

        harness_sleep_ms(1000); /* an observation window: a call would show in it */
        CHECK(calls(SUITE) == 0, "no get_suite_token call without a ticket: %d", calls(SUITE));
        c = suite_status(&o, raw, sizeof(raw));
        CHECK(c && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "waiting_for_ticket")),
              "status says the suite waits for a ticket: %s", raw);
        cJSON_Delete(o);

        t = push_ticket(&old);
        o = put(old, (long long)time(NULL) - 31 * 60, raw, sizeof(raw));
        CHECK(strstr(raw, "ticket_refused") && strstr(raw, "30 min"), "a put 31 minutes old is refused: %s", raw);
        cJSON_Delete(o);
        free(old);

        t = push_ticket(held);
        *held_t = t;
        o = put(*held, t, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ticket\":\"taken\""), "the push is taken: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_wait_generation("crm", 1, 10000), "the suite's token published");
        CHECK(calls(SUITE) == 1, "one get_suite_token call: %d", calls(SUITE));
}

/* A push that arrives after a newer one (its TimeStamp older) is ignored: the newer stays in use and on disk. */
static void test_out_of_order(const char *held, long long held_t) {
        char raw[16384], *late, *f;
        const cJSON *c;
        cJSON *o;

        push_ticket(&late);
        o = put(late, held_t - 60, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ticket\":\"ignored\""), "an older TimeStamp is ignored: %s", raw);
        cJSON_Delete(o);
        c = suite_status(&o, raw, sizeof(raw));
        CHECK(c && json_int(c, "ticket_create_time", 0) == held_t, "the newer ticket stays in use: %s", raw);
        cJSON_Delete(o);
        f = verify_ticket_file();
        CHECK(f && strstr(f, held) && !strstr(f, late), "the file holds the newer ticket only");
        free(f);
        free(late);
}

/*
 * WeCom hands the same suite token out while it is valid: 8 clients forcing generation G
 * make one call, and the equal token is no new generation (each is told so).
 */
static void test_same_token(void) {
        uint64_t g = agent_generation("crm");
        int before = calls(SUITE), ok;
        char last[4096];

        ok = force_all("crm", g, last);
        CHECK(calls(SUITE) == before + 1, "one call for %d clients: %d (before %d)", N_CONCURRENT, calls(SUITE),
              before);
        CHECK(agent_generation("crm") == g, "the same token is no new generation: %llu (was %llu)",
              (unsigned long long)agent_generation("crm"), (unsigned long long)g);
        CHECK(ok == 0, "nobody is told of a new token: %d ok", ok);
        CHECK(strstr(last, "upstream_failed") && strstr(last, "same token"), "they are told the same token came "
              "back: %s", last);
}

/*
 * WeCom's push did not come (no put since): a refresh the suite needs uses the last ticket,
 * still inside its 30 minutes. The suite's token is made dead in wxemu, so WeCom mints anew.
 */
static void test_missed_push(void) {
        uint64_t g;
        int before = calls(SUITE);

        SETUP_OK(control(&emu, "/emu/expire?app=" SUITE) == 200, "expire the suite's token");
        g = agent_generation("crm");
        char last[4096];

        CHECK(force_all("crm", g, last) == N_CONCURRENT, "every client gets the new token: %s", last);
        CHECK(agent_generation("crm") == g + 1, "a new generation with the last ticket held");
        CHECK(calls(SUITE) == before + 1, "one call: %d (before %d)", calls(SUITE), before);
}

/* A corp added with its permanent code (stdin), another with the auth code of its authorization callback. */
static void test_corps(void) {
        char out[4096], pcode[64], pcode2[64], *f;
        struct http_res res;
        char args[256], *code;
        struct stat st;

        seed_pcode(corps[0], pcode);
        snprintf(args, sizeof(args), "authorizer add crm %s", corps[0]);
        CHECK(agent_ctl(&a, pcode, args, out, sizeof(out)) == 0 && strstr(out, "added"), "add by permanent code: %s", out);
        CHECK(agent_wait_generation(item_of(0), 1, 10000), "%s published", item_of(0));
        CHECK(calls(corps[0]) == 1, "one get_corp_token call: %d", calls(corps[0]));

        http_call(&emu, "POST", "/emu/auth_code?corp=wwc00000002", NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "auth_code"), "auth_code");
        code = strdup(json_str(res.json, "auth_code"));
        http_res_free(&res);
        snprintf(args, sizeof(args), "authorizer add --auth-code crm %s", corps[1]);
        CHECK(agent_ctl(&a, code, args, out, sizeof(out)) == 0 && strstr(out, "exchanging"), "add by auth code: %s", out);
        CHECK(agent_wait_generation(item_of(1), 1, 10000), "%s published with the token the exchange returned",
              item_of(1));
        CHECK(calls(corps[1]) == 0, "no get_corp_token call: the exchange's token is used: %d", calls(corps[1]));
        /* Never cancelled: an authorization (auth code) hands out the same permanent code. */
        seed_pcode(corps[1], pcode2);
        f = authorizers_file();
        CHECK(f && strstr(f, pcode) && strstr(f, pcode2) && !strstr(f, code), "both permanent codes kept, not the "
              "auth code");
        free(f);
        snprintf(args, sizeof(args), "%s/crm.authorizers", a.state_dir);
        CHECK(stat(args, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is 0600");
        CHECK(agent_ctl(&a, NULL, "authorizer list crm", out, sizeof(out)) == 0 && strstr(out, corps[0]) &&
              strstr(out, corps[1]) && !strstr(out, "pcode@@@"), "listed, no permanent code: %s", out);
        /* A spent auth code: 40078, the corp refused, one call. */
        snprintf(args, sizeof(args), "authorizer add --auth-code crm wwc00000009");
        CHECK(agent_ctl(&a, code, args, out, sizeof(out)) == 0, "a second corp with the spent code is taken: %s", out);
        harness_sleep_ms(2000);
        CHECK(agent_ctl(&a, NULL, "authorizer list crm", out, sizeof(out)) == 0 && strstr(out, "wwc00000009") &&
              strstr(out, "refused") && strstr(out, "40078"), "the spent code is refused (40078): %s", out);
        CHECK(agent_ctl(&a, NULL, "authorizer remove crm wwc00000009", out, sizeof(out)) == 0, "removed: %s", out);
        free(code);
}

/*
 * A corp onboarded by its auth code alone (WeCom's create_auth event names no corp):
 * get_permanent_code's answer names it; its token published with no get_corp_token call,
 * its permanent code kept (not the auth code); the code is good once.
 */
static void test_auth_code_alone(void) {
        char out[4096], *code, *f, *pcode = emu_seeded_permanent_code(SEED, "wwc00000003");
        struct http_res res;

        http_call(&emu, "POST", "/emu/auth_code?corp=wwc00000003", NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "auth_code"), "auth_code");
        code = strdup(json_str(res.json, "auth_code"));
        http_res_free(&res);
        CHECK(agent_ctl(&a, code, "authorizer add crm --auth-code", out, sizeof(out)) == 0 &&
              strstr(out, "crm.wwc00000003: added"), "onboarded by the auth code alone: %s", out);
        CHECK(agent_generation("crm.wwc00000003") >= 1, "published when the add is answered");
        CHECK(calls("wwc00000003") == 0, "no get_corp_token call: %d", calls("wwc00000003"));
        f = authorizers_file();
        CHECK(f && strstr(f, "wwc00000003") && strstr(f, pcode) && !strstr(f, code), "its permanent code kept, not "
              "the auth code");
        free(f);
        CHECK(agent_ctl(&a, code, "authorizer add crm --auth-code", out, sizeof(out)) == 1, "the code is good once: %s",
              out);
        CHECK(agent_log_count(&a, code) == 0, "the auth code is not in the log");
        /* The tests after this one count the first two corps only. */
        CHECK(agent_ctl(&a, NULL, "authorizer remove crm wwc00000003", out, sizeof(out)) == 0 &&
              agent_generation("crm.wwc00000003") == 0, "removed again: %s", out);
        free(code);
        free(pcode);
}

/* 8 clients force generation G of a corp whose token WeCom expired: one get_corp_token call for all. */
static void test_corp_force(void) {
        uint64_t g = agent_generation(item_of(0));
        int before = calls(corps[0]);

        SETUP_OK(control(&emu, "/emu/expire?app=wwc00000001") == 200, "expire the corp's token");
        char last[4096];

        CHECK(force_all(item_of(0), g, last) == N_CONCURRENT, "every client gets the new token: %s", last);
        CHECK(calls(corps[0]) == before + 1, "one call for all: %d (before %d)", calls(corps[0]), before);
        CHECK(agent_generation(item_of(0)) == g + 1, "one new generation");
}

/* A clean restart: every token adopted (suite, provider, corps), 0 calls; the ticket comes back from state_dir. */
static void test_restart(void) {
        int before = calls_all();
        char raw[16384];
        const cJSON *c;
        cJSON *o;

        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        CHECK(agent_generation("crm") > 0 && agent_generation("isv") > 0, "suite and provider there after the restart");
        for (int i = 0; i < N_CORPS; i++)
                CHECK(agent_generation(item_of(i)) > 0, "%s there after the restart", item_of(i));
        harness_sleep_ms(500); /* an observation window: a call at start would show in it */
        CHECK(calls_all() == before, "adopted with no call: %d (before %d)", calls_all(), before);
        c = suite_status(&o, raw, sizeof(raw));
        CHECK(c && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "has_ticket")), "the ticket read back: %s", raw);
        cJSON_Delete(o);
}

/* The corp cancels the authorization: 40084, one call, no retry; listed refused; the suite's status counts it. */
static void test_cancelled(void) {
        char raw[16384], out[4096], line[160];
        int before = calls(corps[0]);
        const cJSON *e;
        cJSON *o;

        SETUP_OK(control(&emu, "/emu/deauthorize?corp=wwc00000001") == 200, "deauthorize");
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"timeout_ms\":10000}\n", item_of(0));
        o = agent_request(&a, line, raw, sizeof(raw));
        CHECK(strstr(raw, "upstream_failed") && strstr(raw, "40084"), "the refresh says 40084: %s", raw);
        cJSON_Delete(o);
        harness_sleep_ms(3000); /* backoff_max is 2 s: a retry would show in this window */
        CHECK(calls(corps[0]) == before + 1, "one call, not retried: %d (before %d)", calls(corps[0]), before);
        e = listed(corps[0], &o, raw, sizeof(raw));
        CHECK(!strcmp(state_of(e), "refused") && json_int(e, "last_errcode", 0) == 40084 &&
              strstr(json_str(e, "note") ? json_str(e, "note") : "", "permanent code"),
              "the list says refused, and why: %s", raw);
        cJSON_Delete(o);
        e = suite_status(&o, raw, sizeof(raw));
        CHECK(json_int(e, "authorizers", -1) == N_CORPS && json_int(e, "authorizers_refused", -1) == 1,
              "the suite's status counts the cancelled corp: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_ctl(&a, NULL, "status crm", out, sizeof(out)) == 0 && strstr(out, "1 refused") &&
              strstr(out, "corps: 2") && strstr(out, "suite_ticket: created"), "wxtokenctl status: %s", out);
        CHECK(agent_generation(item_of(1)) > 0, "the other corp serves on");
}

/* No secret, permanent code or auth code in the log, status or list. */
static void test_no_secret(void) {
        char raw[65536], list[16384], pcode[64], pcode2[64];
        char *log = agent_log(&a);
        cJSON *o, *l;

        seed_pcode(corps[0], pcode);
        seed_pcode(corps[1], pcode2);
        o = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        l = agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"crm\"}\n", list, sizeof(list));
        CHECK(log && !strstr(log, SSECRET) && !strstr(log, PSECRET) && !strstr(raw, SSECRET) && !strstr(raw, PSECRET),
              "no suite or provider secret");
        CHECK(!strstr(log, "pcode@@@") && !strstr(raw, "pcode@@@") && !strstr(list, "pcode@@@"),
              "no permanent code anywhere");
        CHECK(!strstr(log, "authcode@@@") && !strstr(raw, "authcode@@@"), "no auth code anywhere");
        cJSON_Delete(o);
        cJSON_Delete(l);
        free(log);
}

int main(void) {
        static const char *const args[] = { "--suite", SUITE ":" SSECRET, "--corps", "3", "--provider",
                                            PROV ":" PSECRET, "--seed", SEED, NULL };
        char apps[2048], *held = NULL;
        long long held_t = 0;

        emu_start(&emu, args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app crm]\nkind = suite\nappid = " SUITE "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app isv]\nkind = provider\nappid = " PROV "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "crm", SSECRET), emu.port, agent_secret_file(&a, "isv", PSECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", apps);
        agent_start(&a);

        test_provider();
        test_first_ticket(&held, &held_t);
        test_out_of_order(held, held_t);
        test_same_token();
        test_missed_push();
        test_corps();
        test_auth_code_alone();
        test_corp_force();
        test_restart();
        test_cancelled();
        test_no_secret();
        free(held);
        return harness_finish(&a);
}
