/* test-interleave-items.c: every order of a few events over agents' real item machine, lease and reconcile core, and a fake Redis. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "item.h"
#include "lease.h"
#include "reconcile.h"
#include "upstream.h"
#include "wire.h"

/*
 * test-interleave.c checks the lease and reconcile rules; this adds what the spin model
 * (tests/model) says about forced refreshes, on the code itself: each agent's item is
 * agent/core/item.c and force.c, stepped as agent/app-step.c steps it, its actions carried
 * out as app-step.c, cluster.c, cluster-notes.c and cluster-lease.c carry them out, against
 * a fake Redis (the lease key, the item record, the publish script, the fleet's count of
 * forced calls, and the channel: a queue of notes per agent, in order, which may lose one).
 * WeChat counts calls per generation. A depth-first search runs every order of the events
 * below, each state once (agents renumbered are one state; a state seen at an earlier time
 * had every future this one has). A running agent does what is in front of it (a note, a
 * reply, its tick, its timer) before time passes, in every order; calls in flight, clients,
 * faults and a stopped agent's backlog are not held to that. When time has run out, a
 * drain runs a fair, fault-free schedule on (every note taken, every call answered, a
 * stopped agent going on once its lease is surely gone, ticks and timers each second) and
 * every client that asked must have been answered before its timeout. A failure prints
 * its trace again from the start, with what the shell did at each event.
 *
 * Invariants (tests/model/README.md, numbered as there):
 *  1. calls for a generation <= 1 + lost results of calls for it (a kill mid-call, a call
 *     that outlasted its budget); a call WeChat refused rotated nothing and is not counted.
 *     A call is for the generation its clients named (forced), or the agent's own (planned).
 *  2. every client is answered, before its timeout, and "ok" only with a newer generation
 *     than it named; an error only in a trace with a fault in it.
 *  3. no generation goes back, on a host (core and segment) or in Redis since it started.
 *
 * Assumed as there: T2, a token an agent fetched under a lease it lost has reached Redis
 * before a holder calls (the holder's timer waits). Left out: Redis restarts (T3, and
 * test-interleave.c runs them), stable and the probe, tickets, a client that leaves.
 */

#ifndef N
#define N 2
#endif
#define SEC 1000LL
#define LEASE (12 * SEC)
#ifndef STEP
#define STEP (3 * SEC)                  /* time passes a quarter of a lease at a time */
#endif
#ifndef T_MAX
#define T_MAX (12 * SEC)                /* a lease (the drain goes on past it: a lease runs out there) */
#endif
#define TICK (1 * SEC)                  /* lease_tick_ms(LEASE) */
#define CAP (10 * SEC)                  /* one HTTP call's timeout */
#define LIFE (7200 * SEC)               /* a token WeChat hands out */
#define MARGIN (10 * SEC)
#define WAIT ((int64_t)PROTOCOL_TIMEOUT_MAX_MS)  /* a client's timeout_ms */
#define DRAIN_END (55 * SEC)            /* the drain ends before any client's timeout (60 s after it asked) */
#define FORWARD_REPEAT (1 * SEC)        /* cluster-notes.c */
#define RECONCILE_EVERY (2 * STEP)      /* cluster.c: 5 s */
#define START 1800000000000LL           /* 2027-01-15 08:00 UTC: no Beijing day turns in the run */
#ifndef PLANNED
#define PLANNED 1                       /* the first token's planned refresh falls inside the run */
#endif

/*
 * What may happen in a run, all agents together: clients asking, kills mid-call, pauses
 * mid-call (past the lease, perhaps), calls WeChat refuses, notes lost (a subscription
 * reconnecting). The runs below take half a second together at -O0; -DRUN="{ 2, 1, 1, 1, 1 }"
 * (with -DT_MAX=(24*SEC), -DN=3...) runs one of your choosing instead, for minutes.
 */
struct budget {
        uint8_t requests, kills, pauses, errs, drops;
};

#ifdef RUN
static const struct budget runs[] = { RUN };
#else
static const struct budget runs[] = {
        { .requests = 2, .kills = 1 },                          /* coalescing, forwarding, a lost result */
        { .requests = 1, .kills = 1, .pauses = 1, .drops = 1 }, /* a holder paused mid-call, a note lost */
        { .requests = 1, .errs = 1 },                           /* a refused call: its clients told */
};
#endif
#define G 12
#define INBOX 24                        /* a stopped holder gets a forward a second */
#define CLIENTS 4

struct token {
        int64_t fetched, expires;
        uint8_t gen, id;                /* id: WeChat's numbering of its tokens; 0: none */
};

enum { NOTE_PUB, NOTE_FORCE, NOTE_FAIL, NOTE_VERIFIED, NOTE_SYNC };

struct note {
        uint8_t verb, gen;
        uint8_t why;                    /* ghost: the generation the forwarding clients named */
        int64_t left;                   /* force: how long its clients still wait */
        struct token tok;               /* sync */
};

struct agent {
        struct core_item it;            /* the real core; its waiters are copied with the world */
        struct rng rng;
        struct core_lease lease;
        uint8_t life;                   /* the process: a restarted one has a new lease id */
        bool resuming;                  /* it->cluster_resume: a new holder has not read Redis yet */
        bool read_wait;                 /* a resume read ran in Redis, its answer is not handled yet */
        int64_t read_sent;
        struct token read;
        struct token seg;               /* what the segment (and it->value) holds */
        bool calling, call_lost, late;  /* late: stopped past the call's end, its answer may still be taken */
        uint8_t call_r;                 /* ghost: the generation the call is for */
        int64_t call_end;
        bool budget_wait;               /* CORE_ACT_TAKE_BUDGET sent, not answered */
        bool tick_due;                  /* the cluster's tick came round since its last run */
        bool paused;                    /* the process is stopped (SIGSTOP, a VM paused): it handles nothing */
        int64_t paused_at;
        uint8_t fwd_gen;                /* it->forwarded_gen, forwarded_at_ms */
        int64_t fwd_at;
        uint8_t remote_why;             /* ghost: the highest generation other hosts' clients named */
        struct note inbox[INBOX];
        uint8_t n_in;
};

