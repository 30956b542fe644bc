/* manager-ready.c: the log lines around READY=1: which apps it waits for, and which are not fresh when it goes. */
#include <stdio.h>

#include "app.h"
#include "log.h"
#include "manager-internal.h"

/* What an app's token is going through, as READY sees it. */
enum ready_kind { READY_UNSETTLED, READY_FRESH, READY_FAILING };

static enum ready_kind ready_kind_of(const struct app *app) {
        if (!app->token.core.settled)
                return READY_UNSETTLED;
        return app->token.core.generation > 0 && app->token.core.failure == FAILURE_NONE ? READY_FRESH
                                                                                           : READY_FAILING;
}

/* The names of the apps of that kind, the first few of them, into buf: "shop, pay (+3 more)"; how many. */
static size_t ready_names(const struct services *svc, enum ready_kind kind, char *buf, size_t size) {
        size_t n = 0, len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < svc->n_apps; i++) {
                const struct app *app = svc->apps[i];

                if (!app || ready_kind_of(app) != kind)
                        continue;
                if (n++ < 8 && len < size)
                        len += (size_t)snprintf(buf + len, size - len, "%s%s", n > 1 ? ", " : "", app->cfg->name);
        }
        if (n > 8 && len < size)
                snprintf(buf + len, size - len, " (+%zu more)", n - 8);
        return n;
}

void ready_log_waiting(const struct services *svc) {
        char names[600];
        size_t n = ready_names(svc, READY_UNSETTLED, names, sizeof(names));

        if (n > 0)
                log_info("READY once every app has a token or failed its first attempt: waiting for %zu: %s", n, names);
}

void ready_log_ready(const struct services *svc, const struct failed_list *failed) {
        char fresh[600], failing[600];
        size_t n_fresh = ready_names(svc, READY_FRESH, fresh, sizeof(fresh));
        size_t n_failing = ready_names(svc, READY_FAILING, failing, sizeof(failing));

        log_info("ready: %zu apps: %zu fresh%s%s%s; %zu failing%s%s; %zu items could not start%s%s", svc->n_apps,
                 n_fresh, n_fresh ? " (" : "", fresh, n_fresh ? ")" : "", n_failing, n_failing ? ": " : "", failing,
                 failed->n, failed->n ? ", first: " : "", failed->n ? failed->v[0].name : "");
}
