/* verdict.c: whether the agent is well, in the Nagios convention (0..3), from per-item facts: pure. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "verdict.h"
#include "wxshm.h"

enum verdict_code verdict_item(const struct verdict_item *it, int64_t now_ms, const char **reason) {
        const char *why;
        enum verdict_code c;

        /* The failure of the last call counts, not the state word: a retry in flight says "refreshing". */
        if (it->failed_to_start)
                c = VERDICT_CRITICAL, why = "failed to start";
        else if (it->failure == FAILURE_CONFIG || it->state == WXSHM_STATE_CONFIG_ERROR)
                c = VERDICT_CRITICAL, why = "config_error";
        else if (it->failure == FAILURE_QUOTA || it->state == WXSHM_STATE_QUOTA)
                c = VERDICT_CRITICAL, why = "quota";
        else if (it->generation == 0 && it->failure == FAILURE_NONE && it->state != WXSHM_STATE_STOPPED)
                /* Its first call not answered yet: a grace, then a warning; a failed one is judged below. */
                c = now_ms - it->started_at_ms < VERDICT_STARTING_GRACE_MS ? VERDICT_OK : VERDICT_WARNING,
                why = c == VERDICT_OK ? "starting" : "starting for over 30 s";
        else if (it->generation == 0 || it->expires_at_ms <= now_ms)
                c = VERDICT_CRITICAL, why = "no usable token";
        else if (it->state == WXSHM_STATE_STOPPED)
                c = VERDICT_CRITICAL, why = "stopped";
        /* Of the warnings, the nearest harm is named first: a token about to expire, retrying or not. */
        else if (it->margin_ms > 0 && it->expires_at_ms - now_ms < it->margin_ms / 2)
                c = VERDICT_WARNING, why = "near expiry";
        /* The token is good, but the next one needs a ticket the pushes no longer renew: mend the callback now. */
        else if (it->ticket_alarm)
                c = VERDICT_WARNING, why = "ticket alarm";
        else if (it->failure == FAILURE_TRANSIENT || it->state == WXSHM_STATE_RETRYING)
                c = VERDICT_WARNING, why = "retrying";
        else if (it->quota_permille >= VERDICT_QUOTA_WARN_PERMILLE)
                c = VERDICT_WARNING, why = "daily quota at 80 %";
        else
                c = VERDICT_OK, why = "fresh";
        if (reason)
                *reason = why;
        return c;
}

void verdict_init(struct verdict *v) {
        memset(v, 0, sizeof(*v));
        v->code = VERDICT_OK;
        v->worst_reason = "";
}

enum verdict_code verdict_add(struct verdict *v, const struct verdict_item *it, int64_t now_ms, const char **reason) {
        const char *why;
        enum verdict_code c = verdict_item(it, now_ms, &why);

        v->items++;
        if (c == VERDICT_OK)
                v->ok++;
        else if (c == VERDICT_WARNING)
                v->warning++;
        else
                v->critical++;
        if (it->failed_to_start)
                v->failed_to_start++;
        /* The first of the worst is named: configuration order, so the same failure gives the same line. */
        if (c > v->code || (c != VERDICT_OK && !v->worst_name[0])) {
                v->code = c;
                snprintf(v->worst_name, sizeof(v->worst_name), "%s", it->name ? it->name : "");
                v->worst_reason = why;
                v->worst_errcode = it->failed_to_start ? 0 : it->errcode;
        }
        if (!it->failed_to_start && it->generation > 0 && (!v->has_token || it->expires_at_ms - now_ms < v->min_left_ms)) {
                v->has_token = true;
                v->min_left_ms = it->expires_at_ms - now_ms;
        }
        if (reason)
                *reason = why;
        return c;
}

void verdict_finish(struct verdict *v, size_t apps) {
        v->apps = apps;
        if (apps == 0 && v->code < VERDICT_CRITICAL) {
                v->code = VERDICT_CRITICAL;
                v->worst_name[0] = '\0';
                v->worst_reason = "no apps configured";
                v->worst_errcode = 0;
        }
}

const char *verdict_name(enum verdict_code c) {
        switch (c) {
        case VERDICT_OK:
                return "OK";
        case VERDICT_WARNING:
                return "WARNING";
        case VERDICT_CRITICAL:
                return "CRITICAL";
        case VERDICT_UNKNOWN:
                break;
        }
        return "UNKNOWN";
}

void verdict_summary(const struct verdict *v, char *buf, size_t size) {
        char text[VERDICT_SUMMARY_MAX], perf[160], worst[200] = "";
        size_t room;
        int n;

        if (!buf || size == 0)
                return;
        /* Nagios perfdata: label=value[UOM], one space apart; seconds as "s". */
        n = snprintf(perf, sizeof(perf), "items=%zu ok=%zu warning=%zu critical=%zu failed=%zu", v->items, v->ok,
                     v->warning, v->critical, v->failed_to_start);
        if (v->has_token && n > 0 && (size_t)n < sizeof(perf))
                snprintf(perf + n, sizeof(perf) - (size_t)n, " min_expiry=%" PRId64 "s",
                         (v->min_left_ms < 0 ? v->min_left_ms - 999 : v->min_left_ms) / 1000);
        if (v->worst_name[0] && v->worst_errcode)
                snprintf(worst, sizeof(worst), "%s: %s (errcode %ld); ", v->worst_name, v->worst_reason,
                         v->worst_errcode);
        else if (v->worst_name[0])
                snprintf(worst, sizeof(worst), "%s: %s; ", v->worst_name, v->worst_reason);
        if (v->apps == 0)
                snprintf(text, sizeof(text), "WXTOKEND %s - no apps configured", verdict_name(v->code));
        else if (v->code == VERDICT_OK)
                snprintf(text, sizeof(text), "WXTOKEND OK - %zu of %zu items ok", v->ok, v->items);
        else
                snprintf(text, sizeof(text), "WXTOKEND %s - %s%zu ok, %zu warning, %zu critical of %zu items",
                         verdict_name(v->code), worst, v->ok, v->warning, v->critical, v->items);
        /* The perfdata stays whole: a cut text is better than numbers a graph misreads. */
        room = strlen(perf) + 3 < size ? size - strlen(perf) - 3 : 0;
        if (strlen(text) >= room && room >= 4)
                memcpy(text + room - 4, "...", 4);
        else if (room < 4)
                text[0] = '\0';
        snprintf(buf, size, "%s | %s", text, perf);
}
