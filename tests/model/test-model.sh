#!/bin/sh
# test-model.sh: spin checks the cluster protocol model exhaustively, and finds each mutant's counterexample.
#
# The model is tests/model/cluster.pml (README.md beside it says what it covers). Every
# scenario is a full search of the states its fault budget allows: "errors: 0" is
# required of the real model, and at least one error of every mutant (a guard of the
# code taken out) and of every known gap (a timing assumption the code does not ensure,
# or an invariant it does not keep: these fail once the code, and the model, are fixed).
# pan's files go to a temporary directory, so a read-only source tree (distcheck) is fine.
#
# Environment (set by AM_TESTS_ENVIRONMENT): top_srcdir, CC. MODEL_KEEP=1 keeps the temp dir.
# Exit 0 pass, 77 skip (no spin), 99 hard error (spin or cc failed), 1 fail.

# The scenarios' flags are split into words on purpose.
# shellcheck disable=SC2086

srcdir=${top_srcdir:-$(dirname "$0")/../..}
model=$srcdir/tests/model/cluster.pml
cc=${CC:-cc}
status=0

if ! command -v spin >/dev/null 2>&1; then
        echo "SKIP: spin not found (apt-get install spin)"
        exit 77
fi
[ -f "$model" ] || { echo "ERROR: no $model"; exit 99; }
tmp=$(mktemp -d) || exit 99
[ "${MODEL_KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
cp "$model" "$tmp/cluster.pml" || exit 99
cd "$tmp" || exit 99

# Fault budgets, one scenario per line: each alone is a full search within seconds.
# restart: Redis restarts empty around a kill and a pause mid-call.
# faults:  a lease running out, a pause mid-call, a call WeChat refuses.
# clients: two forced refreshes, with a lease running out, a refusal, a timeout after WeChat rotated.
# three:   three agents, a kill.
# live:    for the progress property (a search for fair cycles costs more): a restart, a kill.
restart="-DRESTARTS=1 -DKILLS=1 -DPAUSES=1 -DEXPIRES=0 -DERRS=0 -DREQUESTS=1"
faults="-DRESTARTS=0 -DKILLS=0 -DPAUSES=1 -DEXPIRES=1 -DERRS=1 -DREQUESTS=1"
clients="-DRESTARTS=0 -DKILLS=0 -DPAUSES=0 -DEXPIRES=1 -DERRS=1 -DTIMEOUTS=1 -DREQUESTS=2"
three="-DN=3 -DRESTARTS=0 -DKILLS=1 -DPAUSES=0 -DEXPIRES=0 -DERRS=0 -DREQUESTS=1"
live="-DRESTARTS=1 -DKILLS=1 -DPAUSES=0 -DEXPIRES=0 -DERRS=0 -DREQUESTS=1"

# build NAME PANFLAGS SPINFLAGS...: spin -a, then pan compiled with the system cc. Not
# optimised: cc -O2 takes longer over pan.c than the searches take (10 s against 1 to 7).
build() {
        name=$1 panflags=$2
        shift 2
        rm -f pan.c pan.h pan.m pan.b pan.t pan.p pan cluster.pml.trail
        if ! spin -a "$@" cluster.pml >spin.out 2>&1; then
                echo "ERROR: spin -a $* ($name):"; cat spin.out
                exit 99
        fi
        if ! $cc -O0 -w $panflags -o pan pan.c >cc.out 2>&1; then
                echo "ERROR: $cc pan.c ($name):"; cat cc.out
                exit 99
        fi
}

# counts: pan's state counts on one line.
counts() {
        stored=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out)
        trans=$(sed -n 's/^ *\([0-9.e+]*\) transitions.*/\1/p' pan.out)
        depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out)
        time=$(sed -n 's/^pan: elapsed time \(.*\)/\1/p' pan.out)
        echo "states stored $stored, transitions $trans, depth $depth, $time"
}

errors() {
        sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out
}

# expect_clean NAME PANFLAGS RUNFLAGS SPINFLAGS...: the full search finds nothing.
expect_clean() {
        name=$1 panflags=$2 runflags=$3
        shift 3
        build "$name" "$panflags" "$@"
        ./pan -m400000 $runflags >pan.out 2>&1
        e=$(errors)
        if [ "$e" != 0 ] || grep -q "Search not completed" pan.out; then
                echo "FAIL: $name: errors: ${e:-?}"
                grep -E "violated|cycle|invalid|not completed|error" pan.out
                [ -f cluster.pml.trail ] && spin -t "$@" cluster.pml | grep -E "MSC|assert|CYCLE" | sed 's/^ */    /'
                status=1
                return
        fi
        echo "ok   $name: errors: 0; $(counts)"
}

# expect_counterexample NAME SPINFLAGS...: the search must find an error; its trail is shown.
expect_counterexample() {
        name=$1
        shift
        build "$name" "-DSAFETY -DCOLLAPSE" "$@"
        ./pan -m400000 >pan.out 2>&1
        e=$(errors)
        if [ -z "$e" ] || [ "$e" = 0 ] || [ ! -f cluster.pml.trail ]; then
                echo "FAIL: $name: spin found no counterexample (errors: ${e:-?}): the guard is not checked"
                status=1
                return
        fi
        echo "ok   $name: counterexample found: $(grep -m1 -o 'assertion violated.*' pan.out)"
        spin -t "$@" cluster.pml | grep -E "MSC" | sed 's/^ *MSC: /    /'
}

echo "== the model, exhaustive (safety: assertions and end states)"
expect_clean "restart" "-DSAFETY -DCOLLAPSE" "" $restart
expect_clean "faults" "-DSAFETY -DCOLLAPSE" "" $faults
expect_clean "clients" "-DSAFETY -DCOLLAPSE" "" $clients
expect_clean "three agents" "-DSAFETY -DCOLLAPSE" "" $three
echo "== a waiter is always answered (LTL, weak fairness: pan -a -f)"
expect_clean "liveness, restart and kill" "-DNFAIR=3 -DCOLLAPSE" "-a -f" -DLIVE $live
expect_clean "liveness, faults" "-DNFAIR=3 -DCOLLAPSE" "-a -f" -DLIVE $faults

echo "== mutants: a guard of the code taken out"
expect_counterexample "NO_COMPARE (compare-and-refresh)" -DNO_COMPARE $faults
expect_counterexample "NO_RAISE (publish script: never lower a generation)" -DNO_RAISE $restart
expect_counterexample "NO_QUIET (a new holder finding Redis empty waits a lease)" -DNO_QUIET $restart
expect_counterexample "NO_BUDGET (a call ends before the lease could pass)" -DNO_BUDGET $faults
echo "== known gaps: assumptions and a property the code does not keep (tests/model/README.md)"
expect_counterexample "NO_T2 (a token fetched under a lost lease reaches Redis first)" -DNO_T2 $faults
expect_counterexample "NO_T3 (Redis restarts only when every agent has caught up)" -DNO_T3 $restart
expect_counterexample "CHECK_LIVE_TOKEN (no agent trades its token for a retired one)" -DCHECK_LIVE_TOKEN $faults

exit $status
