/* wxtokenctl.c: the command line: get a token from its segment, force a refresh, show the agent's status and metrics. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "agent/io/clock.h"  /* the agent's clock helper: wall time, for "expired N s ago" */
#include "client.h"
#include "segment.h"
#include "wire.h"
#include "wxshm.h"

static const char usage_text[] =
        "Usage: wxtokenctl [--socket PATH] COMMAND\n"
        "  get [--json] APP                 print APP's token (read from shared memory)\n"
        "  refresh APP [--generation N] [--timeout MS]\n"
        "                                   have the agent replace generation N (default: the\n"
        "                                   one published now); print the new generation\n"
        "  status [--json] [APP]            every app's state (all pages), or APP's; exit 0 OK,\n"
        "                                   1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios)\n"
        "  metrics                          the agent's metrics, Prometheus text format\n"
        "  reload                           have the agent read its config again (as SIGHUP);\n"
        "                                   say whether it was taken, and why not\n"
        "  retry APP                        APP's next attempt now, skipping its backoff wait once\n"
        "                                   (after fixing a secret or the IP whitelist)\n"
        "  ticket put APP TICKET CREATE_TIME\n"
        "                                   hand a component its component_verify_ticket as WeChat\n"
        "                                   pushed it (CREATE_TIME: the push's CreateTime, Unix s);\n"
        "                                   TICKET - reads it from stdin (one line), off the command line\n"
        "  authorizer add COMPONENT APPID   an account authorized to component COMPONENT, published as\n"
        "                                   COMPONENT.APPID; its refresh token is read from stdin\n"
        "                                   (a WeCom suite's corp: APPID the corpid, its permanent code\n"
        "                                   on stdin, or with --auth-code the temporary auth code)\n"
        "  authorizer remove COMPONENT APPID\n"
        "                                   forget the account (its segment is removed)\n"
        "  authorizer list COMPONENT        the accounts, their state and tokens' expiry\n"
        "  authorizer add COMPONENT --auth-code\n"
        "                                   onboard the account whose authorization code (from the\n"
        "                                   authorization redirect or event) is read from stdin: the\n"
        "                                   agent asks api_query_auth, publishes COMPONENT.APPID\n"
        "  authorizer sync COMPONENT        read api_get_authorizer_list: add the accounts missing,\n"
        "                                   take changed refresh tokens; print the counts\n"
        "Options:\n"
        "  -s, --socket PATH   the agent's socket (default $WXTOKEND_SOCKET, else " PROTOCOL_SOCKET_DEFAULT ")\n"
        "  -j, --json          machine-readable output\n"
        "  -h, --help          this text\n"
        "      --version       print the version\n"
        "A usage error exits 64 (EX_USAGE).\n";

static int usage_error(const char *what) {
        fprintf(stderr, "wxtokenctl: %s\n%s", what, usage_text);
        return EX_USAGE;
}

/* What to do about an error the agent answered: every error names its fix. */
static const char *fix_for(const char *code) {
        static const struct {
                const char *code, *fix;
        } fixes[] = {
                { PROTO_E_UNKNOWN_APP, "wxtokenctl status lists the apps the agent serves; to add one, edit the "
                                       "config and run wxtokenctl reload" },
                { PROTO_E_PERMISSION, "run it as root or as the agent's user (or, for get and refresh, as a "
                                      "member of the app's group)" },
                { PROTO_E_UPSTREAM, "wxtokenctl status shows the error and its advice; once it is fixed, "
                                    "wxtokenctl retry APP tries at once" },
                { PROTO_E_TIMEOUT, "the agent is still trying: wxtokenctl status shows its state" },
                { PROTO_E_RELOAD_REFUSED, "the running configuration stays; fix the file (wxtokend -t checks it) "
                                          "and run wxtokenctl reload again" },
                { PROTO_E_BUSY, "too many clients wait already: try again in a few seconds" },
                { PROTO_E_CONNECTIONS, "too many connections: try again in a few seconds" },
                { PROTO_E_UNKNOWN_OP, "this wxtokenctl is newer than the running agent: restart the agent" },
                { PROTO_E_BAD_REQUEST, "this wxtokenctl and the agent disagree: use the ones of one version" },
                { PROTO_E_STOPPING, "the agent is stopping: start it again (systemctl start wxtokend)" },
                { PROTO_E_AUTHORIZER_REFUSED, "check the component's name (wxtokenctl status) and the agent's "
                                              "log" },
                { PROTO_E_TICKET_REFUSED, "pass the push's own CreateTime, check this host's clock (timedatectl), "
                                          "and put tickets only for an app of kind component" },
        };

        for (size_t i = 0; i < sizeof(fixes) / sizeof(fixes[0]); i++)
                if (!strcmp(code, fixes[i].code))
                        return fixes[i].fix;
        return NULL;
}

/* Send one request; the reply, parsed, or NULL after saying why on stderr. */
static cJSON *request(const char *socket_path, const char *line, int timeout_ms, char **raw) {
        char *reply = malloc(PROTOCOL_REPLY_MAX);
        cJSON *o = NULL;
        int r;

        if (!reply) {
                fprintf(stderr, "wxtokenctl: out of memory\n");
                return NULL;
        }
        r = client_request(socket_path, line, reply, PROTOCOL_REPLY_MAX, timeout_ms);
        if (r == -ENOENT || r == -ECONNREFUSED)
                fprintf(stderr, "wxtokenctl: cannot reach wxtokend at %s: is it running (systemctl status "
                        "wxtokend), or is its socket elsewhere (--socket, $WXTOKEND_SOCKET)?\n", socket_path);
        else if (r == -EACCES)
                fprintf(stderr, "wxtokenctl: %s: not allowed to connect: ask to be in the socket's group "
                        "(socket_group)\n", socket_path);
        else if (r == -ETIMEDOUT)
                fprintf(stderr, "wxtokenctl: no answer from wxtokend within %d ms: is it stuck? (journalctl -u "
                        "wxtokend)\n", timeout_ms);
        else if (r < 0)
                fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(-r));
        else if (!(o = cJSON_Parse(reply)) || !cJSON_IsObject(o))
                fprintf(stderr, "wxtokenctl: the agent's reply is not JSON: use a wxtokenctl of the agent's version\n");
        else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
                const cJSON *ra = cJSON_GetObjectItemCaseSensitive(o, "retry_after_ms");
                const char *code = cJSON_IsString(e) ? e->valuestring : "error", *fix = fix_for(code);

                fprintf(stderr, "wxtokenctl: %s: %s", code, cJSON_IsString(m) ? m->valuestring : "");
                if (cJSON_IsNumber(ra))
                        fprintf(stderr, " (retry_after_ms %.0f: try again in %.0f s)", ra->valuedouble,
                                (ra->valuedouble + 999) / 1000);
                fprintf(stderr, "\n");
                if (fix)
                        fprintf(stderr, "wxtokenctl: %s\n", fix);
                cJSON_Delete(o);
                o = NULL;
        }
        if (o && raw)
                *raw = reply;
        else
                free(reply);
        return o;
}

