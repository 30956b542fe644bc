/* authorizers-util.h: thousands of accounts under one component, for test-agent-authorizers-2000 and bench-authorizers: wxemu, config, adds over the socket, counts. */
#ifndef AUTHORIZERS_UTIL_H
#define AUTHORIZERS_UTIL_H

#include <stdbool.h>

#include "agent-harness.h"

/* The component is "plat" in the agent, wxcomp0001 in wxemu; account i (from 0) is wxemu's wxa<i+1>. */
#define AUTHS_COMPONENT "plat"
#define AUTHS_SEED "7"

void auths_appid(int i, char out[16]);

/*
 * wxemu with the component and n accounts answering after latency_ms, the agent (extra:
 * more [agent] lines, may be NULL) started with the component's verify ticket put, and
 * the component's token published.
 */
void auths_start(struct emu_proc *emu, struct agent_proc *a, int n, int latency_ms, const char *extra);

/*
 * Add accounts [from, to) with wxemu's refresh tokens over conns connections at once,
 * each sending its next add once the last is answered: how many were answered "added".
 */
int auths_add(struct agent_proc *a, int from, int to, int conns);

/*
 * n request lines sent at once on n connections while the agent is stopped (SIGSTOP),
 * so it reads them all in one turn after SIGCONT; each reply line into replies[i].
 */
void auths_burst(struct agent_proc *a, char *const *lines, int n, char (*replies)[1024]);

/* The request line adding account i (malloc'd). */
char *auths_add_line(int i);

/* Accounts [0, n) whose segment holds a token (read with libwxshm). */
int auths_fresh(int n);

/* Poll until every one of n accounts holds a token: false after max_ms. */
bool auths_wait_fresh(int n, int max_ms);

/* An inotify watch on the agent's state_dir; then how many times plat.authorizers was renamed into place since. */
int auths_watch(struct agent_proc *a);
int auths_saves(int watch);

/*
 * The agent's warnings and errors (printed to stderr if any), less the two the set-up
 * makes: wxemu's http://, and no verify ticket at start (it is put once the agent runs).
 */
int auths_warnings(struct agent_proc *a);

/* Records in state_dir/plat.authorizers. */
int auths_file_records(struct agent_proc *a);

/* Every account the agent lists, paging through wxtokenctl authorizer list --json: the total listed (-1: error). */
int auths_listed(void);

#endif
