/* bench-redis.h: a redis-server of a benchmark's own on loopback, and hiredis connections to it. */
#ifndef BENCH_REDIS_H
#define BENCH_REDIS_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

/* A redis-server of our own on 127.0.0.1, persistence off, its files in dir. */
struct redis_proc {
        pid_t pid;
        int port;
        char bin[256];
        char version[32];
};

/* Find redis-server ($PATH, else /usr/bin), start it on a free port and wait until it answers PING. */
int redis_start(struct redis_proc *r, const char *dir);

/* A hiredis connection to it (TCP, as SDKs connect), or NULL. */
redisContext *redis_connect(const struct redis_proc *r);

/* SIGTERM (SIGKILL if it lingers) and reap; safe to call twice. */
void redis_stop(struct redis_proc *r);

#endif
