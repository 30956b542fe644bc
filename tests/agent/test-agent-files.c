/*
 * test-agent-files.c: issue 11's "no blocking, no belief, no leaks": FIFOs never freeze the
 * agent, files and state_dir of other users are refused, lifetimes outside the rule are not
 * believed, and no window of the secret leaks from a long errmsg that echoes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_A "Files-A-0123456789abcdef"
#define SEC_B "Files-B-0123456789abcdef"
#define SEC_C "Files-C-0123456789abcdef"
/* Characters that URL-encoding changes, so both forms are searched. */
#define SEC_L "Leak+Secret/0123=abcdef456789~xyz"
#define PLANTED "PLANTED-token-of-another-user-0000000000000000000000"
#define WINDOW 8

static struct emu_proc emu_short, emu_long;
static struct agent_proc fifo_agent, leak_agent, trust_agent;

/* snprintf into an array, a setup failure if it does not fit. */
#define PATHF(buf, ...) SETUP_OK(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf), "%s is too short", #buf)

static uint64_t gen_of(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

/* Poll (bounded) for a line of the agent's log: the event itself, not a guess at its time. */
static bool wait_log(struct agent_proc *a, const char *needle, int max_ms) {
        for (int waited = 0; waited < max_ms; waited += 20) {
                if (agent_log_count(a, needle) > 0)
                        return true;
                harness_sleep_ms(20);
        }
        return agent_log_count(a, needle) > 0;
}

/* The exit status of an agent that is to stop by itself (bounded wait), -1 if it did not. */
static int wait_exit(struct agent_proc *a, int max_ms) {
        int status;

        for (int waited = 0; waited <= max_ms; waited += 20) {
                if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
                        a->pid = 0;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
                harness_sleep_ms(20);
        }
        agent_kill9(a);
        return -1;
}

static void write_text(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        SETUP_OK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fchmod(fd, mode) == 0 &&
                         close(fd) == 0,
                 "%s: %m", path);
}

