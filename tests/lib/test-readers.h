/* test-readers.h: a reader that checks every token it reads, for the stress and death tests. */
#ifndef TEST_READERS_H
#define TEST_READERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wxshm.h"

struct reader_stats {
        uint64_t reads;         /* successful reads */
        uint64_t torn;          /* tokens that failed their checksum or generation check */
        uint64_t failed;        /* reads that returned an error after the first token */
        uint64_t backwards;     /* generations lower than one seen before */
        uint64_t first_gen, last_gen;
        int last_error;         /* the last negative errno, 0 if none */
};

/*
 * Read h in a loop and check each token (see test_token_valid) until *stop is set
 * (stop may be NULL), the segment's state turns WXSHM_STATE_STOPPED, or max_seconds pass.
 * -ENODATA before the first token is not a failure; every error after it is.
 */
void reader_loop(wxshm *h, const atomic_bool *stop, unsigned max_seconds, struct reader_stats *st);

/* reader_loop over its own wxshm_open(app) in a forked process; reader_collect() waits for it and fetches its stats. */
pid_t reader_spawn(const char *app, unsigned max_seconds, int *stats_fd);
void reader_collect(pid_t pid, int stats_fd, struct reader_stats *st);

/* Print one line for who; true if the stats show no torn, failed or backward read. */
bool reader_report(const char *who, const struct reader_stats *st);

#endif
