/* metrics-text.c: the Prometheus text exposition (format 0.0.4) of a snapshot of the agent: pure, libc only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics-text.h"

static const char *const result_names[4] = { "ok", "transient", "config", "quota" };

/* A growing text; once out of memory it stays failed and every append is a no-op. */
struct text {
        char *p;
        size_t n, size;
        bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...) {
        va_list ap;
        int r;

        if (t->failed)
                return;
        for (;;) {
                va_start(ap, fmt);
                r = vsnprintf(t->p + t->n, t->size - t->n, fmt, ap);
                va_end(ap);
                if (r < 0) {
                        t->failed = true;
                        return;
                }
                if ((size_t)r < t->size - t->n) {
                        t->n += (size_t)r;
                        return;
                }
                {
                        size_t size = (t->size + (size_t)r + 1) * 2;
                        char *p = realloc(t->p, size);

                        if (!p) {
                                t->failed = true;
                                return;
                        }
                        t->p = p;
                        t->size = size;
                }
        }
}

void metrics_escape_label(char *out, const char *s) {
        for (; *s; s++) {
                if (*s == '\\' || *s == '"') {
                        *out++ = '\\';
                        *out++ = *s;
                } else if (*s == '\n') {
                        *out++ = '\\';
                        *out++ = 'n';
                } else {
                        *out++ = *s;
                }
        }
        *out = '\0';
}

/* A label value, escaped, into buf (names are short: the config bounds them; longer ones are cut). */
static const char *esc(char *buf, size_t size, const char *s) {
        char tmp[256];

        snprintf(tmp, sizeof(tmp), "%s", s ? s : "");
        if (size < 2 * sizeof(tmp) + 1)
                return "";
        metrics_escape_label(buf, tmp);
        return buf;
}

