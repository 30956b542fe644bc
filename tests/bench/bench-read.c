/* bench-read.c: ./dev bench: wxshm_read against its floor at four token lengths, in ns and instructions, and over threads. */
#include <dlfcn.h>
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

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif

#define TOKEN_LEN 157               /* WeChat's access tokens: wxemu's --token-length default */
#define MAX_RUNS 1000
#define CALLS_PER_RUN 200000L
#define CG_CALLS 10000L             /* calls per callgrind figure: the loop's own cost is amortised */
#define WALL_NS 500000000L          /* each part-3 measurement: 0.5 s of reading */
#define PUBLISH_PERIOD_NS 1000000L  /* the writer republishes every millisecond */
#define TARGET_SCALING 1.8          /* 2 threads at least 1.8x one */
#define VERDICT(met) ((met) ? "meets target" : "misses target")

/* The lengths of part 1, and issue 18's targets for read/floor (0: none). */
static const struct {
        size_t len;
        double target_null, target_info;
} lengths[] = {
        { 64, 0, 0 },
        { 157, 2.0, 2.3 },
        { 512, 1.3, 1.3 },
        { 2048, 0, 0 },
};
#define N_LENGTHS (sizeof(lengths) / sizeof(lengths[0]))

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

static volatile size_t copy_len;                /* unknown to the compiler, like a slot's length */
static char tokens[2][WXSHM_TOKEN_MAX];
static wxshm *handle;                           /* one handle shared by every reader, as wxshm.h allows */
static wxshm_writer *writer_handle;
static uint64_t generation;                     /* of the token published last */
static _Alignas(64) atomic_bool stop_readers;
static _Alignas(64) atomic_bool stop_writer;
static pthread_barrier_t start_line;
static uint64_t published, publish_failures;
static int read_error;                          /* first unexpected wxshm_read result of part 1 */
static volatile int64_t clock_sink;
/*
 * The reader API the bench calls: the copy linked into this program, or with --lib the
 * public libwxshm.so, as applications get it: a call through a pointer costs what their
 * call through the PLT does, and the library's code is what its build made of it.
 */
static int (*rd_open)(wxshm **, const char *) = wxshm_open;
static int (*rd_read)(wxshm *, char *, size_t, wxshm_info *) = wxshm_read;
static void (*rd_close)(wxshm *) = wxshm_close;
static const char *rd_from = "linked into bench-read";
/*
 * Where the floors and the reads of part 1 and of callgrind copy to: one page-aligned buffer,
 * so that every loop stores to the same addresses at the same page offsets (the sources are
 * both at the token's offset, 256) and a stack frame's placement plays no part.
 */
static _Alignas(4096) char dest[WXSHM_TOKEN_MAX + 1];

static void bench_die(const char *what, int r) {
        fprintf(stderr, "bench-read: cannot run: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_SETUP);
}

/* Call the reader API of the shared library at path instead of the linked one. */
static void lib_load(const char *path) {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);

        if (!lib) {
                fprintf(stderr, "bench-read: cannot run: %s\n", dlerror());
                exit(EXIT_SETUP);
        }
        if (!(rd_open = (int (*)(wxshm **, const char *))dlsym(lib, "wxshm_open")) ||
            !(rd_read = (int (*)(wxshm *, char *, size_t, wxshm_info *))dlsym(lib, "wxshm_read")) ||
            !(rd_close = (void (*)(wxshm *))dlsym(lib, "wxshm_close"))) {
                fprintf(stderr, "bench-read: cannot run: %s has no reader API\n", path);
                exit(EXIT_SETUP);
        }
        rd_from = path;
}

/* Sorts v in place: callers compute what needs run order (per-run ratios) first. */
static struct stats stats_of(double *v, int n) {
        bench_sort(v, (size_t)n);
        return (struct stats){ .min = v[0], .max = v[n - 1], .p90 = bench_rank(v, (size_t)n, 90),
                               .median = bench_median(v, (size_t)n) };
}

