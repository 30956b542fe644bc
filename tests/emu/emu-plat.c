/* emu-plat.c: the platforms' state: derived accounts, their credentials, pushed tickets, one-time codes, counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu-plat.h"
#include "emu-state.h"
#include "emu-stats.h"

/*
 * Ticket lifetimes. Open Platform, "component_verify_ticket" (developers.weixin.qq.com/doc/
 * oplatform/Third-party_Platforms/2.0/api/ThirdParty/token/component_verify_ticket.html):
 * pushed every 10 minutes, each valid for 12 hours. WeCom, "push suite_ticket"
 * (developer.work.weixin.qq.com/document/path/90628): pushed every 10 minutes, valid 30
 * minutes.
 */
#define COMPONENT_TICKET_MS (12LL * 3600 * 1000)
#define SUITE_TICKET_MS (30LL * 60 * 1000)

struct plat_config plat_cfg = { .quota_component = 2000 };
struct plat_owner *plat_owners;
int plat_nowners;
struct plat_member *plat_members;
int plat_nmembers;
struct plat_counts plat_counts[EP_COUNT];

static struct plat_code codes[PLAT_CODES];
static unsigned code_next;
static uint64_t plat_seed;

static const char *const ep_names[EP_COUNT] = {
        [EP_START_PUSH] = "api_start_push_ticket", [EP_COMPONENT_TOKEN] = "api_component_token",
        [EP_AUTHORIZER_TOKEN] = "api_authorizer_token",
        [EP_AUTHORIZER_LIST] = "api_get_authorizer_list", [EP_QUERY_AUTH] = "api_query_auth",
        [EP_SUITE_TOKEN] = "get_suite_token", [EP_PROVIDER_TOKEN] = "get_provider_token",
        [EP_CORP_TOKEN] = "get_corp_token", [EP_PERMANENT_CODE] = "get_permanent_code",
        [EP_ACCOUNT_GETTICKET] = "getticket", [EP_ACCOUNT_JSAPI_TICKET] = "get_jsapi_ticket",
        [EP_ACCOUNT_AGENT_CONFIG] = "ticket/get",
};

/* Members of n owners of one type, numbered across them: ids fmt % 1.. in order. */
static int setup_members(enum emu_apptype owner_type, enum emu_apptype type, int per,
                         const char *fmt)
{
        int owners = 0, first, k = 0;

        for (int i = 0; i < emu_napps; i++)
                owners += emu_apps[i].type == owner_type;
        if (!owners || per <= 0)
                return 0;
        /* an --app or --corp spelled like a derived id would shadow it */
        for (int i = 0; i < emu_napps; i++)
                if (strlen(emu_apps[i].id) == 11 && !strncmp(emu_apps[i].id, fmt, 3) &&
                    strspn(emu_apps[i].id + 3, "0123456789") == 8)
                        return -EEXIST;
        if ((first = emu_apps_grow(type, owners * per)) < 0)
                return first;
        for (int o = 0; o < plat_nowners; o++) {
                struct plat_owner *w = &plat_owners[o];

                if (emu_apps[w->app].type != owner_type)
                        continue;
                w->first = plat_nmembers;
                w->count = per;
                for (int j = 0; j < per; j++, k++) {
                        struct plat_member *m = &plat_members[plat_nmembers++];

                        *m = (struct plat_member){ .app = first + k, .owner = o, .cred_gen = 1,
                                                   .auth_unix = emu_unix_ms() / 1000 };
                        snprintf(emu_apps[m->app].id, sizeof(emu_apps[m->app].id), fmt, k + 1);
                }
        }
        return 0;
}

int plat_setup(void)
{
        int members = 0, r;

        plat_seed = emu_cfg.have_seed ? emu_cfg.seed :
                (uint64_t)emu_unix_ms() ^ ((uint64_t)getpid() << 32);
        for (int i = 0; i < emu_napps; i++)
                if (emu_apps[i].type == EMU_COMPONENT || emu_apps[i].type == EMU_SUITE) {
                        plat_nowners++;
                        members += emu_apps[i].type == EMU_SUITE ? plat_cfg.corps : plat_cfg.authorizers;
                }
        plat_owners = calloc((size_t)plat_nowners + 1, sizeof(*plat_owners));
        plat_members = calloc((size_t)members + 1, sizeof(*plat_members));
        if (!plat_owners || !plat_members)
                return -ENOMEM;
        for (int i = 0, o = 0; i < emu_napps; i++)
                if (emu_apps[i].type == EMU_COMPONENT || emu_apps[i].type == EMU_SUITE)
                        plat_owners[o++] = (struct plat_owner){ .app = i,
                                                                .suite = emu_apps[i].type == EMU_SUITE };
        if ((r = setup_members(EMU_COMPONENT, EMU_AUTHORIZER, plat_cfg.authorizers,
                               PLAT_AUTHORIZER_FMT)) < 0 ||
            (r = setup_members(EMU_SUITE, EMU_SUITE_CORP, plat_cfg.corps, PLAT_CORP_FMT)) < 0)
                return r;
        for (int i = 0; i < PLAT_CODES; i++)
                codes[i].member = -1;
        return 0;
}

