/* emu-api.c: the emulated WeChat and WeCom token, ticket and business endpoints. */
#include <string.h>

#include "emu-api.h"
#include "emu-faults.h"
#include "emu-plat.h"
#include "emu-state.h"
#include "emu-stats.h"

#define MSG_40001 "invalid credential, access_token is invalid or not latest"
#define MSG_42001 "access_token expired"
#define MSG_45009 "reach max api daily quota limit"
#define MSG_FREQ "api freq out of limit"        /* WeCom's words for its 45009 */

static struct emu_stats *stats_of(int app)
{
        return app >= 0 ? &emu_apps[app].stats : &emu_unknown;
}

/* fresh: just issued, so the full lifetime, not one a millisecond tick may have shaved. */
static void reply_token(struct emu_reply *r, const struct emu_token *t, bool corp, bool fresh)
{
        cJSON *o = cJSON_CreateObject();
        int64_t left = fresh ? (int64_t)emu_cfg.expires_in : emu_token_left_ms(t) / 1000;

        if (r->has_expires_in)
                left = r->expires_in;

        if (corp) {
                cJSON_AddNumberToObject(o, "errcode", 0);
                cJSON_AddStringToObject(o, "errmsg", "ok");
        }
        cJSON_AddStringToObject(o, t->kind == KIND_JSAPI || t->kind == KIND_CARD || t->kind == KIND_AGENT ?
                                "ticket" : "access_token", t->text);
        cJSON_AddNumberToObject(o, "expires_in", (double)left);
        reply_json(r, 200, o);
        r->errcode = 0;
}

/* The credential checks shared by token and stable_token, in WeChat's order. */
static bool check_credentials(struct emu_reply *r, const char *grant, const char *appid,
                              const char *secret, int app, int bad_secret_code,
                              const char *bad_secret_msg)
{
        if (!grant || strcmp(grant, "client_credential"))
                reply_error(r, false, 40002, "invalid grant_type");
        else if (!appid)
                reply_error(r, false, 41002, "appid missing");
        else if (!secret)
                reply_error(r, false, 41004, "appsecret missing");
        else if (app < 0)
                reply_error(r, false, 40013, "invalid appid");
        else if (strcmp(secret, emu_apps[app].secret))
                reply_error(r, false, bad_secret_code, bad_secret_msg);
        else
                return true;
        return false;
}

static bool quota_take(struct emu_reply *r, int app, uint64_t *used, uint64_t limit)
{
        emu_app_quota(&emu_apps[app]);
        if (*used >= limit) {
                emu_apps[app].stats.quota_rejects++;
                reply_error(r, false, 45009, MSG_45009);
                return false;
        }
        (*used)++;
        return true;
}

static void issue_or_fail(struct emu_reply *r, int app, enum emu_kind kind, bool corp)
{
        struct emu_token *t = emu_token_issue(app, kind);

        if (t)
                reply_token(r, t, corp, true);
        else
                reply_error(r, corp, -1, "system error");
}

static uint64_t gen_of(int app, enum emu_kind kind)
{
        return app >= 0 ? emu_apps[app].slots[kind].gen : 0;
}

/* GET /cgi-bin/token: every successful call rotates the token. */
void api_token(const struct emu_request *q, struct emu_reply *r)
{
        const char *appid = req_arg(q, "appid");
        int app;

        emu_lock();
        app = appid ? emu_app_find(appid, EMU_OFFICIAL) : -1;
        stats_of(app)->token_calls++;
        if (fault_apply(app, FAULT_TOKENS, req_arg(q, "secret"), r))
                goto out;
        if (!check_credentials(r, req_arg(q, "grant_type"), appid, req_arg(q, "secret"), app,
                               40001, MSG_40001))
                goto out;
        if (!quota_take(r, app, &emu_apps[app].used_token, emu_cfg.quota_token))
                goto out;
        issue_or_fail(r, app, KIND_NORMAL, false);
        emu_apps[app].stats.token_ok++;
out:
        stats_log("token", app, appid, false, r, gen_of(app, KIND_NORMAL));
        emu_unlock();
}

