/* wxshm.h: read the WeChat access token that wxtokend publishes in shared memory. */
#ifndef WXSHM_H
#define WXSHM_H

/*
 * A reader opens the segment of one app once, then reads the token as often as it
 * likes: wxshm_read() makes no system call and never waits for the agent.
 *
 *     wxshm *h;
 *     char token[WXSHM_TOKEN_MAX + 1];
 *     wxshm_info info;
 *     int r;
 *
 *     info.size = sizeof(info);
 *     r = wxshm_open(&h, "myapp");
 *     if (r < 0) ... -r is an errno value, see wxshm_open() below
 *     r = wxshm_read(h, token, sizeof(token), &info);
 *     if (r >= 0) ... token holds r bytes and a NUL; info.generation says which token
 *     wxshm_close(h);
 *
 * Every function returns 0 or a non-negative value on success and a negative errno
 * value on failure. The library never logs, never aborts and never writes to the
 * segment. A handle may be shared by threads that only call wxshm_read().
 *
 * This header is C89-clean; the types come from <stdint.h> and <stddef.h>.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define WXSHM_EXPORT __attribute__((visibility("default")))
#else
#define WXSHM_EXPORT
#endif

/* Longest token a segment holds; a buffer of WXSHM_TOKEN_MAX + 1 bytes always suffices. */
#define WXSHM_TOKEN_MAX 2048

/*
 * Segments are the files "<dir>/<app>" in the directory the agent owns: $WXSHM_DIR
 * (ignored in setuid/setgid programs), or this. The agent's shm_dir must match.
 */
#define WXSHM_DEFAULT_DIR "/dev/shm/wxtokend"
/* Retired with version 1.1: segments no longer live in /dev/shm/<prefix>.<app>. */
#define WXSHM_DEFAULT_PREFIX "wxshm"

typedef struct wxshm wxshm;

/* What the agent is doing for this app; the token stays readable in every state. */
enum wxshm_state {
        WXSHM_STATE_STARTING = 0,       /* no upstream answer yet */
        WXSHM_STATE_FRESH = 1,          /* token published, next refresh scheduled */
        WXSHM_STATE_REFRESHING = 2,     /* an upstream call is in flight */
        WXSHM_STATE_RETRYING = 3,       /* transient upstream failure, backing off */
        WXSHM_STATE_CONFIG_ERROR = 4,   /* bad secret, IP not whitelisted, ...: operator must act */
        WXSHM_STATE_QUOTA = 5,          /* daily quota exhausted (45009) */
        WXSHM_STATE_STOPPED = 6         /* the agent stopped; the token is served until it expires */
};

/*
 * Everything known about the token and the agent besides the token bytes.
 * Set .size = sizeof(wxshm_info) before the call: later versions append fields and
 * fill only those that fit in .size, so old callers keep working.
 */
typedef struct wxshm_info {
        size_t size;
        uint64_t generation;            /* +1 for every new token, never 0 once published */
        int64_t expires_at_ms;          /* Unix time in ms; the agent refreshes well before */
        int64_t fetched_at_ms;          /* when the agent received this token */
        int64_t heartbeat_ms;           /* last sign of life of the agent, Unix ms */
        int64_t last_errcode;           /* last upstream errcode, 0 if the last call succeeded */
        int64_t last_error_at_ms;       /* when last_errcode was set, 0 if never */
        int32_t state;                  /* enum wxshm_state */
        int32_t agent_pid;              /* 0 if no agent ever wrote */
        int32_t agent_alive;            /* 1 if the heartbeat is recent (within 3 intervals) */
        int32_t token_length;           /* bytes of the token, as returned */
} wxshm_info;

/*
 * Open the segment of app (or of an item such as "app.jsapi").
 *   -EINVAL           ret or app is NULL, or app is not [A-Za-z0-9_-]{1,64} with an
 *                     optional suffix: one dot and [A-Za-z0-9_-]{1,40}, which may hold
 *                     one more dot inside ("shop.jsapi", "platform.wx0123456789abcdef",
 *                     "platform.wx0123456789abcdef.jsapi"); checked before the file system
 *   -ENOENT           no segment of that name (the agent does not know the app yet),
 *                     or no segment directory (no agent ever ran)
 *   -EACCES           not allowed to read it (ask to be in the app's group)
 *   -EPERM            not made by the agent, so not trusted: the directory is group- or
 *                     other-writable, the file's owner is not the directory's, or the
 *                     directory belongs to an ordinary user other than the caller
 *                     (someone made it before the agent could)
 *   -EAGAIN           the agent is making the segment right now (an empty file, or its
 *                     magic not written yet): retry a few times, a millisecond apart
 *   -EBADMSG          the object under that name is not a wxshm segment, not a regular
 *                     file, or not of the exact size of its layout
 *   -EPROTONOSUPPORT  a wxshm segment of a layout version this library does not read
 *   -EOPNOTSUPP       this CPU has no lock-free 64-bit atomics (never on x86-64, arm64)
 *   -ENOMEM, -EMFILE, ... as from open(2), mmap(2)
 * On failure *ret is left untouched.
 */
