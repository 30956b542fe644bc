/* app-internal.h: what app.c (lifecycle, calls), app-step.c (the core's steps), app-mirror.c and app-persist.c share. */
#ifndef APP_INTERNAL_H
#define APP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "authorizer-file.h"
#include "protocol.h"
#include "services.h"

/* The item's policy for a core step: its app's and the agent's settings, and the cluster's view. */
void item_policy(const struct item *it, struct core_policy *pol);

/* Carry out a CORE_ACT_ANSWER: reply to the waiter's client and forget it (app-force.c). */
void force_answer(struct item *it, const struct core_action *a);

/* Carry out CORE_ACT_START_CALL: queue the call; it is built and made at its turn (app.c). */
void item_call(struct item *it, const struct core_action *a);

/*
 * Open the item's segment, adopt a token still good, and schedule its first call (app.c);
 * an authorizer's item (it->auth set) comes with its name. Undone by item_free (retire:
 * the segment is removed, readers told), also after a failed item_init.
 */
int item_init(struct item *it, struct app *app, enum ticket_type ticket, bool fresh);
void item_free(struct item *it, bool retire);

/* Write the item's token to its state file (one log line per change of what is wrong). */
void item_save(struct item *it, int64_t fetched_at_ms);

/*
 * An item holds its token allocated to its length, never at the maximum: a copy is made
 * before the token is published (NULL: out of memory, nothing published), then taken by
 * the item (the old one wiped and freed), or wiped and freed if the publish failed.
 */
char *item_value_copy(const char *v, size_t len);
void item_value_take(struct item *it, char *copy, size_t len);
void item_value_drop(char *copy, size_t len);

/* Wipe and free the item's token. */
void item_value_clear(struct item *it);

/* Whether a token's times are believable for it now (the core's rule). */
bool item_times_plausible(const struct item *it, int64_t fetched_at_ms, int64_t expires_at_ms, int64_t now);

/* Accounts authorized to a component, shared by app-authorizer.c (item, file, ops) and app-onboard.c (onboarding, sync). */
/* WeChat's "refresh_token is invalid" (retired, or the account de-authorized) and "not authorized by this account". */
#define ERRCODE_REFRESH_INVALID 61023
#define ERRCODE_NOT_AUTHORIZED 61003

/*
 * One account: its item ("COMPONENT.APPID", it->auth points back here) and its record.
 * Allocated one by one, never moved: the item's timer and call point at it.
 */
struct authorizer {
        struct item item;
        struct authorizer_record rec;   /* the appid, the refresh token held, whether WeChat refused it */
        char calling[PROTOCOL_REFRESH_TOKEN_MAX + 1]; /* the refresh token the call under way was made with */
        bool listed;                    /* named by the api_get_authorizer_list pages of the sync under way */
        /* A corp being onboarded: WeCom's temporary auth code, exchanged by the next call (never saved:
         * it is good once, for 10 minutes); rec.refresh_token stays "" until the permanent code comes. */
        char auth_code[PROTOCOL_REFRESH_TOKEN_MAX + 1];
        bool exchanging;                /* the call under way is that exchange */
        bool awaiting_token;            /* its call was due while the app's token had expired: made with the next */
        struct authorizer *next, **prev; /* the component's list (app->authorizers) */
        struct authorizer *hnext;       /* the next in its index bucket */
        struct authorizer_change *change; /* its add or remove waiting for a save (NULL: none) */
        struct item *tickets;           /* authorizer_tickets, corp_tickets: n_tickets started (app-account-tickets.c) */
        int n_tickets;
};

/*
 * app-authorizer-index.c: link an account last in the list and into the appid index (0, or
 * -ENOMEM with nothing done); unlink it from both; find one by appid; how many are linked.
 */
int authorizer_link(struct app *app, struct authorizer *a);
void authorizer_unlink(struct app *app, struct authorizer *a);
void authorizers_index_free(struct app *app);

/*
 * app-authorizer-batch.c: group commit. An add or remove by a client is applied in memory
 * and recorded here; one deferred save (write, fsync, rename) covers every change made
 * before it runs, then each change is carried out (shared, logged, its client answered),
 * or, if the save failed, undone and its client told. Nothing is answered before the save
 * that covers it returned 0.
 */
