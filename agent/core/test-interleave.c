/* test-interleave.c: every order of a few cluster events over two agents' real lease and reconcile core and a fake Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "reconcile.h"
#include "check.h"

/*
 * The spin model (tests/model) checks the protocol as its author understood the code;
 * this checks the code's own rules. Two agents decide with agent/core/lease.c and
 * agent/core/reconcile.c exactly as cluster*.c asks them; Redis is a fake that runs the
 * claim, renew, read and publish scripts (agent/cluster-scripts.h) as one step each;
 * WeChat counts calls per generation. A depth-first search runs every order of the
 * events below, each state once (a state reached again has nothing new below it).
 *
 * Time is numbers the core compares (below). An agent that does nothing while time
 * passes is a paused one: a call whose end passes before its answer is handled counts as
 * lost (a pause or a timeout), and its answer may then still be taken (after a pause) or
 * not (a timeout). A claim or a renewal runs in Redis with its answer, as one step (as in
 * the spin model); a resume read runs in Redis when it is sent, its answer comes later.
 *
 * Assumed as tests/model/README.md does (the code does not ensure them): T2, a token an
 * agent fetched under a lease it lost has reached Redis before a holder calls (a guard on
 * a call); T3, Redis restarts only while every agent serves what it holds.
 *
 * Invariants: never two WeChat calls for one generation unless a call's result was
 * lost, and then at most one more per lost result; no generation goes back in Redis
 * (since it last started) or on a host, nor stands for two tokens on a host.
 */

#ifndef N
#define N 2
#endif
/*
 * Time in units of which a lease has 12 (the core's rules are numbers, and do not mind
 * the unit): a renewal is due 2 after the last, a call keeps a margin of 1 and needs 3
 * left. Time passes a quarter of a lease (STEP) at a time, up to two leases: enough for
 * a lease to run out under a paused holder and another agent to call, or for a quiet
 * period after Redis restarts to end. A step of one unit, three leases or three agents
 * make four to seven times as many states, and a second or more of run (-DSTEP=1,
 * -DT_MAX=36, -DN=3 try them; each finds nothing either).
 */
#define LEASE 12
#ifndef STEP
#define STEP 3
#endif
#ifndef T_MAX
#define T_MAX (2 * LEASE)
#endif
#define CAP 1000                        /* one HTTP call's timeout, above any budget here */
#define LIFE 1000000                    /* tokens outlive the run: servable means held */
#ifndef REFRESHES
#define REFRESHES 2                     /* planned calls, all agents together */
#endif
#define G 16
#define START 100                       /* the first moment: a time field 0 means "none" */

struct token {
        int64_t fetched;
        uint8_t gen, id;                /* id 0: none; WeChat numbers its tokens 1, 2, ... */
};

struct agent {
        struct core_lease lease;        /* a claim or renewal runs in Redis with its answer: inflight stays false */
        bool resuming;                  /* cluster_resume: a new holder has not read Redis yet */
        bool read_wait;                 /* a resume read ran in Redis; its answer is not handled yet */
        int64_t read_sent;
        struct token read;              /* what it found: it ran before anything this agent sent later */
        struct token tok;               /* what this host serves */
        bool calling, call_lost;
        uint8_t call_r, call_id;
        int64_t call_end;
        bool sync_wait;                 /* a "sync" note sent, not yet taken */
        struct token sync;
};

struct world {
        int64_t now;
        struct agent a[N];
        int owner;                      /* Redis's lease key: the holder, -1 if none */
        int64_t lease_exp;
        struct token rec;               /* Redis's item record (id 0: none) */
        uint8_t rec_max;                /* the highest generation Redis held since it started */
        uint8_t next_id;
        int8_t spare[G];                /* calls WeChat may still get for a generation: 1 + lost results - calls */
        uint8_t refreshes, restarts;
};

enum { EV_TICK, EV_RESUME_ANSWER, EV_CALL, EV_CALL_OK, EV_CALL_TIMEOUT, EV_READ, EV_SYNC, EV_AGENT };
enum { EV_TIME = EV_AGENT * N, EV_RESTART, EV_MAX };

static const char *const event_names[] = { "tick", "resume read answered", "call WeChat", "call answered",
                                           "call timed out", "read Redis", "sync note taken" };

static const char *failure;
static int path[512], depth;
static unsigned long long states, transitions, max_depth;

static void violated(const char *what) {
        if (!failure)
                failure = what;
}

