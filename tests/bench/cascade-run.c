/* cascade-run.c: one set-up of the cascade benchmark: wxemu, its token keeper, the workers, the outside rotation. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "bench-cascade.h"
#include "bench-util.h"

#define AGENT_APP "casc"

volatile int cascade_interrupted;

static pid_t coordinator;
static pid_t *workers;
static int n_workers;

int64_t cascade_run_ms(const struct cascade_opts *o) {
        return ((int64_t)o->rotations * 2 + 1) * o->expires_in * 1000 / 2;
}

/* Shorter than the gap from the outside rotation to the next planned one (at least 3/4 life - 1 s). */
int64_t cascade_window_ms(const struct cascade_opts *o) {
        return (int64_t)o->expires_in * 1000 / 2;
}

int64_t cascade_sdk_early_ms(const struct cascade_opts *o) {
        return (int64_t)o->expires_in * 1000 * 200 / 7200;
}

const char *setup_label(enum cascade_setup s) {
        static const char *const label[N_SETUPS] = { "(a) naive: own copy each", "(b) Redis + lock (SDK)",
                                                     "(c) wxtokend + libwxshm" };
        return label[s];
}

const char *setup_key(enum cascade_setup s) {
        static const char *const key[N_SETUPS] = { "naive", "redis", "wxtokend" };
        return key[s];
}

void cascade_kill_workers(void) {
        /* Forked workers inherit the atexit list; only the coordinator may act on it. */
        if (getpid() != coordinator || !workers)
                return;
        for (int i = 0; i < n_workers; i++)
                if (workers[i] > 0)
                        kill(workers[i], SIGKILL);
        for (int i = 0; i < n_workers; i++)
                if (workers[i] > 0) {
                        waitpid(workers[i], NULL, 0);
                        workers[i] = 0;
                }
}

static bool fail(struct setup_result *res, const char *fmt, const char *what) {
        snprintf(res->why, sizeof(res->why), fmt, what);
        return false;
}

/* Sleep until mono time until_ns in short steps; false if interrupted. */
static bool sleep_until(uint64_t until_ns) {
        while (!cascade_interrupted) {
                uint64_t now = cascade_now_ns();

                if (now >= until_ns)
                        return true;
                cascade_sleep_ms((long)((until_ns - now) / 1000000u) > 20 ? 20 : (long)((until_ns - now) / 1000000u) + 1);
        }
        return false;
}

/* The app's counters at wxemu. */
struct emu_counts {
        long token_calls, generation;
};

static bool emu_counts(struct emu_proc *e, struct emu_counts *c) {
        c->token_calls = emu_stat(e, CASCADE_APPID, "token_calls");
        c->generation = emu_stat(e, CASCADE_APPID, "token_generation");
        return c->token_calls >= 0 && c->generation >= 0;
}

/* The agent's own account of the app: generation and forced refreshes. */
static bool agent_counts(struct agent_proc *a, long *generation, long *forced) {
        char raw[4096];
        cJSON *o = agent_request(a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        const cJSON *app = o ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0) : NULL;
        bool ok = app != NULL;

        if (ok) {
                *generation = json_int(app, "generation", -1);
                *forced = json_int(app, "forced_refreshes", -1);
                ok = *generation >= 0 && *forced >= 0;
        }
        cJSON_Delete(o);
        return ok;
}

