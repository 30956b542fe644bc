/* bench-read.c: ./dev bench: the cost of wxshm_read beside a bare copy, and how reads scale over threads. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define TOKEN_LEN 512
#define MAX_RUNS 1000
#define CALLS_PER_RUN 1000000L
#define WALL_NS 500000000L          /* each part-2 measurement: 0.5 s of reading */
#define PUBLISH_PERIOD_NS 1000000L  /* the writer republishes every millisecond */
#define TARGET_COPY_RATIO 2.0       /* read median at most 2x the bare copy */
#define TARGET_SCALING 1.8          /* 2 threads at least 1.8x one */
#define VERDICT(met) ((met) ? "meets target" : "misses target")

struct stats {
        double min, median, p90, max;
};

/* Each thread's figures on their own cache line: false sharing would slow the very thing measured. */
struct reader {
        _Alignas(64) pthread_t tid;
        uint64_t reads, failures, generations;
        int first_error;
        double seconds;
};

static volatile unsigned char sink;             /* what the timed loops produce, so they are kept */
static volatile size_t copy_len = TOKEN_LEN;    /* unknown to the compiler, like a slot's length */
/* Both loops write into one caller's buffer, as a reader does (see bench-util.h for the source). */
static char tokens[2][TOKEN_LEN];
static wxshm *handle;                           /* one handle shared by every reader, as wxshm.h allows */
static _Alignas(64) atomic_bool stop_readers;
static _Alignas(64) atomic_bool stop_writer;
static pthread_barrier_t start_line;
static uint64_t published, publish_failures;
static int read_error;                          /* first unexpected wxshm_read result of part 1 */

