/* test-agent-ticket-alarm.c: the ticket-age alarm of a component and a suite against wxemu and the real agent: status, wxtokenctl, metrics, the verdict, the log once per start and end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "agent-harness.h"
#include "client.h"

#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-7f3a9c1e5b2d"
#define SUITE "wwsuite0001"
#define SSECRET "Suite-Secret-4b7e1d9a2c"
#define PROV "wwprov0001"
#define PSECRET "Prov-Secret-8c2f5a1e7d"

static struct emu_proc emu;
static struct agent_proc a;

/* A ticket as WeChat (component=) or WeCom (suite=) would push it now: its text (malloc'd). */
static char *pushed(const char *query) {
        char path[128];
        struct http_res res;
        char *t;

        snprintf(path, sizeof(path), "/emu/push_ticket?%s", query);
        http_call(&emu, "POST", path, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket %s", query);
        t = strdup(json_str(res.json, "ticket"));
        http_res_free(&res);
        return t;
}

/* `wxtokenctl ticket put APP - T`, the ticket on stdin, as a callback handler runs it: its exit status. */
static int put(const char *app, const char *ticket, long long t) {
        char args[128], out[1024];
        int rc;

        snprintf(args, sizeof(args), "ticket put %s - %lld", app, t);
        rc = agent_ctl(&a, ticket, args, out, sizeof(out));
        SETUP_OK(rc == 0 && strstr(out, "taken"), "wxtokenctl %s: %s", args, out);
        return rc;
}

/* The app's status entry's "component" (in *o, to free), and its verdict reason in reason. */
static const cJSON *comp_of(const char *app, cJSON **o, char *raw, size_t size, char reason[64]) {
        char line[128];
        const cJSON *e;

        snprintf(line, sizeof(line), "{\"op\":\"status\",\"app\":\"%s\"}\n", app);
        *o = agent_request(&a, line, raw, size);
        e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(*o, "apps"), 0);
        snprintf(reason, 64, "%s", json_str(e, "verdict_reason") ? json_str(e, "verdict_reason") : "");
        return cJSON_GetObjectItemCaseSensitive(e, "component");
}

static bool alarm_of(const cJSON *c) {
        return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ticket_alarm"));
}

/* The metrics text (wxtokenctl metrics) in out; whether it holds line. */
static bool metrics_has(const char *line, char *out, size_t size) {
        SETUP_OK(agent_ctl(&a, NULL, "metrics", out, size) == 0, "wxtokenctl metrics");
        return strstr(out, line) != NULL;
}

/* promtool lints the text (the new families with their samples): exit 0 and nothing said; skipped without it. */
static void lint(const char *text) {
        char path[160], cmd[400], out[4096];
        FILE *f, *p;
        size_t n;
        int st;

        if (system("command -v promtool >/dev/null 2>&1") != 0) {
                fprintf(stderr, "note: promtool not installed (Debian's prometheus package): lint skipped\n");
                return;
        }
        snprintf(path, sizeof(path), "%s/metrics.txt", a.dir);
        f = fopen(path, "w");
        SETUP_OK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
        snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
        p = popen(cmd, "r");
        SETUP_OK(p, "popen promtool");
        n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = '\0';
        st = pclose(p);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && out[0] == '\0', "promtool check metrics: said: %s", out);
}

/* No ticket yet: both alarm, in status and metrics; no age series (no usable ticket); logged once each. */
static void test_none(void) {
        static char m[65536];
        char raw[8192], reason[64];
        cJSON *o;
        const cJSON *c;

        c = comp_of("plat", &o, raw, sizeof(raw), reason);
        CHECK(alarm_of(c) && json_int(c, "ticket_alarm_after_s", 0) == 3600, "no ticket: plat's status alarms: %s", raw);
        cJSON_Delete(o);
        c = comp_of("crm", &o, raw, sizeof(raw), reason);
        CHECK(alarm_of(c) && json_int(c, "ticket_alarm_after_s", 0) == 1200, "no ticket: crm's status alarms: %s", raw);
        cJSON_Delete(o);
        CHECK(metrics_has("wxtokend_ticket_alarm{app=\"plat\"} 1\n", m, sizeof(m)) &&
              metrics_has("wxtokend_ticket_alarm{app=\"crm\"} 1\n", m, sizeof(m)), "metrics: both in alarm");
        CHECK(!strstr(m, "wxtokend_ticket_age_seconds{"), "no age series without a usable ticket");
        CHECK(!strstr(m, "wxtokend_ticket_alarm{app=\"isv\""), "no alarm series for an app with no pushed ticket");
        /* The heartbeat (5 s) checks: the warning comes once, not at every check. */
        harness_sleep_ms(12000);
        CHECK(agent_log_count(&a, "ticket alarm: no usable component_verify_ticket") == 1 &&
              agent_log_count(&a, "ticket alarm: no usable suite_ticket") == 1,
              "one warning each after three heartbeats (%d, %d)",
              agent_log_count(&a, "ticket alarm: no usable component_verify_ticket"),
              agent_log_count(&a, "ticket alarm: no usable suite_ticket"));
}

