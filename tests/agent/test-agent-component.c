/* test-agent-component.c: an Open Platform component (kind component) against wxemu: ticket intake, first fetch, forced refresh, fallback, restart. */
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
#define TSECRET "Tok-Secret-0a1b2c3d4e5f"
#define OTHER_USER "wxtcomp"            /* a real user, kept between runs (useradd is slow) */
#define N_CONCURRENT 8

static struct emu_proc emu;
static struct agent_proc a;
static char sock_group[32];
static char reader_group[32];            /* plat's "group =": its segment's readers */

static int64_t now_s(void) {
        return (int64_t)time(NULL);
}

static double mono_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void group_remove(void) {
        char cmd[96];

        if (!sock_group[0])
                return;
        snprintf(cmd, sizeof(cmd), "groupdel %s 2>/dev/null", sock_group);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove the test group\n");
        snprintf(cmd, sizeof(cmd), "groupdel %s 2>/dev/null", reader_group);
        if (reader_group[0] && system(cmd) != 0)
                fprintf(stderr, "could not remove the readers' test group\n");
}

/* api_component_token calls wxemu answered so far, ok or not. */
static int component_calls(void) {
        return emu_endpoint_calls(&emu, "api_component_token");
}

/* A new component_verify_ticket from wxemu, as WeChat would push it (malloc'd). */
static char *push_ticket(void) {
        struct http_res res;
        char *t = NULL;

        http_call(&emu, "POST", "/emu/push_ticket?component=" COMP, NULL, 5000, &res);
        if (json_str(res.json, "ticket"))
                t = strdup(json_str(res.json, "ticket"));
        http_res_free(&res);
        SETUP_OK(t, "push_ticket");
        return t;
}

/* The ticket op over the socket; the raw reply in raw. */
static cJSON *put(const char *app, const char *ticket, int64_t create_time, char *raw, size_t size) {
        char line[1024];

        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"%s\",\"ticket\":\"%s\",\"create_time\":%lld}\n", app,
                 ticket, (long long)create_time);
        return agent_request(&a, line, raw, size);
}

/* plat's status entry (the whole reply in *reply, to free) and its "component" object. */
static const cJSON *status_of(const char *item, cJSON **reply, const cJSON **comp, char *raw, size_t size) {
        char line[160];
        const cJSON *e;

        snprintf(line, sizeof(line), "{\"op\":\"status\",\"app\":\"%s\"}\n", item);
        *reply = agent_request(&a, line, raw, size);
        e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(*reply, "apps"), 0);
        if (comp)
                *comp = cJSON_GetObjectItemCaseSensitive(e, "component");
        return e;
}

static uint64_t generation_of(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

/* Run wxtokenctl args; stdout and stderr together in out; the exit status. */
static int ctl(const char *args, char *out, size_t size) {
        return agent_ctl(&a, NULL, args, out, size);
}

/*
 * No ticket yet: READY came all the same (agent_start waited for it), no call was made,
 * and status and the log say what to do. A forced refresh is answered at once, not at its timeout.
 */
static void test_waits_for_ticket(void) {
        char raw[16384];
        const cJSON *e, *comp;
        cJSON *o;

        CHECK(component_calls() == 0, "no api_component_token call without a ticket: %d", component_calls());
        e = status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(e && !strcmp(json_str(e, "state") ? json_str(e, "state") : "", "starting") &&
              strstr(json_str(e, "advice") ? json_str(e, "advice") : "", "no component_verify_ticket yet") &&
              strstr(json_str(e, "advice") ? json_str(e, "advice") : "", "wxtokenctl ticket put plat"),
              "starting, and the advice says how to forward the push: %s", raw);
        CHECK(comp && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")) &&
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "waiting_for_ticket")), "component: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_log_count(&a, "no component_verify_ticket yet") == 1, "one log line for it");
        o = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"plat\",\"timeout_ms\":20000}\n", raw, sizeof(raw));
        CHECK(strstr(raw, "upstream_failed") && strstr(raw, "no component_verify_ticket"),
              "a refresh without a ticket is answered with why: %s", raw);
        cJSON_Delete(o);
        CHECK(component_calls() == 0, "and still no call");
}

