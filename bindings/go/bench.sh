#!/bin/bash
# bench.sh: the Go binding's read vs a fresh string of the token's length vs the socket's get, against the real agent; medians.
#
# Env: WXBUILD, WXTOP (as test.sh), WXRESULTS (a directory: bench-binding-go.txt goes there).
# Figures, not pass/fail; exits non-zero only if the run itself failed.
set -u
: "${WXBUILD:?}" "${WXTOP:?}" "${WXRESULTS:?}"
here=$(cd "$(dirname "$0")" && pwd)
out=$WXBUILD/bindings/go
mkdir -p "$out" "$WXRESULTS"
export GOCACHE=$out/gocache GOPATH=$out/gopath GOENV=off GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on GOTOOLCHAIN=local
cd "$here" || exit 1
CGO_ENABLED=0 go test -c -o "$out/wxshm.test" . || exit 1
export WXCONF_BUILD=$WXBUILD WXSHM_BENCH_OUT=$WXRESULTS/bench-binding-go.txt
exec "$WXTOP/tests/conformance/with-agent.sh" "$out/wxshm.test" -test.run '^TestBenchTable$' -test.count=1
