/* app.h: one configured app: its token and tickets, each kept fresh in its own segment. */
#ifndef APP_H
#define APP_H

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"
#include "item.h"
#include "lease.h"
#include "quota.h"
#include "services.h"
#include "upstream.h"
#include "writer.h"

#define APP_HEARTBEAT_MS 5000           /* written into every segment; readers allow 3 intervals */
#define APP_HTTP_TIMEOUT_MS 10000       /* one upstream call, connection included */

struct app;
struct authorizer;
struct component;
struct http_response;
struct request;
struct status_component;

/*
 * One published item: the access token ("shop") or a ticket ("shop.jsapi"). Each has
 * its own segment, schedule, in-flight call and failure state. Its decisions are
 * core (agent/core/item.c); this is the I/O around them.
 */
struct item {
        struct app *app;
        enum ticket_type ticket;        /* 0: the access token */
        struct authorizer *auth;        /* an account authorized to a component (app-authorizer.c); else NULL */
        struct item *owner;             /* an account's ticket: the account's item, whose token fetches it; else NULL */
        char name[96];
        wxshm_writer *seg;
        sd_event_source *timer;         /* the core's next wake-up */
        struct http_call *call;         /* queued (http.c) or under way */
        bool call_probe, call_force;    /* what the core decided the call is (made at its turn) */
        int call_api_index;
        struct core_item core;
        char *value;                    /* the token published, value_len bytes and a NUL, allocated to its length; NULL: none */
        size_t value_len;
        int save_error;                 /* errno of the last state file write if it failed, else 0 */
        struct waiter *waiters;         /* the clients behind the core's waiters (force.c) */
        uint64_t next_waiter;           /* the id of the next one */
        char *retry_reply;              /* force_retry: the core's answer, made into a reply line by item_do */

        /* For status: since when it is in what it shows (fresh, starting, or failing: the class), its last error. */
        int64_t started_at_ms;          /* wall clock: made (agent start, reload, a retried start) */
        int64_t shown_since_ms;
        int shown;                      /* status_shown(): what shown_since_ms is the start of */
        int64_t last_error_at_ms;       /* wall clock of the last failed call, 0 if none yet */

        /* Cluster mode (cluster.c). */
        uint64_t forwarded_gen;         /* a forced refresh of this generation was handed to the holder */
        int64_t forwarded_at_ms;        /* cluster_clock_ms */
        bool cluster_dirty;             /* holder: published here, not yet in Redis */
        bool cluster_resume;            /* holder: read Redis, then schedule the next refresh */
        char *cluster_problem;          /* what is wrong with the record in Redis, NULL if nothing (allocated then) */
};

/* The item's token, "" if it has none. */
static inline const char *item_value(const struct item *it) {
        return it->value ? it->value : "";
}

struct app {
        struct services *svc;
        const struct app_config *cfg;   /* points into agent->config, re-pointed on reload */
        struct item token;
        struct item *tickets;           /* the configured tickets only: n_tickets started, room for tickets_size */
        int n_tickets, tickets_size;    /* never moved once made: each item's timer and call point at it */
        struct core_quota quota;        /* upstream calls today per endpoint, in state_dir/<name>.quota */

        /* Cluster mode (cluster.c): the app's lease in Redis, as the core's rules take it; times on cluster_clock_ms. */
        struct core_lease lease;
        char lease_holder[96];          /* the holder's node id as last seen, "" if unknown */
        char *lease_problem;            /* what is wrong with the lease key in Redis, NULL if nothing (allocated then) */

        struct component *component;    /* kind component: its component_verify_tickets (app-component.c); else NULL */
        struct authorizer *authorizers; /* kind component: the accounts authorized to it, added at run time */
        struct authorizer **authorizers_tail; /* the last one's next (NULL: none linked yet) */
        struct authorizer **buckets;    /* the same accounts by appid (app-authorizer-index.c), n_buckets a power of 2 */
        size_t n_buckets, n_authorizers;
        /* Adds and removes applied in memory, waiting for the one save that covers them (app-authorizer-batch.c). */
        struct authorizer_change *batch, **batch_tail;
        sd_event_source *batch_src;     /* the deferred save: idle priority, after every request ready */
        bool authorizers_refused_file;  /* state_dir's <name>.authorizers was refused at start: left untouched */

        /* Cluster mode, kind component (cluster-accounts.c): its accounts and ticket shared through Redis. */
        bool accounts_resume;           /* a new holder calls nothing before Redis's accounts are read */
        int64_t ticket_seen_s;          /* the newest ticket's create time Redis is known to hold */
        char accounts_refused[200];     /* the last words logged about records refused, to log a change once */
        struct authorizer_job *jobs;    /* kind component: onboarding and sync calls under way (app-onboard.c) */
        int64_t auto_sync_at_ms;        /* boot clock: the last sync a refused refresh token started (0: none) */
        sd_event_source *auto_sync_timer; /* the next one, put off to 5 minutes after it (app-onboard.c) */
        long auto_sync_errcode;         /* what the account refused meanwhile was told (61023, 61003), for the log */
        unsigned authorizers_revoked;   /* accounts removed since start: refused (61023) and no longer listed */
};