/* The first ticket, through wxtokenctl: taken, one call, the token published and read through libwxshm. */
static void test_first_fetch(const char *t1, int64_t ct1) {
        char out[4096], args[1024], raw[16384], path[256];
        const cJSON *e, *comp;
        struct stat st;
        char *file;
        cJSON *o;

        snprintf(args, sizeof(args), "ticket put plat %s %lld", t1, (long long)ct1);
        CHECK(ctl(args, out, sizeof(out)) == 0 && strstr(out, "taken") && strstr(out, "calling now"),
              "wxtokenctl ticket put: %s", out);
        CHECK(agent_wait_generation("plat", 1, 10000), "the component_access_token is published");
        CHECK(component_calls() == 1, "one call: %d", component_calls());
        e = status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(e && !strcmp(json_str(e, "kind") ? json_str(e, "kind") : "", "component") &&
              !strcmp(json_str(e, "state") ? json_str(e, "state") : "", "fresh"), "fresh: %s", raw);
        CHECK(comp && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")) &&
              json_int(comp, "ticket_age_s", -1) >= 600 && json_int(comp, "ticket_age_s", -1) < 700 &&
              !strcmp(json_str(comp, "ticket_in_use") ? json_str(comp, "ticket_in_use") : "", "newest"),
              "status says the ticket is ten minutes old: %s", raw);
        CHECK(!strstr(raw, t1), "the ticket itself is not in status");
        cJSON_Delete(o);
        /* Kept for a restart: the agent's own file, 0600. */
        snprintf(path, sizeof(path), "%s/plat.verify_ticket", a.state_dir);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "%s is 0600", path);
        file = file_slurp(path);
        CHECK(file && strstr(file, t1) && !strstr(file, CSECRET), "it holds the ticket, not the secret");
        free(file);
        CHECK(ctl("status plat", out, sizeof(out)) == 0 && strstr(out, "component_verify_ticket: created") &&
              !strstr(out, t1), "wxtokenctl status says how old the ticket is: %s", out);
        CHECK(ctl("ticket put shop x 1", out, sizeof(out)) == 1 && strstr(out, "ticket_refused") &&
              strstr(out, "not a component"), "an app of kind token takes no ticket: %s", out);
        CHECK(ctl("ticket put plat x", out, sizeof(out)) == 64, "usage: %s", out);
}

/* Pushes arrive out of order: an older one is ignored and said so; one from the future is refused. */
static void test_order(const char *t1, int64_t ct1, const char *t2, int64_t ct2) {
        char raw[16384];
        const cJSON *comp;
        int calls = component_calls();
        cJSON *o;

        o = put("plat", t2, ct2, raw, sizeof(raw));
        CHECK(o && strstr(raw, "\"ticket\":\"taken\"") && strstr(raw, "next refresh"),
              "a newer ticket, while the token is good: kept for the next call: %s", raw);
        cJSON_Delete(o);
        o = put("plat", t1, ct1, raw, sizeof(raw));
        CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) && strstr(raw, "\"ticket\":\"ignored\"") &&
              strstr(raw, "older"), "the older one again: ignored, and said so: %s", raw);
        cJSON_Delete(o);
        o = put("plat", t2, now_s() + 3600, raw, sizeof(raw));
        CHECK(strstr(raw, "ticket_refused") && strstr(raw, "future"), "an hour ahead: refused: %s", raw);
        cJSON_Delete(o);
        o = put("plat", "ticket@@@from-1970", 1000, raw, sizeof(raw));
        CHECK(strstr(raw, "ticket_refused") && strstr(raw, "12 h"), "a ticket past its 12 h: refused: %s", raw);
        cJSON_Delete(o);
        status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(json_int(comp, "ticket_create_time", -1) == (int)ct2, "the newest stays the one of %lld: %s",
              (long long)ct2, raw);
        cJSON_Delete(o);
        CHECK(component_calls() == calls, "no call for any of it");
}

