/* state.c: the state file's record (an item's last token and forced-refresh budget) as JSON, and back. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "state.h"

#define STATE_VERSION 1

char *state_encode(const char *item, const char *appid, const struct state_record *rec) {
        cJSON *o = cJSON_CreateObject();
        char *s = NULL;

        if (!o)
                return NULL;
        /* Doubles hold these exactly: generations and Unix ms stay far below 2^53 (state_decode checks). */
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

int state_decode(const char *buf, const char *item, const char *appid, struct state_record *rec) {
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
