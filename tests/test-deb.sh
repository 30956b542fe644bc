#!/bin/sh
# test-deb.sh: the Debian packages build, pass lintian, install, work, and purge clean.
#
# Run by ./dev test (not make check: it builds the whole tree again, about a minute).
# Exit 0 pass, 77 skip (not root, the tools cannot be had, or wxtokend is already
# installed here and is not ours to remove), 1 fail.
#
# The install test uses this machine, not a throwaway root: dpkg -i the four packages,
# check them, then dpkg --purge them and check every file they brought is gone. A
# chroot would need debootstrap and a mirror; purge is what an operator does, so it is
# the better test of the maintainer scripts too. Anything the test itself wrote (the
# example's secret files) is removed on every exit, and the packages are purged even
# when a check in between fails.
# Word lists ($packages, $debs, file names without spaces) are split on purpose;
# cleanup is called by the trap.
# shellcheck disable=SC2086,SC2013,SC2012,SC2317
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
packages="wxtokend libwxshm-dev libwxshm1 python3-wxshm"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i, dpkg --purge)"
command -v dpkg >/dev/null 2>&1 || skip "not a Debian system"
for p in $packages; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=not-installed
	[ "$st" = not-installed ] || skip "$p is already on this machine ($st): not ours to purge"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-deb.XXXXXX") || fail "mktemp"
installed=no
made_files=
made_dirs=

