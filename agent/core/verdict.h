/* verdict.h: whether the agent is well, in the Nagios convention (0..3), from per-item facts: pure. */
#ifndef CORE_VERDICT_H
#define CORE_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"

/* Nagios plugin codes: wxtokenctl status exits with these, /healthz is 200 for OK and WARNING. */
enum verdict_code {
        VERDICT_OK = 0,
        VERDICT_WARNING = 1,
        VERDICT_CRITICAL = 2,
        VERDICT_UNKNOWN = 3,
};

#define VERDICT_STARTING_GRACE_MS (30 * 1000LL)    /* "starting" is OK this long, a WARNING after */
#define VERDICT_QUOTA_WARN_PERMILLE 800            /* a daily quota gauge at 80 % or more: WARNING */
#define VERDICT_SUMMARY_MAX 512

/* What is known of one item (a token or a ticket), whatever asks: the status reply, /healthz. */
struct verdict_item {
        const char *name;               /* "shop", "shop.jsapi": named in the summary */
        bool failed_to_start;           /* no segment: nothing serves it */
        int state;                      /* enum wxshm_state */
        enum failure_class failure;     /* of the last call (a retry in flight is still failing) */
        long errcode;
        uint64_t generation;            /* 0: no token yet */
        int64_t expires_at_ms;
        int64_t margin_ms;              /* the refresh margin in force for this token (schedule_margin) */
        int64_t started_at_ms;          /* when the item started (agent start, reload, retry) */
        unsigned quota_permille;        /* highest calls-today / daily-limit over its endpoints, 0..1000+ */
        bool ticket_alarm;              /* a component's or suite's pushed ticket is old or missing (ticket-alarm.h) */
};

/* One item's code and the reason in a few stable words ("retrying", "config_error", ...). */
enum verdict_code verdict_item(const struct verdict_item *it, int64_t now_ms, const char **reason);

/* The whole: counts, the worst item, the soonest expiry. Fill with verdict_init, verdict_add, verdict_finish. */
struct verdict {
        enum verdict_code code;
        size_t items, ok, warning, critical, failed_to_start;
        size_t apps;                    /* configured (zero apps is CRITICAL) */
        char worst_name[96];            /* the first item with the worst code, "" if none */
        const char *worst_reason;       /* static text */
        long worst_errcode;
        bool has_token;
        int64_t min_left_ms;            /* the soonest expiry among items with a token */
};

void verdict_init(struct verdict *v);

/* Count it in; its own code is returned (and its reason, if reason is not NULL). */
enum verdict_code verdict_add(struct verdict *v, const struct verdict_item *it, int64_t now_ms, const char **reason);

/* apps: how many apps the configuration has; none is CRITICAL. */
void verdict_finish(struct verdict *v, size_t apps);

const char *verdict_name(enum verdict_code c); /* "OK", "WARNING", "CRITICAL", "UNKNOWN" */

/*
 * One line, Nagios style: "WXTOKEND CRITICAL - ... | perfdata", written into buf
 * (VERDICT_SUMMARY_MAX bytes; a longer line is cut before the perfdata, which stays whole).
 */
void verdict_summary(const struct verdict *v, char *buf, size_t size);

#endif
