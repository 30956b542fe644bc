#!/bin/sh
# fuzz.sh: build the libFuzzer targets in tests/fuzz, replay their seed corpora, or fuzz each for a while.
#
#   sh packaging/fuzz.sh build DIR           DIR/fuzz-<target> for each target
#   sh packaging/fuzz.sh replay DIR          build, run every seed once; non-zero on any crash
#   sh packaging/fuzz.sh run DIR SECONDS     build, fuzz each target SECONDS, two at a time
set -eu

# FUZZ_TARGETS picks some of them (a campaign on what changed), e.g. FUZZ_TARGETS="config".
TARGETS=${FUZZ_TARGETS:-"protocol upstream config segment cluster notes"}
top=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC:-clang}
# PACKAGE_VERSION stands in for autoconfig.h; _GNU_SOURCE for AC_USE_SYSTEM_EXTENSIONS.
CFLAGS_FUZZ="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 -std=gnu11 -D_GNU_SOURCE"

usage() {
        echo "usage: $0 build DIR | replay DIR | run DIR SECONDS" >&2
        exit 2
}

# The sources and pkg-config modules each target needs, beside its own harness.
sources() {
        case $1 in
        protocol) echo "agent/wire/protocol.c agent/wire/protocol-ticket.c agent/wire/protocol-authorizer.c libwxshm/segment.c" ;;
        upstream) echo "agent/wire/upstream-parse.c agent/wire/upstream-platform.c agent/redact.c" ;;
        config) echo "agent/config.c agent/config-keys.c agent/config-cluster.c agent/config-check.c agent/config-index.c agent/config-tickets.c agent/namespace.c agent/secret.c agent/file.c agent/redact.c agent/io/log.c libwxshm/segment.c" ;;
        segment) echo "libwxshm/segment.c libwxshm/reader.c" ;;
        cluster) echo "agent/wire/cluster-record.c" ;;
        notes) echo "agent/wire/notes.c" ;;
        esac
}

modules() {
        case $1 in
        protocol | upstream) echo "libcjson" ;;
        config) echo "inih libsystemd libcjson" ;;
        segment | notes) echo "" ;;
        cluster) echo "libcrypto libsystemd" ;;
        esac
}

# Inputs longer than the seeds matter: the protocol's line limit, a token past a slot's capacity.
max_len() {
        case $1 in
        protocol) echo 4200 ;;
        upstream) echo 8192 ;;
        config) echo 4096 ;;
        segment) echo 9000 ;;
        cluster) echo 4400 ;;
        notes) echo 2400 ;;
        esac
}

build() {
        mkdir -p "$1"
        for t in $TARGETS; do
                pc=$(modules "$t")
                flags=""
                if [ -n "$pc" ]; then
                        # shellcheck disable=SC2086 # two modules for config: split on purpose
                        flags=$(pkg-config --cflags --libs $pc)
                fi
                srcs=""
                for s in $(sources "$t"); do
                        srcs="$srcs $top/$s"
                done
                # shellcheck disable=SC2086 # word splitting of the flag lists is intended
                $CC $CFLAGS_FUZZ -DPACKAGE_VERSION='"fuzz"' -I"$top/agent" -I"$top/agent/core" -I"$top/agent/wire" -I"$top/agent/io" -I"$top/libwxshm" \
                        -o "$1/fuzz-$t" "$top/tests/fuzz/fuzz-$t.c" $srcs $flags
        done
}

replay() {
        failed=0
        for t in $TARGETS; do
                corpus=$top/tests/fuzz/corpus/$t
                n=$(find "$corpus" -type f | wc -l)
                log=$1/replay-$t.log
                # -runs=0: each seed once, no mutation; artifacts kept out of the working tree.
                if "$1/fuzz-$t" -runs=0 -artifact_prefix="$1/crash-$t-" "$corpus" >"$log" 2>&1; then
                        echo "fuzz-$t: $n seeds ok"
                else
                        echo "fuzz-$t: $n seeds, CRASH (see $log)"
                        failed=1
                fi
        done
        return $failed
}

# One target in the background: its corpus copied so the repository's stays as it is.
run_one() {
        dir=$1 t=$2 secs=$3
        rm -rf "$dir/work/$t"
        mkdir -p "$dir/work/$t" "$dir/crashes"
        cp "$top/tests/fuzz/corpus/$t"/* "$dir/work/$t/"
        "$dir/fuzz-$t" -max_total_time="$secs" -print_final_stats=1 -max_len="$(max_len "$t")" -timeout=10 \
                -artifact_prefix="$dir/crashes/$t-" "$dir/work/$t" >"$dir/work/$t.log" 2>&1
}

run() {
        dir=$1 secs=$2 failed=0 pids="" n=0
        rm -rf "$dir/crashes"
        # Two at a time: a 2-core machine, and each target is single-threaded.
        for t in $TARGETS; do
                run_one "$dir" "$t" "$secs" &
                pids="$pids $!"
                n=$((n + 1))
                if [ $((n % 2)) -eq 0 ]; then
                        for p in $pids; do
                                wait "$p" || failed=1
                        done
                        pids=""
                fi
        done
        for p in $pids; do
                wait "$p" || failed=1
        done
        for t in $TARGETS; do
                execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/work/$t.log" | tail -n 1)
                crashes=$(find "$dir/crashes" -name "$t-*" -type f 2>/dev/null | tr '\n' ' ')
                echo "fuzz-$t: ${execs:-?} execs in ${secs}s${crashes:+, CRASH: $crashes}"
        done
        return $failed
}

[ $# -ge 2 ] || usage
dir=$2
case $1 in
build) build "$dir" ;;
replay)
        build "$dir"
        replay "$dir"
        ;;
run)
        [ $# -ge 3 ] || usage
        build "$dir"
        run "$dir" "$3"
        ;;
*) usage ;;
esac
