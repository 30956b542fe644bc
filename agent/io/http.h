/* http.h: non-blocking HTTP for the agent: libcurl's multi interface driven by the sd-event loop. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include <systemd/sd-event.h>

#include "upstream.h"

/* A token response is a few hundred bytes; an error page or a long errmsg is still read, to be redacted. */
#define HTTP_BODY_MAX (256 * 1024)
#define HTTP_HOST_CONNECTIONS 4   /* per host, in use or idle; more calls queue */

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
 * Start req (GET, or POST of a JSON body if req->body). done runs from the loop when it
 * ends, once, unless the call is cancelled first. ca_pem (ca_len bytes of PEM, copied
 * by libcurl) may be NULL: the system's CAs.
 */
int http_start(struct http *h, const struct upstream_request *req, const char *ca_pem, size_t ca_len,
               long timeout_ms, http_done_fn done, void *userdata, struct http_call **ret);

/* Abandon a call; done will not run. NULL is allowed. */
void http_cancel(struct http_call *c);

#endif
