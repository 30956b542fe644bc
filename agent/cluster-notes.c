/* cluster-notes.c: cluster mode's notes on the channel: forced refreshes handed to the holder, their outcome, syncs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "app.h"
#include "app-force.h"
#include "clock.h"
#include "cluster-internal.h"
#include "cluster-record.h"
#include "log.h"
#include "redis-link.h"
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
        note_format_force(note, sizeof(note), name, it->core.generation, cl->lease_id, left);
        cluster_note(cl, note);
        it->forwarded_gen = it->core.generation;
        it->forwarded_at_ms = now;
}

/*
 * Once, not again from the tick as a forced refresh is: nobody waits for it, and an
 * operator who sees nothing happen in status may ask again. Lost with a holder whose
 * subscription is reconnecting; an agent from before the note ignores it.
 */
void cluster_forward_retry(struct cluster *cl, struct item *it, int64_t caller_uid, int64_t caller_pid) {
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + CLUSTER_LEASE_ID_MAX + 80];

        cluster_item_name(it, name, sizeof(name));
        note_format_retry(note, sizeof(note), name, it->core.generation, cl->lease_id, caller_uid, caller_pid);
        cluster_note(cl, note);
}

void cluster_item_policy(const struct cluster *cl, const struct app *app, struct core_policy *pol) {
        pol->clustered = cl != NULL;
        if (!cl)
                return;
        pol->holder = app->lease.holder;
        /* As the last claim's answer named it (every tick): "" until one came back. */
        pol->holder_known = app->lease_holder[0] != '\0';
        pol->redis_up = redis_link_up(cl->link);
        pol->redis = conf(cl)->redis;
        pol->tick_ms = cluster_tick_ms(cl);
}

void cluster_force_failed(struct item *it, const char *code, const char *message, int64_t retry_after_ms) {
        struct cluster *cl = it->app->svc->cluster;
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + 400];

        if (!cl || !it->app->lease.holder)
                return;
        cluster_item_name(it, name, sizeof(name));
        note_format_fail(note, sizeof(note), name, it->core.generation, retry_after_ms, code, message);
        cluster_note(cl, note);
}

void cluster_force_verified(struct item *it) {
        struct cluster *cl = it->app->svc->cluster;
        char name[CLUSTER_NAME_MAX], note[CLUSTER_NAME_MAX + 40];

        if (!cl || !it->app->lease.holder)
                return;
        cluster_item_name(it, name, sizeof(name));
        note_format_verified(note, sizeof(note), name, it->core.generation);
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
        note_format_sync(note, sizeof(note), name, it->core.generation, it->core.fetched_at_ms, it->core.expires_at_ms, item_value(it));
        cluster_note(cl, note);
}

/* The holder settles a sync note (agent/core/reconcile.c weighs it); a host without the lease ignores it. */
static void on_sync(struct cluster *cl, struct item *it, const struct note *n) {
        struct reconcile_ours ours = cluster_ours(it);
        struct reconcile_theirs theirs = { n->generation, n->fetched_at_ms, n->expires_at_ms };

        cluster_settle(cl, it, reconcile_sync(it->app->lease.holder, &ours, &theirs), n->token, n->token_len,
                       n->expires_at_ms, n->fetched_at_ms);
}

/* A note on the channel (agent/wire/notes.h), refused unless it is within bounds and about an item of ours. */
void cluster_on_message(struct cluster *cl, const char *msg, size_t len) {
        struct note n;
        char note[CLUSTER_NAME_MAX + 64];
        struct item *it;
        const char *body;
        size_t body_len;

        if (cluster_note_open(conf(cl)->fleet_key, cl->channel, msg, len, &body, &body_len) < 0) {
                note_refused(cl);
                return;
        }
        if (note_parse(body, body_len, &n) < 0 || !(it = cluster_find_item(cl, n.name)) ||
            (it->core.generation && n.generation > it->core.generation + CLUSTER_GENERATION_STEP))
                goto done;
        switch (n.verb) {
        case NOTE_PUB:
                if (n.generation > it->core.generation)
                        cluster_read_item(cl, it, REF_READ);
                break;
        case NOTE_FORCE:
                if (!it->app->lease.holder || !strcmp(n.node, cl->lease_id))
                        break;
                if (it->core.generation > n.generation) {
                        /* Already replaced: the asker missed the news; say it again. */
                        note_format_pub(note, sizeof(note), n.name, it->core.generation);
                        cluster_note(cl, note);
                        break;
                }
                force_remote(it, n.generation, n.timeout_ms);
                break;
        case NOTE_FAIL:
                if (!it->app->lease.holder)
                        force_remote_failed(it, n.generation, n.code, n.message, n.retry_after_ms);
                break;
        case NOTE_VERIFIED:
                if (!it->app->lease.holder)
                        force_remote_verified(it, n.generation);
                break;
        case NOTE_SYNC:
                on_sync(cl, it, &n);
                break;
        case NOTE_RETRY:
                /* Every agent hears it; the holder alone acts (its own rules), the others let it pass. */
                if (it->app->lease.holder && strcmp(n.node, cl->lease_id) != 0)
                        force_retry_remote(it, n.node, n.caller_uid, n.caller_pid);
                break;
        }
done:
        /* A sync note carries a token. */
        explicit_bzero(&n, sizeof(n));
}
