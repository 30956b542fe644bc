/* test-readers.c: a reader that checks every token it reads, for the stress and death tests. */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-readers.h"
#include "test-util.h"
#include "wxshm.h"

void reader_loop(wxshm *h, const atomic_bool *stop, unsigned max_seconds, struct reader_stats *st) {
        char buf[WXSHM_TOKEN_MAX + 1];
        uint64_t deadline = test_mono_ns() + (uint64_t)max_seconds * 1000000000u;
        bool seen = false;
        int r;

        memset(st, 0, sizeof(*st));
        for (uint64_t i = 0;; i++) {
                wxshm_info info = { .size = sizeof(info) };

                if ((stop && atomic_load_explicit(stop, memory_order_relaxed)) ||
                    ((i & 1023) == 0 && test_mono_ns() > deadline))
                        break;
                r = wxshm_read(h, buf, sizeof(buf), &info);
                if (r < 0) {
                        if (r == -ENODATA && !seen)
                                continue;
                        st->failed++;
                        st->last_error = r;
                        continue;
                }
                if (info.state == WXSHM_STATE_STOPPED)
                        break;
                st->reads++;
                if (!test_token_valid(buf, (size_t)r, info.generation))
                        st->torn++;
                if (info.generation < st->last_gen)
                        st->backwards++;
                if (!seen)
                        st->first_gen = info.generation;
                st->last_gen = info.generation;
                seen = true;
        }
}

pid_t reader_spawn(const char *app, unsigned max_seconds, int *stats_fd) {
        int fds[2];
        pid_t pid;

        SETUP_OK(pipe(fds) == 0);
        pid = fork();
        SETUP_OK(pid >= 0);
        if (pid == 0) {
                struct reader_stats st;
                wxshm *h;

                close(fds[0]);
                SETUP_OK(wxshm_open(&h, app) == 0);
                reader_loop(h, NULL, max_seconds, &st);
                wxshm_close(h);
                _exit(write(fds[1], &st, sizeof(st)) == sizeof(st) ? 0 : EXIT_SETUP);
        }
        close(fds[1]);
        *stats_fd = fds[0];
        return pid;
}

void reader_collect(pid_t pid, int stats_fd, struct reader_stats *st) {
        int status;

        SETUP_OK(read(stats_fd, st, sizeof(*st)) == sizeof(*st));
        close(stats_fd);
        SETUP_OK(waitpid(pid, &status, 0) == pid);
        SETUP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

bool reader_report(const char *who, const struct reader_stats *st) {
        bool ok = st->torn == 0 && st->failed == 0 && st->backwards == 0;

        printf("%-16s %10llu reads, generations %llu..%llu, %llu torn, %llu failed (last %s), %llu backwards\n",
               who, (unsigned long long)st->reads, (unsigned long long)st->first_gen,
               (unsigned long long)st->last_gen, (unsigned long long)st->torn, (unsigned long long)st->failed,
               st->last_error ? strerror(-st->last_error) : "none", (unsigned long long)st->backwards);
        return ok;
}
