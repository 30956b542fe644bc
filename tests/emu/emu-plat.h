/* emu-plat.h: the Open Platform components and WeCom suites: their accounts, tickets and codes. */
#ifndef WXEMU_PLAT_H
#define WXEMU_PLAT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "emu-api.h"

/* Tickets a component or suite remembers: WeChat pushes one every 10 minutes and each
 * lives 12 h, so a real platform holds many; tests hold a few. */
#define PLAT_TICKETS 8
#define PLAT_TICKET_LEN 64
/* Authorization codes outstanding at once (single use; the oldest falls off). */
#define PLAT_CODES 64
#define PLAT_CODE_LEN 40
/* Derived ids: authorizer k is "wxa%08d", suite-authorized corp k is "wwc%08d" (k from 1,
 * numbered across all components, or all suites, in the order they were given). */
#define PLAT_AUTHORIZER_FMT "wxa%08d"
#define PLAT_CORP_FMT "wwc%08d"

enum plat_endpoint {
        EP_START_PUSH, EP_COMPONENT_TOKEN, EP_AUTHORIZER_TOKEN, EP_AUTHORIZER_LIST, EP_QUERY_AUTH,
        EP_SUITE_TOKEN, EP_PROVIDER_TOKEN, EP_CORP_TOKEN, EP_PERMANENT_CODE,
        /* The ticket endpoints (emu-api.c), as called with an account's token: an authorizer's, a corp's under a suite. */
        EP_ACCOUNT_GETTICKET, EP_ACCOUNT_JSAPI_TICKET, EP_ACCOUNT_AGENT_CONFIG, EP_COUNT,
};

struct plat_ticket {
        int64_t create_ms;              /* emulator clock */
        int64_t create_unix;            /* seconds, as the push's CreateTime */
        bool invalid;
        char text[PLAT_TICKET_LEN + 1];
};

/* A component or a suite: the emu_app that holds its secret and token, its accounts. */
struct plat_owner {
        int app;
        bool suite;
        int first, count;               /* its members: plat_members[first .. first+count) */
        uint64_t tickets_made;          /* tickets[(made - 1) % PLAT_TICKETS] is the newest */
        struct plat_ticket tickets[PLAT_TICKETS];
        uint64_t push_requests;         /* api_start_push_ticket calls answered ok */
        bool ip_blocked;                /* /emu/ip_block: 61004 (component) or 60020 (suite) */
};

/* An authorizer (of a component) or a corp (of a suite): 40 bytes beside its emu_app. */
struct plat_member {
        int app;
        int owner;
        uint32_t cred_gen;              /* its refresh token's / permanent code's generation */
        int64_t prev_until_ms;          /* the previous generation is accepted until then */
        int64_t auth_unix;              /* auth_time, seconds */
        bool revoked;                   /* de-authorized / auth cancelled */
};

struct plat_code {
        int member;                     /* -1: a free slot */
        int64_t expires_ms;
        char text[PLAT_CODE_LEN + 1];
};

struct plat_config {
        int authorizers;                /* --authorizers, per component */
        int corps;                      /* --corps, per suite */
        bool rotate_refresh;            /* --rotate-refresh-tokens */
        uint64_t quota_component;       /* --quota-component: api_component_token calls a day */
};

struct plat_counts {
        uint64_t calls, ok;
};

extern struct plat_config plat_cfg;
extern struct plat_owner *plat_owners;
extern int plat_nowners;
extern struct plat_member *plat_members;
extern int plat_nmembers;
extern struct plat_counts plat_counts[EP_COUNT];

/* A ticket endpoint's answer to a call with app's token: counted under e if app is an account (lock held). */
void plat_count_account(enum plat_endpoint e, int app, const struct emu_reply *r);

/* After the options: creates the derived accounts of every component and suite. */
int plat_setup(void);
void plat_free(void);

/* Lock held, from here on. */
int plat_owner_of_app(int app);
int plat_owner_find(const char *id, bool suite);
/* The member with that derived id under that owner (-1: none). */
int plat_member_find(const char *id, int owner);
/* The member's current refresh token or permanent code (gen: the generation asked for). */
void plat_credential(int member, uint32_t gen, char out[64]);
/* Whether cred is the member's current credential, or its predecessor inside the overlap. */
bool plat_credential_ok(int member, const char *cred);
/* Rotates the member's credential; the old one is accepted for --overlap more. */
void plat_credential_rotate(int member);
struct plat_ticket *plat_ticket_push(int owner);
/* 0: valid; 1: expired; -1: unknown or invalidated. */
int plat_ticket_check(int owner, const char *text);
/* A new single-use code for the member, living ttl_ms; NULL if none could be made. */
const struct plat_code *plat_code_mint(int member, int64_t ttl_ms);
/* Consumes the code: the member, or -1 unknown/used, -2 expired (then consumed too). */
int plat_code_take(const char *text, int owner);
bool plat_app_shown(int app);
void plat_stats_json(cJSON *root);
void plat_stats_reset(void);
const char *plat_endpoint_name(enum plat_endpoint e);

/* A platform call's JSON body; NULL with 43002 (not POST) or 47001 (not a JSON object) answered. */
cJSON *plat_body(const struct emu_request *q, struct emu_reply *r, bool corp);
const char *plat_str(const cJSON *o, const char *name);
/* The owner whose token the query carries, or -1 with the error answered. */
int plat_owner_token(const struct emu_request *q, struct emu_reply *r, bool suite);
/* Counts the call (ok when errcode is 0 or absent) and logs it against app. */
void plat_finish(enum plat_endpoint e, int app, const char *id, struct emu_reply *r);

/* emu-plat-control.c: the /emu/ platform controls; false if what is not one of them. */
bool plat_control(const char *what, const struct emu_request *q, struct emu_reply *r);

/* emu-component.c and emu-suite.c: the endpoints. */
void api_start_push_ticket(const struct emu_request *q, struct emu_reply *r);
void api_component_token(const struct emu_request *q, struct emu_reply *r);
void api_authorizer_token(const struct emu_request *q, struct emu_reply *r);
void api_get_authorizer_list(const struct emu_request *q, struct emu_reply *r);
void api_query_auth(const struct emu_request *q, struct emu_reply *r);
void api_suite_token(const struct emu_request *q, struct emu_reply *r);
void api_provider_token(const struct emu_request *q, struct emu_reply *r);
void api_corp_token(const struct emu_request *q, struct emu_reply *r);
void api_permanent_code(const struct emu_request *q, struct emu_reply *r);

#endif
