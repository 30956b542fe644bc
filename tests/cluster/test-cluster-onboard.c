/* test-cluster-onboard.c: onboarding a component's accounts on a cluster: auth codes on the lease holder and on another agent, a sync, then the holder killed -9. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster-harness.h"
#include "client.h"

#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-7f3a9c1e5b2d"
#define N_AUTH 6
#define LEASE_MS 3000
#define FLEET_KEY "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff"

static struct redis_proc redis;
static struct emu_proc emu;
static struct cluster_hosts hosts;
static char key_dir[64], key_path[128];

static const char *appid_of(int i) {
        static char ids[N_AUTH][16];

        snprintf(ids[i], sizeof(ids[i]), "wxa%08d", i + 1);
        return ids[i];
}

static const char *item_of(int i) {
        static char names[N_AUTH][32];

        snprintf(names[i], sizeof(names[i]), "plat.%s", appid_of(i));
        return names[i];
}

/* Calls wxemu answered at a platform endpoint ("api_query_auth", "api_get_authorizer_list", ...), 0 if none yet. */
static int ep_calls(const char *ep) {
        int n = emu_endpoint_calls(&emu, ep);

        return n < 0 ? 0 : n;
}

/* api_authorizer_token calls wxemu answered for account i. */
static int token_calls(int i) {
        int n = emu_stat(&emu, appid_of(i), "token_calls");

        return n < 0 ? 0 : n;
}

/* A one-time authorization code for account i, as the authorization redirect carries it (malloc'd). */
static char *auth_code(int i) {
        struct http_res res;
        char path[128], *code;

        snprintf(path, sizeof(path), "/emu/auth_code?authorizer=%s", appid_of(i));
        http_call(&emu, "POST", path, NULL, 5000, &res);
        code = json_str(res.json, "authorization_code") ? strdup(json_str(res.json, "authorization_code")) : NULL;
        http_res_free(&res);
        SETUP_OK(code, "auth_code for %s", appid_of(i));
        return code;
}

/* wxemu's current refresh token of account i (api_get_authorizer_list, with host's component token). */
static void emu_rt(int host, int i, char out[64]) {
        char ct[WXSHM_TOKEN_MAX + 1], path[WXSHM_TOKEN_MAX + 128];
        struct http_res res;
        const cJSON *x;

        out[0] = '\0';
        SETUP_OK(host_generation(&hosts, host, "plat", ct, sizeof(ct)) > 0, "the component's token");
        snprintf(path, sizeof(path), "/cgi-bin/component/api_get_authorizer_list?component_access_token=%s", ct);
        http_call(&emu, "POST", path, "{\"component_appid\":\"" COMP "\",\"offset\":0,\"count\":500}", 10000, &res);
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(res.json, "list"))
                if (json_str(x, "authorizer_appid") && !strcmp(json_str(x, "authorizer_appid"), appid_of(i)) &&
                    json_str(x, "refresh_token"))
                        snprintf(out, 64, "%s", json_str(x, "refresh_token"));
        http_res_free(&res);
}

/* Whether host's state_dir holds account i with refresh token rt (any refresh token if rt is NULL). */
static bool file_holds(int host, int i, const char *rt) {
        char path[256], *f;
        cJSON *o;
        const cJSON *x;
        bool found = false;

        snprintf(path, sizeof(path), "%s/plat.authorizers", hosts.host[host].state_dir);
        f = file_slurp(path);
        o = f ? cJSON_Parse(f) : NULL;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "authorizers"))
                if (json_str(x, "appid") && !strcmp(json_str(x, "appid"), appid_of(i)) && json_str(x, "refresh_token"))
                        found = !rt || !strcmp(json_str(x, "refresh_token"), rt);
        cJSON_Delete(o);
        free(f);
        return found;
}

/* Poll (bounded) until every running host has account i in its state_dir (with rt if given) and publishes it. */
static bool everywhere(int i, const char *rt, int max_ms, int *lacking) {
        for (int waited = 0; waited <= max_ms; waited += 250) {
                *lacking = 0;
                for (int h = 0; h < CLUSTER_HOSTS; h++)
                        if (hosts.host[h].pid > 0)
                                *lacking += !file_holds(h, i, rt) || host_generation(&hosts, h, item_of(i), NULL, 0) == 0;
                if (*lacking == 0)
                        return true;
                harness_sleep_ms(250);
        }
        return false;
}

