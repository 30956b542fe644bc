/* test-item-rig.c: one item under test for the item machine's unit tests: a fake clock, events in, the last step's actions out. */
#include <string.h>

#include "check.h"
#include "test-item-rig.h"

void rig_init(struct rig *r, enum app_kind kind) {
        memset(r, 0, sizeof(*r));
        core_item_init(&r->it);
        r->pol = (struct core_policy){ .kind = kind, .n_api_base = 1, .refresh_margin_ms = 300 * SEC,
                                       .backoff_min_ms = 1 * SEC, .backoff_max_ms = 300 * SEC,
                                       .min_force_interval_ms = 10 * SEC, .min_token_lifetime_ms = 60 * SEC,
                                       .max_waiters = 2000, .max_forced_per_day = 1000, .name = "shop" };
        r->rng.state = 42;
        r->clock = (struct core_clock){ .now_ms = T0, .quota_now_ms = T0, .rng = &r->rng };
}

void rig_free(struct rig *r) {
        core_item_free(&r->it);
        core_actions_free(&r->out);
}

void advance(struct rig *r, int64_t ms) {
        r->clock.now_ms += ms;
        r->clock.quota_now_ms += ms;
}

size_t step(struct rig *r, struct core_event ev) {
        core_actions_free(&r->out);
        core_item_step(&r->it, &r->pol, &r->clock, &ev, &r->out);
        CHECK(r->out.dropped == 0, "no action lost");
        return r->out.n;
}

size_t count(const struct rig *r, enum core_action_type type) {
        size_t n = 0;

        for (size_t i = 0; i < r->out.n; i++)
                n += r->out.v[i].type == type;
        return n;
}

const struct core_action *find(const struct rig *r, enum core_action_type type) {
        for (size_t i = 0; i < r->out.n; i++)
                if (r->out.v[i].type == type)
                        return &r->out.v[i];
        return NULL;
}

/* The answer to waiter id in the last step, NULL if it was not answered. */
const struct core_action *answer_of(const struct rig *r, uint64_t id) {
        for (size_t i = 0; i < r->out.n; i++)
                if (r->out.v[i].type == CORE_ACT_ANSWER && r->out.v[i].waiter == id)
                        return &r->out.v[i];
        return NULL;
}

struct core_event timer(struct rig *r, int64_t budget) {
        return (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = budget, .token_ready = true };
}

/* Let the clock run to the wake-up, fire it, and return the call it starts (NULL if none). */
const struct core_action *fire(struct rig *r) {
        int64_t wake = core_item_wake(&r->it);

        if (wake != INT64_MAX && wake > r->clock.now_ms)
                advance(r, wake - r->clock.now_ms);
        step(r, timer(r, 10000));
        return find(r, CORE_ACT_START_CALL);
}

void started(struct rig *r) {
        step(r, (struct core_event){ .type = CORE_EV_CALL_STARTED });
}

void queued(struct rig *r) {
        step(r, (struct core_event){ .type = CORE_EV_CALL_STARTED, .queued = true });
}

void published(struct rig *r, uint64_t gen, bool same) {
        step(r, (struct core_event){ .type = CORE_EV_PUBLISHED, .generation = gen,
                                     .expires_at_ms = r->clock.now_ms + 7200 * SEC, .same = same });
}

void failed(struct rig *r, long errcode) {
        step(r, (struct core_event){ .type = CORE_EV_FAILED, .errcode = errcode, .errmsg = "boom" });
}

uint64_t request(struct rig *r, uint64_t gen, int64_t timeout_ms) {
        uint64_t id = ++r->next_id;

        step(r, (struct core_event){ .type = CORE_EV_REQUEST, .waiter = id, .has_generation = true, .generation = gen,
                                     .timeout_ms = timeout_ms });
        return id;
}

/* An item with generation 1 published and nothing pending. */
void fresh(struct rig *r, enum app_kind kind) {
        rig_init(r, kind);
        step(r, (struct core_event){ .type = CORE_EV_START });
        fire(r);
        started(r);
        published(r, 1, false);
}
