/* test-metrics.c: the metrics op and metrics_listen against the truth: wxemu's call counts, the status JSON, a restart, promtool. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_A "Metrics-Secret-a1b2c3d4"
#define SEC_S "Stable-Secret-e5f6a7b8"
#define SEC_X "Right-Secret-0c1d2e3f"
#define SEC_WRONG "Wrong-Secret-99887766"

static struct emu_proc emu;
static struct agent_proc a;

/* The whole metrics text over the socket: the agent writes it and closes (malloc'd; NULL if none). */
static char *metrics_socket(void) {
        static const char req[] = "{\"op\":\"metrics\"}\n";
        size_t n = 0, size = 1 << 16;
        char *buf = malloc(size);
        int fd = socket_dial(a.socket);
        ssize_t r;

        SETUP_OK(buf && fd >= 0, "dial %s", a.socket);
        SETUP_OK(write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1, "send");
        while ((r = read(fd, buf + n, size - n - 1)) > 0) {
                n += (size_t)r;
                if (n + 1 == size) {
                        size *= 2;
                        buf = realloc(buf, size);
                        SETUP_OK(buf, "realloc");
                }
        }
        close(fd);
        buf[n] = '\0';
        return buf;
}

/* The value of the sample whose name and labels are exactly series; -1e300 if absent. */
static double sample(const char *text, const char *series) {
        size_t n = strlen(series);

        for (const char *p = text; (p = strstr(p, series)); p++)
                if ((p == text || p[-1] == '\n') && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
        return -1e300;
}

/* The app's status entry in the status JSON. */
static cJSON *status_of(cJSON *st, const char *name) {
        cJSON *e;

        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(st, "apps")) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "app");

                if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
                        return e;
        }
        return NULL;
}

static double number(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        SETUP_OK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                 getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "a free port");
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

