/* compare-read.c: the timed reads of the side-by-side benchmark, one loop per way of getting the token. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench-compare.h"
#include "bench-util.h"
#include "test-util.h"

/*
 * The two fast ones are timed in batches: a clock_gettime pair costs about as much as
 * one read, so one pair per read would mostly time the clock. The slow ones are timed
 * read by read (the clock is a few percent of them at most), so their p99 is a real read's.
 */
#define SOCKET_HOW "{\"op\":\"get\"} line written, reply read to its newline, one connection; " \
                   "JSON parsed after the timing"
#define REDIS_HOW "hiredis redisCommand(\"GET key\") over TCP loopback, one connection; " \
                  "reply checked and freed after the timing"
const struct method_info method_info[N_METHODS] = {
        [M_FLOOR] = { "bare relaxed copy (floor)", "floor_copy",
                      "relaxed atomic 8-byte loads of 512 bytes from a private page, no seqlock", 1000, 100,
                      PLACE_SAME },
        [M_SHM] = { "wxshm_read", "wxshm_read",
                    "wxshm_read(h, buf, size, &info) on the agent's segment, return value and generation checked",
                    1000, 100, PLACE_SAME },
        [M_FILE] = { "token file", "file", "open(2), one read(2) of the 512-byte file, close(2)", 1, 2000,
                     PLACE_SAME },
        [M_SOCKET] = { "socket get, same CPU", "socket_get", SOCKET_HOW "; the agent on the reader's CPU", 1, 2000,
                       PLACE_SAME },
        [M_REDIS] = { "Redis GET, same CPU", "redis_get", REDIS_HOW "; redis-server on the reader's CPU", 1, 2000,
                      PLACE_SAME },
        [M_SOCKET_ACROSS] = { "socket get, other CPU", "socket_get_other_cpu",
                              SOCKET_HOW "; the agent on another CPU", 1, 2000, PLACE_ACROSS },
        [M_REDIS_ACROSS] = { "Redis GET, other CPU", "redis_get_other_cpu",
                             REDIS_HOW "; redis-server on another CPU", 1, 2000, PLACE_ACROSS },
};

static void wrong(struct compare_ctx *c, enum method m, const char *what, const char *got, size_t len) {
        if (!c->wrong[m]++)
                snprintf(c->first_wrong[m], sizeof(c->first_wrong[m]), "%s: %.*s", what,
                         (int)(len > 80 ? 80 : len), got ? got : "");
}

/*
 * Each read is checked inside the batch on one rotating 8-byte word (64 reads cover the
 * token), the last of each batch on every byte: checks that cost a load and a compare,
 * not a 512-byte memcmp per read, and that keep every copy's stores live.
 */
static void fast_run(struct compare_ctx *c, enum method m, double *out) {
        const _Atomic uint64_t *src = bench_floor_source();
        const unsigned batch = method_info[m].batch;
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        size_t len = c->length, off = 0;
        uint64_t bad = 0;

        for (unsigned s = 0; s < method_info[m].samples; s++) {
                uint64_t t0 = test_mono_ns();

                if (m == M_FLOOR) {
                        for (unsigned i = 0; i < batch; i++) {
                                bench_floor_copy(buf, src, len);
                                bad += memcmp(buf + off, c->token + off, 8) != 0;
                                off = off + 8 == len ? 0 : off + 8;
                        }
                } else {
                        for (unsigned i = 0; i < batch; i++) {
                                int r = wxshm_read(c->shm, buf, sizeof(buf), &info);

                                bad += (size_t)r != len || info.generation != c->generation ||
                                       memcmp(buf + off, c->token + off, 8) != 0;
                                off = off + 8 == len ? 0 : off + 8;
                        }
                }
                out[s] = (double)(test_mono_ns() - t0) / batch;
                bad += memcmp(buf, c->token, len) != 0;
        }
        c->reads[m] += (uint64_t)batch * method_info[m].samples;
        if (bad) {
                wrong(c, m, "another length, generation or bytes; the last copy", buf, len);
                c->wrong[m] += bad - 1;
        }
}

