/* agent-harness.c: run the real wxtokend for integration tests: config, secrets, readiness, logs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"

#define MAX_AGENTS 8

static struct agent_proc *agents[MAX_AGENTS];

void harness_sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

static void *notify_drain(void *userdata);

/* A test stopped by REQUIRE or SETUP_OK leaves no agent, emulator or directory behind. */
static void harness_cleanup(void) {
        agent_cleanup_all();
        proc_cleanup_all();
}

void agent_init(struct agent_proc *a) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int slot = -1;

        for (int i = 0; i < MAX_AGENTS; i++)
                if (!agents[i]) {
                        slot = i;
                        break;
                }
        memset(a, 0, sizeof(*a));
        check_on_stop(harness_cleanup);
        /* A write to a connection the agent closed is a result to check, not a reason to die. */
        signal(SIGPIPE, SIG_IGN);
        strcpy(a->dir, "/tmp/test-agent.XXXXXX");
        SETUP_OK(slot >= 0, "more than %d agents", MAX_AGENTS);
        SETUP_OK(mkdtemp(a->dir), "mkdtemp: %m");
        agents[slot] = a;
        snprintf(a->conf, sizeof(a->conf), "%s/wxtokend.conf", a->dir);
        snprintf(a->state_dir, sizeof(a->state_dir), "%s/state", a->dir);
        snprintf(a->log_file, sizeof(a->log_file), "%s/stderr", a->dir);
        snprintf(a->notify_path, sizeof(a->notify_path), "%s/notify", a->dir);
        /* The agent makes it; the harness only removes it at the end. */
        snprintf(a->shm_dir, sizeof(a->shm_dir), "/dev/shm/wxi%ld_%d", (long)getpid(), slot);
        snprintf(a->socket, sizeof(a->socket), "%s/sock", a->dir);
        setenv("WXSHM_DIR", a->shm_dir, 1);
        setenv("WXTOKEND_SOCKET", a->socket, 1);
        a->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", a->notify_path);
        /* With the sender's pid on every message, a killed agent's last words are not its successor's. */
        SETUP_OK(a->notify_fd >= 0 && bind(a->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                         setsockopt(a->notify_fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) == 0,
                 "notify socket %s: %m", a->notify_path);
        pthread_mutex_init(&a->lock, NULL);
        SETUP_OK(pthread_create(&a->drain, NULL, notify_drain, a) == 0, "notify thread");
}

const char *agent_secret_file(struct agent_proc *a, const char *name, const char *secret) {
        static char path[8][160];
        static int next;
        char *p = path[next++ % 8];
        int fd;

        snprintf(p, sizeof(path[0]), "%s/%s.secret", a->dir, name);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        SETUP_OK(fd >= 0 && write(fd, secret, strlen(secret)) == (ssize_t)strlen(secret) && write(fd, "\n", 1) == 1,
                 "secret file %s: %m", p);
        close(fd);
        return p;
}

void agent_write_config(struct agent_proc *a, const char *agent_extra, const char *apps) {
        FILE *f = fopen(a->conf, "we");

        SETUP_OK(f, "%s: %m", a->conf);
        /*
         * wxemu speaks http:// and hands out lifetimes of seconds: allowed here unless the
         * test sets these keys itself (to see the defaults refuse them).
         */
        fprintf(f, "[agent]\nsocket = %s\nstate_dir = %s\nshm_dir = %s\n%s%s%s\n%s", a->socket, a->state_dir,
                a->shm_dir, agent_extra && strstr(agent_extra, "allow_plain_http") ? "" : "allow_plain_http = yes\n",
                agent_extra && strstr(agent_extra, "min_token_lifetime") ? "" : "min_token_lifetime = 1\n",
                agent_extra ? agent_extra : "", apps ? apps : "");
        SETUP_OK(fclose(f) == 0, "%s: %m", a->conf);
}

static void *notify_drain(void *userdata) {
        struct agent_proc *a = userdata;
        char buf[4096];

        for (;;) {
                struct pollfd p = { .fd = a->notify_fd, .events = POLLIN };
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(struct ucred))];
                } control;
                struct iovec iov = { buf, sizeof(buf) - 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                struct cmsghdr *c;
                pid_t sender = 0;
                ssize_t n;

                pthread_mutex_lock(&a->lock);
                if (a->stop) {
                        pthread_mutex_unlock(&a->lock);
                        return NULL;
                }
                pthread_mutex_unlock(&a->lock);
                if (poll(&p, 1, 50) <= 0 || (n = recvmsg(a->notify_fd, &mh, 0)) <= 0)
                        continue;
                buf[n] = '\0';
                for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                                struct ucred cred;

                                memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                                sender = cred.pid;
                        }
                pthread_mutex_lock(&a->lock);
                {
                        size_t used = strlen(a->notified);
                        char **slot = &a->msgs[a->n_msgs % 256];

                        snprintf(a->notified + used, sizeof(a->notified) - used, "%s\n", buf);
                        free(*slot);
                        *slot = strdup(buf);
                        a->msg_pid[a->n_msgs % 256] = sender;
                        a->n_msgs++;
                }
                pthread_mutex_unlock(&a->lock);
        }
}

