#!/bin/bash
# test-with-agent.sh: with-agent.sh gives its command a working agent and the promised variables, passes its status on, and leaves nothing behind.
set -u
with_agent="${top_srcdir:-.}/tests/conformance/with-agent.sh"
out=$(mktemp -d /tmp/test-with-agent.XXXXXX) || exit 99
trap 'rm -rf "$out"' EXIT
failures=0
fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}

# Inside: each variable, the token of every item through wxtokenctl, then what to check after.
inside='
        set -u
        for v in WXSHM_DIR WXTOKEND_SOCKET WXTOKEND_CONF WXTOKEND_PID WXTOKENCTL WXEMU_URL \
                WXEMU_APPID_shop WXEMU_APPID_mall; do
                eval "[ -n \"\${$v:-}\" ]" || { echo "$v is not set"; exit 11; }
        done
        [ "$(stat -c %a "$WXSHM_DIR")" = 751 ] || { echo "WXSHM_DIR $WXSHM_DIR is not 0751"; exit 12; }
        [ -S "$WXTOKEND_SOCKET" ] || { echo "no socket at $WXTOKEND_SOCKET"; exit 13; }
        grep -q "^\[app mall\]" "$WXTOKEND_CONF" || { echo "no mall in $WXTOKEND_CONF"; exit 14; }
        kill -0 "$WXTOKEND_PID" || { echo "no agent $WXTOKEND_PID"; exit 15; }
        case "$WXEMU_URL" in http://127.0.0.1:[0-9]*) ;; *) echo "WXEMU_URL $WXEMU_URL"; exit 16 ;; esac
        for item in shop mall mall.jsapi; do
                token=$("$WXTOKENCTL" get "$item") && [ ${#token} -gt 20 ] || { echo "no token for $item"; exit 17; }
        done
        [ "$($WXTOKENCTL status --json shop | grep -o "\"state\":\"[a-z]*\"" | head -1)" = "\"state\":\"fresh\"" ] ||
                { echo "shop is not fresh"; exit 18; }
        # What must be gone afterwards: the directories and the agent.
        echo "$WXSHM_DIR $(dirname "$WXTOKEND_SOCKET") $WXTOKEND_PID" >"$OUT/left"
        exit 7
'

# Running, and not a zombie.
alive() {
        local stat
        read -r stat 2>/dev/null </proc/"$1"/stat || return 1
        stat=${stat##*) }
        [ "${stat%% *}" != Z ]
}

gone() {
        local shm tmp pid
        read -r shm tmp pid <"$out/left" || { fail "the command recorded nothing"; return; }
        [ ! -e "$shm" ] || fail "$shm is left behind"
        [ ! -e "$tmp" ] || fail "$tmp is left behind"
        alive "$pid" && fail "agent $pid still runs"
        rm -f "$out/left"
}

# 1. The command runs with everything it was promised, and its status is the script's.
OUT="$out" "$with_agent" bash -c "$inside" >"$out/log" 2>&1
status=$?
cat "$out/log"
[ "$status" = 77 ] && { echo "skip: wxemu cannot run here"; exit 77; }
[ "$status" = 7 ] || fail "with-agent.sh exited $status, not the command's 7"
gone

# 2. A signal ends the command too, and still cleans up: TERM once the command runs.
OUT="$out" "$with_agent" bash -c 'echo "$WXSHM_DIR $(dirname "$WXTOKEND_SOCKET") $WXTOKEND_PID" >"$OUT/left"; echo $$ >"$OUT/cmd"; exec sleep 300' \
        >"$out/log2" 2>&1 &
pid=$!
for _ in $(seq 600); do
        [ -s "$out/cmd" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
done
if [ -s "$out/cmd" ]; then
        kill -TERM "$pid"
        wait "$pid"
        status=$?
        [ "$status" = 143 ] || fail "with-agent.sh exited $status after SIGTERM, not 143"
        alive "$(cat "$out/cmd")" && fail "the command still runs after with-agent.sh's SIGTERM"
        gone
else
        wait "$pid"
        fail "the command never started (status $?)"
        cat "$out/log2"
fi

[ "$failures" = 0 ] || exit 1
echo "with-agent.sh: variables, tokens, status and cleanup as promised"
