/* bench-redis.c: a redis-server of a benchmark's own on loopback, where most WeChat SDKs keep the token. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-redis.h"

static struct redis_proc *running;      /* stopped at exit, whatever path exit takes */

static void sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

/* redis-server on $PATH, else Debian's /usr/bin/redis-server. */
static int redis_find(char *bin, size_t size) {
        const char *path = getenv("PATH");

        while (path && *path) {
                size_t len = strcspn(path, ":");

                if (len > 0 && (size_t)snprintf(bin, size, "%.*s/redis-server", (int)len, path) < size &&
                    access(bin, X_OK) == 0)
                        return 0;
                path += len + (path[len] == ':');
        }
        snprintf(bin, size, "/usr/bin/redis-server");
        return access(bin, X_OK) == 0 ? 0 : -ENOENT;
}

/* A port nobody listens on now: the kernel's pick for an ephemeral bind, released again. */
static int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

        if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
                port = ntohs(sa.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

static void redis_exec(const struct redis_proc *r, const char *dir, pid_t parent) {
        char port[16], log[256];

        /* Never outlive the benchmark, even if it is killed before it can stop us. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
        snprintf(port, sizeof(port), "%d", r->port);
        snprintf(log, sizeof(log), "%s/redis.log", dir);
        /* No config file: defaults, but loopback only, no persistence, files in our directory. */
        execl(r->bin, r->bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
              "--dir", dir, "--logfile", log, "--daemonize", "no", (char *)NULL);
        _exit(127);
}

static bool redis_ping(const struct redis_proc *r, struct redis_proc *info) {
        redisContext *ctx = redis_connect(r);
        redisReply *rep = ctx ? redisCommand(ctx, "PING") : NULL;
        bool ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;

        if (ok && info) {
                redisReply *v = redisCommand(ctx, "INFO server");
                const char *p = v && v->type == REDIS_REPLY_STRING ? strstr(v->str, "redis_version:") : NULL;

                if (p)
                        sscanf(p, "redis_version:%31[^\r\n]", info->version);
                if (v)
                        freeReplyObject(v);
        }
        if (rep)
                freeReplyObject(rep);
        if (ctx)
                redisFree(ctx);
        return ok;
}

static void redis_stop_at_exit(void) {
        if (running)
                redis_stop(running);
}

int redis_start(struct redis_proc *r, const char *dir) {
        pid_t parent = getpid();

        memset(r, 0, sizeof(*r));
        if (redis_find(r->bin, sizeof(r->bin)) < 0)
                return -ENOENT;
        /* Another process may take the port between our probe and redis' bind: then try another. */
        for (int attempt = 0; attempt < 5; attempt++) {
                if ((r->port = free_port()) < 0)
                        return -errno;
                if ((r->pid = fork()) < 0)
                        return -errno;
                if (r->pid == 0)
                        redis_exec(r, dir, parent);
                if (!running)
                        atexit(redis_stop_at_exit);
                running = r;
                for (int waited = 0; waited < 10000; waited += 20) {
                        if (redis_ping(r, r))
                                return 0;
                        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
                                r->pid = 0;
                                break;
                        }
                        sleep_ms(20);
                }
                redis_stop(r);
        }
        return -ETIMEDOUT;
}

redisContext *redis_connect(const struct redis_proc *r) {
        struct timeval tv = { 2, 0 };
        redisContext *ctx = redisConnectWithTimeout("127.0.0.1", r->port, tv);

        if (ctx && ctx->err) {
                redisFree(ctx);
                return NULL;
        }
        /* Bound every command too: a wedged server must end the benchmark, not hang it. */
        if (ctx && redisSetTimeout(ctx, tv) != REDIS_OK) {
                redisFree(ctx);
                return NULL;
        }
        return ctx;
}

void redis_stop(struct redis_proc *r) {
        if (r->pid <= 0)
                return;
        kill(r->pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
                if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
                        r->pid = 0;
                        return;
                }
                sleep_ms(10);
        }
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
}
