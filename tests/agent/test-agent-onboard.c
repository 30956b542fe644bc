/* test-agent-onboard.c: authorizers from WeChat's side against wxemu: onboarding by auth_code, sync from api_get_authorizer_list, recovery and revocation after 61023, rotation across kill -9. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"

#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-5e1b7d9c3a2f"
#define N_AUTH 4

static struct emu_proc emu;
static struct agent_proc a;
static const char *const appids[N_AUTH] = { "wxa00000001", "wxa00000002", "wxa00000003", "wxa00000004" };

/* Calls wxemu answered at a platform endpoint ("api_authorizer_token", "api_query_auth", ...), ok or not. */
static int ep_calls(const char *ep) {
        struct http_res res;
        const cJSON *p;
        int n;

        http_call(&emu, "GET", "/emu/stats", NULL, 5000, &res);
        p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(res.json, "platform"), "endpoints");
        n = json_int(cJSON_GetObjectItemCaseSensitive(p, ep), "calls", -1);
        http_res_free(&res);
        return n;
}

static const char *item_of(int i) {
        static char names[N_AUTH][64];

        snprintf(names[i], sizeof(names[i]), "plat.%s", appids[i]);
        return names[i];
}

/* The refresh token wxemu lists for appid now (malloc'd), asked with the component's published token. */
static char *listed_rt(const char *appid) {
        char ct[WXSHM_TOKEN_MAX + 1], path[WXSHM_TOKEN_MAX + 128], *rt = NULL;
        wxshm_info info = { .size = sizeof(info) };
        struct http_res res;
        const cJSON *x;

        SETUP_OK(agent_read("plat", ct, sizeof(ct), &info) > 0, "the component's token");
        snprintf(path, sizeof(path), "/cgi-bin/component/api_get_authorizer_list?component_access_token=%s", ct);
        http_call(&emu, "POST", path, "{\"component_appid\":\"" COMP "\",\"offset\":0,\"count\":100}", 5000, &res);
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(res.json, "list"))
                if (!rt && json_str(x, "authorizer_appid") && !strcmp(json_str(x, "authorizer_appid"), appid))
                        rt = strdup(json_str(x, "refresh_token"));
        http_res_free(&res);
        return rt;
}

/* The refresh token the agent's file holds for appid (malloc'd), NULL if it is not there. */
static char *file_rt(const char *appid) {
        char path[256], *f, *rt = NULL;
        cJSON *o;
        const cJSON *x;

        snprintf(path, sizeof(path), "%s/plat.authorizers", a.state_dir);
        f = file_slurp(path);
        o = f ? cJSON_Parse(f) : NULL;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "authorizers"))
                if (json_str(x, "appid") && !strcmp(json_str(x, "appid"), appid))
                        rt = strdup(json_str(x, "refresh_token"));
        cJSON_Delete(o);
        free(f);
        return rt;
}

static bool same_rt(char *x, char *y) {
        bool eq = x && y && !strcmp(x, y);

        free(x);
        free(y);
        return eq;
}

/* A one-time authorization code for appid, as the authorization redirect would carry it (malloc'd). */
static char *auth_code(const char *appid) {
        struct http_res res;
        char path[128], *code;

        snprintf(path, sizeof(path), "/emu/auth_code?authorizer=%s", appid);
        http_call(&emu, "POST", path, NULL, 5000, &res);
        code = json_str(res.json, "authorization_code") ? strdup(json_str(res.json, "authorization_code")) : NULL;
        http_res_free(&res);
        SETUP_OK(code, "auth_code for %s", appid);
        return code;
}

/* The component's status entry's number field. */
static long comp_number(const char *field) {
        char raw[16384];
        cJSON *o = agent_request(&a, "{\"op\":\"status\",\"app\":\"plat\"}\n", raw, sizeof(raw));
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0), "component");
        long n = json_int(c, field, -1);

        cJSON_Delete(o);
        return n;
}

/*
 * Onboarding: the token api_query_auth answered is published before the add is answered,
 * with no api_authorizer_token call, and the refresh token is on the disk; a code is good once.
 */