WXSHM_EXPORT int wxshm_open(wxshm **ret, const char *app);

/*
 * Copy the current token into buf as a NUL-terminated string and return its length.
 * info, if not NULL, receives the rest (see wxshm_info). No system call is made.
 * The token is copied in whole 8-byte words: up to 7 bytes after its NUL may be
 * overwritten too, but never a byte at or past buf + size.
 *   -EINVAL   h or buf is NULL, or info is given with info->size not set
 *   -ENODATA  the segment exists but no token was ever published
 *   -ENOBUFS  size is less than the token length + 1; nothing is copied
 *   -ESTALE   the token is stale: now >= expires_at_ms, now being the wall clock
 *             (CLOCK_REALTIME, coarse) in Unix ms. The token and info ARE filled in,
 *             so a caller may still try it (WeChat often accepts a token for a few
 *             minutes more); normally it means the agent is down or failing.
 *   -EIDRM    the segment was retired (replaced, or the layout changed): wxshm_close()
 *             the handle and wxshm_open() the name again
 *   -ENXIO    the app was removed from the agent's configuration; its segment is gone
 *             (a new wxshm_open() is -ENOENT until the app is configured again):
 *             wxshm_close() the handle, do not retry
 *   -EBADMSG  the published slot is inconsistent (a length beyond the slot)
 *   -EAGAIN   the writer changed the token during every one of many attempts; retry
 * Apart from -ESTALE, buf and info are unspecified after a failure.
 */
WXSHM_EXPORT int wxshm_read(wxshm *h, char *buf, size_t size, wxshm_info *info);

/*
 * Tell the agent that WeChat refused the token of the given generation, and wait until
 * a newer one is published. Never fetch a token yourself: that invalidates the token
 * every other process is using. The loop every caller needs:
 *
 *     r = wxshm_read(h, token, sizeof(token), &info);
 *     ... call WeChat with token ...
 *     if (errcode == 40001 || errcode == 40014 || errcode == 42001) {
 *             int64_t g = wxshm_refresh(h, info.generation, 5000);
 *             if (g >= 0)
 *                     ... wxshm_read() again and retry the call, once ...
 *     }
 *
 * The agent answers at once if a newer generation is already published, lets all
 * callers share one upstream call, and spaces forced refreshes (so retry once, not in
 * a loop). This makes system calls: it talks to the agent's Unix socket, which is
 * $WXTOKEND_SOCKET (ignored in setuid/setgid programs) or /run/wxtokend/wxtokend.sock,
 * and only to a server running as the segment's owner or root. timeout_ms <= 0 means 5000; more
 * than 60000 is cut to 60000. Returns the generation now published (> generation,
 * or equal when the agent checked that the token still works), or:
 *   -EINVAL        h is NULL or not opened by name, or generation >= 2^53
 *   -ENOENT        the agent is not running (no socket), or does not know this app
 *   -ECONNREFUSED  the agent is not running, or is shutting down
 *   -EACCES        not allowed to refresh this app (or to use the socket)
 *   -EPERM         the socket's server is neither the segment's owner nor root
 *   -EAGAIN        rate limited: forced refreshes are spaced; read again later
 *   -ETIMEDOUT     no new generation within timeout_ms
 *   -EIO           the upstream call failed; the old token stays published
 *   -EBUSY         too many callers are already waiting for this app
 *   -EPROTO        the agent's reply was not understood
 */
WXSHM_EXPORT int64_t wxshm_refresh(wxshm *h, uint64_t generation, int timeout_ms);

/* Unmap and release h. NULL is allowed. */
WXSHM_EXPORT void wxshm_close(wxshm *h);

/* "fresh", "retrying", ... for an enum wxshm_state value; "unknown" otherwise. */
WXSHM_EXPORT const char *wxshm_state_name(int state);

#ifdef __cplusplus
}
#endif

#endif
