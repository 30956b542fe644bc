/* secret.c: loading an app secret from a private file or a systemd credential, never echoing it. */
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
#include "secret.h"

/* Read at most SECRET_FILE_MAX + 1 bytes: one more than allowed proves the file too long. */
static ssize_t secret_read_all(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n < size) {
                ssize_t r = read(fd, buf + n, size - n);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        return (ssize_t)n;
}

/* what: "secret_file /path" or "secret_credential NAME", the prefix of every message. */
static int secret_load(const char *path, const char *what, bool check_mode, char **ret, char *err,
                       size_t err_size) {
        char buf[SECRET_FILE_MAX + 1];
        struct stat st;
        ssize_t n;
        size_t len, i;
        char *s;
        int fd, r;

        /* Non-blocking, a regular file of root or the agent's user: a FIFO must not freeze the loop. */
        fd = file_open_checked(path, what, O_RDONLY, check_mode ? FILE_PRIVATE : FILE_OWNER_ONLY, err, err_size);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                snprintf(err, err_size, "%s: cannot stat: %s", what, strerror(-r));
                goto err_close;
        }
        if (st.st_size > SECRET_FILE_MAX) {
                r = -EFBIG;
                snprintf(err, err_size, "%s: longer than %d bytes", what, SECRET_FILE_MAX);
                goto err_close;
        }
        n = secret_read_all(fd, buf, sizeof(buf));
        if (n < 0) {
                r = (int)n;
                snprintf(err, err_size, "%s: cannot read: %s", what, strerror(-r));
                goto err_wipe;
        }
        len = (size_t)n;
        /* The file may have grown since fstat. */
        if (len > SECRET_FILE_MAX) {
                r = -EFBIG;
                snprintf(err, err_size, "%s: longer than %d bytes", what, SECRET_FILE_MAX);
                goto err_wipe;
        }
        /* Editors add a final newline (or CRLF); a secret itself never ends in whitespace. */
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                           buf[len - 1] == '\t'))
                len--;
        if (len == 0) {
                r = -EINVAL;
                snprintf(err, err_size, "%s: empty", what);
                goto err_wipe;
        }
        /* The secret goes into a URL or JSON body: a NUL, space or control byte is a broken file. */
        for (i = 0; i < len; i++) {
                unsigned char c = (unsigned char)buf[i];

                if (c <= ' ' || c == 0x7f) {
                        r = -EINVAL;
                        snprintf(err, err_size, "%s: contains whitespace or control characters", what);
                        goto err_wipe;
                }
        }
        s = malloc(len + 1);
        if (!s) {
                r = -ENOMEM;
                snprintf(err, err_size, "%s: out of memory", what);
                goto err_wipe;
        }
        memcpy(s, buf, len);
        s[len] = '\0';
        explicit_bzero(buf, sizeof(buf));
        close(fd);
        *ret = s;
        return 0;

err_wipe:
        explicit_bzero(buf, sizeof(buf));
err_close:
        close(fd);
        return r;
}

int secret_load_file(const char *path, char **ret, char *err, size_t err_size) {
        char what[PATH_MAX + 32];

        if (!path || !*path) {
                snprintf(err, err_size, "secret_file: empty file name");
                return -EINVAL;
        }
        snprintf(what, sizeof(what), "secret_file %s", path);
        return secret_load(path, what, true, ret, err, err_size);
}

int secret_load_credential(const char *name, char **ret, char *err, size_t err_size) {
        char what[PATH_MAX + 32], path[PATH_MAX];
        const char *dir;
        int n;

        if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
                snprintf(err, err_size, "secret_credential %s: not a credential name (no '/' allowed)",
                         name ? name : "");
                return -EINVAL;
        }
        snprintf(what, sizeof(what), "secret_credential %s", name);
        dir = getenv("CREDENTIALS_DIRECTORY");
        if (!dir || !*dir) {
                snprintf(err, err_size, "%s: $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit?)",
                         what);
                return -ENOENT;
        }
        n = snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof(path)) {
                snprintf(err, err_size, "%s: path too long", what);
                return -ENAMETOOLONG;
        }
        return secret_load(path, what, false, ret, err, err_size);
}
