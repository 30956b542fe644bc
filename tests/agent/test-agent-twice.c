/* test-agent-twice.c: a second agent on a live namespace refuses, names the holder and changes no byte of it. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_T "Twice-0123456789abcdef"
#define MAX_FILES 8

struct snapshot {
        int n;
        char name[MAX_FILES][NAME_MAX + 1];
        struct wxshm_layout seg[MAX_FILES];
};

/* Every segment of dir, with the heartbeat masked: the only word the live agent changes by itself. */
static void snapshot_take(const char *dir, struct snapshot *s) {
        DIR *d = opendir(dir);
        struct dirent *e;

        memset(s, 0, sizeof(*s));
        SETUP_OK(d, "%s: %m", dir);
        while ((e = readdir(d)) && s->n < MAX_FILES) {
                char path[512];
                int fd;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                fd = open(path, O_RDONLY);
                SETUP_OK(fd >= 0 && read(fd, &s->seg[s->n], sizeof(s->seg[0])) == (ssize_t)sizeof(s->seg[0]),
                         "read the segment %s: %m", path);
                close(fd);
                atomic_store(&s->seg[s->n].heartbeat_ms, 0);
                snprintf(s->name[s->n], sizeof(s->name[0]), "%s", e->d_name);
                s->n++;
        }
        closedir(d);
}

static bool snapshot_equal(const struct snapshot *x, const struct snapshot *y) {
        if (x->n != y->n)
                return false;
        for (int i = 0; i < x->n; i++)
                if (strcmp(x->name[i], y->name[i]) != 0 || memcmp(&x->seg[i], &y->seg[i], sizeof(x->seg[i])) != 0)
                        return false;
        return true;
}

static bool pid_in(const struct snapshot *s, pid_t pid) {
        for (int i = 0; i < s->n; i++)
                if (atomic_load(&s->seg[i].agent_pid) == pid)
                        return true;
        return false;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxTW:" SEC_T, NULL };
        static struct agent_proc a, b;
        struct snapshot before, after;
        struct emu_proc emu;
        char apps[512], want[192];
        pid_t b_pid;
        int status;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app tw]\nkind = token\nappid = wxTW\nsecret_file = %s\ntickets = jsapi\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "tw", SEC_T), emu.port);
        agent_write_config(&a, NULL, apps);
        agent_start(&a);
        CHECK(agent_wait_generation("tw", 1, 10000) && agent_wait_generation("tw.jsapi", 1, 10000), "a published");
        snapshot_take(a.shm_dir, &before);
        CHECK(before.n == 2, "two segments (%d)", before.n);

        /* b: its own state_dir, socket and directory for everything but the namespace, which is a's. */
        agent_init(&b);
        snprintf(b.shm_dir, sizeof(b.shm_dir), "%s", a.shm_dir);
        snprintf(apps, sizeof(apps),
                 "[app tw]\nkind = token\nappid = wxTW\nsecret_file = %s\ntickets = jsapi\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&b, "tw", SEC_T), emu.port);
        agent_write_config(&b, NULL, apps);
        agent_spawn(&b);
        b_pid = b.pid;
        CHECK(agent_exited(&b, 20000, &status) && WIFEXITED(status) && WEXITSTATUS(status) != 0,
              "the second agent refuses to run");
        snprintf(want, sizeof(want), "another wxtokend (pid %ld) owns shm_dir %s", (long)a.pid, a.shm_dir);
        CHECK(agent_log_count(&b, want) == 1, "and names the holder: %s", want);

        snapshot_take(a.shm_dir, &after);
        CHECK(snapshot_equal(&before, &after), "the first agent's segments are unchanged byte for byte");
        CHECK(!pid_in(&after, b_pid), "the second agent's pid appears in no segment");
        CHECK(emu_stat(&emu, "wxTW", "token_calls") == 1 && emu_stat(&emu, "wxTW", "ticket_calls") == 1,
              "upstream calls are one agent's: %d token, %d ticket", emu_stat(&emu, "wxTW", "token_calls"),
              emu_stat(&emu, "wxTW", "ticket_calls"));
        {
                char path[192];
                struct stat st;

                /* Nothing of b's was made either: it left before its state_dir. */
                snprintf(path, sizeof(path), "%s", b.state_dir);
                CHECK(stat(path, &st) != 0, "the second agent made no state_dir");
        }
        b.shm_dir[0] = '\0';
        return harness_finish(&a);
}
