/* app-authorizer-batch.c: group commit of a component's account adds and removes: one save (write, fsync, rename) for every change made before it runs, each client answered after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"
#include "log.h"
#include "protocol.h"
#include "state-file.h"

/*
 * One change, applied in memory and waiting for the save. Why a batch: every save
 * rewrites the whole file, so 10,000 adds one save each write O(n^2) bytes and fsync
 * 10,000 times; a save for all the adds that arrived meanwhile writes it once.
 */
struct authorizer_change {
        struct authorizer_change *next;
        enum authorizer_change_kind kind;
        struct authorizer *a;           /* removed: unlinked, its item still running until the save */
        struct authorizer_record old;   /* renewed: the record before, put back if the save fails */
        uint64_t changed_ms;            /* renewed: the version this change made (a later one is not undone) */
        struct authorizer_job *job;     /* the client waiting (NULL: none, or gone) */
        int64_t uid, pid;
};

static void answer(struct authorizer_change *c, char *line) {
        if (c->job)
                authorizer_answer(c->job, line);
        else
                free(line);
}

/* The save covered it: shared with the cluster, logged, the item told, the client answered. */
static void commit(struct app *app, struct authorizer_change *c) {
        struct authorizer *a = c->a;
        const char *name = app->cfg->name;
        char message[256], item_name[sizeof(a->item.name)], appid[sizeof(a->rec.appid)];

        a->change = NULL;
        snprintf(appid, sizeof(appid), "%s", a->rec.appid);
        if (c->kind == CHANGE_ADDED) {
                authorizer_share(app, &a->rec, false);
                log_app(LOG_NOTICE, a->item.name, 0, "authorizer added by uid %lld pid %lld", (long long)c->uid,
                        (long long)c->pid);
                snprintf(message, sizeof(message), "added: published as %s", a->item.name);
                answer(c, protocol_authorizer_ok("added", name, appid, message));
        } else if (c->kind == CHANGE_RENEWED) {
                authorizer_share(app, &a->rec, false);
                log_app(LOG_NOTICE, a->item.name, 0, "%s replaced by uid %lld pid %lld: calling now",
                        app->cfg->kind == APP_KIND_SUITE ? "permanent code" : "refresh token", (long long)c->uid,
                        (long long)c->pid);
                item_step(&a->item, &(struct core_event){ .type = CORE_EV_FETCH_NOW });
                snprintf(message, sizeof(message), "%s replaced: calling now",
                         app->cfg->kind == APP_KIND_SUITE ? "permanent code" : "refresh token");
                answer(c, protocol_authorizer_ok("updated", name, appid, message));
        } else {
                snprintf(item_name, sizeof(item_name), "%s", a->item.name);
                authorizer_bump(&a->rec);
                authorizer_share(app, &a->rec, true);
                authorizer_stop(a);
                /* Its token's state file: the token is dead to the agent now. */
                state_remove(app->svc->config->state_dir, item_name);
                log_app(LOG_NOTICE, item_name, 0, "authorizer removed by uid %lld pid %lld: segment removed",
                        (long long)c->uid, (long long)c->pid);
                answer(c, protocol_authorizer_ok("removed", name, appid, "removed: its segment is gone"));
        }
}

/* The save failed (r): the change undone, its client told; r 0: the component goes, nobody to tell. */
static void undo(struct app *app, struct authorizer_change *c, int r) {
        struct authorizer *a = c->a;
        char message[320];

        a->change = NULL;
        snprintf(message, sizeof(message), "cannot write %s.authorizers (%s): %s", app->cfg->name,
                 r ? state_strerror(r) : "the component goes", c->kind == CHANGE_ADDED ? "not added" :
                 c->kind == CHANGE_REMOVED ? "not removed" : "nothing changed");
        if (c->kind == CHANGE_ADDED) {
                authorizer_unlink(app, a);
                authorizer_stop(a);
        } else if (c->kind == CHANGE_RENEWED) {
                /* Only the version this change made: a refresh token WeChat rotated since is kept. */
                if (a->rec.changed_ms == c->changed_ms)
                        a->rec = c->old;
        } else {
                /* Fewer are linked than when it was unlinked: the index has room, this cannot fail. */
                authorizer_link(app, a);
        }
        answer(c, protocol_error(PROTO_E_AUTHORIZER_REFUSED, message, -1));
}

/* Take the batch off the component (new changes start a new one) and carry it out or undo it. */
static void settle(struct app *app, int r, bool going) {
        struct authorizer_change *c = app->batch;

        app->batch = NULL;
        app->batch_tail = &app->batch;
        while (c) {
                struct authorizer_change *next = c->next;

                if (going)
                        undo(app, c, 0);
                else if (r == 0)
                        commit(app, c);
                else
                        undo(app, c, r);
                explicit_bzero(c, sizeof(*c));
                free(c);
                c = next;
        }
}

void authorizers_flush(struct app *app) {
        if (app->batch)
                /* authorizers_save logs a failure itself. */
                settle(app, authorizers_save(app), false);
}

static int on_batch(sd_event_source *s, void *userdata) {
        authorizers_flush(userdata);
        return 0;
}

int authorizer_batch(struct app *app, enum authorizer_change_kind kind, struct authorizer *a,
                     const struct authorizer_record *old, int64_t uid, int64_t pid, app_reply_fn reply,
                     void *userdata, struct authorizer_job **job) {
        struct authorizer_change *c = calloc(1, sizeof(*c));
        int r = 0;

        *job = NULL;
        if (!c)
                return -ENOMEM;
        if (!app->batch_src) {
                /* Idle priority: every request already read runs first, so they share the save. */
                r = sd_event_add_defer(app->svc->loop, &app->batch_src, on_batch, app);
                if (r >= 0)
                        r = sd_event_source_set_priority(app->batch_src, SD_EVENT_PRIORITY_IDLE);
        }
        if (r >= 0)
                r = sd_event_source_set_enabled(app->batch_src, SD_EVENT_ONESHOT);
        if (r >= 0 && reply && !authorizer_wait(app, reply, userdata, &c->job))
                r = -ENOMEM;
        if (r < 0) {
                free(c);
                return r;
        }
        *c = (struct authorizer_change){ .kind = kind, .a = a, .changed_ms = a->rec.changed_ms, .job = c->job,
                                         .uid = uid, .pid = pid };
        if (c->job)
                *job = c->job;
        if (old)
                c->old = *old;
        a->change = c;
        if (!app->batch_tail)
                app->batch_tail = &app->batch;
        *app->batch_tail = c;
        app->batch_tail = &c->next;
        return 0;
}

bool authorizer_removal_batched(const struct app *app, const char *appid) {
        for (const struct authorizer_change *c = app->batch; c; c = c->next)
                if (c->kind == CHANGE_REMOVED && strcmp(c->a->rec.appid, appid) == 0)
                        return true;
        return false;
}

void authorizers_batch_abort(struct app *app) {
        settle(app, 0, true);
        app->batch_src = sd_event_source_disable_unref(app->batch_src);
}
