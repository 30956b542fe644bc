/* protocol.h: the control socket's JSON lines: parsing requests and writing replies, no I/O. */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"         /* the line limit, timeouts, status page limits, generation ceiling, error codes */

/*
 * One JSON object per line, at most PROTOCOL_LINE_MAX bytes with its newline (libwxshm/wire.h). Requests:
 *   {"op":"refresh","app":"NAME","generation":G,"timeout_ms":N,"token":true}   timeout_ms optional
 *                                     (PROTOCOL_TIMEOUT_DEFAULT_MS); "token":true adds the answered token to the reply
 *   {"op":"get","app":"NAME"}
 *   {"op":"status","app":"NAME","offset":N,"limit":N}   all three optional
 *   {"op":"metrics"}                  the Prometheus text, then the connection closes (anyone)
 *   {"op":"reload"}                   read the config again, as SIGHUP does (root and the agent's user)
 *   {"op":"retry","app":"NAME"}       NAME's next attempt now, skipping its backoff wait once (same)
 *   {"op":"ticket","app":"NAME","ticket":"...","create_time":UNIX}   a component's component_verify_ticket
 *                                     as WeChat pushed it (root, the agent's user, the app's group)
 *   {"op":"authorizer_add","component":"NAME","appid":"wx...","refresh_token":"..."}
 *   {"op":"authorizer_remove","component":"NAME","appid":"wx..."}
 *   {"op":"authorizer_list","component":"NAME","offset":N,"limit":N}   offset, limit optional: a page
 *                                     as status's (PROTOCOL_STATUS_LIMIT_DEFAULT, PROTOCOL_STATUS_BYTES);
 *                                     the reply's "total" and "next" (absent on the last page)
 *   (a corp under a suite: {"op":"authorizer_add","component":"SUITE","appid":"ww...",
 *    "permanent_code":"..."} or "auth_code":"..." instead)
 *                                     an account authorized to component NAME, published as
 *                                     "NAME.APPID" (same peers as ticket); the refresh token is
 *                                     never in a reply
 *   {"op":"authorizer_add","component":"NAME","auth_code":"..."}
 *                                     onboarding: the authorization code of the authorization
 *                                     redirect or event; the agent asks api_query_auth, publishes
 *                                     the token it answers and keeps the refresh token (the
 *                                     appid comes from WeChat's answer; the reply waits for it)
 *   {"op":"authorizer_sync","component":"NAME"}
 *                                     recovery: page api_get_authorizer_list, add the accounts
 *                                     missing, take a changed refresh token (same peers as add)
 * NAME is an app ("shop") or one of its tickets ("shop.jsapi"). Every reply is one line:
 *   {"ok":true,...} or {"ok":false,"error":"CODE","message":"...",("retry_after_ms":N)}
 * but metrics's: the Prometheus text exposition (format 0.0.4), then the agent closes the
 * connection (the one reply that is not a JSON line; PROTOCOL_REPLY_MAX does not bound it).
 */

enum request_op {
        OP_REFRESH,
        OP_GET,
        OP_STATUS,
        OP_METRICS,
        OP_RELOAD,
        OP_RETRY,
        OP_TICKET,
        OP_AUTHORIZER_ADD,
        OP_AUTHORIZER_REMOVE,
        OP_AUTHORIZER_LIST,
        OP_AUTHORIZER_SYNC,
};

/* authorizer_add's "auth_code": WeChat's authorization_code (queryauthcode@@@...), bounded as a refresh token. */
#define PROTOCOL_AUTH_CODE_MAX 512

struct request {
        enum request_op op;
        char app[WIRE_NAME_SIZE];       /* validated: wire_name_valid() */
        bool has_generation;            /* refresh: false means "whatever is published now" */
        uint64_t generation;
        int64_t timeout_ms;             /* refresh: 1..PROTOCOL_TIMEOUT_MAX_MS */
        bool want_token;                /* refresh: "token":true, the reply carries the token it answers with */
        bool has_app;                   /* status: only this app (and its tickets) or this ticket */
        uint64_t offset;                /* status, authorizer_list: entries to skip (a previous reply's "next") */
        unsigned limit;                 /* status, authorizer_list: 1..PROTOCOL_STATUS_LIMIT_MAX entries at most */
        char verify_ticket[PROTOCOL_VERIFY_TICKET_MAX + 1]; /* ticket: printable ASCII, no space, 1..MAX bytes */
        int64_t create_time_s;          /* ticket: WeChat's CreateTime (Unix seconds), 1..2^53-1 */
        /* authorizer_*: app holds the component ("component", wire_app_name_valid). */
        char authorizer_appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1];  /* add, remove: wire_authorizer_appid_valid */
        char refresh_token[PROTOCOL_REFRESH_TOKEN_MAX + 1];        /* add: printable ASCII, no space, 1..MAX */
        /* add under a suite: refresh_token holds the corp's permanent code ("permanent_code" or "refresh_token"). */
        char auth_code[PROTOCOL_AUTH_CODE_MAX + 1];   /* add: a component's authorization code (alone: the appid and
                                                       * refresh token come from api_query_auth), or with the
                                                       * corp's appid WeCom's temporary auth code; "" if not */
};