/* N_CONCURRENT clients refresh generation G at once: one api_component_token call, all answered ok. */
static void test_force(void) {
        int calls = component_calls(), ok;
        uint64_t g = generation_of("plat");

        ok = agent_refresh_all(&a, "plat", g, N_CONCURRENT, NULL);
        CHECK(ok == N_CONCURRENT, "%d of %d answered ok", ok, N_CONCURRENT);
        CHECK(component_calls() == calls + 1, "one re-mint for all: %d calls (before %d)", component_calls(), calls);
        CHECK(generation_of("plat") == g + 1, "generation %llu -> %llu", (unsigned long long)g,
              (unsigned long long)generation_of("plat"));
}

/*
 * The newest ticket is one WeChat never pushed: 61006. The agent falls back to the
 * previous good ticket (the one that minted last), says so, and the token comes.
 */
static void test_fallback(int64_t ct_bogus) {
        char raw[16384], *t;
        uint64_t g = generation_of("plat");
        const cJSON *e, *comp;
        cJSON *o;

        o = put("plat", "ticket@@@never-pushed-by-wechat", ct_bogus, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ticket\":\"taken\""), "a bogus newer ticket is taken (the agent cannot tell): %s", raw);
        cJSON_Delete(o);
        cJSON_Delete(agent_request(&a, "{\"op\":\"refresh\",\"app\":\"plat\",\"timeout_ms\":10000}\n", raw, sizeof(raw)));
        CHECK(agent_wait_generation("plat", g + 1, 10000), "a new token all the same: %s", raw);
        CHECK(agent_log_count(&a, "falling back to the previous good ticket") == 1, "the log says it fell back");
        e = status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(comp && !strcmp(json_str(comp, "ticket_in_use") ? json_str(comp, "ticket_in_use") : "", "previous") &&
              strstr(json_str(comp, "note") ? json_str(comp, "note") : "", "falling back"),
              "status says the previous ticket is in use: %s", raw);
        CHECK(comp && json_int(comp, "ticket_age_s", -1) == 0, "a create time ahead of the clock is 0 s old: %s", raw);
        CHECK(e && !strcmp(json_str(e, "state") ? json_str(e, "state") : "", "fresh"), "fresh again");
        cJSON_Delete(o);

        /* Now WeChat refuses every ticket: the agent waits for a new push, which wakes it at once. */
        SETUP_OK(control(&emu, "/emu/invalidate_ticket?component=" COMP) == 200, "invalidate");
        g = generation_of("plat");
        cJSON_Delete(agent_request(&a, "{\"op\":\"refresh\",\"app\":\"plat\",\"timeout_ms\":10000}\n", raw, sizeof(raw)));
        CHECK(strstr(raw, "upstream_failed") && strstr(raw, "61006"), "the refresh fails on the ticket: %s", raw);
        e = status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(e && json_int(e, "last_errcode", 0) == 61006 &&
              strstr(json_str(e, "advice") ? json_str(e, "advice") : "", "wxtokenctl ticket put"),
              "status: 61006 and what to do: %s", raw);
        cJSON_Delete(o);
        t = push_ticket();
        o = put("plat", t, ct_bogus + 1, raw, sizeof(raw));
        CHECK(strstr(raw, "calling now"), "a new push wakes the item: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_wait_generation("plat", g + 1, 10000), "and the token follows");
        free(t);
}