/* A state record as the agent writes it, for item of appid with the given times. */
static void plant_state(const char *path, const char *item, const char *appid, int64_t fetched_at, int64_t expires_at) {
        char text[1024];

        snprintf(text, sizeof(text), "{\"version\":1,\"item\":\"%s\",\"appid\":\"%s\",\"generation\":5,"
                 "\"expires_at_ms\":%lld,\"fetched_at_ms\":%lld,\"token\":\"" PLANTED "\"}", item, appid,
                 (long long)expires_at, (long long)fetched_at);
        write_text(path, text, 0600);
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * FIFOs as the state file's .tmp (at a save), as a new app's state file and secret and
 * as the config (at reload): each its clear error; the loop never freezes, so the other
 * apps keep refreshing and SIGTERM still ends the agent.
 */
static void test_fifos(void) {
        struct agent_proc *a = &fifo_agent;
        char apps[2048], path[256], saved[256];
        uint64_t g;

        agent_init(a);
        snprintf(apps, sizeof(apps),
                 "[app a]\nkind = token\nappid = wxA\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app b]\nkind = token\nappid = wxB\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(a, "a", SEC_A), emu_short.port, agent_secret_file(a, "b", SEC_B), emu_short.port);
        agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", apps);
        agent_start(a);
        CHECK(agent_log_count(a, "allow_plain_http = yes: an http:// api_base gets the AppSecret in clear") == 1,
              "allow_plain_http is warned about at start");

        /* The .tmp of a's next save: once refused (and removed), the save after it works. */
        PATHF(path, "%s/.a.tmp", a->state_dir);
        SETUP_OK(mkfifo(path, 0600) == 0, "%m");
        g = gen_of("a");
        CHECK(wait_log(a, "app a: cannot save state in", 20000), "a save into a FIFO .tmp is an error");
        CHECK(agent_log_count(a, "its temporary file is not a regular file") >= 1, "naming what is wrong");
        CHECK(agent_wait_generation("a", g + 2, 20000), "a keeps refreshing (and saving) after it");
        CHECK(agent_wait_generation("b", gen_of("b") + 1, 20000), "b keeps refreshing");

        /* A new app whose state file is a FIFO: refused at reload, fetched anew. */
        PATHF(path, "%s/c", a->state_dir);
        SETUP_OK(mkfifo(path, 0600) == 0, "%m");
        snprintf(apps + strlen(apps), sizeof(apps) - strlen(apps),
                 "\n[app c]\nkind = token\nappid = wxC\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(a, "c", SEC_C), emu_short.port);
        agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", apps);
        agent_signal(a, SIGHUP);
        CHECK(wait_log(a, "app c: state file refused", 15000), "c's FIFO state file is refused");
        CHECK(agent_log_count(a, "/c is not a regular file (a FIFO, socket or device): refused, remove it") == 1,
              "with the fix");
        CHECK(agent_wait_generation("c", 1, 15000), "and c is fetched anew");

        /* A secret file that is a FIFO: the reload is refused, the running config stays. */
        PATHF(path, "%s/d.secret", a->dir);
        SETUP_OK(mkfifo(path, 0600) == 0, "%m");
        {
                char more[4096];

                snprintf(more, sizeof(more), "%s\n[app d]\nkind = token\nappid = wxA2\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n", apps, path, emu_short.port);
                agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", more);
        }
        agent_signal(a, SIGHUP);
        CHECK(wait_log(a, "d.secret: a FIFO, not a regular file: refused", 15000), "a FIFO secret refused at reload");
        CHECK(agent_log_count(a, "reload refused") == 1, "the reload is refused");

        /*
         * Redis's password_file and an app's ca_file as FIFOs: refused while the file is read,
         * before [cluster] is compared (so no Redis is needed to see it).
         */
        {
                char more[4096];

                PATHF(more, "%s\n[cluster]\nredis = redis://127.0.0.1:1\npassword_file = %s\n", apps, path);
                agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", more);
                agent_signal(a, SIGHUP);
                CHECK(wait_log(a, "[cluster] password_file: ", 15000) &&
                      agent_log_count(a, "d.secret: a FIFO, not a regular file") == 2, "a FIFO password_file refused");
                PATHF(more, "%s\n[app e]\nkind = token\nappid = wxA2\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                      "ca_file = %s\n", apps, agent_secret_file(a, "e", SEC_A), emu_short.port, path);
                agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", more);
                agent_signal(a, SIGHUP);
                CHECK(wait_log(a, "ca_file: ", 15000) && agent_log_count(a, "d.secret: a FIFO, not a regular file") == 3,
                      "a FIFO ca_file refused");
                CHECK(agent_log_count(a, "reload refused") == 3, "both reloads refused");
                agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", apps);
        }

        /* The config itself a FIFO at reload. */
        PATHF(saved, "%s.saved", a->conf);
        SETUP_OK(rename(a->conf, saved) == 0, "%m");
        SETUP_OK(mkfifo(a->conf, 0600) == 0, "%m");
        agent_signal(a, SIGHUP);
        CHECK(wait_log(a, "wxtokend.conf: a FIFO, not a regular file: refused", 15000), "a FIFO config refused");
        CHECK(agent_log_count(a, "reload refused") == 4, "the config's reload is refused too");
        SETUP_OK(unlink(a->conf) == 0 && rename(saved, a->conf) == 0, "%m");

        /* Through all of it, the loop turned: everyone still refreshes. */
        CHECK(agent_wait_generation("a", gen_of("a") + 1, 20000), "a still refreshing");
        CHECK(agent_wait_generation("b", gen_of("b") + 1, 20000), "b still refreshing");
        CHECK(agent_wait_generation("c", gen_of("c") + 1, 20000), "c still refreshing");
        /* SIGTERM is handled: agent_stop waits up to 15 s, far beyond a clean stop, then kills. */
        CHECK(agent_stop(a) == 0, "SIGTERM ends the agent cleanly");
}

/* Every WINDOW-byte window of secret, searched in len bytes of hay. */
static bool leaks(const char *hay, size_t len, const char *secret) {
        size_t n = strlen(secret);

        for (size_t i = 0; hay && i + WINDOW <= n; i++) {
                if (memmem(hay, len, secret + i, WINDOW))
                        return true;
        }
        return false;
}

static const char *url_encoded(const char *s) {
        static char out[256];
        size_t j = 0;

        for (; *s && j + 4 < sizeof(out); s++) {
                unsigned char c = (unsigned char)*s;

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c))
                        out[j++] = (char)c;
                else
                        j += (size_t)sprintf(out + j, "%%%02X", c);
        }
        out[j] = '\0';
        return out;
}

static void check_no_leak(const char *where, const char *hay, size_t len) {
        CHECK(!leaks(hay, len, SEC_L), "a window of the secret in %s", where);
        CHECK(!leaks(hay, len, url_encoded(SEC_L)), "a window of the URL-encoded secret in %s", where);
}

static void check_dir_no_leak(const char *dir) {
        static char data[65536];
        struct dirent *d;
        DIR *dp = opendir(dir);

        CHECK(dp, "%s readable", dir);
        while (dp && (d = readdir(dp))) {
                char path[512];
                ssize_t n;
                int fd;

                PATHF(path, "%s/%s", dir, d->d_name);
                fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, data, sizeof(data));
                close(fd);
                if (n > 0)
                        check_no_leak(path, data, (size_t)n);
        }
        if (dp)
                closedir(dp);
}

/* The agent's view of one app, as a client and as a reader: none of it may hold the secret. */
static void check_views_no_leak(struct agent_proc *a) {
        static char raw[1 << 20];
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        cJSON *r;
        int n;

        r = agent_request(a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        CHECK(r, "status answered");
        check_no_leak("the status reply", raw, strlen(raw));
        cJSON_Delete(r);
        r = agent_request(a, "{\"op\":\"get\",\"app\":\"l\"}\n", raw, sizeof(raw));
        check_no_leak("the get reply", raw, strlen(raw));
        cJSON_Delete(r);
        n = agent_read("l", buf, sizeof(buf), &info);
        if (n > 0)
                check_no_leak("the segment's token", buf, (size_t)n);
        pthread_mutex_lock(&a->lock);
        check_no_leak("the notify messages", a->notified, strlen(a->notified));
        pthread_mutex_unlock(&a->lock);
}

/*
 * A 100 KB errmsg echoing the secret, raw and URL-encoded; then expires_in 0, 1, 59,
 * 86401 and 2^31-1 with the default min_token_lifetime of 60: each a clear error, none
 * published; a state file claiming a lifetime outside the rule is not adopted.
 */
static void test_leaks_and_lifetimes(void) {
        static const char *const lifetimes[] = { "0", "1", "59", "86401", "2147483647" };
        struct agent_proc *a = &leak_agent;
        char apps[2048], path[256], raw[8192], line[256];
        char *log;

        agent_init(a);
        SETUP_OK(mkdir(a->state_dir, 0700) == 0, "%m");
        PATHF(path, "%s/n", a->state_dir);
        /* Expires in 20 s, so only its 30 s lifetime (below 60) can make the agent refuse it. */
        plant_state(path, "n", "wxL", now_ms() - 10000, now_ms() + 20000);
        snprintf(apps, sizeof(apps),
                 "[app l]\nkind = token\nappid = wxL\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app n]\nkind = stable\nappid = wxL\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(a, "l", SEC_L), emu_long.port, agent_secret_file(a, "n", SEC_L), emu_long.port);
        agent_write_config(a, "min_token_lifetime = 60\nbackoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1", apps);
        control(&emu_long, "/emu/fault?app=wxL&kind=errcode&errcode=40125&errmsg=invalid%20appsecret&echo=100000"
                "&on=tokens");
        agent_start(a);

        CHECK(wait_log(a, "errcode 40125", 15000), "the echoing errmsg is reported");
        check_views_no_leak(a);
        control(&emu_long, "/emu/fault?app=wxL&kind=none");
        CHECK(agent_wait_generation("l", 1, 15000), "l recovers once the fault is gone");
        CHECK(agent_wait_generation("n", 1, 15000), "n fetched");
        {
                char buf[WXSHM_TOKEN_MAX + 1];
                wxshm_info info;

                CHECK(agent_read("n", buf, sizeof(buf), &info) > 0 && strcmp(buf, PLANTED) != 0 &&
                      info.generation == 1, "the short-lived state file of n was not adopted");
                CHECK(agent_log_count(a, "app n: state file token not adopted: its lifetime of 30 s is outside "
                                      "60..86400 s") == 1, "and the log says why");
        }

        for (size_t i = 0; i < sizeof(lifetimes) / sizeof(lifetimes[0]); i++) {
                uint64_t g = gen_of("l");
                char req[128];
                cJSON *r;

                snprintf(req, sizeof(req), "/emu/fault?app=wxL&kind=expires&expires_in=%s&count=1", lifetimes[i]);
                control(&emu_long, req);
                snprintf(req, sizeof(req), "{\"op\":\"refresh\",\"app\":\"l\",\"generation\":%llu}\n",
                         (unsigned long long)g);
                r = agent_request(a, req, raw, sizeof(raw));
                cJSON_Delete(r);
                snprintf(line, sizeof(line), "expires_in %s s is outside 60..86400 s (min_token_lifetime): not believed",
                         lifetimes[i]);
                CHECK(wait_log(a, line, 15000), "expires_in %s refused with a clear error", lifetimes[i]);
                CHECK(strstr(raw, "-1005") || strstr(raw, "not believed"), "the client is told: %s", raw);
                /* Backed off, then the next (normal) answer is taken: exactly one generation more. */
                CHECK(agent_wait_generation("l", g + 1, 15000), "recovered after expires_in %s", lifetimes[i]);
                CHECK(gen_of("l") == g + 1, "the refused token was never published (%s)", lifetimes[i]);
        }
        CHECK(agent_log_count(a, "transient failure, errcode -1005") >= 5, "classified: transient, backed off");
        check_views_no_leak(a);
        CHECK(agent_stop(a) == 0, "clean stop");
        log = agent_log(a);
        check_no_leak("the agent's log", log, log ? strlen(log) : 0);
        CHECK(log && strstr(log, "invalid appsecret"), "the log has the errmsg's start");
        free(log);
        check_dir_no_leak(a->state_dir);
}

static uid_t unused_uid(void) {
        for (uid_t u = 4243; u < 5000; u++) {
                if (!getpwuid(u))
                        return u;
        }
        return 0;
}

/* Run cmd (a shell line); its exit status, and its output in out. */
static int run_out(const char *cmd, char *out, size_t size) {
        FILE *p = popen(cmd, "r");
        size_t n = 0;
        int status;

        SETUP_OK(p, "%m");
        while (n + 1 < size && fgets(out + n, (int)(size - n), p))
                n += strlen(out + n);
        out[n] = '\0';
        status = pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Files and directories of other users: a world-writable state_dir (another uid plants a
 * token in it) and a foreign-owned one stop the start, naming the fix; a foreign state
 * file is not adopted; a foreign secret file is refused; http:// needs allow_plain_http.
 */
static void test_trust(void) {
        const char *bin = getenv("WXTOKEND") ? getenv("WXTOKEND") : "./agent/wxtokend";
        struct agent_proc *a = &trust_agent;
        char apps[2048], path[256], cmd[1024], out[4096], buf[WXSHM_TOKEN_MAX + 1];
        uid_t other = unused_uid();
        wxshm_info info;
        pid_t child;
        int status;

        if (geteuid() != 0 || other == 0) {
                printf("not root (or no unused uid): the ownership checks are skipped\n");
                return;
        }
        agent_init(a);
        snprintf(apps, sizeof(apps), "[app f]\nkind = token\nappid = wxA\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(a, "f", SEC_A), emu_short.port);
        agent_write_config(a, "backoff_min = 1\nbackoff_max = 2", apps);

        /* Another user plants a token in a state_dir anyone can write (reached through the test's directory). */
        SETUP_OK(chmod(a->dir, 0711) == 0, "%m");
        SETUP_OK(mkdir(a->state_dir, 0777) == 0 && chmod(a->state_dir, 0777) == 0, "%m");
        child = fork();
        SETUP_OK(child >= 0, "%m");
        if (child == 0) {
                PATHF(path, "%s/f", a->state_dir);
                if (setgid(other) < 0 || setuid(other) < 0)
                        _exit(EXIT_SETUP);
                plant_state(path, "f", "wxA", now_ms(), now_ms() + 7000 * 1000);
                _exit(0);
        }
        SETUP_OK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%m");
        SETUP_OK(chmod(a->dir, 0700) == 0, "%m");
        agent_spawn(a);
        CHECK(wait_log(a, "writable by group or others (mode 0777): another user could plant a token the agent "
                       "adopts; chmod go-w it", 15000), "a world-writable state_dir is refused with the fix");
        CHECK(wait_exit(a, 15000) == 1, "and the agent does not start");
        CHECK(agent_read("f", buf, sizeof(buf), &info) < 0 || strcmp(buf, PLANTED) != 0, "the planted token is not served");

        /* A state_dir of another user, private to them: refused too. */
        SETUP_OK(chmod(a->state_dir, 0700) == 0 && chown(a->state_dir, other, other) == 0, "%m");
        agent_spawn(a);
        PATHF(cmd, "state_dir %s: owned by uid %u, not by root or the agent's uid 0", a->state_dir,
                 (unsigned)other);
        CHECK(wait_log(a, cmd, 15000), "a foreign state_dir is refused with the fix");
        CHECK(wait_exit(a, 15000) == 1, "and the agent does not start");

        /* The agent's own state_dir, but the state file in it belongs to another user. */
        SETUP_OK(chown(a->state_dir, 0, 0) == 0, "%m");
        PATHF(path, "%s/f", a->state_dir);
        SETUP_OK(chown(path, other, other) == 0, "%m");
        agent_start(a);
        CHECK(agent_log_count(a, "app f: state file refused") == 1 &&
              agent_log_count(a, "is owned by another user or writable by group or others: refused") == 1,
              "a foreign state file is refused, with the fix");
        CHECK(agent_wait_generation("f", 1, 15000), "f served");
        CHECK(agent_read("f", buf, sizeof(buf), &info) > 0 && strcmp(buf, PLANTED) != 0 && info.generation == 1,
              "with a token of its own fetch, not the planted one");
        CHECK(agent_stop(a) == 0, "clean stop");

        /* A secret file of another user: wxtokend -t refuses it, naming the owner. */
        PATHF(path, "%s/f.secret", a->dir);
        SETUP_OK(chown(path, other, other) == 0, "%m");
        PATHF(cmd, "%s -t -c %s 2>&1", bin, a->conf);
        CHECK(run_out(cmd, out, sizeof(out)) == 1 && strstr(out, "f.secret: owned by uid") &&
              strstr(out, "chown root"), "a foreign secret file is refused: %s", out);
        SETUP_OK(chown(path, 0, 0) == 0, "%m");

        /* http:// without allow_plain_http, and a secret pasted in place of its file. */
        snprintf(apps, sizeof(apps), "[app f]\nkind = token\nappid = wxA\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 path, emu_short.port);
        agent_write_config(a, "allow_plain_http = no", apps);
        CHECK(run_out(cmd, out, sizeof(out)) == 1 && strstr(out, "api_base: http:// sends the AppSecret in clear") &&
              strstr(out, "allow_plain_http = yes"), "http:// is refused with the fix: %s", out);
        agent_write_config(a, NULL, "[app f]\nkind = token\nappid = wxA\nsecret_file = " SEC_A "\n");
        CHECK(run_out(cmd, out, sizeof(out)) == 1 && strstr(out, "secret_file: expected a path") &&
              !strstr(out, SEC_A), "a pasted secret is not echoed: %s", out);
}

int main(void) {
        static const char *const short_args[] = { "--app", "wxA:" SEC_A, "--app", "wxB:" SEC_B, "--app", "wxC:" SEC_C,
                                                  "--app", "wxA2:" SEC_A, "--expires-in", "4", NULL };
        static const char *const long_args[] = { "--app", "wxL:" SEC_L, NULL };

        signal(SIGPIPE, SIG_IGN);
        emu_start(&emu_short, short_args);
        emu_start(&emu_long, long_args);
        test_fifos();
        test_leaks_and_lifetimes();
        test_trust();
        return harness_finish(NULL);
}
