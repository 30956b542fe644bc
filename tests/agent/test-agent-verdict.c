/* test-agent-verdict.c: wxtokenctl status exits with the Nagios code the agent's state means, one scenario per code. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "writer.h"

#define SEC_G "Verdict-G-0123456789"
#define SEC_N "Verdict-N-0123456789"
#define SEC_L "Verdict-L-0123456789"
#define SEC_B "Verdict-B-0123456789"
#define PLANTED "planted-near-expiry-token-0123456789"

/* Run wxtokenctl with args; its stdout in out, its exit status returned. */
static int ctl(const char *args, char *out, size_t size) {
        const char *bin = getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl";
        char cmd[768];
        size_t n;
        FILE *p;
        int status;

        snprintf(cmd, sizeof(cmd), "COLUMNS=100 %s %s 2>/dev/null", bin, args);
        p = popen(cmd, "r");
        if (!p)
                return -1;
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        status = pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool starts(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Poll (bounded) until `wxtokenctl args` exits with code and prints want. */
static bool ctl_wait(const char *args, int code, const char *want, char *out, size_t size, int max_ms) {
        for (int waited = 0; waited <= max_ms; waited += 100) {
                if (ctl(args, out, size) == code && strstr(out, want))
                        return true;
                harness_sleep_ms(100);
        }
        return false;
}

/*
 * The token the agent adopts from its segment at start: fetched long ago, 100 s left, so
 * closer to expiry than half its margin (300 s of a 7100 s life): what an agent that
 * could not refresh in time would hold.
 */
static void plant_near_expiry(const char *shm_dir, const char *name) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        int64_t now = (int64_t)time(NULL) * 1000;
        wxshm_writer *w;
        int fd = open(shm_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

        SETUP_OK(fd >= 0 && wxshm_writer_open(&w, fd, name, &opts) == 0, "segment %s/%s: %m", shm_dir, name);
        SETUP_OK(wxshm_writer_publish(w, PLANTED, strlen(PLANTED), now + 100 * 1000, now - 7000 * 1000, NULL) == 0);
        wxshm_writer_close(w);
        close(fd);
}

/* A fake agent at path: every connection gets reply, whatever it asked. The child's pid. */
static pid_t fake_agent(const char *path, const char *reply) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        pid_t pid;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        SETUP_OK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 8) == 0, "%s: %m", path);
        pid = fork();
        SETUP_OK(pid >= 0, "fork: %m");
        if (pid == 0) {
                for (;;) {
                        char buf[4096];
                        int c = accept(fd, NULL, NULL);

                        if (c < 0)
                                _exit(0);
                        if (read(c, buf, sizeof(buf)) >= 0 && write(c, reply, strlen(reply)) < 0)
                                _exit(0);
                        close(c);
                }
        }
        close(fd);
        return pid;
}

