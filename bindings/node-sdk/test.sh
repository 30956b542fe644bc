#!/bin/bash
# test.sh: the SDK adapters' suite: the real co-wechat-api and wechat-api from npm, adapted and stock, against the real agent and wxemu.
#
# Env: WXBUILD (a built tree: agent, wxemu, wxtokenctl, libwxshm), WXTOP (the repo top).
# Everything it makes goes under $WXBUILD/bindings/node-sdk/ (npm cache, tarballs, the install).
# Needs the npm registry (the SDKs are installed from it, pinned versions).
set -u

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the repo top}"
here=$(cd "$(dirname "$0")" && pwd)
out=$WXBUILD/bindings/node-sdk
export npm_config_cache=$out/npm-cache npm_config_update_notifier=false
export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1
export WXCONF_BUILD=$WXBUILD
failed=0

pass() { echo "PASS: node-sdk-$1"; }
fail() { echo "FAIL: node-sdk-$1"; failed=1; }

# 1. wxshm and wxshm-sdk packed as users get them, installed beside the SDKs from npm with npm's defaults.
rm -rf "$out/pack" "$out/app" && mkdir -p "$out/pack" "$out/app"
if (cd "$WXTOP/bindings/node" && npm pack --silent --pack-destination "$out/pack" >"$out/pack.log" 2>&1) &&
   (cd "$here" && npm pack --silent --pack-destination "$out/pack" >>"$out/pack.log" 2>&1) &&
   (cd "$out/app" && echo '{"name":"wxshm-sdk-test","private":true}' >package.json &&
    npm install --no-audit --no-fund "$out"/pack/wxshm-1*.tgz "$out"/pack/wxshm-sdk-*.tgz \
        co-wechat-api@3.11.0 wechat-api@1.35.1 >"$out/install.log" 2>&1) &&
   [ -f "$out/app/node_modules/wxshm-sdk/co-wechat-api.js" ] && [ ! -e "$out/app/node_modules/wxshm-sdk/test" ]; then
        pass install
else
        cat "$out/pack.log" "$out/install.log" 2>/dev/null
        fail install
        exit 1
fi
# The scenarios run from the install (inside the source tree, node would resolve wxshm-sdk to the sources).
mkdir -p "$out/app/test" && cp "$here/test/scenario.js" "$here/test/check.js" "$out/app/test/"

# 2. Each SDK x (adapter, stock hooks only) x (its right secret, a wrong one), each with its own agent
# (a stock SDK's own fetch kills the agent's token, which would leak into the next run).
for sdk in co wa; do
        for mode in adapter stock; do
                for secret in right wrong; do
                        name=$sdk-$mode-$secret
                        [ "$mode" = stock ] && name=control-$name
                        log=$out/$name.log
                        # Bounded: a hung run fails here instead of hanging ./dev test (one run takes ~12 s).
                        if (cd "$out/app" && timeout 90 "$WXTOP/tests/conformance/with-agent.sh" \
                                node test/scenario.js "$sdk" "$mode" "$secret") >"$log" 2>&1 &&
                           node "$out/app/test/check.js" <"$log" >"$log.check"; then
                                pass "$name"
                        else
                                fail "$name"
                                tail -20 "$log"
                        fi
                        cat "$log.check" 2>/dev/null
                done
        done
done

exit $failed
