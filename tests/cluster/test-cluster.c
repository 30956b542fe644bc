/* test-cluster.c: three agents share one app through a real Redis: rotations, 1,000 forced refreshes, Redis stalls and loss. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster-harness.h"

#define SECRET "Clu-Secret-0a1b2c3d"
#define LEASE_MS 1500
#define FORCED 1000
#define CONNS_PER_HOST 4

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts;

static int token_calls(void) {
        return emu_stat(&emu, "wxC", "token_calls");
}

/* Wait for the next rotation and for every host to have it: its generation. */
static uint64_t next_rotation(uint64_t after) {
        return hosts_converge(&hosts, "shop", after + 1, 30000);
}

/*
 * The next rotation, watched on every host every millisecond: how long after the first
 * host (the holder) published it the last one had it. A figure, not a check.
 */
static uint64_t timed_rotation(uint64_t after, long long *lag_ms) {
        long long seen[CLUSTER_HOSTS] = { 0 }, first = 0, last = 0;
        int have = 0;

        for (int waited = 0; have < CLUSTER_HOSTS && waited < 30000 * 4; waited++) {
                for (int i = 0; i < CLUSTER_HOSTS; i++)
                        if (!seen[i] && host_generation(&hosts, i, "shop", NULL, 0) > after) {
                                seen[i] = cluster_wall_ms();
                                have++;
                        }
                usleep(250);
        }
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                if (!first || (seen[i] && seen[i] < first))
                        first = seen[i];
                if (seen[i] > last)
                        last = seen[i];
        }
        *lag_ms = have == CLUSTER_HOSTS ? last - first : -1;
        return next_rotation(after);
}

/* wxtokenctl status names this node, says Redis answers, and shows the app's holder. */
static void check_wxtokenctl_status(int i, int holder) {
        char out[4096], want[64];

        hosts_ctl_status(&hosts, i, out, sizeof(out));
        snprintf(want, sizeof(want), "cluster: node node%d, Redis", i);
        CHECK(strstr(out, want) && strstr(out, "connected"), "status names node%d and Redis connected", i);
        snprintf(want, sizeof(want), "node%d%s", holder, holder == i ? " (here)" : "");
        CHECK(strstr(out, "HOLDER") && strstr(out, want), "status shows the holder %s", want);
}

/* Every WeChat call bought exactly one generation, and every host and Redis agree on it. */
static void check_calls_equal_generations(const char *when, uint64_t gen) {
        long long in_redis = redis_item_number(&redis, "token:wxC", "generation");

        printf("%s: generation %llu on every host, %lld in Redis, %d WeChat token calls\n", when,
               (unsigned long long)gen, in_redis, token_calls());
        CHECK(gen > 0, "%s: the hosts converged", when);
        CHECK(in_redis == (long long)gen, "%s: Redis holds generation %llu", when, (unsigned long long)gen);
        CHECK(token_calls() == (int)gen, "%s: one WeChat call per generation (calls %d, generation %llu)", when,
              token_calls(), (unsigned long long)gen);
}