bool agent_wait_notify(struct agent_proc *a, const char *what, int max_ms) {
        for (int waited = 0; waited <= max_ms; waited += 20) {
                bool found = false;

                pthread_mutex_lock(&a->lock);
                if (a->n_msgs - a->cursor > 256)
                        a->cursor = a->n_msgs - 256;
                for (; a->cursor < a->n_msgs && !found; a->cursor++) {
                        const char *m = a->msgs[a->cursor % 256];
                        pid_t from = a->msg_pid[a->cursor % 256];

                        /* Under systemd-socket-activate the agent's pid is not the one we forked. */
                        found = m && strstr(m, what) && (a->activate || a->pid <= 0 || !from || from == a->pid);
                }
                pthread_mutex_unlock(&a->lock);
                if (found)
                        return true;
                if (a->pid > 0 && waitpid(a->pid, NULL, WNOHANG) == a->pid) {
                        a->pid = 0;
                        return false;
                }
                harness_sleep_ms(20);
        }
        return false;
}

bool agent_notified(struct agent_proc *a, const char *what) {
        bool found;

        pthread_mutex_lock(&a->lock);
        found = strstr(a->notified, what) != NULL;
        pthread_mutex_unlock(&a->lock);
        return found;
}

void agent_spawn(struct agent_proc *a) {
        const char *bin = a->bin ? a->bin : getenv("WXTOKEND") ? getenv("WXTOKEND") : "./agent/wxtokend";
        pid_t parent = getpid();

        a->pid = fork();
        SETUP_OK(a->pid >= 0, "fork: %m");
        if (a->pid == 0) {
                int fd = open(a->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent || fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                setenv("NOTIFY_SOCKET", a->notify_path, 1);
                unsetenv("JOURNAL_STREAM");
                for (int i = 0; a->env[i]; i++)
                        putenv((char *)a->env[i]);
                if (a->activate) {
                        /* systemd-socket-activate hands its children only the variables named with -E. */
                        const char *argv[32] = { "systemd-socket-activate", "-l", a->socket, "-E", "NOTIFY_SOCKET" };
                        int n = 5;

                        for (int i = 0; a->env[i] && n < 24; i++) {
                                argv[n++] = "-E";
                                argv[n++] = a->env[i];
                        }
                        argv[n++] = bin;
                        argv[n++] = "-c";
                        argv[n++] = a->conf;
                        argv[n] = NULL;
                        execvp(argv[0], (char *const *)argv);
                } else
                        execl(bin, bin, "-c", a->conf, (char *)NULL);
                _exit(127);
        }
}

void agent_start(struct agent_proc *a) {
        char *log;

        agent_spawn(a);
        if (a->activate) {
                char raw[256];
                cJSON *first = NULL;

                /* The listener is systemd-socket-activate's until our first connection starts the agent. */
                for (int i = 0; i < 500 && !first; i++) {
                        first = agent_request(a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
                        if (!first)
                                harness_sleep_ms(20);
                }
                cJSON_Delete(first);
        }
        /* Generous: sanitizer builds start slowly; a dead agent ends the wait at once. */
        if (agent_wait_notify(a, "READY=1", 30000))
                return;
        log = agent_log(a);
        SETUP_OK(false, "wxtokend sent no READY=1 in 30 s; its log:\n%s", log ? log : "");
}

int agent_stop(struct agent_proc *a) {
        int status;

        if (a->pid <= 0)
                return -1;
        kill(a->pid, SIGTERM);
        for (int i = 0; i < 1500; i++) {
                if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
                        a->pid = 0;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
                harness_sleep_ms(10);
        }
        agent_kill9(a);
        return -1;
}

void agent_kill9(struct agent_proc *a) {
        if (a->pid <= 0)
                return;
        kill(a->pid, SIGKILL);
        waitpid(a->pid, NULL, 0);
        a->pid = 0;
}

void agent_signal(struct agent_proc *a, int sig) {
        if (a->pid > 0)
                kill(a->pid, sig);
}

char *agent_log(struct agent_proc *a) {
        char *log = file_slurp(a->log_file);

        return log ? log : strdup("");
}

int agent_log_count(struct agent_proc *a, const char *needle) {
        char *log = agent_log(a), *p = log;
        int n = 0;

        while (p && (p = strstr(p, needle))) {
                n++;
                p += strlen(needle);
        }
        free(log);
        return n;
}

void agent_cleanup_all(void) {
        char cmd[160];

        for (int i = 0; i < MAX_AGENTS; i++) {
                struct agent_proc *a = agents[i];

                if (!a)
                        continue;
                agent_kill9(a);
                pthread_mutex_lock(&a->lock);
                a->stop = true;
                pthread_mutex_unlock(&a->lock);
                pthread_join(a->drain, NULL);
                for (int m = 0; m < 256; m++)
                        free(a->msgs[m]);
                close(a->notify_fd);
                snprintf(cmd, sizeof(cmd), "rm -rf %s %s", a->shm_dir, a->dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", a->dir);
                agents[i] = NULL;
        }
}

int agent_read(const char *item, char *buf, size_t size, wxshm_info *info) {
        wxshm *h;
        int r = wxshm_open(&h, item);

        if (r < 0)
                return r;
        info->size = sizeof(*info);
        r = wxshm_read(h, buf, size, info);
        wxshm_close(h);
        return r;
}

bool agent_status(const char *item, int64_t *state, int64_t *errcode) {
        const struct wxshm_layout *seg;
        char path[160];
        struct stat st;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", getenv("WXSHM_DIR"), item);
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return false;
        /* The agent creates the object before it sizes it: mapping it then would SIGBUS on the read. */
        if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(*seg)) {
                close(fd);
                return false;
        }
        seg = mmap(NULL, sizeof(*seg), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (seg == MAP_FAILED)
                return false;
        *state = atomic_load(&seg->state);
        *errcode = atomic_load(&seg->last_errcode);
        munmap((void *)seg, sizeof(*seg));
        return true;
}

bool agent_wait_generation(const char *item, uint64_t gen, int max_ms) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;

        for (int waited = 0; waited < max_ms; waited += 20) {
                if (agent_read(item, buf, sizeof(buf), &info) > 0 && info.generation >= gen)
                        return true;
                harness_sleep_ms(20);
        }
        return false;
}

bool agent_wait_state(const char *item, int64_t state, int max_ms) {
        int64_t s, e;

        for (int waited = 0; waited < max_ms; waited += 20) {
                if (agent_status(item, &s, &e) && s == state)
                        return true;
                harness_sleep_ms(20);
        }
        return false;
}

long agent_app_number(struct agent_proc *a, const char *item, const char *field) {
        char line[160], raw[8192];
        const cJSON *apps;
        cJSON *o;
        long n = -1;

        snprintf(line, sizeof(line), "{\"op\":\"status\",\"app\":\"%s\"}\n", item);
        o = agent_request(a, line, raw, sizeof(raw));
        apps = o ? cJSON_GetObjectItemCaseSensitive(o, "apps") : NULL;
        if (cJSON_GetArraySize(apps) >= 1)
                n = json_int(cJSON_GetArrayItem(apps, 0), field, -1);
        cJSON_Delete(o);
        return n;
}

bool agent_wait_app_number(struct agent_proc *a, const char *item, const char *field, long min, int max_ms) {
        for (int waited = 0; waited < max_ms; waited += 20) {
                if (agent_app_number(a, item, field) >= min)
                        return true;
                harness_sleep_ms(20);
        }
        return false;
}

long proc_status(pid_t pid, const char *field) {
        char path[64], line[256], want[64];
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
        snprintf(want, sizeof(want), "%s: %%ld", field);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, want, &v) == 1)
                        break;
        if (f)
                fclose(f);
        return v;
}