/* ---- the fake Redis: the scripts of agent/cluster-scripts.h ---- */

static void redis_expire(struct world *w) {
        if (w->owner >= 0 && w->now >= w->lease_exp)
                w->owner = -1;
}

static bool redis_lease(struct world *w, int i, bool renew) {
        redis_expire(w);
        if (w->owner == i || (!renew && w->owner < 0)) {
                w->owner = i;
                w->lease_exp = w->now + LEASE;
                return true;
        }
        return false;
}

static void take(struct world *w, int i, struct token t);

/* The publish script, and on_push's handling of its answer. */
static void push(struct world *w, int i) {
        struct agent *a = &w->a[i];
        struct token *cur = &w->rec;

        redis_expire(w);
        if (w->owner != i) {
                a->lease.holder = false; /* -1: another node holds the lease (then a read, an event of its own) */
                return;
        }
        if (cur->id && cur->id != a->tok.id && cur->fetched > a->tok.fetched)
                return; /* -2: Redis holds a later fetch; reading it in settles it */
        if (cur->id && (cur->gen > a->tok.gen || (cur->gen == a->tok.gen && cur->id != a->tok.id))) {
                struct reconcile_action v = reconcile_raise(a->tok.gen, cur->gen + 1, UINT64_C(1) << 53, 1000);

                if (v.verdict == RECONCILE_OURS_ABOVE) {
                        take(w, i, (struct token){ a->tok.fetched, (uint8_t)v.generation, a->tok.id });
                        push(w, i);
                }
                return;
        }
        if (a->tok.gen < w->rec_max)
                violated("a generation went back in Redis");
        *cur = a->tok;
        w->rec_max = cur->gen > w->rec_max ? cur->gen : w->rec_max;
}

/* ---- the agents: what cluster*.c does with the core's answers ---- */

/*
 * item_mirror: the segment takes no lower generation, and no caller may ask it to; nor
 * may one generation stand for two tokens on a host (a reader that compares generations
 * would take one for the other).
 */
static void take(struct world *w, int i, struct token t) {
        if (t.gen < w->a[i].tok.gen)
                violated("a generation went back on a host");
        if (t.gen == w->a[i].tok.gen && t.id != w->a[i].tok.id)
                violated("one generation stood for two tokens on a host");
        if (t.gen >= G)
                violated("more generations than the model has room for");
        w->a[i].tok = t;
}

static struct reconcile_ours ours(const struct agent *a) {
        return (struct reconcile_ours){ a->tok.gen, a->tok.fetched, a->tok.fetched + LIFE, a->tok.id != 0 };
}

/* cluster_settle: false if the verdict was to do nothing. */
static bool settle(struct world *w, int i, struct reconcile_action v, struct token theirs) {
        struct agent *a = &w->a[i];

        switch (v.verdict) {
        case RECONCILE_MIRROR_THEIRS:
                take(w, i, (struct token){ theirs.fetched, (uint8_t)v.generation, theirs.id });
                break;
        case RECONCILE_THEIRS_ABOVE:
                take(w, i, (struct token){ theirs.fetched, (uint8_t)v.generation, theirs.id });
                push(w, i);
                break;
        case RECONCILE_OURS_ABOVE:
                take(w, i, (struct token){ a->tok.fetched, (uint8_t)v.generation, a->tok.id });
                push(w, i);
                break;
        case RECONCILE_PUSH:
        case RECONCILE_REPLACE:
                push(w, i);
                break;
        case RECONCILE_SYNC:
                a->sync_wait = true;
                a->sync = a->tok;
                break;
        case RECONCILE_NOTHING:
                return false;
        }
        return true;
}

/* on_read: Redis's record (as found when the read ran) against ours; false if nothing was to be done. */
static bool on_read(struct world *w, int i, struct token found) {
        struct agent *a = &w->a[i];
        struct reconcile_theirs t = { found.gen, found.fetched, found.fetched + LIFE };
        struct reconcile_ours o = ours(a);

        if (found.id)
                return settle(w, i, reconcile_record(a->lease.holder, &o, &t, found.id == a->tok.id), found);
        return settle(w, i, reconcile_missing(a->lease.holder, &o, false), found);
}

/* T2: no other agent holds a token fetched later than Redis's that Redis does not have. */
static bool t2(const struct world *w, int i) {
        for (int j = 0; j < N; j++)
                if (j != i && w->a[j].tok.id && w->a[j].tok.id != w->rec.id &&
                    (!w->rec.id || w->a[j].tok.fetched > w->rec.fetched))
                        return false;
        return true;
}

