/* test-agent-failures.c: each failure class against wxemu: status words, backoff spacing, recovery, failover. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-harness.h"
#include "upstream.h"

#define SEC_BUSY "Busy-Secret-8a7b6c5d"
#define SEC_CONF "Conf-Secret-1f2e3d4c"
#define SEC_QUOTA "Quot-Secret-99aa88bb"
#define SEC_FAILOVER "Fail-Secret-77cc66dd"
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 3000
/* A timer never fires early, but wall clocks of two processes may disagree by a little. */
#define CLOCK_SLACK_MS 50

/* The t_ms of app's token calls in wxemu's log, and their faults/errcodes, in order. */
struct calls {
        int n;
        long t_ms[64];
        int errcode[64];
        char fault[64][16];
};

static void calls_of(struct emu_proc *e, const char *app, struct calls *c) {
        struct http_res r;
        const cJSON *entry;

        memset(c, 0, sizeof(*c));
        http_call(e, "GET", "/emu/log", NULL, 5000, &r);
        cJSON_ArrayForEach(entry, r.json) {
                const char *a = json_str(entry, "app"), *f = json_str(entry, "fault");

                if (!a || strcmp(a, app) != 0 || c->n == 64)
                        continue;
                c->t_ms[c->n] = json_int(entry, "t_ms", -1);
                c->errcode[c->n] = json_int(entry, "errcode", 0);
                snprintf(c->fault[c->n], sizeof(c->fault[0]), "%s", f ? f : "");
                c->n++;
        }
        http_res_free(&r);
}

/* Poll (bounded) wxemu's log until app has made at least n token calls; false on timeout. */
static bool wait_calls(struct emu_proc *e, const char *app, int n, int max_ms) {
        struct calls c;

        for (int waited = 0; waited < max_ms; waited += 100) {
                calls_of(e, app, &c);
                if (c.n >= n)
                        return true;
                harness_sleep_ms(100);
        }
        return false;
}

static void print_calls(const char *what, const struct calls *c) {
        printf("%s: %d calls;", what, c->n);
        for (int i = 1; i < c->n; i++)
                printf(" +%ld ms", c->t_ms[i] - c->t_ms[i - 1]);
        printf("\n");
}

static bool wait_errcode(const char *item, int64_t want_state, int64_t want_errcode) {
        int64_t state, errcode;

        for (int i = 0; i < 1500; i++) {
                if (agent_status(item, &state, &errcode) && state == want_state && errcode == want_errcode)
                        return true;
                harness_sleep_ms(10);
        }
        fprintf(stderr, "%s: state %lld errcode %lld\n", item, (long long)state, (long long)errcode);
        return false;
}

