/* protocol.c: the control socket's JSON lines: strict request parsing and cJSON-built replies. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "protocol-internal.h"

/* Bytes of the client's input a message may quote: enough to recognise, too few to abuse. */
#define QUOTE_MAX 32
/* Generations travel as JSON numbers; doubles are exact below 2^53 (and hold 2^53 itself exactly). */
#define GENERATION_LIMIT ((double)PROTOCOL_GENERATION_LIMIT)

int protocol_fail(const char **error, char *message, size_t message_size, const char *code, const char *fmt, ...) {
        va_list ap;

        *error = code;
        if (message && message_size > 0) {
                va_start(ap, fmt);
                vsnprintf(message, message_size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* Copy at most QUOTE_MAX bytes of s as printable ASCII, marking a cut with "...". */
static void quote(char out[static QUOTE_MAX + 4], const char *s) {
        size_t i;

        for (i = 0; s[i] && i < QUOTE_MAX; i++)
                out[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
        strcpy(out + i, s[i] ? "..." : "");
}

/*
 * cJSON decodes "\u0000" into a NUL that silently cuts the string short ("shop\u0000x"
 * would pass as "shop"), so refuse the escape outright. Backslashes only occur inside
 * strings and every escape is two characters, so skipping pairs is exact.
 */
static bool has_nul_escape(const char *s) {
        for (; *s; s++) {
                if (*s != '\\')
                        continue;
                if (s[1] == 'u' && !strncmp(s + 2, "0000", 4))
                        return true;
                if (s[1])
                        s++;
        }
        return false;
}

/* An integer-valued JSON number in [min, limit); anything else (1.5, -1, 1e400, "7") is refused. */
static bool integer_in(const cJSON *v, double min, double limit, double *out) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return false;
        /* In range first, so the cast is defined; it truncates, and that must change nothing. */
        if (v->valuedouble < min || v->valuedouble >= limit || (double)(int64_t)v->valuedouble != v->valuedouble)
                return false;
        *out = v->valuedouble;
        return true;
}

/* "app": an item name, checked as libwxshm checks it, into req->app. */
static int parse_app(const cJSON *app, struct request *req, const char **error, char *message, size_t message_size) {
        char q[QUOTE_MAX + 4];

        if (!cJSON_IsString(app))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"app\" must be a string");
        if (!wire_name_valid(app->valuestring)) {
                quote(q, app->valuestring);
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"app\" \"%s\" is not " WIRE_NAME_GRAMMAR, q);
        }
        _Static_assert(sizeof(req->app) >= WIRE_NAME_SIZE, "room for the longest name");
        strcpy(req->app, app->valuestring);
        return 0;
}

/* A page's "offset" and "limit" (status, authorizer_list): both optional; the defaults are set already. */
int protocol_parse_page(const cJSON *root, struct request *req, const char **error, char *message,
                        size_t message_size) {
        const cJSON *offset = cJSON_GetObjectItemCaseSensitive(root, "offset");
        const cJSON *limit = cJSON_GetObjectItemCaseSensitive(root, "limit");
        double d;

        if (offset) {
                if (!integer_in(offset, 0, GENERATION_LIMIT, &d))
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                                    "\"offset\" must be an integer from 0 (the \"next\" of the previous reply)");
                req->offset = (uint64_t)d;
        }
        if (limit) {
                if (!integer_in(limit, 1, PROTOCOL_STATUS_LIMIT_MAX + 1.0, &d))
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                                    "\"limit\" must be an integer from 1 to %d", PROTOCOL_STATUS_LIMIT_MAX);
                req->limit = (unsigned)d;
        }
        return 0;
}

/* status: every field optional, so {"op":"status"} is the first page of everything, as it always was. */
static int parse_status(const cJSON *root, struct request *req, const char **error, char *message,
                        size_t message_size) {
        const cJSON *app = cJSON_GetObjectItemCaseSensitive(root, "app");

        if (app) {
                int r = parse_app(app, req, error, message, message_size);

                if (r < 0)
                        return r;
                req->has_app = true;
        }
        return protocol_parse_page(root, req, error, message, message_size);
}

