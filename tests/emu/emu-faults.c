/* emu-faults.c: failure injection for the token and ticket endpoints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu-faults.h"
#include "emu-state.h"

struct fault {
        enum fault_kind kind;
        int64_t count;          /* uses left; < 0: until cleared */
        int ms;
        int scope;
        struct fault_args args; /* args.errmsg malloc'd */
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
        [FAULT_ERRCODE] = "errcode",
        [FAULT_EXPIRES] = "expires",
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
        for (int i = 0; fault_app && i < fault_napps; i++)
                free((char *)fault_app[i].args.errmsg);
        free((char *)fault_all.args.errmsg);
        fault_all.args.errmsg = NULL;
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

void fault_set(int app, enum fault_kind kind, int64_t count, int ms, int scope, const struct fault_args *args)
{
        struct fault f = { kind, count, ms, scope, { 0 } };

        if (args) {
                f.args = *args;
                f.args.errmsg = strdup(args->errmsg ? args->errmsg : "");
        }
        if (app < 0) {
                free((char *)fault_all.args.errmsg);
                fault_all = f;
                for (int i = 0; i < fault_napps; i++)
                        free((char *)fault_app[i].args.errmsg);
                memset(fault_app, 0, sizeof(*fault_app) * (size_t)fault_napps);
        } else {
                free((char *)fault_app[app].args.errmsg);
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

/*
 * An errmsg of at least len bytes: text, then the request's secret as received and
 * URL-encoded as it travelled ("secret=%2B..."), repeated: the worst an upstream or a
 * proxy's error page can do is echo the request back.
 */
static char *errmsg_echo(const char *text, const char *echo, int64_t len)
{
        size_t n = strlen(text), size = (size_t)len + 512, e = echo ? strlen(echo) : 0;
        char *s = malloc(size), *enc = malloc(3 * e + 1);
        size_t j = 0;

        if (!s || !enc) {
                free(s);
                free(enc);
                return NULL;
        }
        for (size_t i = 0; i < e; i++) {
                unsigned char c = (unsigned char)echo[i];

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c))
                        enc[j++] = (char)c;
                else
                        j += (size_t)sprintf(enc + j, "%%%02X", c);
        }
        enc[j] = '\0';
        memcpy(s, text, n + 1);
        while (e && n < (size_t)len) {
                n += (size_t)snprintf(s + n, size - n, " secret=%s %s", enc, echo);
                if (n >= size - 1)
                        break;
        }
        free(enc);
        return s;
}

/* One more fault served: a counted fault wears out, and the stats say so. */
static void fault_count(struct fault *f, int app, enum fault_kind kind, struct emu_reply *r)
{
        if (f->count > 0 && --f->count == 0)
                f->kind = FAULT_NONE;
        r->fault = fault_names[kind];
        if (app >= 0)
                emu_apps[app].stats.faults++;
        else
                emu_unknown.faults++;
}

bool fault_apply(int app, int scope, const char *echo, struct emu_reply *r)
{
        struct fault *f = fault_find(app, scope);
        enum fault_kind kind;
        int ms;

        if (!f)
                return false;
        kind = f->kind;
        ms = f->ms;
        if (kind == FAULT_ERRCODE || kind == FAULT_EXPIRES) {
                struct fault_args a = f->args;

                fault_count(f, app, kind, r);
                if (kind == FAULT_EXPIRES) {
                        /* WeChat: "expires_in: the credential's lifetime in seconds (7200 today)"; this claims another. */
                        r->has_expires_in = true;
                        r->expires_in = a.expires_in;
                        return false;
                }
                /*
                 * WeChat's documented error answer: HTTP 200, {"errcode":N,"errmsg":"..."}
                 * (the token doc's "返回码" section); errmsg is free text, so any may come.
                 */
                {
                        char *msg = a.echo_len > 0 ? errmsg_echo(a.errmsg ? a.errmsg : "", echo, a.echo_len) : NULL;
                        cJSON *o = cJSON_CreateObject();

                        cJSON_AddNumberToObject(o, "errcode", a.errcode);
                        cJSON_AddStringToObject(o, "errmsg", msg ? msg : a.errmsg ? a.errmsg : "");
                        free(msg);
                        reply_json(r, 200, o);
                        r->errcode = a.errcode;
                }
                return true;
        }
        fault_count(f, app, kind, r);
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
        case FAULT_ERRCODE:
        case FAULT_EXPIRES:
                break;
        }
        return false;
}
