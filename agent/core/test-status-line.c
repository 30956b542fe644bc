/* test-status-line.c: the STATUS= line: what outranks what, the cluster's words, and the cut at its size. */
#include <string.h>

#include "check.h"
#include "status-line.h"

static const char *line_of(struct status_line s) {
        static char buf[STATUS_LINE_MAX];

        memset(buf, 'x', sizeof(buf));
        status_line_format(&s, buf);
        return buf;
}

int main(void) {
        char advice[600];

        CHECK(!strcmp(line_of((struct status_line){ .fresh = 2, .apps = 3, .cluster = "" }), "2 of 3 apps fresh"),
              "all well");
        CHECK(!strcmp(line_of((struct status_line){ .fresh = 3, .apps = 3, .cluster = "; Redis unreachable" }),
                      "3 of 3 apps fresh; Redis unreachable"), "the cluster's words");
        CHECK(!strcmp(line_of((struct status_line){ .fresh = 1, .apps = 2, .bad_app = "shop", .bad_errcode = 40164,
                                                    .bad_since = "09:15", .bad_advice = "whitelist 1.2.3.4",
                                                    .cluster = "" }),
                      "1 of 2 apps fresh; app shop: errcode 40164 since 09:15, whitelist 1.2.3.4"), "a failing app");
        /* An item that could not start outranks a state file, which is said before the app's advice. */
        CHECK(!strcmp(line_of((struct status_line){ .fresh = 1, .apps = 1, .failed = 2, .failed_why = "cannot open",
                                                    .unsaved_name = "shop", .unsaved_why = "No space" }),
                      "1 of 1 apps fresh; 2 items could not start: cannot open"), "could not start first");
        CHECK(!strcmp(line_of((struct status_line){ .fresh = 1, .apps = 1, .unsaved_name = "shop",
                                                    .unsaved_why = "No space left on device" }),
                      "1 of 1 apps fresh; shop: state file not saved: No space left on device"), "unsaved");
        /* Too long: cut, ending in "...", within the size. */
        memset(advice, 'a', sizeof(advice) - 1);
        advice[sizeof(advice) - 1] = '\0';
        {
                const char *l = line_of((struct status_line){ .fresh = 0, .apps = 1, .bad_app = "shop",
                                                              .bad_errcode = -1, .bad_since = "10:00",
                                                              .bad_advice = advice });
                size_t n = strlen(l);

                CHECK(n == STATUS_LINE_MAX - 1 && !strcmp(l + n - 3, "..."), "cut at %zu with ...", n);
        }
        return check_exit_code();
}
