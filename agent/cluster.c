/* cluster.c: cluster mode's leases, publishing through Redis, mirroring, and forwarded refreshes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "budget.h"
#include "cluster-internal.h"
#include "cluster-scripts.h"
#include "log.h"
#include "protocol.h"
#include "resolve.h"

#define RECONCILE_EVERY_MS 5000         /* a lost notification is made up for this late at most */
#define FORWARD_REPEAT_MS 1000          /* a forced refresh handed on and unanswered goes again */
#define NAME_MAX_LEN 192

enum ref_what { REF_CLAIM, REF_RENEW, REF_READ, REF_RESUME, REF_PUSH, REF_NOTE, REF_RELEASE, REF_BUDGET };

/* What a reply is about, by name: the app may be gone (reload) when it arrives. */
struct ref {
        enum ref_what what;
        char name[NAME_MAX_LEN];
        int64_t sent_ms;                /* cluster_clock_ms */
};

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->agent->config->cluster;
}

static int64_t tick_interval_ms(const struct cluster *cl);

/*
 * The name every agent gives an app in Redis: kind and appid, which are what WeChat's
 * token belongs to. A WeCom corp has one token per app secret, so there the app's own
 * name joins in (it must then be the same on every host).
 */
static void app_cluster_name(const struct app *app, char *buf, size_t size) {
        if (app->cfg->kind == APP_KIND_WORK)
                snprintf(buf, size, "work:%s:%s", app->cfg->appid, app->cfg->name);
        else
                snprintf(buf, size, "%s:%s", app_kind_name(app->cfg->kind), app->cfg->appid);
}

static void item_cluster_name(const struct item *it, char *buf, size_t size) {
        char app[NAME_MAX_LEN - 16];    /* room for ".wx_card" within NAME_MAX_LEN */

        app_cluster_name(it->app, app, sizeof(app));
        snprintf(buf, size, "%s%s%s", app, it->ticket ? "." : "", it->ticket ? ticket_type_name(it->ticket) : "");
}

static struct app *find_app(struct cluster *cl, const char *name) {
        char n[NAME_MAX_LEN];

        for (size_t i = 0; i < cl->agent->n_apps; i++) {
                struct app *app = cl->agent->apps[i];

                if (!app)
                        continue;
                app_cluster_name(app, n, sizeof(n));
                if (!strcmp(n, name))
                        return app;
        }
        return NULL;
}

static struct item *find_item(struct cluster *cl, const char *name) {
        char n[NAME_MAX_LEN];

        for (size_t i = 0; i < cl->agent->n_apps; i++) {
                struct app *app = cl->agent->apps[i];

                for (int t = -1; app && t < app->n_tickets; t++) {
                        struct item *it = t < 0 ? &app->token : &app->tickets[t];

                        item_cluster_name(it, n, sizeof(n));
                        if (!strcmp(n, name))
                                return it;
                }
        }
        return NULL;
}

static struct ref *ref_new(enum ref_what what, const char *name) {
        struct ref *r = malloc(sizeof(*r));

        if (r) {
                r->what = what;
                r->sent_ms = cluster_clock_ms();
                snprintf(r->name, sizeof(r->name), "%s", name);
        }
        return r;
}

