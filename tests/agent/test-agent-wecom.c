/* test-agent-wecom.c: WeCom's agent_config ticket (wx.agentConfig) beside the corp's jsapi one, a 2048-byte token, and WeCom's hourly ticket limit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"

#define WSECRET_A "Wcm-A-Secret-31c7d5e2"
#define WSECRET_R "Wcm-R-Secret-8b0f4a69"
#define WSECRET_L "Wcm-L-Secret-f2e6c1d0"

static struct emu_proc emu_a, emu_r, emu_l;
static struct agent_proc a;

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The item's value (malloc'd, NULL if none) and its generation. */
static char *value_of(const char *item, uint64_t *generation) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        int r = agent_read(item, buf, sizeof(buf), &info);

        if (generation)
                *generation = r > 0 ? info.generation : 0;
        return r > 0 ? strndup(buf, (size_t)r) : NULL;
}

/* A forced refresh of the generation published now: "ok" or the error code; its text and retry_after_ms. */
static const char *force(const char *item, char *text, size_t text_size, int64_t *retry_after_ms) {
        static char code[64];
        char line[256], raw[8192];
        const cJSON *e, *m, *r;
        uint64_t gen;
        cJSON *o;

        free(value_of(item, &gen));
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 item, (unsigned long long)gen);
        o = agent_request(&a, line, raw, sizeof(raw));
        *retry_after_ms = -1;
        snprintf(text, text_size, "%.*s", (int)(text_size - 1), raw);
        if (!o)
                return "no reply";
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
                cJSON_Delete(o);
                return "ok";
        }
        e = cJSON_GetObjectItemCaseSensitive(o, "error");
        m = cJSON_GetObjectItemCaseSensitive(o, "message");
        r = cJSON_GetObjectItemCaseSensitive(o, "retry_after_ms");
        snprintf(code, sizeof(code), "%s", cJSON_IsString(e) ? e->valuestring : "?");
        if (cJSON_IsString(m))
                snprintf(text, text_size, "%s", m->valuestring);
        *retry_after_ms = cJSON_IsNumber(r) ? (int64_t)r->valuedouble : -1;
        cJSON_Delete(o);
        return code;
}

/* A forced refresh that is not refused for min_force_interval's spacing (waits it out as the reply says). */
static const char *force_spaced(const char *item, char *text, size_t text_size, int64_t *retry_after_ms) {
        const char *code = "no reply";

        for (int i = 0; i < 20; i++) {
                code = force(item, text, text_size, retry_after_ms);
                if (strcmp(code, "rate_limited") || !strstr(text, "min_force_interval"))
                        break;
                harness_sleep_ms(*retry_after_ms > 0 ? *retry_after_ms : 100);
        }
        return code;
}

/* A text field of the item's status entry (malloc'd; NULL if absent). */
static char *status_text(const char *item, const char *field) {
        char line[160], raw[16384];
        const cJSON *apps, *v;
        char *out = NULL;
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"status\",\"app\":\"%s\"}\n", item);
        o = agent_request(&a, line, raw, sizeof(raw));
        apps = o ? cJSON_GetObjectItemCaseSensitive(o, "apps") : NULL;
        v = cJSON_GetArraySize(apps) >= 1 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(apps, 0), field) : NULL;
        if (cJSON_IsString(v))
                out = strdup(v->valuestring);
        cJSON_Delete(o);
        return out;
}

/* A number of the item's status entry, as a 64-bit integer (times are ms since the epoch); -1 if absent. */
static int64_t status_i64(const char *item, const char *field) {
        char line[160], raw[16384];
        const cJSON *apps, *v;
        int64_t n = -1;
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"status\",\"app\":\"%s\"}\n", item);
        o = agent_request(&a, line, raw, sizeof(raw));
        apps = o ? cJSON_GetObjectItemCaseSensitive(o, "apps") : NULL;
        v = cJSON_GetArraySize(apps) >= 1 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(apps, 0), field) : NULL;
        if (cJSON_IsNumber(v))
                n = (int64_t)v->valuedouble;
        cJSON_Delete(o);
        return n;
}