static void file_run(struct compare_ctx *c, double *out) {
        char buf[4096];

        for (unsigned s = 0; s < method_info[M_FILE].samples; s++) {
                uint64_t t0 = test_mono_ns();
                int fd = open(c->file_path, O_RDONLY | O_CLOEXEC);
                ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

                if (fd >= 0)
                        close(fd);
                out[s] = (double)(test_mono_ns() - t0);
                c->reads[M_FILE]++;
                if (n != (ssize_t)c->length || memcmp(buf, c->token, c->length) != 0)
                        wrong(c, M_FILE, n < 0 ? strerror(errno) : "read", buf, n > 0 ? (size_t)n : 0);
        }
}

/* The reply's token and generation must be the published ones. */
static void socket_check(struct compare_ctx *c, enum method m, const char *reply, size_t len) {
        cJSON *j = cJSON_ParseWithLength(reply, len);
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
        const cJSON *gen = cJSON_GetObjectItemCaseSensitive(j, "generation");

        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")) || !cJSON_IsString(tok) ||
            strlen(tok->valuestring) != c->length || memcmp(tok->valuestring, c->token, c->length) != 0 ||
            !cJSON_IsNumber(gen) || (uint64_t)gen->valuedouble != c->generation)
                wrong(c, m, "reply", reply, len);
        cJSON_Delete(j);
}

static bool socket_run(struct compare_ctx *c, enum method m, double *out) {
        size_t line_len = strlen(c->get_line);
        char buf[8192];

        for (unsigned s = 0; s < method_info[m].samples; s++) {
                uint64_t t0 = test_mono_ns();
                size_t got = 0;
                ssize_t n = write(c->socket_fd, c->get_line, line_len);

                /* One request in flight: what arrives up to the newline is all of its reply. */
                if (n == (ssize_t)line_len)
                        while ((n = read(c->socket_fd, buf + got, sizeof(buf) - got)) > 0)
                                if (buf[(got += (size_t)n) - 1] == '\n' || got == sizeof(buf))
                                        break;
                out[s] = (double)(test_mono_ns() - t0);
                c->reads[m]++;
                if (got == 0 || buf[got - 1] != '\n') {
                        /* The connection is broken (or out of step): every later read would fail too. */
                        wrong(c, m, n < 0 ? strerror(errno) : "no whole reply line", buf, got);
                        return false;
                }
                socket_check(c, m, buf, got);
        }
        return true;
}

static bool redis_run(struct compare_ctx *c, enum method m, double *out) {
        for (unsigned s = 0; s < method_info[m].samples; s++) {
                uint64_t t0 = test_mono_ns();
                redisReply *rep = redisCommand(c->redis, "GET %s", c->redis_key);

                out[s] = (double)(test_mono_ns() - t0);
                c->reads[m]++;
                if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != c->length ||
                    memcmp(rep->str, c->token, c->length) != 0)
                        wrong(c, m, rep ? "reply" : c->redis->errstr, rep ? rep->str : NULL,
                              rep && rep->str ? rep->len : 0);
                if (!rep)
                        return false;   /* hiredis: the context is unusable after an I/O error */
                freeReplyObject(rep);
        }
        return true;
}

bool compare_run(struct compare_ctx *c, enum method m, double *out) {
        switch (m) {
        case M_FLOOR:
        case M_SHM:
                fast_run(c, m, out);
                return true;
        case M_FILE:
                file_run(c, out);
                return true;
        case M_SOCKET:
        case M_SOCKET_ACROSS:
                return socket_run(c, m, out);
        case M_REDIS:
        case M_REDIS_ACROSS:
                return redis_run(c, m, out);
        default:
                abort();
        }
}

double compare_clock_cost(void) {
        double v[101];

        for (int k = 0; k < 101; k++) {
                uint64_t t0 = test_mono_ns();

                for (int i = 0; i < 1000; i++)
                        (void)test_mono_ns();
                v[k] = (double)(test_mono_ns() - t0) / 1000;
        }
        bench_sort(v, 101);
        return bench_median(v, 101);
}
