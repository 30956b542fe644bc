/* cluster.c: cluster mode's leases, publishing through Redis, mirroring, and forwarded refreshes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "cluster-internal.h"
#include "cluster-scripts.h"
#include "log.h"
#include "protocol.h"
#include "resolve.h"

#define RECONCILE_EVERY_MS 5000         /* a lost notification is made up for this late at most */

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->agent->config->cluster;
}

/*
 * The name every agent gives an app in Redis: kind and appid, which are what WeChat's
 * token belongs to. A WeCom corp has one token per app secret, so there the app's own
 * name joins in (it must then be the same on every host).
 */
void cluster_app_name(const struct app *app, char *buf, size_t size) {
        if (app->cfg->kind == APP_KIND_WORK)
                snprintf(buf, size, "work:%s:%s", app->cfg->appid, app->cfg->name);
        else
                snprintf(buf, size, "%s:%s", app_kind_name(app->cfg->kind), app->cfg->appid);
}

void cluster_item_name(const struct item *it, char *buf, size_t size) {
        char app[CLUSTER_NAME_MAX - 16];    /* room for ".wx_card" within CLUSTER_NAME_MAX */

        cluster_app_name(it->app, app, sizeof(app));
        snprintf(buf, size, "%s%s%s", app, it->ticket ? "." : "", it->ticket ? ticket_type_name(it->ticket) : "");
}

struct app *cluster_find_app(struct cluster *cl, const char *name) {
        char n[CLUSTER_NAME_MAX];

        for (size_t i = 0; i < cl->agent->n_apps; i++) {
                struct app *app = cl->agent->apps[i];

                if (!app)
                        continue;
                cluster_app_name(app, n, sizeof(n));
                if (!strcmp(n, name))
                        return app;
        }
        return NULL;
}

struct item *cluster_find_item(struct cluster *cl, const char *name) {
        char n[CLUSTER_NAME_MAX];

        for (size_t i = 0; i < cl->agent->n_apps; i++) {
                struct app *app = cl->agent->apps[i];

                for (int t = -1; app && t < app->n_tickets; t++) {
                        struct item *it = t < 0 ? &app->token : &app->tickets[t];

                        cluster_item_name(it, n, sizeof(n));
                        if (!strcmp(n, name))
                                return it;
                }
        }
        return NULL;
}

struct cluster_ref *cluster_ref_new(enum cluster_ref_what what, const char *name) {
        struct cluster_ref *r = malloc(sizeof(*r));

        if (r) {
                r->what = what;
                r->sent_ms = cluster_clock_ms();
                snprintf(r->name, sizeof(r->name), "%s", name);
        }
        return r;
}

/* Send a command about name; on failure the ref is freed and false returned. */
bool cluster_send(struct cluster *cl, cluster_reply_fn fn, struct cluster_ref *ref, int argc, const char **argv) {
        size_t lens[12];

        if (!ref)
                return false;
        for (int i = 0; i < argc; i++)
                lens[i] = strlen(argv[i]);
        if (cluster_command(cl, fn, ref, argc, argv, lens) < 0) {
                free(ref);
                return false;
        }
        return true;
}

void cluster_lease_key(const struct cluster *cl, const struct app *app, char *buf, size_t size) {
        char n[CLUSTER_NAME_MAX];

        cluster_app_name(app, n, sizeof(n));
        snprintf(buf, size, "%s:lease:%s", conf(cl)->key_prefix, n);
}

/* ---- reading an item from Redis, mirroring it, seeding Redis from a holder's segment ---- */

static void on_read(struct cluster *cl, redisReply *reply, void *userdata);

void cluster_read_item(struct cluster *cl, struct item *it, enum cluster_ref_what what) {
        char name[CLUSTER_NAME_MAX], key[CLUSTER_NAME_MAX + 80];
        const char *argv[] = { "HMGET", key, "generation", "token", "expires_at", "fetched_at" };

        cluster_item_name(it, name, sizeof(name));
        snprintf(key, sizeof(key), "%s:item:%s", conf(cl)->key_prefix, name);
        if (!cluster_send(cl, on_read, cluster_ref_new(what, name), 6, argv) && what == REF_RESUME && it->app->holder)
                it->cluster_resume = true; /* the next claim or reconcile resumes it */
}

static bool parse_u64(const redisReply *e, uint64_t *ret) {
        char *end;

        if (!e || e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20)
                return false;
        errno = 0;
        *ret = strtoull(e->str, &end, 10);
        return errno == 0 && *end == '\0';
}

