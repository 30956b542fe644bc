/* config-keys.c: what each key of wxtokend.conf accepts, and where its value goes. */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config-parse.h"
#ifdef HAVE_MICROHTTPD
#include "metrics-http.h"
#endif
#include "file.h"
#include "redact.h"
#include "log.h"
#include "segment.h"

const char *const agent_keys[AK_MAX] = {
        "socket", "socket_group", "state_dir", "shm_prefix", "refresh_margin", "backoff_min",
        "backoff_max", "min_force_interval", "log_level", "max_connections", "idle_timeout", "max_waiters",
        "shm_dir", "min_token_lifetime", "allow_plain_http", "proxy",
        "max_forced_per_day", "max_connections_per_uid", "max_waiters_per_uid", "log_format", "metrics_listen",
        "max_concurrent_calls", "max_calls_per_second",
};
const char *const app_keys[PK_MAX] = {
        "kind", "appid", "secret_file", "secret_credential", "api_base", "ca_file", "group",
        "tickets", "refresh_margin", "verify_before_force", "max_forced_per_day", "authorizer_tickets", "corp_tickets",
};

bool name_valid(const char *s, size_t max) {
        size_t n;

        for (n = 0; s[n]; n++) {
                char ch = s[n];

                if (n >= max || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
                        return false;
        }
        return n > 0;
}

static bool secret_char(char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               ch == '-' || ch == '+' || ch == '=';
}

/* Whether the n bytes at v look like a secret: long enough, letters and digits both. */
static bool run_looks_secret(const char *v, size_t n) {
        bool alpha = false, digit = false;

        for (size_t i = 0; i < n; i++) {
                if (v[i] >= '0' && v[i] <= '9')
                        digit = true;
                else if (v[i] != '_' && v[i] != '-' && v[i] != '+' && v[i] != '=')
                        alpha = true;
        }
        return n >= 16 && alpha && digit;
}

bool value_looks_secret(const char *v) {
        size_t n = strlen(v);

        for (size_t i = 0; i < n; i++) {
                if (!secret_char(v[i]))
                        return false;
        }
        return run_looks_secret(v, n);
}

/* Every secret-looking run of v in msg becomes "***": whatever the message quotes of it. */
static void hide_secret_runs(char *msg, const char *v) {
        char run[CONFIG_ERROR_MAX];

        while (v && *v) {
                size_t n = 0;

                while (v[n] && secret_char(v[n]))
                        n++;
                if (n > 0 && n < sizeof(run) && run_looks_secret(v, n)) {
                        memcpy(run, v, n);
                        run[n] = '\0';
                        redact_secret(msg, run);
                        explicit_bzero(run, n);
                }
                v += n ? n : 1;
        }
}

int parse_fail(struct parse *p, int err, unsigned line, const char *key, const char *fmt, ...) {
        char msg[CONFIG_ERROR_MAX];
        bool first = !p->err;
        va_list ap;
        int n;

        if (parse_stopped(p))
                return 0;
        if (first) {
                p->err = err;
                p->err_found = p->lineno;
        }
        /* Line 0: a default, or the start's own checks, tied to no line of the file. */
        n = snprintf(msg, sizeof(msg), line ? "%s:%u: %s%s%s%s%s" : "%s:%.0u %s%s%s%s%s", p->path, line,
                     p->sec == SEC_NONE ? "" : "[", p->sec == SEC_NONE ? "" : p->label,
                     p->sec == SEC_NONE ? "" : "] ", key ? key : "", key ? ": " : "");
        if (n < 0 || (size_t)n >= sizeof(msg))
                return 0;
        va_start(ap, fmt);
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
        va_end(ap);
        /* A secret pasted into any key is not echoed by its error (nor by the reload log). */
        hide_secret_runs(msg + n, p->value);
        if (first && p->err_buf && p->err_size)
                snprintf(p->err_buf, p->err_size, "%s", msg);
        if (p->report)
                report_add(p->report, false, line, msg);
        explicit_bzero(msg, sizeof(msg));
        return 0;
}

static int parse_strdup(struct parse *p, char **dst, const char *v, const char *key) {
        char *s = strdup(v);

        if (!s)
                return parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
        free(*dst);
        *dst = s;
        return 1;
}

static int parse_seconds(struct parse *p, const char *key, const char *v, int64_t *ret_ms) {
        long long s = 0;
        const char *q;

        for (q = v; *q >= '0' && *q <= '9' && s <= CONFIG_SECONDS_MAX; q++)
                s = s * 10 + (*q - '0');
        if (q == v || *q || s < 1 || s > CONFIG_SECONDS_MAX)
                return parse_fail(p, -EINVAL, p->lineno, key,
                                  "expected whole seconds from 1 to %lld, got '%s'", CONFIG_SECONDS_MAX, v);
        *ret_ms = (int64_t)s * 1000;
        return 1;
}

/* Names only, as the spec says; the buffer grows for groups with many members. */
static int group_lookup(const char *name, gid_t *ret) {
        struct group gr, *res = NULL;
        size_t size = 1024;
        char *buf = NULL, *nb;
        int r;

        for (;;) {
                nb = realloc(buf, size);
                if (!nb) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = nb;
                r = getgrnam_r(name, &gr, buf, size, &res);
                if (r != ERANGE || size >= (1u << 22))
                        break;
                size *= 2;
        }
        if (r == 0 && res)
                *ret = res->gr_gid;
        free(buf);
        if (r != 0)
                return -r;
        return res ? 0 : -ENOENT;
}

static int parse_group(struct parse *p, const char *key, const char *v, char **dst, gid_t *gid) {
        gid_t g = (gid_t)-1;
        int r = *v ? group_lookup(v, &g) : -ENOENT;

        if (r == -ENOENT)
                return parse_fail(p, -EINVAL, p->lineno, key, "no such group '%s'", v);
        if (r < 0)
                return parse_fail(p, r, p->lineno, key, "cannot look up group '%s': %s", v, strerror(-r));
        if (gid)
                *gid = g;
        return parse_strdup(p, dst, v, key);
}

static int parse_count(struct parse *p, const char *key, const char *v, long long max, unsigned *ret) {
        long long n = 0;
        const char *q;

        for (q = v; *q >= '0' && *q <= '9' && n <= max; q++)
                n = n * 10 + (*q - '0');
        if (q == v || *q || n < 1 || n > max)
                return parse_fail(p, -EINVAL, p->lineno, key, "expected a whole number from 1 to %lld, got '%s'", max, v);
        *ret = (unsigned)n;
        return 1;
}

/* A daily cap: 0 (no client-forced call at all) up to WeChat's own quota of 2000 calls a day. */
static int parse_daily_cap(struct parse *p, const char *key, const char *v, unsigned *ret) {
        unsigned n = 0;
        const char *q;

        for (q = v; *q >= '0' && *q <= '9' && n <= CONFIG_FORCED_PER_DAY_MAX; q++)
                n = n * 10 + (unsigned)(*q - '0');
        if (q == v || *q || n > CONFIG_FORCED_PER_DAY_MAX)
                return parse_fail(p, -EINVAL, p->lineno, key, "expected a whole number from 0 to %d (WeChat's daily "
                                  "quota), got '%s'", CONFIG_FORCED_PER_DAY_MAX, v);
        *ret = n;
        return 1;
}

static int parse_bool(struct parse *p, const char *key, const char *v, bool *ret) {
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
                *ret = true;
                return 1;
        }
        if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
                *ret = false;
                return 1;
        }
        return parse_fail(p, -EINVAL, p->lineno, key, "expected yes or no, got '%s'", v);
}