/* A ticket older than the threshold mints a token, and the alarm stays: status, wxtokenctl, verdict, metrics. */
static void test_old(const char *app, const char *query, long long age, const char *age_line) {
        static char m[65536];
        char raw[8192], reason[64], out[8192], *t = pushed(query);
        cJSON *o;
        const cJSON *c;

        put(app, t, (long long)time(NULL) - age);
        free(t);
        CHECK(agent_wait_generation(app, 1, 15000), "%s mints its token with the old ticket", app);
        c = comp_of(app, &o, raw, sizeof(raw), reason);
        CHECK(alarm_of(c) && json_int(c, "ticket_age_s", 0) >= age, "%s: a ticket %lld s old alarms: %s", app, age, raw);
        CHECK(!strcmp(reason, "ticket alarm"), "%s: the verdict says ticket alarm: %s", app, reason);
        cJSON_Delete(o);
        CHECK(agent_ctl(&a, NULL, "status", out, sizeof(out)) == 1 && strstr(out, "ticket alarm: the ticket in use is old") &&
              strstr(out, "WARNING"), "wxtokenctl status warns (exit 1): %s", out);
        CHECK(metrics_has(age_line, m, sizeof(m)), "metrics: %s's alarm is 1", app);
        {
                char want[96];
                const char *p;

                snprintf(want, sizeof(want), "wxtokend_ticket_age_seconds{app=\"%s\"} ", app);
                p = strstr(m, want);
                CHECK(p && atoll(p + strlen(want)) >= age, "metrics: %s's ticket age is at least %lld s", app, age);
        }
        lint(m);
}

/* A restart with the old ticket in state_dir: the alarm is said again, now naming the ticket's age, once. */
static void test_restart_old(void) {
        const char *needle = "ticket alarm: the component_verify_ticket calls use is";
        int before = agent_log_count(&a, needle); /* the log runs on across restarts */

        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        harness_sleep_ms(12000); /* over two heartbeats */
        CHECK(agent_log_count(&a, needle) == before + 1, "one warning naming the old ticket's age (%d, before %d)",
              agent_log_count(&a, needle), before);
}

/* A fresh ticket ends the alarm, said once in the log; status, verdict and metrics agree. */
static void test_fresh(const char *app, const char *query, const char *over, const char *line) {
        static char m[65536];
        char raw[8192], reason[64], *t = pushed(query);
        cJSON *o;
        const cJSON *c;

        put(app, t, (long long)time(NULL));
        free(t);
        c = comp_of(app, &o, raw, sizeof(raw), reason);
        CHECK(!alarm_of(c) && strcmp(reason, "ticket alarm") != 0, "%s: a fresh ticket ends the alarm: %s", app, raw);
        cJSON_Delete(o);
        CHECK(metrics_has(line, m, sizeof(m)), "metrics: %s's alarm is 0", app);
        CHECK(agent_log_count(&a, over) == 1, "the end is logged once (%d)", agent_log_count(&a, over));
}

int main(void) {
        static const char *const args[] = { "--component", COMP ":" CSECRET, "--suite", SUITE ":" SSECRET, "--provider",
                                            PROV ":" PSECRET, "--seed", "7", NULL };
        char apps[2048];

        emu_start(&emu, args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app crm]\nkind = suite\nappid = " SUITE "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app isv]\nkind = provider\nappid = " PROV "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port, agent_secret_file(&a, "crm", SSECRET), emu.port,
                 agent_secret_file(&a, "isv", PSECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\n", apps);
        agent_start(&a);

        test_none();
        /* A component's alarm at 1 h (six missed pushes), 11 h before its ticket runs out. */
        test_old("plat", "component=" COMP, 2 * 3600, "wxtokend_ticket_alarm{app=\"plat\"} 1\n");
        test_restart_old();
        test_fresh("plat", "component=" COMP, "ticket alarm over: the component_verify_ticket",
                   "wxtokend_ticket_alarm{app=\"plat\"} 0\n");
        /* A suite's at 20 min (two missed pushes), 10 min before its ticket runs out. */
        test_old("crm", "suite=" SUITE, 25 * 60, "wxtokend_ticket_alarm{app=\"crm\"} 1\n");
        test_fresh("crm", "suite=" SUITE, "ticket alarm over: the suite_ticket", "wxtokend_ticket_alarm{app=\"crm\"} 0\n");
        return harness_finish(&a);
}
