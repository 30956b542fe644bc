/* client.h: one request to wxtokend's control socket and its reply, blocking with a timeout. */
#ifndef WXSHM_CLIENT_H
#define WXSHM_CLIENT_H

#include <stddef.h>

#include "wire.h"

/* $WXTOKEND_SOCKET if set and non-empty (not in setuid/setgid programs), else PROTOCOL_SOCKET_DEFAULT. */
const char *client_socket_path(void);

/*
 * Connect to path, send line (which must end in '\n'), read one reply line into reply
 * (NUL-terminated, newline stripped). The whole exchange is bounded by timeout_ms.
 * 0, or -errno: -ENOENT/-ECONNREFUSED (no agent), -EACCES, -ETIMEDOUT, -EMSGSIZE (reply
 * longer than size), -EPROTO (connection closed before a full line).
 */
int client_request(const char *path, const char *line, char *reply, size_t size, int timeout_ms);

/* The same, but only to a server running as uid owner or as root (SO_PEERCRED): else -EPERM. */
int client_request_as(const char *path, long owner, const char *line, char *reply, size_t size, int timeout_ms);

#endif