/* Send a command about name; on failure the ref is freed and false returned. */
static bool send(struct cluster *cl, cluster_reply_fn fn, struct ref *ref, int argc, const char **argv) {
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

static void lease_key(const struct cluster *cl, const struct app *app, char *buf, size_t size) {
        char n[NAME_MAX_LEN];

        app_cluster_name(app, n, sizeof(n));
        snprintf(buf, size, "%s:lease:%s", conf(cl)->key_prefix, n);
}

static void on_note(struct cluster *cl, redisReply *reply, void *userdata) {
        free(userdata);
}

static void publish_note(struct cluster *cl, const char *note) {
        const char *argv[] = { "PUBLISH", cl->channel, note };

        send(cl, on_note, ref_new(REF_NOTE, ""), 3, argv);
}

static void lease_lost(struct cluster *cl, struct app *app, const char *why) {
        app->holder = false;
        /*
         * A token this agent could not push is not pushed later as if current: if the lease
         * comes back, on_read weighs it against Redis's by fetch time first.
         */
        for (int t = -1; t < app->n_tickets; t++)
                (t < 0 ? &app->token : &app->tickets[t])->cluster_dirty = false;
        log_app(LOG_WARNING, app->cfg->name, 0, "cluster: no longer the lease holder (%s): this agent does not call "
                "WeChat for this app", why);
        agent_state_changed(cl->agent);
}

/* ---- reading an item from Redis, mirroring it, seeding Redis from a holder's segment ---- */

static void push(struct cluster *cl, struct item *it);

static void on_read(struct cluster *cl, redisReply *reply, void *userdata);

static void read_item(struct cluster *cl, struct item *it, enum ref_what what) {
        char name[NAME_MAX_LEN], key[NAME_MAX_LEN + 80];
        const char *argv[] = { "HMGET", key, "generation", "token", "expires_at", "fetched_at" };

        item_cluster_name(it, name, sizeof(name));
        snprintf(key, sizeof(key), "%s:item:%s", conf(cl)->key_prefix, name);
        if (!send(cl, on_read, ref_new(what, name), 6, argv) && what == REF_RESUME && it->app->holder)
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
static bool token_sane(const char *s, size_t len) {
        if (len == 0 || len > UPSTREAM_TOKEN_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
                        return false;
        return true;
}

static bool reply_token_sane(const redisReply *e) {
        return e && e->type == REDIS_REPLY_STRING && token_sane(e->str, e->len);
}

static bool servable(const struct item *it) {
        return it->value_len && it->expires_at_ms > agent_now_ms();
}

static void send_sync(struct cluster *cl, struct item *it);

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
                else if (holder && gen < it->generation && servable(it))
                        push(cl, it);
        } else if (fetched >= it->fetched_at_ms) {
                /* Redis's token is the later fetch. */
                if (gen > it->generation) {
                        item_mirror(it, token->str, token->len, gen, expires, fetched);
                } else if (holder) {
                        /* Pushed only if taken: a refused one (times implausible here) would be read back, forever. */
                        if (item_mirror(it, token->str, token->len, it->generation + 1, expires, fetched))
                                push(cl, it);
                } else {
                        send_sync(cl, it);
                }
        } else if (servable(it)) {
                /* Ours is the later fetch. */
                if (holder)
                        push(cl, it);
                else
                        send_sync(cl, it);
        }
}

static void on_read(struct cluster *cl, redisReply *reply, void *userdata) {
        struct ref *ref = userdata;
        struct item *it = find_item(cl, ref->name);
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
        } else if (it->app->holder && servable(it)) {
                push(cl, it); /* Redis lost it (restarted empty): the holder puts back what it serves */
        }
        /*
         * A new holder finding no record while it has a token of its own: Redis lost its
         * keys (restarted empty), so the previous holder may still think it holds the lease
         * and be inside a call. No call here until that lease would have run out.
         */
        if (ref->what == REF_RESUME && it->app->holder && !present && servable(it) &&
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
        struct ref *ref = userdata;
        struct item *it = find_item(cl, ref->name);

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
                read_item(cl, it, REF_READ);
        } else if (reply->integer < 0) {
                it->cluster_dirty = false;
                if (it->app->holder)
                        lease_lost(cl, it->app, "Redis says another node holds the lease");
                read_item(cl, it, REF_READ);
        } else {
                it->cluster_dirty = false;
                /* Redis held a newer or conflicting generation: ours is raised past it everywhere. */
                if ((uint64_t)reply->integer > it->generation)
                        item_mirror(it, it->value, it->value_len, (uint64_t)reply->integer, it->expires_at_ms,
                                    it->fetched_at_ms);
        }
        free(ref);
}

static void push(struct cluster *cl, struct item *it) {
        char name[NAME_MAX_LEN], lkey[NAME_MAX_LEN + 80], ikey[NAME_MAX_LEN + 80], gen[24], exp[24], fet[24];
        const char *argv[] = { "EVAL", cluster_script_publish, "2", lkey, ikey, cl->lease_id, gen, it->value,
                               exp, fet, cl->channel, name };

        item_cluster_name(it, name, sizeof(name));
        lease_key(cl, it->app, lkey, sizeof(lkey));
        snprintf(ikey, sizeof(ikey), "%s:item:%s", conf(cl)->key_prefix, name);
        snprintf(gen, sizeof(gen), "%" PRIu64, it->generation);
        snprintf(exp, sizeof(exp), "%" PRId64, it->expires_at_ms);
        snprintf(fet, sizeof(fet), "%" PRId64, it->fetched_at_ms);
        it->cluster_dirty = !send(cl, on_push, ref_new(REF_PUSH, name), 12, argv);
}

