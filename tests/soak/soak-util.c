/* soak-util.c: what the fault campaign's tests share: checksum-checking reader processes, wxemu's call log. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "soak-util.h"

/* Shared with the reader processes: one anonymous mapping made before they fork. */
struct soak_shared {
        atomic_bool stop;
        struct soak_item_stats st[SOAK_READERS_MAX][SOAK_ITEMS_MAX];
};

struct soak_readers {
        struct soak_shared *shared;
        pid_t pid[SOAK_READERS_MAX];
        int n, n_items;
};

int64_t soak_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int guard_fd = -1;
static pid_t guard_pid;

void soak_guard_start(const struct agent_proc *a, const struct emu_proc *e, const char *mountpoint) {
        char cmd[512];
        int p[2];

        snprintf(cmd, sizeof(cmd), "rm -rf %s %s %s", a->dir, e ? e->dir : "", a->shm_dir);
        /* Close-on-exec: only processes that do not exec (readers) share the write end, and they die with us. */
        if (pipe2(p, O_CLOEXEC) < 0 || (guard_pid = fork()) < 0)
                abort();
        if (guard_pid == 0) {
                char c;

                /* A ^C to the process group must not stop the cleanup it makes necessary. */
                signal(SIGINT, SIG_IGN);
                signal(SIGTERM, SIG_IGN);
                signal(SIGHUP, SIG_IGN);
                close(p[1]);
                while (read(p[0], &c, 1) > 0)
                        ;
                if (chdir("/") == 0 && mountpoint && (umount2(mountpoint, MNT_DETACH) == 0 || errno == EINVAL))
                        rmdir(mountpoint);
                _exit(system(cmd) == 0 ? 0 : 1);
        }
        close(p[0]);
        guard_fd = p[1];
}

void soak_guard_end(void) {
        if (guard_fd < 0)
                return;
        close(guard_fd);
        guard_fd = -1;
        waitpid(guard_pid, NULL, 0);
}

long soak_env(const char *name, long dflt) {
        const char *v = getenv(name);
        long n = v ? strtol(v, NULL, 10) : 0;

        return n > 0 ? n : dflt;
}

static uint64_t fnv1a64(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325u;

        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 0x100000001b3u;
        }
        return h;
}

bool soak_token_valid(const char *token, size_t len) {
        char want[17];

        if (len < 24 || strlen(token) != len)
                return false;
        snprintf(want, sizeof(want), "%016llx", (unsigned long long)fnv1a64(token, len - 16));
        return memcmp(token + len - 16, want, 16) == 0;
}

static void reader_read(wxshm *h, struct soak_item_stats *st, char *buf, size_t size) {
        wxshm_info info = { .size = sizeof(info) };
        int r = wxshm_read(h, buf, size, &info);

        if (r < 0) {
                /* Before the item's first token there is nothing to keep readable. */
                if (st->last_gen == 0 && r == -ENODATA)
                        return;
                st->failed++;
                st->last_error = r;
                return;
        }
        st->reads++;
        if (!soak_token_valid(buf, (size_t)r))
                st->torn++;
        if (info.generation < st->last_gen)
                st->backwards++;
        if (!info.agent_alive)
                st->not_alive++;
        if (!st->first_gen)
                st->first_gen = info.generation;
        st->last_gen = info.generation;
}

static void reader_main(struct soak_shared *sh, int idx, const char *const *items, int n_items) {
        static const struct timespec pause = { 0, 1000000 };
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm *h[SOAK_ITEMS_MAX] = { 0 };

        while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
                for (int i = 0; i < n_items; i++) {
                        /* The segments exist before the readers start; retry only if one is late. */
                        if (!h[i] && wxshm_open(&h[i], items[i]) < 0)
                                continue;
                        for (int k = 0; k < 2048; k++)
                                reader_read(h[i], &sh->st[idx][i], buf, sizeof(buf));
                }
                /* About a millisecond of reading, then one of pause: the agent needs a CPU too. */
                nanosleep(&pause, NULL);
        }
        for (int i = 0; i < n_items; i++)
                wxshm_close(h[i]);
        _exit(0);
}

struct soak_readers *soak_readers_start(int n, const char *const *items, int n_items) {
        struct soak_readers *r = calloc(1, sizeof(*r));
        pid_t parent = getpid();

