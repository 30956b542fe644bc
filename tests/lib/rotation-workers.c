/* rotation-workers.c: reader processes calling WeChat with the tokens they read while the agent rotates them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "rotation-workers.h"

#define ITEMS_MAX 16

static volatile sig_atomic_t stop;

static void on_stop(int sig) {
        (void)sig;
        stop = 1;
}

/* Read each item's token from its segment and call a business API with it, until told to stop (SIGUSR1). */
static bool refused(int errcode) {
        return errcode == 40001 || errcode == 40014 || errcode == 42001;
}

/*
 * A failed read (r < 0) or call (errcode) mended the way libwxshm's header says a reader
 * must: a refresh naming the generation used, a read, one more call. Whether that worked.
 */
static bool mend(struct emu_proc *emu, wxshm *h, const wxshm_info *used, char *buf, size_t size) {
        wxshm_info info = { .size = sizeof(info) };

        if (wxshm_refresh(h, used->generation, 5000) < 0)
                return false;
        return wxshm_read(h, buf, size, &info) > 0 && callback(emu, buf) == 0;
}

static void worker(const struct rotation_workers *w, struct emu_proc *emu, const char *const *items, int n_items,
                   int out_fd) {
        struct rotation_result res = { 0 };
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm *h[ITEMS_MAX];

        http_forget();
        for (int i = 0; i < n_items; i++)
                if (wxshm_open(&h[i], items[i]) < 0)
                        _exit(EXIT_SETUP);
        while (!stop && getppid() != 1) {
                for (int i = 0; i < n_items; i++) {
                        wxshm_info info = { .size = sizeof(info) };
                        int r = wxshm_read(h[i], buf, sizeof(buf), &info), e;

                        /* -ESTALE leaves info filled in: the generation that expired. */
                        if (r <= 0) {
                                if (w->follow_protocol && r == -ESTALE && mend(emu, h[i], &info, buf, sizeof(buf)))
                                        res.recovered++;
                                else
                                        res.read_failures++;
                                continue;
                        }
                        e = callback(emu, buf);
                        res.calls++;
                        if (e != 0 && w->follow_protocol && refused(e) && mend(emu, h[i], &info, buf, sizeof(buf))) {
                                res.recovered++;
                        } else if (e != 0) {
                                res.errors++;
                                res.last_errcode = e;
                        }
                }
        }
        _exit(write(out_fd, &res, sizeof(res)) == sizeof(res) ? 0 : EXIT_SETUP);
}

void rotation_workers_start(struct rotation_workers *w, int n, struct emu_proc *emu, const char *const *items,
                            int n_items) {
        SETUP_OK(n > 0 && n <= ROTATION_WORKERS_MAX && n_items > 0 && n_items <= ITEMS_MAX, "%d workers, %d items",
                 n, n_items);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGUSR1, on_stop); /* inherited by the workers before they can be told to stop */
        w->n = n;
        for (int i = 0; i < n; i++) {
                int p[2];

                SETUP_OK(pipe(p) == 0, "pipe: %m");
                w->pids[i] = fork();
                SETUP_OK(w->pids[i] >= 0, "fork: %m");
                if (w->pids[i] == 0) {
                        close(p[0]);
                        worker(w, emu, items, n_items, p[1]);
                }
                close(p[1]);
                w->fds[i] = p[0];
        }
}

void rotation_workers_stop(struct rotation_workers *w, struct rotation_result *total) {
        *total = (struct rotation_result){ 0 };
        for (int i = 0; i < w->n; i++)
                kill(w->pids[i], SIGUSR1);
        for (int i = 0; i < w->n; i++) {
                struct rotation_result last = { 0 };

                if (read(w->fds[i], &last, sizeof(last)) != sizeof(last))
                        CHECK(false, "worker %d reported nothing", i);
                close(w->fds[i]);
                waitpid(w->pids[i], NULL, 0);
                total->calls += last.calls;
                total->errors += last.errors;
                total->read_failures += last.read_failures;
                total->recovered += last.recovered;
                if (last.errors)
                        total->last_errcode = last.last_errcode;
        }
        printf("business calls %ld, errors %ld (last errcode %d), failed reads %ld, mended by a refresh %ld\n",
               total->calls, total->errors, total->last_errcode, total->read_failures, total->recovered);
}
