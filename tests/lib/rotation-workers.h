/* rotation-workers.h: processes that read tokens from their segments and call WeChat with them while the agent rotates them (test-agent-rotation, -platform-rotation). */
#ifndef ROTATION_WORKERS_H
#define ROTATION_WORKERS_H

#include <sys/types.h>

#include "test-emu-util.h"

#define ROTATION_WORKERS_MAX 16

/* What the workers saw: business calls made, those WeChat refused (and the last errcode), reads that failed. */
struct rotation_result {
        long calls, errors, read_failures;
        int last_errcode;
};

struct rotation_workers {
        pid_t pids[ROTATION_WORKERS_MAX];
        int fds[ROTATION_WORKERS_MAX];
        int n;
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
