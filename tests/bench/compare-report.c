/* compare-report.c: the side-by-side benchmark's table, its JSON file and its gnuplot chart. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench-compare.h"

#define VERDICT(met) ((met) ? "meets target" : "MISSES target")

static double ratio(const struct compare_result *res, enum method m) {
        return res[m].median / res[M_SHM].median;
}

/* The targets: wxshm_read this many times faster (median) than each round trip. */
static const struct {
        enum method m;
        double min;
} targets[] = {
        { M_REDIS, TARGET_REDIS }, { M_REDIS_ACROSS, TARGET_REDIS },
        { M_SOCKET, TARGET_SOCKET }, { M_SOCKET_ACROSS, TARGET_SOCKET },
};
#define N_TARGETS (sizeof(targets) / sizeof(targets[0]))

bool report_table(const struct compare_setup *s, const struct compare_ctx *c, const struct compare_result *res) {
        bool all_met = true;
        uint64_t wrong = 0;

        printf("\n  %-26s %12s %12s %14s %14s\n", "", "median ns", "p99 ns", "x wxshm_read", "reads checked");
        for (int m = 0; m < N_METHODS; m++)
                if (res[m].n_all)
                        printf("  %-26s %12.1f %12.1f %14.1f %14llu%s\n", method_info[m].label, res[m].median,
                               res[m].p99, ratio(res, m), (unsigned long long)c->reads[m],
                               c->wrong[m] ? "  WRONG READS" : "");
                else
                        printf("  %-26s %12s  (one CPU only)\n", method_info[m].label, "not measured");
        printf("\n  how each was timed (%d repetitions, every method once in each, in this order):\n", s->runs);
        for (int m = 0; m < N_METHODS; m++) {
                const struct method_info *mi = &method_info[m];

                printf("  - %s: %s;\n    ", mi->label, mi->how);
                if (mi->batch > 1)
                        printf("%u timestamp pairs of %u reads each per repetition: a sample is a batch's mean, "
                               "so p99 is the p99 of batch means\n", mi->samples, mi->batch);
                else
                        printf("%u reads per repetition, each timed on its own\n", mi->samples);
        }
        printf("  the reader runs pinned to CPU %d; \"other CPU\": the agent and redis-server pinned to CPU %d\n",
               s->cpu[0], s->cpu[1]);
        printf("  clock_gettime(CLOCK_MONOTONIC): %.1f ns a call; token file on %s; redis-server %s; "
               "%ld online CPUs\n", s->clock_ns, s->file_fs, s->redis_version, s->cpus);
        for (int m = 0; m < N_METHODS; m++)
                wrong += c->wrong[m];
        printf("  every read was compared with the published token: %s\n", wrong ? "SOME WERE WRONG" : "all matched");
        for (int m = 0; m < N_METHODS; m++)
                if (c->wrong[m])
                        printf("  %llu wrong %s reads, the first: %s\n", (unsigned long long)c->wrong[m],
                               method_info[m].label, c->first_wrong[m]);
        printf("\n");
        for (size_t t = 0; t < N_TARGETS; t++) {
                enum method m = targets[t].m;
                bool met = ratio(res, m) >= targets[t].min;

                if (!res[m].n_all)
                        continue;
                printf("  wxshm_read vs %-22s %6.0fx faster (median), target at least %4.0fx: %s\n",
                       method_info[m].label, ratio(res, m), targets[t].min, VERDICT(met));
                all_met = all_met && met;
        }
        return all_met;
}

bool report_json(const char *path, const struct compare_setup *s, const struct compare_ctx *c,
                 const struct compare_result *res) {
        cJSON *root = cJSON_CreateObject(), *methods, *verdicts;
        char *text;
        FILE *f;
        bool ok;

        cJSON_AddNumberToObject(root, "token_length", (double)c->length);
        cJSON_AddNumberToObject(root, "repetitions", s->runs);
        cJSON_AddNumberToObject(root, "online_cpus", (double)s->cpus);
        cJSON_AddNumberToObject(root, "clock_ns", s->clock_ns);
        cJSON_AddStringToObject(root, "token_file_fs", s->file_fs);
        cJSON_AddStringToObject(root, "redis_version", s->redis_version);
        cJSON_AddNumberToObject(root, "reader_cpu", s->cpu[0]);
        cJSON_AddNumberToObject(root, "other_cpu", s->cpu[1]);
        methods = cJSON_AddObjectToObject(root, "methods");
        verdicts = cJSON_AddObjectToObject(root, "targets");
        for (int m = 0; m < N_METHODS; m++) {
                cJSON *o = cJSON_AddObjectToObject(methods, method_info[m].json);

                if (!res[m].n_all) {
                        cJSON_AddFalseToObject(o, "measured");
                        continue;
                }
                cJSON_AddStringToObject(o, "label", method_info[m].label);
                cJSON_AddStringToObject(o, "how", method_info[m].how);
                cJSON_AddNumberToObject(o, "reads_per_sample", method_info[m].batch);
                cJSON_AddNumberToObject(o, "samples", (double)res[m].n_all);
                cJSON_AddNumberToObject(o, "median_ns", res[m].median);
                cJSON_AddNumberToObject(o, "p99_ns", res[m].p99);
                cJSON_AddNumberToObject(o, "ratio_to_wxshm_read", ratio(res, m));
                cJSON_AddItemToObject(o, "repetition_medians_ns", cJSON_CreateDoubleArray(res[m].run_median, s->runs));
                cJSON_AddNumberToObject(o, "reads_checked", (double)c->reads[m]);
                cJSON_AddNumberToObject(o, "wrong_reads", (double)c->wrong[m]);
        }
        for (size_t t = 0; t < N_TARGETS; t++) {
                enum method m = targets[t].m;
                cJSON *o;

                if (!res[m].n_all)
                        continue;
                o = cJSON_AddObjectToObject(verdicts, method_info[m].json);
                cJSON_AddNumberToObject(o, "ratio_min", targets[t].min);
                cJSON_AddNumberToObject(o, "ratio", ratio(res, m));
                cJSON_AddBoolToObject(o, "met", ratio(res, m) >= targets[t].min);
        }
        text = cJSON_Print(root);
        f = text ? fopen(path, "we") : NULL;
        ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        if (f && fclose(f) != 0)
                ok = false;
        if (!ok)
                fprintf(stderr, "bench-compare: writing %s: %s\n", path, strerror(errno));
        free(text);
        cJSON_Delete(root);
        return ok;
}

