/* test-ticket-alarm.c: the ticket-age alarm: its thresholds per kind, the boundary, no ticket, a create time ahead of our clock. */
#include "check.h"
#include "ticket-alarm.h"

#define NOW 1700000000LL

int main(void) {
        /* The thresholds sit well inside each ticket's lifetime: 1 h of 12 h, 20 min of 30 min. */
        CHECK_EQ(ticket_alarm_after_s(APP_KIND_COMPONENT), 3600);
        CHECK_EQ(ticket_alarm_after_s(APP_KIND_SUITE), 1200);
        CHECK_EQ(ticket_alarm_after_s(APP_KIND_TOKEN), 0);
        CHECK(ticket_alarm_after_s(APP_KIND_COMPONENT) < 12 * 3600 && ticket_alarm_after_s(APP_KIND_SUITE) < 30 * 60,
              "each threshold is before the ticket runs out");

        /* A ticket just pushed, and one a second short of the threshold: quiet; at the threshold: alarm. */
        CHECK(!ticket_alarm(true, NOW, NOW, 3600), "a fresh ticket does not alarm");
        CHECK(!ticket_alarm(true, NOW - 3599, NOW, 3600), "3599 s old of 3600: no alarm");
        CHECK(ticket_alarm(true, NOW - 3600, NOW, 3600), "3600 s old of 3600: alarm");
        CHECK(ticket_alarm(true, NOW - 1200, NOW, 1200), "a suite_ticket 20 min old: alarm");
        CHECK(!ticket_alarm(true, NOW - 1199, NOW, 1200), "a suite_ticket 1199 s old: no alarm");

        /* No usable ticket at all alarms, whatever its create time says. */
        CHECK(ticket_alarm(false, NOW, NOW, 3600), "no usable ticket: alarm");
        CHECK(ticket_alarm(false, 0, NOW, 3600), "none ever put: alarm");

        /* WeChat's clock a little ahead of ours: age 0, no alarm. */
        CHECK_EQ(ticket_age_s(NOW + 30, NOW), 0);
        CHECK(!ticket_alarm(true, NOW + 30, NOW, 3600), "a create time ahead of our clock does not alarm");
        CHECK_EQ(ticket_age_s(NOW - 7200, NOW), 7200);
        return check_exit_code();
}
