/* test-cluster-budget.c: max_forced_per_day is fleet-wide: a flood across a lease handover makes 3 calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cluster-harness.h"

#define SECRET "Cbud-Secret-5a6b7c8d"
#define CAP 3

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts;

/* A forced refresh through host i of the generation it publishes: "ok", or the error code. */
static const char *force(int i) {
        static char error[64];
        char line[192], raw[4096];
        const char *e;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":%llu,\"timeout_ms\":3000}\n",
                 (unsigned long long)host_generation(&hosts, i, "shop", NULL, 0));
        if (client_request(hosts.host[i].socket, line, raw, sizeof(raw), 10000) < 0)
                return "no reply";
        if (strstr(raw, "\"ok\":true"))
                return "ok";
        e = strstr(raw, "\"error\":\"");
        snprintf(error, sizeof(error), "%.*s", e ? (int)strcspn(e + 9, "\"") : 1, e ? e + 9 : "?");
        return error;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxG:" SECRET, NULL };
        int ok = 0, limited = 0, other = 0, stopped = -1, holder, calls;
        long long start;
        char count[32] = "", key[128];
        struct host_reader readers[CLUSTER_HOSTS];

        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        hosts.agent_extra = "max_forced_per_day = 3\n";
        hosts_start(&hosts, &redis, emu.port, "wxG", SECRET, 1500);
        CHECK(hosts_converge(&hosts, "shop", 1, 20000) == 1, "every host has the first token");
        CHECK(emu_stat(&emu, "wxG", "token_calls") == 1, "one call to start");
        hosts_readers_start(&hosts, "shop", readers);

        /*
         * Forced refreshes through each host in turn for 8 s of real time; after two, the
         * lease holder stops and another host takes the app over with a fresh local count.
         */
        start = cluster_wall_ms();
        for (int n = 0; cluster_wall_ms() - start < 8000; n++) {
                int i = n % CLUSTER_HOSTS;
                const char *r;

                if (i == stopped)
                        continue;
                r = force(i);
                if (!strcmp(r, "ok"))
                        ok++;
                else if (!strcmp(r, "rate_limited"))
                        limited++, harness_sleep_ms(20); /* a flood, not a busy loop on a shared machine */
                else
                        other++;
                if (ok == 2 && stopped < 0) {
                        holder = hosts_holder(&hosts, "shop");
                        CHECK(holder >= 0, "a holder");
                        if (holder < 0)
                                break;
                        CHECK(agent_stop(&hosts.host[holder]) == 0, "the holder stops mid-flood");
                        stopped = holder;
                }
        }
        calls = emu_stat(&emu, "wxG", "token_calls");
        printf("forced refreshes: %d ok, %d rate limited, %d other; %d WeChat calls\n", ok, limited, other, calls);
        CHECK(stopped >= 0, "the holder was stopped mid-flood");
        CHECK(calls == 1 + CAP, "a fleet-wide flood across a lease handover: %d forced calls, the cap is %d",
              calls - 1, CAP);
        CHECK(limited > 0, "past the cap clients are told rate_limited");
        /* The count lives beside the other cluster keys, per item and Beijing day. */
        snprintf(key, sizeof(key), "wxtokend:forced:token:wxG:%lld", (cluster_wall_ms() + 8 * 3600 * 1000LL) /
                 (24 * 3600 * 1000LL));
        CHECK(redis_get(&redis, key, count, sizeof(count)) && !strcmp(count, "3"), "%s is '%s'", key, count);
        if (stopped >= 0)
                agent_start(&hosts.host[stopped]); /* hosts_finish stops every host cleanly */
        return hosts_finish(&hosts, &redis, readers);
}
