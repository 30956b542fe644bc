/* emu-suite.c: WeCom's service-provider endpoints: suite, provider and authorized-corp tokens, permanent codes. */
#include <string.h>

#include "emu-faults.h"
#include "emu-plat.h"
#include "emu-state.h"

/*
 * Pages cited below, under developer.work.weixin.qq.com/document/path/: 90600 (get_suite_token),
 * 91200 (get_provider_token), 90603 (get_permanent_code), 90605 (get_corp_token), 90628 (the
 * suite_ticket push); codes from WeCom's global list, 90313: 40001 "invalid secret", 40080
 * "invalid suite_secret" (get_suite_token's secret), 40013
 * "invalid corpid", 40078 "invalid temporary auth code", 40082 "invalid suite_token", 40083
 * "invalid suite_id", 40084 "invalid permanent_code", 40085 "invalid suite_ticket", 60020
 * "IP not allowed".
 *
 * Lifetimes: WeCom's credentials are handed out again unchanged while they are valid and
 * renewed once expired -- gettoken's documented rule ("repeated fetches inside the validity
 * return the same result"), which WeCom applies to get_corp_token and which the emulator
 * applies to the suite and provider tokens too.
 */
#define AUTH_CODE_MS (10LL * 60 * 1000)        /* 90603: the temporary auth code lives 10 minutes */

static struct emu_stats *stats_at(int app)
{
        return app >= 0 ? &emu_apps[app].stats : &emu_unknown;
}

/* The current token while valid, else a new one (nothing overlaps: the old one expired). */
static struct emu_token *same_while_valid(int app)
{
        struct emu_token *t = emu_token_current(app, KIND_CORP);

        return t && emu_token_check(t) == VERDICT_OK ? t : emu_token_issue(app, KIND_CORP);
}

/* with_errcode: WeCom's success body carries errcode 0 (get_suite_token,
 * get_provider_token, get_permanent_code) or not (get_corp_token). */
static void reply_wecom(struct emu_reply *r, const struct emu_token *t, const char *name,
                        bool with_errcode, cJSON *o)
{
        int64_t left;

        if (!t) {
                cJSON_Delete(o);
                reply_error(r, true, -1, "system busy");
                return;
        }
        /* rounded up: a token minted this millisecond has all of its expires_in */
        left = (emu_token_left_ms(t) + 999) / 1000;
        if (r->has_expires_in)
                left = r->expires_in;
        if (!o)
                o = cJSON_CreateObject();
        if (with_errcode) {
                cJSON_AddNumberToObject(o, "errcode", 0);
                cJSON_AddStringToObject(o, "errmsg", "ok");
        }
        cJSON_AddStringToObject(o, name, t->text);
        cJSON_AddNumberToObject(o, "expires_in", (double)left);
        reply_json(r, 200, o);
        r->errcode = 0;
}

/* POST get_suite_token {suite_id, suite_secret, suite_ticket}: a ticket past its 30 minutes,
 * never pushed or invalidated is 40085 alike (WeCom has no separate expiry code). */
void api_suite_token(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, true);
        const char *id = plat_str(body, "suite_id"), *secret = plat_str(body, "suite_secret");
        int owner, app;

        emu_lock();
        owner = plat_owner_find(id, true);
        app = owner >= 0 ? plat_owners[owner].app : -1;
        stats_at(app)->gettoken_calls++;
        if (!body || fault_apply(app, FAULT_TOKENS, secret, r))
                goto out;
        if (owner < 0)
                reply_error(r, true, 40083, "invalid suite_id");
        else if (plat_owners[owner].ip_blocked)
                reply_error(r, true, 60020, "not allow to access from your ip");
        else if (!secret || strcmp(secret, emu_apps[app].secret))
                reply_error(r, true, 40080, "invalid suite_secret");
        else if (plat_ticket_check(owner, plat_str(body, "suite_ticket")) != 0)
                reply_error(r, true, 40085, "invalid suite_ticket");
        if (r->body)
                goto out;
        reply_wecom(r, same_while_valid(app), "suite_access_token", true, NULL);
        if (r->errcode == 0)
                emu_apps[app].stats.gettoken_ok++;
