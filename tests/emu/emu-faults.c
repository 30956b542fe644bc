/* emu-faults.c: failure injection for the token and ticket endpoints. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emu-faults.h"
#include "emu-state.h"

struct fault {
        enum fault_kind kind;
        int64_t count;          /* uses left; < 0: until cleared */
        int ms;
        int scope;
};

static struct fault fault_all;          /* applies where an app has none of its own */
static struct fault *fault_app;
static int fault_napps;
/* Bumped on every change: a hung request waits for it to move. */
static uint64_t fault_epoch;

static const char *const fault_names[] = {
        [FAULT_NONE] = "none",
        [FAULT_BUSY] = "busy",
        [FAULT_HTTP500] = "http500",
        [FAULT_GARBAGE] = "garbage",
        [FAULT_HANG] = "hang",
        [FAULT_SLOW] = "slow",
        [FAULT_REFUSE] = "refuse",
};

int faults_init(int napps)
{
        fault_app = calloc((size_t)(napps ? napps : 1), sizeof(*fault_app));
        if (!fault_app)
                return -ENOMEM;
        fault_napps = napps;
        return 0;
}

void faults_free(void)
{
        free(fault_app);
        fault_app = NULL;
}

int fault_parse(const char *name)
{
        for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
                if (name && !strcmp(name, fault_names[i]))
                        return (int)i;
        return -EINVAL;
}

void fault_set(int app, enum fault_kind kind, int64_t count, int ms, int scope)
{
        struct fault f = { kind, count, ms, scope };

        if (app < 0) {
                fault_all = f;
                memset(fault_app, 0, sizeof(*fault_app) * (size_t)fault_napps);
        } else {
                fault_app[app] = f;
        }
        fault_epoch++;
        emu_wake_all();
}

static struct fault *fault_find(int app, int scope)
{
        if (app >= 0 && fault_app[app].kind != FAULT_NONE)
                return fault_app[app].scope & scope ? &fault_app[app] : NULL;
        return fault_all.kind != FAULT_NONE && fault_all.scope & scope ? &fault_all : NULL;
}

bool fault_apply(int app, int scope, struct emu_reply *r)
{
        struct fault *f = fault_find(app, scope);
        enum fault_kind kind;
        int ms;

        if (!f)
                return false;
        kind = f->kind;
        ms = f->ms;
        if (f->count > 0 && --f->count == 0)
                f->kind = FAULT_NONE;
        r->fault = fault_names[kind];
        if (app >= 0)
                emu_apps[app].stats.faults++;
        else
                emu_unknown.faults++;
        switch (kind) {
        case FAULT_BUSY:
                reply_error(r, app >= 0 && emu_apps[app].type == EMU_CORP, -1, "system error");
                return true;
        case FAULT_HTTP500:
                reply_text(r, 500, "text/html",
                           "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n"
                           "<body><center><h1>500 Internal Server Error</h1></center></body>\r\n"
                           "</html>\r\n");
                return true;
        case FAULT_GARBAGE:
                /* The worst kind: claims JSON, starts like a token, then stops. */
                reply_text(r, 200, "application/json; encoding=utf-8",
                           "{\"access_token\":\"79_kP3xQ");
                return true;
        case FAULT_HANG:
                emu_wait_ms(-1, &fault_epoch);
                r->drop = true;
                return true;
        case FAULT_SLOW:
                emu_wait_ms(ms, NULL);
                return emu_stopping() ? (r->drop = true) : false;
        case FAULT_REFUSE:
                r->drop = true;
                return true;
        case FAULT_NONE:
                break;
        }
        return false;
}
