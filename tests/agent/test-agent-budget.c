/* test-agent-budget.c: max_forced_per_day: a forced-refresh flood spends exactly the cap, across restarts and 45009. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent-harness.h"

#define SEC_B "Budget-Secret-0a1b2c3d"
#define SEC_Q "Quota-Secret-4e5f6a7b"
#define SEC_Z "Zero-Secret-8c9d0e1f"
#define CAP 3
#define DAY_MS (24 * 3600 * 1000LL)
#define BEIJING_MS (8 * 3600 * 1000LL)

static struct emu_proc emu, emu_q;
static struct agent_proc a;
static char day_env[96];

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* From the test's own clock: how long until 00:00 in Beijing (UTC+8), WeChat's quota day. */
static int64_t until_beijing_midnight(int64_t ms) {
        return ((ms + BEIJING_MS) / DAY_MS + 1) * DAY_MS - BEIJING_MS - ms;
}

static uint64_t generation_of(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

/* A forced refresh of the generation published now: "ok", "rate_limited", ... and retry_after_ms. */
static const char *force(const char *item, int64_t *retry_after_ms, int64_t *sent_at_ms) {
        static char error[64];
        char line[256], raw[4096];
        const cJSON *e, *r;
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":3000}\n",
                 item, (unsigned long long)generation_of(item));
        *sent_at_ms = now_ms();
        o = agent_request(&a, line, raw, sizeof(raw));
        if (!o)
                return "no reply";
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
                cJSON_Delete(o);
                return "ok";
        }
        e = cJSON_GetObjectItemCaseSensitive(o, "error");
        r = cJSON_GetObjectItemCaseSensitive(o, "retry_after_ms");
        snprintf(error, sizeof(error), "%s", cJSON_IsString(e) ? e->valuestring : "?");
        *retry_after_ms = cJSON_IsNumber(r) ? (int64_t)r->valuedouble : -1;
        cJSON_Delete(o);
        return error;
}

