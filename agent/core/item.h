/* item.h: the per-item state machine (a token or a ticket): pure, libc only, the clock an input. */
#ifndef CORE_ITEM_H
#define CORE_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "classify.h"
#include "schedule.h"

/*
 * An item's life, in one place:
 *
 *   STARTING --timer--> (call) --published--> FRESH --timer--> (call) --published--> FRESH ...
 *                                \--failed--> RETRYING | CONFIG_ERROR | QUOTA --timer--> (call)
 *
 * A forced refresh (a client saw the token fail) runs beside that as force.stage:
 *   NONE --request--> PROBE (verify_before_force) --dead--> NORMAL (stable) --same--> ROTATE
 *                     \--------------------------------------------------------/
 * and ends at the next generation (waiters answered "ok"), a failure (answered
 * "upstream_failed"), or when nobody waits any more. The shell (agent/app.c) turns each
 * outcome into an event here, and carries out the actions this returns; nothing here
 * reads a clock, allocates a timer or touches a file.
 */

#define CORE_MESSAGE_MAX 400
#define CORE_FORCE_STABLE_SPACING_MS (30 * 1000LL)  /* WeChat spaces stable_token's force_refresh 30 s apart */

/* What the forced call of an item does next. */
enum core_force_stage {
        CORE_FORCE_NONE,
        CORE_FORCE_PROBE,       /* verify_before_force: is the published token really dead? */
        CORE_FORCE_NORMAL,      /* stable: a normal-mode call first, to adopt another host's rotation */
        CORE_FORCE_ROTATE,      /* the call that rotates (token, work; stable with force_refresh) */
};

/* A client waiting for a forced refresh: data only; the shell maps id to its connection. */
struct core_waiter {
        uint64_t id;
        uint64_t generation;            /* the one the client saw fail (0: any) */
        int64_t until_ms;               /* when its timeout runs out (wall clock) */
        int64_t uid, pid;               /* who asked (peer credentials; -1 unknown), for the log */
};

/* How a waiter (or a remote host's waiters) is answered. */
enum core_answer {
        CORE_ANSWER_PUBLISHED,          /* ok: a newer generation is published */
        CORE_ANSWER_VERIFIED,           /* ok: the probe found the token works */
        CORE_ANSWER_TIMEOUT,
        CORE_ANSWER_BUSY,
        CORE_ANSWER_RATE_LIMITED,
        CORE_ANSWER_UPSTREAM,           /* upstream_failed */
        CORE_ANSWER_STOPPING,
        CORE_ANSWER_UNKNOWN_APP,
        CORE_ANSWER_REMOTE,             /* the holder's answer, code in the action's text */
};

enum core_action_type {
        CORE_ACT_START_CALL,            /* call upstream: call.probe, call.force, call.api_index, call.budget_ms */
        CORE_ACT_SET_STATE,             /* the segment's state (enum wxshm_state): num */
        CORE_ACT_SET_ERROR,             /* the segment's last error: num (errcode), at_ms */
        CORE_ACT_SAVE,                  /* write the state file: at_ms is the token's fetched_at */
        CORE_ACT_LOG,                   /* level, errcode (num), text */
        CORE_ACT_ANSWER,                /* waiter id: answer (+ code/text, retry_after_ms) */
        CORE_ACT_SETTLED,               /* first attempt over: READY may go out */
        CORE_ACT_FETCH_TICKETS,         /* the token changed: the app's tickets are fetched again */
        CORE_ACT_TOKEN_DEAD,            /* a ticket call saw the access token refused */
        CORE_ACT_PUSH,                  /* cluster: the holder published; write it to Redis */
        CORE_ACT_NOTE_FAILED,           /* cluster: tell other hosts' waiters: code, text, retry_after_ms */
        CORE_ACT_NOTE_VERIFIED,         /* cluster: the probe verified generation num */
        CORE_ACT_FORWARD,               /* cluster: hand this host's waiters to the holder */
        CORE_ACT_TAKE_BUDGET,           /* cluster: count a forced call fleet-wide (num: day, at_ms: key ttl) */
        CORE_ACT_CHANGED,               /* something status shows changed */
        CORE_ACT_RETRIED,               /* the answer to CORE_EV_RETRY: code "" (text: "now", "in_flight",
                                           "forwarded") or an error */
        CORE_ACT_FORWARD_RETRY,         /* cluster: hand an operator's retry to the holder (caller_uid, caller_pid) */
};

