/* metrics-http.h: metrics_listen: /metrics, /healthz and /readyz over HTTP, libmicrohttpd driven by sd-event. */
#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

struct metrics_http;

/* What the listener asks the agent for, at each request. */
struct metrics_http_ops {
        char *(*text)(void *userdata, size_t *len);     /* the exposition (malloc'd), NULL if out of memory */
        int (*health)(void *userdata);                  /* a Nagios code: 0-1 is 200, else 503 */
        bool (*ready)(void *userdata);                  /* READY=1 was sent */
};

/*
 * Listen on address ("127.0.0.1:9187", "[::1]:9187") in the loop: no thread, the
 * daemon's epoll descriptor watched by an sd-event source, its timeouts by a timer.
 * 0, or -errno with why in err.
 */
int metrics_http_new(struct metrics_http **ret, sd_event *loop, const char *address,
                     const struct metrics_http_ops *ops, void *userdata, char *err, size_t err_size);

void metrics_http_free(struct metrics_http *h);

/* Split "HOST:PORT" or "[HOST]:PORT" into a socket address: 0, or -EINVAL. */
struct sockaddr_storage;
int metrics_http_address(const char *address, struct sockaddr_storage *sa);

#endif
