/* ticket-file.c: a component's component_verify_tickets in state_dir: one JSON record, written whole or not at all. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state-file.h"
#include "ticket-file.h"

#define TICKET_FILE_SUFFIX ".verify_ticket"
#define TICKET_FILE_VERSION 1
#define TICKET_FILE_MAX 4096

static int file_name(char *buf, size_t size, const char *app) {
        return snprintf(buf, size, "%s" TICKET_FILE_SUFFIX, app) < (int)size ? 0 : -ENAMETOOLONG;
}

static bool add_ticket(cJSON *o, const char *key, const struct verify_ticket *t) {
        cJSON *x = cJSON_AddObjectToObject(o, key);

        return x && cJSON_AddStringToObject(x, "ticket", t->value) &&
               cJSON_AddNumberToObject(x, "create_time", (double)t->create_time_s) &&
               cJSON_AddNumberToObject(x, "received_at", (double)t->received_at_ms);
}

int ticket_file_save(const char *dir, const char *app, const char *appid, const struct ticket_store *st) {
        cJSON *o = cJSON_CreateObject();
        char name[160], *text = NULL;
        int r = -ENOMEM;

        if (file_name(name, sizeof(name), app) < 0) {
                cJSON_Delete(o);
                return -ENAMETOOLONG;
        }
        if (o && cJSON_AddNumberToObject(o, "verify_ticket_file", TICKET_FILE_VERSION) &&
            cJSON_AddStringToObject(o, "appid", appid) && add_ticket(o, "newest", &st->newest) &&
            add_ticket(o, "good", &st->good) && cJSON_AddBoolToObject(o, "newest_refused", st->newest_refused) &&
            cJSON_AddBoolToObject(o, "good_refused", st->good_refused))
                text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (text) {
                r = state_write_file(dir, name, text, strlen(text));
                free(text);
        }
        return r;
}

/* A whole number of at most 2^53 (the file's own times), else false. */
static bool get_i64(const cJSON *o, const char *key, int64_t *ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
            (double)(int64_t)v->valuedouble != v->valuedouble)
                return false;
        *ret = (int64_t)v->valuedouble;
        return true;
}

static bool get_ticket(const cJSON *o, const char *key, struct verify_ticket *t) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, "ticket");

        if (!cJSON_IsObject(x) || !cJSON_IsString(v) || !v->valuestring ||
            strlen(v->valuestring) > PROTOCOL_VERIFY_TICKET_MAX)
                return false;
        strcpy(t->value, v->valuestring);
        return get_i64(x, "create_time", &t->create_time_s) && get_i64(x, "received_at", &t->received_at_ms);
}

int ticket_file_load(const char *dir, const char *app, const char *appid, struct ticket_store *st) {
        char name[160], buf[TICKET_FILE_MAX];
        struct ticket_store tmp = { 0 };
        const cJSON *id, *ver;
        cJSON *o;
        int r;

        r = file_name(name, sizeof(name), app);
        if (r < 0)
                return r;
        r = state_read_file(dir, name, buf, sizeof(buf));
        if (r < 0)
                return r;
        o = cJSON_Parse(buf);
        id = cJSON_GetObjectItemCaseSensitive(o, "appid");
        ver = cJSON_GetObjectItemCaseSensitive(o, "verify_ticket_file");
        if (!cJSON_IsObject(o) || !cJSON_IsNumber(ver) || ver->valuedouble != TICKET_FILE_VERSION ||
            !cJSON_IsString(id) || !get_ticket(o, "newest", &tmp.newest) || !get_ticket(o, "good", &tmp.good))
                r = -EBADMSG;
        else if (strcmp(id->valuestring, appid) != 0)
                r = -EXDEV; /* the component_appid changed: its tickets are not this one's */
        else {
                tmp.newest_refused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "newest_refused"));
                tmp.good_refused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "good_refused"));
                *st = tmp;
                r = 0;
        }
        cJSON_Delete(o);
        return r;
}