/* One request as OTHER_USER with the supplementary groups sock_group and extra; the raw reply in raw. */
static void as_other_user(gid_t extra, const char *line, char *raw, size_t size) {
        struct passwd *pw = getpwnam(OTHER_USER);
        struct group *g = getgrnam(sock_group);
        int pipefd[2], status;
        ssize_t n;
        pid_t pid;

        SETUP_OK(pw && g, "user and group");
        SETUP_OK(pipe(pipefd) == 0, "pipe");
        pid = fork();
        SETUP_OK(pid >= 0, "fork");
        if (pid == 0) {
                gid_t sg[2] = { g->gr_gid, extra };

                close(pipefd[0]);
                if (setgroups(2, sg) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
                        _exit(EXIT_SETUP);
                if (client_request(a.socket, line, raw, size, 10000) < 0)
                        snprintf(raw, size, "no reply");
                if (write(pipefd[1], raw, strlen(raw)) < 0)
                        _exit(EXIT_SETUP);
                _exit(0);
        }
        close(pipefd[1]);
        n = read(pipefd[0], raw, size - 1);
        raw[n > 0 ? n : 0] = '\0';
        close(pipefd[0]);
        waitpid(pid, &status, 0);
}

/*
 * Issue 17: only root and the agent's group may put tickets. A real user in plat's group
 * (a reader of the token: its get is answered) is refused; the same user in the agent's
 * group (the agent runs as root here: gid 0) is taken.
 */
static void test_other_user(const char *t, int64_t ct) {
        struct group *rg;
        char raw[4096] = "", line[512];
        gid_t readers;

        if (geteuid() != 0) {
                printf("not root: the cross-user check is skipped\n");
                return;
        }
        rg = getgrnam(reader_group);
        SETUP_OK(rg, "readers' group");
        readers = rg->gr_gid; /* as_other_user's getgrnam() reuses the struct rg points to */
        as_other_user(readers, "{\"op\":\"get\",\"app\":\"plat\"}\n", raw, sizeof(raw));
        CHECK(strstr(raw, "\"ok\":true"), "a reader of plat gets its token: %s", raw);
        snprintf(line, sizeof(line), "{\"op\":\"ticket\",\"app\":\"plat\",\"ticket\":\"%s\",\"create_time\":%lld}\n", t,
                 (long long)ct);
        as_other_user(readers, line, raw, sizeof(raw));
        CHECK(strstr(raw, "permission_denied") && strstr(raw, "agent's group"),
              "a put by a reader of plat (in its group, not the agent's): %s", raw);
        as_other_user(getegid(), line, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ticket\":\"taken\""), "a put by a member of the agent's group: %s", raw);
}

/* A restart adopts the token (no call) and reads its ticket back. */
static void test_restart(void) {
        char raw[16384];
        const cJSON *comp;
        int calls = component_calls();
        cJSON *o;

        CHECK(agent_stop(&a) == 0, "clean stop");
        agent_start(&a);
        CHECK(generation_of("plat") > 0, "the token is there after the restart");
        status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(comp && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")), "the ticket read back: %s",
              raw);
        cJSON_Delete(o);
        harness_sleep_ms(500); /* an observation window: a call at start would show in it */
        CHECK(component_calls() == calls, "adopted with no call: %d (before %d)", component_calls(), calls);
}

/* A number of plat's status entry (0 if absent): times in ms do not fit json_int. */
static double plat_number(const char *field) {
        char raw[16384];
        const cJSON *e, *v;
        cJSON *o;
        double d;

        e = status_of("plat", &o, NULL, raw, sizeof(raw));
        v = cJSON_GetObjectItemCaseSensitive(e, field);
        d = cJSON_IsNumber(v) ? v->valuedouble : 0;
        cJSON_Delete(o);
        return d;
}

/* wxtokenctl ticket put plat - CT, the ticket on stdin; the output in out, the exit status. */
static int ctl_put_stdin(const char *ticket, int64_t ct, char *out, size_t size) {
        char args[1024];

        snprintf(args, sizeof(args), "ticket put plat - %lld < %s/stdin-ticket", (long long)ct, a.dir);
        {
                char path[256];
                FILE *f;

                snprintf(path, sizeof(path), "%s/stdin-ticket", a.dir);
                f = fopen(path, "we");
                SETUP_OK(f && fprintf(f, "%s\n", ticket) > 0 && fclose(f) == 0, "write %s", path);
        }
        return ctl(args, out, size);
}

/*
 * Garbage puts with rising create times after a refused ticket: each would wake the item
 * for a call. A put wakes it at most once per backoff step (1 s, then 2 s here), so the
 * calls are bounded by the time the burst took, not by the number of puts.
 */
