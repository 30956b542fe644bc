#!/bin/bash
# with-agent.sh: runs a command beside a real wxtokend and wxemu in a private temp dir, for the bindings' suites.
#
# Usage: tests/conformance/with-agent.sh CMD [ARG]...
#
# Starts wxemu (the WeChat stand-in) and the agent with two apps, waits until every
# item has a token, runs CMD with the variables below, then stops both and removes
# everything, whatever CMD did. Exits with CMD's status (77 if wxemu was built without
# libmicrohttpd, 99 if the agent or wxemu could not be started; then their logs are shown).
#
# The apps: "shop" (kind token) and "mall" (kind token, tickets = jsapi, so also the item
# "mall.jsapi"). Tokens live 7200 s; min_force_interval = 1, so forced refreshes a
# second apart are each made.
#
# CMD sees:
#   WXSHM_DIR         the agent's shm_dir (/dev/shm/wxconf.XXXXXX, mode 0751)
#   WXTOKEND_SOCKET   its control socket
#   WXTOKEND_CONF     its config file (mall is the last section, see below)
#   WXTOKEND_PID      its pid: `kill $WXTOKEND_PID` is "agent down" (cleanup copes)
#   WXTOKENCTL        wxtokenctl: `$WXTOKENCTL get shop`, `$WXTOKENCTL reload`, ...
#   WXEMU_URL         http://127.0.0.1:PORT, wxemu's base
#   WXEMU_APPID_shop, WXEMU_APPID_mall   the apps' appids at wxemu
#
# wxemu from outside (curl or the language's HTTP client):
#   GET  $WXEMU_URL/emu/stats   upstream calls as JSON: .apps[APPID].token_calls counts
#        /cgi-bin/token calls (one per fetch or forced refresh), .ticket_calls the tickets';
#        e.g. one forced generation = token_calls + 1
#   POST $WXEMU_URL/emu/rotate?app=$WXEMU_APPID_shop   another server fetched a token: the
#        agent's published token is refused from now on (wxemu runs with --overlap 0), and
#        the agent is not told; a reader's refresh(generation) then gets a new one
#   GET  $WXEMU_URL/cgi-bin/getcallbackip?access_token=TOKEN   a business call: {"ip_list":
#        [...]} for a live token, {"errcode":40001,...} for a refused one
#   POST $WXEMU_URL/emu/expire?app=APPID, /emu/fault?app=APPID&kind=busy|hang|...: see wxemu --help
#
# App removed: drop mall's section and reload; a handle opened on mall then reads -ENXIO
# (the contract; an agent that only retires the segment, as before wxshm_writer_remove,
# gives -EIDRM and leaves the file):
#   sed -i '/^\[app mall\]/,$d' "$WXTOKEND_CONF" && "$WXTOKENCTL" reload
# Permission denied: segments are mode 0640, group root, and the socket 0660: a non-root
# user gets EACCES (`useradd -r wxconfuser` once, then `runuser -u wxconfuser -- CMD` or
# `setpriv --reuid=wxconfuser --regid=wxconfuser --clear-groups CMD`; the temp dir is 0711
# so the user reaches both).
#
# The programs: $WXTOKEND, $WXEMU, $WXTOKENCTL if set (make check sets them), else those
# of the build tree $WXCONF_BUILD (default: build/default at the top of the source tree).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${WXCONF_BUILD:-$here/../../build/default}
build=$(cd "$build" 2>/dev/null && pwd || echo "$build")
wxtokend=${WXTOKEND:-$build/agent/wxtokend}
wxemu=${WXEMU:-$build/tests/emu/wxemu}
wxtokenctl=${WXTOKENCTL:-$build/tools/wxtokenctl}