static double number(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *text(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsString(v) ? v->valuestring : "";
}

/* get's failure: said on stderr, and with --json also as a JSON error object on stdout. Returns 1. */
__attribute__((format(printf, 4, 5))) static int get_failed(const char *app, bool json, const char *code,
                                                            const char *fmt, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        fprintf(stderr, "wxtokenctl: %s\n", message);
        if (json) {
                cJSON *o = cJSON_CreateObject();
                char *s;

                cJSON_AddFalseToObject(o, "ok");
                cJSON_AddStringToObject(o, "app", app);
                cJSON_AddStringToObject(o, "error", code);
                cJSON_AddStringToObject(o, "message", message);
                s = cJSON_PrintUnformatted(o);
                cJSON_Delete(o);
                printf("%s\n", s ? s : "{\"ok\":false}");
                free(s);
        }
        return 1;
}

/*
 * No segment for app where this reader looks: ask the agent whether it serves app and
 * from which directory, so a wrong $WXSHM_DIR is named as such.
 */
static int get_missing(const char *socket_path, const char *app, bool json) {
        const char *dir = segment_reader_dir(), *agent_dir = NULL;
        cJSON *req = cJSON_CreateString(app), *o = NULL;
        char *name = req ? cJSON_PrintUnformatted(req) : NULL, line[256], *reply = malloc(PROTOCOL_REPLY_MAX);
        bool serves = false;
        int r;

        cJSON_Delete(req);
        if (name && reply && wire_name_valid(app)) {
                snprintf(line, sizeof(line), "{\"op\":\"status\",\"app\":%s}\n", name);
                if (client_request(socket_path, line, reply, PROTOCOL_REPLY_MAX, PROTOCOL_TIMEOUT_DEFAULT_MS) == 0)
                        o = cJSON_Parse(reply);
        }
        free(name);
        free(reply);
        if (o) {
                const cJSON *server = cJSON_GetObjectItemCaseSensitive(o, "server");
                const cJSON *d = cJSON_GetObjectItemCaseSensitive(server, "shm_dir");

                /* An unknown name is an error reply (no "apps"); a known one is listed, failed to start or not. */
                serves = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "apps")) > 0;
                agent_dir = cJSON_IsString(d) ? d->valuestring : NULL;
        }
        if (!o)
                r = get_failed(app, json, "no_segment", "no segment for %s in %s, and the agent at %s cannot be "
                               "asked: is it running (systemctl status wxtokend)?", app, dir, socket_path);
        else if (serves && agent_dir && strcmp(agent_dir, dir))
                r = get_failed(app, json, "wrong_shm_dir", "the agent serves %s from %s, but this reader looks in %s "
                               "($WXSHM_DIR): unset WXSHM_DIR or set it to %s", app, agent_dir, dir, agent_dir);
        else if (serves)
                r = get_failed(app, json, "no_segment", "the agent serves %s but its segment is not in %s: it may "
                               "have failed to start (wxtokenctl status %s says why)", app, dir, app);
        else
                r = get_failed(app, json, PROTO_E_UNKNOWN_APP, "the agent does not serve %s: check the name "
                               "(wxtokenctl status lists the apps), or add it to the config and run wxtokenctl "
                               "reload", app);
        cJSON_Delete(o);
        return r;
}

