/* emu-state.h: the emulated WeChat's apps, tokens, tickets, quotas, counters and clock. */
#ifndef WXEMU_STATE_H
#define WXEMU_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_ID_MAX 64
#define EMU_SECRET_MAX 128
#define EMU_TOKEN_MAX 2048              /* the segment's capacity: the longest token an agent must carry */
#define EMU_TOKEN_MIN 24
/* Retired tokens remembered per kind, so an old token is classified 40001 or 42001. */
#define EMU_HISTORY 8

enum emu_apptype {
        EMU_OFFICIAL,   /* Official Account / Mini Program: api.weixin.qq.com */
        EMU_CORP,       /* WeCom: qyapi.weixin.qq.com */
        /* The platforms (emu-plat.h): each mints its own credential in the KIND_NORMAL or
         * KIND_CORP slot; only the business accounts' tokens open business APIs. */
        EMU_COMPONENT,  /* an Open Platform third-party platform: component_access_token */
        EMU_AUTHORIZER, /* an account authorized to a component: authorizer_access_token */
        EMU_SUITE,      /* a WeCom service provider's suite: suite_access_token */
        EMU_PROVIDER,   /* a WeCom service provider: provider_access_token */
        EMU_SUITE_CORP, /* a corp that authorized a suite: its access_token (get_corp_token) */
};

/* What a token or ticket is; tickets live in the same slots but are never looked up. */
enum emu_kind {
        KIND_NORMAL,    /* /cgi-bin/token */
        KIND_STABLE,    /* /cgi-bin/stable_token, isolated from KIND_NORMAL */
        KIND_CORP,      /* /cgi-bin/gettoken */
        KIND_JSAPI,     /* jsapi ticket (both families) */
        KIND_CARD,      /* wx_card ticket */
        KIND_AGENT,     /* WeCom's agent_config ticket (wx.agentConfig) */
        KIND_COUNT,
};

/* The verdict on an access_token presented to a business API. */
enum emu_verdict {
        VERDICT_OK,
        VERDICT_INVALID,        /* unknown, or superseded past its overlap */
        VERDICT_EXPIRED,        /* its own lifetime ran out first */
};

struct emu_token {
        struct emu_token *hnext;        /* hash chain */
        int app;
        enum emu_kind kind;
        uint64_t gen;
        int64_t expires_ms;             /* natural end of life (emulator clock) */
        int64_t grace_ms;               /* INT64_MAX while current, else end of overlap */
        char text[EMU_TOKEN_MAX + 1];
};

struct emu_slot {
        uint64_t gen;                           /* tokens issued so far */
        struct emu_token *ring[EMU_HISTORY];    /* ring[gen % EMU_HISTORY] is current */
};

struct emu_stats {
        uint64_t token_calls, token_ok;
        uint64_t stable_normal, stable_force, stable_ok;
        uint64_t gettoken_calls, gettoken_ok;
        uint64_t ticket_calls, ticket_ok;
        uint64_t agent_config_calls;    /* WeCom's ticket/get?type=agent_config (also in ticket_calls) */
        uint64_t callback_ok, callback_40001, callback_42001;
        uint64_t faults, quota_rejects;
};

/* One of WeCom's hourly ticket limits: calls in the hour from start_ms, and the block once it is passed. */
struct emu_hour {
        int64_t start_ms;
        uint64_t calls;
        int64_t blocked_until_ms;
};

struct emu_app {
        enum emu_apptype type;
        char id[EMU_ID_MAX + 1];
        char secret[EMU_SECRET_MAX + 1];
        struct emu_slot slots[KIND_COUNT];
        /* Quotas count calls in the current Beijing day (UTC+8), as WeChat does. */
        int64_t quota_day;
        uint64_t used_token, used_stable, used_force;
        int64_t last_force_ms;          /* INT64_MIN: never */
        struct emu_hour hour_jsapi, hour_agent; /* WeCom: get_jsapi_ticket per corp, agent_config per app */
        struct emu_stats stats;
};

struct emu_config {
        int expires_in;         /* seconds */
        int64_t overlap_ms;     /* a benchmark scales WeChat's 300 s down below a second */
        uint64_t quota_token, quota_stable, quota_stable_force;
        uint64_t ticket_hour_corp, ticket_hour_app; /* WeCom's hourly ticket limits (400, 100) */
        int force_spacing;      /* seconds */
        int latency_ms;
        int token_length;
        bool checksum;
        bool have_seed;
        uint64_t seed;
        bool verbose;
};

extern struct emu_config emu_cfg;
extern struct emu_app *emu_apps;
extern int emu_napps;
extern struct emu_stats emu_unknown;    /* calls naming no configured app */

/* One lock guards everything below; waits (emu_wait_ms) release it. */
void emu_lock(void);
void emu_unlock(void);
int emu_state_init(void);
void emu_state_free(void);
int emu_app_add(enum emu_apptype type, const char *spec);
/* Appends n zeroed apps of type in one allocation (no duplicate check: the caller derives
 * unique ids); returns the first one's index, or -ENOMEM. */
int emu_apps_grow(enum emu_apptype type, int n);

/* The slot a type's own token lives in: WeCom's family uses KIND_CORP. */
static inline enum emu_kind emu_type_kind(enum emu_apptype t)
{
        return t == EMU_CORP || t == EMU_SUITE || t == EMU_PROVIDER || t == EMU_SUITE_CORP ?
                KIND_CORP : KIND_NORMAL;
}

/* Whether a type's token opens business APIs (getcallbackip, the ticket endpoints):
 * component, suite and provider tokens open only their platform's own APIs. */
static inline bool emu_type_business(enum emu_apptype t)
{
        return t == EMU_OFFICIAL || t == EMU_CORP || t == EMU_AUTHORIZER || t == EMU_SUITE_CORP;
}

/* Emulator clock: monotonic ms plus an offset moved by /emu/advance. */
int64_t emu_now_ms(void);
int64_t emu_uptime_ms(void);
int64_t emu_unix_ms(void);
void emu_clock_advance(int64_t ms);

int emu_app_find_id(const char *id, size_t len);
int emu_app_find(const char *id, enum emu_apptype type);
bool emu_app_quota(struct emu_app *a);  /* rolls the quota day over; true if it did */
struct emu_token *emu_token_current(int app, enum emu_kind kind);
struct emu_token *emu_token_issue(int app, enum emu_kind kind);
int64_t emu_token_left_ms(const struct emu_token *t);
struct emu_token *emu_token_find(const char *text);
enum emu_verdict emu_token_check(const struct emu_token *t);
void emu_app_expire(int app);
/* len random [A-Za-z0-9] characters and a NUL (--seed makes them reproducible). */
void emu_random_text(char *out, size_t len);
void emu_stats_reset(void);

/* Stopping: waits return early and hung requests are released. */
void emu_stop(void);
bool emu_stopping(void);
/* Sleeps ms (<0: forever) with the lock held on entry and exit; returns early on stop
 * or when *epoch stops matching the value seen at entry (epoch may be NULL). */
void emu_wait_ms(int64_t ms, const uint64_t *epoch);
void emu_wake_all(void);

#endif