enum { C_NONE, C_WAITING, C_OK, C_ERROR, C_GONE };

struct client {
        uint8_t agent, gen, state;
};

struct world {
        int64_t now;
        struct agent a[N];
        int8_t owner;                   /* Redis's lease key: the holder's index, -1 if none */
        uint8_t owner_life;
        int64_t lease_exp;
        struct token rec;
        uint8_t rec_max, next_id;
        int8_t spare[G];                /* calls WeChat may still get for a generation */
        uint8_t requests, kills, errs, drops, pauses, n_clients;
        bool faulted;                   /* a fault happened in this trace: errors may be answered */
        long long budget_count;
        struct client c[CLIENTS];
};

enum { EV_TICK, EV_TIMER, EV_CALL_OK, EV_CALL_FAIL, EV_CALL_TIMEOUT, EV_KILL, EV_REQUEST, EV_REQUEST_STALE, EV_NOTE,
       EV_NOTE_LOST, EV_RESUME_ANSWER, EV_BUDGET, EV_PAUSE, EV_UNPAUSE, EV_AGENT };
enum { EV_TIME = EV_AGENT * N, EV_MAX };

static const char *const event_names[] = {
        "tick", "timer", "WeChat answers the call", "WeChat refuses the call", "the call times out (result lost)",
        "killed mid-call, restarts", "a client asks to refresh what it sees", "a client asks to refresh generation 1",
        "takes the next note", "loses the next note", "the resume read is answered",
        "the fleet count is answered", "pauses (stopped)", "goes on after its pause",
};
static const char *const note_names[] = { "pub", "force", "fail", "verified", "sync" };

static const char *failure;
static bool verbose, draining;
static int path[256], depth;
static unsigned long long states, transitions, drains, max_depth;

