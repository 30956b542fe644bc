/* redact.h: keep secrets out of every string that may be logged or returned. */
#ifndef REDACT_H
#define REDACT_H

#include <stddef.h>

/* Copy url to out with the values of secret= and corpsecret= replaced by "***". */
void redact_url(char *out, size_t size, const char *url);

/* Replace every occurrence of secret (if at least 4 bytes) in s, in place, by "***". */
void redact_secret(char *s, const char *secret);

/*
 * redact_secret for each form in which an upstream could echo secret: as is, and
 * URL-encoded as the request carried it (upper- and lower-case hex). Linear in s.
 */
void redact_secret_forms(char *s, const char *secret);

#endif