/* The token keeper of the set-up: nothing, an empty Redis, or a running agent with its first token. */
static bool keeper_start(enum cascade_setup s, struct redis_proc *redis, struct emu_proc *emu, struct agent_proc *a,
                         struct setup_result *res) {
        char apps[512];

        if (s == SETUP_REDIS) {
                redisContext *ctx = redis_connect(redis);
                redisReply *rep = ctx ? redisCommand(ctx, "FLUSHALL") : NULL;
                bool ok = rep && rep->type == REDIS_REPLY_STATUS;

                snprintf(res->redis_version, sizeof(res->redis_version), "%s", redis->version);
                if (rep)
                        freeReplyObject(rep);
                if (ctx)
                        redisFree(ctx);
                return ok || fail(res, "%s", "redis-server does not answer FLUSHALL");
        }
        if (s != SETUP_AGENT)
                return true;
        /* The agent's defaults, refresh_margin included (it keeps at most a quarter of a short life). */
        agent_init(a);
        snprintf(apps, sizeof(apps), "[app " AGENT_APP "]\nkind = token\nappid = " CASCADE_APPID "\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(a, AGENT_APP, CASCADE_SECRET), emu->port);
        agent_write_config(a, NULL, apps);
        agent_start(a);
        return true;
}

static void worker_exec(enum cascade_setup s, const struct cascade_opts *o, struct cascade_shared *sh, int i,
                        int emu_port, int redis_port, pid_t parent) {
        struct worker_env env = { .setup = s, .opts = o, .index = i, .emu_port = emu_port, .redis_port = redis_port,
                                  .app = AGENT_APP };

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        http_forget();
        /* _exit: the coordinator's atexit handlers (redis, agents, wxemu) are not ours to run. */
        _exit(worker_main(&env, sh));
}

/* Stop the workers and reap them: they finish the call in progress; stragglers are killed. */
static int workers_stop(struct cascade_shared *sh) {
        uint64_t give_up = cascade_now_ns() + 20000000000u;
        int bad = 0;

        atomic_store(&sh->stop, 1);
        for (int i = 0; i < n_workers; i++) {
                int status;

                while (workers[i] > 0 && waitpid(workers[i], &status, WNOHANG) == 0) {
                        if (cascade_now_ns() > give_up)
                                kill(workers[i], SIGKILL);
                        cascade_sleep_ms(5);
                }
                if (workers[i] > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                        bad++;
                workers[i] = 0;
        }
        return bad;
}

/* Sums, and when each worker had a working token again after the outside rotation. */
static void collect(const struct cascade_shared *sh, struct setup_result *res, bool worker_fetches) {
        double *back = calloc((size_t)n_workers, sizeof(double));
        int64_t rot = atomic_load(&sh->rot_ns);

        for (int i = 0; i < n_workers; i++) {
                const struct worker_result *w = &sh->w[i];

                res->calls += w->calls, res->ok += w->ok, res->e40001 += w->e40001, res->e42001 += w->e42001;
                res->other += w->other, res->errors_near += w->errors_near, res->fetch_failed += w->fetch_failed;
                res->source_failed += w->source_failed;
                if (worker_fetches) {
                        res->planned += (long)w->fetches_planned;
                        res->forced += (long)w->fetches_on_error;
                }
                if (w->what[0] && !res->why[0])
                        snprintf(res->why, sizeof(res->why), "worker %d: %s", i, w->what);
                if (back) {
                        back[i] = w->back_ns ? (double)(w->back_ns - rot) / 1e6 : INFINITY;
                        res->back_within_1s += w->back_ns && back[i] <= 1000.0;
                        res->never_back += !w->back_ns;
                }
        }
        if (back) {
                bench_sort(back, (size_t)n_workers);
                res->back_p50_ms = bench_median(back, (size_t)n_workers);
                res->back_p99_ms = bench_rank(back, (size_t)n_workers, 99);
                res->back_max_ms = back[n_workers - 1];
                res->back_counted = n_workers;
        }
        free(back);
}

/*
 * The outside rotation: from half-time, wait for an upstream fetch (a planned rotation,
 * for (b) and (c)), then one second more, so the next planned one is seconds away and
 * what follows is the outside rotation's doing alone.
 */
static bool rotate_outside(struct emu_proc *emu, struct cascade_shared *sh, const struct cascade_opts *o,
                           uint64_t t0, struct setup_result *res) {
        uint64_t give_up;
        struct emu_counts c0, c;
        struct http_res r;

        if (!sleep_until(t0 + (uint64_t)cascade_run_ms(o) / 2 * 1000000u) || !emu_counts(emu, &c0))
                return fail(res, "%s", "interrupted, or wxemu's stats are gone");
        give_up = cascade_now_ns() + ((uint64_t)o->expires_in + 1) * 1000000000u;
        while (emu_counts(emu, &c) && c.generation == c0.generation && cascade_now_ns() < give_up)
                cascade_sleep_ms(20);
        if (!sleep_until(cascade_now_ns() + 1000000000u))
                return fail(res, "%s", "interrupted");
        atomic_store(&sh->rot_ns, (int64_t)cascade_now_ns());
        http_call(emu, "POST", "/emu/rotate?app=" CASCADE_APPID, NULL, 5000, &r);
        res->rotation_at_s = (double)((uint64_t)atomic_load(&sh->rot_ns) - t0) / 1e9;
        if (r.status != 200) {
                http_res_free(&r);
                return fail(res, "%s", "POST /emu/rotate failed");
        }
        http_res_free(&r);
        return true;
}

static bool measure(enum cascade_setup s, const struct cascade_opts *o, struct emu_proc *emu, struct agent_proc *a,
                    struct cascade_shared *sh, struct setup_result *res) {
        uint64_t t0, end, rot_end, give_up = cascade_now_ns() + 60000000000u;
        struct emu_counts e0, e1;
        long g0 = 0, f0 = 0, g1 = 0, f1 = 0;
        int bad;

        /* Everyone made a first call (an SDK's first fetch is no rotation), then a moment to settle. */
        while (atomic_load(&sh->ready) < n_workers && cascade_now_ns() < give_up && !cascade_interrupted)
                cascade_sleep_ms(20);
        if (atomic_load(&sh->ready) < n_workers) {
                snprintf(res->why, sizeof(res->why), "only %d of %d workers made a first call",
                         atomic_load(&sh->ready), n_workers);
                return false;
        }
        if (!sleep_until(cascade_now_ns() + 500000000u) || !emu_counts(emu, &e0) ||
            (s == SETUP_AGENT && !agent_counts(a, &g0, &f0)))
                return fail(res, "%s", "interrupted, or wxemu or the agent do not answer");
        t0 = cascade_now_ns();
        atomic_store(&sh->t0_ns, (int64_t)t0);
        if (!rotate_outside(emu, sh, o, t0, res))
                return false;
        /* A short run may have waited long for its quiet moment: the window after the rotation is always counted. */
        end = t0 + (uint64_t)cascade_run_ms(o) * 1000000u;
        rot_end = (uint64_t)atomic_load(&sh->rot_ns) + ((uint64_t)cascade_window_ms(o) + 1000) * 1000000u;
        if (!sleep_until(end > rot_end ? end : rot_end))
                return fail(res, "%s", "interrupted");
        res->seconds = (double)(cascade_now_ns() - t0) / 1e9;
        bad = workers_stop(sh);
        if (!emu_counts(emu, &e1) || (s == SETUP_AGENT && !agent_counts(a, &g1, &f1)))
                return fail(res, "%s", "wxemu or the agent stopped answering");
        res->upstream = e1.token_calls - e0.token_calls;
        res->generations = e1.generation - e0.generation;
        if (s == SETUP_AGENT) {
                /* The agent's generations are its fetches; the forced ones were asked for by refusals. */
                res->forced = f1 - f0;
                res->planned = (g1 - g0) - res->forced;
        }
        collect(sh, res, s != SETUP_AGENT);
        if (bad) {
                char first[sizeof(res->why)];

                snprintf(first, sizeof(first), "%s", res->why);
                snprintf(res->why, sizeof(res->why), "%d workers did not exit cleanly; %.140s", bad, first);
        }
        return true;
}

bool cascade_run(enum cascade_setup s, const struct cascade_opts *o, struct redis_proc *redis,
                 struct setup_result *res) {
        char expires[16], overlap[16];
        const char *const emu_args[] = { "--app", CASCADE_APPID ":" CASCADE_SECRET, "--expires-in", expires,
                                         "--overlap-ms", overlap, "--quota-token", "1000000000", NULL };
        /* The harness keeps pointers to its agent and wxemus until it cleans up: static, not on this stack. */
        static struct agent_proc agent;
        static struct emu_proc emus[N_SETUPS];
        struct emu_proc *emu = &emus[s];
        size_t size = sizeof(struct cascade_shared) + (size_t)o->workers * sizeof(struct worker_result);
        struct cascade_shared *sh;
        pid_t parent = getpid();
        bool ok;

        memset(res, 0, sizeof(*res));
        res->workers = o->workers;
        coordinator = parent;
        snprintf(expires, sizeof(expires), "%d", o->expires_in);
        snprintf(overlap, sizeof(overlap), "%d", o->overlap_ms);
        emu_start(emu, emu_args);
        if (!keeper_start(s, redis, emu, &agent, res)) {
                proc_stop(emu);
                return false;
        }
        sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED || !(workers = calloc((size_t)o->workers, sizeof(pid_t)))) {
                fail(res, "%s", "out of memory");
                ok = false;
                goto out;
        }
        n_workers = o->workers;
        for (int i = 0; i < o->workers; i++) {
                if ((workers[i] = fork()) < 0) {
                        fail(res, "fork: %s", strerror(errno));
                        ok = false;
                        goto out;
                }
                if (workers[i] == 0)
                        worker_exec(s, o, sh, i, emu->port, redis ? redis->port : 0, parent);
        }
        ok = measure(s, o, emu, &agent, sh, res);
out:
        cascade_kill_workers();
        free(workers);
        workers = NULL;
        n_workers = 0;
        if (sh != MAP_FAILED)
                munmap(sh, size);
        if (s == SETUP_AGENT)
                agent_cleanup_all();
        proc_stop(emu);
        res->ran = ok;
        return ok;
}
