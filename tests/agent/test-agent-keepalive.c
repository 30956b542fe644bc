/* test-agent-keepalive.c: kept-alive socket clients outlive idle_timeout, the idle longest makes room when full, refresh returns its token. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_K "Keep-K-0123456789"
#define SEC_V "Keep-V-0123456789"
#define SEC_G "Keep-G-0123456789"
/* Another user's connections, made with seteuid: SO_PEERCRED takes the effective uid at connect. */
#define OTHER_UID 60125
#define REFRESH_OK_PREFIX "{\"ok\":true,\"generation\":"

static const char get_kpt[] = "{\"op\":\"get\",\"app\":\"kpt\"}\n";

static int dial(struct agent_proc *a) {
        int fd = socket_dial(a->socket);

        SETUP_OK(fd >= 0, "connect to %s: %m", a->socket);
        return fd;
}

/* A connection as OTHER_UID (group still root's, so the socket and the apps stay open to it). */
static int dial_other(struct agent_proc *a) {
        int fd;

        SETUP_OK(seteuid(OTHER_UID) == 0, "seteuid: %m");
        fd = socket_dial(a->socket);
        SETUP_OK(seteuid(0) == 0, "seteuid back: %m");
        SETUP_OK(fd >= 0, "connect as uid %d: %m", OTHER_UID);
        return fd;
}

/* Read until a newline, EOF (or a reset) or max_ms: the bytes read (NUL-terminated), 0 at EOF, -1 on timeout. */
static ssize_t read_line(int fd, char *buf, size_t size, int max_ms) {
        size_t len = 0;

        while (len + 1 < size) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, max_ms) <= 0)
                        return -1;
                n = read(fd, buf + len, size - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (memchr(buf, '\n', len))
                        break;
        }
        buf[len] = '\0';
        return (ssize_t)len;
}

static bool send_line(int fd, const char *line) {
        return send(fd, line, strlen(line), MSG_NOSIGNAL) == (ssize_t)strlen(line);
}

/* One request on an open connection, its reply parsed; NULL if the connection ended or nothing came in 10 s. */
static cJSON *ask(int fd, const char *line, char *raw, size_t size) {
        raw[0] = '\0';
        if (!send_line(fd, line) || read_line(fd, raw, size, 10000) <= 0)
                return NULL;
        return cJSON_Parse(raw);
}

static bool reply_ok(const cJSON *r) {
        return r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
}

/* A get on the connection answered with the token. */
static bool answered(int fd) {
        char raw[4096];
        cJSON *r = ask(fd, get_kpt, raw, sizeof(raw));
        bool ok = reply_ok(r);

        cJSON_Delete(r);
        return ok;
}

/* The agent closed fd: EOF within max_ms, with no reply before it. */
static bool closed_by_agent(int fd, int max_ms) {
        char buf[512];

        return read_line(fd, buf, sizeof(buf), max_ms) == 0;
}

/* A number of status's "server" object asked on fd (an open connection), -1 if absent. */
static double server_number_on(int fd, const char *field) {
        static char raw[65536];
        cJSON *r = ask(fd, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "server"), field);
        double d = cJSON_IsNumber(v) ? v->valuedouble : -1;

        cJSON_Delete(r);
        return d;
}

/* Poll (bounded) until the agent holds n connections besides the one asking: closes it has seen. */
static bool wait_connections(struct agent_proc *a, double n) {
        for (int i = 0; i < 500; i++) {
                int fd = dial(a);
                double have = server_number_on(fd, "connections");

                close(fd);
                if (have == n + 1)
                        return true;
                harness_sleep_ms(10);
        }
        return false;
}

