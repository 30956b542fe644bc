#!/bin/sh
# test-include-graph.sh: agent/'s #include graph has no circle, no include of the shell from below, none of main.
#
#   test-include-graph.sh        the test: a fixture with a circle must be rejected, then agent/ checked
#   test-include-graph.sh DIR    check DIR only (exit 0 clean, 1 findings, 99 hard error)
#
# Why: a circle of includes is a circle of knowledge. Once app.c includes cluster.h and
# cluster.c includes app.h, neither can be read, tested or changed alone; the core
# (agent/core/) must stay testable with libc alone; and only the shell may know the
# shell. The rules, over the #include "..." lines of every .c and .h under DIR:
#
#   a module is a .c with the .h of the same basename, and both files' includes count.
#   A file with no twin whose name has a prefix before its first '-' naming a module in the
#   same directory belongs to that module: app-mirror.c, app-persist.c and app-internal.h
#   are parts of app, cluster-conn.c and cluster-internal.h of cluster, upstream-parse.c of
#   upstream (they implement its header). A file with a twin of its own (cluster-record.c
#   and .h, redis-event.c and .h) has an interface of its own, so it is its own module. A
#   header with no .c is its own module (agent, clock). Subdirectories' modules are named
#   with their directory (core/schedule).
#
#   (a) no circle among modules;
#   (b) no module below the shell includes a shell module (SHELL_MODULES below);
#   (c) no module includes a module that holds main();
#   (d) nothing in core/ includes anything outside core/ except CORE_ALLOWED (type-only
#       headers) and the libc headers of CORE_LIBC.
#
# "x.h" is resolved as the compiler does for the agent: the including file's directory,
# then DIR, then its subdirectories (-I agent -I agent/core ...). A name found nowhere
# under DIR (wire.h, wxshm.h: libwxshm's) is outside the graph: libwxshm includes nothing
# of the agent, so it cannot close a circle.
set -u

# The manager and main: they alone may know every other module.
SHELL_MODULES="wxtokend agent manager"
# What core/ may include from outside core/: headers of types and constants only.
CORE_ALLOWED="config.h upstream.h wxshm.h wire.h"
# libc headers the core may include (the nm check of test-core-purity.sh holds what it calls).
CORE_LIBC="syslog.h assert.h ctype.h errno.h inttypes.h limits.h stdalign.h stdarg.h stdbool.h stddef.h stdint.h
stdio.h stdlib.h string.h strings.h arpa/inet.h netinet/in.h sys/types.h"

