/* ticket-alarm.h: whether a platform's pushed ticket (component_verify_ticket, suite_ticket) is old enough to alarm: pure. */
#ifndef CORE_TICKET_ALARM_H
#define CORE_TICKET_ALARM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/*
 * WeChat pushes a component_verify_ticket every 10 minutes, valid 12 hours from its create
 * time; WeCom a suite_ticket every 10 minutes, valid 30 minutes. The alarm rings while
 * there is still time to mend the callback: a component's after six missed pushes (1 h,
 * 11 h before the ticket runs out), a suite's after two (20 min, 10 min before).
 */
#define TICKET_ALARM_COMPONENT_S (60 * 60)
#define TICKET_ALARM_SUITE_S (20 * 60)

/* The threshold for a platform kind (component or suite); 0 for a kind with no pushed ticket. */
int64_t ticket_alarm_after_s(enum app_kind kind);

/*
 * Whether to alarm: no usable ticket at all (none put, past its lifetime, or refused with
 * no previous one to stand in), or the one calls use is alarm_after_s old or older. Its
 * create time is WeChat's clock: one a little ahead of ours is age 0, not an alarm.
 */
bool ticket_alarm(bool usable, int64_t create_time_s, int64_t now_s, int64_t alarm_after_s);

/* now_s - create_time_s, never negative (a create time within the skew ahead of our clock is 0). */
int64_t ticket_age_s(int64_t create_time_s, int64_t now_s);

#endif
