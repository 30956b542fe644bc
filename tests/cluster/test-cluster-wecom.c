/* test-cluster-wecom.c: WeCom service providers served by three agents in cluster mode: the provider's token, a suite and its corps (sealed permanent codes in Redis) with their jsapi tickets, kills -9, forged records. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster-harness.h"

#define PROV "wwprov0001"
#define PSECRET "Prov-Secret-8c2f5a1e7d"
#define SUITE "wwsuite0001"
#define SSECRET "Suite-Secret-4b7e1d9a2c"
#define SEED "7"
#define N_CORPS 4
#define ACCOUNTS_KEY "wxtokend:accounts:suite:" SUITE
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

static const char *corp_of(int i) {
        static char ids[N_CORPS][16];

        snprintf(ids[i], sizeof(ids[i]), "wwc%08d", i + 1);
        return ids[i];
}

static const char *item_of(int i) {
        static char names[N_CORPS][32];

        snprintf(names[i], sizeof(names[i]), "crm.%.15s", corp_of(i));
        return names[i];
}

/* wxemu's permanent code of corp i (doc/wxemu.md: it never rotates), into out. */
static void pcode_of(int i, char out[64]) {
        char *code = emu_seeded_permanent_code(SEED, corp_of(i));

        snprintf(out, 64, "%s", code);
        free(code);
}