static int cmd_get(const char *socket_path, const char *app, bool json) {
        char token[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        wxshm *h;
        int r;

        r = wxshm_open(&h, app);
        if (r == -ENOENT)
                return get_missing(socket_path, app, json);
        else if (r == -EACCES)
                return get_failed(app, json, PROTO_E_PERMISSION, "not allowed to read %s: ask to be in its group "
                                  "(the app's group setting)", app);
        else if (r == -EINVAL)
                return get_failed(app, json, PROTO_E_BAD_REQUEST, "%s is not an app name (" WIRE_NAME_GRAMMAR ")",
                                  app);
        else if (r < 0)
                return get_failed(app, json, "error", "%s: %s", app, strerror(-r));
        info.size = sizeof(info);
        r = wxshm_read(h, token, sizeof(token), &info);
        wxshm_close(h);
        if (r == -ENODATA)
                return get_failed(app, json, PROTO_E_NO_TOKEN, "%s: no token published yet: wxtokenctl status %s "
                                  "says why", app, app);
        else if (r == -ESTALE)
                /* Printed nowhere: a script would hand an expired token on. */
                return get_failed(app, json, "expired", "%s: the token expired %" PRId64 " s ago (state %s): the "
                                  "agent is down or failing: wxtokenctl status %s says why", app,
                                  (clock_wall_ms() - info.expires_at_ms) / 1000, wxshm_state_name(info.state), app);
        else if (r < 0)
                return get_failed(app, json, "error", "%s: %s", app, strerror(-r));
        if (json) {
                cJSON *o = cJSON_CreateObject();
                char *s, digits[24];

                cJSON_AddStringToObject(o, "app", app);
                cJSON_AddStringToObject(o, "token", token);
                /* As digits: a generation past 2^53 would not survive a double. */
                snprintf(digits, sizeof(digits), "%" PRIu64, info.generation);
                cJSON_AddRawToObject(o, "generation", digits);
                snprintf(digits, sizeof(digits), "%" PRId64, info.expires_at_ms);
                cJSON_AddRawToObject(o, "expires_at", digits);
                cJSON_AddStringToObject(o, "state", wxshm_state_name(info.state));
                s = cJSON_PrintUnformatted(o);
                cJSON_Delete(o);
                if (!s) {
                        fprintf(stderr, "wxtokenctl: out of memory\n");
                        return 1;
                }
                printf("%s\n", s);
                free(s);
        } else {
                printf("%s\n", token);
        }
        return 0;
}

/* The digits of an integer field of a flat reply line, exactly (cJSON reads numbers as doubles); 0 if absent. */
static uint64_t raw_u64(const char *line, const char *key) {
        char pattern[64];
        const char *p;

        snprintf(pattern, sizeof(pattern), "\"%s\":", key);
        p = line ? strstr(line, pattern) : NULL;
        return p ? strtoull(p + strlen(pattern), NULL, 10) : 0;
}

static int cmd_refresh(const char *socket_path, const char *app, const char *generation, int timeout_ms) {
        char line[256], gen_field[48] = "", *raw = NULL;
        const cJSON *call;
        uint64_t g;
        cJSON *o;

        if (generation) {
                char *end;

                errno = 0;
                g = strtoull(generation, &end, 10);
                if (errno || *end || generation[0] < '0' || generation[0] > '9')
                        return usage_error("--generation wants a non-negative integer");
                snprintf(gen_field, sizeof(gen_field), ",\"generation\":%" PRIu64, g);
        } else {
                char token[WXSHM_TOKEN_MAX + 1];
                wxshm_info info;
                wxshm *h;
                int r;

                /* Without a readable segment the agent takes "what is published now" itself. */
                if (wxshm_open(&h, app) == 0) {
                        info.size = sizeof(info);
                        r = wxshm_read(h, token, sizeof(token), &info);
                        if (r >= 0 || r == -ESTALE)
                                snprintf(gen_field, sizeof(gen_field), ",\"generation\":%" PRIu64, info.generation);
                        wxshm_close(h);
                }
        }
        /* The name goes out as JSON built by cJSON, so whatever was typed is escaped. */
        {
                cJSON *req = cJSON_CreateString(app);
                char *name = req ? cJSON_PrintUnformatted(req) : NULL;

                cJSON_Delete(req);
                if (!name || !wire_name_valid(app)) {
                        free(name);
                        fprintf(stderr, "wxtokenctl: %s: not an app name (" WIRE_NAME_GRAMMAR ")\n", app);
                        return 1;
                }
                snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":%s%s,\"timeout_ms\":%d}\n", name, gen_field,
                         timeout_ms);
                free(name);
        }
        o = request(socket_path, line, timeout_ms + PROTOCOL_REPLY_SLACK_MS, &raw);
        if (!o)
                return 1;
        printf("%" PRIu64 "\n", raw_u64(raw, "generation"));
        /* Whether WeChat was called: an agent from before "upstream_call" says nothing of it. */
        call = cJSON_GetObjectItemCaseSensitive(o, "upstream_call");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "verified")))
                fprintf(stderr, "wxtokenctl: %s: the token still works (a probe call verified it): not replaced\n",
                        app);
        else if (cJSON_IsBool(call))
                fprintf(stderr, "wxtokenctl: %s: %s\n", app, cJSON_IsTrue(call)
                        ? "a new token: an upstream call was made"
                        : "already replaced (newer than the generation given): no upstream call was made");
        free(raw);
        cJSON_Delete(o);
        return 0;
}

/* "1h59m", "42s", "-3m" (expired): how long the token has left. */
static void format_left(char *buf, size_t size, int64_t left_ms) {
        int64_t s = (left_ms < 0 ? -left_ms : left_ms) / 1000;
        const char *sign = left_ms < 0 ? "-" : "";

        if (s >= 3600)
                snprintf(buf, size, "%s%" PRId64 "h%02" PRId64 "m", sign, s / 3600, s / 60 % 60);
        else if (s >= 60)
                snprintf(buf, size, "%s%" PRId64 "m%02" PRId64 "s", sign, s / 60, s % 60);
        else
                snprintf(buf, size, "%s%" PRId64 "s", sign, s);
}

/* Cluster mode: which node this is, and whether its Redis answers. */
static void print_cluster(const cJSON *c, int64_t now) {
        char since[32];

        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "connected"))) {
                printf("cluster: node %s, Redis %s connected, lease holder of %.0f apps\n", text(c, "node"),
                       text(c, "redis"), number(c, "lease_holder_of"));
                return;
        }
        format_left(since, sizeof(since), now - (int64_t)number(c, "down_since"));
        printf("cluster: node %s, Redis %s UNREACHABLE for %s (%s): local tokens served until they expire\n",
               text(c, "node"), text(c, "redis"), since, text(c, "last_error"));
}

/*
 * cJSON would print 1700000007200000 as 1.7000000072e+15: put every integer back as the
 * digits the agent sent (all of the protocol's numbers are integers below 2^53).
 */
static void integers_raw(cJSON *o) {
        cJSON *v;

        cJSON_ArrayForEach(v, o) {
                if (cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble) {
                        char digits[24];
                        cJSON *raw;

                        snprintf(digits, sizeof(digits), "%" PRId64, (int64_t)v->valuedouble);
                        raw = cJSON_CreateRaw(digits);
                        /* The replacement takes the key along (cJSON frees it with the item). */
                        if (raw && v->string && !(raw->string = strdup(v->string))) {
                                cJSON_Delete(raw);
                                raw = NULL;
                        }
                        if (raw && cJSON_ReplaceItemViaPointer(o, v, raw))
                                v = raw;
                        else
                                cJSON_Delete(raw);
                } else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
                        integers_raw(v);
                }
        }
}

/* wxtokenctl status exits with the Nagios codes (the agent's verdict, doc/man/wxtokenctl.1). */
enum { NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN };

/* Why status_all found no status: the agent is away (CRITICAL) or said something else (UNKNOWN). */
struct status_failure {
        int code;
        char why[512];
};

/*
 * One status page: the parsed reply (and its raw line, malloc'd, in *raw), or NULL with
 * f filled in. app: only that app (NULL: all).
 */
