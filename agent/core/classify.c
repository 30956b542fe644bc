/* classify.c: what a failed token or ticket fetch means, and one sentence telling the operator what to do. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "upstream.h"

/* errmsg is WeChat's, truncated to UPSTREAM_ERRMSG_MAX by the parser; this bounds other callers. */
#define ERRMSG_SCAN_MAX 4096
#define IP_TEXT_MAX 45          /* INET6_ADDRSTRLEN - 1 */

struct errcode_info {
        long errcode;
        enum failure_class class;
        bool ip;                /* the advice names the IP WeChat saw (a "%s" in the text) */
        const char *advice;     /* for token and stable */
        const char *advice_work; /* for WeCom, if it differs */
};

/* An Open Platform component's own words, where they differ (the same "%s" as the table's entry). */
static const struct {
        long errcode;
        const char *advice;
} component_advice[] = {
        { 40001, "WeChat refused the component_appsecret: check the secret (was it reset in the Open Platform console?)" },
        { 40125, "WeChat refused the component_appsecret: check the secret (was it reset in the Open Platform console?)" },
        { 61004, "IP %s is not in the third-party platform's IP whitelist: add it in the Open Platform console "
                 "(the platform's development settings)" },
};

/*
 * WeChat's codes as they come from a token or ticket fetch. 40001 here is a bad secret:
 * a bad token at a ticket fetch is the caller's to recognise (the codes cannot tell).
 */