/* The item whose token a ticket is fetched with: its account's (app-account-tickets.c), else its app's. */
static inline struct item *item_token_source(const struct item *it) {
        return it->owner ? it->owner : &it->app->token;
}

/*
 * Open the app's segments, adopt a token from them or from the state file if one is
 * still good, and schedule the first call. With fresh, adopt nothing (the appid or kind
 * changed): fetch now.
 */
int app_new(struct app **ret, struct services *svc, const struct app_config *cfg, bool fresh);

/* False if a ticket of the app's configuration could not start (its failure is in agent->failed). */
bool app_complete(const struct app *app);

/*
 * Start the app's tickets that could not start before (a failure goes to agent->failed
 * again): the number started.
 */
int app_retry_tickets(struct app *app);

/*
 * Stop the app's calls and timers and close its segments. With retire (the app was
 * removed from the config), mark them removed and unlink them (wxshm_writer_remove).
 */
void app_free(struct app *app, bool retire);

/*
 * Take a changed config without a restart where the segments stay as they are (secret,
 * api_base, ca_file, refresh_margin). False if appid, kind, group or tickets changed:
 * then the app must be freed and made anew.
 */
bool app_reconfigure(struct app *app, const struct app_config *cfg);

/* Remove (as app_free's retire does) the segments of the app's tickets whose type is not in keep (dropped). */
void app_retire_tickets(struct app *app, unsigned keep);

/* The agent is stopping: mark the segments stopped (readers keep the token until it expires). */
void app_stop(struct app *app);

void app_heartbeat(struct app *app, int64_t now_ms);

/* The item called name ("shop" or "shop.jsapi") among the agent's apps, or NULL. */
struct item *app_find_item(const struct services *svc, const char *name);

/* Write the item's token and budget to its state file (fetched_at_ms: when the token was fetched). */
void item_save(struct item *it, int64_t fetched_at_ms);

/* How long after a save its name waits for the one fsync of state_dir that the saves around it share. */
#define STATE_SYNC_DELAY_MS 100

/* The agent stops: what waits for that fsync gets it now (a clean stop leaves every name on the disk). */
void app_state_flush(struct services *svc);

/*
 * Cluster mode: publish the token another agent fetched (read from Redis) with its
 * global generation. Ignored, with a log line, if its times are implausible (or it
 * cannot be published): false then.
 */
bool item_mirror(struct item *it, const char *token, size_t len, uint64_t generation, int64_t expires_at_ms,
                 int64_t fetched_at_ms);

/* Whether a token fetched now could be published (a generation can follow): never call WeChat for one that could not. */
bool item_can_publish(const struct item *it);

/*
 * Retire the item's segment and make it anew, empty (its generation can go no higher):
 * readers re-open the name. 0, or -errno.
 */
int item_segment_renew(struct item *it);

/*
 * Cluster mode: this agent became the holder and read Redis: schedule the next refresh
 * (now if there is no token), and serve this host's waiting clients here.
 */
void item_cluster_resume(struct item *it);

/* The item's policy and clock for one core step, and the step with its actions carried out. */
void item_step(struct item *it, const struct core_event *ev);

/* The clock quota days are counted on: the wall clock, shifted by $WXTOKEND_TEST_QUOTA_DAY_OFFSET_MS (a test hook). */
int64_t app_quota_now_ms(void);

/* Read the app's calls today from state_dir/<name>.quota (none, or unreadable: counted from zero, said). */
void app_quota_load(struct app *app);

/* A call of it starts (force: stable's force_refresh): counted, saved, and a warning at 80 % of a limit. */
void item_quota_count(struct item *it, bool force);

/* The highest calls-today/limit, in permille, of the endpoints the item calls (its app's counts). */
unsigned item_quota_permille(const struct item *it);
/*
 * What the item is going through, for "since when" in status: a failure class (a retry
 * in flight stays in it), fresh, or starting: a refresh in flight is no change.
 */
int item_shown(const struct item *it);

/* app-component.c: a component's component_verify_ticket. Read state_dir's copy (kind component only). */
int app_component_init(struct app *app);
void app_component_free(struct app *app);

/* Whether app is a component with no ticket to call with yet (the core then makes no call). */
bool app_component_ticket_missing(const struct app *app);

/* The ticket a call makes now: the newest, or the previous good one while the newest is refused; NULL if none. */
const char *app_component_ticket(struct app *app);

/* The newest ticket held, NULL if none; unlike app_component_ticket, it marks no ticket as the one a call uses. */
const char *app_component_newest(const struct app *app);

/*
 * The call of the component's token was answered errcode (0: a token): the ticket used is
 * good, or refused (61005/61006). True if the previous good ticket is to be tried now.
 */
bool app_component_answered(struct item *it, long errcode);

/*
 * The ticket op: keep ticket if it is newer than the one held, persist it, and call now if
 * the token waits for it. The reply line (malloc'd).
 */
