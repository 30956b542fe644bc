/* file.c: opening the files the agent trusts (secrets, config, state, CAs) without blocking and without belief. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

static const char *file_type_name(mode_t m) {
        return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device" :
               S_ISBLK(m) ? "a block device" : S_ISDIR(m) ? "a directory" : "not a regular file";
}

/* Root's files and the agent's own are trusted; anyone else could rewrite them under us. */
static int owner_check(const struct stat *st, const char *what, const char *kind, char *err, size_t err_size) {
        uid_t me = geteuid();

        if (st->st_uid == 0 || st->st_uid == me)
                return 0;
        snprintf(err, err_size, "%s: owned by uid %u, not by root or the agent's uid %u: another user could rewrite "
                 "it; chown root (or uid %u) the %s", what, (unsigned)st->st_uid, (unsigned)me, (unsigned)me, kind);
        return -EPERM;
}

static int mode_check(const struct stat *st, const char *what, enum file_rule rule, char *err, size_t err_size) {
        unsigned mode = (unsigned)(st->st_mode & 07777);

        if (rule == FILE_PRIVATE && (mode & 077)) {
                snprintf(err, err_size, "%s: accessible by group or others (mode %04o), chmod 600 it", what, mode);
                return -EPERM;
        }
        if (rule == FILE_NOT_SHARED_WRITE && (mode & 022)) {
                snprintf(err, err_size, "%s: writable by group or others (mode %04o), chmod go-w it", what, mode);
                return -EPERM;
        }
        return 0;
}

int file_open_checked(const char *path, const char *what, int flags, enum file_rule rule, char *err, size_t err_size) {
        struct stat st;
        int fd, r;

        /*
         * O_NONBLOCK: a FIFO opened for reading returns at once (for writing, ENXIO while no
         * one reads it) instead of waiting for a peer; fstat then refuses it. O_NOFOLLOW: a
         * symlink could point the agent (often root at start) at any file.
         */
        fd = open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                if (r == -ELOOP) {
                        snprintf(err, err_size, "%s: is a symlink, refused (name the file itself)", what);
                } else if (r == -ENXIO) {
                        snprintf(err, err_size, "%s: not a regular file (a FIFO or socket), refused: remove it",
                                 what);
                        r = -EINVAL;
                } else {
                        snprintf(err, err_size, "%s: cannot open: %s", what, strerror(-r));
                }
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                snprintf(err, err_size, "%s: cannot stat: %s", what, strerror(-r));
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                snprintf(err, err_size, "%s: %s, not a regular file: refused (a read could wait forever); name "
                         "a regular file", what, file_type_name(st.st_mode));
                goto fail;
        }
        r = owner_check(&st, what, "file", err, err_size);
        if (r == 0)
                r = mode_check(&st, what, rule, err, err_size);
        if (r < 0)
                goto fail;
        return fd;
fail:
        close(fd);
        return r;
}

int file_read_checked(const char *path, const char *what, size_t max, enum file_rule rule, char **ret,
                      size_t *ret_len, char *err, size_t err_size) {
        size_t len = 0;
        char *buf;
        int fd, r = 0;

        fd = file_open_checked(path, what, O_RDONLY, rule, err, err_size);
        if (fd < 0)
                return fd;
        buf = malloc(max + 1);
        if (!buf) {
                close(fd);
                snprintf(err, err_size, "%s: out of memory", what);
                return -ENOMEM;
        }
        /* One byte more than max proves the file too long. */
        while (len < max + 1) {
                ssize_t n = read(fd, buf + len, max + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        snprintf(err, err_size, "%s: cannot read: %s", what, strerror(-r));
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (r == 0 && len > max) {
                r = -EFBIG;
                snprintf(err, err_size, "%s: longer than %zu bytes", what, max);
        }
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

int file_check_dir(const char *path, const char *what, char *err, size_t err_size) {
        struct stat st;
        int fd, r;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                snprintf(err, err_size, "%s: cannot open the directory: %s", what, strerror(-r));
                return r;
        }
        r = fstat(fd, &st) < 0 ? -errno : 0;
        close(fd);
        if (r < 0) {
                snprintf(err, err_size, "%s: cannot stat: %s", what, strerror(-r));
                return r;
        }
        r = owner_check(&st, what, "directory", err, err_size);
        if (r == 0 && (st.st_mode & 022)) {
                snprintf(err, err_size, "%s: writable by group or others (mode %04o): another user could plant a "
                         "token the agent adopts; chmod go-w it (0700)", what, (unsigned)(st.st_mode & 07777));
                r = -EPERM;
        }
        return r;
}

int file_set_socket_access(const char *path, mode_t mode, gid_t gid) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
        struct stat st;
        int dfd, r = 0;

        if (!dir)
                return -ENOMEM;
        dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        free(dir);
        if (dfd < 0)
                return -errno;
        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        else if (!S_ISSOCK(st.st_mode))
                r = -ENOTSOCK;
        else if (fchmodat(dfd, base, mode, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        else if (gid != (gid_t)-1 && fchownat(dfd, base, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        close(dfd);
        return r;
}
