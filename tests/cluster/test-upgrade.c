/* test-upgrade.c: a rolling upgrade: an agent of an older commit and this build's agent share one app through Redis. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster-harness.h"

#define SECRET "Upg-Secret-5f4e3d2c"
#define LEASE_MS 1500
#define OLD 0
#define NEW 1

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts = { .count = 2 };
static struct host_reader readers[CLUSTER_HOSTS];
/* Holders stopped so far: each may have been stopped mid-call, losing that call's token. */
static int stops;

static const char *name_of(int i) {
        return i == OLD ? "OLD" : i == NEW ? "NEW" : i == -2 ? "both" : "nobody";
}

static int token_calls(void) {
        return emu_stat(&emu, "wxU", "token_calls");
}

/* On a failure, the end of each agent's log: the lease and mirror lines say who did what. */
static void print_logs(void) {
        for (int i = 0; i < hosts_count(&hosts); i++) {
                char *log = agent_log(&hosts.host[i]), *tail = log ? log + strlen(log) : NULL;

                for (int lines = 0; tail && tail > log && lines <= 25; tail--)
                        lines += tail[-1] == '\n';
                printf("--- the end of %s's log ---\n%s\n", name_of(i), tail ? tail : "(none)");
                free(log);
        }
}

/* The readers' verdict, the agents and Redis stopped, their logs' ends if anything failed: the exit code. */
static int finish(void) {
        if (check_failures())
                print_logs();
        return hosts_finish(&hosts, &redis, readers);
}

/*
 * Both hosts publish generation g (hosts_converge read it with libwxshm on each), Redis
 * holds it, and every WeChat call but one per stopped holder made a generation: two
 * agents calling for one rotation would show as more calls than generations.
 */
static void check_agree(const char *when, uint64_t g) {
        long long in_redis = redis_item_number(&redis, "token:wxU", "generation");
        int calls = token_calls();

        printf("%s: generation %llu on both hosts, %lld in Redis, %d WeChat token calls, %d holders stopped\n", when,
               (unsigned long long)g, in_redis, calls, stops);
        CHECK(g > 0, "%s: OLD and NEW publish the same generation and token", when);
        if (g == 0) {
                /* Every later step waits for an agreement that will not come. */
                printf("OLD and NEW never agreed: the test stops here\n");
                exit(finish());
        }
        CHECK(in_redis == (long long)g, "%s: Redis holds generation %llu", when, (unsigned long long)g);
        CHECK(calls >= (int)g && calls <= (int)g + stops, "%s: one WeChat call per generation, one more at most per "
              "stopped holder (calls %d, generation %llu, stops %d)", when, calls, (unsigned long long)g, stops);
}

/* The one host that says it holds the lease; -1 if none does, -2 if both do (two leases: two callers). */
static int sole_holder(void) {
        bool in_old = host_holds(&hosts, OLD, "shop"), in_new = host_holds(&hosts, NEW, "shop");

        return in_old && in_new ? -2 : in_old ? OLD : in_new ? NEW : -1;
}

/* Wait (bounded) until host want alone holds the lease by the hosts' own word: false if it never did. */
static bool wait_holder(int want, int max_ms) {
        for (int waited = 0; waited < max_ms; waited += 20) {
                if (sole_holder() == want)
                        return true;
                harness_sleep_ms(20);
        }
        return false;
}

/* The next planned rotation, published by holder and mirrored by the other host. */
static uint64_t rotation(uint64_t after, int holder, const char *when) {
        uint64_t g = hosts_converge(&hosts, "shop", after + 1, 30000);
        int now = sole_holder();

        check_agree(when, g);
        CHECK(now == holder, "%s: %s alone still holds the lease (held by %s)", when, name_of(holder), name_of(now));
        return g;
}

/*
 * A client on the host without the lease forces a refresh through libwxshm: its agent
 * hands it to the holder (the other version) over Redis, which makes one WeChat call;
 * both hosts then publish the new generation.
 */