char *app_component_put(struct item *it, const char *ticket, int64_t create_time_s, int64_t uid, int64_t pid);

/* The component's ticket intake for its status entry (out->note points into app). */
void app_component_status(const struct app *app, struct status_component *out, int64_t now_ms);
/*
 * The ticket alarm (core/ticket-alarm.h): whether it is on, whether a ticket is usable and
 * its age. _check logs its start and end, once each (heartbeat, put).
 */
bool app_component_alarm(const struct app *app, int64_t now_ms, bool *has_usable, int64_t *usable_age_s);
void app_component_alarm_check(struct app *app, int64_t now_ms);

/*
 * app-authorizer.c: the accounts authorized to a component, each an item "COMPONENT.APPID"
 * fetched with the component's token and the account's refresh token, which is kept in
 * state_dir/COMPONENT.authorizers. Read it and start them (kind component only).
 */
int app_authorizers_init(struct app *app, bool fresh);
void app_authorizers_free(struct app *app, bool retire);
struct item *app_authorizer_find(const struct app *app, const char *name);
void app_authorizers_stop(struct app *app);
void app_authorizers_heartbeat(struct app *app, int64_t now_ms);

/*
 * app-account-tickets.c: every account's tickets (heartbeat; the agent stops), the one
 * named name ("COMPONENT.APPID.jsapi") or NULL, and the account's new token: its tickets
 * are fetched again.
 */
void app_account_tickets_heartbeat(struct app *app, int64_t now_ms);
void app_account_tickets_stopping(struct app *app);
struct item *app_account_ticket_find(struct app *app, const char *name);
void app_account_tickets_poke(struct item *account);

/* How many account tickets the platform runs, how many of them fail (for its status entry). */
void app_account_tickets_count(const struct app *app, unsigned *total, unsigned *failing);

/* The component has a new token: the accounts waiting for one (no token yet, or failing) call now. */
void app_authorizers_poke(struct app *app);

/* How many accounts the component holds, how many WeChat refused (61023, 61003), how many fail otherwise. */
void app_authorizers_count(const struct app *app, unsigned *total, unsigned *refused, unsigned *failing);

/* WeChat refused the account's refresh token (61023, 61003): no call until it is added again. */
bool app_authorizer_refused(const struct item *it);

/* The call at its turn; -EKEYREVOKED with *errcode set if the refresh token was refused. */
int app_authorizer_request(struct item *it, const char *base, struct upstream_request *req, long *errcode);

/* Its answer; a refresh token that comes back different is saved (fsync'd) before this returns. */
int app_authorizer_parse(struct item *it, const struct http_response *http, const struct upstream_policy *pol,
                         struct upstream_result *res);

/*
 * authorizer_add, _remove, _list on component it (its token item): the reply line
 * (malloc'd), or NULL with *job set: an add or remove is answered through reply once the
 * save that covers it returned (app-authorizer-batch.c; cancel *job if the client goes).
 */
typedef void (*app_reply_fn)(void *userdata, char *line);
struct authorizer_job;
char *app_authorizer_op(struct item *it, const struct request *req, int64_t uid, int64_t pid, app_reply_fn reply,
                        void *userdata, struct authorizer_job **job);

/*
 * Cluster mode (cluster-accounts.c): walk the accounts (prev NULL: the first; NULL at the
 * end), see one's record, take a record another agent wrote if it is newer than ours (1:
 * taken, the file not yet written: app_authorizers_save once for a batch), write the file.
 */
struct authorizer_record;
struct item *app_authorizer_next(const struct app *app, const struct item *prev);
const struct authorizer_record *app_authorizer_record(const struct item *it);
/* An account's i-th ticket item (authorizer_tickets, corp_tickets), NULL past the last. */
struct item *app_authorizer_ticket(const struct item *account, int i);
int app_authorizer_take(struct app *app, const struct authorizer_record *rec, bool removed);
int app_authorizers_save(struct app *app);

/*
 * app-onboard.c: accounts from WeChat's side. authorizer_add with an auth_code (api_query_auth:
 * its token published as it is, its refresh token saved) and authorizer_sync (every
 * api_get_authorizer_list page: accounts added, refresh tokens taken) are answered later
 * through reply (the line malloc'd, the callee frees it): NULL and *job set (cancel it if
 * the client goes away). Any other op, or a refusal, is the reply line at once.
 */
char *app_onboard_op(struct item *it, const struct request *req, int64_t uid, int64_t pid, app_reply_fn reply,
                     void *userdata, struct authorizer_job **job);
void app_onboard_cancel(struct authorizer_job *job);

/* Every job of the component answered ("removed or stops") and freed. */
void app_onboard_abort(struct app *app);

/*
 * An account's refresh token was refused (61023) or its authorization cancelled (61003,
 * errcode): one sync of the component (at most one every 5 minutes) takes another refresh
 * token WeChat lists for it, or removes it if the whole list no longer names it (revoked).
 */
void app_onboard_auto_sync(struct app *app, const char *why, long errcode);

/* The item's cap of client-forced calls a day. */
unsigned item_forced_cap(const struct item *it);

#endif
