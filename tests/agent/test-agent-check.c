/* test-agent-check.c: wxtokend -t as the start would see it (every error, file:line, did you mean, -u USER, relative paths), --version/--help, log lines. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent-harness.h"

#define SECRET_T "Tok-Secret-7d41a9c0ffee"
/* A service user of its own, made once by useradd and kept (idempotent, like test-agent-squat's). */
#define SERVICE_USER "wxtokchk"

static struct agent_proc agent, json_agent;
static char udir[64];

static const char *bin(const char *env, const char *dflt) {
        return getenv(env) ? getenv(env) : dflt;
}

/* Run cmd through the shell: its exit status, and stdout and stderr together in out. */
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

static void write_text(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        SETUP_OK(fd >= 0, "%s: %m", path);
        SETUP_OK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "%s: %m", path);
        SETUP_OK(fchmod(fd, mode) == 0 && close(fd) == 0, "%s: %m", path);
}

/* Several errors in one file: each reported with its file:line, a typo with the nearest key, and the socket's directory. */
static void check_every_error(struct agent_proc *a) {
        char path[160], cmd[512], out[8192], want[512];

        snprintf(path, sizeof(path), "%s/many.conf", a->dir);
        snprintf(out, sizeof(out),
                 "[agent]\n"                                    /* 1 */
                 "socket = %s/no-such-dir/wx.sock\n"            /* 2 */
                 "state_dir = %s\n"                             /* 3 */
                 "shm_dir = %s\n"                               /* 4 */
                 "refresh_margn = 300\n"                        /* 5 */
                 "\n"                                           /* 6 */
                 "[app t]\n"                                    /* 7 */
                 "kind = tokn\n"                                /* 8 */
                 "appid = wxT\n"                                /* 9 */
                 "secret_fiel = t.secret\n"                     /* 10 */
                 "\n"                                           /* 11 */
                 "[app u]\n"                                    /* 12 */
                 "kind = token\n"                               /* 13 */
                 "appid = wxU\n"                                /* 14 */
                 "secret_file = missing.secret\n",              /* 15 */
                 a->dir, a->state_dir, a->shm_dir);
        write_text(path, out, 0600);
        snprintf(cmd, sizeof(cmd), "%s -t -c %s 2>&1", bin("WXTOKEND", "./agent/wxtokend"), path);
        CHECK(run_out(cmd, out, sizeof(out)) == 1, "-t fails: %s", out);
        fprintf(stderr, "  -t said:\n%s", out);
        snprintf(want, sizeof(want), "%s:2: [agent] socket: the agent could not bind its socket: %s/no-such-dir", path,
                 a->dir);
        CHECK(strstr(out, want), "the missing socket directory, at its line: %s", want);
        snprintf(want, sizeof(want), "%s:5: [agent] refresh_margn: unknown key, did you mean 'refresh_margin'?", path);
        CHECK(strstr(out, want), "a mistyped [agent] key, with the nearest: %s", want);
        snprintf(want, sizeof(want), "%s:8: [app t] kind: expected token, stable, work, component, suite or provider, "
                 "got 'tokn'", path);
        CHECK(strstr(out, want), "a bad value in an app: %s", want);
        snprintf(want, sizeof(want), "%s:10: [app t] secret_fiel: unknown key, did you mean 'secret_file'?", path);
        CHECK(strstr(out, want), "a mistyped app key, with the nearest: %s", want);
        snprintf(want, sizeof(want), "%s:15: [app u] secret_file %s/missing.secret: cannot open", path, a->dir);
        CHECK(strstr(out, want), "an unreadable secret, resolved from the config's directory: %s", want);
        CHECK(strstr(out, "6 errors, checked as user root (uid 0)"), "all counted, and the user named");
        /* In the file's order. */
        CHECK(strstr(out, ":2: ") < strstr(out, ":5: ") && strstr(out, ":5: ") < strstr(out, ":8: ") &&
              strstr(out, ":8: ") < strstr(out, ":10: ") && strstr(out, ":10: ") < strstr(out, ":15: "),
              "in the file's order");
}

/*
 * READY waits for every app's first call, and a cold start makes them at
 * max_calls_per_second: -t says when that passes a minute (a note, not an error).
 */
