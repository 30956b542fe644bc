#!/bin/sh
# test-wire-doc.sh: every error code in libwxshm/wire.h is documented in the README and wxtokend(8), and its name grammar in doc/segment.md and the man pages.
#
# wire.h is the one definition of the control protocol's codes; a code added there and not
# to the manual is one a client author cannot handle. It is also the one definition of the
# item name grammar, which every binding re-implements from doc/segment.md: a limit changed
# in one place and not the other is a name one side refuses. Exit 0 pass, 1 fail, 99 hard error.
set -u
srcdir=${top_srcdir:-$(dirname "$0")/..}
wire=$srcdir/libwxshm/wire.h
readme=$srcdir/README.md
man=$srcdir/doc/man/wxtokend.8
status=0

segdoc=$srcdir/doc/segment.md
libman=$srcdir/doc/man/libwxshm.3
header=$srcdir/libwxshm/wxshm.h

for f in "$wire" "$readme" "$man" "$segdoc" "$libman" "$header"; do
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

# The name grammar: [A-Za-z0-9_-]{1,BASE}, optionally "." and [A-Za-z0-9_-]{1,SUFFIX} (one more dot inside allowed).
base=$(sed -n 's/^#define WIRE_NAME_BASE_MAX \([0-9][0-9]*\).*/\1/p' "$wire")
suffix=$(sed -n 's/^#define WIRE_NAME_SUFFIX_MAX \([0-9][0-9]*\).*/\1/p' "$wire")
if [ -z "$base" ] || [ -z "$suffix" ]; then
        echo "HARD: no WIRE_NAME_BASE_MAX or WIRE_NAME_SUFFIX_MAX in $wire: has its #define style changed?" >&2
        exit 99
fi
app_re="[A-Za-z0-9_-]{1,$base}"
suffix_re="[A-Za-z0-9_-]{1,$suffix}"
longest=$((base + 1 + suffix))
if ! grep -qF "#define WIRE_NAME_GRAMMAR \"$app_re with an optional .$suffix_re (one more dot inside allowed)\"" "$wire"; then
        echo "FAIL: WIRE_NAME_GRAMMAR in $wire does not say $app_re with an optional .$suffix_re (one more dot inside allowed)" >&2
        status=1
fi
for f in "$segdoc" "$libman" "$man" "$header"; do
        # roff writes "-" as "\-"; the grammar is compared without the backslashes.
        text=$(sed 's/\\-/-/g' "$f")
        for re in "$app_re" "$suffix_re"; do
                if ! printf '%s\n' "$text" | grep -qF "$re"; then
                        echo "FAIL: $f does not state the name grammar's $re (libwxshm/wire.h): update it" >&2
                        status=1
                fi
        done
done
if ! grep -q "longest name is $longest bytes" "$segdoc"; then
        echo "FAIL: $segdoc does not say the longest name is $longest bytes" >&2
        status=1
fi
[ "$status" -eq 0 ] && echo "the name grammar ($app_re, .$suffix_re) is the same in wire.h and the docs"
exit "$status"
