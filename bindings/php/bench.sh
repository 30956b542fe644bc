#!/bin/bash
# bench.sh: the PHP binding's read (ffi, pure) vs str_repeat() of the token's length vs the socket
# get, against the real agent (tests/conformance/with-agent.sh); medians of rounds.
#
#   WXBUILD=/abs/build/default WXTOP=/abs/top WXRESULTS=/abs/results bindings/php/bench.sh
#
# Figures, not pass/fail; the table also goes to $WXRESULTS/bench-binding-php.txt.
set -eu

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the source top}"
out=$WXBUILD/bindings/php
mkdir -p "$out"
export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1
export WXRESULTS=${WXRESULTS:-$out}
export WXCONF_BUILD=$WXBUILD
exec "$WXTOP/tests/conformance/with-agent.sh" /usr/bin/php "$WXTOP/bindings/php/bench.php"