/* The metrics text over the socket (malloc'd). */
static char *metrics(void) {
        static const char req[] = "{\"op\":\"metrics\"}\n";
        size_t n = 0, size = 1 << 16;
        char *buf = malloc(size);
        int fd = socket_dial(a.socket);
        ssize_t r;

        SETUP_OK(buf && fd >= 0, "dial %s", a.socket);
        SETUP_OK(write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1, "send");
        while ((r = read(fd, buf + n, size - n - 1)) > 0 && n + (size_t)r + 1 < size)
                n += (size_t)r;
        close(fd);
        buf[n] = '\0';
        return buf;
}

/* How many of wxemu's logged calls to endpoint answered generation gen with errcode 0 (the same ticket again). */
static int logged_calls(struct emu_proc *e, const char *endpoint, int gen) {
        struct http_res res;
        const cJSON *x;
        int n = 0;

        http_call(e, "GET", "/emu/log", NULL, 5000, &res);
        cJSON_ArrayForEach(x, res.json) {
                if (!strcmp(json_str(x, "endpoint") ? json_str(x, "endpoint") : "", endpoint) &&
                    json_int(x, "generation", -1) == gen && json_int(x, "errcode", -1) == 0)
                        n++;
        }
        http_res_free(&res);
        return n;
}

/*
 * A reload that keeps wa keeps its agent_config segment: a reader's handle still reads it
 * and the file stays (the sweep of unconfigured items once knew only jsapi and wx_card).
 */
static void test_reload_keeps(void) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm *h = NULL;
        int r;

        CHECK(wxshm_open(&h, "wa.agent_config") == 0, "a reader holds wa.agent_config");
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_notify(&a, "RELOADING=1", 10000), "RELOADING=1 on SIGHUP");
        CHECK(agent_wait_notify(&a, "READY=1", 10000), "READY=1 after the reload");
        r = h ? wxshm_read(h, buf, sizeof(buf), NULL) : -EBADF;
        CHECK(r > 0, "after a reload that keeps wa, its agent_config segment still reads: %d", r);
        wxshm_close(h);
        h = NULL;
        CHECK(wxshm_open(&h, "wa.agent_config") == 0, "and the name still opens");
        wxshm_close(h);
}

/* wa: the agent_config ticket published beside jsapi, with a token of the segment's full 2048 bytes. */
static void test_publish(void) {
        char buf[WXSHM_TOKEN_MAX + 1], path[WXSHM_TOKEN_MAX + 64], *jsapi, *agent, *m, series[160];
        wxshm_info info = { .size = sizeof(info) };
        uint64_t gen;
        int len;

        CHECK(agent_wait_generation("wa.agent_config", 1, 20000), "wa.agent_config is published");
        CHECK(agent_wait_generation("wa.jsapi", 1, 20000), "wa.jsapi is published");
        len = agent_read("wa", buf, sizeof(buf), &info);
        snprintf(path, sizeof(path), "/cgi-bin/getcallbackip?access_token=%s", buf);
        CHECK(len == 2048 && call(&emu_a, "GET", path, NULL) == 0,
              "a 2048-byte token is published whole (%d) and WeCom takes it", len);
        agent = value_of("wa.agent_config", &gen);
        jsapi = value_of("wa.jsapi", NULL);
        CHECK(agent && jsapi && strcmp(agent, jsapi) != 0, "two tickets, not one twice");
        CHECK(emu_stat(&emu_a, "wwA", "agent_config_calls") == 1 && emu_stat(&emu_a, "wwA", "ticket_calls") == 2 &&
              emu_stat(&emu_a, "wwA", "gettoken_calls") == 1, "one call each: ticket/get %d, tickets %d, gettoken %d",
              emu_stat(&emu_a, "wwA", "agent_config_calls"), emu_stat(&emu_a, "wwA", "ticket_calls"),
              emu_stat(&emu_a, "wwA", "gettoken_calls"));
        CHECK(emu_stat(&emu_a, "wwA", "agent_config_generation") == 1, "WeCom issued one agent_config ticket");
        {
                char *kind = status_text("wa.agent_config", "kind"), *state = status_text("wa.agent_config", "state");

                CHECK(kind && !strcmp(kind, "ticket") && state && !strcmp(state, "fresh"), "status: %s, %s",
                      kind ? kind : "-", state ? state : "-");
                free(kind);
                free(state);
        }
        m = metrics();
        snprintf(series, sizeof(series), "wxtokend_quota_calls_today{app=\"wa\",endpoint=\"agent_config\"} 1\n");
        CHECK(strstr(m, series), "metrics count the agent_config endpoint");
        snprintf(series, sizeof(series), "wxtokend_quota_calls_today{app=\"wa\",endpoint=\"ticket\"} 1\n");
        CHECK(strstr(m, series), "and the corp's jsapi ticket apart");
        free(m);
        free(agent);
        free(jsapi);
}

