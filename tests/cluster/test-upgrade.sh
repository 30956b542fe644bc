#!/bin/sh
# test-upgrade.sh: build the agent of an older commit from git history and run it beside this build's in one cluster.
#
#   sh tests/cluster/test-upgrade.sh BUILDDIR [OLDDIR]
#
# BUILDDIR is a built tree of this commit (agent/wxtokend, tests/emu/wxemu and
# tests/cluster/test-upgrade in it); the old agent is built once into OLDDIR (build/old) and
# reused while OLDDIR/.commit names the same commit. The old commit is the last one before
# the core rewrite (issue 12), whose wire formats the new agent must keep; UPGRADE_FROM
# names another. Run by ./dev test, not make check: it needs the git history, which a
# tarball (make distcheck) has not. Exit 0 pass, 77 skip (no git, or the commit is not in
# this clone's history: a shallow clone or a tarball), 99 the old agent did not build, else fail.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
from=${UPGRADE_FROM:-158e902}

skip() { echo "SKIP: $*"; exit 77; }

[ $# -ge 1 ] || { echo "usage: $0 BUILDDIR [OLDDIR]" >&2; exit 99; }
builddir=$(cd "$1" && pwd) || exit 99
old=${2:-$top/build/old}

command -v git >/dev/null 2>&1 || skip "no git: cannot build the agent of commit $from"
# Not the history of some enclosing repository that a tarball was unpacked in.
[ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$top" ] ||
	skip "$top is not a git checkout (a tarball?): no history to build commit $from from"
commit=$(git -C "$top" rev-parse -q --verify "$from^{commit}" 2>/dev/null) ||
	skip "commit $from is not in the history of $top (a shallow clone or a tarball): nothing to upgrade from"

if [ -x "$old/wxtokend" ] && [ "$(cat "$old/.commit" 2>/dev/null)" = "$commit" ]; then
	echo "the agent of $commit: $old/wxtokend, built before"
else
	start=$(date +%s)
	rm -rf "$old" && mkdir -p "$old/src" || exit 99
	# Only the agent: the rest of the old tree (tests, wxemu) is this build's.
	# CI=true would add -Werror; warnings a newer compiler finds in old code are not this test's subject.
	if ! (git -C "$top" archive "$commit" | tar -x -C "$old/src" &&
		cd "$old/src" && autoreconf -fi && env -u CI ./configure -q &&
		make -j"${JOBS:-2}" agent/wxtokend) >"$old/build.log" 2>&1; then
		tail -n 40 "$old/build.log"
		echo "the agent of $commit did not build (log: $old/build.log)"
		exit 99
	fi
	cp "$old/src/agent/wxtokend" "$old/wxtokend" && rm -rf "$old/src" || exit 99
	echo "$commit" >"$old/.commit"
	echo "the agent of $commit: built into $old/wxtokend in $(($(date +%s) - start)) s"
fi

[ -x "$builddir/tests/cluster/test-upgrade" ] || { echo "no $builddir/tests/cluster/test-upgrade: build BUILDDIR first"; exit 99; }
cd "$builddir" || exit 99
start=$(date +%s)
WXTOKEND_OLD="$old/wxtokend" WXTOKEND="$builddir/agent/wxtokend" WXEMU="$builddir/tests/emu/wxemu" \
	WXTOKENCTL="$builddir/tools/wxtokenctl" ./tests/cluster/test-upgrade
rc=$?
echo "tests/cluster/test-upgrade: exit $rc in $(($(date +%s) - start)) s"
exit $rc
