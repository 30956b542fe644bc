/* cluster.pml: wxtokend's cluster protocol (lease hand-off, publish script, forwarded forced refreshes) for spin. */

/*
 * One app, N agents, one Redis, WeChat. Time is abstract: every timer (a tick, a renewal,
 * a planned refresh, the quiet period) is an event that may happen at any point, and the
 * faults (a lease running out, a pause or a kill mid-call, a call timing out, Redis
 * restarting empty) are events with a small budget each. Each Redis script runs as one
 * step together with the reply's handling (Redis runs scripts atomically; what a reply
 * changes is local to the agent). Notes on the pub/sub channel are one slot per receiver;
 * a restart of Redis drops the links, and the notes to agents whose links are down.
 * README.md beside this file maps every part to the C code.
 *
 * Guards a mutant removes (make the checker find the counterexample):
 *   NO_COMPARE       compare-and-refresh: a forced refresh for a replaced generation rotates
 *   NO_RAISE         the publish script writes a generation below Redis's
 *   NO_QUIET         a new holder that finds Redis empty calls WeChat at once
 *   NO_BUDGET        a holder's call may outlast its lease (cluster_call_budget)
 *   NO_HOLDER_CHECK  the publish script writes for a holder whose lease is gone
 *                    (finds nothing: README.md says why)
 * Known gaps (README.md): NO_T2, NO_T3 drop timing assumptions the code does not ensure;
 * CHECK_LIVE_TOKEN adds an invariant the code does not keep.
 */

#ifndef N
#define N 2
#endif
#define G 12                    /* generations and token ids stay below this (asserted) */

#ifndef KILLS
#define KILLS 1
#endif
#ifndef PAUSES
#define PAUSES 1
#endif
#ifndef RESTARTS
#define RESTARTS 1
#endif
#ifndef EXPIRES
#define EXPIRES 1
#endif
#ifndef ERRS
#define ERRS 1
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 0
#endif
#ifndef PLANNED
#define PLANNED 1
#endif
#ifndef REFORWARDS
/* A forward reaching a holder ready for it is served unless a fault drops it: one more than the faults. */
#define REFORWARDS (KILLS + PAUSES + RESTARTS + EXPIRES + ERRS + TIMEOUTS + 1)
#endif
#ifndef REQUESTS
#define REQUESTS 2
#endif

/* What is left of each fault's budget. */
byte kills = KILLS, pauses = PAUSES, restarts = RESTARTS, expires = EXPIRES;
byte errs = ERRS, timeouts = TIMEOUTS, planned = PLANNED, requests = REQUESTS, reforwards = REFORWARDS;

/*
 * Ghosts for the invariants. calls[g]: WeChat calls made to replace generation g (a call
 * WeChat refused rotated nothing and is taken back); lost[g]: those whose result was lost.
 */
byte calls[G], lost[G];
byte ntok = 1;                  /* token ids in the order the code dates them (fetched_at_ms) */
/*
 * Ghosts: the order in which WeChat issued each token (issued[t]), which differs from
 * the order the code dates them when an answer waits in a paused process (early[i]).
 */
byte issued[G], nissue = 1;
byte early[N];

/* Redis: the lease (0: free; else a process's lease id) and the item hash (r_tok 0: absent). */
byte r_lease, r_gen = 1, r_tok = 1;
byte r_max = 1;                 /* ghost: the highest generation Redis held since it last started */

/* Each agent: its app's state (struct app, struct item) and its pub/sub inbox. */
byte inc[N];                    /* restarts: a new process has a new lease id */
byte gen[N], tok[N];            /* the published generation and token (the segment) */
bool holder[N];                 /* app->holder */
bool late[N];                   /* paused past its lease: the deadline is gone, the process does not know yet */
bool resume[N];                 /* it->cluster_resume: a new holder reads Redis before any call */
bool quiet[N];                  /* app->quiet_until_ms in the future */
bool incall[N];                 /* it->call */
byte reason[N];                 /* ghost: the generation the call in flight replaces */
bool stage[N];                  /* it->force_stage != FORCE_NONE */
byte why[N];                    /* ghost: the generation the pending forced call is for */
byte w[N];                      /* the waiting client's generation (0: none waits) */
bool remote[N];                 /* it->remote_until_ms in the future: other hosts' clients wait */
bool retry[N];                  /* a failed call is retried after backoff */
bool forwarded[N];              /* it->forwarded_at_ms set */
byte fgen[N];                   /* it->forwarded_gen */
bool stale[N];                  /* a "pub" note or the 5 s reconcile: read Redis */
bool down[N];                   /* its links to Redis are down (Redis restarted): reconnecting */
bool dirty[N];                  /* it->cluster_dirty: push at the next tick */
bool need_read[N];              /* on_push asked for a read_item */
byte f_in[N];                   /* a "force NAME GEN" note waiting to be handled (GEN) */
byte s_gen[N], s_tok[N];        /* a "sync" note (s_tok 0: none) */
byte fail_in[N];                /* a "fail NAME GEN" note (GEN) */

