/* config.c: reading and checking wxtokend.conf ([agent] and [app NAME]) with inih. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <ini.h>

#include "config-parse.h"
#include "file.h"
#include "secret.h"
#include "wire.h"
#include "wxshm.h"

/* inih's handler: one key = value of the section the reader saw last. */
static int parse_handler(void *user, const char *section, const char *name, const char *value) {
        struct parse *p = user;
        bool agent = p->sec == SEC_AGENT, cluster = p->sec == SEC_CLUSTER;
        unsigned *lines = agent ? p->agent_line : cluster ? p->cluster_line : p->app_line;
        int k, r;

        if (parse_stopped(p) || p->sec == SEC_BAD)
                return 1;
        if (p->sec == SEC_NONE)
                return parse_fail(p, -EINVAL, p->lineno, name, "key outside any section, add [agent] or [app NAME] above");
        k = agent ? key_lookup(agent_keys, AK_MAX, name) : cluster ? key_lookup(cluster_keys, CK_MAX, name)
                                                                   : key_lookup(app_keys, PK_MAX, name);
        /* Never echo the value of an unknown key: it may be a secret put in the wrong place. */
        if (k < 0) {
                const char *near = agent ? key_suggest(agent_keys, AK_MAX, name) :
                                   cluster ? key_suggest(cluster_keys, CK_MAX, name) : key_suggest(app_keys, PK_MAX, name);

                if (!strcmp(name, "secret"))
                        return parse_fail(p, -EINVAL, p->lineno, name, "unknown key (put the secret in a file and name "
                                          "it with secret_file or secret_credential)");
                if (near)
                        return parse_fail(p, -EINVAL, p->lineno, name, "unknown key, did you mean '%s'?", near);
                return parse_fail(p, -EINVAL, p->lineno, name, "unknown key");
        }
        if (lines[k])
                return parse_fail(p, -EINVAL, p->lineno, name, "given twice (first on line %u)", lines[k]);
        lines[k] = p->lineno;
        p->value = value;
        if (agent)
                r = agent_set(p, k, value);
        else if (cluster)
                r = cluster_set(p, k, value);
        else {
                if (p->c->apps[p->c->n_apps - 1].line == p->sec_line)
                        p->c->apps[p->c->n_apps - 1].line = p->lineno;
                r = app_set(p, &p->c->apps[p->c->n_apps - 1], k, value);
        }
        p->value = NULL;
        return r;
}

