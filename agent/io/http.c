/* http.c: non-blocking HTTP for the agent: libcurl's multi interface driven by the sd-event loop. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"

struct http {
        sd_event *loop;
        CURLM *multi;
        sd_event_source *timer;
        unsigned running;       /* calls started and not yet done */
        char *proxy;            /* NULL: no proxy at all */
        bool allow_http;
        bool burst;             /* more than one call ran at once since the last trim */
};

struct http_call {
        struct http *http;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        size_t body_len;
        char error[CURL_ERROR_SIZE];
        http_done_fn done;
        void *userdata;
};

/* One sd-event IO source per socket libcurl watches, kept as the socket's curl private data. */
static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void check_done(struct http *h) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(h->multi, &left))) {
                struct http_call *c = NULL;
                struct http_response res = { 0 };

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
                res.curl_code = msg->data.result;
                res.curl_error = c->error[0] ? c->error : curl_easy_strerror(msg->data.result);
                curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &res.status);
                res.body = c->body ? c->body : "";
                res.body_len = c->body_len;
                /* Detach before the callback: it may start a new call or free its owner. */
                curl_multi_remove_handle(h->multi, c->easy);
                c->done(c->userdata, &res);
                c->done = NULL;
                http_cancel(c);
                h->running--;
        }
        /*
         * A burst of calls (start-up, a reload) leaves libcurl's buffers of every
         * transfer in the heap; hand them back once the burst is over.
         */
        if (h->running == 0 && h->burst) {
                h->burst = false;
                malloc_trim(0);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct http *h = userdata;
        int action = 0, running;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        curl_multi_socket_action(h->multi, fd, action, &running);
        check_done(h);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct http *h = userdata;
        int running;

        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(h);
        return 0;
}

/* CURLMOPT_SOCKETFUNCTION: libcurl says which events it wants on a socket, or that it is done with it. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        struct http *h = userp;
        sd_event_source *src = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (src) {
                        sd_event_source_disable_unref(src);
                        curl_multi_assign(h->multi, fd, NULL);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (src)
                return sd_event_source_set_io_events(src, events) < 0 ? -1 : 0;
        if (sd_event_add_io(h->loop, &src, fd, events, on_io, h) < 0)
                return -1;
        curl_multi_assign(h->multi, fd, src);
        return 0;
}

/* CURLMOPT_TIMERFUNCTION: one one-shot timer, re-armed or stopped as libcurl asks. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        struct http *h = userp;
        uint64_t now;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(h->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        sd_event_now(h->loop, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(h->timer, now + (uint64_t)timeout_ms * 1000) < 0)
                return -1;
        return sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
}

int http_new(struct http **ret, sd_event *loop) {
        struct http *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return -ENOMEM;
        /*
         * libcurl's OpenSSL backend opens $SSLKEYLOGFILE in curl_global_init (vtls/keylog.c,
         * Curl_tls_keylog_open) and logs every session key there: gone before, never read.
         */
        unsetenv("SSLKEYLOGFILE");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                free(h);
                return -EIO;
        }
        h->loop = sd_event_ref(loop);
        h->multi = curl_multi_init();
        if (!h->multi) {
                r = -ENOMEM;
                goto fail;
        }
        r = sd_event_add_time(loop, &h->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer, h);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
        /*
         * Every app talks to the same one or two hosts: a few connections at once serve
         * them all (none is kept idle: see http_start).
         */
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_HOST_CONNECTIONS);
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_HOST_CONNECTIONS);
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
        curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
        *ret = h;
        return 0;
fail:
        http_free(h);
        return r;
}

void http_free(struct http *h) {
        if (!h)
                return;
        if (h->multi)
                curl_multi_cleanup(h->multi);
        sd_event_source_disable_unref(h->timer);
        sd_event_unref(h->loop);
        free(h->proxy);
        free(h);
        curl_global_cleanup();
}

int http_set_policy(struct http *h, const char *proxy, bool allow_http) {
        char *p = NULL;

        if (proxy && !(p = strdup(proxy)))
                return -ENOMEM;
        if (h->proxy)
                explicit_bzero(h->proxy, strlen(h->proxy));
        free(h->proxy);
        h->proxy = p;
        h->allow_http = allow_http;
        return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        struct http_call *c = userdata;
        size_t len = size * n;
        char *p;

        /* A body larger than any token response is refused: returning short aborts the transfer. */
        if (c->body_len + len > HTTP_BODY_MAX)
                return 0;
        p = realloc(c->body, c->body_len + len + 1);
        if (!p)
                return 0;
        memcpy(p + c->body_len, data, len);
        c->body = p;
        c->body_len += len;
        c->body[c->body_len] = '\0';
        return len;
}

int http_start(struct http *h, const struct upstream_request *req, const char *ca_pem, size_t ca_len,
               long timeout_ms, http_done_fn done, void *userdata, struct http_call **ret) {
        struct http_call *c = calloc(1, sizeof(*c));
        CURL *e;

        if (!c)
                return -ENOMEM;
        c->http = h;
        c->done = done;
        c->userdata = userdata;
        c->easy = e = curl_easy_init();
        if (!e)
                goto nomem;
        curl_easy_setopt(e, CURLOPT_URL, req->url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, h->allow_http ? "http,https" : "https");
        /*
         * The configured proxy or none: "" disables the environment's http_proxy,
         * HTTPS_PROXY and ALL_PROXY (and NOPROXY "*" says so twice), which would otherwise
         * see every request, and over http:// the secret in its URL.
         */
        curl_easy_setopt(e, CURLOPT_PROXY, h->proxy ? h->proxy : "");
        curl_easy_setopt(e, CURLOPT_NOPROXY, h->proxy ? "" : "*");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "wxtokend/" PACKAGE_VERSION);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->error);
        /*
         * A connection is never reused: libcurl silently resends a request whose reused
         * connection closes without an answer, on each pooled connection in turn, so one
         * attempt against a server that drops connections reached it up to five times
         * (tests/soak/test-soak-faults, kind=refuse), and every /cgi-bin/token request it
         * processed rotated the token and spent quota. Calls are minutes apart anyway.
         */
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(e, CURLOPT_PRIVATE, c);
        if (ca_pem) {
                struct curl_blob blob = { .data = (void *)ca_pem, .len = ca_len, .flags = CURL_BLOB_COPY };

                curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (req->body) {
                c->headers = curl_slist_append(NULL, "Content-Type: application/json");
                if (!c->headers)
                        goto nomem;
                curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
                curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body);
        }
        if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
                goto nomem;
        if (++h->running > 1)
                h->burst = true;
        if (ret)
                *ret = c;
        return 0;
nomem:
        c->done = NULL;
        http_cancel(c);
        return -ENOMEM;
}

void http_cancel(struct http_call *c) {
        if (!c)
                return;
        if (c->done) {
                curl_multi_remove_handle(c->http->multi, c->easy);
                c->http->running--;
        }
        curl_easy_cleanup(c->easy);
        curl_slist_free_all(c->headers);
        free(c->body);
        free(c);
}