static void test_onboard(void) {
        char out[4096], *code = auth_code(appids[0]);
        int before = ep_calls("api_authorizer_token");

        CHECK(agent_ctl(&a, code, "authorizer add plat --auth-code", out, sizeof(out)) == 0 && strstr(out, "added") &&
              strstr(out, appids[0]), "onboarded by auth_code: %s", out);
        CHECK(agent_generation(item_of(0)) >= 1, "published when the add is answered");
        CHECK(ep_calls("api_query_auth") == 1, "one api_query_auth call: %d", ep_calls("api_query_auth"));
        CHECK(ep_calls("api_authorizer_token") == before, "no api_authorizer_token call: %d (before %d)",
              ep_calls("api_authorizer_token"), before);
        CHECK(same_rt(file_rt(appids[0]), listed_rt(appids[0])), "the refresh token WeChat handed out is on the disk");
        CHECK(agent_ctl(&a, code, "authorizer add plat --auth-code", out, sizeof(out)) == 1 && strstr(out, "61009") &&
              strstr(out, "authorize again"), "a used code: a clear refusal: %s", out);
        CHECK(agent_ctl(&a, "x y", "authorizer add plat --auth-code", out, sizeof(out)) == 1, "a code with a space: refused: %s",
              out);
        CHECK(agent_log_count(&a, code) == 0, "the code is not in the log");
        free(code);
}

/*
 * Authorized again (a new auth code for an account held): "updated", the token api_query_auth
 * answered is published as the next generation before the reply and works, with no
 * api_authorizer_token call; the refresh token on the disk is the one WeChat lists.
 */
static void test_reonboard(void) {
        char out[4096], tok[WXSHM_TOKEN_MAX + 1], *code = auth_code(appids[0]);
        wxshm_info info = { .size = sizeof(info) };
        uint64_t g = agent_generation(item_of(0));
        int before = ep_calls("api_authorizer_token"), queries = ep_calls("api_query_auth");

        CHECK(agent_ctl(&a, code, "authorizer add plat --auth-code", out, sizeof(out)) == 0 && strstr(out, "authorized again"),
              "authorized again: %s", out);
        CHECK(agent_read(item_of(0), tok, sizeof(tok), &info) > 0 && info.generation == g + 1,
              "the next generation published when the add is answered: %llu (before %llu)",
              (unsigned long long)info.generation, (unsigned long long)g);
        CHECK(callback(&emu, tok) == 0, "and it is the token WeChat answered (getcallbackip takes it)");
        CHECK(ep_calls("api_query_auth") == queries + 1, "one api_query_auth call");
        CHECK(ep_calls("api_authorizer_token") == before, "no api_authorizer_token call: %d (before %d)",
              ep_calls("api_authorizer_token"), before);
        CHECK(same_rt(file_rt(appids[0]), listed_rt(appids[0])), "the refresh token WeChat lists is on the disk");
        free(code);
}

/* A restart after onboarding: the token is adopted from its state file, no call. */
static void test_restart(void) {
        int before = ep_calls("api_authorizer_token");

        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        CHECK(agent_generation(item_of(0)) >= 1, "there after the restart");
        harness_sleep_ms(500); /* an observation window: a call at start would show in it */
        CHECK(ep_calls("api_authorizer_token") == before, "adopted, no call: %d (before %d)",
              ep_calls("api_authorizer_token"), before);
}

/* Recovery: a sync adds the accounts the agent lacks (one call each) and reports the counts. */
static void test_sync(void) {
        char out[4096];
        int before = ep_calls("api_authorizer_token");

        CHECK(agent_ctl(&a, NULL, "authorizer sync plat", out, sizeof(out)) == 0 && strstr(out, "3 added") &&
              strstr(out, "1 unchanged") && strstr(out, "4 listed"), "sync: %s", out);
        for (int i = 1; i < N_AUTH; i++)
                CHECK(agent_wait_generation(item_of(i), 1, 10000), "%s published after the sync", item_of(i));
        CHECK(ep_calls("api_authorizer_token") == before + 3, "one call per added account: %d (before %d)",
              ep_calls("api_authorizer_token"), before);
        CHECK(agent_ctl(&a, NULL, "--json authorizer sync plat", out, sizeof(out)) == 0 && strstr(out, "\"added\":0") &&
              strstr(out, "\"unchanged\":4") && strstr(out, "\"total\":4"), "a second sync changes nothing: %s", out);
}

/*
 * A refresh token WeChat refuses (61023) while its list holds another for the account: the
 * agent reads the list, takes that one and calls again: fresh, no operator.
 */
static void test_recover_61023(void) {
        char out[4096], raw[16384];
        uint64_t g = agent_generation(item_of(1));
        int syncs = ep_calls("api_get_authorizer_list");

        CHECK(agent_ctl(&a, "refreshtoken@@@lost-in-a-crash", "authorizer add plat wxa00000002", out, sizeof(out)) == 0,
              "a wrong refresh token replaces the held one: %s", out);
        CHECK(agent_wait_generation(item_of(1), g + 1, 15000), "recovered through api_get_authorizer_list");
        CHECK(ep_calls("api_get_authorizer_list") == syncs + 1, "one list call: %d (before %d)",
              ep_calls("api_get_authorizer_list"), syncs);
        CHECK(same_rt(file_rt(appids[1]), listed_rt(appids[1])), "the listed refresh token is saved");
        cJSON_Delete(agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"plat\"}\n", raw, sizeof(raw)));
        CHECK(strstr(raw, "\"appid\":\"wxa00000002\",\"state\":\"fresh\""), "listed fresh: %s", raw);
        CHECK(agent_log_count(&a, "api_get_authorizer_list holds another refresh token") >= 1, "the log says so");
}