void cluster_published(struct item *it) {
        struct cluster *cl = it->app->agent->cluster;

        if (!cl || !it->app->holder)
                return;
        push(cl, it);
}

/* ---- leases ---- */

static void on_lease(struct cluster *cl, redisReply *reply, void *userdata) {
        struct ref *ref = userdata;
        struct app *app = find_app(cl, ref->name);
        bool won;

        if (!app) {
                free(ref);
                return;
        }
        app->lease_inflight = false;
        if (ref->what == REF_RENEW && reply && reply->type == REDIS_REPLY_INTEGER) {
                if (reply->integer == 1 && app->holder)
                        app->lease_deadline_ms = ref->sent_ms + conf(cl)->lease_ms;
                else if (app->holder)
                        lease_lost(cl, app, "the lease was not ours any more at renewal");
        } else if (ref->what == REF_CLAIM && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                   reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[1]->type == REDIS_REPLY_STRING) {
                won = reply->element[0]->integer == 1 && !cl->stopping;
                /* Shown by its node id: the process's random part means nothing to an operator. */
                snprintf(app->lease_holder, sizeof(app->lease_holder), "%.*s",
                         (int)strcspn(reply->element[1]->str, "/"), reply->element[1]->str);
                if (won && !app->holder) {
                        /* Counted from when the claim left: Redis's lease runs out no earlier. */
                        app->holder = true;
                        app->lease_deadline_ms = ref->sent_ms + conf(cl)->lease_ms;
                        log_app(LOG_NOTICE, app->cfg->name, 0, "cluster: this agent (%s) now holds the lease: it "
                                "alone calls WeChat for this app", conf(cl)->node_id);
                        agent_state_changed(cl->agent);
                        /*
                         * Take Redis's token first; call WeChat only if that one needs it. No
                         * call before that read is answered (cluster_call_budget).
                         */
                        for (int t = -1; t < app->n_tickets; t++) {
                                struct item *it = t < 0 ? &app->token : &app->tickets[t];

                                it->cluster_resume = true;
                                read_item(cl, it, REF_RESUME);
                        }
                }
        } else if (reply && reply->type == REDIS_REPLY_ERROR) {
                log_app(LOG_WARNING, app->cfg->name, 0, "cluster: Redis refused the lease script: %s", reply->str);
        }
        free(ref);
}

static void lease_send(struct cluster *cl, struct app *app, bool renew) {
        char name[NAME_MAX_LEN], key[NAME_MAX_LEN + 80], ms[24];
        const char *argv[] = { "EVAL", renew ? cluster_script_renew : cluster_script_claim, "1", key,
                               cl->lease_id, ms };

        app_cluster_name(app, name, sizeof(name));
        lease_key(cl, app, key, sizeof(key));
        snprintf(ms, sizeof(ms), "%" PRId64, conf(cl)->lease_ms);
        app->lease_inflight = send(cl, on_lease, ref_new(renew ? REF_RENEW : REF_CLAIM, name), 6, argv);
        if (app->lease_inflight)
                app->lease_sent_ms = cluster_clock_ms();
}

int64_t cluster_call_budget(const struct app *app) {
        const struct cluster *cl = app->agent->cluster;
        int64_t left, margin, lease;

        if (!cl)
                return AGENT_HTTP_TIMEOUT_MS;
        if (!app->holder)
                return 0;
        /*
         * The call must be over before the lease could pass to another agent, or two could
         * rotate the token at once: its timeout ends short of the lease, and a call with
         * too little lease left waits for the renewal.
         */
        lease = conf(cl)->lease_ms;
        margin = lease / 10 < 200 ? lease / 10 : 200;
        left = app->lease_deadline_ms - cluster_clock_ms() - margin;
        if (left < lease / 4 || cluster_clock_ms() < app->quiet_until_ms)
                return 0;
        /* A new holder calls nothing before it has read what Redis holds (on_read, REF_RESUME). */
        for (int t = -1; t < app->n_tickets; t++)
                if ((t < 0 ? &app->token : &app->tickets[t])->cluster_resume)
                        return 0;
        return left < AGENT_HTTP_TIMEOUT_MS ? left : AGENT_HTTP_TIMEOUT_MS;
}

