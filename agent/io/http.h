/* http.h: non-blocking HTTP for the agent: libcurl's multi interface driven by the sd-event loop. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include <systemd/sd-event.h>

#include "upstream.h"

/* A token response is a few hundred bytes; an error page or a long errmsg is still read, to be redacted. */
#define HTTP_BODY_MAX (256 * 1024)
/* The queue's limits until the config's are set (max_concurrent_calls, max_calls_per_second). */
#define HTTP_MAX_RUNNING_DEFAULT 32
#define HTTP_PER_SECOND_DEFAULT 200

struct http;
struct http_call;

/*
 * The outcome of a call: status and body on an HTTP answer (curl_code 0), else the
 * libcurl error code and its message (which names hosts, never the query string).
 */
struct http_response {
        int curl_code;
        const char *curl_error;
        long status;
        const char *body;
        size_t body_len;
};

typedef void (*http_done_fn)(void *userdata, const struct http_response *res);

/*
 * A queued call's turn has come (a slot is free, within the rate): its owner must now
 * http_begin it, or http_cancel it (then done never runs).
 */
typedef void (*http_turn_fn)(void *userdata, struct http_call *c);

/*
 * Also removes SSLKEYLOGFILE from the environment before libcurl is initialised: curl's
 * OpenSSL backend reads it at curl_global_init and would then write every TLS session's
 * keys (and so the AppSecret in each request) to that file.
 */
int http_new(struct http **ret, sd_event *loop);
void http_free(struct http *h);

/*
 * The proxy every later call uses (copied; NULL: none). The environment's proxy
 * variables are never honoured: they would route the secret-bearing request elsewhere.
 * allow_http: whether http:// URLs may be fetched at all (else https only).
 */
int http_set_policy(struct http *h, const char *proxy, bool allow_http);

/*
 * The queue's limits: at most max_running transfers at once, started no faster than
 * per_second (admit.c). Calls under way are not touched; a reload may call it again.
 */
void http_set_limits(struct http *h, unsigned max_running, unsigned per_second);

/*
 * Queue a call. turn runs from the loop (never from inside this call) when its slot
 * comes, urgent calls (a client waits) before the others, each kind in order; done runs
 * once when the transfer http_begin started ends, unless the call is cancelled first.
 */
int http_queue(struct http *h, bool urgent, http_turn_fn turn, http_done_fn done, void *userdata,
               struct http_call **ret);

/* A call still queued becomes urgent: a client now waits on it. */
void http_hurry(struct http_call *c);

/*
 * At its turn, start c's transfer of req (GET, or POST of a JSON body if req->body):
 * timeout_ms runs from now, not from when it was queued. ca_pem (ca_len bytes of PEM,
 * copied by libcurl) may be NULL: the system's CAs. On failure the caller cancels c.
 */
int http_begin(struct http_call *c, const struct upstream_request *req, const char *ca_pem, size_t ca_len,
               long timeout_ms);

/* Whether c's transfer is under way (begun, not yet ended); false while it waits in the queue. */
bool http_running(const struct http_call *c);

/* The agent stops: no queued call gets its turn any more (transfers under way go on). */
void http_hold(struct http *h);

/* Abandon a call, queued or under way; done will not run. NULL is allowed. */
void http_cancel(struct http_call *c);

#endif