/* Finish the app section just read: required keys, defaults, its secret. */
static void section_close(struct parse *p) {
        struct app_config *a;
        bool cred = p->app_line[PK_SECRET_CREDENTIAL] != 0, loaded = false;
        char err[CONFIG_ERROR_MAX];
        size_t i, len;
        int r;

        if (p->sec == SEC_CLUSTER)
                cluster_close(p);
        if (parse_stopped(p) || p->sec != SEC_APP)
                return;
        a = &p->c->apps[p->c->n_apps - 1];
        /* No key carries the line of an absent key: point at the section header and say so. */
        for (i = 0; i < 2; i++) {
                if (!p->app_line[i])
                        parse_fail(p, -EINVAL, p->sec_line, app_keys[i], "missing (in the section starting here)");
        }
        if (!p->app_line[PK_SECRET_FILE] && !cred)
                parse_fail(p, -EINVAL, p->sec_line, "secret_file", "missing, or secret_credential (in the section starting here)");
        tickets_check(p, a);
        /* -t reads on: the secret is still checked, unless its own line was refused. */
        if (parse_stopped(p) || !p->secret_arg)
                goto bases;
        len = strlen(p->secret_arg) + sizeof("secret_credential ");
        a->secret_source = malloc(len);
        if (!a->secret_source) {
                parse_fail(p, -ENOMEM, p->sec_line, NULL, "out of memory");
                return;
        }
        snprintf(a->secret_source, len, "%s %s", cred ? "secret_credential" : "secret_file", p->secret_arg);
        if (cred && p->report && !getenv("CREDENTIALS_DIRECTORY")) {
                snprintf(err, sizeof(err), "%s:%u: [%s] secret_credential: %s is not checkable outside the unit "
                         "($CREDENTIALS_DIRECTORY is unset): check its LoadCredential= line", p->path,
                         p->app_line[PK_SECRET_CREDENTIAL], p->label, p->secret_arg);
                report_add(p->report, true, p->app_line[PK_SECRET_CREDENTIAL], err);
                goto bases;
        }
        r = cred ? secret_load_credential(p->secret_arg, &a->secret, err, sizeof(err)) :
                   secret_load_file(p->secret_arg, &a->secret, err, sizeof(err));
        if (r < 0) {
                parse_fail(p, r, p->app_line[cred ? PK_SECRET_CREDENTIAL : PK_SECRET_FILE], NULL, "%s", err);
                if (parse_stopped(p))
                        return;
                goto bases;
        }
        loaded = true;
bases:
        /*
         * Two refreshers of one token invalidate each other's tokens, the very thing to avoid.
         * A WeCom corp has one corpid and a secret per app: there the pair names the token.
         * Every app is recorded; one is said to clash only once its own secret is read.
         */
        if (a->appid) {
                r = config_appid_taken(p, p->c->n_apps - 1, &i);
                if (r > 0 && loaded)
                        parse_fail(p, -EINVAL, p->app_line[PK_APPID], "appid", "same kind, appid%s as [app %s]",
                                   a->kind == APP_KIND_WORK ? " and secret" : "", p->c->apps[i].name);
                else if (r < 0)
                        parse_fail(p, -ENOMEM, p->app_line[PK_APPID], "appid", "out of memory");
        }
        if (a->n_api_base == 0) {
                a->api_base[0] = strdup(app_kind_wecom(a->kind) ? "https://qyapi.weixin.qq.com" :
                                                                   "https://api.weixin.qq.com");
                if (!a->api_base[0])
                        parse_fail(p, -ENOMEM, p->sec_line, NULL, "out of memory");
                else
                        a->n_api_base = 1;
        }
}

/* A header line: close the section before, then check and open this one. */
static void section_open(struct parse *p, const char *s) {
        struct agent_config *c = p->c;
        struct app_config *a;
        size_t len = strcspn(s + 1, "]"), n;
        const char *name;
        int r;

        section_close(p);
        memset(p->app_line, 0, sizeof(p->app_line));
        free(p->secret_arg);
        p->secret_arg = NULL;
        p->sec = SEC_BAD;
        p->sec_line = p->lineno;
        /* No ']': inih reports the syntax error, and keys below belong to no section. */
        if (s[1 + len] != ']')
                return;
        snprintf(p->label, sizeof(p->label), "%.*s", (int)len, s + 1);
        if (!strcmp(p->label, "agent")) {
                if (p->agent_seen)
                        parse_fail(p, -EINVAL, p->lineno, NULL, "given twice, merge the two sections");
                p->agent_seen = true;
                p->sec = SEC_AGENT;
                return;
        }
        if (!strcmp(p->label, "cluster")) {
                if (p->cluster_seen)
                        parse_fail(p, -EINVAL, p->lineno, NULL, "given twice, merge the two sections");
                p->cluster_seen = true;
                p->sec = SEC_CLUSTER;
                return;
        }
        if (strncmp(p->label, "app", 3) || (p->label[3] != ' ' && p->label[3] != '\t')) {
                parse_fail(p, -EINVAL, p->lineno, NULL, "unknown section, expected [agent], [app NAME] or [cluster]");
                return;
        }
        name = p->label + 3 + strspn(p->label + 3, " \t");
        n = strcspn(name, " \t");
        if (name[n + strspn(name + n, " \t")] != '\0' || n > CONFIG_APP_NAME_MAX) {
                parse_fail(p, -EINVAL, p->lineno, NULL, "app name: expected " WIRE_APP_NAME_GRAMMAR);
                return;
        }
        /* "[app  shop ]" is "[app shop]" in every message. */
        memmove(p->label + 4, name, n);
        p->label[4 + n] = '\0';
        name = p->label + 4;
        /* No dot: an app's items are "<app>" and "<app>.<suffix>", the suffix the agent's own (wire.h). */
        if (!wire_app_name_valid(name)) {
                parse_fail(p, -EINVAL, p->lineno, NULL, "app name: expected " WIRE_APP_NAME_GRAMMAR);
                return;
        }
        r = config_name_taken(p, name);
        if (r != 0) {
                parse_fail(p, r < 0 ? -ENOMEM : -EINVAL, p->lineno, NULL, r < 0 ? "out of memory" : "app defined twice");
                return;
        }
        a = realloc(c->apps, (c->n_apps + 1) * sizeof(*a));
        if (!a) {
                parse_fail(p, -ENOMEM, p->lineno, NULL, "out of memory");
                return;
        }
        c->apps = a;
        a = &c->apps[c->n_apps++];
        *a = (struct app_config){ .gid = (gid_t)-1, .line = p->lineno };
        _Static_assert(sizeof(a->name) > CONFIG_APP_NAME_MAX, "room for the longest app name");
        memcpy(a->name, name, n + 1);
        p->sec = SEC_APP;
}

