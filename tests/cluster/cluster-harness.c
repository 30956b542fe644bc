/* cluster-harness.c: a real redis-server and several wxtokend agents in cluster mode, for the cluster tests. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cluster-harness.h"

static int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        SETUP_OK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        SETUP_OK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

static redisContext *redis_connect(struct redis_proc *r) {
        struct timeval tv = { 1, 0 };
        redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);

        if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK)
                return c;
        if (c)
                redisFree(c);
        return NULL;
}

void redis_start(struct redis_proc *r, int port) {
        const char *bin = access("/usr/bin/redis-server", X_OK) == 0 ? "/usr/bin/redis-server" : "redis-server";
        pid_t parent = getpid();
        char portstr[16];

        if (!r->dir[0]) {
                strcpy(r->dir, "/tmp/test-redis.XXXXXX");
                SETUP_OK(mkdtemp(r->dir) != NULL, "mkdtemp: %m");
        }
        r->port = port ? port : free_port();
        snprintf(portstr, sizeof(portstr), "%d", r->port);
        fflush(NULL); /* or the child's freopen writes the parent's pending output a second time */
        r->pid = fork();
        SETUP_OK(r->pid >= 0, "fork: %m");
        if (r->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent || !freopen("/dev/null", "w", stdout))
                        _exit(127);
                /* Nothing on disk: a restart is a Redis that lost everything. */
                execlp(bin, bin, "--port", portstr, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--dir", r->dir, "--daemonize", "no", (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                redisContext *c = redis_connect(r);
                redisReply *rep = c ? redisCommand(c, "PING") : NULL;
                int status;

                if (rep) {
                        freeReplyObject(rep);
                        redisFree(c);
                        return;
                }
                if (c)
                        redisFree(c);
                if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
                        r->pid = 0;
                        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
                                printf("SKIP: no redis-server (apt-get install redis-server)\n");
                                exit(EXIT_SKIP);
                        }
                        SETUP_OK(false, "redis-server exited (status %#x)", status);
                }
                harness_sleep_ms(10);
        }
        SETUP_OK(false, "redis-server did not answer PING (500 tries, 10 ms apart)");
}

void redis_stop(struct redis_proc *r) {
        if (r->pid > 0) {
                kill(r->pid, SIGCONT);
                kill(r->pid, SIGKILL);
                waitpid(r->pid, NULL, 0);
        }
        r->pid = 0;
}

void redis_pause(struct redis_proc *r, bool paused) {
        kill(r->pid, paused ? SIGSTOP : SIGCONT);
}

long long redis_item_number(struct redis_proc *r, const char *item, const char *field) {
        redisContext *c = redis_connect(r);
        redisReply *rep = c ? redisCommand(c, "HGET wxtokend:item:%s %s", item, field) : NULL;
        long long v = -1;

        if (rep && rep->type == REDIS_REPLY_STRING)
                v = atoll(rep->str);
        if (rep)
                freeReplyObject(rep);
        if (c)
                redisFree(c);
        return v;
}

long long cluster_wall_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool redis_run(struct redis_proc *r, const char *fmt, ...) {
        redisContext *c = redis_connect(r);
        redisReply *rep = NULL;
        bool ok;
        va_list ap;

        if (c) {
                va_start(ap, fmt);
                rep = redisvCommand(c, fmt, ap);
                va_end(ap);
        }
        ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
                freeReplyObject(rep);
        if (c)
                redisFree(c);
        return ok;
}

/* One string-or-nil command's answer into buf ("" for nil); false if Redis did not answer so. */
static bool redis_string(struct redis_proc *r, char *buf, size_t size, const char *fmt, ...) {
        redisContext *c = redis_connect(r);
        redisReply *rep = NULL;
        va_list ap;
        bool ok;

        if (c) {
                va_start(ap, fmt);
                rep = redisvCommand(c, fmt, ap);
                va_end(ap);
        }
        ok = rep && (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_NIL);
        snprintf(buf, size, "%s", rep && rep->type == REDIS_REPLY_STRING ? rep->str : "");
        if (rep)
                freeReplyObject(rep);
        if (c)
                redisFree(c);
        return ok;
}

bool redis_get(struct redis_proc *r, const char *key, char *buf, size_t size) {
        return redis_string(r, buf, size, "GET %s", key);
}

long long redis_integer(struct redis_proc *r, const char *fmt, ...) {
        redisContext *c = redis_connect(r);
        redisReply *rep = NULL;
        long long v = -1;
        va_list ap;

        if (c) {
                va_start(ap, fmt);
                rep = redisvCommand(c, fmt, ap);
                va_end(ap);
        }
        if (rep && rep->type == REDIS_REPLY_INTEGER)
                v = rep->integer;
        if (rep)
                freeReplyObject(rep);
        if (c)
                redisFree(c);
        return v;
}

bool redis_get_field(struct redis_proc *r, const char *key, const char *field, char *buf, size_t size) {
        return redis_string(r, buf, size, "HGET %s %s", key, field);
}

