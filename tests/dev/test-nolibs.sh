#!/bin/sh
# test-nolibs.sh: configure and build the agent and libwxshm with the test-only libraries hidden; their tests skip saying what is missing.
#
# Usage: test-nolibs.sh BUILD_DIR (emptied first). The libraries are hidden from pkg-config
# by PKG_CONFIG_LIBDIR pointing at a directory of every .pc file but theirs, so this needs no
# package removed. Exit 0 pass, 1 fail, 99 the test itself could not run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:?usage: test-nolibs.sh BUILD_DIR}
hidden="libmicrohttpd libseccomp"
fail=0

bad() { echo "FAIL: $*"; fail=1; }

rm -rf "$dir" && mkdir -p "$dir/pc" "$dir/build" || exit 99
# The shim: every .pc pkg-config would find, but the hidden ones.
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
        for pc in "$d"/*.pc; do
                [ -e "$pc" ] || continue
                name=$(basename "$pc" .pc)
                case " $hidden " in *" $name "*) continue ;; esac
                [ -e "$dir/pc/$name.pc" ] || ln -s "$pc" "$dir/pc/$name.pc"
        done
done
for name in $hidden; do
        PKG_CONFIG_LIBDIR="$dir/pc" pkg-config --exists "$name" && { echo "the shim still shows $name"; exit 99; }
        pkg-config --exists "$name" || { echo "$name is not installed: hiding it proves nothing (./dev test installs it)"; exit 99; }
done

echo "configure with PKG_CONFIG_LIBDIR hiding: $hidden"
if ! (cd "$dir/build" && PKG_CONFIG_LIBDIR="$dir/pc" "$top/configure" -q CFLAGS="-O0 -g") >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"
        bad "configure needs a test-only library"
        exit 1
fi
for sym in HAVE_MICROHTTPD HAVE_SECCOMP; do
        grep -q "^#define $sym 1" "$dir/build/autoconfig.h" && bad "$sym defined though hidden"
done

targets="agent/wxtokend tools/wxtokenctl libwxshm/libwxshm.la tests/emu/wxemu tests/shm/test-nosyscall tests/agent/test-agent-basic"
echo "make $targets"
if ! make -s --no-print-directory -C "$dir/build" -j"${JOBS:-2}" $targets >"$dir/make.log" 2>&1; then
        tail -n 30 "$dir/make.log"
        bad "the agent or libwxshm did not build without the test-only libraries"
        exit 1
fi
# Nothing linked against what was hidden.
for f in agent/wxtokend libwxshm/.libs/libwxshm.so; do
        if readelf -d "$dir/build/$f" | grep -E 'NEEDED.*(microhttpd|seccomp)'; then
                bad "$f links a hidden library"
        fi
done
echo "ok: the agent, wxtokenctl and libwxshm built"

# skips TEST WHAT: the test exits 77 and prints a SKIP line naming WHAT.
skips() {
        out=$(cd "$dir/build" && WXEMU="$dir/build/tests/emu/wxemu" WXTOKEND="$dir/build/agent/wxtokend" "./$1" 2>&1)
        rc=$?
        line=$(printf '%s\n' "$out" | grep '^SKIP: ')
        if [ "$rc" -ne 77 ]; then
                printf '%s\n' "$out" | tail -n 10
                bad "$1 exited $rc, not 77 (skip)"
        elif ! printf '%s\n' "$line" | grep -q "$2"; then
                bad "$1 skipped without naming $2: '$line'"
        else
                echo "ok: $1 skips: ${line#SKIP: }"
        fi
}
skips tests/shm/test-nosyscall libseccomp-dev
skips tests/agent/test-agent-basic libmicrohttpd-dev
[ "$fail" -eq 0 ] && rm -rf "$dir"
exit "$fail"
