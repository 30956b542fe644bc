/* fuzz-cluster.c: libFuzzer target for cluster mode's decoding of Redis records and channel notes, keyed or not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "wxtokend:item:token:wxF"
#define CHANNEL "wxtokend:events"
#define FLEET_KEY "4f1c0e9b7a6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a3928171605f4e3"
#define NOW_MS 1800000000000LL

/*
 * The first byte picks what is decoded, so seed files stay readable text: bit 0 a note
 * ('1', '3', ...) or a record ('0', '2', ...), bit 1 with the fleet key, bits 2-3 the local
 * generation (0, 1, 2^53-1, 2^53-1001). A record's fields are the rest split at '\n'
 * (generation, token, expires_at, fetched_at, mac; fewer lines leave the rest absent),
 * each copied to exactly its length so a read past one is an ASan report.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint64_t locals[4] = { 0, 1, (UINT64_C(1) << 53) - 1, (UINT64_C(1) << 53) - 1001 };
        const char *fleet_key, *text;
        struct cluster_field f[CLUSTER_F_MAX] = { { NULL, 0 } };
        struct cluster_record rec;
        char why[256], *copy[CLUSTER_F_MAX] = { NULL }, mac[CLUSTER_MAC_HEX + 1];
        size_t text_len, start = 1;
        int n = 0, r;

        if (size < 1)
                return 0;
        fleet_key = (data[0] & 2) ? FLEET_KEY : NULL;
        if (data[0] & 1) {
                char *msg = malloc(size - 1 + 1);

                if (!msg)
                        return 0;
                memcpy(msg, data + 1, size - 1);
                r = cluster_note_open(fleet_key, CHANNEL, msg, size - 1, &text, &text_len);
                if (r == 0 && (text < msg || text + text_len > msg + size - 1))
                        abort(); /* the text must lie within the message */
                free(msg);
                return 0;
        }
        for (size_t i = 1; i <= size && n < CLUSTER_F_MAX; i++) {
                if (i == size || data[i] == '\n') {
                        copy[n] = malloc(i - start + 1);
                        if (!copy[n])
                                break;
                        memcpy(copy[n], data + start, i - start);
                        f[n] = (struct cluster_field){ copy[n], i - start };
                        n++;
                        start = i + 1;
                }
        }
        memset(&rec, 0xa5, sizeof(rec));
        r = cluster_record_decode(f, KEY, locals[(data[0] >> 2) & 3], NOW_MS, fleet_key, &rec, why, sizeof(why));
        if (r == 0) {
                /* What is accepted is within bounds, and signing it again gives the mac it came with. */
                if (rec.generation == 0 || rec.generation >= CLUSTER_GENERATION_LIMIT ||
                    rec.token_len > UPSTREAM_TOKEN_MAX || strlen(rec.token) != rec.token_len ||
                    rec.fetched_at_ms > NOW_MS + CLUSTER_SKEW_MS || rec.expires_at_ms <= NOW_MS)
                        abort();
                if (fleet_key) {
                        cluster_record_sign(fleet_key, KEY, rec.generation, rec.token, rec.expires_at_ms,
                                            rec.fetched_at_ms, mac);
                        if (f[CLUSTER_F_MAC].len != CLUSTER_MAC_HEX || memcmp(mac, f[CLUSTER_F_MAC].str, CLUSTER_MAC_HEX))
                                abort();
                }
        } else if (!memchr(why, '\0', sizeof(why))) {
                abort();
        }
        for (int i = 0; i < n; i++)
                free(copy[i]);
        return 0;
}
