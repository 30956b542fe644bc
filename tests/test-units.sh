#!/bin/sh
# test-units.sh: the systemd units verify cleanly, stay hardened, and the example config loads.
#
# Environment (set by AM_TESTS_ENVIRONMENT): top_srcdir, WXTOKEND (the built agent).
# Exit 0 pass, 77 skip (no systemd-analyze), 1 fail.

srcdir=${top_srcdir:-$(dirname "$0")/..}
agent=${WXTOKEND:-${top_builddir:-.}/agent/wxtokend}
units=$srcdir/packaging/systemd
example=$srcdir/packaging/wxtokend.conf.example
max_exposure=2.5
status=0

fail() {
        echo "FAIL: $*" >&2
        status=1
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "SKIP: systemd-analyze not found (install systemd to check the units)"
        exit 77
fi
if [ ! -x "$agent" ]; then
        echo "FAIL: no agent at '$agent' (set WXTOKEND)" >&2
        exit 1
fi
case $agent in
/*) ;;
*) agent=$(pwd)/$agent ;;
esac
# systemd-sysusers --root= would read a relative path under the root.
srcdir=$(cd "$srcdir" && pwd) || exit 1
units=$srcdir/packaging/systemd
example=$srcdir/packaging/wxtokend.conf.example

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-units.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
SYSTEMD_COLORS=0
SYSTEMD_PAGER=
export SYSTEMD_COLORS SYSTEMD_PAGER

# (a) verify. ExecStart= must name an existing binary: point it at the built
# agent. --man=no: the man page is in doc/man, not installed where man finds it.
sed "s#/usr/sbin/wxtokend#$agent#g" "$units/wxtokend.service" >"$tmp/wxtokend.service" &&
        cp "$units/wxtokend.socket" "$tmp/wxtokend.socket" || exit 1
out=$(cd "$tmp" && systemd-analyze verify --man=no ./wxtokend.socket ./wxtokend.service 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
        fail "systemd-analyze verify (exit $rc):"
        printf '%s\n' "$out" >&2
else
        echo "ok: systemd-analyze verify wxtokend.socket wxtokend.service"
fi

# (b) exposure. The figure is printed so a regression shows in the log.
out=$(cd "$tmp" && systemd-analyze security --offline=true ./wxtokend.service 2>&1)
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
        fail "systemd-analyze security printed no exposure level:"
        printf '%s\n' "$out" >&2
elif awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
        echo "ok: exposure level $level (at most $max_exposure)"
else
        fail "exposure level $level, more than $max_exposure:"
        printf '%s\n' "$out" | grep '^✗' >&2
fi

# (c) the example loads, with its secret pointed at a private temporary file.
(umask 077 && printf 'exampleSecret0123456789\n' >"$tmp/shop.secret") || exit 1
# -t checks the directories the start needs: point them into $tmp (the host's may not exist).
cat >"$tmp/dirs.sed" <<EOF
s#^;\{0,1\}socket = .*#socket = $tmp/wxtokend.sock#
s#^;\{0,1\}state_dir = .*#state_dir = $tmp/state#
s#^;\{0,1\}shm_dir = .*#shm_dir = /dev/shm/wxunits$$#
EOF
sed -f "$tmp/dirs.sed" -e "s#^secret_file = .*#secret_file = $tmp/shop.secret#" "$example" >"$tmp/example.conf"
if out=$("$agent" -t -c "$tmp/example.conf" 2>&1); then
        echo "ok: $out"
else
        fail "wxtokend -t on the example: $out"
fi

# (d) every commented default is a valid value: uncomment all keys (except the
# ones naming host groups, excluding each other, or of another kind than the example's
# app: a component's authorizer_tickets, a suite's corp_tickets) and [cluster], and load again.
(umask 077 && printf 'exampleFleetKey0123456789abcdef0123456789\n' >"$tmp/fleet.key") || exit 1
sed -f "$tmp/dirs.sed" -e "s#^secret_file = .*#secret_file = $tmp/shop.secret#" -e 's/^;\([a-z_]* = \)/\1/' -e 's/^;\[cluster\]/[cluster]/' \
    -e "s#^password_file = .*#password_file = $tmp/shop.secret#" -e "s#^fleet_key_file = .*#fleet_key_file = $tmp/fleet.key#" \
    -e '/^secret_credential =/d' -e '/^socket_group =/d' -e '/^group =/d' \
    -e '/^authorizer_tickets =/d' -e '/^corp_tickets =/d' \
    -e "s#^ca_file = .*#ca_file = $tmp/shop.secret#" "$example" >"$tmp/all.conf"
if out=$("$agent" -t -c "$tmp/all.conf" 2>&1); then
        echo "ok: every documented default loads"
else
        fail "the example with every key uncommented: $out"
fi

# (e) every key the agent knows is documented in the example.
keys=$(sed -n '/_keys\[[A-Z_]*\] = {/,/};/p' "$srcdir/agent/config-keys.c" "$srcdir/agent/config-cluster.c" |
        grep -o '"[a-z_]*"' | tr -d '"')
if [ -z "$keys" ]; then
        fail "found no keys in agent/config-keys.c"
fi
for k in $keys; do
        grep -q "^;\{0,1\}$k = " "$example" || fail "key '$k' is not in packaging/wxtokend.conf.example"
done
[ -n "$keys" ] && echo "ok: all $(echo $keys | wc -w) keys documented"

# (f) sysusers.d and tmpfiles.d files apply to an empty root (needs root to chown).
if [ "$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null 2>&1 &&
   command -v systemd-tmpfiles >/dev/null 2>&1; then
        mkdir -p "$tmp/root/etc"
        if ! out=$(systemd-sysusers --root="$tmp/root" "$units/wxtokend.sysusers" 2>&1); then
                fail "systemd-sysusers: $out"
        elif ! out=$(systemd-tmpfiles --root="$tmp/root" --create "$units/wxtokend.tmpfiles" 2>&1) ||
             [ -n "$out" ]; then
                fail "systemd-tmpfiles: $out"
        elif [ "$(stat -c %a "$tmp/root/var/lib/wxtokend" 2>&1)" != 700 ]; then
                fail "tmpfiles: /var/lib/wxtokend is not 0700"
        else
                echo "ok: sysusers.d and tmpfiles.d apply"
        fi
else
        echo "note: sysusers/tmpfiles check needs root and systemd-sysusers, left out"
fi

exit $status
