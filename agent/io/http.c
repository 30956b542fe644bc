/* http.c: non-blocking HTTP for the agent: libcurl's multi interface driven by the sd-event loop. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "admit.h"
#include "http.h"

/*
 * The agent's own queue of upstream calls. libcurl would queue what exceeds its
 * connection limits too, but its timeout runs while a transfer waits there, so a burst
 * (a cold start of thousands of apps) timed out calls that never reached the network.
 * Here a call waits in this queue, unstarted, until admit.c gives it a slot (a free one,
 * within the rate); only then is its transfer made, and its timeout starts with it.
 */
struct http {
        sd_event *loop;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *pump;  /* CLOCK_MONOTONIC: the next turn of the queue, armed while it is not empty */
        struct core_admit admit;
        struct http_call *head, *tail, *last_urgent; /* the queue: urgent calls first, each part in order */
        bool holding;           /* the agent stops: no queued call gets its turn */
        char *proxy;            /* NULL: no proxy at all */
        bool allow_http;
        bool burst;             /* more than one call ran at once since the last trim */
};

enum call_stage {
        CALL_QUEUED,            /* in the queue */
        CALL_TURN,              /* its turn: holds a slot, its owner begins or cancels it now */
        CALL_RUNNING,           /* its transfer is under way (in_multi until it ends) */
};

struct http_call {
        struct http *http;
        struct http_call *prev, *next;
        enum call_stage stage;
        bool urgent;
        bool in_multi;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        size_t body_len;
        char error[CURL_ERROR_SIZE];
        http_turn_fn turn;
        http_done_fn done;
        void *userdata;
};

static void queue_unlink(struct http_call *c) {
        struct http *h = c->http;

        if (h->last_urgent == c)
                h->last_urgent = c->prev; /* urgent ones come first: the one before is urgent too, or none is */
        if (c->prev)
                c->prev->next = c->next;
        else
                h->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                h->tail = c->prev;
        c->prev = c->next = NULL;
}

static void queue_insert(struct http_call *c) {
        struct http *h = c->http;
        struct http_call *after = c->urgent ? h->last_urgent : h->tail;

        c->prev = after;
        c->next = after ? after->next : h->head;
        if (c->next)
                c->next->prev = c;
        else
                h->tail = c;
        if (after)
                after->next = c;
        else
                h->head = c;
        if (c->urgent)
                h->last_urgent = c;
}

static uint64_t now_us(struct http *h) {
        uint64_t now = 0;

        sd_event_now(h->loop, CLOCK_MONOTONIC, &now);
        return now;
}

/* The queue's next turn: when admit.c allows one, or at the next end if every slot is taken. */
static void pump_arm(struct http *h, uint64_t at) {
        if (!h->head || h->holding || at == (uint64_t)INT64_MAX) {
                sd_event_source_set_enabled(h->pump, SD_EVENT_OFF);
                return;
        }
        sd_event_source_set_time(h->pump, at);
        sd_event_source_set_enabled(h->pump, SD_EVENT_ONESHOT);
}

/* A slot may have come free, or a call came: look again at the next iteration (never from inside a caller). */
static void pump_soon(struct http *h) {
        pump_arm(h, now_us(h));
}

static int on_pump(sd_event_source *s, uint64_t usec, void *userdata) {
        struct http *h = userdata;
        uint64_t now = now_us(h);

        while (h->head && !h->holding && core_admit_take(&h->admit, (int64_t)now)) {
                struct http_call *c = h->head;

                queue_unlink(c);
                c->stage = CALL_TURN;
                /* The owner begins the transfer, or cancels the call (which frees the slot). */
                c->turn(c->userdata, c);
        }
        pump_arm(h, (uint64_t)core_admit_when(&h->admit, (int64_t)now));
        return 0;
}

/* Everything of a call, wherever it stands: out of the queue, its transfer stopped, its slot given back. */
static void call_free(struct http_call *c) {
        struct http *h;

        if (!c)
                return;
        h = c->http;
        if (c->stage == CALL_QUEUED) {
                queue_unlink(c);
        } else {
                if (c->in_multi)
                        curl_multi_remove_handle(h->multi, c->easy);
                core_admit_done(&h->admit);
                pump_soon(h);
        }
        curl_easy_cleanup(c->easy);
        curl_slist_free_all(c->headers);
        free(c->body);
        free(c);
}

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
                /* Detach before the callback: it may queue a new call or free its owner. */
                curl_multi_remove_handle(h->multi, c->easy);
                c->in_multi = false;
                c->done(c->userdata, &res);
                call_free(c);
        }
        /*
         * A burst of calls (start-up, a reload) leaves libcurl's buffers of every
         * transfer in the heap; hand them back once the burst is over.
         */
        if (h->admit.running == 0 && !h->head && h->burst) {
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
        /* Accurate to 100 us: at 200 calls a second a turn is due every 5 ms. */
        r = sd_event_add_time(loop, &h->pump, CLOCK_MONOTONIC, UINT64_MAX, 100, on_pump, h);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(h->pump, SD_EVENT_OFF);
        core_admit_init(&h->admit, HTTP_MAX_RUNNING_DEFAULT, HTTP_PER_SECOND_DEFAULT);
        /*
         * No limit of libcurl's own: the queue above admits no more transfers than
         * max_concurrent_calls, and one that libcurl held back would time out waiting.
         * None is kept idle either (see http_begin).
         */
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
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
        /* Their owners are gone before this: whatever still waits is dropped unheard. */
        while (h->head)
                call_free(h->head);
        if (h->multi)
                curl_multi_cleanup(h->multi);
        sd_event_source_disable_unref(h->timer);
        sd_event_source_disable_unref(h->pump);
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

void http_set_limits(struct http *h, unsigned max_running, unsigned per_second) {
        core_admit_set(&h->admit, max_running, per_second);
        pump_soon(h);
}

void http_hold(struct http *h) {
        h->holding = true;
        pump_arm(h, (uint64_t)INT64_MAX);
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

int http_queue(struct http *h, bool urgent, http_turn_fn turn, http_done_fn done, void *userdata,
               struct http_call **ret) {
        struct http_call *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        *c = (struct http_call){ .http = h, .stage = CALL_QUEUED, .urgent = urgent, .turn = turn, .done = done,
                                 .userdata = userdata };
        queue_insert(c);
        pump_soon(h);
        if (ret)
                *ret = c;
        return 0;
}

void http_hurry(struct http_call *c) {
        if (!c || c->stage != CALL_QUEUED || c->urgent)
                return;
        queue_unlink(c);
        c->urgent = true;
        queue_insert(c);
}

bool http_running(const struct http_call *c) {
        return c && c->stage == CALL_RUNNING;
}

int http_begin(struct http_call *c, const struct upstream_request *req, const char *ca_pem, size_t ca_len,
               long timeout_ms) {
        struct http *h = c->http;
        CURL *e;

        if (c->stage != CALL_TURN)
                return -EINVAL;
        c->easy = e = curl_easy_init();
        if (!e)
                return -ENOMEM;
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
        /* From now: the wait in the queue is not the call's. */
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
                        return -ENOMEM;
                curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
                curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body);
        }
        if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
                return -ENOMEM;
        c->in_multi = true;
        c->stage = CALL_RUNNING;
        if (h->admit.running > 1)
                h->burst = true;
        return 0;
}

void http_cancel(struct http_call *c) {
        call_free(c);
}
