/* app-mirror.c: an item's cluster side (tokens another agent fetched, a new holder's schedule) and its segment's renewal. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "clock.h"
#include "cluster-record.h"
#include "log.h"
#include "state-file.h"
#include "wxshm.h"

/*
 * A segment whose generation cannot go up any more (2^53 and beyond: put there by an
 * older agent that believed a poisoned Redis record, or a corrupt state file) would make
 * every later publish fail, after the WeChat call that fetched it. It is retired (its
 * readers re-open the name) and made anew, empty: its token is suspect too. 0, or -errno
 * (the item has no segment then, and a call fails without being made).
 */
int item_segment_renew(struct item *it) {
        const struct agent_config *c = it->app->svc->config;
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        uint64_t poisoned = it->core.generation;
        int r;

        opts.group = it->app->cfg->gid;
        opts.heartbeat_interval_ms = APP_HEARTBEAT_MS;
        opts.discard = true;
        wxshm_writer_retire(it->seg);
        wxshm_writer_close(it->seg);
        it->seg = NULL;
        r = wxshm_writer_open(&it->seg, it->app->svc->shm_dir_fd, it->name, &opts);
        /* The state file holds the same generation: it would bring it back at the next start. */
        state_remove(c->state_dir, it->name);
        item_value_clear(it);
        it->forwarded_gen = 0;
        log_app(r < 0 ? LOG_ERR : LOG_WARNING, it->name, 0, "the segment held generation %llu, past what a "
                "generation may reach (2^53): retired and made anew%s%s", (unsigned long long)poisoned,
                r < 0 ? ", which failed: " : "", r < 0 ? strerror(-r) : "");
        if (r < 0)
                it->seg = NULL;
        else
                wxshm_writer_heartbeat(it->seg, clock_wall_ms());
        item_step(it, &(struct core_event){ .type = CORE_EV_REBASE, .ok = r == 0 });
        return r;
}

bool item_can_publish(const struct item *it) {
        return it->seg && it->core.generation < CLUSTER_GENERATION_LIMIT - 1;
}

bool item_times_plausible(const struct item *it, int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now) {
        struct core_policy pol;

        item_policy(it, &pol);
        return core_item_times_plausible(&pol, fetched_at_ms, expires_at_ms, now);
}

bool item_mirror(struct item *it, const char *token, size_t len, uint64_t generation, int64_t expires_at_ms,
                 int64_t fetched_at_ms) {
        int64_t now = clock_wall_ms();
        char *copy;
        int r;

        if (generation >= CLUSTER_GENERATION_LIMIT) {
                log_app(LOG_WARNING, it->name, 0, "cluster: generation %llu is past 2^53: not published",
                        (unsigned long long)generation);
                return false;
        }
        if (len > UPSTREAM_TOKEN_MAX || !item_times_plausible(it, fetched_at_ms, expires_at_ms, now)) {
                log_app(LOG_WARNING, it->name, 0, "cluster: generation %llu in Redis is expired or has implausible "
                        "times: not published", (unsigned long long)generation);
                return false;
        }
        /* Copied first (token may be the item's own): once readers have it, the agent holds it too. */
        copy = item_value_copy(token, len);
        r = copy ? wxshm_writer_publish_generation(it->seg, token, len, expires_at_ms, fetched_at_ms, generation)
                 : -ENOMEM;
        if (r < 0) {
                item_value_drop(copy, len);
                log_app(LOG_WARNING, it->name, 0, "cluster: cannot publish generation %llu: %s",
                        (unsigned long long)generation, strerror(-r));
                return false;
        }
        item_value_take(it, copy, len);
        item_step(it, &(struct core_event){ .type = CORE_EV_MIRRORED, .generation = generation,
                                            .expires_at_ms = expires_at_ms, .fetched_at_ms = fetched_at_ms });
        return true;
}

void item_cluster_resume(struct item *it) {
        item_step(it, &(struct core_event){ .type = CORE_EV_RESUME });
}