static cJSON *status_page(const char *socket_path, const char *app, double offset, char **raw,
                          struct status_failure *f) {
        char line[256], *reply = malloc(PROTOCOL_REPLY_MAX), *name = NULL;
        cJSON *o = NULL, *n = app ? cJSON_CreateString(app) : NULL;
        int r;

        if (!reply || (app && (!n || !(name = cJSON_PrintUnformatted(n)) || !wire_name_valid(app)))) {
                *f = (struct status_failure){ NAGIOS_UNKNOWN, "" };
                snprintf(f->why, sizeof(f->why), app && (!n || name) ? "%s: not an app name" : "out of memory",
                         app ? app : "");
                free(reply);
                free(name);
                cJSON_Delete(n);
                return NULL;
        }
        snprintf(line, sizeof(line), "{\"op\":\"status\"%s%s,\"offset\":%.0f}\n", app ? ",\"app\":" : "",
                 app ? name : "", offset);
        free(name);
        cJSON_Delete(n);
        r = client_request(socket_path, line, reply, PROTOCOL_REPLY_MAX, PROTOCOL_TIMEOUT_DEFAULT_MS);
        if (r == -ENOENT || r == -ECONNREFUSED)
                *f = (struct status_failure){ NAGIOS_CRITICAL, "" },
                snprintf(f->why, sizeof(f->why), "cannot reach wxtokend at %s: is it running?", socket_path);
        else if (r == -ETIMEDOUT)
                *f = (struct status_failure){ NAGIOS_CRITICAL, "" },
                snprintf(f->why, sizeof(f->why), "no answer from wxtokend at %s within %d ms", socket_path,
                         PROTOCOL_TIMEOUT_DEFAULT_MS);
        else if (r == -EPROTO || r == -EMSGSIZE)
                *f = (struct status_failure){ NAGIOS_UNKNOWN, "" },
                snprintf(f->why, sizeof(f->why), "the reply at %s is not a status line: %s", socket_path,
                         strerror(-r));
        else if (r < 0)
                *f = (struct status_failure){ NAGIOS_CRITICAL, "" },
                snprintf(f->why, sizeof(f->why), "cannot reach wxtokend at %s: %s", socket_path, strerror(-r));
        else if (!(o = cJSON_Parse(reply)) || !cJSON_IsObject(o))
                *f = (struct status_failure){ NAGIOS_UNKNOWN, "" },
                snprintf(f->why, sizeof(f->why), "the reply at %s is not understood (not a JSON object)", socket_path);
        else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")))
                *f = (struct status_failure){ NAGIOS_UNKNOWN, "" },
                snprintf(f->why, sizeof(f->why), "the agent refused: %s: %s", text(o, "error"), text(o, "message"));
        else if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "apps")))
                *f = (struct status_failure){ NAGIOS_UNKNOWN, "" },
                snprintf(f->why, sizeof(f->why), "the reply at %s is not understood (no apps)", socket_path);
        else {
                *raw = reply;
                return o;
        }
        cJSON_Delete(o);
        free(reply);
        return NULL;
}

/*
 * Every page of the agent's status, as one reply: the first page's object with the apps
 * of all pages; *raw is the first page's line, and *pages how many there were. NULL with
 * f filled in. A reload between two pages may skip or repeat an app.
 */
static cJSON *status_all(const char *socket_path, const char *app, char **raw, int *pages,
                         struct status_failure *f) {
        cJSON *all = NULL, *o, *apps, *more;
        double offset = 0;
        const cJSON *next;
        char *line;

        for (*pages = 0; *pages < 100000; (*pages)++) {
                o = status_page(socket_path, app, offset, &line, f);
                if (!o) {
                        cJSON_Delete(all);
                        if (*raw)
                                free(*raw), *raw = NULL;
                        return NULL;
                }
                next = cJSON_GetObjectItemCaseSensitive(o, "next");
                /* An agent from before paging sends no "next": its one reply holds everything. */
                offset = cJSON_IsNumber(next) && next->valuedouble > offset ? next->valuedouble : -1;
                cJSON_DeleteItemFromObjectCaseSensitive(o, "next");
                if (!all) {
                        all = o;
                        *raw = line;
                } else {
                        free(line);
                        apps = cJSON_GetObjectItemCaseSensitive(all, "apps");
                        more = cJSON_GetObjectItemCaseSensitive(o, "apps");
                        while (cJSON_IsArray(apps) && cJSON_IsArray(more) && cJSON_GetArraySize(more) > 0)
                                cJSON_AddItemToArray(apps, cJSON_DetachItemFromArray(more, 0));
                        cJSON_Delete(o);
                }
                if (offset < 0) {
                        (*pages)++;
                        return all;
                }
        }
        *f = (struct status_failure){ NAGIOS_UNKNOWN, "the agent's status does not end" };
        cJSON_Delete(all);
        free(*raw);
        *raw = NULL;
        return NULL;
}

/* A time of the agent's as the table shows it: "13:05:02" within the last 20 hours, else the date. */
static void format_when(char *buf, size_t size, int64_t at_ms, int64_t now) {
        time_t t = (time_t)(at_ms / 1000);
        struct tm tm;

        if (at_ms <= 0 || !localtime_r(&t, &tm))
                snprintf(buf, size, "-");
        else
                strftime(buf, size, now - at_ms < 20 * 3600 * 1000LL ? "%H:%M:%S" : "%Y-%m-%d", &tm);
}

/* body after prefix, wrapped at width (words kept whole unless longer than a line), indented by indent. */
static void print_wrapped(const char *prefix, const char *body, int indent, int width) {
        int end = width > indent + 20 ? width : indent + 60, col = indent + (int)strlen(prefix);
        const char *p = body + strspn(body, " ");
        bool first = true;

        printf("%*s%s", indent, "", prefix);
        while (*p) {
                int word = (int)strcspn(p, " ");

                /* The space before a word goes out only if the word stays on this line. */
                if (!first && col + 1 + word > end) {
                        printf("\n%*s", indent + 2, "");
                        col = indent + 2;
                } else if (!first) {
                        putchar(' ');
                        col++;
                }
                first = false;
                /* A word longer than a line is cut where the line ends, and goes on below. */
                while (word > end - col && end - col > 0) {
                        int take = end - col;

                        printf("%.*s\n%*s", take, p, indent + 2, "");
                        p += take, word -= take;
                        col = indent + 2;
                }
                printf("%.*s", word, p);
                col += word;
                p += word;
                p += strspn(p, " ");
        }
        putchar('\n');
}

/* The agent's own line: version, pid, uptime, config, the last reload. */
static void print_agent(const cJSON *ag, int64_t now) {
        const cJSON *rl = cJSON_GetObjectItemCaseSensitive(ag, "last_reload");
        char up[32], when[32];

        format_left(up, sizeof(up), now - (int64_t)number(ag, "started_at"));
        printf("wxtokend %s, pid %.0f, up %s, config %s", text(ag, "version"), number(ag, "pid"), up,
               text(ag, "config"));
        if (cJSON_IsObject(rl)) {
                format_when(when, sizeof(when), (int64_t)number(rl, "at"), now);
                if (!strcmp(text(rl, "result"), "taken"))
                        printf("; last reload %s: taken (%.0f apps)", when, number(rl, "apps"));
                else
                        printf("; last reload %s: REFUSED: %s", when, text(rl, "reason"));
        }
        putchar('\n');
}