/* Poll (bounded) until n clients wait for item's forced refresh (wxtokend_waiters). */
static bool wait_waiters(struct agent_proc *a, const char *item, int n) {
        char want[128];

        snprintf(want, sizeof(want), "wxtokend_waiters{app=\"%s\",item=\"%s\"} %d\n", item, item, n);
        for (int i = 0; i < 500; i++) {
                static char text[65536];
                int fd = dial(a);
                ssize_t len = 0, k;

                if (send_line(fd, "{\"op\":\"metrics\"}\n"))
                        while (len + 1 < (ssize_t)sizeof(text) && (k = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
                                len += k;
                text[len] = '\0';
                close(fd);
                if (strstr(text, want))
                        return true;
                harness_sleep_ms(10);
        }
        return false;
}

/* refresh with "token":true and what the segment holds afterwards: the same generation and token. */
static void check_token_refreshes(struct agent_proc *a, int fd) {
        char raw[8192], line[256], seg[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        uint64_t g;
        cJSON *r;

        REQUIRE(agent_read("kpt", seg, sizeof(seg), &info) > 0, "read kpt");
        g = info.generation;

        /* Answered by the compare (a newer generation is there): that generation, and its token. */
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"kpt\",\"generation\":%llu,\"token\":true}\n",
                 (unsigned long long)g - 1);
        r = ask(fd, line, raw, sizeof(raw));
        CHECK(!strncmp(raw, REFRESH_OK_PREFIX, strlen(REFRESH_OK_PREFIX)), "the reply starts as libwxshm reads it: %s",
              raw);
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == (int)g, "compare-answered: generation %llu: %s",
              (unsigned long long)g, raw);
        CHECK(r && json_str(r, "token") && !strcmp(json_str(r, "token"), seg), "compare-answered: the segment's token");
        CHECK(r && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "upstream_call")), "no upstream call for it");
        cJSON_Delete(r);

        /* An upstream call: the new generation's token, as the segment now holds it. */
        snprintf(line, sizeof(line),
                 "{\"op\":\"refresh\",\"app\":\"kpt\",\"generation\":%llu,\"timeout_ms\":10000,\"token\":true}\n",
                 (unsigned long long)g);
        r = ask(fd, line, raw, sizeof(raw));
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == (int)g + 1 &&
                      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "upstream_call")),
              "refreshed upstream: %s", raw);
        REQUIRE(agent_read("kpt", seg, sizeof(seg), &info) > 0, "read kpt again");
        CHECK(info.generation == g + 1 && r && json_str(r, "token") && !strcmp(json_str(r, "token"), seg),
              "upstream-answered: the token of generation %llu, as in the segment", (unsigned long long)g + 1);
        /* Last, after every field an older client reads. */
        CHECK(strstr(raw, ",\"token\":\"") && strstr(raw, "\"}\n") && strstr(raw, "\"upstream_call\":true,\"token\""),
              "token is the last field: %s", raw);
        cJSON_Delete(r);

        /* The same request again: the compare answers with the newer generation and its token. */
        r = ask(fd, line, raw, sizeof(raw));
        CHECK(reply_ok(r) && json_int(r, "generation", 0) == (int)g + 1 && json_str(r, "token") &&
                      !strcmp(json_str(r, "token"), seg) &&
                      cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "upstream_call")),
              "the same request again: compare-answered with the token: %s", raw);
        cJSON_Delete(r);
        /* Without "token":true, as before: no token in the reply. */
        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"kpt\",\"generation\":%llu}\n", (unsigned long long)g);
        r = ask(fd, line, raw, sizeof(raw));
        CHECK(reply_ok(r) && !cJSON_GetObjectItemCaseSensitive(r, "token") && !strstr(raw, seg),
              "not asked for: no token: %s", raw);
        cJSON_Delete(r);

        /* verify_before_force kept the token: "verified", and the token kept. */
        REQUIRE(agent_read("ver", seg, sizeof(seg), &info) > 0, "read ver");
        snprintf(line, sizeof(line),
                 "{\"op\":\"refresh\",\"app\":\"ver\",\"generation\":%llu,\"timeout_ms\":10000,\"token\":true}\n",
                 (unsigned long long)info.generation);
        r = ask(fd, line, raw, sizeof(raw));
        CHECK(reply_ok(r) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "verified")) &&
                      json_int(r, "generation", 0) == (int)info.generation && json_str(r, "token") &&
                      !strcmp(json_str(r, "token"), seg),
              "verified: the kept token: %s", raw);
        cJSON_Delete(r);

        r = ask(fd, "{\"op\":\"refresh\",\"app\":\"kpt\",\"token\":\"yes\"}\n", raw, sizeof(raw));
        CHECK(r && json_str(r, "error") && !strcmp(json_str(r, "error"), "bad_request"), "\"token\":\"yes\": %s", raw);
        cJSON_Delete(r);
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxK:" SEC_K, "--app", "wxV:" SEC_V, "--app", "wxG:" SEC_G, NULL,
        };
        struct emu_proc emu;
        struct agent_proc a;
        char apps[2048], raw[4096];
        int fa, fb, fc, k[6], b[5], u[4], r1, fd;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app kpt]\nkind = token\nappid = wxK\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app ver]\nkind = token\nappid = wxV\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n"
                 "verify_before_force = yes\n\n"
                 "[app hng]\nkind = token\nappid = wxG\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "kpt", SEC_K), emu.port, agent_secret_file(&a, "ver", SEC_V), emu.port,
                 agent_secret_file(&a, "hng", SEC_G), emu.port);
        /* A short idle_timeout, and room for 4 connections, 2 per user (root is exempt from that). */
        agent_write_config(&a, "idle_timeout = 2\nmax_connections = 4\nmax_connections_per_uid = 2", apps);
        /* OTHER_UID must reach the socket in the harness's private directory. */
        SETUP_OK(chmod(a.dir, 0711) == 0, "chmod %s: %m", a.dir);
        agent_start(&a);

        /* refresh with "token":true, several requests on one kept connection. */
        fd = dial(&a);
        check_token_refreshes(&a, fd);
        close(fd);

        /*
         * Kept alive: fa answers a request, fc too and then sends half a line, fb sends nothing.
         * fb is closed at idle_timeout, and fa's last request came before fb even connected:
         * had fa's clock still run, it would have been closed first.
         */
        fa = dial(&a);
        CHECK(answered(fa), "a pooled connection's first request");
        fc = dial(&a);
        CHECK(answered(fc), "another's first request");
        CHECK(send_line(fc, "{\"op\":"), "then half a line");
        fb = dial(&a);
        CHECK(closed_by_agent(fb, 15000), "a connection that never sent a request is closed at idle_timeout");
        CHECK(closed_by_agent(fc, 15000), "one that stopped halfway through a line is closed at idle_timeout");
        CHECK(answered(fa), "the kept-alive one, idle past idle_timeout, answers its next request");
        CHECK(answered(fa), "and the one after");
        close(fa);
        close(fb);
        close(fc);

        /* Full of idle kept-alive connections: a new one closes the one idle longest. */
        REQUIRE(wait_connections(&a, 0), "the agent saw the closes");
        for (int i = 0; i < 4; i++) {
                k[i] = dial(&a);
                CHECK(answered(k[i]), "kept-alive connection %d", i);
        }
        k[4] = dial(&a);
        CHECK(answered(k[4]), "with 4 of 4 connections idle, a new one is taken and served");
        CHECK(closed_by_agent(k[0], 5000), "the connection idle longest was closed for it: its client sees EOF");
        CHECK(answered(k[1]), "the others still answer");
        k[5] = dial(&a);
        CHECK(answered(k[5]), "another new one is served");
        CHECK(closed_by_agent(k[2], 5000), "it closed the idle longest now (k2: k1 was used since)");
        CHECK(server_number_on(k[1], "evicted_idle") == 2, "status counts the 2 evictions");
        CHECK(agent_log_count(&a, "closed the connection idle longest") == 1, "logged once at info");
        for (int i = 0; i < 6; i++)
                close(k[i]);

        /*
         * A request already in the socket of the connection idle longest, not yet read: that
         * one is busy. The agent is stopped so the newcomer and then the request wait
         * together: it takes the newcomer first, and must not cut the request for it.
         */
        REQUIRE(wait_connections(&a, 0), "the agent saw the closes");
        for (int i = 0; i < 4; i++) {
                k[i] = dial(&a);
                CHECK(answered(k[i]), "kept-alive connection %d", i);
        }
        agent_signal(&a, SIGSTOP);
        k[4] = dial(&a);
        CHECK(send_line(k[0], get_kpt), "a request on the idle longest");
        agent_signal(&a, SIGCONT);
        CHECK(read_line(k[0], raw, sizeof(raw), 10000) > 0 && strstr(raw, "\"ok\":true"),
              "the request on the idle longest is answered, not cut: %s", raw);
        CHECK(answered(k[4]), "the newcomer is served");
        CHECK(closed_by_agent(k[1], 5000), "in place of the next idle longest");
        for (int i = 0; i < 5; i++)
                close(k[i]);

        /*
         * All busy: two wait for a refresh (the upstream hangs), one sent half a line after a
         * request, one sent nothing. Nothing to close: a new connection is refused as before.
         */
        REQUIRE(wait_connections(&a, 0), "the agent saw the closes");
        control(&emu, "/emu/fault?app=wxG&kind=hang");
        for (int i = 0; i < 2; i++) {
                char line[160], seg[WXSHM_TOKEN_MAX + 1];
                wxshm_info info;

                REQUIRE(agent_read("hng", seg, sizeof(seg), &info) > 0, "read hng");
                snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"hng\",\"generation\":%llu,"
                         "\"timeout_ms\":60000}\n", (unsigned long long)info.generation);
                b[i] = dial(&a);
                CHECK(answered(b[i]), "busy connection %d: a request first", i);
                CHECK(send_line(b[i], line), "then a refresh that waits");
        }
        CHECK(wait_waiters(&a, "hng", 2), "both refreshes wait");
        b[2] = dial(&a);
        CHECK(answered(b[2]) && send_line(b[2], "{\"op\":\"get\","), "busy connection 2: half a line after a request");
        b[3] = dial(&a);
        b[4] = dial(&a);
        CHECK(read_line(b[4], raw, sizeof(raw), 5000) > 0 && strstr(raw, "\"too_many_connections\"") &&
                      strstr(raw, "max_connections reached"),
              "none idle: refused as before: %s", raw);
        CHECK(closed_by_agent(b[4], 5000), "and closed");
        control(&emu, "/emu/fault?app=wxG&kind=none");
        CHECK(read_line(b[0], raw, sizeof(raw), 20000) > 0 && read_line(b[1], raw, sizeof(raw), 20000) > 0,
              "the waiting clients kept their connections and got their answers");
        for (int i = 0; i < 5; i++)
                close(b[i]);

        /* Over its share, a user makes room among its own idle connections, never another user's. */
        REQUIRE(wait_connections(&a, 0), "the agent saw the closes");
        r1 = dial(&a);
        CHECK(answered(r1), "root's kept-alive connection, idle longest of all");
        u[0] = dial_other(&a);
        u[1] = dial_other(&a);
        CHECK(answered(u[0]) && answered(u[1]), "uid %d's two connections (its share)", OTHER_UID);
        u[2] = dial_other(&a);
        CHECK(answered(u[2]), "a third of that user is taken");
        CHECK(closed_by_agent(u[0], 5000), "in place of that user's idle longest");
        CHECK(answered(r1), "root's older idle connection stays");
        CHECK(send_line(u[1], "{\"op\":") && send_line(u[2], "{\"op\":"), "the user's two busy (half lines)");
        u[3] = dial_other(&a);
        CHECK(read_line(u[3], raw, sizeof(raw), 5000) > 0 && strstr(raw, "max_connections_per_uid reached"),
              "nothing of its own idle: refused: %s", raw);
        CHECK(answered(r1), "root's idle connection was not taken for it");
        for (int i = 0; i < 4; i++)
                close(u[i]);
        close(r1);
        return harness_finish(&a);
}
