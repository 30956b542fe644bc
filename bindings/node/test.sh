#!/bin/bash
# test.sh: the Node.js binding's suite: pack, install the tarball cleanly, the kit, stand-in servers, the real agent.
#
# Env: WXBUILD (a built tree: agent, wxemu, wxtokenctl, libwxshm, the kit's programs), WXTOP (the repo top).
# Everything it makes goes under $WXBUILD/bindings/node/ (npm cache, the packed tarball, the install).
set -u

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the repo top}"
here=$(cd "$(dirname "$0")" && pwd)
out=$WXBUILD/bindings/node
export npm_config_cache=$out/npm-cache npm_config_update_notifier=false
export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1
export WXBUILD WXCONF_BUILD=$WXBUILD
failed=0

pass() { echo "PASS: node-$1"; }
fail() { echo "FAIL: node-$1"; failed=1; }

id wxconfuser >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin wxconfuser

# 1. The package as users get it: npm pack, then npm install of the tarball in an empty folder with npm's
# defaults (dependency install scripts stay blocked: koffi must work from its prebuilt binaries).
rm -rf "$out/pack" "$out/app" && mkdir -p "$out/pack" "$out/app"
if (cd "$here" && npm pack --silent --pack-destination "$out/pack" >"$out/pack.log" 2>&1) &&
   (cd "$out/app" && npm install --no-audit --no-fund "$out"/pack/wxshm-*.tgz >"$out/install.log" 2>&1) &&
   [ -f "$out/app/node_modules/wxshm/index.js" ] && [ -f "$out/app/node_modules/wxshm/index.d.ts" ] &&
   [ ! -e "$out/app/node_modules/wxshm/test" ]; then
        pass pack-install
else
        cat "$out/pack.log" "$out/install.log" 2>/dev/null
        fail pack-install
        exit 1
fi
export NODE_PATH=$out/app/node_modules

# 2. The README's example is example.js, word for word, and runs against the real agent from the install.
readme_example=$(awk '/^```js example/{on=1; next} /^```/{on=0} on' "$here/README.md")
if [ "$readme_example" = "$(cat "$here/example.js")" ] &&
   "$WXTOP/tests/conformance/with-agent.sh" node "$out/app/node_modules/wxshm/example.js" | tee "$out/example.log" |
        grep -q '^ok: '; then
        pass readme-example
else
        cat "$out/example.log"
        fail readme-example
fi

# 3. The tests, each file a part; node's own runner.
run() {
        local name=$1; shift
        if timeout 170 "$@" >"$out/$name.log" 2>&1; then
                pass "$name"
        else
                fail "$name"
        fi
        grep -E '^# (binding|JS|control)|^not ok|^# (pass|fail) ' "$out/$name.log" | sed "s/^/  $name: /"
        grep -q '^not ok' "$out/$name.log" && sed -n '/^not ok/,/^ok\|^# /p' "$out/$name.log" | head -40
}
run conformance node --test --test-reporter=tap --test-timeout=90000 "$here/test/conformance.test.js"
run client node --test --test-reporter=tap --test-timeout=90000 "$here/test/client.test.js"
run agent "$WXTOP/tests/conformance/with-agent.sh" node --test --test-reporter=tap --test-timeout=90000 "$here/test/agent.test.js"

exit $failed
