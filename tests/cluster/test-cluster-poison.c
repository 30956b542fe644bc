/* test-cluster-poison.c: a Redis writer poisons cluster mode's keys: no WeChat call, no planted token, recovery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-harness.h"

#define SECRET "Psn-Secret-7c6b5a49"
#define LEASE_MS 1500
#define ITEM_KEY "wxtokend:item:token:wxP"
#define LEASE_KEY "wxtokend:lease:token:wxP"
#define REFUSED "Redis key " ITEM_KEY " is refused: "
#define HWM_LIMIT_KB (100 * 1024)

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts;

static int token_calls(void) {
        return emu_stat(&emu, "wxP", "token_calls");
}



/* The status's cluster_problem for the app on host i ("" if none). */
static void host_problem(int i, char *buf, size_t size) {
        char raw[16384];
        cJSON *o = agent_request(&hosts.host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
        const cJSON *a;

        buf[0] = '\0';
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "apps")) {
                const char *p = json_str(a, "cluster_problem");

                if (p)
                        snprintf(buf, size, "%s", p);
        }
        cJSON_Delete(o);
}

/* wxtokenctl status on host i shows the app's problem in Redis, naming what. */
static void check_wxtokenctl(int i, const char *what) {
        char out[8192];

        hosts_ctl_status(&hosts, i, out, sizeof(out));
        CHECK(strstr(out, "  shop: ") && strstr(out, what), "wxtokenctl status shows the problem with %s", what);
}

/* Every host says its Redis links are up. */
static bool hosts_connected(void) {
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                char raw[16384];
                cJSON *o = agent_request(&hosts.host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
                bool up = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "cluster"),
                                                                        "connected"));

                cJSON_Delete(o);
                if (!up)
                        return false;
        }
        return true;
}


/*
 * A client of a host that does not hold the lease reports generation g invalid: the
 * holder makes one WeChat call and every host converges on what it fetched. This is the
 * window where the old code, after believing a poisoned record, called WeChat and could
 * not publish (2^64-1), published the planted generation, or could not push (a future
 * fetched_at kept every other host on the old token). Returns the new generation.
 */
static uint64_t check_forced(const char *what, uint64_t g, int calls_before) {
        char line[160], raw[4096], tok[WXSHM_TOKEN_MAX + 1];
        int holder, asker;
        cJSON *o;
        uint64_t after;
        long long in_redis;

        /*
         * A Redis busy with a huge value (or collecting it) may have had the agents drop and
         * remake their links: every host connected, and a holder, first.
         */
        for (int waited = 0; waited < 60000 && (!hosts_connected() || hosts_holder(&hosts, "shop") < 0); waited += 50)
                harness_sleep_ms(50);
        holder = hosts_holder(&hosts, "shop");
        asker = holder < 0 ? 1 : (holder + 1) % CLUSTER_HOSTS;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":%llu,\"timeout_ms\":15000}\n",
                 (unsigned long long)g);
        o = agent_request(&hosts.host[asker], line, raw, sizeof(raw));
        CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")), "%s: a forced refresh through host %d "
              "(holder %d) is answered: %s", what, asker, holder, raw);
        cJSON_Delete(o);
        after = hosts_converge(&hosts, "shop", g + 1, 15000);
        host_generation(&hosts, 0, "shop", tok, sizeof(tok));
        in_redis = redis_item_number(&redis, "token:wxP", "generation");
        printf("%s: forced refresh through host %d: generation %llu -> %llu on every host, Redis %lld; WeChat calls "
               "%d -> %d\n", what, asker, (unsigned long long)g, (unsigned long long)after, in_redis, calls_before,
               token_calls());
        CHECK(after > g && after < g + 5, "%s: every host has a new generation just above %llu (%llu)", what,
              (unsigned long long)g, (unsigned long long)after);
        /*
         * Every call bought a generation (a planned rotation may join the forced one; a record
         * planted at the generation the holder pushes may make it skip one, never a call).
         */
        CHECK(token_calls() - calls_before >= 1 && token_calls() - calls_before <= (int)(after - g), "%s: no WeChat "
              "call without a new generation (calls %d -> %d, generation %llu -> %llu)", what, calls_before,
              token_calls(), (unsigned long long)g, (unsigned long long)after);
        CHECK(in_redis == (long long)after, "%s: Redis holds the new record (generation %lld)", what, in_redis);
        CHECK(callback(&emu, tok) == 0, "%s: WeChat accepts the token every host serves", what);
        return after;
}

