/* app-component.c: a platform's pushed ticket (a component's component_verify_ticket, a suite's suite_ticket): the intake (the ticket op), its file, the ticket a call uses, the fallback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "clock.h"
#include "log.h"
#include "protocol.h"
#include "state-file.h"
#include "ticket-alarm.h"
#include "ticket-file.h"

/*
 * What differs between the two: WeChat pushes a component_verify_ticket every 10 minutes,
 * valid 12 hours from its create time, refused with 61005 (expired) or 61006 (invalid);
 * WeCom pushes a suite_ticket every 10 minutes, valid 30 minutes from its TimeStamp,
 * refused with 40085 (WeCom's one code for an invalid or expired suite_ticket).
 */
struct ticket_kind {
        int64_t valid_s;
        const char *valid_text;         /* the lifetime, for messages */
        const char *name;               /* the ticket's name in WeChat's or WeCom's API */
        long errcode_expired, errcode_invalid;
};

static const struct ticket_kind component_tickets = { 12 * 3600, "12 h", "component_verify_ticket", 61005, 61006 };
static const struct ticket_kind suite_tickets = { 30 * 60, "30 min", "suite_ticket", 40085, 40085 };

static const struct ticket_kind *kind_of(const struct app *app) {
        return app->cfg->kind == APP_KIND_SUITE ? &suite_tickets : &component_tickets;
}

/* Whether errcode says the ticket used was refused: then a newer or the previous good one may do. */
static bool ticket_refused_code(const struct app *app, long errcode) {
        return errcode == kind_of(app)->errcode_expired || errcode == kind_of(app)->errcode_invalid;
}

struct component {
        struct ticket_store store;
        struct verify_ticket calling;   /* the ticket the call made last uses (a put may replace newest meanwhile) */
        char note[320];                 /* what the intake last said, for status */
        int64_t put_wake_at_ms;         /* a put may wake a ticket-refused item again from then (0: now) */
        int64_t put_wake_step_ms;       /* the backoff step after the next put's wake (0: backoff_min) */
        bool alarmed;                   /* the ticket alarm was on at the last check: logged once per start and end */
};

/* A ticket in a log line or a reply: its tail and length, never the whole (like a token). */
static const char *ticket_shown(const char *t, char buf[static 32]) {
        size_t n = strlen(t);

        snprintf(buf, 32, "...%s (%zu bytes)", n > 4 ? t + n - 4 : "", n);
        return buf;
}

static bool ticket_is(const struct verify_ticket *t) {
        return t->value[0] != '\0';
}

/* The previous good ticket may stand in for a refused newest one: another, still inside its lifetime. */
static bool previous_usable(const struct app *app, const struct component *c, int64_t now_s) {
        const struct ticket_store *st = &c->store;

        return st->newest_refused && ticket_is(&st->good) && !st->good_refused &&
               strcmp(st->good.value, st->newest.value) != 0 && now_s - st->good.create_time_s < kind_of(app)->valid_s;
}

/*
 * The ticket the next call would use, if any: the previous good one standing in for a
 * refused newest, else the newest unless it is refused or past its lifetime. Its create
 * time in *create_time_s.
 */
static bool usable(const struct app *app, const struct component *c, int64_t now_s, int64_t *create_time_s) {
        const struct ticket_store *st = &c->store;

        if (previous_usable(app, c, now_s)) {
                *create_time_s = st->good.create_time_s;
                return true;
        }
        *create_time_s = st->newest.create_time_s;
        return ticket_is(&st->newest) && !st->newest_refused && st->newest.create_time_s >= now_s - kind_of(app)->valid_s;
}

static void save(struct app *app) {
        const struct agent_config *cfg = app->svc->config;
        int r = ticket_file_save(cfg->state_dir, app->cfg->name, app->cfg->appid, &app->component->store);

        if (r < 0)
                log_app(LOG_WARNING, app->cfg->name, 0, "cannot write %s/%s.verify_ticket: %s; the ticket is used, but "
                        "a restart waits for the next push", cfg->state_dir, app->cfg->name, strerror(-r));
}