/*
 * Parse one request line (len bytes, no newline, not NUL-terminated; may hold anything).
 * 0 and *req filled, or -EINVAL with *error set to a PROTO_E_* code and message to a
 * short explanation (never echoing more than a few bytes of the input).
 */
int protocol_parse(const char *line, size_t len, struct request *req, const char **error, char *message,
                   size_t message_size);

/*
 * Replies, each a malloc'd NUL-terminated line ending in "\n"; NULL only when out of
 * memory. retry_after_ms < 0 leaves the field out.
 */
char *protocol_error(const char *code, const char *message, int64_t retry_after_ms);
char *protocol_refresh_ok(uint64_t generation, int64_t expires_at_ms, bool verified);
/* The same, saying whether an upstream call was made for it ("upstream_call"): false when the compare answered. */
char *protocol_refresh_ok_call(uint64_t generation, int64_t expires_at_ms, bool verified, bool upstream_call);
/*
 * The same with the token of the answered generation last ("token", after every field above,
 * so the reply still starts {"ok":true,"generation": as libwxshm reads it); token NULL leaves it out.
 */
char *protocol_refresh_ok_token(uint64_t generation, int64_t expires_at_ms, bool verified, bool upstream_call,
                                const char *token);
/* reload taken: {"ok":true,"reload":"taken","apps":N} (a refused one is protocol_error(PROTO_E_RELOAD_REFUSED)). */
char *protocol_reload_ok(size_t n_apps);
/* retry accepted: {"ok":true,"retry":WHAT} ("now": the call starts; "in_flight": one is already under way). */
char *protocol_retry_ok(const char *what);
/*
 * retry handed to the cluster's lease holder: {"ok":true,"retry":"forwarded","holder":NODE}
 * (the holder's node id, left out if "" or NULL); the holder's rules decide, in its log.
 */
char *protocol_retry_forwarded(const char *holder);
char *protocol_get_ok(const char *app, const char *token, uint64_t generation, int64_t expires_at_ms);

/* ticket taken or ignored: {"ok":true,"ticket":"taken"|"ignored","create_time":N,"message":...}. */
char *protocol_ticket_ok(bool taken, int64_t create_time_s, const char *message);

/* Whether s is a ticket the op would take: 1 to PROTOCOL_VERIFY_TICKET_MAX bytes of printable ASCII, no space. */
bool protocol_ticket_text_ok(const char *s);

/* authorizer_add/remove done: {"ok":true,"authorizer":WHAT,"component":C,"appid":A,"message":...}. */
char *protocol_authorizer_ok(const char *what, const char *component, const char *appid, const char *message);

/* One account in an authorizer_list reply; never its refresh token. */
struct authorizer_entry {
        const char *appid;
        const char *state;              /* "fresh", "waiting" (for the component's token), "failing", "refused" */
        uint64_t generation;
        int64_t expires_at_ms;          /* 0: no token */
        long last_errcode;
        const char *note;               /* what is wrong and what to do, "" if nothing */
};

/*
 * authorizer_list, a page of it: {"ok":true,"component":C,"total":N,"next":M,"authorizers":
 * [{"appid",..},...]}: total, the accounts the component holds; next (absent on the last
 * page, next < 0) the offset of the following page.
 */
char *protocol_authorizer_list(const char *component, const struct authorizer_entry *entries, size_t n,
                               uint64_t total, int64_t next);

/* authorizer_sync done: {"ok":true,"component":C,"added":N,"updated":N,"unchanged":N,"revoked":N,"total":N,"message":M}. */
char *protocol_authorizer_synced(const char *component, unsigned added, unsigned updated, unsigned unchanged,
                                 unsigned revoked, uint64_t total, const char *message);