static int parse_object(const cJSON *root, struct request *req, const char **error, char *message,
                        size_t message_size) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
        const cJSON *gen, *timeout, *token;
        char q[QUOTE_MAX + 4];
        double d;
        int r;

        if (!cJSON_IsString(op))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"op\" must be a string");
        if (!strcmp(op->valuestring, "status")) {
                req->op = OP_STATUS;
                return parse_status(root, req, error, message, message_size);
        } else if (!strcmp(op->valuestring, "metrics")) {
                req->op = OP_METRICS;
                return 0;
        } else if (!strcmp(op->valuestring, "get")) {
                req->op = OP_GET;
        } else if (!strcmp(op->valuestring, "refresh")) {
                req->op = OP_REFRESH;
        } else if (!strcmp(op->valuestring, "reload")) {
                req->op = OP_RELOAD;
                return 0;
        } else if (!strcmp(op->valuestring, "retry")) {
                req->op = OP_RETRY;
        } else if (!strcmp(op->valuestring, "ticket")) {
                req->op = OP_TICKET;
        } else if (!strncmp(op->valuestring, "authorizer_", 11)) {
                return protocol_parse_authorizer(root, req, error, message, message_size);
        } else {
                quote(q, op->valuestring);
                return protocol_fail(error, message, message_size, PROTO_E_UNKNOWN_OP,
                            "unknown op \"%s\" (refresh get status metrics reload retry ticket authorizer_*)", q);
        }

        r = parse_app(cJSON_GetObjectItemCaseSensitive(root, "app"), req, error, message, message_size);
        if (r < 0)
                return r;
        if (req->op == OP_GET || req->op == OP_RETRY)
                return 0;
        if (req->op == OP_TICKET)
                return protocol_parse_ticket(root, req, error, message, message_size);

        gen = cJSON_GetObjectItemCaseSensitive(root, "generation");
        if (gen) {
                if (!integer_in(gen, 0, GENERATION_LIMIT, &d))
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                                    "\"generation\" must be an integer from 0 to 2^53-1");
                req->has_generation = true;
                req->generation = (uint64_t)d;
        }
        timeout = cJSON_GetObjectItemCaseSensitive(root, "timeout_ms");
        if (timeout) {
                if (!integer_in(timeout, 1, PROTOCOL_TIMEOUT_MAX_MS + 1.0, &d))
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                                    "\"timeout_ms\" must be an integer from 1 to %d",
                                    PROTOCOL_TIMEOUT_MAX_MS);
                req->timeout_ms = (int64_t)d;
        }
        /* A boolean, strictly: "token":"yes" is a client's mistake better named than ignored. */
        token = cJSON_GetObjectItemCaseSensitive(root, "token");
        if (token) {
                if (!cJSON_IsBool(token))
                        return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                                    "\"token\" must be true or false");
                req->want_token = cJSON_IsTrue(token);
        }
        return 0;
}

int protocol_parse(const char *line, size_t len, struct request *req, const char **error, char *message,
                   size_t message_size) {
        struct request r = { .timeout_ms = PROTOCOL_TIMEOUT_DEFAULT_MS, .limit = PROTOCOL_STATUS_LIMIT_DEFAULT };
        char copy[PROTOCOL_LINE_MAX];
        const char *end = NULL;
        cJSON *root;
        int ret;

        /* The limit counts the newline the caller already stripped. */
        if (len >= PROTOCOL_LINE_MAX)
                return protocol_fail(error, message, message_size, PROTO_E_LINE_TOO_LONG,
                            "a request line is at most %d bytes", PROTOCOL_LINE_MAX);
        /* A raw NUL is never valid JSON, and the copy below must be a C string of exactly len bytes. */
        if (!line || memchr(line, '\0', len))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_JSON, "not a JSON object (NUL byte)");
        memcpy(copy, line, len);
        copy[len] = '\0';

        /* require_null_terminated: trailing garbage after the object is an error too. */
        root = cJSON_ParseWithOpts(copy, &end, 1);
        if (!cJSON_IsObject(root))
                ret = protocol_fail(error, message, message_size, PROTO_E_BAD_JSON, "not a JSON object");
        else if (has_nul_escape(copy))
                ret = protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "strings may not contain \\u0000");
        else
                ret = parse_object(root, &r, error, message, message_size);
        cJSON_Delete(root);
        if (ret == 0)
                *req = r;
        return ret;
}

