/* test-agent-rotation.c: proactive rotations while 4 processes call WeChat with the token they read: 0 errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define WORKERS 4
#define ROTATIONS 3
#define SECRET_R "Rot-Secret-13579bdf"
#define SECRET_S "Stb-Secret-2468ace0"

static const char *const items[] = { "rot", "stb" };

static volatile sig_atomic_t stop;

static void on_stop(int sig) {
        stop = 1;
}

struct worker_result {
        long calls, errors, read_failures;
        int last_errcode;
};

/* Read each item's token from its segment and use it, until the parent says stop (SIGUSR1). */
static void worker(struct emu_proc *emu, int out_fd) {
        struct worker_result res = { 0 };
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm *h[2];

        http_forget();
        for (int i = 0; i < 2; i++)
                if (wxshm_open(&h[i], items[i]) < 0)
                        _exit(EXIT_SETUP);
        while (!stop && getppid() != 1) {
                for (int i = 0; i < 2; i++) {
                        wxshm_info info = { .size = sizeof(info) };
                        int r = wxshm_read(h[i], buf, sizeof(buf), &info), e;

                        if (r <= 0) {
                                res.read_failures++;
                                continue;
                        }
                        e = callback(emu, buf);
                        res.calls++;
                        if (e != 0) {
                                res.errors++;
                                res.last_errcode = e;
                        }
                }
        }
        _exit(write(out_fd, &res, sizeof(res)) == sizeof(res) ? 0 : EXIT_SETUP);
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxR:" SECRET_R, "--app", "wxS:" SECRET_S, "--expires-in", "8", NULL,
        };
        struct worker_result total = { 0 };
        struct emu_proc emu;
        struct agent_proc a;
        pid_t pids[WORKERS];
        int fds[WORKERS];
        char apps[1024];
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        uint64_t gen_rot, gen_stb;
        int token_calls;

        signal(SIGPIPE, SIG_IGN);
        signal(SIGUSR1, on_stop); /* inherited by the workers before they can be told to stop */
        emu_start(&emu, emu_args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app rot]\nkind = token\nappid = wxR\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app stb]\nkind = stable\nappid = wxS\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "rot", SECRET_R), emu.port, agent_secret_file(&a, "stb", SECRET_S), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 4", apps);
        agent_start(&a);

        for (int i = 0; i < WORKERS; i++) {
                int p[2];

                SETUP_OK(pipe(p) == 0, "pipe: %m");
                pids[i] = fork();
                if (pids[i] == 0) {
                        close(p[0]);
                        worker(&emu, p[1]);
                }
                close(p[1]);
                fds[i] = p[0];
        }
        /* Tokens live 8 s and are renewed about 2 s early: 3 rotations take some 20 s. */
        CHECK(agent_wait_generation("rot", 1 + ROTATIONS, 90000), "%d rotations of the token app", ROTATIONS);
        CHECK(agent_wait_generation("stb", 1 + ROTATIONS, 90000), "%d rotations of the stable app", ROTATIONS);

        for (int i = 0; i < WORKERS; i++)
                kill(pids[i], SIGUSR1);
        for (int i = 0; i < WORKERS; i++) {
                struct worker_result last = { 0 };

                if (read(fds[i], &last, sizeof(last)) != sizeof(last))
                        CHECK(false, "worker %d reported nothing", i);
                close(fds[i]);
                waitpid(pids[i], NULL, 0);
                total.calls += last.calls;
                total.errors += last.errors;
                total.read_failures += last.read_failures;
                if (last.errors)
                        total.last_errcode = last.last_errcode;
        }
        gen_rot = agent_read("rot", buf, sizeof(buf), &info) > 0 ? info.generation : 0;
        gen_stb = agent_read("stb", buf, sizeof(buf), &info) > 0 ? info.generation : 0;
        token_calls = emu_stat(&emu, "wxR", "token_calls");
        printf("business calls %ld, errors %ld (last errcode %d), failed reads %ld\n", total.calls, total.errors,
               total.last_errcode, total.read_failures);
        printf("token app: generation %llu after %d upstream calls; stable app: generation %llu after %d normal "
               "and %d force calls\n",
               (unsigned long long)gen_rot, token_calls, (unsigned long long)gen_stb,
               emu_stat(&emu, "wxS", "stable_normal"), emu_stat(&emu, "wxS", "stable_force"));
        CHECK(total.calls > 100, "the workers really called WeChat");
        CHECK(total.errors == 0, "no business call failed");
        CHECK(total.read_failures == 0, "no read failed");
        /* Every token call bought a generation (the last one may still be publishing). */
        CHECK(token_calls >= (int)gen_rot && token_calls <= (int)gen_rot + 1, "no wasted token call");
        CHECK(emu_stat(&emu, "wxS", "stable_force") == 0, "proactive stable refreshes never force");

        return harness_finish(&a);
}