check() {
        dir=$1
        if [ ! -d "$dir" ]; then
                echo "HARD: $dir is not a directory" >&2
                return 99
        fi
        # Paths print as NAME/file.c (agent/app.c), whatever the build directory is.
        cd "$dir/.." || return 99
        name=$(basename "$dir")
        files=$(find "$name" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
        if [ -z "$files" ]; then
                echo "HARD: no .c or .h file under $dir" >&2
                return 99
        fi
        # shellcheck disable=SC2086 # one argument per file; the names have no blanks
        awk -v root="$name" -v shell_list="$SHELL_MODULES" -v core_allowed="$CORE_ALLOWED" \
            -v core_libc="$CORE_LIBC" -f - $files <<'AWK'
function dirname_of(p,   i) { i = match(p, /\/[^\/]*$/); return i ? substr(p, 1, i - 1) : "" }
function base_of(p) { sub(/^.*\//, "", p); return p }
function stem_of(p) { p = base_of(p); sub(/\.[ch]$/, "", p); return p }
# a/b/../c.h -> a/c.h; ./x.h -> x.h
function normalize(p,   n, parts, out, i, k, o) {
        n = split(p, parts, "/"); k = 0
        for (i = 1; i <= n; i++) {
                if (parts[i] == "" || parts[i] == ".") continue
                if (parts[i] == ".." && k > 0) { k--; continue }
                out[++k] = parts[i]
        }
        o = ""
        for (i = 1; i <= k; i++) o = o (i > 1 ? "/" : "") out[i]
        return o
}
# The module a file belongs to (its path without the extension, grouped as the header says).
function module_of(p,   d, s, pre, m) {
        d = dirname_of(p); s = stem_of(p)
        if (!((d "/" s ".c") in known && (d "/" s ".h") in known) && index(s, "-") > 1) {
                pre = substr(s, 1, index(s, "-") - 1)
                if ((d "/" pre ".c") in known || (d "/" pre ".h") in known) s = pre
        }
        m = d "/" s
        return substr(m, length(root) + 2)
}
# The file under root an include names, "" if none; ambiguous names are reported.
function resolve(from, inc,   d, c, hits, first, i) {
        c = normalize(dirname_of(from) "/" inc)
        if (c in known) return c
        hits = 0; first = ""
        for (i = 1; i <= ndirs; i++) {
                c = normalize(dirs[i] "/" inc)
                if (c in known) { hits++; if (first == "") first = c; else other = c }
        }
        if (hits > 1) finding("ambiguous", from ": \"" inc "\" names both " first " and " other " (rename one)")
        return first
}
function finding(kind, text) { nfind[kind]++; found[kind, nfind[kind]] = text; total++ }
function is_in(word, list,   n, w, i) {
        n = split(list, w, /[ \t\n]+/)
        for (i = 1; i <= n; i++) if (w[i] == word) return 1
        return 0
}

FNR == 1 { nfiles++; file[nfiles] = FILENAME; known[FILENAME] = 1
           d = dirname_of(FILENAME); if (!(d in isdir)) { isdir[d] = 1; dirlist = dirlist " " d } }
/^[ \t]*#[ \t]*include[ \t]*"/ {
        inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*$/, "", inc)
        n_inc++; inc_file[n_inc] = FILENAME; inc_line[n_inc] = FNR; inc_name[n_inc] = inc; inc_quoted[n_inc] = 1
}
/^[ \t]*#[ \t]*include[ \t]*</ {
        inc = $0; sub(/^[^<]*</, "", inc); sub(/>.*$/, "", inc)
        n_inc++; inc_file[n_inc] = FILENAME; inc_line[n_inc] = FNR; inc_name[n_inc] = inc; inc_quoted[n_inc] = 0
}
/^(static[ \t]+)?int[ \t]+main[ \t]*\(/ { holds_main[FILENAME] = 1 }

END {
        # Search order: root first, then the subdirectories in name order (sorted input).
        ndirs = split(substr(dirlist, 2), dirs, " ")
        for (i = 1; i <= ndirs; i++) if (dirs[i] == root) { dirs[i] = dirs[1]; dirs[1] = root }
        for (i = 1; i <= nfiles; i++) {
                m = module_of(file[i])
                if (!(m in is_mod)) { is_mod[m] = 1; mods[++nmods] = m }
                if (file[i] in holds_main) main_mod[m] = file[i]
        }
        ncore = split(core_allowed, allowed_arr, /[ \t\n]+/)
        for (i = 1; i <= n_inc; i++) {
                f = inc_file[i]; where = f ":" inc_line[i]
                in_core = index(f, root "/core/") == 1
                if (!inc_quoted[i]) {
                        if (in_core && !is_in(inc_name[i], core_libc))
                                finding("core", where ": <" inc_name[i] "> is not one of the libc headers the core may use")
                        continue
                }
                t = resolve(f, inc_name[i])
                # The core's unit tests may use the one check dialect (tests/lib/check.h, libc only).
                if (in_core && f ~ /\/test-[^\/]*\.c$/ && inc_name[i] == "check.h") continue
                if (in_core && index(t, root "/core/") != 1 && !is_in(substr(t, length(root) + 2), core_allowed) && !is_in(inc_name[i], core_allowed))
                        finding("core", where ": \"" inc_name[i] "\" is outside " root "/core/ (allowed: " core_allowed ")")
                if (t == "") continue
                u = module_of(f); v = module_of(t)
                if (u == v) continue
                if (!((u, v) in edge)) { edge[u, v] = where " #include \"" inc_name[i] "\""; nadj[u]++; adj[u, nadj[u]] = v }
                if (is_in(v, shell_list) && !is_in(u, shell_list))
                        finding("shell", where ": module " u " includes \"" inc_name[i] "\" of the shell module " v)
                if (v in main_mod)
                        finding("main", where ": module " u " includes \"" inc_name[i] "\" of " v ", which holds main() (" main_mod[v] ")")
        }
        # (a) Reachability from every module (a few dozen: breadth-first n times is nothing).
        for (i = 1; i <= nmods; i++) {
                s = mods[i]; head = 1; tail = 1; queue[1] = s; delete seen; seen[s] = 1
                while (head <= tail) {
                        x = queue[head++]
                        for (k = 1; k <= nadj[x]; k++) {
                                y = adj[x, k]; reach[s, y] = 1
                                if (!(y in seen)) { seen[y] = 1; queue[++tail] = y }
                        }
                }
        }
        # Each circle: the shortest one from the first member (in name order) not yet shown.
        for (i = 1; i <= nmods; i++) {
                s = mods[i]
                if (!((s, s) in reach) || (s in shown)) continue
                head = 1; tail = 1; queue[1] = s; delete parent; delete seen; seen[s] = 1; last = ""
                while (head <= tail && last == "") {
                        x = queue[head++]
                        for (k = 1; k <= nadj[x]; k++) {
                                y = adj[x, k]
                                if (y == s) { last = x; break }
                                if (!(y in seen) && ((y, s) in reach)) { seen[y] = 1; parent[y] = x; queue[++tail] = y }
                        }
                }
                path = s; detail = "        " last " -> " s ": " edge[last, s]; shown[s] = 1
                for (x = last; x != s; x = parent[x]) {
                        path = x " -> " path; shown[x] = 1
                        detail = "        " parent[x] " -> " x ": " edge[parent[x], x] "\n" detail
                }
                finding("circle", s " -> " path "\n" detail)
        }
        split("circle shell main core ambiguous", kinds, " ")
        title["circle"] = "include circle among modules of " root "/"
        title["shell"] = "a module below the shell includes a shell module (" shell_list ")"
        title["main"] = "a module includes the one that holds main()"
        title["core"] = root "/core/ includes something outside it"
        title["ambiguous"] = "an include name found in two directories"
        for (k = 1; k <= 5; k++)
                for (i = 1; i <= nfind[kinds[k]]; i++)
                        printf "FAIL: %s: %s\n", title[kinds[k]], found[kinds[k], i]
        # The circles above share modules: name each knot (strongly connected set) once, whole.
        for (i = 1; i <= nmods; i++) {
                s = mods[i]
                if (!((s, s) in reach) || (s in knotted)) continue
                list = ""; n = 0
                for (k = i; k <= nmods; k++)
                        if (((s, mods[k]) in reach) && ((mods[k], s) in reach)) {
                                knotted[mods[k]] = 1; list = list " " mods[k]; n++
                        }
                printf "NOTE: %d modules tied in one knot:%s\n", n, list
        }
        ne = 0
        for (i = 1; i <= nmods; i++) ne += nadj[mods[i]]
        printf "%s/: %d files, %d modules, %d module edges, %d findings\n", root, nfiles, nmods, ne, total
        exit total > 0
}
AWK
}

if [ $# -gt 0 ]; then
        check "$1"
        exit $?
fi

srcdir=${top_srcdir:-$(dirname "$0")/..}
# The checker must bite: the fixture's circle a -> b -> c -> a is rejected and named.
out=$(check "$srcdir/tests/fixtures/include-cycle")
r=$?
# A missing fixture (not in the tarball) is a broken test, not a verdict.
[ "$r" -eq 99 ] && { printf '%s\n' "$out"; exit 99; }
if [ "$r" -ne 1 ] || ! printf '%s\n' "$out" | grep -q 'include circle.*: a -> b -> c -> a$'; then
        printf '%s\n' "$out"
        echo "FAIL: the checker did not reject tests/fixtures/include-cycle with the circle a -> b -> c -> a (exit $r)" >&2
        exit 1
fi
echo "ok: tests/fixtures/include-cycle rejected, circle a -> b -> c -> a named"
# The other rules, on a fixture that breaks each once.
out=$(check "$srcdir/tests/fixtures/include-layers")
r=$?
[ "$r" -eq 99 ] && { printf '%s\n' "$out"; exit 99; }
for want in 'below the shell.*low.c:2: module low includes "agent.h" of the shell module agent' \
            'holds main().*agent.h:2: module agent includes "wxtokend.h" of wxtokend' \
            'outside it: include-layers/core/pure.c:3: "low.h" is outside' \
            'outside it: include-layers/core/pure.c:5: <curl/curl.h> is not one of the libc'; do
        if ! printf '%s\n' "$out" | grep -q "$want"; then
                printf '%s\n' "$out"
                echo "FAIL: the checker did not report /$want/ on tests/fixtures/include-layers" >&2
                exit 1
        fi
done
if [ "$r" -ne 1 ] || [ "$(printf '%s\n' "$out" | grep -c '^FAIL')" -ne 4 ]; then
        printf '%s\n' "$out"
        echo "FAIL: tests/fixtures/include-layers: expected exactly the 4 findings above (exit $r)" >&2
        exit 1
fi
echo "ok: tests/fixtures/include-layers: shell, main and core rules each rejected once"
check "$srcdir/agent"
