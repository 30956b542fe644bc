/* app-account-tickets.c: the JS-SDK tickets of a platform's accounts (authorizer_tickets, corp_tickets): items "COMPONENT.APPID.jsapi" fetched with the account's token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "log.h"
#include "state-file.h"

/*
 * An authorizer's access token opens /cgi-bin/ticket/getticket (jsapi, wx_card) as an
 * Official Account's does; a corp's opens WeCom's get_jsapi_ticket and ticket/get
 * (agent_config) as a work app's does. Each ticket is an item of its own, like an app's:
 * its segment, schedule, forced refreshes, state file; it waits for the account's token
 * (item_token_source) as an app's ticket waits for the app's.
 */
static const enum ticket_type types[] = { TICKET_JSAPI, TICKET_WX_CARD, TICKET_AGENT_CONFIG };

void account_tickets_start(struct app *app, struct authorizer *a, bool fresh) {
        unsigned want = app->cfg->account_tickets;
        int size = __builtin_popcount(want);

        if (size == 0)
                return;
        a->tickets = calloc((size_t)size, sizeof(*a->tickets));
        if (!a->tickets) {
                log_app(LOG_ERR, a->item.name, 0, "out of memory for the account's tickets: not started");
                return;
        }
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                struct item *t = &a->tickets[a->n_tickets];
                int r = -ENAMETOOLONG;

                if (!(want & types[i]))
                        continue;
                t->owner = &a->item;
                /* The account's name fits (its add checked it); the type's suffix may not: then no ticket. */
                if (snprintf(t->name, sizeof(t->name), "%s.%s", a->item.name, ticket_type_name(types[i])) <
                    (int)sizeof(t->name))
                        r = item_init(t, app, types[i], fresh);
                if (r == 0) {
                        a->n_tickets++;
                        continue;
                }
                log_app(LOG_ERR, a->item.name, 0, "its %s ticket could not start: %s; the account's token still "
                        "serves (the ticket starts with the account again: restart, or add it again)",
                        ticket_type_name(types[i]), strerror(-r));
                item_free(t, false);
                memset(t, 0, sizeof(*t));
        }
}

enum app_kind item_ticket_kind(const struct item *it) {
        if (!it->owner)
                return it->app->cfg->kind;
        return it->app->cfg->kind == APP_KIND_SUITE ? APP_KIND_WORK : APP_KIND_TOKEN;
}

bool item_ticket_ready(const struct item *it) {
        const struct item *token = item_token_source(it);

        return token->value_len > 0 && !app_authorizer_refused(token);
}

int item_ticket_request(const struct item *it, const char *base, struct upstream_request *req) {
        return upstream_ticket_request(item_ticket_kind(it), base, item_value(item_token_source(it)), it->ticket, req);
}

void account_tickets_stop(struct authorizer *a, bool retire) {
        for (int i = 0; i < a->n_tickets; i++) {
                struct item *t = &a->tickets[i];

                item_free(t, retire);
                /* Gone with the account: a ticket of a token no longer held is not adopted again. */
                if (retire)
                        state_remove(t->app->svc->config->state_dir, t->name);
        }
        free(a->tickets);
        a->tickets = NULL;
        a->n_tickets = 0;
}

void app_account_tickets_heartbeat(struct app *app, int64_t now_ms) {
        for (struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it))
                for (int i = 0; i < it->auth->n_tickets; i++)
                        wxshm_writer_heartbeat(it->auth->tickets[i].seg, now_ms);
}

void app_account_tickets_stopping(struct app *app) {
        for (struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it))
                for (int i = 0; i < it->auth->n_tickets; i++)
                        item_step(&it->auth->tickets[i], &(struct core_event){ .type = CORE_EV_STOPPED });
}

void app_account_tickets_count(const struct app *app, unsigned *total, unsigned *failing) {
        *total = *failing = 0;
        for (const struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it))
                for (int i = 0; i < it->auth->n_tickets; i++) {
                        (*total)++;
                        *failing += it->auth->tickets[i].core.failure != FAILURE_NONE;
                }
}

/* "COMPONENT.APPID.TYPE": the account by its appid (authorizer_find), then its ticket by the full name. */
struct item *app_account_ticket_find(struct app *app, const char *name) {
        size_t n = strlen(app->cfg->name);
        const char *appid = name + n + 1, *dot;
        char id[PROTOCOL_AUTHORIZER_APPID_MAX + 1];
        struct authorizer *a;

        if (!app->cfg->account_tickets || strncmp(name, app->cfg->name, n) != 0 || name[n] != '.' ||
            !(dot = strchr(appid, '.')) || (size_t)(dot - appid) >= sizeof(id))
                return NULL;
        memcpy(id, appid, (size_t)(dot - appid));
        id[dot - appid] = '\0';
        a = authorizer_find(app, id);
        for (int i = 0; a && i < a->n_tickets; i++)
                if (strcmp(a->tickets[i].name, name) == 0)
                        return &a->tickets[i];
        return NULL;
}

void app_account_tickets_poke(struct item *account) {
        for (int i = 0; account->auth && i < account->auth->n_tickets; i++)
                item_step(&account->auth->tickets[i], &(struct core_event){ .type = CORE_EV_FETCH_NOW });
}
