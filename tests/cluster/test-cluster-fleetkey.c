/* test-cluster-fleetkey.c: with fleet_key_file, records and notes not signed by an agent of the fleet are refused. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster-harness.h"

#define SECRET "Flk-Secret-3d2c1b0a"
#define LEASE_MS 1500
#define ITEM_KEY "wxtokend:item:token:wxF"
#define CHANNEL "wxtokend:events"
#define FLEET_KEY "4f1c0e9b7a6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a3928171605f4e3"

static struct emu_proc emu;
static struct redis_proc redis;
static struct cluster_hosts hosts;
static char key_dir[64], key_path[128];

static int token_calls(void) {
        return emu_stat(&emu, "wxF", "token_calls");
}



/* The cluster object's notes_refused on host i, -1 if absent. */
static long long notes_refused(int i) {
        char raw[16384];
        cJSON *o = agent_request(&hosts.host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "cluster"),
                                                          "notes_refused");
        long long v = cJSON_IsNumber(n) ? (long long)n->valuedouble : -1;

        cJSON_Delete(o);
        return v;
}


/* A forced refresh through a host without the lease: one call, every host on the new token. */
static uint64_t check_forced(const char *what, uint64_t g, int calls_before) {
        char line[160], raw[4096], tok[WXSHM_TOKEN_MAX + 1];
        int holder = hosts_holder(&hosts, "shop"), asker = holder < 0 ? 1 : (holder + 1) % CLUSTER_HOSTS;
        cJSON *o;
        uint64_t after;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"shop\",\"generation\":%llu,\"timeout_ms\":15000,"
                 "\"token\":true}\n", (unsigned long long)g);
        o = agent_request(&hosts.host[asker], line, raw, sizeof(raw));
        CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")), "%s: the forced refresh is answered: %s",
              what, raw);
        /* The asker answers once the mirror published: "token":true names the token of the generation answered. */
        CHECK(json_str(o, "token") && json_int(o, "generation", 0) > (int)g, "%s: with the new token: %s", what, raw);
        if (host_generation(&hosts, asker, "shop", tok, sizeof(tok)) == (uint64_t)json_int(o, "generation", 0))
                CHECK(json_str(o, "token") && !strcmp(json_str(o, "token"), tok),
                      "%s: the token the asker's segment holds for that generation", what);
        cJSON_Delete(o);
        after = hosts_converge(&hosts, "shop", g + 1, 15000);
        host_generation(&hosts, 0, "shop", tok, sizeof(tok));
        printf("%s: forced refresh: generation %llu -> %llu on every host; WeChat calls %d -> %d\n", what,
               (unsigned long long)g, (unsigned long long)after, calls_before, token_calls());
        /* Every call bought a generation (a planned rotation may join the forced one). */
        CHECK(after > g && token_calls() - calls_before >= 1 && token_calls() - calls_before <= (int)(after - g),
              "%s: no WeChat call without a new generation", what);
        CHECK(callback(&emu, tok) == 0, "%s: WeChat accepts the token every host serves", what);
        return after;
}

/* A record written by someone without the key: refused, nothing published, no call; the holder writes its own back. */
static uint64_t check_forged(const char *what, const char *needle, uint64_t g, const char *mac) {
        char before[WXSHM_TOKEN_MAX + 1];
        long long now = cluster_wall_ms();
        int refused = hosts_log_count(&hosts, needle), calls = token_calls();
        bool written;

        host_generation(&hosts, 0, "shop", before, sizeof(before));
        if (mac)
                written = redis_run(&redis, "HSET %s generation %llu token FORGED-%s expires_at %lld fetched_at %lld "
                                    "mac %s", ITEM_KEY, (unsigned long long)g + 1, what, now + 20000, now, mac);
        else
                written = redis_run(&redis, "DEL %s", ITEM_KEY) &&
                          redis_run(&redis, "HSET %s generation %llu token FORGED-%s expires_at %lld fetched_at %lld",
                                    ITEM_KEY, (unsigned long long)g + 1, what, now + 20000, now);
        CHECK(written, "%s: written", what);
        CHECK(hosts_wait_log(&hosts, needle, refused, 15000), "%s: an agent refuses it (\"%s\")", what, needle);
        hosts_check_served(&hosts, what, g, before);
        CHECK(token_calls() == calls, "%s: no WeChat call", what);
        return check_forced(what, g, calls);
}

