/* test-item-rig.h: one item under test for the item machine's unit tests: a fake clock, events in, the last step's actions out. */
#ifndef CORE_TEST_ITEM_RIG_H
#define CORE_TEST_ITEM_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"

#define T0 1800000000000LL /* 2027-01-15 08:00 UTC, 16:00 in Beijing */
#define SEC 1000LL

/* One item under test: its policy, a clock that only moves when told, and the last step's actions. */
struct rig {
        struct core_item it;
        struct core_policy pol;
        struct rng rng;
        struct core_clock clock;
        struct core_actions out;
        uint64_t next_id;
};

void rig_init(struct rig *r, enum app_kind kind);
void rig_free(struct rig *r);
void advance(struct rig *r, int64_t ms);
/* One event: the last step's actions replace the ones before (no action may be dropped). */
size_t step(struct rig *r, struct core_event ev);
size_t count(const struct rig *r, enum core_action_type type);
const struct core_action *find(const struct rig *r, enum core_action_type type);
/* The answer to waiter id in the last step, NULL if it was not answered. */
const struct core_action *answer_of(const struct rig *r, uint64_t id);
struct core_event timer(struct rig *r, int64_t budget);
/* Let the clock run to the wake-up, fire it, and return the call it starts (NULL if none). */
const struct core_action *fire(struct rig *r);
void started(struct rig *r);
/* The call the last fire started waits for a slot in the agent's queue (started() again when its turn comes). */
void queued(struct rig *r);
void published(struct rig *r, uint64_t gen, bool same);
void failed(struct rig *r, long errcode);
/* A client's forced refresh of generation gen: its waiter id. */
uint64_t request(struct rig *r, uint64_t gen, int64_t timeout_ms);
/* An item with generation 1 published and nothing pending. */
void fresh(struct rig *r, enum app_kind kind);

#endif