/* FORCED refresh requests for generation gen, spread over the hosts' sockets at once: their answers. */
static void forced_storm(uint64_t gen) {
        int fds[CLUSTER_HOSTS * CONNS_PER_HOST], sent = 0, ok = 0, newer = 0, other = 0;
        char line[160], buf[65536];
        size_t have[CLUSTER_HOSTS * CONNS_PER_HOST] = { 0 };
        int n = CLUSTER_HOSTS * CONNS_PER_HOST, calls_before = token_calls();
        uint64_t after;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":%llu,\"timeout_ms\":15000}\n",
                 (unsigned long long)gen);
        for (int i = 0; i < n; i++) {
                fds[i] = socket_dial(hosts.host[i % CLUSTER_HOSTS].socket);
                CHECK(fds[i] >= 0, "connect to host %d", i % CLUSTER_HOSTS);
        }
        /* Round-robin over the connections, so every host has requests waiting at once. */
        for (int k = 0; sent < FORCED; k++) {
                int fd = fds[k % n];

                if (fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line))
                        sent++;
                else if (fd < 0 && k > FORCED * 4)
                        break;
        }
        for (int done = 0; done < sent;) {
                struct pollfd p[CLUSTER_HOSTS * CONNS_PER_HOST];
                int r;

                for (int i = 0; i < n; i++)
                        p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
                r = poll(p, (nfds_t)n, 20000);
                if (r <= 0)
                        break;
                for (int i = 0; i < n; i++) {
                        ssize_t got;
                        char *nl;

                        if (!(p[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        got = read(fds[i], buf, sizeof(buf) - 1);
                        if (got <= 0) {
                                fds[i] = -1;
                                continue;
                        }
                        buf[got] = '\0';
                        for (char *s = buf; (nl = strchr(s, '\n')); s = nl + 1) {
                                cJSON *o;

                                *nl = '\0';
                                o = cJSON_Parse(s);
                                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
                                        ok++;
                                        if (json_int(o, "generation", 0) > (int)gen)
                                                newer++;
                                } else {
                                        if (other++ < 3)
                                                fprintf(stderr, "forced refresh answer: %s\n", s);
                                }
                                cJSON_Delete(o);
                                done++;
                        }
                        have[i]++;
                }
        }
        for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        after = hosts_converge(&hosts, "shop", gen + 1, 10000);
        printf("forced: %d requests for generation %llu over %d hosts: %d ok (%d with a newer generation), %d "
               "errors; WeChat token calls %d -> %d\n", sent, (unsigned long long)gen, CLUSTER_HOSTS, ok, newer,
               other, calls_before, token_calls());
        CHECK(sent == FORCED && ok == FORCED && newer == FORCED, "every forced refresh answered with a newer token");
        CHECK(token_calls() == calls_before + 1, "one WeChat call for %d forced refreshes", FORCED);
        CHECK(after == gen + 1, "every host has generation %llu", (unsigned long long)gen + 1);
}

/*
 * Right after the storm, another forced refresh on a host without the lease, with a
 * timeout shorter than min_force_interval: the holder's refusal reaches that host's
 * client as rate_limited (not a silent timeout).
 */
static void forced_refusal_crosses_hosts(uint64_t gen, long long storm_done_ms) {
        int holder = hosts_holder(&hosts, "shop"), other = (holder + 1) % CLUSTER_HOSTS, calls = token_calls();
        char line[160], raw[1024];
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":%llu,\"timeout_ms\":200}\n",
                 (unsigned long long)gen);
        o = agent_request(&hosts.host[other], line, raw, sizeof(raw));
        printf("forced refresh on host %d (holder %d) %lld ms after the last one: %s\n", other, holder,
               cluster_wall_ms() - storm_done_ms, raw);
        /* Only meaningful inside the interval; a slow machine may have let it pass. */
        if (cluster_wall_ms() - storm_done_ms < 700) {
                const char *err = json_str(o, "error");

                CHECK(err && !strcmp(err, "rate_limited"), "the holder's refusal reaches host %d: %s", other, raw);
                CHECK(json_int(o, "retry_after_ms", -1) > 0, "with retry_after_ms: %s", raw);
                CHECK(token_calls() == calls, "no WeChat call for it");
        }
        cJSON_Delete(o);
}

