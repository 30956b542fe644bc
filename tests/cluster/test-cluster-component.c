/* test-cluster-component.c: a component and 1,000 authorizers served by three agents: one lease, sealed accounts in Redis, kills, a forged record, an emptied Redis. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cluster-harness.h"
#include "client.h"

#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-7f3a9c1e5b2d"
#define SEED "7"
#define N_AUTH 1000
#define LEASE_MS 3000
#define FLEET_KEY "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff"
#define ACCOUNTS_KEY "wxtokend:accounts:component:" COMP

static struct redis_proc redis;
static struct emu_proc emu;
static struct cluster_hosts hosts;
static char key_dir[64], key_path[128];
static int stalest = -1;                /* the host killed first: its state_dir missed the most since */

static const char *appid_of(int i) {
        static char ids[N_AUTH][16];

        if (!ids[i][0])
                snprintf(ids[i], sizeof(ids[i]), "wxa%08d", i + 1);
        return ids[i];
}

static const char *item_of(int i) {
        static char names[N_AUTH][32];

        snprintf(names[i], sizeof(names[i]), "plat.%.15s", appid_of(i));
        return names[i];
}

/* wxemu's refresh token of appid before any rotation (doc/wxemu.md: FNV-1a-64 of "SEED:APPID:1", then of "#"). */
static void seed_rt(const char *appid, char out[64]) {
        char in[128];
        uint64_t h1 = 0xcbf29ce484222325ULL, h2;

        snprintf(in, sizeof(in), SEED ":%.15s:1", appid);
        for (const char *p = in; *p; p++)
                h1 = (h1 ^ (unsigned char)*p) * 0x100000001b3ULL;
        h2 = (h1 ^ (unsigned char)'#') * 0x100000001b3ULL;
        snprintf(out, 64, "refreshtoken@@@%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

/* Each host: the component "plat" at wxemu, [cluster] with the fleet key. */
static void configure(void) {
        char block[2048], extra[256];

        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                agent_init(&hosts.host[i]);
                snprintf(block, sizeof(block), "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://127.0.0.1:%d/0\nlease_ms = %d\n"
                         "node_id = node%d\nfleet_key_file = %s\n", agent_secret_file(&hosts.host[i], "plat", CSECRET),
                         emu.port, redis.port, LEASE_MS, i, key_path);
                snprintf(extra, sizeof(extra), "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n");
                agent_write_config(&hosts.host[i], extra, block);
        }
}

/* api_authorizer_token calls per account, from one /emu/stats. */
static void calls_now(int out[N_AUTH]) {
        struct http_res r;
        const cJSON *apps, *o;

        http_call(&emu, "GET", "/emu/stats", NULL, 10000, &r);
        apps = r.json ? cJSON_GetObjectItemCaseSensitive(r.json, "apps") : NULL;
        for (int i = 0; i < N_AUTH; i++) {
                o = apps ? cJSON_GetObjectItemCaseSensitive(apps, appid_of(i)) : NULL;
                out[i] = o ? json_int(o, "token_calls", 0) : 0;
        }
        http_res_free(&r);
}

/* wxemu's current refresh token of every account (api_get_authorizer_list, 500 a page), with a host's component token. */
static void emu_rts(int host, char rt[N_AUTH][64]) {
        char ct[WXSHM_TOKEN_MAX + 1], path[WXSHM_TOKEN_MAX + 128], body[160];
        struct http_res res;
        const cJSON *x;

        memset(rt, 0, N_AUTH * 64);
        SETUP_OK(host_generation(&hosts, host, "plat", ct, sizeof(ct)) > 0, "the component's token");
        snprintf(path, sizeof(path), "/cgi-bin/component/api_get_authorizer_list?component_access_token=%s", ct);
        for (int off = 0; off < N_AUTH; off += 500) {
                snprintf(body, sizeof(body), "{\"component_appid\":\"" COMP "\",\"offset\":%d,\"count\":500}", off);
                http_call(&emu, "POST", path, body, 10000, &res);
                cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(res.json, "list")) {
                        const char *id = json_str(x, "authorizer_appid"), *t = json_str(x, "refresh_token");
                        int n = id ? atoi(id + 3) - 1 : -1;

                        if (n >= 0 && n < N_AUTH && t)
                                snprintf(rt[n], 64, "%s", t);
                }
                http_res_free(&res);
        }
}

