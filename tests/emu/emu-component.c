/* emu-component.c: the Open Platform's component endpoints: tickets, component and authorizer tokens, the authorizer list. */
#include <string.h>

#include "emu-faults.h"
#include "emu-plat.h"
#include "emu-state.h"

/*
 * Pages cited below, all under developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/
 * 2.0/api/: ThirdParty/token/component_verify_ticket_service.html (api_start_push_ticket),
 * ThirdParty/token/component_access_token.html (api_component_token), ThirdParty/token/
 * api_authorizer_token.html, ThirdParty/token/authorization_info.html (api_query_auth),
 * ThirdParty/Account_Authorization/api_get_authorizer_list.html; the codes' words are
 * WeChat's global return codes (61003 "component is not authorized by this account",
 * 61009 "code is invalid", 61010 "code is expired", 61023 "refresh_token is invalid").
 */
#define MSG_NOT_AUTHORIZED "component is not authorized by this account"
#define LIST_MAX 500    /* api_get_authorizer_list: "count ... at most 500" */

static struct emu_stats *stats_at(int app)
{
        return app >= 0 ? &emu_apps[app].stats : &emu_unknown;
}

/* The component's own checks, in the page's order of its codes: which component (61011),
 * its IP whitelist (61004), the secret (41004 missing, 40125 wrong). */
static bool component_check(struct emu_reply *r, int owner, const char *appid, const char *secret)
{
        if (!appid)
                reply_error(r, false, 41002, "appid missing");
        else if (owner < 0)
                reply_error(r, false, 61011, "invalid component");
        else if (plat_owners[owner].ip_blocked)
                reply_error(r, false, 61004, "access clientip is not registered");
        else if (!secret)
                reply_error(r, false, 41004, "appsecret missing");
        else if (strcmp(secret, emu_apps[plat_owners[owner].app].secret))
                reply_error(r, false, 40125, "invalid appsecret");
        else
                return true;
        return false;
}

static void reply_ok(struct emu_reply *r, cJSON *o)
{
        reply_json(r, 200, o);
        r->errcode = 0;
}

/* POST api_start_push_ticket {component_appid, component_secret}: "ok"; WeChat then pushes a
 * ticket at once, which the emulator mints here (GET /emu/ticket hands it over). */
void api_start_push_ticket(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, false), *o;
        const char *appid = plat_str(body, "component_appid");
        int owner, app;

        emu_lock();
        owner = plat_owner_find(appid, false);
        app = owner >= 0 ? plat_owners[owner].app : -1;
        if (body && component_check(r, owner, appid, plat_str(body, "component_secret"))) {
                plat_ticket_push(owner);
                plat_owners[owner].push_requests++;
                o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "errcode", 0);
                cJSON_AddStringToObject(o, "errmsg", "ok");
                reply_ok(r, o);
        }
        plat_finish(EP_START_PUSH, app, appid, r);
        emu_unlock();
        cJSON_Delete(body);
}

/*
 * POST api_component_token {component_appid, component_appsecret, component_verify_ticket}:
 * 61005 for a ticket past its 12 h, 61006 for one never pushed or invalidated, 45009 past
 * the daily limit (--quota-component, Beijing days). Each success mints a new token and the
 * previous one lives out --overlap, as access_token does.
 */
void api_component_token(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, false), *o;
        const char *appid = plat_str(body, "component_appid");
        const char *secret = plat_str(body, "component_appsecret");
        struct emu_token *t;
        int owner, app, ticket;

        emu_lock();
        owner = plat_owner_find(appid, false);
        app = owner >= 0 ? plat_owners[owner].app : -1;
        stats_at(app)->token_calls++;
        if (!body || fault_apply(app, FAULT_TOKENS, secret, r) || !component_check(r, owner, appid, secret))
                goto out;
        ticket = plat_ticket_check(owner, plat_str(body, "component_verify_ticket"));
        if (ticket != 0) {
                reply_error(r, false, ticket > 0 ? 61005 : 61006, ticket > 0 ?
                            "component ticket is expired" : "component ticket is invalid");
                goto out;
        }
        emu_app_quota(&emu_apps[app]);
        if (emu_apps[app].used_token >= plat_cfg.quota_component) {
                emu_apps[app].stats.quota_rejects++;
                reply_error(r, false, 45009, "reach max api daily quota limit");
                goto out;
        }
        emu_apps[app].used_token++;
        if (!(t = emu_token_issue(app, KIND_NORMAL))) {
                reply_error(r, false, -1, "system error");
                goto out;
        }
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "component_access_token", t->text);
        cJSON_AddNumberToObject(o, "expires_in", r->has_expires_in ? (double)r->expires_in : emu_cfg.expires_in);
        reply_ok(r, o);
        emu_apps[app].stats.token_ok++;
out:
        plat_finish(EP_COMPONENT_TOKEN, app, appid, r);
        emu_unlock();
        cJSON_Delete(body);
}

/* The calls made with a component_access_token: the token's component must be the one the
 * body names (another's is 61014-like misuse; answered as an invalid credential), and the
 * whitelist applies to them too. Returns the owner, or -1 answered. */
static int component_call(const struct emu_request *q, struct emu_reply *r, const cJSON *body)
{
        int owner;

        if (!body)
                return -1;
        owner = plat_owner_token(q, r, false);
        if (owner < 0)
                return -1;
        if (plat_owner_find(plat_str(body, "component_appid"), false) != owner) {
                reply_error(r, false, 40001, "invalid credential, access_token is invalid or not latest");
                return -1;
        }
        if (plat_owners[owner].ip_blocked) {
                reply_error(r, false, 61004, "access clientip is not registered");
                return -1;
        }
        return owner;
}

