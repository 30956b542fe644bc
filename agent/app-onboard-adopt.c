/* app-onboard-adopt.c: what api_query_auth's answer does: the account added or authorized again, its refresh token kept and shared, the token that came with it published (or left to the lease holder). */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "clock.h"
#include "log.h"
#include "protocol.h"
#include "services.h"
#include "state-file.h"
#include "upstream.h"

/*
 * Onboarding (api_query_auth answered): the refresh token on the disk first, then the
 * token WeChat handed out with it published as it is, with no api_authorizer_token call.
 * A new account's token goes through its state file, so its item starts adopting it.
 */
char *authorizer_onboard(struct app *app, const char *appid, const char *refresh_token,
                         const struct upstream_result *tok, int64_t uid, int64_t pid) {
        const char *dir = app->svc->config->state_dir, *name = app->cfg->name;
        struct authorizer_record rec = { 0 };
        struct authorizer *a = authorizer_find(app, appid);
        int64_t now = clock_wall_ms();
        struct state_record st = { .generation = 1, .fetched_at_ms = now, .expires_at_ms = now + tok->expires_in_s * 1000,
                                   .token_len = tok->value_len };
        char message[384], item_name[sizeof(a->item.name)];
        int r;

        if (app->authorizers_refused_file)
                return authorizer_refuse("%s/%s.authorizers was refused at start: not added", dir, name);
        /* A client's add or remove waiting for its save is settled first: one change per account in a batch. */
        if (app->batch) {
                authorizers_flush(app);
                a = authorizer_find(app, appid);
        }
        if (a) {
                bool idle = !a->item.call;

                r = authorizer_renew(app, a, refresh_token);
                if (r < 0)
                        return authorizer_refuse("cannot write %s.authorizers (%s): nothing changed", name, state_strerror(r));
                if (authorizer_holder_publishes(app)) {
                        log_app(LOG_NOTICE, a->item.name, 0, "authorized again (auth_code put by uid %lld pid %lld): "
                                "refresh token replaced and shared; the lease holder publishes its tokens",
                                (long long)uid, (long long)pid);
                        return protocol_authorizer_ok("updated", name, appid, "authorized again: refresh token "
                                                      "replaced; the lease holder publishes its tokens");
                }
                /* A call under way would publish after this: it makes the next generation instead. */
                if (!idle || !item_mirror(&a->item, tok->value, tok->value_len, a->item.core.generation + 1,
                                          st.expires_at_ms, now))
                        item_step(&a->item, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
                log_app(LOG_NOTICE, a->item.name, 0, "authorized again (auth_code put by uid %lld pid %lld): refresh "
                        "token replaced", (long long)uid, (long long)pid);
                return protocol_authorizer_ok("updated", name, appid, "authorized again: refresh token replaced, "
                                              "token published");
        }
        if (authorizers_count(app) >= PROTOCOL_AUTHORIZERS_MAX)
                return authorizer_refuse("%s holds " PROTOCOL_STR(PROTOCOL_AUTHORIZERS_MAX) " authorizers already%s", name, "");
        if (snprintf(item_name, sizeof(item_name), "%s.%s", name, appid) >= (int)sizeof(item_name))
                return authorizer_refuse("%s.%s: the name is too long for a segment", name, appid);
        memcpy(st.token, tok->value, tok->value_len);
        r = authorizer_holder_publishes(app) ? 0 : state_save(dir, item_name, app->cfg->appid, &st);
        explicit_bzero(&st, sizeof(st));
        if (r < 0)
                return authorizer_refuse("cannot write the state file of %s (%s): not added", item_name, state_strerror(r));
        memcpy(rec.appid, appid, strnlen(appid, sizeof(rec.appid) - 1));
        snprintf(rec.refresh_token, sizeof(rec.refresh_token), "%s", refresh_token);
        authorizer_bump(&rec);
        /* Not the holder: it starts as one taken from Redis does, mirroring what the holder publishes. */
        r = authorizer_start(app, &rec, authorizer_holder_publishes(app), &a);
        explicit_bzero(&rec, sizeof(rec));
        if (r < 0) {
                state_remove(dir, item_name);
                return authorizer_refuse("authorizer %s could not start: %s", appid, strerror(-r));
        }
        r = authorizers_save(app);
        if (r < 0) {
                authorizer_unlink(app, a);
                authorizer_stop(a);
                state_remove(dir, item_name);
                return authorizer_refuse("cannot write %s.authorizers (%s): not added", name, state_strerror(r));
        }
        authorizer_share(app, &a->rec, false);
        if (authorizer_holder_publishes(app)) {
                log_app(LOG_NOTICE, item_name, 0, "authorizer onboarded (auth_code put by uid %lld pid %lld): refresh "
                        "token saved and shared; the lease holder (%s) fetches and publishes its token", (long long)uid,
                        (long long)pid, app->lease_holder[0] ? app->lease_holder : "unknown yet");
                snprintf(message, sizeof(message), "added: published as %s once the lease holder (%s) has fetched its "
                         "token", item_name, app->lease_holder[0] ? app->lease_holder : "unknown yet");
                return protocol_authorizer_ok("added", name, appid, message);
        }
        log_app(LOG_NOTICE, item_name, 0, "authorizer onboarded (auth_code put by uid %lld pid %lld): token from "
                "api_query_auth published, refresh token saved", (long long)uid, (long long)pid);
        snprintf(message, sizeof(message), "added: published as %s", item_name);
        return protocol_authorizer_ok("added", name, appid, message);
}
