/* emu-reply.h: the answer a handler builds before the HTTP layer sends it. */
#ifndef WXEMU_REPLY_H
#define WXEMU_REPLY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define EMU_NO_ERRCODE INT_MIN

struct emu_reply {
        int status;             /* HTTP status */
        char *body;             /* malloc'd, NUL-terminated */
        const char *ctype;
        bool drop;              /* close the connection without an answer */
        int errcode;            /* for the log; EMU_NO_ERRCODE when there is none */
        const char *fault;      /* name of the injected fault, if one shaped this reply */
        bool has_expires_in;    /* a fault says what expires_in to claim */
        int64_t expires_in;
};

/* Takes ownership of obj. */
void reply_json(struct emu_reply *r, int status, cJSON *obj);
/* WeChat-style {"errcode":N,"errmsg":"msg rid: ..."}; corp selects WeCom's hint format. */
void reply_error(struct emu_reply *r, bool corp, int errcode, const char *msg);
void reply_text(struct emu_reply *r, int status, const char *ctype, const char *text);

#endif
