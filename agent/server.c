/* server.c: the control socket's listener: systemd's socket or one bound here, accepting, closing down. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "file.h"
#include "log.h"
#include "server-internal.h"

static int on_listener_resume(sd_event_source *src, uint64_t usec, void *userdata) {
        struct server *s = userdata;

        sd_event_source_set_enabled(s->listener, SD_EVENT_ON);
        return 0;
}

static int on_listener(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct server *s = userdata;

        /* A bounded batch per wakeup, so a flood of connects cannot starve the other sources. */
        for (int i = 0; i < 256; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (cfd >= 0) {
                        server_accept_one(s, cfd);
                        continue;
                }
                if (errno == ECONNABORTED || errno == EINTR)
                        continue;
                /*
                 * Out of descriptors: the pending connection stays pending and the listener
                 * would wake us forever. Pause it a little instead of spinning.
                 */
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        sd_event_source_set_enabled(s->listener, SD_EVENT_OFF);
                        sd_event_source_set_time_relative(s->pause, 100 * 1000);
                        sd_event_source_set_enabled(s->pause, SD_EVENT_ONESHOT);
                }
                break;
        }
        return 0;
}

/* Remove path only if it is a socket nobody listens on: never another file, never a live agent. */
static int stale_remove(const char *path, const struct sockaddr_un *sa) {
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode)) {
                log_error("socket %s: there is a file that is not a socket; not replacing it", path);
                return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
        close(fd);
        if (r == 0) {
                log_error("socket %s: another process listens there", path);
                return -EADDRINUSE;
        }
        return unlink(path) < 0 ? -errno : 0;
}

static int listener_bind(const struct agent_config *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old;
        int fd, r;

        if (strlen(c->socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, c->socket_path);
        r = stale_remove(c->socket_path, &sa);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Born 0660 (no window where others could connect), then set explicitly anyway. */
        old = umask(0117);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        r = r < 0 ? -errno : file_set_socket_access(c->socket_path, 0660, c->socket_gid);
        if (r < 0 || listen(fd, SOMAXCONN) < 0) {
                r = r < 0 ? r : -errno;
                log_error("socket %s: %s", c->socket_path, strerror(-r));
                close(fd);
                return r;
        }
        return fd;
}

int server_new(struct server **ret, struct services *a) {
        struct server *s = calloc(1, sizeof(*s));
        int n, r;

        if (!s)
                return -ENOMEM;
        s->svc = a;
        s->statusq_tail = &s->statusq;
        s->idle_tail = &s->idle;
        n = sd_listen_fds(true);
        if (n > 1) {
                log_error("systemd passed %d sockets; wxtokend takes one (Accept=no, one ListenStream=)", n);
                r = -EINVAL;
                goto fail;
        }
        if (n == 1) {
                s->fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(s->fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
                        log_error("the socket systemd passed is not a listening AF_UNIX stream socket");
                        r = -EINVAL;
                        goto fail;
                }
                fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
        } else {
                s->fd = listener_bind(a->config);
                if (s->fd < 0) {
                        r = s->fd;
                        goto fail;
                }
                s->bound = true;
        }
        r = sd_event_add_io(a->loop, &s->listener, s->fd, EPOLLIN, on_listener, s);
        if (r >= 0)
                r = sd_event_add_defer(a->loop, &s->resume, server_on_resume, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->resume, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(a->loop, &s->status_src, server_on_status, s);
        if (r >= 0)
                r = sd_event_source_set_priority(s->status_src, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->status_src, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(a->loop, &s->pause, CLOCK_MONOTONIC, 100 * 1000, 10 * 1000,
                                               on_listener_resume, s);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(s->pause, SD_EVENT_OFF);
        log_info("listening on %s%s", n == 1 ? "the socket systemd passed" : a->config->socket_path,
                 n == 1 ? "" : " (bound by wxtokend)");
        *ret = s;
        return 0;
fail:
        sd_event_source_disable_unref(s->listener);
        sd_event_source_disable_unref(s->resume);
        sd_event_source_disable_unref(s->status_src);
        if (s->bound) {
                close(s->fd);
                unlink(a->config->socket_path);
        }
        free(s);
        return r;
}

void server_free(struct server *s) {
        if (!s)
                return;
        /* Replies already queued (shutting_down to waiters) get one try before the close. */
        while (s->conns) {
                conn_flush(s->conns);
                conn_free(s->conns);
        }
        sd_event_source_disable_unref(s->listener);
        sd_event_source_disable_unref(s->pause);
        sd_event_source_disable_unref(s->resume);
        sd_event_source_disable_unref(s->status_src);
        peer_table_free(&s->uids);
        if (s->bound) {
                close(s->fd);
                unlink(s->svc->config->socket_path);
        }
        free(s);
}
