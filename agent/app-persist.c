/* app-persist.c: what an item leaves for the next agent: its state file, and the last failure its segment records. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "budget.h"
#include "log.h"
#include "state.h"

void item_save(struct item *it, int64_t fetched_at_ms) {
        const struct agent_config *c = item_agent_config(it);
        struct state_record rec = {
                .generation = it->generation,
                .expires_at_ms = it->expires_at_ms,
                .fetched_at_ms = fetched_at_ms,
                .token_len = it->value_len,
        };
        int r;

        memcpy(rec.token, it->value, it->value_len + 1);
        budget_record(it, &rec);
        r = state_save(c->state_dir, it->name, it->app->cfg->appid, &rec);
        if (r < 0) {
                /*
                 * The file left holds an older token, superseded now: after a reboot it would
                 * be adopted and handed out dead (tests/test-soak-fullfs). Removing it works
                 * even on a full disk, and costs one fetch at the next boot.
                 */
                int gone = state_remove(c->state_dir, it->name);

                /* One line per change of what is wrong, not one per rotation. */
                if (-r != it->save_error)
                        log_app(LOG_WARNING, it->name, 0, "cannot save state in %s: %s%s; %s%s", c->state_dir,
                                r == -EINVAL || r == -EPERM || r == -ELOOP ? "its temporary file " : "",
                                state_strerror(r), gone == 0 ? "the older state file is removed, a reboot will "
                                "need a new fetch" : "the older state file cannot be removed: ",
                                gone == 0 ? "" : strerror(-gone));
                it->save_error = -r;
                agent_state_changed(it->app->agent);
                return;
        }
        if (it->save_error) {
                log_app(LOG_NOTICE, it->name, 0, "state saved in %s again", c->state_dir);
                it->save_error = 0;
                agent_state_changed(it->app->agent);
        }
}

/*
 * The first call of an agent started while upstream fails: no sooner than backoff_min
 * after the last failure the segment records. Otherwise each restart (a crash loop, an
 * operator's restarts) called at once, and restarts could call faster than the schedule
 * ever would (tests/test-soak-faults). A failure from the future (a clock stepped back)
 * or older than backoff_max is no reason to wait.
 */
int64_t item_after_last_failure(struct item *it, int64_t at_ms, int64_t now) {
        const struct agent_config *c = item_agent_config(it);
        const struct wxshm_layout *seg = wxshm_writer_layout(it->seg);
        int64_t errcode = atomic_load_explicit(&seg->last_errcode, memory_order_relaxed);
        int64_t failed_at = atomic_load_explicit(&seg->last_error_at_ms, memory_order_relaxed);

        if (errcode == 0 || failed_at > now || now - failed_at >= c->backoff_max_ms)
                return at_ms;
        return at_ms > failed_at + c->backoff_min_ms ? at_ms : failed_at + c->backoff_min_ms;
}
