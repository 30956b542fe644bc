/* status-line.c: the agent's one-line STATUS= for systemd, composed from what the manager counted: pure. */
#include <stdio.h>
#include <string.h>

#include "status-line.h"

static const char *or_empty(const char *s) {
        return s ? s : "";
}

void status_line_format(const struct status_line *s, char *buf) {
        char head[STATUS_LINE_MAX];
        int n;

        /* An item that could not start outranks all else: nothing serves it. */
        if (s->failed)
                snprintf(head, sizeof(head), "%zu of %zu apps fresh; %zu items could not start: %s", s->fresh, s->apps,
                         s->failed, or_empty(s->failed_why));
        /* A state file that cannot be written is said early: a long advice may be cut, this may not. */
        else if (s->unsaved_name)
                snprintf(head, sizeof(head), "%zu of %zu apps fresh; %s: state file not saved: %s", s->fresh, s->apps,
                         s->unsaved_name, or_empty(s->unsaved_why));
        else
                snprintf(head, sizeof(head), "%zu of %zu apps fresh", s->fresh, s->apps);
        /* The cluster's words go in both branches: a failing app is likely when Redis is away too. */
        if (s->bad_app)
                n = snprintf(buf, STATUS_LINE_MAX, "%s; app %s: errcode %ld since %s, %s%s", head, s->bad_app,
                             s->bad_errcode, or_empty(s->bad_since), or_empty(s->bad_advice), or_empty(s->cluster));
        else
                n = snprintf(buf, STATUS_LINE_MAX, "%s%s", head, or_empty(s->cluster));
        if (n >= STATUS_LINE_MAX)
                memcpy(buf + STATUS_LINE_MAX - 4, "...", 4);
}
