/* emu-plat-control.c: the /emu/ controls of the platforms: push and spoil tickets, (de)authorize accounts, mint codes, block IPs. */
#include <stdio.h>
#include <string.h>

#include "emu-control.h"
#include "emu-plat.h"
#include "emu-push.h"
#include "emu-state.h"

/* ?component=ID or ?suite=ID: the owner, or -1 answered. */
static int owner_arg(const struct emu_request *q, struct emu_reply *r)
{
        const char *c = req_arg(q, "component"), *s = req_arg(q, "suite");
        int owner = c ? plat_owner_find(c, false) : s ? plat_owner_find(s, true) : -1;

        if (owner < 0)
                control_fail(r, 404, c || s ? "no such component or suite" : "need component= or suite=");
        return owner;
}

/* ?authorizer=APPID or ?corp=CORPID: the member, or -1 answered. */
static int member_arg(const struct emu_request *q, struct emu_reply *r)
{
        const char *a = req_arg(q, "authorizer"), *c = req_arg(q, "corp");

        for (int o = 0; (a || c) && o < plat_nowners; o++) {
                int m = plat_member_find(plat_owners[o].suite ? c : a, o);

                if (m >= 0)
                        return m;
        }
        control_fail(r, 404, a || c ? "no such authorizer or corp" : "need authorizer= or corp=");
        return -1;
}

static void reply_ticket(struct emu_reply *r, const struct plat_ticket *t)
{
        cJSON *o = control_ok();

        cJSON_AddStringToObject(o, "ticket", t->text);
        cJSON_AddNumberToObject(o, "create_time", (double)t->create_unix);
        reply_json(r, 200, o);
}

/* expire: as if created a lifetime ago (61005 / 40085); else invalidated (61006 / 40085). */
static void spoil_tickets(struct emu_reply *r, int owner, bool expire)
{
        struct plat_owner *w = &plat_owners[owner];

        for (int i = 0; i < PLAT_TICKETS; i++) {
                if (expire)
                        w->tickets[i].create_ms = INT64_MIN / 2;
                else
                        w->tickets[i].invalid = true;
        }
        reply_json(r, 200, control_ok());
}

/* The account cancels its authorization: gone from the list, its refresh token or
 * permanent code refused, its tokens dead at once (40001/40014, not an expiry). */
static void deauthorize(struct emu_reply *r, int member)
{
        struct plat_member *m = &plat_members[member];
        int64_t now = emu_now_ms();

        m->revoked = true;
        for (int k = 0; k < KIND_COUNT; k++)
                for (int h = 0; h < EMU_HISTORY; h++) {
                        struct emu_token *t = emu_apps[m->app].slots[k].ring[h];

                        if (t && t->grace_ms > now)
                                t->grace_ms = now < t->expires_ms ? now : t->grace_ms;
                }
        reply_json(r, 200, control_ok());
}

/* An account that cancelled authorizes again: a new refresh token or permanent code; the old one stays dead. */
static void reauthorize(struct plat_member *m, long long now_unix)
{
        if (!m->revoked)
                return;
        m->revoked = false;
        m->cred_gen++;
        m->prev_until_ms = 0;
        m->auth_unix = now_unix;
}

/*
 * The account authorizes (again): a code for api_query_auth (an hour) or get_permanent_code
 * (10 minutes). A re-authorization after a cancel hands out a new refresh token or
 * permanent code; the old one stays dead.
 */
static void auth_code(struct emu_reply *r, int member)
{
        struct plat_member *m = &plat_members[member];
        bool suite = plat_owners[m->owner].suite;
        const struct plat_code *c;
        cJSON *o;

        reauthorize(m, emu_unix_ms() / 1000);
        c = plat_code_mint(member, suite ? 10LL * 60 * 1000 : 3600LL * 1000);
        o = control_ok();
        cJSON_AddStringToObject(o, suite ? "auth_code" : "authorization_code", c->text);
        cJSON_AddNumberToObject(o, "expires_in", suite ? 600 : 3600);
        reply_json(r, 200, o);
}

/*
 * The authorization change notice WeChat posts to the event URL (Open Platform, "授权变更通知推送",
 * ThirdParty/token/authorize_event.html): InfoType unauthorized (the account cancelled: as
 * /emu/deauthorize, its tokens left to expire), authorized or updateauthorized (as /emu/auth_code, with the code in
 * AuthorizationCode and its expiry in AuthorizationCodeExpiredTime), with AppId, CreateTime
 * and AuthorizerAppid.
 */
/*
 * WeCom's instruction callback to a suite ("指令回调", developer.work.weixin.qq.com document
 * 90642, 授权通知事件): create_auth carries the temporary AuthCode (10 minutes) and no corp,
 * cancel_auth the AuthCorpId (its permanent code refused from then on), each with SuiteId,
 * InfoType and TimeStamp.
 */
