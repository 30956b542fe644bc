/* cluster-notes.c: cluster mode's notes on the channel: forced refreshes handed to the holder, their outcome, syncs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "clock.h"
#include "app-force.h"
#include "cluster-internal.h"
#include "cluster-record.h"
#include "log.h"
#include "wire.h"

#define FORWARD_REPEAT_MS 1000          /* a forced refresh handed on and unanswered goes again */

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->svc->config->cluster;
}

static void on_note(struct cluster *cl, redisReply *reply, void *userdata) {
        free(userdata);
}

/* Signed with the fleet key, if there is one: the other agents refuse a note that is not. */
void cluster_note(struct cluster *cl, const char *text) {
        char note[CLUSTER_NAME_MAX + UPSTREAM_TOKEN_MAX + CLUSTER_MAC_HEX + 200];
        const char *argv[] = { "PUBLISH", cl->channel, note };

        if (!cluster_note_sign(conf(cl)->fleet_key, cl->channel, text, note, sizeof(note)))
                return;
        cluster_send(cl, on_note, cluster_ref_new(REF_NOTE, ""), 3, argv);
}

/*
 * A note that fails the fleet key's check is dropped: counted, and logged at most once a
 * minute (a flood of forged notes must not flood the log).
 */
static void note_refused(struct cluster *cl) {
        int64_t now = cluster_clock_ms();

        cl->notes_refused++;
        if (cl->notes_refused_logged_ms && now - cl->notes_refused_logged_ms < 60 * 1000)
                return;
        cl->notes_refused_logged_ms = now;
        log_warning("cluster: refused a note on %s without a valid mac (%llu so far): someone who is not an agent "
                    "with this fleet_key_file writes to Redis", cl->channel, (unsigned long long)cl->notes_refused);
}

/* ---- forced refreshes across hosts ---- */

/*
 * Hand this host's waiting forced refreshes to the holder, at most once a FORWARD_REPEAT_MS
 * per generation: again from the tick while they wait, since a note is fire-and-forget
 * (lost while the holder's subscription reconnects, or with a holder that died).
 */
void cluster_forward(struct cluster *cl, struct item *it) {
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + CLUSTER_LEASE_ID_MAX + 64];
        int64_t now = cluster_clock_ms(), left = force_waiters_until(it) - clock_wall_ms();

        if (left <= 0 || (it->forwarded_gen == it->core.generation && now - it->forwarded_at_ms < FORWARD_REPEAT_MS))
                return;
        cluster_item_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "force %s %" PRIu64 " %s %" PRId64, name, it->core.generation, cl->lease_id, left);
        cluster_note(cl, note);
        it->forwarded_gen = it->core.generation;
        it->forwarded_at_ms = now;
}

void cluster_item_policy(const struct cluster *cl, const struct app *app, struct core_policy *pol) {
        pol->clustered = cl != NULL;
        if (!cl)
                return;
        pol->holder = app->holder;
        pol->redis_up = cl->up;
        pol->redis = conf(cl)->redis;
        pol->tick_ms = cluster_tick_ms(cl);
}

void cluster_force_failed(struct item *it, const char *code, const char *message, int64_t retry_after_ms) {
        struct cluster *cl = it->app->svc->cluster;
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + 400];

        if (!cl || !it->app->holder)
                return;
        cluster_item_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "fail %s %" PRIu64 " %" PRId64 " %s %.300s", name, it->core.generation, retry_after_ms,
                 code, message);
        cluster_note(cl, note);
}

void cluster_force_verified(struct item *it) {
        struct cluster *cl = it->app->svc->cluster;
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + 40];

        if (!cl || !it->app->holder)
                return;
        cluster_item_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "verified %s %" PRIu64, name, it->core.generation);
        cluster_note(cl, note);
}

/*
 * A host whose token and generation disagree with Redis's asks the holder to settle it:
 * "sync NAME GEN FETCHED_AT EXPIRES_AT TOKEN", its own record. The holder keeps the later
 * fetch of the two and pushes it above both generations, so every host mirrors it.
 */
void cluster_send_sync(struct cluster *cl, struct item *it) {
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + UPSTREAM_TOKEN_MAX + 96];

        cluster_item_name(it, name, sizeof(name));
        snprintf(note, sizeof(note), "sync %s %" PRIu64 " %" PRId64 " %" PRId64 " %s", name, it->core.generation,
                 it->core.fetched_at_ms, it->core.expires_at_ms, it->value);
        cluster_note(cl, note);
}

