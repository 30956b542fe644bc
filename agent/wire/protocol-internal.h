/* protocol-internal.h: what protocol.c, protocol-ticket.c (the ticket op, a component's status) and protocol-authorizer.c share. */
#ifndef PROTOCOL_INTERNAL_H
#define PROTOCOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

struct cJSON;

/* Set *error to code and message to the formatted why; returns -EINVAL, for a parser to return. */
__attribute__((format(printf, 5, 6))) int protocol_fail(const char **error, char *message, size_t message_size,
                                                        const char *code, const char *fmt, ...);

/* Integers go out as raw digits (cJSON would print them through a double): false if out of memory. */
bool protocol_add_i64(struct cJSON *o, const char *key, int64_t v);

/* o printed on one line with its newline, o deleted; NULL if !ok or out of memory. */
char *protocol_finish(struct cJSON *o, bool ok);

/* The ticket op's fields after "app" ("ticket", "create_time") into req: 0, or -EINVAL as protocol_parse. */
int protocol_parse_ticket(const struct cJSON *root, struct request *req, const char **error, char *message,
                          size_t message_size);

/* The authorizer ops' fields ("component", "appid", "refresh_token") into req: 0, or -EINVAL as protocol_parse. */
/* A page's optional "offset" and "limit" (status, authorizer_list) into req: 0 or -1 with the error set. */
int protocol_parse_page(const struct cJSON *root, struct request *req, const char **error, char *message,
                        size_t message_size);

int protocol_parse_authorizer(const struct cJSON *root, struct request *req, const char **error, char *message,
                              size_t message_size);

/* A component's "component" object in its status entry o. */
bool protocol_add_component(struct cJSON *o, const struct status_component *c);

#endif
