/* fuzz-protocol.c: libFuzzer target for protocol_parse(), the control socket's request parser. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct request req;
        const char *error = NULL;
        char message[128];
        char *reply;
        int r;

        /* Poison what the parser must write, so a field it forgets shows up below. */
        memset(&req, 0xa5, sizeof(req));
        memset(message, 0xa5, sizeof(message));
        r = protocol_parse((const char *)data, size, &req, &error, message, sizeof(message));
        if (r == 0) {
                /* The contract in protocol.h: the server trusts these without checking again. */
                if (memchr(req.app, '\0', sizeof(req.app)) == NULL)
                        abort();
                /* refresh, get and retry name an app; status only if it says so; metrics and reload none. */
                bool names_app = req.op == OP_REFRESH || req.op == OP_GET || req.op == OP_RETRY ||
                                 req.op == OP_TICKET || (req.op == OP_STATUS && req.has_app);

                if (names_app && !segment_name_valid(req.app))
                        abort();
                /* A status or authorizer_list page: a limit in range, an offset exact as a JSON number. */
                if ((req.op == OP_STATUS || req.op == OP_AUTHORIZER_LIST) && (req.limit < 1 || req.limit > PROTOCOL_STATUS_LIMIT_MAX ||
                                            req.offset >= (1ull << 53)))
                        abort();
                if (req.op == OP_REFRESH && (req.timeout_ms < 1 || req.timeout_ms > PROTOCOL_TIMEOUT_MAX_MS))
                        abort();
                if (req.op != OP_REFRESH && req.op != OP_GET && req.op != OP_STATUS && req.op != OP_METRICS &&
                    req.op != OP_RELOAD && req.op != OP_RETRY && req.op != OP_TICKET && req.op != OP_AUTHORIZER_ADD &&
                    req.op != OP_AUTHORIZER_REMOVE && req.op != OP_AUTHORIZER_LIST && req.op != OP_AUTHORIZER_SYNC)
                        abort();
                /* authorizer_*: a component's own name, an appid of the grammar, a bounded printable refresh token. */
                /* An add with an auth_code: a bounded printable code, no refresh token, and an appid of the
                 * grammar if any (a corp under a suite names it; a component's comes from WeChat's answer). */
                bool by_code = req.op == OP_AUTHORIZER_ADD && req.auth_code[0];

                if (by_code) {
                        size_t n = strnlen(req.auth_code, sizeof(req.auth_code));

                        if (n > PROTOCOL_AUTH_CODE_MAX || req.refresh_token[0] ||
                            (req.authorizer_appid[0] && !wire_authorizer_appid_valid(req.authorizer_appid)))
                                abort();
                        for (size_t i = 0; i < n; i++)
                                if ((unsigned char)req.auth_code[i] < 0x21 || (unsigned char)req.auth_code[i] > 0x7e)
                                        abort();
                }
                if ((req.op == OP_AUTHORIZER_SYNC || by_code) && !wire_app_name_valid(req.app))
                        abort();
                if ((req.op == OP_AUTHORIZER_ADD && !by_code) || req.op == OP_AUTHORIZER_REMOVE ||
                    req.op == OP_AUTHORIZER_LIST) {
                        if (!wire_app_name_valid(req.app))
                                abort();
                        if (req.op != OP_AUTHORIZER_LIST && !wire_authorizer_appid_valid(req.authorizer_appid))
                                abort();
                        if (req.op == OP_AUTHORIZER_ADD) {
                                size_t n = strnlen(req.refresh_token, sizeof(req.refresh_token));

                                if (n == 0 || n > PROTOCOL_REFRESH_TOKEN_MAX)
                                        abort();
                                for (size_t i = 0; i < n; i++)
                                        if ((unsigned char)req.refresh_token[i] < 0x21 ||
                                            (unsigned char)req.refresh_token[i] > 0x7e)
                                                abort();
                        }
                        reply = protocol_authorizer_ok("added", req.app, req.op == OP_AUTHORIZER_LIST ? "" :
                                                       req.authorizer_appid, "m");
                        if (!reply || reply[strlen(reply) - 1] != '\n' || memchr(reply, '\n', strlen(reply) - 1))
                                abort();
                        free(reply);
                }
                /* A list page with its cursor: one JSON line too. */
                if (req.op == OP_AUTHORIZER_LIST) {
                        struct authorizer_entry e = { .appid = "wxa1", .state = "fresh", .note = "" };

                        reply = protocol_authorizer_list(req.app, &e, 1, req.offset + 1, (int64_t)req.offset + 1);
                        if (!reply || reply[strlen(reply) - 1] != '\n' || memchr(reply, '\n', strlen(reply) - 1))
                                abort();
                        free(reply);
                }
                /* ticket: a bounded, printable ticket and a positive create time, as protocol.h promises. */
                if (req.op == OP_TICKET) {
                        size_t n = strnlen(req.verify_ticket, sizeof(req.verify_ticket));

                        if (n == 0 || n > PROTOCOL_VERIFY_TICKET_MAX || req.create_time_s < 1 ||
                            req.create_time_s >= (int64_t)(1ll << 53))
                                abort();
                        for (size_t i = 0; i < n; i++)
                                if ((unsigned char)req.verify_ticket[i] < 0x21 || (unsigned char)req.verify_ticket[i] > 0x7e)
                                        abort();
                        reply = protocol_ticket_ok(false, req.create_time_s, "ignored");
                        if (!reply || reply[strlen(reply) - 1] != '\n' || memchr(reply, '\n', strlen(reply) - 1))
                                abort();
                        free(reply);
                }
                /* A get reply echoes the app name: it must come out as one JSON line. */
                if (names_app) {
                        reply = protocol_get_ok(req.app, "TOKEN", 1, 0);
                } else if (req.op != OP_STATUS) {
                        reply = NULL; /* metrics and reload: nothing of the request is echoed */
                } else {
                        /* A status page with its cursor: one JSON line too. */
                        struct status_entry e = { .name = "app", .kind = "token", .state = "fresh",
                                                  .last_errmsg = "" };
                        struct status_server st = { .connections = 1, .status_replies = 1 };

                        reply = protocol_status_ok(&e, 1, NULL, (int64_t)req.offset + 1, &st);
                }
        } else {
                if (!error || memchr(message, '\0', sizeof(message)) == NULL)
                        abort();
                /* The message may quote a few input bytes: the reply must still be one line. */
                reply = protocol_error(error, message, -1);
        }
        if (reply) {
                size_t n = strlen(reply);

                if (n == 0 || reply[n - 1] != '\n' || memchr(reply, '\n', n - 1) != NULL)
                        abort();
                free(reply);
        }
        return 0;
}
