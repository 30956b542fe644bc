/* emu-control.c: the /emu/ endpoints tests use to steer and inspect the emulator. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu-control.h"
#include "emu-faults.h"
#include "emu-plat.h"
#include "emu-state.h"
#include "emu-stats.h"

void control_fail(struct emu_reply *r, int status, const char *why)
{
        cJSON *o = cJSON_CreateObject();

        cJSON_AddBoolToObject(o, "ok", false);
        cJSON_AddStringToObject(o, "error", why);
        reply_json(r, status, o);
}

cJSON *control_ok(void)
{
        cJSON *o = cJSON_CreateObject();

        cJSON_AddBoolToObject(o, "ok", true);
        return o;
}

static int parse_int64(const char *s, int64_t *out)
{
        char *end;
        long long v;

        if (!s)
                return -ENOENT;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return -EINVAL;
        *out = v;
        return 0;
}

/* Lock held. Resolves ?app=; -1 means "every app", -2 an unknown id (already answered). */
static int control_app(const struct emu_request *q, struct emu_reply *r)
{
        const char *id = req_arg(q, "app");
        int app;

        if (!id)
                return -1;
        app = emu_app_find_id(id, strlen(id));
        if (app < 0)
                control_fail(r, 404, "no such app");
        return app < 0 ? -2 : app;
}

static void control_fault(const struct emu_request *q, struct emu_reply *r, int app)
{
        const char *on = req_arg(q, "on");
        int kind = fault_parse(req_arg(q, "kind"));
        int64_t count = -1, ms = 1000, errcode = -1, echo = 0, expires = 7200;
        int scope = FAULT_TOKENS;
        struct fault_args args;

        if (on && !strcmp(on, "tickets"))
                scope = FAULT_TICKETS;
        else if (on && !strcmp(on, "all"))
                scope = FAULT_TOKENS | FAULT_TICKETS;
        else if (on && strcmp(on, "tokens"))
                scope = 0;
        if (kind < 0)
                control_fail(r, 400, "kind must be busy, http500, garbage, hang, slow, "
                             "refuse, errcode, expires or none");
        else if (parse_int64(req_arg(q, "errcode"), &errcode) == -EINVAL || errcode < INT32_MIN ||
                 errcode > INT32_MAX || parse_int64(req_arg(q, "echo"), &echo) == -EINVAL || echo < 0 ||
                 echo > 1024 * 1024 || parse_int64(req_arg(q, "expires_in"), &expires) == -EINVAL)
                control_fail(r, 400, "errcode must be a 32-bit integer, echo in 0..1048576, expires_in an integer");
        else if (parse_int64(req_arg(q, "count"), &count) == -EINVAL || count == 0 ||
                 parse_int64(req_arg(q, "ms"), &ms) == -EINVAL || ms < 0 || ms > 3600000)
                control_fail(r, 400, "count must be > 0, ms in 0..3600000");
        else if (!scope)
                control_fail(r, 400, "on must be tokens, tickets or all");
        else {
                args = (struct fault_args){ .errcode = (int)errcode, .errmsg = req_arg(q, "errmsg"),
                                            .echo_len = echo, .expires_in = expires };
                fault_set(app, (enum fault_kind)kind, count, (int)ms, scope, &args);
                reply_json(r, 200, control_ok());
        }
}

/* An outside rotation: another server fetched, so our current token enters its overlap. */
static void control_rotate(struct emu_reply *r, int app)
{
        cJSON *o = control_ok();
        cJSON *apps = cJSON_AddObjectToObject(o, "apps");

        for (int i = 0; i < emu_napps; i++) {
                struct emu_app *a = &emu_apps[i];
                struct emu_token *t;
                cJSON *e;

                /* Without ?app=, the configured apps and corps only: not thousands of
                 * platform accounts nobody asked about. */
                if (app >= 0 ? i != app : a->type != EMU_OFFICIAL && a->type != EMU_CORP)
                        continue;
                e = cJSON_AddObjectToObject(apps, a->id);
                t = emu_token_issue(i, emu_type_kind(a->type));
                if (t)
                        cJSON_AddStringToObject(e, "access_token", t->text);
                if (a->type == EMU_OFFICIAL && a->slots[KIND_STABLE].gen &&
                    (t = emu_token_issue(i, KIND_STABLE)))
                        cJSON_AddStringToObject(e, "stable_token", t->text);
        }
        reply_json(r, 200, o);
}

static void control_each(int app, void (*fn)(struct emu_app *a, int i))
{
        for (int i = 0; i < emu_napps; i++)
                if (app < 0 || i == app)
                        fn(&emu_apps[i], i);
}

static void expire_one(struct emu_app *a, int i)
{
        (void)a;
        emu_app_expire(i);
}

static void quota_one(struct emu_app *a, int i)
{
        (void)i;
        a->used_token = a->used_stable = a->used_force = 0;
        a->last_force_ms = INT64_MIN;
        a->hour_jsapi = a->hour_agent = (struct emu_hour){ 0 };
}

static void control_advance(const struct emu_request *q, struct emu_reply *r)
{
        int64_t v;

        if (!parse_int64(req_arg(q, "ms"), &v) && v >= 0)
                emu_clock_advance(v);
        else if (!parse_int64(req_arg(q, "s"), &v) && v >= 0 && v < INT64_MAX / 1000)
                emu_clock_advance(v * 1000);
        else {
                control_fail(r, 400, "need s= or ms= >= 0");
                return;
        }
        reply_json(r, 200, control_ok());
}

void control_dispatch(const struct emu_request *q, struct emu_reply *r)
{
        const char *what = q->path + strlen("/emu/");
        bool post = !strcmp(q->method, "POST");
        int app;

        emu_lock();
        if (!strcmp(what, "stats") || !strcmp(what, "log")) {
                reply_json(r, 200, what[0] == 's' ? stats_json() : stats_log_json());
                goto out;
        }
        if (!post) {
                control_fail(r, 405, "unknown control, or it needs POST");
                goto out;
        }
        if (!strcmp(what, "reset-stats")) {
                emu_stats_reset();
                plat_stats_reset();
                stats_log_clear();
                reply_json(r, 200, control_ok());
                goto out;
        }
        if (!strcmp(what, "advance")) {
                control_advance(q, r);
                goto out;
        }
        if ((app = control_app(q, r)) == -2)
                goto out;
        if (!strcmp(what, "fault")) {
                control_fault(q, r, app);
        } else if (!strcmp(what, "rotate")) {
                control_rotate(r, app);
        } else if (!strcmp(what, "expire")) {
                control_each(app, expire_one);
                reply_json(r, 200, control_ok());
        } else if (!strcmp(what, "reset-quota")) {
                control_each(app, quota_one);
                reply_json(r, 200, control_ok());
        } else if (plat_control(what, q, r)) {
                /* a platform control (emu-plat-control.c) answered */
        } else {
                control_fail(r, 404, "unknown control");
        }
out:
        emu_unlock();
}
