/* emu-control.h: the /emu/ endpoints tests use to steer and inspect the emulator. */
#ifndef WXEMU_CONTROL_H
#define WXEMU_CONTROL_H

#include "emu-api.h"

void control_dispatch(const struct emu_request *q, struct emu_reply *r);

/* A control's answers: {"ok":false,"error":why} with an HTTP status, and {"ok":true,...} to fill in. */
void control_fail(struct emu_reply *r, int status, const char *why);
cJSON *control_ok(void);

#endif