/* Publish a token of len bytes (a new generation) and put the same bytes in the floor's source. */
static void token_publish(size_t len) {
        int r;

        generation++;
        test_token_make(tokens[0], len, generation, generation);
        r = wxshm_writer_publish(writer_handle, tokens[0], len, test_now_ms() + 7200000, test_now_ms(), NULL);
        if (r < 0)
                bench_die("wxshm_writer_publish", r);
        bench_floor_fill(tokens[0], len);
        copy_len = len;
}

/* ns per floor copy (bench-util.h's pinned floor, or with four its unrolled twin, inlined here) over calls copies. */
static double floor_time(char *buf, long calls, bool four) {
        const _Atomic uint64_t *src = bench_floor_source();
        size_t n = copy_len;
        uint64_t t0 = test_mono_ns();

        if (four) {
                for (long i = 0; i < calls; i++)
                        bench_floor4_inline(buf, src, n);
        } else {
                for (long i = 0; i < calls; i++)
                        bench_floor_inline(buf, src, n);
        }
        return (double)(test_mono_ns() - t0) / (double)calls;
}

/* ns per wxshm_read over calls reads, counting any that did not return the whole token. */
static double read_time(char *buf, long calls, bool with_info, uint64_t *failures) {
        wxshm_info info = { .size = sizeof(info) };
        wxshm_info *ip = with_info ? &info : NULL;
        size_t n = copy_len;
        uint64_t bad = 0, t0 = test_mono_ns();

        for (long i = 0; i < calls; i++) {
                int r = rd_read(handle, buf, WXSHM_TOKEN_MAX + 1, ip);

                if ((size_t)r != n) {
                        bad++;
                        if (!read_error)
                                read_error = r;
                }
        }
        t0 = test_mono_ns() - t0;
        bad += memcmp(buf, tokens[0], n) != 0 || buf[n] != '\0' || (with_info && info.generation != generation);
        *failures += bad;
        return (double)t0 / (double)calls;
}

/* ns per call of the wall-clock reads a reader may make (timed apart: under valgrind they are system calls). */
static double clock_time(clockid_t id, long calls) {
        struct timespec ts;
        int64_t acc = 0;
        uint64_t t0 = test_mono_ns();

        for (long i = 0; i < calls; i++) {
                if (id == (clockid_t)-1) {
                        acc += time(NULL);
                } else {
                        clock_gettime(id, &ts);
                        acc += ts.tv_nsec;
                }
        }
        t0 = test_mono_ns() - t0;
        clock_sink = acc;
        return (double)t0 / (double)calls;
}

#ifdef HAVE_CALLGRIND
/*
 * Under callgrind (./dev bench runs it so): one dump per figure, CG_CALLS calls each, so
 * that the dump's total divided by CG_CALLS is instructions per call, loop included (the
 * "loop only" dump says how much that is). Under valgrind the vDSO clock is a system call,
 * which callgrind counts as one instruction: the clock is part 2's timing, not this.
 */
