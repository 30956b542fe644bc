#!/bin/bash
# bench.sh: the Node.js binding's read vs a fresh string vs the socket get, beside a real agent; table to $WXRESULTS.
#
# Env: WXBUILD (a built tree), WXTOP (the repo top), WXRESULTS (where bench-binding-node.txt goes).
set -u

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the repo top}" "${WXRESULTS:?set WXRESULTS}"
here=$(cd "$(dirname "$0")" && pwd)
out=$WXBUILD/bindings/node
export npm_config_cache=$out/npm-cache npm_config_update_notifier=false
export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1 WXCONF_BUILD=$WXBUILD
mkdir -p "$WXRESULTS"

# The package as installed from its tarball (test.sh made it; made here if not).
if [ ! -f "$out/app/node_modules/wxshm/index.js" ]; then
        rm -rf "$out/pack" "$out/app" && mkdir -p "$out/pack" "$out/app" &&
        (cd "$here" && npm pack --silent --pack-destination "$out/pack" >/dev/null) &&
        (cd "$out/app" && npm install --silent --no-audit --no-fund "$out"/pack/wxshm-*.tgz) || exit 1
fi
export NODE_PATH=$out/app/node_modules
exec "$WXTOP/tests/conformance/with-agent.sh" node "$here/bench.js"
