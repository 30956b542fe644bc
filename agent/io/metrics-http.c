/* metrics-http.c: metrics_listen: /metrics, /healthz and /readyz over HTTP, libmicrohttpd driven by sd-event. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "metrics-http.h"

#define METRICS_HTTP_CONNECTIONS 32     /* scrapers are few: a flood waits, it does not grow the agent */
#define METRICS_HTTP_TIMEOUT_S 10

struct metrics_http {
        struct MHD_Daemon *d;
        sd_event_source *io, *timer;
        const struct metrics_http_ops *ops;
        void *userdata;
};

int metrics_http_address(const char *address, struct sockaddr_storage *sa) {
        char host[64];
        const char *colon, *h = address;
        size_t hlen;
        char *end;
        long port;

        memset(sa, 0, sizeof(*sa));
        colon = strrchr(address, ':');
        if (!colon)
                return -EINVAL;
        hlen = (size_t)(colon - address);
        if (hlen >= 2 && address[0] == '[' && address[hlen - 1] == ']') {
                h = address + 1;
                hlen -= 2;
        }
        if (hlen == 0 || hlen >= sizeof(host))
                return -EINVAL;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
                return -EINVAL;
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *)sa)->sin_addr) == 1) {
                ((struct sockaddr_in *)sa)->sin_family = AF_INET;
                ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
                return 0;
        }
        if (h != address && inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)sa)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *)sa)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
                return 0;
        }
        return -EINVAL;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                             const char *type) {
        struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        enum MHD_Result ret;

        if (!r) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text) {
        char *body = strdup(text);

        return body ? reply(conn, status, body, strlen(body), "text/plain; charset=utf-8") : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        struct metrics_http *h = cls;
        char line[64];
        size_t len = 0;
        char *text;
        int code;

        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
        /* A request with a body is answered once it is read (there is none to read for GET). */
        if (*upload_data_size) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (!strcmp(url, "/metrics")) {
                text = h->ops->text(h->userdata, &len);
                if (!text)
                        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
                return reply(conn, MHD_HTTP_OK, text, len, "text/plain; version=0.0.4; charset=utf-8");
        }
        if (!strcmp(url, "/healthz")) {
                code = h->ops->health(h->userdata);
                snprintf(line, sizeof(line), "%s (status %d)\n", code <= 1 ? "ok" : "unhealthy", code);
                return reply_text(conn, code <= 1 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, line);
        }
        if (!strcmp(url, "/readyz")) {
                bool ready = h->ops->ready(h->userdata);

                return reply_text(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                                  ready ? "ready\n" : "not ready\n");
        }
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: /metrics, /healthz, /readyz\n");
}

/* After each run: wake again when MHD says (it has work now: 0 ms), or not before the next I/O. */
static void arm(struct metrics_http *h) {
        MHD_UNSIGNED_LONG_LONG ms;

        if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
                sd_event_source_set_time_relative(h->timer, ms * 1000);
                sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
        } else {
                sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct metrics_http *h = userdata;

        MHD_run(h->d);
        arm(h);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct metrics_http *h = userdata;

        MHD_run(h->d);
        arm(h);
        return 0;
}

int metrics_http_new(struct metrics_http **ret, sd_event *loop, const char *address,
                     const struct metrics_http_ops *ops, void *userdata, char *err, size_t err_size) {
        struct sockaddr_storage sa;
        const union MHD_DaemonInfo *info;
        struct metrics_http *h;
        int r;

        if (metrics_http_address(address, &sa) < 0) {
                snprintf(err, err_size, "metrics_listen: expected IPv4:PORT or [IPv6]:PORT, got '%s'", address);
                return -EINVAL;
        }
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->ops = ops;
        h->userdata = userdata;
        /* No MHD_USE_INTERNAL_POLLING_THREAD: the loop drives it, so no thread ever runs agent code. */
        h->d = MHD_start_daemon(MHD_USE_EPOLL | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, on_request, h,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_CONNECTIONS,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S,
                                MHD_OPTION_END);
        if (!h->d) {
                r = errno ? -errno : -EADDRINUSE;
                snprintf(err, err_size, "metrics_listen: cannot listen on %s: %s", address, strerror(-r));
                free(h);
                return r;
        }
        info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                snprintf(err, err_size, "metrics_listen: libmicrohttpd has no epoll descriptor");
                metrics_http_free(h);
                return -ENOTSUP;
        }
        r = sd_event_add_io(loop, &h->io, info->epoll_fd, EPOLLIN, on_io, h);
        if (r >= 0)
                r = sd_event_add_time_relative(loop, &h->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, h);
        if (r < 0) {
                snprintf(err, err_size, "metrics_listen: %s", strerror(-r));
                metrics_http_free(h);
                return r;
        }
        arm(h);
        *ret = h;
        return 0;
}

void metrics_http_free(struct metrics_http *h) {
        if (!h)
                return;
        sd_event_source_disable_unref(h->io);
        sd_event_source_disable_unref(h->timer);
        if (h->d)
                MHD_stop_daemon(h->d);
        free(h);
}
