/* hold-lock.c: holds a file's lock as apt and dpkg take theirs (fcntl F_SETLK, write, whole file) until killed, for test-apt-lock.sh. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
        FILE *ready;
        int fd;

        if (argc != 3) {
                fprintf(stderr, "usage: hold-lock LOCK_FILE READY_FILE\n");
                return 2;
        }
        fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0) {
                perror(argv[1]);
                return 1;
        }
        /* Held: say so (our PID) only now, so the test never races the lock. */
        ready = fopen(argv[2], "we");
        if (!ready || fprintf(ready, "%ld\n", (long)getpid()) < 0 || fclose(ready) != 0) {
                perror(argv[2]);
                return 1;
        }
        for (;;)
                pause();
}
