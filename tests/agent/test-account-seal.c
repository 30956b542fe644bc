/* test-account-seal.c: a component's account records sealed for Redis: round trip, nothing in clear, and every change refused. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "account-seal.h"
#include "test-util.h"

#define KEY1 "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff"
#define KEY2 "ff1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff"
#define RKEY "wxtokend:accounts:component:wxcomp0001"
#define PLAIN "0 refreshtoken@@@0123456789abcdef"

static int open_it(const char *fleet_key, const char *key, const char *field, const char *value, uint64_t *v,
                   char *plain, size_t size) {
        char why[200] = "";
        int r = account_open(fleet_key, key, field, value, strlen(value), v, plain, size, why, sizeof(why));

        CHECK(r == 0 || (why[0] && !strstr(why, "refreshtoken")), "a refusal says why, never the plaintext: %s", why);
        return r;
}

int main(void) {
        char value[ACCOUNT_SEAL_VALUE_MAX], other[ACCOUNT_SEAL_VALUE_MAX], copy[ACCOUNT_SEAL_VALUE_MAX + 2];
        char plain[ACCOUNT_SEAL_PLAIN_MAX + 1], big[ACCOUNT_SEAL_PLAIN_MAX + 2];
        uint64_t v = 0;
        size_t n;

        REQUIRE(account_seal(KEY1, RKEY, "wxa00000001", 1764745000123ULL, PLAIN, value, sizeof(value)) == 0, "seal");
        CHECK(!strstr(value, "refreshtoken") && !strncmp(value, "1.1764745000123.", 16), "sealed, versioned: %s", value);
        CHECK(open_it(KEY1, RKEY, "wxa00000001", value, &v, plain, sizeof(plain)) == 0 && !strcmp(plain, PLAIN) &&
              v == 1764745000123ULL, "round trip");
        /* A fresh nonce each time: the same record sealed twice is two values. */
        REQUIRE(account_seal(KEY1, RKEY, "wxa00000001", 1764745000123ULL, PLAIN, other, sizeof(other)) == 0, "seal");
        CHECK(strcmp(value, other) != 0, "a new nonce each time");

        CHECK(open_it(KEY2, RKEY, "wxa00000001", value, &v, plain, sizeof(plain)) == -EPERM, "another fleet key");
        CHECK(open_it(KEY1, RKEY, "wxa00000002", value, &v, plain, sizeof(plain)) == -EPERM, "moved to another account");
        CHECK(open_it(KEY1, "wxtokend:accounts:component:wxother", "wxa00000001", value, &v, plain, sizeof(plain)) ==
              -EPERM, "moved to another component");
        /* Another version: the tag covers it, so a record is not made newer than it was. */
        snprintf(copy, sizeof(copy), "1.9%s", value + 2);
        CHECK(open_it(KEY1, RKEY, "wxa00000001", copy, &v, plain, sizeof(plain)) == -EPERM, "its version raised");
        n = strlen(value);
        for (size_t i = 16; i < n; i += 7) {
                strcpy(copy, value);
                copy[i] = copy[i] == '0' ? '1' : '0';
                if (copy[i] == value[i])
                        continue;
                CHECK(open_it(KEY1, RKEY, "wxa00000001", copy, &v, plain, sizeof(plain)) == -EPERM, "byte %zu changed",
                      i);
        }
        CHECK(open_it(KEY1, RKEY, "wxa00000001", PLAIN, &v, plain, sizeof(plain)) == -EBADMSG, "a record in clear");
        CHECK(open_it(KEY1, RKEY, "wxa00000001", "1.5.zz", &v, plain, sizeof(plain)) == -EBADMSG, "too short");
        strcpy(copy, value);
        copy[n - 3] = 'g';
        CHECK(open_it(KEY1, RKEY, "wxa00000001", copy, &v, plain, sizeof(plain)) == -EBADMSG, "not hex");
        CHECK(open_it(KEY1, RKEY, "wxa00000001", value, &v, plain, 8) == -EBADMSG, "no room: refused, not cut");
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK(account_seal(KEY1, RKEY, "wxa00000001", 1, big, value, sizeof(value)) == -ENOBUFS, "too long to seal");
        return check_exit_code();
}
