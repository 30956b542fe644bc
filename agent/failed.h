/* failed.h: the items that could not start (no segment), kept so status and STATUS= name them. */
#ifndef FAILED_H
#define FAILED_H

#include <stddef.h>
#include <stdint.h>

struct failed_item {
        char name[96];          /* "shop" or "shop.jsapi" */
        char kind[8];           /* the app's kind, or "ticket" */
        char why[256];          /* what went wrong and what to do, for the operator */
        int64_t since_ms;       /* wall clock of the first failure in a row (0 until the manager stamps it) */
        unsigned attempts;      /* starts tried and failed in a row */
        int64_t last_at_ms;     /* wall clock of the latest failed try */
        int64_t next_at_ms;     /* the next try (every backoff_max), 0 if none is planned */
};

struct failed_list {
        struct failed_item *v;
        size_t n;
};

/* Remember that name could not start; memory failures lose the entry, never the agent. */
void failed_add(struct failed_list *l, const char *name, const char *kind, const char *why);

void failed_clear(struct failed_list *l);

/*
 * Stamp the entries of l just added (since_ms 0): tried at now_ms, next at next_ms; one
 * that failed before (in before, by name) keeps its since and counts one more attempt.
 */
void failed_stamp(struct failed_list *l, const struct failed_list *before, int64_t now_ms, int64_t next_ms);

#endif