/* A token from Redis is what a reader will get: printable, and within a slot's size. */
bool cluster_token_sane(const char *s, size_t len) {
        if (len == 0 || len > UPSTREAM_TOKEN_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
                        return false;
        return true;
}

static bool reply_token_sane(const redisReply *e) {
        return e && e->type == REDIS_REPLY_STRING && cluster_token_sane(e->str, e->len);
}

bool cluster_servable(const struct item *it) {
        return it->value_len && it->expires_at_ms > agent_now_ms();
}

/*
 * Redis's record against ours. Equal tokens differ at most in generation, and the higher
 * one wins everywhere. Different tokens mean a fetch that did not reach Redis (a holder cut
 * off, then its lease gone); the later fetch is the live one, since a fetch retires the
 * token before it. Whoever holds the lease settles it with a push above both generations;
 * a host without it hands its side to the holder (send_sync). Fetch times are wall clocks
 * of two hosts: skew matters only for two fetches closer than it, never in planned use.
 */
static void reconcile(struct cluster *cl, struct item *it, const redisReply *token, uint64_t gen, int64_t expires,
                      int64_t fetched, bool same) {
        bool holder = it->app->holder;

        if (same) {
                if (gen > it->generation || (gen == it->generation && expires > it->expires_at_ms))
                        item_mirror(it, token->str, token->len, gen, expires, fetched);
                else if (holder && gen < it->generation && cluster_servable(it))
                        cluster_push(cl, it);
        } else if (fetched >= it->fetched_at_ms) {
                /* Redis's token is the later fetch. */
                if (gen > it->generation) {
                        item_mirror(it, token->str, token->len, gen, expires, fetched);
                } else if (holder) {
                        /* Pushed only if taken: a refused one (times implausible here) would be read back, forever. */
                        if (item_mirror(it, token->str, token->len, it->generation + 1, expires, fetched))
                                cluster_push(cl, it);
                } else {
                        cluster_send_sync(cl, it);
                }
        } else if (cluster_servable(it)) {
                /* Ours is the later fetch. */
                if (holder)
                        cluster_push(cl, it);
                else
                        cluster_send_sync(cl, it);
        }
}

static void on_read(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct item *it = cluster_find_item(cl, ref->name);
        uint64_t gen = 0, expires = 0, fetched = 0;
        bool present = false, same = false;

        if (!it || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
                if (it && ref->what == REF_RESUME)
                        it->cluster_resume = true;
                free(ref);
                return;
        }
        if (reply->element[0]->type != REDIS_REPLY_NIL) {
                present = parse_u64(reply->element[0], &gen) && gen > 0 && reply_token_sane(reply->element[1]) &&
                          parse_u64(reply->element[2], &expires) && parse_u64(reply->element[3], &fetched) &&
                          expires <= INT64_MAX && fetched <= INT64_MAX;
                if (!present)
                        log_app(LOG_WARNING, it->name, 0, "cluster: Redis holds a malformed record for %s: ignored",
                                ref->name);
        }
        if (present) {
                same = reply->element[1]->len == it->value_len &&
                       memcmp(reply->element[1]->str, it->value, it->value_len) == 0;
                reconcile(cl, it, reply->element[1], gen, (int64_t)expires, (int64_t)fetched, same);
        } else if (it->app->holder && cluster_servable(it)) {
                cluster_push(cl, it); /* Redis lost it (restarted empty): the holder puts back what it serves */
        }
        /*
         * A new holder finding no record while it has a token of its own: Redis lost its
         * keys (restarted empty), so the previous holder may still think it holds the lease
         * and be inside a call. No call here until that lease would have run out.
         */
        if (ref->what == REF_RESUME && it->app->holder && !present && cluster_servable(it) &&
            it->app->quiet_until_ms < ref->sent_ms + conf(cl)->lease_ms)
                it->app->quiet_until_ms = ref->sent_ms + conf(cl)->lease_ms;
        if (ref->what == REF_RESUME && it->app->holder) {
                int64_t left = force_waiters_until(it) - agent_now_ms();

                it->cluster_resume = false;
                item_cluster_resume(it);
                /* This host's own clients, handed to the last holder, now wait on this one. */
                if (left > 0)
                        force_remote(it, it->generation, left);
        }
        free(ref);
}

/* ---- the holder publishes ---- */

static void on_push(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct item *it = cluster_find_item(cl, ref->name);

        if (!it) {
                free(ref);
                return;
        }
        if (!reply || reply->type != REDIS_REPLY_INTEGER) {
                it->cluster_dirty = true; /* pushed again at the next tick with Redis up */
                if (reply && reply->type == REDIS_REPLY_ERROR)
                        log_app(LOG_WARNING, it->name, 0, "cluster: Redis refused the publish script: %s", reply->str);
        } else if (reply->integer == -2) {
                /* Redis holds a later fetch than ours: reading it in makes this host take it. */
                it->cluster_dirty = false;
                cluster_read_item(cl, it, REF_READ);
        } else if (reply->integer < 0) {
                it->cluster_dirty = false;
                if (it->app->holder)
                        cluster_lease_lost(cl, it->app, "Redis says another node holds the lease");
                cluster_read_item(cl, it, REF_READ);
        } else {
                it->cluster_dirty = false;
                /* Redis held a newer or conflicting generation: ours is raised past it everywhere. */
                if ((uint64_t)reply->integer > it->generation)
                        item_mirror(it, it->value, it->value_len, (uint64_t)reply->integer, it->expires_at_ms,
                                    it->fetched_at_ms);
        }
        free(ref);
}

void cluster_push(struct cluster *cl, struct item *it) {
        char name[CLUSTER_NAME_MAX], lkey[CLUSTER_NAME_MAX + 80], ikey[CLUSTER_NAME_MAX + 80], gen[24], exp[24], fet[24];
        const char *argv[] = { "EVAL", cluster_script_publish, "2", lkey, ikey, cl->lease_id, gen, it->value,
                               exp, fet, cl->channel, name };

        cluster_item_name(it, name, sizeof(name));
        cluster_lease_key(cl, it->app, lkey, sizeof(lkey));
        snprintf(ikey, sizeof(ikey), "%s:item:%s", conf(cl)->key_prefix, name);
        snprintf(gen, sizeof(gen), "%" PRIu64, it->generation);
        snprintf(exp, sizeof(exp), "%" PRId64, it->expires_at_ms);
        snprintf(fet, sizeof(fet), "%" PRId64, it->fetched_at_ms);
        it->cluster_dirty = !cluster_send(cl, on_push, cluster_ref_new(REF_PUSH, name), 12, argv);
}

void cluster_published(struct item *it) {
        struct cluster *cl = it->app->agent->cluster;

        if (!cl || !it->app->holder)
                return;
        cluster_push(cl, it);
}

/* ---- the tick ---- */

static void tick_work(struct cluster *cl, bool reconcile) {
        int64_t now = cluster_clock_ms(), renew_every = conf(cl)->lease_ms / 3;

        if (cl->stopping)
                return;
        for (size_t i = 0; i < cl->agent->n_apps; i++) {
                struct app *app = cl->agent->apps[i];

                if (!app)
                        continue;
                if (app->holder && now >= app->lease_deadline_ms)
                        cluster_lease_lost(cl, app, "the lease could not be renewed in time");
                if (!cl->up)
                        continue;
                /* A holder renews at every tick from a third of the lease on, so a late tick costs nothing. */
                if (!app->lease_inflight && (!app->holder || now - app->lease_sent_ms >= renew_every / 2))
                        cluster_lease_send(cl, app, app->holder);
                for (int t = -1; t < app->n_tickets; t++) {
                        struct item *it = t < 0 ? &app->token : &app->tickets[t];

                        if (app->holder && it->cluster_resume)
                                cluster_read_item(cl, it, REF_RESUME);
                        else if (reconcile)
                                cluster_read_item(cl, it, REF_READ);
                        if (app->holder && it->cluster_dirty)
                                cluster_push(cl, it);
                        if (!app->holder && it->forwarded_gen == it->generation && it->forwarded_at_ms)
                                cluster_forward(cl, it);
                }
        }
}

int64_t cluster_tick_ms(const struct cluster *cl) {
        int64_t t = conf(cl)->lease_ms / 3;

        /* Claims at least once a second: a dead holder's app is taken within lease_ms + 1 s. */
        return t > 1000 ? 1000 : t;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cluster *cl = userdata;
        int64_t every = RECONCILE_EVERY_MS / cluster_tick_ms(cl);

        cluster_link_check(cl);
        cl->ticks++;
        tick_work(cl, every < 1 || cl->ticks % (uint64_t)every == 0);
        sd_event_source_set_time_relative(s, (uint64_t)cluster_tick_ms(cl) * 1000);
        return 0;
}

void cluster_on_up(struct cluster *cl) {
        tick_work(cl, true);
}

int cluster_start(struct cluster *cl) {
        int r = sd_event_add_time_relative(cl->agent->loop, &cl->tick, CLOCK_BOOTTIME,
                                           (uint64_t)cluster_tick_ms(cl) * 1000, 20 * 1000, on_tick, cl);

        if (r < 0)
                return r;
        sd_event_source_set_enabled(cl->tick, SD_EVENT_ON);
        cluster_connect(cl);
        return 0;
}

void cluster_free(struct cluster *cl) {
        if (!cl)
                return;
        cluster_links_free(cl);
        resolve_free(cl->resolving);
        sd_event_source_disable_unref(cl->release_wait);
        sd_event_source_disable_unref(cl->tick);
        sd_event_source_disable_unref(cl->retry);
        free(cl);
}

/* ---- status ---- */

void cluster_get_status(const struct cluster *cl, struct cluster_status *st) {
        unsigned n = 0;

        for (size_t i = 0; i < cl->agent->n_apps; i++)
                if (cl->agent->apps[i] && cl->agent->apps[i]->holder)
                        n++;
        *st = (struct cluster_status){
                .node_id = conf(cl)->node_id,
                .redis = conf(cl)->redis,
                .connected = cl->up,
                .down_since_ms = cl->up ? 0 : cl->down_since_ms,
                .last_error = cl->last_error,
                .holder_of = n,
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
