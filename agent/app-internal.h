/* app-internal.h: what app.c (fetch, publish, schedule), app-mirror.c and app-persist.c share. */
#ifndef APP_INTERNAL_H
#define APP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

const struct agent_config *item_agent_config(const struct item *it);

/* Tickets follow the token's rules; they have no stable window of their own. */
enum app_kind item_schedule_kind(const struct item *it);

/* Arm the item's one timer for wall-clock time at_ms. */
void item_schedule(struct item *it, int64_t at_ms);

/* The next proactive refresh of the token now published (same: it did not change). */
void item_schedule_refresh(struct item *it, int64_t now, bool same);

void item_set_state(struct item *it, int state);

/* The item has a token, or its first attempt failed (the agent's READY waits for every app's). */
void item_settle(struct item *it);

/* Write the item's token to its state file (one log line per change of what is wrong). */
void item_save(struct item *it, int64_t fetched_at_ms);

/*
 * The first call of an agent started while upstream fails: at_ms, or no sooner than
 * backoff_min after the last failure the segment records (app-persist.c).
 */
int64_t item_after_last_failure(struct item *it, int64_t at_ms, int64_t now);

/*
 * A token's times are believable: fetched in the past, and valid no longer than a
 * WeChat token lives.
 */
bool item_times_plausible(const struct item *it, int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now);

#endif