/* A record with a bad field written over the live one; the holder refuses it and writes its own back. */
static uint64_t check_record(const char *what, uint64_t g, const char *gen, const char *token, long long expires_at,
                             long long fetched_at) {
        char before[WXSHM_TOKEN_MAX + 1];
        int refused = hosts_log_count(&hosts, REFUSED), calls = token_calls();

        host_generation(&hosts, 0, "shop", before, sizeof(before));
        CHECK(redis_run(&redis, "HSET %s generation %s token %s expires_at %lld fetched_at %lld", ITEM_KEY, gen, token,
                        expires_at, fetched_at), "%s: written", what);
        CHECK(hosts_wait_log(&hosts, REFUSED, refused, 15000), "%s: an agent says it refuses the record", what);
        hosts_check_served(&hosts, what, g, before);
        CHECK(token_calls() == calls, "%s: no WeChat call (%d -> %d)", what, calls, token_calls());
        return check_forced(what, g, calls);
}

/* The lease key made a list: one log line per host, status shows it, no call; deleting it heals. */
static uint64_t check_lease_list(uint64_t g) {
        char before[WXSHM_TOKEN_MAX + 1], problem[1024];
        const char *needle = "Redis key " LEASE_KEY " is a list, not a lease";
        int calls = token_calls(), lines[CLUSTER_HOSTS];
        char line[160], raw[4096];
        cJSON *o;

        host_generation(&hosts, 0, "shop", before, sizeof(before));
        CHECK(redis_run(&redis, "DEL %s", LEASE_KEY) && redis_run(&redis, "RPUSH %s x", LEASE_KEY),
              "the lease key made a list");
        CHECK(hosts_wait_log(&hosts, needle, 0, 10000), "an agent says the lease key is a list");
        /* Real time must pass here: six claim ticks (lease_ms / 3 each), to see the line is not said again. */
        harness_sleep_ms(LEASE_MS * 2);
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                lines[i] = agent_log_count(&hosts.host[i], needle);
                host_problem(i, problem, sizeof(problem));
                printf("lease key a list: host %d logged it %d time(s); status: %s\n", i, lines[i], problem);
                CHECK(lines[i] == 1, "host %d logs the wrong-type lease key once, not at every tick (%d)", i,
                      lines[i]);
                CHECK(strstr(problem, LEASE_KEY) && strstr(problem, "DEL"), "host %d's status names the key and "
                      "the fix", i);
                CHECK(agent_log_count(&hosts.host[i], "Redis refused the lease script") == 0,
                      "host %d: no script error at each tick", i);
        }
        check_wxtokenctl(0, LEASE_KEY);
        hosts_check_served(&hosts, "lease key a list", g, before);
        /* A forced refresh now has no holder to make it: it times out, and costs nothing. */
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":%llu,\"timeout_ms\":2000}\n",
                 (unsigned long long)g);
        o = agent_request(&hosts.host[1], line, raw, sizeof(raw));
        CHECK(o && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")), "no holder: the forced refresh is "
              "not answered with a token: %s", raw);
        cJSON_Delete(o);
        CHECK(token_calls() == calls, "lease key a list: no WeChat call (%d -> %d)", calls, token_calls());
        CHECK(redis_run(&redis, "DEL %s", LEASE_KEY), "the lease key deleted");
        for (int i = 0; i < 200 && hosts_holder(&hosts, "shop") < 0; i++)
                harness_sleep_ms(50);
        CHECK(hosts_holder(&hosts, "shop") >= 0, "a host holds the lease again");
        /* Each host's next claim (every lease_ms / 3) finds the key usable again. */
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                for (int waited = 0; waited < 5000; waited += 50) {
                        host_problem(i, problem, sizeof(problem));
                        if (!strstr(problem, LEASE_KEY))
                                break;
                        harness_sleep_ms(50);
                }
                CHECK(!strstr(problem, LEASE_KEY), "host %d's status no longer shows the lease problem: %s", i,
                      problem);
        }
        return check_forced("lease key deleted", g, calls);
}