/* The gaps between WeChat token calls: two agents calling at once would show as a short one. */
static void check_call_spacing(void) {
        struct http_res res;
        long long prev = -1, min_gap = -1;
        const cJSON *e;

        http_call(&emu, "GET", "/emu/log", NULL, 5000, &res);
        cJSON_ArrayForEach(e, res.json) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "unix_ms");

                if (strcmp(json_str(e, "endpoint"), "token") || !cJSON_IsNumber(t))
                        continue;
                if (prev >= 0 && (min_gap < 0 || (long long)t->valuedouble - prev < min_gap))
                        min_gap = (long long)t->valuedouble - prev;
                prev = (long long)t->valuedouble;
        }
        http_res_free(&res);
        printf("shortest gap between two WeChat token calls: %lld ms\n", min_gap);
        /* Planned rotations are seconds apart, the forced one 1.5 s after one: never two at once. */
        CHECK(min_gap >= 1000, "no two agents called WeChat together (shortest gap %lld ms)", min_gap);
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxC:" SECRET, "--expires-in", "8", "--overlap", "1", NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        uint64_t g;
        int holder;

        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        hosts_start(&hosts, &redis, emu.port, "wxC", SECRET, LEASE_MS);

        g = hosts_converge(&hosts, "shop", 1, 30000);
        check_calls_equal_generations("start", g);
        hosts_readers_start(&hosts, "shop", readers);

        /* Steady state: three rotations, each made once, by the holder, mirrored everywhere. */
        for (int i = 0; i < 3; i++) {
                long long lag;

                g = timed_rotation(g, &lag);
                printf("rotation to generation %llu: the last host had it %lld ms after the first\n",
                       (unsigned long long)g, lag);
        }
        check_calls_equal_generations("after 3 rotations", g);
        holder = hosts_holder(&hosts, "shop");
        CHECK(holder >= 0, "one host holds the lease");
        check_wxtokenctl_status((holder + 1) % CLUSTER_HOSTS, holder);
        check_wxtokenctl_status(holder, holder);

        /* 1,000 forced refreshes over the three hosts for one generation: one WeChat call. */
        g = next_rotation(g);
        /*
         * Real time must pass: check_call_spacing reads two WeChat calls under 1 s apart as two
         * agents calling together, so the forced call comes 1.5 s after the rotation's.
         */
        harness_sleep_ms(1500);
        forced_storm(g);
        forced_refusal_crosses_hosts(g + 1, cluster_wall_ms());
        g = hosts_converge(&hosts, "shop", g + 1, 10000);
        check_calls_equal_generations("after the forced refreshes", g);

        /* Redis stalls longer than the lease: nobody calls WeChat meanwhile; then it converges, no extra call. */
        g = next_rotation(g);
        redis_pause(&redis, true);
        /* Real time must pass: two lease windows without Redis, after which no host may hold the lease. */
        harness_sleep_ms(LEASE_MS * 2);
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                char raw[4096];
                cJSON *o = agent_request(&hosts.host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
                const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "cluster");

                CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "connected")),
                      "host %d says Redis is unreachable: %s", i, raw);
                CHECK(hosts_holder(&hosts, "shop") < 0, "no host holds the lease while Redis stalls");
                cJSON_Delete(o);
        }
        CHECK(host_generation(&hosts, 0, "shop", NULL, 0) == g, "the token stays published while Redis stalls");
        CHECK(agent_notified(&hosts.host[1], "Redis unreachable"), "STATUS= tells systemd Redis is unreachable");
        redis_pause(&redis, false);
        /* Recovered: every host talks to Redis again, and one holds the lease again (waited for). */
        CHECK(hosts_wait_redis(&hosts, true, 10000), "every host reconnects to Redis");
        for (int i = 0; i < 200 && hosts_holder(&hosts, "shop") < 0; i++)
                harness_sleep_ms(50);
        g = hosts_converge(&hosts, "shop", g, 10000);
        check_calls_equal_generations("after Redis stalled", g);
        g = next_rotation(g);
        check_calls_equal_generations("the rotation after the stall", g);

        /* Redis restarted empty: the holder puts the token back; no extra call. */
        g = next_rotation(g);
        redis_stop(&redis);
        redis_start(&redis, redis.port);
        for (int i = 0; i < 200 && redis_item_number(&redis, "token:wxC", "generation") < (long long)g; i++)
                harness_sleep_ms(20);
        g = hosts_converge(&hosts, "shop", g, 10000);
        check_calls_equal_generations("after Redis restarted empty", g);
        g = next_rotation(g);
        check_calls_equal_generations("the rotation after the restart", g);
        check_call_spacing();

        return hosts_finish(&hosts, &redis, readers);
}