static void on_sync(struct cluster *cl, struct item *it, uint64_t gen, const char *rest) {
        long long fetched, expires;
        char token[UPSTREAM_TOKEN_MAX + 1];
        uint64_t top = (gen > it->core.generation ? gen : it->core.generation) + 1;
        int n = 0;

        if (!it->app->holder || sscanf(rest, " %lld %lld %n", &fetched, &expires, &n) != 2 || n == 0)
                return;
        if (snprintf(token, sizeof(token), "%s", rest + n) >= (int)sizeof(token) || !cluster_token_sane(token, strlen(token)))
                return;
        /* The publish script keeps a later fetch already in Redis, whichever of these is pushed. */
        /* A token not taken here (times implausible) is not pushed: the asker would only ask again. */
        if (fetched > it->core.fetched_at_ms) {
                if (item_mirror(it, token, strlen(token), top, expires, fetched))
                        cluster_push(cl, it);
        } else if (gen >= it->core.generation && cluster_servable(it)) {
                if (item_mirror(it, it->value, it->value_len, top, it->core.expires_at_ms, it->core.fetched_at_ms))
                        cluster_push(cl, it);
        }
        /* else the asker is behind, and catches up by mirroring what Redis has */
}

/* 1 to 2^53-1 in plain decimal digits. */
static bool parse_generation(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = strlen(s);

        if (n == 0 || n > 16 || s[0] == '0' || strspn(s, "0123456789") != n)
                return false;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (uint64_t)(s[i] - '0');
        *ret = v;
        return v < CLUSTER_GENERATION_LIMIT;
}

/*
 * "pub NAME GEN", "force NAME GEN NODE TIMEOUT_MS", "fail NAME GEN RETRY_MS CODE MESSAGE",
 * "verified NAME GEN", "sync NAME GEN FETCHED_AT EXPIRES_AT TOKEN".
 */
void cluster_on_message(struct cluster *cl, const char *msg, size_t len) {
        char text[CLUSTER_NAME_MAX + UPSTREAM_TOKEN_MAX + 128], verb[12], name[CLUSTER_NAME_MAX], node[CLUSTER_LEASE_ID_MAX], code[32];
        char note[CLUSTER_NAME_MAX + 64];
        char gens[24];
        uint64_t gen;
        long long num;
        struct item *it;
        const char *body;
        size_t body_len;
        int used = 0, rest = 0;

        if (cluster_note_open(conf(cl)->fleet_key, cl->channel, msg, len, &body, &body_len) < 0) {
                note_refused(cl);
                return;
        }
        if (body_len >= sizeof(text))
                return;
        memcpy(text, body, body_len);
        text[body_len] = '\0';
        /* Not %llu, which takes "-1" as 2^64-1: generations are bounded as those of records are. */
        if (sscanf(text, "%11s %191s %23s%n", verb, name, gens, &used) != 3 || !parse_generation(gens, &gen) ||
            !(it = cluster_find_item(cl, name)) || (it->core.generation && gen > it->core.generation + CLUSTER_GENERATION_STEP))
                return;
        if (!strcmp(verb, "pub")) {
                if (gen > it->core.generation)
                        cluster_read_item(cl, it, REF_READ);
        } else if (!strcmp(verb, "force") && sscanf(text + used, " %95s %lld", node, &num) == 2) {
                /* A client waits PROTOCOL_TIMEOUT_MAX_MS at most: a longer wait is no client's. */
                if (!it->app->holder || !strcmp(node, cl->lease_id) || num <= 0 || num > PROTOCOL_TIMEOUT_MAX_MS)
                        return;
                if (it->core.generation > gen) {
                        /* Already replaced: the asker missed the news; say it again. */
                        snprintf(note, sizeof(note), "pub %s %" PRIu64, name, it->core.generation);
                        cluster_note(cl, note);
                        return;
                }
                force_remote(it, gen, num);
        } else if (!strcmp(verb, "fail") && sscanf(text + used, " %lld %31s %n", &num, code, &rest) == 2) {
                /* retry_after_ms goes to this host's clients: -1 (none) up to a day, nothing stranger. */
                if (!it->app->holder && num >= -1 && num <= 24 * 3600 * 1000LL)
                        force_remote_failed(it, gen, code, text + used + rest, num);
        } else if (!strcmp(verb, "verified")) {
                if (!it->app->holder)
                        force_remote_verified(it, gen);
        } else if (!strcmp(verb, "sync")) {
                on_sync(cl, it, gen, text + used);
        }
}