#define lid(i) ((i) + 1 + N * inc[i])
/*
 * T1, the timing the leases rest on (cluster_call_budget, on_lease): a lease runs out in
 * Redis no earlier than lease_ms after it was taken, and a call made under an older lease
 * ends before that older lease's deadline. So whenever a lease runs out in Redis (or a
 * new holder's quiet period ends), every call made under an older lease is over, and
 * every agent still believing in one is past its deadline (late).
 */
#ifdef NO_BUDGET
#define old_call(k) false
#else
#define old_call(k) (incall[k] && !late[k] && r_lease != lid(k))
#endif
#if N > 2
#define old_calls_over (!old_call(0) && !old_call(1) && !old_call(2))
#else
#define old_calls_over (!old_call(0) && !old_call(1))
#endif
/* At agent i's quiet end, no call made under an older lease is still in flight (T1). */
#define settled(j) (j == i || !old_call(j))

/*
 * T2: a token another agent fetched (under a lease it has lost since) has reached Redis,
 * through its reconcile and a sync note, before the holder calls again. The code does not
 * ensure it (a holder that lost its lease mid-call publishes the answer only locally,
 * until its next 5 s reconcile): NO_T2 drops it, and README.md says what the checker finds.
 */
#ifdef NO_T2
#define t2(i) true
#else
#define t2_one(i, j) (j == i || j >= N || tok[j] <= r_tok)
#define t2(i) (t2_one(i, 0) && t2_one(i, 1) && t2_one(i, 2))
#endif
/* Agent i's last "force" note has been taken by every other agent. */
#define notes_read(i) ((i == 0 || f_in[0] == 0) && (i == 1 || f_in[1] == 0) && (i == 2 || N < 3 || f_in[2] == 0))
/*
 * T3: Redis restarts empty only while every agent serves what it holds (no note or read
 * in flight). The code does not ensure it: NO_T3 drops it, and README.md says what the
 * checker finds.
 */
#ifdef NO_T3
#define caught_up true
#else
#define caught_up ((tok[0] == r_tok && gen[0] == r_gen) && (tok[1] == r_tok && gen[1] == r_gen) && \
                   (N < 3 || (tok[2] == r_tok && gen[2] == r_gen)))
#endif
/*
 * Agent k holds the lease, can take a note and is not serving another host's clients:
 * the model repeats a forward (a bounded number of times) only while one such exists,
 * since the code's repetition every second matters only then.
 */
#define ready(k) (k < N && holder[k] && !down[k] && !resume[k] && r_lease == lid(k) && !(remote[k] && (stage[k] || incall[k])))
#define budget(i) (holder[i] && !late[i] && !resume[i] && !quiet[i] && t2(i))

#ifdef NO_HOLDER_CHECK
#define HOLDER_CHECK false
#else
#define HOLDER_CHECK true
#endif
#ifdef NO_BUDGET
#define NO_BUDGET_ON true
#else
#define NO_BUDGET_ON false
#endif
#ifdef NO_COMPARE
#define COMPARE false
#else
#define COMPARE true
#endif
#ifdef NO_RAISE
#define RAISE false
#else
#define RAISE true
#endif

/* force_published: the forced call is over; the waiter holding an older generation is answered. */
inline force_published(i) {
        stage[i] = false;
        remote[i] = false;
        if
        :: w[i] != 0 && gen[i] > w[i] -> w[i] = 0
        :: else
        fi
}

/* wxshm_writer_publish_generation (from item_succeed or item_mirror): the writer refuses a lower generation. */
inline publish_local(i, t, g) {
        assert(g >= gen[i]);            /* no caller ever asks it to go back */
        assert(g < G - 1);
#ifdef CHECK_LIVE_TOKEN
        /* An agent never trades its token for one WeChat issued earlier (retired since). */
        assert(issued[t] >= issued[tok[i]]);
#endif
        changed = (g != gen[i]);
        printf("MSC: agent %d serves t%d as g%d\n", i, t, g);
        gen[i] = g;
        tok[i] = t;
        if
        :: changed -> force_published(i)
        :: else
        fi
}