/* A new authorizer_access_token (the one before keeps --overlap) and the refresh token. */
static bool authorizer_issue(struct emu_reply *r, int member, cJSON *into, const char *token_name)
{
        struct plat_member *m = &plat_members[member];
        struct emu_token *t = emu_token_issue(m->app, KIND_NORMAL);
        char rt[64];

        if (!t) {
                reply_error(r, false, -1, "system error");
                return false;
        }
        plat_credential(member, m->cred_gen, rt);
        cJSON_AddStringToObject(into, "authorizer_appid", emu_apps[m->app].id);
        cJSON_AddStringToObject(into, token_name, t->text);
        cJSON_AddNumberToObject(into, "expires_in", r->has_expires_in ? (double)r->expires_in : emu_cfg.expires_in);
        cJSON_AddStringToObject(into, "authorizer_refresh_token", rt);
        return true;
}

/*
 * POST api_authorizer_token?component_access_token= {component_appid, authorizer_appid,
 * authorizer_refresh_token}. The refresh token normally stays the same for the life of the
 * authorization ("请妥善保存", only a new authorization replaces it); with
 * --rotate-refresh-tokens each call hands out a new one and the old stays good for
 * --overlap, then 61023. An account that cancelled the authorization: 61003.
 */
void api_authorizer_token(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, false), *o;
        const char *appid = plat_str(body, "authorizer_appid");
        const char *rt = plat_str(body, "authorizer_refresh_token");
        int owner, member = -1, app = -1;

        emu_lock();
        if ((owner = component_call(q, r, body)) < 0)
                goto out;
        member = plat_member_find(appid, owner);
        app = member >= 0 ? plat_members[member].app : -1;
        stats_at(app)->token_calls++;
        if (fault_apply(app, FAULT_TOKENS, rt, r))
                goto out;
        if (!appid)
                reply_error(r, false, 41002, "appid missing");
        else if (member < 0 || plat_members[member].revoked)
                reply_error(r, false, 61003, MSG_NOT_AUTHORIZED);
        else if (!plat_credential_ok(member, rt))
                reply_error(r, false, 61023, "refresh_token is invalid");
        if (r->body)
                goto out;
        if (plat_cfg.rotate_refresh)
                plat_credential_rotate(member);
        o = cJSON_CreateObject();
        if (!authorizer_issue(r, member, o, "authorizer_access_token")) {
                cJSON_Delete(o);
                goto out;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(o, "authorizer_appid");
        reply_ok(r, o);
        emu_apps[app].stats.token_ok++;
out:
        plat_finish(EP_AUTHORIZER_TOKEN, app, appid, r);
        emu_unlock();
        cJSON_Delete(body);
}

static bool json_count(const cJSON *body, const char *name, int64_t *out)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);

        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9)
                return false;
        *out = (int64_t)v->valuedouble;
        return true;
}

/* POST api_get_authorizer_list {component_appid, offset, count <= 500}: the accounts still
 * authorized, in authorization order, with their refresh tokens and auth_time. */
void api_get_authorizer_list(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, false), *o, *list;
        int64_t offset, count, seen = 0;
        int owner, total = 0;
        const struct plat_owner *w;

        emu_lock();
        if ((owner = component_call(q, r, body)) < 0)
                goto out;
        if (!json_count(body, "offset", &offset) || !json_count(body, "count", &count) ||
            count == 0 || count > LIST_MAX) {
                reply_error(r, false, 40097, "invalid args");
                goto out;
        }
        w = &plat_owners[owner];
        o = cJSON_CreateObject();
        list = cJSON_CreateArray();
        for (int i = w->first; i < w->first + w->count; i++) {
                const struct plat_member *m = &plat_members[i];
                char rt[64];
                cJSON *e;

                if (m->revoked)
                        continue;
                total++;
                if (seen++ < offset || cJSON_GetArraySize(list) >= count)
                        continue;
                plat_credential(i, m->cred_gen, rt);
                e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "authorizer_appid", emu_apps[m->app].id);
                cJSON_AddStringToObject(e, "refresh_token", rt);
                cJSON_AddNumberToObject(e, "auth_time", (double)m->auth_unix);
                cJSON_AddItemToArray(list, e);
        }
        cJSON_AddNumberToObject(o, "total_count", total);
        cJSON_AddItemToObject(o, "list", list);
        reply_ok(r, o);
out:
        plat_finish(EP_AUTHORIZER_LIST, owner >= 0 ? plat_owners[owner].app : -1, plat_str(body, "component_appid"), r);
        emu_unlock();
        cJSON_Delete(body);
}

/* POST api_query_auth {component_appid, authorization_code}: a code (minted by
 * /emu/auth_code, valid an hour: the redirect's expires_in=3600) is good once: 61009 for an
 * unknown or used one, 61010 for one past its hour. */
void api_query_auth(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, false), *o, *info;
        int owner, member = -1, app = -1;

        emu_lock();
        if ((owner = component_call(q, r, body)) < 0)
                goto out;
        member = plat_code_take(plat_str(body, "authorization_code"), owner);
        if (member == -2 || member == -1) {
                reply_error(r, false, member == -2 ? 61010 : 61009,
                            member == -2 ? "code is expired" : "code is invalid");
                goto out;
        }
        app = plat_members[member].app;
        o = cJSON_CreateObject();
        info = cJSON_AddObjectToObject(o, "authorization_info");
        if (!authorizer_issue(r, member, info, "authorizer_access_token")) {
                cJSON_Delete(o);
                goto out;
        }
        cJSON_AddArrayToObject(info, "func_info");
        reply_ok(r, o);
out:
        plat_finish(EP_QUERY_AUTH, app, app >= 0 ? emu_apps[app].id : NULL, r);
        emu_unlock();
        cJSON_Delete(body);
}
