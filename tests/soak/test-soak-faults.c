/* test-soak-faults.c: each upstream fault held through SIGTERM and kill -9 restarts: token kept, backoff kept, recovery; SOAK_FAULT_HOLD=S. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak-util.h"
#include "upstream.h"

#define N_APPS 6
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 3000
/* Longer than the 900 ms between restarts: every agent but the last dies waiting. */
#define SLOW_MS 3000
/* Generous: timers, two processes reading one clock and a noisy 2-CPU machine. */
#define SLACK_MS 300
#define LIVES_MAX 128
#define READERS 3

struct fapp {
        const char *kind, *item, *appid;
        bool instant;           /* wxemu answers (or drops) at once: the agent's retries are on its timer */
        int64_t errcode;        /* what the segment says meanwhile; 0: nothing to check (the call is in flight) */
        int64_t heal_ms;
        int calls_at_heal;      /* wxemu's count of token calls, as they arrived */
        int64_t recovered_ms;   /* when the agent published a new token, as seen by polling */
        bool errcode_seen;
};

static struct fapp apps[N_APPS] = {
        { .kind = "busy", .item = "f_busy", .appid = "wxFbusy", .instant = true, .errcode = -1 },
        { .kind = "http500", .item = "f_http500", .appid = "wxFhttp500", .instant = true, .errcode = UPSTREAM_ERR_HTTP },
        { .kind = "garbage", .item = "f_garbage", .appid = "wxFgarbage", .instant = true, .errcode = UPSTREAM_ERR_BODY },
        { .kind = "refuse", .item = "f_refuse", .appid = "wxFrefuse", .instant = true,
          .errcode = UPSTREAM_ERR_TRANSPORT },
        { .kind = "hang", .item = "f_hang", .appid = "wxFhang" },
        { .kind = "slow", .item = "f_slow", .appid = "wxFslow" },
};

/* Each agent's life: from its spawn to its death, and when READY=1 was seen. */
static int n_lives;
static int64_t life_spawn[LIVES_MAX], life_ready[LIVES_MAX], life_end[LIVES_MAX];
/* The last failure each app's segment recorded when that life ended: what its successor can know of. */
static int64_t life_recorded[LIVES_MAX][N_APPS];

static struct agent_proc a;

static void start_life(void) {
        life_spawn[n_lives] = soak_now_ms();
        agent_start(&a);
        life_ready[n_lives] = soak_now_ms();
        life_end[n_lives] = INT64_MAX;
}

static void end_life(bool sigterm) {
        if (sigterm)
                CHECK(agent_stop(&a) == 0, "a clean stop on SIGTERM while the fault holds");
        else
                agent_kill9(&a);
        life_end[n_lives] = soak_now_ms();
        for (int i = 0; i < N_APPS; i++) {
                char buf[WXSHM_TOKEN_MAX + 1];
                wxshm_info info;

                life_recorded[n_lives][i] = agent_read(apps[i].item, buf, sizeof(buf), &info) > 0 ?
                                                    info.last_error_at_ms : -1;
        }
        if (n_lives < LIVES_MAX - 1)
                n_lives++;
}

static int life_of(int64_t t) {
        for (int l = 0; l <= n_lives; l++)
                if (t >= life_spawn[l] && t <= life_end[l])
                        return l;
        return -1;
}

/* The schedule's longest wait after the attempt-th consecutive failure (0-based) of one agent. */
static int64_t backoff_cap(int attempt) {
        int64_t cap = BACKOFF_MIN_MS;

        for (int i = 0; i < attempt && cap < BACKOFF_MAX_MS; i++)
                cap *= 2;
        return cap < BACKOFF_MAX_MS ? cap : BACKOFF_MAX_MS;
}