/* How many accounts host's state_dir holds with wxemu's current refresh token (and how many it holds at all). */
static int file_matches(int host, char rt[N_AUTH][64], int *total) {
        char path[256], *f;
        cJSON *o;
        const cJSON *x;
        int same = 0;

        snprintf(path, sizeof(path), "%s/plat.authorizers", hosts.host[host].state_dir);
        f = file_slurp(path);
        o = f ? cJSON_Parse(f) : NULL;
        *total = 0;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "authorizers")) {
                const char *id = json_str(x, "appid"), *t = json_str(x, "refresh_token");
                int n = id && strlen(id) == 11 ? atoi(id + 3) - 1 : -1;

                (*total)++;
                same += n >= 0 && n < N_AUTH && t && !strcmp(rt[n], t);
        }
        cJSON_Delete(o);
        free(f);
        return same;
}

/* Poll (bounded) until every running host's state_dir holds all accounts with wxemu's refresh tokens. */
static bool files_converge(char rt[N_AUTH][64], int max_ms, int *worst) {
        for (int waited = 0; waited <= max_ms; waited += 250) {
                int ok = 0, total;

                *worst = N_AUTH;
                for (int i = 0; i < CLUSTER_HOSTS; i++) {
                        int m = hosts.host[i].pid > 0 ? file_matches(i, rt, &total) : N_AUTH;

                        if (m < *worst)
                                *worst = m;
                        ok += m == N_AUTH;
                }
                if (ok == CLUSTER_HOSTS)
                        return true;
                harness_sleep_ms(250);
        }
        return false;
}

/* Poll (bounded) until every running host publishes every account (at least generation 1). */
static bool all_published(int max_ms, int *missing) {
        for (int waited = 0; waited <= max_ms; waited += 500) {
                *missing = 0;
                for (int h = 0; h < CLUSTER_HOSTS; h++)
                        for (int i = 0; hosts.host[h].pid > 0 && i < N_AUTH; i++)
                                *missing += host_generation(&hosts, h, item_of(i), NULL, 0) == 0;
                if (*missing == 0)
                        return true;
                harness_sleep_ms(500);
        }
        return false;
}

static int wait_holder(int not, int max_ms) {
        for (int waited = 0; waited <= max_ms; waited += 100) {
                int h = hosts_holder(&hosts, "plat");

                if (h >= 0 && h != not)
                        return h;
                harness_sleep_ms(100);
        }
        return -1;
}

static redisContext *redis_ctx(void) {
        struct timeval tv = { 5, 0 };
        redisContext *c = redisConnectWithTimeout("127.0.0.1", redis.port, tv);

        SETUP_OK(c && !c->err, "connect to Redis");
        return c;
}

/* Every value of the accounts hash: none holds a refresh token in clear; the number of accounts in it. */
static int accounts_in_redis(bool *clear) {
        redisContext *c = redis_ctx();
        redisReply *rep = redisCommand(c, "HGETALL %s", ACCOUNTS_KEY);
        int n = 0;

        *clear = false;
        for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements; i += 2) {
                n += strncmp(rep->element[i]->str, "wx", 2) == 0; /* the accounts; "~ticket" is the verify ticket */
                *clear = *clear || strstr(rep->element[i + 1]->str, "refreshtoken@@@") != NULL;
        }
        if (rep)
                freeReplyObject(rep);
        redisFree(c);
        return n;
}