static void check_pace(struct agent_proc *a) {
        char path[160], cmd[512], out[4096], want[512], *conf = malloc(64 * 1024);
        size_t len;

        SETUP_OK(conf, "out of memory");
        snprintf(path, sizeof(path), "%s/pace.conf", a->dir);
        for (int per_second = 1; per_second <= 2; per_second++) {
                len = (size_t)snprintf(conf, 64 * 1024, "[agent]\nsocket = %s/pace.sock\nstate_dir = %s\nshm_dir = %s\n"
                                       "max_calls_per_second = %d\n", a->dir, a->state_dir, a->shm_dir, per_second);
                /* 61 apps: 61 s at one call a second, 31 s at two. */
                for (int i = 0; i < 61; i++)
                        len += (size_t)snprintf(conf + len, 64 * 1024 - len,
                                                "[app p%d]\nkind = token\nappid = wxP%d\nsecret_file = t.secret\n", i, i);
                write_text(path, conf, 0600);
                snprintf(cmd, sizeof(cmd), "%s -t -c %s 2>&1", bin("WXTOKEND", "./agent/wxtokend"), path);
                CHECK(run_out(cmd, out, sizeof(out)) == 0, "-t passes: %s", out);
                snprintf(want, sizeof(want), "note: %s:5: [agent] max_calls_per_second: 61 apps at 1 calls a second: "
                         "a cold start (no token to adopt) is READY after about 61 s", path);
                if (per_second == 1)
                        CHECK(strstr(out, want), "a cold start past a minute is noted at its line: %s", out);
                else
                        CHECK(!strstr(out, "max_calls_per_second"), "within a minute, nothing said: %s", out);
        }
        free(conf);
}

/* A relative secret_file: from the config's directory, whatever the current one; the real start too. */
static void check_relative(struct agent_proc *a, struct emu_proc *emu) {
        char apps[512], cmd[512], out[4096];

        agent_secret_file(a, "t", SECRET_T);
        snprintf(apps, sizeof(apps), "[app t]\nkind = token\nappid = wxT\nsecret_file = t.secret\n"
                 "api_base = http://127.0.0.1:%d\n", emu->port);
        agent_write_config(a, NULL, apps);
        /* The binary's path may be relative to here: make it absolute before leaving. */
        snprintf(cmd, sizeof(cmd), "b=$(realpath %s) && cd / && \"$b\" -t -c %s 2>&1", bin("WXTOKEND", "./agent/wxtokend"),
                 a->conf);
        CHECK(run_out(cmd, out, sizeof(out)) == 0 && strstr(out, "configuration ok, 1 apps, checked as user root (uid 0)"),
              "-t from / finds t.secret beside the config: %s", out);
        CHECK(strstr(out, "check as the service's user") && strstr(out, "-t -u USER"),
              "as root without -u, it says the check ran as root and how to check as the service: %s", out);
        agent_start(a);
        CHECK(agent_wait_generation("t", 1, 15000), "the agent started from elsewhere serves it");
}

/* Every log line outside the journal starts with an RFC 3339 UTC time with milliseconds. */
static void check_text_log(struct agent_proc *a) {
        char *log = agent_log(a), *line, *save = NULL;
        regex_t re;
        int n = 0, bad = 0;

        SETUP_OK(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z wxtokend: "
                         "(error|warning|notice|info|debug): ", REG_EXTENDED | REG_NOSUB) == 0);
        for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                n++;
                if (regexec(&re, line, 0, NULL, 0) != 0) {
                        fprintf(stderr, "  no timestamp: %s\n", line);
                        bad++;
                }
        }
        CHECK(n >= 2 && bad == 0, "%d log lines, %d without a timestamp", n, bad);
        regfree(&re);
        free(log);
}

