/* app-authorizer-cluster.c: cluster mode's side of a component's accounts: walking them, and taking the records other agents wrote (read by cluster-accounts.c). */
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "authorizer-file.h"
#include "log.h"
#include "protocol.h"
#include "state-file.h"

struct item *app_authorizer_next(const struct app *app, const struct item *prev) {
        const struct authorizer *a = prev ? prev->auth->next : app->authorizers;

        return a ? (struct item *)&a->item : NULL;
}

const struct authorizer_record *app_authorizer_record(const struct item *it) {
        return it->auth ? &it->auth->rec : NULL;
}

struct item *app_authorizer_ticket(const struct item *account, int i) {
        return account->auth && i >= 0 && i < account->auth->n_tickets ? &account->auth->tickets[i] : NULL;
}

int app_authorizer_take(struct app *app, const struct authorizer_record *rec, bool removed) {
        struct authorizer *a;
        bool new_token;
        int r;

        if (app->authorizers_refused_file)
                return 0;
        /* A client's add or remove of it waiting for its save is settled first: the newer record wins after it. */
        if (app->batch && (authorizer_removal_batched(app, rec->appid) ||
                           ((a = authorizer_find(app, rec->appid)) && a->change)))
                authorizers_flush(app);
        a = authorizer_find(app, rec->appid);
        if (a && rec->changed_ms <= a->rec.changed_ms)
                return 0;
        if (removed) {
                if (!a)
                        return 0;
                authorizer_unlink(app, a);
                log_app(LOG_NOTICE, a->item.name, 0, "cluster: authorizer removed on another agent: segment removed");
                state_remove(app->svc->config->state_dir, a->item.name);
                authorizer_stop(a);
                return 1;
        }
        if (!a) {
                if (authorizers_count(app) >= PROTOCOL_AUTHORIZERS_MAX)
                        return 0;
                r = authorizer_start(app, rec, true, &a);
                if (r < 0) {
                        log_app(LOG_ERR, app->cfg->name, 0, "cluster: authorizer %s could not start: %s", rec->appid,
                                strerror(-r));
                        return 0;
                }
                log_app(LOG_INFO, a->item.name, 0, "cluster: authorizer added on another agent");
                return 1;
        }
        /*
         * Authorized again elsewhere: a refused account calls again (the holder; others
         * mirror). A newer refresh token alone (a rotation another holder saw) is no reason
         * to call: the token published is still good.
         */
        new_token = a->rec.refused && !rec->refused && strcmp(a->rec.refresh_token, rec->refresh_token) != 0;
        a->rec = *rec;
        if (new_token)
                item_step(&a->item, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
        return 1;
}

int app_authorizers_save(struct app *app) {
        return authorizers_save(app);
}
