/* test-prometheus.c: a real Prometheus (Debian's package) scrapes metrics_listen and answers PromQL with the truth. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_A "Prom-Secret-1a2b3c4d5e"

static struct emu_proc emu;
static struct agent_proc a;
static pid_t prom = -1;

static void prom_stop(void) {
        int st;

        if (prom > 0) {
                kill(prom, SIGTERM);
                waitpid(prom, &st, 0);
                prom = -1;
        }
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

/* The value of a PromQL instant query through Prometheus's HTTP API (curl); -1 if no single answer yet. */
static double query(int port, const char *promql) {
        char cmd[1024], out[8192];
        const cJSON *r, *v;
        double value = -1;
        size_t n;
        cJSON *o;
        FILE *p;

        snprintf(cmd, sizeof(cmd), "curl -sf --max-time 5 -G 'http://127.0.0.1:%d/api/v1/query' "
                 "--data-urlencode 'query=%s'", port, promql);
        p = popen(cmd, "r");
        SETUP_OK(p, "popen curl");
        n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = '\0';
        pclose(p);
        o = cJSON_Parse(out);
        r = o ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "data"), "result") : NULL;
        if (cJSON_GetArraySize(r) == 1) {
                v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r, 0), "value"), 1);
                if (cJSON_IsString(v))
                        value = strtod(v->valuestring, NULL);
        }
        cJSON_Delete(o);
        return value;
}

/* Poll (bounded: Prometheus scrapes every second) until the query answers want. */
static bool wait_query(int port, const char *promql, double want, double *last) {
        for (int i = 0; i < 120; i++) {
                *last = query(port, promql);
                if (*last == want)
                        return true;
                harness_sleep_ms(500);
        }
        return false;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxA:" SEC_A, NULL };
        int metrics_port = free_port(), prom_port = free_port(), token_ok;
        char apps[1024], extra[128], conf[256], data[256], logf[256], listen[64], line[256], raw[4096];
        double last = 0;
        FILE *f;

        if (system("command -v prometheus >/dev/null 2>&1") != 0) {
                printf("SKIP: prometheus is not installed (Debian's prometheus package; ./dev installs it)\n");
                return 77;
        }
        emu_start(&emu, emu_args);
        agent_init(&a);
        check_on_stop(prom_stop);
        snprintf(apps, sizeof(apps), "[app shop]\nkind = token\nappid = wxA\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "shop", SEC_A), emu.port);
        snprintf(extra, sizeof(extra), "min_force_interval = 1\nmetrics_listen = 127.0.0.1:%d", metrics_port);
        agent_write_config(&a, extra, apps);
        agent_start(&a);
        REQUIRE(agent_wait_generation("shop", 1, 20000), "first token");
        /* A forced refresh: the truth to find is generation 2 and two ok calls, not a default. */
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":1,\"timeout_ms\":5000}\n");
        cJSON_Delete(agent_request(&a, line, raw, sizeof(raw)));
        REQUIRE(agent_wait_generation("shop", 2, 10000), "the forced refresh");
        token_ok = emu_stat(&emu, "wxA", "token_ok");

        /* Prometheus on loopback, in the test's directory, scraping the agent every second. */
        snprintf(conf, sizeof(conf), "%s/prometheus.yml", a.dir);
        snprintf(data, sizeof(data), "--storage.tsdb.path=%s/prom-data", a.dir);
        snprintf(logf, sizeof(logf), "%s/prometheus.log", a.dir);
        snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", prom_port);
        f = fopen(conf, "w");
        SETUP_OK(f, "write %s", conf);
        fprintf(f, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                "  - job_name: wxtokend\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n", metrics_port);
        SETUP_OK(fclose(f) == 0, "close %s", conf);
        prom = fork();
        SETUP_OK(prom >= 0, "fork");
        if (prom == 0) {
                int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                char cf[300];

                snprintf(cf, sizeof(cf), "--config.file=%s", conf);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                execlp("prometheus", "prometheus", cf, data, listen, (char *)NULL);
                _exit(127);
        }
        CHECK(wait_query(prom_port, "up{job=\"wxtokend\"}", 1, &last), "Prometheus scrapes the agent: up = %g "
              "(see %s)", last, logf);
        CHECK(wait_query(prom_port, "wxtokend_token_generation{app=\"shop\",item=\"shop\"}", 2, &last),
              "PromQL: generation %g, the agent's is 2", last);
        CHECK(token_ok == 2 && wait_query(prom_port, "wxtokend_upstream_calls_total{app=\"shop\",result=\"ok\"}",
                                          token_ok, &last),
              "PromQL: ok calls %g, wxemu answered %d", last, token_ok);
        CHECK(wait_query(prom_port, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"token\"} / "
                         "wxtokend_quota_daily_limit{app=\"shop\",endpoint=\"token\"}", 2.0 / 2000, &last),
              "PromQL: the quota's share %g", last);
        prom_stop();
        return harness_finish(&a);
}
