/* status.h: the status reply: one page of the agent's items, cheap whatever their number. */
#ifndef STATUS_H
#define STATUS_H

struct services;
struct request;
struct status_server;

/*
 * The reply line to a status request (malloc'd; NULL only when out of memory): the items
 * from req->offset on, at most req->limit of them and about PROTOCOL_STATUS_BYTES, in
 * configuration order (each app, then its tickets), with "next" if more follow. With
 * req->has_app only that app and its tickets (or that one ticket); unknown_app if none.
 */
char *status_reply(struct services *a, const struct request *req, const struct status_server *server);

#endif
