#!/bin/bash
# bench.sh: python3-wxshm's read (pure, ctypes) vs a fresh str of the token's length vs the
# socket get, against the real agent (tests/conformance/with-agent.sh); medians of rounds.
#
#   WXBUILD=/abs/build/default WXTOP=/abs/top WXRESULTS=/abs/results bindings/python/bench.sh
#
# Figures, not pass/fail; the table also goes to $WXRESULTS/bench-binding-python.txt.
set -eu

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the source top}"
here=$WXTOP/bindings/python
out=$WXBUILD/bindings/python
mkdir -p "$out"
export PYTHONPATH=$here
export PYTHONPYCACHEPREFIX=$out/pycache
export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1
export WXRESULTS=${WXRESULTS:-$out}
export WXCONF_BUILD=$WXBUILD
exec "${WXAGENT_WRAPPER:-$WXTOP/tests/conformance/with-agent.sh}" /usr/bin/python3 "$here/bench/bench.py"
