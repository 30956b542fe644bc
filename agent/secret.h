/* secret.h: loading an app secret from a private file or a systemd credential. */
#ifndef SECRET_H
#define SECRET_H

#include <stddef.h>

/* The longest secret file accepted, trailing newline included. */
#define SECRET_FILE_MAX 256

/*
 * Read the secret in path into a new string in *ret (wipe it with explicit_bzero before
 * free). Refused unless path is a regular file (not a symlink), no larger than
 * SECRET_FILE_MAX, not readable or writable by group or others, and holding a secret
 * without whitespace or control characters once trailing whitespace is stripped. On
 * error returns -errno (-EINVAL, -EPERM, -ELOOP, ...), leaves *ret untouched and writes
 * one line naming the file to err; the secret never appears in it.
 */
int secret_load_file(const char *path, char **ret, char *err, size_t err_size);

/*
 * The same for the systemd credential name in $CREDENTIALS_DIRECTORY. The mode is not
 * checked: systemd owns that directory and its permissions. -ENOENT if
 * CREDENTIALS_DIRECTORY is unset, -EINVAL if name is empty or has a '/'.
 */
int secret_load_credential(const char *name, char **ret, char *err, size_t err_size);

#endif
