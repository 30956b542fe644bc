/* classify.h: what a failed upstream call means and what to do about it. */
#ifndef CLASSIFY_H
#define CLASSIFY_H

#include <stddef.h>

#include "config.h"

enum failure_class {
        FAILURE_NONE,           /* success */
        FAILURE_TRANSIENT,      /* back off with jitter and try the next api_base */
        FAILURE_CONFIG,         /* the operator must fix something: retry every backoff_max */
        FAILURE_QUOTA,          /* daily quota gone: never loop, retry after backoff_max at the earliest */
};

/*
 * Classify an errcode returned by a token or ticket fetch (UPSTREAM_ERR_* included).
 * At fetch time 40001 is a bad secret (configuration), not a bad token. Unknown
 * errcodes are transient: backing off is safe, giving up is not.
 */
enum failure_class classify_errcode(enum app_kind kind, long errcode);

/*
 * One sentence for the operator: what is wrong and what to do, e.g. "IP 1.2.3.4 is not
 * in the app's IP whitelist: add it in the WeChat console" (the IP taken from errmsg),
 * written into buf. Returns buf.
 */
const char *classify_advice(enum app_kind kind, long errcode, const char *errmsg, char *buf, size_t size);

const char *failure_class_name(enum failure_class c); /* "none", "transient", "config", "quota" */

/* What errcode says, in a few words ("agent: api_base not reached ..."); "" for 0. Never NULL. */
const char *classify_meaning(long errcode);

#endif