/* lease_lost. */
inline lease_lost(i) {
        holder[i] = false;
        dirty[i] = false;
        late[i] = false
}

/*
 * The deadlines of leases older than Redis's current one have passed (T1), and a
 * running agent renews at every tick (a third of a lease at most): one that still
 * believed in such a lease has heard "not ours" by then. A paused one has not (late).
 */
inline old_deadlines_pass() {
        k = 0;
        do
        :: k < N ->
                if
                :: holder[k] && r_lease != lid(k) && late[k]
                :: holder[k] && r_lease != lid(k) && !late[k] -> lease_lost(k)
                :: else
                fi;
                k++
        :: else -> break
        od
}

/* Every other agent gets the note: "pub" after a write, or its 5 s reconcile catches up. */
inline notify_others(i) {
        k = 0;
        do
        :: k < N -> if :: k != i -> stale[k] = true :: else fi; k++
        :: else -> break
        od
}

/* push + cluster_script_publish + on_push. */
inline push(i) {
        if
        :: HOLDER_CHECK && r_lease != lid(i) ->
                /* -1: a stale holder; it learns it lost the lease and reads Redis */
                lease_lost(i);
                need_read[i] = true
        :: else ->
                if
                :: r_tok != 0 && r_tok != tok[i] && r_tok > tok[i] ->
                        need_read[i] = true     /* -2: Redis holds a later fetch */
                :: else ->
                        pg = gen[i];
                        if
                        :: RAISE && (r_gen > pg || (r_gen == pg && r_tok != tok[i])) -> pg = r_gen + 1
                        :: else
                        fi;
                        assert(pg >= r_max);    /* Redis's generation never goes back */
                        r_gen = pg;
                        printf("MSC: agent %d publishes t%d as g%d to Redis\n", i, tok[i], pg);
                        r_tok = tok[i];
                        r_max = pg;
                        notify_others(i);
                        if
                        :: pg > gen[i] -> publish_local(i, tok[i], pg)
                        :: else
                        fi
                fi
        fi
}

/* send_sync: a host whose token differs from Redis's hands its record to the holder. */
inline send_sync(i) {
        k = 0;
        do
        :: k < N -> if :: k != i && !down[k] -> s_gen[k] = gen[i]; s_tok[k] = tok[i] :: else fi; k++
        :: else -> break
        od
}

/* reconcile: Redis's record against ours (r_tok != 0); token ids order fetches as fetched_at does. */
inline reconcile(i) {
        if
        :: r_tok == tok[i] ->
                if
                :: r_gen > gen[i] -> publish_local(i, r_tok, r_gen)
                :: r_gen < gen[i] && holder[i] -> push(i)
                :: else
                fi
        :: r_tok > tok[i] ->
                if
                :: r_gen > gen[i] -> publish_local(i, r_tok, r_gen)
                :: r_gen <= gen[i] && holder[i] -> publish_local(i, r_tok, gen[i] + 1); push(i)
                :: r_gen <= gen[i] && !holder[i] -> send_sync(i)
                fi
        :: r_tok < tok[i] ->
                if
                :: holder[i] -> push(i)
                :: else -> send_sync(i)
                fi
        fi
}

/* Start the WeChat call that replaces generation r: the invariant of the whole protocol. */
inline start_call(i, r) {
        incall[i] = true;
        reason[i] = r;
        printf("MSC: agent %d calls WeChat to replace g%d (holds g%d)\n", i, r, gen[i]);
        calls[r]++;
        /* Never two calls for one generation, unless the first's result was lost, and then one more each. */
        assert(calls[r] <= 1 + lost[r])
}

/* force_start, from force_request or force_remote: the forced call for generation c is planned. */
inline force_start(i, c) {
        stage[i] = true;
        why[i] = c
}

/* force_remote: another host's clients saw generation c fail. */
inline force_remote(i, c) {
        if
        :: COMPARE && gen[i] > c
        :: else ->
                remote[i] = true;
                if
                :: incall[i] || stage[i]        /* coalesced with the call in flight or planned */
                :: else -> force_start(i, c)
                fi
        fi
}

