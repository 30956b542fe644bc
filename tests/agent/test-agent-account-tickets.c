/* test-agent-account-tickets.c: the JS-SDK tickets of a platform's accounts (authorizer_tickets, corp_tickets) against wxemu and the real agent: fetch, restart, forced refresh, removal, readers. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"

#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-7f3a9c1e5b2d"
#define SUITE "wwsuite0001"
#define SSECRET "Suite-Secret-4b7e1d9a2c"
#define SEED "7"
#define AUTH "wxa00000001"
#define CORP "wwc00000001"
#define N_CONCURRENT 10

static struct emu_proc emu;
static struct agent_proc a;

/* The four ticket items: an authorizer's jsapi and wx_card, a corp's jsapi and agent_config. */
static const char *const tickets[] = { "plat." AUTH ".jsapi", "plat." AUTH ".wx_card", "crm." CORP ".jsapi",
                                       "crm." CORP ".agent_config" };
#define N_TICKETS 4

/* wxemu's endpoint of ticket i, as called with an account's token (emu_endpoint_calls). */
static const char *endpoint_of(int i) {
        return i < 2 ? "getticket" : i == 2 ? "get_jsapi_ticket" : "ticket/get";
}

/* Ticket calls with an account's token at every endpoint; token calls of both accounts. */
static int ticket_calls(void) {
        return emu_endpoint_calls(&emu, "getticket") + emu_endpoint_calls(&emu, "get_jsapi_ticket") +
               emu_endpoint_calls(&emu, "ticket/get");
}

static int token_calls(void) {
        return emu_endpoint_calls(&emu, "api_authorizer_token") + emu_endpoint_calls(&emu, "get_corp_token");
}

/* wxemu's permanent code of corpid at credential generation 1 (doc/wxemu.md: FNV-1a-64 of "SEED:ID:1", then of "#"). */
static void seed_pcode(const char *corpid, char out[64]) {
        char in[128];
        uint64_t h1 = 0xcbf29ce484222325ULL, h2;

        snprintf(in, sizeof(in), SEED ":%s:1", corpid);
        for (const char *p = in; *p; p++)
                h1 = (h1 ^ (unsigned char)*p) * 0x100000001b3ULL;
        h2 = (h1 ^ (unsigned char)'#') * 0x100000001b3ULL;
        snprintf(out, 64, "pcode@@@%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

/* The platform's verify ticket (component) or suite_ticket, minted by wxemu and put through the ticket op. */
static void put_platform_ticket(const char *app, const char *query) {
        char line[1024], raw[4096], path[128];
        struct http_res res;
        cJSON *o;

        snprintf(path, sizeof(path), "/emu/push_ticket?%s", query);
        http_call(&emu, "POST", path, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket %s", query);
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"%s\",\"ticket\":\"%s\",\"create_time\":%lld}\n", app,
                 json_str(res.json, "ticket"), (long long)time(NULL) - 60);
        http_res_free(&res);
        o = agent_request(&a, line, raw, sizeof(raw));
        SETUP_OK(strstr(raw, "\"ticket\":\"taken\""), "the %s ticket taken: %s", app, raw);
        cJSON_Delete(o);
}

static bool segment_exists(const char *item) {
        char path[256];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", a.shm_dir, item);
        return stat(path, &st) == 0;
}

static bool state_exists(const char *item) {
        char path[256];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", a.state_dir, item);
        return stat(path, &st) == 0;
}

/* Each account added (the authorizer by its refresh token, the corp by its permanent code): every ticket fetched once. */
static void test_first_fetch(void) {
        char out[4096], pcode[64], buf[WXSHM_TOKEN_MAX + 1], raw[16384], *rt = emu_seeded_refresh_token(SEED, AUTH);
        wxshm_info info = { .size = sizeof(info) };
        const cJSON *c;
        cJSON *o;

        CHECK(agent_ctl(&a, rt, "authorizer add plat " AUTH, out, sizeof(out)) == 0 && strstr(out, "added"),
              "add the authorizer: %s", out);
        seed_pcode(CORP, pcode);
        CHECK(agent_ctl(&a, pcode, "authorizer add crm " CORP, out, sizeof(out)) == 0 && strstr(out, "added"),
              "add the corp: %s", out);
        for (int i = 0; i < N_TICKETS; i++) {
                CHECK(agent_wait_generation(tickets[i], 1, 10000), "%s published", tickets[i]);
                /* A reader through libwxshm, by the name with the account's part and the type. */
                CHECK(agent_read(tickets[i], buf, sizeof(buf), &info) > 0 && info.state == WXSHM_STATE_FRESH,
                      "%s readable through libwxshm", tickets[i]);
        }
        harness_sleep_ms(500); /* an observation window: a second call would show in it */
        CHECK(emu_endpoint_calls(&emu, "getticket") == 2, "one getticket call per type (jsapi, wx_card): %d",
              emu_endpoint_calls(&emu, "getticket"));
        CHECK(emu_endpoint_calls(&emu, "get_jsapi_ticket") == 1, "one get_jsapi_ticket call: %d",
              emu_endpoint_calls(&emu, "get_jsapi_ticket"));
        CHECK(emu_endpoint_calls(&emu, "ticket/get") == 1, "one ticket/get call: %d", emu_endpoint_calls(&emu, "ticket/get"));
        /* Counted with the platform's calls, as a work app's agent_config is (WeCom limits it by the hour). */
        CHECK(agent_ctl(&a, NULL, "metrics", raw, sizeof(raw)) == 0 &&
              strstr(raw, "wxtokend_quota_calls_today{app=\"crm\",endpoint=\"agent_config\"} 1\n") &&
              strstr(raw, "wxtokend_quota_calls_today{app=\"plat\",endpoint=\"ticket\"} 2\n"),
              "the metrics count the accounts' ticket calls: %s", raw);
        /* Named, each shows in status as an app's ticket does; the platform counts its accounts' tickets. */
        CHECK(agent_app_number(&a, tickets[3], "generation") == 1, "status names %s", tickets[3]);
        o = agent_request(&a, "{\"op\":\"status\",\"app\":\"plat\"}\n", raw, sizeof(raw));
        c = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0),
                                             "component");
        CHECK(json_int(c, "account_tickets", -1) == 2 && json_int(c, "account_tickets_failing", -1) == 0,
              "the component's status counts its accounts' tickets: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_ctl(&a, NULL, "status crm", out, sizeof(out)) == 0 && strstr(out, "their tickets: 2, 0 failing"),
              "wxtokenctl status says so: %s", out);
        free(rt);
}