/* The ticket, put on a host that does not hold the lease, reaches the holder through Redis: the component's token. */
static void test_ticket_on_non_holder(int holder) {
        char line[1024], raw[4096];
        struct http_res res;
        int other = (holder + 1) % CLUSTER_HOSTS;
        cJSON *o;

        http_call(&emu, "POST", "/emu/push_ticket?component=" COMP, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\",\"create_time\":%lld}\n",
                 json_str(res.json, "ticket"), (long long)time(NULL) - 60);
        http_res_free(&res);
        o = agent_request(&hosts.host[other], line, raw, sizeof(raw));
        CHECK(o && strstr(raw, "taken"), "node%d (not the holder) takes the ticket: %s", other, raw);
        cJSON_Delete(o);
        CHECK(hosts_converge(&hosts, "plat", 1, 30000) > 0, "the holder, node%d, got the ticket and the component's token; "
              "every host publishes it", holder);
}

/* 1,000 accounts added on one agent (not the holder): every host publishes every token, one call each. */
static void test_add_many(int on, int calls[N_AUTH]) {
        char line[512], raw[1024], rt[64];
        int missing, twice = 0, none = 0;
        long long t0 = cluster_wall_ms();
        cJSON *o;

        for (int i = 0; i < N_AUTH; i++) {
                seed_rt(appid_of(i), rt);
                snprintf(line, sizeof(line), "{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"%.15s\","
                         "\"refresh_token\":\"%s\"}\n", appid_of(i), rt);
                o = agent_request(&hosts.host[on], line, raw, sizeof(raw));
                SETUP_OK(o && strstr(raw, "added"), "add %s on node%d: %s", appid_of(i), on, raw);
                cJSON_Delete(o);
        }
        CHECK(all_published(180000, &missing), "all three hosts publish all %d accounts (%d missing)", N_AUTH, missing);
        fprintf(stderr, "measured: %d accounts added on node%d and published by all three hosts in %lld ms\n", N_AUTH,
                on, cluster_wall_ms() - t0);
        calls_now(calls);
        for (int i = 0; i < N_AUTH; i++) {
                twice += calls[i] > 1;
                none += calls[i] == 0;
        }
        CHECK(twice == 0 && none == 0, "exactly one call per account (%d called twice, %d never)", twice, none);
}

/* Redis holds every account, sealed: no refresh token in clear. */
static void test_sealed(void) {
        bool clear;
        int n = accounts_in_redis(&clear);

        CHECK(n == N_AUTH, "Redis's accounts hash has one field per account: %d", n);
        CHECK(!clear, "no refresh token in clear in Redis");
        CHECK(hosts_log_count(&hosts, "refreshtoken@@@") == 0, "no refresh token in any log");
        CHECK(hosts_log_count(&hosts, FLEET_KEY) == 0, "no fleet key in any log");
}

/* A Redis writer without the fleet key plants an account and overwrites one: refused, logged, nothing taken. */
static void test_forged(char rt[N_AUTH][64]) {
        char buf[2048];
        int before = hosts_log_count(&hosts, "records refused"), worst;

        snprintf(buf, sizeof(buf), "1.%lld.00112233445566778899aabb.00112233445566778899aabbccddeeff00112233",
                 (long long)cluster_wall_ms());
        SETUP_OK(redis_run(&redis, "HSET %s %s %s", ACCOUNTS_KEY, "wxa99999999", buf), "plant a forged account");
        SETUP_OK(redis_run(&redis, "HSET %s %s %s", ACCOUNTS_KEY, appid_of(7), "0 refreshtoken@@@planted"),
                 "overwrite an account in clear");
        CHECK(hosts_wait_log(&hosts, "records refused", before + 2, 20000), "every host logs the refused records");
        /* The first refused is named, with why: a forged seal, or a value in clear. */
        CHECK(hosts_log_count(&hosts, "its seal does not check") + hosts_log_count(&hosts, "not a sealed record") >= 3,
              "the log says why");
        for (int h = 0; h < CLUSTER_HOSTS; h++)
                CHECK(host_generation(&hosts, h, "plat.wxa99999999", NULL, 0) == 0, "node%d: no planted account", h);
        CHECK(files_converge(rt, 10000, &worst), "every host keeps wxemu's refresh tokens (worst %d of %d)", worst, N_AUTH);
        /* The overwritten account is put back, sealed, by the agents. */
        for (int waited = 0; waited < 15000; waited += 250) {
                if (redis_get_field(&redis, ACCOUNTS_KEY, appid_of(7), buf, sizeof(buf)) && !strncmp(buf, "1.", 2))
                        break;
                harness_sleep_ms(250);
        }
        CHECK(!strncmp(buf, "1.", 2), "the account written over in Redis is sealed again");
        SETUP_OK(redis_run(&redis, "HDEL %s wxa99999999", ACCOUNTS_KEY), "remove the planted field");
}

