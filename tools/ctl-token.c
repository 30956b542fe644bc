/* ctl-token.c: wxtokenctl get (a token from its segment) and refresh (a forced, compare-and-refresh replacement). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

#include "agent/io/clock.h"  /* the agent's clock helper: wall time, for "expired N s ago" */
#include "client.h"
#include "ctl.h"
#include "segment.h"
#include "wire.h"
#include "wxshm.h"

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

int cmd_get(const char *socket_path, const char *app, bool json) {
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

int cmd_refresh(const char *socket_path, const char *app, const char *generation, int timeout_ms) {
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