/* forward: hand this host's waiting forced refresh to the holder, whoever that is. */
inline forward(i) {
        k = 0;
        do
        :: k < N -> if :: k != i && !down[k] -> f_in[k] = gen[i] :: else fi; k++
        :: else -> break
        od;
        forwarded[i] = true;
        fgen[i] = gen[i]
}

/* item_fail -> force_failed (-> cluster_force_failed) -> force_abort. */
inline call_failed(i) {
        stage[i] = false;
        if
        :: remote[i] ->
                k = 0;
                do
                :: k < N -> if :: k != i && !down[k] -> fail_in[k] = gen[i] :: else fi; k++
                :: else -> break
                od
        :: else
        fi;
        remote[i] = false;
        w[i] = 0;
        retry[i] = true
}

proctype agent(byte i) {
        byte pg, c, k, top;
        bool changed;

end:    do
        /* The tick claims a free lease (cluster_script_claim, on_lease). */
        :: atomic {
                !down[i] && !holder[i] && (r_lease == 0 || r_lease == lid(i)) ->
                printf("MSC: agent %d claims the lease\n", i);
                notify_others(i);       /* the others' next reconcile meets a new holder */
                r_lease = lid(i);
                holder[i] = true;
                late[i] = false;
                resume[i] = true;
        }
        /* The renewal says "not ours" (Redis restarted, or the lease passed during a pause); or the deadline passed. */
        :: atomic { holder[i] && (late[i] || (!down[i] && r_lease != lid(i))) -> printf("MSC: agent %d: lease lost (renewal)\n", i); lease_lost(i) }
        /* Fault: renewals fail until the lease runs out; the budget ended any call before (cluster_call_budget). */
        :: atomic {
                expires > 0 && holder[i] && !late[i] && (!incall[i] || NO_BUDGET_ON) && r_lease == lid(i) && old_calls_over ->
                expires--;
                printf("MSC: agent %d: lease runs out (renewals late)\n", i);
                lease_lost(i);
                r_lease = 0;
                old_deadlines_pass()
        }
        /*
         * The links come back (cluster_on_up -> tick_work): the renewal is the first
         * command, then the reconcile reads. Notes sent while down are lost.
         */
        :: atomic {
                down[i] ->
                printf("MSC: agent %d reconnects\n", i);
                down[i] = false;
                stale[i] = true;
                if
                :: holder[i] && r_lease != lid(i) -> lease_lost(i)
                :: else
                fi
        }
        /* A new holder reads Redis (REF_RESUME in on_read) before it may call. */
        :: atomic {
                !down[i] && holder[i] && resume[i] ->
                printf("MSC: agent %d: resume read, Redis g%d t%d\n", i, r_gen, r_tok);
                resume[i] = false;
                stale[i] = false;
                if
                :: r_tok != 0 -> reconcile(i)
                :: else ->
                        push(i);        /* Redis lost it: put back what this agent serves */
#ifndef NO_QUIET
                        /* the previous holder may still be inside a call: none here for a lease_ms */
                        quiet[i] = holder[i]
#endif
                fi;
                if
                :: holder[i] && w[i] != 0 -> force_remote(i, gen[i])
                :: else
                fi
        }
        /*
         * quiet_until_ms passes: lease_ms after the read. By then the deadline of every
         * lease taken before it has passed (T1: cluster_call_budget ended any call made
         * under one), and (T2) what such a call brought has reached Redis, or come here
         * as a sync note, within the budget's margin.
         */
        :: atomic {
                quiet[i] && settled(0) && settled(1) &&
#if N > 2
                settled(2) &&
#endif
                s_tok[i] == 0 ->
                printf("MSC: agent %d: quiet ends\n", i);
                quiet[i] = false;
                old_deadlines_pass()
        }
        /* The tick pushes what could not be pushed yet (cluster_dirty). */
        :: atomic { !down[i] && dirty[i] && holder[i] && !resume[i] -> dirty[i] = false; push(i) }
        /* A planned refresh (or the retry of a failed call) is due: only the holder with lease to spare calls. */
        :: atomic {
                (planned > 0 || retry[i]) && budget(i) && !incall[i] && !stage[i] ->
                if
                :: retry[i] -> retry[i] = false
                :: else -> planned--
                fi;
                start_call(i, gen[i])
        }
        /* A forced call is due (item_fetch, force_due): made only while someone waits for it. */
        :: atomic {
                stage[i] && !incall[i] && budget(i) ->
                if
                :: w[i] != 0 || remote[i] -> retry[i] = false; start_call(i, why[i])
                :: else -> stage[i] = false
                fi
        }
        /* A forced call on a host without the lease (cluster_blocked): handed to the holder. */
        :: atomic {
                stage[i] && !incall[i] && !holder[i] ->
                printf("MSC: agent %d: blocked, forwards\n", i);
                stage[i] = false;
                if
                :: w[i] != 0 && !down[i] -> forward(i)
                :: w[i] != 0 && down[i] -> w[i] = 0     /* force_abort: "Redis is unreachable" */
                :: else
                fi
        }
        /*
         * The tick hands it on again while the client waits (FORWARD_REPEAT_MS), once the
         * last note is read; a second is long: notes and reads that came in go first.
         */
        :: atomic {
                reforwards > 0 && !down[i] && forwarded[i] && w[i] != 0 && !holder[i] && fgen[i] == gen[i] &&
                notes_read(i) && !stale[i] && !need_read[i] && f_in[i] == 0 && s_tok[i] == 0 && fail_in[i] == 0 &&
                ready(0) + ready(1) + ready(2) > 0 ->
                reforwards--;
                forward(i)
        }
        /* Fault: the process pauses mid-call longer than its lease: the lease passes in Redis. */
        :: atomic {
                pauses > 0 && incall[i] && holder[i] && !late[i] && r_lease == lid(i) && old_calls_over ->
                pauses--;
                printf("MSC: agent %d pauses mid-call past its lease\n", i);
                late[i] = true;
                lost[reason[i]]++;
                nissue++;
                early[i] = nissue;      /* WeChat answered before the pause: the answer waits */
                r_lease = 0;
                old_deadlines_pass()
        }
        /* Fault: kill -9 and a restart: the segment (gen, tok) is adopted, all else is new. */
        :: atomic {
                kills > 0 ->
                kills--;
                printf("MSC: agent %d killed and restarted\n", i);
                if
                :: incall[i] -> lost[reason[i]]++; ntok++; nissue++
                :: else
                fi;
                inc[i]++;
                holder[i] = false; late[i] = false; resume[i] = false; quiet[i] = false;
                incall[i] = false; stage[i] = false; remote[i] = false; retry[i] = false;
                w[i] = 0;               /* the client's connection closes: it hears that */
                forwarded[i] = false; dirty[i] = false; need_read[i] = false;
                f_in[i] = 0; s_tok[i] = 0; fail_in[i] = 0;
                stale[i] = true         /* cluster_on_up reconciles */
        }
        /* A client saw the token of generation c fail (c is the current one or, read earlier, the one before). */
        :: atomic {
                requests > 0 && w[i] == 0 ->
                requests--;
                c = gen[i];
                if
                :: c > 1 -> c--
                :: true
                fi;
                if
                :: COMPARE && gen[i] > c        /* answered at once: no upstream call */
                :: else ->
                        printf("MSC: agent %d: client reports g%d\n", i, c);
                        w[i] = c;
                        if
                        :: incall[i] || stage[i]        /* joins */
                        :: else -> force_start(i, c)
                        fi
                fi
        }
        /* A "force" note (cluster_on_message): the holder coalesces it, or says "pub" again. */
        :: atomic {
                f_in[i] != 0 ->
                c = f_in[i];
                printf("MSC: agent %d: force note g%d\n", i, c);
                f_in[i] = 0;
                if
                :: holder[i] ->
                        if
                        :: COMPARE && gen[i] > c -> notify_others(i)
                        :: else -> force_remote(i, c)
                        fi
                :: else
                fi
        }
        /* A "fail" note: the holder could not refresh; this host's waiter hears it. */
        :: atomic {
                fail_in[i] != 0 ->
                if
                :: !holder[i] && fail_in[i] >= gen[i] && w[i] != 0 && w[i] <= fail_in[i] -> w[i] = 0
                :: else
                fi;
                fail_in[i] = 0
        }
        /* A "sync" note (on_sync): the holder keeps the later fetch, above both generations. */
        :: atomic {
                s_tok[i] != 0 && !(holder[i] && resume[i]) ->
                if
                :: holder[i] ->
                        printf("MSC: agent %d: sync note g%d t%d\n", i, s_gen[i], s_tok[i]);
                        top = (s_gen[i] > gen[i] -> s_gen[i] : gen[i]) + 1;
                        if
                        :: s_tok[i] > tok[i] -> publish_local(i, s_tok[i], top); push(i)
                        :: s_tok[i] <= tok[i] && s_gen[i] >= gen[i] -> publish_local(i, tok[i], top); push(i)
                        :: else
                        fi
                :: else
                fi;
                s_tok[i] = 0
        }
        /*
         * read_item (REF_READ): after a "pub" note, a refused publish, or the reconcile tick
         * (every 5 s: modelled as a read after each change that can leave a token differing
         * from Redis's: an answer to a host without the lease, and each new claim).
         * Commands on the link keep their order: whatever a new holder sends after its
         * claim reaches Redis after its resume read, so that read comes first here too.
         */
        :: atomic {
                !down[i] && (stale[i] || need_read[i]) && !(holder[i] && resume[i]) ->
                stale[i] = false;
                need_read[i] = false;
                printf("MSC: agent %d reads Redis g%d t%d\n", i, r_gen, r_tok);
                if
                :: r_tok != 0 -> reconcile(i)
                :: r_tok == 0 && holder[i] -> push(i)
                :: else
                fi
        }
        od
}

