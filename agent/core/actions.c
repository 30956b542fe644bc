/* actions.c: the list of actions a core step returns: appending one, and the few every handler emits (log, state, save). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "item.h"
#include "item-internal.h"

struct core_action *core_act(struct core_actions *out, enum core_action_type type) {
        static struct core_action overflow;
        struct core_action *a;

        if (out->n == out->size) {
                size_t size = out->size ? out->size * 2 : 8;
                struct core_action *v = realloc(out->v, size * sizeof(*v));

                if (v) {
                        out->v = v;
                        out->size = size;
                }
        }
        if (out->n < out->size) {
                a = &out->v[out->n++];
        } else {
                out->dropped++;
                a = &overflow;
        }
        memset(a, 0, sizeof(*a));
        a->type = type;
        a->retry_after_ms = -1;
        return a;
}

void core_log(struct core_actions *out, int level, long errcode, const char *fmt, ...) {
        struct core_action *a = core_act(out, CORE_ACT_LOG);
        va_list ap;

        a->level = level;
        a->num = errcode;
        va_start(ap, fmt);
        vsnprintf(a->text, sizeof(a->text), fmt, ap);
        va_end(ap);
}

void core_set_state(struct core_item *it, struct core_actions *out, int state) {
        it->state = state;
        core_act(out, CORE_ACT_SET_STATE)->num = state;
        core_act(out, CORE_ACT_CHANGED);
}

void core_save(struct core_actions *out, int64_t fetched_at_ms) {
        core_act(out, CORE_ACT_SAVE)->at_ms = fetched_at_ms;
}

void core_actions_free(struct core_actions *out) {
        free(out->v);
        *out = (struct core_actions){ .v = NULL };
}
