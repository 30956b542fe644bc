/* test-refresh-peer.c: wxshm_refresh asks only a server run by the segment's owner or root, never a stranger's socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define STRANGER_UID 60126
#define HOUR_MS 3600000

static char sock_dir[64];

/*
 * A server that answers every request with generation 7, run as uid (0: stays root).
 * It writes what it received into <sock_dir>/heard, so the test can tell whether a
 * request ever reached it. Returns its pid once it listens.
 */
static pid_t server_start(const char *path, uid_t uid) {
        int ready[2];
        pid_t pid;
        char c;

        SETUP_OK(pipe(ready) == 0);
        pid = fork();
        SETUP_OK(pid >= 0);
        if (pid == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                char heard_path[128], line[512];
                int fd, conn, heard;
                ssize_t n;

                /* Before the socket: SO_PEERCRED reports whoever called listen(). */
                unlink(path);
                if (uid && (setgid(uid) < 0 || setuid(uid) < 0))
                        _exit(EXIT_SETUP);
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
                snprintf(heard_path, sizeof(heard_path), "%s/heard", sock_dir);
                if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
                    listen(fd, 8) < 0)
                        _exit(EXIT_SETUP);
                if (write(ready[1], "x", 1) != 1)
                        _exit(EXIT_SETUP);
                for (;;) {
                        conn = accept(fd, NULL, NULL);
                        if (conn < 0)
                                _exit(EXIT_SETUP);
                        n = read(conn, line, sizeof(line));
                        heard = open(heard_path, O_WRONLY | O_CREAT | O_APPEND, 0666);
                        if (n > 0 && heard >= 0 && write(heard, line, (size_t)n) != n)
                                _exit(EXIT_SETUP);
                        if (heard >= 0)
                                close(heard);
                        if (write(conn, "{\"ok\":true,\"generation\":7}\n", 28) != 28)
                                _exit(EXIT_SETUP);
                        close(conn);
                }
        }
        close(ready[1]);
        SETUP_OK(read(ready[0], &c, 1) == 1);
        close(ready[0]);
        return pid;
}

static void server_stop(pid_t pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

static bool heard_anything(void) {
        char path[128];
        struct stat st;

        snprintf(path, sizeof(path), "%s/heard", sock_dir);
        return stat(path, &st) == 0 && st.st_size > 0;
}

int main(void) {
        int64_t now = test_now_ms();
        char path[128];
        wxshm_writer *w;
        wxshm *h;
        pid_t server;

        if (geteuid() != 0) {
                printf("SKIP: needs root, to run a server as another uid\n");
                return EXIT_SKIP;
        }
        test_shm_dir();
        SETUP_OK(wxshm_writer_open(&w, test_shm_dirfd(), "peer", NULL) == 0);
        SETUP_OK(wxshm_writer_publish(w, "tok", 3, now + HOUR_MS, now, NULL) == 0);
        SETUP_OK(wxshm_open(&h, "peer") == 0);

        /* Readers are root here, and the segment is root's: its owner's server is answered. */
        strcpy(sock_dir, "/tmp/test-refresh-peer.XXXXXX");
        SETUP_OK(mkdtemp(sock_dir) && chmod(sock_dir, 0777) == 0);
        snprintf(path, sizeof(path), "%s/sock", sock_dir);
        SETUP_OK(setenv("WXTOKEND_SOCKET", path, 1) == 0);
        server = server_start(path, 0);
        CHECK_EQ(wxshm_refresh(h, 1, 1000), 7);
        CHECK(heard_anything());
        server_stop(server);

        /* A stranger's server on the same path: refused before a byte is sent to it. */
        snprintf(path, sizeof(path), "%s/heard", sock_dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/sock", sock_dir);
        server = server_start(path, STRANGER_UID);
        CHECK_EQ(wxshm_refresh(h, 1, 1000), -EPERM);
        CHECK(!heard_anything());
        server_stop(server);

        wxshm_close(h);
        wxshm_writer_close(w);
        snprintf(path, sizeof(path), "rm -rf %s", sock_dir);
        SETUP_OK(system(path) == 0);
        return 0;
}