/*
 * The holder killed -9 between calls, right after one that rotated a refresh token (no
 * reconcile since): the next holder has every refresh token and calls for no account again.
 */
static int test_kill_between(int holder, int calls[N_AUTH], char rt[N_AUTH][64]) {
        const int y = 5;
        int now[N_AUTH], again = 0, worst, next;
        char line[256], raw[4096];
        uint64_t g;
        cJSON *o;

        g = host_generation(&hosts, holder, item_of(y), NULL, 0);
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":15000}\n",
                 item_of(y), (unsigned long long)g);
        o = agent_request(&hosts.host[holder], line, raw, sizeof(raw));
        SETUP_OK(o && host_generation(&hosts, holder, item_of(y), NULL, 0) > g, "a forced refresh of %s: %s",
                 appid_of(y), raw);
        cJSON_Delete(o);
        agent_kill9(&hosts.host[holder]);
        stalest = holder;
        calls_now(calls);
        emu_rts(next = (holder + 1) % CLUSTER_HOSTS, rt);
        next = wait_holder(holder, 4 * LEASE_MS + 5000);
        CHECK(next >= 0, "another host takes the lease");
        if (next < 0)
                return -1;
        harness_sleep_ms(LEASE_MS + 6000); /* an observation window: a second call would show in it */
        calls_now(now);
        for (int i = 0; i < N_AUTH; i++)
                again += now[i] != calls[i];
        CHECK(again == 0, "no account calls again after the kill (%d did)", again);
        CHECK(files_converge(rt, 1000, &worst), "the new holder and the other host hold every current refresh token "
              "(worst %d of %d)", worst, N_AUTH);
        /* And it can use them: a forced refresh of one account is answered with a new token. */
        g = host_generation(&hosts, next, item_of(3), NULL, 0);
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":15000}\n",
                 item_of(3), (unsigned long long)g);
        o = agent_request(&hosts.host[next], line, raw, sizeof(raw));
        CHECK(o && host_generation(&hosts, next, item_of(3), NULL, 0) > g, "the new holder refreshes with the "
              "refresh token it took over: %s", raw);
        cJSON_Delete(o);
        calls_now(calls);
        return next;
}

