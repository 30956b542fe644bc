/* account-seal.c: sealing and opening a component's account records for Redis (AES-256-GCM, the key derived from the fleet key). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "account-seal.h"
#include "hex.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LABEL "wxtokend account records v1"

/* The AES key: HMAC-SHA256(fleet key, label), so the fleet key itself never keys a cipher. */
static bool derive(const char *fleet_key, unsigned char key[32]) {
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_END };
        size_t got = 0;
        bool ok;

        ok = fleet_key && ctx && EVP_MAC_init(ctx, (const unsigned char *)fleet_key, strlen(fleet_key), params) &&
             EVP_MAC_update(ctx, (const unsigned char *)KEY_LABEL, strlen(KEY_LABEL)) &&
             EVP_MAC_final(ctx, key, &got, 32) && got == 32;
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
        return ok;
}

/* What the tag covers besides the plaintext: where the record lives and its version. */
static int aad(char *buf, size_t size, const char *key, const char *field, uint64_t version) {
        int n = snprintf(buf, size, "wxtokend-account-v1\n%s\n%s\n%" PRIu64, key, field, version);

        return n > 0 && (size_t)n < size ? n : -1;
}

static void to_hex(const unsigned char *p, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * n] = '\0';
}

static bool from_hex(const char *s, size_t len, unsigned char *out) {
        for (size_t i = 0; i < len / 2; i++) {
                int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return false;
                out[i] = (unsigned char)(hi << 4 | lo);
        }
        return len % 2 == 0;
}

/* AES-256-GCM one way or the other; on open, tag is checked. true on success. */
static bool gcm(bool seal, const unsigned char key[32], const unsigned char nonce[NONCE_LEN], const char *a, int alen,
                const unsigned char *in, int inlen, unsigned char *out, unsigned char tag[TAG_LEN]) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;
        bool ok;

        ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, seal) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) &&
             EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, seal) &&
             EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)a, alen) &&
             EVP_CipherUpdate(ctx, out, &n, in, inlen) &&
             (seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)) &&
             EVP_CipherFinal_ex(ctx, out + n, &m) &&
             (!seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag));
        EVP_CIPHER_CTX_free(ctx);
        return ok && n + m == inlen;
}

int account_seal(const char *fleet_key, const char *key, const char *field, uint64_t version, const char *plain,
                 char *out, size_t out_size) {
        unsigned char k[32], nonce[NONCE_LEN], buf[ACCOUNT_SEAL_PLAIN_MAX + TAG_LEN];
        char a[512], head[64], nonce_hex[2 * NONCE_LEN + 1];
        size_t len = strlen(plain);
        int alen = aad(a, sizeof(a), key, field, version), h;
        bool ok;

        h = snprintf(head, sizeof(head), "1.%" PRIu64 ".", version);
        if (alen < 0 || len > ACCOUNT_SEAL_PLAIN_MAX || (size_t)h + 2 * NONCE_LEN + 1 + 2 * (len + TAG_LEN) + 1 > out_size)
                return -ENOBUFS;
        ok = derive(fleet_key, k) && RAND_bytes(nonce, NONCE_LEN) == 1 &&
             gcm(true, k, nonce, a, alen, (const unsigned char *)plain, (int)len, buf, buf + len);
        OPENSSL_cleanse(k, sizeof(k));
        if (!ok) {
                OPENSSL_cleanse(buf, sizeof(buf));
                return -EIO;
        }
        to_hex(nonce, NONCE_LEN, nonce_hex);
        memcpy(out, head, (size_t)h);
        memcpy(out + h, nonce_hex, 2 * NONCE_LEN);
        out[h + 2 * NONCE_LEN] = '.';
        to_hex(buf, len + TAG_LEN, out + h + 2 * NONCE_LEN + 1);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 0;
}

int account_open(const char *fleet_key, const char *key, const char *field, const char *value, size_t len,
                 uint64_t *version, char *plain, size_t plain_size, char *why, size_t why_size) {
        unsigned char k[32], nonce[NONCE_LEN], buf[ACCOUNT_SEAL_PLAIN_MAX + TAG_LEN], out[ACCOUNT_SEAL_PLAIN_MAX];
        char a[512];
        const char *p = value, *end = value + len, *dot;
        size_t ct_hex, ct;
        uint64_t v = 0;
        int alen;
        bool ok;

        if (len < 2 || memcmp(value, "1.", 2) != 0) {
                snprintf(why, why_size, "not a sealed record (no \"1.\" in front)");
                return -EBADMSG;
        }
        for (p = value + 2; p < end && *p >= '0' && *p <= '9' && p - value < 22; p++)
                v = v * 10 + (uint64_t)(*p - '0');
        dot = p;
        if (dot == value + 2 || dot >= end || *dot != '.' || end - dot - 1 < 2 * NONCE_LEN + 1 + 2 * TAG_LEN ||
            dot[1 + 2 * NONCE_LEN] != '.') {
                snprintf(why, why_size, "not a sealed record (version, nonce, ciphertext)");
                return -EBADMSG;
        }
        ct_hex = (size_t)(end - (dot + 2 + 2 * NONCE_LEN));
        ct = ct_hex / 2;
        if (ct_hex % 2 || ct < TAG_LEN || ct - TAG_LEN >= plain_size || ct - TAG_LEN > ACCOUNT_SEAL_PLAIN_MAX ||
            !from_hex(dot + 1, 2 * NONCE_LEN, nonce) || !from_hex(dot + 2 + 2 * NONCE_LEN, ct_hex, buf)) {
                snprintf(why, why_size, "not a sealed record (bad hex, or longer than any agent writes)");
                return -EBADMSG;
        }
        alen = aad(a, sizeof(a), key, field, v);
        ok = alen >= 0 && derive(fleet_key, k) &&
             gcm(false, k, nonce, a, alen, buf, (int)(ct - TAG_LEN), out, buf + ct - TAG_LEN);
        OPENSSL_cleanse(k, sizeof(k));
        if (!ok || memchr(out, '\0', ct - TAG_LEN)) {
                OPENSSL_cleanse(out, sizeof(out));
                snprintf(why, why_size, "its seal does not check with this agent's fleet key (forged, moved from "
                         "another key or field, or written with another fleet key)");
                return -EPERM;
        }
        memcpy(plain, out, ct - TAG_LEN);
        plain[ct - TAG_LEN] = '\0';
        OPENSSL_cleanse(out, sizeof(out));
        OPENSSL_cleanse(buf, sizeof(buf));
        *version = v;
        return 0;
}