static void test_garbage_puts(int64_t ct) {
        int calls0, calls, wakes = 0;
        double t0, elapsed_s;
        char raw[16384], ticket[64];
        cJSON *o;

        SETUP_OK(control(&emu, "/emu/invalidate_ticket?component=" COMP) == 200, "invalidate");
        cJSON_Delete(agent_request(&a, "{\"op\":\"refresh\",\"app\":\"plat\",\"timeout_ms\":10000}\n", raw, sizeof(raw)));
        SETUP_OK(strstr(raw, "61006"), "the ticket held is refused: %s", raw);
        calls0 = component_calls();
        t0 = mono_s();
        for (int i = 0; i < 20; i++) {
                double last = plat_number("last_error_at");

                snprintf(ticket, sizeof(ticket), "ticket@@@garbage-%d", i);
                o = put("plat", ticket, ct + i, raw, sizeof(raw));
                SETUP_OK(strstr(raw, "\"ticket\":\"taken\""), "put %d: %s", i, raw);
                cJSON_Delete(o);
                /* A put that says it calls: wait for that call's answer, so the next put finds nothing in flight. */
                if (strstr(raw, "calling now")) {
                        wakes++;
                        for (int k = 0; k < 500 && plat_number("last_error_at") <= last; k++)
                                harness_sleep_ms(10);
                }
        }
        elapsed_s = mono_s() - t0;
        calls = component_calls() - calls0;
        printf("20 garbage puts in %.2f s: %d said 'calling now', %d api_component_token calls\n", elapsed_s, wakes,
               calls);
        /* Put wakes: one per step (>= 1 s); the item's own retries: one per backoff (>= 1 s). */
        /* Each call may be followed at once by one with the previous good ticket (the fallback). */
        CHECK(calls <= 4 + 4 * (int)(elapsed_s + 1), "%d calls for 20 puts in %.2f s", calls, elapsed_s);
        CHECK(wakes <= 2 + (int)(elapsed_s + 1), "%d puts woke the item", wakes);
}

/*
 * A put while a call is under way: the call (made with the ticket before) is refused, and
 * the agent calls again at once with the newer one; nothing says it was "refused too".
 */
static void test_put_in_flight(int64_t ct) {
        static const char refresh[] = "{\"op\":\"refresh\",\"app\":\"plat\",\"timeout_ms\":20000}\n";
        char raw[16384], out[4096], buf[4096];
        const cJSON *comp;
        uint64_t g;
        int fd, again;
        size_t n = 0;
        ssize_t r;
        char *t1, *t2;
        cJSON *o;

        /* A good token from a good ticket first. */
        t1 = push_ticket();
        g = generation_of("plat");
        o = put("plat", t1, ct, raw, sizeof(raw));
        SETUP_OK(strstr(raw, "\"ticket\":\"taken\""), "put t1: %s", raw);
        cJSON_Delete(o);
        SETUP_OK(agent_wait_generation("plat", g + 1, 15000), "a token from t1");
        g = generation_of("plat");
        /* The put of t1 may have met a retry under way: count from here. */
        again = agent_log_count(&a, "calling again at once with the newer one");
        /* The next call is held 2 s at WeChat, and checks its ticket after. */
        SETUP_OK(control(&emu, "/emu/fault?app=" COMP "&kind=slow&ms=2000&count=1") == 200, "slow fault");
        fd = socket_dial(a.socket);
        SETUP_OK(fd >= 0 && write(fd, refresh, strlen(refresh)) == (ssize_t)strlen(refresh), "refresh");
        /* The segment says refreshing from the moment the call goes out (wxemu counts it only when answered). */
        SETUP_OK(agent_wait_state("plat", WXSHM_STATE_REFRESHING, 10000), "the call is under way");
        SETUP_OK(control(&emu, "/emu/invalidate_ticket?component=" COMP) == 200, "invalidate t1");
        t2 = push_ticket();
        CHECK(ctl_put_stdin(t2, ct + 1, out, sizeof(out)) == 0 && strstr(out, "taken"),
              "wxtokenctl ticket put plat - (the ticket on stdin) while the call is under way: %s", out);
        while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) {
                n += (size_t)r;
                if (memchr(buf, '\n', n))
                        break;
        }
        buf[n] = '\0';
        close(fd);
        CHECK(agent_wait_generation("plat", g + 1, 15000), "a token, from t2 (refresh answered %s)", buf);
        CHECK(agent_log_count(&a, "calling again at once with the newer one") == again + 1,
              "the log says t1 was refused and t2 is tried at once");
        status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(comp && !strcmp(json_str(comp, "ticket_in_use") ? json_str(comp, "ticket_in_use") : "", "newest") &&
              !strstr(json_str(comp, "note") ? json_str(comp, "note") : "", "refused too"),
              "t2 in use, and no 'refused too': %s", raw);
        cJSON_Delete(o);
        free(t1);
        free(t2);
}

