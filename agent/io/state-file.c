/* state-file.c: each item's state file in state_dir: written whole or not at all, read back only if the agent's own. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "state-file.h"

static int write_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* How much of a write waits for the disk. */
enum sync_mode {
        SYNC_NONE,              /* neither the file nor its rename (counts) */
        SYNC_FILE,              /* the file's contents before its rename; the rename with state_sync_dir */
        SYNC_ALL,               /* the contents, then the rename (an fsync of dir) */
};

static int write_file(const char *dir, const char *name, const char *buf, size_t len, enum sync_mode sync) {
        char path[PATH_MAX], tmp[PATH_MAX], err[PATH_MAX + 256];
        int fd, dfd, r;

        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
            snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        /* A FIFO planted as the .tmp must not block the loop: refused (and removed below). */
        fd = file_open_checked(tmp, tmp, O_WRONLY | O_CREAT | O_TRUNC, FILE_NOT_SHARED_WRITE, err, sizeof(err));
        if (fd < 0) {
                r = fd;
                if (r != -ENOENT && r != -EACCES && r != -ENOSPC && r != -EROFS)
                        unlink(tmp);
                return r;
        }
        /* The mode is set explicitly: a permissive umask must not expose the token. */
        r = fchmod(fd, 0600) < 0 ? -errno : 0;
        if (r == 0)
                r = write_all(fd, buf, len);
        if (r == 0 && sync != SYNC_NONE && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        if (sync != SYNC_ALL)
                return 0;
        /* The rename itself must survive a power cut. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
        }
        return 0;
}

int state_write_file(const char *dir, const char *name, const char *buf, size_t len) {
        return write_file(dir, name, buf, len, SYNC_ALL);
}

int state_write_file_unsynced(const char *dir, const char *name, const char *buf, size_t len) {
        return write_file(dir, name, buf, len, SYNC_NONE);
}

int state_sync_dir(const char *dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        if (dfd < 0)
                return -errno;
        r = fsync(dfd) < 0 ? -errno : 0;
        close(dfd);
        return r;
}

int state_read_file(const char *dir, const char *name, char *buf, size_t size) {
        char path[PATH_MAX], err[PATH_MAX + 256];
        struct stat st;
        ssize_t n;
        int fd;

        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        /* Non-blocking, regular, the agent's or root's, not writable by others: else it is not believed. */
        fd = file_open_checked(path, path, O_RDONLY, FILE_NOT_SHARED_WRITE, err, sizeof(err));
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0 || st.st_size < 0 || (size_t)st.st_size >= size) {
                close(fd);
                return -EBADMSG;
        }
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return -EBADMSG;
        buf[n] = '\0';
        return (int)n;
}

static int save(const char *dir, const char *item, const char *appid, const struct state_record *rec,
                enum sync_mode sync) {
        char *json = state_encode(item, appid, rec);
        int r;

        if (!json)
                return -ENOMEM;
        r = write_file(dir, item, json, strlen(json), sync);
        free(json);
        return r;
}

int state_save(const char *dir, const char *item, const char *appid, const struct state_record *rec) {
        return save(dir, item, appid, rec, SYNC_ALL);
}

int state_save_rename_later(const char *dir, const char *item, const char *appid, const struct state_record *rec) {
        return save(dir, item, appid, rec, SYNC_FILE);
}

int state_load(const char *dir, const char *item, const char *appid, struct state_record *rec) {
        char buf[STATE_RECORD_MAX + 1];
        struct state_record tmp;
        int r = state_read_file(dir, item, buf, sizeof(buf));

        if (r < 0)
                return r;
        r = state_decode(buf, item, appid, &tmp);
        explicit_bzero(buf, sizeof(buf));
        if (r == 0)
                *rec = tmp;
        return r;
}

int state_remove(const char *dir, const char *item) {
        char path[PATH_MAX];

        if (snprintf(path, sizeof(path), "%s/%s", dir, item) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

const char *state_strerror(int r) {
        switch (r) {
        case -EINVAL:
                return "is not a regular file (a FIFO, socket or device): refused, remove it";
        case -EPERM:
                return "is owned by another user or writable by group or others: refused, remove it "
                       "(the agent writes its own, mode 0600)";
        case -ELOOP:
                return "is a symlink: refused, remove it";
        case -EBADMSG:
                return "is not a complete record (truncated, corrupt or foreign)";
        case -EXDEV:
                return "holds a token of another appid, and so may the segment";
        default:
                return strerror(-r);
        }
}