/*
 * The one proxy libcurl may use (the environment's are ignored). The value is never
 * echoed: a proxy URL may carry a password.
 */
static int parse_proxy(struct parse *p, const char *key, const char *v, char **dst) {
        static const char *const schemes[] = { "http://", "https://", "socks4://", "socks4a://", "socks5://",
                                               "socks5h://" };
        size_t i;

        for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
                size_t n = strlen(schemes[i]);

                if (!strncmp(v, schemes[i], n) && v[n] && !strpbrk(v, " \t"))
                        return parse_strdup(p, dst, v, key);
        }
        return parse_fail(p, -EINVAL, p->lineno, key, "expected a URL of http://, https://, socks4://, socks4a://, "
                          "socks5:// or socks5h://HOST:PORT (the value is not shown)");
}

/*
 * metrics_listen: "PORT" (loopback), "IPv4:PORT" or "[IPv6]:PORT". TCP carries no peer
 * credentials: whoever reaches the address reads the metrics, so only an address given
 * opens it beyond loopback.
 */
static int parse_metrics_listen(struct parse *p, const char *key, const char *v, char **dst) {
#ifdef HAVE_MICROHTTPD
        struct sockaddr_storage sa;
        char buf[80];
        const char *end = v + strspn(v, "0123456789");

        if (*v && !*end && end - v <= 5) {
                snprintf(buf, sizeof(buf), "127.0.0.1:%s", v);
                v = buf;
        }
        if (strlen(v) >= 64 || metrics_http_address(v, &sa) < 0)
                return parse_fail(p, -EINVAL, p->lineno, key, "expected PORT (on 127.0.0.1), IPv4:PORT or "
                                  "[IPv6]:PORT with PORT 1..65535, got '%s'", v);
        return parse_strdup(p, dst, v, key);
#else
        return parse_fail(p, -EINVAL, p->lineno, key, "this wxtokend was built without libmicrohttpd, so it cannot "
                          "serve HTTP: remove the key, or rebuild with libmicrohttpd-dev installed (the socket's "
                          "metrics op, `wxtokenctl metrics`, works without it)");
#endif
}