enum authorizer_change_kind { CHANGE_ADDED, CHANGE_RENEWED, CHANGE_REMOVED };
/* Record a change (old: the record before a renewal); reply later through reply: 0, or -errno with nothing recorded. */
int authorizer_batch(struct app *app, enum authorizer_change_kind kind, struct authorizer *a,
                     const struct authorizer_record *old, int64_t uid, int64_t pid, app_reply_fn reply,
                     void *userdata, struct authorizer_job **job);
/* Save now what is waiting, and carry it out or undo it: before a change the batch must not straddle. */
void authorizers_flush(struct app *app);
/* Whether a removal of appid waits in the batch (its item still runs: a new one of that name must wait). */
bool authorizer_removal_batched(const struct app *app, const char *appid);
/* The component goes: every change undone, nothing saved (its clients were answered by app_onboard_abort). */
void authorizers_batch_abort(struct app *app);

/* app-onboard.c: a client waiting for a save (a job with no call; *slot set NULL when it goes), and its answer. */
struct authorizer_job *authorizer_wait(struct app *app, app_reply_fn reply, void *userdata,
                                       struct authorizer_job **slot);
void authorizer_answer(struct authorizer_job *j, char *line);

/* A WeCom suite's corps (permanent codes), not a component's authorizers (refresh tokens). */
static inline bool authorizer_is_suite(const struct app *app) {
        return app->cfg->kind == APP_KIND_SUITE;
}

/* app-authorizer.c's helpers: the account of appid or NULL; the file written (fsync'd), 0 or -errno (logged). */
struct authorizer *authorizer_find(struct app *app, const char *appid);
int authorizers_save(struct app *app);

/*
 * Every change to an account's record is versioned (authorizer_bump, before the file is
 * written) and handed to cluster mode (authorizer_share; nothing outside a cluster).
 * authorizer_renew: a new credential for an account held (authorized again, refused no
 * more): versioned, written, shared; 0, or -errno with the record as it was.
 */
void authorizer_bump(struct authorizer_record *rec);
void authorizer_share(struct app *app, const struct authorizer_record *rec, bool removed);
int authorizer_renew(struct app *app, struct authorizer *a, const char *credential);

/* Start an account's item (fresh: adopt nothing) and link it last: 0, or -errno with nothing left. */
int authorizer_start(struct app *app, const struct authorizer_record *rec, bool fresh, struct authorizer **ret);

/* Stop it, its segment removed (readers told), and free it: unlinked by the caller first. */
void authorizer_stop(struct authorizer *a);
size_t authorizers_count(const struct app *app);

/*
 * Cluster mode, on an agent that does not hold the component's lease: the code was good
 * once, so its call was made here (the mirrored component token is the fleet's), but only
 * the holder publishes an account's tokens (Redis takes no one else's): the refresh token
 * is kept and shared sealed, the token that came with it is dropped, and the holder's one
 * api_authorizer_token call publishes the account everywhere. Publishing it here too would
 * put a generation 1 the holder never saw beside the holder's own: the fleet's conflict
 * repair (a raised generation) would drop it within seconds, so it buys nothing.
 */
static inline bool authorizer_holder_publishes(const struct app *app) {
        return app->svc->cluster && !app->lease.holder;
}

/*
 * app-onboard-adopt.c: api_query_auth answered for appid (the refresh token and the token
 * tok): the account added or renewed; the reply line for the client.
 */
char *authorizer_onboard(struct app *app, const char *appid, const char *refresh_token,
                         const struct upstream_result *tok, int64_t uid, int64_t pid);

/*
 * app-account-tickets.c: the account's tickets (the component's authorizer_tickets, the
 * suite's corp_tickets), items "COMPONENT.APPID.jsapi" fetched with the account's token.
 * Start them once the account's item is (one that cannot start is logged and left out);
 * stop them before it (retire: segments removed, readers told, state files removed).
 */
void account_tickets_start(struct app *app, struct authorizer *a, bool fresh);

/* A ticket waits for the token it is fetched with: its app's, or its account's (not while refused). */
bool item_ticket_ready(const struct item *it);

/*
 * A ticket's call at its turn (an app's or an account's): the kind whose ticket API its
 * token opens (a corp's is a work app's, an authorizer's an Official Account's), and the
 * request with that token.
 */
enum app_kind item_ticket_kind(const struct item *it);
int item_ticket_request(const struct item *it, const char *base, struct upstream_request *req);
void account_tickets_stop(struct authorizer *a, bool retire);

/* A PROTO_E_AUTHORIZER_REFUSED reply line of fmt with a and b. */
char *authorizer_refuse(const char *fmt, const char *a, const char *b);

#endif