/* A genuine record replayed at another generation: the MAC covers the generation too. */
static uint64_t check_regenerated(uint64_t g) {
        char mac[80] = "";
        long long before = redis_item_number(&redis, "token:wxF", "generation");
        int refused = hosts_log_count(&hosts, "its mac does not match");

        CHECK(redis_get_field(&redis, ITEM_KEY, "mac", mac, sizeof(mac)) && strlen(mac) == 64,
              "the holder signed its record (mac %s)", mac);
        CHECK(before == (long long)g, "Redis holds generation %llu", (unsigned long long)g);
        CHECK(redis_run(&redis, "HSET %s generation %llu", ITEM_KEY, (unsigned long long)g + 7),
              "a genuine record moved to generation %llu", (unsigned long long)g + 7);
        CHECK(hosts_wait_log(&hosts, "its mac does not match", refused, 15000), "the moved record is refused");
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                CHECK(host_generation(&hosts, i, "shop", NULL, 0) == g, "host %d stays at generation %llu", i,
                      (unsigned long long)g);
        return g;
}

/*
 * Forged notes: a "force" would make the holder rotate the token (a WeChat call), a "sync"
 * would make it publish a planted token everywhere. Both are dropped and counted.
 */
static void check_notes(uint64_t g) {
        char before[WXSHM_TOKEN_MAX + 1];
        long long now = cluster_wall_ms();
        int calls = token_calls(), done = 0;

        host_generation(&hosts, 0, "shop", before, sizeof(before));
        char force[128], sync[256];

        snprintf(force, sizeof(force), "force token:wxF %llu intruder/1 9000", (unsigned long long)g);
        snprintf(sync, sizeof(sync), "sync token:wxF %llu %lld %lld FORGED-SYNC", (unsigned long long)g, now,
                 now + 20000);
        CHECK(redis_run(&redis, "PUBLISH %s %b", CHANNEL, force, strlen(force)) &&
              redis_run(&redis, "PUBLISH %s %b", CHANNEL, sync, strlen(sync)), "forged notes sent");
        for (int waited = 0; waited < 10000 && done < CLUSTER_HOSTS; waited += 50) {
                done = 0;
                for (int i = 0; i < CLUSTER_HOSTS; i++)
                        done += notes_refused(i) >= 2;
                if (done < CLUSTER_HOSTS)
                        harness_sleep_ms(50);
        }
        for (int i = 0; i < CLUSTER_HOSTS; i++)
                printf("host %d: %lld notes refused\n", i, notes_refused(i));
        CHECK(done == CLUSTER_HOSTS, "every host refused both forged notes");
        CHECK(hosts_log_count(&hosts, "refused a note on " CHANNEL " without a valid mac") == CLUSTER_HOSTS,
              "one log line per host for the flood, not one per note");
        hosts_check_served(&hosts, "forged notes", g, before);
        CHECK(token_calls() == calls, "forged notes: no WeChat call (%d -> %d)", calls, token_calls());
}

/* The generation an agent's status gives for app (0 if none): its socket, not its segment. */
static uint64_t status_generation(struct agent_proc *a, const char *app) {
        char raw[16384];
        cJSON *o = agent_request(a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        const cJSON *e;
        uint64_t g = 0;

        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "apps")) {
                const char *name = json_str(e, "app");
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "generation");

                if (name && !strcmp(name, app) && cJSON_IsNumber(n))
                        g = (uint64_t)n->valuedouble;
        }
        cJSON_Delete(o);
        return g;
}

static bool wait_status_generation(struct agent_proc *a, const char *app, uint64_t g, int max_ms) {
        for (int waited = 0; waited < max_ms; waited += 50) {
                if (status_generation(a, app) >= g)
                        return true;
                harness_sleep_ms(50);
        }
        return false;
}

