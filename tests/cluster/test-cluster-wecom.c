/* test-cluster-wecom.c: WeCom service providers served by three agents in cluster mode: the provider's token (one lease, one call for the fleet, a kill -9). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster-harness.h"

#define PROV "wwprov0001"
#define PSECRET "Prov-Secret-8c2f5a1e7d"
#define SEED "7"
#define LEASE_MS 1500
#define FLEET_KEY "7d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9001a2b3c4d5e6"

static struct redis_proc redis;
static struct emu_proc emu;
static struct cluster_hosts hosts;
static char key_dir[64], key_path[128];

/* Token calls wxemu answered for id (get_provider_token here), ok or not. */
static int calls(const char *id) {
        int n = emu_stat(&emu, id, "gettoken_calls");

        return n < 0 ? 0 : n; /* nothing touched yet is not shown */
}

/* Each host: the provider "isv" at wxemu, [cluster] with the fleet key. */
static void configure(void) {
        char block[2048];

        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                agent_init(&hosts.host[i]);
                snprintf(block, sizeof(block), "[app isv]\nkind = provider\nappid = " PROV "\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://127.0.0.1:%d/0\nlease_ms = %d\n"
                         "node_id = node%d\nfleet_key_file = %s\n", agent_secret_file(&hosts.host[i], "isv", PSECRET),
                         emu.port, redis.port, LEASE_MS, i, key_path);
                agent_write_config(&hosts.host[i], "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", block);
        }
}

static int wait_holder(const char *item, int not, int max_ms) {
        for (int waited = 0; waited <= max_ms; waited += 100) {
                int h = hosts_holder(&hosts, item);

                if (h >= 0 && h != not)
                        return h;
                harness_sleep_ms(100);
        }
        return -1;
}

/*
 * The provider: one get_provider_token call for the fleet, the same token on every host;
 * the holder killed -9: another takes the lease and calls no more while the token is valid.
 */
static void test_provider(void) {
        char tok[CLUSTER_HOSTS][WXSHM_TOKEN_MAX + 1];
        uint64_t g;
        int holder, next, same = 0;

        g = hosts_converge(&hosts, "isv", 1, 30000);
        CHECK(g > 0, "every host publishes the provider's token");
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                same += host_generation(&hosts, i, "isv", tok[i], sizeof(tok[i])) == g && !strcmp(tok[i], tok[0]);
        CHECK(same == CLUSTER_HOSTS, "the same token at the same generation on all %d hosts", CLUSTER_HOSTS);
        CHECK(calls(PROV) == 1, "one get_provider_token call for the fleet: %d", calls(PROV));
        CHECK(redis_item_number(&redis, "provider:" PROV, "generation") == (long long)g,
              "Redis holds the provider's token record at that generation");

        holder = wait_holder("isv", -1, 10000);
        SETUP_OK(holder >= 0, "a host holds the provider's lease");
        agent_kill9(&hosts.host[holder]);
        next = wait_holder("isv", holder, 4 * LEASE_MS + 5000);
        CHECK(next >= 0, "another host takes the provider's lease after node%d's kill -9", holder);
        harness_sleep_ms(LEASE_MS + 3000); /* an observation window: a call would show in it */
        CHECK(calls(PROV) == 1, "no get_provider_token call after the takeover while the token is valid: %d",
              calls(PROV));
        agent_start(&hosts.host[holder]);
        CHECK(hosts_converge(&hosts, "isv", g, 20000) == g, "node%d restarted publishes the same generation", holder);
        CHECK(calls(PROV) == 1, "still one call: %d", calls(PROV));
        CHECK(hosts_log_count(&hosts, PSECRET) == 0, "no provider secret in any log");
}

int main(void) {
        static const char *const args[] = { "--provider", PROV ":" PSECRET, "--seed", SEED, NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        int fd;

        strcpy(key_dir, "/tmp/test-wecom.XXXXXX");
        SETUP_OK(mkdtemp(key_dir), "mkdtemp: %m");
        snprintf(key_path, sizeof(key_path), "%s/fleet.key", key_dir);
        fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        SETUP_OK(fd >= 0 && write(fd, FLEET_KEY "\n", sizeof(FLEET_KEY)) == (ssize_t)sizeof(FLEET_KEY) && close(fd) == 0,
                 "%s: %m", key_path);
        redis_start(&redis, 0);
        emu_start(&emu, args);
        configure();
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                agent_start(&hosts.host[i]);
        hosts_readers_start(&hosts, "isv", readers);

        test_provider();

        unlink(key_path);
        rmdir(key_dir);
        return hosts_finish(&hosts, &redis, readers);
}
