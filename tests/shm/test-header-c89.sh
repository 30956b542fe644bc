#!/bin/sh
# test-header-c89.sh: wxshm.h compiles as strict C89 and as C++, with every warning an error.
set -eu
hdr_dir="${top_srcdir:-.}/libwxshm"
cc="${CC:-cc}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/use.c" <<'C'
#include "wxshm.h"
int main(void)
{
        wxshm *h;
        wxshm_info info;
        char buf[WXSHM_TOKEN_MAX + 1];
        info.size = sizeof(info);
        if (wxshm_open(&h, "app") < 0)
                return 1;
        (void)wxshm_read(h, buf, sizeof(buf), &info);
        wxshm_close(h);
        return wxshm_state_name(WXSHM_STATE_FRESH)[0] == 'f' ? 0 : 1;
}
C
$cc -std=c89 -pedantic-errors -Wall -Wextra -Werror -I"$hdr_dir" -c "$tmp/use.c" -o "$tmp/use.o"
if command -v c++ >/dev/null; then
        cp "$tmp/use.c" "$tmp/use.cc"
        c++ -std=c++98 -pedantic-errors -Wall -Wextra -Werror -I"$hdr_dir" -c "$tmp/use.cc" -o "$tmp/use-cc.o"
fi
echo "wxshm.h is C89- and C++-clean"
