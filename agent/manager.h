/* manager.h: the agent as a whole: it alone knows every module, lends them its services, and runs the loop. */
#ifndef MANAGER_H
#define MANAGER_H

#include <stdbool.h>

#include "config.h"

/*
 * Run the agent on config (loaded and checked by main, which keeps no pointer to it):
 * the shm_dir namespace, the state_dir lock, the apps, the control socket and the
 * cluster, until SIGTERM. The config is freed before returning. 0, or 1 on a fatal error.
 */
int manager_run(struct agent_config *config);

#endif
