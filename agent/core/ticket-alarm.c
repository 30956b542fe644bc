/* ticket-alarm.c: whether a platform's pushed ticket (component_verify_ticket, suite_ticket) is old enough to alarm: pure. */
#include "ticket-alarm.h"

int64_t ticket_alarm_after_s(enum app_kind kind) {
        if (kind == APP_KIND_COMPONENT)
                return TICKET_ALARM_COMPONENT_S;
        if (kind == APP_KIND_SUITE)
                return TICKET_ALARM_SUITE_S;
        return 0;
}

int64_t ticket_age_s(int64_t create_time_s, int64_t now_s) {
        return now_s > create_time_s ? now_s - create_time_s : 0;
}

bool ticket_alarm(bool usable, int64_t create_time_s, int64_t now_s, int64_t alarm_after_s) {
        return !usable || ticket_age_s(create_time_s, now_s) >= alarm_after_s;
}
