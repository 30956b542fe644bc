/* bench-compare.h: the side-by-side read benchmark's parts: the timed reads, Redis, the report. */
#ifndef BENCH_COMPARE_H
#define BENCH_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "bench-redis.h"
#include "wxshm.h"

/*
 * The ways a process can get the token, from the cheapest; the round trips twice: with
 * the server on the reader's CPU, and on another one.
 */
enum method { M_FLOOR, M_SHM, M_FILE, M_SOCKET, M_REDIS, M_SOCKET_ACROSS, M_REDIS_ACROSS, N_METHODS };

/* Where the servers (agent, redis-server) run while a method is timed; the reader is on the first CPU. */
enum placement { PLACE_SAME, PLACE_ACROSS };

struct method_info {
        const char *label;      /* in the table and the plot */
        const char *json;       /* its key in the JSON file */
        const char *how;        /* what one timed read is, said in the output */
        unsigned batch;         /* reads per timestamp pair */
        unsigned samples;       /* timestamp pairs per repetition */
        enum placement place;
};
extern const struct method_info method_info[N_METHODS];

/* What every timed read needs, and what it found. */
struct compare_ctx {
        const char *token;      /* the token the agent published: every read must return it */
        size_t length;
        uint64_t generation;
        wxshm *shm;             /* wxshm_open'ed on the agent's segment */
        int socket_fd;          /* one connection to the agent's control socket, kept open */
        const char *get_line;   /* {"op":"get","app":...}\n */
        redisContext *redis;    /* connected to the bench's redis-server over TCP loopback */
        const char *redis_key;  /* holds the token */
        const char *file_path;  /* a file holding the token, nothing else */
        uint64_t reads[N_METHODS], wrong[N_METHODS];
        char first_wrong[N_METHODS][160];       /* what the first wrong read returned */
};

/*
 * One repetition of m: method_info[m].samples values, ns per read, into out. Wrong reads
 * are counted in c; false if the connection broke and m cannot go on.
 */
bool compare_run(struct compare_ctx *c, enum method m, double *out);

/* ns per clock_gettime(CLOCK_MONOTONIC), the cost batching keeps out of the figures. */
double compare_clock_cost(void);

/* Find the first two CPUs this process may use; false if there is only one (then no PLACE_ACROSS). */
bool place_init(void);

/* Pin the calling thread to the first CPU, every thread of the n servers to the first or the second. */
int place_set(enum placement p, const pid_t *servers, int n);

/* The CPU number of the first (0) or second (1) CPU, -1 if none. */
int place_cpu(int which);

/* Per method: every sample of every repetition, and each repetition's median; n_all 0 if not measured. */
struct compare_result {
        double *all;            /* sorted once measuring is over */
        size_t n_all;
        double run_median[64];
        double median, p99;
};

struct compare_setup {
        int runs;
        long cpus;
        double clock_ns;
        const char *file_fs;    /* the file system the token file is on */
        const char *redis_version;
        bool across;            /* a second CPU: the other-CPU round trips were measured */
        int cpu[2];             /* the reader's CPU, the other one */
};

#define TARGET_REDIS 1000.0     /* wxshm_read at least this many times faster than a Redis GET */
#define TARGET_SOCKET 100.0     /* ... and than a get over the control socket */

/* The table on stdout and the verdicts on the targets; false if a target is missed. */
bool report_table(const struct compare_setup *s, const struct compare_ctx *c, const struct compare_result *res);

/* The JSON file; false (and a message) if it cannot be written. */
bool report_json(const char *path, const struct compare_setup *s, const struct compare_ctx *c,
                 const struct compare_result *res);

/* The PNG through gnuplot, its data and script in scratch_dir; false (and a message) on failure. */
bool report_plot(const char *path, const char *scratch_dir, const struct compare_setup *s,
                 const struct compare_result *res);

#endif