/* A forced refresh naming the current generation makes one call; 10 at once make one call too. */
static void test_force(void) {
        char last[4096];

        for (int i = 0; i < N_TICKETS; i++) {
                int before = emu_endpoint_calls(&emu, endpoint_of(i));

                harness_sleep_ms(3100); /* min_force_interval = 3 s since the last call of the item */
                agent_refresh_all(&a, tickets[i], agent_generation(tickets[i]), 1, last);
                CHECK(emu_endpoint_calls(&emu, endpoint_of(i)) == before + 1, "%s: one forced call: %d (before %d): %s",
                      tickets[i], emu_endpoint_calls(&emu, endpoint_of(i)), before, last);
                harness_sleep_ms(3100);
                before = emu_endpoint_calls(&emu, endpoint_of(i));
                agent_refresh_all(&a, tickets[i], agent_generation(tickets[i]), N_CONCURRENT, last);
                CHECK(emu_endpoint_calls(&emu, endpoint_of(i)) == before + 1, "%s: one call for %d clients: %d (before "
                      "%d): %s", tickets[i], N_CONCURRENT, emu_endpoint_calls(&emu, endpoint_of(i)), before, last);
        }
}

/*
 * A clean restart adopts every ticket (and account token): no call at all, and a reader's
 * handle opened before it reads on (the start's sweep of unknown names left the segments).
 */
static void test_restart(void) {
        int tickets_before = ticket_calls(), tokens_before = token_calls();
        char buf[WXSHM_TOKEN_MAX + 1];
        uint64_t gen[N_TICKETS];
        wxshm *h[N_TICKETS];

        for (int i = 0; i < N_TICKETS; i++) {
                gen[i] = agent_generation(tickets[i]);
                SETUP_OK(wxshm_open(&h[i], tickets[i]) == 0, "open %s", tickets[i]);
        }
        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        for (int i = 0; i < N_TICKETS; i++)
                CHECK(agent_generation(tickets[i]) == gen[i], "%s adopted at generation %llu", tickets[i],
                      (unsigned long long)gen[i]);
        harness_sleep_ms(1000); /* an observation window: a call at start would show in it */
        CHECK(ticket_calls() == tickets_before && token_calls() == tokens_before,
              "adopted with no call: tickets %d (before %d), tokens %d (before %d)", ticket_calls(), tickets_before,
              token_calls(), tokens_before);
        for (int i = 0; i < N_TICKETS; i++) {
                int r = wxshm_read(h[i], buf, sizeof(buf), NULL);

                CHECK(r > 0, "%s: the handle opened before the restart reads on: %d", tickets[i], r);
                wxshm_close(h[i]);
        }
}

/*
 * An authorizer de-authorized (61003): the agent's sync finds it gone and revokes it, its
 * tickets' segments and state files with it. A corp refused (40084: no sync for a suite)
 * keeps its tickets published, and they call nothing, forced or not; removing it takes
 * them. A restart brings none back and calls nothing.
 */