static void print_table(const cJSON *o, int64_t now) {
        const cJSON *apps = cJSON_GetObjectItemCaseSensitive(o, "apps"), *cluster, *a;
        const char *cols = getenv("COLUMNS");
        int width = cols && atoi(cols) >= 40 ? atoi(cols) : 80, name_w = 3;

        cluster = cJSON_GetObjectItemCaseSensitive(o, "cluster");
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "agent")))
                print_agent(cJSON_GetObjectItemCaseSensitive(o, "agent"), now);
        if (cJSON_IsObject(cluster))
                print_cluster(cluster, now);
        /* The name column as wide as the longest name: a long name moves the columns, never breaks them. */
        cJSON_ArrayForEach(a, apps)
                if ((int)strlen(text(a, "app")) > name_w)
                        name_w = (int)strlen(text(a, "app"));
        printf("%-*s %-6s %-12s %-8s %8s %-8s %-8s %10s %-*s%s\n", name_w, "APP", "KIND", "STATE", "SINCE",
               "ATTEMPTS", "NEXT", "EXPIRES", "GENERATION", cluster ? 18 : 0, cluster ? " HOLDER" : "", " VERDICT");
        cJSON_ArrayForEach(a, apps) {
                double gen = number(a, "generation"), expires = number(a, "expires_at"), next = number(a, "next_refresh_at");
                long errcode = (long)number(a, "last_errcode");
                int verdict = (int)number(a, "verdict");
                char left[32] = "none", since[32], when[32], nxt[32] = "-", holder[40] = "", prefix[400];

                if (gen > 0)
                        format_left(left, sizeof(left), (int64_t)expires - now);
                if (next > (double)now)
                        format_left(nxt, sizeof(nxt), (int64_t)next - now);
                else if (next > 0)
                        snprintf(nxt, sizeof(nxt), "now");
                format_when(since, sizeof(since), (int64_t)number(a, "state_since"), now);
                if (cluster)
                        snprintf(holder, sizeof(holder), " %.12s%s", text(a, "holder")[0] ? text(a, "holder") : "-",
                                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lease_held_here")) ? " (here)" : "");
                printf("%-*s %-6s %-12s %-8s %8.0f %-8s %-8s %10.0f %-*s %s%s%s\n", name_w, text(a, "app"),
                       text(a, "kind"), text(a, "state"), since, number(a, "attempts"), nxt, left, gen,
                       cluster ? 18 : 0, holder,
                       verdict == 0 ? "OK" : verdict == 1 ? "WARNING" : verdict == 2 ? "CRITICAL" : "UNKNOWN",
                       verdict ? ": " : "", verdict ? text(a, "verdict_reason") : "");
                /* The last error whole, wrapped; what it means; what to do. */
                if (errcode != 0 || text(a, "last_errmsg")[0]) {
                        format_when(when, sizeof(when), (int64_t)number(a, "last_error_at"), now);
                        if (errcode != 0)
                                snprintf(prefix, sizeof(prefix), "error %ld (%s) at %s: ", errcode,
                                         text(a, "errcode_meaning"), when);
                        else
                                snprintf(prefix, sizeof(prefix), "error at %s: ", when);
                        print_wrapped(prefix, text(a, "last_errmsg"), 2, width);
                }
                if (text(a, "advice")[0])
                        print_wrapped("advice: ", text(a, "advice"), 2, width);
                /* A component: how old its component_verify_ticket is, and which one its calls use. */
                {
                        const cJSON *comp = cJSON_GetObjectItemCaseSensitive(a, "component");
                        /* A WeCom suite's is its suite_ticket, its accounts corps. */
                        bool suite = !strcmp(text(a, "kind"), "suite");
                        const char *tname = suite ? "suite_ticket" : "component_verify_ticket";

                        if (cJSON_IsObject(comp) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")))
                                printf("  %s: created %.0f s ago%s\n", tname, number(comp, "ticket_age_s"),
                                       !strcmp(text(comp, "ticket_in_use"), "previous")
                                               ? "; calls use the previous good ticket (the newest was refused)" : "");
                        else if (cJSON_IsObject(comp))
                                printf("  %s: none yet (wxtokenctl ticket put %s ...)\n", tname, text(a, "app"));
                        if (cJSON_IsObject(comp) && text(comp, "note")[0])
                                print_wrapped("ticket: ", text(comp, "note"), 2, width);
                        if (cJSON_IsObject(comp) && number(comp, "authorizers") > 0)
                                printf("  %s: %.0f, %.0f refused (re-authorize), %.0f failing (wxtokenctl "
                                       "authorizer list %s)\n", suite ? "corps" : "authorizers", number(comp, "authorizers"),
                                       number(comp, "authorizers_refused"), number(comp, "authorizers_failing"),
                                       text(a, "app"));
                        if (cJSON_IsObject(comp) && number(comp, "authorizers_revoked") > 0)
                                printf("  authorizers revoked: %.0f (refused, and no longer in WeChat's list: "
                                       "removed; see the log)\n", number(comp, "authorizers_revoked"));
                }
                /* Cluster mode: a bad record or lease key in Redis, and what to do about it. */
                if (text(a, "cluster_problem")[0])
                        printf("  %s: %s\n", text(a, "app"), text(a, "cluster_problem"));
        }
}

static int cmd_status(const char *socket_path, bool json, const char *app) {
        struct status_failure f = { NAGIOS_UNKNOWN, "" };
        const cJSON *verdict, *code;
        int64_t now = clock_wall_ms();
        char *raw = NULL, *s;
        int pages = 0, rc;
        cJSON *o;

        o = status_all(socket_path, app, &raw, &pages, &f);
        if (o) {
                verdict = cJSON_GetObjectItemCaseSensitive(o, "verdict");
                code = cJSON_GetObjectItemCaseSensitive(verdict, "code");
                /* An agent without a verdict (older), or a code out of range: not understood. */
                if (!cJSON_IsNumber(code) || code->valuedouble < 0 || code->valuedouble > 3 ||
                    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(verdict, "summary"))) {
                        f = (struct status_failure){ NAGIOS_UNKNOWN, "" };
                        snprintf(f.why, sizeof(f.why), "the reply at %s has no verdict (an agent older than this "
                                 "wxtokenctl?)", socket_path);
                        cJSON_Delete(o);
                        free(raw);
                        o = NULL;
                }
        }
        if (!o) {
                fprintf(stderr, "wxtokenctl: %s\n", f.why);
                if (json) {
                        cJSON *e = cJSON_CreateObject(), *v = cJSON_AddObjectToObject(e, "verdict");

                        cJSON_AddFalseToObject(e, "ok");
                        cJSON_AddStringToObject(e, "error", f.code == NAGIOS_CRITICAL ? "unreachable" : "not_understood");
                        cJSON_AddStringToObject(e, "message", f.why);
                        cJSON_AddNumberToObject(v, "code", f.code);
                        cJSON_AddStringToObject(v, "status", f.code == NAGIOS_CRITICAL ? "CRITICAL" : "UNKNOWN");
                        s = cJSON_PrintUnformatted(e);
                        printf("%s\n", s ? s : "{}");
                        free(s);
                        cJSON_Delete(e);
                } else {
                        printf("WXTOKEND %s - %s\n", f.code == NAGIOS_CRITICAL ? "CRITICAL" : "UNKNOWN", f.why);
                }
                return f.code;
        }
        rc = (int)code->valuedouble;
        if (json && pages == 1) {
                /* One page: the agent's own line, as it sent it. */
                printf("%s\n", raw);
        } else if (json) {
                integers_raw(o);
                s = cJSON_PrintUnformatted(o);
                printf("%s\n", s ? s : "{}");
                free(s);
        } else {
                printf("%s\n", cJSON_GetObjectItemCaseSensitive(verdict, "summary")->valuestring);
                print_table(o, now);
        }
        free(raw);
        cJSON_Delete(o);
        return rc;
}