/*
 * inih's reader: counts lines, which Debian's inih does not pass to the handler, and sees
 * each section header before inih does, so even an empty [app NAME] is checked.
 */
static char *parse_read_line(char *str, int num, void *stream) {
        struct parse *p = stream;
        ssize_t n = getline(&p->buf, &p->buf_size, p->f);
        char *s;
        size_t len;

        if (n < 0)
                return NULL;
        s = p->buf;
        p->lineno++;
        if (p->lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
                s += 3;
        /* inih takes an indented line for the continuation of the previous value: indent freely. */
        s += strspn(s, " \t");
        len = strlen(s);
        /*
         * inih would cut a long line in two and parse the rest as a line of its own; and
         * the whole line, a stray \r inside included, must fit inih's buffer (a fuzzer
         * found the copy overflowing when only the part before the \r was measured).
         */
        if ((int)strcspn(s, "\r\n") > num - 3 || len + 1 > (size_t)num) {
                parse_fail(p, -EINVAL, p->lineno, NULL, "line longer than %d characters", num - 3);
                s = "\n";
                len = 1;
        } else if (*s == '[') {
                section_open(p, s);
        }
        memcpy(str, s, len + 1);
        return str;
}

static struct agent_config *config_new(const char *path) {
        struct agent_config *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        *c = (struct agent_config){
                .path = strdup(path),
                .socket_path = strdup(PROTOCOL_SOCKET_DEFAULT),
                .state_dir = strdup("/var/lib/wxtokend"),
                .shm_dir = strdup(WXSHM_DEFAULT_DIR),
                .shm_prefix = strdup(WXSHM_DEFAULT_PREFIX),
                .refresh_margin_ms = 300 * 1000,
                .backoff_min_ms = 1000,
                .backoff_max_ms = 300 * 1000,
                .min_force_interval_ms = 30 * 1000,
                .log_level = LOG_INFO,
                .socket_gid = (gid_t)-1,
                .max_connections = 1024,
                .idle_timeout_ms = 10 * 1000,
                .max_waiters = 16384,
                .max_forced_per_day = 200,
                .max_concurrent_calls = 32,
                .max_calls_per_second = 200,
                .cluster = { .lease_ms = 10 * 1000 },
                .min_token_lifetime_ms = 60 * 1000,
        };
        if (!c->path || !c->socket_path || !c->state_dir || !c->shm_dir || !c->shm_prefix) {
                config_free(c);
                return NULL;
        }
        return c;
}

/* The config file's directory, absolute: relative paths in it are taken from there, not the cwd. */
static char *config_dir(const char *path) {
        const char *slash = strrchr(path, '/');
        char cwd[4096], *d = NULL;

        if (slash == path)
                return strdup("/");
        if (path[0] == '/')
                return strndup(path, (size_t)(slash - path));
        if (!getcwd(cwd, sizeof(cwd)))
                return NULL;
        if (asprintf(&d, "%s%s%.*s", cwd, slash ? "/" : "", slash ? (int)(slash - path) : 0, path) < 0)
                return NULL;
        return d;
}

/* Read path; report NULL: stop at the first error (config_load), else read on and add every one to it. */
static int config_read(const char *path, struct config_report *report, struct agent_config **ret, char *err,
                       size_t err_size) {
        struct parse p = { .path = path, .err_buf = err, .err_size = err_size, .report = report };
        size_t i;
        int r, fd;

        if (err && err_size)
                err[0] = '\0';
        p.c = config_new(path);
        p.dir = config_dir(path);
        if (!p.c || !p.dir) {
                snprintf(err, err_size, "%s: out of memory", path);
                free(p.dir);
                config_free(p.c);
                return -ENOMEM;
        }
        /* Read at start and at every reload: a FIFO put in its place must not freeze the loop. */
        fd = file_open_checked(path, path, O_RDONLY, FILE_NOT_SHARED_WRITE, err, err_size);
        if (fd < 0) {
                r = fd;
                goto out;
        }
        p.f = fdopen(fd, "r");
        if (!p.f) {
                r = -errno;
                close(fd);
                snprintf(err, err_size, "%s: cannot open: %s", path, strerror(-r));
                goto out;
        }
        r = ini_parse_stream(parse_read_line, &p, parse_handler, &p);
        if (ferror(p.f)) {
                p.err = 0;
                p.sec = SEC_NONE;
                parse_fail(&p, -EIO, p.lineno + 1, NULL, "cannot read: %s", strerror(EIO));
        }
        section_close(&p);
        /* inih's r is its first bad line; the handler's own errors are reported at theirs. */
        if (r > 0 && (!p.err || (unsigned)r < p.err_found)) {
                p.err = 0;
                p.sec = SEC_NONE;
                parse_fail(&p, -EINVAL, (unsigned)r, NULL, "syntax error, expected [section], key = value or a comment");
        } else if (r < 0 && !p.err) {
                p.sec = SEC_NONE;
                parse_fail(&p, -ENOMEM, p.lineno, NULL, "out of memory");
        }
        if (!parse_stopped(&p) && p.c->backoff_min_ms > p.c->backoff_max_ms) {
                p.sec = SEC_AGENT;
                snprintf(p.label, sizeof(p.label), "agent");
                parse_fail(&p, -EINVAL, p.agent_line[p.agent_line[AK_BACKOFF_MIN] ? AK_BACKOFF_MIN : AK_BACKOFF_MAX],
                           "backoff_min", "%lld s is more than backoff_max %lld s",
                           (long long)(p.c->backoff_min_ms / 1000), (long long)(p.c->backoff_max_ms / 1000));
        }
        if (!parse_stopped(&p) && p.c->min_token_lifetime_ms > CONFIG_TOKEN_LIFETIME_MAX * 1000LL) {
                p.sec = SEC_AGENT;
                snprintf(p.label, sizeof(p.label), "agent");
                parse_fail(&p, -EINVAL, p.agent_line[AK_MIN_TOKEN_LIFETIME], "min_token_lifetime",
                           "%lld s is more than a token may live (%d s)", (long long)(p.c->min_token_lifetime_ms / 1000),
                           CONFIG_TOKEN_LIFETIME_MAX);
        }
        for (i = 0; i < p.c->n_apps; i++) {
                struct app_config *a = &p.c->apps[i];

                if (a->refresh_margin_ms == 0)
                        a->refresh_margin_ms = p.c->refresh_margin_ms;
                if (!a->has_max_forced_per_day)
                        a->max_forced_per_day = p.c->max_forced_per_day;
                /*
                 * A component's refresh tokens (a suite's permanent codes) cross Redis sealed with the
                 * fleet key (cluster-accounts.c): without one they would be in clear there. A provider's
                 * token is a plain token (WeCom's same-token rule, like a work app's): one lease, its
                 * record in Redis, nothing to seal.
                 */
                if (!parse_stopped(&p) && p.c->cluster.enabled && app_kind_platform(a->kind) &&
                    !p.c->cluster.fleet_key_file) {
                        p.sec = SEC_APP;
                        snprintf(p.label, sizeof(p.label), "app %s", a->name);
                        parse_fail(&p, -EINVAL, a->line, "kind", "%s with [cluster] needs fleet_key_file in [cluster]: "
                                   "its %s are shared through Redis sealed with the fleet key, never in clear",
                                   app_kind_name(a->kind), a->kind == APP_KIND_SUITE ? "corps' permanent codes" :
                                   "authorizers' refresh tokens");
                }
                /* The AppSecret goes in the request: over http:// anyone on the path reads it. */
                if (!parse_stopped(&p) && a->plain_http_line && !p.c->allow_plain_http) {
                        p.sec = SEC_APP;
                        snprintf(p.label, sizeof(p.label), "app %s", a->name);
                        parse_fail(&p, -EINVAL, a->plain_http_line, "api_base",
                                   "http:// sends the AppSecret in clear: use https://, or set allow_plain_http = yes "
                                   "in [agent] (for tests and wxemu only)");
                }
        }
        /* One user may take a quarter of the socket by default: three others still fit beside it. */
        if (p.c->max_connections_per_uid == 0)
                p.c->max_connections_per_uid = p.c->max_connections / 4 ? p.c->max_connections / 4 : 1;
        if (p.c->max_waiters_per_uid == 0)
                p.c->max_waiters_per_uid = p.c->max_waiters / 4 ? p.c->max_waiters / 4 : 1;
        if (report && p.f)
                config_check_start(&p);
        r = p.err;
out:
        config_index_free(&p);
        if (p.f)
                fclose(p.f);
        free(p.buf);
        free(p.secret_arg);
        free(p.dir);
        if (r < 0) {
                config_free(p.c);
                return r;
        }
        *ret = p.c;
        return 0;
}

int config_load(const char *path, struct agent_config **ret, char *err, size_t err_size) {
        return config_read(path, NULL, ret, err, err_size);
}

int config_check(const char *path, struct config_report *rep) {
        struct agent_config *c = NULL;
        char err[CONFIG_ERROR_MAX];
        int r;

        *rep = (struct config_report){ 0 };
        r = config_read(path, rep, &c, err, sizeof(err));
        /* An error before the reading began (the file itself) is not in the report yet. */
        if (r < 0 && rep->n_errors == 0)
                report_add(rep, false, 0, err);
        rep->n_apps = c ? c->n_apps : 0;
        config_free(c);
        return r < 0 ? -EINVAL : 0;
}

static void app_free(struct app_config *a) {
        int i;

        if (a->secret)
                explicit_bzero(a->secret, strlen(a->secret));
        free(a->secret);
        free(a->appid);
        free(a->secret_source);
        for (i = 0; i < a->n_api_base; i++)
                free(a->api_base[i]);
        free(a->ca_file);
        free(a->ca_pem);
        free(a->group);
}

void config_free(struct agent_config *c) {
        size_t i;

        if (!c)
                return;
        for (i = 0; i < c->n_apps; i++)
                app_free(&c->apps[i]);
        free(c->apps);
        free(c->path);
        free(c->socket_path);
        free(c->socket_group);
        free(c->state_dir);
        free(c->shm_dir);
        free(c->shm_prefix);
        free(c->proxy);
        free(c->metrics_listen);
        cluster_config_clear(&c->cluster);
        free(c);
}

const struct app_config *config_find_app(const struct agent_config *c, const char *name) {
        size_t i;

        for (i = 0; c && name && i < c->n_apps; i++) {
                if (!strcmp(c->apps[i].name, name))
                        return &c->apps[i];
        }
        return NULL;
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && !strcmp(a, b));
}

bool app_config_equal(const struct app_config *a, const struct app_config *b) {
        int i;

        if (strcmp(a->name, b->name) || a->kind != b->kind || !str_equal(a->appid, b->appid) ||
            !str_equal(a->secret, b->secret) || a->n_api_base != b->n_api_base ||
            !str_equal(a->ca_file, b->ca_file) || !str_equal(a->ca_pem, b->ca_pem) || a->gid != b->gid || a->tickets != b->tickets ||
            a->account_tickets != b->account_tickets ||
            a->refresh_margin_ms != b->refresh_margin_ms || a->verify_before_force != b->verify_before_force ||
            a->max_forced_per_day != b->max_forced_per_day)
                return false;
        for (i = 0; i < a->n_api_base; i++) {
                if (!str_equal(a->api_base[i], b->api_base[i]))
                        return false;
        }
        return true;
}

const char *app_kind_name(enum app_kind kind) {
        static const char *const names[] = { "token", "stable", "work", "component", "suite", "provider" };

        return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}
