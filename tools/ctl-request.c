/* ctl-request.c: wxtokenctl's one request to the agent: send a line, read the reply, say an error and its fix. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "wire.h"

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
cJSON *request(const char *socket_path, const char *line, int timeout_ms, char **raw) {
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

double number(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

const char *text(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsString(v) ? v->valuestring : "";
}

/* The digits of an integer field of a flat reply line, exactly (cJSON reads numbers as doubles); 0 if absent. */
uint64_t raw_u64(const char *line, const char *key) {
        char pattern[64];
        const char *p;

        snprintf(pattern, sizeof(pattern), "\"%s\":", key);
        p = line ? strstr(line, pattern) : NULL;
        return p ? strtoull(p + strlen(pattern), NULL, 10) : 0;
}

/* The request o as one line with its newline (o deleted; the line wiped by the caller): NULL if too long. */
char *request_line(cJSON *o) {
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

void print_json(const cJSON *o) {
        char *s = cJSON_PrintUnformatted(o);

        printf("%s\n", s ? s : "{}");
        free(s);
}

cJSON *request_object(const char *socket_path, cJSON *req, int timeout_ms) {
        char *line = request_line(req);
        cJSON *o;

        if (!line) {
                fprintf(stderr, "wxtokenctl: the request does not fit a line (at most " PROTOCOL_STR(PROTOCOL_LINE_MAX)
                        " bytes)\n");
                return NULL;
        }
        o = request(socket_path, line, timeout_ms, NULL);
        explicit_bzero(line, strlen(line));
        free(line);
        return o;
}

double page_merge(cJSON **all, cJSON *page, const char *key, double offset) {
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(page, "next");
        /* An agent from before paging sends no "next": its one reply holds everything. */
        double n = cJSON_IsNumber(next) && next->valuedouble > offset ? next->valuedouble : -1;
        cJSON *into, *more;

        cJSON_DeleteItemFromObjectCaseSensitive(page, "next");
        if (!*all) {
                *all = page;
                return n;
        }
        into = cJSON_GetObjectItemCaseSensitive(*all, key);
        more = cJSON_GetObjectItemCaseSensitive(page, key);
        while (cJSON_IsArray(into) && cJSON_IsArray(more) && cJSON_GetArraySize(more) > 0)
                cJSON_AddItemToArray(into, cJSON_DetachItemFromArray(more, 0));
        cJSON_Delete(page);
        return n;
}