/* ---- forced refreshes across hosts ---- */

/*
 * Hand this host's waiting forced refreshes to the holder, at most once a FORWARD_REPEAT_MS
 * per generation: again from the tick while they wait, since a note is fire-and-forget
 * (lost while the holder's subscription reconnects, or with a holder that died).
 */
static void forward(struct cluster *cl, struct item *it) {
        char name[NAME_MAX_LEN], note[NAME_MAX_LEN + CLUSTER_LEASE_ID_MAX + 64];
        int64_t now = cluster_clock_ms(), left = force_waiters_until(it) - agent_now_ms();

        if (left <= 0 || (it->forwarded_gen == it->generation && now - it->forwarded_at_ms < FORWARD_REPEAT_MS))
                return;
        item_cluster_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "force %s %" PRIu64 " %s %" PRId64, name, it->generation, cl->lease_id, left);
        publish_note(cl, note);
        it->forwarded_gen = it->generation;
        it->forwarded_at_ms = now;
}

void cluster_blocked(struct item *it) {
        struct cluster *cl = it->app->agent->cluster;
        char message[256];

        if (!cl)
                return;
        /* The holder with too little lease left: its renewal is on the way; try again shortly. */
        if (it->app->holder) {
                item_fetch_at(it, agent_now_ms() + tick_interval_ms(cl) / 2);
                return;
        }
        if (it->force_stage == FORCE_NONE)
                return; /* a planned refresh: the holder makes it */
        it->force_stage = FORCE_NONE;
        if (!cl->up) {
                snprintf(message, sizeof(message), "cluster: Redis %s is unreachable, so no agent can refresh this app "
                         "now; the last token stays published", conf(cl)->redis);
                force_abort(it, PROTO_E_UPSTREAM, message);
                return;
        }
        forward(cl, it);
}

void cluster_force_failed(struct item *it, const char *code, const char *message, int64_t retry_after_ms) {
        struct cluster *cl = it->app->agent->cluster;
        char name[NAME_MAX_LEN], note[NAME_MAX_LEN + 400];

        if (!cl || !it->app->holder)
                return;
        item_cluster_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "fail %s %" PRIu64 " %" PRId64 " %s %.300s", name, it->generation, retry_after_ms,
                 code, message);
        publish_note(cl, note);
}

void cluster_force_verified(struct item *it) {
        struct cluster *cl = it->app->agent->cluster;
        char name[NAME_MAX_LEN], note[NAME_MAX_LEN + 40];

        if (!cl || !it->app->holder)
                return;
        item_cluster_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "verified %s %" PRIu64, name, it->generation);
        publish_note(cl, note);
}

/*
 * A host whose token and generation disagree with Redis's asks the holder to settle it:
 * "sync NAME GEN FETCHED_AT EXPIRES_AT TOKEN", its own record. The holder keeps the later
 * fetch of the two and pushes it above both generations, so every host mirrors it.
 */
static void send_sync(struct cluster *cl, struct item *it) {
        char name[NAME_MAX_LEN], note[NAME_MAX_LEN + UPSTREAM_TOKEN_MAX + 96];

        item_cluster_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "sync %s %" PRIu64 " %" PRId64 " %" PRId64 " %s", name, it->generation,
                 it->fetched_at_ms, it->expires_at_ms, it->value);
        publish_note(cl, note);
}

