/* check.c: counting and printing check failures, and the exit code they call for (check.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* A failing loop can fail thousands of times; past this many, failures are only counted. */
#define PRINT_MAX 100
#define STOP_MAX 8

static int failures;
static bool setup_failing;
static pid_t stop_owner;
static void (*stop_fns[STOP_MAX])(void);
static int n_stop_fns;

static void report(const char *file, int line, const char *what, const char *cond, const char *fmt, va_list ap) {
        int saved = errno;
        /* SETUP_OK(false, ...) follows a test of its own: then the message says it all. */
        bool quiet = !strcmp(cond, "false") && fmt[1] != '\0';

        fprintf(stderr, "%s:%d: %s%s%s", file, line, what, quiet ? "" : ": ", quiet ? "" : cond);
        /* fmt is " " and the caller's format: a lone " " means no message was given. */
        if (fmt[1] != '\0') {
                fputc(':', stderr);
                errno = saved; /* for %m */
                vfprintf(stderr, fmt, ap);
        }
        fputc('\n', stderr);
}

static void run_stop_fns(void) {
        if (getpid() != stop_owner)
                return;
        while (n_stop_fns > 0)
                stop_fns[--n_stop_fns]();
}

void check_failed(const char *file, int line, const char *cond, const char *fmt, ...) {
        va_list ap;

        int n = __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED); /* tests check from threads too */

        if (n > PRINT_MAX)
                return;
        va_start(ap, fmt);
        report(file, line, "check failed", cond, fmt, ap);
        va_end(ap);
        if (n == PRINT_MAX)
                fprintf(stderr, "(further failures are counted, not printed)\n");
}

void check_required(const char *file, int line, const char *cond, const char *fmt, ...) {
        va_list ap;

        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        va_start(ap, fmt);
        report(file, line, "required, the test stops", cond, fmt, ap);
        va_end(ap);
        run_stop_fns();
        exit(EXIT_FAILURE);
}

void check_setup_failed(const char *file, int line, const char *cond, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        report(file, line, "cannot run", cond, fmt, ap);
        va_end(ap);
        setup_failing = true;
        run_stop_fns();
        exit(EXIT_SETUP);
}

int check_failures(void) {
        return __atomic_load_n(&failures, __ATOMIC_RELAXED);
}

int check_exit_code(void) {
        return check_failures() > 0 ? EXIT_FAILURE : 0;
}

void check_on_stop(void (*fn)(void)) {
        if (stop_owner != getpid()) {
                stop_owner = getpid();
                n_stop_fns = 0;
        }
        for (int i = 0; i < n_stop_fns; i++)
                if (stop_fns[i] == fn)
                        return;
        if (n_stop_fns < STOP_MAX)
                stop_fns[n_stop_fns++] = fn;
}

/*
 * Registered before main, so it runs after every other exit handler (the test's cleanup):
 * whatever code the process exits with, failures make it 1. A setup failure keeps its 99.
 */
static void verdict(void) {
        if (check_failures() == 0 || setup_failing)
                return;
        fprintf(stderr, "%d check(s) failed\n", check_failures());
        fflush(NULL);
        _exit(EXIT_FAILURE);
}

/* A forked child's failures are its own: it reports them by its exit code to its parent. */
static void child_starts_clean(void) {
        failures = 0;
        setup_failing = false;
}

static void __attribute__((constructor)) check_init(void) {
        atexit(verdict);
        pthread_atfork(NULL, NULL, child_starts_clean);
}
