/* wire.h: the control socket's facts (path, limits, error codes), defined once for the agent, libwxshm and wxtokenctl. */
#ifndef WXSHM_WIRE_H
#define WXSHM_WIRE_H

/*
 * Internal, not installed: the agent (agent/wire/protocol.h includes this), libwxshm's client and
 * wxshm_refresh(), and wxtokenctl each used to carry their own copy of these, and a copy
 * that drifts is a protocol break nobody sees until a client misreads a reply. The wire
 * format itself (key order, spelling) is held by tests/agent/test-protocol.c.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Item names, the one definition of their grammar: an app "[A-Za-z0-9_-]{1,64}", then
 * optionally a dot and a suffix of 1..40 bytes: a ticket ("shop.jsapi"), an account
 * ("platform.wx0123456789abcdef"), or an account's ticket ("platform.wx0123456789abcdef.jsapi"):
 * name characters, with at most one dot inside (never first, last or doubled). A name is a
 * file name in shm_dir and travels unescaped in JSON, so nothing else may pass: libwxshm
 * (segment_name_valid), the agent (config, requests) and wxtokenctl all check with these,
 * and doc/segment.md states the same (tests/test-wire-doc.sh compares the numbers).
 */
#define WIRE_NAME_BASE_MAX 64
#define WIRE_NAME_SUFFIX_MAX 40
#define WIRE_NAME_MAX (WIRE_NAME_BASE_MAX + 1 + WIRE_NAME_SUFFIX_MAX) /* 105 bytes */
#define WIRE_NAME_SIZE (WIRE_NAME_MAX + 1)                            /* with its NUL */
/* The grammar in words, for messages. */
#define WIRE_NAME_GRAMMAR "[A-Za-z0-9_-]{1,64} with an optional .[A-Za-z0-9_-]{1,40} (one more dot inside allowed)"
/* An app's own name, as the config's [app NAME] gives it: the suffix is the agent's to add. */
#define WIRE_APP_NAME_GRAMMAR "[A-Za-z0-9_-]{1,64}"

static inline bool wire_name_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Length of the run of name characters at s if it is 1..max long, else 0 (checks at most max + 1 bytes). */
static inline size_t wire_name_run(const char *s, size_t max) {
        size_t n = 0;

        while (wire_name_char(s[n])) {
                if (++n > max)
                        return 0;
        }
        return n;
}

/* True if s is an app's own name, "[A-Za-z0-9_-]{1,64}" (no dot). */
static inline bool wire_app_name_valid(const char *s) {
        size_t n = s ? wire_name_run(s, WIRE_NAME_BASE_MAX) : 0;

        return n > 0 && s[n] == '\0';
}

/* True if s is an item name: an app's name, optionally "." and a suffix of 1..40 bytes (name characters, one dot inside at most). */
static inline bool wire_name_valid(const char *s) {
        size_t n = s ? wire_name_run(s, WIRE_NAME_BASE_MAX) : 0, m;

        if (n == 0)
                return false;
        if (s[n] == '\0')
                return true;
        if (s[n] != '.')
                return false;
        s += n + 1;
        m = wire_name_run(s, WIRE_NAME_SUFFIX_MAX);
        if (m > 0 && s[m] == '.') /* an account's ticket: the account's part, a dot, the type */
                m += 1 + wire_name_run(s + m + 1, WIRE_NAME_SUFFIX_MAX);
        return m > 0 && m <= WIRE_NAME_SUFFIX_MAX && s[m] == '\0' && s[m - 1] != '.';
}

/* Where the agent listens unless configured (socket_path) or overridden ($WXTOKEND_SOCKET). */
#define PROTOCOL_SOCKET_DEFAULT "/run/wxtokend/wxtokend.sock"

/*
 * A request line is at most this many bytes with its newline; replies to refresh/get fit in
 * it too. A plain literal on purpose: PROTOCOL_STR() spells it in messages.
 */
#define PROTOCOL_LINE_MAX 4096

/* refresh's timeout_ms: the default when absent, and the most a client may wait. Plain literals (PROTOCOL_STR). */
#define PROTOCOL_TIMEOUT_DEFAULT_MS 5000
#define PROTOCOL_TIMEOUT_MAX_MS 60000

/*
 * A client waits this much past the timeout_ms it sent: the agent answers "timeout" itself
 * when timeout_ms runs out, and that answer needs time to arrive.
 */
#define PROTOCOL_REPLY_SLACK_MS 1000

