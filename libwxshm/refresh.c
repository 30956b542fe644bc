/* refresh.c: wxshm_refresh(), asking the agent for a new token after WeChat refused the one read. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "segment.h"
#include "wire.h"
#include "wxshm.h"

static const struct {
        const char *code;
        int err;
} codes[] = {
        { PROTO_E_RATE_LIMITED, EAGAIN }, { PROTO_E_TIMEOUT, ETIMEDOUT },   { PROTO_E_UPSTREAM, EIO },
        { PROTO_E_BUSY, EBUSY },          { PROTO_E_PERMISSION, EACCES },   { PROTO_E_UNKNOWN_APP, ENOENT },
        { PROTO_E_STOPPING, ECONNREFUSED },
};

/*
 * The agent prints its replies with cJSON in a fixed key order (tests/agent/test-protocol.c
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
                if (errno || g >= PROTOCOL_GENERATION_LIMIT || (*stop != ',' && *stop != '}'))
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
        char line[256], reply[PROTOCOL_LINE_MAX + 1];
        const char *name;
        int n, r;

        if (!h || generation >= PROTOCOL_GENERATION_LIMIT)
                return -EINVAL;
        name = reader_name(h);
        /* An attached handle has no name to ask for. */
        if (!segment_name_valid(name))
                return -EINVAL;
        if (timeout_ms <= 0)
                timeout_ms = PROTOCOL_TIMEOUT_DEFAULT_MS;
        if (timeout_ms > PROTOCOL_TIMEOUT_MAX_MS)
                timeout_ms = PROTOCOL_TIMEOUT_MAX_MS;

        /* The name passed segment_name_valid(): nothing in it needs escaping. */
        n = snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%" PRIu64
                     ",\"timeout_ms\":%d}\n", name, generation, timeout_ms);
        if (n < 0 || (size_t)n >= sizeof(line))
                return -EINVAL;
        r = client_request_as(client_socket_path(), (long)reader_owner(h), line, reply, sizeof(reply),
                              timeout_ms + PROTOCOL_REPLY_SLACK_MS);
        if (r < 0)
                return r == -EMSGSIZE ? -EPROTO : r;
        return reply_parse(reply);
}
