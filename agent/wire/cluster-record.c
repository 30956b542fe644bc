/* cluster-record.c: decoding records and notes read from Redis within bounds, and their HMAC with the fleet key. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "upstream.h"
#include "cluster-record.h"

#define NOTE_MAC_PREFIX "m="
#define NOTE_HEAD_LEN (2 + CLUSTER_MAC_HEX + 1) /* "m=<mac> " */

/* HMAC-SHA256 of the n parts, each followed by a newline, in lowercase hex. */
static void mac_hex(const char *fleet_key, const char *const *parts, const size_t *lens, int n,
                    char out[CLUSTER_MAC_HEX + 1]) {
        static const char digits[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_END };
        size_t got = 0;
        bool ok;

        ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)fleet_key, strlen(fleet_key), params);
        for (int i = 0; ok && i < n; i++)
                ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]) &&
                     EVP_MAC_update(ctx, (const unsigned char *)"\n", 1);
        ok = ok && EVP_MAC_final(ctx, md, &got, sizeof(md)) && got == CLUSTER_MAC_HEX / 2;
        md_len = ok ? (unsigned int)got : 0;
        /* A failure leaves a MAC no check accepts (all 'x'), rather than one an attacker could predict. */
        for (unsigned int i = 0; i < CLUSTER_MAC_HEX / 2; i++) {
                out[2 * i] = i < md_len ? digits[md[i] >> 4] : 'x';
                out[2 * i + 1] = i < md_len ? digits[md[i] & 15] : 'x';
        }
        out[CLUSTER_MAC_HEX] = '\0';
        OPENSSL_cleanse(md, sizeof(md));
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
}

static bool mac_equal(const char *want, const char *got, size_t got_len) {
        return got_len == CLUSTER_MAC_HEX && want[0] != 'x' && CRYPTO_memcmp(want, got, CLUSTER_MAC_HEX) == 0;
}

static void record_mac(const char *fleet_key, const char *key, const struct cluster_field f[CLUSTER_F_MAC],
                       char out[CLUSTER_MAC_HEX + 1]) {
        const char *parts[] = { "wxtokend-record-v1", key, f[0].str, f[1].str, f[2].str, f[3].str };
        size_t lens[] = { 18, strlen(key), f[0].len, f[1].len, f[2].len, f[3].len };

        mac_hex(fleet_key, parts, lens, 6, out);
}

void cluster_record_sign(const char *fleet_key, const char *key, uint64_t generation, const char *token,
                         int64_t expires_at_ms, int64_t fetched_at_ms, char out[CLUSTER_MAC_HEX + 1]) {
        char gen[24], exp[24], fet[24];
        struct cluster_field f[CLUSTER_F_MAC];

        snprintf(gen, sizeof(gen), "%" PRIu64, generation);
        snprintf(exp, sizeof(exp), "%" PRId64, expires_at_ms);
        snprintf(fet, sizeof(fet), "%" PRId64, fetched_at_ms);
        f[CLUSTER_F_GENERATION] = (struct cluster_field){ gen, strlen(gen) };
        f[CLUSTER_F_TOKEN] = (struct cluster_field){ token, strlen(token) };
        f[CLUSTER_F_EXPIRES] = (struct cluster_field){ exp, strlen(exp) };
        f[CLUSTER_F_FETCHED] = (struct cluster_field){ fet, strlen(fet) };
        record_mac(fleet_key, key, f, out);
}

/* A decimal of 1 to 19 digits without sign or leading zero: no strtoull, which takes " -1" as 2^64-1. */
static bool parse_decimal(const struct cluster_field *f, uint64_t *ret) {
        uint64_t v = 0;

        if (!f->str || f->len == 0 || f->len > 19 || (f->len > 1 && f->str[0] == '0'))
                return false;
        for (size_t i = 0; i < f->len; i++) {
                if (f->str[i] < '0' || f->str[i] > '9')
                        return false;
                v = v * 10 + (uint64_t)(f->str[i] - '0');
        }
        *ret = v;
        return true;
}

static bool token_form(const struct cluster_field *f) {
        if (!f->str || f->len == 0 || f->len > UPSTREAM_TOKEN_MAX)
                return false;
        for (size_t i = 0; i < f->len; i++)
                if ((unsigned char)f->str[i] <= ' ' || (unsigned char)f->str[i] >= 0x7f)
                        return false;
        return true;
}

