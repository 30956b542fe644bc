#!/bin/sh
# test-apt-lock.sh: ./dev demo, needing a package while apt's lock is held, waits saying who holds it, and goes on once it is free.
#
# Usage: test-apt-lock.sh HOLD_LOCK BUILD_DIR. HOLD_LOCK is tests/dev/hold-lock (takes the lock
# as apt does: fcntl F_SETLK on /var/lib/dpkg/lock-frontend); BUILD_DIR the demo's build (from
# test-demo-twice.sh, so the run after the wait is quick). The missing package is forced with
# ./dev's DEV_EXTRA_PACKAGES hook: $APT_LOCK_PACKAGE (hello, 53 kB, needs only libc6), removed
# again afterwards. Needs root and a Debian mirror. Exit 0 pass, 1 fail, 77 skip, 99 could not run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
hold=${1:?usage: test-apt-lock.sh HOLD_LOCK BUILD_DIR}
dir=${2:?usage: test-apt-lock.sh HOLD_LOCK BUILD_DIR}
pkg=${APT_LOCK_PACKAGE:-hello}
lock=/var/lib/dpkg/lock-frontend
fail=0 holder="" demo=""

bad() { echo "FAIL: $*"; fail=1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (it installs and removes $pkg)"; exit 77; }
installed "$pkg" && { echo "SKIP: $pkg is installed already: it cannot stand for a missing package (APT_LOCK_PACKAGE= another)"; exit 77; }
apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]' || { echo "SKIP: apt knows no $pkg to install (no Debian mirror?)"; exit 77; }

tmp=$(mktemp -d /tmp/test-apt-lock.XXXXXX) || exit 99
# shellcheck disable=SC2317  # called by the trap
cleanup() {
        # The demo first, its whole process group (apt-get included) while the lock still
        # keeps apt from starting: nothing gets installed after this point.
        [ -n "$demo" ] && kill -TERM "-$demo" 2>/dev/null
        [ -n "$demo" ] && wait "$demo" 2>/dev/null
        [ -n "$holder" ] && kill "$holder" 2>/dev/null
        wait 2>/dev/null
        # Leave nothing installed that was not.
        if installed "$pkg"; then
                apt-get -o DPkg::Lock::Timeout=120 purge -y -qq "$pkg" >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log"
                installed "$pkg" && echo "could not remove $pkg: remove it by hand"
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' INT TERM

# wait_for WHAT SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 after SECONDS.
wait_for() {
        what=$1 until=$(($(date +%s) + $2))
        shift 2
        while [ "$(date +%s)" -le "$until" ]; do
                "$@" && return 0
                sleep 0.1
        done
        echo "timed out waiting for $what"
        return 1
}

"$hold" "$lock" "$tmp/holder" &
holder=$!
wait_for "the lock holder" 10 test -s "$tmp/holder" || exit 99
echo "holding $lock in PID $holder (fcntl F_SETLK, as apt does)"

# In its own session (process group $demo), so that cleanup can stop all of it.
: >"$tmp/out"
WXDEMO_BUILD_DIR="$dir" WXDEMO_FIRST_TOKEN_EXIT=1 DEV_EXTRA_PACKAGES="$pkg" DEV_APT_LOCK_WAIT=300 \
        setsid sh -c '{ "$1" demo </dev/null; echo $? >"$2/rc.tmp"; } 2>&1 | cat >"$2/out"; mv "$2/rc.tmp" "$2/rc"' sh "$top/dev" "$tmp" &
demo=$!
if ! wait_for "the demo to say it waits" 60 grep -qs "waiting for apt's lock held by PID $holder" "$tmp/out"; then
        cat "$tmp/out"
        bad "the demo did not say it waits for apt's lock held by PID $holder"
        exit 1
fi
grep "waiting for apt's lock" "$tmp/out"
# It waits: not finished, nothing installed while the lock is ours.
sleep 1
[ -e "$tmp/rc" ] && bad "the demo ended while the lock was held: $(cat "$tmp/out")"
installed "$pkg" && bad "$pkg got installed while the lock was held"

kill "$holder" && wait "$holder" 2>/dev/null
holder=""
echo "lock released"
wait_for "the demo to end" 600 test -e "$tmp/rc" || { cat "$tmp/out"; bad "the demo did not end"; exit 1; }
demo=""
rc=$(cat "$tmp/rc")
grep -E "lock is free|installing|first token" "$tmp/out"
[ "$rc" -eq 0 ] || { cat "$tmp/out"; bad "the demo exited $rc after the lock was released"; }
grep -q "apt's lock is free" "$tmp/out" || bad "no word that the lock was free"
grep -q '^demo: first token' "$tmp/out" || bad "no first token after the wait"
installed "$pkg" || bad "$pkg was not installed after the lock was released"
[ "$fail" -eq 0 ] && echo "ok: the demo waited for the lock, said who held it, installed $pkg and reached its first token"
exit "$fail"
