/* test-agent-access.c: SO_PEERCRED access control: only members of an app's group get or refresh it. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"

#define SEC_A "Access-0123456789"
#define NOBODY_UID 60123

static char sock_group[32], app_group[32];

static void groups_remove(void) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "groupdel %s 2>/dev/null; groupdel %s 2>/dev/null", sock_group, app_group);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove the test groups\n");
}

static gid_t group_make(const char *name) {
        char cmd[128];
        struct group *g;

        snprintf(cmd, sizeof(cmd), "groupadd %s", name);
        SETUP_OK(system(cmd) == 0 && (g = getgrnam(name)), "groupadd %s failed", name);
        return g->gr_gid;
}

/*
 * In a child that becomes an unprivileged user in groups, send line and report: 0 the
 * reply contains want, 1 it does not, 2 no reply at all. Also whether the segment opened.
 */
static int as_user(struct agent_proc *a, const gid_t *groups, int n, const char *line, const char *want, int *seg) {
        int pipefd[2], status, r = 2;
        pid_t pid;

        if (pipe(pipefd) < 0)
                return 2;
        pid = fork();
        if (pid == 0) {
                char raw[4096];
                int out[2] = { 2, 0 };
                wxshm *h;

                if (setgroups((size_t)n, groups) < 0 || setgid(NOBODY_UID) < 0 || setuid(NOBODY_UID) < 0)
                        _exit(EXIT_SETUP);
                if (client_request(a->socket, line, raw, sizeof(raw), 10000) == 0)
                        out[0] = strstr(raw, want) ? 0 : 1;
                out[1] = wxshm_open(&h, "acc");
                if (write(pipefd[1], out, sizeof(out)) != sizeof(out))
                        _exit(EXIT_SETUP);
                _exit(0);
        }
        close(pipefd[1]);
        {
                int out[2];

                if (read(pipefd[0], out, sizeof(out)) == sizeof(out)) {
                        r = out[0];
                        *seg = out[1];
                }
        }
        close(pipefd[0]);
        waitpid(pid, &status, 0);
        return r;
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxA:" SEC_A, NULL };
        struct emu_proc emu;
        struct agent_proc a;
        char apps[512], extra[128];
        gid_t sock_gid, app_gid, in[2], out[1];
        int seg = 0;

        if (geteuid() != 0) {
                printf("not root: cannot make throwaway users and groups; skipped\n");
                return EXIT_SKIP;
        }
        snprintf(sock_group, sizeof(sock_group), "wxts%ld", (long)getpid() % 100000);
        snprintf(app_group, sizeof(app_group), "wxta%ld", (long)getpid() % 100000);
        atexit(groups_remove);
        sock_gid = group_make(sock_group);
        app_gid = group_make(app_group);

        emu_start(&emu, emu_args);
        agent_init(&a);
        chmod(a.dir, 0755); /* the socket lives there; the secrets inside stay 0600 */
        snprintf(apps, sizeof(apps), "[app acc]\nkind = token\nappid = wxA\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\ngroup = %s\n", agent_secret_file(&a, "acc", SEC_A), emu.port, app_group);
        snprintf(extra, sizeof(extra), "socket_group = %s", sock_group);
        agent_write_config(&a, extra, apps);
        agent_start(&a);

        in[0] = sock_gid;
        in[1] = app_gid;
        out[0] = sock_gid;
        CHECK(as_user(&a, in, 2, "{\"op\":\"get\",\"app\":\"acc\"}\n", "\"ok\":true", &seg) == 0,
              "a member of the app's group gets the token");
        CHECK(seg == 0, "and may map its segment (%d)", seg);
        CHECK(as_user(&a, out, 1, "{\"op\":\"get\",\"app\":\"acc\"}\n", "permission_denied", &seg) == 0,
              "a peer outside the app's group is refused");
        CHECK(seg == -EACCES, "and cannot map the segment (%d)", seg);
        CHECK(as_user(&a, out, 1, "{\"op\":\"refresh\",\"app\":\"acc\",\"generation\":1}\n", "permission_denied",
                      &seg) == 0, "nor refresh it");
        CHECK(as_user(&a, out, 1, "{\"op\":\"status\"}\n", "\"ok\":true", &seg) == 0, "status is for anyone");
        CHECK(as_user(&a, NULL, 0, "{\"op\":\"status\"}\n", "\"ok\":true", &seg) == 2,
              "outside the socket's group there is no connecting at all");
        return harness_finish(&a);
}