/* Integers go out as raw digits: cJSON would print them through a double. */
bool protocol_add_i64(cJSON *o, const char *key, int64_t v) {
        char buf[24];

        snprintf(buf, sizeof(buf), "%" PRId64, v);
        return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static bool add_u64(cJSON *o, const char *key, uint64_t v) {
        char buf[24];

        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return cJSON_AddRawToObject(o, key, buf) != NULL;
}

/* Length of the well-formed UTF-8 sequence at u (n bytes left), 0 if malformed (RFC 3629 table). */
static size_t utf8_len(const unsigned char *u, size_t n) {
        unsigned char lo = 0x80, hi = 0xbf;
        size_t need, k;

        if (u[0] < 0x80)
                return 1;
        if (u[0] >= 0xc2 && u[0] <= 0xdf)
                need = 1;
        else if (u[0] >= 0xe0 && u[0] <= 0xef)
                need = 2;
        else if (u[0] >= 0xf0 && u[0] <= 0xf4)
                need = 3;
        else
                return 0;
        /* No overlong forms, no surrogates, nothing above U+10FFFF. */
        if (u[0] == 0xe0)
                lo = 0xa0;
        else if (u[0] == 0xed)
                hi = 0x9f;
        else if (u[0] == 0xf0)
                lo = 0x90;
        else if (u[0] == 0xf4)
                hi = 0x8f;
        if (need >= n || u[1] < lo || u[1] > hi)
                return 0;
        for (k = 2; k <= need; k++) {
                if ((u[k] & 0xc0) != 0x80)
                        return 0;
        }
        return need + 1;
}

/*
 * cJSON escapes quotes and control characters but passes other bytes through, and an
 * upstream errmsg may hold anything: a byte that starts no well-formed sequence becomes '?'.
 */
static bool add_text(cJSON *o, const char *key, const char *s) {
        const unsigned char *u = (const unsigned char *)(s ? s : "");
        size_t n = strlen((const char *)u), i = 0, k;
        char *clean = malloc(n + 1);
        bool ok;

        if (!clean)
                return false;
        while (i < n) {
                k = utf8_len(u + i, n - i);
                if (k == 0) {
                        clean[i++] = '?';
                        continue;
                }
                memcpy(clean + i, u + i, k);
                i += k;
        }
        clean[n] = '\0';
        ok = cJSON_AddStringToObject(o, key, clean) != NULL;
        free(clean);
        return ok;
}

/* Print o on one line with its newline, and free it; NULL if any step ran out of memory. */
char *protocol_finish(cJSON *o, bool ok) {
        char *s = ok && o ? cJSON_PrintUnformatted(o) : NULL, *line = NULL;
        size_t n;

        if (s) {
                n = strlen(s);
                line = realloc(s, n + 2);
                if (line) {
                        line[n] = '\n';
                        line[n + 1] = '\0';
                } else {
                        free(s);
                }
        }
        cJSON_Delete(o);
        return line;
}

char *protocol_error(const char *code, const char *message, int64_t retry_after_ms) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddFalseToObject(o, "ok") && add_text(o, "error", code) &&
                  add_text(o, "message", message);

        if (ok && retry_after_ms >= 0)
                ok = protocol_add_i64(o, "retry_after_ms", retry_after_ms);
        return protocol_finish(o, ok);
}

