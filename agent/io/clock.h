/* clock.h: the three clocks the agent and wxtokenctl read, in milliseconds, over clock_gettime. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

/*
 * Which clock is which matters more than the arithmetic, so it is written once:
 * - wall (CLOCK_REALTIME): what WeChat's expires_in, the segment's expires_at and the
 *   Beijing quota day are counted in; it may jump.
 * - boot (CLOCK_BOOTTIME): leases and refresh timers; it keeps counting through a suspend
 *   or a paused VM, as Redis's key expiry does, where CLOCK_MONOTONIC would stop.
 * - mono (CLOCK_MONOTONIC): short relative waits that must not jump.
 * libwxshm keeps its own clocks: it links nothing of the agent.
 */
static inline int64_t clock_ms(clockid_t id) {
        struct timespec ts;

        /* Cannot fail for these ids on Linux; 0 rather than an unset ts if it ever does. */
        if (clock_gettime(id, &ts) < 0)
                return 0;
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_wall_ms(void) {
        return clock_ms(CLOCK_REALTIME);
}

static inline int64_t clock_boot_ms(void) {
        return clock_ms(CLOCK_BOOTTIME);
}

static inline int64_t clock_mono_ms(void) {
        return clock_ms(CLOCK_MONOTONIC);
}

#endif