        if (!r || n > SOAK_READERS_MAX || n_items > SOAK_ITEMS_MAX)
                abort();
        r->shared = mmap(NULL, sizeof(*r->shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (r->shared == MAP_FAILED)
                abort();
        memset(r->shared, 0, sizeof(*r->shared));
        r->n = n;
        r->n_items = n_items;
        for (int i = 0; i < n; i++) {
                r->pid[i] = fork();
                if (r->pid[i] < 0)
                        abort();
                if (r->pid[i] == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        if (getppid() != parent)
                                _exit(0);
                        http_forget();
                        reader_main(r->shared, i, items, n_items);
                }
        }
        return r;
}

static bool stats_clean(const struct soak_item_stats *s) {
        return s->reads > 0 && s->torn == 0 && s->failed == 0 && s->backwards == 0;
}

bool soak_readers_stop(struct soak_readers *r, struct soak_item_stats *total) {
        bool ok = true;

        atomic_store(&r->shared->stop, true);
        for (int i = 0; i < r->n; i++) {
                int status;

                if (waitpid(r->pid[i], &status, 0) != r->pid[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        ok = false;
        }
        memset(total, 0, sizeof(*total) * (size_t)r->n_items);
        for (int it = 0; it < r->n_items; it++) {
                struct soak_item_stats *t = &total[it];

                for (int i = 0; i < r->n; i++) {
                        const struct soak_item_stats *s = &r->shared->st[i][it];

                        t->reads += s->reads;
                        t->torn += s->torn;
                        t->failed += s->failed;
                        t->backwards += s->backwards;
                        t->not_alive += s->not_alive;
                        if (s->last_error)
                                t->last_error = s->last_error;
                        if (s->first_gen && (!t->first_gen || s->first_gen < t->first_gen))
                                t->first_gen = s->first_gen;
                        if (s->last_gen > t->last_gen)
                                t->last_gen = s->last_gen;
                        /* Each reader must have read, not only the sum. */
                        ok &= stats_clean(s);
                }
        }
        munmap(r->shared, sizeof(*r->shared));
        free(r);
        return ok;
}

bool soak_readers_report(const char *const *items, int n_items, const struct soak_item_stats *total) {
        bool ok = true;

        for (int i = 0; i < n_items; i++) {
                const struct soak_item_stats *t = &total[i];

                printf("readers, %-10s %11llu reads, generations %llu..%llu, %llu torn, %llu failed (last %s), "
                       "%llu backwards, %llu while the agent was not alive\n",
                       items[i], (unsigned long long)t->reads, (unsigned long long)t->first_gen,
                       (unsigned long long)t->last_gen, (unsigned long long)t->torn, (unsigned long long)t->failed,
                       t->last_error ? strerror(-t->last_error) : "none", (unsigned long long)t->backwards,
                       (unsigned long long)t->not_alive);
                ok &= stats_clean(t);
        }
        return ok;
}

const struct wxshm_layout *soak_map(const char *item) {
        const struct wxshm_layout *seg;
        char path[160];
        struct stat st;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", getenv("WXSHM_DIR"), item);
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        /* An object not yet sized would SIGBUS on the first look. */
        if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(*seg)) {
                close(fd);
                return NULL;
        }
        seg = mmap(NULL, sizeof(*seg), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        return seg == MAP_FAILED ? NULL : seg;
}

void soak_unmap(const struct wxshm_layout *seg) {
        if (seg)
                munmap((void *)seg, sizeof(*seg));
}

void soak_calls_of(struct emu_proc *e, const char *appid, struct soak_calls *out) {
        struct http_res r;
        const cJSON *entry;

        out->n = 0;
        http_call(e, "GET", "/emu/log", NULL, 10000, &r);
        cJSON_ArrayForEach(entry, r.json) {
                const char *app = json_str(entry, "app"), *ep = json_str(entry, "endpoint"), *f = json_str(entry, "fault");
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(entry, "unix_ms");
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(entry, "generation");
                struct soak_call *c;

                if (!app || !ep || strcmp(app, appid) != 0 || strcmp(ep, "token") != 0 || out->n == SOAK_CALLS_MAX)
                        continue;
                c = &out->c[out->n++];
                c->unix_ms = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
                c->http = json_int(entry, "http", 0);
                c->errcode = json_int(entry, "errcode", 0);
                snprintf(c->fault, sizeof(c->fault), "%s", f ? f : "");
                c->emu_gen = cJSON_IsNumber(g) ? (uint64_t)g->valuedouble : 0;
        }
        http_res_free(&r);
}

bool soak_call_ok(const struct soak_call *c) {
        return c->http == 200 && c->errcode == 0 && (c->fault[0] == '\0' || strcmp(c->fault, "slow") == 0);
}
