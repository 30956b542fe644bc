/* failed.h: the items that could not start (no segment), kept so status and STATUS= name them. */
#ifndef FAILED_H
#define FAILED_H

#include <stddef.h>

struct failed_item {
        char name[96];          /* "shop" or "shop.jsapi" */
        char kind[8];           /* the app's kind, or "ticket" */
        char why[192];          /* what went wrong and what to do, for the operator */
};

struct failed_list {
        struct failed_item *v;
        size_t n;
};

/* Remember that name could not start; memory failures lose the entry, never the agent. */
void failed_add(struct failed_list *l, const char *name, const char *kind, const char *why);

void failed_clear(struct failed_list *l);

#endif
