/* test-nosyscall.c: wxshm_read makes no system call, proven under a seccomp filter. */
#include <errno.h>
#if HAVE_SECCOMP
#include <seccomp.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define READS 1000000

/*
 * After this, any system call but write and exit_group kills the process with SIGSYS.
 * Filter mode, not strict: strict mode also disables rdtsc and so the vDSO clock.
 */
static void confine(void) {
#if HAVE_SECCOMP
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);

        SETUP_OK(ctx != NULL);
        SETUP_OK(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 0) == 0);
        SETUP_OK(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0) == 0);
        SETUP_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        SETUP_OK(seccomp_load(ctx) == 0);
        /* ctx is not released: free() might return memory to the kernel. */
#else
        abort(); /* not reached: main skips first */
#endif
}

static void say(const char *s) {
        ssize_t n = write(STDERR_FILENO, s, strlen(s));
        (void)n;
}

/* The test proper, in a child: confined, 1,000,000 reads, every one complete. */
static void child_reads(wxshm *h, const char *expect) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        unsigned long bad = 0;

        confine();
        for (long i = 0; i < READS; i++) {
                int r = wxshm_read(h, buf, sizeof(buf), &info);

                if (r != (int)strlen(expect) || memcmp(buf, expect, (size_t)r) != 0 || info.generation != 1)
                        bad++;
        }
        say(bad ? "reads returned wrong tokens\n" : "1000000 reads, no system call\n");
        /* exit_group itself: exit() and even ASan's _exit() run handlers that make system calls. */
        syscall(SYS_exit_group, bad ? 1 : 0);
        abort(); /* not reached */
}

/* The control: the same filter does kill a process that makes a system call. */
static void child_syscall(void) {
        confine();
        syscall(SYS_getppid);
        syscall(SYS_exit_group, 0);
        abort(); /* not reached */
}

/* Run the reads (or, for the control, a forbidden system call) in a child; its wait status. */
static int run_child(bool control, wxshm *h, const char *expect) {
        int status;
        pid_t pid = fork();

        SETUP_OK(pid >= 0);
        if (pid == 0) {
                if (control)
                        child_syscall();
                child_reads(h, expect);
        }
        SETUP_OK(waitpid(pid, &status, 0) == pid);
        return status;
}

int main(void) {
        const char *token = "ACCESS_TOKEN_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        int64_t now = test_now_ms();
        wxshm_writer *w;
        wxshm *h;
        int status;

#if !HAVE_SECCOMP
        printf("SKIP: built without libseccomp (apt-get install libseccomp-dev, then configure again)\n");
        return EXIT_SKIP;
#endif
        test_shm_dir();
        test_unlink_at_exit("nosys");
        SETUP_OK(wxshm_writer_open(&w, test_shm_dirfd(), "nosys", NULL) == 0);
        SETUP_OK(wxshm_writer_publish(w, token, strlen(token), now + 3600000, now, NULL) == 0);
        wxshm_writer_heartbeat(w, now);
        REQUIRE(wxshm_open(&h, "nosys") == 0);

        status = run_child(true, h, token);
        SETUP_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
                 "control: a confined getppid() was not killed (status %#x)", status);

        status = run_child(false, h, token);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "status %#x (killed by a signal: wxshm_read made a system call)", status);
        wxshm_close(h);
        wxshm_writer_close(w);
        return 0;
}
