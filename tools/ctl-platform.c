/* ctl-platform.c: wxtokenctl ticket put and authorizer add|remove|list|sync: a platform's tickets and accounts. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/io/clock.h"
#include "ctl.h"
#include "wire.h"

/* ticket put: the forwarder's line. The agent checks the ticket and the time; this only builds the request. */
int cmd_ticket_put(const char *socket_path, const char *app, const char *ticket, const char *create_time) {
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
        if (!req || !cJSON_AddStringToObject(req, "op", "ticket") || !cJSON_AddStringToObject(req, "app", app) ||
            !cJSON_AddStringToObject(req, "ticket", ticket) ||
            !cJSON_AddNumberToObject(req, "create_time", (double)t)) {
                cJSON_Delete(req);
                fprintf(stderr, "wxtokenctl: out of memory\n");
                return 1;
        }
        if (!(line = request_line(req))) {
                fprintf(stderr, "wxtokenctl: ticket put: the ticket is too long (at most "
                        PROTOCOL_STR(PROTOCOL_VERIFY_TICKET_MAX) " bytes)\n");
                return 1;
        }
        o = request(socket_path, line, PROTOCOL_TIMEOUT_DEFAULT_MS, NULL);
        free(line);
        if (!o)
                return 1;
        printf("%s: ticket %s: %s\n", app, text(o, "ticket"), text(o, "message"));
        cJSON_Delete(o);
        return 0;
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
int cmd_authorizer_wechat(const char *socket_path, bool json, const char *component, bool sync) {
        char code[PROTOCOL_REFRESH_TOKEN_MAX + 2];
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
        /* 10,000 accounts are 20 pages of api_get_authorizer_list: more than a refresh's wait. */
        o = request_object(socket_path, req, 120000);
        explicit_bzero(code, sizeof(code));
        if (!o)
                return 1;
        if (json) {
                print_json(o);
        } else if (sync) {
                printf("%s: %s\n", component, text(o, "message"));
        } else {
                printf("%s.%s: %s\n", component, text(o, "appid"), text(o, "message"));
        }
        cJSON_Delete(o);
        return 0;
}

/*
 * authorizer list: every page (the agent answers 500 accounts at most per reply), as one
 * reply: the first page's object with the accounts of all pages, without "next". NULL if
 * a page failed (said on stderr). Accounts removed between two pages may shift one unseen.
 */
static cJSON *authorizer_list_all(const char *socket_path, const char *component) {
        cJSON *all = NULL, *o;
        double offset = 0;
        char line[256];

        for (int pages = 0; pages < 100000 && offset >= 0; pages++) {
                snprintf(line, sizeof(line), "{\"op\":\"authorizer_list\",\"component\":\"%s\",\"offset\":%.0f}\n",
                         component, offset);
                o = request(socket_path, line, PROTOCOL_TIMEOUT_DEFAULT_MS, NULL);
                if (!o) {
                        cJSON_Delete(all);
                        return NULL;
                }
                offset = page_merge(&all, o, "authorizers", offset);
        }
        return all;
}

int cmd_authorizer(const char *socket_path, bool json, const char *verb, const char *component,
                          const char *appid, bool auth_code) {
        char rt[PROTOCOL_REFRESH_TOKEN_MAX + 2];
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
        if (add || appid) {
                o = request_object(socket_path, req, PROTOCOL_TIMEOUT_DEFAULT_MS);
        } else {
                cJSON_Delete(req); /* the component is checked above: each page's line is built from it */
                o = authorizer_list_all(socket_path, component);
        }
        explicit_bzero(rt, sizeof(rt));
        if (!o)
                return 1;
        if (json) {
                print_json(o);
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
