/* server.h: the control socket: activation or bind, connections, JSON-line requests, access control. */
#ifndef SERVER_H
#define SERVER_H

#include "services.h"

struct server;

/*
 * Take the socket systemd passed (sd_listen_fds) or bind [agent] socket ourselves:
 * mode 0660, group socket_group, replacing only a stale socket, never another file.
 */
int server_new(struct server **ret, struct services *a);

/* Close every connection (waiters dropped) and the listener; unlink a socket we bound. */
void server_free(struct server *s);

#endif