out:
        plat_finish(EP_SUITE_TOKEN, app, id, r);
        emu_unlock();
        cJSON_Delete(body);
}

/* POST get_provider_token {corpid, provider_secret}: the service provider's own token. */
void api_provider_token(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, true);
        const char *id = plat_str(body, "corpid"), *secret = plat_str(body, "provider_secret");
        int app;

        emu_lock();
        app = id ? emu_app_find(id, EMU_PROVIDER) : -1;
        stats_at(app)->gettoken_calls++;
        if (!body || fault_apply(app, FAULT_TOKENS, secret, r))
                goto out;
        if (app < 0)
                reply_error(r, true, 40013, "invalid corpid");
        else if (!secret || strcmp(secret, emu_apps[app].secret))
                reply_error(r, true, 40001, "invalid secret");
        if (r->body)
                goto out;
        reply_wecom(r, same_while_valid(app), "provider_access_token", true, NULL);
        if (r->errcode == 0)
                emu_apps[app].stats.gettoken_ok++;
out:
        plat_finish(EP_PROVIDER_TOKEN, app, id, r);
        emu_unlock();
        cJSON_Delete(body);
}

/* The calls made with a suite_access_token: the owner, or -1 answered (60020 when blocked). */
static int suite_call(const struct emu_request *q, struct emu_reply *r, const cJSON *body)
{
        int owner;

        if (!body || (owner = plat_owner_token(q, r, true)) < 0)
                return -1;
        if (plat_owners[owner].ip_blocked) {
                reply_error(r, true, 60020, "not allow to access from your ip");
                return -1;
        }
        return owner;
}

/*
 * POST get_corp_token?suite_access_token= {auth_corpid, permanent_code}: the authorized
 * corp's access_token, the same one while it is valid. A corp that cancelled the
 * authorization has no valid permanent code any more: 40084, as for a wrong one.
 */
void api_corp_token(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, true);
        const char *id = plat_str(body, "auth_corpid"), *pc = plat_str(body, "permanent_code");
        int owner, member = -1, app = -1;

        emu_lock();
        if ((owner = suite_call(q, r, body)) < 0)
                goto out;
        member = plat_member_find(id, owner);
        app = member >= 0 ? plat_members[member].app : -1;
        stats_at(app)->gettoken_calls++;
        if (fault_apply(app, FAULT_TOKENS, pc, r))
                goto out;
        if (member < 0)
                reply_error(r, true, 40013, "invalid corpid");
        else if (plat_members[member].revoked || !plat_credential_ok(member, pc))
                reply_error(r, true, 40084, "invalid permanent_code");
        if (r->body)
                goto out;
        reply_wecom(r, same_while_valid(app), "access_token", false, NULL);
        if (r->errcode == 0)
                emu_apps[app].stats.gettoken_ok++;
out:
        plat_finish(EP_CORP_TOKEN, app, id, r);
        emu_unlock();
        cJSON_Delete(body);
}

/*
 * POST get_permanent_code?suite_access_token= {auth_code}: the temporary code (from
 * /emu/auth_code?corp=, 10 minutes, once) becomes the corp's permanent code, with the corp's
 * access_token and auth_corp_info. Unknown, used or expired codes: 40078.
 */
void api_permanent_code(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = plat_body(q, r, true), *o, *info;
        int owner, member = -1, app = -1;
        char pc[64];

        emu_lock();
        if ((owner = suite_call(q, r, body)) < 0)
                goto out;
        member = plat_code_take(plat_str(body, "auth_code"), owner);
        if (member < 0) {
                member = -1;
                reply_error(r, true, 40078, "invalid auth_code");
                goto out;
        }
        app = plat_members[member].app;
        plat_credential(member, plat_members[member].cred_gen, pc);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "permanent_code", pc);
        info = cJSON_AddObjectToObject(o, "auth_corp_info");
        cJSON_AddStringToObject(info, "corpid", emu_apps[app].id);
        cJSON_AddStringToObject(info, "corp_name", emu_apps[app].id);
        reply_wecom(r, same_while_valid(app), "access_token", true, o);
out:
        plat_finish(EP_PERMANENT_CODE, app, app >= 0 ? emu_apps[app].id : NULL, r);
        emu_unlock();
        cJSON_Delete(body);
}
