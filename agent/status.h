/* status.h: the status reply: one page of the agent's items, cheap whatever their number. */
#ifndef STATUS_H
#define STATUS_H

#include <stdint.h>

struct services;
struct request;
struct status_server;
struct verdict;

/*
 * The reply line to a status request (malloc'd; NULL only when out of memory): the items
 * from req->offset on, at most req->limit of them and about PROTOCOL_STATUS_BYTES, in
 * configuration order (each app, then its tickets), with "next" if more follow. With
 * req->has_app only that app and its tickets (or that one ticket); unknown_app if none.
 */
char *status_reply(struct services *a, const struct request *req, const struct status_server *server);

/*
 * The Nagios verdict (core/verdict.h) over every item of the agent (only: that app and
 * its tickets, or that ticket), running or not started: what status, /healthz and the
 * exit code of wxtokenctl status say.
 */
void status_verdict(const struct services *a, const char *only, int64_t now_ms, struct verdict *v);

#endif
