/* test-read-edges.c: wxshm_read's fast path at its edges: buffer sizes around every token length, deadlines around now. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "segment.h"
#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define HOUR_MS 3600000
#define GUARD 24            /* bytes past size that must stay untouched */
#define FILL 0xa5
#define INTERVAL_MS 1000    /* the heartbeat interval of the segments here */
#define ROUNDS 300          /* of the deadline checks: each round's deadlines follow the clock */

/* The clock wxshm_read's deadlines are defined on (wxshm.h: coarse wall clock, ms). */
static int64_t coarse_ms(void) {
        struct timespec ts;

        SETUP_OK(clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A writer and a reader handle on the writer's own mapping: no name lookup on the reader's side. */
static wxshm *pair_new(const char *name, wxshm_writer **w) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        wxshm *h;

        opts.heartbeat_interval_ms = INTERVAL_MS;
        test_unlink_at_exit(name);
        SETUP_OK(wxshm_writer_open(w, test_shm_dirfd(), name, &opts) == 0);
        SETUP_OK(reader_attach(&h, wxshm_writer_layout(*w)) == 0);
        return h;
}

static bool untouched(const unsigned char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != FILL)
                        return false;
        return true;
}

/*
 * Every length residue mod 8, WeChat's 157 and the capacity, each read into buffers of
 * length - 1 to length + 10 bytes: a token that does not fit leaves the buffer as it was
 * (-ENOBUFS, nothing copied); one that fits arrives whole with its NUL, nothing at or past
 * size changes, and nothing 8 or more bytes past the NUL (wxshm.h: whole words at most).
 */
static void test_sizes(void) {
        static const size_t lengths[] = { 40, 41, 42, 43, 44, 45, 46, 47, 48, 157, 159, 2047, 2048 };
        static unsigned char buf[WXSHM_TOKEN_MAX + 16 + GUARD];
        char token[WXSHM_TOKEN_MAX];
        int64_t now = coarse_ms();
        wxshm_writer *w;
        wxshm *h = pair_new("sizes", &w);
        uint64_t gen = 0;

        for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
                size_t len = lengths[k];

                gen++;
                test_token_make(token, len, gen, gen);
                CHECK_EQ(wxshm_writer_publish_generation(w, token, len, now + HOUR_MS, now, gen), 0);
                for (size_t size = len - 1; size <= len + 10; size++) {
                        wxshm_info info = { .size = sizeof(info) };
                        int r;

                        memset(buf, FILL, sizeof(buf));
                        r = wxshm_read(h, (char *)buf, size, size % 2 ? &info : NULL);
                        if (size <= len) {
                                CHECK_EQ(r, -ENOBUFS);
                                CHECK(untouched(buf, size + GUARD));
                                continue;
                        }
                        CHECK_EQ(r, (int)len);
                        CHECK(memcmp(buf, token, len) == 0);
                        CHECK_EQ(buf[len], '\0');
                        CHECK(untouched(buf + size, GUARD));
                        if (len + 8 < size)
                                CHECK(untouched(buf + len + 8, size - len - 8));
                        if (size % 2)
                                CHECK_EQ(info.generation, gen);
                }
        }
        wxshm_close(h);
        wxshm_writer_close(w);
}

/*
 * Deadlines just before, at and after now, and at the edges of the current second, where
 * the read may no longer decide by whole seconds. Each answer is checked against the clock
 * read just before and just after it: "fresh" needs a now before the deadline, -ESTALE a
 * now at or past it. Tight bounds, yet no duration is assumed.
 */
static void test_expiry(void) {
        char token[64], buf[WXSHM_TOKEN_MAX + 1];
        wxshm_writer *w;
        wxshm *h = pair_new("expiry", &w);
        unsigned stale = 0, fresh = 0;

        test_token_make(token, 48, 1, 1);
        for (unsigned round = 0; round < ROUNDS; round++) {
                int64_t now = coarse_ms(), sec = now / 1000 * 1000;
                const int64_t deadlines[] = { now - HOUR_MS, sec - 1, sec, sec + 1, now - 1, now, now + 1,
                                              now + 2, sec + 999, sec + 1000, sec + 1001, now + HOUR_MS };

                for (size_t k = 0; k < sizeof(deadlines) / sizeof(deadlines[0]); k++) {
                        int64_t at = deadlines[k], before, after;
                        int r;

                        CHECK_EQ(wxshm_writer_publish(w, token, 48, at, now, NULL), 0);
                        before = coarse_ms();
                        r = wxshm_read(h, buf, sizeof(buf), NULL);
                        after = coarse_ms();
                        if (r == -ESTALE) {
                                CHECK(after >= at);
                                stale++;
                        } else {
                                CHECK_EQ(r, 48);
                                CHECK(before < at);
                                fresh++;
                        }
                        /* The token is there either way (wxshm.h: -ESTALE fills it in). */
                        CHECK(memcmp(buf, token, 48) == 0);
                }
        }
        /* Both answers were given: the deadlines straddled the clock. */
        CHECK(stale >= ROUNDS * 5 && fresh >= ROUNDS * 3);
        wxshm_close(h);
        wxshm_writer_close(w);
}

/* agent_alive at the edge of 3 heartbeat intervals, checked the same way against the clock. */
static void test_alive(void) {
        char token[64], buf[WXSHM_TOKEN_MAX + 1];
        wxshm_writer *w;
        wxshm *h = pair_new("alive", &w);
        unsigned alive = 0, dead = 0;

        test_token_make(token, 48, 1, 1);
        CHECK_EQ(wxshm_writer_publish(w, token, 48, coarse_ms() + HOUR_MS, coarse_ms(), NULL), 0);
        for (unsigned round = 0; round < ROUNDS; round++) {
                int64_t now = coarse_ms(), sec = now / 1000 * 1000, limit = 3 * INTERVAL_MS;
                /* Heartbeats that make now - heartbeat land around the limit, and at second edges. */
                const int64_t beats[] = { now, now - limit + 1, now - limit, now - limit - 1, now - limit - 2,
                                          sec - limit, sec - limit - 1, sec + 999 - limit, sec + 1000 - limit,
                                          now - HOUR_MS };

                for (size_t k = 0; k < sizeof(beats) / sizeof(beats[0]); k++) {
                        wxshm_info info = { .size = sizeof(info) };
                        int64_t before, after;

                        wxshm_writer_heartbeat(w, beats[k]);
                        before = coarse_ms();
                        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), 48);
                        after = coarse_ms();
                        CHECK_EQ(info.heartbeat_ms, beats[k]);
                        if (info.agent_alive) {
                                CHECK(before - beats[k] <= limit);
                                alive++;
                        } else {
                                CHECK(after - beats[k] > limit);
                                dead++;
                        }
                }
        }
        CHECK(alive >= ROUNDS * 2 && dead >= ROUNDS * 3);
        /* A heartbeat at the end of time is alive, not an overflow. */
        wxshm_writer_heartbeat(w, INT64_MAX);
        {
                wxshm_info info = { .size = sizeof(info) };

                CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), 48);
                CHECK_EQ(info.agent_alive, 1);
        }
        wxshm_close(h);
        wxshm_writer_close(w);
}

int main(void) {
        test_sizes();
        test_expiry();
        test_alive();
        return 0;
}