/*
 * The file is the agent's, but what it holds came from a put and may have been edited
 * since: the same checks as the op (printable, bounded, not past the skew into the
 * future), or a ticket WeChat cannot have made would be sent, and one dated far ahead
 * would make every real put "older". -EBADMSG, saying which, in why.
 */
static int store_check(const struct ticket_store *st, int64_t now_s, const char **why) {
        const struct verify_ticket *t[2] = { &st->newest, &st->good };

        for (int i = 0; i < 2; i++) {
                if (!ticket_is(t[i]))
                        continue;
                if (!protocol_ticket_text_ok(t[i]->value)) {
                        *why = i == 0 ? "the newest ticket is not printable ASCII" : "the good ticket is not printable ASCII";
                        return -EBADMSG;
                }
                if (t[i]->create_time_s > now_s + PROTOCOL_TICKET_SKEW_S) {
                        *why = i == 0 ? "the newest ticket's create_time is past the clock skew into the future" :
                                        "the good ticket's create_time is past the clock skew into the future";
                        return -EBADMSG;
                }
        }
        return 0;
}

/*
 * The file's newest ticket past its lifetime (the agent was stopped long) is as good as
 * none: no call is made with it. An old good one may stay: previous_usable() never picks it.
 */
static void drop_expired(struct app *app, struct ticket_store *st, int64_t now_s) {
        if (!ticket_is(&st->newest) || st->newest.create_time_s >= now_s - kind_of(app)->valid_s)
                return;
        log_app(LOG_NOTICE, app->cfg->name, 0, "the ticket in %s.verify_ticket is past its %s (create time %lld): "
                "waiting for the next push", app->cfg->name, kind_of(app)->valid_text,
                (long long)st->newest.create_time_s);
        memset(&st->newest, 0, sizeof(st->newest));
        st->newest_refused = false;
}

int app_component_init(struct app *app) {
        const struct agent_config *cfg = app->svc->config;
        const char *why = NULL;
        char shown[32];
        int r;

        if (!app_kind_platform(app->cfg->kind))
                return 0;
        app->component = calloc(1, sizeof(*app->component));
        if (!app->component)
                return -ENOMEM;
        r = ticket_file_load(cfg->state_dir, app->cfg->name, app->cfg->appid, &app->component->store);
        if (r == 0 && store_check(&app->component->store, clock_wall_ms() / 1000, &why) < 0) {
                log_app(LOG_WARNING, app->cfg->name, 0, "%s/%s.verify_ticket refused: %s; waiting for the next "
                        "push", cfg->state_dir, app->cfg->name, why);
                r = -EBADMSG;
        } else if (r == 0 && ticket_is(&app->component->store.newest))
                log_app(LOG_INFO, app->cfg->name, 0, "%s %s of create time %lld read from state_dir",
                        kind_of(app)->name, ticket_shown(app->component->store.newest.value, shown),
                        (long long)app->component->store.newest.create_time_s);
        else if (r < 0 && r != -ENOENT)
                log_app(LOG_WARNING, app->cfg->name, 0, "%s/%s.verify_ticket refused: %s; waiting for the next push",
                        cfg->state_dir, app->cfg->name, r == -EXDEV ? "it is another component_appid's"
                                                       : state_strerror(r));
        if (r < 0)
                memset(&app->component->store, 0, sizeof(app->component->store));
        else
                drop_expired(app, &app->component->store, clock_wall_ms() / 1000);
        return 0;
}

void app_component_free(struct app *app) {
        free(app->component);
        app->component = NULL;
}

/*
 * A newest ticket past its lifetime is as good as none (a suite_ticket's 30 minutes pass
 * quickly when pushes stop): calling with it would only spend a call to hear 40085/61005.
 */
bool app_component_ticket_missing(const struct app *app) {
        const struct component *c = app->component;

        return app_kind_platform(app->cfg->kind) &&
               (!c || !ticket_is(&c->store.newest) ||
                c->store.newest.create_time_s < clock_wall_ms() / 1000 - kind_of(app)->valid_s);
}

