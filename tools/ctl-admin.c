/* ctl-admin.c: wxtokenctl metrics (the exposition copied to EOF), reload and retry. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "wire.h"

/*
 * metrics: the one reply that is not a JSON line: the agent writes the exposition and
 * closes the connection, so it is copied to stdout up to EOF (no size cap), each read
 * bounded by timeout_ms.
 */
int cmd_metrics(const char *socket_path, int timeout_ms) {
        static const char req[] = "{\"op\":\"metrics\"}\n";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[65536], head[256];
        size_t head_len = 0;
        bool started = false;
        int fd;

        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return usage_error("--socket: the path is too long");
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;

                if (e == ENOENT || e == ECONNREFUSED)
                        fprintf(stderr, "wxtokenctl: cannot reach wxtokend at %s: is it running?\n", socket_path);
                else
                        fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(e));
                if (fd >= 0)
                        close(fd);
                return 1;
        }
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
                fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(errno));
                close(fd);
                return 1;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r = poll(&p, 1, timeout_ms);

                if (r == 0) {
                        fprintf(stderr, "wxtokenctl: no answer from wxtokend within %d ms\n", timeout_ms);
                        close(fd);
                        return 1;
                }
                n = r < 0 ? -1 : read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "wxtokenctl: %s: %s\n", socket_path, strerror(errno));
                        close(fd);
                        return 1;
                }
                if (n == 0)
                        break;
                /* An agent that does not know the op answers a JSON error line: said, not printed as metrics. */
                if (!started && head_len + (size_t)n < sizeof(head) && buf[0] == '{') {
                        memcpy(head + head_len, buf, (size_t)n);
                        head_len += (size_t)n;
                        continue;
                }
                if (!started && head_len > 0)
                        fwrite(head, 1, head_len, stdout);
                started = true;
                fwrite(buf, 1, (size_t)n, stdout);
        }
        close(fd);
        if (!started && head_len > 0) {
                head[head_len < sizeof(head) ? head_len : sizeof(head) - 1] = '\0';
                {
                        cJSON *o = cJSON_Parse(head);
                        const char *m = o ? text(o, "message") : head;

                        fprintf(stderr, "wxtokenctl: the agent refused metrics: %s\n", m);
                        cJSON_Delete(o);
                }
                return 1;
        }
        if (!started) {
                fprintf(stderr, "wxtokenctl: the agent closed the connection without metrics\n");
                return 1;
        }
        return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_reload(const char *socket_path) {
        cJSON *o = request(socket_path, "{\"op\":\"reload\"}\n", PROTOCOL_TIMEOUT_MAX_MS, NULL);

        if (!o)
                return 1;
        printf("reload taken: %.0f apps\n", number(o, "apps"));
        cJSON_Delete(o);
        return 0;
}

int cmd_retry(const char *socket_path, const char *app) {
        cJSON *req = cJSON_CreateString(app), *o;
        char *name = req ? cJSON_PrintUnformatted(req) : NULL, line[256];

        cJSON_Delete(req);
        if (!name || !wire_name_valid(app)) {
                free(name);
                fprintf(stderr, "wxtokenctl: %s: not an app name (" WIRE_NAME_GRAMMAR ")\n", app);
                return 1;
        }
        snprintf(line, sizeof(line), "{\"op\":\"retry\",\"app\":%s}\n", name);
        free(name);
        o = request(socket_path, line, PROTOCOL_TIMEOUT_DEFAULT_MS, NULL);
        if (!o)
                return 1;
        if (!strcmp(text(o, "retry"), "in_flight"))
                printf("%s: a call is under way already: wxtokenctl status %s shows how it ends\n", app, app);
        else if (!strcmp(text(o, "retry"), "forwarded"))
                printf("%s: sent to the lease holder%s%s%s, which applies its own rules (quota, max_forced_per_day, "
                       "min_force_interval) and logs what it did: wxtokenctl status %s shows how it ends\n", app,
                       text(o, "holder")[0] ? " (" : "", text(o, "holder"), text(o, "holder")[0] ? ")" : "", app);
        else
                printf("%s: calling now: wxtokenctl status %s shows how it ends\n", app, app);
        cJSON_Delete(o);
        return 0;
}
