/* file.h: opening the files the agent trusts (secrets, config, state, CAs) without blocking and without belief. */
#ifndef FILE_H
#define FILE_H

#include <stddef.h>
#include <sys/types.h>

/* How private the file must be; every rule also wants a regular file owned by root or the agent's uid. */
enum file_rule {
        FILE_NOT_SHARED_WRITE,  /* not writable by group or others: config, state files, ca_file */
        FILE_PRIVATE,           /* no access at all for group or others: secret and password files */
        FILE_OWNER_ONLY,        /* mode left to whoever made it (systemd credentials): owner checked only */
};

/*
 * Open path with flags (O_RDONLY, or O_WRONLY|O_CREAT|O_TRUNC with mode 0600) plus
 * O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY, then check what the descriptor is: a FIFO
 * or device opens at once and is refused, so no open or read can block the event loop.
 * Returns the descriptor, or -errno with one line in err, prefixed by what:
 *   -ELOOP  a symlink;  -EINVAL  not a regular file (a FIFO, socket, device or directory);
 *   -EPERM  owned by another user, or group/other-writable (or readable, for FILE_PRIVATE).
 */
int file_open_checked(const char *path, const char *what, int flags, enum file_rule rule, char *err, size_t err_size);

/*
 * The whole of a checked file, at most max bytes, NUL-terminated (malloc'd, *ret_len
 * without the NUL): for ca_file, handed to libcurl as a blob so libcurl opens nothing.
 */
int file_read_checked(const char *path, const char *what, size_t max, enum file_rule rule, char **ret,
                      size_t *ret_len, char *err, size_t err_size);

/*
 * A directory the agent keeps tokens in (state_dir): owned by root or the agent's uid and
 * not writable by group or others, or anyone could plant a token the agent adopts.
 * 0, or -errno with the fix in err.
 */
int file_check_dir(const char *path, const char *what, char *err, size_t err_size);

/*
 * chmod and chgrp (gid (gid_t)-1: left) the socket just bound at path, through its
 * directory's descriptor and never through a symlink: a path resolved again (a parent
 * renamed or replaced since bind) could hand the mode and group to another file.
 * 0, -ENOTSOCK if the name is no longer a socket, or -errno.
 */
int file_set_socket_access(const char *path, mode_t mode, gid_t gid);

#endif