/*
 * metrics: the one reply that is not a JSON line: the agent writes the exposition and
 * closes the connection, so it is copied to stdout up to EOF (no size cap), each read
 * bounded by timeout_ms.
 */
static int cmd_metrics(const char *socket_path, int timeout_ms) {
        static const char req[] = "{\"op\":\"metrics\"}\n";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[65536], head[256];
        size_t head_len = 0;
        bool started = false;
        int fd;

        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return usage_error("--socket: the path is too long");
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;

                if (e == ENOENT || e == ECONNREFUSED)
                        fprintf(stderr, "wxtokenctl: cannot reach wxtokend at %s: is it running?\n", socket_path);
                else
                        fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(e));
                if (fd >= 0)
                        close(fd);
                return 1;
        }
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
                fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(errno));
                close(fd);
                return 1;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r = poll(&p, 1, timeout_ms);

                if (r == 0) {
                        fprintf(stderr, "wxtokenctl: no answer from wxtokend within %d ms\n", timeout_ms);
                        close(fd);
                        return 1;
                }
                n = r < 0 ? -1 : read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(errno));
                        close(fd);
                        return 1;
                }
                if (n == 0)
                        break;
                /* An agent that does not know the op answers a JSON error line: said, not printed as metrics. */
                if (!started && head_len + (size_t)n < sizeof(head) && buf[0] == '{') {
                        memcpy(head + head_len, buf, (size_t)n);
                        head_len += (size_t)n;
                        continue;
                }
                if (!started && head_len > 0)
                        fwrite(head, 1, head_len, stdout);
                started = true;
                fwrite(buf, 1, (size_t)n, stdout);
        }
        close(fd);
        if (!started && head_len > 0) {
                head[head_len < sizeof(head) ? head_len : sizeof(head) - 1] = '\0';
                {
                        cJSON *o = cJSON_Parse(head);
                        const char *m = o ? text(o, "message") : head;

                        fprintf(stderr, "wxtokenctl: the agent refused metrics: %s\n", m);
                        cJSON_Delete(o);
                }
                return 1;
        }
        if (!started) {
                fprintf(stderr, "wxtokenctl: the agent closed the connection without metrics\n");
                return 1;
        }
        return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_reload(const char *socket_path) {
        cJSON *o = request(socket_path, "{\"op\":\"reload\"}\n", PROTOCOL_TIMEOUT_MAX_MS, NULL);

        if (!o)
                return 1;
        printf("reload taken: %.0f apps\n", number(o, "apps"));
        cJSON_Delete(o);
        return 0;
}

static int cmd_retry(const char *socket_path, const char *app) {
        cJSON *req = cJSON_CreateString(app), *o;
        char *name = req ? cJSON_PrintUnformatted(req) : NULL, line[256];

        cJSON_Delete(req);
        if (!name || !wire_name_valid(app)) {
                free(name);
                fprintf(stderr, "wxtokenctl: %s: not an app name (" WIRE_NAME_GRAMMAR ")\n", app);
                return 1;
        }
        snprintf(line, sizeof(line), "{\"op\":\"retry\",\"app\":%s}\n", name);
        free(name);
        o = request(socket_path, line, PROTOCOL_TIMEOUT_DEFAULT_MS, NULL);
        if (!o)
                return 1;
        if (!strcmp(text(o, "retry"), "in_flight"))
                printf("%s: a call is under way already: wxtokenctl status %s shows how it ends\n", app, app);
        else if (!strcmp(text(o, "retry"), "forwarded"))
                printf("%s: sent to the lease holder%s%s%s, which applies its own rules (quota, max_forced_per_day, "
                       "min_force_interval) and logs what it did: wxtokenctl status %s shows how it ends\n", app,
                       text(o, "holder")[0] ? " (" : "", text(o, "holder"), text(o, "holder")[0] ? ")" : "", app);
        else
                printf("%s: calling now: wxtokenctl status %s shows how it ends\n", app, app);
        cJSON_Delete(o);
        return 0;
}

