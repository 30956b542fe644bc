/* authorizer-file.c: a component's authorizers (appid, refresh token) in state_dir: one JSON record, written whole or not at all. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                for (size_t j = 0; j < i; j++)
                        if (strcmp(out[j].appid, out[i].appid) == 0)
                                r = -EBADMSG;
                i++;
        }
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

bool authorizer_file_has(const char *dir, const char *component, const char *appid) {
        char name[160], *buf;
        const cJSON *x;
        cJSON *o;
        bool found = false;

        if (file_name(name, sizeof(name), component) < 0 || !(buf = malloc(AUTHORIZER_FILE_MAX)))
                return false;
        buf[0] = '\0';
        if (state_read_file(dir, name, buf, AUTHORIZER_FILE_MAX) >= 0) {
                o = cJSON_Parse(buf);
                cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "authorizers")) {
                        const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "appid");

                        found = found || (cJSON_IsString(id) && strcmp(id->valuestring, appid) == 0);
                }
                tree_free(o);
        }
        explicit_bzero(buf, strnlen(buf, AUTHORIZER_FILE_MAX));
        free(buf);
        return found;
}
