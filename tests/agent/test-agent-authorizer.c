/* test-agent-authorizer.c: accounts authorized to a component (Open Platform), added at run time, against wxemu: fetch, persistence, rotation, refusal, removal. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "client.h"

#define COMP "wxcomp0001"
#define CSECRET "Cmp-Secret-7f3a9c1e5b2d"
#define OTHER_USER "wxtcomp"            /* a real user, kept between runs (useradd is slow) */
#define N_AUTH 3
#define N_CONCURRENT 8

static struct emu_proc emu;
static struct agent_proc a;
static const char *const appids[N_AUTH] = { "wxa00000001", "wxa00000002", "wxa00000003" };
static char *first_rt[N_AUTH];          /* the refresh tokens wxemu handed out at the authorization */

#define SEED "7"

/* api_authorizer_token calls wxemu answered for appid so far, ok or not. */
static int calls(const char *appid) {
        return emu_stat(&emu, appid, "token_calls");
}

static int calls_all(void) {
        int n = 0;

        for (int i = 0; i < N_AUTH; i++)
                n += calls(appids[i]);
        return n;
}

static const char *item_of(int i) {
        static char names[N_AUTH][64];

        snprintf(names[i], sizeof(names[i]), "plat.%s", appids[i]);
        return names[i];
}

/* The accounts' refresh tokens as wxemu lists them (asked with the component's token the agent published). */
static void authorizer_list_rt(char *rt[N_AUTH]) {
        char ct[WXSHM_TOKEN_MAX + 1], path[WXSHM_TOKEN_MAX + 128];
        wxshm_info info = { .size = sizeof(info) };
        struct http_res res;
        const cJSON *x;

        SETUP_OK(agent_read("plat", ct, sizeof(ct), &info) > 0, "the component's token");
        snprintf(path, sizeof(path), "/cgi-bin/component/api_get_authorizer_list?component_access_token=%s", ct);
        http_call(&emu, "POST", path, "{\"component_appid\":\"" COMP "\",\"offset\":0,\"count\":100}", 5000, &res);
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(res.json, "list"))
                for (int i = 0; i < N_AUTH; i++)
                        if (!rt[i] && json_str(x, "authorizer_appid") && !strcmp(json_str(x, "authorizer_appid"), appids[i]))
                                rt[i] = strdup(json_str(x, "refresh_token"));
        http_res_free(&res);
        for (int i = 0; i < N_AUTH; i++)
                SETUP_OK(rt[i], "refresh token of %s", appids[i]);
}

static char *state_file(void) {
        char path[256];

        snprintf(path, sizeof(path), "%s/plat.authorizers", a.state_dir);
        return file_slurp(path);
}

/* The refresh token the file holds for appid (malloc'd), NULL if it is not there. */
static char *file_rt(const char *appid) {
        char *f = state_file(), *rt = NULL;
        cJSON *o = f ? cJSON_Parse(f) : NULL;
        const cJSON *x;

        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "authorizers"))
                if (json_str(x, "appid") && !strcmp(json_str(x, "appid"), appid))
                        rt = strdup(json_str(x, "refresh_token"));
        cJSON_Delete(o);
        free(f);
        return rt;
}

/* authorizer_list over the socket: the entry of appid (the whole reply in *reply, to free). */
static const cJSON *listed(const char *appid, cJSON **reply, char *raw, size_t size) {
        const cJSON *x;

        *reply = agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"plat\"}\n", raw, size);
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(*reply, "authorizers"))
                if (json_str(x, "appid") && !strcmp(json_str(x, "appid"), appid))
                        return x;
        return NULL;
}

static const char *state_of(const cJSON *e) {
        return e && json_str(e, "state") ? json_str(e, "state") : "";
}

/*
 * An account added before the component has a token: no call, listed as waiting; the
 * component's first token wakes it, and it is fetched once.
 */