/* The last good token is still there, unchanged; the segment tells what is wrong. */
static void check_kept(struct fapp *f) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        int64_t state, errcode;
        int r = agent_read(f->item, buf, sizeof(buf), &info);

        /* A slow call does answer: its token may come in (if no restart cut it short). */
        CHECK(r > 0 && (strcmp(f->kind, "slow") == 0 || info.generation == 1),
              "%s: the last token readable, the same generation (%s, generation %llu)", f->kind,
              r < 0 ? strerror(-r) : "", (unsigned long long)info.generation);
        if (f->errcode && agent_status(f->item, &state, &errcode) && state == WXSHM_STATE_RETRYING &&
            errcode == f->errcode)
                f->errcode_seen = true;
}

/*
 * A slow call answers, late: logged when it ends, which for an agent killed meanwhile is
 * after its successor's call. So counts come from the arrivals: one call per agent at
 * most, and the last agent's call answered within the fault's delay after the heal.
 */
static void check_slow(const struct fapp *f) {
        CHECK(f->calls_at_heal - 1 >= 1 && f->calls_at_heal - 1 <= n_lives + 1, "slow: %d calls from %d agents",
              f->calls_at_heal - 1, n_lives + 1);
        CHECK(f->recovered_ms - f->heal_ms <= SLOW_MS + SLACK_MS, "slow: the call in flight answered");
        printf("%-8s %3d calls from %d agents, recovered %5lld ms after the heal (the call in flight answered)\n",
               f->kind, f->calls_at_heal - 1, n_lives + 1, (long long)(f->recovered_ms - f->heal_ms));
}

/* wxemu's log of app f against the backoff schedule, across restarts, and the recovery after the heal. */
static void check_schedule(struct emu_proc *emu, const struct fapp *f) {
        static struct soak_calls calls;
        int failed = 0, attempt = 0, life = -1, ok_at = -1, lives = 0, lost = 0, idx = (int)(f - apps);
        int64_t prev = 0, ok_ms, since;

        soak_calls_of(emu, f->appid, &calls);
        /* Call 0 fetched the first token before any fault. */
        for (int c = 1; c < calls.n; c++) {
                const struct soak_call *k = &calls.c[c];
                int l = life_of(k->unix_ms);

                if (soak_call_ok(k)) {
                        ok_at = c;
                        break;
                }
                failed++;
                if (!f->instant)
                        continue; /* a hung call is logged when the heal drops it, not when it was made */
                since = prev;
                if (l != life && prev && l >= 1 && life_recorded[l - 1][idx] >= 0 &&
                    life_recorded[l - 1][idx] < prev) {
                        /*
                         * The call before was still in flight when its agent was stopped or killed: its
                         * result was lost, and this agent can only know the failure before it.
                         */
                        lost++;
                        since = life_recorded[l - 1][idx];
                }
                if (l != life) {
                        /* A new agent starts its backoff over, but never calls sooner than backoff_min after the last failure. */
                        life = l;
                        attempt = 0;
                        lives++;
                        if (prev && l >= 0)
                                CHECK(k->unix_ms <= (life_ready[l] > prev + BACKOFF_MIN_MS ? life_ready[l]
                                                                                           : prev + BACKOFF_MIN_MS) +
                                                            SLACK_MS,
                                      "%s: a restarted agent's first call %lld ms after the last failure", f->kind,
                                      (long long)(k->unix_ms - prev));
                } else {
                        CHECK(k->unix_ms - prev <= backoff_cap(attempt) + SLACK_MS,
                              "%s: retry %d %lld ms after the last, more than the schedule's %lld ms", f->kind,
                              attempt + 1, (long long)(k->unix_ms - prev), (long long)backoff_cap(attempt));
                        attempt++;
                }
                if (since)
                        CHECK(k->unix_ms - since >= BACKOFF_MIN_MS - SLACK_MS,
                              "%s: call %d only %lld ms after the failure before it (backoff_min %d ms)", f->kind, c,
                              (long long)(k->unix_ms - since), BACKOFF_MIN_MS);
                prev = k->unix_ms;
        }
        CHECK(lost <= n_lives, "%s: %d calls' results lost over %d restarts", f->kind, lost, n_lives);
        CHECK(failed > 0, "%s: the fault was met", f->kind);
        CHECK(ok_at > 0 && calls.c[ok_at].unix_ms >= f->heal_ms, "%s: the first successful call after the heal",
              f->kind);
        if (ok_at <= 0)
                return;
        ok_ms = calls.c[ok_at].unix_ms;
        if (f->instant && life_of(ok_ms) == life) {
                /* The first call after the heal is the retry already scheduled: within one step. */
                CHECK(ok_ms - prev >= BACKOFF_MIN_MS - SLACK_MS && ok_ms - prev <= backoff_cap(attempt) + SLACK_MS,
                      "%s: recovered %lld ms after the last failure; the schedule says %d..%lld", f->kind,
                      (long long)(ok_ms - prev), BACKOFF_MIN_MS, (long long)backoff_cap(attempt));
        } else if (f->instant) {
                /* The last agent had not failed yet: its first call, backoff_min after its predecessor's failure. */
                int l = life_of(ok_ms);
                int64_t due = l >= 0 && life_ready[l] > prev + BACKOFF_MIN_MS ? life_ready[l] : prev + BACKOFF_MIN_MS;

                CHECK(ok_ms >= prev + BACKOFF_MIN_MS - SLACK_MS && ok_ms <= due + SLACK_MS,
                      "%s: a new agent's first call %lld ms after the last failure", f->kind, (long long)(ok_ms - prev));
        } else {
                /* Each agent's call hung until the heal dropped it (the first heal call drops all). */
                CHECK(failed <= n_lives + 1, "hang: %d calls from %d agents", failed, n_lives + 1);
                CHECK(ok_ms - apps[0].heal_ms <= BACKOFF_MIN_MS + SLACK_MS,
                      "hang: recovered %lld ms after the heal, more than one step", (long long)(ok_ms - apps[0].heal_ms));
        }
        printf("%-8s %3d calls failed over %d agents, recovered %5lld ms after the heal; calls", f->kind, failed,
               f->instant ? lives : n_lives + 1, (long long)(ok_ms - f->heal_ms));
        for (int c = 2; c <= ok_at; c++)
                printf(" +%lld", (long long)(calls.c[c].unix_ms - calls.c[c - 1].unix_ms));
        printf(" ms apart; %d results lost to a stop mid-call\n", lost);
}

