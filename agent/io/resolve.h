/* resolve.h: look a host name up without blocking the event loop. */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stddef.h>

struct resolve;

/* host is already a numeric address: copied to addr, 0; -EINVAL if it is a name. */
int resolve_numeric(const char *host, char *addr, size_t size);

/* Start looking host up in the background (glibc's getaddrinfo_a). 0 or -errno. */
int resolve_start(struct resolve **ret, const char *host);

/*
 * 0 and the address (IPv4 preferred) in addr once the lookup is done; -EINPROGRESS while
 * it runs; -EHOSTUNREACH with *why set (a static string) if it failed.
 */
int resolve_result(struct resolve *r, char *addr, size_t size, const char **why);

/* Cancel (if still running) and free; NULL is fine. */
void resolve_free(struct resolve *r);

#endif
