/* cluster.c: cluster mode's leases, publishing through Redis, mirroring, and forwarded refreshes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "app-force.h"
#include "clock.h"
#include "cluster-internal.h"
#include "cluster-record.h"
#include "cluster-scripts.h"
#include "log.h"
#include "redis-link.h"

#define RECONCILE_EVERY_MS 5000         /* a lost notification is made up for this late at most */

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->svc->config->cluster;
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
        char app[CLUSTER_NAME_MAX - 16];    /* room for ".agent_config" within CLUSTER_NAME_MAX */
        if (it->auth || it->owner) { /* an account authorized to a platform, or its ticket (cluster-accounts.c) */
                cluster_authorizer_name(it, buf, size);
                return;
        }

        cluster_app_name(it->app, app, sizeof(app));
        snprintf(buf, size, "%s%s%s", app, it->ticket ? "." : "", it->ticket ? ticket_type_name(it->ticket) : "");
}

struct app *cluster_find_app(struct cluster *cl, const char *name) {
        char n[CLUSTER_NAME_MAX];

        for (size_t i = 0; i < cl->svc->n_apps; i++) {
                struct app *app = cl->svc->apps[i];

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

        if (cluster_is_account_name(name))
                return cluster_find_authorizer(cl, name);

        for (size_t i = 0; i < cl->svc->n_apps; i++) {
                struct app *app = cl->svc->apps[i];

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

/* A reply on the link, to the function its ref names. */
static void on_reply(void *owner, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;

        ref->fn(owner, reply, ref);
}

/* Send a command about name; on failure the ref is freed and false returned. */
bool cluster_send(struct cluster *cl, cluster_reply_fn fn, struct cluster_ref *ref, int argc, const char **argv) {
        size_t lens[16];

        if (!ref)
                return false;
        for (int i = 0; i < argc; i++)
                lens[i] = strlen(argv[i]);
        ref->fn = fn;
        if (redis_link_command(cl->link, on_reply, ref, argc, argv, lens) < 0) {
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
static void push_record(struct cluster *cl, struct item *it, bool overwrite);

static void item_key(const struct cluster *cl, const struct item *it, char *buf, size_t size) {
        char name[CLUSTER_NAME_MAX];

        cluster_item_name(it, name, sizeof(name));
        snprintf(buf, size, "%s:item:%s", conf(cl)->key_prefix, name);
}

/* Through the read script: sizes and type are checked in Redis before any value is sent here. */
void cluster_read_item(struct cluster *cl, struct item *it, enum cluster_ref_what what) {
        char name[CLUSTER_NAME_MAX], key[CLUSTER_NAME_MAX + 80], max[16];
        const char *argv[] = { "EVAL", cluster_script_read, "1", key, max };

        cluster_item_name(it, name, sizeof(name));
        item_key(cl, it, key, sizeof(key));
        snprintf(max, sizeof(max), "%d", CLUSTER_FIELD_MAX);
        if (!cluster_send(cl, on_read, cluster_ref_new(what, name), 5, argv) && what == REF_RESUME && it->app->lease.holder)
                it->cluster_resume = true; /* the next claim or reconcile resumes it */
}

/*
 * What is wrong with the item's record in Redis, why (NULL: nothing any more): one log
 * line per change, not one per read, and status shows it (cluster_problem).
 */
static void item_problem(struct item *it, const char *why) {
        if (!cluster_problem_set(&it->cluster_problem, why))
                return;
        if (!why)
                log_app(LOG_NOTICE, it->name, 0, "cluster: Redis's record is usable again");
        else
                log_app(LOG_WARNING, it->name, 0, "cluster: %s", it->cluster_problem);
        services_changed(it->app->svc);
}

bool cluster_problem_set(char **slot, const char *why) {
        char *text;

        if (!why) {
                if (!*slot)
                        return false;
                free(*slot);
                *slot = NULL;
                return true;
        }
        if (*slot && !strncmp(*slot, why, CLUSTER_PROBLEM_MAX - 1))
                return false;
        /* Out of memory: the old text stays (status shows something is wrong, if not what). */
        text = strndup(why, CLUSTER_PROBLEM_MAX - 1);
        if (!text)
                return false;
        free(*slot);
        *slot = text;
        return true;
}

const char *cluster_problem(const struct item *it) {
        return it->cluster_problem ? it->cluster_problem : it->app->lease_problem;
}

bool cluster_servable(const struct item *it) {
        return it->value_len && it->core.expires_at_ms > clock_wall_ms();
}

struct reconcile_ours cluster_ours(const struct item *it) {
        return (struct reconcile_ours){ .generation = it->core.generation,
                                        .fetched_at_ms = it->core.fetched_at_ms,
                                        .expires_at_ms = it->core.expires_at_ms,
                                        .servable = cluster_servable(it) };
}

/* Carry out what agent/core/reconcile.c decided; their token is Redis's or a sync note's (NULL if none). */
void cluster_settle(struct cluster *cl, struct item *it, struct reconcile_action a, const char *token, size_t len,
                    int64_t expires_at_ms, int64_t fetched_at_ms) {
        switch (a.verdict) {
        case RECONCILE_MIRROR_THEIRS:
                item_mirror(it, token, len, a.generation, expires_at_ms, fetched_at_ms);
                break;
        case RECONCILE_THEIRS_ABOVE:
                if (item_mirror(it, token, len, a.generation, expires_at_ms, fetched_at_ms))
                        cluster_push(cl, it);
                break;
        case RECONCILE_OURS_ABOVE:
                if (item_mirror(it, it->value, it->value_len, a.generation, it->core.expires_at_ms, it->core.fetched_at_ms))
                        cluster_push(cl, it);
                break;
        case RECONCILE_PUSH:
                push_record(cl, it, false);
                break;
        case RECONCILE_REPLACE:
                push_record(cl, it, true);
                break;
        case RECONCILE_SYNC:
                cluster_send_sync(cl, it);
                break;
        case RECONCILE_NOTHING:
                break;
        }
}

/* Redis's record against ours: agent/core/reconcile.c weighs them. */
static void reconcile(struct cluster *cl, struct item *it, const struct cluster_record *rec, bool same) {
        struct reconcile_ours ours = cluster_ours(it);
        struct reconcile_theirs theirs = { rec->generation, rec->fetched_at_ms, rec->expires_at_ms };

        cluster_settle(cl, it, reconcile_record(it->app->lease.holder, &ours, &theirs, same), rec->token, rec->token_len,
                       rec->expires_at_ms, rec->fetched_at_ms);
}

/*
 * The read script's answer, decoded and bounded: 1 and rec filled for a usable record, 0
 * for none; -1 for one that is not usable, with the reason set as the item's problem.
 */
static int read_answer(struct cluster *cl, struct item *it, const redisReply *reply, struct cluster_record *rec) {
        struct cluster_field f[CLUSTER_F_MAX];
        char key[CLUSTER_NAME_MAX + 80], why[160], problem[CLUSTER_PROBLEM_MAX];
        const redisReply *v;
        long long code;

        item_key(cl, it, key, sizeof(key));
        if (reply->type == REDIS_REPLY_ERROR) {
                snprintf(problem, sizeof(problem), "Redis refused to read %s: %.120s", key, reply->str);
                item_problem(it, problem);
                return -1;
        }
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER)
                return -1;
        code = reply->element[0]->integer;
        if (code == 0)
                return 0;
        if (code == -1 && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING) {
                snprintf(problem, sizeof(problem), "Redis key %s is a %.16s, not a hash: no agent can publish this "
                         "app through Redis until it is deleted (DEL %s)", key, reply->element[1]->str, key);
                item_problem(it, problem);
                return -1;
        }
        if (code == -2 && reply->elements == 3 && reply->element[1]->type == REDIS_REPLY_STRING) {
                snprintf(problem, sizeof(problem), "Redis key %s has a field %.16s of %lld bytes, longer than %d: not "
                         "read, not published%s", key, reply->element[1]->str,
                         reply->element[2]->type == REDIS_REPLY_INTEGER ? reply->element[2]->integer : -1LL,
                         CLUSTER_FIELD_MAX, it->app->lease.holder ? "; this holder replaces the record" : "");
                item_problem(it, problem);
                return -1;
        }
        if (code != 1 || reply->elements != 2 || (v = reply->element[1])->type != REDIS_REPLY_ARRAY ||
            v->elements != CLUSTER_F_MAX)
                return -1;
        for (int i = 0; i < CLUSTER_F_MAX; i++)
                f[i] = v->element[i]->type == REDIS_REPLY_STRING ? (struct cluster_field){ v->element[i]->str,
                                                                                           v->element[i]->len }
                                                                 : (struct cluster_field){ NULL, 0 };
        /* Absent altogether (only a "node" or stray fields): as no record. */
        if (!f[CLUSTER_F_GENERATION].str && !f[CLUSTER_F_TOKEN].str)
                return 0;
        if (cluster_record_decode(f, key, it->core.generation, clock_wall_ms(), conf(cl)->fleet_key, rec, why,
                                  sizeof(why)) < 0) {
                snprintf(problem, sizeof(problem), "Redis key %s is refused: %s; not published%s", key, why,
                         it->app->lease.holder ? ", this holder replaces it" : "");
                item_problem(it, problem);
                return -1;
        }
        return 1;
}

static void on_read(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct item *it = cluster_find_item(cl, ref->name);
        struct cluster_record rec;
        struct reconcile_ours ours;
        bool present = false, same = false;
        int r;

        if (!it || !reply) {
                if (it && ref->what == REF_RESUME)
                        it->cluster_resume = true;
                free(ref);
                return;
        }
        r = read_answer(cl, it, reply, &rec);
        present = r > 0;
        if (r >= 0)
                item_problem(it, NULL);
        /*
         * This host is at a generation nothing can follow (it took 2^53-1 when it had none),
         * and the holder has moved the fleet on below it: start a new segment to mirror it.
         */
        if (present && !item_can_publish(it) && rec.generation < it->core.generation && item_segment_renew(it) < 0)
                present = false;
        if (present) {
                same = rec.token_len == it->value_len && memcmp(rec.token, item_value(it), it->value_len) == 0;
                reconcile(cl, it, &rec, same);
        } else {
                /* Redis lost it (restarted empty), or holds what no agent may take: the holder puts back what it serves. */
                ours = cluster_ours(it);
                cluster_settle(cl, it, reconcile_missing(it->app->lease.holder, &ours, r < 0), NULL, 0, 0, 0);
        }
        explicit_bzero(&rec, sizeof(rec));
        /* A new holder that found Redis empty waits out its predecessor's lease (lease_quiet_after_resume). */
        if (ref->what == REF_RESUME) {
                it->app->lease.quiet_until_ms = lease_quiet_after_resume(&it->app->lease, present, cluster_servable(it),
                                                                         ref->sent_ms, conf(cl)->lease_ms);
        }
        if (ref->what == REF_RESUME && it->app->lease.holder) {
                it->cluster_resume = false;
                item_cluster_resume(it); /* and this host's own clients, handed to the last holder, wait here */
        }
        free(ref);
}

/* ---- the holder publishes ---- */

static void on_push(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct item *it = cluster_find_item(cl, ref->name);
        char problem[CLUSTER_PROBLEM_MAX];
        long long code;

        if (!it) {
                free(ref);
                return;
        }
        it->cluster_dirty = false;
        code = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer
               : reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                 reply->element[0]->type == REDIS_REPLY_INTEGER ? reply->element[0]->integer : 0;
        if (!reply || (reply->type != REDIS_REPLY_INTEGER && code > -3)) {
                it->cluster_dirty = true; /* pushed again at the next tick with Redis up */
                if (reply && reply->type == REDIS_REPLY_ERROR) {
                        snprintf(problem, sizeof(problem), "Redis refused the publish script: %.150s", reply->str);
                        item_problem(it, problem);
                }
        } else if (code >= 0) {
                item_problem(it, NULL); /* Redis holds this host's record: nothing is wrong with it any more */
        } else if (code == -2) {
                /* Redis holds a later fetch than ours: reading it in makes this host take it (or replace it). */
                cluster_read_item(cl, it, REF_READ);
        } else if (code == -1) {
                if (it->app->lease.holder)
                        cluster_lease_lost(cl, it->app, "Redis says another node holds the lease");
                cluster_read_item(cl, it, REF_READ);
        } else if (code == -3 && reply->element[1]->type == REDIS_REPLY_INTEGER) {
                /*
                 * Redis holds this generation or a later one for another token: ours goes above
                 * it everywhere. The script has bounded it (below 2^53, at most 1,000 above ours).
                 */
                cluster_settle(cl, it, reconcile_raise(it->core.generation, reply->element[1]->integer,
                                                       CLUSTER_GENERATION_LIMIT, CLUSTER_GENERATION_STEP),
                               NULL, 0, 0, 0);
        } else if (code == -4 && reply->element[1]->type == REDIS_REPLY_STRING) {
                char key[CLUSTER_NAME_MAX + 80];

                item_key(cl, it, key, sizeof(key));
                snprintf(problem, sizeof(problem), "Redis key %s is a %.16s, not a hash: no agent can publish this "
                         "app through Redis until it is deleted (DEL %s)", key, reply->element[1]->str, key);
                item_problem(it, problem);
        }
        free(ref);
}

/* overwrite: Redis's record was found unusable (read_answer), so the script must not weigh it. */
static void push_record(struct cluster *cl, struct item *it, bool overwrite) {
        const char *fleet_key = conf(cl)->fleet_key;
        char name[CLUSTER_NAME_MAX], lkey[CLUSTER_NAME_MAX + 80], ikey[CLUSTER_NAME_MAX + 80], gen[24], exp[24], fet[24];
        char text[CLUSTER_NAME_MAX + 32], note[CLUSTER_NAME_MAX + CLUSTER_MAC_HEX + 40], mac[CLUSTER_MAC_HEX + 1] = "";
        char ceiling[24], max[16];
        const char *argv[] = { "EVAL", cluster_script_publish, "2", lkey, ikey, cl->lease_id, gen, item_value(it),
                               exp, fet, cl->channel, note, mac, ceiling, overwrite ? "1" : "0", max };

        cluster_item_name(it, name, sizeof(name));
        cluster_lease_key(cl, it->app, lkey, sizeof(lkey));
        item_key(cl, it, ikey, sizeof(ikey));
        snprintf(gen, sizeof(gen), "%" PRIu64, it->core.generation);
        snprintf(exp, sizeof(exp), "%" PRId64, it->core.expires_at_ms);
        snprintf(fet, sizeof(fet), "%" PRId64, it->core.fetched_at_ms);
        snprintf(ceiling, sizeof(ceiling), "%" PRId64, clock_wall_ms() + CLUSTER_SKEW_MS);
        snprintf(max, sizeof(max), "%d", CLUSTER_FIELD_MAX);
        note_format_pub(text, sizeof(text), name, it->core.generation);
        if (fleet_key)
                cluster_record_sign(fleet_key, ikey, it->core.generation, item_value(it), it->core.expires_at_ms, it->core.fetched_at_ms,
                                    mac);
        if (!cluster_note_sign(fleet_key, cl->channel, text, note, sizeof(note)) || it->core.generation == 0 ||
            it->core.generation >= CLUSTER_GENERATION_LIMIT) {
                it->cluster_dirty = false;
                return;
        }
        it->cluster_dirty = !cluster_send(cl, on_push, cluster_ref_new(REF_PUSH, name), 16, argv);
}

void cluster_push(struct cluster *cl, struct item *it) {
        push_record(cl, it, false);
}

void cluster_item_tick(struct cluster *cl, struct item *it, bool reconcile) {
        if (it->app->lease.holder && it->cluster_resume)
                cluster_read_item(cl, it, REF_RESUME);
        else if (reconcile)
                cluster_read_item(cl, it, REF_READ);
        if (it->app->lease.holder && it->cluster_dirty)
                cluster_push(cl, it);
        if (!it->app->lease.holder && it->forwarded_gen == it->core.generation && it->forwarded_at_ms)
                cluster_forward(cl, it);
}

void cluster_published(struct item *it) {
        struct cluster *cl = it->app->svc->cluster;

        if (!cl || !it->app->lease.holder)
                return;
        cluster_push(cl, it);
}

/* ---- the tick ---- */

static void tick_work(struct cluster *cl, bool reconcile) {
        int64_t now = cluster_clock_ms();

        if (cl->stopping)
                return;
        for (size_t i = 0; i < cl->svc->n_apps; i++) {
                struct app *app = cl->svc->apps[i];

                if (!app)
                        continue;
                if (lease_expired(&app->lease, now))
                        cluster_lease_lost(cl, app, "the lease could not be renewed in time");
                if (!redis_link_up(cl->link))
                        continue;
                if (lease_should_send(&app->lease, now, conf(cl)->lease_ms))
                        cluster_lease_send(cl, app, app->lease.holder);
                for (int t = -1; t < app->n_tickets; t++)
                        cluster_item_tick(cl, t < 0 ? &app->token : &app->tickets[t], reconcile);
                cluster_accounts_tick(cl, app, reconcile);
        }
}

int64_t cluster_tick_ms(const struct cluster *cl) {
        return lease_tick_ms(conf(cl)->lease_ms);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cluster *cl = userdata;
        int64_t every = RECONCILE_EVERY_MS / cluster_tick_ms(cl);

        redis_link_check(cl->link, cluster_io_timeout_ms(cl));
        cl->ticks++;
        tick_work(cl, every < 1 || cl->ticks % (uint64_t)every == 0);
        sd_event_source_set_time_relative(s, (uint64_t)cluster_tick_ms(cl) * 1000);
        return 0;
}

void cluster_on_up(struct cluster *cl) {
        tick_work(cl, true);
}

int cluster_start(struct cluster *cl) {
        int r = sd_event_add_time_relative(cl->svc->loop, &cl->tick, CLOCK_BOOTTIME,
                                           (uint64_t)cluster_tick_ms(cl) * 1000, 20 * 1000, on_tick, cl);

        if (r < 0)
                return r;
        sd_event_source_set_enabled(cl->tick, SD_EVENT_ON);
        redis_link_connect(cl->link);
        return 0;
}

void cluster_free(struct cluster *cl) {
        if (!cl)
                return;
        redis_link_free(cl->link);
        sd_event_source_disable_unref(cl->release_wait);
        sd_event_source_disable_unref(cl->tick);
        free(cl);
}