static void test_waits_for_component(const char *ticket_line) {
        char out[4096], raw[16384];
        const cJSON *e;
        cJSON *o;

        first_rt[0] = emu_seeded_refresh_token(SEED, appids[0]);
        CHECK(agent_ctl(&a, first_rt[0], "authorizer add plat wxa00000001", out, sizeof(out)) == 0 && strstr(out, "added"),
              "add before the component's token: %s", out);
        harness_sleep_ms(1500); /* an observation window: a call would show in it */
        CHECK(calls(appids[0]) < 1, "no call without the component's token: %d", calls(appids[0]));
        e = listed(appids[0], &o, raw, sizeof(raw));
        CHECK(!strcmp(state_of(e), "waiting"), "listed as waiting: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_log_count(&a, "wxa00000001") <= 2, "no warning storm about it");
        cJSON_Delete(agent_request(&a, ticket_line, raw, sizeof(raw)));
        SETUP_OK(agent_wait_generation("plat", 1, 10000), "the component's token");
        CHECK(agent_wait_generation(item_of(0), 1, 10000), "the component's token wakes the account");
        CHECK(calls(appids[0]) == 1, "one call: %d", calls(appids[0]));
        /* The segment is written before the line is logged: give the log a moment. */
        for (int i = 0; i < 100 && agent_log_count(&a, "app plat.wxa00000001: first token, generation 1") == 0; i++)
                harness_sleep_ms(20);
        CHECK(agent_log_count(&a, "app plat.wxa00000001: first token, generation 1") == 1, "the log calls it a token");
}

/* Two more accounts added through wxtokenctl (the refresh token on stdin): each fetched once, readable. */
static void test_add(void) {
        char out[4096], args[256], buf[WXSHM_TOKEN_MAX + 1], path[256];
        wxshm_info info = { .size = sizeof(info) };
        struct stat st;

        for (int i = 1; i < N_AUTH; i++) {
                snprintf(args, sizeof(args), "authorizer add plat %s", appids[i]);
                CHECK(agent_ctl(&a, first_rt[i], args, out, sizeof(out)) == 0 && strstr(out, "added"), "add %s: %s", appids[i],
                      out);
        }
        for (int i = 0; i < N_AUTH; i++) {
                CHECK(agent_wait_generation(item_of(i), 1, 10000), "%s published", item_of(i));
                CHECK(agent_read(item_of(i), buf, sizeof(buf), &info) > 0 && info.state == WXSHM_STATE_FRESH,
                      "%s readable through libwxshm", item_of(i));
                CHECK(calls(appids[i]) == 1, "%s: exactly one call: %d", appids[i], calls(appids[i]));
        }
        snprintf(path, sizeof(path), "%s/plat.authorizers", a.state_dir);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "%s is 0600", path);
        CHECK(agent_ctl(&a, NULL, "authorizer add plat wx_card", out, sizeof(out)) == 1, "an appid outside the grammar: %s", out);
        CHECK(agent_ctl(&a, NULL, "authorizer add shop wxa00000009 < /dev/null", out, sizeof(out)) == 1,
              "no refresh token on stdin: refused before asking: %s", out);
}

/* The list: every account fresh, with its generation; no refresh token, in JSON or text. */
static void test_list(void) {
        char raw[16384], out[8192];
        const cJSON *e;
        cJSON *o;

        for (int i = 0; i < N_AUTH; i++) {
                e = listed(appids[i], &o, raw, sizeof(raw));
                CHECK(e && !strcmp(state_of(e), "fresh") && json_int(e, "generation", 0) == 1 &&
                      json_int(e, "expires_at", 0) > 0, "%s listed fresh: %s", appids[i], raw);
                cJSON_Delete(o);
        }
        CHECK(agent_ctl(&a, NULL, "authorizer list plat", out, sizeof(out)) == 0 && strstr(out, appids[0]) &&
              strstr(out, "fresh"), "wxtokenctl authorizer list: %s", out);
        for (int i = 0; i < N_AUTH; i++) {
                char *rt = file_rt(appids[i]);

                CHECK(rt && !strstr(raw, rt) && !strstr(out, rt) && !strstr(raw, first_rt[i]),
                      "no refresh token of %s in the list", appids[i]);
                free(rt);
        }
}

/* N_CONCURRENT clients refresh generation G of one account at once: one call for all. */
static void test_force(void) {
        int before = calls(appids[0]), ok;
        uint64_t g = agent_generation(item_of(0));

        ok = agent_refresh_all(&a, item_of(0), g, N_CONCURRENT, NULL);
        CHECK(ok == N_CONCURRENT, "%d of %d answered ok", ok, N_CONCURRENT);
        CHECK(calls(appids[0]) == before + 1, "one call for all: %d (before %d)", calls(appids[0]), before);
}