/*
 * Revocation: the account de-authorized (out of WeChat's list; its refresh token answers
 * 61003, as WeChat's does): the agent runs its sync (another, the last was under 5 minutes
 * ago, is not made: a fresh agent), finds it gone and removes it: segment, file entry, said
 * in status.
 */
static void test_revoked(void) {
        char out[4096], buf[WXSHM_TOKEN_MAX + 1], line[200];
        wxshm_info info = { .size = sizeof(info) };
        int i;

        /* The 5-minute spacing of automatic syncs starts afresh with the agent. */
        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        SETUP_OK(control(&emu, "/emu/deauthorize?authorizer=wxa00000004") == 200, "deauthorize");
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"timeout_ms\":10000}\n", item_of(3));
        cJSON_Delete(agent_request(&a, line, out, sizeof(out)));
        for (i = 0; i < 100 && agent_read(item_of(3), buf, sizeof(buf), &info) >= 0; i++)
                harness_sleep_ms(100);
        CHECK(agent_read(item_of(3), buf, sizeof(buf), &info) < 0, "its segment is gone");
        CHECK(!file_rt(appids[3]), "the file no longer lists it");
        CHECK(comp_number("authorizers_revoked") == 1 && comp_number("authorizers") == 3,
              "status: 1 revoked, 3 held: %ld %ld", comp_number("authorizers_revoked"), comp_number("authorizers"));
        CHECK(agent_ctl(&a, NULL, "status plat", out, sizeof(out)) == 0 && strstr(out, "revoked: 1"), "wxtokenctl status: %s",
              out);
        CHECK(agent_log_count(&a, "authorizer revoked") == 1, "the log says so");
        for (i = 0; i < 3; i++)
                CHECK(agent_generation(item_of(i)) > 0, "%s stays", item_of(i));
}

/*
 * Rotation across kill -9: wxemu hands out a new refresh token at each call and the old one
 * dies at once; the agent is killed right after the generation the call made is published,
 * and the restarted agent refreshes with the saved token: no 61023.
 */
static void test_rotation_kill9(void) {
        char raw[4096], line[200];
        uint64_t g = agent_generation(item_of(2));
        int refused_before = agent_log_count(&a, "61023"), fd;
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 item_of(2), (unsigned long long)g);
        /* Not the reply: the generation bump, as a reader sees it, then kill at once. */
        fd = socket_dial(a.socket);
        SETUP_OK(fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line), "refresh sent");
        CHECK(agent_wait_generation(item_of(2), g + 1, 10000), "the rotated call published");
        agent_kill9(&a);
        close(fd);
        CHECK(same_rt(file_rt(appids[2]), listed_rt(appids[2])), "the rotated refresh token is on the disk");
        agent_start(&a);
        g = agent_generation(item_of(2));
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 item_of(2), (unsigned long long)g);
        o = agent_request(&a, line, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ok\":true") && agent_generation(item_of(2)) == g + 1, "refreshed with the saved one: %s",
              raw);
        cJSON_Delete(o);
        CHECK(agent_log_count(&a, "61023") == 0 || agent_log_count(&a, "61023") == refused_before,
              "no 61023 after the restart");
}

int main(void) {
        static const char *const args[] = { "--component", COMP ":" CSECRET, "--authorizers", "4",
                                            "--rotate-refresh-tokens", "--overlap-ms", "1", "--seed", "11", NULL };
        char apps[2048], ticket_line[1024], raw[4096];
        struct http_res res;

        emu_start(&emu, args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", apps);
        agent_start(&a);
        http_call(&emu, "POST", "/emu/push_ticket?component=" COMP, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(ticket_line, sizeof(ticket_line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\","
                 "\"create_time\":%lld}\n", json_str(res.json, "ticket"), (long long)time(NULL) - 60);
        http_res_free(&res);
        cJSON_Delete(agent_request(&a, ticket_line, raw, sizeof(raw)));
        SETUP_OK(agent_wait_generation("plat", 1, 10000), "the component's token");

        test_onboard();
        test_restart();
        test_reonboard();
        test_sync();
        test_recover_61023();
        test_revoked();
        test_rotation_kill9();
        return harness_finish(&a);
}