int hosts_count(const struct cluster_hosts *h) {
        return h->count > 0 && h->count < CLUSTER_HOSTS ? h->count : CLUSTER_HOSTS;
}

void hosts_configure(struct cluster_hosts *h, struct redis_proc *r, int emu_port, const char *appid,
                     const char *secret, long lease_ms) {
        char block[2048], node[16], extra[512];

        for (int i = 0; i < hosts_count(h); i++) {
                agent_init(&h->host[i]);
                h->host[i].bin = h->bin[i];
                snprintf(node, sizeof(node), "node%d", i);
                snprintf(block, sizeof(block), "[app shop]\nkind = token\nappid = %s\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n\n[cluster]\nredis = redis://%s:%d/0\n"
                         "lease_ms = %ld\nnode_id = %s\n%s", appid, agent_secret_file(&h->host[i], "shop", secret),
                         emu_port, h->redis_host ? h->redis_host : "127.0.0.1", r->port, lease_ms,
                         h->node_id[i] ? h->node_id[i] : node, h->cluster_extra ? h->cluster_extra : "");
                snprintf(extra, sizeof(extra), "refresh_margin = 3\nbackoff_min = 1\nbackoff_max = 2\n"
                         "min_force_interval = 1\nlog_level = debug\n%s", h->agent_extra ? h->agent_extra : "");
                agent_write_config(&h->host[i], extra, block);
        }
}

void hosts_start(struct cluster_hosts *h, struct redis_proc *r, int emu_port, const char *appid, const char *secret,
                 long lease_ms) {
        hosts_configure(h, r, emu_port, appid, secret, lease_ms);
        for (int i = 0; i < hosts_count(h); i++)
                agent_start(&h->host[i]);
}

uint64_t host_generation(struct cluster_hosts *h, int i, const char *item, char *buf, size_t size) {
        char tmp[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        wxshm *s;
        int r;

        /* libwxshm takes the directory from the environment at open. */
        setenv("WXSHM_DIR", h->host[i].shm_dir, 1);
        if (wxshm_open(&s, item) < 0)
                return 0;
        r = wxshm_read(s, buf ? buf : tmp, buf ? size : sizeof(tmp), &info);
        wxshm_close(s);
        return r > 0 ? info.generation : 0;
}

bool host_holds(struct cluster_hosts *h, int i, const char *item) {
        char raw[8192];
        cJSON *o, *a, *apps;
        bool held = false;

        if (h->host[i].pid <= 0)
                return false;
        o = agent_request(&h->host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
        apps = cJSON_GetObjectItemCaseSensitive(o, "apps");
        cJSON_ArrayForEach(a, apps) {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "app");

                if (cJSON_IsString(name) && !strcmp(name->valuestring, item) &&
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lease_held_here")))
                        held = true;
        }
        cJSON_Delete(o);
        return held;
}

int hosts_holder(struct cluster_hosts *h, const char *item) {
        for (int i = 0; i < hosts_count(h); i++)
                if (host_holds(h, i, item))
                        return i;
        return -1;
}

bool hosts_wait_redis(struct cluster_hosts *h, bool connected, int max_ms) {
        for (int waited = 0; waited <= max_ms; waited += 50) {
                int agree = 0;

                for (int i = 0; i < CLUSTER_HOSTS; i++) {
                        char raw[8192];
                        const cJSON *c;
                        cJSON *o;

                        if (h->host[i].pid <= 0) {
                                agree++;
                                continue;
                        }
                        o = agent_request(&h->host[i], "{\"op\":\"status\"}\n", raw, sizeof(raw));
                        c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "cluster"), "connected");
                        agree += cJSON_IsBool(c) && (cJSON_IsTrue(c) != 0) == connected;
                        cJSON_Delete(o);
                }
                if (agree == CLUSTER_HOSTS)
                        return true;
                harness_sleep_ms(50);
        }
        return false;
}

uint64_t hosts_converge(struct cluster_hosts *h, const char *item, uint64_t min_gen, int max_ms) {
        char first[WXSHM_TOKEN_MAX + 1], other[WXSHM_TOKEN_MAX + 1];

        for (int waited = 0; waited <= max_ms; waited += 20) {
                uint64_t g = host_generation(h, 0, item, first, sizeof(first));
                bool same = g >= min_gen && g > 0;

                for (int i = 1; same && i < hosts_count(h); i++)
                        same = host_generation(h, i, item, other, sizeof(other)) == g && !strcmp(first, other);
                if (same)
                        return g;
                harness_sleep_ms(20);
        }
        return 0;
}

struct reader_result {
        uint64_t reads, failed, backwards, two_tokens, first_gen, last_gen;
        int last_error;
};