/* Each host: the provider "isv" and the suite "crm" at wxemu, [cluster] with the fleet key. */
static void configure(void) {
        char block[2048];

        for (int i = 0; i < CLUSTER_HOSTS; i++) {
                agent_init(&hosts.host[i]);
                snprintf(block, sizeof(block), "[app isv]\nkind = provider\nappid = " PROV "\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[app crm]\nkind = suite\nappid = " SUITE "\n"
                         "secret_file = %s\napi_base = http://127.0.0.1:%d\ncorp_tickets = jsapi\n\n"
                         "[cluster]\nredis = redis://127.0.0.1:%d/0\nlease_ms = %d\n"
                         "node_id = node%d\nfleet_key_file = %s\n", agent_secret_file(&hosts.host[i], "isv", PSECRET),
                         emu.port, agent_secret_file(&hosts.host[i], "crm", SSECRET), emu.port, redis.port, LEASE_MS,
                         i, key_path);
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

/* How many corps host h's state_dir holds with their permanent code (the file crm.authorizers). */
static int file_pcodes(int h) {
        char path[256], pcode[64], *f;
        int n = 0;

        snprintf(path, sizeof(path), "%s/crm.authorizers", hosts.host[h].state_dir);
        f = file_slurp(path);
        for (int i = 0; f && i < N_CORPS; i++) {
                pcode_of(i, pcode);
                n += strstr(f, pcode) != NULL;
        }
        free(f);
        return n;
}

/* Poll (bounded) until every running host publishes every corp and keeps every permanent code in its state_dir. */
static bool corps_everywhere(int max_ms, int *missing) {
        for (int waited = 0; waited <= max_ms; waited += 250) {
                *missing = 0;
                for (int h = 0; h < CLUSTER_HOSTS; h++) {
                        if (hosts.host[h].pid <= 0)
                                continue;
                        for (int i = 0; i < N_CORPS; i++)
                                *missing += host_generation(&hosts, h, item_of(i), NULL, 0) == 0;
                        *missing += N_CORPS - file_pcodes(h);
                }
                if (*missing == 0)
                        return true;
                harness_sleep_ms(250);
        }
        return false;
}

/*
 * Poll (bounded) until every running host publishes every corp's jsapi ticket (corp_tickets),
 * the same ticket at the same generation as the other hosts.
 */
static bool tickets_everywhere(int max_ms, int *missing) {
        char first[WXSHM_TOKEN_MAX + 1], buf[WXSHM_TOKEN_MAX + 1], name[64];

        for (int waited = 0; waited <= max_ms; waited += 250) {
                *missing = 0;
                for (int i = 0; i < N_CORPS; i++) {
                        uint64_t g0 = 0, g;

                        snprintf(name, sizeof(name), "%s.jsapi", item_of(i));
                        for (int h = 0; h < CLUSTER_HOSTS; h++) {
                                if (hosts.host[h].pid <= 0)
                                        continue;
                                g = host_generation(&hosts, h, name, buf, sizeof(buf));
                                if (!g) {
                                        (*missing)++;
                                } else if (!g0) { /* the first host that has it is what the others must match */
                                        g0 = g;
                                        snprintf(first, sizeof(first), "%s", buf);
                                } else {
                                        *missing += g != g0 || strcmp(buf, first) != 0;
                                }
                        }
                }
                if (*missing == 0)
                        return true;
                harness_sleep_ms(250);
        }
        return false;
}

/* get_corp_token calls, summed over the corps (each in calls_each). */
static int corp_calls(int calls_each[N_CORPS]) {
        int sum = 0;

        for (int i = 0; i < N_CORPS; i++)
                sum += calls_each[i] = calls(corp_of(i));
        return sum;
}

/* Every field of the suite's accounts hash is sealed ("1." and hex), none holds a permanent code in clear. */
static int sealed_fields(void) {
        char buf[2048];
        int n = 0;

        for (int i = 0; i < N_CORPS; i++)
                n += redis_get_field(&redis, ACCOUNTS_KEY, corp_of(i), buf, sizeof(buf)) && !strncmp(buf, "1.", 2) &&
                     !strstr(buf, "pcode@@@");
        return n;
}

/* The suite_ticket put on a host that is not the suite's holder: the holder gets the suite's token. */
static int suite_ticket_on_other(void) {
        char line[1024], raw[4096];
        struct http_res res;
        int holder = wait_holder("crm", -1, 15000), other;
        cJSON *o;

        SETUP_OK(holder >= 0, "a host holds the suite's lease");
        other = (holder + 1) % CLUSTER_HOSTS;
        http_call(&emu, "POST", "/emu/push_ticket?suite=" SUITE, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"crm\",\"ticket\":\"%s\",\"create_time\":%lld}\n",
                 json_str(res.json, "ticket"), (long long)json_int(res.json, "create_time", 0));
        http_res_free(&res);
        o = agent_request(&hosts.host[other], line, raw, sizeof(raw));
        CHECK(o && strstr(raw, "taken"), "node%d (not the holder) takes the suite_ticket: %s", other, raw);
        cJSON_Delete(o);
        CHECK(hosts_converge(&hosts, "crm", 1, 30000) > 0, "the holder, node%d, got the suite_ticket through Redis; "
              "every host publishes the suite's token", holder);
        CHECK(calls(SUITE) == 1, "one get_suite_token call for the fleet: %d", calls(SUITE));
        return other;
}

/*
 * A Redis writer without the fleet key plants a corp, and moves the newest corp's sealed
 * record onto the first corp's field (newer than the first's own: taken, were it to open).
 */
static void test_suite_forged(void) {
        char buf[2048], moved[2048];
        int before = hosts_log_count(&hosts, "records refused"), missing;

        snprintf(buf, sizeof(buf), "1.%lld.00112233445566778899aabb.00112233445566778899aabbccddeeff00112233",
                 (long long)cluster_wall_ms());
        SETUP_OK(redis_run(&redis, "HSET %s %s %s", ACCOUNTS_KEY, "wwc00000099", buf), "plant a forged corp");
        SETUP_OK(redis_get_field(&redis, ACCOUNTS_KEY, corp_of(N_CORPS - 1), moved, sizeof(moved)) && moved[0],
                 "the last corp's record");
        SETUP_OK(redis_run(&redis, "HSET %s %s %s", ACCOUNTS_KEY, corp_of(0), moved), "the last corp's record on corp 0");
        CHECK(hosts_wait_log(&hosts, "records refused", before + 2, 20000), "every host logs the refused records");
        for (int h = 0; h < CLUSTER_HOSTS; h++)
                CHECK(host_generation(&hosts, h, "crm.wwc00000099", NULL, 0) == 0, "node%d: no planted corp", h);
        CHECK(corps_everywhere(10000, &missing), "every host keeps every corp and permanent code (%d missing)", missing);
        /* Corp 0's own record is put back by the agents over the moved one. */
        for (int waited = 0; waited < 15000; waited += 250) {
                if (redis_get_field(&redis, ACCOUNTS_KEY, corp_of(0), buf, sizeof(buf)) && strcmp(buf, moved) != 0)
                        break;
                harness_sleep_ms(250);
        }
        CHECK(strcmp(buf, moved) != 0 && !strncmp(buf, "1.", 2), "corp 0's record is sealed again, its own");
        SETUP_OK(redis_run(&redis, "HDEL %s wwc00000099", ACCOUNTS_KEY), "remove the planted field");
}

/*
 * The suite: its suite_ticket put on a non-holder; corps added on one agent with their
 * permanent codes appear on every host with one get_corp_token call each, sealed in Redis;
 * the holder killed -9: no corp calls again, no permanent code lost; forged records refused;
 * Redis emptied: the agents put every corp back.
 */
static void test_suite(void) {
        char out[4096], args[128], pcode[64];
        int on = suite_ticket_on_other(), each[N_CORPS], now[N_CORPS], missing, holder, next, sum, again = 0, jsapi;

        for (int i = 0; i < N_CORPS; i++) {
                pcode_of(i, pcode);
                snprintf(args, sizeof(args), "authorizer add crm %s", corp_of(i));
                SETUP_OK(agent_ctl(&hosts.host[on], pcode, args, out, sizeof(out)) == 0 && strstr(out, "added"),
                         "add %s on node%d: %s", corp_of(i), on, out);
        }
        CHECK(corps_everywhere(30000, &missing), "every host publishes all %d corps and keeps their permanent codes "
              "(%d missing)", N_CORPS, missing);
        sum = corp_calls(each);
        CHECK(sum == N_CORPS, "one get_corp_token call per corp: %d for %d", sum, N_CORPS);
        CHECK(tickets_everywhere(20000, &missing), "every host publishes every corp's jsapi ticket, the same one (%d "
              "missing or different)", missing);
        jsapi = emu_endpoint_calls(&emu, "get_jsapi_ticket");
        CHECK(jsapi == N_CORPS, "one get_jsapi_ticket call per corp for the fleet: %d", jsapi);
        CHECK(sealed_fields() == N_CORPS, "Redis holds every corp sealed, no permanent code in clear");
        /* A corp's token record is named by the suite ("corp:"), never as a component's account ("authorizer:"). */
        CHECK(redis_item_number(&redis, "corp:" SUITE ":wwc00000001", "generation") > 0 &&
              redis_item_number(&redis, "authorizer:" SUITE ":wwc00000001", "generation") < 0,
              "the corp's token record is corp:" SUITE ":wwc00000001");
        CHECK(hosts_log_count(&hosts, "pcode@@@") == 0 && hosts_log_count(&hosts, SSECRET) == 0,
              "no permanent code or suite secret in any log");

        holder = wait_holder("crm", -1, 10000);
        SETUP_OK(holder >= 0, "a host holds the suite's lease");
        agent_kill9(&hosts.host[holder]);
        next = wait_holder("crm", holder, 4 * LEASE_MS + 5000);
        CHECK(next >= 0, "another host takes the suite's lease after node%d's kill -9", holder);
        harness_sleep_ms(LEASE_MS + 3000); /* an observation window: a call would show in it */
        corp_calls(now);
        for (int i = 0; i < N_CORPS; i++)
                again += now[i] != each[i];
        CHECK(again == 0, "no corp calls again after the kill (%d did)", again);
        CHECK(calls(SUITE) == 1, "nor the suite: %d", calls(SUITE));
        CHECK(emu_endpoint_calls(&emu, "get_jsapi_ticket") == jsapi, "nor any corp's jsapi ticket: %d calls (%d before)",
              emu_endpoint_calls(&emu, "get_jsapi_ticket"), jsapi);
        agent_start(&hosts.host[holder]);
        CHECK(corps_everywhere(20000, &missing), "node%d restarted serves every corp, no permanent code lost (%d "
              "missing)", holder, missing);

        test_suite_forged();

        /* Redis restarted empty: the agents write every corp back from their state_dirs. */
        SETUP_OK(redis_run(&redis, "FLUSHALL"), "FLUSHALL");
        for (int waited = 0; waited < 20000 && sealed_fields() < N_CORPS; waited += 250)
                harness_sleep_ms(250);
        CHECK(sealed_fields() == N_CORPS, "after a FLUSHALL Redis holds every corp again, sealed");
        CHECK(corps_everywhere(10000, &missing), "and every host still serves them (%d missing)", missing);
        corp_calls(now);
        again = 0;
        for (int i = 0; i < N_CORPS; i++)
                again += now[i] != each[i];
        CHECK(again == 0, "no corp called again through all this (%d did)", again);
        CHECK(tickets_everywhere(10000, &missing) && emu_endpoint_calls(&emu, "get_jsapi_ticket") == jsapi,
              "every host still serves every jsapi ticket with no call (%d missing, %d calls)", missing,
              emu_endpoint_calls(&emu, "get_jsapi_ticket"));
}

int main(void) {
        static const char *const args[] = { "--provider", PROV ":" PSECRET, "--suite", SUITE ":" SSECRET, "--corps",
                                            "4", "--seed", SEED, NULL };
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
        test_suite();

        unlink(key_path);
        rmdir(key_dir);
        return hosts_finish(&hosts, &redis, readers);
}
