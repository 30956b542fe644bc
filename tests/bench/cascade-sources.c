/* cascade-sources.c: the three ways a cascade worker gets its token: its own copy, Redis with a lock, wxtokend. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "bench-cascade.h"
#include "wxshm.h"

#define REDIS_KEY "wx:" CASCADE_APPID ":access_token"
#define REDIS_LOCK "wx:" CASCADE_APPID ":access_token:lock"
#define LOCK_PX 5000            /* a lock holder that dies frees the lock after this */
#define LOCK_POLL_MS 10         /* how often a waiter tries again (Redisson-style tryLock polls too) */
#define LOCK_WAIT_MS 10000      /* give up (and count a failure) after this */

/* Release only a lock that is still ours: it may have passed its PX and gone to another worker. */
static const char unlock_script[] =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

struct source {
        enum cascade_setup setup;
        const struct worker_env *env;
        struct http *http;
        struct worker_result *res;
        /* SETUP_NAIVE: the worker's own copy. */
        char token[1024];
        uint64_t expires_ns;
        bool dropped;
        /* SETUP_REDIS */
        redisContext *redis;
        char lock_id[32];
        unsigned long locks;
        /* SETUP_AGENT */
        wxshm *shm;
        uint64_t generation;
};

/* One upstream call, counted as planned (a copy was missing or expired) or as caused by a refusal. */
static int fetch(struct source *s, bool planned, char *token, size_t size, int64_t *life_ms, char *why, size_t n) {
        bool counting = worker_counting();
        int r = http_fetch_token(s->http, token, size, life_ms, why, n);

        if (counting) {
                if (planned)
                        s->res->fetches_planned++;
                else
                        s->res->fetches_on_error++;
                if (r < 0)
                        s->res->fetch_failed++;
        }
        return r;
}

static int failed(struct source *s, char *why, size_t n, const char *what) {
        if (worker_counting())
                s->res->source_failed++;
        if (what)
                snprintf(why, n, "%s", what);
        return -1;
}

/* --- (a) naive: every worker fetches its own token when its copy expires or is refused. --- */

static int naive_get(struct source *s, char *token, size_t size, char *why, size_t n) {
        int64_t life_ms;

        if (!s->token[0] || cascade_now_ns() >= s->expires_ns) {
                if (fetch(s, !s->dropped, s->token, sizeof(s->token), &life_ms, why, n) < 0) {
                        s->token[0] = '\0';
                        return -1;
                }
                s->dropped = false;
                s->expires_ns = cascade_now_ns() +
                                (uint64_t)(life_ms - cascade_sdk_early_ms(s->env->opts)) * 1000000u;
        }
        snprintf(token, size, "%s", s->token);
        return 0;
}

/* --- (b) the usual SDK: the token in Redis, fetched under a Redis lock. --- */

static redisReply *redis_do(struct source *s, char *why, size_t n, const char *fmt, ...) {
        redisReply *rep;
        va_list ap;

        va_start(ap, fmt);
        rep = redisvCommand(s->redis, fmt, ap);
        va_end(ap);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
                snprintf(why, n, "redis: %s", rep ? rep->str : s->redis->errstr);
                if (rep)
                        freeReplyObject(rep);
                failed(s, why, n, NULL);
                return NULL;
        }
        return rep;
}

/* GET: 1 and the token, 0 if there is none, -1 on a Redis error. */
static int redis_token(struct source *s, char *token, size_t size, char *why, size_t n) {
        redisReply *rep = redis_do(s, why, n, "GET " REDIS_KEY);
        int r;

        if (!rep)
                return -1;
        r = rep->type == REDIS_REPLY_STRING && rep->len > 0 && (size_t)rep->len < size;
        if (r)
                snprintf(token, size, "%s", rep->str);
        freeReplyObject(rep);
        return r;
}

/* SET lock NX PX: 1 if we hold it now, 0 if someone else does, -1 on a Redis error. */
static int lock_try(struct source *s, char *why, size_t n) {
        redisReply *rep;
        int r;

        snprintf(s->lock_id, sizeof(s->lock_id), "w%d-%lu", s->env->index, ++s->locks);
        if (!(rep = redis_do(s, why, n, "SET " REDIS_LOCK " %s NX PX %d", s->lock_id, LOCK_PX)))
                return -1;
        r = rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        return r;
}

static void lock_release(struct source *s, char *why, size_t n) {
        redisReply *rep = redis_do(s, why, n, "EVAL %s 1 " REDIS_LOCK " %s", unlock_script, s->lock_id);

        if (rep)
                freeReplyObject(rep);
}

/* Under the lock: fetch and store with the token's life, less the SDK's early margin, as expiry. */
static int redis_fetch_store(struct source *s, bool planned, char *token, size_t size, char *why, size_t n) {
        int64_t life_ms;
        redisReply *rep;

        if (fetch(s, planned, token, size, &life_ms, why, n) < 0)
                return -1;
        if (!(rep = redis_do(s, why, n, "SET " REDIS_KEY " %s PX %lld", token,
                             (long long)(life_ms - cascade_sdk_early_ms(s->env->opts)))))
                return -1;
        freeReplyObject(rep);
        return 0;
}

