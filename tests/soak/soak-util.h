/* soak-util.h: what the fault campaign's tests share: checksum-checking reader processes, wxemu's call log. */
#ifndef SOAK_UTIL_H
#define SOAK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent-harness.h"

#define SOAK_ITEMS_MAX 8
#define SOAK_READERS_MAX 8
#define SOAK_CALLS_MAX 4096

/*
 * What one reader process saw, per item. A read "fails" if it returns an error once the
 * item has shown a token: a killed or failing agent must leave the last token readable.
 */
struct soak_item_stats {
        uint64_t reads;
        uint64_t torn;          /* the token's FNV-1a checksum (wxemu --checksum-tokens) is wrong */
        uint64_t failed;
        uint64_t backwards;     /* a generation lower than one this reader saw before */
        uint64_t not_alive;     /* reads while info.agent_alive was 0: allowed, counted */
        uint64_t first_gen, last_gen;
        int last_error;
};

struct soak_readers;

/*
 * Fork n reader processes that read each of items (the test's WXSHM_DIR) with
 * wxshm_read() in a loop, in bursts with short pauses so the agent keeps a CPU on a small
 * machine. They die with the test (PR_SET_PDEATHSIG).
 */
struct soak_readers *soak_readers_start(int n, const char *const *items, int n_items);

/* Stop and reap them; sum their stats per item into total[n_items]. True if all is clean. */
bool soak_readers_stop(struct soak_readers *r, struct soak_item_stats *total);

/* Print one line per item of total; the same verdict as soak_readers_stop. */
bool soak_readers_report(const char *const *items, int n_items, const struct soak_item_stats *total);

/* wxemu --checksum-tokens: the last 16 characters are the lowercase hex FNV-1a-64 of the rest. */
bool soak_token_valid(const char *token, size_t len);

/* A read-only mapping of item's segment, to watch its words without system calls; NULL if none. */
const struct wxshm_layout *soak_map(const char *item);
void soak_unmap(const struct wxshm_layout *seg);

/* One token call in wxemu's log. */
struct soak_call {
        int64_t unix_ms;        /* when wxemu finished handling it (a hung call: when it was dropped) */
        int http;               /* 0: the connection was dropped */
        int errcode;            /* 0 if none */
        char fault[16];         /* "" if none */
        uint64_t emu_gen;       /* wxemu's token generation after the call */
};

struct soak_calls {
        int n;
        struct soak_call c[SOAK_CALLS_MAX];
};

/* app's token calls in wxemu's log, in order. */
void soak_calls_of(struct emu_proc *e, const char *appid, struct soak_calls *out);

/* A call that got a token (a slow one counts: it answered, late). */
bool soak_call_ok(const struct soak_call *c);

/*
 * A child that cleans up after the test however it ends: a crash or a sanitizer's abort
 * skips the harness's cleanup (agents and wxemu die with the test by PR_SET_PDEATHSIG,
 * their files do not). When the test's end closes a pipe, the child unmounts mountpoint
 * (if not NULL) and removes a's segments, a's directory and e's. soak_guard_end() has it
 * done at once and waits for it.
 */
void soak_guard_start(const struct agent_proc *a, const struct emu_proc *e, const char *mountpoint);
void soak_guard_end(void);

/* A number from the environment, or dflt if unset or not a positive number. */
long soak_env(const char *name, long dflt);

/* Wall clock in Unix ms, like the agent's and wxemu's. */
int64_t soak_now_ms(void);

#endif