cleanup() {
	for f in $made_files; do rm -f "$f"; done
	for d in $made_dirs; do rmdir "$d" 2>/dev/null; done
	if [ "$installed" = yes ]; then
		DEBIAN_FRONTEND=noninteractive dpkg --purge $packages >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- build -------------------------------------------------------------------
start=$(date +%s)
sh "$top/packaging/deb.sh" "$tmp/debs" >"$tmp/deb.log" 2>&1
rc=$?
if [ "$rc" -eq 77 ]; then
	tail -n 5 "$tmp/deb.log"
	skip "packaging/deb.sh cannot get dpkg-buildpackage, debhelper or lintian"
fi
if ! ls "$tmp"/debs/wxtokend_*.deb >/dev/null 2>&1; then
	tail -n 60 "$tmp/deb.log"
	fail "packaging/deb.sh built no packages (exit $rc)"
fi
debs=
for p in wxtokend libwxshm1 libwxshm-dev python3-wxshm; do
	f=$(ls "$tmp"/debs/"${p}"_*.deb 2>/dev/null | head -n 1)
	[ -n "$f" ] || fail "no $p package"
	debs="$debs $f"
done
ok "built$(for f in $debs; do printf ' %s' "${f##*/}"; done) in $(($(date +%s) - start)) s"

# --- lintian: no errors, and no warning that is neither fixed nor overridden ---------
lintian $debs >"$tmp/lintian.log" 2>&1
if grep -E '^[EW]: ' "$tmp/lintian.log"; then
	fail "lintian reports the errors or warnings above"
fi
ok "lintian: no errors, no warnings"

# --- install -----------------------------------------------------------------
installed=yes
if ! DEBIAN_FRONTEND=noninteractive dpkg -i $debs >"$tmp/dpkg-i.log" 2>&1; then
	cat "$tmp/dpkg-i.log"
	fail "dpkg -i"
fi
ok "dpkg -i (PID 1 is $(ps -p 1 -o comm= 2>/dev/null || echo unknown))"
for p in $packages; do
	dpkg -L "$p" >>"$tmp/files.list" || fail "dpkg -L $p"
done

ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for f in /usr/sbin/wxtokend /usr/bin/wxtokenctl \
	"/usr/lib/$ma/libwxshm.so.1.0.0" "/usr/lib/$ma/libwxshm.so.1" "/usr/lib/$ma/libwxshm.so" \
	/usr/include/wxshm.h "/usr/lib/$ma/pkgconfig/libwxshm.pc" \
	/lib/systemd/system/wxtokend.service /lib/systemd/system/wxtokend.socket \
	/usr/lib/sysusers.d/wxtokend.conf /usr/lib/tmpfiles.d/wxtokend.conf \
	/usr/share/doc/wxtokend/wxtokend.conf.example \
	/usr/share/man/man8/wxtokend.8.gz /usr/share/man/man5/wxtokend.conf.5.gz \
	/usr/share/man/man1/wxtokenctl.1.gz /usr/share/man/man3/libwxshm.3.gz \
	/usr/lib/python3/dist-packages/wxshm/__init__.py; do
	[ -e "$f" ] || fail "$f is not installed"
done
ok "every file in place"

# postinst: systemd-sysusers made the users and groups, systemd-tmpfiles the directories.
for u in $(awk '$1 == "u" { print $2 }' /usr/lib/sysusers.d/wxtokend.conf); do
	getent passwd "$u" >/dev/null || fail "postinst made no user $u"
done
for g in $(awk '$1 == "g" { print $2 }' /usr/lib/sysusers.d/wxtokend.conf); do
	getent group "$g" >/dev/null || fail "postinst made no group $g"
done
for d in $(awk '$1 == "d" { print $2 }' /usr/lib/tmpfiles.d/wxtokend.conf); do
	case $d in /run/*) continue ;; esac
	[ -d "$d" ] || fail "postinst made no directory $d"
done
ok "sysusers and tmpfiles applied"

# The socket is enabled, the service is not (it has no configuration yet).
[ -L /etc/systemd/system/sockets.target.wants/wxtokend.socket ] || fail "wxtokend.socket is not enabled"
[ ! -e /etc/systemd/system/multi-user.target.wants/wxtokend.service ] || fail "wxtokend.service was enabled"
ok "wxtokend.socket enabled, wxtokend.service not"

# --- the agent checks the example configuration ----------------------------------
example=/usr/share/doc/wxtokend/wxtokend.conf.example
for f in $(sed -n 's/^[[:space:]]*secret_file[[:space:]]*=[[:space:]]*\([^[:space:];]*\).*/\1/p' "$example"); do
	[ -e "$f" ] && continue
	d=$(dirname "$f")
	if [ ! -d "$d" ]; then
		mkdir -p "$d" && made_dirs="$d $made_dirs"
	fi
	made_files="$made_files $f"
	(umask 077 && printf '0123456789abcdef0123456789abcdef\n' >"$f") || fail "cannot write $f"
	# The service reads it as its own user, as systemd's credentials are handed over.
	chown wxtokend: "$f" || fail "chown wxtokend $f"
done
# Where systemd would put the credentials: a directory the service's user can read.
creds=$(mktemp -d /run/test-deb-creds.XXXXXX) || fail "mktemp creds"
for c in $(sed -n 's/^[[:space:]]*secret_credential[[:space:]]*=[[:space:]]*\([^[:space:];]*\).*/\1/p' "$example"); do
	(umask 077 && printf '0123456789abcdef0123456789abcdef\n' >"$creds/$c")
done
chown -R wxtokend: "$creds" || fail "chown wxtokend $creds"
# The check as the service's user (the unit's User=): what root may read proves nothing.
if ! CREDENTIALS_DIRECTORY="$creds" /usr/sbin/wxtokend -t -u wxtokend -c "$example" >"$tmp/check.log" 2>&1; then
	cat "$tmp/check.log"
	rm -rf "$creds"
	fail "wxtokend -t -u wxtokend -c $example"
fi
rm -rf "$creds"
ok "$(cat "$tmp/check.log")"
/usr/bin/wxtokenctl --help >/dev/null || fail "wxtokenctl --help"

# --- a program built against the installed library ----------------------------------
cat >"$tmp/reader.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <wxshm.h>

/* reader APP: APP must not exist. reader APP read: APP's token must be readable. */
int main(int argc, char **argv) {
        char token[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        wxshm *h = NULL;
        int r = wxshm_open(&h, argv[1]);

        if (argc == 3) {
                info.size = sizeof(info);
                if (r < 0 || (r = wxshm_read(h, token, sizeof(token), &info)) <= 0) {
                        fprintf(stderr, "reading %s: %d\n", argv[1], r);
                        return 1;
                }
                printf("read a %d-byte token of generation %llu\n", r, (unsigned long long)info.generation);
                wxshm_close(h);
                return 0;
        }
        if (r != -ENOENT) {
                fprintf(stderr, "wxshm_open(%s): %d, expected -ENOENT\n", argv[1], r);
                return 1;
        }
        if (strcmp(wxshm_state_name(1), "fresh") != 0) {
                fprintf(stderr, "wxshm_state_name(1): %s\n", wxshm_state_name(1));
                return 1;
        }
        return argc == 2 ? 0 : 1;
}
EOF
flags=$(env -u PKG_CONFIG_PATH pkg-config --cflags --libs libwxshm) || fail "pkg-config libwxshm"
cc -Wall -Werror -o "$tmp/reader" "$tmp/reader.c" $flags 2>"$tmp/cc.log" || { cat "$tmp/cc.log"; fail "cc $flags"; }
# /lib is /usr/lib on a merged-/usr system: the loader may name either.
env -u LD_LIBRARY_PATH ldd "$tmp/reader" | grep -Eq "=> (/usr)?/lib/$ma/libwxshm\.so\.1 " ||
	fail "reader is not linked against /usr/lib/$ma/libwxshm.so.1: $(ldd "$tmp/reader" | grep wxshm)"
env -u LD_LIBRARY_PATH -u WXSHM_DIR "$tmp/reader" "nosuchapp$$" || fail "the program against libwxshm.so.1"
ok "a program built with pkg-config --cflags --libs libwxshm links and runs"

# --- the installed agent publishes, the program reads ----------------------------
# wxemu (the WeChat stand-in) comes from the build tree: ./dev test sets WXEMU.
if [ -x "${WXEMU:-}" ]; then
	shm_dir="/dev/shm/debtest$$"
	(umask 077 && printf 'deb-secret-0123456789\n' >"$tmp/deb.secret")
	"$WXEMU" --app wxdebtest:deb-secret-0123456789 --port 0 --port-file "$tmp/port" 2>"$tmp/emu.log" &
	emu=$!
	for i in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
	cat >"$tmp/deb.conf" <<CONF
[agent]
socket = $tmp/sock
state_dir = $tmp/state
shm_dir = $shm_dir
allow_plain_http = yes

[app deb]
kind = token
appid = wxdebtest
secret_file = $tmp/deb.secret
api_base = http://127.0.0.1:$(cat "$tmp/port")
CONF
	/usr/sbin/wxtokend -c "$tmp/deb.conf" 2>"$tmp/agent.log" &
	agent=$!
	for i in $(seq 100); do
		WXSHM_DIR=$shm_dir /usr/bin/wxtokenctl get deb >/dev/null 2>&1 && break
		sleep 0.1
	done
	got=$(env -u LD_LIBRARY_PATH WXSHM_DIR="$shm_dir" "$tmp/reader" deb read 2>&1)
	rc=$?
	# python3-wxshm as installed (no PYTHONPATH, no WXSHM_LIBRARY): its default reader and libwxshm1 through ctypes.
	want=$(WXSHM_DIR=$shm_dir /usr/bin/wxtokenctl get deb 2>&1)
	for reader in auto ctypes; do
		py=$(env -u PYTHONPATH -u WXSHM_LIBRARY -u LD_LIBRARY_PATH WXSHM_DIR="$shm_dir" WXSHM_PY_READER=$reader \
			/usr/bin/python3 -m wxshm get deb 2>&1) || rc=1
		[ -n "$want" ] && [ "$py" = "$want" ] || { rc=1; got="$got; python3 -m wxshm get deb ($reader): $py"; }
	done
	kill "$agent" "$emu" 2>/dev/null
	wait "$agent" "$emu" 2>/dev/null
	rm -rf "$shm_dir"
	[ "$rc" -eq 0 ] || { cat "$tmp/agent.log"; fail "the program did not read the installed agent's segment: $got"; }
	ok "the installed wxtokend published a token, the program $got, python3 -m wxshm get printed it too"
else
	echo "note: WXEMU not set: the read of a live segment was not tried"
fi

# --- purge ---------------------------------------------------------------------
for f in $made_files; do rm -f "$f"; done
made_files=
if ! DEBIAN_FRONTEND=noninteractive dpkg --purge $packages >"$tmp/purge.log" 2>&1; then
	cat "$tmp/purge.log"
	fail "dpkg --purge"
fi
installed=no
for p in $packages; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=not-installed
	[ "$st" = not-installed ] || fail "$p is still $st after purge"
done
left=
while read -r f; do
	[ -d "$f" ] && continue # shared directories (/usr/lib, /lib -> usr/lib, ...) stay
	if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done <"$tmp/files.list"
[ -z "$left" ] || fail "left after purge:$left"
for f in /var/lib/wxtokend /etc/systemd/system/sockets.target.wants/wxtokend.socket; do
	if [ -e "$f" ] || [ -L "$f" ]; then fail "left after purge: $f"; fi
done
ok "dpkg --purge removed every file"
echo "PASS: test-deb.sh ($(($(date +%s) - start)) s)"
exit 0