/* ticket put: the forwarder's line. The agent checks the ticket and the time; this only builds the request. */
static int cmd_ticket_put(const char *socket_path, const char *app, const char *ticket, const char *create_time) {
        cJSON *req = cJSON_CreateObject(), *o;
        char *line = NULL, *end, stdin_ticket[PROTOCOL_VERIFY_TICKET_MAX + 3];
        long long t;

        /* "-": the ticket from stdin, one line, so it is not on the command line for ps to show. */
        if (!strcmp(ticket, "-")) {
                size_t n;

                if (!fgets(stdin_ticket, sizeof(stdin_ticket), stdin)) {
                        cJSON_Delete(req);
                        fprintf(stderr, "wxtokenctl: ticket put: no ticket on standard input\n");
                        return 1;
                }
                n = strcspn(stdin_ticket, "\n");
                if (stdin_ticket[n] != '\n' && !feof(stdin)) {
                        cJSON_Delete(req);
                        fprintf(stderr, "wxtokenctl: ticket put: the ticket is too long (at most "
                                PROTOCOL_STR(PROTOCOL_VERIFY_TICKET_MAX) " bytes)\n");
                        return 1;
                }
                stdin_ticket[n] = '\0';
                ticket = stdin_ticket;
        }

        errno = 0;
        t = strtoll(create_time, &end, 10);
        if (errno || end == create_time || *end || t < 1) {
                cJSON_Delete(req);
                return usage_error("ticket put: CREATE_TIME wants the push's CreateTime, Unix seconds");
        }
        if (!wire_name_valid(app)) {
                cJSON_Delete(req);
                fprintf(stderr, "wxtokenctl: %s: not an app name (" WIRE_APP_NAME_GRAMMAR ")\n", app);
                return 1;
        }
        if (req && cJSON_AddStringToObject(req, "op", "ticket") && cJSON_AddStringToObject(req, "app", app) &&
            cJSON_AddStringToObject(req, "ticket", ticket) && cJSON_AddNumberToObject(req, "create_time", (double)t))
                line = cJSON_PrintUnformatted(req);
        cJSON_Delete(req);
        if (!line || strlen(line) + 2 > PROTOCOL_LINE_MAX) {
                free(line);
                fprintf(stderr, "wxtokenctl: ticket put: the ticket is too long (at most "
                        PROTOCOL_STR(PROTOCOL_VERIFY_TICKET_MAX) " bytes)\n");
                return 1;
        }
        {
                size_t n = strlen(line);
                char *l = realloc(line, n + 2);

                if (!l) {
                        free(line);
                        return 1;
                }
                line = l;
                line[n] = '\n';
                line[n + 1] = '\0';
        }
        o = request(socket_path, line, PROTOCOL_TIMEOUT_DEFAULT_MS, NULL);
        free(line);
        if (!o)
                return 1;
        printf("%s: ticket %s: %s\n", app, text(o, "ticket"), text(o, "message"));
        cJSON_Delete(o);
        return 0;
}

/* The request o as one line with its newline (o deleted; the line wiped by the caller): NULL if too long. */
static char *request_line(cJSON *o) {
        char *line = o ? cJSON_PrintUnformatted(o) : NULL, *l;
        cJSON *rt = cJSON_GetObjectItemCaseSensitive(o, "refresh_token");
        size_t n;

        if (cJSON_IsString(rt) && rt->valuestring)
                explicit_bzero(rt->valuestring, strlen(rt->valuestring));
        cJSON_Delete(o);
        if (!line)
                return NULL;
        n = strlen(line);
        if (n + 2 > PROTOCOL_LINE_MAX || !(l = realloc(line, n + 2))) {
                explicit_bzero(line, n);
                free(line);
                return NULL;
        }
        l[n] = '\n';
        l[n + 1] = '\0';
        return l;
}

/* The refresh token from stdin (argv is visible in ps): one line, its newline dropped. */
static bool read_refresh_token(char *buf, size_t size) {
        size_t n;

        if (isatty(STDIN_FILENO))
                fprintf(stderr, "refresh token: ");
        if (!fgets(buf, (int)size, stdin))
                return false;
        n = strcspn(buf, "\r\n");
        if (buf[n] == '\0' && n == size - 1)
                return false; /* longer than the agent takes */
        buf[n] = '\0';
        return n > 0;
}

/* authorizer add --auth-code, authorizer sync: the agent calls WeChat before it answers (a sync, page after page). */
static int cmd_authorizer_wechat(const char *socket_path, bool json, const char *component, bool sync) {
        char code[PROTOCOL_REFRESH_TOKEN_MAX + 2], *line;
        cJSON *req = cJSON_CreateObject(), *o;

        if (!wire_app_name_valid(component)) {
                cJSON_Delete(req);
                fprintf(stderr, "wxtokenctl: authorizer: COMPONENT is " WIRE_APP_NAME_GRAMMAR "\n");
                return 1;
        }
        if (!sync && !read_refresh_token(code, sizeof(code))) {
                cJSON_Delete(req);
                fprintf(stderr, "wxtokenctl: authorizer add --auth-code: give the authorization code on stdin, one "
                        "line of 1 to " PROTOCOL_STR(PROTOCOL_REFRESH_TOKEN_MAX) " bytes\n");
                return 1;
        }
        if (!req || !cJSON_AddStringToObject(req, "op", sync ? "authorizer_sync" : "authorizer_add") ||
            !cJSON_AddStringToObject(req, "component", component) ||
            (!sync && !cJSON_AddStringToObject(req, "auth_code", code))) {
                cJSON_Delete(req);
                explicit_bzero(code, sizeof(code));
                return 1;
        }
        line = request_line(req);
        explicit_bzero(code, sizeof(code));
        if (!line)
                return 1;
        /* 10,000 accounts are 20 pages of api_get_authorizer_list: more than a refresh's wait. */
        o = request(socket_path, line, 120000, NULL);
        explicit_bzero(line, strlen(line));
        free(line);
        if (!o)
                return 1;
        if (json) {
                char *s = cJSON_PrintUnformatted(o);

                printf("%s\n", s ? s : "");
                free(s);
        } else if (sync) {
                printf("%s: %s\n", component, text(o, "message"));
        } else {
                printf("%s.%s: %s\n", component, text(o, "appid"), text(o, "message"));
        }
        cJSON_Delete(o);
        return 0;
}