/* The item key made a string: the holder cannot publish there; one line per host, healed by DEL. */
static uint64_t check_item_string(uint64_t g) {
        const char *needle = "Redis key " ITEM_KEY " is a string, not a hash";
        char before[WXSHM_TOKEN_MAX + 1];
        int calls = token_calls(), n;

        host_generation(&hosts, 0, "shop", before, sizeof(before));
        CHECK(redis_run(&redis, "SET %s planted", ITEM_KEY), "the item key made a string");
        for (int waited = 0; waited < 15000 && hosts_log_count(&hosts, needle) < CLUSTER_HOSTS; waited += 50)
                harness_sleep_ms(50);
        /* Real time must pass: two more reconcile reads (every 5 s) that must not log it again. */
        harness_sleep_ms(11000);
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                n = agent_log_count(&hosts.host[i], needle);
                printf("item key a string: host %d logged it %d time(s)\n", i, n);
                CHECK(n == 1, "host %d logs the wrong-type item key once per change (%d)", i, n);
        }
        hosts_check_served(&hosts, "item key a string", g, before);
        CHECK(token_calls() == calls, "item key a string: no WeChat call (%d -> %d)", calls, token_calls());
        CHECK(redis_run(&redis, "DEL %s", ITEM_KEY), "the item key deleted");
        /* The holder puts its record back at the next reconcile read. */
        for (int waited = 0; waited < 15000 && redis_item_number(&redis, "token:wxP", "generation") != (long long)g;
             waited += 50)
                harness_sleep_ms(50);
        CHECK(redis_item_number(&redis, "token:wxP", "generation") == (long long)g, "the holder wrote its record "
              "back");
        return check_forced("item key deleted", g, calls);
}

/* 200 MB in the token field: sized in Lua, never read whole; every agent's peak memory stays small. */
static uint64_t check_huge(uint64_t g) {
        char before[WXSHM_TOKEN_MAX + 1];
        const char *needle = "Redis key " ITEM_KEY " has a field token of 209715200 bytes";
        int calls = token_calls();

        host_generation(&hosts, 0, "shop", before, sizeof(before));
        /* Redis may take longer than the harness's 1 s timeout to build it: no answer is expected. */
        redis_run(&redis, "EVAL %s 1 %s", "redis.call('HSET',KEYS[1],'token',string.rep('A',209715200))", ITEM_KEY);
        /* An agent measuring 209715200 bytes proves the value was there (the holder soon replaces it). */
        /* Bounded generously: on a loaded machine Redis may take many seconds over 200 MB, and links are remade. */
        CHECK(hosts_wait_log(&hosts, needle, 0, 60000), "an agent says the 200 MB token field is too long, without reading it");
        hosts_check_served(&hosts, "200 MB token", g, before);
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                long hwm = proc_status(hosts.host[i].pid, "VmHWM");

                printf("200 MB token in Redis: host %d's peak memory (VmHWM) %ld kB\n", i, hwm);
                CHECK(hwm > 0 && hwm < HWM_LIMIT_KB, "host %d's peak memory stays under %d MB (%ld kB)", i,
                      HWM_LIMIT_KB / 1024, hwm);
        }
        CHECK(token_calls() == calls, "200 MB token: no WeChat call");
        /* The holder writes its own record over it. */
        for (int waited = 0; waited < 15000 && redis_integer(&redis, "HSTRLEN %s token", ITEM_KEY) > 4096; waited += 50)
                harness_sleep_ms(50);
        CHECK(redis_integer(&redis, "HSTRLEN %s token", ITEM_KEY) <= 4096, "the holder replaced the 200 MB record");
        return check_forced("200 MB token", g, calls);
}

/*
 * A lone agent whose app name is also its key_prefix, started on a Redis record at 2^53-1
 * (a token WeChat issued, the seed returned malloc'd), and holding that generation.
 */