static uint64_t forced_across(int asker, uint64_t g) {
        int calls = token_calls();
        int64_t got;
        wxshm *s;

        setenv("WXSHM_DIR", hosts.host[asker].shm_dir, 1);
        setenv("WXTOKEND_SOCKET", hosts.host[asker].socket, 1);
        if (wxshm_open(&s, "shop") < 0) {
                CHECK(false, "a client opens the app on %s's host", name_of(asker));
                return g;
        }
        got = wxshm_refresh(s, g, 15000);
        wxshm_close(s);
        printf("wxshm_refresh on %s's host for generation %llu (holder %s): %lld; WeChat token calls %d -> %d\n",
               name_of(asker), (unsigned long long)g, name_of(1 - asker), (long long)got, calls, token_calls());
        CHECK(got == (int64_t)g + 1, "the forced refresh asked of %s is answered with generation %llu (got %lld%s%s)",
              name_of(asker), (unsigned long long)g + 1, (long long)got, got < 0 ? ": " : "",
              got < 0 ? strerror((int)-got) : "");
        g = hosts_converge(&hosts, "shop", g + 1, 10000);
        CHECK(token_calls() == calls + 1, "one WeChat call for it, by the holder %s", name_of(1 - asker));
        CHECK(sole_holder() == 1 - asker, "%s alone still holds the lease", name_of(1 - asker));
        return g;
}

/*
 * The holder stops (SIGTERM): the other version takes the lease; the stopped host comes
 * back at once (its readers keep their token meanwhile) and mirrors the new holder.
 */
static void stop_holder(int holder, const char *when) {
        int other = 1 - holder;

        CHECK(sole_holder() == holder, "%s: %s alone holds the lease", when, name_of(holder));
        CHECK(agent_stop(&hosts.host[holder]) == 0, "%s: %s stops cleanly on SIGTERM", when, name_of(holder));
        stops++;
        CHECK(wait_holder(other, 10000), "%s: the lease moves from %s to %s", when, name_of(holder), name_of(other));
        agent_start(&hosts.host[holder]);
        CHECK(wait_holder(other, 1000), "%s: %s keeps the lease when %s is back", when, name_of(other),
              name_of(holder));
}

int main(void) {
        /* Tokens live 8 s and are renewed 3 s early (refresh_margin): a rotation every 5 s or so. */
        static const char *const emu_args[] = { "--app", "wxU:" SECRET, "--expires-in", "8", "--overlap", "1", NULL };
        const char *old = getenv("WXTOKEND_OLD");
        uint64_t g;

        /* Progress lines in order with the checks' failures on stderr, in the log ./dev shows. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!old || access(old, X_OK) < 0) {
                printf("SKIP: $WXTOKEND_OLD names no runnable wxtokend (%s): tests/cluster/test-upgrade.sh builds one from the "
                       "git history\n", old ? old : "unset");
                return 77;
        }
        hosts.bin[OLD] = old;
        printf("OLD agent: %s\nNEW agent: %s\n", old, getenv("WXTOKEND") ? getenv("WXTOKEND") : "./agent/wxtokend");
        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        hosts_configure(&hosts, &redis, emu.port, "wxU", SECRET, LEASE_MS);
        /* From the start: each reader waits for its host's first token, then checks every read. */
        hosts_readers_start(&hosts, "shop", readers);

        /* OLD alone first, so it holds the lease when NEW joins. */
        agent_start(&hosts.host[OLD]);
        CHECK(wait_holder(OLD, 10000), "OLD, alone, takes the lease");
        agent_start(&hosts.host[NEW]);
        g = hosts_converge(&hosts, "shop", 1, 30000);
        check_agree("NEW joined", g);
        CHECK(sole_holder() == OLD, "NEW joined: OLD alone holds the lease (held by %s)", name_of(sole_holder()));

        /* OLD holds: it rotates, NEW mirrors; a client on NEW's host forces a refresh that OLD makes. */
        g = rotation(g, OLD, "OLD's first rotation");
        g = rotation(g, OLD, "OLD's second rotation");
        g = forced_across(NEW, g);
        check_agree("after the forced refresh on NEW's host", g);

        /* OLD stops: NEW holds, rotates, OLD mirrors; a client on OLD's host forces, NEW serves. */
        stop_holder(OLD, "OLD stopped");
        g = hosts_converge(&hosts, "shop", g, 10000);
        check_agree("OLD back", g);
        g = rotation(g, NEW, "NEW's rotation");
        g = forced_across(OLD, g);
        check_agree("after the forced refresh on OLD's host", g);

        /* NEW stops and comes back: OLD holds again and rotates. */
        stop_holder(NEW, "NEW stopped");
        g = hosts_converge(&hosts, "shop", g, 10000);
        check_agree("NEW back", g);
        g = rotation(g, OLD, "OLD's rotation after NEW came back");
        return finish();
}
