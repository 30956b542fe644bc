/* app-internal.h: what app.c (lifecycle, calls), app-step.c (the core's steps), app-mirror.c and app-persist.c share. */
#ifndef APP_INTERNAL_H
#define APP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

/* The item's policy for a core step: its app's and the agent's settings, and the cluster's view. */
void item_policy(const struct item *it, struct core_policy *pol);

/* Carry out a CORE_ACT_ANSWER: reply to the waiter's client and forget it (app-force.c). */
void force_answer(struct item *it, const struct core_action *a);

/* Carry out CORE_ACT_START_CALL: queue the call; it is built and made at its turn (app.c). */
void item_call(struct item *it, const struct core_action *a);

/*
 * Open the item's segment, adopt a token still good, and schedule its first call (app.c);
 * an authorizer's item (it->auth set) comes with its name. Undone by item_free (retire:
 * the segment is removed, readers told), also after a failed item_init.
 */
int item_init(struct item *it, struct app *app, enum ticket_type ticket, bool fresh);
void item_free(struct item *it, bool retire);

/* Write the item's token to its state file (one log line per change of what is wrong). */
void item_save(struct item *it, int64_t fetched_at_ms);

/*
 * An item holds its token allocated to its length, never at the maximum: a copy is made
 * before the token is published (NULL: out of memory, nothing published), then taken by
 * the item (the old one wiped and freed), or wiped and freed if the publish failed.
 */
char *item_value_copy(const char *v, size_t len);
void item_value_take(struct item *it, char *copy, size_t len);
void item_value_drop(char *copy, size_t len);

/* Wipe and free the item's token. */
void item_value_clear(struct item *it);

/* Whether a token's times are believable for it now (the core's rule). */
bool item_times_plausible(const struct item *it, int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now);

#endif