void plat_free(void)
{
        free(plat_owners);
        free(plat_members);
        plat_owners = NULL;
        plat_members = NULL;
        plat_nowners = plat_nmembers = 0;
}

int plat_owner_of_app(int app)
{
        for (int o = 0; o < plat_nowners; o++)
                if (plat_owners[o].app == app)
                        return o;
        return -1;
}

int plat_owner_find(const char *id, bool suite)
{
        int app = id ? emu_app_find(id, suite ? EMU_SUITE : EMU_COMPONENT) : -1;

        return app < 0 ? -1 : plat_owner_of_app(app);
}

/* Derived ids name their index, so 10,000 accounts are found without a search. */
int plat_member_find(const char *id, int owner)
{
        const struct plat_owner *w;
        int k = 0, base = 0;

        if (!id || owner < 0 || strlen(id) != 11)
                return -1;
        w = &plat_owners[owner];
        if (strncmp(id, w->suite ? "wwc" : "wxa", 3))
                return -1;
        for (int i = 3; i < 11; i++) {
                if (id[i] < '0' || id[i] > '9')
                        return -1;
                k = k * 10 + (id[i] - '0');
        }
        /* k numbers the members of all owners of this kind: find it in this one's range */
        for (int o = 0; o < owner; o++)
                if (plat_owners[o].suite == w->suite)
                        base += plat_owners[o].count;
        k -= 1 + base;
        return k >= 0 && k < w->count ? w->first + k : -1;
}

