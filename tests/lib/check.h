/* check.h: the one way every test states what must hold: CHECK goes on, REQUIRE stops, SETUP_OK blames the test. */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdbool.h>

/* What automake's harness reads from a test's exit code: 0 pass, 77 skip, 99 the test itself
 * could not run (a hard error), anything else a failure of the code under test. */
#define EXIT_SKIP 77
#define EXIT_SETUP 99

/*
 * Each macro prints "file:line: <what>: <condition>: <message>" when cond is false. The message
 * (a printf format and its arguments, a literal format) may be left out; %m in it is errno as
 * it was at the failure.
 *
 * CHECK(cond[, fmt, ...])     the code under test failed: counted, and the test goes on, so one
 *                             run shows every failure.
 * CHECK_EQ(a, b)              CHECK for two integers, printing both values.
 * REQUIRE(cond[, fmt, ...])   a failure after which the rest of the test means nothing (a NULL
 *                             it would use, a reply it would parse): counted, then exit 1.
 * REQUIRE_EQ(a, b)            REQUIRE for two integers, printing both values.
 * SETUP_OK(cond[, fmt, ...])  the test's own machinery failed (mkdtemp, fork, a helper
 *                             program), not the code under test: exit 99.
 *
 * A process that counted a failure exits 1 however it ends (returning 0 from main, exit(0) in
 * a forked child), so no test can pass with a failure. A child of fork() starts at no failures.
 */
#define CHECK(cond, ...)                                                                     \
        do {                                                                                 \
                if (!(cond))                                                                 \
                        check_failed(__FILE__, __LINE__, #cond, " " __VA_ARGS__);            \
        } while (0)

#define CHECK_EQ(a, b)                                                                       \
        do {                                                                                 \
                long long a_ = (long long)(a), b_ = (long long)(b);                          \
                if (a_ != b_)                                                                \
                        check_failed(__FILE__, __LINE__, #a " == " #b, " %lld != %lld", a_, b_); \
        } while (0)

#define REQUIRE(cond, ...)                                                                   \
        do {                                                                                 \
                if (!(cond))                                                                 \
                        check_required(__FILE__, __LINE__, #cond, " " __VA_ARGS__);          \
        } while (0)

#define REQUIRE_EQ(a, b)                                                                     \
        do {                                                                                 \
                long long a_ = (long long)(a), b_ = (long long)(b);                          \
                if (a_ != b_)                                                                \
                        check_required(__FILE__, __LINE__, #a " == " #b, " %lld != %lld", a_, b_); \
        } while (0)

#define SETUP_OK(cond, ...)                                                                  \
        do {                                                                                 \
                if (!(cond))                                                                 \
                        check_setup_failed(__FILE__, __LINE__, #cond, " " __VA_ARGS__);      \
        } while (0)

void check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void check_required(const char *file, int line, const char *cond, const char *fmt, ...)
        __attribute__((format(printf, 4, 5), noreturn));
void check_setup_failed(const char *file, int line, const char *cond, const char *fmt, ...)
        __attribute__((format(printf, 4, 5), noreturn));

/* How many checks failed so far in this process. */
int check_failures(void);

/* The exit code the failures so far call for: 0 or 1. */
int check_exit_code(void);

/*
 * Run fn (once, latest first) before REQUIRE or SETUP_OK ends this process: the harnesses kill
 * their agents and emulators and remove their directories. Not run in forked children.
 */
void check_on_stop(void (*fn)(void));

#endif