/* A claim or a renewal, run in Redis, and its answer (on_lease); a new holder reads Redis first. */
static void lease_send(struct world *w, int i) {
        struct agent *a = &w->a[i];
        bool renew = a->lease.holder, ours = redis_lease(w, i, renew);

        a->lease.sent_ms = w->now;
        if (renew) {
                enum lease_answer answer = lease_on_renewal(&a->lease, ours);

                if (answer == LEASE_EXTENDED)
                        a->lease.deadline_ms = lease_deadline(a->lease.sent_ms, LEASE);
                else if (answer == LEASE_LOST)
                        a->lease.holder = false;
        } else if (lease_on_claim(&a->lease, ours, false) == LEASE_WON) {
                a->lease.holder = true;
                a->lease.deadline_ms = lease_deadline(a->lease.sent_ms, LEASE);
                a->resuming = true;
                a->read_wait = true;
                a->read_sent = w->now;
                a->read = w->rec;
        }
}

static bool agent_event(struct world *w, int i, int ev) {
        struct agent *a = &w->a[i];
        int64_t budget;
        bool acted = false;

        switch (ev) {
        case EV_TICK:
                /* tick_work: the deadline, a claim or a renewal, a resume read lost with its link. */
                if (lease_expired(&a->lease, w->now)) {
                        a->lease.holder = false;
                        acted = true;
                }
                if (lease_should_send(&a->lease, w->now, LEASE)) {
                        lease_send(w, i);
                        acted = true;
                }
                if (a->lease.holder && a->resuming && !a->read_wait) {
                        a->read_wait = true;
                        a->read_sent = w->now;
                        a->read = w->rec;
                        acted = true;
                }
                return acted;
        case EV_RESUME_ANSWER: {
                struct token found = a->read;

                if (!a->read_wait)
                        return false;
                a->read_wait = false;
                on_read(w, i, found);
                a->lease.quiet_until_ms = lease_quiet_after_resume(&a->lease, found.id != 0, a->tok.id != 0,
                                                                   a->read_sent, LEASE);
                if (a->lease.holder)
                        a->resuming = false;
                return true;
        }
        case EV_CALL:
                budget = lease_call_budget(&a->lease, w->now, LEASE, a->resuming, CAP);
                if (a->calling || !a->tok.id || w->refreshes == 0 || budget <= 0 || !t2(w, i))
                        return false;
                w->refreshes--;
                a->calling = true;
                a->call_lost = false;
                a->call_r = a->tok.gen;
                a->call_id = ++w->next_id;
                a->call_end = w->now + budget;
                if (--w->spare[a->call_r] < 0)
                        violated("two WeChat calls for one generation, and no lost result to explain it");
                return true;
        case EV_CALL_OK:
                if (!a->calling)
                        return false;
                a->calling = false;
                take(w, i, (struct token){ w->now, (uint8_t)(a->tok.gen + 1), a->call_id });
                if (a->lease.holder) /* cluster_published */
                        push(w, i);
                return true;
        case EV_CALL_TIMEOUT:
                if (!a->calling || !a->call_lost)
                        return false;
                a->calling = false;
                return true;
        case EV_READ:
                /* A read that changes nothing leads where this state does: not a new order. */
                return on_read(w, i, w->rec);
        case EV_SYNC:
                if (!a->sync_wait)
                        return false;
                a->sync_wait = false;
                for (int j = 0; j < N; j++) {
                        struct reconcile_theirs t = { a->sync.gen, a->sync.fetched, a->sync.fetched + LIFE };
                        struct reconcile_ours o = ours(&w->a[j]);

                        if (j != i)
                                settle(w, j, reconcile_sync(w->a[j].lease.holder, &o, &t), a->sync);
                }
                return true;
        }
        return false;
}

/*
 * A STEP passes: a call whose end has passed unanswered has lost its result (a pause, or
 * a timeout). Once every planned call is made and over, time stops: what is left is
 * hosts reading, syncing and pushing what they have, in every order.
 */
static bool pass_time(struct world *w) {
        bool calling = false;

        for (int i = 0; i < N; i++)
                calling = calling || w->a[i].calling;
        if (w->now >= START + T_MAX || (w->refreshes == 0 && !calling))
                return false;
        w->now += STEP;
        for (int i = 0; i < N; i++)
                if (w->a[i].calling && !w->a[i].call_lost && w->now > w->a[i].call_end) {
                        w->a[i].call_lost = true;
                        w->spare[w->a[i].call_r]++;
                }
        return true;
}