/* GET; if missing or expired: lock, GET again (someone may have fetched meanwhile), fetch, SET. */
static int redis_get(struct source *s, char *token, size_t size, char *why, size_t n) {
        uint64_t give_up = cascade_now_ns() + (uint64_t)LOCK_WAIT_MS * 1000000u;
        int r;

        if ((r = redis_token(s, token, size, why, n)) != 0)
                return r > 0 ? 0 : -1;
        while (cascade_now_ns() < give_up) {
                if ((r = lock_try(s, why, n)) < 0)
                        return -1;
                if (r > 0) {
                        if ((r = redis_token(s, token, size, why, n)) == 0)
                                r = redis_fetch_store(s, true, token, size, why, n) < 0 ? -1 : 1;
                        lock_release(s, why, n);
                        return r > 0 ? 0 : -1;
                }
                cascade_sleep_ms(LOCK_POLL_MS);
                if ((r = redis_token(s, token, size, why, n)) != 0)
                        return r > 0 ? 0 : -1;
        }
        return failed(s, why, n, "redis: no token and no lock for 10 s");
}

/*
 * Refused: delete and refresh under the lock. Like wechatpy's and EasyWeChat 4/5's refusal
 * paths (not WxJava's, which compares the stored token first), it does not ask whether the
 * copy in Redis is still the one that was refused: that question, asked per generation, is
 * what wxtokend's compare-and-refresh adds.
 */
static int redis_failed(struct source *s, char *why, size_t n) {
        uint64_t give_up = cascade_now_ns() + (uint64_t)LOCK_WAIT_MS * 1000000u;
        char token[1024];
        redisReply *rep;
        int r;

        while ((r = lock_try(s, why, n)) == 0 && cascade_now_ns() < give_up)
                cascade_sleep_ms(LOCK_POLL_MS);
        if (r <= 0)
                return r < 0 ? -1 : failed(s, why, n, "redis: no lock for 10 s after a refusal");
        r = -1;
        if ((rep = redis_do(s, why, n, "DEL " REDIS_KEY))) {
                freeReplyObject(rep);
                r = redis_fetch_store(s, false, token, sizeof(token), why, n);
        }
        lock_release(s, why, n);
        return r;
}

/* --- (c) wxtokend: read the segment every call; on a refusal, report the generation used. --- */

static int agent_get(struct source *s, char *token, size_t size, char *why, size_t n) {
        wxshm_info info = { .size = sizeof(info) };
        int r = wxshm_read(s->shm, token, size, &info);

        /* -ESTALE still hands out the token: WeChat may accept it a while longer. */
        if (r < 0 && r != -ESTALE) {
                snprintf(why, n, "wxshm_read: %s", strerror(-r));
                return failed(s, why, n, NULL);
        }
        s->generation = info.generation;
        return 0;
}

static int agent_failed(struct source *s, char *why, size_t n) {
        int64_t g = wxshm_refresh(s->shm, s->generation, 5000);

        if (g < 0) {
                snprintf(why, n, "wxshm_refresh: %s", strerror((int)-g));
                return failed(s, why, n, NULL);
        }
        return 0;
}

/* --- the interface --- */

struct source *source_open(const struct worker_env *env, struct http *h, struct worker_result *res, char *why,
                           size_t n) {
        struct source *s = calloc(1, sizeof(*s));
        struct redis_proc rp = { .port = env->redis_port };
        int r;

        if (!s) {
                snprintf(why, n, "out of memory");
                return NULL;
        }
        *s = (struct source){ .setup = env->setup, .env = env, .http = h, .res = res };
        if (env->setup == SETUP_REDIS && !(s->redis = redis_connect(&rp))) {
                snprintf(why, n, "cannot connect to redis-server on port %d", env->redis_port);
                free(s);
                return NULL;
        }
        if (env->setup == SETUP_AGENT && (r = wxshm_open(&s->shm, env->app)) < 0) {
                snprintf(why, n, "wxshm_open %s: %s", env->app, strerror(-r));
                free(s);
                return NULL;
        }
        return s;
}

int source_get(struct source *s, char *token, size_t size, char *why, size_t n) {
        switch (s->setup) {
        case SETUP_NAIVE: return naive_get(s, token, size, why, n);
        case SETUP_REDIS: return redis_get(s, token, size, why, n);
        default: return agent_get(s, token, size, why, n);
        }
}

int source_failed(struct source *s, char *why, size_t n) {
        switch (s->setup) {
        case SETUP_NAIVE:
                s->token[0] = '\0';
                s->dropped = true;
                return 0;
        case SETUP_REDIS: return redis_failed(s, why, n);
        default: return agent_failed(s, why, n);
        }
}

void source_close(struct source *s) {
        if (s->redis)
                redisFree(s->redis);
        wxshm_close(s->shm);
        free(s);
}