/*
 * A rolling upgrade: an agent without the key (an older config) still reads a keyed
 * fleet's records and notes (the mac field and the note prefix are skipped), so it serves
 * the fleet's token and follows a rotation, without calling WeChat itself.
 */
static uint64_t check_unkeyed_reader(uint64_t g) {
        static struct agent_proc plain; /* the harness keeps a pointer to every agent until the end */
        char block[1024], buf[WXSHM_TOKEN_MAX + 1], raw[4096];
        cJSON *o;
        int calls = token_calls();

        /* Its own app name: its segment must not be the hosts'. */
        agent_init(&plain);
        snprintf(block, sizeof(block), "[app plain]\nkind = token\nappid = wxF\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://127.0.0.1:%d/0\nlease_ms = %d\n"
                 "node_id = plain\n", agent_secret_file(&plain, "plain", SECRET), emu.port, redis.port, LEASE_MS);
        agent_write_config(&plain, "log_level = debug\n", block);
        agent_start(&plain);
        CHECK(wait_status_generation(&plain, "plain", g, 15000), "an agent without the key takes the keyed fleet's "
              "record (generation %llu)", (unsigned long long)status_generation(&plain, "plain"));
        g = check_forced("with an unkeyed agent", g, calls);
        CHECK(wait_status_generation(&plain, "plain", g, 15000), "it follows the rotation to generation %llu",
              (unsigned long long)g);
        /* Asked through its own socket: the token it serves is the fleet's, which WeChat accepts. */
        o = agent_request(&plain, "{\"op\":\"get\",\"app\":\"plain\"}\n", raw, sizeof(raw));
        snprintf(buf, sizeof(buf), "%s", json_str(o, "token") ? json_str(o, "token") : "");
        cJSON_Delete(o);
        CHECK(buf[0] && callback(&emu, buf) == 0, "the token it serves is the live one");
        CHECK(token_calls() - calls == 1, "it made no WeChat call of its own");
        CHECK(agent_log_count(&plain, "no fleet_key_file") == 1, "and it warns that it has no key");
        CHECK(agent_stop(&plain) == 0, "it stops cleanly");
        return g;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxF:" SECRET, "--expires-in", "30", NULL };
        struct host_reader readers[CLUSTER_HOSTS];
        char extra[256];
        uint64_t g;
        int fd;

        strcpy(key_dir, "/tmp/test-fleetkey.XXXXXX");
        SETUP_OK(mkdtemp(key_dir), "mkdtemp: %m");
        snprintf(key_path, sizeof(key_path), "%s/fleet.key", key_dir);
        fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        SETUP_OK(fd >= 0 && write(fd, FLEET_KEY "\n", strlen(FLEET_KEY) + 1) == (ssize_t)strlen(FLEET_KEY) + 1,
                 "%s: %m", key_path);
        close(fd);
        snprintf(extra, sizeof(extra), "fleet_key_file = %s\n", key_path);
        hosts.cluster_extra = extra;

        redis_start(&redis, 0);
        emu_start(&emu, emu_args);
        hosts_start(&hosts, &redis, emu.port, "wxF", SECRET, LEASE_MS);
        g = hosts_converge(&hosts, "shop", 1, 30000);
        CHECK(g > 0, "a keyed fleet converges");
        CHECK(hosts_log_count(&hosts, "no fleet_key_file") == 0, "no warning about a missing fleet key");
        CHECK(hosts_log_count(&hosts, FLEET_KEY) == 0 && hosts_log_count(&hosts, FLEET_KEY + 20) == 0, "the key is never logged");
        hosts_readers_start(&hosts, "shop", readers);

        g = check_forged("random-mac", "its mac does not match", g,
                         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
        g = check_forged("unsigned", "unsigned (no mac field)", g, NULL);
        g = check_regenerated(g);
        check_notes(g);
        g = check_unkeyed_reader(g);

        unlink(key_path);
        rmdir(key_dir);
        return hosts_finish(&hosts, &redis, readers);
}