char *protocol_refresh_ok(uint64_t generation, int64_t expires_at_ms, bool verified) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && add_u64(o, "generation", generation) &&
                  protocol_add_i64(o, "expires_at", expires_at_ms);

        if (ok && verified)
                ok = cJSON_AddTrueToObject(o, "verified") != NULL;
        return protocol_finish(o, ok);
}

char *protocol_refresh_ok_call(uint64_t generation, int64_t expires_at_ms, bool verified, bool upstream_call) {
        return protocol_refresh_ok_token(generation, expires_at_ms, verified, upstream_call, NULL);
}

char *protocol_refresh_ok_token(uint64_t generation, int64_t expires_at_ms, bool verified, bool upstream_call,
                                const char *token) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && add_u64(o, "generation", generation) &&
                  protocol_add_i64(o, "expires_at", expires_at_ms);

        if (ok && verified)
                ok = cJSON_AddTrueToObject(o, "verified") != NULL;
        if (ok)
                ok = cJSON_AddBoolToObject(o, "upstream_call", upstream_call) != NULL;
        if (ok && token)
                ok = add_text(o, "token", token);
        return protocol_finish(o, ok);
}

char *protocol_reload_ok(size_t n_apps) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && add_text(o, "reload", "taken") &&
                  add_u64(o, "apps", n_apps);

        return protocol_finish(o, ok);
}

char *protocol_retry_ok(const char *what) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && add_text(o, "retry", what);

        return protocol_finish(o, ok);
}

char *protocol_retry_forwarded(const char *holder) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && add_text(o, "retry", "forwarded");

        if (ok && holder && holder[0])
                ok = add_text(o, "holder", holder);
        return protocol_finish(o, ok);
}

char *protocol_get_ok(const char *app, const char *token, uint64_t generation, int64_t expires_at_ms) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && add_text(o, "app", app) && add_text(o, "token", token) &&
                  add_u64(o, "generation", generation) && protocol_add_i64(o, "expires_at", expires_at_ms);

        return protocol_finish(o, ok);
}

static bool add_entry(cJSON *apps, const struct status_entry *e) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(apps, o)) {
                cJSON_Delete(o);
                return false;
        }
        if (e->holder && (!add_text(o, "holder", e->holder) ||
                          !cJSON_AddBoolToObject(o, "lease_held_here", e->is_holder)))
                return false;
        if (e->cluster_problem && !add_text(o, "cluster_problem", e->cluster_problem))
                return false;
        if (e->component && !protocol_add_component(o, e->component))
                return false;
        if (e->verdict_reason &&
            (!add_u64(o, "verdict", (uint64_t)e->verdict) || !add_text(o, "verdict_reason", e->verdict_reason) ||
             !protocol_add_i64(o, "state_since", e->state_since_ms) || !add_u64(o, "attempts", e->attempts) ||
             !protocol_add_i64(o, "last_error_at", e->last_error_at_ms) ||
             !add_text(o, "errcode_meaning", e->errcode_meaning ? e->errcode_meaning : "") ||
             !add_text(o, "advice", e->advice ? e->advice : "")))
                return false;
        return add_text(o, "app", e->name) && add_text(o, "kind", e->kind) &&
               add_u64(o, "generation", e->generation) && protocol_add_i64(o, "expires_at", e->expires_at_ms) &&
               protocol_add_i64(o, "fetched_at", e->fetched_at_ms) && protocol_add_i64(o, "next_refresh_at", e->next_refresh_ms) &&
               add_text(o, "state", e->state) && protocol_add_i64(o, "last_errcode", e->last_errcode) &&
               add_text(o, "last_errmsg", e->last_errmsg) && add_u64(o, "upstream_calls", e->upstream_calls) &&
               add_u64(o, "forced_refreshes", e->forced_refreshes) &&
               add_u64(o, "coalesced_waiters", e->coalesced_waiters) && add_u64(o, "rate_limited", e->rate_limited) &&
               add_u64(o, "forced_today", e->forced_today) && add_u64(o, "max_forced_per_day", e->forced_cap);
}