static void family(struct text *t, const char *name, const char *type, const char *help) {
        put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Milliseconds as seconds, exact: "1700000000.123". */
static void put_seconds(struct text *t, int64_t ms) {
        put(t, "%s%lld.%03lld\n", ms < 0 ? "-" : "", (long long)(ms < 0 ? -ms : ms) / 1000,
            (long long)(ms < 0 ? -ms : ms) % 1000);
}

#define ITEM_LABELS "app=\"%s\",item=\"%s\""
#define FOR_ITEMS(x) for (const struct metrics_item *x = items; x < items + n_items; x++)

static void put_items(struct text *t, const struct metrics_agent *ag, const struct metrics_item *items,
                      size_t n_items) {
        char a[520], i[520];

        family(t, "wxtokend_token_generation", "gauge", "Generation of the token or ticket published (0: none yet).");
        FOR_ITEMS(x)
                put(t, "wxtokend_token_generation{" ITEM_LABELS "} %llu\n", esc(a, sizeof(a), x->app),
                    esc(i, sizeof(i), x->item), (unsigned long long)x->generation);
        family(t, "wxtokend_token_expiry_timestamp_seconds", "gauge",
               "When the published token or ticket expires, in Unix seconds.");
        FOR_ITEMS(x) {
                if (x->generation == 0)
                        continue;
                put(t, "wxtokend_token_expiry_timestamp_seconds{" ITEM_LABELS "} ", esc(a, sizeof(a), x->app),
                    esc(i, sizeof(i), x->item));
                put_seconds(t, x->expires_at_ms);
        }
        family(t, "wxtokend_token_refresh_in_seconds", "gauge",
               "Seconds until the next scheduled upstream call of the item (negative: overdue).");
        FOR_ITEMS(x) {
                if (x->next_refresh_ms <= 0)
                        continue;
                put(t, "wxtokend_token_refresh_in_seconds{" ITEM_LABELS "} ", esc(a, sizeof(a), x->app),
                    esc(i, sizeof(i), x->item));
                put_seconds(t, x->next_refresh_ms - ag->now_ms);
        }
        family(t, "wxtokend_state", "gauge", "The item's state: 1 for the state it is in, 0 for the others.");
        FOR_ITEMS(x)
                for (size_t s = 0; s < ag->n_states; s++)
                        put(t, "wxtokend_state{" ITEM_LABELS ",state=\"%s\"} %d\n", esc(a, sizeof(a), x->app),
                            esc(i, sizeof(i), x->item), ag->states[s], strcmp(ag->states[s], x->state) == 0);
        family(t, "wxtokend_upstream_calls_total", "counter",
               "Upstream calls answered, by what the answer meant (ok, transient, config, quota).");
        FOR_ITEMS(x)
                for (int r = 0; r < 4; r++)
                        put(t, "wxtokend_upstream_calls_total{" ITEM_LABELS ",result=\"%s\"} %llu\n",
                            esc(a, sizeof(a), x->app), esc(i, sizeof(i), x->item), result_names[r],
                            (unsigned long long)x->results[r]);
        family(t, "wxtokend_upstream_last_errcode", "gauge",
               "Errcode of the item's last upstream call (0: it succeeded; -1001..-1004: the agent's own).");
        FOR_ITEMS(x)
                put(t, "wxtokend_upstream_last_errcode{" ITEM_LABELS "} %ld\n", esc(a, sizeof(a), x->app),
                    esc(i, sizeof(i), x->item), x->last_errcode);
        family(t, "wxtokend_forced_refreshes_total", "counter", "Forced refreshes clients asked for that led to a call.");
        FOR_ITEMS(x)
                put(t, "wxtokend_forced_refreshes_total{" ITEM_LABELS "} %llu\n", esc(a, sizeof(a), x->app),
                    esc(i, sizeof(i), x->item), (unsigned long long)x->forced);
        family(t, "wxtokend_forced_refresh_coalesced_total", "counter",
               "Forced refresh requests that joined a call already planned or in flight.");
        FOR_ITEMS(x)
                put(t, "wxtokend_forced_refresh_coalesced_total{" ITEM_LABELS "} %llu\n", esc(a, sizeof(a), x->app),
                    esc(i, sizeof(i), x->item), (unsigned long long)x->coalesced);
        family(t, "wxtokend_forced_refresh_rate_limited_total", "counter",
               "Forced refresh requests refused by min_force_interval or the daily caps.");
        FOR_ITEMS(x)
                put(t, "wxtokend_forced_refresh_rate_limited_total{" ITEM_LABELS "} %llu\n",
                    esc(a, sizeof(a), x->app), esc(i, sizeof(i), x->item), (unsigned long long)x->rate_limited);
        family(t, "wxtokend_waiters", "gauge", "Clients waiting now for a forced refresh of the item.");
        FOR_ITEMS(x)
                put(t, "wxtokend_waiters{" ITEM_LABELS "} %u\n", esc(a, sizeof(a), x->app), esc(i, sizeof(i), x->item),
                    x->waiters);
}

static void put_apps(struct text *t, const struct metrics_agent *ag, const struct metrics_app *apps, size_t n_apps) {
        char a[520], h[520];

        family(t, "wxtokend_quota_calls_today", "gauge",
               "Upstream calls of the app to the endpoint since midnight Beijing time (persisted across restarts).");
        for (const struct metrics_app *x = apps; x < apps + n_apps; x++)
                for (int e = 0; e < QUOTA_ENDPOINT_MAX; e++)
                        if (x->endpoints & 1u << e)
                                put(t, "wxtokend_quota_calls_today{app=\"%s\",endpoint=\"%s\"} %llu\n",
                                    esc(a, sizeof(a), x->app), quota_endpoint_name(e),
                                    (unsigned long long)x->calls_today[e]);
        family(t, "wxtokend_quota_daily_limit", "gauge", "WeChat's documented daily limit of the endpoint per appid.");
        for (const struct metrics_app *x = apps; x < apps + n_apps; x++)
                for (int e = 0; e < QUOTA_ENDPOINT_MAX; e++)
                        if ((x->endpoints & 1u << e) && quota_limit(e) > 0)
                                put(t, "wxtokend_quota_daily_limit{app=\"%s\",endpoint=\"%s\"} %llu\n",
                                    esc(a, sizeof(a), x->app), quota_endpoint_name(e),
                                    (unsigned long long)quota_limit(e));
        family(t, "wxtokend_ticket_age_seconds", "gauge",
               "A component's or suite's pushed ticket in use: seconds since its create time (none: no usable ticket).");
        for (const struct metrics_app *x = apps; x < apps + n_apps; x++)
                if (x->platform && x->ticket_usable)
                        put(t, "wxtokend_ticket_age_seconds{app=\"%s\"} %lld\n", esc(a, sizeof(a), x->app),
                            (long long)x->ticket_age_s);
        family(t, "wxtokend_ticket_alarm", "gauge",
               "1 while a component's or suite's pushed ticket is missing or older than its alarm threshold.");
        for (const struct metrics_app *x = apps; x < apps + n_apps; x++)
                if (x->platform)
                        put(t, "wxtokend_ticket_alarm{app=\"%s\"} %d\n", esc(a, sizeof(a), x->app), x->ticket_alarm);
        if (!ag->clustered)
                return;
        family(t, "wxtokend_lease_holder", "gauge", "Cluster mode: the node holding the app's lease (1), as last seen.");
        for (const struct metrics_app *x = apps; x < apps + n_apps; x++)
                if (x->holder && x->holder[0])
                        put(t, "wxtokend_lease_holder{app=\"%s\",node=\"%s\"} 1\n", esc(a, sizeof(a), x->app),
                            esc(h, sizeof(h), x->holder));
        family(t, "wxtokend_lease_held", "gauge", "Cluster mode: 1 if this agent holds the app's lease.");
        for (const struct metrics_app *x = apps; x < apps + n_apps; x++)
                put(t, "wxtokend_lease_held{app=\"%s\"} %d\n", esc(a, sizeof(a), x->app), x->is_holder);
}

char *metrics_text(const struct metrics_agent *ag, const struct metrics_app *apps, size_t n_apps,
                   const struct metrics_item *items, size_t n_items, size_t *len) {
        struct text t = { .p = malloc(64 * 1024), .size = 64 * 1024 };
        char v[520];

        t.failed = !t.p;

        family(&t, "wxtokend_build_info", "gauge", "The agent's version, as a label; always 1.");
        put(&t, "wxtokend_build_info{version=\"%s\"} 1\n", esc(v, sizeof(v), ag->version));
        family(&t, "wxtokend_start_time_seconds", "gauge", "When the agent started, in Unix seconds.");
        put(&t, "wxtokend_start_time_seconds ");
        put_seconds(&t, ag->started_at_ms);
        family(&t, "wxtokend_ready", "gauge", "1 once the agent told systemd READY=1.");
        put(&t, "wxtokend_ready %d\n", ag->ready);
        family(&t, "wxtokend_reloads_total", "counter", "Configuration reloads taken.");
        put(&t, "wxtokend_reloads_total %llu\n", (unsigned long long)ag->reloads);
        family(&t, "wxtokend_socket_connections_total", "counter", "Control socket connections accepted.");
        put(&t, "wxtokend_socket_connections_total %llu\n", (unsigned long long)ag->connections_total);
        family(&t, "wxtokend_socket_connections", "gauge", "Control socket connections open now.");
        put(&t, "wxtokend_socket_connections %u\n", ag->connections);
        family(&t, "wxtokend_socket_connections_evicted_total", "counter",
               "Idle kept-alive control socket connections closed to make room for a new one.");
        put(&t, "wxtokend_socket_connections_evicted_total %llu\n", (unsigned long long)ag->connections_evicted);
        if (ag->clustered) {
                family(&t, "wxtokend_redis_up", "gauge", "Cluster mode: 1 while the link to Redis is up.");
                put(&t, "wxtokend_redis_up %d\n", ag->redis_up);
        }
        put_items(&t, ag, items, n_items);
        put_apps(&t, ag, apps, n_apps);
        if (t.failed || !t.p) {
                free(t.p);
                return NULL;
        }
        *len = t.n;
        return t.p;
}