/* T3: Redis restarts empty only while every agent serves what it holds; its links drop, and what was on them. */
static bool restart(struct world *w) {
        if (w->restarts == 0)
                return false;
        for (int i = 0; i < N; i++)
                if (w->a[i].tok.id != w->rec.id || w->a[i].tok.gen != w->rec.gen)
                        return false;
        w->restarts--;
        w->owner = -1;
        w->rec = (struct token){ 0 };
        w->rec_max = 0;
        for (int i = 0; i < N; i++) {
                w->a[i].read_wait = false;
                w->a[i].sync_wait = false;
        }
        return true;
}

static bool event(struct world *w, int ev) {
        if (ev < EV_TIME)
                return agent_event(w, ev / EV_AGENT, ev % EV_AGENT);
        if (ev == EV_TIME)
                return pass_time(w);
        return restart(w);
}

/* ---- one state, however reached ---- */

/* The fetch times below now, renumbered now-1, now-2, ... in their order: only their order is ever read. */
static void canonical_fetches(struct world *w) {
        int64_t *f[3 * N + 1], seen[3 * N + 1];
        int n = 0, k = 0;

        for (int i = 0; i < N; i++) {
                f[n++] = &w->a[i].tok.fetched;
                f[n++] = &w->a[i].sync.fetched;
                f[n++] = &w->a[i].read.fetched;
        }
        f[n++] = &w->rec.fetched;
        for (int64_t top = w->now; k < n;) {
                int64_t next = INT64_MIN;

                /* the highest fetch time below top, then the ones below it */
                for (int j = 0; j < n; j++)
                        if (*f[j] < top && *f[j] > next)
                                next = *f[j];
                if (next == INT64_MIN)
                        break;
                seen[k++] = next;
                top = next;
        }
        for (int j = 0; j < n; j++)
                for (int r = 0; r < k; r++)
                        if (*f[j] == seen[r]) {
                                *f[j] = w->now - 1 - r;
                                break;
                        }
}

/*
 * Forget what no rule can read any more (a lapsed deadline, a done call's end, a past
 * quiet period...), so that states that differ only there are one. Each line holds by
 * how agent/core/lease.c and this file read the field.
 */
static void canonical(struct world *w) {
        int64_t renew_due = LEASE / 3 / 2;

        if (w->owner >= 0 && w->now >= w->lease_exp)
                w->owner = -1;
        if (w->owner < 0)
                w->lease_exp = 0;
        for (int i = 0; i < N; i++) {
                struct agent *a = &w->a[i];
                struct core_lease *l = &a->lease;

                if (!l->holder)
                        l->deadline_ms = 0;     /* read only by a holder; a won claim sets it */
                else if (l->deadline_ms < w->now)
                        l->deadline_ms = w->now; /* past: lost at the next tick, no call before */
                if (l->quiet_until_ms <= w->now)
                        l->quiet_until_ms = 0;  /* no call held back, and never above a new quiet period */
                if (!l->holder)
                        l->sent_ms = 0;         /* a claim goes at any tick, and sets it */
                else if (w->now - l->sent_ms > renew_due)
                        l->sent_ms = w->now - renew_due; /* a renewal is due either way */
                if (!a->read_wait) {
                        a->read_sent = 0;
                        a->read = (struct token){ 0 };
                } else if (a->read_sent < w->now - LEASE) {
                        a->read_sent = w->now - LEASE; /* a quiet period it gives is over either way */
                }
                if (!a->calling || a->call_lost)
                        a->call_end = 0;
                if (!a->calling)
                        a->call_lost = false, a->call_r = a->call_id = 0;
                if (!a->sync_wait)
                        a->sync = (struct token){ 0 };
        }
        /* No host goes back to a generation below its own: no call can be made for those any more. */
        for (int g = 0; g < G; g++) {
                bool reachable = false;

                for (int i = 0; i < N; i++)
                        reachable = reachable || w->a[i].tok.gen <= g;
                if (!reachable)
                        w->spare[g] = 1;
        }
        canonical_fetches(w);
}

#define SEEN_BITS 21
static struct seen {
        uint64_t hash;
        int64_t now;
} *seen;

static uint64_t mix(uint64_t h, int64_t v) {
        h ^= (uint64_t)v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2);
        return h * 0xff51afd7ed558ccd;
}

