/* fuzz-upstream.c: libFuzzer target for WeChat's token, ticket and probe response parsers. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"
#include "upstream-platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks the parser, so seed files stay readable text: its low 3 bits are
 * 0-2 token of kind TOKEN/STABLE/WORK, 3-5 ticket of those kinds, 6 probe, 7 a component's
 * token (component_access_token) ('0'..'7');
 * bit 0x08 makes the HTTP status 503 instead of 200 ('8'..'?'). With bit 0x40 set ('@'..'O')
 * the low 3 bits pick WeCom's service-provider parsers instead: 0 a suite's token, 1 the
 * provider's, 2 get_permanent_code's answer ('@'..'B'). The rest is the body.
 * A first byte 'q' is api_query_auth's answer, 'l' api_get_authorizer_list's (status 200).
 * Every parse redacts FUZZ_SECRET: it may not be left whole in errmsg, raw or URL-encoded.
 */
#define FUZZ_SECRET "Fz+Secret/0123=abcd"
#define FUZZ_SECRET_URL "Fz%2BSecret%2F0123%3Dabcd"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const enum app_kind kinds[3] = { APP_KIND_TOKEN, APP_KIND_STABLE, APP_KIND_WORK };
        static const struct upstream_policy pol = { .secret = FUZZ_SECRET, .min_lifetime_s = 1 };
        struct upstream_result res;
        char code[64], corpid[33];
        unsigned sel;
        long status;
        const char *body;
        size_t len;
        int r;

        if (size < 1)
                return 0;
        sel = data[0] & 7;
        status = (data[0] & 8) ? 503 : 200;
        /* A copy of exactly len bytes: a read past the body is then an ASan report. */
        len = size - 1;
        body = len ? malloc(len) : NULL;
        if (len && !body)
                return 0;
        if (len)
                memcpy((char *)body, data + 1, len);
        /* Poison the result: on failure it must still hold no token. */
        memset(&res, 0xa5, sizeof(res));
        if (data[0] == 'q' || data[0] == 'l') {
                static struct upstream_listed page[UPSTREAM_AUTHORIZER_PAGE];
                char appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1], rt[PROTOCOL_REFRESH_TOKEN_MAX + 1];
                uint64_t total;
                size_t n;

                status = 200;
                if (data[0] == 'q')
                        r = upstream_query_auth_parse(status, body, len, &pol, &res, appid, rt);
                else
                        r = upstream_authorizer_list_parse(status, body, len, &pol, &res, page,
                                                           UPSTREAM_AUTHORIZER_PAGE, &n, &total);
                /* An answer taken names a valid appid and a refresh token; a refused one, neither. */
                if (data[0] == 'q' && (r == 0) != (appid[0] && rt[0] && wire_authorizer_appid_valid(appid)))
                        abort();
                if (data[0] == 'l' && r == 0 && n > UPSTREAM_AUTHORIZER_PAGE)
                        abort();
                sel = 6; /* checked below as a probe: no token required on success */
        } else if ((data[0] & 0x40) && sel == 2) {
                r = upstream_permanent_code_parse(status, body, len, &pol, &res, code, sizeof(code), corpid,
                                                  sizeof(corpid));
                /* A permanent code only with a token, and only whole. */
                if ((r != 0 && code[0]) || (r == 0 && (!code[0] || !corpid[0] || strlen(code) >= sizeof(code))))
                        abort();
        } else if (data[0] & 0x40)
                r = upstream_token_parse(sel == 0 ? APP_KIND_SUITE : APP_KIND_PROVIDER, status, body, len, &pol, &res);
        else if (sel < 3)
                r = upstream_token_parse(kinds[sel], status, body, len, &pol, &res);
        else if (sel < 6)
                r = upstream_ticket_parse(kinds[sel - 3], status, body, len, &pol, &res);
        else if (sel == 6)
                r = upstream_probe_parse(status, body, len, &pol, &res);
        else
                r = upstream_token_parse(APP_KIND_COMPONENT, status, body, len, &pol, &res);
        if (memchr(res.errmsg, '\0', sizeof(res.errmsg)) == NULL)
                abort();
        /* Redacted before the cut: the whole secret, in either form, never survives. */
        if (strstr(res.errmsg, FUZZ_SECRET) || strstr(res.errmsg, FUZZ_SECRET_URL))
                abort();
        if (r == 0) {
                if (res.errcode != 0 || status != 200)
                        abort();
                if (sel != 6 && (res.value_len == 0 || res.value_len > UPSTREAM_TOKEN_MAX ||
                                strlen(res.value) != res.value_len || res.expires_in_s <= 0))
                        abort();
        } else {
                /* upstream.h: "Never a token on failure". */
                if (r != -EPROTO || res.errcode == 0 || res.value_len != 0 || res.value[0] != '\0')
                        abort();
        }
        free((char *)body);
        return 0;
}
