/* app-persist.c: what an item leaves for the next agent: its state file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "log.h"
#include "state-file.h"

void item_save(struct item *it, int64_t fetched_at_ms) {
        const struct agent_config *c = it->app->svc->config;
        struct state_record rec = {
                .generation = it->core.generation,
                .expires_at_ms = it->core.expires_at_ms,
                .fetched_at_ms = fetched_at_ms,
                .token_len = it->value_len,
                .forced_day = it->core.budget.forced_day,
                .forced_today = it->core.budget.forced_today,
                .quota_day = it->core.budget.quota_day,
        };
        int r;

        memcpy(rec.token, it->value, it->value_len + 1);
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
                services_changed(it->app->svc);
                return;
        }
        if (it->save_error) {
                log_app(LOG_NOTICE, it->name, 0, "state saved in %s again", c->state_dir);
                it->save_error = 0;
                services_changed(it->app->svc);
        }
}
