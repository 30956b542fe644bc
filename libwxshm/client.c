/* client.c: one request to wxtokend's control socket and its reply, bounded by a deadline; libc only. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define CONNECT_RETRY_MS 10

const char *client_socket_path(void) {
        const char *p = secure_getenv("WXTOKEND_SOCKET");

        return p && *p ? p : PROTOCOL_SOCKET_DEFAULT;
}

static int64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait for events on fd until the deadline; one deadline for the whole exchange, so a
 * slow agent cannot stretch the caller's timeout by answering byte by byte.
 */
static int wait_fd(int fd, short events, int64_t deadline) {
        struct pollfd p = { .fd = fd, .events = events };
        int64_t left;
        int r;

        for (;;) {
                left = deadline - mono_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

static int connect_to(int fd, const char *path, int64_t deadline) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t err_len = sizeof(int);
        int err = 0, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                return 0;
        /*
         * A full listen backlog answers EAGAIN on a non-blocking Unix socket, and poll()
         * cannot say when there is room (an unconnected socket polls writable): nap, retry.
         */
        while (errno == EAGAIN) {
                int64_t left = deadline - mono_ms();

                if (left <= 0)
                        return -ETIMEDOUT;
                poll(NULL, 0, left < CONNECT_RETRY_MS ? (int)left : CONNECT_RETRY_MS);
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        return 0;
        }
        if (errno == EISCONN)
                return 0;
        if (errno != EINPROGRESS && errno != EINTR)
                return -errno;
        r = wait_fd(fd, POLLOUT, deadline);
        if (r < 0)
                return r;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
                return -errno;
        return err ? -err : 0;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline) {
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                int r;

                if (n > 0) {
                        buf += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Read until a '\n'; anything after it is dropped with the connection. */
static int recv_line(int fd, char *reply, size_t size, int64_t deadline) {
        size_t got = 0;

        for (;;) {
                ssize_t n = recv(fd, reply + got, size - got, 0);
                char *nl;
                int r;

                if (n == 0)
                        return -EPROTO;
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                        r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                nl = memchr(reply + got, '\n', (size_t)n);
                if (nl) {
                        *nl = '\0';
                        return 0;
                }
                got += (size_t)n;
                if (got == size)
                        return -EMSGSIZE;
        }
}

/* The server must run as owner or as root: a token request never goes to a stranger's socket. */
static int check_peer(int fd, long owner) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (owner < 0)
                return 0;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        return cred.uid == 0 || (long)cred.uid == owner ? 0 : -EPERM;
}

int client_request_as(const char *path, long owner, const char *line, char *reply, size_t size, int timeout_ms) {
        int64_t deadline;
        size_t len;
        int fd, r;

        if (!path || !line || !reply || size == 0 || timeout_ms <= 0)
                return -EINVAL;
        len = strlen(line);
        if (len == 0 || line[len - 1] != '\n')
                return -EINVAL;
        deadline = mono_ms() + timeout_ms;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect_to(fd, path, deadline);
        if (r == 0)
                r = check_peer(fd, owner);
        if (r == 0)
                r = send_all(fd, line, len, deadline);
        if (r == 0)
                r = recv_line(fd, reply, size, deadline);
        close(fd);
        return r;
}

int client_request(const char *path, const char *line, char *reply, size_t size, int timeout_ms) {
        return client_request_as(path, -1, line, reply, size, timeout_ms);
}