static uint64_t fnv(const char *s, uint64_t h)
{
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

/*
 * Refresh tokens and permanent codes are FNV-1a-64 of "SEED:ID:GEN" (and of that with a
 * trailing '#'), so a test given --seed can compute them, and a rotation is one counter.
 */
void plat_credential(int member, uint32_t gen, char out[64])
{
        const struct plat_member *m = &plat_members[member];
        char in[128];
        uint64_t h1, h2;

        snprintf(in, sizeof(in), "%llu:%s:%u", (unsigned long long)plat_seed,
                 emu_apps[m->app].id, gen);
        h1 = fnv(in, 0xcbf29ce484222325ULL);
        h2 = fnv("#", h1);
        snprintf(out, 64, "%s%016llx%016llx",
                 plat_owners[m->owner].suite ? "pcode@@@" : "refreshtoken@@@",
                 (unsigned long long)h1, (unsigned long long)h2);
}

bool plat_credential_ok(int member, const char *cred)
{
        const struct plat_member *m = &plat_members[member];
        char cur[64];

        if (!cred)
                return false;
        plat_credential(member, m->cred_gen, cur);
        if (!strcmp(cur, cred))
                return true;
        if (m->cred_gen < 2 || emu_now_ms() >= m->prev_until_ms)
                return false;
        plat_credential(member, m->cred_gen - 1, cur);
        return !strcmp(cur, cred);
}

void plat_credential_rotate(int member)
{
        struct plat_member *m = &plat_members[member];

        m->cred_gen++;
        m->prev_until_ms = emu_now_ms() + emu_cfg.overlap_ms;
}

struct plat_ticket *plat_ticket_push(int owner)
{
        struct plat_owner *w = &plat_owners[owner];
        struct plat_ticket *t = &w->tickets[w->tickets_made++ % PLAT_TICKETS];

        t->create_ms = emu_now_ms();
        t->create_unix = emu_unix_ms() / 1000;
        t->invalid = false;
        memcpy(t->text, w->suite ? "suiteticket@@@" : "ticket@@@", w->suite ? 14 : 9);
        emu_random_text(t->text + (w->suite ? 14 : 9), PLAT_TICKET_LEN - (w->suite ? 14 : 9));
        return t;
}

int plat_ticket_check(int owner, const char *text)
{
        const struct plat_owner *w = &plat_owners[owner];
        int64_t ttl = w->suite ? SUITE_TICKET_MS : COMPONENT_TICKET_MS;

        for (int i = 0; text && i < PLAT_TICKETS && (uint64_t)i < w->tickets_made; i++) {
                const struct plat_ticket *t = &w->tickets[i];

                if (strcmp(t->text, text))
                        continue;
                if (t->invalid)
                        return -1;
                return emu_now_ms() - t->create_ms >= ttl ? 1 : 0;
        }
        return -1;
}

const struct plat_code *plat_code_mint(int member, int64_t ttl_ms)
{
        struct plat_code *c = &codes[code_next++ % PLAT_CODES];

        c->member = member;
        c->expires_ms = emu_now_ms() + ttl_ms;
        memcpy(c->text, "authcode@@@", 11);
        emu_random_text(c->text + 11, PLAT_CODE_LEN - 11);
        return c;
}

int plat_code_take(const char *text, int owner)
{
        for (int i = 0; text && i < PLAT_CODES; i++) {
                struct plat_code *c = &codes[i];
                int member = c->member;

                if (member < 0 || plat_members[member].owner != owner || strcmp(c->text, text))
                        continue;
                c->member = -1;
                return emu_now_ms() >= c->expires_ms ? -2 : member;
        }
        return -1;
}

bool plat_app_shown(int app)
{
        static const struct emu_stats zero;
        const struct emu_app *a = &emu_apps[app];

        if (a->type != EMU_AUTHORIZER && a->type != EMU_SUITE_CORP)
                return true;
        for (int k = 0; k < KIND_COUNT; k++)
                if (a->slots[k].gen)
                        return true;
        return memcmp(&a->stats, &zero, sizeof(zero)) != 0;
}

void plat_stats_json(cJSON *root)
{
        cJSON *p = cJSON_AddObjectToObject(root, "platform");
        cJSON *eps = cJSON_AddObjectToObject(p, "endpoints");
        cJSON *comps = cJSON_AddObjectToObject(p, "components");
        cJSON *suites = cJSON_AddObjectToObject(p, "suites");

        for (int e = 0; e < EP_COUNT; e++) {
                cJSON *o = cJSON_AddObjectToObject(eps, ep_names[e]);

                cJSON_AddNumberToObject(o, "calls", (double)plat_counts[e].calls);
                cJSON_AddNumberToObject(o, "ok", (double)plat_counts[e].ok);
        }
        for (int i = 0; i < plat_nowners; i++) {
                const struct plat_owner *w = &plat_owners[i];
                cJSON *o = cJSON_AddObjectToObject(w->suite ? suites : comps, emu_apps[w->app].id);
                int revoked = 0;

                for (int m = w->first; m < w->first + w->count; m++)
                        revoked += plat_members[m].revoked;
                cJSON_AddNumberToObject(o, "accounts", w->count);
                cJSON_AddNumberToObject(o, "revoked", revoked);
                cJSON_AddNumberToObject(o, "ticket_generation", (double)w->tickets_made);
                cJSON_AddNumberToObject(o, "push_requests", (double)w->push_requests);
                cJSON_AddBoolToObject(o, "ip_blocked", w->ip_blocked);
        }
}

void plat_stats_reset(void)
{
        memset(plat_counts, 0, sizeof(plat_counts));
        for (int i = 0; i < plat_nowners; i++)
                plat_owners[i].push_requests = 0;
}

const char *plat_endpoint_name(enum plat_endpoint e)
{
        return ep_names[e];
}

cJSON *plat_body(const struct emu_request *q, struct emu_reply *r, bool corp)
{
        cJSON *body = NULL;

        /* Every platform call is a POST of JSON (the API pages' "请求地址 POST"). */
        if (strcmp(q->method, "POST"))
                reply_error(r, corp, 43002, "require POST method");
        else if (!q->body || q->body_too_big ||
                 !cJSON_IsObject(body = cJSON_ParseWithLength(q->body, q->body_len)))
                reply_error(r, corp, 47001, "data format error");
        if (r->body) {
                cJSON_Delete(body);
                return NULL;
        }
        return body;
}

const char *plat_str(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/*
 * The ?component_access_token= or ?suite_access_token= of a call: the owner whose token it
 * is, or -1 with the error answered. A missing token is 41001; another kind of token, or
 * one superseded past its overlap, is invalid (40001 at WeChat, 40082 "invalid
 * suite_token" at WeCom); one past its life expired (42001, WeCom's 42009 "suite_token
 * expired"): WeChat's global return codes and WeCom's (document 90313).
 */
int plat_owner_token(const struct emu_request *q, struct emu_reply *r, bool suite)
{
        const char *text = req_arg(q, suite ? "suite_access_token" : "component_access_token");
        struct emu_token *t = text ? emu_token_find(text) : NULL;
        int owner = t ? plat_owner_of_app(t->app) : -1;
        enum emu_verdict v;

        if (!text) {
                reply_error(r, suite, 41001, suite ? "suite_access_token missing" :
                            "component_access_token missing");
                return -1;
        }
        if (owner >= 0 && plat_owners[owner].suite != suite)
                owner = -1;
        v = owner < 0 ? VERDICT_INVALID : emu_token_check(t);
        if (v == VERDICT_EXPIRED)
                reply_error(r, suite, suite ? 42009 : 42001, suite ? "suite_access_token expired" :
                            "access_token expired");
        else if (v == VERDICT_INVALID)
                reply_error(r, suite, suite ? 40082 : 40001, suite ? "invalid suite_token" :
                            "invalid credential, access_token is invalid or not latest");
        return v == VERDICT_OK ? owner : -1;
}

void plat_count_account(enum plat_endpoint e, int app, const struct emu_reply *r)
{
        if (app < 0 || (emu_apps[app].type != EMU_AUTHORIZER && emu_apps[app].type != EMU_SUITE_CORP))
                return;
        plat_counts[e].calls++;
        if (r->errcode == 0)
                plat_counts[e].ok++;
}

void plat_finish(enum plat_endpoint e, int app, const char *id, struct emu_reply *r)
{
        plat_counts[e].calls++;
        if (r->errcode == 0)
                plat_counts[e].ok++;
        stats_log(ep_names[e], app, id, false, r, app >= 0 ? emu_apps[app].slots[emu_type_kind(emu_apps[app].type)].gen : 0);
}