static void callgrind_counts(char *buf) {
        wxshm_info info = { .size = sizeof(info) };
        const _Atomic uint64_t *src = bench_floor_source();
        volatile long sinkl = 0;
        char label[64];

        CALLGRIND_ZERO_STATS;
        for (long i = 0; i < CG_CALLS; i++)
                sinkl = i;
        CALLGRIND_DUMP_STATS_AT("loop only");
        for (size_t k = 0; k < N_LENGTHS; k++) {
                size_t n = lengths[k].len;

                token_publish(n);
                snprintf(label, sizeof(label), "floor %zu", n);
                CALLGRIND_ZERO_STATS;
                for (long i = 0; i < CG_CALLS; i++)
                        bench_floor_inline(buf, src, copy_len);
                CALLGRIND_DUMP_STATS_AT(label);
                snprintf(label, sizeof(label), "floor4 %zu", n);
                CALLGRIND_ZERO_STATS;
                for (long i = 0; i < CG_CALLS; i++)
                        bench_floor4_inline(buf, src, copy_len);
                CALLGRIND_DUMP_STATS_AT(label);
                snprintf(label, sizeof(label), "read-null %zu", n);
                CALLGRIND_ZERO_STATS;
                for (long i = 0; i < CG_CALLS; i++)
                        sinkl = rd_read(handle, buf, WXSHM_TOKEN_MAX + 1, NULL);
                CALLGRIND_DUMP_STATS_AT(label);
                snprintf(label, sizeof(label), "read-info %zu", n);
                CALLGRIND_ZERO_STATS;
                for (long i = 0; i < CG_CALLS; i++)
                        sinkl = rd_read(handle, buf, WXSHM_TOKEN_MAX + 1, &info);
                CALLGRIND_DUMP_STATS_AT(label);
                if ((size_t)sinkl != n || memcmp(buf, tokens[0], n) != 0)
                        bench_die("wxshm_read under callgrind", sinkl < 0 ? (int)sinkl : EPROTO);
        }
        printf("bench-read: %ld calls per callgrind dump (labels: loop only, floor N, floor4 N, read-null N, read-info N)\n",
               CG_CALLS);
}
#endif

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
                int r = rd_read(handle, buf, sizeof(buf), &info);

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

/* Part 1's series per length: the floor, the two reads and their per-run ratios to the floor. */
enum { L_FLOOR, L_NULL, L_INFO, L_NULL_RATIO, L_INFO_RATIO, L_FLOOR4, L_NULL_RATIO4, N_LSERIES };
static const char *const lseries_json[N_LSERIES] = { "floor_ns", "read_no_info_ns", "read_ns",
                                                      "read_no_info_floor_ratio", "read_floor_ratio",
                                                      "floor4_ns", "read_no_info_floor4_ratio" };
/* The other series: the clock reads, and reads/s with a writer. */
enum series { CLOCK_COARSE_NS, CLOCK_TIME_NS, ONE_RPS, TWO_RPS, SCALING, N_SERIES };

static const struct {
        const char *label, *json;
        double scale;
} series_info[N_SERIES] = {
        { "clock_gettime(REALTIME_COARSE)", "clock_coarse_ns", 1 },
        { "time(NULL)", "clock_time_ns", 1 },
        { "1 reader thread", "reads_per_s_1_thread", 1e6 },
        { "2 reader threads", "reads_per_s_2_threads", 1e6 },
        { "2/1 (per run)", "scaling_2_over_1", 1 },
};

static void rows_print(const struct stats *st, int first, int last) {
        printf("  %-32s %10s %10s %10s %10s\n", "", "min", "median", "p90", "max");
        for (int k = first; k <= last; k++) {
                double d = series_info[k].scale;

                printf("  %-32s %10.2f %10.2f %10.2f %10.2f\n", series_info[k].label, st[k].min / d,
                       st[k].median / d, st[k].p90 / d, st[k].max / d);
        }
}

static void failures_print(uint64_t n, int first) {
        printf("  failed reads: %llu%s%s\n", (unsigned long long)n, first < 0 ? ", first: " : "",
               first < 0 ? strerror(-first) : "");
}

static const char *target_verdict(double ratio, double target) {
        if (target == 0)
                return "";
        return ratio <= target ? " ok" : " MISS";
}

