#!/bin/bash
# test.sh: python3-wxshm's whole suite, for each reader (pure, ctypes): unit tests, the
# conformance kit and its negative control, the samples, then the real agent with wxemu.
#
#   WXBUILD=/abs/build/default WXTOP=/abs/top bindings/python/test.sh
#
# Run as root (the trust rule's owner cases, the non-root user). Prints PASS:/FAIL: per part
# and exits 1 if any failed. Everything it writes goes under $WXBUILD/bindings/python (logs,
# bytecode) or into temporary directories it removes.
set -u

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the source top}"
here=$WXTOP/bindings/python
out=$WXBUILD/bindings/python
mkdir -p "$out"

# Debian's interpreter, not whatever python3 comes first on PATH: the package targets it.
PY=/usr/bin/python3
export PYTHONPATH=$here
export PYTHONPYCACHEPREFIX=$out/pycache
export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1
export WXBUILD
# with-agent.sh takes its agent, wxemu and wxtokenctl from this tree.
export WXCONF_BUILD=$WXBUILD
unset WXSHM_DIR WXTOKEND_SOCKET WXSHM_PY_READER

# The user the permission parts run as (the segment is not in its group).
id wxconfuser >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin wxconfuser

failed=0
part() {
	local name=$1 log=$out/$1.log start=$SECONDS
	shift
	if (cd "$here" && "$@") >"$log" 2>&1; then
		echo "PASS: $name ($((SECONDS - start)) s)"
		grep -E '^  (conformance|negative control)' "$log" | sed 's/^ */    /'
	else
		echo "FAIL: $name ($((SECONDS - start)) s; log $log)"
		tail -n 40 "$log" | sed 's/^/    /'
		failed=1
	fi
}

with_agent=$WXTOP/tests/conformance/with-agent.sh
for reader in pure ctypes; do
	export WXSHM_PY_READER=$reader
	part "python-unit-$reader" $PY -m unittest -v tests.test_segment tests.test_refresh tests.test_cli
	part "python-conformance-$reader" $PY -m unittest -v tests.test_conformance.WriterTest
	part "python-samples-$reader" $PY -m unittest -v tests.test_conformance.SamplesTest
	if [ -x "$with_agent" ]; then
		part "python-agent-$reader" "$with_agent" $PY -m unittest -v tests.test_agent
	else
		echo "FAIL: python-agent-$reader ($with_agent is missing)"
		failed=1
	fi
done
exit $failed
