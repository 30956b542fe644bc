/* state.c: the last token of each item on disk, so a reboot (empty /dev/shm) needs no upstream call. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "file.h"
#include "state.h"

#define STATE_VERSION 1
#define STATE_FILE_MAX 8192

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

static char *record_json(const char *item, const char *appid, const struct state_record *rec) {
        cJSON *o = cJSON_CreateObject();
        char *s = NULL;

        if (!o)
                return NULL;
        /* Doubles hold these exactly: generations and Unix ms stay far below 2^53 (state_load checks). */
        if (cJSON_AddNumberToObject(o, "version", STATE_VERSION) && cJSON_AddStringToObject(o, "item", item) &&
            cJSON_AddStringToObject(o, "appid", appid) &&
            cJSON_AddNumberToObject(o, "generation", (double)rec->generation) &&
            cJSON_AddNumberToObject(o, "expires_at_ms", (double)rec->expires_at_ms) &&
            cJSON_AddNumberToObject(o, "fetched_at_ms", (double)rec->fetched_at_ms) &&
            cJSON_AddStringToObject(o, "token", rec->token) &&
            cJSON_AddNumberToObject(o, "forced_day", (double)rec->forced_day) &&
            cJSON_AddNumberToObject(o, "forced_today", (double)rec->forced_today) &&
            cJSON_AddNumberToObject(o, "quota_day", (double)rec->quota_day))
                s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
}

int state_write_file(const char *dir, const char *name, const char *buf, size_t len) {
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
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        /* The rename itself must survive a power cut. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
        }
        return 0;
}

int state_save(const char *dir, const char *item, const char *appid, const struct state_record *rec) {
        char *json = record_json(item, appid, rec);
        int r;

        if (!json)
                return -ENOMEM;
        r = state_write_file(dir, item, json, strlen(json));
        free(json);
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

static bool get_int(const cJSON *o, const char *name, int64_t min, int64_t *ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > 9e15)
                return false;
        *ret = (int64_t)v->valuedouble;
        return (double)*ret == v->valuedouble;
}

/* An optional field (absent in older files: 0); present, it must be a sane integer like the rest. */
static bool get_optional(const cJSON *o, const char *name, int64_t *ret) {
        *ret = 0;
        return !cJSON_GetObjectItemCaseSensitive(o, name) || get_int(o, name, 0, ret);
}

static int parse_record(const char *buf, const char *item, const char *appid, struct state_record *rec) {
        cJSON *o = cJSON_Parse(buf);
        const cJSON *v;
        int64_t version = 0, generation = 0;
        int r = -EBADMSG;
        size_t len;

        if (!o)
                return -EBADMSG;
        v = cJSON_GetObjectItemCaseSensitive(o, "item");
        if (!cJSON_IsString(v) || strcmp(v->valuestring, item) != 0)
                goto out;
        v = cJSON_GetObjectItemCaseSensitive(o, "appid");
        if (!cJSON_IsString(v))
                goto out;
        if (strcmp(v->valuestring, appid) != 0) {
                r = -EXDEV;
                goto out;
        }
        if (!get_int(o, "version", 1, &version) || version != STATE_VERSION || !get_int(o, "generation", 1, &generation) ||
            !get_int(o, "expires_at_ms", 1, &rec->expires_at_ms) || !get_int(o, "fetched_at_ms", 1, &rec->fetched_at_ms) ||
            !get_optional(o, "forced_day", &rec->forced_day) || !get_optional(o, "forced_today", &rec->forced_today) ||
            !get_optional(o, "quota_day", &rec->quota_day))
                goto out;
        v = cJSON_GetObjectItemCaseSensitive(o, "token");
        if (!cJSON_IsString(v))
                goto out;
        len = strlen(v->valuestring);
        if (len == 0 || len > UPSTREAM_TOKEN_MAX)
                goto out;
        memcpy(rec->token, v->valuestring, len + 1);
        rec->token_len = len;
        rec->generation = (uint64_t)generation;
        r = 0;
out:
        cJSON_Delete(o);
        return r;
}

int state_load(const char *dir, const char *item, const char *appid, struct state_record *rec) {
        char path[PATH_MAX], buf[STATE_FILE_MAX + 1], err[PATH_MAX + 256];
        struct state_record tmp;
        struct stat st;
        ssize_t n;
        int fd, r;

        if (snprintf(path, sizeof(path), "%s/%s", dir, item) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        /* Non-blocking, regular, the agent's or root's, not writable by others: else it is not believed. */
        fd = file_open_checked(path, path, O_RDONLY, FILE_NOT_SHARED_WRITE, err, sizeof(err));
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0 || st.st_size > STATE_FILE_MAX) {
                close(fd);
                return -EBADMSG;
        }
        n = read(fd, buf, STATE_FILE_MAX);
        close(fd);
        if (n < 0)
                return -EBADMSG;
        buf[n] = '\0';
        r = parse_record(buf, item, appid, &tmp);
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