/* Inject count failures of kind before the next proactive refresh; expect count failures, then one success. */
static void check_transient(struct emu_proc *e, const char *kind, int count, int64_t errcode) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        struct calls before, after;
        uint64_t gen;
        int r;

        CHECK(agent_read("busy", buf, sizeof(buf), &info) > 0, "busy readable");
        gen = info.generation;
        calls_of(e, "wxB", &before);
        control(e, fmt("/emu/fault?app=wxB&kind=%s&count=%d", kind, count));
        CHECK(wait_errcode("busy", WXSHM_STATE_RETRYING, errcode), "%s: retrying, errcode %lld in the segment", kind,
              (long long)errcode);
        /* Meanwhile the old token stays published and usable. */
        r = agent_read("busy", buf, sizeof(buf), &info);
        CHECK((r > 0 || r == -ESTALE) && info.generation == gen, "%s: old token kept", kind);
        CHECK(agent_wait_generation("busy", gen + 1, 30000), "%s: recovered", kind);
        CHECK(wait_errcode("busy", WXSHM_STATE_FRESH, 0), "%s: fresh again, errcode cleared", kind);
        calls_of(e, "wxB", &after);
        print_calls(kind, &after);
        /* Exactly the failures, then the first attempt after healing succeeded. */
        CHECK(after.n - before.n == count + 1, "%s: %d calls for %d failures", kind, after.n - before.n, count);
        for (int i = before.n + 1; i < after.n; i++)
                CHECK(after.t_ms[i] - after.t_ms[i - 1] >= BACKOFF_MIN_MS - CLOCK_SLACK_MS,
                      "%s: retry %d after %ld ms, less than backoff_min", kind, i - before.n,
                      after.t_ms[i] - after.t_ms[i - 1]);
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxB:" SEC_BUSY, "--app", "wxC:" SEC_CONF, "--app", "wxF:" SEC_FAILOVER,
                "--expires-in", "6", NULL,
        };
        static const char *const quota_args[] = { "--app", "wxQ:" SEC_QUOTA, "--expires-in", "6", "--quota-token", "1",
                                                  NULL };
        struct emu_proc emu, quota;
        struct agent_proc a;
        struct calls c;
        char apps[2048], buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        int r;

        emu_start(&emu, emu_args);
        emu_start(&quota, quota_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app busy]\nkind = token\nappid = wxB\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app cfg]\nkind = token\nappid = wxC\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app quo]\nkind = token\nappid = wxQ\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app fo]\nkind = token\nappid = wxF\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:1 http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "busy", SEC_BUSY), emu.port, agent_secret_file(&a, "cfg", "not-the-secret"),
                 emu.port, agent_secret_file(&a, "quo", SEC_QUOTA), quota.port, agent_secret_file(&a, "fo", SEC_FAILOVER),
                 emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 3", apps);
        agent_start(&a);

        /* Configuration: a wrong secret (40001 at fetch time) is the operator's to fix. */
        CHECK(wait_errcode("cfg", WXSHM_STATE_CONFIG_ERROR, 40001), "cfg: config error 40001 in the segment");
        r = agent_read("cfg", buf, sizeof(buf), &info);
        CHECK(r == -ENODATA, "cfg: no token was ever published (%d)", r);

        /* Failover: the first api_base refuses connections, the second answers. */
        CHECK(agent_wait_generation("fo", 1, 20000), "fo: token through the second api_base");
        CHECK(emu_stat(&emu, "wxF", "token_calls") == 1, "fo: one call reached wxemu");
        CHECK(agent_log_count(&a, "app fo: transient failure, errcode -1002") == 1, "fo: transport failure logged once");

        /* Transient: busy (-1), HTTP 500, a body that is not JSON. */
        check_transient(&emu, "busy", 3, -1);
        check_transient(&emu, "http500", 1, UPSTREAM_ERR_HTTP);
        check_transient(&emu, "garbage", 2, UPSTREAM_ERR_BODY);

        /* Quota: 45009 on the second call; the token stays, retries wait backoff_max. */
        CHECK(wait_errcode("quo", WXSHM_STATE_QUOTA, 45009), "quo: quota state, errcode 45009");
        r = agent_read("quo", buf, sizeof(buf), &info);
        CHECK((r > 0 || r == -ESTALE) && info.generation == 1, "quo: the last good token stays published");
        /* Two retries after the 45009, whose spacing is measured, and the config error's retry (checked below). */
        wait_calls(&quota, "wxQ", 4, 6 * BACKOFF_MAX_MS);
        wait_calls(&emu, "wxC", 2, 6 * BACKOFF_MAX_MS);
        calls_of(&quota, "wxQ", &c);
        print_calls("quota", &c);
        for (int i = 2; i < c.n; i++)
                CHECK(c.t_ms[i] - c.t_ms[i - 1] >= BACKOFF_MAX_MS - CLOCK_SLACK_MS, "quota retry after %ld ms",
                      c.t_ms[i] - c.t_ms[i - 1]);

        /* The config error, retried only every backoff_max, and logged once for all attempts. */
        calls_of(&emu, "wxC", &c);
        print_calls("config", &c);
        CHECK(c.n >= 2, "cfg: retried");
        for (int i = 1; i < c.n; i++)
                CHECK(c.t_ms[i] - c.t_ms[i - 1] >= BACKOFF_MAX_MS - CLOCK_SLACK_MS, "config retry after %ld ms",
                      c.t_ms[i] - c.t_ms[i - 1]);
        CHECK(agent_log_count(&a, "app cfg: config failure") == 1, "cfg: one log line for %d attempts", c.n);
        CHECK(agent_log_count(&a, "app quo: quota failure") == 1, "quo: one log line");

        return harness_finish(&a);
}
