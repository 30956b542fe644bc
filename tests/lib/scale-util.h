/* scale-util.h: thousands of apps on one agent, for test-agent-scale and bench-scale: wxemu, config, counts. */
#ifndef SCALE_UTIL_H
#define SCALE_UTIL_H

#include <stdbool.h>

#include "agent-harness.h"

/* App i is "s<i>" in the agent, appid "wxs<i>" in wxemu, each with a secret of its own. */
#define SCALE_NAME_FMT "s%05d"
#define SCALE_APPID_FMT "wxs%05d"

/* wxemu with apps apps (and extra options, NULL-terminated, may be NULL) answering after latency_ms. */
void scale_emu_start(struct emu_proc *emu, int apps, int latency_ms, const char *const *extra);

/* Write a's config: agent_extra in [agent], then apps token apps against wxemu on port (secret files too). */
void scale_write_config(struct agent_proc *a, int apps, int port, const char *agent_extra);

/*
 * Wait (bounded, for the STATUS= line) until the agent says all apps are fresh: true if it
 * did. The agent counts; scale_count_fresh checks the segments themselves afterwards.
 */
bool scale_wait_all_fresh(struct agent_proc *a, int apps, int max_ms);

/* How many apps' segments hold a token now (generation at least 1), read with libwxshm. */
int scale_count_fresh(int apps);

/* wxemu's counts over all apps, from one /emu/stats: token calls, and apps called exactly once. */
struct scale_calls {
        long calls;             /* token_calls summed */
        int once;               /* apps with exactly one token call */
        int apps;               /* apps in the stats */
};
bool scale_emu_calls(struct emu_proc *emu, struct scale_calls *c);

/* Lines of the agent's log at level warning or error (but the one about allow_plain_http, for wxemu). */
int scale_log_warnings(struct agent_proc *a);

/*
 * `wxtokenctl status --json` (every page, as the tool fetches them): the entries it lists
 * (-1 if it failed), and its exit status in *status.
 */
int scale_status_entries(int *status);

/* What `wxtokenctl ARGS` printed on stdout (malloc'd, all of it), its exit status in *status. */
char *scale_ctl_output(const char *args, int *status);

/* Milliseconds on CLOCK_MONOTONIC. */
long long scale_now_ms(void);

#endif
