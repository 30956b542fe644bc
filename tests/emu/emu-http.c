/* emu-http.c: the libmicrohttpd server: request bodies, dispatch, replies and the request log. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "emu-api.h"
#include "emu-control.h"
#include "emu-http.h"
#include "emu-plat.h"
#include "emu-state.h"

/* stable_token bodies are ~150 bytes; anything near this is not a WeChat client. */
#define BODY_MAX 65536

struct conn_ctx {
        char *body;
        size_t len;
        bool too_big;
};

struct route {
        const char *path;
        void (*fn)(const struct emu_request *q, struct emu_reply *r);
};

static const struct route routes[] = {
        { "/cgi-bin/token", api_token },
        { "/cgi-bin/stable_token", api_stable_token },
        { "/cgi-bin/gettoken", api_gettoken },
        { "/cgi-bin/ticket/getticket", api_getticket },
        { "/cgi-bin/get_jsapi_ticket", api_corp_ticket },
        { "/cgi-bin/ticket/get", api_agent_ticket },
        { "/cgi-bin/getcallbackip", api_callbackip },
        { "/cgi-bin/component/api_start_push_ticket", api_start_push_ticket },
        { "/cgi-bin/component/api_component_token", api_component_token },
        { "/cgi-bin/component/api_authorizer_token", api_authorizer_token },
        { "/cgi-bin/component/api_get_authorizer_list", api_get_authorizer_list },
        { "/cgi-bin/component/api_query_auth", api_query_auth },
        { "/cgi-bin/service/get_suite_token", api_suite_token },
        { "/cgi-bin/service/get_provider_token", api_provider_token },
        { "/cgi-bin/service/get_corp_token", api_corp_token },
        { "/cgi-bin/service/get_permanent_code", api_permanent_code },
};

static struct MHD_Daemon *http_daemon;
static unsigned rid_counter;

const char *req_arg(const struct emu_request *q, const char *name)
{
        const char *v = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);

        return v && v[0] ? v : NULL;
}

void reply_text(struct emu_reply *r, int status, const char *ctype, const char *text)
{
        free(r->body);
        r->body = strdup(text);
        r->status = status;
        r->ctype = ctype;
}

void reply_json(struct emu_reply *r, int status, cJSON *obj)
{
        free(r->body);
        r->body = cJSON_PrintUnformatted(obj);
        r->status = status;
        r->ctype = "application/json; encoding=utf-8";
        cJSON_Delete(obj);
}

/* WeChat appends a request id to every errmsg, and WeCom a hint: clients must match
 * on errcode, never on errmsg, and the emulator keeps them honest. */
void reply_error(struct emu_reply *r, bool corp, int errcode, const char *msg)
{
        char text[256];
        cJSON *o = cJSON_CreateObject();
        unsigned n = __atomic_add_fetch(&rid_counter, 1, __ATOMIC_RELAXED);
        long long now = (long long)(emu_unix_ms() / 1000);

        if (corp)
                snprintf(text, sizeof(text), "%s, hint: [%lld_%u_emu], from ip: 127.0.0.1, "
                         "more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
                         msg, now, n, errcode);
        else
                snprintf(text, sizeof(text), "%s rid: %08llx-%08x-emu", msg, now, n);
        cJSON_AddNumberToObject(o, "errcode", errcode);
        cJSON_AddStringToObject(o, "errmsg", text);
        reply_json(r, 200, o);
        r->errcode = errcode;
}

struct log_buf {
        char text[1024];
        size_t len;
};

static void log_append(struct log_buf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->len >= sizeof(b->text))
                return;
        va_start(ap, fmt);
        n = vsnprintf(b->text + b->len, sizeof(b->text) - b->len, fmt, ap);
        va_end(ap);
        if (n > 0)
                b->len += (size_t)n;
}

/* Secrets never reach the log; tokens only by a prefix, enough to tell them apart. */
static enum MHD_Result log_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
        struct log_buf *b = cls;
        bool first = !strchr(b->text, '?');

        (void)kind;
        if (!value)
                value = "";
        if (strstr(key, "secret"))
                value = "***";
        if (strstr(key, "access_token") && strlen(value) > 8)
                log_append(b, "%c%s=%.8s...", first ? '?' : '&', key, value);
        else
                log_append(b, "%c%s=%s", first ? '?' : '&', key, value);
        return MHD_YES;
}

