/* test-classify.c: every errcode's class, and advice that names the IP WeChat saw but never a secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "classify.h"
#include "upstream.h"

#define SECRET "Zq9xSECRETvalue42"

static const enum app_kind kinds[] = { APP_KIND_TOKEN, APP_KIND_STABLE, APP_KIND_WORK, APP_KIND_COMPONENT };
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct {
        long errcode;
        enum failure_class class;
} table[] = {
        { 0, FAILURE_NONE },
        { -1, FAILURE_TRANSIENT },
        { 45011, FAILURE_TRANSIENT },
        { 40014, FAILURE_TRANSIENT },
        { 42001, FAILURE_TRANSIENT },
        { UPSTREAM_ERR_HTTP, FAILURE_TRANSIENT },
        { UPSTREAM_ERR_TRANSPORT, FAILURE_TRANSIENT },
        { UPSTREAM_ERR_BODY, FAILURE_TRANSIENT },
        { UPSTREAM_ERR_REQUEST, FAILURE_CONFIG },
        { 40001, FAILURE_CONFIG },
        { 40125, FAILURE_CONFIG },
        { 40243, FAILURE_CONFIG },
        { 40013, FAILURE_CONFIG },
        { 41002, FAILURE_CONFIG },
        { 41004, FAILURE_CONFIG },
        { 40002, FAILURE_CONFIG },
        { 40097, FAILURE_CONFIG },
        { 43002, FAILURE_CONFIG },
        { 47001, FAILURE_CONFIG },
        { 50004, FAILURE_CONFIG },
        { 40164, FAILURE_CONFIG },
        { 61004, FAILURE_CONFIG },
        /* A component's ticket problems wait for a new ticket with backoff: not the secret's fault. */
        { 61005, FAILURE_TRANSIENT },
        { 61006, FAILURE_TRANSIENT },
        { 61011, FAILURE_CONFIG },
        { 60020, FAILURE_CONFIG },
        { 89503, FAILURE_CONFIG },
        { 89506, FAILURE_CONFIG },
        { 89507, FAILURE_CONFIG },
        { 45009, FAILURE_QUOTA },
        /* Unknown codes back off: safe, where giving up is not. */
        { 99999, FAILURE_TRANSIENT },
        { 41001, FAILURE_TRANSIENT },
        { -2, FAILURE_TRANSIENT },
        { -1005, FAILURE_TRANSIENT },
        { 2147483647L, FAILURE_TRANSIENT },
};

#define N_TABLE (sizeof(table) / sizeof(table[0]))

static void test_classes(void) {
        for (size_t k = 0; k < N_KINDS; k++) {
                for (size_t i = 0; i < N_TABLE; i++)
                        CHECK(classify_errcode(kinds[k], table[i].errcode) == table[i].class, "kind %zu errcode %ld: %s",
                              k, table[i].errcode, failure_class_name(classify_errcode(kinds[k], table[i].errcode)));
        }
        CHECK(strcmp(failure_class_name(FAILURE_NONE), "none") == 0);
        CHECK(strcmp(failure_class_name(FAILURE_TRANSIENT), "transient") == 0);
        CHECK(strcmp(failure_class_name(FAILURE_CONFIG), "config") == 0);
        CHECK(strcmp(failure_class_name(FAILURE_QUOTA), "quota") == 0);
        CHECK(strcmp(failure_class_name((enum failure_class)42), "unknown") == 0);
}

/* Every code's advice, for every kind and a hostile errmsg: one sentence, no secret, no format left. */
static void test_advice_all(void) {
        const char *msgs[] = { NULL, "", "invalid credential " SECRET " rid: 1", SECRET " 1.2.3.4",
                               "%s%s%n%n", "x\ny\rz" };
        char buf[512];

        for (size_t k = 0; k < N_KINDS; k++) {
                for (size_t i = 0; i < N_TABLE; i++) {
                        for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
                                memset(buf, 'Z', sizeof(buf));
                                CHECK(classify_advice(kinds[k], table[i].errcode, msgs[m], buf, sizeof(buf)) == buf);
                                REQUIRE(memchr(buf, '\0', sizeof(buf)) != NULL); /* strlen below */
                                CHECK(strlen(buf) > 10);
                                CHECK(strstr(buf, "SECRET") == NULL);
                                CHECK(strchr(buf, '%') == NULL);
                                CHECK(strchr(buf, '\n') == NULL);
                        }
                }
        }
        classify_advice(APP_KIND_TOKEN, 99999, "x", buf, sizeof(buf));
        CHECK(strstr(buf, "99999") != NULL);
        classify_advice(APP_KIND_WORK, 40001, "x", buf, sizeof(buf));
        CHECK(strstr(buf, "corpsecret") != NULL);
        classify_advice(APP_KIND_TOKEN, 40001, "x", buf, sizeof(buf));
        CHECK(strstr(buf, "AppSecret") != NULL);
        classify_advice(APP_KIND_TOKEN, 45009, "x", buf, sizeof(buf));
        CHECK(strstr(buf, "quota") != NULL);
}

