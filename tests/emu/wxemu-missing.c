/* wxemu-missing.c: wxemu when configure found no libmicrohttpd: says what is missing and exits 77, so tests that need wxemu skip. */
#include <stdio.h>

int main(void) {
        /* The one line a skipping test shows: what is missing and how to get it. */
        fprintf(stderr, "wxemu, the WeChat stand-in, was not built: libmicrohttpd was missing at configure time "
                        "(apt-get install libmicrohttpd-dev, then configure again)\n");
        return 77;
}
