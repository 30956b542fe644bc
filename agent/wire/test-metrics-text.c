/* test-metrics-text.c: the exposition's exact text for a known snapshot, its escaping, and the quota day's arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "check.h"
#include "metrics-text.h"
#include "quota.h"

static const char *const states[] = { "starting", "fresh", "failed" };

/* Whether line (a whole line, without its newline) is in text. */
static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[n] == '\n')
                        return true;
        return false;
}

static void test_text(void) {
        struct metrics_agent ag = { .version = "1.2.3", .now_ms = 1700000000000, .started_at_ms = 1699999990500,
                                    .ready = true, .reloads = 2, .connections_total = 7, .connections = 1,
                                    .connections_evicted = 3, .states = states, .n_states = 3 };
        struct metrics_item items[] = {
                { .app = "shop", .item = "shop", .state = "fresh", .generation = 18446744073709551615ull,
                  .expires_at_ms = 1700007200123, .next_refresh_ms = 1700006900000, .results = { 3, 1, 0, 0 },
                  .last_errcode = 0, .forced = 4, .coalesced = 5, .rate_limited = 6, .waiters = 2 },
                { .app = "we\"ird\\x\nname", .item = "b.jsapi", .state = "starting", .last_errcode = -1001,
                  .results = { 0, 0, 9, 1 } },
        };
        struct metrics_app apps[] = {
                { .app = "shop", .calls_today = { [QUOTA_STABLE] = 12, [QUOTA_STABLE_FORCE] = 3 },
                  .endpoints = 1u << QUOTA_STABLE | 1u << QUOTA_STABLE_FORCE },
                { .app = "b", .calls_today = { [QUOTA_TICKET] = 5 }, .endpoints = 1u << QUOTA_TICKET },
        };
        size_t len = 0;
        char *t = metrics_text(&ag, apps, 2, items, 2, &len);

        REQUIRE(t, "metrics_text");
        CHECK(len == strlen(t), "len %zu", len);
        CHECK(len > 0 && t[len - 1] == '\n', "ends in a newline");
        CHECK(has_line(t, "wxtokend_build_info{version=\"1.2.3\"} 1"), "build info");
        CHECK(has_line(t, "wxtokend_start_time_seconds 1699999990.500"), "start time in seconds, exact");
        CHECK(has_line(t, "wxtokend_ready 1") && has_line(t, "wxtokend_reloads_total 2"), "ready, reloads");
        CHECK(has_line(t, "wxtokend_socket_connections_total 7") && has_line(t, "wxtokend_socket_connections 1"),
              "connections");
        CHECK(has_line(t, "wxtokend_socket_connections_evicted_total 3"), "idle connections evicted");
        CHECK(has_line(t, "# TYPE wxtokend_upstream_calls_total counter"), "counter type");
        CHECK(has_line(t, "# HELP wxtokend_token_generation Generation of the token or ticket published (0: none yet)."),
              "help line");
        CHECK(has_line(t, "wxtokend_token_generation{app=\"shop\",item=\"shop\"} 18446744073709551615"),
              "a generation of 2^64-1 exactly");
        CHECK(has_line(t, "wxtokend_token_expiry_timestamp_seconds{app=\"shop\",item=\"shop\"} 1700007200.123"),
              "expiry");
        CHECK(has_line(t, "wxtokend_token_refresh_in_seconds{app=\"shop\",item=\"shop\"} 6900.000"), "refresh in");
        CHECK(!strstr(t, "wxtokend_token_expiry_timestamp_seconds{app=\"we"), "no expiry without a token");
        CHECK(has_line(t, "wxtokend_state{app=\"shop\",item=\"shop\",state=\"fresh\"} 1") &&
              has_line(t, "wxtokend_state{app=\"shop\",item=\"shop\",state=\"starting\"} 0") &&
              has_line(t, "wxtokend_state{app=\"shop\",item=\"shop\",state=\"failed\"} 0"), "one series per state");
        CHECK(has_line(t, "wxtokend_upstream_calls_total{app=\"shop\",item=\"shop\",result=\"ok\"} 3") &&
              has_line(t, "wxtokend_upstream_calls_total{app=\"shop\",item=\"shop\",result=\"transient\"} 1"),
              "calls by class");
        CHECK(has_line(t, "wxtokend_upstream_calls_total{app=\"we\\\"ird\\\\x\\nname\",item=\"b.jsapi\",result=\"config\"} 9"),
              "label values escaped:\n%s", t);
        CHECK(has_line(t, "wxtokend_upstream_last_errcode{app=\"we\\\"ird\\\\x\\nname\",item=\"b.jsapi\"} -1001"),
              "errcode gauge, no errcode label");
        CHECK(has_line(t, "wxtokend_forced_refreshes_total{app=\"shop\",item=\"shop\"} 4") &&
              has_line(t, "wxtokend_forced_refresh_coalesced_total{app=\"shop\",item=\"shop\"} 5") &&
              has_line(t, "wxtokend_forced_refresh_rate_limited_total{app=\"shop\",item=\"shop\"} 6") &&
              has_line(t, "wxtokend_waiters{app=\"shop\",item=\"shop\"} 2"), "forced refreshes, waiters");
        CHECK(has_line(t, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"stable_token\"} 12") &&
              has_line(t, "wxtokend_quota_calls_today{app=\"shop\",endpoint=\"stable_token_force\"} 3") &&
              has_line(t, "wxtokend_quota_daily_limit{app=\"shop\",endpoint=\"stable_token\"} 500000") &&
              has_line(t, "wxtokend_quota_daily_limit{app=\"shop\",endpoint=\"stable_token_force\"} 20"), "quota");
        CHECK(has_line(t, "wxtokend_quota_calls_today{app=\"b\",endpoint=\"ticket\"} 5") &&
              !strstr(t, "endpoint=\"ticket\"} 0") && !strstr(t, "endpoint=\"token\""),
              "only the endpoints an app calls; no limit where none is documented");
        CHECK(!strstr(t, "wxtokend_redis_up") && !strstr(t, "wxtokend_lease"), "no cluster metrics outside it");
        /* Each family's samples follow its TYPE line: no sample of one family after another's TYPE. */
        {
                const char *ty = strstr(t, "# TYPE wxtokend_waiters "), *last = NULL;

                for (const char *p = t; (p = strstr(p, "\nwxtokend_forced_refreshes_total{")); p++)
                        last = p;
                CHECK(ty && last && last < ty, "families grouped");
        }
        free(t);

        ag.clustered = true;
        ag.redis_up = false;
        apps[0].holder = "node-1";
        apps[0].is_holder = true;
        t = metrics_text(&ag, apps, 2, items, 2, &len);
        REQUIRE(t, "metrics_text, clustered");
        CHECK(has_line(t, "wxtokend_redis_up 0"), "redis link");
        CHECK(has_line(t, "wxtokend_lease_holder{app=\"shop\",node=\"node-1\"} 1") &&
              has_line(t, "wxtokend_lease_held{app=\"shop\"} 1") && has_line(t, "wxtokend_lease_held{app=\"b\"} 0"),
              "leases");
        free(t);
}