/* A component: its own words for the secret and the whitelist; the ticket codes point at the forwarding. */
static void test_advice_component(void) {
        char buf[512];

        classify_advice(APP_KIND_COMPONENT, 40001, "x", buf, sizeof(buf));
        CHECK(strstr(buf, "component_appsecret") != NULL, "%s", buf);
        classify_advice(APP_KIND_COMPONENT, 61004, "access clientip is not registered requestIP: 203.0.113.9", buf,
                        sizeof(buf));
        CHECK(strstr(buf, "IP 203.0.113.9 ") && strstr(buf, "third-party platform's IP whitelist"), "%s", buf);
        classify_advice(APP_KIND_TOKEN, 61004, "x", buf, sizeof(buf));
        CHECK(strstr(buf, "third-party") == NULL, "an app's whitelist stays the app's: %s", buf);
        for (long e = 61005; e <= 61006; e++) {
                classify_advice(APP_KIND_COMPONENT, e, "x", buf, sizeof(buf));
                CHECK(strstr(buf, "component_verify_ticket") && strstr(buf, "wxtokenctl ticket put") &&
                      strstr(buf, "retrying"), "%ld: %s", e, buf);
                CHECK(strstr(classify_meaning(e), "component_verify_ticket") != NULL, "%ld: %s", e, classify_meaning(e));
        }
        CHECK(strstr(classify_meaning(UPSTREAM_ERR_NO_TICKET), "no component_verify_ticket") != NULL);
}

static void check_ip(long errcode, const char *errmsg, const char *want) {
        char buf[512], needle[80];

        classify_advice(APP_KIND_TOKEN, errcode, errmsg, buf, sizeof(buf));
        snprintf(needle, sizeof(needle), "IP %s ", want ? want : "of this host");
        CHECK(strstr(buf, needle), "errmsg '%s': advice '%s' lacks '%s'", errmsg ? errmsg : "(null)", buf, needle);
}

static void test_advice_ip(void) {
        char *big, *open_ended;

        check_ip(40164, "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 64f0a1b2-1c2d3e4f-5a6b7c8d",
                 "1.2.3.4");
        check_ip(60020, "not allow to access from your ip, hint: [1700000000_3_emu], from ip: 10.0.0.7, more info "
                 "at https://open.work.weixin.qq.com/devtool/query?e=60020", "10.0.0.7");
        check_ip(61004, "access clientip is not registered requestIP: 203.0.113.9 rid: 5f1a", "203.0.113.9");
        check_ip(40164, "invalid ip 2408:8000:1::5 ipv6 2408:8000:1::5, not in whitelist", "2408:8000:1::5");
        check_ip(40164, "invalid ip ::ffff:198.51.100.1, not in whitelist", "198.51.100.1");
        check_ip(40164, "ip:192.0.2.1.", "192.0.2.1");
        check_ip(89503, "this IP 192.0.2.8 needs the admin's confirmation", "192.0.2.8");
        check_ip(89506, "this ip was refused rid: 1", NULL);
        /* IPv6 glued to a colon ("ip:2001:db8::7"), or after a lone one; an ellipsis before an address. */
        check_ip(40164, "from ip:2001:db8::7 rid: 1", "2001:db8::7");
        check_ip(40164, "from ip: 2001:db8::8", "2001:db8::8");
        check_ip(40164, "invalid ip... from ip 10.1.2.3", "10.1.2.3");
        check_ip(40164, "invalid ip ... ::: 2001:db8::9 ...", "2001:db8::9");
        /* Malformed: no address, half one, too many parts, out of range, "::" alone, garbage. */
        check_ip(40164, NULL, NULL);
        check_ip(40164, "", NULL);
        check_ip(40164, "invalid ip ", NULL);
        check_ip(40164, "invalid ip 1.2.3", NULL);
        check_ip(40164, "invalid ip 1.2.3.4.5.6", NULL);
        check_ip(40164, "invalid ip 999.1.1.1 ipv6 ::, not in whitelist", NULL);
        check_ip(40164, "invalid ip 1700000000 rid: dead:beef", NULL);
        check_ip(40164, "invalid ip 1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23", NULL);
        check_ip(40164, "\x01\xff\xfe 0x7f000001 ::::::::::::", NULL);

        /* 100 KB of digits and dots, then an address: the scan stops at its bound, in bounds. */
        big = malloc(100 * 1024 + 32);
        SETUP_OK(big);
        for (size_t i = 0; i < 100 * 1024; i++)
                big[i] = i % 4 == 3 ? '.' : '1';
        strcpy(big + 100 * 1024, " 5.6.7.8");
        check_ip(40164, big, NULL);
        memcpy(big, "from ip: 5.6.7.8 ", 17);
        check_ip(40164, big, "5.6.7.8");
        free(big);

        /* Not NUL-terminated within 4096 bytes: read no further (ASan watches the edge). */
        open_ended = malloc(4096);
        SETUP_OK(open_ended);
        memset(open_ended, 'x', 4096);
        memcpy(open_ended + 4088, "1.2.3.4", 7);
        check_ip(40164, open_ended, "1.2.3.4");
        /* Ending in a lone ':' or '.' at the bound: nothing past it is looked at. */
        memset(open_ended, 'x', 4096);
        open_ended[4095] = ':';
        check_ip(40164, open_ended, NULL);
        open_ended[4095] = '.';
        check_ip(40164, open_ended, NULL);
        free(open_ended);
}

static void test_advice_room(void) {
        char buf[64];

        for (size_t size = 1; size < sizeof(buf); size++) {
                memset(buf, 'Z', sizeof(buf));
                classify_advice(APP_KIND_TOKEN, 40164, "invalid ip 1.2.3.4", buf, size);
                CHECK_EQ(strlen(buf), size - 1);
                CHECK_EQ(buf[size], 'Z');
        }
        memset(buf, 'Z', sizeof(buf));
        CHECK(classify_advice(APP_KIND_TOKEN, 40164, "x", buf, 0) == buf);
        CHECK_EQ(buf[0], 'Z');
        CHECK(classify_advice(APP_KIND_TOKEN, 40164, "x", NULL, 10) == NULL);
}

int main(void) {
        test_classes();
        test_advice_all();
        test_advice_component();
        test_advice_ip();
        test_advice_room();
        return 0;
}