/*
 * WeChat answers agent i's call: a new token (item_succeed), a refusal, or a timeout
 * after it rotated. A process of its own, so that weak fairness makes the answer come.
 */
proctype wechat(byte i) {
        byte pg, k;
        bool changed;

end:    do
        :: atomic {
                incall[i] ->
                incall[i] = false;
                if
                :: ntok++;
                   assert(ntok < G);
                   if
                   :: early[i] != 0 -> issued[ntok] = early[i]
                   :: else -> nissue++; issued[ntok] = nissue
                   fi;
                   early[i] = 0;
                   printf("MSC: agent %d: call answered, t%d as g%d\n", i, ntok, gen[i] + 1);
                   publish_local(i, ntok, gen[i] + 1);
                   if
                   :: holder[i] && !resume[i] && !down[i] -> push(i)    /* cluster_published */
                   :: holder[i] && down[i] -> dirty[i] = true
                   :: holder[i] && resume[i] -> dirty[i] = true /* reaches Redis after the resume read */
                   :: else -> stale[i] = true   /* no push: the next reconcile sends a sync */
                   fi;
                   force_published(i)
                :: errs > 0 ->
                   errs--;
                   printf("MSC: agent %d: WeChat refuses the call\n", i);
                   calls[reason[i]]--;
                   early[i] = 0;
                   call_failed(i)
                :: timeouts > 0 ->
                   timeouts--;
                   printf("MSC: agent %d: call times out (result lost)\n", i);
                   lost[reason[i]]++;
                   ntok++;
                   nissue++;
                   early[i] = 0;
                   call_failed(i)
                fi
        }
        od
}

