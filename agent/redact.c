/* redact.c: keep secrets out of every string that may be logged or returned. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "redact.h"

#define NAME_MAX_DECODED 16     /* longer than any name we hide */

static bool param_sep(char c) {
        /* '#' ends the query; ';' is an old separator some servers still honour: over-redacting is harmless. */
        return c == '&' || c == ';' || c == '#';
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Whether the parameter name at p (ending at '=' or a separator) is one we hide.
 * Decoded first: a server reads "s%65cret" as "secret", so must we.
 */
static bool name_hidden(const char *p, size_t n) {
        char name[NAME_MAX_DECODED + 1];
        size_t i = 0, j = 0;

        while (i < n) {
                int hi, lo;
                char c = p[i];

                if (j == NAME_MAX_DECODED)
                        return false;
                if (c == '%' && i + 2 < n && (hi = hex_value(p[i + 1])) >= 0 &&
                    (lo = hex_value(p[i + 2])) >= 0) {
                        c = (char)(hi * 16 + lo);
                        i += 3;
                } else {
                        i++;
                }
                name[j++] = lower(c);
        }
        name[j] = '\0';
        return strcmp(name, "secret") == 0 || strcmp(name, "corpsecret") == 0;
}

/* Append n bytes of s to out (room for a NUL is kept); truncates silently. */
static void put(char *out, size_t size, size_t *pos, const char *s, size_t n) {
        while (n-- > 0 && *pos + 1 < size)
                out[(*pos)++] = *s++;
}

void redact_url(char *out, size_t size, const char *url) {
        const char *q, *p;
        size_t pos = 0;

        if (!out || size == 0)
                return;
        out[0] = '\0';
        if (!url)
                return;
        q = strchr(url, '?');
        if (!q) {
                put(out, size, &pos, url, strlen(url));
                out[pos] = '\0';
                return;
        }
        put(out, size, &pos, url, (size_t)(q - url) + 1);
        p = q + 1;
        for (;;) {
                size_t name_len = 0, value_len;

                while (p[name_len] && p[name_len] != '=' && !param_sep(p[name_len]))
                        name_len++;
                put(out, size, &pos, p, name_len);
                p += name_len;
                if (*p == '=') {
                        put(out, size, &pos, "=", 1);
                        value_len = 0;
                        while (p[1 + value_len] && !param_sep(p[1 + value_len]))
                                value_len++;
                        /* The value is never copied, so truncation cannot leave part of it behind. */
                        if (name_hidden(p - name_len, name_len))
                                put(out, size, &pos, "***", 3);
                        else
                                put(out, size, &pos, p + 1, value_len);
                        p += 1 + value_len;
                }
                if (*p == '\0')
                        break;
                put(out, size, &pos, p, 1);
                p++;
        }
        out[pos] = '\0';
}

/* Every occurrence of needle (n >= 4 bytes) in s becomes "***", in one pass: 3 < n, so it only shrinks. */
static void redact_all(char *s, const char *needle, size_t n) {
        char *r = s, *w = s, *hit;

        while ((hit = strstr(r, needle))) {
                char *end = hit + n;

                /* Overlapping occurrences ("abab" in "ababab") go as one, leaving no tail of the secret. */
                for (char *o = hit + 1; o < end; o++) {
                        if (strncmp(o, needle, n) == 0)
                                end = o + n;
                }
                memmove(w, r, (size_t)(hit - r));
                w += hit - r;
                memcpy(w, "***", 3);
                w += 3;
                r = end;
        }
        memmove(w, r, strlen(r) + 1);
}

void redact_secret(char *s, const char *secret) {
        size_t n;

        if (!s || !secret)
                return;
        n = strlen(secret);
        /* A short secret would match ordinary words; config refuses such secrets anyway. */
        if (n < 4)
                return;
        redact_all(s, secret, n);
}

/* The secret as curl_easy_escape puts it in the URL: all but [A-Za-z0-9._~-] as %XX. */
static char *url_encoded(const char *secret, bool upper) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        size_t n = strlen(secret), j = 0;
        char *e = malloc(3 * n + 1);

        if (!e)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)secret[i];

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~') {
                        e[j++] = (char)c;
                } else {
                        e[j++] = '%';
                        e[j++] = digits[c >> 4];
                        e[j++] = digits[c & 15];
                }
        }
        e[j] = '\0';
        return e;
}

void redact_secret_forms(char *s, const char *secret) {
        if (!s || !secret)
                return;
        redact_secret(s, secret);
        for (int upper = 0; upper < 2; upper++) {
                char *e = url_encoded(secret, upper);

                /* Out of memory: the whole string goes, rather than a chance of the secret. */
                if (!e) {
                        s[0] = '\0';
                        return;
                }
                if (strcmp(e, secret) != 0)
                        redact_secret(s, e);
                explicit_bzero(e, strlen(e));
                free(e);
        }
}
