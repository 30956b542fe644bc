/* test-agent-reload.c: SIGHUP adds, removes and changes apps, and a bad config changes nothing. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_A "Reload-A-0123456789"
#define SEC_B "Reload-B-0123456789"
#define SEC_C "Reload-C-0123456789"

static char section_a[512], section_b[512], section_c[512];

static void reload(struct agent_proc *a, const char *s1, const char *s2) {
        char apps[2048];

        snprintf(apps, sizeof(apps), "%s\n%s\n", s1, s2);
        agent_write_config(a, NULL, apps);
        agent_signal(a, SIGHUP);
        CHECK(agent_wait_notify(a, "RELOADING=1", 10000), "RELOADING=1 on SIGHUP");
        CHECK(agent_wait_notify(a, "READY=1", 10000), "READY=1 after the reload");
}

/* Connect, send lines, shut the sending side: the agent answers them all, then closes. */
static int dial_send(struct agent_proc *a, const char *lines) {
        int fd = socket_dial(a->socket);
        struct timeval tv = { 30, 0 };

        SETUP_OK(fd >= 0 && write(fd, lines, strlen(lines)) == (ssize_t)strlen(lines), "cannot reach the agent: %m");
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        shutdown(fd, SHUT_WR); /* as `echo ... | socat` does: replies still come */
        return fd;
}

static uint64_t generation_of(const char *item) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;

        return agent_read(item, buf, sizeof(buf), &info) > 0 ? info.generation : 0;
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxA:" SEC_A, "--app", "wxB:" SEC_B, "--app", "wxC:" SEC_C, NULL,
        };
        struct emu_proc emu;
        struct agent_proc a;
        char buf[WXSHM_TOKEN_MAX + 1], apps[2048];
        wxshm_info info = { .size = sizeof(info) };
        int pipelined;
        wxshm *b;

        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(section_a, sizeof(section_a), "[app a]\nkind = token\nappid = wxA\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "a", SEC_A), emu.port);
        snprintf(section_b, sizeof(section_b), "[app b]\nkind = token\nappid = wxB\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "b", SEC_B), emu.port);
        snprintf(section_c, sizeof(section_c), "[app c]\nkind = stable\nappid = wxC\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "c", SEC_C), emu.port);
        snprintf(apps, sizeof(apps), "%s\n%s", section_a, section_b);
        agent_write_config(&a, NULL, apps);
        agent_start(&a);
        CHECK(generation_of("a") == 1 && generation_of("b") == 1, "a and b served");
        CHECK(wxshm_open(&b, "b") == 0, "a reader holds b");

        /*
         * A client waits on b (inside min_force_interval) with a second request queued behind
         * it on the same connection; then b is removed. The waiter hears unknown_app, and the
         * queued request is answered after it, in order.
         */
        {
                char raw[512];
                cJSON *r = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"b\",\"generation\":1}\n", raw, sizeof(raw));

                CHECK(r && json_int(r, "generation", 0) == 2, "a first forced refresh of b: %s", raw);
                cJSON_Delete(r);
                pipelined = dial_send(&a, "{\"op\":\"refresh\",\"app\":\"b\",\"generation\":2,\"timeout_ms\":50000}\n"
                                          "{\"op\":\"get\",\"app\":\"a\"}\n");
                /* The first line waits once the agent has planned b's second forced call; the get is held behind it. */
                CHECK(agent_wait_app_number(&a, "b", "forced_refreshes", 2, 10000), "the pipelined refresh of b waits");
        }

        /* b removed, c added, a untouched. */
        reload(&a, section_a, section_c);
        {
                char replies[2048] = "";
                size_t len = 0;
                ssize_t n;

                while (len < sizeof(replies) - 1 && (n = read(pipelined, replies + len, sizeof(replies) - 1 - len)) > 0)
                        len += (size_t)n;
                replies[len] = '\0';
                CHECK(strstr(replies, "unknown_app") && strstr(replies, "\"app\":\"a\"") &&
                      strstr(replies, "unknown_app") < strstr(replies, "\"app\":\"a\""),
                      "the waiter is told b is gone, then the queued request is answered: %s", replies);
                close(pipelined);
        }
        CHECK(agent_wait_generation("c", 1, 10000), "c added and served");
        CHECK(wxshm_read(b, buf, sizeof(buf), &info) == -ENXIO, "b's segment removed: its reader is told");
        wxshm_close(b);
        CHECK(wxshm_open(&b, "b") == -ENOENT, "and b's file is gone");
        CHECK(generation_of("a") == 1 && emu_stat(&emu, "wxA", "token_calls") == 1, "a untouched");
        CHECK(agent_log_count(&a, "app c: added") == 1, "addition logged");
        CHECK(agent_log_count(&a, "app b: removed") == 1, "removal logged");

        /* A bad config is refused and the running one stays. */
        agent_write_config(&a, NULL, "[app x]\nkind = tokn\n");
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_notify(&a, "READY=1", 10000), "READY=1 after a refused reload");
        CHECK(agent_log_count(&a, "reload refused") == 1, "refusal logged");
        CHECK(agent_log_count(&a, "wxtokend.conf:9: [app x] kind") == 1, "the refusal names the file, line and key");
        CHECK(generation_of("a") == 1 && generation_of("c") == 1, "a and c still served");
        CHECK(agent_read("a", buf, sizeof(buf), &info) > 0 && info.agent_alive, "the agent is alive");

        /* a changed (a second api_base): restarted, adopting its own token, no upstream call. */
        {
                char changed[600];

                snprintf(changed, sizeof(changed), "[app a]\nkind = token\nappid = wxA\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d http://127.0.0.1:%d\n", agent_secret_file(&a, "a", SEC_A),
                         emu.port, emu.port);
                reload(&a, changed, section_c);
        }
        CHECK(agent_log_count(&a, "app a: configuration changed") == 1, "change logged");
        CHECK(generation_of("a") == 1 && emu_stat(&emu, "wxA", "token_calls") == 1, "a adopted its own token");
        CHECK(callback(&emu, (agent_read("a", buf, sizeof(buf), &info), buf)) == 0, "a's token works");

        /* a now names another appid: wxA's token must vanish from "a" at once, wxB's comes. */
        {
                char other[600];
                wxshm *h;

                CHECK(wxshm_open(&h, "a") == 0, "a reader holds a");
                snprintf(other, sizeof(other), "[app a]\nkind = token\nappid = wxB\nsecret_file = %s\n"
                         "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "b", SEC_B), emu.port);
                reload(&a, other, section_c);
                CHECK(wxshm_read(h, buf, sizeof(buf), &info) == -EIDRM, "the old appid's segment is retired");
                wxshm_close(h);
                CHECK(agent_wait_generation("a", 1, 10000), "a serves wxB's token");
                CHECK(callback(&emu, (agent_read("a", buf, sizeof(buf), &info), buf)) == 0, "and it works");
                CHECK(emu_stat(&emu, "wxB", "token_calls") == 3, "one new call for wxB (after b's two)");
                CHECK(agent_log_count(&a, "fetching anew") == 1, "logged");
        }

        return harness_finish(&a);
}