/* Redis, and the time that passes for processes that are gone. */
proctype env() {
        byte k;

end:    do
        /* Fault: Redis restarts empty (no persistence): leases and items are gone. */
        :: atomic {
                restarts > 0 && caught_up ->
                restarts--;
                printf("MSC: Redis restarts empty\n");
                r_lease = 0;
                r_gen = 0;
                r_tok = 0;
                r_max = 0;
                k = 0;
                do
                :: k < N -> down[k] = true; f_in[k] = 0; s_tok[k] = 0; fail_in[k] = 0; k++
                :: else -> break
                od
        }
        /* A killed process's lease runs out (PX). */
        :: atomic {
                r_lease != 0 && old_calls_over && r_lease != lid(0) &&
#if N > 2
                r_lease != lid(2) &&
#endif
                r_lease != lid(1) ->
                r_lease = 0;
                old_deadlines_pass()
        }
        /* Nothing more can happen: every waiter must have been answered by then (not by its timeout). */
        :: timeout ->
                assert(w[0] == 0 && w[1] == 0
#if N > 2
                       && w[2] == 0
#endif
                );
                break
        od
}

#ifdef LIVE
/* A waiter is always answered (progress, under weak fairness: spin -a, pan -a -f). */
#if N > 2
ltl answered { [] ((w[0] != 0 -> <> (w[0] == 0)) && (w[1] != 0 -> <> (w[1] == 0)) && (w[2] != 0 -> <> (w[2] == 0))) }
#else
ltl answered { [] ((w[0] != 0 -> <> (w[0] == 0)) && (w[1] != 0 -> <> (w[1] == 0))) }
#endif
#endif

init {
        byte j;

        atomic {
                issued[1] = 1;
                j = 0;
                do
                :: j < N -> gen[j] = 1; tok[j] = 1; run agent(j); run wechat(j); j++
                :: else -> break
                od;
                run env()
        }
}