static void on_sync(struct cluster *cl, struct item *it, uint64_t gen, const char *rest) {
        long long fetched, expires;
        char token[UPSTREAM_TOKEN_MAX + 1];
        uint64_t top = (gen > it->generation ? gen : it->generation) + 1;
        int n = 0;

        if (!it->app->holder || sscanf(rest, " %lld %lld %n", &fetched, &expires, &n) != 2 || n == 0)
                return;
        if (snprintf(token, sizeof(token), "%s", rest + n) >= (int)sizeof(token) || !token_sane(token, strlen(token)))
                return;
        /* The publish script keeps a later fetch already in Redis, whichever of these is pushed. */
        /* A token not taken here (times implausible) is not pushed: the asker would only ask again. */
        if (fetched > it->fetched_at_ms) {
                if (item_mirror(it, token, strlen(token), top, expires, fetched))
                        push(cl, it);
        } else if (gen >= it->generation && servable(it)) {
                if (item_mirror(it, it->value, it->value_len, top, it->expires_at_ms, it->fetched_at_ms))
                        push(cl, it);
        }
        /* else the asker is behind, and catches up by mirroring what Redis has */
}

/*
 * "pub NAME GEN", "force NAME GEN NODE TIMEOUT_MS", "fail NAME GEN RETRY_MS CODE MESSAGE",
 * "verified NAME GEN", "sync NAME GEN FETCHED_AT EXPIRES_AT TOKEN".
 */
void cluster_on_message(struct cluster *cl, const char *msg, size_t len) {
        char text[NAME_MAX_LEN + UPSTREAM_TOKEN_MAX + 128], verb[12], name[NAME_MAX_LEN], node[CLUSTER_LEASE_ID_MAX], code[32];
        char note[NAME_MAX_LEN + 64];
        unsigned long long gen;
        long long num;
        struct item *it;
        int used = 0, rest = 0;

        if (len >= sizeof(text))
                return;
        memcpy(text, msg, len);
        text[len] = '\0';
        if (sscanf(text, "%11s %191s %llu%n", verb, name, &gen, &used) != 3 || !(it = find_item(cl, name)))
                return;
        if (!strcmp(verb, "pub")) {
                if (gen > it->generation)
                        read_item(cl, it, REF_READ);
        } else if (!strcmp(verb, "force") && sscanf(text + used, " %95s %lld", node, &num) == 2) {
                if (!it->app->holder || !strcmp(node, cl->lease_id))
                        return;
                if (it->generation > gen) {
                        /* Already replaced: the asker missed the news; say it again. */
                        snprintf(note, sizeof(note), "pub %s %" PRIu64, name, it->generation);
                        publish_note(cl, note);
                        return;
                }
                force_remote(it, gen, num);
        } else if (!strcmp(verb, "fail") && sscanf(text + used, " %lld %31s %n", &num, code, &rest) == 2) {
                if (!it->app->holder)
                        force_remote_failed(it, gen, code, text + used + rest, num);
        } else if (!strcmp(verb, "verified")) {
                if (!it->app->holder)
                        force_remote_verified(it, gen);
        } else if (!strcmp(verb, "sync")) {
                on_sync(cl, it, gen, text + used);
        }
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
                        lease_lost(cl, app, "the lease could not be renewed in time");
                if (!cl->up)
                        continue;
                /* A holder renews at every tick from a third of the lease on, so a late tick costs nothing. */
                if (!app->lease_inflight && (!app->holder || now - app->lease_sent_ms >= renew_every / 2))
                        lease_send(cl, app, app->holder);
                for (int t = -1; t < app->n_tickets; t++) {
                        struct item *it = t < 0 ? &app->token : &app->tickets[t];

                        if (app->holder && it->cluster_resume)
                                read_item(cl, it, REF_RESUME);
                        else if (reconcile)
                                read_item(cl, it, REF_READ);
                        if (app->holder && it->cluster_dirty)
                                push(cl, it);
                        if (!app->holder && it->forwarded_gen == it->generation && it->forwarded_at_ms)
                                forward(cl, it);
                }
        }
}

static int64_t tick_interval_ms(const struct cluster *cl) {
        int64_t t = conf(cl)->lease_ms / 3;

        /* Claims at least once a second: a dead holder's app is taken within lease_ms + 1 s. */
        return t > 1000 ? 1000 : t;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct cluster *cl = userdata;
        int64_t every = RECONCILE_EVERY_MS / tick_interval_ms(cl);

        cluster_link_check(cl);
        cl->ticks++;
        tick_work(cl, every < 1 || cl->ticks % (uint64_t)every == 0);
        sd_event_source_set_time_relative(s, (uint64_t)tick_interval_ms(cl) * 1000);
        return 0;
}