static const struct errcode_info table[] = {
        { -1, FAILURE_TRANSIENT, false, "WeChat reported a system error: retrying with backoff", NULL },
        { 45011, FAILURE_TRANSIENT, false,
          "WeChat's per-minute call limit was hit: retrying with backoff; check nothing else fetches tokens for this app",
          NULL },
        { 40014, FAILURE_TRANSIENT, false,
          "WeChat refused the access token used for the ticket: a new token is fetched (at most once per "
          "min_force_interval), then the ticket", NULL },
        { 42001, FAILURE_TRANSIENT, false,
          "the access token used for the ticket had expired: a new token is fetched (at most once per "
          "min_force_interval), then the ticket", NULL },
        { 40001, FAILURE_CONFIG, false,
          "WeChat refused the AppSecret: check the secret (was it reset in the WeChat console?)",
          "WeCom refused the corpsecret: check the secret is the one of this app under this corpid (was it reset?)" },
        { 40125, FAILURE_CONFIG, false,
          "WeChat refused the AppSecret: check the secret (was it reset in the WeChat console?)", NULL },
        { 40243, FAILURE_CONFIG, false,
          "the AppSecret is frozen: unfreeze it in the WeChat console", NULL },
        { 40013, FAILURE_CONFIG, false, "WeChat does not know this appid: check appid in the app's section",
          "WeCom does not know this corpid: check appid (the corpid) in the app's section" },
        { 41002, FAILURE_CONFIG, false, "WeChat saw no appid: check appid in the app's section", NULL },
        { 41004, FAILURE_CONFIG, false, "WeChat saw no secret: check the app's secret is set and not empty", NULL },
        { 40002, FAILURE_CONFIG, false,
          "WeChat refused the grant type: check api_base points at WeChat's API", NULL },
        { 40097, FAILURE_CONFIG, false,
          "WeChat refused the request's arguments: check appid and the ticket types of the app", NULL },
        { 43002, FAILURE_CONFIG, false,
          "the request's method was refused: check api_base points at WeChat's API, not a proxy that rewrites it",
          NULL },
        { 47001, FAILURE_CONFIG, false,
          "WeChat could not read the request body: check api_base points at WeChat's API", NULL },
        { 50004, FAILURE_CONFIG, false,
          "WeChat forbids this account the token API: check the account's status in the WeChat console", NULL },
        { 40164, FAILURE_CONFIG, true,
          "IP %s is not in the app's IP whitelist: add it in the WeChat console", NULL },
        { 61004, FAILURE_CONFIG, true,
          "IP %s is not in the app's IP whitelist: add it in the WeChat console", NULL },
        /*
         * The component_verify_ticket, not the secret: the platform's callback forwards a new
         * one every 10 minutes; the call is retried with backoff, and at once when one comes.
         */
        { 61005, FAILURE_TRANSIENT, false,
          "the component_verify_ticket has expired (12 h): check the platform's callback forwards WeChat's push "
          "(wxtokenctl ticket put); retrying with backoff, and at once when a new ticket comes", NULL },
        { 61006, FAILURE_TRANSIENT, false,
          "WeChat refused the component_verify_ticket as invalid: check the platform's callback forwards WeChat's "
          "push for this component_appid (wxtokenctl ticket put); retrying with backoff, and at once when a new "
          "ticket comes", NULL },
        /* An account authorized to a component: its refresh token is gone for good; only a new authorization helps. */
        { 61003, FAILURE_CONFIG, false,
          "the account has not authorized this component (or cancelled the authorization): no call until it "
          "authorizes again and is added again (wxtokenctl authorizer add)", NULL },
        { 61023, FAILURE_CONFIG, false,
          "WeChat refused the authorizer's refresh token (the account was de-authorized, or the token retired): no "
          "call until the account authorizes again and is added again (wxtokenctl authorizer add)", NULL },
        { 61011, FAILURE_CONFIG, false,
          "WeChat does not know this component: check appid (the component_appid) and that the platform is "
          "approved", NULL },
        { 60020, FAILURE_CONFIG, true, "IP %s is not among the app's trusted IPs: add it in the WeCom admin console",
          NULL },
        /*
         * WeCom's service provider (suite, provider, corps under a suite). 40085: the
         * suite_ticket, not the secret: the callback forwards a new one every 10 minutes.
         */
        { 40085, FAILURE_TRANSIENT, false,
          "WeCom refused the suite_ticket (invalid, or older than 30 minutes): check the suite's callback forwards "
          "WeCom's push (wxtokenctl ticket put); retrying with backoff, and at once when a new ticket comes", NULL },
        { 40080, FAILURE_CONFIG, false,
          "WeCom refused the suite_secret: check the secret (was it reset in the service provider's console?)", NULL },
        { 40083, FAILURE_CONFIG, false, "WeCom does not know this suite_id: check appid (the suite_id)", NULL },
        { 40082, FAILURE_TRANSIENT, false,
          "WeCom refused the suite_access_token used for the corp: retrying with backoff", NULL },
        /* A corp authorized to a suite: its permanent code is gone for good; only a new authorization helps. */
        { 40084, FAILURE_CONFIG, false,
          "WeCom refused the corp's permanent code (the corp cancelled the authorization, or the code is wrong): no "
          "call until the corp authorizes again and is added again (wxtokenctl authorizer add)", NULL },
        { 40078, FAILURE_CONFIG, false,
          "WeCom refused the temporary auth code (unknown, used, or older than 10 minutes): the corp must authorize "
          "again; add it with the new auth code", NULL },
        { 89503, FAILURE_CONFIG, true,
          "calls from IP %s wait for the administrator's confirmation: ask them to allow it, or add it to the IP whitelist",
          NULL },
        { 89506, FAILURE_CONFIG, true,
          "the administrator refused calls from IP %s twice: it is blocked for 24 hours; add it to the IP whitelist",
          NULL },
        { 89507, FAILURE_CONFIG, true,
          "the administrator refused calls from IP %s: it is blocked for an hour; add it to the IP whitelist", NULL },
        { 45009, FAILURE_QUOTA, false,
          "the daily quota of this API is used up: it renews at midnight Beijing time (or clear it once in the "
          "console); find what else fetches tokens for this app",
          /* WeCom's 45009 is a frequency limit; its tickets' are hourly (budget.h, BUDGET_WORK_BLOCK_MS). */
          "WeCom's frequency limit was hit (jsapi tickets: 400 an hour per corp, 100 an hour per app; an hourly "
          "limit blocks the call for 60 minutes): a ticket is fetched again in an hour, a token after backoff_max; "
          "the last one stays published; find what else fetches this corp's tokens or tickets" },
        { UPSTREAM_ERR_HTTP, FAILURE_TRANSIENT, false,
          "api_base answered with an HTTP error: retrying with backoff and the next api_base", NULL },
        { UPSTREAM_ERR_TRANSPORT, FAILURE_TRANSIENT, false,
          "api_base could not be reached (connect, DNS, TLS or timeout): check the network, proxy and ca_file", NULL },
        { UPSTREAM_ERR_BODY, FAILURE_TRANSIENT, false,
          "api_base's answer held no usable token: retrying; check api_base points at WeChat's API", NULL },
        { UPSTREAM_ERR_LIFETIME, FAILURE_TRANSIENT, false,
          "api_base's token claimed a lifetime outside [min_token_lifetime, 86400] s: not believed, not published; "
          "retrying with backoff; check api_base points at WeChat's API", NULL },
        { UPSTREAM_ERR_REQUEST, FAILURE_CONFIG, false,
          "the request could not be built: check api_base and appid in the configuration", NULL },
};