/*
 * A forced refresh of the component's token (issue 17) re-mints it once and re-derives
 * nothing still valid: no account calls, every account keeps its generation and token.
 */
static void test_component_force(void) {
        int minted = emu_endpoint_calls(&emu, "api_component_token"), derived = calls_all();
        uint64_t g = agent_generation("plat"), kept[N_AUTH];
        char line[160], reply[4096];

        for (int i = 0; i < N_AUTH; i++)
                kept[i] = agent_generation(item_of(i));
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"plat\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 (unsigned long long)g);
        SETUP_OK(client_request(a.socket, line, reply, sizeof(reply), 15000) >= 0, "refresh plat");
        CHECK(strstr(reply, "\"ok\":true"), "the component's forced refresh: %s", reply);
        CHECK(agent_generation("plat") > g, "the component re-minted: generation %llu -> %llu", (unsigned long long)g,
              (unsigned long long)agent_generation("plat"));
        CHECK(emu_endpoint_calls(&emu, "api_component_token") == minted + 1, "one api_component_token call: %d (before %d)",
              emu_endpoint_calls(&emu, "api_component_token"), minted);
        /* Give a wrongly woken account the time an event-driven call would take to show at wxemu. */
        harness_sleep_ms(1500);
        CHECK(calls_all() == derived, "no account re-derived: %d api_authorizer_token calls (before %d)", calls_all(),
              derived);
        for (int i = 0; i < N_AUTH; i++)
                CHECK(agent_generation(item_of(i)) == kept[i], "%s kept generation %llu: %llu", item_of(i),
                      (unsigned long long)kept[i], (unsigned long long)agent_generation(item_of(i)));
}

/*
 * wxemu rotates the refresh token at every call (the old one dies at once here): the new
 * one is on the disk when the call is answered, so a kill -9 then loses nothing.
 */
static void test_rotation_kill9(void) {
        char raw[4096], line[160], *before_rt = file_rt(appids[1]), *after_rt;
        uint64_t g = agent_generation(item_of(1));
        int before;
        cJSON *o;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 item_of(1), (unsigned long long)g);
        o = agent_request(&a, line, raw, sizeof(raw));
        CHECK(o && strstr(raw, "\"ok\":true"), "refreshed: %s", raw);
        cJSON_Delete(o);
        agent_kill9(&a);
        after_rt = file_rt(appids[1]);
        CHECK(before_rt && after_rt && strcmp(before_rt, after_rt) != 0, "the rotated refresh token is on the disk");
        before = calls_all();
        agent_start(&a);
        harness_sleep_ms(500); /* an observation window: a call at start would show in it */
        CHECK(calls_all() == before, "restart after kill -9: every token adopted, no call (%d, before %d)", calls_all(),
              before);
        g = agent_generation(item_of(1));
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":10000}\n",
                 item_of(1), (unsigned long long)g);
        o = agent_request(&a, line, raw, sizeof(raw));
        CHECK(o && strstr(raw, "\"ok\":true") && agent_generation(item_of(1)) == g + 1,
              "the next refresh works with the saved refresh token: %s", raw);
        cJSON_Delete(o);
        free(before_rt);
        free(after_rt);
}

/* A clean restart: every account's token adopted, 0 calls. */
static void test_restart(void) {
        int before = calls_all();

        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        for (int i = 0; i < N_AUTH; i++)
                CHECK(agent_generation(item_of(i)) > 0, "%s there after the restart", item_of(i));
        harness_sleep_ms(500);
        CHECK(calls_all() == before, "adopted with no call: %d (before %d)", calls_all(), before);
        CHECK(agent_log_count(&a, "removed the segment") == 0, "no account's segment taken for a stale one at start");
}

/*
 * The account cancels (61003, as WeChat answers a de-authorized account): one call, no retry,
 * and the agent reads api_get_authorizer_list, which no longer names it: revoked (removed,
 * counted in status). Then a refresh token not WeChat's (61023) within 5 minutes of that
 * sync: the next automatic sync is put off, not dropped, and a sync by hand recovers the
 * account with the list's refresh token.
 */
