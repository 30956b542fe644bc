/* test-agent-basic.c: wxtokend against wxemu: first fetch of each kind, tickets, restart and reboot adoption, secrets. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-harness.h"

#define SECRET_T "Tok-Secret-7d41a9c0ffee"
#define SECRET_S "Stb-Secret-52b8e1d0cafe"
#define SECRET_W "Wrk-Secret-0a9c3e77beef"

static const char *const secrets[] = { SECRET_T, SECRET_S, SECRET_W };

struct generations {
        uint64_t token, stable, work, jsapi;
};

static uint64_t generation_of(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

static void generations_read(struct generations *g) {
        g->token = generation_of("tok");
        g->stable = generation_of("stb");
        g->work = generation_of("wrk");
        g->jsapi = generation_of("tok.jsapi");
}

/* Every item is readable and WeChat (wxemu) accepts every access token. */
static void check_tokens(struct emu_proc *e, pid_t agent_pid) {
        static const char *const items[] = { "tok", "stb", "wrk", "tok.jsapi", "wrk.jsapi" };
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;

        for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
                int r = agent_read(items[i], buf, sizeof(buf), &info);

                CHECK(r > 0, "%s: read returned %d", items[i], r);
                if (r <= 0)
                        continue;
                CHECK(info.generation >= 1, "%s generation", items[i]);
                CHECK(info.state == WXSHM_STATE_FRESH, "%s state %s", items[i], wxshm_state_name(info.state));
                CHECK(info.agent_pid == agent_pid, "%s pid %d", items[i], info.agent_pid);
                CHECK(info.agent_alive, "%s agent alive", items[i]);
                CHECK(info.last_errcode == 0, "%s errcode %lld", items[i], (long long)info.last_errcode);
                if (!strchr(items[i], '.'))
                        CHECK(callback(e, buf) == 0, "wxemu accepts the token of %s", items[i]);
        }
}

/* Look for each secret in every byte of dir's files (segments, state files). */
static void check_no_secret_in(const char *dir, const char *prefix) {
        struct dirent *d;
        DIR *dp = opendir(dir);
        char path[512], data[65536];

        if (!dp)
                return;
        while ((d = readdir(dp))) {
                ssize_t n;
                int fd;

                if (d->d_name[0] == '.' || (prefix && strncmp(d->d_name, prefix, strlen(prefix)) != 0))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
                fd = open(path, O_RDONLY);
                if (fd < 0)
                        continue;
                n = read(fd, data, sizeof(data));
                close(fd);
                for (size_t s = 0; n > 0 && s < sizeof(secrets) / sizeof(secrets[0]); s++)
                        CHECK(!memmem(data, (size_t)n, secrets[s], strlen(secrets[s])), "secret in %s", path);
        }
        closedir(dp);
}

static void check_state_files(struct agent_proc *a) {
        static const char *const items[] = { "tok", "stb", "wrk", "tok.jsapi" };
        char path[256];
        struct stat st;

        for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", a->state_dir, items[i]);
                CHECK(stat(path, &st) == 0, "state file %s", path);
                CHECK((st.st_mode & 07777) == 0600, "%s mode %o", path, st.st_mode & 07777);
        }
        check_no_secret_in(a->state_dir, NULL);
}

static int upstream_calls(struct emu_proc *e) {
        return emu_stat(e, "wxT", "token_calls") + emu_stat(e, "wxS", "stable_normal") +
               emu_stat(e, "wxS", "stable_force") + emu_stat(e, "wwW", "gettoken_calls") +
               emu_stat(e, "wxT", "ticket_calls") + emu_stat(e, "wwW", "ticket_calls");
}