static void test_remove(void) {
        char out[4096], raw[4096], buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        int calls = ticket_calls();
        cJSON *o;

        SETUP_OK(control(&emu, "/emu/deauthorize?authorizer=" AUTH) == 200, "deauthorize");
        o = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"plat." AUTH "\",\"timeout_ms\":10000}\n", raw,
                          sizeof(raw));
        CHECK(strstr(raw, "61003"), "the account's refresh is refused: %s", raw);
        cJSON_Delete(o);
        for (int i = 0; i < 500 && (segment_exists(tickets[0]) || segment_exists(tickets[1])); i++)
                harness_sleep_ms(20);
        for (int i = 0; i < 2; i++) {
                CHECK(!segment_exists(tickets[i]) && !state_exists(tickets[i]), "%s: revoked: segment and state file "
                      "gone", tickets[i]);
                CHECK(agent_read(tickets[i], buf, sizeof(buf), &info) < 0, "%s no longer readable", tickets[i]);
        }
        CHECK(ticket_calls() == calls, "no ticket call with a refused token: %d (before %d)", ticket_calls(), calls);

        SETUP_OK(control(&emu, "/emu/fault?app=" CORP "&kind=errcode&errcode=40084&count=1") == 200, "40084");
        o = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"crm." CORP "\",\"timeout_ms\":10000}\n", raw,
                          sizeof(raw));
        CHECK(strstr(raw, "40084"), "the corp's refresh is refused: %s", raw);
        cJSON_Delete(o);
        harness_sleep_ms(3100); /* min_force_interval */
        snprintf(out, sizeof(out), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":1000}\n",
                 tickets[2], (unsigned long long)agent_generation(tickets[2]));
        o = agent_request(&a, out, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ok\":false") && ticket_calls() == calls, "a forced ticket refresh of a refused corp "
              "makes no call: %d (before %d): %s", ticket_calls(), calls, raw);
        cJSON_Delete(o);
        for (int i = 2; i < N_TICKETS; i++)
                CHECK(segment_exists(tickets[i]) && agent_read(tickets[i], buf, sizeof(buf), &info) > 0,
                      "%s: refused, not removed: its ticket stays and serves", tickets[i]);
        CHECK(agent_ctl(&a, NULL, "authorizer remove crm " CORP, out, sizeof(out)) == 0, "remove the corp: %s", out);
        for (int i = 2; i < N_TICKETS; i++)
                CHECK(!segment_exists(tickets[i]) && !state_exists(tickets[i]), "%s: segment and state file gone",
                      tickets[i]);
        /* After a restart, nothing comes back and nothing is called. */
        calls = ticket_calls();
        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        harness_sleep_ms(500);
        for (int i = 0; i < N_TICKETS; i++)
                CHECK(!segment_exists(tickets[i]), "%s not back after a restart", tickets[i]);
        CHECK(ticket_calls() == calls, "no ticket call: %d (before %d)", ticket_calls(), calls);
}

/* No secret, refresh token or permanent code in the log or status. */
static void test_no_secret(void) {
        char raw[65536], *log = agent_log(&a);
        cJSON *o = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));

        CHECK(log && !strstr(log, CSECRET) && !strstr(log, SSECRET) && !strstr(log, "refreshtoken@@@") &&
              !strstr(log, "pcode@@@"), "nothing secret in the log");
        CHECK(!strstr(raw, CSECRET) && !strstr(raw, SSECRET) && !strstr(raw, "@@@"), "nothing secret in status");
        cJSON_Delete(o);
        free(log);
}

/* The config's apps: the authorizers' tickets as given, the corps' jsapi and agent_config. */
static void write_apps(const char *authorizer_tickets) {
        char apps[2048];

        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "authorizer_tickets = %s\n\n"
                 "[app crm]\nkind = suite\nappid = " SUITE "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "corp_tickets = jsapi, agent_config\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port, authorizer_tickets,
                 agent_secret_file(&a, "crm", SSECRET), emu.port);
        /* 3 s: the 10 clients of a forced refresh must all arrive within it, on a loaded machine too. */
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 3\n", apps);
}

/* A reload that drops wx_card from authorizer_tickets: its segment goes, jsapi stays as it was, no call. */
static void test_reload(void) {
        uint64_t jsapi = agent_generation(tickets[0]);
        int before = ticket_calls();

        write_apps("jsapi");
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_notify(&a, "READY=1", 10000), "READY=1 after the reload");
        CHECK(!segment_exists(tickets[1]), "%s removed with its type", tickets[1]);
        CHECK(agent_generation(tickets[0]) == jsapi, "%s adopted as it was", tickets[0]);
        harness_sleep_ms(500);
        CHECK(ticket_calls() == before, "no ticket call: %d (before %d)", ticket_calls(), before);
        write_apps("jsapi, wx_card");
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_notify(&a, "READY=1", 10000), "READY=1 after the reload");
        CHECK(agent_wait_generation(tickets[1], 1, 10000), "%s back when its type is", tickets[1]);
}

int main(void) {
        static const char *const args[] = { "--component", COMP ":" CSECRET, "--authorizers", "1", "--suite",
                                            SUITE ":" SSECRET, "--corps", "1", "--seed", SEED, NULL };
        emu_start(&emu, args);
        agent_init(&a);
        write_apps("jsapi, wx_card");
        agent_start(&a);
        put_platform_ticket("plat", "component=" COMP);
        put_platform_ticket("crm", "suite=" SUITE);
        SETUP_OK(agent_wait_generation("plat", 1, 10000) && agent_wait_generation("crm", 1, 10000),
                 "the platforms' tokens");

        test_first_fetch();
        test_force();
        test_restart();
        test_reload();
        test_remove();
        test_no_secret();
        return harness_finish(&a);
}
