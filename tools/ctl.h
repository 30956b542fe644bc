/* ctl.h: what wxtokenctl's command files (tools/ctl-*.c) share: the request, reply fields, and each command. */
#ifndef CTL_H
#define CTL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The usage text after what (stderr): EX_USAGE (wxtokenctl.c). */
int usage_error(const char *what);

/* ctl-request.c: one request line, the reply parsed (and its raw line in *raw), or NULL after saying why and the fix. */
cJSON *request(const char *socket_path, const char *line, int timeout_ms, char **raw);

/* A field of a reply: the number (0 if absent), the string ("" if absent). */
double number(const cJSON *o, const char *key);
const char *text(const cJSON *o, const char *key);

/* The digits of an integer field of a flat reply line, exactly (cJSON reads numbers as doubles); 0 if absent. */
uint64_t raw_u64(const char *line, const char *key);

/* The request o as one line with its newline (o deleted; the line wiped by the caller): NULL if too long. */
char *request_line(cJSON *o);

/* request_line(req) sent (its refresh token and the line wiped after): the reply, or NULL after saying why. */
cJSON *request_object(const char *socket_path, cJSON *req, int timeout_ms);

/*
 * One page of a paged reply (status, authorizer list) into *all: the first becomes *all,
 * a later one has its key array moved to the end of *all's (the page deleted). Returns the
 * offset of the next page, -1 after the last; "next" is taken out of the page.
 */
double page_merge(cJSON **all, cJSON *page, const char *key, double offset);

/* The reply o on stdout as one JSON line (--json). */
void print_json(const cJSON *o);

/* ctl-table.c: "1h59m", "42s", "-3m"; and status's table for people. */
void format_left(char *buf, size_t size, int64_t left_ms);
void print_table(const cJSON *o, int64_t now);

/* The commands; each returns the process's exit code. */
int cmd_get(const char *socket_path, const char *app, bool json);                                   /* ctl-token.c */
int cmd_refresh(const char *socket_path, const char *app, const char *generation, int timeout_ms);
int cmd_status(const char *socket_path, bool json, const char *app);                                /* ctl-status.c */
int cmd_metrics(const char *socket_path, int timeout_ms);                                           /* ctl-admin.c */
int cmd_reload(const char *socket_path);
int cmd_retry(const char *socket_path, const char *app);
int cmd_ticket_put(const char *socket_path, const char *app, const char *ticket, const char *create_time); /* ctl-platform.c */
int cmd_authorizer_wechat(const char *socket_path, bool json, const char *component, bool sync);
int cmd_authorizer(const char *socket_path, bool json, const char *verb, const char *component, const char *appid,
                   bool auth_code);

#endif