static int cmd_authorizer(const char *socket_path, bool json, const char *verb, const char *component,
                          const char *appid, bool auth_code) {
        char rt[PROTOCOL_REFRESH_TOKEN_MAX + 2], *line;
        bool add = !strcmp(verb, "add");
        const cJSON *list, *x;
        cJSON *req = cJSON_CreateObject(), *o;

        if (!wire_app_name_valid(component) || (appid && !wire_authorizer_appid_valid(appid))) {
                cJSON_Delete(req);
                fprintf(stderr, "wxtokenctl: authorizer: COMPONENT is " WIRE_APP_NAME_GRAMMAR ", APPID "
                        WIRE_AUTHORIZER_APPID_GRAMMAR "\n");
                return 1;
        }
        if (add && !read_refresh_token(rt, sizeof(rt))) {
                cJSON_Delete(req);
                fprintf(stderr, "wxtokenctl: authorizer add: give the refresh token on stdin, one line of 1 to "
                        PROTOCOL_STR(PROTOCOL_REFRESH_TOKEN_MAX) " bytes\n");
                return 1;
        }
        if (!req || !cJSON_AddStringToObject(req, "op", add ? "authorizer_add" : appid ? "authorizer_remove"
                                                                                  : "authorizer_list") ||
            !cJSON_AddStringToObject(req, "component", component) ||
            (appid && !cJSON_AddStringToObject(req, "appid", appid)) ||
            (add && !cJSON_AddStringToObject(req, auth_code ? "auth_code" : "refresh_token", rt))) {
                cJSON_Delete(req);
                explicit_bzero(rt, sizeof(rt));
                return 1;
        }
        line = request_line(req);
        explicit_bzero(rt, sizeof(rt));
        if (!line) {
                fprintf(stderr, "wxtokenctl: authorizer: the request does not fit a line\n");
                return 1;
        }
        o = request(socket_path, line, PROTOCOL_TIMEOUT_DEFAULT_MS, NULL);
        explicit_bzero(line, strlen(line));
        free(line);
        if (!o)
                return 1;
        if (json) {
                char *s = cJSON_PrintUnformatted(o);

                printf("%s\n", s ? s : "");
                free(s);
        } else if (appid) {
                printf("%s.%s: %s\n", component, appid, text(o, "message"));
        } else {
                list = cJSON_GetObjectItemCaseSensitive(o, "authorizers");
                printf("%-34s %-9s %10s %10s  %s\n", "APPID", "STATE", "GENERATION", "EXPIRES_IN", "NOTE");
                cJSON_ArrayForEach(x, list) {
                        double exp = number(x, "expires_at");
                        char left[24] = "-";

                        if (exp > 0)
                                snprintf(left, sizeof(left), "%.0f s", (exp - (double)clock_wall_ms()) / 1000);
                        printf("%-34s %-9s %10.0f %10s  %s\n", text(x, "appid"), text(x, "state"),
                               number(x, "generation"), left, text(x, "note"));
                }
        }
        cJSON_Delete(o);
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },     { "json", no_argument, NULL, 'j' },
                { "generation", required_argument, NULL, 'g' }, { "timeout", required_argument, NULL, 't' },
                { "version", no_argument, NULL, 'V' },
                { "auth-code", no_argument, NULL, 'A' },        /* authorizer add: stdin holds an auth code */
                { "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
        };
        const char *socket_path = client_socket_path(), *generation = NULL, *cmd;
        long timeout_ms = PROTOCOL_TIMEOUT_DEFAULT_MS;
        bool json = false, timeout_set = false, auth_code = false;
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "s:jg:t:h", options, NULL)) != -1) {
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'g':
                        generation = optarg;
                        break;
                case 't':
                        timeout_ms = strtol(optarg, &end, 10);
                        if (*end || timeout_ms < 1 || timeout_ms > PROTOCOL_TIMEOUT_MAX_MS)
                                return usage_error("--timeout wants milliseconds from 1 to "
                                                   PROTOCOL_STR(PROTOCOL_TIMEOUT_MAX_MS));
                        timeout_set = true;
                        break;
                case 'A':
                        auth_code = true;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                case 'V':
                        printf("wxtokenctl " PACKAGE_VERSION "\n");
                        return 0;
                default:
                        fputs(usage_text, stderr);
                        return EX_USAGE;
                }
        }
        if (optind >= argc)
                return usage_error("no command");
        cmd = argv[optind++];
        if ((generation || timeout_set) && strcmp(cmd, "refresh"))
                return usage_error("--generation and --timeout belong to refresh");
        if (auth_code && (strcmp(cmd, "authorizer") || optind >= argc || strcmp(argv[optind], "add")))
                return usage_error("--auth-code belongs to authorizer add");
        if (json && !strcmp(cmd, "refresh"))
                return usage_error("refresh has no --json");
        if (!strcmp(cmd, "status"))
                return argc - optind <= 1 ? cmd_status(socket_path, json, optind < argc ? argv[optind] : NULL)
                                          : usage_error("status takes one APP at most");
        if (!strcmp(cmd, "metrics"))
                return optind == argc && !json ? cmd_metrics(socket_path, PROTOCOL_TIMEOUT_DEFAULT_MS)
                                               : usage_error("metrics takes no APP and no --json");
        if (!strcmp(cmd, "reload"))
                return optind == argc && !json ? cmd_reload(socket_path) : usage_error("reload takes no APP and no --json");
        if (!strcmp(cmd, "ticket")) {
                if (json || argc - optind != 4 || strcmp(argv[optind], "put"))
                        return usage_error("ticket put APP TICKET CREATE_TIME, no --json");
                return cmd_ticket_put(socket_path, argv[optind + 1], argv[optind + 2], argv[optind + 3]);
        }
        if (!strcmp(cmd, "authorizer")) {
                int n = argc - optind;
                const char *verb = n > 0 ? argv[optind] : "";

                if (!strcmp(verb, "add") && n == 2 && auth_code)
                        return cmd_authorizer_wechat(socket_path, json, argv[optind + 1], false);
                if (!strcmp(verb, "sync") && n == 2 && !auth_code)
                        return cmd_authorizer_wechat(socket_path, json, argv[optind + 1], true);
                /* A corp under a WeCom suite: its corpid and, with --auth-code, the temporary auth code. */
                if ((!strcmp(verb, "add") && n == 3) || (!strcmp(verb, "remove") && n == 3 && !auth_code))
                        return cmd_authorizer(socket_path, json, verb, argv[optind + 1], argv[optind + 2], auth_code);
                if (!strcmp(verb, "list") && n == 2)
                        return cmd_authorizer(socket_path, json, verb, argv[optind + 1], NULL, false);
                return usage_error("authorizer add COMPONENT APPID (refresh token on stdin), authorizer add "
                                   "COMPONENT --auth-code (code on stdin), authorizer add SUITE CORPID [--auth-code] "
                                   "(permanent or auth code on stdin), authorizer remove COMPONENT APPID, "
                                   "authorizer list COMPONENT, authorizer sync COMPONENT");
        }
        if (strcmp(cmd, "get") && strcmp(cmd, "refresh") && strcmp(cmd, "retry"))
                return usage_error("unknown command (get, refresh, status, metrics, reload, retry, ticket, "
                                   "authorizer)");
        if (argc - optind != 1)
                return usage_error("one APP, please");
        if (!strcmp(cmd, "retry"))
                return json ? usage_error("retry has no --json") : cmd_retry(socket_path, argv[optind]);
        if (!strcmp(cmd, "get"))
                return cmd_get(socket_path, argv[optind], json);
        return cmd_refresh(socket_path, argv[optind], generation, (int)timeout_ms);
}