static void test_refused(void) {
        char raw[16384], raw2[16384], out[4096], line[160];
        int before = calls(appids[1]), lists = emu_endpoint_calls(&emu, "api_get_authorizer_list");
        const cJSON *e;
        cJSON *o, *o2;

        SETUP_OK(control(&emu, "/emu/deauthorize?authorizer=wxa00000002") == 200, "deauthorize");
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"timeout_ms\":10000}\n", item_of(1));
        o = agent_request(&a, line, raw, sizeof(raw));
        CHECK(strstr(raw, "upstream_failed") && strstr(raw, "61003"), "the refresh says 61003: %s", raw);
        cJSON_Delete(o);
        for (int i = 0; i < 100 && agent_generation(item_of(1)) > 0; i++)
                harness_sleep_ms(100);
        harness_sleep_ms(500); /* an observation window: a further call would show in it */
        CHECK(agent_generation(item_of(1)) == 0, "61003: the revoked account's segment is gone");
        CHECK(calls(appids[1]) == before + 1, "one call, not retried: %d (before %d)", calls(appids[1]), before);
        CHECK(emu_endpoint_calls(&emu, "api_get_authorizer_list") == lists + 1, "one sync: %d list calls (before %d)",
              emu_endpoint_calls(&emu, "api_get_authorizer_list"), lists);
        CHECK(!listed(appids[1], &o, raw, sizeof(raw)), "no longer listed: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_log_count(&a, "authorization cancelled") == 1, "the log says why it synced");
        o = agent_request(&a, "{\"op\":\"status\",\"app\":\"plat\"}\n", raw, sizeof(raw));
        e = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0),
                                             "component");
        CHECK(json_int(e, "authorizers", -1) == N_AUTH - 1 && json_int(e, "authorizers_refused", -1) == 0 &&
              json_int(e, "authorizers_revoked", -1) == 1, "the component's status counts the revoked account: %s",
              raw);
        cJSON_Delete(o);
        CHECK(agent_ctl(&a, NULL, "status plat", out, sizeof(out)) == 0 && strstr(out, "revoked: 1"),
              "wxtokenctl status says so: %s", out);

        /* A refresh token WeChat never handed out: 61023; the automatic sync is put off (the last was just now). */
        before = calls(appids[2]);
        CHECK(agent_ctl(&a, "refreshtoken@@@not-wechats", "authorizer add plat wxa00000003", out, sizeof(out)) == 0 &&
              strstr(out, "calling now"), "a re-add replaces the refresh token: %s", out);
        for (int i = 0; i < 100 && agent_log_count(&a, "is put off") == 0; i++)
                harness_sleep_ms(100);
        CHECK(agent_log_count(&a, "is put off") == 1, "the log says the sync is put off");
        e = listed(appids[2], &o, raw, sizeof(raw));
        CHECK(!strcmp(state_of(e), "refused") && json_int(e, "last_errcode", 0) == 61023 &&
              strstr(json_str(e, "note") ? json_str(e, "note") : "", "authorizer add"),
              "the list says refused and what to do: %s", raw);
        cJSON_Delete(o);
        CHECK(emu_endpoint_calls(&emu, "api_get_authorizer_list") == lists + 1, "no second automatic sync yet");
        CHECK(agent_ctl(&a, NULL, "authorizer sync plat", out, sizeof(out)) == 0, "a sync by hand: %s", out);
        for (int i = 0; i < 100 && strcmp(state_of(listed(appids[2], &o2, raw2, sizeof(raw2))), "fresh"); i++) {
                cJSON_Delete(o2);
                harness_sleep_ms(100);
        }
        cJSON_Delete(o2);
        e = listed(appids[2], &o, raw, sizeof(raw));
        CHECK(!strcmp(state_of(e), "fresh"), "61023: recovered with the list's refresh token: %s", raw);
        cJSON_Delete(o);
        CHECK(calls(appids[2]) == before + 2, "the refused call and one with the listed token: %d (before %d)",
              calls(appids[2]), before);
}

