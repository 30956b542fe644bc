/* test-agent-fullshm.c: shm_dir on a full tmpfs: the app that does not fit is refused by name, no one dies of SIGBUS. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define SEC_F "Fullshm-0123456789abc"

/*
 * Three pages: the lock file takes one when the agent writes its pid into it, fa's token
 * segment (4416 bytes) two; fa's ticket and fb find none left.
 */
#define TMPFS_OPTIONS "size=12k,mode=0751"

/* A reader that reads fa until told to stop; its exit status says how it ended. */
static pid_t reader_start(void) {
        pid_t pid = fork();

        if (pid == 0) {
                char buf[WXSHM_TOKEN_MAX + 1];
                wxshm_info info = { .size = sizeof(info) };
                wxshm *h;

                if (wxshm_open(&h, "fa") < 0)
                        _exit(2);
                for (;;) {
                        if (wxshm_read(h, buf, sizeof(buf), &info) <= 0)
                                _exit(3);
                        usleep(1000);
                }
        }
        return pid;
}

/* status names both failed items with why, and wxtokenctl status exits non-zero. */
static void check_status_lists_failures(struct agent_proc *a) {
        const char *ctl = getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl";
        char raw[16384], cmd[512];
        cJSON *o = agent_request(a, "{\"op\":\"status\"}\n", raw, sizeof(raw));
        int failed = 0, rc;
        const cJSON *apps = o ? cJSON_GetObjectItemCaseSensitive(o, "apps") : NULL, *it;

        cJSON_ArrayForEach(it, apps) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "app"));
                const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "state"));
                const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "last_errmsg"));

                if (name && state && msg && !strcmp(state, "failed") && strstr(msg, "No space left on device") &&
                    (!strcmp(name, "fb") || !strcmp(name, "fa.jsapi")))
                        failed++;
        }
        cJSON_Delete(o);
        CHECK(failed == 2, "status lists fb and fa.jsapi as failed, with why: %s", raw);
        snprintf(cmd, sizeof(cmd), "%s --socket %s status >/dev/null 2>&1", ctl, a->socket);
        rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) != 0, "wxtokenctl status exits non-zero");
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "wxtokenctl status exits 2 (CRITICAL)");
        /* fb's row says failed, the line under it why. */
        snprintf(cmd, sizeof(cmd), "%s --socket %s status 2>&1 | grep -A1 '^fb .* failed .*CRITICAL: failed to start' | "
                 "grep -q 'No space left'", ctl, a->socket);
        CHECK(system(cmd) == 0, "wxtokenctl status names fb's cause");
}

int main(void) {
        static const char *const emu_args[] = { "--app", "wxFA:" SEC_F, "--app", "wxFB:" SEC_F, NULL };
        static struct agent_proc a;
        struct emu_proc emu;
        char apps[1024], buf[WXSHM_TOKEN_MAX + 1];
        pid_t reader;
        int status;

        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
                printf("SKIP: needs root and a private mount namespace (unshare -m): %s\n", strerror(errno));
                return EXIT_SKIP;
        }
        /* Our mounts stay ours: the host's /dev/shm never sees the small tmpfs. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("SKIP: cannot make / private: %s\n", strerror(errno));
                return EXIT_SKIP;
        }
        emu_start(&emu, emu_args);
        agent_init(&a);
        SETUP_OK(mkdir(a.shm_dir, 0751) == 0 &&
                         mount("tmpfs", a.shm_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, TMPFS_OPTIONS) == 0,
                 "a small tmpfs at %s: %m", a.shm_dir);
        snprintf(apps, sizeof(apps),
                 "[app fa]\nkind = token\nappid = wxFA\nsecret_file = %s\ntickets = jsapi\napi_base = http://127.0.0.1:%d\n"
                 "[app fb]\nkind = token\nappid = wxFB\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "fa", SEC_F), emu.port, agent_secret_file(&a, "fb", SEC_F), emu.port);
        agent_write_config(&a, NULL, apps);
        agent_start(&a);

        CHECK(agent_wait_generation("fa", 1, 10000), "the token that fits is published, though its ticket does not fit");
        reader = reader_start();
        CHECK(agent_read("fb", buf, sizeof(buf), &(wxshm_info){ 0 }) == -ENOENT, "fb has no segment");
        CHECK(agent_read("fa.jsapi", buf, sizeof(buf), &(wxshm_info){ 0 }) == -ENOENT, "fa.jsapi has no segment");
        CHECK(agent_log_count(&a, "cannot open segment") == 2 && agent_log_count(&a, "No space left on device") == 2 &&
                      agent_log_count(&a, "the tmpfs is full") == 2,
              "the agent names each item, the cause and the fix");
        CHECK(emu_stat(&emu, "wxFB", "token_calls") == 0 && emu_stat(&emu, "wxFA", "ticket_calls") == 0,
              "no upstream call for what it cannot publish");
        CHECK(agent_notified(&a, "2 items could not start"), "STATUS= says so");
        check_status_lists_failures(&a);

        /* A forced refresh of fa rewrites its segment in place: still no fault. */
        {
                cJSON *o = agent_request(&a, "{\"op\":\"refresh\",\"app\":\"fa\"}\n", buf, sizeof(buf));

                CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")), "fa refreshed on the full tmpfs: %s",
                      buf);
                cJSON_Delete(o);
        }
        CHECK(kill(reader, 0) == 0 && waitpid(reader, &status, WNOHANG) == 0, "the reader still reads");
        kill(reader, SIGKILL);
        waitpid(reader, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the reader ended by our kill, not a fault");

        /* Room again, and a reload: what could not start starts now. */
        CHECK(mount(NULL, a.shm_dir, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0751") == 0,
              "the tmpfs grown");
        agent_signal(&a, SIGHUP);
        CHECK(agent_wait_generation("fb", 1, 10000) && agent_wait_generation("fa.jsapi", 1, 10000),
              "after a reload every item is published");
        CHECK(agent_wait_notify(&a, "2 of 2 apps fresh", 10000), "STATUS= counts both apps fresh");

        CHECK(agent_stop(&a) == 0, "clean stop: the agent did not die of SIGBUS");
        umount2(a.shm_dir, MNT_DETACH);
        return harness_finish(NULL);
}