static void config_check_cli(struct agent_proc *a) {
        const char *bin = getenv("WXTOKEND") ? getenv("WXTOKEND") : "./agent/wxtokend";
        char cmd[512];
        FILE *f;

        snprintf(cmd, sizeof(cmd), "%s -t -c %s >/dev/null 2>&1", bin, a->conf);
        CHECK(system(cmd) == 0, "wxtokend -t accepts the config");
        snprintf(cmd, sizeof(cmd), "%s/bad.conf", a->dir);
        f = fopen(cmd, "we");
        fprintf(f, "[agent]\nstate_dir = %s\n\n[app x]\nkind = tokn\n", a->dir);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "%s -t -c %s/bad.conf 2>&1 | grep -q 'bad.conf:5'", bin, a->dir);
        CHECK(system(cmd) == 0, "wxtokend -t names the line at fault");
        snprintf(cmd, sizeof(cmd), "%s -t -c %s/bad.conf >/dev/null 2>&1", bin, a->dir);
        CHECK(WEXITSTATUS(system(cmd)) == 1, "wxtokend -t exits 1 on a bad config");
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxT:" SECRET_T, "--app", "wxS:" SECRET_S, "--corp", "wwW:" SECRET_W, NULL,
        };
        struct generations before, after;
        struct emu_proc emu;
        struct agent_proc a;
        char apps[2048], *log;
        int calls;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app tok]\nkind = token\nappid = wxT\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "tickets = jsapi\n\n"
                 "[app stb]\nkind = stable\nappid = wxS\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app wrk]\nkind = work\nappid = wwW\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "tickets = jsapi\n",
                 agent_secret_file(&a, "tok", SECRET_T), emu.port, agent_secret_file(&a, "stb", SECRET_S), emu.port,
                 agent_secret_file(&a, "wrk", SECRET_W), emu.port);
        agent_write_config(&a, "log_level = debug", apps);
        config_check_cli(&a);

        /* A file that is not a socket where the socket goes: left alone, and the agent says why. */
        {
                const char *bin = getenv("WXTOKEND") ? getenv("WXTOKEND") : "./agent/wxtokend";
                char cmd[512];
                FILE *f = fopen(a.socket, "w");

                CHECK(f && fputs("precious\n", f) >= 0 && fclose(f) == 0, "a regular file at the socket path");
                snprintf(cmd, sizeof(cmd), "%s -c %s 2>&1 | grep -q 'file that is not a socket; not replacing it'", bin, a.conf);
                CHECK(system(cmd) == 0, "the agent refuses to replace it");
                f = fopen(a.socket, "r");
                CHECK(f && fgets(cmd, sizeof(cmd), f) && !strcmp(cmd, "precious\n"), "and the file is intact");
                if (f)
                        fclose(f);
                unlink(a.socket);
        }

        /* First start: one call per item. */
        agent_start(&a);
        CHECK(agent_wait_generation("tok.jsapi", 1, 20000), "the ticket arrives after the token");
        CHECK(agent_wait_generation("wrk.jsapi", 1, 20000), "the WeCom ticket arrives");
        check_tokens(&emu, a.pid);
        CHECK(emu_stat(&emu, "wxT", "token_calls") == 1, "one token call");
        CHECK(emu_stat(&emu, "wxS", "stable_normal") == 1 && emu_stat(&emu, "wxS", "stable_force") == 0,
              "one normal-mode stable call");
        CHECK(emu_stat(&emu, "wwW", "gettoken_calls") == 1, "one gettoken call");
        CHECK(emu_stat(&emu, "wxT", "ticket_calls") == 1, "one ticket call");
        check_state_files(&a);
        generations_read(&before);

        /* A second agent on the same state_dir refuses to run: it would rotate against the first. */
        {
                char cmd[512];

                snprintf(cmd, sizeof(cmd), "%s -c %s 2>&1 | grep -q 'another wxtokend'",
                         getenv("WXTOKEND") ? getenv("WXTOKEND") : "./agent/wxtokend", a.conf);
                CHECK(system(cmd) == 0, "a second agent refuses to start");
        }

        /* Restart: every token is adopted from its segment, no upstream call. */
        calls = upstream_calls(&emu);
        CHECK(agent_stop(&a) == 0, "clean stop");
        CHECK(agent_wait_state("tok", WXSHM_STATE_STOPPED, 1000), "segments say stopped");
        agent_start(&a);
        check_tokens(&emu, a.pid);
        generations_read(&after);
        CHECK(upstream_calls(&emu) == calls, "restart: %d upstream calls", upstream_calls(&emu) - calls);
        CHECK(!memcmp(&before, &after, sizeof(before)), "restart keeps every generation");

        /* kill -9 and restart: the same. */
        agent_kill9(&a);
        agent_start(&a);
        check_tokens(&emu, a.pid);
        CHECK(upstream_calls(&emu) == calls, "restart after kill -9: %d upstream calls", upstream_calls(&emu) - calls);

        /* Reboot: /dev/shm is empty, the state directory is not. */
        CHECK(agent_stop(&a) == 0, "clean stop");
        {
                char cmd[160];

                snprintf(cmd, sizeof(cmd), "rm -rf %s", a.shm_dir);
                CHECK(system(cmd) == 0, "segments removed");
        }
        CHECK(agent_read("tok", (char[8]){ 0 }, 8, &(wxshm_info){ 0 }) == -ENOENT, "no segment left");
        agent_start(&a);
        check_tokens(&emu, a.pid);
        generations_read(&after);
        CHECK(upstream_calls(&emu) == calls, "reboot: %d upstream calls", upstream_calls(&emu) - calls);
        CHECK(!memcmp(&before, &after, sizeof(before)), "reboot keeps every generation");

        /* The secret is nowhere: segments, state files, the agent's own words (at debug level). */
        check_no_secret_in(a.shm_dir, NULL);
        check_state_files(&a);
        CHECK(agent_stop(&a) == 0, "clean stop");
        log = agent_log(&a);
        for (size_t s = 0; s < sizeof(secrets) / sizeof(secrets[0]); s++)
                CHECK(!strstr(log, secrets[s]), "secret %zu in the agent's log", s);
        CHECK(strstr(log, "first token"), "the log tells of the first token");
        CHECK(strstr(log, "adopted generation"), "the log tells of adoption");
        free(log);

        return harness_finish(&a);
}
