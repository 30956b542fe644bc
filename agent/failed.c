/* failed.c: the items that could not start (no segment), kept so status and STATUS= name them. */
#include <stdio.h>
#include <stdlib.h>

#include "failed.h"

void failed_add(struct failed_list *l, const char *name, const char *kind, const char *why) {
        struct failed_item *v = realloc(l->v, (l->n + 1) * sizeof(*v));

        if (!v)
                return;
        l->v = v;
        snprintf(v[l->n].name, sizeof(v[l->n].name), "%s", name);
        snprintf(v[l->n].kind, sizeof(v[l->n].kind), "%s", kind);
        snprintf(v[l->n].why, sizeof(v[l->n].why), "%s", why);
        l->n++;
}

void failed_clear(struct failed_list *l) {
        free(l->v);
        l->v = NULL;
        l->n = 0;
}
