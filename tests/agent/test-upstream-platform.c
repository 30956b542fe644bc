/* test-upstream-platform.c: api_query_auth and api_get_authorizer_list: their requests and strict parsing of their answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "test-util.h"
#include "upstream-platform.h"

#define BASE "https://api.weixin.qq.com"

static const struct upstream_policy pol = { .secret = "Cmp-Secret", .min_lifetime_s = 60 };

/* The component's token only in the query (redacted in the log's URL), the code only in the body. */
static void test_requests(void) {
        struct upstream_request req = { .body = NULL };
        cJSON *o;

        CHECK_EQ(upstream_query_auth_request(BASE, "wxc1", "C-TOK", "queryauthcode@@@X", &req), 0);
        CHECK(!strcmp(req.url, BASE "/cgi-bin/component/api_query_auth?component_access_token=C-TOK") &&
              !strstr(req.redacted_url, "C-TOK"), "query_auth url %s / %s", req.url, req.redacted_url);
        o = cJSON_Parse(req.body);
        CHECK(o && !strcmp(cJSON_GetObjectItem(o, "component_appid")->valuestring, "wxc1") &&
              !strcmp(cJSON_GetObjectItem(o, "authorization_code")->valuestring, "queryauthcode@@@X"),
              "query_auth body %s", req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_query_auth_request(BASE, "wxc1", "C-TOK", "", &req), -EINVAL);
        CHECK_EQ(upstream_authorizer_list_request(BASE, "wxc1", "C-TOK", 500, 500, &req), 0);
        o = cJSON_Parse(req.body);
        CHECK(o && cJSON_GetObjectItem(o, "offset")->valuedouble == 500 &&
              cJSON_GetObjectItem(o, "count")->valuedouble == 500 &&
              strstr(req.url, "/cgi-bin/component/api_get_authorizer_list?component_access_token=C-TOK"),
              "list request %s %s", req.url, req.body);
        cJSON_Delete(o);
        upstream_request_clear(&req);
        CHECK_EQ(upstream_authorizer_list_request(BASE, "wxc1", "C-TOK", 0, 501, &req), -EINVAL);
        CHECK_EQ(upstream_authorizer_list_request(BASE, "wxc1", "C-TOK", 0, 0, &req), -EINVAL);
}

static void test_query_auth(void) {
        const char *ok = "{\"authorization_info\":{\"authorizer_appid\":\"wxa1\",\"authorizer_access_token\":\"A-TOK\","
                         "\"expires_in\":7200,\"authorizer_refresh_token\":\"refreshtoken@@@R1\",\"func_info\":[]}}";
        const char *no_rt = "{\"authorization_info\":{\"authorizer_appid\":\"wxa1\",\"authorizer_access_token\":"
                            "\"A-TOK\",\"expires_in\":7200}}";
        const char *bad_id = "{\"authorization_info\":{\"authorizer_appid\":\"wx_card\",\"authorizer_access_token\":"
                             "\"A-TOK\",\"expires_in\":7200,\"authorizer_refresh_token\":\"r\"}}";
        const char *used = "{\"errcode\":61009,\"errmsg\":\"code is invalid\"}";
        char appid[PROTOCOL_AUTHORIZER_APPID_MAX + 1], rt[PROTOCOL_REFRESH_TOKEN_MAX + 1];
        struct upstream_result res;

        CHECK_EQ(upstream_query_auth_parse(200, ok, strlen(ok), &pol, &res, appid, rt), 0);
        CHECK(!strcmp(appid, "wxa1") && !strcmp(rt, "refreshtoken@@@R1") && !strcmp(res.value, "A-TOK") &&
              res.expires_in_s == 7200, "taken: %s %s %s", appid, rt, res.value);
        CHECK_EQ(upstream_query_auth_parse(200, no_rt, strlen(no_rt), &pol, &res, appid, rt), -EPROTO);
        CHECK(res.errcode == UPSTREAM_ERR_BODY && !appid[0] && !res.value[0], "no refresh token: refused, no token");
        CHECK_EQ(upstream_query_auth_parse(200, bad_id, strlen(bad_id), &pol, &res, appid, rt), -EPROTO);
        CHECK(res.errcode == UPSTREAM_ERR_BODY && !appid[0], "an appid outside the grammar: refused");
        CHECK_EQ(upstream_query_auth_parse(200, used, strlen(used), &pol, &res, appid, rt), -EPROTO);
        CHECK(res.errcode == 61009 && !appid[0] && !rt[0], "61009 said: %ld", res.errcode);
        CHECK_EQ(upstream_query_auth_parse(503, ok, strlen(ok), &pol, &res, appid, rt), -EPROTO);
        CHECK(res.errcode == UPSTREAM_ERR_HTTP, "HTTP 503: %ld", res.errcode);
}

static void test_list(void) {
        const char *ok = "{\"total_count\":3,\"list\":[{\"authorizer_appid\":\"wxa1\",\"refresh_token\":\"r1\","
                         "\"auth_time\":1},{\"authorizer_appid\":\"wxa2\",\"refresh_token\":\"r2\",\"auth_time\":2}]}";
        const char *bad = "{\"total_count\":2,\"list\":[{\"authorizer_appid\":\"wxa1\",\"refresh_token\":\"r1\"},"
                          "{\"authorizer_appid\":\"wxa2\",\"refresh_token\":\"r 2\"}]}";
        const char *err = "{\"errcode\":40097,\"errmsg\":\"invalid args\"}";
        struct upstream_listed page[2];
        struct upstream_result res;
        uint64_t total;
        size_t n;

        CHECK_EQ(upstream_authorizer_list_parse(200, ok, strlen(ok), &pol, &res, page, 2, &n, &total), 0);
        CHECK(n == 2 && total == 3 && !strcmp(page[1].appid, "wxa2") && !strcmp(page[1].refresh_token, "r2"),
              "a page: %zu of %llu", n, (unsigned long long)total);
        CHECK_EQ(upstream_authorizer_list_parse(200, ok, strlen(ok), &pol, &res, page, 1, &n, &total), -EPROTO);
        CHECK(n == 0, "more than asked for: the page refused whole");
        CHECK_EQ(upstream_authorizer_list_parse(200, bad, strlen(bad), &pol, &res, page, 2, &n, &total), -EPROTO);
        CHECK(n == 0 && res.errcode == UPSTREAM_ERR_BODY, "one bad entry: the page refused whole");
        CHECK_EQ(upstream_authorizer_list_parse(200, err, strlen(err), &pol, &res, page, 2, &n, &total), -EPROTO);
        CHECK(res.errcode == 40097, "40097 said: %ld", res.errcode);
}

int main(void) {
        test_requests();
        test_query_auth();
        test_list();
        return check_exit_code();
}
