/* test-redact.c: secrets leave no trace in redacted URLs and strings, whatever their shape or the room left. */
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "test-util.h"

#define SECRET "Zq9xSECRETvalue42"

static void check_url(const char *url, const char *want) {
        char out[512];

        redact_url(out, sizeof(out), url);
        CHECK(strcmp(out, want) == 0, "redact_url(%s) = %s, expected %s", url, out, want);
}

static void test_url_shapes(void) {
        check_url("https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=" SECRET,
                  "https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=***");
        check_url("https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret=" SECRET,
                  "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret=***");
        check_url("http://h/p?secret=" SECRET "&appid=wx1", "http://h/p?secret=***&appid=wx1");
        check_url("http://h/p?secret=" SECRET "#frag", "http://h/p?secret=***#frag");
        check_url("http://h/p?a=1;secret=" SECRET, "http://h/p?a=1;secret=***");
        check_url("http://h/p?secret=", "http://h/p?secret=***");
        check_url("http://h/p?secret=a&secret=b", "http://h/p?secret=***&secret=***");
        /* A server decodes names and may ignore case: so do we. */
        check_url("http://h/p?SECRET=" SECRET, "http://h/p?SECRET=***");
        check_url("http://h/p?s%65cret=" SECRET, "http://h/p?s%65cret=***");
        check_url("http://h/p?corp%73ecret=" SECRET, "http://h/p?corp%73ecret=***");
        /* Other names, names with no value, and a URL without a query stay as they are. */
        check_url("http://h/p?mysecret=x&secrets=y&appid=z", "http://h/p?mysecret=x&secrets=y&appid=z");
        check_url("http://h/p?secret&a=b", "http://h/p?secret&a=b");
        check_url("http://h/secret=x", "http://h/secret=x");
        check_url("http://h/p?", "http://h/p?");
        check_url("http://h/p?&&=&", "http://h/p?&&=&");
        check_url("", "");
        check_url("http://h/p?a=%", "http://h/p?a=%");
        check_url("http://h/p?s%6=x&s%=y", "http://h/p?s%6=x&s%=y");
}

static void test_url_room(void) {
        const char *url = "http://h/cgi-bin/token?appid=wx1&secret=" SECRET "&x=1";
        char out[256], big[8192];

        /* Every size: NUL-terminated, within size, a prefix of the full answer, no byte of the secret. */
        for (size_t size = 1; size < 80; size++) {
                memset(out, 'Z', sizeof(out));
                redact_url(out, size, url);
                REQUIRE(memchr(out, '\0', size) != NULL);
                CHECK(strstr(out, "SECRET") == NULL && strstr(out, "Zq9") == NULL);
                CHECK(strncmp(out, "http://h/cgi-bin/token?appid=wx1&secret=***&x=1", strlen(out)) == 0);
                CHECK_EQ(out[size], 'Z');
        }
        memset(out, 'Z', sizeof(out));
        redact_url(out, 0, url);
        CHECK_EQ(out[0], 'Z');
        redact_url(out, sizeof(out), NULL);
        CHECK_EQ(out[0], '\0');
        redact_url(NULL, 10, url);

        /* A long URL: the secret at its end never shows, even cut. */
        memset(big, 'a', sizeof(big));
        memcpy(big, "http://h/p?x=", 13);
        snprintf(big + 6000, sizeof(big) - 6000, "&secret=%s", SECRET);
        redact_url(out, sizeof(out), big);
        CHECK_EQ(strlen(out), sizeof(out) - 1);
        {
                char *whole = malloc(sizeof(big));

                SETUP_OK(whole);
                redact_url(whole, sizeof(big), big);
                CHECK(strstr(whole, "Zq9") == NULL);
                CHECK(strcmp(whole + strlen(whole) - 11, "&secret=***") == 0);
                free(whole);
        }
}

static void check_secret(const char *in, const char *secret, const char *want) {
        char buf[256];

        snprintf(buf, sizeof(buf), "%s", in);
        redact_secret(buf, secret);
        CHECK(strcmp(buf, want) == 0, "redact_secret(%s, %s) = %s, expected %s", in, secret, buf, want);
}

static void test_secret(void) {
        check_secret("invalid secret " SECRET " rid: 1", SECRET, "invalid secret *** rid: 1");
        check_secret(SECRET SECRET, SECRET, "******");
        check_secret(SECRET, SECRET, "***");
        check_secret("x" SECRET "y" SECRET "z", SECRET, "x***y***z");
        /* Overlapping occurrences go as one: no tail of the secret is left. */
        check_secret("ababab", "abab", "***");
        check_secret("aaaaaaa", "aaaa", "***");
        check_secret("no secret here", SECRET, "no secret here");
        check_secret("Zq9xSECRETvalue4", SECRET, "Zq9xSECRETvalue4");
        /* Short secrets would hit ordinary words: left alone (config refuses them). */
        check_secret("abc abc", "abc", "abc abc");
        check_secret("abcd", "", "abcd");
        check_secret("", SECRET, "");
        check_secret("abcd", NULL, "abcd");
        redact_secret(NULL, SECRET);
}

/* The secret as an upstream could echo it: raw, and URL-encoded as it travelled (either hex case). */
static void test_secret_forms(void) {
        char s[256];

        strcpy(s, "a Sx+/=9ab~c b Sx%2B%2F%3D9ab~c c Sx%2b%2f%3d9ab~c d Sx+%2F=9ab~c");
        redact_secret_forms(s, "Sx+/=9ab~c");
        /* A mixed encoding is no form the request had: left, and said so here. */
        CHECK(strcmp(s, "a *** b *** c *** d Sx+%2F=9ab~c") == 0);
        strcpy(s, "plain-secret-1234 plain-secret-1234plain-secret-1234");
        redact_secret_forms(s, "plain-secret-1234");
        CHECK(strcmp(s, "*** ******") == 0);
        strcpy(s, "nothing here");
        redact_secret_forms(s, NULL);
        redact_secret_forms(NULL, "x");
        CHECK(strcmp(s, "nothing here") == 0);
}

int main(void) {
        test_secret_forms();
        test_url_shapes();
        test_url_room();
        test_secret();
        return 0;
}