/* Times relative to now (a time field 0 means "none" and stays 0). */
static int64_t rel(const struct world *w, int64_t t) {
        return t ? t - w->now : INT64_MIN;
}

static uint64_t token_hash(uint64_t h, const struct world *w, const struct token *t) {
        return mix(mix(mix(h, t->id ? t->fetched - w->now : 0), t->gen), t->id);
}

/* One agent's part, field by field (padding is no part of a state), times relative to now. */
static uint64_t agent_hash(const struct world *w, int i) {
        const struct agent *a = &w->a[i];
        uint64_t h = mix(0, a->lease.holder | a->lease.inflight << 1 | a->resuming << 2 | a->read_wait << 3 |
                                    a->calling << 4 | a->call_lost << 5 | a->sync_wait << 6 | (w->owner == i) << 7);

        h = mix(mix(mix(h, rel(w, a->lease.deadline_ms)), rel(w, a->lease.sent_ms)), rel(w, a->lease.quiet_until_ms));
        h = mix(mix(mix(h, rel(w, a->read_sent)), rel(w, a->call_end)), a->call_r | a->call_id << 8);
        return token_hash(token_hash(token_hash(h, w, &a->tok), w, &a->sync), w, &a->read);
}

/* The agents are alike: their parts are taken in sorted order, so a state and its mirror image are one. */
static uint64_t state_hash(const struct world *w) {
        uint64_t ah[N], h;

        for (int i = 0; i < N; i++) {
                ah[i] = agent_hash(w, i);
                for (int k = i; k > 0 && ah[k - 1] > ah[k]; k--) {
                        uint64_t t = ah[k];

                        ah[k] = ah[k - 1];
                        ah[k - 1] = t;
                }
        }
        h = token_hash(mix(mix(mix(0, w->owner < 0), rel(w, w->lease_exp)), w->rec_max), w, &w->rec);
        h = mix(mix(mix(h, w->next_id), w->refreshes), w->restarts);
        for (int i = 0; i < N; i++)
                h = mix(h, (int64_t)ah[i]);
        for (int g = 0; g < G; g++)
                h = mix(h, w->spare[g]);
        return h | 1;
}

/*
 * false if the state was seen before at this time or earlier: every rule reads times
 * relative to now, so an earlier visit had every future this one has, and more.
 */
static bool visit(const struct world *w) {
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
                        SETUP_OK(++states < mask / 2);
                        return true;
                }
        }
}

static void print_path(void) {
        for (int d = 0; d < depth; d++) {
                int ev = path[d];

                if (ev < EV_TIME)
                        fprintf(stderr, "  agent %d: %s\n", ev / EV_AGENT, event_names[ev % EV_AGENT]);
                else
                        fprintf(stderr, "  %s\n", ev == EV_TIME ? "time passes" : "Redis restarts empty");
        }
}

static void search(const struct world *w) {
        for (int ev = 0; ev < EV_MAX; ev++) {
                struct world next = *w;

                if (!event(&next, ev))
                        continue;
                transitions++;
                path[depth++] = ev;
                SETUP_OK(depth < (int)(sizeof(path) / sizeof(path[0])));
                if ((unsigned long long)depth > max_depth)
                        max_depth = (unsigned long long)depth;
                if (failure) {
                        fprintf(stderr, "%s, after:\n", failure);
                        print_path();
                        exit(EXIT_FAILURE);
                }
                canonical(&next);
                if (visit(&next))
                        search(&next);
                depth--;
        }
}

int main(void) {
        struct world w = { .now = START, .owner = -1, .refreshes = REFRESHES, .restarts = 1, .next_id = 1,
                           .rec_max = 1 };

        seen = calloc((size_t)1 << SEEN_BITS, sizeof(*seen));
        SETUP_OK(seen);
        for (int g = 0; g < G; g++)
                w.spare[g] = 1;
        /* Every host serves WeChat's token 1 as generation 1, which Redis holds; no one holds the lease. */
        w.rec = (struct token){ START - 1, 1, 1 };
        for (int i = 0; i < N; i++)
                w.a[i].tok = w.rec;
        visit(&w);
        search(&w);
        printf("%d agents, time in steps of %d up to %d (a lease is %d): %llu states, %llu transitions, event orders "
               "up to %llu deep; no violation\n", N, STEP, T_MAX, LEASE, states, transitions, max_depth);
        free(seen);
        return 0;
}