void cluster_on_up(struct cluster *cl) {
        tick_work(cl, true);
}

int cluster_start(struct cluster *cl) {
        int r = sd_event_add_time_relative(cl->agent->loop, &cl->tick, CLOCK_BOOTTIME,
                                           (uint64_t)tick_interval_ms(cl) * 1000, 20 * 1000, on_tick, cl);

        if (r < 0)
                return r;
        sd_event_source_set_enabled(cl->tick, SD_EVENT_ON);
        cluster_connect(cl);
        return 0;
}

/* ---- a clean stop ---- */

static bool app_call_in_flight(const struct app *app) {
        if (app->token.call)
                return true;
        for (int t = 0; t < app->n_tickets; t++)
                if (app->tickets[t].call)
                        return true;
        return false;
}

static void release_finish(struct cluster *cl) {
        void (*done)(void *userdata) = cl->release_done;

        cl->release_done = NULL;
        sd_event_source_set_enabled(cl->release_wait, SD_EVENT_OFF);
        if (done)
                done(cl->release_userdata);
}

static void on_release(struct cluster *cl, redisReply *reply, void *userdata) {
        free(userdata);
        if (cl->releasing > 0 && --cl->releasing == 0)
                release_finish(cl);
}

static int on_release_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        release_finish(userdata);
        return 0;
}

int cluster_release(struct cluster *cl, void (*done)(void *userdata), void *userdata) {
        char name[NAME_MAX_LEN], key[NAME_MAX_LEN + 80];
        const char *argv[] = { "EVAL", cluster_script_release, "1", key, cl->lease_id };

        cl->stopping = true;
        for (size_t i = 0; i < cl->agent->n_apps; i++) {
                struct app *app = cl->agent->apps[i];

                /* A claim still in flight may have won in Redis: the compare-and-delete is harmless if not. */
                if (!app || (!app->holder && !app->lease_inflight))
                        continue;
                /*
                 * With a WeChat call in flight the lease stays, to run out as it would have:
                 * another agent taking it now could rotate the token while ours is answered.
                 */
                if (app_call_in_flight(app))
                        continue;
                app->holder = false;
                app_cluster_name(app, name, sizeof(name));
                lease_key(cl, app, key, sizeof(key));
                if (send(cl, on_release, ref_new(REF_RELEASE, name), 5, argv))
                        cl->releasing++;
        }
        if (cl->releasing == 0)
                return 0;
        /* A Redis that does not answer holds the stop up no longer than a command may take. */
        if (sd_event_add_time_relative(cl->agent->loop, &cl->release_wait, CLOCK_BOOTTIME,
                                       (uint64_t)cluster_io_timeout_ms(cl) * 1000, 10 * 1000, on_release_wait, cl) < 0)
                return 0;
        cl->release_done = done;
        cl->release_userdata = userdata;
        log_info("cluster: giving up %u leases before stopping", cl->releasing);
        return 1;
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

/* ---- the fleet-wide forced-refresh budget (budget.c counts locally as well) ---- */

static void on_budget(struct cluster *cl, redisReply *reply, void *userdata) {
        struct ref *ref = userdata;
        struct item *it = find_item(cl, ref->name);
        long long n = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;

        free(ref);
        if (it)
                force_budget_counted(it, n);
}

int cluster_budget_take(struct item *it, int64_t day, int64_t ttl_ms) {
        struct cluster *cl = it->app->agent->cluster;
        char name[NAME_MAX_LEN], key[NAME_MAX_LEN + 96], ttl[24], cap[16];
        const char *argv[] = { "EVAL", cluster_script_budget, "1", key, ttl, cap };

        if (!cl)
                return 0;
        item_cluster_name(it, name, sizeof(name));
        snprintf(key, sizeof(key), "%s:forced:%s:%" PRId64, conf(cl)->key_prefix, name, day);
        snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
        snprintf(cap, sizeof(cap), "%u", budget_cap(it));
        return send(cl, on_budget, ref_new(REF_BUDGET, name), 6, argv) ? 1 : -ENOTCONN;
}
