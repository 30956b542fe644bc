/* rotation-workers.h: processes that read tokens from their segments and call WeChat with them while the agent rotates them (test-agent-rotation, -platform-rotation). */
#ifndef ROTATION_WORKERS_H
#define ROTATION_WORKERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "test-emu-util.h"

#define ROTATION_WORKERS_MAX 16

/*
 * What the workers saw: business calls made, those WeChat refused (and the last errcode),
 * reads that failed; with the reader's protocol, how many of those a refresh then mended.
 */
struct rotation_result {
        long calls, errors, read_failures, recovered;
        int last_errcode;
};

struct rotation_workers {
        pid_t pids[ROTATION_WORKERS_MAX];
        int fds[ROTATION_WORKERS_MAX];
        int n;
        /*
         * Set before rotation_workers_start: a refused token (40001, 40014, 42001) or an expired
         * read is followed by libwxshm's protocol (wxshm_refresh naming the generation, read
         * again, call again once), as WeCom's tokens need: they renew only at expiry. Only what
         * still fails then is an error. Unset: the first failure counts.
         */
        bool follow_protocol;
};

/*
 * Fork n workers, each reading every one of items (n_items segment names) in turn and making
 * one business call at emu (getcallbackip) with what it read, until rotation_workers_stop.
 */
void rotation_workers_start(struct rotation_workers *w, int n, struct emu_proc *emu, const char *const *items,
                            int n_items);

/* Stop the workers and add up what they saw into total (printed); a worker that reported nothing fails the test. */
void rotation_workers_stop(struct rotation_workers *w, struct rotation_result *total);

#endif