static const struct errcode_info *info_find(long errcode) {
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                if (table[i].errcode == errcode)
                        return &table[i];
        }
        return NULL;
}

enum failure_class classify_errcode(enum app_kind kind, long errcode) {
        const struct errcode_info *info;

        if (errcode == 0)
                return FAILURE_NONE;
        info = info_find(errcode);
        return info ? info->class : FAILURE_TRANSIENT;
}

const char *failure_class_name(enum failure_class c) {
        switch (c) {
        case FAILURE_NONE:
                return "none";
        case FAILURE_TRANSIENT:
                return "transient";
        case FAILURE_CONFIG:
                return "config";
        case FAILURE_QUOTA:
                return "quota";
        }
        return "unknown";
}

static bool in_set(char c, const char *set) {
        return c != '\0' && strchr(set, c) != NULL;
}

/*
 * The first run of characters from set in s[0..n) that inet_pton takes as family,
 * normalised into out. Runs longer than any address are skipped whole.
 */
static bool ip_scan(const char *s, size_t n, const char *set, int family, char out[IP_TEXT_MAX + 1]) {
        unsigned char addr[16];
        char run[IP_TEXT_MAX + 1];
        size_t i = 0;

        while (i < n) {
                size_t start = i, len;

                if (!in_set(s[i], set)) {
                        i++;
                        continue;
                }
                while (i < n && in_set(s[i], set))
                        i++;
                len = i - start;
                /* "ip:1.2.3.4" scans as ":1.2.3.4"; a sentence may end in "1.2.3.4." */
                if (s[start] == ':' && len > 1 && s[start + 1] != ':') {
                        start++;
                        len--;
                }
                while (len > 0 && s[start + len - 1] == '.')
                        len--;
                if (len == 0 || len > IP_TEXT_MAX)
                        continue;
                memcpy(run, s + start, len);
                run[len] = '\0';
                /* "::" alone parses, but it is no one's address. */
                if (family == AF_INET6 && !strpbrk(run, "123456789abcdefABCDEF"))
                        continue;
                if (inet_pton(family, run, addr) == 1 && inet_ntop(family, addr, out, IP_TEXT_MAX + 1))
                        return true;
        }
        return false;
}

/*
 * The caller's IP as WeChat quotes it: "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in
 * whitelist rid: ...", WeCom's "from ip: 1.2.3.4". Taken by what parses as an address,
 * not by wording, which changes; IPv4 first, since whitelists are mostly IPv4.
 */
static bool ip_extract(const char *errmsg, char out[IP_TEXT_MAX + 1]) {
        size_t n;

        if (!errmsg)
                return false;
        n = strnlen(errmsg, ERRMSG_SCAN_MAX);
        return ip_scan(errmsg, n, "0123456789.", AF_INET, out) ||
               ip_scan(errmsg, n, "0123456789abcdefABCDEF:.", AF_INET6, out);
}

