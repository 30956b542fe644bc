/* emu-control.h: the /emu/ endpoints tests use to steer and inspect the emulator. */
#ifndef WXEMU_CONTROL_H
#define WXEMU_CONTROL_H

#include "emu-api.h"

void control_dispatch(const struct emu_request *q, struct emu_reply *r);

#endif
