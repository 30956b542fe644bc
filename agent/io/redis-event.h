/* redis-event.h: drives a hiredis asynchronous context from the agent's sd-event loop. */
#ifndef REDIS_EVENT_H
#define REDIS_EVENT_H

#include <hiredis/async.h>
#include <systemd/sd-event.h>

/*
 * Watch ac's socket on loop: hiredis asks for read and write interest through the ev
 * hooks, and the loop calls it back when the socket is ready. No thread, no blocking
 * call. The watch goes away with the context (hiredis calls the cleanup hook).
 */
int redis_event_attach(redisAsyncContext *ac, sd_event *loop);

#endif