bool agent_exited(struct agent_proc *a, int max_ms, int *status) {
        for (int waited = 0; waited < max_ms; waited += 10) {
                pid_t r = waitpid(a->pid, status, WNOHANG);

                if (r == a->pid) {
                        a->pid = 0;
                        return true;
                }
                if (r < 0)
                        return false;
                harness_sleep_ms(10);
        }
        return false;
}

int harness_finish(struct agent_proc *a) {
        if (a && a->pid > 0 && agent_stop(a) != 0) {
                char *log = agent_log(a);

                CHECK(false, "clean stop; the agent's log:\n%s", log);
                free(log);
        }
        agent_cleanup_all();
        proc_cleanup_all();
        return check_exit_code();
}

void emu_start(struct emu_proc *e, const char *const *args) {
        proc_start(e, getenv("WXEMU") ? getenv("WXEMU") : "./tests/emu/wxemu", args);
}

int socket_dial(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int saved = errno;

                close(fd);
                errno = saved;
                return -1;
        }
        return fd;
}

cJSON *agent_request(struct agent_proc *a, const char *line, char *raw, size_t raw_size) {
        if (client_request(a->socket, line, raw, raw_size, 30000) < 0)
                return NULL;
        return cJSON_Parse(raw);
}

int agent_ctl(const struct agent_proc *a, const char *stdin_line, const char *args, char *out, size_t size) {
        const char *bin = getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl";
        char cmd[2048];
        size_t n;
        FILE *p;
        int status;

        snprintf(cmd, sizeof(cmd), "%s%s%sWXTOKEND_SOCKET=%s %s %s 2>&1", stdin_line ? "printf '%s\\n' '" : "",
                 stdin_line ? stdin_line : "", stdin_line ? "' | " : "", a->socket, bin, args);
        p = popen(cmd, "r");
        if (!p)
                return -1;
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        status = pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int agent_refresh_all(const struct agent_proc *a, const char *item, uint64_t gen, int n, char last[4096]) {
        int fds[64], ok = 0;
        char line[160];

        SETUP_OK(n > 0 && n <= 64, "agent_refresh_all: 1 to 64 clients");
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 item, (unsigned long long)gen);
        for (int i = 0; i < n; i++) {
                fds[i] = socket_dial(a->socket);
                SETUP_OK(fds[i] >= 0 && write(fds[i], line, strlen(line)) == (ssize_t)strlen(line), "send %d", i);
        }
        for (int i = 0; i < n; i++) {
                char buf[4096];
                size_t got = 0;
                ssize_t r;

                while (got < sizeof(buf) - 1 && (r = read(fds[i], buf + got, sizeof(buf) - 1 - got)) > 0) {
                        got += (size_t)r;
                        if (memchr(buf, '\n', got))
                                break;
                }
                buf[got] = '\0';
                if (last)
                        memcpy(last, buf, got + 1);
                if (strstr(buf, "\"ok\":true"))
                        ok++;
                else
                        fprintf(stderr, "  reply %d: %s\n", i, buf);
                close(fds[i]);
        }
        return ok;
}

