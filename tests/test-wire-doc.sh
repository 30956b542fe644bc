#!/bin/sh
# test-wire-doc.sh: every error code in libwxshm/wire.h is documented in the README and wxtokend(8).
#
# wire.h is the one definition of the control protocol's codes; a code added there and not
# to the manual is one a client author cannot handle. Exit 0 pass, 1 fail, 99 hard error.
set -u
srcdir=${top_srcdir:-$(dirname "$0")/..}
wire=$srcdir/libwxshm/wire.h
readme=$srcdir/README.md
man=$srcdir/doc/man/wxtokend.8
status=0

for f in "$wire" "$readme" "$man"; do
        if [ ! -r "$f" ]; then
                echo "HARD: cannot read $f (set top_srcdir)" >&2
                exit 99
        fi
done
codes=$(sed -n 's/^#define PROTO_E_[A-Z_]*[[:space:]]*"\([a-z_]*\)".*/\1/p' "$wire")
n=$(echo "$codes" | grep -c .)
# Fewer than the 14 codes of today means the pattern above no longer reads wire.h.
if [ "$n" -lt 14 ]; then
        echo "HARD: found $n codes in $wire, expected at least 14: has its #define style changed?" >&2
        exit 99
fi
for c in $codes; do
        if ! grep -q "\`$c\`" "$readme"; then
                echo "FAIL: error code '$c' (libwxshm/wire.h) is not in README.md's list of codes: add \`$c\` there" >&2
                status=1
        fi
        if ! grep -qx "\.B $c" "$man"; then
                echo "FAIL: error code '$c' (libwxshm/wire.h) has no '.B $c' entry in doc/man/wxtokend.8: add one" >&2
                status=1
        fi
done
[ "$status" -eq 0 ] && echo "all $n error codes of wire.h are documented"
exit "$status"