/* log_format = json: every line one JSON object with time, level and message; app when known. */
static void check_json_log(struct agent_proc *a, struct emu_proc *emu) {
        char apps[512], cmd[512], *log, *line, *save = NULL;
        int n = 0, bad = 0, with_app = 0;

        agent_secret_file(a, "t", SECRET_T);
        snprintf(apps, sizeof(apps), "[app t]\nkind = token\nappid = wxT\nsecret_file = %s/t.secret\n"
                 "api_base = http://127.0.0.1:%d\n", a->dir, emu->port);
        agent_write_config(a, "log_format = json", apps);
        agent_start(a);
        CHECK(agent_wait_generation("t", 1, 15000), "the json-logging agent serves");
        CHECK(agent_stop(a) == 0, "clean stop");
        log = agent_log(a);
        for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                cJSON *o = cJSON_Parse(line);
                const cJSON *t = cJSON_GetObjectItem(o, "time"), *l = cJSON_GetObjectItem(o, "level"),
                            *m = cJSON_GetObjectItem(o, "message");

                n++;
                if (!cJSON_IsObject(o) || !cJSON_IsString(t) || strlen(t->valuestring) != 24 ||
                    t->valuestring[23] != 'Z' || !cJSON_IsString(l) || !cJSON_IsString(m)) {
                        fprintf(stderr, "  not a JSON log line: %s\n", line);
                        bad++;
                }
                with_app += cJSON_IsString(cJSON_GetObjectItem(o, "app"));
                cJSON_Delete(o);
        }
        free(log);
        CHECK(n >= 2 && bad == 0 && with_app >= 1, "%d lines, %d not JSON, %d naming their app", n, bad, with_app);
        /* And what a reader of the file would use. */
        if (system("python3 -c '' 2>/dev/null") == 0) {
                snprintf(cmd, sizeof(cmd), "python3 -m json.tool --json-lines %s >/dev/null", a->log_file);
                CHECK(system(cmd) == 0, "python3 -m json.tool --json-lines reads the log");
        }
}

/*
 * What -t cannot check outside the unit is said, not failed: a secret_credential without
 * $CREDENTIALS_DIRECTORY, and the socket's directory when systemd passes the socket.
 */
static void check_unit_only(struct agent_proc *a) {
        char path[160], text[1024], cmd[1024], out[4096];

        snprintf(path, sizeof(path), "%s/unit.conf", a->dir);
        snprintf(text, sizeof(text), "[agent]\nsocket = %s/made-by-systemd/wx.sock\nstate_dir = %s\nshm_dir = %s\n\n"
                 "[app c]\nkind = token\nappid = wxC\nsecret_credential = c.secret\n", a->dir, a->state_dir, a->shm_dir);
        write_text(path, text, 0600);
        /* sh's own pid is the agent's after exec: LISTEN_PID=$$ names it, fd 3 stands for the socket. */
        snprintf(cmd, sizeof(cmd), "env -u CREDENTIALS_DIRECTORY sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec %s -t -c %s' "
                 "3</dev/null 2>&1", bin("WXTOKEND", "./agent/wxtokend"), path);
        CHECK(run_out(cmd, out, sizeof(out)) == 0 && strstr(out, "secret_credential: c.secret is not checkable outside "
                                                                  "the unit ($CREDENTIALS_DIRECTORY is unset)") &&
              strstr(out, "(socket activation): its directory is systemd's, not checked"),
              "a credential and a passed socket are noted, not failed: %s", out);
        snprintf(cmd, sizeof(cmd), "env -u CREDENTIALS_DIRECTORY %s -t -c %s 2>&1", bin("WXTOKEND", "./agent/wxtokend"),
                 path);
        CHECK(run_out(cmd, out, sizeof(out)) == 1 && strstr(out, "made-by-systemd: No such file or directory"),
              "without the passed socket its directory is checked: %s", out);
}

/* The service user, made by useradd if missing. */
static struct passwd *service_user(void) {
        struct passwd *pw = getpwnam(SERVICE_USER);

        SETUP_OK(pw || system("useradd -M -s /usr/sbin/nologin " SERVICE_USER " >/dev/null 2>&1") == 0, "useradd");
        pw = getpwnam(SERVICE_USER);
        SETUP_OK(pw, "getpwnam " SERVICE_USER);
        return pw;
}