/* Every host publishes account i as the holder does: one generation, one token (checked per host). */
static void same_everywhere(int holder, int i) {
        char want[WXSHM_TOKEN_MAX + 1], got[WXSHM_TOKEN_MAX + 1];
        uint64_t g = host_generation(&hosts, holder, item_of(i), want, sizeof(want)), gh = 0;

        for (int h = 0; h < CLUSTER_HOSTS; h++) {
                for (int waited = 0; waited <= 5000; waited += 250) {
                        gh = host_generation(&hosts, h, item_of(i), got, sizeof(got));
                        if (gh == g && !strcmp(got, want))
                                break;
                        harness_sleep_ms(250);
                }
                CHECK(g > 0 && gh == g && !strcmp(got, want), "node%d publishes %s as the holder does (generation "
                      "%llu, the holder's %llu)", h, appid_of(i), (unsigned long long)gh, (unsigned long long)g);
        }
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

/* `wxtokenctl authorizer add plat --auth-code` on host for account i: its exit status, what it printed in out. */
static int onboard(int host, int i, char *out, size_t size) {
        char *code = auth_code(i);
        int rc = agent_ctl(&hosts.host[host], code, "authorizer add plat --auth-code", out, size);

        CHECK(hosts_log_count(&hosts, code) == 0, "the auth code is in no log");
        free(code);
        return rc;
}

/* (1) On the lease holder: added, one api_query_auth, no api_authorizer_token; on every host's disk and segment. */
static void test_on_holder(int holder) {
        char out[4096], rt[64];
        int q = ep_calls("api_query_auth"), lacking;

        CHECK(onboard(holder, 0, out, sizeof(out)) == 0 && strstr(out, "added"), "node%d (holder): %s", holder, out);
        CHECK(ep_calls("api_query_auth") == q + 1, "one api_query_auth call");
        emu_rt(holder, 0, rt);
        CHECK(everywhere(0, rt, 20000, &lacking), "every host holds and publishes %s (%d lacking)", appid_of(0),
              lacking);
        CHECK(token_calls(0) == 0, "no api_authorizer_token call: the token api_query_auth answered serves (%d)",
              token_calls(0));
        same_everywhere(holder, 0);
}

/*
 * (2) On a host that does not hold the lease: added there too (the code is good once: a
 * refusal could lose it), one api_query_auth; only the holder publishes an account's
 * tokens, so its one api_authorizer_token call publishes it everywhere.
 */
static void test_on_other(int holder) {
        struct host_reader readers[CLUSTER_HOSTS];
        char out[4096], rt[64];
        int other = (holder + 1) % CLUSTER_HOSTS, q = ep_calls("api_query_auth"), lacking;

        /* Its readers on every host, from before it exists: never two tokens for one generation, never backwards. */
        hosts_readers_start(&hosts, item_of(1), readers);

        CHECK(onboard(other, 1, out, sizeof(out)) == 0 && strstr(out, "added") && strstr(out, "lease holder"),
              "node%d (not the holder): %s", other, out);
        CHECK(ep_calls("api_query_auth") == q + 1, "one api_query_auth call");
        CHECK(everywhere(1, NULL, 20000, &lacking), "every host holds and publishes %s (%d lacking)", appid_of(1),
              lacking);
        harness_sleep_ms(2000); /* an observation window: a second call for it would show */
        CHECK(token_calls(1) == 1, "one api_authorizer_token call for it, the holder's (%d)", token_calls(1));
        emu_rt(holder, 1, rt);
        CHECK(everywhere(1, rt, 10000, &lacking), "every host holds its current refresh token (%d lacking)", lacking);
        same_everywhere(holder, 1);
        CHECK(hosts_readers_finish(&hosts, readers), "%s's readers on every host: one token per generation",
              appid_of(1));
}

/* (3) A sync (on a host that does not hold the lease) adds the rest from WeChat's list; they replicate. */
static void test_sync(int holder) {
        char out[4096], rt[64];
        int other = (holder + 2) % CLUSTER_HOSTS, lacking;

        CHECK(agent_ctl(&hosts.host[other], NULL, "authorizer sync plat", out, sizeof(out)) == 0 &&
              strstr(out, "4 added") && strstr(out, "2 unchanged"), "sync on node%d: %s", other, out);
        for (int i = 2; i < N_AUTH; i++) {
                CHECK(everywhere(i, NULL, 30000, &lacking), "every host holds and publishes %s (%d lacking)",
                      appid_of(i), lacking);
                emu_rt(holder, i, rt);
                CHECK(everywhere(i, rt, 10000, &lacking), "every host holds %s's current refresh token (%d lacking)",
                      appid_of(i), lacking);
                CHECK(token_calls(i) == 1, "%s: one api_authorizer_token call (%d)", appid_of(i), token_calls(i));
        }
}

/* (4) The holder killed -9: another takes the lease, serves every account, calls for none, loses no refresh token. */
static void test_kill(int holder) {
        int before[N_AUTH], next, lacking;
        char rt[64];

        for (int i = 0; i < N_AUTH; i++)
                before[i] = token_calls(i);
        agent_kill9(&hosts.host[holder]);
        next = wait_holder(holder, 4 * LEASE_MS + 5000);
        CHECK(next >= 0, "another host takes the lease");
        if (next < 0)
                return;
        harness_sleep_ms(LEASE_MS + 3000); /* an observation window: a second call would show in it */
        for (int i = 0; i < N_AUTH; i++) {
                emu_rt(next, i, rt);
                CHECK(token_calls(i) == before[i], "%s: no call after the kill (%d, before %d)", appid_of(i),
                      token_calls(i), before[i]);
                CHECK(everywhere(i, rt, 5000, &lacking), "%s: the surviving hosts hold its current refresh token and "
                      "publish it (%d lacking)", appid_of(i), lacking);
        }
}

int main(void) {
        static const char *const emu_args[] = { "--component", COMP ":" CSECRET, "--authorizers", "6",
                                                "--rotate-refresh-tokens", "--seed", "7", NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        char block[2048], line[1024], raw[4096];
        struct http_res res;
        int holder, fd;
        cJSON *o;

        strcpy(key_dir, "/tmp/test-onb.XXXXXX");
        SETUP_OK(mkdtemp(key_dir), "mkdtemp: %m");
        snprintf(key_path, sizeof(key_path), "%s/fleet.key", key_dir);
        fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        SETUP_OK(fd >= 0 && write(fd, FLEET_KEY "\n", strlen(FLEET_KEY) + 1) == (ssize_t)strlen(FLEET_KEY) + 1,
                 "%s: %m", key_path);
        close(fd);
        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                agent_init(&hosts.host[i]);
                snprintf(block, sizeof(block), "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://127.0.0.1:%d/0\nlease_ms = %d\n"
                         "node_id = node%d\nfleet_key_file = %s\n", agent_secret_file(&hosts.host[i], "plat", CSECRET),
                         emu.port, redis.port, LEASE_MS, i, key_path);
                agent_write_config(&hosts.host[i], "backoff_min = 1\nbackoff_max = 2\n", block);
                agent_start(&hosts.host[i]);
        }
        holder = wait_holder(-1, 4 * LEASE_MS);
        SETUP_OK(holder >= 0, "a holder for plat");
        http_call(&emu, "POST", "/emu/push_ticket?component=" COMP, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\",\"create_time\":%lld}\n",
                 json_str(res.json, "ticket"), (long long)time(NULL));
        http_res_free(&res);
        o = agent_request(&hosts.host[holder], line, raw, sizeof(raw));
        SETUP_OK(o && strstr(raw, "taken"), "the ticket: %s", raw);
        cJSON_Delete(o);
        SETUP_OK(hosts_converge(&hosts, "plat", 1, 30000) > 0, "every host publishes the component's token");

        hosts_readers_start(&hosts, "plat", readers);
        test_on_holder(holder);
        test_on_other(holder);
        test_sync(holder);
        test_kill(holder);

        unlink(key_path);
        rmdir(key_dir);
        return hosts_finish(&hosts, &redis, readers);
}
