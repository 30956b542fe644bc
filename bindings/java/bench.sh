#!/bin/bash
# bench.sh: per-call cost of WxShm.read() vs a fresh String of the token's length vs the socket's get, against the real agent (with-agent.sh); the table also goes to $WXRESULTS/bench-binding-java.txt.
#
# Env: WXBUILD, WXTOP (as test.sh), WXRESULTS (a directory). Figures, not pass/fail.
set -eu
: "${WXBUILD:?WXBUILD: the configured and built tree}" "${WXTOP:?WXTOP: the repository top}" "${WXRESULTS:?WXRESULTS: a directory}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$WXBUILD/bindings/java

"$here/build.sh"
mkdir -p "$WXRESULTS"
export WXJAVA_CP=$out/classes WXJAVA_OUT=$WXRESULTS/bench-binding-java.txt
# The JIT's default (C2) and a heap that never needs to grow during a round.
WXCONF_BUILD=$WXBUILD "$WXTOP/tests/conformance/with-agent.sh" bash -c \
        'java -XX:-UsePerfData -Xms256m -Xmx256m -cp "$WXJAVA_CP" wxshm.Bench shop "$WXJAVA_OUT"'
