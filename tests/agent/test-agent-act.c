/* test-agent-act.c: acting now: wxtokenctl reload and retry, refresh of an app with no token, and wxtokenctl's truthful errors. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"
#include "clock.h"
#include "writer.h"

#define SEC_A "Act-A-0123456789ab"
#define SEC_B "Act-B-0123456789ab"
#define SEC_Q "Act-Q-0123456789ab"
#define SEC_X "Act-X-0123456789ab"
#define OPERATOR_NOT "wxtact"          /* a real login user, kept between runs (useradd is slow) */
#define BIG_GENERATION 18446744073709551614ull /* 2^64-2: far past what a double holds exactly */

static char sock_group[32];

static void group_remove(void) {
        char cmd[96];

        snprintf(cmd, sizeof(cmd), "groupdel %s 2>/dev/null", sock_group);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove the test group\n");
}

/* Run wxtokenctl with args (and env before it); stdout in out, stderr in err, the exit status returned. */
static int ctl(const char *env, const char *args, char *out, size_t size, char *err, size_t err_size) {
        const char *bin = getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl";
        char cmd[1024], err_path[64];
        size_t n;
        FILE *p;
        int status, fd;

        snprintf(err_path, sizeof(err_path), "/tmp/wxtact-err.%ld", (long)getpid());
        snprintf(cmd, sizeof(cmd), "%s %s %s 2>%s", env ? env : "", bin, args, err_path);
        p = popen(cmd, "r");
        if (!p)
                return -1;
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        status = pclose(p);
        err[0] = '\0';
        fd = open(err_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t k = read(fd, err, err_size - 1);

                err[k > 0 ? k : 0] = '\0';
                close(fd);
        }
        unlink(err_path);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* In a child running as the real user OPERATOR_NOT (in the socket's group), send line; its reply in out. */
static bool as_other_user(struct agent_proc *a, gid_t sock_gid, const char *line, char *out, size_t size) {
        struct passwd *pw = getpwnam(OPERATOR_NOT);
        int pipefd[2], status;
        ssize_t n = 0;
        pid_t pid;

        SETUP_OK(pw, "getpwnam " OPERATOR_NOT);
        SETUP_OK(pipe(pipefd) == 0, "pipe: %m");
        pid = fork();
        SETUP_OK(pid >= 0, "fork: %m");
        if (pid == 0) {
                char raw[4096] = "";

                if (setgroups(1, &sock_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
                        _exit(EXIT_SETUP);
                if (client_request(a->socket, line, raw, sizeof(raw), 10000) < 0)
                        snprintf(raw, sizeof(raw), "no reply");
                if (write(pipefd[1], raw, strlen(raw)) < 0)
                        _exit(EXIT_SETUP);
                _exit(0);
        }
        close(pipefd[1]);
        n = read(pipefd[0], out, size - 1);
        out[n > 0 ? n : 0] = '\0';
        close(pipefd[0]);
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * The apps: good (wxA), bad (wxB: 40164, IP not whitelisted; its group is the socket's, so
 * the other user may get and refresh it), quo (wxQ: 45009), and extra (wxX) when asked.
 */
static void write_config(struct agent_proc *a, int port, bool extra, const char *garbage) {
        char apps[2048], agent_extra[256];
        int n;

        n = snprintf(apps, sizeof(apps),
                     "[app good]\nkind = token\nappid = wxA\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                     "[app bad]\nkind = token\nappid = wxB\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                     "group = %s\n"
                     "[app quo]\nkind = token\nappid = wxQ\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                     agent_secret_file(a, "good", SEC_A), port, agent_secret_file(a, "bad", SEC_B), port, sock_group,
                     agent_secret_file(a, "quo", SEC_Q), port);
        if (extra)
                n += snprintf(apps + n, sizeof(apps) - (size_t)n, "[app extra]\nkind = token\nappid = wxX\n"
                              "secret_file = %s\napi_base = http://127.0.0.1:%d\n",
                              agent_secret_file(a, "extra", SEC_X), port);
        if (garbage)
                snprintf(apps + n, sizeof(apps) - (size_t)n, "%s\n", garbage);
        /* backoff_max 600 s: without a retry, bad's next attempt is ten minutes away. */
        snprintf(agent_extra, sizeof(agent_extra), "backoff_min = 1\nbackoff_max = 600\nmin_force_interval = 1\n"
                 "socket_group = %s\n", sock_group);
        agent_write_config(a, agent_extra, apps);
}

/* A segment of our own with a generation no double holds, read back through wxtokenctl get --json. */
static void check_big_generation(void) {
        char dir[64], env[96], out[4096], err[4096], want[64];
        wxshm_writer *w;
        int dfd;

        snprintf(dir, sizeof(dir), "/dev/shm/wxtact%ld", (long)getpid());
        SETUP_OK(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %m", dir);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        SETUP_OK(dfd >= 0, "%s: %m", dir);
        SETUP_OK(wxshm_writer_open(&w, dfd, "big", &(struct wxshm_writer_options){ .mode = 0644, .group = (gid_t)-1 }) == 0, "writer");
        SETUP_OK(wxshm_writer_publish_generation(w, "BIGTOKEN", 8, clock_wall_ms() + 3600 * 1000, clock_wall_ms(),
                                                 BIG_GENERATION) == 0, "publish");
        snprintf(env, sizeof(env), "WXSHM_DIR=%s", dir);
        snprintf(want, sizeof(want), "\"generation\":%llu,", BIG_GENERATION);
        CHECK(ctl(env, "get --json big", out, sizeof(out), err, sizeof(err)) == 0 && strstr(out, want),
              "a generation past 2^53 printed exactly: %s", out);
        wxshm_writer_retire(w);
        wxshm_writer_close(w);
        close(dfd);
        rmdir(dir);
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxA:" SEC_A, "--app", "wxB:" SEC_B, "--app", "wxQ:" SEC_Q,
                                                "--app", "wxX:" SEC_X, NULL };
        char out[65536], err[8192], raw[8192], env[160];
        struct emu_proc emu;
        static struct agent_proc a;
        struct group *g;
        long calls;
        cJSON *j;

        if (geteuid() != 0) {
                printf("not root: cannot make a second user; skipped\n");
                return EXIT_SKIP;
        }
        SETUP_OK(getpwnam(OPERATOR_NOT) || system("useradd -M -s /usr/sbin/nologin " OPERATOR_NOT " >/dev/null 2>&1") == 0,
                 "useradd " OPERATOR_NOT);
        snprintf(sock_group, sizeof(sock_group), "wxtas%ld", (long)getpid() % 100000);
        atexit(group_remove);
        snprintf(raw, sizeof(raw), "groupadd %s", sock_group);
        SETUP_OK(system(raw) == 0 && (g = getgrnam(sock_group)), "groupadd %s", sock_group);

        emu_start(&emu, emu_args);
        /* bad: the server's IP is not whitelisted; quo: the day's quota is spent. Both before the first call. */
        SETUP_OK(control(&emu, "/emu/fault?app=wxB&kind=errcode&errcode=40164&errmsg=invalid%20ip%20not%20in%20whitelist")
                 == 200, "fault wxB");
        SETUP_OK(control(&emu, "/emu/fault?app=wxQ&kind=errcode&errcode=45009&errmsg=reach%20max%20api%20daily%20quota")
                 == 200, "fault wxQ");
        agent_init(&a);
        chmod(a.dir, 0755); /* the socket lives there; the secrets inside stay 0600 */
        write_config(&a, emu.port, false, NULL);
        agent_start(&a); /* READY: every app has a token or failed its first attempt */
        CHECK(agent_wait_state("bad", WXSHM_STATE_CONFIG_ERROR, 10000), "bad: config_error");
        CHECK(agent_wait_state("quo", WXSHM_STATE_QUOTA, 10000), "quo: quota");

        /* refresh of an app with no token: answered with its errcode, long before its own 5 s timeout. */
        CHECK(client_request(a.socket, "{\"op\":\"refresh\",\"app\":\"bad\",\"timeout_ms\":5000}\n", raw, sizeof(raw),
                             2500) == 0 && strstr(raw, "upstream_failed") && strstr(raw, "40164"),
              "refresh with no token: answered at once with errcode 40164: %s", raw);

        /* Exit 64 on a usage error; get --json's error is a JSON object on stdout. */
        CHECK(ctl(NULL, "frobnicate", out, sizeof(out), err, sizeof(err)) == 64, "usage error: exit 64");
        CHECK(ctl(NULL, "retry", out, sizeof(out), err, sizeof(err)) == 64, "retry without APP: exit 64");
        CHECK(ctl(NULL, "get --json nosuch", out, sizeof(out), err, sizeof(err)) == 1, "get --json of an unknown app: exit 1");
        j = cJSON_Parse(out);
        CHECK(j && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "ok")) &&
              json_str(j, "error") && !strcmp(json_str(j, "error"), "unknown_app") && json_str(j, "message") &&
              strstr(json_str(j, "message"), "wxtokenctl status"),
              "a JSON error object naming the fix: %s", out);
        cJSON_Delete(j);
        /* A reader looking in the wrong directory is told so, with the agent's. */
        snprintf(env, sizeof(env), "WXSHM_DIR=/dev/shm/wxtact-nowhere");
        CHECK(ctl(env, "get --json good", out, sizeof(out), err, sizeof(err)) == 1 && strstr(out, "wrong_shm_dir") &&
              strstr(err, a.shm_dir) && strstr(err, "WXSHM_DIR"), "wrong WXSHM_DIR named: %s", err);
        check_big_generation();

        /* Another real user, in bad's group (it may get and refresh bad), may not reload or retry. */
        CHECK(as_other_user(&a, g->gr_gid, "{\"op\":\"get\",\"app\":\"bad\"}\n", raw, sizeof(raw)) &&
              strstr(raw, "no_token"), "the other user may get bad (no token yet): %.80s", raw);
        CHECK(as_other_user(&a, g->gr_gid, "{\"op\":\"retry\",\"app\":\"bad\"}\n", raw, sizeof(raw)) &&
              strstr(raw, "permission_denied"), "retry by another user: refused: %s", raw);
        CHECK(as_other_user(&a, g->gr_gid, "{\"op\":\"reload\"}\n", raw, sizeof(raw)) &&
              strstr(raw, "permission_denied"), "reload by another user: refused: %s", raw);

        /* retry of an app in quota: refused with the reason, no call. */
        calls = emu_stat(&emu, "wxQ", "token_calls");
        CHECK(ctl(NULL, "retry quo", out, sizeof(out), err, sizeof(err)) == 1 && strstr(err, "45009") &&
              strstr(err, "retry_after_ms"), "retry in quota: refused with why: %s", err);
        CHECK(emu_stat(&emu, "wxQ", "token_calls") == calls, "and no call");

        /* The whitelist is fixed: retry, and bad's token comes now, not in ten minutes. */
        SETUP_OK(control(&emu, "/emu/fault?app=wxB&kind=none") == 200, "heal wxB");
        CHECK(!agent_wait_generation("bad", 1, 500), "no call of its own in the meantime");
        CHECK(ctl(NULL, "retry bad", out, sizeof(out), err, sizeof(err)) == 0 && strstr(out, "calling now"),
              "retry taken: %s %s", out, err);
        CHECK(agent_wait_generation("bad", 1, 3000), "bad: a token right after the retry");
        CHECK(agent_log_count(&a, "retry asked by uid 0 pid ") == 1, "the retry logged with the caller");
        CHECK(ctl(NULL, "retry bad", out, sizeof(out), err, sizeof(err)) == 1 && strstr(err, "not_failing"),
              "a fresh app has nothing to retry: %s", err);

        /* A forced refresh: one log line naming the caller; the CLI says whether a call was made. */
        CHECK(ctl(NULL, "refresh good", out, sizeof(out), err, sizeof(err)) == 0 && atoi(out) == 2 &&
              strstr(err, "an upstream call was made"), "refresh: new generation, a call: %s %s", out, err);
        CHECK(agent_log_count(&a, "forced refresh of generation 1: upstream rotating call for uid 0 pid ") == 1 &&
              agent_log_count(&a, "0 waiters coalesced") == 1, "one log line for the forced call");
        CHECK(ctl(NULL, "refresh good --generation 1", out, sizeof(out), err, sizeof(err)) == 0 && atoi(out) == 2 &&
              strstr(err, "no upstream call was made"), "refresh of an old generation: no call: %s", err);

        /* A bad config: refused with file:line, and the running one keeps serving. */
        write_config(&a, emu.port, true, "this line is no key");
        CHECK(ctl(NULL, "reload", out, sizeof(out), err, sizeof(err)) == 1 && strstr(err, "reload_refused") &&
              strstr(err, a.conf) && strstr(err, "running configuration stays"), "bad reload refused: %s", err);
        CHECK(ctl(NULL, "get good", out, sizeof(out), err, sizeof(err)) == 0 && out[0], "still serving");
        CHECK(client_request(a.socket, "{\"op\":\"status\",\"app\":\"extra\"}\n", raw, sizeof(raw), 5000) == 0 &&
              strstr(raw, "unknown_app"), "the refused config's app is not there");
        /* A good one: taken, and its new app gets a token. */
        write_config(&a, emu.port, true, NULL);
        CHECK(ctl(NULL, "reload", out, sizeof(out), err, sizeof(err)) == 0 && strstr(out, "reload taken: 4 apps"),
              "good reload taken: %s %s", out, err);
        CHECK(agent_wait_generation("extra", 1, 10000), "the new app has a token");
        return harness_finish(&a);
}