int main(int argc, char **argv) {
        int runs = 21, r, err = 0;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t fail1 = 0, fail2 = 0, gens = 0;
        static double lv[N_LENGTHS][N_LSERIES][MAX_RUNS];
        static double v[N_SERIES][MAX_RUNS];
        char *buf = dest;
        struct stats lst[N_LENGTHS][N_LSERIES], st[N_SERIES];
        bool scaling_met, targets_met = true, bad = false, callgrind = false;
        FILE *json = NULL;
        pthread_t writer;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
                        runs = atoi(argv[++i]);
                } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
                        /* Opened now: a bad path should fail before the measuring, not after. */
                        if (!(json = fopen(argv[++i], "w")))
                                bench_die(argv[i], errno);
                } else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc) {
                        lib_load(argv[++i]);
                } else if (strcmp(argv[i], "--callgrind") == 0) {
                        callgrind = true;
                } else {
                        bad = true;
                }
        }
        if (bad || runs < 1 || runs > MAX_RUNS) {
                fprintf(stderr, "usage: bench-read [--runs N, 1 to %d] [--json FILE] [--lib libwxshm.so] [--callgrind]\n", MAX_RUNS);
                return EXIT_SETUP;
        }

        test_unlink_at_exit("bench");
        if ((r = wxshm_writer_open(&writer_handle, test_shm_dirfd(), "bench", NULL)) < 0)
                bench_die("wxshm_writer_open", r);
        token_publish(TOKEN_LEN);
        if ((r = rd_open(&handle, "bench")) < 0)
                bench_die("wxshm_open", r);

        if (callgrind) {
#ifdef HAVE_CALLGRIND
                callgrind_counts(buf);
                rd_close(handle);
                wxshm_writer_close(writer_handle);
                return 0;
#else
                fprintf(stderr, "bench-read: built without <valgrind/callgrind.h>\n");
                return 77;
#endif
        }

        printf("bench-read: wxshm_read against the floor, %d runs, %ld online CPUs\n", runs, cpus);
        printf("  wxshm_read: %s\n\n", rd_from);
        printf("1. ns per call, %ld calls per run, the four loops interleaved run by run, no writer.\n"
               "   floor: relaxed 8-byte loads of (length + 7) / 8 words, inlined, then a compiler barrier;\n"
               "   ratios are medians of per-run ratios (noise that slowed a whole run cancels out)\n",
               CALLS_PER_RUN);
        printf("  %6s %9s %11s %11s %12s %12s %9s %11s\n", "bytes", "floor", "read NULL", "read info", "NULL/floor",
               "info/floor", "floor x4", "NULL/x4");
        for (size_t k = 0; k < N_LENGTHS; k++) {
                token_publish(lengths[k].len);
                /* Unmeasured warm-up: page faults, caches and the CPU's clock settle before run 1. */
                floor_time(buf, CALLS_PER_RUN / 10, false);
                read_time(buf, CALLS_PER_RUN / 10, true, &fail1);
                for (int i = 0; i < runs; i++) {
                        lv[k][L_FLOOR][i] = floor_time(buf, CALLS_PER_RUN, false);
                        lv[k][L_FLOOR4][i] = floor_time(buf, CALLS_PER_RUN, true);
                        lv[k][L_NULL][i] = read_time(buf, CALLS_PER_RUN, false, &fail1);
                        lv[k][L_INFO][i] = read_time(buf, CALLS_PER_RUN, true, &fail1);
                        lv[k][L_NULL_RATIO][i] = lv[k][L_NULL][i] / lv[k][L_FLOOR][i];
                        lv[k][L_INFO_RATIO][i] = lv[k][L_INFO][i] / lv[k][L_FLOOR][i];
                        lv[k][L_NULL_RATIO4][i] = lv[k][L_NULL][i] / lv[k][L_FLOOR4][i];
                }
                for (int j = 0; j < N_LSERIES; j++)
                        lst[k][j] = stats_of(lv[k][j], runs);
                if (lengths[k].target_null != 0)
                        targets_met = targets_met && lst[k][L_NULL_RATIO].median <= lengths[k].target_null &&
                                      lst[k][L_INFO_RATIO].median <= lengths[k].target_info;
                printf("  %6zu %9.2f %11.2f %11.2f %9.2fx%-3s %9.2fx%-3s %9.2f %10.2fx\n", lengths[k].len,
                       lst[k][L_FLOOR].median, lst[k][L_NULL].median, lst[k][L_INFO].median,
                       lst[k][L_NULL_RATIO].median,
                       target_verdict(lst[k][L_NULL_RATIO].median, lengths[k].target_null),
                       lst[k][L_INFO_RATIO].median,
                       target_verdict(lst[k][L_INFO_RATIO].median, lengths[k].target_info),
                       lst[k][L_FLOOR4].median, lst[k][L_NULL_RATIO4].median);
        }
        printf("  targets (issue 18): 157 B NULL <= 2.0x, info <= 2.3x; 512 B <= 1.3x: %s\n"
               "  (floor x4: the floor's loop four words to a turn, as the read's copy; no target)\n",
               targets_met ? "met" : "missed");
        failures_print(fail1, read_error);

        printf("\n2. ns per wall-clock read, the reader's expiry check (median of %d runs)\n", runs);
        for (int i = 0; i < runs; i++) {
                v[CLOCK_COARSE_NS][i] = clock_time(CLOCK_REALTIME_COARSE, CALLS_PER_RUN);
                v[CLOCK_TIME_NS][i] = clock_time((clockid_t)-1, CALLS_PER_RUN);
        }
        for (int k = CLOCK_COARSE_NS; k <= CLOCK_TIME_NS; k++)
                st[k] = stats_of(v[k], runs);
        rows_print(st, CLOCK_COARSE_NS, CLOCK_TIME_NS);

        printf("\n3. reads/s in millions of a %d-byte token, %.1f s per measurement, while a writer republishes"
               " every 1 ms\n", TOKEN_LEN, WALL_NS / 1e9);
        printf("  (%ld online CPUs: the writer thread and all else compete with the 2 readers)\n", cpus);
        /* The writer alternates these two; the first is published before any reader starts. */
        test_token_make(tokens[0], TOKEN_LEN, 1, 1);
        test_token_make(tokens[1], TOKEN_LEN, 2, 2);
        if ((r = wxshm_writer_publish(writer_handle, tokens[0], TOKEN_LEN, test_now_ms() + 7200000, test_now_ms(),
                                      NULL)) < 0)
                bench_die("wxshm_writer_publish", r);
        if ((r = pthread_create(&writer, NULL, writer_main, writer_handle)) != 0)
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
                fprintf(json, "{\n  \"runs\": %d,\n  \"online_cpus\": %ld,\n  \"calls_per_run\": %ld,\n"
                        "  \"lengths\": [\n", runs, cpus, CALLS_PER_RUN);
                for (size_t k = 0; k < N_LENGTHS; k++) {
                        fprintf(json, "    {\"token_length\": %zu", lengths[k].len);
                        for (int j = 0; j < N_LSERIES; j++)
                                fprintf(json, ", \"%s\": {\"min\": %.3f, \"median\": %.3f, \"p90\": %.3f, "
                                        "\"max\": %.3f}", lseries_json[j], lst[k][j].min, lst[k][j].median,
                                        lst[k][j].p90, lst[k][j].max);
                        fprintf(json, "}%s\n", k + 1 < N_LENGTHS ? "," : "");
                }
                fprintf(json, "  ],\n  \"threaded_token_length\": %d,\n  \"seconds_per_measurement\": %.3f,\n",
                        TOKEN_LEN, WALL_NS / 1e9);
                for (int k = 0; k < N_SERIES; k++)
                        fprintf(json, "  \"%s\": {\"min\": %.3f, \"median\": %.3f, "
                                "\"p90\": %.3f, \"max\": %.3f},\n",
                                series_info[k].json, st[k].min, st[k].median, st[k].p90, st[k].max);
                fprintf(json, "  \"read_floor_targets_met\": %s,\n"
                        "  \"scaling_target_min\": %.2f,\n  \"scaling_meets_target\": %s,\n"
                        "  \"read_failures\": %llu,\n  \"threaded_read_failures\": %llu,\n"
                        "  \"publishes\": %llu,\n  \"publish_failures\": %llu\n}\n",
                        targets_met ? "true" : "false", TARGET_SCALING,
                        scaling_met ? "true" : "false", (unsigned long long)fail1, (unsigned long long)fail2,
                        (unsigned long long)published, (unsigned long long)publish_failures);
                if (fclose(json) != 0)
                        fprintf(stderr, "bench-read: writing the JSON file: %s\n", strerror(errno));
        }
        rd_close(handle);
        wxshm_writer_close(writer_handle);
        return 0;
}
