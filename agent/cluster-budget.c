/* cluster-budget.c: cluster mode's fleet-wide forced-refresh budget, counted in Redis (budget.c counts locally too). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "budget.h"
#include "cluster-internal.h"
#include "cluster-scripts.h"
#include "app-force.h"

static void on_budget(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct item *it = cluster_find_item(cl, ref->name);
        /* Anything but a count (an error, a key of the wrong type) refuses the call: -1. */
        long long n = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;

        free(ref);
        if (it)
                force_budget_counted(it, n);
}

int cluster_budget_take(struct item *it, int64_t day, int64_t ttl_ms) {
        struct cluster *cl = it->app->svc->cluster;
        char name[CLUSTER_NAME_MAX], key[CLUSTER_NAME_MAX + 96], ttl[24], cap[16];
        const char *argv[] = { "EVAL", cluster_script_budget, "1", key, ttl, cap };

        if (!cl)
                return 0;
        cluster_item_name(it, name, sizeof(name));
        snprintf(key, sizeof(key), "%s:forced:%s:%" PRId64, cl->svc->config->cluster.key_prefix, name, day);
        snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
        snprintf(cap, sizeof(cap), "%u", item_forced_cap(it));
        return cluster_send(cl, on_budget, cluster_ref_new(REF_BUDGET, name), 6, argv) ? 1 : -ENOTCONN;
}
