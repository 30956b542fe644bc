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
};

/* Which endpoints a fault hits. */
#define FAULT_TOKENS  1         /* token, stable_token, gettoken */
#define FAULT_TICKETS 2         /* getticket, get_jsapi_ticket */

int faults_init(int napps);
void faults_free(void);
int fault_parse(const char *name);
/* app < 0: every app, replacing per-app faults; count < 0: until cleared. */
void fault_set(int app, enum fault_kind kind, int64_t count, int ms, int scope);
/* Lock held. Consumes one use of the fault hitting (app, scope) and shapes r;
 * true if r is final, false to answer normally (after a "slow" delay). */
bool fault_apply(int app, int scope, struct emu_reply *r);

#endif