/* retry_after_ms must point at the Beijing midnight after the request (a margin for the request's own time). */
static bool points_at_midnight(int64_t retry_after_ms, int64_t sent_at_ms) {
        int64_t want = until_beijing_midnight(sent_at_ms);

        return retry_after_ms <= want && retry_after_ms >= want - 5000;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxB:" SEC_B, "--app", "wxZ:" SEC_Z, NULL };
        /* One token call a day: the first fetch spends it, a forced call gets 45009. */
        static const char *const emu_q_args[] = { "--app", "wxQ:" SEC_Q, "--quota-token", "1", NULL };
        int64_t retry = -1, sent = 0, start, last_retry = -1, last_sent = 0;
        int ok = 0, limited = 0, other = 0, calls, calls_q;
        bool restarted = false;
        char apps[1536], raw[4096];
        const cJSON *e;
        cJSON *st;
        const char *r;

        emu_start(&emu, emu_args);
        emu_start(&emu_q, emu_q_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app bud]\nkind = token\nappid = wxB\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app quo]\nkind = token\nappid = wxQ\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app zero]\nkind = token\nappid = wxZ\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "max_forced_per_day = 0\n",
                 agent_secret_file(&a, "bud", SEC_B), emu.port, agent_secret_file(&a, "quo", SEC_Q), emu_q.port,
                 agent_secret_file(&a, "zero", SEC_Z), emu.port);
        agent_write_config(&a, "min_force_interval = 1\nmax_forced_per_day = " "3", apps);
        agent_start(&a);
        CHECK(agent_wait_generation("bud", 1, 20000) && agent_wait_generation("quo", 1, 20000), "first tokens");
        CHECK(emu_stat(&emu, "wxB", "token_calls") == 1, "one call to start");

        /* An app's own cap of 0: clients may never force a rotation of it. */
        CHECK(agent_wait_generation("zero", 1, 20000), "zero's first token");
        r = force("zero", &retry, &sent);
        CHECK(!strcmp(r, "rate_limited") && points_at_midnight(retry, sent), "max_forced_per_day = 0: %s", r);
        CHECK(emu_stat(&emu, "wxZ", "token_calls") == 1, "and no call");

        /* 45009: the forced call fails, and no later forced call reaches upstream that day. */
        r = force("quo", &retry, &sent);
        CHECK(!strcmp(r, "upstream_failed"), "the forced call meets 45009: %s", r);
        calls_q = emu_stat(&emu_q, "wxQ", "token_calls");
        CHECK(calls_q == 2, "the first fetch and the forced call: %d", calls_q);
        r = force("quo", &retry, &sent);
        CHECK(!strcmp(r, "rate_limited") && points_at_midnight(retry, sent),
              "after 45009: %s, retry_after_ms %lld, Beijing midnight in %lld", r, (long long)retry,
              (long long)until_beijing_midnight(sent));
        CHECK(emu_stat(&emu_q, "wxQ", "token_calls") == calls_q, "after 45009 a forced refresh makes no call");

        /*
         * The flood: forced refreshes back to back for 10 s of real time (the cap must hold
         * over time, not only for a burst), the agent restarted in the middle of it.
         */
        start = now_ms();
        while (now_ms() - start < 10000) {
                r = force("bud", &retry, &sent);
                if (!strcmp(r, "ok")) {
                        ok++;
                } else if (!strcmp(r, "rate_limited")) {
                        limited++;
                        if (retry > 60000) {
                                last_retry = retry;
                                last_sent = sent;
                        }
                        harness_sleep_ms(5); /* a flood, not a busy loop on a shared machine */
                } else {
                        other++;
                }
                if (ok == 2 && !restarted) {
                        CHECK(agent_stop(&a) == 0, "clean stop mid-flood");
                        agent_start(&a);
                        restarted = true;
                }
        }
        calls = emu_stat(&emu, "wxB", "token_calls");
        CHECK(restarted, "the agent was restarted mid-flood");
        CHECK(calls == 1 + CAP, "a 10 s flood across a restart: %d forced calls, the cap is %d", calls - 1, CAP);
        CHECK(ok == CAP, "%d forced refreshes answered ok (%d rate limited, %d other)", ok, limited, other);
        CHECK(points_at_midnight(last_retry, last_sent), "past the cap retry_after_ms is %lld, Beijing midnight "
              "is %lld ms away", (long long)last_retry, (long long)until_beijing_midnight(last_sent));
        CHECK(emu_stat(&emu_q, "wxQ", "token_calls") == calls_q, "45009 is remembered across the restart");
        st = agent_request(&a, "{\"op\":\"status\",\"app\":\"bud\"}\n", raw, sizeof(raw));
        e = st ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "apps"), 0) : NULL;
        CHECK(e && json_int(e, "forced_today", -1) == CAP && json_int(e, "max_forced_per_day", -1) == CAP,
              "status shows the day's count and the cap: %s", raw);
        cJSON_Delete(st);
        r = force("quo", &retry, &sent);
        CHECK(!strcmp(r, "rate_limited"), "quo after the restart: %s", r);

        /* A simulated day: the agent counts quota days 1 s past the coming Beijing midnight. */
        CHECK(agent_stop(&a) == 0, "clean stop");
        snprintf(day_env, sizeof(day_env), "WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS=%lld",
                 (long long)(until_beijing_midnight(now_ms()) + 1000));
        a.env[0] = day_env;
        agent_start(&a);
        r = force("bud", &retry, &sent);
        CHECK(!strcmp(r, "ok"), "the next quota day brings a new budget: %s", r);
        CHECK(emu_stat(&emu, "wxB", "token_calls") == calls + 1, "one more call on the new day");
        CHECK(control(&emu_q, "/emu/reset-quota?app=wxQ") == 200, "wxemu's day turns too");
        r = force("quo", &retry, &sent);
        CHECK(!strcmp(r, "ok"), "45009 holds only until the quota day turns: %s", r);
        CHECK(emu_stat(&emu_q, "wxQ", "token_calls") == calls_q + 1, "one call for quo on the new day");
        CHECK(agent_log_count(&a, SEC_B) == 0 && agent_log_count(&a, SEC_Q) == 0, "no secret in the log");
        return harness_finish(&a);
}
