/* wxconf-dir.c: the kit's segment directory, made as the agent makes its own (0751, ours, written by us alone). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wxconf.h"

int wxconf_open_dir(const char *dir) {
        struct stat st;
        int fd;

        if (mkdir(dir, 0751) == 0) {
                /* mkdir's mode passes through the umask: set it exactly. */
                if (chmod(dir, 0751) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* A reader trusts only such a directory (doc/segment.md): refuse to fill any other. */
        if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                close(fd);
                return -EPERM;
        }
        return fd;
}
