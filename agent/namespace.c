/* namespace.c: the agent's segment directory (shm_dir): made or checked, locked, the old names retired. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "namespace.h"
#include "segment.h"

/* Group and others may traverse to the files (whose own mode and group decide who reads), not list them. */
#define NAMESPACE_MODE 0751

/* The directory at fd is the agent's alone: 0, or -errno with the reason in err. */
static int check_dir_owner(const char *dir, int fd, char *err, size_t err_size) {
        struct stat st;

        if (fstat(fd, &st) < 0) {
                int r = -errno;

                snprintf(err, err_size, "cannot stat shm_dir %s: %s", dir, strerror(-r));
                return r;
        }
        if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                snprintf(err, err_size, "shm_dir %s is owned by uid %u with mode %04o, so anyone could have put "
                         "segments in it: it must belong to the agent's user (uid %u) and be writable by it alone; "
                         "remove it (rm -r %s) and start again, the agent makes it",
                         dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid(), dir);
                return -EPERM;
        }
        return 0;
}

static int check_dir(const char *dir, int fd) {
        char err[1024];
        int r = check_dir_owner(dir, fd, err, sizeof(err));

        if (r < 0)
                log_error("%s", err);
        return r;
}

int namespace_check(const char *dir, char *err, size_t err_size) {
        char parent[SEGMENT_DIR_MAX + 1];
        const char *slash;
        int fd, r;

        if (!segment_dir_valid(dir)) {
                snprintf(err, err_size, "shm_dir %s: expected an absolute path shorter than %d bytes", dir, SEGMENT_DIR_MAX);
                return -EINVAL;
        }
        fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
                r = check_dir_owner(dir, fd, err, err_size);
                close(fd);
                return r;
        }
        r = -errno;
        if (r != -ENOENT) {
                snprintf(err, err_size, "cannot open shm_dir %s: %s%s", dir, strerror(-r),
                         r == -ENOTDIR || r == -ELOOP ? " (it must be a directory, not a link or a file: remove it)" : "");
                return r;
        }
        /* Missing: the start makes it, if its parent lets this user. */
        slash = strrchr(dir, '/');
        snprintf(parent, sizeof(parent), "%.*s", slash == dir ? 1 : (int)(slash - dir), dir);
        if (faccessat(AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS) < 0) {
                r = -errno;
                snprintf(err, err_size, "shm_dir %s is missing and cannot be made in %s: %s (make it with the "
                         "tmpfiles.d entry, owned by the agent's user, mode 0751)", dir, parent, strerror(-r));
                return r;
        }
        return 0;
}

static int open_dir(const char *dir) {
        int fd;

        if (!segment_dir_valid(dir)) {
                log_error("shm_dir %s: expected an absolute path shorter than %d bytes", dir, SEGMENT_DIR_MAX);
                return -EINVAL;
        }
        /* Made with the mode wanted whatever the umask: a tmpfiles.d entry makes it at boot otherwise. */
        if (mkdir(dir, NAMESPACE_MODE) == 0 && chmod(dir, NAMESPACE_MODE) < 0)
                log_warning("cannot set mode %04o on %s: %s", NAMESPACE_MODE, dir, strerror(errno));
        fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;

                log_error("cannot open shm_dir %s: %s%s", dir, strerror(-r),
                          r == -ENOTDIR || r == -ELOOP ? " (it must be a directory, not a link or a file: remove it)"
                                                       : "");
                return r;
        }
        return fd;
}

/* The holder's pid as it wrote it, or 0 if it could not be read. */
static long lock_holder(int fd) {
        char buf[24] = { 0 };
        long pid = 0;

        if (pread(fd, buf, sizeof(buf) - 1, 0) > 0)
                sscanf(buf, "%ld", &pid);
        return pid;
}

