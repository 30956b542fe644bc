/* test-stress.c: one writer publishing as fast as it can against reader threads and a process. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "test-readers.h"
#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define READER_THREADS 2

static atomic_bool stop;
static unsigned seconds = 5;

struct writer_job {
        wxshm_writer *w;
        uint64_t published;
        int error;
};

struct reader_job {
        wxshm *h;
        struct reader_stats st;
};

/* Tokens of 100 to 2000 bytes, each carrying its generation and checksum. */
static void *writer_main(void *arg) {
        struct writer_job *job = arg;
        char token[WXSHM_TOKEN_MAX];
        uint64_t rng = 42, deadline = test_mono_ns() + (uint64_t)seconds * 1000000000u;
        int64_t now = test_now_ms();

        for (uint64_t gen = 1; (gen & 255) != 0 || test_mono_ns() < deadline; gen++) {
                size_t len = 100 + test_rand(&rng) % 1901;

                test_token_make(token, len, gen, test_rand(&rng));
                job->error = wxshm_writer_publish_generation(job->w, token, len, now + 3600000, now, gen);
                if (job->error < 0)
                        break;
                job->published = gen;
        }
        /* Tell the reader process to finish, then the threads. */
        wxshm_writer_set_state(job->w, WXSHM_STATE_STOPPED);
        atomic_store(&stop, true);
        return NULL;
}

static void *reader_main(void *arg) {
        struct reader_job *job = arg;

        reader_loop(job->h, &stop, seconds + 60, &job->st);
        return NULL;
}

int main(void) {
        struct reader_job readers[READER_THREADS];
        struct writer_job writer = { 0 };
        pthread_t writer_thread, reader_threads[READER_THREADS];
        const char *env = getenv("WXSHM_STRESS_SECONDS");
        struct reader_stats proc;
        bool ok = true;
        pid_t pid;
        int fd;

        if (env && atoi(env) > 0)
                seconds = (unsigned)atoi(env);
        test_shm_dir();
        test_unlink_at_exit("stress");
        /* The segment exists before anyone reads; the process is forked before any thread. */
        SETUP_OK(wxshm_writer_open(&writer.w, test_shm_dirfd(), "stress", NULL) == 0);
        pid = reader_spawn("stress", seconds + 60, &fd);

        /*
         * Thread 1 reads through the writer's own mapping, so ThreadSanitizer can see any
         * race between them (it knows addresses, not shared objects); thread 2 reads
         * through a mapping of its own, as every real reader does.
         */
        SETUP_OK(reader_attach(&readers[0].h, wxshm_writer_layout(writer.w)) == 0);
        SETUP_OK(wxshm_open(&readers[1].h, "stress") == 0);
        for (int i = 0; i < READER_THREADS; i++)
                SETUP_OK(pthread_create(&reader_threads[i], NULL, reader_main, &readers[i]) == 0);
        SETUP_OK(pthread_create(&writer_thread, NULL, writer_main, &writer) == 0);
        pthread_join(writer_thread, NULL);
        for (int i = 0; i < READER_THREADS; i++) {
                pthread_join(reader_threads[i], NULL);
                wxshm_close(readers[i].h);
        }
        reader_collect(pid, fd, &proc);
        wxshm_writer_close(writer.w);

        printf("writer: %llu tokens of 100-2000 bytes in %u s\n", (unsigned long long)writer.published, seconds);
        CHECK_EQ(writer.error, 0);
        ok &= reader_report("thread, shared", &readers[0].st);
        ok &= reader_report("thread, own map", &readers[1].st);
        ok &= reader_report("process", &proc);
        CHECK(ok);
        /* The run means something only if readers really raced the writer. */
        CHECK(writer.published > 1000);
        for (int i = 0; i < READER_THREADS; i++)
                CHECK(readers[i].st.reads > 1000 && readers[i].st.last_gen > readers[i].st.first_gen);
        CHECK(proc.reads > 1000 && proc.last_gen > proc.first_gen);
        return 0;
}