/*
 * wa: a forced refresh of a live agent_config ticket makes one call, and WeCom's same
 * ticket is no new one; once WeCom has dropped the token and tickets (/emu/expire),
 * a forced refresh finds the token dead, and the token, then the ticket, are fetched anew.
 */
static void test_force(void) {
        char text[1024], *before, *after = NULL;
        int64_t retry;
        int calls = emu_stat(&emu_a, "wwA", "agent_config_calls"), tokens = emu_stat(&emu_a, "wwA", "gettoken_calls");
        const char *code;

        code = force_spaced("wa.agent_config", text, sizeof(text), &retry);
        CHECK(!strcmp(code, "upstream_failed") && strstr(text, "WeCom"), "a live ticket: WeCom's same one: %s: %s", code,
              text);
        CHECK(emu_stat(&emu_a, "wwA", "agent_config_calls") == calls + 1, "one ticket/get call for it");
        CHECK(agent_app_number(&a, "wa.agent_config", "forced_refreshes") == 1, "counted as a forced refresh");

        before = value_of("wa.agent_config", NULL);
        CHECK(control(&emu_a, "/emu/expire?app=wwA") == 200, "WeCom drops wwA's token and tickets");
        code = force_spaced("wa.agent_config", text, sizeof(text), &retry);
        CHECK(!strcmp(code, "ok") || !strcmp(code, "upstream_failed"), "answered: %s: %s", code, text);
        for (int i = 0; i < 500; i++) {
                free(after);
                after = value_of("wa.agent_config", NULL);
                if (after && before && strcmp(after, before))
                        break;
                harness_sleep_ms(20);
        }
        CHECK(after && before && strcmp(after, before), "a new agent_config ticket is published");
        CHECK(emu_stat(&emu_a, "wwA", "agent_config_calls") == calls + 3 &&
              emu_stat(&emu_a, "wwA", "gettoken_calls") == tokens + 1,
              "the refused call, the new token, the new ticket: ticket/get %d (before %d), gettoken %d (before %d)",
              emu_stat(&emu_a, "wwA", "agent_config_calls"), calls, emu_stat(&emu_a, "wwA", "gettoken_calls"), tokens);
        free(before);
        free(after);
}

/* wr: tickets living 8 s: asked again before they expire (WeCom's same ticket), then a new one follows. */
static void test_refresh(void) {
        char *first, *now = NULL;

        CHECK(agent_wait_generation("wr.agent_config", 1, 20000), "wr.agent_config is published");
        first = value_of("wr.agent_config", NULL);
        for (int i = 0; i < 1500; i++) {
                free(now);
                now = value_of("wr.agent_config", NULL);
                if (now && first && strcmp(now, first))
                        break;
                harness_sleep_ms(20);
        }
        CHECK(now && first && strcmp(now, first), "a new agent_config ticket follows the first");
        CHECK(logged_calls(&emu_r, "ticket/get", 1) >= 2, "asked again while the first still lived (it came back)");
        CHECK(emu_stat(&emu_r, "wwR", "agent_config_generation") >= 2, "WeCom issued the second");
        free(first);
        free(now);
}

/*
 * wl, wxemu's hourly ticket limit at 2: the third call meets 45009 "api freq out of
 * limit". The ticket stays published, in the quota state with WeCom's advice; no call is
 * made for an hour: not its retry (backoff_max is 2 s), not a forced refresh, not a retry.
 */
