/* authorizers-util.c: thousands of accounts under one component, for test-agent-authorizers-2000 and bench-authorizers: wxemu, config, adds over the socket, counts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "authorizers-util.h"
#include "check.h"
#include "scale-util.h"

#define COMP_APPID "wxcomp0001"
#define COMP_SECRET "Cmp-Secret-7f3a9c1e5b2d"

void auths_appid(int i, char out[16]) {
        snprintf(out, 16, "wxa%08d", i + 1);
}

void auths_start(struct emu_proc *emu, struct agent_proc *a, int n, int latency_ms, const char *extra) {
        char count[16], latency[16], apps[1024], line[1024];
        const char *args[] = { "--component", COMP_APPID ":" COMP_SECRET, "--authorizers", count, "--latency-ms",
                               latency, "--seed", AUTHS_SEED, NULL };
        struct http_res res;
        cJSON *o;

        snprintf(count, sizeof(count), "%d", n);
        snprintf(latency, sizeof(latency), "%d", latency_ms);
        emu_start(emu, args);
        agent_init(a);
        /* BENCH_STATE_TMPFS=1: state_dir on /dev/shm, where an fsync costs nothing, to tell the disk's share. */
        if (getenv("BENCH_STATE_TMPFS") && atoi(getenv("BENCH_STATE_TMPFS")))
                snprintf(a->state_dir, sizeof(a->state_dir), "%s-state", a->shm_dir);
        snprintf(apps, sizeof(apps), "[app " AUTHS_COMPONENT "]\nkind = component\nappid = " COMP_APPID
                 "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(a, AUTHS_COMPONENT, COMP_SECRET), emu->port);
        agent_write_config(a, extra, apps);
        agent_start(a);
        /* The verify ticket WeChat would push: the component's token needs it. */
        http_call(emu, "POST", "/emu/push_ticket?component=" COMP_APPID, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"" AUTHS_COMPONENT "\",\"ticket\":\"%s\","
                 "\"create_time\":%lld}\n", json_str(res.json, "ticket"), (long long)time(NULL) - 60);
        http_res_free(&res);
        o = agent_request(a, line, apps, sizeof(apps));
        SETUP_OK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")), "ticket put: %s", apps);
        cJSON_Delete(o);
        SETUP_OK(agent_wait_generation(AUTHS_COMPONENT, 1, 60000), "the component's token");
}

char *auths_add_line(int i) {
        char appid[16], *rt, *line = malloc(256);

        auths_appid(i, appid);
        rt = emu_seeded_refresh_token(AUTHS_SEED, appid);
        SETUP_OK(line, "out of memory");
        snprintf(line, 256, "{\"op\":\"authorizer_add\",\"component\":\"" AUTHS_COMPONENT "\",\"appid\":\"%s\","
                 "\"refresh_token\":\"%s\"}\n", appid, rt);
        free(rt);
        return line;
}

/* One reply line from fd into buf (NUL-terminated): its length, or -1. */
static ssize_t read_line(int fd, char *buf, size_t size) {
        size_t got = 0;
        ssize_t r;

        while (got < size - 1 && (r = read(fd, buf + got, size - 1 - got)) > 0) {
                got += (size_t)r;
                if (memchr(buf, '\n', got))
                        break;
        }
        buf[got] = '\0';
        return memchr(buf, '\n', got) ? (ssize_t)got : -1;
}

static void send_line(int fd, const char *line) {
        SETUP_OK(write(fd, line, strlen(line)) == (ssize_t)strlen(line), "send: %m");
}

int auths_add(struct agent_proc *a, int from, int to, int conns) {
        struct pollfd *p = calloc((size_t)conns, sizeof(*p));
        int next = from, added = 0, open = 0;
        char buf[2048];

        SETUP_OK(p, "out of memory");
        for (int i = 0; i < conns && next < to; i++, open++) {
                char *line = auths_add_line(next++);

                p[i] = (struct pollfd){ .fd = socket_dial(a->socket), .events = POLLIN };
                SETUP_OK(p[i].fd >= 0, "connect: %m");
                send_line(p[i].fd, line);
                free(line);
        }
        while (open > 0) {
                SETUP_OK(poll(p, (nfds_t)conns, 120000) > 0, "the agent answers adds");
                for (int i = 0; i < conns; i++) {
                        if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        /* One request in flight per connection: the reply is the whole of what is there. */
                        SETUP_OK(read_line(p[i].fd, buf, sizeof(buf)) > 0, "a reply to an add");
                        added += strstr(buf, "\"authorizer\":\"added\"") != NULL;
                        if (next < to) {
                                char *line = auths_add_line(next++);

                                send_line(p[i].fd, line);
                                free(line);
                        } else {
                                close(p[i].fd);
                                p[i].fd = -1;
                                open--;
                        }
                }
        }
        free(p);
        return added;
}