const char *app_component_ticket(struct app *app) {
        struct component *c = app->component;

        if (!c || !ticket_is(&c->store.newest))
                return NULL;
        c->calling = previous_usable(app, c, clock_wall_ms() / 1000) ? c->store.good : c->store.newest;
        return c->calling.value;
}

const char *app_component_newest(const struct app *app) {
        return app->component && ticket_is(&app->component->store.newest) ? app->component->store.newest.value : NULL;
}

bool app_component_answered(struct item *it, long errcode) {
        struct app *app = it->app;
        struct component *c = app->component;
        struct ticket_store *st;
        struct verify_ticket *used;
        char shown[32];

        if (!c || it->ticket || it->auth) /* an authorizer's call uses no verify ticket */
                return false;
        st = &c->store;
        used = &c->calling;
        if (!ticket_is(used))
                return false;
        if (errcode == 0) {
                bool changed = strcmp(st->good.value, used->value) != 0 || st->good_refused;

                st->good = *used;
                st->good_refused = false;
                c->put_wake_at_ms = c->put_wake_step_ms = 0;
                if (changed)
                        save(app);
                return false;
        }
        if (!ticket_refused_code(app, errcode))
                return false;
        /*
         * A newer ticket was put while the call was under way (its put could not wake an item
         * in flight): try it now rather than after a backoff step. The one used is refused, but
         * nothing is said of the newest, which WeChat has not seen yet.
         */
        if (strcmp(used->value, st->newest.value) != 0 && !st->newest_refused) {
                if (strcmp(used->value, st->good.value) == 0) {
                        st->good_refused = true;
                        save(app);
                }
                log_app(LOG_NOTICE, app->cfg->name, errcode, "the ticket of create time %lld was refused (errcode "
                        "%ld) while a newer one was put: calling again at once with the newer one",
                        (long long)used->create_time_s, errcode);
                return true;
        }
        if (strcmp(used->value, st->good.value) != 0 && strcmp(used->value, st->newest.value) != 0)
                return false;
        if (strcmp(used->value, st->newest.value) != 0) {
                st->good_refused = true;
                snprintf(c->note, sizeof(c->note), "the previous ticket was refused too (errcode %ld): waiting for "
                         "a new push", errcode);
                log_app(LOG_WARNING, app->cfg->name, errcode, "%s", c->note);
                save(app);
                return false;
        }
        st->newest_refused = true;
        save(app);
        if (!previous_usable(app, c, clock_wall_ms() / 1000)) {
                snprintf(c->note, sizeof(c->note), "the newest ticket was refused (errcode %ld) and no previous good "
                         "one is within %s: waiting for a new push", errcode, kind_of(app)->valid_text);
                return false;
        }
        snprintf(c->note, sizeof(c->note), "the newest ticket (create time %lld) was refused (errcode %ld): falling "
                 "back to the previous good ticket %s of create time %lld", (long long)st->newest.create_time_s,
                 errcode, ticket_shown(st->good.value, shown), (long long)st->good.create_time_s);
        log_app(LOG_WARNING, app->cfg->name, errcode, "%s", c->note);
        return true;
}

/*
 * After 61005/61006 a put wakes the item at most once per backoff step (backoff_min,
 * doubling to backoff_max, reset by a token): anyone who may put can put garbage with
 * rising create times, and one call per put would spend api_component_token's daily quota
 * (2,000) in half an hour at a put a second. A real push comes every 10 minutes, so the
 * step delays a good ticket by backoff_max at most; the item's own retry timer still
 * runs, and uses the newest ticket.
 */
static bool put_may_wake(const struct app *app, struct component *c, int64_t now_ms) {
        const struct agent_config *cfg = app->svc->config;
        int64_t step = c->put_wake_step_ms > 0 ? c->put_wake_step_ms : cfg->backoff_min_ms;

        if (now_ms < c->put_wake_at_ms)
                return false;
        c->put_wake_at_ms = now_ms + step;
        c->put_wake_step_ms = step * 2 < cfg->backoff_max_ms ? step * 2 : cfg->backoff_max_ms;
        return true;
}

