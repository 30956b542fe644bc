/* metrics.h: the agent's metrics: a snapshot of its apps and items, as Prometheus text (wire/metrics-text.c). */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

struct services;

/* The exposition now (malloc'd, *len bytes and a NUL), or NULL if out of memory. No token, no secret. */
char *metrics_compose(const struct services *a, size_t *len);

/* The HTTP listener of metrics_listen (agent/io/metrics-http.c), as the config asks. */
struct metrics_listener;

/*
 * Start, move or stop *l so it matches a->config->metrics_listen (at start and at each
 * reload; unchanged: untouched). 0, or -errno with why in err (the old listener stays).
 */
int metrics_listener_apply(struct metrics_listener **l, struct services *a, char *err, size_t err_size);

void metrics_listener_free(struct metrics_listener *l);

#endif