size_t protocol_status_entry_size(const struct status_entry *e) {
        /*
         * Keys, punctuation and numbers of today's times and counters take about 340 bytes;
         * names and node ids need no escaping, an upstream errmsg may grow 6-fold (\u00XX).
         */
        return 360 + (e->component ? 360 + 6 * strlen(e->component->note ? e->component->note : "") : 0) +
               strlen(e->name) + strlen(e->holder ? e->holder : "") +
               6 * strlen(e->last_errmsg ? e->last_errmsg : "") +
               (e->verdict_reason ? 160 + strlen(e->verdict_reason) + 6 * strlen(e->advice ? e->advice : "") +
                                            strlen(e->errcode_meaning ? e->errcode_meaning : "")
                                  : 0);
}

static bool add_cluster(cJSON *o, const struct cluster_status *st) {
        cJSON *c = cJSON_AddObjectToObject(o, "cluster");

        return c && add_text(c, "node", st->node_id) && add_text(c, "redis", st->redis) &&
               cJSON_AddBoolToObject(c, "connected", st->connected) &&
               protocol_add_i64(c, "down_since", st->down_since_ms) && add_text(c, "last_error", st->last_error) &&
               add_u64(c, "lease_holder_of", st->holder_of) && add_u64(c, "notes_refused", st->notes_refused);
}

static bool add_server(cJSON *o, const struct status_server *st) {
        cJSON *c = cJSON_AddObjectToObject(o, "server");

        return c && add_u64(c, "connections", st->connections) && add_u64(c, "status_replies", st->status_replies) &&
               (!st->shm_dir || add_text(c, "shm_dir", st->shm_dir)) && add_u64(c, "evicted_idle", st->evicted_idle);
}

static bool add_agent(cJSON *o, const struct status_agent *st) {
        cJSON *c = cJSON_AddObjectToObject(o, "agent"), *r, *v;

        if (!c || !add_text(c, "version", st->version) || !protocol_add_i64(c, "pid", st->pid) ||
            !protocol_add_i64(c, "started_at", st->started_at_ms) || !add_text(c, "config", st->config))
                return false;
        if (st->reload_at_ms > 0) {
                r = cJSON_AddObjectToObject(c, "last_reload");
                if (!r || !protocol_add_i64(r, "at", st->reload_at_ms) ||
                    !add_text(r, "result", st->reload_taken ? "taken" : "refused") ||
                    (st->reload_taken && !add_u64(r, "apps", st->reload_apps)) ||
                    (!st->reload_taken && !add_text(r, "reason", st->reload_reason ? st->reload_reason : "")))
                        return false;
        }
        v = cJSON_AddObjectToObject(o, "verdict");
        return v && add_u64(v, "code", (uint64_t)st->verdict) &&
               add_text(v, "status", st->verdict == 0 ? "OK" : st->verdict == 1 ? "WARNING"
                                     : st->verdict == 2 ? "CRITICAL" : "UNKNOWN") &&
               add_text(v, "summary", st->verdict_summary);
}

char *protocol_status_ok(const struct status_entry *entries, size_t n, const struct cluster_status *cluster,
                         int64_t next, const struct status_server *server) {
        return protocol_status_page(entries, n, cluster, next, server, NULL);
}

char *protocol_status_page(const struct status_entry *entries, size_t n, const struct cluster_status *cluster,
                           int64_t next, const struct status_server *server, const struct status_agent *agent) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") && (!cluster || add_cluster(o, cluster)) &&
                  (!server || add_server(o, server)) && (!agent || add_agent(o, agent));
        cJSON *apps = ok ? cJSON_AddArrayToObject(o, "apps") : NULL;
        size_t i;

        ok = apps != NULL;
        for (i = 0; ok && i < n; i++)
                ok = add_entry(apps, &entries[i]);
        if (ok && next >= 0)
                ok = protocol_add_i64(o, "next", next);
        return protocol_finish(o, ok);
}
