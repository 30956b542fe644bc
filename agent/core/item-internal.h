/* item-internal.h: what the item machine (item.c) and its forced refreshes (force.c) share. */
#ifndef CORE_ITEM_INTERNAL_H
#define CORE_ITEM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "item.h"

/* Append an action (the array is sized for the longest step; past it, counted in dropped). */
struct core_action *core_act(struct core_actions *out, enum core_action_type type);
void core_log(struct core_actions *out, int level, long errcode, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

void core_set_state(struct core_item *it, struct core_actions *out, int state);
void core_save(struct core_actions *out, int64_t fetched_at_ms);
void core_schedule(struct core_item *it, int64_t at_ms);
void core_schedule_refresh(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                           bool same);
/* Call at at_ms, unless a call is already due sooner. */
void core_fetch_at(struct core_item *it, const struct core_clock *c, int64_t at_ms);
void core_resume(struct core_item *it, const struct core_policy *pol, const struct core_clock *c);

/* force.c */
void core_waiters_expire(struct core_item *it, int64_t now, struct core_actions *out);
void core_waiter_remove(struct core_item *it, uint64_t id);
void core_force_request(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                   const struct core_event *ev, struct core_actions *out);
void core_force_remote(struct core_item *it, const struct core_policy *pol, const struct core_clock *c, uint64_t gen,
                  int64_t timeout_ms, struct core_actions *out);
void core_force_remote_failed(struct core_item *it, const struct core_event *ev, struct core_actions *out);
void core_force_remote_verified(struct core_item *it, uint64_t gen, struct core_actions *out);
void core_force_published(struct core_item *it, struct core_actions *out);
void core_force_failed(struct core_item *it, const struct core_policy *pol, const struct core_clock *c, long errcode,
                  const char *errmsg, struct core_actions *out);
void core_force_abort(struct core_item *it, enum core_answer answer, struct core_actions *out);
bool core_force_due(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
               struct core_actions *out);
void core_force_budget_counted(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                          long long n, struct core_actions *out);
void core_force_probed(struct core_item *it, const struct core_policy *pol, const struct core_clock *c, long errcode,
                  const char *errmsg, struct core_actions *out);
void core_force_same_token(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                      struct core_actions *out);
void core_force_blocked(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                   struct core_actions *out);
/* retry.c */
void core_retry(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                const struct core_event *ev, struct core_actions *out);

void core_force_resume(struct core_item *it, const struct core_policy *pol, const struct core_clock *c,
                  struct core_actions *out);

#endif
