/* emu-faults.h: failure injection for the token and ticket endpoints. */
#ifndef WXEMU_FAULTS_H
#define WXEMU_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "emu-reply.h"

enum fault_kind {
        FAULT_NONE,
        FAULT_BUSY,     /* errcode -1 "system error" */
        FAULT_HTTP500,
        FAULT_GARBAGE,  /* 200 with a body that is not JSON */
        FAULT_HANG,     /* no answer until the fault changes or the emulator stops */
        FAULT_SLOW,     /* the normal answer, ms later */
        FAULT_REFUSE,   /* connection closed without an answer */
        FAULT_ERRCODE,  /* {"errcode":N,"errmsg":TEXT}, TEXT optionally echoing the request's secret */
        FAULT_EXPIRES,  /* the normal answer, but claiming expires_in N */
};

/* What FAULT_ERRCODE and FAULT_EXPIRES answer. */
struct fault_args {
        int errcode;
        const char *errmsg;     /* copied */
        int64_t echo_len;       /* > 0: errmsg grows to this many bytes echoing the request's secret */
        int64_t expires_in;
};

/* Which endpoints a fault hits. */
#define FAULT_TOKENS  1         /* token, stable_token, gettoken */
#define FAULT_TICKETS 2         /* getticket, get_jsapi_ticket */

int faults_init(int napps);
void faults_free(void);
int fault_parse(const char *name);
/* app < 0: every app, replacing per-app faults; count < 0: until cleared. */
void fault_set(int app, enum fault_kind kind, int64_t count, int ms, int scope, const struct fault_args *args);
/* Lock held. Consumes one use of the fault hitting (app, scope) and shapes r;
 * true if r is final, false to answer normally (after a "slow" delay, or with
 * r->expires_in set). echo: the secret (or access_token) the request carried, or NULL. */
bool fault_apply(int app, int scope, const char *echo, struct emu_reply *r);

#endif