/* Remove: the segment is gone (readers told), the file no longer lists the account. */
static void test_remove(void) {
        char out[4096], buf[WXSHM_TOKEN_MAX + 1], *f, *rt;
        wxshm_info info = { .size = sizeof(info) };

        CHECK(agent_ctl(&a, NULL, "authorizer remove plat wxa00000001", out, sizeof(out)) == 0 && strstr(out, "removed"),
              "remove: %s", out);
        CHECK(agent_read(item_of(0), buf, sizeof(buf), &info) < 0, "its segment is gone");
        rt = file_rt(appids[0]);
        CHECK(!rt, "the file no longer lists it");
        free(rt);
        f = state_file();
        CHECK(f && strstr(f, appids[2]), "the other stays in the file");
        free(f);
        CHECK(agent_ctl(&a, NULL, "authorizer remove plat wxa00000001", out, sizeof(out)) == 1 && strstr(out, "no authorizer"),
              "twice: refused: %s", out);
        CHECK(agent_ctl(&a, NULL, "ticket put plat.wxa00000003 ticket@@@x 1", out, sizeof(out)) == 1 &&
              strstr(out, "ticket_refused"), "an account takes no verify ticket: %s", out);
}

/*
 * Another real user, a reader of the component (in its group = and the socket's group) but not
 * in the agent's group, may list its accounts (no secret in a list) but not add one: an account
 * steers what the agent sends WeChat (issue 17: root and the agent's group only).
 */
static void test_other_user(const char *group) {
        struct passwd *pw;
        struct group *g;
        char raw[4096] = "";
        int pipefd[2], status;
        ssize_t n;
        pid_t pid;

        if (geteuid() != 0) {
                printf("not root: the cross-user check is skipped\n");
                return;
        }
        pw = getpwnam(OTHER_USER);
        g = getgrnam(group);
        SETUP_OK(pw && g, "user and group");
        SETUP_OK(pipe(pipefd) == 0, "pipe");
        pid = fork();
        SETUP_OK(pid >= 0, "fork");
        if (pid == 0) {
                gid_t sg = g->gr_gid;

                if (setgroups(1, &sg) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
                        _exit(EXIT_SETUP);
                char list[16384] = "";

                if (client_request(a.socket, "{\"op\":\"authorizer_add\",\"component\":\"plat\",\"appid\":\"wxa00000009\","
                                   "\"refresh_token\":\"x\"}\n", raw, sizeof(raw) / 2, 10000) < 0)
                        snprintf(raw, sizeof(raw) / 2, "no reply");
                if (client_request(a.socket, "{\"op\":\"authorizer_list\",\"component\":\"plat\"}\n", list, sizeof(list),
                                   10000) < 0)
                        snprintf(list, sizeof(list), "no reply");
                /* Only whether the list was answered travels back: the add's reply, then a verdict. */
                snprintf(raw + strlen(raw), sizeof(raw) - strlen(raw), "|list:%s",
                         strstr(list, "\"ok\":true") && strstr(list, "\"authorizers\"") ? "ok" : "refused");
                if (write(pipefd[1], raw, strlen(raw)) < 0)
                        _exit(EXIT_SETUP);
                _exit(0);
        }
        close(pipefd[1]);
        n = read(pipefd[0], raw, sizeof(raw) - 1);
        raw[n > 0 ? n : 0] = '\0';
        close(pipefd[0]);
        waitpid(pid, &status, 0);
        CHECK(strstr(raw, "permission_denied"), "an add by uid %d (a reader, not in the agent's group): %s",
              (int)pw->pw_uid, raw);
        CHECK(strstr(raw, "|list:ok"), "a list by uid %d (a reader of plat): %s", (int)pw->pw_uid, raw);
}

/* No refresh token and no component secret in the log, status or list. */
static void test_no_secret(void) {
        char raw[65536], list[16384];
        char *log = agent_log(&a), *rt[N_AUTH];
        cJSON *o, *l;

        for (int i = 0; i < N_AUTH; i++)
                rt[i] = file_rt(appids[i]);
        o = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        l = agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"plat\"}\n", list, sizeof(list));
        CHECK(log && !strstr(log, CSECRET) && !strstr(raw, CSECRET) && !strstr(list, CSECRET), "no component secret");
        for (int i = 0; i < N_AUTH; i++) {
                CHECK(!strstr(log, first_rt[i]) && !strstr(raw, first_rt[i]) && !strstr(list, first_rt[i]),
                      "the first refresh token of %s is nowhere", appids[i]);
                CHECK(!rt[i] || (!strstr(log, rt[i]) && !strstr(raw, rt[i]) && !strstr(list, rt[i])),
                      "nor its current one");
                free(rt[i]);
        }
        CHECK(!strstr(log, "refreshtoken@@@"), "no refresh token at all in the log");
        cJSON_Delete(o);
        cJSON_Delete(l);
        free(log);
}