char *app_component_put(struct item *it, const char *ticket, int64_t create_time_s, int64_t uid, int64_t pid) {
        struct app *app = it->app;
        struct component *c = app->component;
        struct ticket_store *st;
        int64_t now_ms = clock_wall_ms(), now_s = now_ms / 1000;
        char message[320], shown[32];
        bool wake;

        if (it->ticket || it->auth || !c) {
                snprintf(message, sizeof(message), "%s is not a component or suite (kind %s): tickets are put only "
                         "for kind component (component_verify_ticket) and suite (suite_ticket)", it->name,
                         it->ticket || it->auth ? "ticket" : app_kind_name(app->cfg->kind));
                return protocol_error(PROTO_E_TICKET_REFUSED, message, -1);
        }
        st = &c->store;
        if (create_time_s > now_s + PROTOCOL_TICKET_SKEW_S) {
                snprintf(message, sizeof(message), "create_time %lld is %lld s in the future (more than %d s of clock "
                         "skew): refused; check the forwarder passes the push's CreateTime and this host's clock",
                         (long long)create_time_s, (long long)(create_time_s - now_s), PROTOCOL_TICKET_SKEW_S);
                log_app(LOG_WARNING, it->name, 0, "ticket put by uid %lld pid %lld refused: %s", (long long)uid,
                        (long long)pid, message);
                return protocol_error(PROTO_E_TICKET_REFUSED, message, -1);
        }
        /* Past its lifetime WeChat answers only 61005 (WeCom 40085): taking it would spend a call to learn that. */
        if (create_time_s < now_s - kind_of(app)->valid_s) {
                snprintf(message, sizeof(message), "create_time %lld is %lld s ago: a %s is valid %s from its "
                         "create time, so it would be refused (%ld); refused; check the forwarder passes the "
                         "push's create time", (long long)create_time_s, (long long)(now_s - create_time_s),
                         kind_of(app)->name, kind_of(app)->valid_text, kind_of(app)->errcode_expired);
                log_app(LOG_WARNING, it->name, 0, "ticket put by uid %lld pid %lld refused: %s", (long long)uid,
                        (long long)pid, message);
                return protocol_error(PROTO_E_TICKET_REFUSED, message, -1);
        }
        /* Pushes may arrive out of order: never go back to an older ticket. */
        /* A held ticket dated past the skew (a clock set back since) would block every real push: not held. */
        if (ticket_is(&st->newest) && create_time_s <= st->newest.create_time_s &&
            st->newest.create_time_s <= now_s + PROTOCOL_TICKET_SKEW_S) {
                bool same = strcmp(ticket, st->newest.value) == 0;

                snprintf(message, sizeof(message), "%s: create_time %lld is not newer than the ticket held (create "
                         "time %lld): ignored", same ? "the same ticket again" : "an older ticket",
                         (long long)create_time_s, (long long)st->newest.create_time_s);
                if (!same)
                        log_app(LOG_INFO, it->name, 0, "ticket put by uid %lld pid %lld: %s", (long long)uid,
                                (long long)pid, message);
                return protocol_ticket_ok(false, st->newest.create_time_s, message);
        }
        snprintf(st->newest.value, sizeof(st->newest.value), "%s", ticket);
        st->newest.create_time_s = create_time_s;
        st->newest.received_at_ms = now_ms;
        st->newest_refused = false;
        save(app);
        /* Cluster mode: the ticket reaches the lease holder through Redis, sealed (cluster-accounts.c). */
        if (app->svc->ops->ticket_changed)
                app->svc->ops->ticket_changed(app->svc->userdata, app, ticket, create_time_s);
        c->note[0] = '\0';
        /* The call waits for nothing else: no token yet, or the last call failed on the ticket. */
        wake = it->core.generation == 0 || it->core.awaiting_ticket;
        if (!wake && ticket_refused_code(app, it->core.errcode))
                wake = put_may_wake(app, c, now_ms);
        log_app(wake ? LOG_NOTICE : LOG_INFO, it->name, 0, "%s %s of create time %lld put by uid %lld pid %lld%s",
                kind_of(app)->name, ticket_shown(ticket, shown), (long long)create_time_s, (long long)uid,
                (long long)pid, wake ? ": calling now" : "");
        if (wake)
                item_step(it, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
        app_component_alarm_check(app, now_ms);
        snprintf(message, sizeof(message), "%s", wake ? "taken: calling now" :
                 ticket_refused_code(app, it->core.errcode) ?
                 "taken: used at the next retry (after a refused ticket a put calls at most once per backoff step)" :
                 "taken: used at the next refresh");
        return protocol_ticket_ok(true, create_time_s, message);
}

bool app_component_alarm(const struct app *app, int64_t now_ms, bool *has_usable, int64_t *usable_age_s) {
        int64_t create = 0;
        bool ok;

        *has_usable = false;
        *usable_age_s = 0;
        if (!app->component)
                return false;
        ok = usable(app, app->component, now_ms / 1000, &create);
        *has_usable = ok;
        *usable_age_s = ok ? ticket_age_s(create, now_ms / 1000) : 0;
        return ticket_alarm(ok, create, now_ms / 1000, ticket_alarm_after_s(app->cfg->kind));
}

/*
 * Said once when the alarm starts and once when it ends, not at every check: a warning
 * that repeats every 5 s is one operators learn to filter out. Called at each heartbeat
 * and after a put (so the end is said when the fresh ticket comes).
 */
void app_component_alarm_check(struct app *app, int64_t now_ms) {
        struct component *c = app->component;
        int64_t age;
        bool has, on;

        if (!c)
                return;
        on = app_component_alarm(app, now_ms, &has, &age);
        if (on == c->alarmed)
                return;
        c->alarmed = on;
        if (on && has)
                log_app(LOG_WARNING, app->cfg->name, 0, "ticket alarm: the %s calls use is %lld s old (alarm at %lld s, "
                        "valid %s): WeChat's pushes (every 10 minutes) do not reach the agent; check the callback "
                        "handler and its `wxtokenctl ticket put`", kind_of(app)->name, (long long)age,
                        (long long)ticket_alarm_after_s(app->cfg->kind), kind_of(app)->valid_text);
        else if (on)
                log_app(LOG_WARNING, app->cfg->name, 0, "ticket alarm: no usable %s (none put, past its %s, or "
                        "refused): no token can be minted once this one expires; check the callback handler and its "
                        "`wxtokenctl ticket put`", kind_of(app)->name, kind_of(app)->valid_text);
        else
                log_app(LOG_NOTICE, app->cfg->name, 0, "ticket alarm over: the %s calls use is %lld s old",
                        kind_of(app)->name, (long long)age);
}

void app_component_status(const struct app *app, struct status_component *out, int64_t now_ms) {
        const struct component *c = app->component;
        const struct ticket_store *st;

        memset(out, 0, sizeof(*out));
        if (!c)
                return;
        st = &c->store;
        out->has_ticket = ticket_is(&st->newest);
        out->create_time_s = st->newest.create_time_s;
        /* A create time up to the skew ahead of this clock is taken: its age is 0, not negative. */
        out->age_s = out->has_ticket && now_ms / 1000 > st->newest.create_time_s ?
                     now_ms / 1000 - st->newest.create_time_s : 0;
        out->received_at_ms = st->newest.received_at_ms;
        out->previous = previous_usable(app, c, now_ms / 1000);
        out->previous_create_time_s = out->previous ? st->good.create_time_s : 0;
        /* A refused newest with no previous to stand in is a wait for the next push, as no ticket is. */
        out->waiting = app->token.core.awaiting_ticket || !out->has_ticket || (st->newest_refused && !out->previous);
        out->note = c->note;
        out->alarm = app_component_alarm(app, now_ms, &out->has_usable, &out->usable_age_s);
        out->alarm_after_s = ticket_alarm_after_s(app->cfg->kind);
        app_authorizers_count(app, &out->authorizers, &out->authorizers_refused, &out->authorizers_failing);
        out->authorizers_revoked = app->authorizers_revoked;
        app_account_tickets_count(app, &out->account_tickets, &out->account_tickets_failing);
}
