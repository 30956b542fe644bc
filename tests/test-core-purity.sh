#!/bin/sh
# test-core-purity.sh: the core (agent/core/libwxcore.la) calls only the libc functions listed here: no clock, no I/O.
#
# The core decides; the shell around it reads clocks, sockets, files and Redis and hands it
# the results. That stays true only if it is checked: every symbol the core's objects leave
# undefined (nm -u) must be on the allowlist below. The clock, I/O and randomness and the
# libraries of the shell (sd_*, curl_*, redis*, cJSON_*) are named as forbidden outright,
# so the message says why. Exit 0 pass, 1 fail, 99 hard error (not built, no nm).
#
#   test-core-purity.sh [ARCHIVE]   default: $top_builddir/agent/core/.libs/libwxcore.a
set -u

# libc functions the core may call: string and memory work, formatting and parsing into
# buffers, allocation, addresses as text. Add a pure function here when the core needs it.
ALLOWED="memcpy memmove memcmp memset memchr strlen strnlen strcmp strncmp strcpy strncpy strcat strncat
strchr strrchr strstr strpbrk strspn strcspn strdup strndup strtol strtoll strtoul strtoull
snprintf vsnprintf sscanf malloc calloc realloc free qsort bsearch abs labs llabs
inet_pton inet_ntop __errno_location __ctype_b_loc __ctype_tolower_loc __ctype_toupper_loc
__assert_fail abort __stack_chk_fail __stack_chk_guard _GLOBAL_OFFSET_TABLE_"
# What compilers and sanitizers add (the ASan, UBSan, TSan and coverage builds).
ALLOWED_PREFIXES="__asan_ __ubsan_ __tsan_ __msan_ __sanitizer_ __gcov_ __llvm_"
# Forbidden by name: the clock is an input, and the core does no I/O and draws no random numbers.
FORBIDDEN="clock_gettime clock time gettimeofday timespec_get localtime localtime_r gmtime gmtime_r mktime
open openat creat close read write pread pwrite send sendto sendmsg recv recvfrom recvmsg socket connect
fopen fclose fread fwrite printf fprintf puts fputs syslog
rand rand_r srand random srandom getrandom getentropy arc4random"
FORBIDDEN_PREFIXES="sd_ curl_ redis cJSON_"

lib=${1:-${top_builddir:-.}/agent/core/.libs/libwxcore.a}
if [ ! -f "$lib" ]; then
        echo "HARD: no $lib: build agent/core/libwxcore.la first" >&2
        exit 99
fi
if ! command -v nm >/dev/null 2>&1; then
        echo "HARD: nm not found (binutils)" >&2
        exit 99
fi
out=$(nm -u "$lib") || { echo "HARD: nm -u $lib failed" >&2; exit 99; }
# The core's own functions, called from one of its objects by another, are the core.
DEFINED=$(nm --defined-only -g "$lib" | awk 'NF == 3 { print $3 }')

# nm prints "OBJECT.o:" before each object's symbols, "U NAME" for each undefined one.
printf '%s\n' "$out" | awk -v lib="$lib" -v allowed="$ALLOWED $DEFINED" -v allowed_pre="$ALLOWED_PREFIXES" \
    -v forbidden="$FORBIDDEN" -v forbidden_pre="$FORBIDDEN_PREFIXES" '
function has_prefix(s, list,   n, p, i) {
        n = split(list, p, /[ \t\n]+/)
        for (i = 1; i <= n; i++) if (p[i] != "" && index(s, p[i]) == 1) return 1
        return 0
}
BEGIN {
        n = split(allowed, a, /[ \t\n]+/); for (i = 1; i <= n; i++) ok[a[i]] = 1
        n = split(forbidden, a, /[ \t\n]+/); for (i = 1; i <= n; i++) bad[a[i]] = 1
}
/:$/ { obj = substr($0, 1, length($0) - 1); objects++; next }
$1 == "U" || $1 == "w" {
        sym = $2; sub(/@.*/, "", sym)
        # What glibc and _FORTIFY_SOURCE call in place of a function are that function:
        # __memcpy_chk is memcpy, __isoc23_strtol is strtol.
        base = sym
        if (base ~ /^__.*_chk$/) { base = substr(base, 3); base = substr(base, 1, length(base) - 4) }
        sub(/^__isoc(99|23)_/, "", base)
        symbols++
        where = lib "(" obj ")"
        if ((base in bad) || has_prefix(base, forbidden_pre)) {
                printf "FAIL: %s uses %s: forbidden in the core (the clock, I/O and randomness are the shell'"'"'s; so are sd_, curl_, redis and cJSON_)\n", where, sym
                fails++
        } else if (!(base in ok) && !has_prefix(sym, allowed_pre)) {
                printf "FAIL: %s uses %s: not on the core'"'"'s libc allowlist (tests/test-core-purity.sh); if it is pure, add it there\n", where, sym
                fails++
        }
}
END {
        if (!objects) { printf "HARD: nm -u %s listed no object\n", lib; exit 99 }
        printf "%s: %d objects, %d undefined symbols, %d not allowed\n", lib, objects, symbols, fails
        exit fails > 0
}'