/* Stop the agent, write plat's ticket file as text, start it again. */
static void plant_ticket_file(const char *json) {
        char path[256];
        int fd;

        CHECK(agent_stop(&a) == 0, "clean stop");
        snprintf(path, sizeof(path), "%s/plat.verify_ticket", a.state_dir);
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        SETUP_OK(fd >= 0 && write(fd, json, strlen(json)) == (ssize_t)strlen(json) && close(fd) == 0, "plant %s", path);
        agent_start(&a);
}

/*
 * A hostile ticket file: a control character, create_time 2^53. Refused at start (logged),
 * so a real put after it is taken, not "older".
 */
static void test_hostile_file(void) {
        char json[1024], raw[16384];
        const cJSON *comp;
        int64_t ct = now_s();
        char *t;
        cJSON *o;

        snprintf(json, sizeof(json), "{\"verify_ticket_file\":1,\"appid\":\"" COMP "\",\"newest\":{\"ticket\":"
                 "\"ticket@@@bad\\u0001char\",\"create_time\":9007199254740992,\"received_at\":1},\"good\":"
                 "{\"ticket\":\"\",\"create_time\":0,\"received_at\":0},\"newest_refused\":false,"
                 "\"good_refused\":false}");
        plant_ticket_file(json);
        CHECK(agent_log_count(&a, "plat.verify_ticket refused: the newest ticket is not printable") == 1,
              "the file is refused, and the log says why");
        t = push_ticket();
        o = put("plat", t, ct, raw, sizeof(raw));
        CHECK(strstr(raw, "\"ticket\":\"taken\""), "a real ticket after it is taken: %s", raw);
        cJSON_Delete(o);
        status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(comp && json_int(comp, "ticket_create_time", -1) == (int)ct, "and held: %s", raw);
        cJSON_Delete(o);
        free(t);
}

/*
 * The previous good ticket is past its 12 hours: when WeChat refuses the newest, there is
 * no fallback; status says the agent waits for a push. (A put that old is refused, so the
 * state file is how it gets there, as after an agent stopped half a day.)
 */
static void test_old_good(void) {
        char json[1024], raw[16384];
        const cJSON *comp;
        int falls = agent_log_count(&a, "falling back to the previous good ticket");
        char *good = push_ticket();
        cJSON *o;

        snprintf(json, sizeof(json), "{\"verify_ticket_file\":1,\"appid\":\"" COMP "\",\"newest\":{\"ticket\":"
                 "\"ticket@@@never-pushed-2\",\"create_time\":%lld,\"received_at\":1},\"good\":{\"ticket\":\"%s\","
                 "\"create_time\":%lld,\"received_at\":1},\"newest_refused\":false,\"good_refused\":false}",
                 (long long)(now_s() - 60), good, (long long)(now_s() - 13 * 3600));
        plant_ticket_file(json);
        cJSON_Delete(agent_request(&a, "{\"op\":\"refresh\",\"app\":\"plat\",\"timeout_ms\":10000}\n", raw, sizeof(raw)));
        CHECK(strstr(raw, "upstream_failed") && strstr(raw, "61006"), "the newest is refused: %s", raw);
        status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(comp && !strcmp(json_str(comp, "ticket_in_use") ? json_str(comp, "ticket_in_use") : "", "newest") &&
              strstr(json_str(comp, "note") ? json_str(comp, "note") : "", "no previous good one is within 12 h") &&
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "waiting_for_ticket")),
              "no fallback to a 13 h old ticket, and waiting for a push: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_log_count(&a, "falling back to the previous good ticket") == falls, "no fallback in the log");
        free(good);
}

