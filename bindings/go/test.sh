#!/bin/bash
# test.sh: the Go binding's whole suite (vet, cgo-free build, unit tests under -race, the conformance kit, the real agent), one PASS/FAIL line per part.
#
# Env: WXBUILD (a built tree: make check built the kit), WXTOP (the repo top). Run as root: the
# owner-rule and peer-check unit tests change owners, and the permission part runs as the
# system user wxconfuser (made here if missing). Every build output and cache goes under
# $WXBUILD/bindings/go. A test that skips where it must run is a failure.
set -u
: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the repository top}"
here=$(cd "$(dirname "$0")" && pwd)
out=$WXBUILD/bindings/go
mkdir -p "$out"
export GOCACHE=$out/gocache GOPATH=$out/gopath GOENV=off GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on GOTOOLCHAIN=local
export WXCONF_WRITER=$WXBUILD/tests/conformance/wxconf-writer WXCONF_SAMPLES=$WXBUILD/tests/conformance/wxconf-samples
bin=$out/wxshm.test
failed=0

# part NAME CMD...: run CMD, keep its output in $out/NAME.log, say PASS or FAIL (with the log's tail).
part() {
        local name=$1 start=$SECONDS rc
        shift
        "$@" >"$out/$name.log" 2>&1
        rc=$?
        echo "($name took $((SECONDS - start)) s)" >>"$out/$name.log"
        if [ $rc -eq 0 ]; then
                echo "PASS: go-$name"
        else
                echo "FAIL: go-$name"
                tail -n 40 "$out/$name.log" | sed 's/^/    /'
                failed=1
        fi
}

# gotest PATTERN [env...]: the test binary on the tests matching PATTERN; none may skip, one must run.
gotest() {
        local pattern=$1 log
        shift
        log=$(env "$@" "$bin" -test.run "$pattern" -test.v -test.count=1 2>&1)
        local rc=$?
        echo "$log"
        [ $rc -eq 0 ] || return 1
        if grep -q -- '--- SKIP' <<<"$log"; then echo "a test skipped: counted as a failure"; return 1; fi
        grep -q -- '--- PASS' <<<"$log" || { echo "no test ran"; return 1; }
}

# Inside with-agent.sh: the parts that need the real agent, the one that changes its config last.
if [ "${1:-}" = --with-agent ]; then
        part agent-read gotest '^TestAgentRead$'
        part agent-rotation gotest '^TestAgentRotation$'
        part agent-coalesced gotest '^TestAgentCoalesced$'
        part agent-unknown gotest '^TestAgentUnknown$'
        # The test binary must be the unprivileged user's to run: a copy in a directory it can reach.
        denied=$(mktemp -d) && chmod 755 "$denied" && cp "$bin" "$denied/" && chmod 755 "$denied/wxshm.test"
        part agent-denied setpriv --reuid=wxconfuser --regid=wxconfuser --clear-groups \
                env bin="$denied/wxshm.test" bash -c "$(declare -f gotest); bin=\$bin; gotest '^TestAgentDenied\$' WXSHM_TEST_DENIED=1"
        rm -rf "$denied"
        part agent-removed gotest '^TestAgentRemoved$'
        exit $failed
fi
if [ "${1:-}" = --agent-down ]; then
        part agent-down gotest '^TestAgentDown$' WXSHM_TEST_DOWN=1
        exit $failed
fi

cd "$here" || exit 1
part vet go vet ./...
# The library and the tool build with cgo off (static binaries), and the package has no cgo file.
part no-cgo bash -c 'CGO_ENABLED=0 go build ./... && CGO_ENABLED=0 go build -o "'"$out"'/wxshm-get" ./cmd/wxshm-get &&
        [ "$(go list -f "{{.CgoFiles}}{{.CFiles}}" ./...)" = "$(printf "[][]\n[][]")" ]'
# -race needs cgo on Go 1.19: for the tests only.
part unit-race bash -c 'CGO_ENABLED=1 go test -race -count=1 -v \
        -run "^Test(ValidName|ReadFields|NoDataAndCorrupt|OpenErrors|Environment|OwnerRule|RetiredReopen|CloseAndMappings|ConcurrentReads|ErrorMeanings|Refresh.*)$" . > "'"$out"'/unit.out" 2>&1;
        rc=$?; cat "'"$out"'/unit.out"; [ $rc -eq 0 ] && ! grep -q -- "--- SKIP" "'"$out"'/unit.out"'
# The test binary with the toolchain's own standard library (no rebuild of it); the library's
# cgo-freedom is the no-cgo part's.
if ! go test -c -o "$bin" . >"$out/build.log" 2>&1; then
        echo "FAIL: go-build-tests"
        sed 's/^/    /' "$out/build.log"
        exit 1
fi
part kit-conformance gotest '^TestKitConformance$'
part kit-negative-control gotest '^TestKitNegativeControl$'
part kit-samples gotest '^TestKitSamples$'

id wxconfuser >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin wxconfuser
with=$WXTOP/tests/conformance/with-agent.sh
export WXCONF_BUILD=$WXBUILD # with-agent.sh's programs: this build's
if [ ! -x "$with" ]; then
        echo "FAIL: go-agent ($with missing)"
        exit 1
fi
"$with" "$here/test.sh" --with-agent || failed=1
"$with" "$here/test.sh" --agent-down || failed=1
exit $failed