static char *start_at_last_generation(struct agent_proc *a, const char *name, const char *agent_extra) {
        char block[1024];
        long long now = cluster_wall_ms();
        char *seed;

        agent_init(a);
        seed = token(&emu, "wxQ", SECRET);
        CHECK(seed && redis_run(&redis, "HSET %s:item:token:wxQ generation 9007199254740991 token %s expires_at "
                                "%lld fetched_at %lld", name, seed, now + 30000, now), "Redis holds generation 2^53-1");
        snprintf(block, sizeof(block), "[app %s]\nkind = token\nappid = wxQ\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://127.0.0.1:%d/0\nkey_prefix = %s\n"
                 "lease_ms = %d\n", name, agent_secret_file(a, name, SECRET), emu.port, redis.port, name, LEASE_MS);
        agent_write_config(a, agent_extra, block);
        agent_start(a);
        CHECK(agent_wait_generation(name, 9007199254740991ULL, 10000), "the agent takes Redis's generation 2^53-1");
        return seed;
}

/*
 * A generation no higher one can follow: 2^53-1, the last a fresh agent may take from
 * Redis (it has no generation of its own to bound it by). A forced refresh must not call
 * WeChat for a token it cannot publish: the agent retires the segment, makes it anew
 * and publishes what it fetches at generation 1 (the holder's record replaces Redis's).
 * The old code published 2^53, past the protocol's ceiling; with 2^64-1 (what an older
 * agent left in its segment) it called and then failed "cannot publish" at every retry.
 * A lone agent on its own key_prefix, so the three hosts' app is not touched.
 */
static void check_last_generation(void) {
        static struct agent_proc solo; /* the harness keeps a pointer to every agent until the end */
        char buf[WXSHM_TOKEN_MAX + 1], raw[4096], gen[32] = "", *seed;
        wxshm_info info = { .size = sizeof(info) };
        cJSON *o;
        int r;

        seed = start_at_last_generation(&solo, "solo", "log_level = debug\nmin_force_interval = 1\n");
        o = agent_request(&solo, "{\"op\":\"refresh\",\"app\":\"solo\",\"generation\":9007199254740991,"
                          "\"timeout_ms\":15000}\n", raw, sizeof(raw));
        printf("a forced refresh at generation 2^53-1: %s\n", raw);
        CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")), "the forced refresh is answered");
        cJSON_Delete(o);
        r = agent_read("solo", buf, sizeof(buf), &info);
        CHECK(redis_get_field(&redis, "solo:item:token:wxQ", "generation", gen, sizeof(gen)), "Redis answers");
        /*
         * The holder's push and its answer to the client leave in the same loop iteration, in
         * no set order: wait (5 s at most) for Redis to hold the new record rather than race it.
         */
        for (int i = 0; i < 100 && strcmp(gen, "1") != 0; i++) {
                harness_sleep_ms(50);
                redis_get_field(&redis, "solo:item:token:wxQ", "generation", gen, sizeof(gen));
        }
        printf("then: generation %llu published, %s in Redis, %d WeChat calls (one was the seed)\n",
               (unsigned long long)info.generation, gen, emu_stat(&emu, "wxQ", "token_calls"));
        CHECK(r > 0 && info.generation == 1, "a new segment from generation 1 (generation %llu)",
              (unsigned long long)info.generation);
        CHECK(r > 0 && seed && strcmp(buf, seed) != 0 && callback(&emu, buf) == 0, "WeChat accepts the new token");
        CHECK(emu_stat(&emu, "wxQ", "token_calls") == 2, "one WeChat call for the forced refresh");
        CHECK(!strcmp(gen, "1"), "the holder's record replaced Redis's (generation %s)", gen);
        CHECK(agent_log_count(&solo, "retired and made anew") == 1, "the agent says it retired the segment");
        CHECK(agent_stop(&solo) == 0, "and stops cleanly");
        free(seed);
}