static void test_quota(void) {
        /* 2023-11-14 22:13:20 UTC is 06:13:20 on the 15th in Beijing: midnight there is 16:00 UTC. */
        int64_t now = 1700000000000, midnight = now + budget_until_tomorrow(now);
        struct core_quota q = { 0 }, back;
        char buf[512];
        int warned = 0;

        for (int i = 0; i < 1599; i++)
                warned += quota_count(&q, QUOTA_TOKEN, now);
        CHECK(warned == 0 && quota_today(&q, QUOTA_TOKEN, now) == 1599, "1599 calls, no warning");
        CHECK(quota_count(&q, QUOTA_TOKEN, now), "the 1600th (80 %% of 2000) warns");
        CHECK(!quota_count(&q, QUOTA_TOKEN, now), "once a day");
        CHECK(quota_permille(&q, quota_mask_of(APP_KIND_TOKEN, false), now) == 800, "permille %u",
              quota_permille(&q, quota_mask_of(APP_KIND_TOKEN, false), now));
        CHECK(quota_permille(&q, quota_mask_of(APP_KIND_TOKEN, true), now) == 0, "a ticket's own endpoints only");
        CHECK(quota_today(&q, QUOTA_TOKEN, midnight - 1) == 1601, "until midnight Beijing time");
        CHECK(quota_today(&q, QUOTA_TOKEN, midnight) == 0, "zero from midnight Beijing time");
        REQUIRE(quota_format(&q, buf, sizeof(buf)) > 0, "format");
        CHECK(quota_parse(&back, buf) == 0 && back.day == q.day && back.calls[QUOTA_TOKEN] == 1601 &&
              back.warned == q.warned, "read back:\n%s", buf);
        CHECK(!quota_count(&back, QUOTA_TOKEN, now), "a restart does not warn again the same day");
        CHECK(quota_count(&back, QUOTA_TOKEN, midnight) == false && quota_today(&back, QUOTA_TOKEN, midnight) == 1,
              "a new day starts from one");
        CHECK(quota_parse(&back, "something else\n") < 0, "not a quota file");
        CHECK(quota_parse(&back, "wxtokend-quota 1\nday x\n") < 0, "a bad number");
        for (int i = 0; i < 16; i++)
                warned += quota_count(&q, QUOTA_STABLE_FORCE, now);
        CHECK(warned == 1, "16 of 20 forced stable refreshes warn");
        CHECK(quota_permille(&q, quota_mask_of(APP_KIND_STABLE, false), now) == 800, "stable's force counts");
        CHECK(quota_endpoint_of(APP_KIND_WORK, false) == QUOTA_WORK && quota_limit(QUOTA_TICKET) == 0, "endpoints");
        CHECK(quota_endpoint_of(APP_KIND_WORK, TICKET_JSAPI) == QUOTA_TICKET &&
              quota_endpoint_of(APP_KIND_WORK, TICKET_AGENT_CONFIG) == QUOTA_AGENT_CONFIG &&
              !strcmp(quota_endpoint_name(QUOTA_AGENT_CONFIG), "agent_config") && quota_limit(QUOTA_AGENT_CONFIG) == 0,
              "WeCom's agent_config ticket has its own endpoint, limited by the hour, not the day");
}

int main(void) {
        test_text();
        test_quota();
        return check_exit_code();
}