static void push_suite_event(struct emu_reply *r, int owner, int member, const char *event)
{
        struct plat_member *m = &plat_members[member];
        const char *suite = emu_apps[plat_owners[owner].app].id, *corpid = emu_apps[m->app].id;
        long long now = (long long)(emu_unix_ms() / 1000);
        char msg[1024];
        cJSON *o;

        if (m->owner != owner || (strcmp(event, "create_auth") && strcmp(event, "cancel_auth"))) {
                control_fail(r, 400, "event= create_auth or cancel_auth, for a suite's corp");
                return;
        }
        o = control_ok();
        if (event[0] == 'c' && event[1] == 'a') {
                m->revoked = true;
                snprintf(msg, sizeof(msg), "<xml><SuiteId><![CDATA[%s]]></SuiteId><InfoType><![CDATA[cancel_auth]]>"
                         "</InfoType><TimeStamp>%lld</TimeStamp><AuthCorpId><![CDATA[%s]]></AuthCorpId></xml>", suite,
                         now, corpid);
        } else {
                const struct plat_code *c;

                reauthorize(m, now);
                c = plat_code_mint(member, 10LL * 60 * 1000);
                snprintf(msg, sizeof(msg), "<xml><SuiteId><![CDATA[%s]]></SuiteId><AuthCode><![CDATA[%s]]></AuthCode>"
                         "<InfoType><![CDATA[create_auth]]></InfoType><TimeStamp>%lld</TimeStamp></xml>", suite,
                         c->text, now);
                cJSON_AddStringToObject(o, "auth_code", c->text);
        }
        push_sealed(r, owner, msg, o);
}

static void push_event(struct emu_reply *r, int owner, int member, const char *event)
{
        struct plat_member *m = &plat_members[member];
        const char *comp = emu_apps[plat_owners[owner].app].id, *appid = emu_apps[m->app].id;
        long long now = (long long)(emu_unix_ms() / 1000);
        char msg[1024], code_xml[256] = "";
        cJSON *o;

        if (plat_owners[owner].suite) {
                push_suite_event(r, owner, member, event);
                return;
        }
        if (m->owner != owner ||
            (strcmp(event, "unauthorized") && strcmp(event, "authorized") && strcmp(event, "updateauthorized"))) {
                control_fail(r, 400, "event= unauthorized, authorized or updateauthorized, for a component's authorizer");
                return;
        }
        o = control_ok();
        if (event[0] == 'u' && event[1] == 'n') {
                m->revoked = true; /* out of the list, its refresh token refused (61003) */
        } else {
                const struct plat_code *c;

                reauthorize(m, now);
                c = plat_code_mint(member, 3600LL * 1000);
                snprintf(code_xml, sizeof(code_xml), "<AuthorizationCode><![CDATA[%s]]></AuthorizationCode>"
                         "<AuthorizationCodeExpiredTime>%lld</AuthorizationCodeExpiredTime>", c->text, now + 3600);
                cJSON_AddStringToObject(o, "authorization_code", c->text);
        }
        snprintf(msg, sizeof(msg), "<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%lld</CreateTime><InfoType><![CDATA[%s]]>"
                 "</InfoType><AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid>%s</xml>", comp, now, event, appid,
                 code_xml);
        push_sealed(r, owner, msg, o);
}

bool plat_control(const char *what, const struct emu_request *q, struct emu_reply *r)
{
        int owner, member;

        if (!strcmp(what, "push_message") && req_arg(q, "event")) {
                if ((owner = owner_arg(q, r)) >= 0 && (member = member_arg(q, r)) >= 0)
                        push_event(r, owner, member, req_arg(q, "event"));
                return true;
        }
        if (!strcmp(what, "push_message")) {
                if ((owner = owner_arg(q, r)) >= 0)
                        push_message(r, owner, plat_ticket_push(owner));
                return true;
        }
        if (!strcmp(what, "push_ticket") || !strcmp(what, "ticket") ||
            !strcmp(what, "expire_ticket") || !strcmp(what, "invalidate_ticket") ||
            !strcmp(what, "ip_block")) {
                if ((owner = owner_arg(q, r)) < 0)
                        return true;
                if (what[0] == 'p') {
                        reply_ticket(r, plat_ticket_push(owner));
                } else if (what[0] == 't') {
                        if (plat_owners[owner].tickets_made)
                                reply_ticket(r, &plat_owners[owner].tickets[(plat_owners[owner].tickets_made - 1) % PLAT_TICKETS]);
                        else
                                control_fail(r, 404, "no ticket pushed yet");
                } else if (what[0] == 'e' || (what[0] == 'i' && what[1] == 'n')) {
                        spoil_tickets(r, owner, what[0] == 'e');
                } else {
                        const char *on = req_arg(q, "on");

                        plat_owners[owner].ip_blocked = !on || strcmp(on, "0");
                        reply_json(r, 200, control_ok());
                }
                return true;
        }
        if (!strcmp(what, "deauthorize") || !strcmp(what, "auth_code")) {
                if ((member = member_arg(q, r)) < 0)
                        return true;
                if (what[0] == 'd')
                        deauthorize(r, member);
                else
                        auth_code(r, member);
                return true;
        }
        return false;
}