/* A component's ticket intake, in its status entry ("component"); the ticket itself never. */
struct status_component {
        bool has_ticket;                /* a component_verify_ticket was put (or read back from state_dir) */
        int64_t create_time_s;          /* the newest one's create time (WeChat's clock) */
        int64_t age_s;                  /* now - create_time_s */
        int64_t received_at_ms;         /* when it was put */
        bool previous;                  /* calls use the previous good ticket: the newest was refused */
        int64_t previous_create_time_s;
        bool waiting;                   /* no usable ticket: no call until one is put */
        const char *note;               /* what the intake last said ("" if nothing) */
        bool alarm;                     /* the ticket alarm: no usable ticket, or the one in use is alarm_after_s old */
        int64_t alarm_after_s;          /* the threshold (1 h component, 20 min suite) */
        bool has_usable;                /* a ticket the next call may use (newest, or the previous standing in) */
        int64_t usable_age_s;           /* its age */
        /* The accounts authorized to it (authorizer_list has each): how many, and how many WeChat refused. */
        unsigned authorizers, authorizers_refused, authorizers_failing;
        unsigned authorizers_revoked;   /* removed since start: refused, and WeChat's list no longer names them */
        /* Their tickets (authorizer_tickets, corp_tickets; each named in status by its own name): how many, how many fail. */
        unsigned account_tickets, account_tickets_failing;
};

/* One app (or ticket) in a status reply; no token, no secret. */
struct status_entry {
        const char *name;
        const char *kind;               /* "token", "stable", "work", "component", "ticket" */
        uint64_t generation;
        int64_t expires_at_ms, fetched_at_ms, next_refresh_ms;
        const char *state;              /* wxshm_state_name() */
        long last_errcode;
        const char *last_errmsg;        /* "" if none */
        uint64_t upstream_calls, forced_refreshes, coalesced_waiters, rate_limited;
        unsigned forced_today, forced_cap;      /* client-forced calls this Beijing day, max_forced_per_day */
        const char *holder;             /* cluster mode: the lease holder's node id ("" unknown); NULL outside */
        bool is_holder;                 /* cluster mode: this agent holds the lease */
        const char *cluster_problem;    /* cluster mode: what is wrong in Redis for it; NULL if nothing */
        /* What it means (core/verdict.h); left out of the reply when verdict_reason is NULL. */
        int verdict;                    /* 0 OK, 1 WARNING, 2 CRITICAL */
        const char *verdict_reason;
        int64_t state_since_ms;         /* since when it is in what it shows (fresh, failing, starting) */
        unsigned attempts;              /* failed calls (or starts) in a row */
        int64_t last_error_at_ms;       /* 0: none */
        const char *errcode_meaning;    /* classify_meaning(last_errcode) */
        const char *advice;             /* what to do, "" if nothing */
        const struct status_component *component; /* kind component's ticket intake; NULL for others */
};

struct cluster_status;

/*
 * cluster is NULL outside cluster mode (the reply then has no "cluster" object). next >= 0
 * is the offset of the following page ("next":N); -1 on the last page (no "next").
 */
/* The socket itself, in every status reply ("server"): what a client can see of the load. */
struct status_server {
        unsigned connections;           /* open now */
        uint64_t status_replies;        /* status requests answered since the start */
        const char *shm_dir;            /* where the segments are (NULL: left out): wxtokenctl get names a wrong $WXSHM_DIR */
        uint64_t evicted_idle;          /* idle kept-alive connections closed to make room for new ones */
};

char *protocol_status_ok(const struct status_entry *entries, size_t n, const struct cluster_status *cluster,
                         int64_t next, const struct status_server *server);

/* The agent itself and what it all means, in a status reply ("agent", "verdict"). */
struct status_agent {
        const char *version;
        long pid;
        int64_t started_at_ms;
        const char *config;             /* the configuration file's path */
        int64_t reload_at_ms;           /* 0: no reload yet ("last_reload" left out) */
        bool reload_taken;
        uint64_t reload_apps;
        const char *reload_reason;
        int verdict;                    /* over every item the request covers, not just this page */
        const char *verdict_summary;    /* the one line, Nagios style, with perfdata */
};

/* protocol_status_ok with the "agent" and "verdict" objects (agent NULL: without them). */
char *protocol_status_page(const struct status_entry *entries, size_t n, const struct cluster_status *cluster,
                           int64_t next, const struct status_server *server, const struct status_agent *agent);

/* Roughly how many bytes e takes in a status reply (at most: every byte escaped), to bound a page. */
size_t protocol_status_entry_size(const struct status_entry *e);

/* The status reply's "cluster" part: is Redis reachable, since when not, and why. */
struct cluster_status {
        const char *node_id;
        const char *redis;
        bool connected;
        int64_t down_since_ms;          /* 0 if connected */
        const char *last_error;
        unsigned holder_of;             /* apps whose lease this agent holds */
        uint64_t notes_refused;         /* notes on the channel that failed the fleet key's check */
};

#endif