/* A file whose newest ticket is past its 12 h (an agent stopped long): no ticket, waiting for a push. */
static void test_expired_file(void) {
        char json[1024], raw[16384];
        const cJSON *comp;
        cJSON *o;

        snprintf(json, sizeof(json), "{\"verify_ticket_file\":1,\"appid\":\"" COMP "\",\"newest\":{\"ticket\":"
                 "\"ticket@@@half-a-day-old\",\"create_time\":%lld,\"received_at\":1},\"good\":{\"ticket\":\"\","
                 "\"create_time\":0,\"received_at\":0},\"newest_refused\":false,\"good_refused\":false}",
                 (long long)(now_s() - 13 * 3600));
        plant_ticket_file(json);
        status_of("plat", &o, &comp, raw, sizeof(raw));
        CHECK(comp && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(comp, "has_ticket")) &&
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(comp, "waiting_for_ticket")),
              "a 13 h old ticket in the file counts as none: %s", raw);
        cJSON_Delete(o);
        CHECK(agent_log_count(&a, "is past its 12 h") == 1, "and the log says so");
}

/* The component_appsecret is nowhere; no ticket is logged whole. */
static void test_no_secret(const char *t1, const char *t2) {
        char raw[65536], metrics[1 << 16];
        char *log = agent_log(&a);
        cJSON *o;
        int fd;
        ssize_t n = 0, r;

        CHECK(log && !strstr(log, CSECRET) && !strstr(log, TSECRET), "no secret in the log");
        CHECK(log && !strstr(log, t1) && !strstr(log, t2), "no whole ticket in the log");
        free(log);
        o = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        CHECK(!strstr(raw, CSECRET) && !strstr(raw, t1) && !strstr(raw, t2), "nor in status");
        cJSON_Delete(o);
        fd = socket_dial(a.socket);
        SETUP_OK(fd >= 0 && write(fd, "{\"op\":\"metrics\"}\n", 17) == 17, "metrics");
        while ((r = read(fd, metrics + n, sizeof(metrics) - 1 - (size_t)n)) > 0)
                n += r;
        close(fd);
        metrics[n > 0 ? n : 0] = '\0';
        CHECK(!strstr(metrics, CSECRET), "nor in the metrics");
        CHECK(strstr(metrics, "endpoint=\"component_token\""), "the component's calls are counted apart");
}

int main(void) {
        static const char *const args[] = { "--component", COMP ":" CSECRET, "--app", "wxtok0001:" TSECRET, NULL };
        char apps[2048], extra[256], cmd[160];
        int64_t now = now_s();
        char *t1, *t2;

        emu_start(&emu, args);
        agent_init(&a);
        if (geteuid() == 0) {
                SETUP_OK(getpwnam(OTHER_USER) ||
                         system("useradd -M -s /usr/sbin/nologin " OTHER_USER " >/dev/null 2>&1") == 0,
                         "useradd " OTHER_USER);
                snprintf(sock_group, sizeof(sock_group), "wxtcg%ld", (long)getpid() % 100000);
                atexit(group_remove);
                snprintf(cmd, sizeof(cmd), "groupadd %s", sock_group);
                SETUP_OK(system(cmd) == 0, "groupadd %s", sock_group);
                snprintf(reader_group, sizeof(reader_group), "wxtcr%ld", (long)getpid() % 100000);
                snprintf(cmd, sizeof(cmd), "groupadd %s", reader_group);
                SETUP_OK(system(cmd) == 0, "groupadd %s", reader_group);
                chmod(a.dir, 0755); /* the socket lives there; the secrets inside stay 0600 */
        }
        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n%s%s%s\n"
                 "[app shop]\nkind = token\nappid = wxtok0001\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port, reader_group[0] ? "group = " : "", reader_group,
                 reader_group[0] ? "\n" : "", agent_secret_file(&a, "shop", TSECRET), emu.port);
        snprintf(extra, sizeof(extra), "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1\n%s%s%s",
                 sock_group[0] ? "socket_group = " : "", sock_group, sock_group[0] ? "\n" : "");
        agent_write_config(&a, extra, apps);
        agent_start(&a); /* READY does not wait for a ticket that has not come */

        test_waits_for_ticket();
        t1 = push_ticket();
        t2 = push_ticket();
        test_first_fetch(t1, now - 600);
        test_order(t1, now - 600, t2, now - 1);
        test_force();
        test_other_user(t2, now + 2);
        test_restart();
        test_fallback(now + 60);
        test_garbage_puts(now + 70);
        test_put_in_flight(now + 100);
        test_no_secret(t1, t2);
        test_hostile_file();
        test_old_good();
        test_expired_file();
        free(t1);
        free(t2);
        return harness_finish(&a);
}