const char *classify_advice(enum app_kind kind, long errcode, const char *errmsg, char *buf, size_t size) {
        const struct errcode_info *info;
        const char *text, *mark;
        char ip[IP_TEXT_MAX + 1];

        if (!buf || size == 0)
                return buf;
        if (errcode == 0) {
                snprintf(buf, size, "no failure: the call succeeded");
                return buf;
        }
        info = info_find(errcode);
        if (!info) {
                /* errmsg is not repeated here: the caller logs it beside, and it is not ours to vouch for. */
                snprintf(buf, size, "WeChat answered errcode %ld: retrying with backoff; look the code up in "
                         "WeChat's error code list", errcode);
                return buf;
        }
        text = app_kind_wecom(kind) && info->advice_work ? info->advice_work : info->advice;
        for (size_t i = 0; kind == APP_KIND_COMPONENT && i < sizeof(component_advice) / sizeof(component_advice[0]); i++)
                if (component_advice[i].errcode == errcode)
                        text = component_advice[i].advice;
        if (!info->ip) {
                snprintf(buf, size, "%s", text);
                return buf;
        }
        if (!ip_extract(errmsg, ip))
                snprintf(ip, sizeof(ip), "%s", "of this host");
        /* Spliced, not used as a format: the table's texts never meet printf's parser. */
        mark = strstr(text, "%s");
        snprintf(buf, size, "%.*s%s%s", (int)(mark - text), text, ip, mark + 2);
        return buf;
}

/*
 * What each code the agent knows says, in a few words, for status and the man pages:
 * the agent's own codes (below -1000) look like WeChat's -1 otherwise.
 */
static const struct {
        long errcode;
        const char *meaning;
} meanings[] = {
        { -1, "WeChat: system busy" },
        { 40001, "WeChat: invalid credential (AppSecret, or the access token at a ticket fetch)" },
        { 40002, "WeChat: invalid grant_type" },
        { 40013, "WeChat: invalid appid" },
        { 40014, "WeChat: invalid access token" },
        { 40097, "WeChat: invalid arguments" },
        { 40125, "WeChat: invalid AppSecret" },
        { 40164, "WeChat: caller IP not in the whitelist" },
        { 40243, "WeChat: AppSecret frozen" },
        { 41002, "WeChat: appid missing" },
        { 41004, "WeChat: secret missing" },
        { 42001, "WeChat: access token expired" },
        { 43002, "WeChat: POST required" },
        { 45009, "WeChat: daily API quota used up (WeCom: a frequency limit)" },
        { 45011, "WeChat: API minute limit hit" },
        { 47001, "WeChat: request body not understood" },
        { 50004, "WeChat: API forbidden to this account" },
        { 60020, "WeCom: caller IP not trusted" },
        { 40078, "WeCom: the temporary auth code is invalid" },
        { 40080, "WeCom: invalid suite_secret" },
        { 40082, "WeCom: invalid suite_access_token" },
        { 40083, "WeCom: invalid suite_id" },
        { 40084, "WeCom: the corp's permanent_code is invalid" },
        { 40085, "WeCom: invalid suite_ticket" },
        { 61004, "WeChat: caller IP not in the whitelist" },
        { 61005, "WeChat: component_verify_ticket expired" },
        { 61006, "WeChat: component_verify_ticket invalid" },
        { 61011, "WeChat: invalid component" },
        { 61003, "WeChat: the account has not authorized the component" },
        { 61023, "WeChat: the authorizer's refresh_token is invalid" },
        { 89503, "WeChat: caller IP awaits the administrator's confirmation" },
        { 89506, "WeChat: caller IP refused twice, blocked for 24 h" },
        { 89507, "WeChat: caller IP refused, blocked for 1 h" },
        { UPSTREAM_ERR_HTTP, "agent: api_base answered an HTTP status other than 200" },
        { UPSTREAM_ERR_TRANSPORT, "agent: api_base not reached (connect, DNS, TLS or timeout)" },
        { UPSTREAM_ERR_BODY, "agent: the answer held no usable token (or it could not be published)" },
        { UPSTREAM_ERR_REQUEST, "agent: the request could not be built (api_base, appid)" },
        { UPSTREAM_ERR_LIFETIME, "agent: expires_in outside [min_token_lifetime, 86400] s, not believed" },
        { UPSTREAM_ERR_NO_TICKET, "agent: no component_verify_ticket yet (wxtokenctl ticket put)" },
};

const char *classify_meaning(long errcode) {
        if (errcode == 0)
                return "";
        for (size_t i = 0; i < sizeof(meanings) / sizeof(meanings[0]); i++)
                if (meanings[i].errcode == errcode)
                        return meanings[i].meaning;
        return errcode < -1000 ? "agent: an error code of a newer agent" : "WeChat: a code the agent does not know";
}