struct core_action {
        enum core_action_type type;
        uint64_t waiter;                /* CORE_ACT_ANSWER */
        enum core_answer answer;
        int64_t num;
        int64_t at_ms;
        int64_t retry_after_ms;         /* -1: none */
        bool upstream_call;             /* CORE_ACT_ANSWER ok: a call was made for it (not the compare's answer) */
        int level;                      /* syslog priority of CORE_ACT_LOG */
        int64_t caller_uid, caller_pid; /* CORE_ACT_FORWARD_RETRY: who asked (-1 unknown) */
        struct {
                bool probe, force;
                int api_index;
                int64_t budget_ms;
        } call;
        char code[32];                  /* the protocol's error code of an answer or a note */
        char text[CORE_MESSAGE_MAX];
};

/* The actions of a step, in order: one per waiter answered, so the array grows (core_actions_free). */
struct core_actions {
        struct core_action *v;
        size_t n, size;
        size_t dropped;                 /* out of memory: counted, so the shell can say so */
};

void core_actions_free(struct core_actions *out);

/* What the item is told to do: the app's and agent's settings, as they stand at the step. */
struct core_policy {
        enum app_kind kind;
        bool ticket;                    /* a ticket follows the token's rules */
        bool account;                   /* with ticket: an account's token (an authorizer's, a corp's), named so */
        bool verify_before_force;
        int n_api_base;
        int64_t refresh_margin_ms;
        int64_t backoff_min_ms, backoff_max_ms;
        int64_t min_force_interval_ms;
        int64_t min_token_lifetime_ms;
        unsigned max_waiters;
        unsigned max_forced_per_day;
        const char *name;               /* for messages: "shop", "shop.jsapi" */
        /* cluster mode */
        bool clustered;
        bool holder;                    /* this agent holds the app's lease */
        bool holder_known;              /* another agent was last seen holding it (retry goes there) */
        bool redis_up;
        const char *redis;              /* as configured, for messages */
        int64_t tick_ms;                /* the cluster's tick: a holder short of lease retries in half */
};

/* The clock readings and the randomness of one step. */
struct core_clock {
        int64_t now_ms;                 /* wall clock */
        int64_t quota_now_ms;           /* the clock quota days are counted on (budget_now_ms) */
        struct rng *rng;
};

enum core_event_type {
        CORE_EV_START,          /* the segment is open: adopted (generation, times set) or not */
        CORE_EV_TIMER,          /* the wake-up core_item_wake asked for */
        CORE_EV_CALL_STARTED,   /* CORE_ACT_START_CALL was carried out: its transfer started, or (queued)
                                   it waits for a slot in the agent's queue, and comes again when it starts */
        CORE_EV_CALL_DROPPED,   /* the queued call was not made: at its turn this agent may no longer call */
        CORE_EV_PUBLISHED,      /* a fetched token is published: generation, expires_in_s, same */
        CORE_EV_FAILED,         /* the call (or its start, or the publish) failed: errcode, errmsg */
        CORE_EV_PROBED,         /* the probe's answer: errcode (0: the token works), errmsg */
        CORE_EV_REQUEST,        /* a client's forced refresh: waiter id, generation, timeout_ms */
        CORE_EV_WAITER_GONE,    /* the client left: waiter id */
        CORE_EV_FETCH_NOW,      /* fetch soon: the token changed (ticket), or a ticket saw it dead */
        CORE_EV_MIRRORED,       /* cluster: another agent's token is published here */
        CORE_EV_RESUME,         /* cluster: this agent became the holder and read Redis */
        CORE_EV_REMOTE_FORCE,   /* cluster, holder: another host's clients wait: generation, timeout_ms */
        CORE_EV_REMOTE_FAILED,  /* cluster: the holder could not refresh generation: code, errmsg, retry */
        CORE_EV_REMOTE_VERIFIED, /* cluster: the holder's probe verified generation */
        CORE_EV_BUDGET_COUNTED, /* cluster: the fleet's count (count < 0: it could not be taken) */
        CORE_EV_REBASE,         /* the segment was made anew, empty */
        CORE_EV_ABORT,          /* the item goes away: answer every waiter (answer) */
        CORE_EV_STOPPED,        /* the agent stops: the segment says so */
        CORE_EV_RETRY,          /* an operator: skip the backoff wait once (caller_uid, caller_pid); see retry.c */
};