static void http_log(struct MHD_Connection *c, const char *method, const char *url,
                     const struct emu_reply *r)
{
        struct log_buf b = { .len = 0 };

        b.text[0] = '\0';
        log_append(&b, "wxemu: %s %s", method, url);
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, log_arg, &b);
        if (r->drop)
                log_append(&b, " -> dropped");
        else
                log_append(&b, " -> %d", r->status);
        if (r->errcode != EMU_NO_ERRCODE)
                log_append(&b, " errcode=%d", r->errcode);
        if (r->fault)
                log_append(&b, " fault=%s", r->fault);
        if (b.len >= sizeof(b.text))
                b.len = sizeof(b.text) - 1;
        b.text[b.len] = '\0';
        fprintf(stderr, "%s\n", b.text);
}

static void http_dispatch(const struct emu_request *q, struct emu_reply *r)
{
        if (!strncmp(q->path, "/emu/", 5)) {
                control_dispatch(q, r);
                return;
        }
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (!strcmp(q->path, routes[i].path)) {
                        routes[i].fn(q, r);
                        return;
                }
        reply_error(r, false, 40066, "invalid url");
        r->status = 404;
}

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version,
                                   const char *upload, size_t *upload_size, void **ptr)
{
        struct conn_ctx *x = *ptr;
        struct emu_reply r = { .status = 200, .errcode = EMU_NO_ERRCODE };
        struct emu_request q;
        struct MHD_Response *resp;
        enum MHD_Result ret;

        (void)cls;
        (void)version;
        if (!x) {
                x = calloc(1, sizeof(*x));
                *ptr = x;
                return x ? MHD_YES : MHD_NO;
        }
        if (*upload_size) {
                if (!x->too_big && x->len + *upload_size <= BODY_MAX) {
                        char *nb = realloc(x->body, x->len + *upload_size + 1);

                        if (!nb)
                                return MHD_NO;
                        memcpy(nb + x->len, upload, *upload_size);
                        x->body = nb;
                        x->len += *upload_size;
                        x->body[x->len] = '\0';
                } else {
                        x->too_big = true;
                }
                *upload_size = 0;
                return MHD_YES;
        }
        q = (struct emu_request){ method, url, x->body, x->len, x->too_big, c };
        http_dispatch(&q, &r);
        /* --latency-ms models the network to WeChat, not the control plane. */
        if (emu_cfg.latency_ms > 0 && strncmp(url, "/emu/", 5)) {
                emu_lock();
                emu_wait_ms(emu_cfg.latency_ms, NULL);
                emu_unlock();
        }
        if (emu_cfg.verbose)
                http_log(c, method, url, &r);
        if (r.drop || !r.body) {
                free(r.body);
                return MHD_NO;
        }
        resp = MHD_create_response_from_buffer(strlen(r.body), r.body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(r.body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.ctype);
        ret = MHD_queue_response(c, (unsigned)r.status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void http_done(void *cls, struct MHD_Connection *c, void **ptr,
                      enum MHD_RequestTerminationCode why)
{
        struct conn_ctx *x = *ptr;

        (void)cls;
        (void)c;
        (void)why;
        if (x) {
                free(x->body);
                free(x);
                *ptr = NULL;
        }
}

/* libmicrohttpd's own complaints: useful when debugging, noise otherwise. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
        (void)cls;
        if (!emu_cfg.verbose)
                return;
        fputs("wxemu: libmicrohttpd: ", stderr);
        vfprintf(stderr, fmt, ap);
}

int http_start(const struct http_options *o)
{
        unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
        struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
        struct sockaddr_in sin = { .sin_family = AF_INET };
        struct MHD_OptionItem opts[7];
        const union MHD_DaemonInfo *info;
        int n = 0;

        /* One thread per connection: --latency-ms, slow and hang block only their own. */
        if (inet_pton(AF_INET, o->bind, &sin.sin_addr) == 1) {
                sin.sin_port = htons((uint16_t)o->port);
                opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &sin };
        } else if (inet_pton(AF_INET6, o->bind, &sin6.sin6_addr) == 1) {
                sin6.sin6_port = htons((uint16_t)o->port);
                opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &sin6 };
                flags |= MHD_USE_IPv6;
        } else {
                return -EINVAL;
        }
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
                                             (intptr_t)http_done, NULL };
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL };
        if (o->cert_pem && o->key_pem) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                        return -ENOTSUP;
                flags |= MHD_USE_TLS;
                opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
                                                     (void *)o->key_pem };
                opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
                                                     (void *)o->cert_pem };
        }
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
        /* The logger must come first, or option errors go to MHD's own. */
        http_daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, http_handle, NULL,
                                       MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
                                       MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!http_daemon)
                return -EADDRNOTAVAIL;
        info = MHD_get_daemon_info(http_daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (!info || !info->port) {
                http_stop();
                return -EIO;
        }
        return info->port;
}

void http_stop(void)
{
        if (http_daemon)
                MHD_stop_daemon(http_daemon);
        http_daemon = NULL;
}
