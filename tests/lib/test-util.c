/* test-util.c: checks, a private segment directory and checksummed tokens for the tests. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test-util.h"

static char dir[64];
static int dir_fd = -1;
static pid_t owner;

/* Every file in the test's directory, then the directory: nothing of a test outlives it. */
static void remove_dir(void) {
        char cmd[96];

        /* Forked children exit through here too; only the process that made it cleans up. */
        if (getpid() != owner)
                return;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", dir);
}

const char *test_shm_dir(void) {
        if (dir[0] == '\0') {
                owner = getpid();
                snprintf(dir, sizeof(dir), "/dev/shm/wxt%ld", (long)owner);
                remove_dir(); /* a leftover of a crashed run with the same pid */
                /* The agent's own mode: readers of other uids traverse it, nobody else writes. */
                SETUP_OK(mkdir(dir, 0751) == 0 && chmod(dir, 0751) == 0);
                SETUP_OK(setenv("WXSHM_DIR", dir, 1) == 0);
                atexit(remove_dir);
        }
        return dir;
}

int test_shm_dirfd(void) {
        if (dir_fd < 0) {
                dir_fd = open(test_shm_dir(), O_PATH | O_DIRECTORY | O_CLOEXEC);
                SETUP_OK(dir_fd >= 0);
        }
        return dir_fd;
}

void test_unlink_at_exit(const char *name) {
        unlinkat(test_shm_dirfd(), name, 0); /* the directory goes at exit with all in it */
}

int64_t test_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t test_mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t test_rand(uint64_t *state) {
        uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * 0x2545f4914f6cdd1du;
}

static uint64_t fnv1a(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325u;

        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 0x100000001b3u;
        }
        return h;
}

void test_token_make(char *buf, size_t length, uint64_t generation, uint64_t seed) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        uint64_t state = seed | 1;
        size_t body = length - 16;
        char head[24], sum[17];
        int n = snprintf(head, sizeof(head), "g%llu.", (unsigned long long)generation);

        memcpy(buf, head, (size_t)n);
        for (size_t i = (size_t)n; i < body; i++)
                buf[i] = alphabet[test_rand(&state) % (sizeof(alphabet) - 1)];
        snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)fnv1a(buf, body));
        memcpy(buf + body, sum, 16);
}

bool test_token_valid(const char *buf, size_t length, uint64_t generation) {
        char want[24];
        int n;

        if (length < TEST_TOKEN_MIN)
                return false;
        snprintf(want, sizeof(want), "%016llx", (unsigned long long)fnv1a(buf, length - 16));
        if (memcmp(buf + length - 16, want, 16) != 0)
                return false;
        n = snprintf(want, sizeof(want), "g%llu.", (unsigned long long)generation);
        return memcmp(buf, want, (size_t)n) == 0;
}