/* Until SIGTERM: every read's generation no lower than the last, and one token per generation. */
static void reader_child(const char *item, int fd) {
        char buf[WXSHM_TOKEN_MAX + 1], last[WXSHM_TOKEN_MAX + 1] = "";
        struct reader_result res = { 0 };
        sigset_t set;
        wxshm *s = NULL;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        while (sigpending(&set) == 0 && !sigismember(&set, SIGTERM)) {
                wxshm_info info = { .size = sizeof(info) };
                int r;

                if (!s && wxshm_open(&s, item) < 0) {
                        s = NULL;
                        usleep(1000);
                        continue;
                }
                r = wxshm_read(s, buf, sizeof(buf), &info);
                if (r < 0) {
                        if (res.reads) {
                                res.failed++;
                                res.last_error = r;
                        }
                        usleep(100);
                        continue;
                }
                if (res.reads && info.generation < res.last_gen)
                        res.backwards++;
                if (res.reads && info.generation == res.last_gen && strcmp(buf, last) != 0)
                        res.two_tokens++;
                if (!res.reads)
                        res.first_gen = info.generation;
                res.last_gen = info.generation;
                memcpy(last, buf, (size_t)r + 1);
                res.reads++;
                /* A reader in a real process does work between reads; this keeps two cores for the agents. */
                if (res.reads % 64 == 0)
                        usleep(200);
        }
        if (write(fd, &res, sizeof(res)) != sizeof(res))
                _exit(1);
        _exit(0);
}

void hosts_readers_start(struct cluster_hosts *h, const char *item, struct host_reader *rd) {
        for (int i = 0; i < hosts_count(h); i++) {
                int fds[2];

                SETUP_OK(pipe(fds) == 0);
                setenv("WXSHM_DIR", h->host[i].shm_dir, 1);
                fflush(NULL);
                rd[i].pid = fork();
                SETUP_OK(rd[i].pid >= 0);
                if (rd[i].pid == 0) {
                        close(fds[0]);
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        reader_child(item, fds[1]);
                }
                close(fds[1]);
                rd[i].fd = fds[0];
        }
}

bool hosts_readers_finish(struct cluster_hosts *h, struct host_reader *rd) {
        bool clean = true;

        for (int i = 0; i < hosts_count(h); i++) {
                struct reader_result res = { 0 };
                bool ok;

                kill(rd[i].pid, SIGTERM);
                ok = read(rd[i].fd, &res, sizeof(res)) == sizeof(res);
                waitpid(rd[i].pid, NULL, 0);
                close(rd[i].fd);
                printf("reader on host %d: %llu reads, generations %llu..%llu, %llu failed after the first token, "
                       "%llu backwards, %llu generations with two tokens%s%s\n", i, (unsigned long long)res.reads,
                       (unsigned long long)res.first_gen, (unsigned long long)res.last_gen,
                       (unsigned long long)res.failed, (unsigned long long)res.backwards,
                       (unsigned long long)res.two_tokens, res.last_error ? "; the last error: " : "",
                       res.last_error ? strerror(-res.last_error) : "");
                clean = clean && ok && res.reads > 0 && !res.failed && !res.backwards && !res.two_tokens;
        }
        return clean;
}

int hosts_finish(struct cluster_hosts *h, struct redis_proc *r, struct host_reader *rd) {
        int stopped = 0;

        CHECK(hosts_readers_finish(h, rd), "readers on every host: no failure, no generation backwards");
        for (int i = 1; i < hosts_count(h); i++)
                stopped += agent_stop(&h->host[i]) == 0;
        CHECK(stopped == hosts_count(h) - 1, "the hosts stop cleanly");
        redis_stop(r);
        /* Redis saves nothing (--save ""), so its directory is empty by now. */
        CHECK(rmdir(r->dir) == 0, "Redis's directory %s removed: %s", r->dir, strerror(errno));
        return harness_finish(&h->host[0]);
}

int hosts_log_count(struct cluster_hosts *h, const char *needle) {
        int n = 0;

        for (int i = 0; i < hosts_count(h); i++)
                n += agent_log_count(&h->host[i], needle);
        return n;
}

bool hosts_wait_log(struct cluster_hosts *h, const char *needle, int before, int max_ms) {
        for (int waited = 0; waited < max_ms; waited += 50) {
                if (hosts_log_count(h, needle) > before)
                        return true;
                harness_sleep_ms(50);
        }
        return false;
}

void hosts_ctl_status(struct cluster_hosts *h, int i, char *out, size_t size) {
        char cmd[256];
        size_t n = 0;
        FILE *f;

        snprintf(cmd, sizeof(cmd), "WXTOKEND_SOCKET=%s %s status", h->host[i].socket,
                 getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl");
        f = popen(cmd, "r");
        if (f) {
                n = fread(out, 1, size - 1, f);
                pclose(f);
        }
        out[n] = '\0';
        printf("wxtokenctl status on host %d:\n%s", i, out);
}

void hosts_check_served(struct cluster_hosts *h, const char *what, uint64_t g, const char *token) {
        char buf[WXSHM_TOKEN_MAX + 1];

        for (int i = 0; i < hosts_count(h); i++) {
                uint64_t got = host_generation(h, i, "shop", buf, sizeof(buf));

                CHECK(got == g && !strcmp(buf, token), "%s: host %d still serves generation %llu and its token (got "
                      "generation %llu, %s)", what, i, (unsigned long long)g, (unsigned long long)got,
                      !strcmp(buf, token) ? "same token" : "ANOTHER TOKEN");
        }
}
