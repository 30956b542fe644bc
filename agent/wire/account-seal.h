/* account-seal.h: a component's account records and verify ticket in Redis, sealed (AES-256-GCM) with a key derived from the fleet key. */
#ifndef ACCOUNT_SEAL_H
#define ACCOUNT_SEAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Refresh tokens are secrets and Redis must never hold one in clear, yet a host that dies
 * must lose none: so every agent's state_dir holds them all, and Redis carries them between
 * hosts sealed. The key is HMAC-SHA256(fleet key, a fixed label): whoever can write Redis
 * but lacks the fleet key can neither read a record nor make one an agent takes (GCM's tag
 * covers the Redis key, the field and the version too, so a record is not moved to another
 * component or account). A replayed older record is refused by its version (the caller's).
 *
 * A value is "1.<version>.<nonce, 24 hex>.<ciphertext and tag, hex>".
 */
#define ACCOUNT_SEAL_PLAIN_MAX 1024     /* the longest plaintext: a refresh token or a ticket and a little */
#define ACCOUNT_SEAL_VALUE_MAX (2 * ACCOUNT_SEAL_PLAIN_MAX + 96) /* the longest value an agent writes */

/* Seal plain (NUL-terminated) as field of key at version into out: 0, -ENOBUFS, -EIO. */
int account_seal(const char *fleet_key, const char *key, const char *field, uint64_t version, const char *plain,
                 char *out, size_t out_size);

/*
 * Open a value read from Redis: 0 with *version and plain (NUL-terminated) filled;
 * -EBADMSG if it is not shaped as an agent writes it; -EPERM if the tag does not check
 * (forged, or sealed for another key, field or version, or with another fleet key).
 * why says which, in words (never the plaintext).
 */
int account_open(const char *fleet_key, const char *key, const char *field, const char *value, size_t len,
                 uint64_t *version, char *plain, size_t plain_size, char *why, size_t why_size);

#endif