void auths_burst(struct agent_proc *a, char *const *lines, int n, char (*replies)[1024]) {
        int *fds = calloc((size_t)n, sizeof(*fds));

        SETUP_OK(fds, "out of memory");
        /* Accepted first (a get answered), so the stopped agent has only the lines to read. */
        for (int i = 0; i < n; i++) {
                fds[i] = socket_dial(a->socket);
                SETUP_OK(fds[i] >= 0, "connect: %m");
                send_line(fds[i], "{\"op\":\"get\",\"app\":\"" AUTHS_COMPONENT "\"}\n");
                SETUP_OK(read_line(fds[i], replies[i], sizeof(replies[i])) > 0, "get");
        }
        agent_signal(a, SIGSTOP);
        for (int i = 0; i < n; i++)
                send_line(fds[i], lines[i]);
        agent_signal(a, SIGCONT);
        for (int i = 0; i < n; i++) {
                SETUP_OK(read_line(fds[i], replies[i], sizeof(replies[i])) > 0, "a reply in the burst");
                close(fds[i]);
        }
        free(fds);
}

static bool fresh_one(int i) {
        char buf[WXSHM_TOKEN_MAX + 1], name[32], appid[16];
        wxshm_info info = { .size = sizeof(info) };

        auths_appid(i, appid);
        snprintf(name, sizeof(name), AUTHS_COMPONENT ".%s", appid);
        return agent_read(name, buf, sizeof(buf), &info) > 0 && info.generation >= 1;
}

int auths_fresh(int n) {
        int fresh = 0;

        for (int i = 0; i < n; i++)
                fresh += fresh_one(i);
        return fresh;
}

bool auths_wait_fresh(int n, int max_ms) {
        int known = 0;

        /*
         * A token once published stays (generation >= 1): each poll reads on from the first
         * account not seen fresh, so a wait costs some n reads, not n a poll (a reader
         * polling 10,000 segments four times a second takes CPU the agent would use).
         */
        for (int waited = 0; waited <= max_ms; waited += 100) {
                while (known < n && fresh_one(known))
                        known++;
                if (known == n)
                        return auths_fresh(n) == n;
                harness_sleep_ms(100);
        }
        return false;
}

int auths_watch(struct agent_proc *a) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

        /*
         * IN_MOVED_FROM too: the kernel merges an event into the last one queued if they are
         * alike (mask, wd, name; not the cookie), so renames into place alone would count 1.
         */
        SETUP_OK(fd >= 0 && inotify_add_watch(fd, a->state_dir, IN_MOVED_TO | IN_MOVED_FROM) >= 0, "inotify on %s: %m",
                 a->state_dir);
        return fd;
}

int auths_saves(int watch) {
        char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t len;
        int n = 0;

        while ((len = read(watch, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + len;) {
                        const struct inotify_event *e = (const struct inotify_event *)p;

                        n += (e->mask & IN_MOVED_TO) && e->len && !strcmp(e->name, AUTHS_COMPONENT ".authorizers");
                        p += sizeof(*e) + e->len;
                }
        SETUP_OK(len < 0 && errno == EAGAIN, "inotify: %m (an overflowed queue would miscount)");
        return n;
}

int auths_file_records(struct agent_proc *a) {
        char path[256], *f;
        cJSON *o;
        int n;

        snprintf(path, sizeof(path), "%s/" AUTHS_COMPONENT ".authorizers", a->state_dir);
        f = file_slurp(path);
        o = f ? cJSON_Parse(f) : NULL;
        n = o ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "authorizers")) : -1;
        cJSON_Delete(o);
        free(f);
        return n;
}

int auths_listed(void) {
        int status, n = -1;
        char *out = scale_ctl_output("authorizer list " AUTHS_COMPONENT " --json", &status);
        cJSON *o = status == 0 ? cJSON_Parse(out) : NULL;

        if (o)
                n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "authorizers"));
        cJSON_Delete(o);
        free(out);
        return n;
}

int auths_warnings(struct agent_proc *a) {
        int n = scale_log_warnings(a) - agent_log_count(a, "wxtokend: warning: app " AUTHS_COMPONENT ": no "
                                                         "component_verify_ticket yet");

        if (n) {
                char *log = agent_log(a), *save = NULL;

                for (char *l = log ? strtok_r(log, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
                        if (strstr(l, "wxtokend: warning: ") || strstr(l, "wxtokend: error: "))
                                fprintf(stderr, "%s\n", l);
                free(log);
        }
        return n;
}