int main(void) {
        long hold_s = soak_env("SOAK_FAULT_HOLD", 4);
        /* The token must outlive the wait for its refresh window, the hold and the recovery: margin = life / 4. */
        long life_s = 4 * (hold_s + SLOW_MS / 1000 + 4);
        const char *emu_args[4 * N_APPS + 12];
        struct soak_item_stats total[N_APPS];
        const char *items[N_APPS];
        struct soak_readers *readers;
        struct emu_proc emu;
        char conf[4096], secrets[N_APPS][40], specs[N_APPS][320], life_arg[16];
        int64_t hold_end, next_restart;
        int n = 0, restarts = 0;
        size_t used = 0;
        bool clean;

        snprintf(life_arg, sizeof(life_arg), "%ld", life_s);
        for (int i = 0; i < N_APPS; i++) {
                snprintf(secrets[i], sizeof(secrets[i]), "Fault-Secret-%s-%d", apps[i].kind, i);
                snprintf(specs[i], sizeof(specs[i]), "%s:%s", apps[i].appid, secrets[i]);
                emu_args[n++] = "--app";
                emu_args[n++] = specs[i];
                items[i] = apps[i].item;
        }
        emu_args[n++] = "--expires-in";
        emu_args[n++] = life_arg;
        emu_args[n++] = "--checksum-tokens";
        emu_args[n++] = "--token-length";
        emu_args[n++] = "160";
        emu_args[n] = NULL;
        emu_start(&emu, emu_args);
        agent_init(&a);
        soak_guard_start(&a, &emu, NULL);
        for (int i = 0; i < N_APPS; i++)
                used += (size_t)snprintf(conf + used, sizeof(conf) - used,
                                         "[app %s]\nkind = token\nappid = %s\nsecret_file = %s\n"
                                         "api_base = http://127.0.0.1:%d\n\n",
                                         apps[i].item, apps[i].appid, agent_secret_file(&a, apps[i].item, secrets[i]),
                                         emu.port);
        agent_write_config(&a, "refresh_margin = 3600\nbackoff_min = 1\nbackoff_max = 3", conf);
        printf("tokens live %ld s, refreshed %ld s early; each fault held %ld s (SOAK_FAULT_HOLD) with restarts\n",
               life_s, life_s / 4, hold_s);
        start_life();
        for (int i = 0; i < N_APPS; i++)
                CHECK(agent_wait_generation(apps[i].item, 1, 20000), "%s: first token", apps[i].kind);
        readers = soak_readers_start(READERS, items, N_APPS);

        /* The faults go in before the refresh window: every refresh attempt meets one. */
        for (int i = 0; i < N_APPS; i++)
                control(&emu, fmt("/emu/fault?app=%s&kind=%s&ms=%d", apps[i].appid, apps[i].kind, SLOW_MS));
        for (int i = 0; i < N_APPS; i++) {
                int waited = 0;

                while (emu_stat(&emu, apps[i].appid, "token_calls") < 2 && waited < life_s * 1000) {
                        check_kept(&apps[i]);
                        harness_sleep_ms(100);
                        waited += 100;
                }
                CHECK(waited < life_s * 1000, "%s: the refresh met the fault", apps[i].kind);
        }

        /* Hold: restarts, SIGTERM and kill -9 by turns, one every 900 ms, the token checked all along. */
        hold_end = soak_now_ms() + hold_s * 1000;
        next_restart = soak_now_ms() + 400;
        while (soak_now_ms() < hold_end) {
                for (int i = 0; i < N_APPS; i++)
                        check_kept(&apps[i]);
                if (soak_now_ms() >= next_restart && soak_now_ms() < hold_end - 300) {
                        end_life(restarts % 2 == 0);
                        start_life();
                        restarts++;
                        next_restart = soak_now_ms() + 900;
                }
                harness_sleep_ms(50);
        }
        for (int i = 0; i < N_APPS; i++) {
                apps[i].calls_at_heal = emu_stat(&emu, apps[i].appid, "token_calls");
                apps[i].heal_ms = soak_now_ms();
                control(&emu, fmt("/emu/fault?app=%s&kind=none", apps[i].appid));
        }
        /* Poll every app until each has a new token; the times are for the slow check and the figures. */
        for (int waited = 0, left = N_APPS; left > 0 && waited < (BACKOFF_MAX_MS + SLOW_MS) * 2 + 5000; waited += 20) {
                left = 0;
                for (int i = 0; i < N_APPS; i++) {
                        char buf[WXSHM_TOKEN_MAX + 1];
                        wxshm_info info;

                        if (!apps[i].recovered_ms && agent_read(apps[i].item, buf, sizeof(buf), &info) > 0 &&
                            info.generation >= 2)
                                apps[i].recovered_ms = soak_now_ms();
                        left += !apps[i].recovered_ms;
                }
                harness_sleep_ms(20);
        }
        for (int i = 0; i < N_APPS; i++)
                CHECK(apps[i].recovered_ms, "%s: a new token after the heal", apps[i].kind);
        clean = soak_readers_stop(readers, total);

        printf("%d restarts during the hold (%d SIGTERM, %d kill -9)\n", restarts, (restarts + 1) / 2, restarts / 2);
        CHECK(soak_readers_report(items, N_APPS, total) && clean, "no torn, failed or backward read");
        for (int i = 0; i < N_APPS; i++) {
                if (apps[i].instant || !strcmp(apps[i].kind, "hang"))
                        check_schedule(&emu, &apps[i]);
                else
                        check_slow(&apps[i]);
                if (apps[i].errcode)
                        CHECK(apps[i].errcode_seen, "%s: the segment said retrying, errcode %lld", apps[i].kind,
                              (long long)apps[i].errcode);
        }
        {
                int rc = harness_finish(&a);

                soak_guard_end();
                return rc;
        }
}
