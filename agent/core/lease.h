/* lease.h: cluster mode's lease rules (when to claim or renew, when it is lost, the call budget) as pure functions of time. */
#ifndef CORE_LEASE_H
#define CORE_LEASE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One app's lease as this agent sees it. Every time is on the lease clock (boot time, in
 * ms), which the shell reads and passes in: nothing here reads a clock. Only the agent
 * that holds an app's lease calls WeChat for it, so these rules decide whether two
 * agents could ever call at once.
 */
struct core_lease {
        bool holder;                    /* this agent holds it: it alone calls WeChat for the app */
        bool inflight;                  /* a claim or renewal awaits its answer */
        int64_t deadline_ms;            /* the lease surely lasts until then */
        int64_t sent_ms;                /* the last claim or renewal sent */
        int64_t quiet_until_ms;         /* no WeChat call before (a lease Redis lost) */
};

/* The tick: claims at least once a second, so a dead holder's app is taken within lease_ms + 1 s. */
int64_t lease_tick_ms(int64_t lease_ms);

/* The lease a won claim or an answered renewal gives: from when it was sent, since Redis's runs out no earlier. */
int64_t lease_deadline(int64_t sent_ms, int64_t lease_ms);

/* The holder's deadline has passed (the renewal did not come back in time): it is no longer the holder. */
bool lease_expired(const struct core_lease *l, int64_t now_ms);

/*
 * Send a claim (not the holder: at every tick) or a renewal (the holder: at every tick
 * once a sixth of the lease has passed since the last one, so a late or lost renewal
 * still leaves most of the lease to retry in) now; never while one is in flight.
 */
bool lease_should_send(const struct core_lease *l, int64_t now_ms, int64_t lease_ms);

/* What the answer to a claim or a renewal does to the lease. */
enum lease_answer {
        LEASE_KEEP,                     /* nothing changes */
        LEASE_WON,                      /* a claim won: holder, deadline lease_deadline(sent) */
        LEASE_EXTENDED,                 /* a renewal answered 1: deadline lease_deadline(sent) */
        LEASE_LOST,                     /* a renewal found the lease not ours: not the holder any more */
};

/* A renewal's answer (ours: Redis answered 1). */
enum lease_answer lease_on_renewal(const struct core_lease *l, bool ours);

/* A claim's answer (won: Redis answered 1), unless this agent is stopping, when it takes no lease. */
enum lease_answer lease_on_claim(const struct core_lease *l, bool won, bool stopping);

/*
 * How many ms a WeChat call may take now: 0 if this agent may not call. The call must be
 * over before the lease could pass to another agent, or two could rotate the token at
 * once: its timeout ends short of the deadline by a margin, a call with less than a
 * quarter of the lease left waits for the renewal, none is made in the quiet period, nor
 * by a new holder before it has read what Redis holds (resuming), and none takes longer
 * than cap_ms (one HTTP call's timeout).
 */
int64_t lease_call_budget(const struct core_lease *l, int64_t now_ms, int64_t lease_ms, bool resuming,
                          int64_t cap_ms);

/*
 * The quiet period after a new holder's read of Redis (sent at read_sent_ms) is answered.
 * Finding no record while it has a servable token of its own means Redis lost its keys
 * (restarted empty), so the previous holder may still think it holds the lease and be
 * inside a call: no call until that lease would have run out. Returns the new quiet_until.
 */
int64_t lease_quiet_after_resume(const struct core_lease *l, bool record_found, bool servable,
                                 int64_t read_sent_ms, int64_t lease_ms);

#endif
