/* test-soak-kill.c: kill -9 of the real agent at random moments while readers check every token; SOAK_KILLS=N. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "soak-util.h"

#define N_APPS 2
#define LIFETIME_S 6
/* refresh_margin is set far higher: the agent caps it at a quarter of the token's life. */
#define MARGIN_MS (LIFETIME_S * 1000 / 4)
/* The jitter is +-10% of the margin: no refresh may start earlier than this before expiry. */
#define EARLIEST_MS (MARGIN_MS * 11 / 10)
/* A token this close to expiry is left to be refreshed before the next kill, so none expires. */
#define PROTECT_MS 800
/* Two processes' reading of one wall clock, and a timer's granularity. */
#define SLACK_MS 250
#define GENS_MAX 4096
#define READERS 3

static const char *const items[N_APPS] = { "k0", "k1" };
static const char *const appids[N_APPS] = { "wxK0", "wxK1" };

enum mode { M_EARLY, M_READY, M_SHORT, M_LONG, M_REFRESH, M_PUBLISH, M_COUNT };
static const char *const mode_names[M_COUNT] = {
        "during start, before READY", "at once after READY", "0-20 ms after READY", "20-400 ms after READY",
        "mid-refresh (call in flight)", "just after a publish",
};

struct gen_info {
        int64_t fetched_at, expires_at;
};

static struct agent_proc a;
static struct gen_info gens[N_APPS][GENS_MAX];
static wxshm *h[N_APPS];
static const struct wxshm_layout *seg[N_APPS];
static uint64_t last_gen[N_APPS];
static int calls_end[N_APPS], issued_end[N_APPS];      /* wxemu's counts once settled at the end */
static long published_end[N_APPS];
static uint64_t rng;

static uint64_t rnd(uint64_t n) {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return (rng * 0x2545f4914f6cdd1du) % n;
}

static void sleep_us(long us) {
        struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

        nanosleep(&ts, NULL);
}

static int64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read app i as a reader would and remember its generation's times; the length or -errno. */
static int sample(int i) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        int r = wxshm_read(h[i], buf, sizeof(buf), &info);

        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        CHECK(info.generation >= last_gen[i], "%s: generation %llu after %llu", items[i],
              (unsigned long long)info.generation, (unsigned long long)last_gen[i]);
        CHECK(soak_token_valid(buf, (size_t)r), "%s: generation %llu has a bad checksum", items[i],
              (unsigned long long)info.generation);
        if (info.generation < GENS_MAX)
                gens[i][info.generation] = (struct gen_info){ info.fetched_at_ms, info.expires_at_ms };
        last_gen[i] = info.generation;
        return r;
}

static int64_t expires_at(int i) {
        return last_gen[i] < GENS_MAX ? gens[i][last_gen[i]].expires_at : 0;
}

/*
 * No kill while a token is about to expire: the agent must get to refresh it first.
 * "About to" includes the restart that follows the kill, as slow as the slowest one seen
 * so far (an ASan build on a loaded machine takes a second), or a token left with 800 ms
 * would expire while its next agent is still starting.
 */
static int protect(long max_restart_ms) {
        long window = PROTECT_MS > max_restart_ms + 300 ? PROTECT_MS : max_restart_ms + 300;
        int waits = 0;

        for (int i = 0; i < N_APPS; i++) {
                if (expires_at(i) - soak_now_ms() >= window)
                        continue;
                waits++;
                CHECK(agent_wait_generation(items[i], last_gen[i] + 1, 20000), "%s: refreshed when left alone",
                      items[i]);
                sample(i);
        }
        return waits;
}

/*
 * Until no app has a call in flight or due within two seconds: each one that has, or whose
 * token is that close to its refresh, is waited for to publish its next generation.
 */
static void settle(void) {
        for (int round = 0; round < 10; round++) {
                bool quiet = true;

                for (int i = 0; i < N_APPS; i++) {
                        sample(i);
                        if (atomic_load(&seg[i]->state) != WXSHM_STATE_REFRESHING &&
                            expires_at(i) - soak_now_ms() >= EARLIEST_MS + 2000)
                                continue;
                        quiet = false;
                        CHECK(agent_wait_generation(items[i], last_gen[i] + 1, 20000), "%s: refreshed at the end",
                              items[i]);
                        sample(i);
                }
                if (quiet)
                        return;
        }
        CHECK(false, "the apps never settled at the end");
}

/* Wait until app i's call is in flight (then, for M_PUBLISH, until its publish); false if it never came. */
static bool wait_refresh(int i, enum mode m) {
        int64_t deadline = mono_ms() + 3000;
        uint64_t seq;

        while (atomic_load(&seg[i]->state) != WXSHM_STATE_REFRESHING || atomic_load(&seg[i]->agent_pid) != a.pid) {
                if (mono_ms() > deadline || atomic_load(&seg[i]->slot[atomic_load(&seg[i]->seq) & 1].generation) >
                                                    last_gen[i])
                        return false;
                sleep_us(100);
        }
        if (m == M_REFRESH)
                return true;
        /* Spin, no sleep: the kill should land while the agent is still publishing or saving. */
        seq = atomic_load(&seg[i]->seq);
        while (atomic_load(&seg[i]->seq) == seq)
                if (mono_ms() > deadline)
                        return false;
        return true;
}