int agent_set(struct parse *p, int k, const char *v) {
        struct agent_config *c = p->c;
        const char *key = agent_keys[k];
        int64_t *ms[AK_MAX] = { [AK_REFRESH_MARGIN] = &c->refresh_margin_ms,
                                [AK_BACKOFF_MIN] = &c->backoff_min_ms, [AK_BACKOFF_MAX] = &c->backoff_max_ms,
                                [AK_MIN_FORCE_INTERVAL] = &c->min_force_interval_ms,
                                [AK_IDLE_TIMEOUT] = &c->idle_timeout_ms,
                                [AK_MIN_TOKEN_LIFETIME] = &c->min_token_lifetime_ms };
        int r;

        if (ms[k])
                return parse_seconds(p, key, v, ms[k]);
        switch (k) {
        case AK_ALLOW_PLAIN_HTTP:
                return parse_bool(p, key, v, &c->allow_plain_http);
        case AK_PROXY:
                return parse_proxy(p, key, v, &c->proxy);
        case AK_METRICS_LISTEN:
                return parse_metrics_listen(p, key, v, &c->metrics_listen);
        case AK_SOCKET:
                if (!*v || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected a path of 1 to %zu bytes",
                                          sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                r = parse_path(p, key, v, &c->socket_path);
                if (r && strlen(c->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                        return parse_fail(p, -EINVAL, p->lineno, key, "%s (from the config file's directory) is "
                                          "longer than %zu bytes: give an absolute path", c->socket_path,
                                          sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                return r;
        case AK_SOCKET_GROUP:
                return parse_group(p, key, v, &c->socket_group, &c->socket_gid);
        case AK_MAX_CONNECTIONS:
                return parse_count(p, key, v, 1000000, &c->max_connections);
        case AK_MAX_WAITERS:
                return parse_count(p, key, v, 1000000, &c->max_waiters);
        case AK_MAX_FORCED_PER_DAY:
                return parse_daily_cap(p, key, v, &c->max_forced_per_day);
        case AK_MAX_CONNECTIONS_PER_UID:
                return parse_count(p, key, v, 1000000, &c->max_connections_per_uid);
        case AK_MAX_WAITERS_PER_UID:
                return parse_count(p, key, v, 1000000, &c->max_waiters_per_uid);
        case AK_MAX_CONCURRENT_CALLS:
                return parse_count(p, key, v, CONFIG_CONCURRENT_CALLS_MAX, &c->max_concurrent_calls);
        case AK_MAX_CALLS_PER_SECOND:
                return parse_count(p, key, v, CONFIG_CALLS_PER_SECOND_MAX, &c->max_calls_per_second);
        case AK_STATE_DIR:
                if (!*v)
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected a directory, got ''");
                return parse_path(p, key, v, &c->state_dir);
        case AK_SHM_PREFIX:
                if (!name_valid(v, CONFIG_PREFIX_MAX))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected [A-Za-z0-9_-]{1,64}, got '%s'", v);
                return parse_strdup(p, &c->shm_prefix, v, key);
        case AK_LOG_FORMAT:
                if (strcmp(v, "text") && strcmp(v, "json"))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected text or json, got '%s'", v);
                c->log_json = v[0] == 'j';
                return 1;
        case AK_SHM_DIR:
                if (!segment_dir_valid(v))
                        return parse_fail(p, -EINVAL, p->lineno, key,
                                          "expected an absolute path shorter than %d bytes, got '%s'", SEGMENT_DIR_MAX, v);
                return parse_strdup(p, &c->shm_dir, v, key);
        default:
                r = log_level_parse(v);
                if (r < 0)
                        return parse_fail(p, -EINVAL, p->lineno, key,
                                          "expected error, warning, notice, info or debug, got '%s'", v);
                c->log_level = r;
                return 1;
        }
}

/* A list of ticket types ("jsapi, wx_card"), into bits; which fit the kind is section_close's to say. */
static int parse_tickets(struct parse *p, const char *key, const char *s, unsigned *bits) {
        while (*(s += strspn(s, " \t,"))) {
                size_t len = strcspn(s, " \t,");

                if (len == 5 && !strncmp(s, "jsapi", 5))
                        *bits |= TICKET_JSAPI;
                else if (len == 7 && !strncmp(s, "wx_card", 7))
                        *bits |= TICKET_WX_CARD;
                else if (len == 12 && !strncmp(s, "agent_config", 12))
                        *bits |= TICKET_AGENT_CONFIG;
                else
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected jsapi, wx_card or "
                                          "agent_config, got '%.*s'", (int)len, s);
                s += len;
        }
        return 1;
}

static int app_set_bases(struct parse *p, struct app_config *a, const char *v) {
        const char *key = app_keys[PK_API_BASE], *s = v;
        char *bases[CONFIG_API_BASES_MAX] = { NULL };
        int n = 0, i;

        while (*(s += strspn(s, " \t"))) {
                size_t len = strcspn(s, " \t"), scheme;

                scheme = !strncmp(s, "https://", 8) ? 8 : !strncmp(s, "http://", 7) ? 7 : 0;
                /* Allowed or not is known once [agent] is read: config_load decides. */
                if (scheme == 7 && !a->plain_http_line)
                        a->plain_http_line = p->lineno;
                while (len > scheme && s[len - 1] == '/')
                        len--;
                if (n == CONFIG_API_BASES_MAX || scheme == 0 || len == scheme) {
                        for (i = 0; i < n; i++)
                                free(bases[i]);
                        if (n == CONFIG_API_BASES_MAX)
                                return parse_fail(p, -EINVAL, p->lineno, key, "at most %d bases", n);
                        return parse_fail(p, -EINVAL, p->lineno, key,
                                          "expected http://HOST or https://HOST, got '%.*s'", (int)len, s);
                }
                bases[n] = strndup(s, len);
                if (!bases[n++])
                        return parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
                s += strcspn(s, " \t");
        }
        if (n == 0)
                return parse_fail(p, -EINVAL, p->lineno, key, "expected one to %d URLs", CONFIG_API_BASES_MAX);
        memcpy(a->api_base, bases, sizeof(bases));
        a->n_api_base = n;
        return 1;
}

int app_set(struct parse *p, struct app_config *a, int k, const char *v) {
        const char *key = app_keys[k], *s = v;
        int r;

        switch (k) {
        case PK_KIND:
                if (!strcmp(v, "token") || !strcmp(v, "stable") || !strcmp(v, "work")) {
                        a->kind = v[0] == 't' ? APP_KIND_TOKEN : v[0] == 's' ? APP_KIND_STABLE : APP_KIND_WORK;
                        return 1;
                }
                if (!strcmp(v, "component")) {
                        a->kind = APP_KIND_COMPONENT;
                        return 1;
                }
                /* WeCom's service provider: a suite (appid is the suite_id) and the provider (appid is its corpid). */
                if (!strcmp(v, "suite") || !strcmp(v, "provider")) {
                        a->kind = v[0] == 's' ? APP_KIND_SUITE : APP_KIND_PROVIDER;
                        return 1;
                }
                return parse_fail(p, -EINVAL, p->lineno, key, "expected token, stable, work, component, suite or "
                                  "provider, got '%s'", v);
        case PK_APPID:
                if (!name_valid(v, 64))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected [A-Za-z0-9_-]{1,64}, got '%s'", v);
                return parse_strdup(p, &a->appid, v, key);
        case PK_SECRET_FILE:
        case PK_SECRET_CREDENTIAL:
                if (p->app_line[PK_SECRET_FILE] && p->app_line[PK_SECRET_CREDENTIAL])
                        return parse_fail(p, -EINVAL, p->lineno, key,
                                          "give either secret_file or secret_credential, not both");
                /*
                 * A secret pasted here instead of a path would be echoed by every message naming
                 * the file; a relative path is taken from the config file's directory.
                 */
                if (k == PK_SECRET_FILE && v[0] != '/' && value_looks_secret(v))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected a path (the value is not "
                                          "shown: it looks like the secret itself; put the secret in a file, chmod "
                                          "600, and name the file here)");
                if (k == PK_SECRET_CREDENTIAL && value_looks_secret(v))
                        return parse_fail(p, -EINVAL, p->lineno, key, "the value is not shown: it looks like the "
                                          "secret itself; put the secret in a credential and name it here");
                if (!*v || (k == PK_SECRET_CREDENTIAL && strchr(v, '/')))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected %s, got '%s'",
                                          k == PK_SECRET_FILE ? "a file" : "a credential name without '/'", v);
                if (k == PK_SECRET_FILE)
                        return parse_path(p, key, v, &p->secret_arg);
                return parse_strdup(p, &p->secret_arg, v, key);
        case PK_API_BASE:
                return app_set_bases(p, a, v);
        case PK_CA_FILE: {
                char err[CONFIG_ERROR_MAX], *path = NULL;

                /*
                 * Read now, checked like the config (a FIFO, another user's file or a
                 * group-writable one is refused), and handed to libcurl as a blob: curl would
                 * only find out at the first refresh, far from the line to fix, and would open
                 * the file from the event loop.
                 */
                if (!*v)
                        return parse_fail(p, -ENOENT, p->lineno, key, "expected a file of PEM certificates");
                if (!parse_path(p, key, v, &path))
                        return 0;
                free(a->ca_pem);
                a->ca_pem = NULL;
                r = file_read_checked(path, path, CONFIG_CA_FILE_MAX, FILE_NOT_SHARED_WRITE, &a->ca_pem, &a->ca_len,
                                      err, sizeof(err));
                if (r < 0) {
                        free(path);
                        return parse_fail(p, r, p->lineno, key, "%s", err);
                }
                free(a->ca_file);
                a->ca_file = path;
                return 1;
        }
        case PK_GROUP:
                return parse_group(p, key, v, &a->group, &a->gid);
        case PK_TICKETS:
                return parse_tickets(p, key, s, &a->tickets);
        /* One set for every account under the platform: a component's authorizers, a suite's corps. */
        case PK_AUTHORIZER_TICKETS:
        case PK_CORP_TICKETS:
                return parse_tickets(p, key, s, &a->account_tickets);
        case PK_VERIFY_BEFORE_FORCE:
                return parse_bool(p, key, v, &a->verify_before_force);
        case PK_MAX_FORCED_PER_DAY:
                a->has_max_forced_per_day = true;
                return parse_daily_cap(p, key, v, &a->max_forced_per_day);
        default:
                return parse_seconds(p, key, v, &a->refresh_margin_ms);
        }
}

int key_lookup(const char *const *keys, int n, const char *name) {
        int k;

        for (k = 0; k < n; k++) {
                if (!strcmp(keys[k], name))
                        return k;
        }
        return -1;
}