/* A file that is not the agent's record is refused with a clear line, left as it is; the component serves on. */
static void test_hostile_file(void) {
        char path[256], out[4096], *f;
        FILE *w;

        CHECK(agent_stop(&a) == 0, "clean stop");
        snprintf(path, sizeof(path), "%s/plat.authorizers", a.state_dir);
        w = fopen(path, "w");
        SETUP_OK(w && fputs("{\"authorizers_file\":1,\"component_appid\":\"" COMP "\",\"authorizers\":[{\"appid\"", w) >= 0,
                 "truncated file");
        fclose(w);
        agent_start(&a);
        CHECK(agent_log_count(&a, "plat.authorizers refused") == 1, "the log says the file is refused");
        CHECK(agent_generation("plat") > 0, "the component serves on");
        CHECK(agent_ctl(&a, "x", "authorizer add plat wxa00000009", out, sizeof(out)) == 1 && strstr(out, "refused at start"),
              "an add would overwrite it: refused: %s", out);
        f = state_file();
        CHECK(f && !strstr(f, "wxa00000009") && strlen(f) < 120, "the file is left as it was");
        free(f);
}

int main(void) {
        static const char *const args[] = { "--component", COMP ":" CSECRET, "--authorizers", "3",
                                            "--rotate-refresh-tokens", "--overlap-ms", "1", "--seed", SEED, NULL };
        char apps[2048], extra[256], cmd[160], group[32] = "", ticket_line[1024];
        struct http_res res;

        emu_start(&emu, args);
        agent_init(&a);
        if (geteuid() == 0) {
                SETUP_OK(getpwnam(OTHER_USER) ||
                         system("useradd -M -s /usr/sbin/nologin " OTHER_USER " >/dev/null 2>&1") == 0,
                         "useradd " OTHER_USER);
                snprintf(group, sizeof(group), "wxtag%ld", (long)getpid() % 100000);
                snprintf(cmd, sizeof(cmd), "groupadd %s", group);
                SETUP_OK(system(cmd) == 0, "groupadd %s", group);
                chmod(a.dir, 0755);
        }
        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n%s%s%s\n"
                 "[app shop]\nkind = token\nappid = wxtok0001\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port, group[0] ? "group = " : "", group, group[0] ? "\n" : "",
                 agent_secret_file(&a, "shop", "Tok-Secret-1"),
                 emu.port);
        snprintf(extra, sizeof(extra), "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n%s%s%s",
                 group[0] ? "socket_group = " : "", group, group[0] ? "\n" : "");
        agent_write_config(&a, extra, apps);
        agent_start(&a);
        http_call(&emu, "POST", "/emu/push_ticket?component=" COMP, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "ticket"), "push_ticket");
        snprintf(ticket_line, sizeof(ticket_line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\","
                 "\"create_time\":%lld}\n", json_str(res.json, "ticket"), (long long)time(NULL) - 60);
        http_res_free(&res);
        test_waits_for_component(ticket_line);
        authorizer_list_rt(first_rt);

        test_add();
        test_list();
        test_force();
        test_component_force();
        test_rotation_kill9();
        test_restart();
        test_refused();
        test_remove();
        test_other_user(group);
        test_no_secret();
        test_hostile_file();
        if (group[0]) {
                snprintf(cmd, sizeof(cmd), "groupdel %s 2>/dev/null", group);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove the test group\n");
        }
        for (int i = 0; i < N_AUTH; i++)
                free(first_rt[i]);
        return harness_finish(&a);
}
