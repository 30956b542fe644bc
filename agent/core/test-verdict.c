/* test-verdict.c: the Nagios verdict: every rule, its boundaries (30 s, half the margin, 80 %), the summary line. */
#include <string.h>

#include "check.h"
#include "verdict.h"
#include "wxshm.h"

#define NOW 1700000000000LL
#define MARGIN (300 * 1000LL)

/* A healthy item: a token with an hour left, started long ago. */
static struct verdict_item fresh(void) {
        return (struct verdict_item){ .name = "shop", .state = WXSHM_STATE_FRESH, .generation = 3,
                                      .expires_at_ms = NOW + 3600 * 1000LL, .margin_ms = MARGIN,
                                      .started_at_ms = NOW - 7200 * 1000LL };
}

static enum verdict_code code_of(struct verdict_item it, const char *want_reason) {
        const char *reason = NULL;
        enum verdict_code c = verdict_item(&it, NOW, &reason);

        CHECK(reason && !strcmp(reason, want_reason), "reason %s, want %s", reason ? reason : "(null)", want_reason);
        return c;
}

static void rules(void) {
        struct verdict_item it;

        CHECK_EQ(code_of(fresh(), "fresh"), VERDICT_OK);
        it = fresh(), it.state = WXSHM_STATE_REFRESHING;
        CHECK_EQ(code_of(it, "fresh"), VERDICT_OK);

        /* Starting: OK for 30 s, a warning from the 30th second on. */
        it = fresh(), it.state = WXSHM_STATE_STARTING, it.generation = 0, it.expires_at_ms = 0;
        it.started_at_ms = NOW - VERDICT_STARTING_GRACE_MS + 1;
        CHECK_EQ(code_of(it, "starting"), VERDICT_OK);
        it.started_at_ms = NOW - VERDICT_STARTING_GRACE_MS;
        CHECK_EQ(code_of(it, "starting for over 30 s"), VERDICT_WARNING);
        it.state = WXSHM_STATE_REFRESHING, it.started_at_ms = NOW; /* its first call in flight */
        CHECK_EQ(code_of(it, "starting"), VERDICT_OK);

        /* Retrying: a warning while the old token lasts, critical without one. */
        it = fresh(), it.state = WXSHM_STATE_RETRYING, it.failure = FAILURE_TRANSIENT, it.errcode = -1002;
        CHECK_EQ(code_of(it, "retrying"), VERDICT_WARNING);
        it.state = WXSHM_STATE_REFRESHING; /* the retry in flight is still a failure */
        CHECK_EQ(code_of(it, "retrying"), VERDICT_WARNING);
        it.expires_at_ms = NOW + MARGIN / 2 - 1; /* and near its expiry: that is said first */
        CHECK_EQ(code_of(it, "near expiry"), VERDICT_WARNING);
        it.expires_at_ms = NOW;
        CHECK_EQ(code_of(it, "no usable token"), VERDICT_CRITICAL);
        it.generation = 0, it.expires_at_ms = 0, it.started_at_ms = NOW; /* failed its first call, within 30 s */
        CHECK_EQ(code_of(it, "no usable token"), VERDICT_CRITICAL);

        /* Config and quota: critical even with a good token. */
        it = fresh(), it.state = WXSHM_STATE_CONFIG_ERROR, it.failure = FAILURE_CONFIG, it.errcode = 40001;
        CHECK_EQ(code_of(it, "config_error"), VERDICT_CRITICAL);
        it.state = WXSHM_STATE_REFRESHING;
        CHECK_EQ(code_of(it, "config_error"), VERDICT_CRITICAL);
        it = fresh(), it.state = WXSHM_STATE_QUOTA, it.failure = FAILURE_QUOTA, it.errcode = 45009;
        CHECK_EQ(code_of(it, "quota"), VERDICT_CRITICAL);
        it = fresh(), it.failed_to_start = true, it.generation = 0;
        CHECK_EQ(code_of(it, "failed to start"), VERDICT_CRITICAL);
        it = fresh(), it.state = WXSHM_STATE_STOPPED;
        CHECK_EQ(code_of(it, "stopped"), VERDICT_CRITICAL);

        /* Near expiry: closer than half the margin is a warning, exactly half is not. */
        it = fresh(), it.expires_at_ms = NOW + MARGIN / 2;
        CHECK_EQ(code_of(it, "fresh"), VERDICT_OK);
        it.expires_at_ms = NOW + MARGIN / 2 - 1;
        CHECK_EQ(code_of(it, "near expiry"), VERDICT_WARNING);
        it.state = WXSHM_STATE_REFRESHING;
        CHECK_EQ(code_of(it, "near expiry"), VERDICT_WARNING);
        it.margin_ms = 0;
        CHECK_EQ(code_of(it, "fresh"), VERDICT_OK);

        /* The quota gauge: 799 permille is fine, 800 a warning. */
        it = fresh(), it.quota_permille = VERDICT_QUOTA_WARN_PERMILLE - 1;
        CHECK_EQ(code_of(it, "fresh"), VERDICT_OK);
        it.quota_permille = VERDICT_QUOTA_WARN_PERMILLE;
        CHECK_EQ(code_of(it, "daily quota at 80 %"), VERDICT_WARNING);

        /* A platform's ticket alarm: a warning while its token is good; a nearer harm is named first. */
        it = fresh(), it.ticket_alarm = true;
        CHECK_EQ(code_of(it, "ticket alarm"), VERDICT_WARNING);
        it.state = WXSHM_STATE_RETRYING, it.failure = FAILURE_TRANSIENT; /* the alarm says why the retries fail */
        CHECK_EQ(code_of(it, "ticket alarm"), VERDICT_WARNING);
        it.expires_at_ms = NOW + MARGIN / 2 - 1;
        CHECK_EQ(code_of(it, "near expiry"), VERDICT_WARNING);
        it.expires_at_ms = NOW;
        CHECK_EQ(code_of(it, "no usable token"), VERDICT_CRITICAL);
}