static void violated(const char *what) {
        if (!failure)
                failure = what;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        va_list ap;

        if (!verbose)
                return;
        va_start(ap, fmt);
        fputs("      ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ---- the world: copied whole, the cores' waiter arrays too ---- */

static void world_copy(struct world *dst, const struct world *src) {
        *dst = *src;
        for (int i = 0; i < N; i++) {
                const struct core_item *s = &src->a[i].it;
                struct core_item *d = &dst->a[i].it;

                if (!s->waiters_size)
                        continue;
                d->waiters = malloc(s->waiters_size * sizeof(*d->waiters));
                SETUP_OK(d->waiters);
                memcpy(d->waiters, s->waiters, s->n_waiters * sizeof(*d->waiters));
        }
}

static void world_free(struct world *w) {
        for (int i = 0; i < N; i++)
                core_item_free(&w->a[i].it);
}

/* ---- the shell around one agent's core ---- */

static void push(struct world *w, int i);
static bool on_read(struct world *w, int i, struct token found);

static bool holder(const struct world *w, int i) {
        return w->a[i].lease.holder;
}

/* item_policy + cluster_item_policy */
static struct core_policy policy(const struct world *w, int i) {
        return (struct core_policy){ .kind = APP_KIND_TOKEN, .n_api_base = 1, .refresh_margin_ms = MARGIN,
                                     .backoff_min_ms = 1 * SEC, .backoff_max_ms = 60 * SEC,
                                     .min_force_interval_ms = 5 * SEC, .min_token_lifetime_ms = 60 * SEC,
                                     .max_waiters = 100, .max_forced_per_day = 1000, .name = "shop",
                                     .clustered = true, .holder = holder(w, i), .redis_up = true,
                                     .redis = "fake", .tick_ms = TICK };
}

/*
 * A note the same as one still queued for an agent is not queued twice: taking it twice
 * does what taking it once does (a reconcile read every 5 s sends the same sync note
 * until it is settled; a holder says "pub" again to every late forward).
 */
static bool queued(const struct agent *b, const struct note *n) {
        for (int k = 0; k < b->n_in; k++)
                if (b->inbox[k].verb == n->verb && b->inbox[k].gen == n->gen && b->inbox[k].why == n->why &&
                    b->inbox[k].left == n->left && b->inbox[k].tok.id == n->tok.id &&
                    b->inbox[k].tok.gen == n->tok.gen && b->inbox[k].tok.fetched == n->tok.fetched &&
                    (n->verb == NOTE_PUB || n->verb == NOTE_SYNC))
                        return true;
        return false;
}

static void send_note(struct world *w, int from, struct note n) {
        say("agent %d sends \"%s %u\"", from, note_names[n.verb], n.gen);
        for (int j = 0; j < N; j++) {
                struct agent *b = &w->a[j];

                if (j == from || queued(b, &n))
                        continue;
                if (b->n_in == INBOX) {
                        violated("a note queue overflowed (a bigger INBOX, or a loop of notes)");
                        return;
                }
                b->inbox[b->n_in++] = n;
        }
}

/* The highest generation this agent's waiting clients named (the ghost of why it forces). */
static uint8_t clients_named(const struct world *w, int i) {
        uint8_t g = 0;

        for (int k = 0; k < w->n_clients; k++)
                if (w->c[k].state == C_WAITING && w->c[k].agent == i && w->c[k].gen > g)
                        g = w->c[k].gen;
        return g;
}

/* cluster_forward */
static bool forward(struct world *w, int i) {
        struct agent *a = &w->a[i];
        int64_t left = core_item_waiters_until(&a->it) - w->now;

        if (left <= 0 || (a->fwd_gen == a->it.generation && w->now - a->fwd_at < FORWARD_REPEAT))
                return false;
        send_note(w, i, (struct note){ .verb = NOTE_FORCE, .gen = (uint8_t)a->it.generation,
                                       .why = clients_named(w, i), .left = left });
        a->fwd_gen = (uint8_t)a->it.generation;
        a->fwd_at = w->now;
        return true;
}

static void step(struct world *w, int i, struct core_event ev);

/* app-step.c's item_do, and what the services behind it do. */
static void act(struct world *w, int i, const struct core_action *x) {
        struct agent *a = &w->a[i];
        struct client *c;

        switch (x->type) {
        case CORE_ACT_START_CALL: {
                uint8_t named = clients_named(w, i) > a->remote_why ? clients_named(w, i) : a->remote_why;
                uint8_t r = x->call.force && named ? named : (uint8_t)a->it.generation;

                if (a->calling)
                        violated("a second call while one is in flight");
                a->calling = true;
                a->call_lost = false;
                a->call_r = r;
                a->call_end = w->now + x->call.budget_ms;
                say("agent %d calls WeChat%s for generation %u", i, x->call.force ? " (forced)" : "", r);
                if (--w->spare[r] < 0)
                        violated("two WeChat calls for one generation, and no lost result to explain it");
                step(w, i, (struct core_event){ .type = CORE_EV_CALL_STARTED });
                break;
        }
        case CORE_ACT_ANSWER:
                SETUP_OK(x->waiter >= 1 && x->waiter <= w->n_clients);
                c = &w->c[x->waiter - 1];
                say("agent %d answers client %llu (asked about %u): %s, generation %lld", i,
                    (unsigned long long)x->waiter, c->gen, x->code[0] ? x->code : "ok", (long long)x->num);
                if (c->state != C_WAITING || c->agent != i)
                        violated("a client was answered twice, or by an agent it did not ask");
                if (x->answer == CORE_ANSWER_PUBLISHED) {
                        if (x->num <= c->gen)
                                violated("a client was told of a new token, at a generation no newer than it named");
                        c->state = C_OK;
                } else {
                        if (x->answer == CORE_ANSWER_TIMEOUT)
                                violated("a client's timeout answered it");
                        if (!w->faulted)
                                violated("a client was answered an error in a trace without a fault");
                        c->state = C_ERROR;
                }
                break;
        case CORE_ACT_PUSH:
                if (holder(w, i)) /* cluster_published */
                        push(w, i);
                break;
        case CORE_ACT_NOTE_FAILED:
                if (holder(w, i))
                        send_note(w, i, (struct note){ .verb = NOTE_FAIL, .gen = (uint8_t)a->it.generation });
                break;
        case CORE_ACT_NOTE_VERIFIED:
                if (holder(w, i))
                        send_note(w, i, (struct note){ .verb = NOTE_VERIFIED, .gen = (uint8_t)a->it.generation });
                break;
        case CORE_ACT_FORWARD:
                forward(w, i);
                break;
        case CORE_ACT_TAKE_BUDGET:
                if (a->budget_wait)
                        violated("a second count asked of Redis while one is unanswered");
                a->budget_wait = true;
                break;
        default:
                break;  /* the segment's state and error, the state file, logs, status: no decision reads them */
        }
}

/* item_step: one event into agent i's core, its actions carried out in order. */
static void step(struct world *w, int i, struct core_event ev) {
        struct agent *a = &w->a[i];
        struct core_policy pol = policy(w, i);
        struct core_clock clock = { .now_ms = w->now, .quota_now_ms = w->now, .rng = &a->rng };
        struct core_actions out = { .v = NULL };
        uint64_t before = a->it.generation;

        core_item_step(&a->it, &pol, &clock, &ev, &out);
        SETUP_OK(!out.dropped);
        if (a->it.generation < before)
                violated("a generation went back in an agent's core");
        if (a->it.generation != before)
                a->remote_why = 0; /* core_force_published: other hosts' clients learn of it through Redis */
        for (size_t k = 0; k < out.n && !failure; k++)
                act(w, i, &out.v[k]);
        core_actions_free(&out);
}

/* item_mirror: the segment takes no lower generation, and no caller may ask it to. */
static bool mirror(struct world *w, int i, struct token t, uint64_t gen) {
        struct agent *a = &w->a[i];
        struct core_policy pol = policy(w, i);

        if (!core_item_times_plausible(&pol, t.fetched, t.expires, w->now))
                return false;
        SETUP_OK(gen < G, "a bigger G");
        if (gen < a->seg.gen)
                violated("a generation went back on a host");
        if (gen == a->seg.gen && t.id != a->seg.id)
                violated("one generation stood for two tokens on a host");
        t.gen = (uint8_t)gen;
        a->seg = t;
        say("agent %d publishes WeChat's token %u as generation %u (mirrored)", i, t.id, t.gen);
        step(w, i, (struct core_event){ .type = CORE_EV_MIRRORED, .generation = gen, .expires_at_ms = t.expires,
                                        .fetched_at_ms = t.fetched });
        return true;
}

static struct reconcile_ours ours(const struct world *w, int i) {
        const struct core_item *it = &w->a[i].it;

        return (struct reconcile_ours){ it->generation, it->fetched_at_ms, it->expires_at_ms,
                                        w->a[i].seg.id && it->expires_at_ms > w->now };
}

/* cluster_settle: false if the verdict was to do nothing. */
static bool settle(struct world *w, int i, struct reconcile_action v, struct token theirs) {
        switch (v.verdict) {
        case RECONCILE_MIRROR_THEIRS:
                mirror(w, i, theirs, v.generation);
                break;
        case RECONCILE_THEIRS_ABOVE:
                if (mirror(w, i, theirs, v.generation))
                        push(w, i);
                break;
        case RECONCILE_OURS_ABOVE:
                if (mirror(w, i, w->a[i].seg, v.generation))
                        push(w, i);
                break;
        case RECONCILE_PUSH:
        case RECONCILE_REPLACE:
                push(w, i);
                break;
        case RECONCILE_SYNC:
                send_note(w, i, (struct note){ .verb = NOTE_SYNC, .gen = w->a[i].seg.gen, .tok = w->a[i].seg });
                break;
        case RECONCILE_NOTHING:
                return false;
        }
        return true;
}

/* cluster.c's on_read: Redis's record as found against ours. */
static bool on_read(struct world *w, int i, struct token found) {
        struct reconcile_theirs t = { found.gen, found.fetched, found.expires };
        struct reconcile_ours o = ours(w, i);

        if (found.id)
                return settle(w, i, reconcile_record(holder(w, i), &o, &t, found.id == w->a[i].seg.id), found);
        return settle(w, i, reconcile_missing(holder(w, i), &o, false), found);
}

static void lease_lost(struct world *w, int i, const char *why) {
        say("agent %d is no longer the holder (%s)", i, why);
        w->a[i].lease.holder = false;
}

/* ---- the fake Redis: agent/cluster-scripts.h ---- */

static void redis_expire(struct world *w) {
        if (w->owner >= 0 && w->now >= w->lease_exp)
                w->owner = -1;
}

static bool redis_owner(const struct world *w, int i) {
        return w->owner == i && w->owner_life == w->a[i].life;
}

/* The publish script, and on_push's handling of its answer. */
static void push(struct world *w, int i) {
        struct agent *a = &w->a[i];
        struct token *cur = &w->rec;

        if (!a->seg.gen)
                return;
        redis_expire(w);
        if (!redis_owner(w, i)) {
                if (holder(w, i))
                        lease_lost(w, i, "Redis says another node holds the lease");
                on_read(w, i, w->rec);
                return;
        }
        if (cur->id && cur->id != a->seg.id && cur->fetched > a->seg.fetched) {
                on_read(w, i, w->rec); /* -2 */
                return;
        }
        if (cur->id && (cur->gen > a->seg.gen || (cur->gen == a->seg.gen && cur->id != a->seg.id))) {
                settle(w, i, reconcile_raise(a->seg.gen, cur->gen + 1, UINT64_C(1) << 53, 1000), a->seg); /* -3 */
                return;
        }
        if (a->seg.gen < w->rec_max)
                violated("a generation went back in Redis");
        *cur = a->seg;
        w->rec_max = cur->gen > w->rec_max ? cur->gen : w->rec_max;
        say("Redis holds token %u as generation %u", cur->id, cur->gen);
        send_note(w, i, (struct note){ .verb = NOTE_PUB, .gen = cur->gen });
}

/* A claim or a renewal, run in Redis with its answer (on_lease); a won claim sends the resume read. */
static void lease_send(struct world *w, int i) {
        struct agent *a = &w->a[i];
        bool renew = a->lease.holder, ours_now;

        redis_expire(w);
        ours_now = redis_owner(w, i) || (!renew && w->owner < 0);
        if (ours_now) {
                w->owner = (int8_t)i;
                w->owner_life = a->life;
                w->lease_exp = w->now + LEASE;
        }
        a->lease.sent_ms = w->now;
        if (renew) {
                enum lease_answer answer = lease_on_renewal(&a->lease, ours_now);

                if (answer == LEASE_EXTENDED)
                        a->lease.deadline_ms = lease_deadline(a->lease.sent_ms, LEASE);
                else if (answer == LEASE_LOST)
                        lease_lost(w, i, "the lease was not ours any more at renewal");
        } else if (lease_on_claim(&a->lease, ours_now, false) == LEASE_WON) {
                say("agent %d holds the lease", i);
                a->lease.holder = true;
                a->lease.deadline_ms = lease_deadline(a->lease.sent_ms, LEASE);
                a->resuming = true;
                a->read_wait = true;
                a->read_sent = w->now;
                a->read = w->rec;
        }
}

/*
 * T2: no other agent holds a token fetched later than Redis's that Redis does not have.
 * Fetched at the same time counts as later: time here is coarse, and the answer handled
 * later (a paused holder's) would be dated later.
 */
static bool t2(const struct world *w, int i) {
        for (int j = 0; j < N; j++)
                if (j != i && w->a[j].seg.id && w->a[j].seg.id != w->rec.id &&
                    (!w->rec.id || w->a[j].seg.fetched >= w->rec.fetched))
                        return false;
        return true;
}

/* cluster_on_message */
static void on_note(struct world *w, int i, struct note n) {
        struct agent *a = &w->a[i];

        say("agent %d takes \"%s %u\"", i, note_names[n.verb], n.gen);
        switch (n.verb) {
        case NOTE_PUB:
                if (n.gen > a->it.generation)
                        on_read(w, i, w->rec);
                break;
        case NOTE_FORCE:
                if (!holder(w, i))
                        break;
                if (a->it.generation > n.gen) {
                        send_note(w, i, (struct note){ .verb = NOTE_PUB, .gen = (uint8_t)a->it.generation });
                        break;
                }
                if (n.why > a->remote_why)
                        a->remote_why = n.why;
                step(w, i, (struct core_event){ .type = CORE_EV_REMOTE_FORCE, .generation = n.gen,
                                                .timeout_ms = n.left });
                break;
        case NOTE_FAIL:
                if (!holder(w, i))
                        step(w, i, (struct core_event){ .type = CORE_EV_REMOTE_FAILED, .generation = n.gen,
                                                        .code = PROTO_E_UPSTREAM, .errmsg = "failed on the holder",
                                                        .retry_after_ms = -1 });
                break;
        case NOTE_VERIFIED:
                if (!holder(w, i))
                        step(w, i, (struct core_event){ .type = CORE_EV_REMOTE_VERIFIED, .generation = n.gen });
                break;
        case NOTE_SYNC: {
                struct reconcile_theirs t = { n.tok.gen, n.tok.fetched, n.tok.expires };
                struct reconcile_ours o = ours(w, i);

                settle(w, i, reconcile_sync(holder(w, i), &o, &t), n.tok);
                break;
        }
        }
}

/* The process dies mid-call and starts again: the segment stays, its clients' connections drop. */
static void restart(struct world *w, int i) {
        struct agent *a = &w->a[i];

        for (int k = 0; k < w->n_clients; k++)
                if (w->c[k].state == C_WAITING && w->c[k].agent == i)
                        w->c[k].state = C_GONE;
        core_item_free(&a->it);
        core_item_init(&a->it);
        a->lease = (struct core_lease){ 0 };
        a->life++;
        a->resuming = a->read_wait = a->calling = a->call_lost = a->late = a->budget_wait = a->tick_due = false;
        a->fwd_gen = 0;
        a->fwd_at = 0;
        a->remote_why = 0;
        a->n_in = 0;
        step(w, i, (struct core_event){ .type = CORE_EV_START, .adopted = true, .generation = a->seg.gen,
                                        .expires_at_ms = a->seg.expires, .fetched_at_ms = a->seg.fetched });
}

static bool request(struct world *w, int i, uint8_t gen) {
        struct client *c;

        if (w->requests == 0)
                return false;
        w->requests--;
        SETUP_OK(w->n_clients < CLIENTS);
        c = &w->c[w->n_clients++];
        *c = (struct client){ .agent = (uint8_t)i, .gen = gen, .state = C_WAITING };
        step(w, i, (struct core_event){ .type = CORE_EV_REQUEST, .waiter = w->n_clients, .has_generation = true,
                                        .generation = gen, .timeout_ms = WAIT });
        return true;
}

/* cluster_call_budget */
static int64_t call_budget(const struct world *w, int i) {
        return lease_call_budget(&w->a[i].lease, w->now, LEASE, w->a[i].resuming, CAP);
}

/* The item's timer is due, and it may run (T2 holds, or it could not call anyway). */
static bool timer_due(const struct world *w, int i) {
        return core_item_wake(&w->a[i].it) <= w->now && (call_budget(w, i) <= 0 || t2(w, i));
}

/*
 * A running agent handles what is in front of it at once: a note, a reply, its timer, its
 * tick, a call curl gave up on. Only calls in flight (WeChat's latency), a stopped agent's
 * work and what T2 holds up wait while time passes.
 */
static bool busy(const struct world *w, int i) {
        const struct agent *a = &w->a[i];

        return !a->paused && (a->tick_due || a->n_in || a->read_wait || a->budget_wait ||
                              (a->calling && a->call_lost) || timer_due(w, i));
}

static bool agent_event(struct world *w, int i, int ev) {
        struct agent *a = &w->a[i];

        if (a->paused && ev != EV_UNPAUSE)
                return false;
        switch (ev) {
        case EV_TICK:
                /* tick_work: the deadline, a claim or a renewal, a resume read again, a forward again. */
                if (!a->tick_due)
                        return false;
                a->tick_due = false;
                if (lease_expired(&a->lease, w->now))
                        lease_lost(w, i, "the lease could not be renewed in time");
                if (lease_should_send(&a->lease, w->now, LEASE))
                        lease_send(w, i);
                if (a->lease.holder && a->resuming && !a->read_wait) {
                        a->read_wait = true;
                        a->read_sent = w->now;
                        a->read = w->rec;
                }
                if (!a->lease.holder && a->fwd_gen == a->it.generation && a->fwd_at)
                        forward(w, i);
                /* Every RECONCILE_EVERY_MS (5 s; here every other step) the item is read again. */
                if ((w->now - START) % RECONCILE_EVERY == 0)
                        on_read(w, i, w->rec);
                return true;
        case EV_TIMER:
                if (!timer_due(w, i))
                        return false;
                step(w, i, (struct core_event){ .type = CORE_EV_TIMER, .call_budget_ms = call_budget(w, i),
                                                .token_ready = true });
                if (core_item_wake(&a->it) <= w->now)
                        violated("the core asked to be woken at once again: the agent's timer would spin");
                return true;
        case EV_PAUSE:
                /* A pause that matters: mid-call (a pause elsewhere is a late tick, which the lease allows for). */
                if (w->pauses == 0 || !a->calling)
                        return false;
                w->pauses--;
                w->faulted = true;
                a->paused = true;
                a->paused_at = w->now;
                return true;
        case EV_UNPAUSE:
                /* The drain lets a pause outlast the lease: every shorter one is searched. */
                if (!a->paused || (draining && w->now < a->paused_at + LEASE + STEP))
                        return false;
                a->paused = false;
                return true;
        case EV_CALL_OK: {
                struct token t = { w->now, w->now + LIFE, (uint8_t)(a->seg.gen + 1), 0 };

                /* After its end, curl has given up on it; unless the process was stopped meanwhile. */
                if (!a->calling || (a->call_lost && !a->late))
                        return false;
                t.id = ++w->next_id;
                a->calling = false;
                SETUP_OK(t.gen < G, "a bigger G");
                a->seg = t; /* wxshm_writer_publish: the segment's generation + 1 */
                say("agent %d publishes WeChat's token %u as generation %u", i, t.id, t.gen);
                step(w, i, (struct core_event){ .type = CORE_EV_PUBLISHED, .generation = t.gen,
                                                .expires_at_ms = t.expires });
                return true;
        }
        case EV_CALL_FAIL:
                if (!a->calling || a->call_lost || w->errs == 0)
                        return false;
                w->errs--;
                w->faulted = true;
                a->calling = false;
                w->spare[a->call_r]++; /* refused: nothing rotated */
                step(w, i, (struct core_event){ .type = CORE_EV_FAILED, .errcode = -1, .errmsg = "system busy" });
                return true;
        case EV_CALL_TIMEOUT:
                if (!a->calling || !a->call_lost)
                        return false;
                a->calling = false;
                step(w, i, (struct core_event){ .type = CORE_EV_FAILED, .errcode = UPSTREAM_ERR_TRANSPORT,
                                                .errmsg = "timed out" });
                return true;
        case EV_KILL:
                if (!a->calling || w->kills == 0)
                        return false;
                w->kills--;
                w->faulted = true;
                if (!a->call_lost)
                        w->spare[a->call_r]++; /* the call's result is lost with the process */
                restart(w, i);
                return true;
        case EV_REQUEST:
                return request(w, i, a->seg.gen);
        case EV_REQUEST_STALE:
                return a->seg.gen > 1 && request(w, i, 1);
        case EV_NOTE:
        case EV_NOTE_LOST: {
                struct note n = a->inbox[0];

                if (a->n_in == 0 || (ev == EV_NOTE_LOST && w->drops == 0))
                        return false;
                memmove(&a->inbox[0], &a->inbox[1], (size_t)(a->n_in - 1) * sizeof(a->inbox[0]));
                a->n_in--;
                if (ev == EV_NOTE_LOST) {
                        w->drops--;
                        w->faulted = true;
                        return true;
                }
                on_note(w, i, n);
                return true;
        }
        case EV_RESUME_ANSWER: {
                struct token found = a->read;

                if (!a->read_wait)
                        return false;
                a->read_wait = false;
                on_read(w, i, found);
                a->lease.quiet_until_ms = lease_quiet_after_resume(&a->lease, found.id != 0,
                                                                   ours(w, i).servable, a->read_sent, LEASE);
                if (a->lease.holder) {
                        a->resuming = false;
                        step(w, i, (struct core_event){ .type = CORE_EV_RESUME });
                }
                return true;
        }
        case EV_BUDGET:
                if (!a->budget_wait)
                        return false;
                a->budget_wait = false;
                step(w, i, (struct core_event){ .type = CORE_EV_BUDGET_COUNTED, .count = ++w->budget_count });
                return true;
        }
        return false;
}

/* Time passes: a call whose end has passed unanswered has lost its result (a pause, or a timeout). */
static void pass_time(struct world *w, int64_t by) {
        w->now += by;
        for (int i = 0; i < N; i++) {
                struct agent *a = &w->a[i];

                if (a->calling && !a->call_lost && w->now > a->call_end) {
                        a->call_lost = true;
                        a->late = a->paused;
                        w->faulted = true;
                        w->spare[a->call_r]++;
                }
                a->tick_due = true;
        }
}

static bool event(struct world *w, int ev) {
        if (ev < EV_TIME)
                return agent_event(w, ev / EV_AGENT, ev % EV_AGENT);
        if (w->now + STEP > START + T_MAX)
                return false;
        for (int i = 0; i < N; i++)
                if (busy(w, i))
                        return false;
        pass_time(w, STEP);
        return true;
}

/* What must hold after every event. */
static void check(struct world *w) {
        for (int i = 0; i < N; i++)
                if (w->a[i].it.generation != w->a[i].seg.gen)
                        violated("an agent's core and its segment disagree on the generation");
}

/*
 * The end of a trace: a fair, fault-free schedule (every note taken, every call answered,
 * reads, ticks and timers each second) until the clients' timeouts are near; by then
 * every client must have its answer.
 */
static const int drain_events[] = { EV_UNPAUSE, EV_CALL_OK, EV_CALL_TIMEOUT, EV_NOTE, EV_RESUME_ANSWER, EV_BUDGET, EV_TICK,
                                    EV_TIMER };

static bool client_waits(const struct world *w) {
        for (int k = 0; k < w->n_clients; k++)
                if (w->c[k].state == C_WAITING)
                        return true;
        return false;
}

/* Something is still to happen: a client waits, a call is out, an agent is stopped, a note or reply is due. */
static bool unsettled(const struct world *w) {
        for (int i = 0; i < N; i++) {
                const struct agent *a = &w->a[i];

                if (a->paused || a->calling || a->n_in || a->read_wait || a->budget_wait)
                        return true;
        }
        return client_waits(w);
}

static void drain(struct world *w) {
        drains++;
        draining = true;
        while (!failure && w->now < START + DRAIN_END && unsettled(w)) {
                for (int pass = 0; pass < 4; pass++)
                        for (int i = 0; i < N; i++)
                                for (size_t e = 0; e < sizeof(drain_events) / sizeof(drain_events[0]); e++) {
                                        struct world probe;
                                        bool on;

                                        if (verbose) {
                                                /* said before it happens, as the search's events are */
                                                world_copy(&probe, w);
                                                verbose = false;
                                                on = agent_event(&probe, i, drain_events[e]);
                                                verbose = true;
                                                world_free(&probe);
                                                if (on)
                                                        fprintf(stderr, "  drain, +%llds, agent %d: %s\n",
                                                                (long long)((w->now - START) / SEC), i,
                                                                event_names[drain_events[e]]);
                                        }
                                        if (agent_event(w, i, drain_events[e]))
                                                check(w);
                                }
                pass_time(w, TICK);
        }
        draining = false;
        if (!failure && client_waits(w))
                violated("a client was not answered before its timeout came near");
}

/* ---- one state, however reached ---- */

#ifndef SEEN_BITS
#define SEEN_BITS 20                    /* room for half a million states; -DSEEN_BITS=24 for big runs */
#endif
static struct seen {
        uint64_t hash;
        int64_t now;
} *seen;

static uint64_t mix(uint64_t h, int64_t v) {
        h ^= (uint64_t)v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2);
        return h * 0xff51afd7ed558ccd;
}

/* A time relative to now; 0 ("none") stays apart; one older than old reads as old (no rule looks further back). */
static int64_t rel(const struct world *w, int64_t t, int64_t old) {
        if (!t)
                return INT64_MIN;
        return t - w->now < -old ? -old : t - w->now;
}

/*
 * How long someone still waits: past the drain's end, all the same (nothing in the run
 * reaches it: a client's timeout, or other hosts' clients on the holder); 0 if over.
 */
static int64_t until(const struct world *w, int64_t t) {
        if (t <= w->now)
                return 0;
        return t > START + DRAIN_END ? INT64_MAX : t - w->now;
}

static uint64_t token_hash(uint64_t h, const struct world *w, const struct token *t) {
        if (!t->id)
                return mix(h, 0);
        return mix(mix(mix(mix(h, t->fetched - w->now), t->expires - w->now), t->gen), t->id);
}

static uint64_t core_hash(uint64_t h, const struct world *w, const struct core_item *it) {
        h = mix(mix(mix(h, (int64_t)it->generation), it->expires_at_ms - w->now), it->fetched_at_ms - w->now);
        h = mix(mix(mix(h, it->lifetime_ms), it->state), it->settled | it->in_flight << 1 | it->probing << 2 |
                                                                 it->armed << 3 | it->budget_asked << 4 |
                                                                 it->budget_granted << 5);
        h = mix(mix(mix(h, it->armed ? it->next_at_ms - w->now : 0), it->attempt), it->errcode);
        h = mix(mix(mix(h, it->failure), it->force_stage), rel(w, it->forced_at_ms, 10 * SEC));
        h = mix(mix(h, until(w, it->remote_until_ms)), it->budget.forced_today);
        for (unsigned k = 0; k < it->n_waiters; k++)
                h = mix(mix(mix(h, (int64_t)it->waiters[k].id), (int64_t)it->waiters[k].generation),
                        until(w, it->waiters[k].until_ms));
        return h;
}

static uint64_t agent_hash(uint64_t h, const struct world *w, int i) {
        const struct agent *a = &w->a[i];
        const struct core_lease *l = &a->lease;

        h = core_hash(mix(h, (int64_t)a->rng.state), w, &a->it);
        h = mix(h, l->holder | a->resuming << 1 | a->read_wait << 2 | a->calling << 3 | a->call_lost << 4 |
                           a->budget_wait << 5 | redis_owner(w, i) << 6 | a->tick_due << 7 | a->paused << 8 |
                           (a->calling && a->late) << 9);
        h = mix(mix(h, l->holder ? rel(w, l->deadline_ms, 0) : 0), l->holder ? rel(w, l->sent_ms, LEASE) : 0);
        h = mix(mix(h, rel(w, l->quiet_until_ms, 0)), a->read_wait ? rel(w, a->read_sent, LEASE) : 0);
        h = token_hash(token_hash(h, w, &a->seg), w, a->read_wait ? &a->read : &(struct token){ 0 });
        h = mix(mix(mix(h, a->calling ? a->call_r : 0), a->calling && !a->call_lost ? a->call_end - w->now : 0),
                a->fwd_gen);
        h = mix(mix(h, rel(w, a->fwd_at, FORWARD_REPEAT)), a->remote_why);
        for (int k = 0; k < a->n_in; k++)
                h = token_hash(mix(mix(mix(mix(h, a->inbox[k].verb), a->inbox[k].gen), a->inbox[k].why),
                                   until(w, w->now + a->inbox[k].left)), w, &a->inbox[k].tok);
        return mix(h, a->n_in);
}

/* The world seen with its agents renumbered: agent i is at[i]. */
static uint64_t state_hash_as(const struct world *w, const int *at) {
        int by[N];
        uint64_t h;

        for (int i = 0; i < N; i++)
                by[at[i]] = i;
        h = mix(mix(mix(0, w->owner < 0 ? -1 : at[w->owner]), w->owner >= 0 ? w->lease_exp - w->now : 0), w->rec_max);
        h = token_hash(mix(mix(h, w->next_id), w->requests | w->kills << 4 | w->errs << 8 | w->drops << 12 |
                                                       w->faulted << 16 | w->pauses << 17), w, &w->rec);
        for (int i = 0; i < N; i++)
                h = agent_hash(h, w, by[i]);
        for (int g = 0; g < G; g++)
                h = mix(h, w->spare[g]);
        for (int k = 0; k < w->n_clients; k++)
                h = mix(h, at[w->c[k].agent] | w->c[k].gen << 8 | w->c[k].state << 16);
        return h | 1;
}

/*
 * The agents are alike (each starts as the others do): a state and its images with the
 * agents renumbered are one, the least of their hashes (every renumbering: N <= 3).
 */
static uint64_t state_hash(struct world *w) {
        static const int perms[6][3] = { { 0, 1, 2 }, { 1, 0, 2 }, { 0, 2, 1 }, { 2, 1, 0 }, { 1, 2, 0 }, { 2, 0, 1 } };
        uint64_t best = UINT64_MAX;

        redis_expire(w);
        _Static_assert(N >= 2 && N <= 3, "two or three agents");
        for (int p = 0; p < (N == 3 ? 6 : 2); p++) {
                uint64_t h = state_hash_as(w, perms[p]);

                best = h < best ? h : best;
        }
        return best;
}

/* false if the state was seen before at this time or earlier (which had every future this one has). */
static bool visit(struct world *w) {
        size_t mask = ((size_t)1 << SEEN_BITS) - 1;
        uint64_t h = state_hash(w);

        for (size_t k = h & mask;; k = (k + 1) & mask) {
                if (seen[k].hash == h) {
                        if (seen[k].now <= w->now)
                                return false;
                        seen[k].now = w->now;
                        return true;
                }
                if (!seen[k].hash) {
                        seen[k] = (struct seen){ h, w->now };
                        SETUP_OK(++states < mask / 2, "a bigger SEEN_BITS");
                        return true;
                }
        }
}

/* ---- the search ---- */

static struct budget run;

static void world_init(struct world *w) {
        /* Every host serves WeChat's token 1 as generation 1, which Redis holds; no one holds the lease. */
        struct token first = { START - LIFE + (PLANNED ? 16 * SEC : LIFE / 2), 0, 1, 1 };

        first.expires = first.fetched + LIFE;
        memset(w, 0, sizeof(*w));
        w->now = START;
        w->owner = -1;
        w->rec = first;
        w->rec_max = 1;
        w->next_id = 1;
        w->requests = run.requests;
        w->kills = run.kills;
        w->errs = run.errs;
        w->drops = run.drops;
        w->pauses = run.pauses;
        for (int g = 0; g < G; g++)
                w->spare[g] = 1;
        for (int i = 0; i < N; i++) {
                core_item_init(&w->a[i].it);
                w->a[i].rng.state = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
                w->a[i].seg = first;
                step(w, i, (struct core_event){ .type = CORE_EV_START, .adopted = true, .generation = 1,
                                                .expires_at_ms = first.expires, .fetched_at_ms = first.fetched });
        }
}

static void canonical(struct world *w);

static void print_event(const struct world *w, int ev) {
        if (ev < EV_TIME)
                fprintf(stderr, "  +%llds, agent %d: %s\n", (long long)((w->now - START) / SEC), ev / EV_AGENT,
                        event_names[ev % EV_AGENT]);
        else
                fprintf(stderr, "  time passes to +%llds\n", (long long)((w->now + STEP - START) / SEC));
}

/* The failing trace again from the start, each event with what the shell did for it. */
static void replay(const char *what, bool drained) {
        struct world w;

        fprintf(stderr, "%s, after:\n", what);
        failure = NULL;
        verbose = true;
        world_init(&w);
        for (int d = 0; d < depth && !failure; d++) {
                print_event(&w, path[d]);
                event(&w, path[d]);
                check(&w);
                canonical(&w);
        }
        if (drained && !failure) {
                fprintf(stderr, "  (drain: every note taken, every call answered, a tick and a timer each second)\n");
                drain(&w);
        }
        world_free(&w);
}

static void fail_with_trace(bool drained) {
        const char *what = failure;

        replay(what, drained);
        fprintf(stderr, "invariant violated: %s\n", failure ? failure : what);
        exit(EXIT_FAILURE);
}

/*
 * A "pub" note of a generation its receiver has reached does nothing when it is taken,
 * whenever that is (no generation goes back): dropped, so that states differing only by
 * such notes are one.
 */
static void canonical(struct world *w) {
        for (int i = 0; i < N; i++) {
                struct agent *a = &w->a[i];
                int k = 0;

                for (int j = 0; j < a->n_in; j++)
                        if (a->inbox[j].verb != NOTE_PUB || a->inbox[j].gen > a->it.generation)
                                a->inbox[k++] = a->inbox[j];
                a->n_in = (uint8_t)k;
        }
}

static bool quiet(const struct world *w) {
        for (int i = 0; i < N; i++)
                if (busy(w, i))
                        return false;
        return true;
}

static void search(const struct world *w) {
        for (int ev = 0; ev < EV_MAX; ev++) {
                struct world next;

                world_copy(&next, w);
                if (!event(&next, ev)) {
                        world_free(&next);
                        continue;
                }
                transitions++;
                path[depth++] = ev;
                SETUP_OK(depth < (int)(sizeof(path) / sizeof(path[0])));
                if ((unsigned long long)depth > max_depth)
                        max_depth = (unsigned long long)depth;
                check(&next);
                if (failure)
                        fail_with_trace(false);
                canonical(&next);
                if (visit(&next)) {
                        if (next.now + STEP > START + T_MAX && quiet(&next)) {
                                /*
                                 * Time is up, and every agent has done what was in front of it
                                 * (every order of that is searched): the trace ends, after a drain.
                                 */
                                struct world end;

                                world_copy(&end, &next);
                                drain(&end);
                                world_free(&end);
                                if (failure)
                                        fail_with_trace(true);
                        }
                        search(&next);
                }
                world_free(&next);
                depth--;
        }
}

int main(void) {
        seen = malloc(((size_t)1 << SEEN_BITS) * sizeof(*seen));
        SETUP_OK(seen);
        for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
                struct world w;

                run = runs[r];
                memset(seen, 0, ((size_t)1 << SEEN_BITS) * sizeof(*seen));
                states = transitions = drains = max_depth = 0;
                world_init(&w);
                SETUP_OK(!failure, "the start holds the invariants");
                visit(&w);
                search(&w);
                world_free(&w);
                printf("%d agents, %u clients, %u kill, %u pause, %u refusal, %u lost note; time in steps of %lld s "
                       "to %lld s (a lease is %lld s), then a drain: %llu states, %llu transitions, %llu drains, "
                       "traces up to %llu events; no violation\n", N, run.requests, run.kills, run.pauses, run.errs,
                       run.drops, (long long)(STEP / SEC), (long long)(T_MAX / SEC), (long long)(LEASE / SEC), states,
                       transitions, drains, max_depth);
        }
        free(seen);
        return 0;
}