static void udir_remove(void) {
        char cmd[128];

        if (udir[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf %s", udir);
                (void)!system(cmd);
        }
}

/*
 * -t -u USER: root checks as the service's user, who can read one secret and not the
 * other: the check fails naming that secret and the user; as root it says it was root.
 */
static void check_as_user(struct emu_proc *emu) {
        struct passwd *pw = service_user();
        char conf[128], path[128], text[1024], cmd[512], out[8192];

        snprintf(udir, sizeof(udir), "/tmp/wxchk.XXXXXX");
        SETUP_OK(mkdtemp(udir), "mkdtemp: %m");
        atexit(udir_remove);
        SETUP_OK(chmod(udir, 0755) == 0 && chown(udir, pw->pw_uid, pw->pw_gid) == 0, "%m");
        /* One secret the user owns, one only root may read. */
        snprintf(path, sizeof(path), "%s/mine.secret", udir);
        write_text(path, SECRET_T "\n", 0600);
        SETUP_OK(chown(path, pw->pw_uid, pw->pw_gid) == 0, "%m");
        snprintf(path, sizeof(path), "%s/roots.secret", udir);
        write_text(path, SECRET_T "x\n", 0600);
        snprintf(conf, sizeof(conf), "%s/wxtokend.conf", udir);
        snprintf(text, sizeof(text),
                 "[agent]\nsocket = %s/wx.sock\nstate_dir = %s/state\nshm_dir = /dev/shm/wxchk%d\n"
                 "allow_plain_http = yes\n\n"
                 "[app mine]\nkind = token\nappid = wxT\nsecret_file = mine.secret\napi_base = http://127.0.0.1:%d\n\n"
                 "[app roots]\nkind = token\nappid = wxR\nsecret_file = roots.secret\napi_base = http://127.0.0.1:%d\n",
                 udir, udir, (int)getpid(), emu->port, emu->port);
        write_text(conf, text, 0644);

        snprintf(cmd, sizeof(cmd), "%s -t -u %s -c %s 2>&1", bin("WXTOKEND", "./agent/wxtokend"), SERVICE_USER, conf);
        CHECK(run_out(cmd, out, sizeof(out)) == 1, "-t -u " SERVICE_USER " fails: %s", out);
        fprintf(stderr, "  -t -u said:\n%s", out);
        snprintf(text, sizeof(text), "%s:16: [app roots] secret_file %s/roots.secret: cannot open: Permission denied",
                 conf, udir);
        CHECK(strstr(out, text), "naming the secret the user cannot read: %s", text);
        snprintf(text, sizeof(text), "1 error, checked as user %s (uid %u)", SERVICE_USER, (unsigned)pw->pw_uid);
        CHECK(strstr(out, text), "and the user: %s", text);
        CHECK(!strstr(out, "mine.secret"), "the user's own secret passes");

        /* Root sees another picture (the user's own secret is not root's): it says whose it is. */
        snprintf(cmd, sizeof(cmd), "%s -t -c %s 2>&1", bin("WXTOKEND", "./agent/wxtokend"), conf);
        CHECK(run_out(cmd, out, sizeof(out)) == 1 && strstr(out, "checked as user root (uid 0)") &&
              !strstr(out, "roots.secret") && strstr(out, "-t -u USER"),
              "as root without -u, the check says it ran as root and how to run it as the service: %s", out);
}

/* --version and --help on every program: exit 0, the version from configure, no "invalid option". */
static void check_version_help(void) {
        const char *progs[][2] = { { "WXTOKEND", "./agent/wxtokend" }, { "WXTOKENCTL", "./tools/wxtokenctl" },
                                   { "WXEMU", "./tests/emu/wxemu" } };
        char cmd[512], out[8192];

        for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
                const char *b = bin(progs[i][0], progs[i][1]), *name = strrchr(b, '/') ? strrchr(b, '/') + 1 : b;
                char want[64];

                snprintf(want, sizeof(want), "%s " PACKAGE_VERSION "\n", name);
                snprintf(cmd, sizeof(cmd), "%s --version 2>&1", b);
                CHECK(run_out(cmd, out, sizeof(out)) == 0 && !strcmp(out, want), "%s --version: %s", name, out);
                snprintf(cmd, sizeof(cmd), "%s --help 2>&1", b);
                CHECK(run_out(cmd, out, sizeof(out)) == 0 && strstr(out, "--help") && strstr(out, "--version") &&
                      !strstr(out, "invalid option") && !strstr(out, "unrecognized"), "%s --help: %s", name, out);
        }
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxT:" SECRET_T, "--app", "wxR:" SECRET_T "x", NULL };
        struct emu_proc emu;

        check_version_help();
        emu_start(&emu, emu_args);
        agent_init(&agent);
        check_every_error(&agent);
        check_unit_only(&agent);
        check_relative(&agent, &emu);
        check_pace(&agent);
        check_text_log(&agent);
        CHECK(agent_stop(&agent) == 0, "clean stop");
        agent_init(&json_agent);
        check_json_log(&json_agent, &emu);
        check_as_user(&emu);
        proc_stop(&emu);
        return harness_finish(NULL);
}
