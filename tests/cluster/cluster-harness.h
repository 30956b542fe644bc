/* cluster-harness.h: a real redis-server and several wxtokend agents in cluster mode, for the cluster tests. */
#ifndef CLUSTER_HARNESS_H
#define CLUSTER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent-harness.h"

struct redis_proc {
        pid_t pid;
        int port;
        char dir[64];
};

/* Start redis-server on a free loopback port (port 0) or on port; exits 77 if there is no redis-server. */
void redis_start(struct redis_proc *r, int port);
void redis_stop(struct redis_proc *r);
void redis_pause(struct redis_proc *r, bool paused);

/* HGET of an item's field in Redis ("token:wxC", "generation"): a number, -1 if absent. */
long long redis_item_number(struct redis_proc *r, const char *item, const char *field);

/* One command (hiredis format); true if Redis answered it without an error. */
bool redis_run(struct redis_proc *r, const char *fmt, ...);

/* One command (hiredis format) answered with an integer: it, or -1. */
long long redis_integer(struct redis_proc *r, const char *fmt, ...);

/* HGET key field into buf ("" if absent); false if Redis did not answer. */
bool redis_get_field(struct redis_proc *r, const char *key, const char *field, char *buf, size_t size);

/* GET key into buf ("" if absent); false if Redis did not answer. */
bool redis_get(struct redis_proc *r, const char *key, char *buf, size_t size);

/* The wall clock in ms, as wxemu's log and the agents' fetch times count. */
long long cluster_wall_ms(void);

#define CLUSTER_HOSTS 3

/* Three agents (or count), each with its own socket, shm_dir, state dir and node id ("node0".."node2"). */
struct cluster_hosts {
        struct agent_proc host[CLUSTER_HOSTS];
        int count;                      /* hosts in the cluster; 0: CLUSTER_HOSTS */
        const char *bin[CLUSTER_HOSTS]; /* each host's wxtokend (a rolling upgrade mixes two); NULL: $WXTOKEND */
        const char *redis_host;         /* in the hosts' redis URL; NULL: 127.0.0.1 */
        const char *node_id[CLUSTER_HOSTS]; /* NULL: "node<i>" */
        const char *agent_extra;        /* more [agent] lines for every host; NULL: none */
        const char *cluster_extra;      /* more lines for every host's [cluster] section, NULL: none */
};

/*
 * Write each host's config: one app "shop" of kind token for appid at wxemu's port (its
 * secret in each host's own directory), [cluster] on r with lease_ms. Nothing is started.
 */
void hosts_configure(struct cluster_hosts *h, struct redis_proc *r, int emu_port, const char *appid,
                     const char *secret, long lease_ms);

/* hosts_configure, then start them all. */
void hosts_start(struct cluster_hosts *h, struct redis_proc *r, int emu_port, const char *appid, const char *secret,
                 long lease_ms);

/* How many hosts h has (count, or CLUSTER_HOSTS). */
int hosts_count(const struct cluster_hosts *h);

/* The generation host i publishes for item (0 if none) and, if buf, its token. */
uint64_t host_generation(struct cluster_hosts *h, int i, const char *item, char *buf, size_t size);

/* Whether host i (running) says it holds item's lease. */
bool host_holds(struct cluster_hosts *h, int i, const char *item);

/* Which host holds item's lease according to the hosts themselves (the first that says so); -1 if none. */
int hosts_holder(struct cluster_hosts *h, const char *item);

/* Poll (bounded) until every running host's status says Redis is connected (or not); false on timeout. */
bool hosts_wait_redis(struct cluster_hosts *h, bool connected, int max_ms);

/* Poll (bounded) until every host publishes the same generation, at least min_gen; that generation or 0. */
uint64_t hosts_converge(struct cluster_hosts *h, const char *item, uint64_t min_gen, int max_ms);

/*
 * A reader process per host checking that generations never go back and that one
 * generation never carries two tokens; started with hosts_readers_start, stopped and
 * collected (and printed) with hosts_readers_finish, which returns true if clean.
 */
struct host_reader {
        pid_t pid;
        int fd;
};
/* Every host still serves the app "shop" at generation g with token (a check per host; what names the case). */
void hosts_check_served(struct cluster_hosts *h, const char *what, uint64_t g, const char *token);

/* How often needle is in every host's log together. */
int hosts_log_count(struct cluster_hosts *h, const char *needle);

/* Wait (bounded) until the hosts' logs hold needle more often than before: false if they never did. */
bool hosts_wait_log(struct cluster_hosts *h, const char *needle, int before, int max_ms);

/* What `wxtokenctl status` prints for host i (NUL-terminated in out), also printed for the test's log. */
void hosts_ctl_status(struct cluster_hosts *h, int i, char *out, size_t size);

void hosts_readers_start(struct cluster_hosts *h, const char *item, struct host_reader *rd);
bool hosts_readers_finish(struct cluster_hosts *h, struct host_reader *rd);

/* The end of a cluster test: the readers' verdict, every host stopped cleanly, Redis gone; the exit code. */
int hosts_finish(struct cluster_hosts *h, struct redis_proc *r, struct host_reader *rd);

#endif
