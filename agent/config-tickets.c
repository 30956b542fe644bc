/* config-tickets.c: which tickets each kind of app may have, for itself (tickets) and for its accounts (authorizer_tickets, corp_tickets). */
#include <errno.h>

#include "config-parse.h"

/*
 * An account's token opens the ticket APIs its own kind does: an authorizer's, getticket's
 * jsapi and wx_card (as an Official Account's); a corp's, WeCom's jsapi and agent_config.
 */
static void account_tickets_check(struct parse *p, const struct app_config *a) {
        unsigned line_a = p->app_line[PK_AUTHORIZER_TICKETS], line_c = p->app_line[PK_CORP_TICKETS];

        if (line_a && a->kind != APP_KIND_COMPONENT)
                parse_fail(p, -EINVAL, line_a, "authorizer_tickets", "only for kind component (its authorized "
                           "accounts); %s", a->kind == APP_KIND_SUITE ? "a suite's corps take corp_tickets" :
                           "an app's own tickets are 'tickets'");
        else if (line_c && a->kind != APP_KIND_SUITE)
                parse_fail(p, -EINVAL, line_c, "corp_tickets", "only for kind suite (its corps); %s",
                           a->kind == APP_KIND_COMPONENT ? "a component's accounts take authorizer_tickets" :
                           "an app's own tickets are 'tickets'");
        else if (line_a && (a->account_tickets & TICKET_AGENT_CONFIG))
                parse_fail(p, -EINVAL, line_a, "authorizer_tickets", "agent_config is WeCom's: an authorizer "
                           "takes jsapi and wx_card");
        else if (line_c && (a->account_tickets & TICKET_WX_CARD))
                parse_fail(p, -EINVAL, line_c, "corp_tickets", "wx_card is not available for a WeCom corp: a "
                           "corp takes jsapi and agent_config");
}

void tickets_check(struct parse *p, const struct app_config *a) {
        if (a->kind == APP_KIND_WORK && (a->tickets & TICKET_WX_CARD))
                parse_fail(p, -EINVAL, p->app_line[PK_TICKETS], "tickets", "wx_card is not available for kind work");
        if (a->kind != APP_KIND_WORK && a->kind != APP_KIND_COMPONENT && (a->tickets & TICKET_AGENT_CONFIG))
                parse_fail(p, -EINVAL, p->app_line[PK_TICKETS], "tickets", "agent_config is WeCom's: only for kind work");
        /* A component_access_token opens no JS-SDK ticket API: its authorized accounts' tokens do. */
        if (a->kind == APP_KIND_COMPONENT && a->tickets)
                parse_fail(p, -EINVAL, p->app_line[PK_TICKETS], "tickets", "kind component has no tickets (jsapi, "
                           "wx_card): a component_access_token opens no ticket API; authorizer_tickets gives its accounts theirs");
        /* Nor do WeCom's suite_access_token and provider_access_token: a corp's token does. */
        if ((a->kind == APP_KIND_SUITE || a->kind == APP_KIND_PROVIDER) && a->tickets)
                parse_fail(p, -EINVAL, p->app_line[PK_TICKETS], "tickets", "kind %s has no tickets: a %s opens no "
                           "ticket API%s", app_kind_name(a->kind), a->kind == APP_KIND_SUITE ? "suite_access_token" :
                           "provider_access_token", a->kind == APP_KIND_SUITE ? "; corp_tickets gives its corps theirs" : "");
        account_tickets_check(p, a);
}
