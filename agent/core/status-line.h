/* status-line.h: the agent's one-line STATUS= for systemd, composed from what the manager counted: pure. */
#ifndef CORE_STATUS_LINE_H
#define CORE_STATUS_LINE_H

#include <stddef.h>

#define STATUS_LINE_MAX 384

/* What the line says, gathered by the manager (NULL or 0 where there is nothing to say). */
struct status_line {
        size_t fresh, apps;             /* apps with a token and no failure, of all */
        size_t failed;                  /* items that could not start */
        const char *failed_why;         /* the first one's reason */
        const char *unsaved_name;       /* the first item whose state file could not be written */
        const char *unsaved_why;
        const char *bad_app;            /* the first app whose token fails */
        long bad_errcode;
        const char *bad_since;          /* "HH:MM", local time */
        const char *bad_advice;
        const char *cluster;            /* the cluster's words, "" outside cluster mode */
};

/*
 * Write the line into buf (STATUS_LINE_MAX bytes): "N of M apps fresh", then what is
 * most wrong. Stable words only, so a failure that repeats gives the same line (systemd
 * hears one message per change). A line too long ends in "...".
 */
void status_line_format(const struct status_line *s, char *buf);

#endif