static const char *apps_conf(struct agent_proc *a, int port, bool with_bad) {
        static char apps[2048];
        int n;

        n = snprintf(apps, sizeof(apps),
                     "[app good]\nkind = token\nappid = wxG\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                     "[app near]\nkind = token\nappid = wxN\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                     "[app late]\nkind = token\nappid = wxL\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                     agent_secret_file(a, "good", SEC_G), port, agent_secret_file(a, "near", SEC_N), port,
                     agent_secret_file(a, "late", SEC_L), port);
        if (with_bad)
                snprintf(apps + n, sizeof(apps) - (size_t)n,
                         "[app bad]\nkind = token\nappid = wxB\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                         agent_secret_file(a, "bad", "not-the-secret"), port);
        return apps;
}

/* The agent with no app at all: nothing is served, which is critical. */
static void zero_apps(void) {
        static struct agent_proc z;
        char out[8192], args[256];

        agent_init(&z);
        agent_write_config(&z, NULL, NULL);
        agent_start(&z);
        snprintf(args, sizeof(args), "--socket %s status", z.socket);
        CHECK(ctl(args, out, sizeof(out)) == 2 && starts(out, "WXTOKEND CRITICAL - no apps configured | items=0 "),
              "zero apps: exit 2: %s", out);
        CHECK(agent_stop(&z) == 0, "the empty agent stops cleanly");
}

/*
 * A daily quota at 80 %: a warning although every token is fresh. The count comes from
 * the quota file the agent keeps in state_dir (planted here at 1700 of /cgi-bin/token's
 * 2000 calls today), so this is the quota accounting and the verdict meeting.
 */
static void quota_warning(int port) {
        static struct agent_proc q;
        char out[8192], args[256], apps[512], path[256];
        int64_t day = ((int64_t)time(NULL) * 1000 + 8 * 3600 * 1000LL) / (86400 * 1000LL);
        FILE *f;

        agent_init(&q);
        snprintf(apps, sizeof(apps), "[app quo]\nkind = token\nappid = wxG\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&q, "quo", SEC_G), port);
        agent_write_config(&q, NULL, apps);
        SETUP_OK(mkdir(q.state_dir, 0700) == 0 || errno == EEXIST, "%s: %m", q.state_dir);
        snprintf(path, sizeof(path), "%s/quo.quota", q.state_dir);
        f = fopen(path, "w");
        SETUP_OK(f && fprintf(f, "wxtokend-quota 1\nday %lld\nwarned 0\ntoken 1700\n", (long long)day) > 0 &&
                         fchmod(fileno(f), 0600) == 0 && fclose(f) == 0,
                 "%s: %m", path);
        agent_start(&q);
        CHECK(agent_wait_generation("quo", 1, 10000), "quo: a token");
        snprintf(args, sizeof(args), "--socket %s status", q.socket);
        CHECK(ctl(args, out, sizeof(out)) == 1 && starts(out, "WXTOKEND WARNING - quo: daily quota at 80 %"),
              "a quota at 85 %%: exit 1: %s", out);
        CHECK(agent_stop(&q) == 0, "the quota agent stops cleanly");
}

/* Not an agent, or an agent that says something else: unknown (3); none at all: critical (2). */
static void not_understood(struct agent_proc *a) {
        char path[160], args[256], out[8192];
        pid_t junk, noverdict;
        int status;

        snprintf(path, sizeof(path), "%s/junk.sock", a->dir);
        junk = fake_agent(path, "this is not JSON at all\n");
        snprintf(args, sizeof(args), "--socket %s status", path);
        CHECK(ctl(args, out, sizeof(out)) == 3 && starts(out, "WXTOKEND UNKNOWN - "), "a garbled reply: 3: %s",
              out);
        snprintf(args, sizeof(args), "--socket %s status --json", path);
        CHECK(ctl(args, out, sizeof(out)) == 3 && strstr(out, "\"not_understood\""), "--json says so too: %s", out);
        snprintf(path, sizeof(path), "%s/old.sock", a->dir);
        noverdict = fake_agent(path, "{\"ok\":true,\"apps\":[]}\n");
        snprintf(args, sizeof(args), "--socket %s status", path);
        CHECK(ctl(args, out, sizeof(out)) == 3 && strstr(out, "no verdict"), "a reply without a verdict: 3: %s", out);
        kill(junk, SIGKILL);
        kill(noverdict, SIGKILL);
        waitpid(junk, &status, 0);
        waitpid(noverdict, &status, 0);

        snprintf(args, sizeof(args), "--socket %s/nowhere status", a->dir);
        CHECK(ctl(args, out, sizeof(out)) == 2 && starts(out, "WXTOKEND CRITICAL - cannot reach wxtokend"),
              "no agent: 2: %s", out);
}

/* path (absolute) rewritten relative to the cwd: "../" up to the root, then the path. */
static void relative_path(char *path, size_t size) {
        char cwd[PATH_MAX], rel[PATH_MAX] = "";
        size_t n = 0;

        SETUP_OK(getcwd(cwd, sizeof(cwd)) && path[0] == '/', "getcwd: %m");
        for (const char *s = cwd; *s; s++)
                if (*s == '/' && s[1])
                        n += (size_t)snprintf(rel + n, sizeof(rel) - n, "../");
        snprintf(rel + n, sizeof(rel) - n, "%s", path + 1);
        SETUP_OK(strlen(rel) < size, "relative path too long");
        memcpy(path, rel, strlen(rel) + 1); /* fits: checked above (snprintf here trips -Wformat-truncation) */
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxG:" SEC_G, "--app", "wxN:" SEC_N, "--app", "wxL:" SEC_L,
                                                "--app", "wxB:" SEC_B, NULL };
        static struct agent_proc a;
        struct emu_proc emu;
        char out[65536], blocker[160], raw[65536], conf_abs[PATH_MAX];
        cJSON *o;

        zero_apps();
        emu_start(&emu, emu_args);
        quota_warning(emu.port);
        agent_init(&a);
        /* near's refreshes hang until the HTTP timeout: it keeps a token near its expiry. */
        control(&emu, "/emu/fault?app=wxN&kind=hang");
        /* late cannot start: its segment's name is taken by a directory. */
        SETUP_OK(mkdir(a.shm_dir, 0751) == 0, "%s: %m", a.shm_dir);
        plant_near_expiry(a.shm_dir, "near");
        snprintf(blocker, sizeof(blocker), "%s/late", a.shm_dir);
        SETUP_OK(mkdir(blocker, 0700) == 0, "%s: %m", blocker);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", apps_conf(&a, emu.port, false));
        /* Started with a relative -c (from this test's cwd); status must still name the file absolutely. */
        SETUP_OK(realpath(a.conf, conf_abs) != NULL, "realpath %s: %m", a.conf);
        relative_path(a.conf, sizeof(a.conf));
        SETUP_OK(a.conf[0] != '/', "a relative config path: %s", a.conf);
        agent_start(&a);
        CHECK(agent_log_count(&a, "READY once every app has a token or failed its first attempt: waiting for") == 1,
              "the log says what READY waits for");
        CHECK(agent_wait_generation("good", 1, 10000), "good: a token");

        /* Near expiry (refreshing, then retrying): a warning, for that app alone. */
        CHECK(ctl_wait("status near", 1, "near expiry", out, sizeof(out), 8000), "near: exit 1, near expiry: %s", out);
        CHECK(starts(out, "WXTOKEND WARNING - near: near expiry") &&
                      strstr(out, "0 ok, 1 warning, 0 critical of 1 items | items=1 ok=0 warning=1 critical=0 failed=0 "
                                  "min_expiry="),
              "the summary first, with perfdata: %s", out);
        CHECK(ctl("status good", out, sizeof(out)) == 0 && starts(out, "WXTOKEND OK - 1 of 1 items ok | "),
              "good alone: 0: %s", out);

        /* Failed to start: critical, shown as failed with why; retried without a reload once the way is clear. */
        CHECK(ctl("status", out, sizeof(out)) == 2 && strstr(out, "late: failed to start") && strstr(out, "Is a directory"),
              "late failed: 2, with why: %s", out);
        CHECK(ctl("status late", out, sizeof(out)) == 2 && strstr(out, "of 1 items"), "late alone: 2: %s", out);
        SETUP_OK(rmdir(blocker) == 0, "rmdir %s: %m", blocker);
        CHECK(agent_wait_generation("late", 1, 15000), "late started by itself, no reload");
        CHECK(agent_log_count(&a, "reloaded") == 0 && agent_log_count(&a, "started now, after") == 1,
              "started by the retry, not a reload");

        /* Retrying: WeChat busy at a forced refresh; the old token still serves: a warning. */
        control(&emu, "/emu/fault?app=wxG&kind=busy");
        ctl("refresh good", out, sizeof(out));
        CHECK(ctl_wait("status good", 1, "good: retrying (errcode -1)", out, sizeof(out), 10000), "good retrying: 1: %s",
              out);

        /* A wrong secret: critical, with the errcode explained and the advice. */
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", apps_conf(&a, emu.port, true));
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_state("bad", WXSHM_STATE_CONFIG_ERROR, 10000), "bad: config_error");
        CHECK(ctl("status", out, sizeof(out)) == 2 && strstr(out, "bad: config_error (errcode 4") &&
                      strstr(out, "WeChat: invalid") && strstr(out, "advice: WeChat refused the AppSecret"),
              "config_error: 2, explained: %s", out);
        printf("--- wxtokenctl status: late fresh, good retrying, near near expiry, bad config_error ---\n%s---\n", out);
        o = agent_request(&a, "{\"op\":\"status\",\"app\":\"bad\"}\n", raw, sizeof(raw));
        {
                const cJSON *ag = cJSON_GetObjectItemCaseSensitive(o, "agent");
                const cJSON *rl = cJSON_GetObjectItemCaseSensitive(ag, "last_reload");
                const cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0);

                CHECK(json_int(ag, "pid", 0) == a.pid && json_str(ag, "version")[0] && json_int(ag, "started_at", 0) != 0 &&
                              !strcmp(json_str(ag, "config"), conf_abs),
                      "agent: version, pid, start, config: %s", raw);
                CHECK(rl && !strcmp(json_str(rl, "result"), "taken") && json_int(rl, "apps", 0) == 4,
                      "the reload taken: %s", raw);
                CHECK(it && json_int(it, "verdict", -1) == 2 && !strcmp(json_str(it, "verdict_reason"), "config_error") &&
                              json_int(it, "attempts", 0) >= 1 && cJSON_IsNumber(cJSON_GetObjectItem(it, "last_error_at")) &&
                              cJSON_GetObjectItem(it, "last_error_at")->valuedouble > 0 &&
                              cJSON_GetObjectItem(it, "state_since")->valuedouble > 0 &&
                              strstr(json_str(it, "errcode_meaning"), "WeChat: invalid") && json_str(it, "advice")[0],
                      "bad in JSON: %s", raw);
                CHECK(!strstr(raw, "not-the-secret"), "no secret in status");
        }
        cJSON_Delete(o);
        CHECK(ctl("status --json", out, sizeof(out)) == 2, "--json exits as the table does");
        o = cJSON_Parse(out);
        CHECK(o && json_int(cJSON_GetObjectItemCaseSensitive(o, "verdict"), "code", -1) == 2 &&
                      !strncmp(json_str(cJSON_GetObjectItemCaseSensitive(o, "verdict"), "summary"), "WXTOKEND CRITICAL", 17),
              "--json passes the verdict through: %s", out);
        cJSON_Delete(o);

        /* Recovery: the bad app gone, WeChat back: every item fresh, 0. */
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n", apps_conf(&a, emu.port, false));
        agent_signal(&a, SIGHUP);
        control(&emu, "/emu/fault?app=wxN&kind=none");
        control(&emu, "/emu/fault?app=wxG&kind=none");
        CHECK(agent_wait_generation("near", 2, 15000) && agent_wait_generation("good", 2, 15000), "new tokens");
        CHECK(ctl_wait("status", 0, "WXTOKEND OK - 3 of 3 items ok | ", out, sizeof(out), 10000), "back to 0: %s", out);

        /* Quota: 45009 at a forced refresh: critical. */
        control(&emu, "/emu/fault?app=wxG&kind=errcode&errcode=45009&errmsg=reach%20max%20api%20daily%20quota%20limit");
        ctl("refresh good", out, sizeof(out));
        CHECK(agent_wait_state("good", WXSHM_STATE_QUOTA, 10000), "good: quota");
        CHECK(ctl("status good", out, sizeof(out)) == 2 && strstr(out, "good: quota (errcode 45009)") &&
                      strstr(out, "WeChat: daily API quota used up"),
              "quota: 2: %s", out);

        /* A refused reload is kept for status, with why; the running configuration stays. */
        agent_write_config(&a, "backoff_min = nonsense\n", apps_conf(&a, emu.port, false));
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_notify(&a, "READY=1", 10000), "the refused reload is over");
        o = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        {
                const cJSON *rl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "agent"),
                                                                   "last_reload");

                CHECK(rl && !strcmp(json_str(rl, "result"), "refused") && strstr(json_str(rl, "reason"), "backoff_min"),
                      "the refused reload and why: %s", raw);
        }
        cJSON_Delete(o);
        CHECK(ctl("status", out, sizeof(out)) == 2 && strstr(out, "REFUSED") && strstr(out, "backoff_min"),
              "the table says the reload was refused: %s", out);

        not_understood(&a);
        return harness_finish(&a);
}