/*
 * Median and p99 bars per method on a log scale (they are five orders of magnitude
 * apart), the ratio to wxshm_read under each name, the two targets as dashed lines.
 */
static const char plot_script[] =
        "set terminal pngcairo noenhanced size 1200,620 font 'sans,11'\n"
        "set output '%s'\n"
        "set title 'Reading a 512-byte access token, ns per read (log scale): one run, one machine, %ld CPUs'\n"
        "set logscale y\n"
        "set yrange [1:%g]\n"
        "set ylabel 'ns per read'\n"
        "set grid ytics\n"
        "set style data histograms\n"
        "set style histogram clustered gap 1\n"
        "set style fill solid 0.85 border -1\n"
        "set boxwidth 0.9\n"
        "set key top left\n"
        "set xtics nomirror\n"
        "set bmargin 6\n"
        "set arrow from graph 0, first %g to graph 1, first %g nohead dashtype 2 lc rgb '#a02020'\n"
        "set label 'target for Redis GET: 1000x wxshm_read' at graph 0.01, first %g offset 0,0.6 tc rgb '#a02020'\n"
        "set arrow from graph 0, first %g to graph 1, first %g nohead dashtype 2 lc rgb '#208020'\n"
        "set label 'target for socket get: 100x wxshm_read' at graph 0.01, first %g offset 0,0.6 tc rgb '#208020'\n"
        "set label 'under each name: its median / wxshm_read median. floor and wxshm_read: timed in batches "
        "of %u reads, their p99 is over batch means' "
        "at screen 0.01, screen 0.025 font ',9'\n"
        "plot '%s' using 3:xtic(stringcolumn(1).\"\\n\".stringcolumn(2).\"\\n\".stringcolumn(5)) "
        "title 'median' lc rgb '#3b6ea8', \\\n"
        "     '' using 4 title 'p99' lc rgb '#e39c3c', \\\n"
        "     '' using ($0 - 0.17):($3 * 1.35):(sprintf('%%.0f', $3)) with labels notitle, \\\n"
        "     '' using ($0 + 0.17):($4 * 1.35):(sprintf('%%.0f', $4)) with labels notitle\n";

bool report_plot(const char *path, const char *scratch_dir, const struct compare_setup *s,
                 const struct compare_result *res) {
        char data[256], script[256];
        double top = 1, redis_line = res[M_SHM].median * TARGET_REDIS, socket_line = res[M_SHM].median * TARGET_SOCKET;
        FILE *f;
        pid_t pid;
        int status;

        snprintf(data, sizeof(data), "%s/bench-compare.dat", scratch_dir);
        snprintf(script, sizeof(script), "%s/bench-compare.gp", scratch_dir);
        if (!(f = fopen(data, "we")))
                goto fail;
        for (int m = 0; m < N_METHODS; m++) {
                if (!res[m].n_all)
                        continue;
                const char *label = method_info[m].label;
                /* Long labels on two lines: "socket get" over "same CPU", "bare relaxed copy" over "(floor)". */
                size_t cut = strcspn(label, ",(");

                fprintf(f, "\"%.*s\" \"%s\" %.3f %.3f \"%.*fx\"\n", (int)cut, label,
                        label[cut] == ',' ? label + cut + 2 : label + cut, res[m].median, res[m].p99,
                        ratio(res, m) < 10 ? 1 : 0, ratio(res, m));
                if (res[m].p99 > top)
                        top = res[m].p99;
                if (redis_line > top)
                        top = redis_line;
        }
        if (fclose(f) != 0 || !(f = fopen(script, "we")))
                goto fail;
        /* Room above the tallest bar for its labels. */
        fprintf(f, plot_script, path, s->cpus, top * 10, redis_line, redis_line, redis_line, socket_line, socket_line,
                socket_line, method_info[M_SHM].batch, data);
        if (fclose(f) != 0)
                goto fail;
        if ((pid = fork()) < 0)
                goto fail;
        if (pid == 0) {
                execlp("gnuplot", "gnuplot", script, (char *)NULL);
                fprintf(stderr, "bench-compare: gnuplot: %s\n", strerror(errno));
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench-compare: gnuplot failed; no plot\n");
                return false;
        }
        return true;
fail:
        fprintf(stderr, "bench-compare: plotting: %s\n", strerror(errno));
        return false;
}