/* The holder killed -9 while an account's call is under way at wxemu: only that one calls again, its refresh token survives. */
static void test_kill_mid_call(int holder, int calls[N_AUTH], char rt[N_AUTH][64]) {
        const int x = 11;
        int now[N_AUTH], others = 0, next, worst;
        char line[256], raw[4096], path[128];
        struct http_res res;
        uint64_t g;
        pid_t pid;

        snprintf(path, sizeof(path), "/emu/fault?app=%s&kind=slow&ms=3000&count=1", appid_of(x));
        http_call(&emu, "POST", path, NULL, 5000, &res);
        http_res_free(&res);
        g = host_generation(&hosts, holder, item_of(x), NULL, 0);
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":15000}\n",
                 item_of(x), (unsigned long long)g);
        pid = fork();
        SETUP_OK(pid >= 0, "fork");
        if (pid == 0) {
                client_request(hosts.host[holder].socket, line, raw, sizeof(raw), 15000);
                _exit(0);
        }
        for (int waited = 0; waited < 10000 && emu_stat(&emu, appid_of(x), "token_calls") <= calls[x]; waited += 20)
                harness_sleep_ms(20);
        CHECK(emu_stat(&emu, appid_of(x), "token_calls") == calls[x] + 1, "the call is under way at wxemu");
        agent_kill9(&hosts.host[holder]);
        waitpid(pid, NULL, 0);
        next = wait_holder(holder, 4 * LEASE_MS + 5000);
        CHECK(next >= 0, "another host takes the lease");
        if (next < 0)
                return;
        harness_sleep_ms(LEASE_MS + 6000); /* wxemu answers the dead call meanwhile; a second call would show */
        calls_now(now);
        for (int i = 0; i < N_AUTH; i++)
                others += i != x && now[i] != calls[i];
        CHECK(others == 0, "no other account calls again (%d did)", others);
        CHECK(now[x] <= calls[x] + 2, "that account calls again once at most (%d calls after %d)", now[x], calls[x]);
        fprintf(stderr, "measured: killed mid-call, %s made %d calls after the kill (the dead one included)\n",
                appid_of(x), now[x] - calls[x]);
        /* Its refresh token survives: the next refresh with it succeeds (within WeChat's overlap), and is kept. */
        g = host_generation(&hosts, next, item_of(x), NULL, 0);
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":15000}\n",
                 item_of(x), (unsigned long long)g);
        cJSON_Delete(agent_request(&hosts.host[next], line, raw, sizeof(raw)));
        CHECK(host_generation(&hosts, next, item_of(x), NULL, 0) > g, "the account still refreshes: %s", raw);
        emu_rts(next, rt);
        CHECK(files_converge(rt, 15000, &worst), "the surviving hosts hold every current refresh token (worst %d of "
              "%d)", worst, N_AUTH);
}

/*
 * Redis emptied (FLUSHALL), then every agent restarted, the one killed first (older refresh
 * tokens in its state_dir, older tokens in its segments) first, so it holds the lease: no
 * account and no refresh token lost, and no call.
 */
static void test_flushall(char rt[N_AUTH][64]) {
        int calls[N_AUTH], now[N_AUTH], missing, worst, n = 0, again = 0;
        bool clear;

        calls_now(calls);
        SETUP_OK(redis_run(&redis, "FLUSHALL"), "FLUSHALL");
        for (int h = 0; h < CLUSTER_HOSTS; h++)
                if (hosts.host[h].pid > 0)
                        CHECK(agent_stop(&hosts.host[h]) == 0, "node%d stops cleanly", h);
        if (stalest >= 0) {
                agent_start(&hosts.host[stalest]);
                CHECK(wait_holder(-1, 4 * LEASE_MS) == stalest, "node%d, the stalest, holds the lease", stalest);
        }
        for (int h = 0; h < CLUSTER_HOSTS; h++)
                if (hosts.host[h].pid <= 0)
                        agent_start(&hosts.host[h]);
        for (int waited = 0; waited < 30000 && (n = accounts_in_redis(&clear)) < N_AUTH; waited += 250)
                harness_sleep_ms(250);
        CHECK(n == N_AUTH && !clear, "the accounts are back in Redis, sealed (%d fields)", n);
        CHECK(all_published(60000, &missing), "every host publishes every account again (%d missing)", missing);
        CHECK(files_converge(rt, 10000, &worst), "every host still holds every refresh token (worst %d of %d)", worst,
              N_AUTH);
        calls_now(now);
        for (int i = 0; i < N_AUTH; i++)
                again += now[i] != calls[i];
        CHECK(again == 0, "no account called WeChat for it (%d did)", again);
}

/* Whether host's state_dir lists appid. */
static bool file_has(int host, const char *appid) {
        char path[256], needle[48], *f;
        bool has;

        snprintf(path, sizeof(path), "%s/plat.authorizers", hosts.host[host].state_dir);
        snprintf(needle, sizeof(needle), "\"%s\"", appid);
        f = file_slurp(path);
        has = f && strstr(f, needle);
        free(f);
        return has;
}