static void test_hour_limit(void) {
        char text[1024], *advice, *state, *held, line[128], raw[4096];
        int64_t retry, next;
        int calls;
        const char *code;

        CHECK(agent_wait_generation("wl.agent_config", 1, 20000), "wl.agent_config is published");
        code = force_spaced("wl.agent_config", text, sizeof(text), &retry);
        CHECK(!strcmp(code, "upstream_failed"), "the second call: WeCom's same ticket: %s: %s", code, text);
        code = force_spaced("wl.agent_config", text, sizeof(text), &retry);
        CHECK(!strcmp(code, "upstream_failed") && strstr(text, "45009"), "the third call meets the limit: %s: %s", code,
              text);
        CHECK(emu_stat(&emu_l, "wwL", "agent_config_calls") == 3 && emu_stat(&emu_l, "wwL", "quota_rejects") == 1,
              "three calls, one refused");
        CHECK(agent_wait_state("wl.agent_config", WXSHM_STATE_QUOTA, 5000), "the segment says quota");
        state = status_text("wl.agent_config", "state");
        advice = status_text("wl.agent_config", "advice");
        CHECK(state && !strcmp(state, "quota"), "status: %s", state ? state : "-");
        CHECK(advice && strstr(advice, "100 an hour per app") && strstr(advice, "in an hour"), "advice: %s",
              advice ? advice : "-");
        next = status_i64("wl.agent_config", "next_refresh_at");
        CHECK(next - now_ms() > 3500 * 1000LL, "the next call is an hour away: in %lld ms",
              (long long)(next - now_ms()));
        held = value_of("wl.agent_config", NULL);
        CHECK(held != NULL, "the last ticket stays published");
        free(held);

        code = force("wl.agent_config", text, sizeof(text), &retry);
        CHECK(!strcmp(code, "rate_limited") && retry > 3500 * 1000LL && strstr(text, "45009"),
              "a forced refresh waits out the hour: %s (%lld ms): %s", code, (long long)retry, text);
        snprintf(line, sizeof(line), "{\"op\":\"retry\",\"app\":\"wl.agent_config\"}\n");
        cJSON_Delete(agent_request(&a, line, raw, sizeof(raw)));
        CHECK(strstr(raw, "rate_limited") && strstr(raw, "45009"), "so does an operator's retry: %s", raw);

        /* An observation window: without the hour's wait the retries (backoff_max 2 s) would show here. */
        calls = emu_stat(&emu_l, "wwL", "agent_config_calls");
        harness_sleep_ms(5000);
        CHECK(emu_stat(&emu_l, "wwL", "agent_config_calls") == calls, "no call in 5 s (backoff_max is 2 s): %d, then %d",
              calls, emu_stat(&emu_l, "wwL", "agent_config_calls"));
        CHECK(agent_log_count(&a, "api freq out of limit") == 1, "one log line for it");
        CHECK(emu_stat(&emu_l, "wwL", "gettoken_calls") == 1, "the token is untouched");
        free(state);
        free(advice);
}

int main(void) {
        static const char *const args_a[] = { "--corp", "wwA:" WSECRET_A, "--token-length", "2048", NULL };
        static const char *const args_r[] = { "--corp", "wwR:" WSECRET_R, "--expires-in", "8", NULL };
        static const char *const args_l[] = { "--corp", "wwL:" WSECRET_L, "--ticket-hour-limit", "2", NULL };
        char apps[4096];

        emu_start(&emu_a, args_a);
        emu_start(&emu_r, args_r);
        emu_start(&emu_l, args_l);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app wa]\nkind = work\nappid = wwA\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "tickets = jsapi, agent_config\n\n"
                 "[app wr]\nkind = work\nappid = wwR\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "tickets = agent_config\n\n"
                 "[app wl]\nkind = work\nappid = wwL\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "tickets = agent_config\n",
                 agent_secret_file(&a, "wa", WSECRET_A), emu_a.port, agent_secret_file(&a, "wr", WSECRET_R), emu_r.port,
                 agent_secret_file(&a, "wl", WSECRET_L), emu_l.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", apps);
        agent_start(&a);

        test_publish();
        test_reload_keeps();
        test_force();
        test_hour_limit();
        test_refresh();
        return harness_finish(&a);
}
