/* app-authorizer.h: one account authorized to a component, shared by app-authorizer.c (its item, file, ops) and app-onboard.c (onboarding, sync). */
#ifndef APP_AUTHORIZER_H
#define APP_AUTHORIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "authorizer-file.h"
#include "protocol.h"

/* WeChat's "refresh_token is invalid" (retired, or the account de-authorized) and "not authorized by this account". */
#define ERRCODE_REFRESH_INVALID 61023
#define ERRCODE_NOT_AUTHORIZED 61003

/*
 * One account: its item ("COMPONENT.APPID", it->auth points back here) and its record.
 * Allocated one by one, never moved: the item's timer and call point at it.
 */
struct authorizer {
        struct item item;
        struct authorizer_record rec;   /* the appid, the refresh token held, whether WeChat refused it */
        char calling[PROTOCOL_REFRESH_TOKEN_MAX + 1]; /* the refresh token the call under way was made with */
        bool listed;                    /* named by the api_get_authorizer_list pages of the sync under way */
        struct authorizer *next;
};

/* app-authorizer.c's helpers: the account of appid or NULL; the file written (fsync'd), 0 or -errno (logged). */
struct authorizer *authorizer_find(struct app *app, const char *appid);
int authorizers_save(struct app *app);

/* Start an account's item (fresh: adopt nothing) and link it first: 0, or -errno with nothing left. */
int authorizer_start(struct app *app, const struct authorizer_record *rec, bool fresh, struct authorizer **ret);

/* Stop it, its segment removed (readers told), and free it: unlinked by the caller first. */
void authorizer_stop(struct authorizer *a);
size_t authorizers_count(const struct app *app);

/* A PROTO_E_AUTHORIZER_REFUSED reply line of fmt with a and b. */
char *authorizer_refuse(const char *fmt, const char *a, const char *b);

#endif