if [ $# -lt 1 ]; then
        echo "Usage: $0 CMD [ARG]... (see the comment at the top of this script)" >&2
        exit 64
fi
for b in "$wxtokend" "$wxemu" "$wxtokenctl"; do
        if [ ! -x "$b" ]; then
                echo "with-agent.sh: no $b: build first (make), or set WXCONF_BUILD" >&2
                exit 99
        fi
done

tmp= shm= emu_pid= agent_pid= cmd_pid=

# Running, and not a zombie waiting for us to reap it.
alive() {
        local stat
        [ -n "$1" ] && read -r stat 2>/dev/null </proc/"$1"/stat || return 1
        stat=${stat##*) }
        [ "${stat%% *}" != Z ]
}

# SIGTERM (or the signal given), up to 10 s to finish, then SIGKILL; always reaped.
stop() {
        [ -n "$1" ] || return 0
        kill -"${2:-TERM}" "$1" 2>/dev/null
        for _ in $(seq 100); do
                alive "$1" || break
                sleep 0.1
        done
        alive "$1" && kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        return 0
}

cleanup() {
        stop "$agent_pid"
        stop "$emu_pid"
        [ -n "$shm" ] && rm -rf "$shm"
        [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
# A signal is passed on to CMD (and CMD waited for), then the EXIT trap cleans up.
on_signal() {
        trap - INT TERM HUP
        stop "$cmd_pid" "$1"
        exit $((128 + $2))
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

# Show a log and give up: the machinery failed, not CMD.
fail() {
        echo "with-agent.sh: $1" >&2
        [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/  | /' "$2" >&2
        exit "${3:-99}"
}

tmp=$(mktemp -d /tmp/wxconf.XXXXXX) || fail "mktemp in /tmp failed"
# Others may reach the socket (and be refused by its mode), not list the directory.
chmod 0711 "$tmp"
# mktemp makes it ours, 0700 and new (nobody could have put anything in it): then 0751 as the agent wants.
shm=$(mktemp -d /dev/shm/wxconf.XXXXXX) || fail "mktemp in /dev/shm failed"
chmod 0751 "$shm"

secret() {
        (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$tmp/$1.secret")
}
secret shop && secret mall || fail "cannot write the secret files in $tmp"
appid_shop=wxconfshop
appid_mall=wxconfmall

"$wxemu" --app "$appid_shop:$(cat "$tmp/shop.secret")" --app "$appid_mall:$(cat "$tmp/mall.secret")" \
        --overlap 0 --port-file "$tmp/emu.port" </dev/null >"$tmp/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 300); do
        [ -s "$tmp/emu.port" ] && break
        if ! alive "$emu_pid"; then
                wait "$emu_pid"
                status=$?
                emu_pid=
                # 77: built without libmicrohttpd, so every test that needs it skips.
                [ "$status" = 77 ] && fail "wxemu: $(cat "$tmp/emu.log")" "" 77
                fail "wxemu exited with status $status:" "$tmp/emu.log"
        fi
        sleep 0.1
done
[ -s "$tmp/emu.port" ] || fail "wxemu wrote no port file in 30 s:" "$tmp/emu.log"
emu_url="http://127.0.0.1:$(tr -d '\n' <"$tmp/emu.port")"

conf="$tmp/wxtokend.conf"
cat >"$conf" <<EOF || fail "cannot write $conf"
# with-agent.sh's agent: wxemu over plain http, everything in $tmp and $shm.
[agent]
socket = $tmp/sock
state_dir = $tmp/state
shm_dir = $shm
allow_plain_http = yes
min_force_interval = 1

[app shop]
kind = token
appid = $appid_shop
secret_file = $tmp/shop.secret
api_base = $emu_url

[app mall]
kind = token
appid = $appid_mall
secret_file = $tmp/mall.secret
tickets = jsapi
api_base = $emu_url
EOF

# Not under a service manager: no NOTIFY_SOCKET, so READY below is read from the segments.
env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID "$wxtokend" -c "$conf" </dev/null >"$tmp/agent.log" 2>&1 &
agent_pid=$!

export WXSHM_DIR="$shm" WXTOKEND_SOCKET="$tmp/sock"
# READY: every item readable (the agent fetched them all), bounded; a sanitizer build starts slowly.
ready=
for _ in $(seq 300); do
        alive "$agent_pid" || fail "wxtokend exited before it was ready; its log:" "$tmp/agent.log"
        if "$wxtokenctl" get shop >/dev/null 2>&1 && "$wxtokenctl" get mall >/dev/null 2>&1 &&
                "$wxtokenctl" get mall.jsapi >/dev/null 2>&1; then
                ready=1
                break
        fi
        sleep 0.1
done
[ -n "$ready" ] || fail "wxtokend published no token for every item in 30 s; its log:" "$tmp/agent.log"

export WXTOKEND_CONF="$conf" WXTOKEND_PID="$agent_pid" WXTOKENCTL="$wxtokenctl" WXEMU_URL="$emu_url"
export WXEMU_APPID_shop="$appid_shop" WXEMU_APPID_mall="$appid_mall"

# In the background, so a signal to this script is handled at once (and passed on); stdin kept.
"$@" <&0 &
cmd_pid=$!
wait "$cmd_pid"
status=$?
cmd_pid=
exit "$status"
