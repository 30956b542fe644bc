/* failed.c: the items that could not start (no segment), kept so status and STATUS= name them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failed.h"

void failed_add(struct failed_list *l, const char *name, const char *kind, const char *why) {
        struct failed_item *v = realloc(l->v, (l->n + 1) * sizeof(*v));

        if (!v)
                return;
        l->v = v;
        snprintf(v[l->n].name, sizeof(v[l->n].name), "%s", name);
        snprintf(v[l->n].kind, sizeof(v[l->n].kind), "%s", kind);
        snprintf(v[l->n].why, sizeof(v[l->n].why), "%s", why);
        v[l->n].since_ms = 0;
        v[l->n].attempts = 0;
        v[l->n].next_at_ms = 0;
        v[l->n].last_at_ms = 0;
        l->n++;
}

void failed_clear(struct failed_list *l) {
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

void failed_stamp(struct failed_list *l, const struct failed_list *before, int64_t now_ms, int64_t next_ms) {
        for (size_t i = 0; i < l->n; i++) {
                struct failed_item *x = &l->v[i];

                if (x->since_ms != 0)
                        continue;
                x->since_ms = x->last_at_ms = now_ms;
                x->attempts = 1;
                x->next_at_ms = next_ms;
                for (size_t k = 0; before && k < before->n; k++)
                        if (strcmp(before->v[k].name, x->name) == 0) {
                                x->since_ms = before->v[k].since_ms;
                                x->attempts = before->v[k].attempts + 1;
                                break;
                        }
        }
}
