/* manager-internal.h: the manager's parts beside manager.c: retrying what could not start, the lines about READY. */
#ifndef MANAGER_INTERNAL_H
#define MANAGER_INTERNAL_H

#include <stdint.h>

#include <systemd/sd-event.h>

#include "failed.h"
#include "services.h"

/* What could not start is tried again every backoff_max, not only at a reload. */
struct failed_retry {
        struct services *svc;
        struct failed_list *failed;
        sd_event_source *timer;         /* armed while something failed */
};

/*
 * After a start or a reload: stamp the new entries of r->failed (before: the list as it
 * was, NULL at the start) and arm the timer for the next try if anything failed.
 */
void failed_retry_update(struct failed_retry *r, const struct failed_list *before);

void failed_retry_free(struct failed_retry *r);

/* READY=1 (manager-ready.c): at the start, which apps it waits for; when it goes, which are fresh and which not. */
void ready_log_waiting(const struct services *svc);
void ready_log_ready(const struct services *svc, const struct failed_list *failed);

#endif
