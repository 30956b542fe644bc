/* refresh.c: wxshm_refresh(), asking the agent for a new token after WeChat refused the one read. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "segment.h"
#include "wxshm.h"

/* The agent's limits (agent/protocol.h); the library links nothing of the agent. */
#define REFRESH_TIMEOUT_DEFAULT_MS 5000
#define REFRESH_TIMEOUT_MAX_MS 60000
#define REFRESH_LINE_MAX 4096
/* Generations travel as JSON numbers, exact below 2^53. */
#define REFRESH_GENERATION_LIMIT (UINT64_C(1) << 53)
/* Time for the agent's own "timeout" answer to arrive after it gave up waiting. */
#define REFRESH_REPLY_SLACK_MS 1000

static const struct {
        const char *code;
        int err;
} codes[] = {
        { "rate_limited", EAGAIN },     { "timeout", ETIMEDOUT },         { "upstream_failed", EIO },
        { "too_many_waiters", EBUSY },  { "permission_denied", EACCES },  { "unknown_app", ENOENT },
        { "shutting_down", ECONNREFUSED },
};

/*
 * The agent prints its replies with cJSON in a fixed key order (tests/test-protocol.c
 * holds it to that), so a prefix match reads them exactly with libc alone.
 */
static int64_t reply_parse(const char *reply) {
        static const char ok[] = "{\"ok\":true,\"generation\":", bad[] = "{\"ok\":false,\"error\":\"";
        unsigned long long g;
        const char *p, *end;
        char *stop;
        size_t i;

        if (!strncmp(reply, ok, sizeof(ok) - 1)) {
                p = reply + sizeof(ok) - 1;
                if (*p < '0' || *p > '9')
                        return -EPROTO;
                errno = 0;
                g = strtoull(p, &stop, 10);
                if (errno || g >= REFRESH_GENERATION_LIMIT || (*stop != ',' && *stop != '}'))
                        return -EPROTO;
                return (int64_t)g;
        }
        if (strncmp(reply, bad, sizeof(bad) - 1))
                return -EPROTO;
        p = reply + sizeof(bad) - 1;
        end = strchr(p, '"');
        if (!end)
                return -EPROTO;
        for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
                if (strlen(codes[i].code) == (size_t)(end - p) && !strncmp(p, codes[i].code, (size_t)(end - p)))
                        return -codes[i].err;
        }
        /* bad_request and the like: this library and the agent disagree about the protocol. */
        return -EPROTO;
}

WXSHM_EXPORT int64_t wxshm_refresh(wxshm *h, uint64_t generation, int timeout_ms) {
        char line[256], reply[REFRESH_LINE_MAX + 1];
        const char *name;
        int n, r;

        if (!h || generation >= REFRESH_GENERATION_LIMIT)
                return -EINVAL;
        name = reader_name(h);
        /* An attached handle has no name to ask for. */
        if (!segment_name_valid(name))
                return -EINVAL;
        if (timeout_ms <= 0)
                timeout_ms = REFRESH_TIMEOUT_DEFAULT_MS;
        if (timeout_ms > REFRESH_TIMEOUT_MAX_MS)
                timeout_ms = REFRESH_TIMEOUT_MAX_MS;

        /* The name passed segment_name_valid(): nothing in it needs escaping. */
        n = snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%" PRIu64
                     ",\"timeout_ms\":%d}\n", name, generation, timeout_ms);
        if (n < 0 || (size_t)n >= sizeof(line))
                return -EINVAL;
        r = client_request_as(client_socket_path(), (long)reader_owner(h), line, reply, sizeof(reply),
                              timeout_ms + REFRESH_REPLY_SLACK_MS);
        if (r < 0)
                return r == -EMSGSIZE ? -EPROTO : r;
        return reply_parse(reply);
}
