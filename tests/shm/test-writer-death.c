/* test-writer-death.c: writers SIGKILLed at random points of publishing never tear a token. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-readers.h"
#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define READERS 2
#define DEFAULT_KILLS 200

/* Adopt the segment, say so on ready_fd, then publish as fast as possible until killed. */
static void writer_child(int ready_fd, uint64_t seed) {
        char token[WXSHM_TOKEN_MAX + 1];
        struct segment_slot slot;
        int64_t now = test_now_ms();
        uint64_t rng = seed;
        wxshm_writer *w;

        SETUP_OK(wxshm_writer_open(&w, test_shm_dirfd(), "death", NULL) == 0);
        SETUP_OK(wxshm_writer_current(w, token, sizeof(token), &slot) > 0);
        SETUP_OK(write(ready_fd, "r", 1) == 1);
        for (uint64_t gen = slot.generation + 1;; gen++) {
                size_t len = 100 + test_rand(&rng) % 1901;

                test_token_make(token, len, gen, test_rand(&rng));
                if (wxshm_writer_publish_generation(w, token, len, now + 3600000, now, gen) < 0)
                        _exit(EXIT_SETUP);
        }
}

/* What the kill interrupted: the counter is odd between the two halves of a publish. */
static bool killed_mid_publish(const struct wxshm_layout *seg) {
        uint64_t seq = atomic_load(&seg->seq);
        const struct wxshm_layout_slot *used = &seg->slot[seq & 1], *spare = &seg->slot[(seq + 1) & 1];

        return (seq & 1) || atomic_load(&used->generation) != atomic_load(&spare->generation);
}

int main(void) {
        struct reader_stats st[READERS];
        const char *env = getenv("WXSHM_DEATH_KILLS");
        int kills = env && atoi(env) > 0 ? atoi(env) : DEFAULT_KILLS;
        int mid = 0, fds[READERS];
        pid_t readers[READERS];
        struct wxshm_layout *seg;
        char token[WXSHM_TOKEN_MAX];
        uint64_t rng = 7;
        int64_t now = test_now_ms();
        wxshm_writer *w;
        bool ok = true;
        int fd;

        test_shm_dir();
        test_unlink_at_exit("death");
        SETUP_OK(wxshm_writer_open(&w, test_shm_dirfd(), "death", NULL) == 0);
        test_token_make(token, 500, 1, 1);
        SETUP_OK(wxshm_writer_publish_generation(w, token, 500, now + 3600000, now, 1) == 0);
        wxshm_writer_close(w);

        /* A read-only look at the counter, to count kills that landed inside a publish. */
        fd = openat(test_shm_dirfd(), "death", O_RDONLY, 0);
        SETUP_OK(fd >= 0);
        seg = mmap(NULL, sizeof(*seg), PROT_READ, MAP_SHARED, fd, 0);
        SETUP_OK(seg != MAP_FAILED);
        close(fd);

        for (int i = 0; i < READERS; i++)
                readers[i] = reader_spawn("death", 600, &fds[i]);

        for (int k = 0; k < kills; k++) {
                struct timespec pause = { 0, (long)(test_rand(&rng) % 2000) * 1000 };
                int ready[2], status;
                char c;
                pid_t pid;

                SETUP_OK(pipe(ready) == 0);
                pid = fork();
                SETUP_OK(pid >= 0);
                if (pid == 0) {
                        close(ready[0]);
                        writer_child(ready[1], test_rand(&rng));
                }
                close(ready[1]);
                SETUP_OK(read(ready[0], &c, 1) == 1);
                close(ready[0]);
                nanosleep(&pause, NULL); /* 0 to 2 ms into the publishing loop */
                SETUP_OK(kill(pid, SIGKILL) == 0);
                SETUP_OK(waitpid(pid, &status, 0) == pid);
                SETUP_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                mid += killed_mid_publish(seg);
        }

        /* Readers stop when they see the stopped state. */
        SETUP_OK(wxshm_writer_open(&w, test_shm_dirfd(), "death", NULL) == 0);
        wxshm_writer_set_state(w, WXSHM_STATE_STOPPED);
        wxshm_writer_close(w);
        for (int i = 0; i < READERS; i++) {
                reader_collect(readers[i], fds[i], &st[i]);
                ok &= reader_report(i == 0 ? "reader process 1" : "reader process 2", &st[i]);
        }
        printf("%d writers killed, %d of them inside a publish\n", kills, mid);
        munmap(seg, sizeof(*seg));
        CHECK(ok);
        for (int i = 0; i < READERS; i++)
                CHECK(st[i].reads > 0 && st[i].last_gen > st[i].first_gen);
        /* Kills that all missed the publish path would prove nothing. */
        CHECK(mid > 0);
        return 0;
}
