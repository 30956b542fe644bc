/* test-agent-socket.c: socket activation, sd_notify, compare-and-refresh with 1,000 coalesced clients, spacing. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_T "Sock-T-0123456789"
#define SEC_S "Sock-S-0123456789"
#define SEC_V "Sock-V-0123456789"
#define CLIENTS 1000

static uint64_t generation_of(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

static bool reply_ok(cJSON *r) {
        return r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
}

static const char *reply_error(cJSON *r) {
        const char *e = r ? json_str(r, "error") : NULL;

        return e ? e : "";
}

static cJSON *refresh(struct agent_proc *a, const char *app, uint64_t gen, int timeout_ms) {
        char line[256], raw[1024];

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":%d}\n", app,
                 (unsigned long long)gen, timeout_ms);
        return agent_request(a, line, raw, sizeof(raw));
}

/* CLIENTS connections at once, each asking to refresh generation gen; how many saw generation > gen. */
static int coalesce(struct agent_proc *a, const char *app, uint64_t gen) {
        static struct pollfd fds[CLIENTS];
        static char buf[CLIENTS][256];
        static size_t len[CLIENTS];
        char line[160];
        int good = 0, open_fds = 0, misses = 0;
        struct timespec deadline;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"%s\",\"generation\":%llu,\"timeout_ms\":20000}\n",
                 app, (unsigned long long)gen);
        for (int i = 0; i < CLIENTS; i++) {
                fds[i].fd = socket_dial(a->socket);
                fds[i].events = POLLIN;
                len[i] = 0;
                if (fds[i].fd < 0 ||
                    write(fds[i].fd, line, strlen(line)) != (ssize_t)strlen(line)) {
                        fprintf(stderr, "client %d: %s\n", i, strerror(errno));
                        return -1;
                }
                open_fds++;
        }
        /* Bounded: every client was promised an answer within its 20 s timeout. */
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 30;
        while (open_fds > 0) {
                struct timespec now;

                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec > deadline.tv_sec)
                        break;
                if (poll(fds, CLIENTS, 100) < 0)
                        break;
                for (int i = 0; i < CLIENTS; i++) {
                        ssize_t n;

                        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        n = read(fds[i].fd, buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
                        if (n > 0)
                                len[i] += (size_t)n;
                        if (n <= 0 || memchr(buf[i], '\n', len[i])) {
                                cJSON *r;

                                buf[i][len[i]] = '\0';
                                r = cJSON_Parse(buf[i]);
                                if (reply_ok(r) && json_int(r, "generation", 0) > (int)gen)
                                        good++;
                                else if (misses++ < 3)
                                        fprintf(stderr, "client %d got: '%s'\n", i, buf[i]);
                                cJSON_Delete(r);
                                close(fds[i].fd);
                                fds[i].fd = -1;
                                open_fds--;
                        }
                }
        }
        for (int i = 0; i < CLIENTS; i++)
                if (fds[i].fd >= 0)
                        close(fds[i].fd);
        return good;
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxT:" SEC_T, "--app", "wxS:" SEC_S, "--app", "wxV:" SEC_V, NULL,
        };
        struct rlimit nofile;
        struct emu_proc emu;
        struct agent_proc a;
        char apps[2048], raw[4096];
        uint64_t g;
        cJSON *r;
        int calls, calls_seen;

        /* 1,000 client sockets in this process. */
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
                nofile.rlim_cur = nofile.rlim_max;
                setrlimit(RLIMIT_NOFILE, &nofile);
        }
        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app tok]\nkind = token\nappid = wxT\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app stb]\nkind = stable\nappid = wxS\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app ver]\nkind = token\nappid = wxV\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "verify_before_force = yes\n",
                 agent_secret_file(&a, "tok", SEC_T), emu.port, agent_secret_file(&a, "stb", SEC_S), emu.port,
                 agent_secret_file(&a, "ver", SEC_V), emu.port);
        agent_write_config(&a, "min_force_interval = 2\nmax_connections = 4096", apps);
        a.activate = true;
        a.env[0] = "WATCHDOG_USEC=400000";
        agent_start(&a);

        /* systemd's protocol: readiness came, then a status line and watchdog pings. */
        CHECK(agent_wait_notify(&a, "WATCHDOG=1", 5000), "WATCHDOG=1 while WATCHDOG_USEC is set");
        CHECK(agent_notified(&a, "READY=1") && agent_notified(&a, "STATUS=3 of 3 apps fresh"),
              "READY=1 and a current STATUS= line");
        r = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        CHECK(reply_ok(r), "status over the activated socket: %s", raw);
        CHECK(!strstr(raw, SEC_T) && !strstr(raw, "access_token"), "status shows no secret and no token");
        cJSON_Delete(r);

        /* get: for processes that cannot map the segment. */
        r = agent_request(&a, "{\"op\":\"get\",\"app\":\"tok\"}\n", raw, sizeof(raw));
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == 1, "get: %s", raw);
        CHECK(r && callback(&emu, json_str(r, "token")) == 0, "get's token works");
        cJSON_Delete(r);

        /* A stale generation: answered at once, no upstream call. */
        g = generation_of("tok");
        calls = emu_stat(&emu, "wxT", "token_calls");
        r = refresh(&a, "tok", g - 1, 5000);
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == (int)g, "stale generation answered with the current");
        CHECK(emu_stat(&emu, "wxT", "token_calls") == calls, "no upstream call for a stale generation");
        cJSON_Delete(r);

        /* 1,000 clients report the same generation at once: one upstream call serves them all. */
        calls_seen = coalesce(&a, "tok", g);
        CHECK(calls_seen == CLIENTS, "every client saw the new generation (%d of %d)", calls_seen, CLIENTS);
        CHECK(emu_stat(&emu, "wxT", "token_calls") == calls + 1, "exactly one upstream call for %d clients (%d)",
              CLIENTS, emu_stat(&emu, "wxT", "token_calls") - calls);
        CHECK(generation_of("tok") == g + 1, "one new generation");

        /* Spacing: right after, a forced refresh waits for min_force_interval or is refused. */
        g = generation_of("tok");
        r = refresh(&a, "tok", g, 100);
        CHECK(r && !strcmp(reply_error(r), "rate_limited") && json_int(r, "retry_after_ms", 0) > 0,
              "inside min_force_interval with a short timeout: rate_limited");
        cJSON_Delete(r);
        r = refresh(&a, "tok", g, 10000);
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == (int)g + 1, "with a long enough timeout: waits, then served");
        cJSON_Delete(r);

        /* stable after another host rotated it: the normal-mode call finds the new token, nothing is forced. */
        control(&emu, "/emu/rotate?app=wxS");
        g = generation_of("stb");
        r = refresh(&a, "stb", g, 10000);
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == (int)g + 1, "stable: the outside rotation adopted");
        CHECK(emu_stat(&emu, "wxS", "stable_force") == 0, "stable: no force_refresh call");
        cJSON_Delete(r);

        /* verify_before_force: the token still works, so nothing rotates. */
        calls = emu_stat(&emu, "wxV", "token_calls");
        r = refresh(&a, "ver", generation_of("ver"), 10000);
        CHECK(reply_ok(r) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "verified")), "verified: %s",
              r ? cJSON_PrintUnformatted(r) : "none");
        CHECK(emu_stat(&emu, "wxV", "token_calls") == calls, "verify_before_force: 0 rotations");
        cJSON_Delete(r);

        /* The library call business code makes: the generation it used failed, a newer one comes back. */
        {
                wxshm *h;
                int64_t got;

                /*
                 * Real time must pass between forced calls: if tok's last one is younger than
                 * min_force_interval (2 s), the agent holds this one until it is not, well within
                 * the 10 s timeout. No sleep here: the agent's own wait is the one to test.
                 */
                g = generation_of("tok");
                CHECK(wxshm_open(&h, "tok") == 0, "open tok");
                got = wxshm_refresh(h, g, 10000);
                CHECK(got == (int64_t)g + 1, "wxshm_refresh returns the new generation (%lld)", (long long)got);
                got = wxshm_refresh(h, g, 10000);
                CHECK(got == (int64_t)g + 1, "again with the old one: the same answer, no rotation");
                CHECK(wxshm_refresh(h, g + 1, 1) == -EAGAIN, "inside min_force_interval with 1 ms: -EAGAIN");
                wxshm_close(h);
        }

        /* Errors name what is wrong. */
        r = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"nope\",\"generation\":1}\n", raw, sizeof(raw));
        CHECK(!strcmp(reply_error(r), "unknown_app"), "unknown app: %s", raw);
        cJSON_Delete(r);
        r = agent_request(&a, "{\"op\":\"dance\"}\n", raw, sizeof(raw));
        CHECK(!strcmp(reply_error(r), "unknown_op"), "unknown op: %s", raw);
        cJSON_Delete(r);
        r = agent_request(&a, "not json\n", raw, sizeof(raw));
        CHECK(!strcmp(reply_error(r), "bad_json"), "bad json: %s", raw);
        cJSON_Delete(r);

        /* The status counters tell the story. */
        r = agent_request(&a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        CHECK(strstr(raw, "\"coalesced_waiters\""), "status has counters: %s", raw);
        cJSON_Delete(r);
        CHECK(agent_stop(&a) == 0, "clean stop");
        CHECK(agent_wait_notify(&a, "STOPPING=1", 2000), "STOPPING=1 on SIGTERM");
        return harness_finish(&a);
}