int cluster_record_decode(const struct cluster_field f[CLUSTER_F_MAX], const char *key, uint64_t local_gen,
                          int64_t now_ms, const char *fleet_key, struct cluster_record *rec, char *why,
                          size_t why_size) {
        static const char *const names[CLUSTER_F_MAX] = { "generation", "token", "expires_at", "fetched_at", "mac" };
        uint64_t gen, exp, fet;
        char want[CLUSTER_MAC_HEX + 1];

        for (int i = 0; i < CLUSTER_F_MAC; i++)
                if (!f[i].str || f[i].len > CLUSTER_FIELD_MAX) {
                        snprintf(why, why_size, "field %s is %s", names[i], f[i].str ? "too long" : "missing");
                        return -EBADMSG;
                }
        if (!parse_decimal(&f[CLUSTER_F_GENERATION], &gen) || gen == 0 || gen >= CLUSTER_GENERATION_LIMIT) {
                snprintf(why, why_size, "generation is not a number from 1 to 2^53-1");
                return -EBADMSG;
        }
        if (local_gen > 0 && gen > local_gen + CLUSTER_GENERATION_STEP) {
                snprintf(why, why_size, "generation %" PRIu64 " is more than %d above this host's %" PRIu64, gen,
                         CLUSTER_GENERATION_STEP, local_gen);
                return -EBADMSG;
        }
        if (!token_form(&f[CLUSTER_F_TOKEN])) {
                snprintf(why, why_size, "the token is empty, longer than %d bytes or not printable ASCII",
                         UPSTREAM_TOKEN_MAX);
                return -EBADMSG;
        }
        if (!parse_decimal(&f[CLUSTER_F_EXPIRES], &exp) || !parse_decimal(&f[CLUSTER_F_FETCHED], &fet) ||
            exp > INT64_MAX || fet > INT64_MAX) {
                snprintf(why, why_size, "expires_at or fetched_at is not a time in ms");
                return -EBADMSG;
        }
        if ((int64_t)fet > now_ms + CLUSTER_SKEW_MS) {
                /* No figure that changes at each read: the line is logged once per change. */
                snprintf(why, why_size, "fetched_at is more than %d s in the future (the clocks of two hosts may "
                         "differ by that much, no more)", CLUSTER_SKEW_MS / 1000);
                return -EBADMSG;
        }
        if (exp <= fet || exp - fet > (uint64_t)UPSTREAM_LIFETIME_MAX * 1000) {
                snprintf(why, why_size, "expires_at is not within %lld s after fetched_at",
                         (long long)UPSTREAM_LIFETIME_MAX);
                return -EBADMSG;
        }
        if ((int64_t)exp <= now_ms) {
                snprintf(why, why_size, "generation %" PRIu64 " has expired", gen);
                return -EBADMSG;
        }
        if (fleet_key) {
                if (!f[CLUSTER_F_MAC].str) {
                        snprintf(why, why_size, "unsigned (no mac field), and this fleet has a fleet_key_file");
                        return -EPERM;
                }
                record_mac(fleet_key, key, f, want);
                if (!mac_equal(want, f[CLUSTER_F_MAC].str, f[CLUSTER_F_MAC].len)) {
                        snprintf(why, why_size, "its mac does not match: not written by an agent with this "
                                 "fleet_key_file");
                        return -EPERM;
                }
        }
        rec->generation = gen;
        memcpy(rec->token, f[CLUSTER_F_TOKEN].str, f[CLUSTER_F_TOKEN].len);
        rec->token[f[CLUSTER_F_TOKEN].len] = '\0';
        rec->token_len = f[CLUSTER_F_TOKEN].len;
        rec->expires_at_ms = (int64_t)exp;
        rec->fetched_at_ms = (int64_t)fet;
        return 0;
}

static void note_mac(const char *fleet_key, const char *channel, const char *text, size_t len,
                     char out[CLUSTER_MAC_HEX + 1]) {
        const char *parts[] = { "wxtokend-note-v1", channel, text };
        size_t lens[] = { 16, strlen(channel), len };

        mac_hex(fleet_key, parts, lens, 3, out);
}

bool cluster_note_sign(const char *fleet_key, const char *channel, const char *text, char *out, size_t size) {
        char mac[CLUSTER_MAC_HEX + 1];
        int n;

        if (!fleet_key) {
                n = snprintf(out, size, "%s", text);
                return n >= 0 && (size_t)n < size;
        }
        note_mac(fleet_key, channel, text, strlen(text), mac);
        n = snprintf(out, size, NOTE_MAC_PREFIX "%s %s", mac, text);
        return n >= 0 && (size_t)n < size;
}

int cluster_note_open(const char *fleet_key, const char *channel, const char *msg, size_t len, const char **text,
                      size_t *text_len) {
        char want[CLUSTER_MAC_HEX + 1];
        bool signed_note = len >= NOTE_HEAD_LEN && !memcmp(msg, NOTE_MAC_PREFIX, 2) && msg[NOTE_HEAD_LEN - 1] == ' ';

        if (!signed_note) {
                if (fleet_key)
                        return -EPERM;
                *text = msg;
                *text_len = len;
                return 0;
        }
        if (fleet_key) {
                note_mac(fleet_key, channel, msg + NOTE_HEAD_LEN, len - NOTE_HEAD_LEN, want);
                if (!mac_equal(want, msg + 2, CLUSTER_MAC_HEX))
                        return -EPERM;
        }
        *text = msg + NOTE_HEAD_LEN;
        *text_len = len - NOTE_HEAD_LEN;
        return 0;
}
