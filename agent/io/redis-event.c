/* redis-event.c: a hiredis event adapter for sd-event (hiredis ships them for other loops only). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "redis-event.h"

struct redis_event {
        redisAsyncContext *ac;
        sd_event_source *io;
        uint32_t events;                /* EPOLLIN / EPOLLOUT wanted by hiredis */
};

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct redis_event *e = userdata;

        /*
         * One direction per wake-up: handling a read may free the context (and e with it),
         * so nothing may touch either afterwards. The loop is level-triggered, so a socket
         * still writable wakes it again.
         */
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
                redisAsyncHandleRead(e->ac);
        else if (revents & EPOLLOUT)
                redisAsyncHandleWrite(e->ac);
        return 0;
}

static void update(struct redis_event *e, uint32_t events) {
        e->events = events;
        if (!e->io)
                return;
        if (events) {
                sd_event_source_set_io_events(e->io, events);
                sd_event_source_set_enabled(e->io, SD_EVENT_ON);
        } else {
                sd_event_source_set_enabled(e->io, SD_EVENT_OFF);
        }
}

static void add_read(void *p) {
        struct redis_event *e = p;

        update(e, e->events | EPOLLIN);
}

static void del_read(void *p) {
        struct redis_event *e = p;

        update(e, e->events & ~(uint32_t)EPOLLIN);
}

static void add_write(void *p) {
        struct redis_event *e = p;

        update(e, e->events | EPOLLOUT);
}

static void del_write(void *p) {
        struct redis_event *e = p;

        update(e, e->events & ~(uint32_t)EPOLLOUT);
}

static void cleanup(void *p) {
        struct redis_event *e = p;

        /* sd-event defers the free of a source that is being dispatched: safe from on_io. */
        sd_event_source_disable_unref(e->io);
        free(e);
}

int redis_event_attach(redisAsyncContext *ac, sd_event *loop) {
        struct redis_event *e;
        int r;

        if (ac->ev.data)
                return -EEXIST;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->ac = ac;
        r = sd_event_add_io(loop, &e->io, ac->c.fd, 0, on_io, e);
        if (r < 0) {
                free(e);
                return r;
        }
        sd_event_source_set_enabled(e->io, SD_EVENT_OFF);
        ac->ev.addRead = add_read;
        ac->ev.delRead = del_read;
        ac->ev.addWrite = add_write;
        ac->ev.delWrite = del_write;
        ac->ev.cleanup = cleanup;
        ac->ev.data = e;
        return 0;
}
