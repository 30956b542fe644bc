/* emu-push.h: ticket pushes encrypted and signed as WeChat sends them to a platform's event URL. */
#ifndef WXEMU_PUSH_H
#define WXEMU_PUSH_H

#include "emu-api.h"
#include "emu-plat.h"

#define PUSH_TOKEN_MAX 32 /* WeChat's message check token: 3 to 32 letters and digits */

/* --push-token and --push-aes-key (43 characters): 0, or -1 for a malformed value. */
int push_set_token(const char *token);
int push_set_aes_key(const char *encoding_aes_key);

/* Answers {ticket, create_time, query, body}: what to POST to the event URL for ticket t of owner. */
void push_message(struct emu_reply *r, int owner, const struct plat_ticket *t);

/* The same envelope for any decrypted XML msg of owner's: adds query and body to o (taken) and answers it. */
void push_sealed(struct emu_reply *r, int owner, const char *msg, cJSON *o);

#endif