struct core_event {
        enum core_event_type type;
        uint64_t waiter;
        bool has_generation;
        uint64_t generation;
        int64_t timeout_ms;
        /* CORE_EV_TIMER */
        int64_t call_budget_ms;         /* how long a call may take now; <= 0: this agent may not call */
        bool token_ready;               /* a ticket: the app's token is there to fetch it with */
        bool ticket_missing;            /* a component: no component_verify_ticket to call with (fetched when one comes) */
        bool queued;                    /* CORE_EV_CALL_STARTED: waiting for a slot, not yet upstream */
        /* CORE_EV_PUBLISHED, CORE_EV_MIRRORED, CORE_EV_START */
        int64_t expires_at_ms, fetched_at_ms;
        bool same;                      /* the token published before, again */
        bool adopted;
        bool ok;                        /* CORE_EV_REBASE: the new segment is made */
        bool dead;                      /* CORE_EV_FETCH_NOW: a ticket call saw this token refused */
        long last_errcode;              /* CORE_EV_START: the segment's last recorded failure */
        int64_t last_error_at_ms;
        /* CORE_EV_FAILED, CORE_EV_PROBED, CORE_EV_REMOTE_FAILED */
        long errcode;
        const char *errmsg;
        const char *code;
        int64_t retry_after_ms;
        long long count;                /* CORE_EV_BUDGET_COUNTED */
        enum core_answer answer;        /* CORE_EV_ABORT */
        int64_t caller_uid, caller_pid; /* CORE_EV_REQUEST, CORE_EV_RETRY: who asked (-1 unknown), for the log */
        const char *from_node;          /* CORE_EV_RETRY: another host's agent handed it on (its lease id); NULL: ours */
};

struct core_item {
        /* the token published */
        uint64_t generation;            /* 0: none yet */
        int64_t expires_at_ms, fetched_at_ms, lifetime_ms;
        int state;                      /* enum wxshm_state */
        bool settled;                   /* has a token, or its first attempt failed */
        /* the calls */
        bool in_flight;                 /* a call is decided: waiting in the queue, or upstream */
        bool queued;                    /* ... still waiting: the state and the count of calls wait with it */
        bool probing;                   /* the call in flight is the probe */
        bool armed;                     /* next_at_ms is a wake-up still to come */
        int64_t next_at_ms;             /* the next scheduled call */
        uint64_t calls;
        unsigned attempt;               /* consecutive failures */
        int api_index;
        long errcode;                   /* of the last call, 0 if it succeeded */
        enum failure_class failure;
        char last_errmsg[256];
        char advice[512];
        int64_t failing_since_ms;
        /* forced refreshes */
        struct core_waiter *waiters;
        unsigned n_waiters, waiters_size;
        enum core_force_stage force_stage;
        int64_t forced_at_ms;
        struct core_budget budget;
        bool budget_asked, budget_granted;
        int64_t remote_until_ms;        /* holder: other hosts' clients wait until then */
        uint64_t forced_refreshes, coalesced_waiters, rate_limited;
        /* Upstream calls answered, by what the answer meant (enum failure_class: ok, transient, config, quota). */
        uint64_t results[4];
        int64_t force_uid, force_pid;   /* the client whose request started the forced call (-1: another host's) */
        int64_t retried_at_ms;          /* the last operator's retry (CORE_EV_RETRY) that made a call */
        bool awaiting_ticket;           /* a component's call is due but it has no component_verify_ticket yet */
};

void core_item_init(struct core_item *it);
void core_item_free(struct core_item *it);

/*
 * The one transition: take event ev at clock, under policy pol; append what the shell
 * must do to out (in order). Returns the number of actions appended.
 */
size_t core_item_step(struct core_item *it, const struct core_policy *pol, const struct core_clock *clock,
                      const struct core_event *ev, struct core_actions *out);

/* When the shell must next send CORE_EV_TIMER (wall-clock ms); INT64_MAX if never. */
int64_t core_item_wake(const struct core_item *it);

/* When the last waiter's timeout runs out (wall clock ms); 0 if none waits. */
int64_t core_item_waiters_until(const struct core_item *it);

/* Whether a token's times are believable under pol (a mirror, an adopted token). */
bool core_item_times_plausible(const struct core_policy *pol, int64_t fetched_at_ms, int64_t expires_at_ms,
                               int64_t now_ms);

/* The spacing of forced refreshes: min_force_interval, and 30 s for stable's force_refresh. */
int64_t core_force_interval(const struct core_policy *pol);

const char *core_answer_code(enum core_answer a);

#endif
