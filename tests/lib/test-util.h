/* test-util.h: what every libwxshm test needs: checks, a private segment directory, checksummed tokens. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/*
 * A segment directory no other test or agent uses ("/dev/shm/wxt<pid>", mode 0751, as
 * the agent makes its own), exported as WXSHM_DIR so the reader finds the test's
 * segments, and removed with everything in it at exit.
 */
const char *test_shm_dir(void);

/* An O_PATH descriptor of test_shm_dir(), for wxshm_writer_open and openat. */
int test_shm_dirfd(void);

/* Remove a leftover file of that name now; the whole directory goes at exit anyway. */
void test_unlink_at_exit(const char *name);

/* Wall clock in Unix ms, and a monotonic clock in ns. */
int64_t test_now_ms(void);
uint64_t test_mono_ns(void);

/*
 * A token of length bytes (>= 40, no NUL added) that proves its own integrity: it starts
 * with its generation ("g<generation>."), then characters derived from seed, and ends
 * with 16 hex digits of the FNV-1a hash of all that. test_token_valid() fails for a torn
 * copy (parts of two tokens) and for a token read with another token's generation.
 */
#define TEST_TOKEN_MIN 40
void test_token_make(char *buf, size_t length, uint64_t generation, uint64_t seed);
bool test_token_valid(const char *buf, size_t length, uint64_t generation);

/* A small fast PRNG (xorshift64*); seeded explicitly so failures reproduce. */
uint64_t test_rand(uint64_t *state);

#endif
