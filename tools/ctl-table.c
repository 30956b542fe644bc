/* ctl-table.c: wxtokenctl status's table for people: the agent, the cluster, one line an item and what is wrong. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* "1h59m", "42s", "-3m" (expired): how long the token has left. */
void format_left(char *buf, size_t size, int64_t left_ms) {
        int64_t s = (left_ms < 0 ? -left_ms : left_ms) / 1000;
        const char *sign = left_ms < 0 ? "-" : "";

        if (s >= 3600)
                snprintf(buf, size, "%s%" PRId64 "h%02" PRId64 "m", sign, s / 3600, s / 60 % 60);
        else if (s >= 60)
                snprintf(buf, size, "%s%" PRId64 "m%02" PRId64 "s", sign, s / 60, s % 60);
        else
                snprintf(buf, size, "%s%" PRId64 "s", sign, s);
}

/* Cluster mode: which node this is, and whether its Redis answers. */
static void print_cluster(const cJSON *c, int64_t now) {
        char since[32];

        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "connected"))) {
                printf("cluster: node %s, Redis %s connected, lease holder of %.0f apps\n", text(c, "node"),
                       text(c, "redis"), number(c, "lease_holder_of"));
                return;
        }
        format_left(since, sizeof(since), now - (int64_t)number(c, "down_since"));
        printf("cluster: node %s, Redis %s UNREACHABLE for %s (%s): local tokens served until they expire\n",
               text(c, "node"), text(c, "redis"), since, text(c, "last_error"));
}

/* A time of the agent's as the table shows it: "13:05:02" within the last 20 hours, else the date. */
static void format_when(char *buf, size_t size, int64_t at_ms, int64_t now) {
        time_t t = (time_t)(at_ms / 1000);
        struct tm tm;

        if (at_ms <= 0 || !localtime_r(&t, &tm))
                snprintf(buf, size, "-");
        else
                strftime(buf, size, now - at_ms < 20 * 3600 * 1000LL ? "%H:%M:%S" : "%Y-%m-%d", &tm);
}

/* body after prefix, wrapped at width (words kept whole unless longer than a line), indented by indent. */
static void print_wrapped(const char *prefix, const char *body, int indent, int width) {
        int end = width > indent + 20 ? width : indent + 60, col = indent + (int)strlen(prefix);
        const char *p = body + strspn(body, " ");
        bool first = true;

        printf("%*s%s", indent, "", prefix);
        while (*p) {
                int word = (int)strcspn(p, " ");

                /* The space before a word goes out only if the word stays on this line. */
                if (!first && col + 1 + word > end) {
                        printf("\n%*s", indent + 2, "");
                        col = indent + 2;
                } else if (!first) {
                        putchar(' ');
                        col++;
                }
                first = false;
                /* A word longer than a line is cut where the line ends, and goes on below. */
                while (word > end - col && end - col > 0) {
                        int take = end - col;

                        printf("%.*s\n%*s", take, p, indent + 2, "");
                        p += take, word -= take;
                        col = indent + 2;
                }
                printf("%.*s", word, p);
                col += word;
                p += word;
                p += strspn(p, " ");
        }
        putchar('\n');
}

/* The agent's own line: version, pid, uptime, config, the last reload. */
static void print_agent(const cJSON *ag, int64_t now) {
        const cJSON *rl = cJSON_GetObjectItemCaseSensitive(ag, "last_reload");
        char up[32], when[32];

        format_left(up, sizeof(up), now - (int64_t)number(ag, "started_at"));
        printf("wxtokend %s, pid %.0f, up %s, config %s", text(ag, "version"), number(ag, "pid"), up,
               text(ag, "config"));
        if (cJSON_IsObject(rl)) {
                format_when(when, sizeof(when), (int64_t)number(rl, "at"), now);
                if (!strcmp(text(rl, "result"), "taken"))
                        printf("; last reload %s: taken (%.0f apps)", when, number(rl, "apps"));
                else
                        printf("; last reload %s: REFUSED: %s", when, text(rl, "reason"));
        }
        putchar('\n');
}

