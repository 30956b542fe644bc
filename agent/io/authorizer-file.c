/* authorizer-file.c: a component's authorizers (appid, refresh token) in state_dir: one JSON record, written whole or not at all. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "authorizer-file.h"
#include "state-file.h"

#define AUTHORIZER_FILE_SUFFIX ".authorizers"
#define AUTHORIZER_FILE_VERSION 1
/* Each record is under 700 bytes even fully escaped: room for the most a component may hold. */
#define AUTHORIZER_FILE_MAX ((size_t)PROTOCOL_AUTHORIZERS_MAX * 700 + 4096)

static int file_name(char *buf, size_t size, const char *component) {
        return snprintf(buf, size, "%s" AUTHORIZER_FILE_SUFFIX, component) < (int)size ? 0 : -ENAMETOOLONG;
}

/* Wipe and free a printed record: it holds every account's credential. */
static void text_free(char *text) {
        if (text) {
                explicit_bzero(text, strlen(text));
                free(text);
        }
}

/* cJSON's copies of the refresh tokens go back to the heap wiped. */
static void tree_free(cJSON *o) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "authorizers"), *x;

        cJSON_ArrayForEach(x, list) {
                cJSON *rt = cJSON_GetObjectItemCaseSensitive(x, "refresh_token");

                if (cJSON_IsString(rt) && rt->valuestring)
                        explicit_bzero(rt->valuestring, strlen(rt->valuestring));
        }
        cJSON_Delete(o);
}

int authorizer_file_save(const char *dir, const char *component, const char *component_appid,
                         const struct authorizer_record *recs, size_t n) {
        cJSON *o = cJSON_CreateObject(), *list = NULL;
        char name[160], *text = NULL;
        bool ok;
        int r = -ENOMEM;

        if (file_name(name, sizeof(name), component) < 0) {
                cJSON_Delete(o);
                return -ENAMETOOLONG;
        }
        ok = o && cJSON_AddNumberToObject(o, "authorizers_file", AUTHORIZER_FILE_VERSION) &&
             cJSON_AddStringToObject(o, "component_appid", component_appid) &&
             (list = cJSON_AddArrayToObject(o, "authorizers"));
        for (size_t i = 0; ok && i < n; i++) {
                cJSON *x = cJSON_CreateObject();

                ok = x && cJSON_AddItemToArray(list, x) && cJSON_AddStringToObject(x, "appid", recs[i].appid) &&
                     cJSON_AddStringToObject(x, "refresh_token", recs[i].refresh_token) &&
                     cJSON_AddNumberToObject(x, "refused", (double)recs[i].refused) &&
                     (!recs[i].changed_ms || cJSON_AddNumberToObject(x, "changed", (double)recs[i].changed_ms));
        }
        if (ok)
                text = cJSON_PrintUnformatted(o);
        tree_free(o);
        if (text) {
                r = state_write_file(dir, name, text, strlen(text));
                text_free(text);
        }
        return r;
}

static bool token_chars_ok(const char *s) {
        for (; *s; s++)
                if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

/* One record of the file into rec: false if anything in it is not as the agent writes it. */
static bool get_record(const cJSON *x, struct authorizer_record *rec) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "appid");
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(x, "refresh_token");
        const cJSON *refused = cJSON_GetObjectItemCaseSensitive(x, "refused");
        const cJSON *changed = cJSON_GetObjectItemCaseSensitive(x, "changed"); /* optional: cluster mode's version */

        if (!cJSON_IsObject(x) || !cJSON_IsString(id) || !wire_authorizer_appid_valid(id->valuestring) ||
            !cJSON_IsString(rt) || !rt->valuestring || rt->valuestring[0] == '\0' ||
            strlen(rt->valuestring) > PROTOCOL_REFRESH_TOKEN_MAX || !token_chars_ok(rt->valuestring) ||
            !cJSON_IsNumber(refused) || refused->valuedouble < 0 || refused->valuedouble > 1e9 ||
            (double)(long)refused->valuedouble != refused->valuedouble ||
            (changed && (!cJSON_IsNumber(changed) || changed->valuedouble < 0 || changed->valuedouble > 9e15 ||
                         (double)(uint64_t)changed->valuedouble != changed->valuedouble)))
                return false;
        strcpy(rec->appid, id->valuestring);
        strcpy(rec->refresh_token, rt->valuestring);
        rec->refused = (long)refused->valuedouble;
        rec->changed_ms = changed ? (uint64_t)changed->valuedouble : 0;
        return true;
}

