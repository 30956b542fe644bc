/* quota.h: an app's upstream calls today per WeChat endpoint, against the documented daily limits: pure arithmetic. */
#ifndef CORE_QUOTA_H
#define CORE_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * The endpoints WeChat counts separately, per appid and Beijing day (budget_day). A
 * stable_token call with force_refresh counts twice: as a stable_token call and against
 * the 20 forced refreshes a day.
 */
enum quota_endpoint {
        QUOTA_TOKEN,            /* GET /cgi-bin/token */
        QUOTA_STABLE,           /* POST /cgi-bin/stable_token */
        QUOTA_STABLE_FORCE,     /* the same, with force_refresh */
        QUOTA_TICKET,           /* GET /cgi-bin/ticket/getticket (jsapi and wx_card alike), WeCom's get_jsapi_ticket */
        QUOTA_WORK,             /* WeCom GET /cgi-bin/gettoken */
        QUOTA_AGENT_CONFIG,     /* WeCom GET /cgi-bin/ticket/get?type=agent_config (wx.agentConfig's ticket) */
        QUOTA_COMPONENT,        /* Open Platform POST /cgi-bin/component/api_component_token */
        QUOTA_ENDPOINT_MAX,
};

#define QUOTA_WARN_PERMILLE 800 /* a warning once a day when an endpoint reaches 80 % of its limit */

struct core_quota {
        int64_t day;                    /* Beijing day number the counts belong to */
        uint64_t calls[QUOTA_ENDPOINT_MAX];
        unsigned warned;                /* bit per endpoint: its 80 % warning was given on day */
};

/* "token", "stable_token", "stable_token_force", "ticket", "work_token", "agent_config", "component_token": the metrics' label value. */
const char *quota_endpoint_name(enum quota_endpoint e);

/* WeChat's documented daily limit of e; 0 where none is documented. */
uint64_t quota_limit(enum quota_endpoint e);

/* The endpoint a (non-probe) call of an item goes to: its app's kind, or its ticket type (0: the token). */
enum quota_endpoint quota_endpoint_of(enum app_kind kind, unsigned ticket);

/*
 * A call to e at quota clock now (a force_refresh also counts against
 * QUOTA_STABLE_FORCE: call it for both). True if that brought e to 80 % of its limit
 * for the first time today: the caller logs a warning.
 */
bool quota_count(struct core_quota *q, enum quota_endpoint e, int64_t now);

/* Calls to e on the Beijing day of now (0 if the counts are of another day). */
uint64_t quota_today(const struct core_quota *q, enum quota_endpoint e, int64_t now);

/* The highest calls-today/limit of the endpoints in mask (bit per endpoint), in permille (may pass 1000). */
unsigned quota_permille(const struct core_quota *q, unsigned mask, int64_t now);

/* The endpoints an item (ticket: its type, 0 for the token) calls: its own, and stable's forced one. */
unsigned quota_mask_of(enum app_kind kind, unsigned ticket);

/* The counts as the quota file's text ("wxtokend-quota 1\n" then "key value" lines); its length, or -1 if size is short. */
int quota_format(const struct core_quota *q, char *buf, size_t size);

/* Read that text back: 0, or -1 if it is not a quota file (q untouched then). Unknown keys are skipped. */
int quota_parse(struct core_quota *q, const char *text);

#endif