/* promtool check metrics on text: its exit status, and its output (stdout and stderr) in out. */
static int promtool(const char *text, char *out, size_t size) {
        char path[160], cmd[400];
        FILE *f, *p;
        size_t n;
        int st;

        snprintf(path, sizeof(path), "%s/metrics.txt", a.dir);
        f = fopen(path, "w");
        SETUP_OK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
        snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
        p = popen(cmd, "r");
        SETUP_OK(p, "popen promtool");
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long emu_calls(const char *app, const char *counter) {
        return emu_stat(&emu, app, counter);
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxA:" SEC_A, "--app", "wxS:" SEC_S, "--app", "wxX:" SEC_X,
                                                NULL };
        char apps[2048], extra[128], out[4096], line[256], raw[8192];
        struct emu_proc http = { .port = free_port() };
        struct http_res res;
        double calls_before;
        cJSON *st, *e;
        char *m;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app shop]\nkind = token\nappid = wxA\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "tickets = jsapi\n\n"
                 "[app stab]\nkind = stable\nappid = wxS\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app bad]\nkind = token\nappid = wxX\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "shop", SEC_A), emu.port, agent_secret_file(&a, "stab", SEC_S), emu.port,
                 agent_secret_file(&a, "bad", SEC_WRONG), emu.port);
        snprintf(extra, sizeof(extra), "min_force_interval = 1\nmetrics_listen = 127.0.0.1:%d", http.port);
        agent_write_config(&a, extra, apps);
        agent_start(&a);
        REQUIRE(agent_wait_generation("shop", 1, 20000) && agent_wait_generation("shop.jsapi", 1, 20000) &&
                agent_wait_generation("stab", 1, 20000), "first tokens");
        REQUIRE(agent_wait_state("bad", WXSHM_STATE_CONFIG_ERROR, 20000), "bad: config_error");
        /* One forced refresh of shop: a second token call, and its tickets again. */
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":1,\"timeout_ms\":5000}\n");
        cJSON_Delete(agent_request(&a, line, raw, sizeof(raw)));
        /* The ticket is fetched again after the new token (WeChat hands the same one back while it lasts). */
        REQUIRE(agent_wait_generation("shop", 2, 10000) &&
                agent_wait_app_number(&a, "shop.jsapi", "upstream_calls", 2, 10000) &&
                agent_wait_state("shop.jsapi", WXSHM_STATE_FRESH, 10000), "the forced refresh, and the ticket after it");

        m = metrics_socket();
        st = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        REQUIRE(m && st, "metrics and status");
        /* The agent's counts are wxemu's: every call it made, by what the answer meant. */
        CHECK(sample(m, "wxtokend_upstream_calls_total{app=\"shop\",item=\"shop\",result=\"ok\"}") ==
              emu_calls("wxA", "token_ok") && emu_calls("wxA", "token_ok") == 2, "shop's ok calls: emu %ld",
              emu_calls("wxA", "token_ok"));
        CHECK(sample(m, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"token\"}") == emu_calls("wxA", "token_calls"),
              "shop's token calls today: emu %ld", emu_calls("wxA", "token_calls"));
        CHECK(sample(m, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"ticket\"}") ==
              emu_calls("wxA", "ticket_calls") && emu_calls("wxA", "ticket_calls") >= 2, "ticket calls: emu %ld",
              emu_calls("wxA", "ticket_calls"));
        CHECK(sample(m, "wxtokend_upstream_calls_total{app=\"shop\",item=\"shop.jsapi\",result=\"ok\"}") ==
              emu_calls("wxA", "ticket_ok"), "ticket ok calls");
        CHECK(sample(m, "wxtokend_quota_calls_today{app=\"stab\",endpoint=\"stable_token\"}") ==
              emu_calls("wxS", "stable_normal") + emu_calls("wxS", "stable_force"), "stable calls");
        CHECK(sample(m, "wxtokend_quota_daily_limit{app=\"shop\",endpoint=\"token\"}") == 2000, "the limit beside");
        CHECK(sample(m, "wxtokend_upstream_calls_total{app=\"bad\",item=\"bad\",result=\"config\"}") ==
              emu_calls("wxX", "token_calls") && emu_calls("wxX", "token_calls") >= 1, "bad's config failures: emu %ld",
              emu_calls("wxX", "token_calls"));
        CHECK(sample(m, "wxtokend_upstream_calls_total{app=\"bad\",item=\"bad\",result=\"ok\"}") == 0, "bad: none ok");
        CHECK(sample(m, "wxtokend_state{app=\"bad\",item=\"bad\",state=\"config_error\"}") == 1 &&
              sample(m, "wxtokend_state{app=\"bad\",item=\"bad\",state=\"fresh\"}") == 0 &&
              sample(m, "wxtokend_state{app=\"shop\",item=\"shop\",state=\"fresh\"}") == 1, "states");
        CHECK(sample(m, "wxtokend_forced_refreshes_total{app=\"shop\",item=\"shop\"}") == 1, "one forced refresh");
        /* Generation, expiry and the last errcode are the status JSON's. */
        e = status_of(st, "shop");
        CHECK(e && sample(m, "wxtokend_token_generation{app=\"shop\",item=\"shop\"}") == number(e, "generation") &&
              number(e, "generation") == 2, "generation");
        CHECK(e && (long long)(sample(m, "wxtokend_token_expiry_timestamp_seconds{app=\"shop\",item=\"shop\"}") * 1000 + 0.5) ==
              (long long)number(e, "expires_at"), "expiry: %f vs %f",
              sample(m, "wxtokend_token_expiry_timestamp_seconds{app=\"shop\",item=\"shop\"}"), number(e, "expires_at"));
        e = status_of(st, "bad");
        CHECK(e && sample(m, "wxtokend_upstream_last_errcode{app=\"bad\",item=\"bad\"}") == number(e, "last_errcode") &&
              number(e, "last_errcode") == 40001, "last errcode (a wrong secret at /cgi-bin/token)");
        CHECK(!strstr(m, SEC_A) && !strstr(m, SEC_WRONG), "no secret in the metrics");
        {
                char tok[600];
                wxshm_info info = { .size = sizeof(info) };

                CHECK(agent_read("shop", tok, sizeof(tok), &info) > 0 && !strstr(m, tok), "no token in the metrics");
        }
        /* promtool lints the text: exit 0 and nothing said. */
        if (system("command -v promtool >/dev/null 2>&1") == 0) {
                int rc = promtool(m, out, sizeof(out));

                CHECK(rc == 0 && out[0] == '\0', "promtool check metrics: exit %d, said: %s", rc, out);
        } else {
                fprintf(stderr, "note: promtool not installed (Debian's prometheus package): lint skipped\n");
        }
        /* HTTP: the same text, /healthz 503 (bad is in config_error), /readyz 200. */
        http_call(&http, "GET", "/metrics", NULL, 5000, &res);
        CHECK(res.status == 200 && res.body && strstr(res.body, "wxtokend_token_generation{app=\"shop\",item=\"shop\"} 2\n"),
              "GET /metrics: %ld", res.status);
        http_res_free(&res);
        http_call(&http, "GET", "/healthz", NULL, 5000, &res);
        CHECK(res.status == 503, "GET /healthz with an app in config_error: %ld", res.status);
        http_res_free(&res);
        http_call(&http, "GET", "/readyz", NULL, 5000, &res);
        CHECK(res.status == 200, "GET /readyz: %ld", res.status);
        http_res_free(&res);
        http_call(&http, "GET", "/nothing", NULL, 5000, &res);
        CHECK(res.status == 404, "GET /nothing: %ld", res.status);
        http_res_free(&res);

        /* A restart: the quota count is read back; the token is adopted, so no call adds to it. */
        calls_before = sample(m, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"token\"}");
        free(m);
        cJSON_Delete(st);
        CHECK(agent_stop(&a) == 0, "stop");
        agent_start(&a);
        REQUIRE(agent_wait_generation("shop", 2, 20000), "adopted after the restart");
        m = metrics_socket();
        CHECK(m && calls_before == 2 &&
              sample(m, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"token\"}") == calls_before &&
              emu_calls("wxA", "token_calls") == calls_before, "the quota gauge survives a restart: %f",
              m ? sample(m, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"token\"}") : -1);
        CHECK(m && sample(m, "wxtokend_upstream_calls_total{app=\"shop\",item=\"shop\",result=\"ok\"}") == 0,
              "the counters start again (they are counters)");
        free(m);
        return harness_finish(&a);
}
