/* cluster-conn.c: cluster mode's use of its Redis links (agent/io/redis-link.c): where, what up and down mean, the status. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "app.h"
#include "clock.h"
#include "cluster-internal.h"
#include "log.h"
#include "redis-link.h"

/*
 * Lease arithmetic runs on CLOCK_BOOTTIME, as the refresh timers do: Redis's expiry keeps
 * counting through a suspend or a paused VM, and so must our idea of when our lease ends,
 * or a resumed agent could call WeChat on a lease that passed to another meanwhile.
 */
int64_t cluster_clock_ms(void) {
        return clock_boot_ms();
}

int64_t cluster_io_timeout_ms(const struct cluster *cl) {
        int64_t t = cl->svc->config->cluster.lease_ms / 2;

        return t > 2000 ? 2000 : t;
}

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->svc->config->cluster;
}

/* Read at every connect: a reload replaces the configuration (never its [cluster] section). */
static void link_target(void *owner, struct redis_link_target *t) {
        struct cluster *cl = owner;
        const struct cluster_config *c = conf(cl);

        *t = (struct redis_link_target){ .unix_path = c->unix_path, .host = c->host, .port = c->port,
                                         .password = c->password, .db = c->db, .channel = cl->channel };
}

static void link_down(void *owner, bool was_up, const char *why) {
        struct cluster *cl = owner;

        if (was_up || !cl->down_since_ms) {
                log_warning("cluster: Redis %s: %s; local tokens stay published, and no app is refreshed here once "
                            "its lease lapses", conf(cl)->redis, why);
                cl->down_since_ms = clock_wall_ms();
        }
        services_changed(cl->svc);
}

static void link_up(void *owner) {
        struct cluster *cl = owner;

        if (cl->down_since_ms)
                log_notice("cluster: connected to Redis %s as node %s", conf(cl)->redis, conf(cl)->node_id);
        cl->down_since_ms = 0;
        services_changed(cl->svc);
        cluster_on_up(cl);
}

static void link_message(void *owner, const char *msg, size_t len) {
        cluster_on_message(owner, msg, len);
}

static const struct redis_link_ops link_ops = {
        .target = link_target,
        .up = link_up,
        .down = link_down,
        .message = link_message,
};

int cluster_new(struct cluster **ret, struct services *svc) {
        const struct cluster_config *c = &svc->config->cluster;
        struct cluster *cl;
        uint64_t nonce;
        int r;

        *ret = NULL;
        if (!c->enabled)
                return 0;
        cl = calloc(1, sizeof(*cl));
        if (!cl)
                return -ENOMEM;
        cl->svc = svc;
        cl->down_since_ms = clock_wall_ms();
        snprintf(cl->channel, sizeof(cl->channel), "%s:events", c->key_prefix);
        if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
                r = -errno;
                free(cl);
                return r;
        }
        snprintf(cl->lease_id, sizeof(cl->lease_id), "%s/%016" PRIx64, c->node_id, nonce);
        /* Said at every start, since it is a standing hole, not an event. */
        if (!c->fleet_key)
                log_warning("cluster: no fleet_key_file: any client that can write to Redis %s can plant tokens that "
                            "every agent publishes; give every agent the same key (wxtokend.conf(5), fleet_key_file)",
                            c->redis);
        r = redis_link_new(&cl->link, svc->loop, &link_ops, cl);
        if (r < 0) {
                free(cl);
                return r;
        }
        r = cluster_start(cl);
        if (r < 0) {
                cluster_free(cl);
                return r;
        }
        *ret = cl;
        return 0;
}

/* ---- status ---- */

void cluster_get_status(const struct cluster *cl, struct cluster_status *st) {
        unsigned n = 0;

        for (size_t i = 0; i < cl->svc->n_apps; i++)
                if (cl->svc->apps[i] && cl->svc->apps[i]->lease.holder)
                        n++;
        *st = (struct cluster_status){
                .node_id = conf(cl)->node_id,
                .redis = conf(cl)->redis,
                .connected = redis_link_up(cl->link),
                .down_since_ms = redis_link_up(cl->link) ? 0 : cl->down_since_ms,
                .last_error = redis_link_last_error(cl->link),
                .holder_of = n,
                .notes_refused = cl->notes_refused,
        };
}

void cluster_status_text(const struct cluster *cl, char *buf, size_t size) {
        struct cluster_status st;
        time_t since;
        char when[16];

        if (!cl) {
                buf[0] = '\0';
                return;
        }
        cluster_get_status(cl, &st);
        if (st.connected) {
                snprintf(buf, size, "; cluster node %s: lease holder of %u apps", st.node_id, st.holder_of);
                return;
        }
        since = (time_t)(st.down_since_ms / 1000);
        strftime(when, sizeof(when), "%H:%M", localtime(&since));
        snprintf(buf, size, "; cluster node %s: Redis unreachable since %s (%s), serving local tokens", st.node_id, when,
                 st.last_error);
}