/*
 * status pages: entries per reply by default and at most (the request's "limit"); a page
 * also stops once it passes PROTOCOL_STATUS_BYTES, so with its last entry it stays far
 * below PROTOCOL_REPLY_MAX, the longest reply line a client must accept.
 */
#define PROTOCOL_STATUS_LIMIT_DEFAULT 500
#define PROTOCOL_STATUS_LIMIT_MAX 10000
#define PROTOCOL_STATUS_BYTES (320 * 1024)
#define PROTOCOL_REPLY_MAX (1024 * 1024)

/* Generations travel as JSON numbers, exact as doubles only below 2^53: every generation is below this. */
#define PROTOCOL_GENERATION_LIMIT (UINT64_C(1) << 53)

/*
 * The ticket op (a component's component_verify_ticket, forwarded from the platform's
 * callback): its longest ticket (WeChat's are about 100 bytes of printable ASCII), and
 * how far in the future its create_time may be (clock skew between hosts) before it is
 * refused. Plain literals (PROTOCOL_STR).
 */
#define PROTOCOL_VERIFY_TICKET_MAX 512
#define PROTOCOL_TICKET_SKEW_S 300

/*
 * The authorizer ops (Open Platform accounts authorized to a component, added at run
 * time): an authorizer's appid is "wx" and 1..30 lowercase letters or digits (WeChat's
 * are "wx" and 16 hex digits; no '_', so it never reads as a ticket type like wx_card),
 * published as "COMPONENT.APPID"; its refresh token is printable ASCII (WeChat's are about
 * 60 bytes). A component holds at most PROTOCOL_AUTHORIZERS_MAX. Plain literals.
 */
#define PROTOCOL_AUTHORIZER_APPID_MAX 32
#define PROTOCOL_REFRESH_TOKEN_MAX 512
#define PROTOCOL_AUTHORIZERS_MAX 10000
#define WIRE_AUTHORIZER_APPID_GRAMMAR "w[wx][0-9a-z]{1,30}"

/* A corp authorized to a WeCom suite goes by its corpid: "ww" (or, for old corps, "wx") and the same. */
static inline bool wire_authorizer_appid_valid(const char *s) {
        size_t n = 2;

        if (!s || s[0] != 'w' || (s[1] != 'x' && s[1] != 'w'))
                return false;
        while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z'))
                if (++n > PROTOCOL_AUTHORIZER_APPID_MAX)
                        return false;
        return n > 2 && s[n] == '\0';
}

/* A limit above as text, for a message that names it: PROTOCOL_STR(PROTOCOL_LINE_MAX) is "4096". */
#define PROTOCOL_STR(x) PROTOCOL_STR_(x)
#define PROTOCOL_STR_(x) #x

/* The error codes of {"ok":false,"error":CODE,...}, documented in the README and wxtokend(8). */
#define PROTO_E_BAD_JSON "bad_json"             /* not a JSON object */
#define PROTO_E_BAD_REQUEST "bad_request"       /* a field missing or of the wrong type/range */
#define PROTO_E_UNKNOWN_OP "unknown_op"
#define PROTO_E_UNKNOWN_APP "unknown_app"
#define PROTO_E_LINE_TOO_LONG "line_too_long"
#define PROTO_E_PERMISSION "permission_denied"
#define PROTO_E_RATE_LIMITED "rate_limited"     /* with retry_after_ms */
#define PROTO_E_UPSTREAM "upstream_failed"      /* the refresh failed; the old token stays published */
#define PROTO_E_TIMEOUT "timeout"               /* no new generation within timeout_ms */
#define PROTO_E_BUSY "too_many_waiters"         /* the app's waiter limit is reached */
#define PROTO_E_NO_TOKEN "no_token"             /* get: nothing published yet */
#define PROTO_E_STOPPING "shutting_down"
#define PROTO_E_CONNECTIONS "too_many_connections" /* max_connections or max_connections_per_uid */
#define PROTO_E_INTERNAL "internal"             /* the agent ran out of memory building the reply */
#define PROTO_E_RELOAD_REFUSED "reload_refused" /* reload: the new config was not taken (why in the message) */
#define PROTO_E_NOT_FAILING "not_failing"       /* retry: the item waits for no retry (fresh, or starting) */
#define PROTO_E_NOT_HOLDER "not_lease_holder"   /* retry, cluster mode: another agent makes the app's calls */
#define PROTO_E_TICKET_REFUSED "ticket_refused" /* ticket: not a component, or a create_time in the future or over 12 h ago */
#define PROTO_E_AUTHORIZER_REFUSED "authorizer_refused" /* authorizer_*: not a component, no such account, full */

#endif