static void bench_die(const char *what, int r) {
        fprintf(stderr, "bench-read: cannot run: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_HARD);
}

/* Sorts v in place: callers compute what needs run order (per-run ratios) first. */
static struct stats stats_of(double *v, int n) {
        bench_sort(v, (size_t)n);
        return (struct stats){ .min = v[0], .max = v[n - 1], .p90 = bench_rank(v, (size_t)n, 90),
                               .median = bench_median(v, (size_t)n) };
}

/* ns per bare copy over calls copies; reading a different byte each time keeps every store live. */
static double copy_time(char *buf, long calls) {
        const _Atomic uint64_t *src = bench_floor_source();
        size_t n = copy_len;
        unsigned char acc = 0;
        uint64_t t0 = test_mono_ns();

        for (long i = 0; i < calls; i++) {
                bench_floor_copy(buf, src, n);
                acc ^= (unsigned char)buf[i & (TOKEN_LEN - 1)];
        }
        t0 = test_mono_ns() - t0;
        sink = acc;
        return (double)t0 / (double)calls;
}

/* ns per wxshm_read over calls reads, counting any that did not return the whole token. */
static double read_time(char *buf, long calls, bool with_info, uint64_t *failures) {
        wxshm_info info = { .size = sizeof(info) };
        wxshm_info *ip = with_info ? &info : NULL;
        unsigned char acc = 0;
        uint64_t t0 = test_mono_ns();

        for (long i = 0; i < calls; i++) {
                int r = wxshm_read(handle, buf, WXSHM_TOKEN_MAX + 1, ip);

                if (r != TOKEN_LEN) {
                        (*failures)++;
                        if (!read_error)
                                read_error = r;
                }
                acc ^= (unsigned char)buf[i & (TOKEN_LEN - 1)];
        }
        t0 = test_mono_ns() - t0;
        sink = acc;
        if (memcmp(buf, tokens[0], TOKEN_LEN) != 0)
                (*failures)++;
        return (double)t0 / (double)calls;
}

/* Republish every millisecond, on absolute deadlines so a slow publish does not shift the rest. */
static void *writer_main(void *arg) {
        wxshm_writer *w = arg;
        int64_t expires = test_now_ms() + 7200000;
        uint64_t deadline = test_mono_ns();

        while (!atomic_load_explicit(&stop_writer, memory_order_relaxed)) {
                struct timespec next;

                deadline += PUBLISH_PERIOD_NS;
                next.tv_sec = (time_t)(deadline / 1000000000u);
                next.tv_nsec = (long)(deadline % 1000000000u);
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
                /* Alternate two tokens: every publish is a new generation, as a real refresh is. */
                if (wxshm_writer_publish(w, tokens[++published & 1], TOKEN_LEN, expires, test_now_ms(), NULL) < 0)
                        publish_failures++;
        }
        return NULL;
}

static void *reader_main(void *arg) {
        struct reader *rd = arg;
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        uint64_t reads = 0, failures = 0, generations = 0, last_gen = 0, t0;

        pthread_barrier_wait(&start_line);
        t0 = test_mono_ns();
        while (!atomic_load_explicit(&stop_readers, memory_order_relaxed)) {
                int r = wxshm_read(handle, buf, sizeof(buf), &info);

                reads++;
                if (r != TOKEN_LEN) {
                        if (!failures++)
                                rd->first_error = r;
                        continue;
                }
                generations += info.generation != last_gen;
                last_gen = info.generation;
        }
        rd->seconds = (double)(test_mono_ns() - t0) / 1e9;
        /* The last token read must be one of the two published, byte for byte. */
        failures += memcmp(buf, tokens[0], TOKEN_LEN) != 0 && memcmp(buf, tokens[1], TOKEN_LEN) != 0;
        rd->reads = reads;
        rd->failures = failures;
        rd->generations = generations;
        return NULL;
}

/* Total reads/s of n threads reading for WALL_NS; failures and generations seen are added up. */
static double readers_run(int n, uint64_t *failures, uint64_t *generations, int *first_error) {
        static struct reader rd[2];
        struct timespec wall = { 0, WALL_NS };
        double total = 0;
        int r;

        atomic_store(&stop_readers, false);
        if ((r = pthread_barrier_init(&start_line, NULL, (unsigned)n + 1)) != 0)
                bench_die("pthread_barrier_init", r);
        for (int i = 0; i < n; i++) {
                memset(&rd[i], 0, sizeof(rd[i]));
                if ((r = pthread_create(&rd[i].tid, NULL, reader_main, &rd[i])) != 0)
                        bench_die("pthread_create", r);
        }
        pthread_barrier_wait(&start_line);
        nanosleep(&wall, NULL);
        atomic_store(&stop_readers, true);
        for (int i = 0; i < n; i++) {
                pthread_join(rd[i].tid, NULL);
                total += (double)rd[i].reads / rd[i].seconds;
                *failures += rd[i].failures;
                *generations += rd[i].generations;
                if (!*first_error)
                        *first_error = rd[i].first_error;
        }
        pthread_barrier_destroy(&start_line);
        return total;
}

/* Every figure is a series of one value per run, shown as min, median, p90 and max. */
enum series { COPY_NS, READ_NS, NOINFO_NS, READ_RATIO, ONE_RPS, TWO_RPS, SCALING, N_SERIES };

static const struct {
        const char *label, *json;
        double scale;
} series_info[N_SERIES] = {
        { "bare relaxed copy, 512 B", "copy_ns", 1 },
        { "wxshm_read, with info", "read_ns", 1 },
        { "wxshm_read, info NULL", "read_no_info_ns", 1 },
        { "read/copy (per run)", "read_copy_ratio", 1 },
        { "1 reader thread", "reads_per_s_1_thread", 1e6 },
        { "2 reader threads", "reads_per_s_2_threads", 1e6 },
        { "2/1 (per run)", "scaling_2_over_1", 1 },
};

static void rows_print(const struct stats *st, int first, int last) {
        printf("  %-26s %10s %10s %10s %10s\n", "", "min", "median", "p90", "max");
        for (int k = first; k <= last; k++) {
                double d = series_info[k].scale;

                printf("  %-26s %10.2f %10.2f %10.2f %10.2f\n", series_info[k].label, st[k].min / d,
                       st[k].median / d, st[k].p90 / d, st[k].max / d);
        }
}

static void failures_print(uint64_t n, int first) {
        printf("  failed reads: %llu%s%s\n", (unsigned long long)n, first < 0 ? ", first: " : "",
               first < 0 ? strerror(-first) : "");
}

int main(int argc, char **argv) {
        int runs = 11, r, err = 0;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t fail1 = 0, fail2 = 0, gens = 0;
        static double v[N_SERIES][MAX_RUNS];
        char buf[WXSHM_TOKEN_MAX + 1];
        struct stats st[N_SERIES];
        bool copy_met, scaling_met, bad = false;
        FILE *json = NULL;
        wxshm_writer *w;
        pthread_t writer;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
                        runs = atoi(argv[++i]);
                } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
                        /* Opened now: a bad path should fail before the measuring, not after. */
                        if (!(json = fopen(argv[++i], "w")))
                                bench_die(argv[i], errno);
                } else {
                        bad = true;
                }
        }
        if (bad || runs < 1 || runs > MAX_RUNS) {
                fprintf(stderr, "usage: bench-read [--runs N, 1 to %d] [--json FILE]\n", MAX_RUNS);
                return EXIT_HARD;
        }

        test_token_make(tokens[0], TOKEN_LEN, 1, 1);
        test_token_make(tokens[1], TOKEN_LEN, 2, 2);
        /* What the copy's source holds does not matter; that it is written at run time does. */
        bench_floor_fill(tokens[1], TOKEN_LEN);
        test_unlink_at_exit("bench");
        if ((r = wxshm_writer_open(&w, test_shm_dirfd(), "bench", NULL)) < 0)
                bench_die("wxshm_writer_open", r);
        if ((r = wxshm_writer_publish(w, tokens[0], TOKEN_LEN, test_now_ms() + 7200000, test_now_ms(), NULL)) < 0)
                bench_die("wxshm_writer_publish", r);
        if ((r = wxshm_open(&handle, "bench")) < 0)
                bench_die("wxshm_open", r);

        printf("bench-read: wxshm_read of a %d-byte token, %d runs, %ld online CPUs\n\n", TOKEN_LEN, runs, cpus);
        printf("1. ns per call, %ld calls per run, the three loops interleaved run by run, no writer\n",
               CALLS_PER_RUN);
        /* Unmeasured warm-up: page faults, caches and the CPU's clock settle before run 1. */
        copy_time(buf, CALLS_PER_RUN / 10);
        read_time(buf, CALLS_PER_RUN / 10, true, &fail1);
        for (int i = 0; i < runs; i++) {
                v[COPY_NS][i] = copy_time(buf, CALLS_PER_RUN);
                v[READ_NS][i] = read_time(buf, CALLS_PER_RUN, true, &fail1);
                v[NOINFO_NS][i] = read_time(buf, CALLS_PER_RUN, false, &fail1);
                /* Per-run ratio: noise that slowed both loops of a run cancels out. */
                v[READ_RATIO][i] = v[READ_NS][i] / v[COPY_NS][i];
        }
        for (int k = COPY_NS; k <= READ_RATIO; k++)
                st[k] = stats_of(v[k], runs);
        rows_print(st, COPY_NS, READ_RATIO);
        copy_met = st[READ_RATIO].median <= TARGET_COPY_RATIO;
        printf("  read (with info) / copy: median %.2fx, target at most %.1fx: %s\n", st[READ_RATIO].median,
               TARGET_COPY_RATIO, VERDICT(copy_met));
        failures_print(fail1, read_error);

        printf("\n2. reads/s in millions, %.1f s per measurement, while a writer republishes every 1 ms\n",
               WALL_NS / 1e9);
        printf("  (%ld online CPUs: the writer thread and all else compete with the 2 readers)\n", cpus);
        if ((r = pthread_create(&writer, NULL, writer_main, w)) != 0)
                bench_die("pthread_create", r);
        for (int i = 0; i < runs; i++) {
                v[ONE_RPS][i] = readers_run(1, &fail2, &gens, &err);
                v[TWO_RPS][i] = readers_run(2, &fail2, &gens, &err);
                v[SCALING][i] = v[TWO_RPS][i] / v[ONE_RPS][i];
        }
        atomic_store(&stop_writer, true);
        pthread_join(writer, NULL);
        for (int k = ONE_RPS; k <= SCALING; k++)
                st[k] = stats_of(v[k], runs);
        rows_print(st, ONE_RPS, SCALING);
        scaling_met = st[SCALING].median >= TARGET_SCALING;
        printf("  2 threads / 1 thread: median %.2fx, target at least %.1fx: %s\n", st[SCALING].median,
               TARGET_SCALING, VERDICT(scaling_met));
        failures_print(fail2, err);
        printf("  publishes: %llu, failed: %llu; new generations seen by readers: %llu\n",
               (unsigned long long)published, (unsigned long long)publish_failures, (unsigned long long)gens);

        if (json) {
                fprintf(json, "{\n  \"token_length\": %d,\n  \"runs\": %d,\n  \"online_cpus\": %ld,\n"
                        "  \"calls_per_run\": %ld,\n  \"seconds_per_measurement\": %.3f,\n", TOKEN_LEN, runs,
                        cpus, CALLS_PER_RUN, WALL_NS / 1e9);
                for (int k = 0; k < N_SERIES; k++)
                        fprintf(json, "  \"%s\": {\"min\": %.3f, \"median\": %.3f, "
                                "\"p90\": %.3f, \"max\": %.3f},\n",
                                series_info[k].json, st[k].min, st[k].median, st[k].p90, st[k].max);
                fprintf(json, "  \"read_copy_target_max\": %.2f,\n  \"read_copy_meets_target\": %s,\n"
                        "  \"scaling_target_min\": %.2f,\n  \"scaling_meets_target\": %s,\n"
                        "  \"read_failures\": %llu,\n  \"threaded_read_failures\": %llu,\n"
                        "  \"publishes\": %llu,\n  \"publish_failures\": %llu\n}\n",
                        TARGET_COPY_RATIO, copy_met ? "true" : "false", TARGET_SCALING,
                        scaling_met ? "true" : "false", (unsigned long long)fail1, (unsigned long long)fail2,
                        (unsigned long long)published, (unsigned long long)publish_failures);
                if (fclose(json) != 0)
                        fprintf(stderr, "bench-read: writing the JSON file: %s\n", strerror(errno));
        }
        wxshm_close(handle);
        wxshm_writer_close(w);
        return 0;
}