static void whole(void) {
        struct verdict v;
        struct verdict_item a = fresh(), b = fresh(), c = fresh(), d = fresh();
        char line[VERDICT_SUMMARY_MAX];

        /* Zero apps: critical, and said so. */
        verdict_init(&v);
        verdict_finish(&v, 0);
        CHECK_EQ(v.code, VERDICT_CRITICAL);
        verdict_summary(&v, line, sizeof(line));
        CHECK(!strcmp(line, "WXTOKEND CRITICAL - no apps configured | items=0 ok=0 warning=0 critical=0 failed=0"),
              "%s", line);

        verdict_init(&v);
        verdict_add(&v, &a, NOW, NULL);
        verdict_finish(&v, 1);
        CHECK_EQ(v.code, VERDICT_OK);
        verdict_summary(&v, line, sizeof(line));
        CHECK(!strcmp(line, "WXTOKEND OK - 1 of 1 items ok | items=1 ok=1 warning=0 critical=0 failed=0 min_expiry=3600s"),
              "%s", line);

        /* The worst wins; the first of the worst is named, with its errcode. */
        b.name = "pay", b.failure = FAILURE_TRANSIENT, b.errcode = -1002, b.expires_at_ms = NOW + 100 * 1000;
        c.name = "bad", c.failure = FAILURE_CONFIG, c.errcode = 40001;
        d.name = "late", d.failed_to_start = true, d.generation = 0;
        verdict_init(&v);
        CHECK_EQ(verdict_add(&v, &a, NOW, NULL), VERDICT_OK);
        CHECK_EQ(verdict_add(&v, &b, NOW, NULL), VERDICT_WARNING);
        CHECK_EQ(v.code, VERDICT_WARNING);
        CHECK_EQ(verdict_add(&v, &c, NOW, NULL), VERDICT_CRITICAL);
        CHECK_EQ(verdict_add(&v, &d, NOW, NULL), VERDICT_CRITICAL);
        verdict_finish(&v, 4);
        CHECK_EQ(v.code, VERDICT_CRITICAL);
        verdict_summary(&v, line, sizeof(line));
        CHECK(!strcmp(line, "WXTOKEND CRITICAL - bad: config_error (errcode 40001); 1 ok, 1 warning, 2 critical of 4 "
                            "items | items=4 ok=1 warning=1 critical=2 failed=1 min_expiry=100s"), "%s", line);

        /* A long name is cut in the text; the perfdata stays whole. */
        {
                char small[80];

                verdict_summary(&v, small, sizeof(small));
                CHECK(strlen(small) == sizeof(small) - 1 &&
                      strstr(small, "... | items=4 ok=1 warning=1 critical=2 failed=1 min_expiry=100s"), "%s", small);
        }
        CHECK(!strcmp(verdict_name(VERDICT_UNKNOWN), "UNKNOWN") && !strcmp(verdict_name(VERDICT_WARNING), "WARNING"));
}

/* Every code the agent classifies is explained; the agent's own are not WeChat's. */
static void meanings(void) {
        static const long known[] = { -1, 40001, 40002, 40013, 40014, 40097, 40125, 40164, 40243, 41002, 41004,
                                      42001, 43002, 45009, 45011, 47001, 50004, 60020, 61004, 89503, 89506, 89507 };

        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                CHECK(!strncmp(classify_meaning(known[i]), "WeChat: ", 8) || !strncmp(classify_meaning(known[i]), "WeCom: ", 7),
                      "%ld: %s", known[i], classify_meaning(known[i]));
        CHECK(!strstr(classify_meaning(45009), "does not know"), "45009 known");
        for (long c = -1005; c <= -1001; c++)
                CHECK(!strncmp(classify_meaning(c), "agent: ", 7) && !strstr(classify_meaning(c), "newer"), "%ld: %s", c,
                      classify_meaning(c));
        CHECK(!strcmp(classify_meaning(0), ""));
        CHECK(!strcmp(classify_meaning(12345), "WeChat: a code the agent does not know"));
}

int main(void) {
        rules();
        meanings();
        whole();
        return check_exit_code();
}
