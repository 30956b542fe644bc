/* test-cluster-conflict.c: cluster mode's hard cases: one node_id on two hosts, a Redis host name, a fetch that bypassed the holder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster-harness.h"

#define SECRET "Cfl-Secret-5e6f7a8b"
#define LEASE_MS 1500
#define LEASE_KEY "wxtokend:lease:token:wxK"
#define LIFETIME_S 14                   /* renewed 3 s early: 11 s between rotations */

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts;

static int token_calls(void) {
        return emu_stat(&emu, "wxK", "token_calls");
}

/* How many hosts say they hold the app's lease (hosts_holder cannot tell two "twin"s apart). */
static int holders_now(void) {
        int n = 0;

        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                char raw[8192];
                cJSON *o = agent_request(&hosts.host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
                const cJSON *a;

                cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "apps"))
                        n += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lease_held_here"));
                cJSON_Delete(o);
        }
        return n;
}

/*
 * Two hosts share node_id "twin". Were the lease keyed by node_id alone, both would hold
 * it and both would rotate the token: sample who holds it until the next rotation.
 */
static uint64_t check_twins(uint64_t g) {
        int most = 0, samples = 0;
        uint64_t target = g + 1;

        for (int waited = 0; waited < 40000 && host_generation(&hosts, 2, "shop", NULL, 0) < target; waited += 100) {
                int n = holders_now();

                most = n > most ? n : most;
                samples++;
                harness_sleep_ms(100);
        }
        g = hosts_converge(&hosts, "shop", target, 10000);
        printf("two hosts named twin: at most %d holder(s) in %d samples; generation %llu, %d WeChat token calls\n",
               most, samples, (unsigned long long)g, token_calls());
        CHECK(g >= target, "rotations go on");
        CHECK(most == 1, "never two holders, though two hosts share a node_id (%d)", most);
        CHECK(token_calls() == (int)g, "one WeChat call per generation (calls %d, generation %llu)", token_calls(),
              (unsigned long long)g);
        return g;
}

/*
 * Right after a rotation, a token fetched without the holder (an operator's curl, another
 * deployment) and written to Redis at the generation every host has: the hosts' own token
 * is now the older one. Every host must end up with the later fetch, at a higher
 * generation, with no WeChat call, well before the next planned rotation.
 */
static void check_bypass(uint64_t g) {
        char *outside, buf[WXSHM_TOKEN_MAX + 1];
        long long now = cluster_wall_ms();
        int calls, agree = 0;
        uint64_t after;

        outside = token(&emu, "wxK", SECRET);
        calls = token_calls();
        CHECK(outside && redis_run(&redis, "HSET wxtokend:item:token:wxK generation %llu token %s expires_at %lld "
                                   "fetched_at %lld", (unsigned long long)g, outside, now + LIFETIME_S * 1000, now),
              "a later fetch written to Redis at generation %llu", (unsigned long long)g);
        /* No notification: the periodic reconcile read (every 5 s) must find it. */
        after = hosts_converge(&hosts, "shop", g + 1, 15000);
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                agree += host_generation(&hosts, i, "shop", buf, sizeof(buf)) == after && outside &&
                         !strcmp(buf, outside);
        printf("a token fetched outside at generation %llu: the hosts publish it at generation %llu (%d of %d hosts), "
               "Redis %lld; WeChat calls %d -> %d\n", (unsigned long long)g, (unsigned long long)after, agree,
               CLUSTER_HOSTS, redis_item_number(&redis, "token:wxK", "generation"), calls, token_calls());
        CHECK(after > g && agree == CLUSTER_HOSTS, "every host took the later fetch at a new generation");
        CHECK(redis_item_number(&redis, "token:wxK", "generation") == (long long)after, "Redis agrees");
        CHECK(callback(&emu, outside) == 0, "WeChat accepts it");
        CHECK(token_calls() == calls, "no WeChat call to settle it");
        free(outside);
}

/*
 * A clean stop gives the lease up: right after the holder has exited, the lease no longer
 * names it (it would for up to lease_ms otherwise), and another host takes the app.
 */
static void check_clean_stop(void) {
        char before[128] = "", after[128] = "";
        int holder = -1;

        for (int i = 0; i < CLUSTER_HOSTS && holder < 0; i++) {
                char raw[8192];
                cJSON *o = agent_request(&hosts.host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
                const cJSON *a;

                cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "apps"))
                        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lease_held_here")))
                                holder = i;
                cJSON_Delete(o);
        }
        CHECK(holder >= 0 && redis_get(&redis, LEASE_KEY, before, sizeof(before)) && before[0],
              "a holder (%d) and its lease (%s)", holder, before);
        if (holder < 0)
                return;
        CHECK(agent_stop(&hosts.host[holder]) == 0, "the holder stops cleanly");
        CHECK(redis_get(&redis, LEASE_KEY, after, sizeof(after)) && strcmp(before, after) != 0,
              "its lease is given up at the stop (before: %s, after: %s)", before, after);
        printf("the holder (host %d) stopped cleanly: lease %s -> %s\n", holder, before, after[0] ? after : "(free)");
        agent_start(&hosts.host[holder]);
        for (int i = 0; i < 100 && hosts_holder(&hosts, "shop") < 0; i++)
                harness_sleep_ms(50);
        CHECK(hosts_holder(&hosts, "shop") >= 0, "another host takes the app");
}

/*
 * A Redis host name that does not resolve: the agent starts, keeps answering its socket
 * while the lookup runs in the background, and says what is wrong.
 */
static void check_unknown_host(void) {
        static struct agent_proc lone; /* the harness keeps a pointer to every agent until the end */
        char block[1024], raw[8192] = "";
        bool said = false;

        agent_init(&lone);
        snprintf(block, sizeof(block), "[app shop]\nkind = token\nappid = wxK\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://wxtokend-test.invalid:%d/0\n"
                 "lease_ms = %d\n", agent_secret_file(&lone, "shop", SECRET), emu.port, redis.port, LEASE_MS);
        agent_write_config(&lone, "log_level = debug\n", block);
        agent_start(&lone);
        for (int i = 0; i < 300 && !said; i++) {
                cJSON *o = agent_request(&lone, "{\"op\":\"status\"}\n", raw, sizeof(raw));
                const char *err = json_str(cJSON_GetObjectItemCaseSensitive(o, "cluster"), "last_error");

                said = err && strstr(err, "cannot look up wxtokend-test.invalid");
                cJSON_Delete(o);
                if (!said)
                        harness_sleep_ms(100);
        }
        printf("a Redis host name that does not resolve: %s\n", raw);
        CHECK(said, "status names the lookup that failed");
        CHECK(agent_stop(&lone) == 0, "and the agent stops cleanly");
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxK:" SECRET, "--expires-in", "14", "--overlap", "1", NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        uint64_t g;

        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        /* "localhost": the agents look Redis up in the background at every connect. */
        hosts.redis_host = "localhost";
        hosts.node_id[0] = hosts.node_id[1] = "twin";
        hosts_start(&hosts, &redis, emu.port, "wxK", SECRET, LEASE_MS);
        g = hosts_converge(&hosts, "shop", 1, 30000);
        CHECK(g > 0, "the hosts reach Redis through a host name and converge");
        hosts_readers_start(&hosts, "shop", readers);

        g = check_twins(g);
        check_bypass(g);
        check_clean_stop();
        check_unknown_host();
        return hosts_finish(&hosts, &redis, readers);
}