static int by_appid(const void *x, const void *y) {
        return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Whether two of the n records name the same appid: sorted, not each against all (10,000 at start). */
static bool twice(const struct authorizer_record *recs, size_t n) {
        const char **ids = n > 1 ? malloc(n * sizeof(*ids)) : NULL;
        bool dup = false;

        if (n < 2)
                return false;
        if (!ids)
                return true; /* cannot tell: refused as unreadable rather than trusted */
        for (size_t i = 0; i < n; i++)
                ids[i] = recs[i].appid;
        qsort(ids, n, sizeof(*ids), by_appid);
        for (size_t i = 1; i < n && !dup; i++)
                dup = strcmp(ids[i - 1], ids[i]) == 0;
        free(ids);
        return dup;
}

static int parse(const char *text, const char *component_appid, struct authorizer_record **recs, size_t *n) {
        cJSON *o = cJSON_Parse(text);
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "authorizers_file");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "component_appid");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "authorizers"), *x;
        struct authorizer_record *out = NULL;
        int count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1, r = 0;
        size_t i = 0;

        if (!cJSON_IsObject(o) || !cJSON_IsNumber(ver) || ver->valuedouble != AUTHORIZER_FILE_VERSION ||
            !cJSON_IsString(id) || count < 0 || count > PROTOCOL_AUTHORIZERS_MAX)
                r = -EBADMSG;
        else if (strcmp(id->valuestring, component_appid) != 0)
                r = -EXDEV; /* the component_appid changed: these accounts are another platform's */
        else if (count > 0 && !(out = calloc((size_t)count, sizeof(*out))))
                r = -ENOMEM;
        if (r < 0)
                list = NULL;
        cJSON_ArrayForEach(x, list) {
                if (!get_record(x, &out[i])) {
                        r = -EBADMSG;
                        break;
                }
                i++;
        }
        if (r == 0 && twice(out, i))
                r = -EBADMSG;
        tree_free(o);
        if (r < 0) {
                if (out)
                        explicit_bzero(out, (size_t)(count > 0 ? count : 0) * sizeof(*out));
                free(out);
                return r;
        }
        *recs = out;
        *n = i;
        return 0;
}

int authorizer_file_load(const char *dir, const char *component, const char *component_appid,
                         struct authorizer_record **recs, size_t *n) {
        char name[160], *buf;
        int r;

        *recs = NULL;
        *n = 0;
        r = file_name(name, sizeof(name), component);
        if (r < 0)
                return r;
        buf = malloc(AUTHORIZER_FILE_MAX);
        if (!buf)
                return -ENOMEM;
        buf[0] = '\0';
        r = state_read_file(dir, name, buf, AUTHORIZER_FILE_MAX);
        if (r >= 0)
                r = parse(buf, component_appid, recs, n);
        /* What was read is a NUL-terminated text (or nothing): wiping it, not the whole room, is enough. */
        explicit_bzero(buf, strnlen(buf, AUTHORIZER_FILE_MAX));
        free(buf);
        return r < 0 ? r : 0;
}

/*
 * The appids of the file last asked about, sorted, and what its inode said then: a start
 * asks once per segment in shm_dir (10,000 of them), and the file is read once, not each
 * time. Appids are no secret; the refresh tokens are not kept.
 */
static struct {
        char path[PATH_MAX];
        struct stat st;
        char (*ids)[PROTOCOL_AUTHORIZER_APPID_MAX + 1];
        size_t n;
} seen;

static bool same_file(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
               a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int by_id(const void *x, const void *y) {
        return strcmp(x, y);
}

/* Read dir/name's appids into seen (sorted): false if it cannot be read. */
static bool seen_load(const char *dir, const char *name) {
        char *buf = malloc(AUTHORIZER_FILE_MAX);
        const cJSON *x, *list;
        cJSON *o = NULL;
        size_t n = 0;

        free(seen.ids);
        seen.ids = NULL;
        seen.n = 0;
        if (!buf)
                return false;
        buf[0] = '\0';
        if (state_read_file(dir, name, buf, AUTHORIZER_FILE_MAX) >= 0)
                o = cJSON_Parse(buf);
        explicit_bzero(buf, strnlen(buf, AUTHORIZER_FILE_MAX));
        free(buf);
        list = cJSON_GetObjectItemCaseSensitive(o, "authorizers");
        if (cJSON_IsArray(list) && cJSON_GetArraySize(list) > 0)
                seen.ids = calloc((size_t)cJSON_GetArraySize(list), sizeof(*seen.ids));
        if (seen.ids)
                cJSON_ArrayForEach(x, list) {
                        const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "appid");

                        if (cJSON_IsString(id) && wire_authorizer_appid_valid(id->valuestring))
                                strcpy(seen.ids[n++], id->valuestring);
                }
        tree_free(o);
        seen.n = n;
        if (n > 1) /* qsort wants a real array even for none, and none is seen.ids == NULL */
                qsort(seen.ids, n, sizeof(*seen.ids), by_id);
        return true;
}

bool authorizer_file_has(const char *dir, const char *component, const char *appid) {
        char name[160], path[PATH_MAX];
        struct stat st;

        if (file_name(name, sizeof(name), component) < 0 ||
            snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
            fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return false;
        if (strcmp(seen.path, path) != 0 || !same_file(&seen.st, &st)) {
                seen.path[0] = '\0';
                if (!seen_load(dir, name))
                        return false;
                strcpy(seen.path, path);
                seen.st = st;
        }
        return seen.n > 0 && bsearch(appid, seen.ids, seen.n, sizeof(*seen.ids), by_id) != NULL;
}
