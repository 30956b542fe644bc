#!/bin/sh
# test-file-sizes.sh: no .c file in agent/ (with its subdirectories) or libwxshm/ is over 500 lines.
#
# A file a newcomer can read in one sitting holds one concern; past 500 lines it holds
# two, and the second should have a name of its own (issue 12). Tests may be longer.
# Exit 0 pass, 1 fail, 99 hard error.
set -u
srcdir=${top_srcdir:-$(dirname "$0")/..}
max=500
status=0
n=0

for d in agent libwxshm; do
        if [ ! -d "$srcdir/$d" ]; then
                echo "HARD: no $srcdir/$d (set top_srcdir)" >&2
                exit 99
        fi
done
for f in $(cd "$srcdir" && find agent libwxshm -type f -name '*.c' ! -name 'test-*.c' | LC_ALL=C sort); do
        lines=$(wc -l <"$srcdir/$f")
        n=$((n + 1))
        if [ "$lines" -gt "$max" ]; then
                echo "FAIL: $f has $lines lines, over $max: split it by concern" >&2
                status=1
        fi
done
if [ "$n" -eq 0 ]; then
        echo "HARD: no .c file found under $srcdir/agent or $srcdir/libwxshm" >&2
        exit 99
fi
[ "$status" -eq 0 ] && echo "all $n .c files of agent/ and libwxshm/ have at most $max lines"
exit "$status"
