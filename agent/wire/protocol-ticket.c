/* protocol-ticket.c: the ticket op (a component's component_verify_ticket): strict parsing, its reply, its status. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol-internal.h"

/*
 * WeChat's tickets are printable ASCII ("ticket@@@..."): anything else (a space, a control
 * character, UTF-8) is a forwarder's bug better refused here than sent to WeChat.
 */
static bool ticket_chars_ok(const char *s) {
        for (; *s; s++)
                if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

bool protocol_ticket_text_ok(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= PROTOCOL_VERIFY_TICKET_MAX && ticket_chars_ok(s);
}

int protocol_parse_ticket(const struct cJSON *root, struct request *req, const char **error, char *message,
                          size_t message_size) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "ticket");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "create_time");
        size_t n;
        double d;

        if (!cJSON_IsString(t) || !t->valuestring)
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST, "\"ticket\" must be a string");
        n = strlen(t->valuestring);
        if (n == 0 || n > PROTOCOL_VERIFY_TICKET_MAX)
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"ticket\" must be 1 to " PROTOCOL_STR(PROTOCOL_VERIFY_TICKET_MAX) " bytes, got %zu", n);
        if (!ticket_chars_ok(t->valuestring))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"ticket\" must be printable ASCII without spaces, as WeChat's are");
        /* CreateTime of WeChat's push: Unix seconds, an integer, exact as a double. */
        if (!cJSON_IsNumber(ct) || !isfinite(ct->valuedouble))
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"create_time\" must be the push's CreateTime (Unix seconds)");
        d = ct->valuedouble;
        if (d < 1 || d >= (double)PROTOCOL_GENERATION_LIMIT || (double)(int64_t)d != d)
                return protocol_fail(error, message, message_size, PROTO_E_BAD_REQUEST,
                            "\"create_time\" must be an integer from 1 (Unix seconds)");
        memcpy(req->verify_ticket, t->valuestring, n + 1);
        req->create_time_s = (int64_t)d;
        return 0;
}

char *protocol_ticket_ok(bool taken, int64_t create_time_s, const char *message) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddTrueToObject(o, "ok") &&
                  cJSON_AddStringToObject(o, "ticket", taken ? "taken" : "ignored") &&
                  protocol_add_i64(o, "create_time", create_time_s) &&
                  cJSON_AddStringToObject(o, "message", message ? message : "");

        return protocol_finish(o, ok);
}

bool protocol_add_component(struct cJSON *o, const struct status_component *c) {
        cJSON *x = cJSON_AddObjectToObject(o, "component");

        if (!x || !cJSON_AddBoolToObject(x, "has_ticket", c->has_ticket) ||
            !cJSON_AddBoolToObject(x, "waiting_for_ticket", c->waiting) ||
            !cJSON_AddStringToObject(x, "note", c->note ? c->note : "") ||
            !cJSON_AddBoolToObject(x, "ticket_alarm", c->alarm) ||
            !protocol_add_i64(x, "ticket_alarm_after_s", c->alarm_after_s))
                return false;
        if (c->has_ticket && (!protocol_add_i64(x, "ticket_create_time", c->create_time_s) ||
                              !protocol_add_i64(x, "ticket_age_s", c->age_s) ||
                              !protocol_add_i64(x, "ticket_received_at", c->received_at_ms) ||
                              !cJSON_AddStringToObject(x, "ticket_in_use", c->previous ? "previous" : "newest")))
                return false;
        if (c->previous && !protocol_add_i64(x, "previous_ticket_create_time", c->previous_create_time_s))
                return false;
        if (c->authorizers && (!protocol_add_i64(x, "authorizers", c->authorizers) ||
                               !protocol_add_i64(x, "authorizers_refused", c->authorizers_refused) ||
                               !protocol_add_i64(x, "authorizers_revoked", c->authorizers_revoked) ||
                               !protocol_add_i64(x, "authorizers_failing", c->authorizers_failing)))
                return false;
        if (c->account_tickets && (!protocol_add_i64(x, "account_tickets", c->account_tickets) ||
                                   !protocol_add_i64(x, "account_tickets_failing", c->account_tickets_failing)))
                return false;
        return true;
}
