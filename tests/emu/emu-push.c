/* emu-push.c: a ticket push as WeChat sends it to a platform's event URL: encrypted with the EncodingAESKey and signed with the token. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu-control.h"
#include "emu-plat.h"
#include "emu-push.h"
#include "emu-state.h"

/*
 * The scheme is WeChat's "message encryption" page (Open Platform, Third-party Platforms,
 * Message_Encryption/Technical_Plan; WeCom's callback pages use the same with the suite id):
 * AESKey = Base64_Decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with the key's first
 * 16 bytes as IV; the plain text random(16) + msg_len (4 bytes, network order) + msg + the
 * receiver's id, padded PKCS#7-style to a multiple of 32 bytes (1..32 bytes of the pad
 * length); Encrypt = Base64 of the cipher text; msg_signature = hex SHA1 of token,
 * timestamp, nonce and Encrypt sorted as strings and joined.
 */
#define PUSH_BLOCK 32
#define PUSH_XML_MAX 1024

static char push_token[PUSH_TOKEN_MAX + 1];
static unsigned char push_key[32];
static bool push_token_set, push_key_set;

int push_set_token(const char *token) {
        if (strlen(token) < 3 || strlen(token) > PUSH_TOKEN_MAX || strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                        "abcdefghijklmnopqrstuvwxyz0123456789") !=
                                                                 strlen(token))
                return -1;
        strcpy(push_token, token);
        push_token_set = true;
        return 0;
}

int push_set_aes_key(const char *encoding_aes_key) {
        char padded[45];
        unsigned char out[33];

        /* 43 characters of [A-Za-z0-9], as WeChat's platform settings accept. */
        if (strlen(encoding_aes_key) != 43 || strspn(encoding_aes_key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                       "abcdefghijklmnopqrstuvwxyz0123456789") != 43)
                return -1;
        snprintf(padded, sizeof(padded), "%s=", encoding_aes_key);
        if (EVP_DecodeBlock(out, (const unsigned char *)padded, 44) != 33)
                return -1;
        memcpy(push_key, out, 32); /* the 33rd byte is the decoder's zero for the '=' */
        push_key_set = true;
        return 0;
}

/* Base64 of the encrypted envelope of msg for receiver id, into out (NUL-terminated); -1 on failure. */
static int seal(const char *msg, const char *id, char *out, size_t out_size) {
        unsigned char plain[PUSH_XML_MAX + 64 + PUSH_BLOCK], cipher[sizeof(plain) + PUSH_BLOCK];
        size_t mlen = strlen(msg), idlen = strlen(id), n = 0, pad;
        EVP_CIPHER_CTX *ctx;
        int len1 = 0, len2 = 0, ok;

        if (mlen > PUSH_XML_MAX || idlen > 64 || RAND_bytes(plain, 16) != 1)
                return -1;
        n = 16;
        plain[n++] = (unsigned char)(mlen >> 24);
        plain[n++] = (unsigned char)(mlen >> 16);
        plain[n++] = (unsigned char)(mlen >> 8);
        plain[n++] = (unsigned char)mlen;
        memcpy(plain + n, msg, mlen);
        n += mlen;
        memcpy(plain + n, id, idlen);
        n += idlen;
        pad = PUSH_BLOCK - n % PUSH_BLOCK;
        memset(plain + n, (int)pad, pad);
        n += pad;
        if (out_size < 4 * (n / 3 + 1) + 1)
                return -1;
        ctx = EVP_CIPHER_CTX_new();
        ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, push_key, push_key) == 1 &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_EncryptUpdate(ctx, cipher, &len1, plain, (int)n) == 1 &&
             EVP_EncryptFinal_ex(ctx, cipher + len1, &len2) == 1;
        EVP_CIPHER_CTX_free(ctx);
        OPENSSL_cleanse(plain, sizeof(plain));
        if (!ok)
                return -1;
        EVP_EncodeBlock((unsigned char *)out, cipher, len1 + len2);
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hex SHA1 of the four strings sorted and joined, into hex[41]. */
static int sign(const char *timestamp, const char *nonce, const char *encrypt, char hex[41]) {
        const char *parts[4] = { push_token, timestamp, nonce, encrypt };
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok;

        qsort(parts, 4, sizeof(parts[0]), cmp_str);
        ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1;
        for (int i = 0; ok && i < 4; i++)
                ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
        ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
        EVP_MD_CTX_free(ctx);
        for (unsigned i = 0; ok && i < 20; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        return ok ? 0 : -1;
}

void push_message(struct emu_reply *r, int owner, const struct plat_ticket *t) {
        const char *id = emu_apps[plat_owners[owner].app].id;
        bool suite = plat_owners[owner].suite;
        char msg[PUSH_XML_MAX + 1];
        cJSON *o;

        if (!push_token_set || !push_key_set) {
                control_fail(r, 409, "start wxemu with --push-token and --push-aes-key to push encrypted messages");
                return;
        }
        /* The decrypted XML of each page: component_verify_ticket (Open Platform), suite_ticket (WeCom). */
        if (suite)
                snprintf(msg, sizeof(msg), "<xml><SuiteId><![CDATA[%s]]></SuiteId><InfoType><![CDATA[suite_ticket]]>"
                         "</InfoType><TimeStamp>%lld</TimeStamp><SuiteTicket><![CDATA[%s]]></SuiteTicket></xml>",
                         id, (long long)t->create_unix, t->text);
        else
                snprintf(msg, sizeof(msg), "<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%lld</CreateTime>"
                         "<InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket>"
                         "<![CDATA[%s]]></ComponentVerifyTicket></xml>", id, (long long)t->create_unix, t->text);
        o = control_ok();
        cJSON_AddStringToObject(o, "ticket", t->text);
        cJSON_AddNumberToObject(o, "create_time", (double)t->create_unix);
        push_sealed(r, owner, msg, o);
}

void push_sealed(struct emu_reply *r, int owner, const char *msg, cJSON *o) {
        const char *id = emu_apps[plat_owners[owner].app].id;
        bool suite = plat_owners[owner].suite;
        char encrypt[2048], body[2300], query[256], timestamp[24], nonce[16], sig[41];
        unsigned int rnd = 0;

        if (!push_token_set || !push_key_set) {
                cJSON_Delete(o);
                control_fail(r, 409, "start wxemu with --push-token and --push-aes-key to push encrypted messages");
                return;
        }
        RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
        snprintf(timestamp, sizeof(timestamp), "%lld", (long long)(emu_unix_ms() / 1000));
        snprintf(nonce, sizeof(nonce), "%u", rnd % 1000000000u);
        if (seal(msg, id, encrypt, sizeof(encrypt)) < 0 || sign(timestamp, nonce, encrypt, sig) < 0) {
                cJSON_Delete(o);
                control_fail(r, 500, "could not encrypt or sign the message");
                return;
        }
        /* The envelope: the receiver in clear, the rest in Encrypt. */
        if (suite)
                snprintf(body, sizeof(body), "<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]>"
                         "</Encrypt><AgentID><![CDATA[]]></AgentID></xml>", id, encrypt);
        else
                snprintf(body, sizeof(body), "<xml><AppId><![CDATA[%s]]></AppId><Encrypt><![CDATA[%s]]></Encrypt></xml>",
                         id, encrypt);
        snprintf(query, sizeof(query), "timestamp=%s&nonce=%s&encrypt_type=aes&msg_signature=%s", timestamp, nonce, sig);
        cJSON_AddStringToObject(o, "query", query);
        cJSON_AddStringToObject(o, "body", body);
        reply_json(r, 200, o);
}