uint64_t agent_generation(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

/* doc/wxemu.md: FNV-1a-64 of "SEED:ID:1", then that hash with "#" folded in once more, after prefix. */
static char *emu_seeded(const char *seed, const char *id, const char *prefix) {
        char in[128], *out = malloc(64);
        uint64_t h1 = 0xcbf29ce484222325ULL, h2;

        snprintf(in, sizeof(in), "%s:%s:1", seed, id);
        for (const char *p = in; *p; p++)
                h1 = (h1 ^ (unsigned char)*p) * 0x100000001b3ULL;
        h2 = (h1 ^ (unsigned char)'#') * 0x100000001b3ULL;
        if (!out)
                abort();
        snprintf(out, 64, "%s%016llx%016llx", prefix, (unsigned long long)h1, (unsigned long long)h2);
        return out;
}

char *emu_seeded_refresh_token(const char *seed, const char *appid) {
        return emu_seeded(seed, appid, "refreshtoken@@@");
}

char *emu_seeded_permanent_code(const char *seed, const char *corpid) {
        return emu_seeded(seed, corpid, "pcode@@@");
}

int emu_endpoint_calls(struct emu_proc *e, const char *endpoint) {
        struct http_res res;
        const cJSON *p, *o;
        int n = -1;

        http_call(e, "GET", "/emu/stats", NULL, 5000, &res);
        p = res.json ? cJSON_GetObjectItemCaseSensitive(res.json, "platform") : NULL;
        o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "endpoints"), endpoint);
        if (o)
                n = json_int(o, "calls", -1);
        http_res_free(&res);
        return n;
}

int emu_stat(struct emu_proc *e, const char *app, const char *counter) {
        struct http_res r;
        const cJSON *apps, *o;
        int v = -1;

        http_call(e, "GET", "/emu/stats", NULL, 5000, &r);
        apps = r.json ? cJSON_GetObjectItemCaseSensitive(r.json, "apps") : NULL;
        o = apps ? cJSON_GetObjectItemCaseSensitive(apps, app) : NULL;
        if (o)
                v = json_int(o, counter, -1);
        http_res_free(&r);
        return v;
}
