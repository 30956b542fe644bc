/* quota.c: an app's upstream calls today per WeChat endpoint, against the documented daily limits: pure arithmetic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "quota.h"

#define QUOTA_MAGIC "wxtokend-quota 1\n"

static const char *const names[QUOTA_ENDPOINT_MAX] = {
        [QUOTA_TOKEN] = "token",
        [QUOTA_STABLE] = "stable_token",
        [QUOTA_STABLE_FORCE] = "stable_token_force",
        [QUOTA_TICKET] = "ticket",
        [QUOTA_WORK] = "work_token",
        [QUOTA_AGENT_CONFIG] = "agent_config",
        [QUOTA_COMPONENT] = "component_token",
};

/*
 * WeChat's documented daily limits per appid: access_token 2,000 (Official Accounts,
 * "API_Call_Limits"); stable_token 500,000 and its force_refresh 20 (getStableAccessToken).
 * getticket has no number in WeChat's documents: the JS-SDK appendix says only that its
 * calls are "very limited" (调用次数非常有限) and points at the account's own quota
 * (/cgi-bin/openapi/quota/get, get_api_quota), so tickets and WeCom's gettoken (limited
 * per minute, not per day) are counted with no limit beside them. WeCom limits its two
 * tickets by the hour, not the day ("access frequency limits", developer.work.weixin.qq.com
 * document 90454: in one hour a corp may fetch jsapi tickets 400 times, one app 100
 * times; an hourly limit, once hit, blocks for 60 minutes): no daily limit either.
 */
static const uint64_t limits[QUOTA_ENDPOINT_MAX] = {
        [QUOTA_TOKEN] = 2000,
        [QUOTA_STABLE] = 500000,
        [QUOTA_STABLE_FORCE] = BUDGET_STABLE_PER_DAY,
        [QUOTA_TICKET] = 0,
        [QUOTA_WORK] = 0,
        [QUOTA_AGENT_CONFIG] = 0,
        /* Open Platform's api_component_token: 2,000 a day per component, as /cgi-bin/token's. */
        [QUOTA_COMPONENT] = 2000,
};

const char *quota_endpoint_name(enum quota_endpoint e) {
        return e >= 0 && e < QUOTA_ENDPOINT_MAX ? names[e] : "unknown";
}

uint64_t quota_limit(enum quota_endpoint e) {
        return e >= 0 && e < QUOTA_ENDPOINT_MAX ? limits[e] : 0;
}

enum quota_endpoint quota_endpoint_of(enum app_kind kind, unsigned ticket) {
        if (ticket == TICKET_AGENT_CONFIG)
                return QUOTA_AGENT_CONFIG;
        if (ticket)
                return QUOTA_TICKET;
        switch (kind) {
        case APP_KIND_STABLE:
                return QUOTA_STABLE;
        case APP_KIND_WORK:
                return QUOTA_WORK;
        case APP_KIND_COMPONENT:
                return QUOTA_COMPONENT;
        default:
                return QUOTA_TOKEN;
        }
}

unsigned quota_mask_of(enum app_kind kind, unsigned ticket) {
        enum quota_endpoint e = quota_endpoint_of(kind, ticket);

        return 1u << e | (e == QUOTA_STABLE ? 1u << QUOTA_STABLE_FORCE : 0);
}

/* The counts belong to a day: a new day starts from zero, warnings included. */
static void quota_roll(struct core_quota *q, int64_t day) {
        if (q->day != day) {
                memset(q, 0, sizeof(*q));
                q->day = day;
        }
}

static unsigned permille_of(uint64_t calls, uint64_t limit) {
        uint64_t p;

        if (limit == 0)
                return 0;
        p = calls * 1000 / limit;
        return p > 1000000 ? 1000000 : (unsigned)p;
}

bool quota_count(struct core_quota *q, enum quota_endpoint e, int64_t now) {
        if (e < 0 || e >= QUOTA_ENDPOINT_MAX)
                return false;
        quota_roll(q, budget_day(now));
        q->calls[e]++;
        if (permille_of(q->calls[e], limits[e]) < QUOTA_WARN_PERMILLE || (q->warned & 1u << e))
                return false;
        q->warned |= 1u << e;
        return true;
}

uint64_t quota_today(const struct core_quota *q, enum quota_endpoint e, int64_t now) {
        if (e < 0 || e >= QUOTA_ENDPOINT_MAX || q->day != budget_day(now))
                return 0;
        return q->calls[e];
}

unsigned quota_permille(const struct core_quota *q, unsigned mask, int64_t now) {
        unsigned best = 0;

        for (int e = 0; e < QUOTA_ENDPOINT_MAX; e++) {
                unsigned p;

                if (!(mask & 1u << e))
                        continue;
                p = permille_of(quota_today(q, e, now), limits[e]);
                if (p > best)
                        best = p;
        }
        return best;
}

int quota_format(const struct core_quota *q, char *buf, size_t size) {
        size_t n;
        int r;

        r = snprintf(buf, size, QUOTA_MAGIC "day %lld\nwarned %u\n", (long long)q->day, q->warned);
        if (r < 0 || (size_t)r >= size)
                return -1;
        n = (size_t)r;
        for (int e = 0; e < QUOTA_ENDPOINT_MAX; e++) {
                r = snprintf(buf + n, size - n, "%s %llu\n", names[e], (unsigned long long)q->calls[e]);
                if (r < 0 || (size_t)r >= size - n)
                        return -1;
                n += (size_t)r;
        }
        return (int)n;
}

int quota_parse(struct core_quota *q, const char *text) {
        struct core_quota t = { 0 };
        const char *p;

        if (strncmp(text, QUOTA_MAGIC, strlen(QUOTA_MAGIC)) != 0)
                return -1;
        for (p = text + strlen(QUOTA_MAGIC); *p; ) {
                const char *eol = strchr(p, '\n'), *sp = strchr(p, ' ');
                size_t klen;
                char *end;
                long long v;

                if (!eol || !sp || sp > eol)
                        return -1;
                klen = (size_t)(sp - p);
                v = strtoll(sp + 1, &end, 10);
                if (end != eol || v < 0)
                        return -1;
                if (klen == 3 && !strncmp(p, "day", 3))
                        t.day = v;
                else if (klen == 6 && !strncmp(p, "warned", 6))
                        t.warned = (unsigned)v;
                else
                        for (int e = 0; e < QUOTA_ENDPOINT_MAX; e++)
                                if (strlen(names[e]) == klen && !strncmp(p, names[e], klen))
                                        t.calls[e] = (uint64_t)v;
                p = eol + 1;
        }
        *q = t;
        return 0;
}