/*
 * An account removed on a host that does not hold the lease: gone everywhere (a sealed
 * tombstone). A field deleted in Redis removes nothing: the agents write it back.
 */
static void test_remove(void) {
        const int gone = N_AUTH - 1, kept = N_AUTH - 2;
        int holder = wait_holder(-1, 4 * LEASE_MS), on = (holder + 1) % CLUSTER_HOSTS, left = 0, in_files = 0;
        char line[256], raw[1024], buf[2048] = "";
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"authorizer_remove\",\"component\":\"plat\",\"appid\":\"%s\"}\n",
                 appid_of(gone));
        o = agent_request(&hosts.host[on], line, raw, sizeof(raw));
        CHECK(o && strstr(raw, "removed"), "removed on node%d: %s", on, raw);
        cJSON_Delete(o);
        for (int waited = 0; waited <= 20000; waited += 250) {
                left = in_files = 0;
                for (int h = 0; h < CLUSTER_HOSTS; h++) {
                        left += host_generation(&hosts, h, item_of(gone), NULL, 0) > 0;
                        in_files += file_has(h, appid_of(gone));
                }
                if (!left && !in_files)
                        break;
                harness_sleep_ms(250);
        }
        CHECK(!left && !in_files, "every host dropped it (%d still publish it, %d files list it)", left, in_files);
        SETUP_OK(redis_run(&redis, "HDEL %s %s", ACCOUNTS_KEY, appid_of(kept)), "HDEL");
        for (int waited = 0; waited < 20000; waited += 250) {
                if (redis_get_field(&redis, ACCOUNTS_KEY, appid_of(kept), buf, sizeof(buf)) && buf[0])
                        break;
                harness_sleep_ms(250);
        }
        CHECK(!strncmp(buf, "1.", 2), "a field deleted in Redis is written back, sealed");
        for (int h = 0; h < CLUSTER_HOSTS; h++)
                CHECK(file_has(h, appid_of(kept)) && host_generation(&hosts, h, item_of(kept), NULL, 0) > 0,
                      "node%d keeps the account whose field was deleted", h);
}

int main(void) {
        static const char *const emu_args[] = { "--component", COMP ":" CSECRET, "--authorizers", "1000",
                                                "--rotate-refresh-tokens", "--seed", SEED, NULL };
        static char rt[N_AUTH][64];
        static int calls[N_AUTH];
        struct host_reader readers[CLUSTER_HOSTS];
        int holder, fd, worst;

        strcpy(key_dir, "/tmp/test-comp.XXXXXX");
        SETUP_OK(mkdtemp(key_dir), "mkdtemp: %m");
        snprintf(key_path, sizeof(key_path), "%s/fleet.key", key_dir);
        fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        SETUP_OK(fd >= 0 && write(fd, FLEET_KEY "\n", strlen(FLEET_KEY) + 1) == (ssize_t)strlen(FLEET_KEY) + 1,
                 "%s: %m", key_path);
        close(fd);
        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        configure();
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                agent_start(&hosts.host[i]);
        holder = wait_holder(-1, 4 * LEASE_MS);
        SETUP_OK(holder >= 0, "a holder for plat");

        test_ticket_on_non_holder(holder);
        /* The component's token, read on every host through the kills and the emptied Redis: never backwards. */
        hosts_readers_start(&hosts, "plat", readers);
        test_add_many((holder + 1) % CLUSTER_HOSTS, calls);
        emu_rts(holder, rt);
        CHECK(files_converge(rt, 15000, &worst), "every host's state_dir holds every account with wxemu's current "
                                                 "refresh token (worst %d of %d)", worst, N_AUTH);
        test_sealed();
        test_forged(rt);
        holder = test_kill_between(holder, calls, rt);
        if (holder >= 0)
                test_kill_mid_call(holder, calls, rt);
        test_flushall(rt);
        test_remove();

        unlink(key_path);
        rmdir(key_dir);
        return hosts_finish(&hosts, &redis, readers);
}