static int take_lock(struct namespace *ns, const char *dir) {
        char pid[24];
        int fd, n;

        fd = openat(ns->dir_fd, NAMESPACE_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
        if (fd < 0) {
                log_error("cannot open %s/%s: %s", dir, NAMESPACE_LOCK_NAME, strerror(errno));
                return -errno;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = -errno;

                if (r == -EWOULDBLOCK)
                        log_error("another wxtokend (pid %ld) owns shm_dir %s: only one agent may publish a "
                                  "namespace; stop it, or give this one another shm_dir",
                                  lock_holder(fd), dir);
                else
                        log_error("cannot lock %s/%s: %s", dir, NAMESPACE_LOCK_NAME, strerror(-r));
                close(fd);
                return r;
        }
        /* Only for the message above; a full tmpfs loses the pid, never the lock. */
        n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
                log_warning("cannot write the pid into %s/%s: %s", dir, NAMESPACE_LOCK_NAME, strerror(errno));
        ns->lock_fd = fd;
        return 0;
}

int namespace_open(struct namespace *ns, const char *dir) {
        int r;

        ns->dir_fd = ns->lock_fd = -1;
        r = open_dir(dir);
        if (r < 0)
                return r;
        ns->dir_fd = r;
        r = check_dir(dir, ns->dir_fd);
        if (r == 0)
                r = take_lock(ns, dir);
        if (r < 0)
                namespace_close(ns);
        return r;
}

void namespace_close(struct namespace *ns) {
        if (ns->lock_fd >= 0)
                close(ns->lock_fd);
        if (ns->dir_fd >= 0)
                close(ns->dir_fd);
        ns->dir_fd = ns->lock_fd = -1;
}

/* Retire and unlink one old object if it is ours and a segment; say why not otherwise. */
static void retire_one(int root_fd, const char *root, const char *name) {
        struct wxshm_layout *seg;
        struct stat st;
        void *map;
        int fd;

        fd = openat(root_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
                log_warning("%s/%s is not this agent's (uid %u): it is never read; remove it (rm %s/%s)", root, name,
                            (unsigned)st.st_uid, root, name);
                close(fd);
                return;
        }
        close(fd);
        /* Ours, so no one else can truncate it; mapped only at the exact size, so no fault. */
        fd = openat(root_fd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 && st.st_size == (off_t)sizeof(struct wxshm_layout)) {
                map = mmap(NULL, sizeof(*seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (map != MAP_FAILED) {
                        seg = map;
                        if (atomic_load_explicit(&seg->magic, memory_order_acquire) == WXSHM_LAYOUT_MAGIC)
                                atomic_store_explicit(&seg->retired, WXSHM_LAYOUT_RETIRED_REOPEN, memory_order_release);
                        munmap(map, sizeof(*seg));
                }
        }
        if (fd >= 0)
                close(fd);
        if (unlinkat(root_fd, name, 0) == 0)
                log_info("retired the old segment %s/%s: segments now live in shm_dir", root, name);
}

/*
 * Mark name removed and unlink it if it is a segment of ours (any layout version: the first
 * 64 bytes, magic and retired, mean the same in all). 1 if it was, 0 if it is something
 * else (left alone), -errno if it could not be unlinked.
 */
static int remove_one(int dir_fd, const char *name) {
        struct wxshm_layout *seg;
        struct stat st;
        bool ours = false;
        void *map;
        int fd;

        fd = openat(dir_fd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return 0;
        /* Our regular file, holding the first 64 bytes: mapping them cannot fault. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            st.st_size >= (off_t)offsetof(struct wxshm_layout, seq)) {
                map = mmap(NULL, offsetof(struct wxshm_layout, seq), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (map != MAP_FAILED) {
                        seg = map;
                        ours = atomic_load_explicit(&seg->magic, memory_order_acquire) == WXSHM_LAYOUT_MAGIC;
                        if (ours)
                                atomic_store_explicit(&seg->retired, WXSHM_LAYOUT_RETIRED_REMOVED,
                                                      memory_order_release);
                        munmap(map, offsetof(struct wxshm_layout, seq));
                }
        }
        close(fd);
        if (!ours)
                return 0;
        return unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT ? -errno : 1;
}

void namespace_remove_unknown(struct namespace *ns, const char *dir, bool (*known)(const char *item, void *userdata),
                              void *userdata) {
        struct dirent *e;
        DIR *d;
        int fd, r;

        /* dir_fd is O_PATH, which cannot be listed: "." through it is the same directory, no path race. */
        fd = openat(ns->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || !(d = fdopendir(fd))) {
                log_warning("cannot list shm_dir %s: %s; segments of removed apps stay until the next start", dir,
                            strerror(errno));
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((e = readdir(d))) {
                /* Only item names: the lock, and anything else the agent never made, stay. */
                if (!wire_name_valid(e->d_name) || known(e->d_name, userdata))
                        continue;
                r = remove_one(ns->dir_fd, e->d_name);
                if (r > 0)
                        log_info("removed the segment %s/%s: no such item in the configuration (its readers are "
                                 "told it is gone)", dir, e->d_name);
                else if (r < 0)
                        log_warning("cannot unlink the segment %s/%s of a removed item: %s; its readers are told it "
                                    "is gone all the same", dir, e->d_name, strerror(-r));
        }
        closedir(d);
}

void namespace_retire_legacy(const char *shm_root, const char *prefix) {
        size_t n = strlen(prefix);
        struct dirent *e;
        DIR *d;

        d = opendir(shm_root);
        if (!d)
                return;
        while ((e = readdir(d))) {
                if (strncmp(e->d_name, prefix, n) == 0 && e->d_name[n] == '.' && segment_name_valid(e->d_name + n + 1))
                        retire_one(dirfd(d), shm_root, e->d_name);
        }
        closedir(d);
}