static const char *json_string(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/*
 * stable_token, force mode, inside --force-spacing of the last rotation: WeChat's doc says
 * "when using this mode repeatedly, keep calls at least 30 s apart, otherwise it will not
 * refresh" -- not an error -- so the current token is answered unchanged. Only rotations
 * start the spacing; every force call, rotating or not, counts toward the daily 20 (45009
 * beyond that).
 */
static void stable_force(struct emu_reply *r, int app)
{
        struct emu_app *a = &emu_apps[app];
        struct emu_token *cur = emu_token_current(app, KIND_STABLE);
        int64_t now = emu_now_ms();

        if (!quota_take(r, app, &a->used_force, emu_cfg.quota_stable_force))
                return;
        if (cur && emu_token_check(cur) == VERDICT_OK && a->last_force_ms != INT64_MIN &&
            now - a->last_force_ms < (int64_t)emu_cfg.force_spacing * 1000) {
                reply_token(r, cur, false, false);
                return;
        }
        a->last_force_ms = now;
        issue_or_fail(r, app, KIND_STABLE, false);
}

/*
 * stable_token, normal mode: the same token while it has more than the renewal window
 * left, a new one inside it ("the platform renews 5 minutes early", so expires_in >= 300).
 * The window is min(300 s, --expires-in / 4) so short test lifetimes still work.
 */
static void stable_normal(struct emu_reply *r, int app)
{
        struct emu_token *cur = emu_token_current(app, KIND_STABLE);
        int64_t window = emu_cfg.expires_in / 4 < 300 ? emu_cfg.expires_in / 4 : 300;

        if (!quota_take(r, app, &emu_apps[app].used_stable, emu_cfg.quota_stable))
                return;
        if (cur && emu_token_check(cur) == VERDICT_OK &&
            emu_token_left_ms(cur) > window * 1000)
                reply_token(r, cur, false, false);
        else
                issue_or_fail(r, app, KIND_STABLE, false);
}

/* POST /cgi-bin/stable_token with a JSON body; its tokens are isolated from /cgi-bin/token's. */
void api_stable_token(const struct emu_request *q, struct emu_reply *r)
{
        cJSON *body = NULL;
        const cJSON *force_item;
        const char *appid = NULL;
        bool force = false;
        int app = -1;

        if (q->body && !q->body_too_big)
                body = cJSON_ParseWithLength(q->body, q->body_len);
        if (cJSON_IsObject(body))
                appid = json_string(body, "appid");
        emu_lock();
        app = appid ? emu_app_find(appid, EMU_OFFICIAL) : -1;
        force_item = cJSON_GetObjectItemCaseSensitive(body, "force_refresh");
        force = cJSON_IsTrue(force_item);
        if (force)
                stats_of(app)->stable_force++;
        else
                stats_of(app)->stable_normal++;
        if (fault_apply(app, FAULT_TOKENS, cJSON_IsObject(body) ? json_string(body, "secret") : NULL, r))
                goto out;
        if (strcmp(q->method, "POST")) {
                reply_error(r, false, 43002, "require POST method");
                goto out;
        }
        if (!cJSON_IsObject(body) || (force_item && !cJSON_IsBool(force_item))) {
                reply_error(r, false, 47001, "data format error");
                goto out;
        }
        if (!check_credentials(r, json_string(body, "grant_type"), appid,
                               json_string(body, "secret"), app, 40125, "invalid appsecret"))
                goto out;
        if (force)
                stable_force(r, app);
        else
                stable_normal(r, app);
        if (r->errcode == 0)
                emu_apps[app].stats.stable_ok++;
out:
        stats_log("stable_token", app, appid, force, r, gen_of(app, KIND_STABLE));
        emu_unlock();
        cJSON_Delete(body);
}

/* GET /cgi-bin/gettoken (WeCom): the same token until it expires, then a new one. */
void api_gettoken(const struct emu_request *q, struct emu_reply *r)
{
        const char *corpid = req_arg(q, "corpid");
        const char *secret = req_arg(q, "corpsecret");
        struct emu_token *cur;
        int app;

        emu_lock();
        app = corpid ? emu_app_find(corpid, EMU_CORP) : -1;
        stats_of(app)->gettoken_calls++;
        if (fault_apply(app, FAULT_TOKENS, secret, r))
                goto out;
        if (!corpid)
                reply_error(r, true, 41002, "corpid missing");
        else if (!secret)
                reply_error(r, true, 41004, "corpsecret missing");
        else if (app < 0)
                reply_error(r, true, 40013, "invalid corpid");
        else if (strcmp(secret, emu_apps[app].secret))
                reply_error(r, true, 40001, "invalid credential");
        if (r->body)
                goto out;
        cur = emu_token_current(app, KIND_CORP);
        if (cur && emu_token_check(cur) == VERDICT_OK)
                reply_token(r, cur, true, false);
        else
                issue_or_fail(r, app, KIND_CORP, true);
        emu_apps[app].stats.gettoken_ok++;
out:
        stats_log("gettoken", app, corpid, false, r, gen_of(app, KIND_CORP));
        emu_unlock();
}

/* Lock held. Judges the access_token argument; answers the error and returns false if bad. */
static bool token_accept(const struct emu_request *q, struct emu_reply *r, bool corp,
                         const struct emu_token *t)
{
        enum emu_verdict v;

        if (!req_arg(q, "access_token")) {
                reply_error(r, corp, 41001, "access_token missing");
                return false;
        }
        v = emu_token_check(t);
        if (v == VERDICT_EXPIRED)
                reply_error(r, corp, 42001, MSG_42001);
        else if (v == VERDICT_INVALID && corp)
                reply_error(r, true, 40014, "invalid access_token");
        else if (v == VERDICT_INVALID)
                reply_error(r, false, 40001, MSG_40001);
        return v == VERDICT_OK;
}

static struct emu_token *token_lookup(const struct emu_request *q, bool corp)
{
        const char *text = req_arg(q, "access_token");
        struct emu_token *t = text ? emu_token_find(text) : NULL;

        /* Each family knows only its own tokens; a platform's own token (component, suite,
         * provider) is no account's and opens no business API. */
        if (t && ((t->kind == KIND_CORP) != corp || !emu_type_business(emu_apps[t->app].type)))
                return NULL;
        return t;
}

/*
 * WeCom's hourly ticket limits ("access frequency limits", developer.work.weixin.qq.com
 * document 90454): "in one hour a corp may fetch the jsapi_ticket at most 400 times, and
 * a single app no more than 100 times"; a limit counted by the hour, once passed, blocks
 * the call for 60 minutes. WeCom answers it as its other frequency limits, 45009 "api
 * freq out of limit". Here the corp's get_jsapi_ticket counts against the 400 and an
 * app's agent_config ticket against the 100 (a --corp is one corp with one app: a single
 * count of both against the 100 would be the stricter reading). A corp authorized to a
 * suite is counted the same way, by its own token (token_lookup): the corp's 400, and the
 * 100 of the suite's app installed in it (one app per corp here). Lock held: true if the
 * call may go on (counted), else 45009 is answered.
 */
static bool hour_take(struct emu_reply *r, int app, struct emu_hour *h, uint64_t limit)
{
        const int64_t hour = 3600 * 1000;
        int64_t now = emu_now_ms();

        if (now < h->blocked_until_ms) {
                emu_apps[app].stats.quota_rejects++;
                reply_error(r, true, 45009, MSG_FREQ);
                return false;
        }
        if (h->calls == 0 || now - h->start_ms >= hour)
                *h = (struct emu_hour){ .start_ms = now };
        if (h->calls >= limit) {
                *h = (struct emu_hour){ .blocked_until_ms = now + hour };
                emu_apps[app].stats.quota_rejects++;
                reply_error(r, true, 45009, MSG_FREQ);
                return false;
        }
        h->calls++;
        return true;
}

/*
 * fixed: the type the endpoint serves (WeCom's; agent_config must also be asked for as
 * the type argument), NULL: the type argument says (WeChat's getticket).
 */
static void ticket_answer(const struct emu_request *q, struct emu_reply *r, bool corp,
                          const char *endpoint, const char *fixed)
{
        const char *asked = req_arg(q, "type"), *type = fixed ? fixed : asked;
        struct emu_token *t, *cur;
        enum emu_kind kind;
        int app;

        emu_lock();
        t = token_lookup(q, corp);
        app = t ? t->app : -1;
        kind = !type ? KIND_JSAPI : !strcmp(type, "wx_card") ? KIND_CARD
             : !strcmp(type, "agent_config") ? KIND_AGENT : KIND_JSAPI;
        stats_of(app)->ticket_calls++;
        if (kind == KIND_AGENT)
                stats_of(app)->agent_config_calls++;
        if (fault_apply(app, FAULT_TICKETS, req_arg(q, "access_token"), r) || !token_accept(q, r, corp, t))
                goto out;
        if (fixed ? !strcmp(fixed, "agent_config") && (!asked || strcmp(asked, fixed))
                  : !asked || (strcmp(asked, "jsapi") && strcmp(asked, "wx_card"))) {
                reply_error(r, corp, 40097, "invalid args");
                goto out;
        }
        if (corp && !hour_take(r, app, kind == KIND_AGENT ? &emu_apps[app].hour_agent : &emu_apps[app].hour_jsapi,
                               kind == KIND_AGENT ? emu_cfg.ticket_hour_app : emu_cfg.ticket_hour_corp))
                goto out;
        cur = emu_token_current(app, kind);
        if (cur && emu_token_check(cur) == VERDICT_OK)
                reply_token(r, cur, true, false);
        else
                issue_or_fail(r, app, kind, true);
        emu_apps[app].stats.ticket_ok++;
out:
        /* An account's call (an authorizer's, a suite's corp's): counted per endpoint for the platform tests. */
        plat_count_account(!corp ? EP_ACCOUNT_GETTICKET : kind == KIND_AGENT ? EP_ACCOUNT_AGENT_CONFIG
                                                                              : EP_ACCOUNT_JSAPI_TICKET, app, r);
        stats_log(endpoint, app, app >= 0 ? emu_apps[app].id : NULL, false, r,
                  gen_of(app, kind));
        emu_unlock();
}

/* GET /cgi-bin/ticket/getticket?type=jsapi|wx_card: one ticket per type while it lives. */
void api_getticket(const struct emu_request *q, struct emu_reply *r)
{
        ticket_answer(q, r, false, "getticket", NULL);
}

/* GET /cgi-bin/get_jsapi_ticket (WeCom): WeCom calls a bad token 40014, not 40001. */
void api_corp_ticket(const struct emu_request *q, struct emu_reply *r)
{
        ticket_answer(q, r, true, "get_jsapi_ticket", "jsapi");
}

/* GET /cgi-bin/ticket/get?type=agent_config (WeCom): the app's ticket, for wx.agentConfig's signature. */
void api_agent_ticket(const struct emu_request *q, struct emu_reply *r)
{
        ticket_answer(q, r, true, "ticket/get", "agent_config");
}

/* GET /cgi-bin/getcallbackip: the business call, accepting any live token of any account
 * (apps, corps, authorizers, suite-authorized corps). */
void api_callbackip(const struct emu_request *q, struct emu_reply *r)
{
        const char *text = req_arg(q, "access_token");
        struct emu_token *t;
        struct emu_stats *st;
        bool corp;
        cJSON *o, *ips;

        emu_lock();
        t = text ? emu_token_find(text) : NULL;
        if (t && !emu_type_business(emu_apps[t->app].type))
                t = NULL;
        corp = t && t->kind == KIND_CORP;
        st = stats_of(t ? t->app : -1);
        if (!token_accept(q, r, corp, t)) {
                if (r->errcode == 42001)
                        st->callback_42001++;
                else
                        st->callback_40001++;
                goto out;
        }
        st->callback_ok++;
        o = cJSON_CreateObject();
        if (corp) {
                cJSON_AddNumberToObject(o, "errcode", 0);
                cJSON_AddStringToObject(o, "errmsg", "ok");
        }
        ips = cJSON_AddArrayToObject(o, "ip_list");
        cJSON_AddItemToArray(ips, cJSON_CreateString("127.0.0.1"));
        reply_json(r, 200, o);
        r->errcode = 0;
out:
        emu_unlock();
}