void print_table(const cJSON *o, int64_t now) {
        const cJSON *apps = cJSON_GetObjectItemCaseSensitive(o, "apps"), *cluster, *a;
        const char *cols = getenv("COLUMNS");
        int width = cols && atoi(cols) >= 40 ? atoi(cols) : 80, name_w = 3;

        cluster = cJSON_GetObjectItemCaseSensitive(o, "cluster");
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "agent")))
                print_agent(cJSON_GetObjectItemCaseSensitive(o, "agent"), now);
        if (cJSON_IsObject(cluster))
                print_cluster(cluster, now);
        /* The name column as wide as the longest name: a long name moves the columns, never breaks them. */
        cJSON_ArrayForEach(a, apps)
                if ((int)strlen(text(a, "app")) > name_w)
                        name_w = (int)strlen(text(a, "app"));
        printf("%-*s %-6s %-12s %-8s %8s %-8s %-8s %10s %-*s%s\n", name_w, "APP", "KIND", "STATE", "SINCE",
               "ATTEMPTS", "NEXT", "EXPIRES", "GENERATION", cluster ? 18 : 0, cluster ? " HOLDER" : "", " VERDICT");
        cJSON_ArrayForEach(a, apps) {
                double gen = number(a, "generation"), expires = number(a, "expires_at"), next = number(a, "next_refresh_at");
                long errcode = (long)number(a, "last_errcode");
                int verdict = (int)number(a, "verdict");
                char left[32] = "none", since[32], when[32], nxt[32] = "-", holder[40] = "", prefix[400];

                if (gen > 0)
                        format_left(left, sizeof(left), (int64_t)expires - now);
                if (next > (double)now)
                        format_left(nxt, sizeof(nxt), (int64_t)next - now);
                else if (next > 0)
                        snprintf(nxt, sizeof(nxt), "now");
                format_when(since, sizeof(since), (int64_t)number(a, "state_since"), now);
                if (cluster)
                        snprintf(holder, sizeof(holder), " %.12s%s", text(a, "holder")[0] ? text(a, "holder") : "-",
                                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lease_held_here")) ? " (here)" : "");
                printf("%-*s %-6s %-12s %-8s %8.0f %-8s %-8s %10.0f %-*s %s%s%s\n", name_w, text(a, "app"),
                       text(a, "kind"), text(a, "state"), since, number(a, "attempts"), nxt, left, gen,
                       cluster ? 18 : 0, holder,
                       verdict == 0 ? "OK" : verdict == 1 ? "WARNING" : verdict == 2 ? "CRITICAL" : "UNKNOWN",
                       verdict ? ": " : "", verdict ? text(a, "verdict_reason") : "");
                /* The last error whole, wrapped; what it means; what to do. */
                if (errcode != 0 || text(a, "last_errmsg")[0]) {
                        format_when(when, sizeof(when), (int64_t)number(a, "last_error_at"), now);
                        if (errcode != 0)
                                snprintf(prefix, sizeof(prefix), "error %ld (%s) at %s: ", errcode,
                                         text(a, "errcode_meaning"), when);
                        else
                                snprintf(prefix, sizeof(prefix), "error at %s: ", when);
                        print_wrapped(prefix, text(a, "last_errmsg"), 2, width);
                }
                if (text(a, "advice")[0])
                        print_wrapped("advice: ", text(a, "advice"), 2, width);
                /* A component: how old its component_verify_ticket is, and which one its calls use. */
                {
                        const cJSON *comp = cJSON_GetObjectItemCaseSensitive(a, "component");
                        /* A WeCom suite's is its suite_ticket, its accounts corps. */
                        bool suite = !strcmp(text(a, "kind"), "suite");
                        const char *tname = suite ? "suite_ticket" : "component_verify_ticket";

                        if (cJSON_IsObject(comp) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")))
                                printf("  %s: created %.0f s ago%s\n", tname, number(comp, "ticket_age_s"),
                                       !strcmp(text(comp, "ticket_in_use"), "previous")
                                               ? "; calls use the previous good ticket (the newest was refused)" : "");
                        else if (cJSON_IsObject(comp))
                                printf("  %s: none yet (wxtokenctl ticket put %s ...)\n", tname, text(a, "app"));
                        /* The alarm rings while the token is still good: time to mend the callback handler. */
                        if (cJSON_IsObject(comp) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "ticket_alarm")))
                                printf("  ticket alarm: %s (alarm at %.0f s): are WeChat's pushes reaching "
                                       "`wxtokenctl ticket put %s`?\n",
                                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")) &&
                                                       !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp,
                                                                                                 "waiting_for_ticket"))
                                               ? "the ticket in use is old" : "no usable ticket",
                                       number(comp, "ticket_alarm_after_s"), text(a, "app"));
                        if (cJSON_IsObject(comp) && text(comp, "note")[0])
                                print_wrapped("ticket: ", text(comp, "note"), 2, width);
                        if (cJSON_IsObject(comp) && number(comp, "authorizers") > 0)
                                printf("  %s: %.0f, %.0f refused (re-authorize), %.0f failing (wxtokenctl "
                                       "authorizer list %s)\n", suite ? "corps" : "authorizers", number(comp, "authorizers"),
                                       number(comp, "authorizers_refused"), number(comp, "authorizers_failing"),
                                       text(a, "app"));
                        if (cJSON_IsObject(comp) && number(comp, "authorizers_revoked") > 0)
                                printf("  authorizers revoked: %.0f (refused, and no longer in WeChat's list: "
                                       "removed; see the log)\n", number(comp, "authorizers_revoked"));
                        if (cJSON_IsObject(comp) && number(comp, "account_tickets") > 0)
                                printf("  their tickets: %.0f, %.0f failing (wxtokenctl status %s.ID.TYPE)\n",
                                       number(comp, "account_tickets"), number(comp, "account_tickets_failing"),
                                       text(a, "app"));
                }
                /* Cluster mode: a bad record or lease key in Redis, and what to do about it. */
                if (text(a, "cluster_problem")[0])
                        printf("  %s: %s\n", text(a, "app"), text(a, "cluster_problem"));
        }
}
