#!/bin/sh
# deb.sh: build the Debian packages (wxtokend, libwxshm1, libwxshm-dev, python3-wxshm) and lint them.
#
#   packaging/deb.sh [OUTDIR]     (./dev deb)
#
# Copies the working tree (tracked and new files, not build/ or autotools output) to a
# temporary directory, adds packaging/debian as debian/, runs dpkg-buildpackage -us -uc -b
# and copies the .deb files (with .changes and .buildinfo) to OUTDIR (default build/deb).
# Then runs lintian on them and prints what it says. Exit 0 built and lintian clean of
# errors and warnings, 1 build failed or lintian reported an error or warning, 77 the
# tools are missing and we are not root to install them.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '== %s\n' "$*"; }

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The tools: dpkg-buildpackage (dpkg-dev), dh (debhelper), lintian.
missing=
command -v dpkg-buildpackage >/dev/null 2>&1 || missing="$missing dpkg-dev build-essential"
command -v dh >/dev/null 2>&1 || missing="$missing debhelper"
command -v fakeroot >/dev/null 2>&1 || missing="$missing fakeroot"
command -v lintian >/dev/null 2>&1 || missing="$missing lintian"
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deb.sh: missing Debian packages:$missing (run as root, or apt-get install them)" >&2
		exit 77
	fi
	say "installing$missing"
	# shellcheck disable=SC2086  # a list of package names
	apt-get update -qq && apt_install $missing || exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/wxtokend-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
src="$work/wxtokend"
mkdir "$src"

# The working tree as a developer sees it: in git, tracked files plus new ones not ignored
# (that leaves out build/, configure and the rest of autotools' output); otherwise all but
# the build trees.
say "copying the source tree to $src"
if command -v git >/dev/null 2>&1 && git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	# shellcheck disable=SC2016  # $f is the inner shell's
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		(cd "$top" && xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\n" "$f"; done; :' sh) |
		tar -C "$top" -cf - --no-recursion -T - | tar -C "$src" -xf -
else
	tar -C "$top" -cf - --exclude=./build --exclude=./.git --exclude=./autom4te.cache \
		--exclude=./results . | tar -C "$src" -xf -
fi
rm -rf "$src/debian"
cp -R "$top/packaging/debian" "$src/debian"

# The build dependencies debian/control names.
if ! (cd "$src" && dpkg-checkbuilddeps) >"$work/builddeps.log" 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		cat "$work/builddeps.log" >&2
		exit 77
	fi
	say "installing the build dependencies"
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq --no-install-recommends "$src" >/dev/null || exit 77
fi

say "dpkg-buildpackage -us -uc -b (log: $out/build.log)"
mkdir -p "$out"
rm -f "$out"/wxtokend_*.deb "$out"/libwxshm*.deb "$out"/python3-wxshm_*.deb "$out"/wxtokend_*.changes "$out"/wxtokend_*.buildinfo
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=$jobs" dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
	tail -n 60 "$out/build.log"
	echo "deb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
fi
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
for f in "$out"/*.deb; do
	echo "built: $f"
done

say "lintian"
# lintian exits non-zero for errors; --fail-on warning makes an unfixed, unoverridden
# warning count too.
if lintian --fail-on error,warning --display-info "$out"/wxtokend_*.deb "$out"/libwxshm*.deb \
	"$out"/python3-wxshm_*.deb >"$out/lintian.log" 2>&1; then
	lrc=0
else
	lrc=$?
fi
grep -v '^N: ' "$out/lintian.log" | grep -v 'running with root privileges' || true
if [ "$lrc" -ne 0 ]; then
	echo "lintian: errors or warnings (exit $lrc)"
	exit 1
fi
echo "lintian: no errors, no warnings"
