/* test-cluster-retry.c: wxtokenctl retry on a host without the lease goes to the holder, under the holder's rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cluster-harness.h"

#define RSECRET_R "Cret-Secret-1a2b3c4d"
#define RSECRET_Q "Cquo-Secret-5e6f7a8b"
/* What the holder logs when its rule refuses a retry of an app whose day's quota is spent. */
#define QUOTA_REFUSED "refused (rate_limited): quo: WeChat answered 45009"

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts = { .count = 2 };

/* wxtokenctl retry APP on host i: its exit code, what it printed (stdout and stderr) in out. */
static int ctl_retry(int i, const char *app, char *out, size_t size) {
        char cmd[256];
        size_t n = 0;
        FILE *f;
        int status;

        snprintf(cmd, sizeof(cmd), "WXTOKEND_SOCKET=%s %s retry %s 2>&1", hosts.host[i].socket,
                 getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl", app);
        f = popen(cmd, "r");
        if (!f)
                return -1;
        n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        status = pclose(f);
        printf("host %d: wxtokenctl retry %s: %s", i, app, out);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Ask on host i until it hands the retry on (it may not have heard who holds the lease
 * yet, and says not_lease_holder until it has): true once it answered "sent to the holder".
 */
static bool retry_handed_on(int i, const char *app, int holder) {
        char out[2048], want[64];

        snprintf(want, sizeof(want), "sent to the lease holder (node%d)", holder);
        for (int n = 0; n < 50; n++) {
                int r = ctl_retry(i, app, out, sizeof(out));

                if (r == 0 && strstr(out, want))
                        return true;
                if (!strstr(out, "not_lease_holder"))
                        return false;
                harness_sleep_ms(100);
        }
        return false;
}

/* Each host: two apps, shop (wxR) and quo (wxQ); a failed app waits backoff_max = 600 s before trying again. */
static void configure(void) {
        char block[2048], extra[512];

        hosts_configure(&hosts, &redis, emu.port, "wxR", RSECRET_R, 1500);
        for (int i = 0; i < hosts_count(&hosts); i++) {
                snprintf(block, sizeof(block), "[app shop]\nkind = token\nappid = wxR\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[app quo]\nkind = token\nappid = wxQ\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://127.0.0.1:%d/0\n"
                         "lease_ms = 1500\nnode_id = node%d\n", agent_secret_file(&hosts.host[i], "shop", RSECRET_R),
                         emu.port, agent_secret_file(&hosts.host[i], "quo", RSECRET_Q), emu.port, redis.port, i);
                snprintf(extra, sizeof(extra), "refresh_margin = 3\nbackoff_min = 1\nbackoff_max = 600\n"
                         "min_force_interval = 1\nlog_level = debug\n");
                agent_write_config(&hosts.host[i], extra, block);
        }
}

/* Poll (bounded) until one host holds item's lease: that host, or -1. */
static int wait_holder(const char *item) {
        for (int waited = 0; waited < 20000; waited += 100) {
                int h = hosts_holder(&hosts, item);

                if (h >= 0)
                        return h;
                harness_sleep_ms(100);
        }
        return -1;
}

/* Poll (bounded) until wxemu counted more than before of app's token calls. */
static bool wait_calls(const char *app, int before, int max_ms) {
        for (int waited = 0; waited < max_ms; waited += 50) {
                if (emu_stat(&emu, app, "token_calls") > before)
                        return true;
                harness_sleep_ms(50);
        }
        return false;
}

/* The holder's log lines about retries, for the test's log. */
static void print_retry_lines(int i) {
        char *log = agent_log(&hosts.host[i]);

        for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n"))
                if (strstr(line, "retry asked"))
                        printf("host %d log: %s\n", i, line);
        free(log);
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxR:" RSECRET_R, "--app", "wxQ:" RSECRET_Q, NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        char needle[128], out[2048];
        int holder, other, calls, before;
        uint64_t g;

        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        /* shop: the server's IP is not whitelisted; quo: the day's quota is spent. Both before the first call. */
        SETUP_OK(control(&emu, "/emu/fault?app=wxR&kind=errcode&errcode=40164&errmsg=invalid%20ip%20not%20in%20whitelist")
                 == 200, "fault wxR");
        SETUP_OK(control(&emu, "/emu/fault?app=wxQ&kind=errcode&errcode=45009&errmsg=reach%20max%20api%20daily%20quota")
                 == 200, "fault wxQ");
        configure();
        for (int i = 0; i < hosts_count(&hosts); i++)
                agent_start(&hosts.host[i]);
        holder = wait_holder("shop");
        REQUIRE(holder >= 0, "a host holds shop's lease");
        other = 1 - holder;
        CHECK(wait_calls("wxR", 0, 20000), "shop: the holder's first attempt");

        /* Asked where the lease is not: handed to the holder, which calls now instead of in ten minutes. */
        calls = emu_stat(&emu, "wxR", "token_calls");
        snprintf(needle, sizeof(needle), "retry asked on node%d by uid 0 pid ", other);
        before = hosts_log_count(&hosts, needle);
        CHECK(retry_handed_on(other, "shop", holder), "retry on the host without the lease: sent to node%d", holder);
        CHECK(wait_calls("wxR", calls, 10000), "the holder called WeChat for the retry asked on the other host");
        CHECK(agent_log_count(&hosts.host[holder], needle) > before,
              "the holder's log names the asking host and the caller");

        /* The whitelist is fixed: a retry on the other host again, and both hosts get the token. */
        SETUP_OK(control(&emu, "/emu/fault?app=wxR&kind=none") == 200, "heal wxR");
        g = 0;
        for (int n = 0; n < 10 && !g; n++) {
                /* min_force_interval (1 s) may refuse the first one on the holder: asked again. */
                CHECK(retry_handed_on(other, "shop", holder), "retry after the fix: handed on");
                g = hosts_converge(&hosts, "shop", 1, 3000);
        }
        CHECK(g >= 1, "both hosts serve shop's token after the retry (generation %llu)", (unsigned long long)g);
        hosts_ctl_status(&hosts, other, out, sizeof(out));
        CHECK(strstr(out, "shop") && strstr(out, "fresh"), "status on the other host shows shop fresh");
        hosts_readers_start(&hosts, "shop", readers);

        /* quo is at 45009: the holder's own rule refuses the retry (in its log); WeChat is not called. */
        holder = wait_holder("quo");
        REQUIRE(holder >= 0, "a host holds quo's lease");
        other = 1 - holder;
        CHECK(wait_calls("wxQ", 0, 20000), "quo: the holder's first attempt");
        calls = emu_stat(&emu, "wxQ", "token_calls");
        snprintf(needle, sizeof(needle), "retry asked on node%d by uid 0 pid ", other);
        before = hosts_log_count(&hosts, QUOTA_REFUSED);
        CHECK(retry_handed_on(other, "quo", holder), "retry of quo on the host without the lease: handed on");
        CHECK(hosts_wait_log(&hosts, QUOTA_REFUSED, before, 10000) &&
              agent_log_count(&hosts.host[holder], QUOTA_REFUSED) > before && agent_log_count(&hosts.host[holder],
              needle) >= 1, "the holder refused it by its quota rule, naming who asked");
        print_retry_lines(0);
        print_retry_lines(1);
        CHECK(emu_stat(&emu, "wxQ", "token_calls") == calls, "and made no call (%d, was %d)",
              emu_stat(&emu, "wxQ", "token_calls"), calls);
        return hosts_finish(&hosts, &redis, readers);
}
