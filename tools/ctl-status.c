/* ctl-status.c: wxtokenctl status: every page of the agent's status, its verdict as a Nagios exit code, JSON or a table. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/io/clock.h"
#include "client.h"
#include "ctl.h"
#include "wire.h"

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
        cJSON *all = NULL, *o;
        double offset = 0;
        char *line;

        for (*pages = 0; *pages < 100000; (*pages)++) {
                o = status_page(socket_path, app, offset, &line, f);
                if (!o) {
                        cJSON_Delete(all);
                        if (*raw)
                                free(*raw), *raw = NULL;
                        return NULL;
                }
                if (!all)
                        *raw = line;
                else
                        free(line);
                offset = page_merge(&all, o, "apps", offset);
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

int cmd_status(const char *socket_path, bool json, const char *app) {
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
