/* emu-api.h: the emulated WeChat and WeCom endpoints. */
#ifndef WXEMU_API_H
#define WXEMU_API_H

#include <stdbool.h>
#include <stddef.h>

#include "emu-reply.h"

struct emu_request {
        const char *method;
        const char *path;
        const char *body;       /* NUL-terminated; NULL when there was none */
        size_t body_len;
        bool body_too_big;
        void *conn;             /* the HTTP layer's connection, for req_arg */
};

/* A query-string argument; NULL when absent or empty, as WeChat treats both alike. */
const char *req_arg(const struct emu_request *q, const char *name);

void api_token(const struct emu_request *q, struct emu_reply *r);
void api_stable_token(const struct emu_request *q, struct emu_reply *r);
void api_gettoken(const struct emu_request *q, struct emu_reply *r);
void api_getticket(const struct emu_request *q, struct emu_reply *r);
void api_corp_ticket(const struct emu_request *q, struct emu_reply *r);
void api_agent_ticket(const struct emu_request *q, struct emu_reply *r);
void api_callbackip(const struct emu_request *q, struct emu_reply *r);

#endif