static enum mode choose(enum mode last) {
        int64_t now = soak_now_ms();
        uint64_t r;

        for (int i = 0; i < N_APPS; i++)
                if (now >= expires_at(i) - EARLIEST_MS - 200 && last != M_REFRESH && last != M_PUBLISH) {
                        enum mode m = rnd(2) ? M_REFRESH : M_PUBLISH;

                        return wait_refresh(i, m) ? m : M_SHORT;
                }
        r = rnd(100);
        if (r < 30)
                return M_READY;
        if (r < 65) {
                sleep_us((long)rnd(20000));
                return M_SHORT;
        }
        sleep_us(20000 + (long)rnd(380000));
        return M_LONG;
}

static int64_t total_calls(struct emu_proc *emu) {
        int64_t n = 0;

        for (int i = 0; i < N_APPS; i++)
                n += emu_stat(emu, appids[i], "token_calls");
        return n;
}

/* Every upstream call was made while the token then published was due for its refresh. */
static int early_calls(struct emu_proc *emu, int i) {
        static struct soak_calls calls;
        int early = 0;

        soak_calls_of(emu, appids[i], &calls);
        for (int c = 0; c < calls.n; c++) {
                int64_t t = calls.c[c].unix_ms;
                uint64_t g = last_gen[i] < GENS_MAX ? last_gen[i] : GENS_MAX - 1;

                while (g > 0 && !(gens[i][g].fetched_at && gens[i][g].fetched_at <= t))
                        g--;
                if (g == 0)
                        continue; /* the first fetch */
                if (t < gens[i][g].expires_at - EARLIEST_MS - SLACK_MS) {
                        early++;
                        fprintf(stderr, "%s: call at %lld, %lld ms before generation %llu expired\n", items[i],
                                (long long)t, (long long)(gens[i][g].expires_at - t), (unsigned long long)g);
                }
        }
        return early;
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxK0:Kill-Secret-0a1b2c3d", "--app", "wxK1:Kill-Secret-4e5f6a7b", "--expires-in", "6",
                "--checksum-tokens", "--token-length", "180", "--latency-ms", "25", NULL,
        };
        long kills = soak_env("SOAK_KILLS", 150), mode_n[M_COUNT] = { 0 }, restarts = 0, restart_ms = 0, protects = 0;
        long mid_refresh[N_APPS] = { 0 }, mid_publish = 0, max_restart_ms = 0, quiet_lives = 0, quiet_calls = 0;
        int64_t life_calls = -1, life_due = 0;
        int calls0[N_APPS], egen0[N_APPS];
        uint64_t gen0[N_APPS];
        struct soak_item_stats total[N_APPS];
        struct soak_readers *readers;
        struct emu_proc emu;
        enum mode m = M_READY;
        bool spawned = false, clean;
        char apps[1024];
        int64_t t_begin, elapsed;

        rng = (uint64_t)soak_env("SOAK_SEED", (long)time(NULL)) | 1;
        printf("seed %llu (SOAK_SEED), %ld kills (SOAK_KILLS)\n", (unsigned long long)rng, kills);
        emu_start(&emu, emu_args);
        agent_init(&a);
        soak_guard_start(&a, &emu, NULL);
        snprintf(apps, sizeof(apps),
                 "[app k0]\nkind = token\nappid = wxK0\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app k1]\nkind = token\nappid = wxK1\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "k0", "Kill-Secret-0a1b2c3d"), emu.port,
                 agent_secret_file(&a, "k1", "Kill-Secret-4e5f6a7b"), emu.port);
        agent_write_config(&a, "refresh_margin = 600\nbackoff_min = 1\nbackoff_max = 4", apps);
        agent_start(&a);
        for (int i = 0; i < N_APPS; i++) {
                SETUP_OK(agent_wait_generation(items[i], 1, 20000) && wxshm_open(&h[i], items[i]) == 0 &&
                                 (seg[i] = soak_map(items[i])) && sample(i) > 0,
                         "%s: no first token", items[i]);
                gen0[i] = last_gen[i];
                calls0[i] = emu_stat(&emu, appids[i], "token_calls");
                egen0[i] = emu_stat(&emu, appids[i], "token_generation");
        }
        readers = soak_readers_start(READERS, items, N_APPS);

        t_begin = mono_ms();
        for (long k = 0; k < kills; k++) {
                pid_t victim = a.pid;

                if (spawned) {
                        m = M_EARLY;
                        sleep_us((long)rnd(15000));
                } else {
                        protects += protect(max_restart_ms);
                        m = choose(m);
                }
                for (int i = 0; i < N_APPS; i++)
                        sample(i);
                agent_kill9(&a);
                mode_n[m]++;
                /* An agent that died before any of its adopted tokens was due: it called nobody. */
                if (life_calls >= 0 && soak_now_ms() < life_due) {
                        quiet_lives++;
                        quiet_calls += total_calls(&emu) - life_calls;
                }
                for (int i = 0; i < N_APPS; i++) {
                        uint64_t seq = atomic_load(&seg[i]->seq);
                        int r;

                        if (atomic_load(&seg[i]->state) == WXSHM_STATE_REFRESHING &&
                            atomic_load(&seg[i]->agent_pid) == victim)
                                mid_refresh[i]++;
                        if ((seq & 1) || atomic_load(&seg[i]->slot[0].generation) !=
                                                 atomic_load(&seg[i]->slot[1].generation))
                                mid_publish++;
                        r = sample(i);
                        CHECK(r > 0, "kill %ld (%s): %s unreadable after the kill: %s", k + 1, mode_names[m], items[i],
                              strerror(-r));
                }
                life_calls = total_calls(&emu);
                life_due = INT64_MAX;
                for (int i = 0; i < N_APPS; i++)
                        if (expires_at(i) - EARLIEST_MS - SLACK_MS < life_due)
                                life_due = expires_at(i) - EARLIEST_MS - SLACK_MS;
                /*
                 * One start in ten is only spawned: the next kill lands somewhere in its start, with
                 * no protect() before it, so only when the tokens outlive two starts.
                 */
                if (!spawned && rnd(10) == 0 && expires_at(0) - soak_now_ms() > PROTECT_MS + 2 * max_restart_ms &&
                    expires_at(1) - soak_now_ms() > PROTECT_MS + 2 * max_restart_ms) {
                        agent_spawn(&a);
                        spawned = true;
                } else {
                        int64_t t0 = mono_ms(), took;

                        agent_start(&a);
                        took = mono_ms() - t0;
                        restart_ms += took;
                        max_restart_ms = took > max_restart_ms ? took : max_restart_ms;
                        restarts++;
                        spawned = false;
                }
        }
        elapsed = mono_ms() - t_begin;
        if (spawned)
                CHECK(agent_wait_notify(&a, "READY=1", 30000), "the last agent became ready");
        protect(max_restart_ms);
        settle();
        /*
         * Counted at once, while no call is in flight nor due for two seconds: a call the
         * last agent made while the readers were being stopped was counted "lost" with no
         * kill to lose it (both apps one over, once on a loaded CI machine).
         */
        for (int i = 0; i < N_APPS; i++) {
                sample(i);
                calls_end[i] = emu_stat(&emu, appids[i], "token_calls") - calls0[i];
                issued_end[i] = emu_stat(&emu, appids[i], "token_generation") - egen0[i];
                published_end[i] = (long)(last_gen[i] - gen0[i]);
        }

        clean = soak_readers_stop(readers, total);
        CHECK(soak_readers_report(items, N_APPS, total) && clean,
              "no torn, failed or backward read in any reader process");
        printf("%ld kills -9 in %.1f s (%.1f kills/s); restart to READY %.0f ms on average, %ld ms at most "
               "(seen by a 20 ms poll)\n",
               kills, (double)elapsed / 1000, kills * 1000.0 / (double)(elapsed ? elapsed : 1),
               restarts ? (double)restart_ms / (double)restarts : 0.0, max_restart_ms);
        for (int i = 0; i < M_COUNT; i++)
                printf("  %4ld kills %s\n", mode_n[i], mode_names[i]);
        printf("  %ld kills found the slots mid-publish or unequal; %ld waits for a refresh before a kill\n",
               mid_publish, protects);
        for (int i = 0; i < N_APPS; i++) {
                int calls = calls_end[i], issued = issued_end[i];
                long published = published_end[i], lost = issued - published;

                printf("%s: %d upstream calls, %ld new generations, %ld tokens lost with a kill mid-refresh (%ld "
                       "kills mid-refresh)\n",
                       items[i], calls, published, lost, mid_refresh[i]);
                CHECK(calls == issued, "%s: every call got a token", items[i]);
                CHECK(published > 0, "%s: refreshed during the soak", items[i]);
                CHECK(lost >= 0 && lost <= mid_refresh[i], "%s: calls = generations + tokens lost to kills mid-refresh",
                      items[i]);
                CHECK(early_calls(&emu, i) == 0, "%s: no upstream call while the adopted token was not due",
                      items[i]);
        }
        printf("%ld agents died before their adopted tokens were due: %ld upstream calls among them\n", quiet_lives,
               quiet_calls);
        CHECK(quiet_lives > 0 && quiet_calls == 0, "no call from an agent whose adopted tokens were not due");
        CHECK(agent_log_count(&a, "adopted generation") >= restarts * N_APPS,
              "every restarted agent adopted every token (%d adoptions, %ld restarts)",
              agent_log_count(&a, "adopted generation"), restarts);
        CHECK(agent_log_count(&a, "wxtokend: error") == 0, "no error in the agents' log");
        for (int i = 0; i < N_APPS; i++) {
                wxshm_close(h[i]);
                soak_unmap(seg[i]);
        }
        {
                int rc = harness_finish(&a);

                soak_guard_end();
                return rc;
        }
}
