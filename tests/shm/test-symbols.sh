#!/bin/sh
# test-symbols.sh: the symbols libwxshm.so exports are exactly those of libwxshm.sym.
set -eu
lib="${top_builddir:-.}/libwxshm/.libs/libwxshm.so"
map="${top_srcdir:-.}/libwxshm/libwxshm.sym"
[ -f "$lib" ] || { echo "no $lib (built with --disable-shared?)"; exit 77; }
command -v nm >/dev/null || { echo "nm not found (binutils)"; exit 99; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Exported: defined dynamic symbols, less the version node itself.
nm -D --defined-only "$lib" | awk '$3 != "" && $3 !~ /^WXSHM_/ {print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
# Listed: the names between "global:" and "local:".
sed -n '/global:/,/local:/p' "$map" | grep -o 'wxshm_[A-Za-z0-9_]*' | sort -u >"$tmp/listed"
if ! diff -u "$tmp/listed" "$tmp/exported"; then
        echo "exports of $lib differ from $map (- listed only, + exported only)"
        exit 1
fi
# Every exported symbol carries the version node.
if nm -D --defined-only "$lib" | awk '$3 ~ /^wxshm_/' | grep -v '@@WXSHM_1' ; then
        echo "symbols above are not versioned WXSHM_1"
        exit 1
fi
echo "$(wc -l <"$tmp/exported") symbols exported, all in $map"
