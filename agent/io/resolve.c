/* resolve.c: look a host name up without blocking the event loop (glibc's getaddrinfo_a, polled). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "resolve.h"

struct resolve {
        struct gaicb req;               /* glibc's helper thread writes here until the lookup ends */
        struct addrinfo hints;
        char host[];
};

int resolve_numeric(const char *host, char *addr, size_t size) {
        struct in6_addr a6;
        struct in_addr a4;

        if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
                if (snprintf(addr, size, "%s", host) >= (int)size)
                        return -ENAMETOOLONG;
                return 0;
        }
        return -EINVAL;
}

int resolve_start(struct resolve **ret, const char *host) {
        size_t len = strlen(host) + 1;
        struct gaicb *list[1];
        struct resolve *r;
        int e;

        r = calloc(1, sizeof(*r) + len);
        if (!r)
                return -ENOMEM;
        memcpy(r->host, host, len);
        r->hints.ai_family = AF_UNSPEC;
        r->hints.ai_socktype = SOCK_STREAM;
        r->req.ar_name = r->host;
        r->req.ar_request = &r->hints;
        list[0] = &r->req;
        /* No notification: the caller polls, from a timer of its loop. */
        e = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
        if (e != 0) {
                free(r);
                return e == EAI_MEMORY ? -ENOMEM : -EAGAIN;
        }
        *ret = r;
        return 0;
}

int resolve_result(struct resolve *r, char *addr, size_t size, const char **why) {
        const struct addrinfo *best = NULL;
        int e = gai_error(&r->req);

        if (e == EAI_INPROGRESS)
                return -EINPROGRESS;
        if (e != 0) {
                *why = gai_strerror(e);
                return -EHOSTUNREACH;
        }
        /* IPv4 first: a Redis bound to 127.0.0.1 is not reached through "localhost"'s ::1. */
        for (const struct addrinfo *ai = r->req.ar_result; ai; ai = ai->ai_next) {
                if (ai->ai_family == AF_INET) {
                        best = ai;
                        break;
                }
                if (ai->ai_family == AF_INET6 && !best)
                        best = ai;
        }
        if (!best) {
                *why = "no IPv4 or IPv6 address";
                return -EHOSTUNREACH;
        }
        if (best->ai_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)best->ai_addr)->sin_addr, addr,
                          (socklen_t)size);
        else
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)best->ai_addr)->sin6_addr, addr,
                          (socklen_t)size);
        return 0;
}

void resolve_free(struct resolve *r) {
        if (!r)
                return;
        /*
         * A lookup glibc cannot cancel still writes into r when it ends: left allocated on
         * purpose (once, at a stop or a reconnect during a DNS outage), never freed under it.
         */
        if (gai_error(&r->req) == EAI_INPROGRESS && gai_cancel(&r->req) != EAI_CANCELED)
                return;
        if (r->req.ar_result)
                freeaddrinfo(r->req.ar_result);
        free(r);
}
