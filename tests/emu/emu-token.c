/* emu-token.c: issuing, remembering and judging access tokens and tickets. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu-state.h"

#define HASH_SIZE 4096
#define TICKET_LENGTH 86        /* what jsapi tickets measure in the wild */

static struct emu_token *token_hash[HASH_SIZE];
static uint64_t rng_state;
static bool rng_ready;

static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/* Real tokens also carry '_' and '-': clients must not assume alphanumerics only. */
static const char urlsafe[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/* splitmix64: tiny, and a given --seed yields the same token sequence on every host. */
static uint64_t rng_next(void)
{
        uint64_t z;

        if (!rng_ready) {
                rng_state = emu_cfg.have_seed ? emu_cfg.seed :
                        (uint64_t)emu_unix_ms() ^ ((uint64_t)getpid() << 32);
                rng_ready = true;
        }
        z = (rng_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static uint64_t hash_fnv1a64(const char *s, size_t n)
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

static void token_fill(char *out, enum emu_kind kind)
{
        bool ticket = kind == KIND_JSAPI || kind == KIND_CARD || kind == KIND_AGENT;
        size_t len = ticket ? TICKET_LENGTH : (size_t)emu_cfg.token_length;
        bool sum = !ticket && emu_cfg.checksum;
        size_t body = sum ? len - 16 : len;
        const char *set = sum ? alnum : urlsafe;
        size_t setlen = strlen(set);

        for (size_t i = 0; i < body; i++)
                out[i] = set[rng_next() % setlen];
        /* --checksum-tokens: the last 16 chars are the lowercase hex FNV-1a-64 of the rest,
         * so a reader of the shared segment can prove it saw no torn or mixed copy. */
        if (sum) {
                uint64_t h = hash_fnv1a64(out, body);

                for (int i = 15; i >= 0; i--, h >>= 4)
                        out[body + (size_t)i] = "0123456789abcdef"[h & 15];
        }
        out[len] = '\0';
}

/* Tickets, codes: len characters from the same seeded sequence as the tokens. */
void emu_random_text(char *out, size_t len)
{
        for (size_t i = 0; i < len; i++)
                out[i] = alnum[rng_next() % (sizeof(alnum) - 1)];
        out[len] = '\0';
}

static size_t hash_bucket(const char *text)
{
        return hash_fnv1a64(text, strlen(text)) % HASH_SIZE;
}

static void hash_remove(struct emu_token *t)
{
        struct emu_token **p = &token_hash[hash_bucket(t->text)];

        for (; *p; p = &(*p)->hnext)
                if (*p == t) {
                        *p = t->hnext;
                        return;
                }
}

struct emu_token *emu_token_find(const char *text)
{
        struct emu_token *t = token_hash[hash_bucket(text)];

        for (; t; t = t->hnext)
                if (!strcmp(t->text, text))
                        return t;
        return NULL;
}

struct emu_token *emu_token_current(int app, enum emu_kind kind)
{
        struct emu_slot *s = &emu_apps[app].slots[kind];

        return s->gen ? s->ring[(s->gen - 1) % EMU_HISTORY] : NULL;
}

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

/*
 * A new token supersedes the current one, which stays valid for --overlap seconds (--overlap-ms) more
 * (WeChat: "new and old access_token are both usable within 5 minutes"). The one before
 * that dies now: WeChat promises one overlap, not a chain of them, so a stampede of
 * fetchers really does invalidate each other's tokens.
 */
struct emu_token *emu_token_issue(int app, enum emu_kind kind)
{
        struct emu_slot *s = &emu_apps[app].slots[kind];
        bool ticket = kind == KIND_JSAPI || kind == KIND_CARD || kind == KIND_AGENT;
        int64_t now = emu_now_ms();
        struct emu_token *t, *old;
        size_t idx = s->gen % EMU_HISTORY;

        t = s->ring[idx];
        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t)
                        return NULL;
                s->ring[idx] = t;
        } else if (!ticket) {
                hash_remove(t);
        }
        if ((old = emu_token_current(app, kind)))
                old->grace_ms = min64(old->grace_ms, now + emu_cfg.overlap_ms);
        if (s->gen >= 2) {
                old = s->ring[(s->gen - 2) % EMU_HISTORY];
                old->grace_ms = min64(old->grace_ms, now);
        }
        do
                token_fill(t->text, kind);
        while (!ticket && emu_token_find(t->text));
        t->app = app;
        t->kind = kind;
        t->gen = ++s->gen;
        t->expires_ms = now + (int64_t)emu_cfg.expires_in * 1000;
        t->grace_ms = INT64_MAX;
        if (!ticket) {
                size_t b = hash_bucket(t->text);

                t->hnext = token_hash[b];
                token_hash[b] = t;
        }
        return t;
}

int64_t emu_token_left_ms(const struct emu_token *t)
{
        int64_t left = min64(t->expires_ms, t->grace_ms) - emu_now_ms();

        return left > 0 ? left : 0;
}

/* Whichever ended the token first decides the errcode: its lifetime or its successor. */
enum emu_verdict emu_token_check(const struct emu_token *t)
{
        if (!t)
                return VERDICT_INVALID;
        if (emu_now_ms() < min64(t->expires_ms, t->grace_ms))
                return VERDICT_OK;
        return t->expires_ms <= t->grace_ms ? VERDICT_EXPIRED : VERDICT_INVALID;
}

void emu_app_expire(int app)
{
        int64_t now = emu_now_ms();

        for (int k = 0; k < KIND_COUNT; k++)
                for (int h = 0; h < EMU_HISTORY; h++) {
                        struct emu_token *t = emu_apps[app].slots[k].ring[h];

                        if (t)
                                t->expires_ms = min64(t->expires_ms, now);
                }
}
