/* bench-cascade.h: the cascade benchmark's parts: three token set-ups, the workers, one run, the report. */
#ifndef BENCH_CASCADE_H
#define BENCH_CASCADE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench-redis.h"

/* How the workers of a run get their token; one run each, one after another. */
enum cascade_setup {
        SETUP_NAIVE,    /* each worker fetches and keeps its own copy */
        SETUP_REDIS,    /* the usual SDK: a copy in Redis, a Redis lock around fetches */
        SETUP_AGENT,    /* wxtokend: wxshm_read, and wxshm_refresh on 40001/42001 */
        N_SETUPS,
};

#define CASCADE_APPID "wxCascade"
#define CASCADE_SECRET "Cascade-0123456789"

struct cascade_opts {
        int workers;            /* worker processes, each calling getcallbackip in a loop */
        int rotations;          /* the run lasts (rotations + 1/2) token lifetimes */
        int expires_in;         /* seconds a token lives at wxemu */
        int overlap_ms;         /* how long a superseded token still works */
        int pause_min_ms, pause_max_ms;         /* between a worker's business calls */
        bool run[N_SETUPS];
};

/* The run's length, and the window after the outside rotation its errors are blamed on. */
int64_t cascade_run_ms(const struct cascade_opts *o);
int64_t cascade_window_ms(const struct cascade_opts *o);

/*
 * How early an SDK treats its copy as expired: WxJava keeps a token expires_in - 200 s,
 * 200 of 7200 s, scaled to the benchmark's lifetime.
 */
int64_t cascade_sdk_early_ms(const struct cascade_opts *o);

/* What one worker counted, in its slot of the shared area; read once it has exited. */
struct worker_result {
        uint64_t calls, ok, e40001, e42001, other;      /* business calls inside the window */
        uint64_t errors_near;           /* 40001/42001 within cascade_window_ms of the outside rotation */
        uint64_t fetches_planned;       /* (a)(b): upstream calls because a copy was missing or expired */
        uint64_t fetches_on_error;      /* (a)(b): upstream calls after a 40001/42001 */
        uint64_t fetch_failed;          /* (a)(b): upstream calls that brought no token */
        uint64_t source_failed;         /* Redis errors, lock timeouts, wxshm_read/refresh failures */
        int64_t back_ns;                /* first success after the outside rotation and after its last
                                           failure near it (CLOCK_MONOTONIC); 0: never */
        char what[120];                 /* the first unexpected thing it saw */
};

/* Shared (MAP_SHARED) by the coordinator and every worker of one run. */
struct cascade_shared {
        _Atomic int64_t t0_ns;          /* counting starts: calls started before are not counted */
        _Atomic int64_t rot_ns;         /* the outside rotation's moment; 0 until then */
        _Atomic int stop;
        _Atomic int ready;              /* workers that finished a first business call */
        struct worker_result w[];
};

/* What a worker's token source needs to know. */
struct worker_env {
        enum cascade_setup setup;
        const struct cascade_opts *opts;
        int index;
        int emu_port;
        int redis_port;                 /* SETUP_REDIS */
        const char *app;                /* SETUP_AGENT: the agent's name for the app */
};

/* A worker's token source: naive copy, Redis, or the agent (cascade-sources.c). */
struct source;

/* The worker's HTTP client for wxemu (cascade-worker.c); the sources fetch through it. */
struct http;

/* GET /cgi-bin/token: 0 and the token (and its lifetime) or -1 with a reason in why. */
int http_fetch_token(struct http *h, char *token, size_t size, int64_t *expires_in_ms, char *why, size_t why_size);

/* Set up a source in the worker process; NULL (and why) if it cannot. */
struct source *source_open(const struct worker_env *env, struct http *h, struct worker_result *res,
                           char *why, size_t why_size);

/* The token to call with, fetching it first if this source does; -1 (and why) on failure. */
int source_get(struct source *s, char *token, size_t size, char *why, size_t why_size);

/* The token source_get gave last was refused (40001/42001): what this design does then. */
int source_failed(struct source *s, char *why, size_t why_size);

void source_close(struct source *s);

/* Whether fetches and calls made now are counted; sources count fetches with it. */
bool worker_counting(void);

/* The worker process: the loop until stop; returns its exit status. */
int worker_main(const struct worker_env *env, struct cascade_shared *sh);

uint64_t cascade_now_ns(void);
void cascade_sleep_ms(long ms);

/* The figures of one set-up's run. */
struct setup_result {
        bool ran;
        char why[200];          /* why not, or the first unexpected thing a worker saw */
        double seconds;         /* counting window */
        double rotation_at_s;   /* the outside rotation, after the window opened */
        long upstream;          /* /cgi-bin/token calls at wxemu inside the window */
        long generations;       /* tokens wxemu issued inside the window, the outside rotation's included */
        long planned;           /* planned rotations: fetches because a token was missing or expired */
        long forced;            /* upstream calls caused by 40001/42001 (the agent: forced refreshes) */
        uint64_t calls, ok, e40001, e42001, other, errors_near, fetch_failed, source_failed;
        int workers, back_counted, never_back, back_within_1s;
        double back_p50_ms, back_p99_ms, back_max_ms;
        char redis_version[32];
};

const char *setup_label(enum cascade_setup s);
const char *setup_key(enum cascade_setup s);

/* One set-up's run, start to end; false (res->why set) if it could not run. */
bool cascade_run(enum cascade_setup s, const struct cascade_opts *o, struct redis_proc *redis,
                 struct setup_result *res);

/* Set by SIGINT/SIGTERM: the run in progress stops and cleans up. */
extern volatile int cascade_interrupted;

/* Kill and reap every worker still running (the coordinator's cleanup, also at exit). */
void cascade_kill_workers(void);

/* The table and the verdicts on the agent's targets on stdout; the JSON file. */
void report_table(const struct cascade_opts *o, const struct setup_result *res);
bool report_json(const char *path, const struct cascade_opts *o, const struct setup_result *res);

#endif