/*
 * The same at a start: an agent stopped while its segment held 2^53-1 (as an older agent
 * could leave 2^64-1) adopts it, finds no generation can follow, retires the segment and
 * makes it anew before anything else; with Redis emptied meanwhile it fetches once. The
 * old code adopted it and served the old token at 2^53-1.
 */
static void check_last_generation_at_start(void) {
        static struct agent_proc again; /* the harness keeps a pointer to every agent until the end */
        char buf[WXSHM_TOKEN_MAX + 1], *seed;
        wxshm_info info = { .size = sizeof(info) };
        int calls, r;

        seed = start_at_last_generation(&again, "again", "log_level = debug\n");
        CHECK(agent_stop(&again) == 0, "it stops, its segment at 2^53-1");
        CHECK(redis_run(&redis, "DEL again:item:token:wxQ"), "Redis's record deleted");
        calls = emu_stat(&emu, "wxQ", "token_calls");
        agent_start(&again);
        CHECK(agent_wait_generation("again", 1, 10000), "the restarted agent publishes");
        r = agent_read("again", buf, sizeof(buf), &info);
        printf("restarted on a segment at generation 2^53-1: generation %llu published, WeChat calls %d -> %d\n",
               (unsigned long long)info.generation, calls, emu_stat(&emu, "wxQ", "token_calls"));
        CHECK(r > 0 && info.generation == 1, "a new segment from generation 1 (generation %llu)",
              (unsigned long long)info.generation);
        CHECK(r > 0 && seed && strcmp(buf, seed) != 0 && callback(&emu, buf) == 0, "WeChat accepts the new token");
        CHECK(emu_stat(&emu, "wxQ", "token_calls") == calls + 1, "one WeChat call");
        CHECK(agent_log_count(&again, "retired and made anew") == 1, "the agent says it retired the segment");
        CHECK(agent_stop(&again) == 0, "and stops cleanly");
        free(seed);
}

int main(void) {
        /*
         * Tokens outlive the test: a Redis stalled for many seconds by the 200 MB value on a
         * loaded machine must not let them expire under the readers. The windows where the
         * old code called WeChat come from the forced refreshes, not from expiry.
         */
        static const char *const emu_args[] = { "--app", "wxP:" SECRET, "--app", "wxQ:" SECRET, "--expires-in", "300",
                                                NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        char gen[32];
        long long now;
        uint64_t g;

        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        /* First: agent_init points the harness's reads at this agent until the hosts start. */
        check_last_generation();
        check_last_generation_at_start();
        hosts_start(&hosts, &redis, emu.port, "wxP", SECRET, LEASE_MS);
        g = hosts_converge(&hosts, "shop", 1, 30000);
        CHECK(g > 0, "the hosts converge");
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                CHECK(agent_log_count(&hosts.host[i], "no fleet_key_file: any client that can write to Redis") == 1,
                      "host %d warns at start that it has no fleet key", i);
        hosts_readers_start(&hosts, "shop", readers);

        /* 2^53 with a planted token: the old code published it, at that generation, on every host. */
        now = cluster_wall_ms();
        g = check_record("generation 2^53", g, "9007199254740992", "PLANTED-2-53", now + 20000, now);
        /* 2^64-1: the old code mirrored it, then every refresh failed "cannot publish" after its call. */
        now = cluster_wall_ms();
        g = check_record("generation 2^64-1", g, "18446744073709551615", "PLANTED-2-64", now + 20000, now);
        /* 1,001 above every host's: months of rotations at once is no rotation. */
        now = cluster_wall_ms();
        snprintf(gen, sizeof(gen), "%llu", (unsigned long long)g + 1001);
        g = check_record("generation local + 1001", g, gen, "PLANTED-STEP", now + 20000, now);
        /* A fetch an hour ahead: the old code's publish script kept it as the "later fetch" for good. */
        now = cluster_wall_ms();
        snprintf(gen, sizeof(gen), "%llu", (unsigned long long)g + 1);
        g = check_record("fetched_at an hour ahead", g, gen, "PLANTED-FUTURE", now + 3600000 + 7000000, now + 3600000);
        g = check_lease_list(g);
        g = check_item_string(g);
        g = check_huge(g);
        return hosts_finish(&hosts, &redis, readers);
}
