/* emu-stats.h: the call log and the counters behind /emu/stats and /emu/log. */
#ifndef WXEMU_STATS_H
#define WXEMU_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "emu-reply.h"

/* Lock held. Records one upstream token or ticket call; app < 0 names an unknown id. */
void stats_log(const char *endpoint, int app, const char *id, bool force,
               const struct emu_reply *r, uint64_t gen);
void stats_log_clear(void);
cJSON *stats_json(void);
cJSON *stats_log_json(void);

#endif
