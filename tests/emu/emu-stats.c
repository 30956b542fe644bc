/* emu-stats.c: the call log and the counters behind /emu/stats and /emu/log. */
#include <string.h>

#include "emu-plat.h"
#include "emu-state.h"
#include "emu-stats.h"

/* Enough for a day of a misbehaving agent at 2000 calls; older entries fall off. */
#define LOG_SIZE 8192

struct log_entry {
        uint64_t seq;
        int64_t t_ms;           /* since the emulator started, monotonic */
        int64_t unix_ms;
        const char *endpoint;
        char id[EMU_ID_MAX + 1];
        bool force;
        int status;             /* HTTP status; 0 when the connection was dropped */
        int errcode;
        const char *fault;
        uint64_t gen;
};

static struct log_entry log_ring[LOG_SIZE];
static uint64_t log_seq;        /* entries ever written */
static uint64_t log_first;      /* first seq still shown after a clear */

void stats_log(const char *endpoint, int app, const char *id, bool force,
               const struct emu_reply *r, uint64_t gen)
{
        struct log_entry *e = &log_ring[log_seq % LOG_SIZE];

        memset(e, 0, sizeof(*e));
        e->seq = log_seq++;
        e->t_ms = emu_uptime_ms();
        e->unix_ms = emu_unix_ms();
        e->endpoint = endpoint;
        if (id)
                strncpy(e->id, id, EMU_ID_MAX);
        e->force = force;
        e->status = r->drop ? 0 : r->status;
        e->errcode = r->errcode;
        e->fault = r->fault;
        e->gen = app >= 0 ? gen : 0;
}

void stats_log_clear(void)
{
        log_first = log_seq;
}

cJSON *stats_log_json(void)
{
        cJSON *arr = cJSON_CreateArray();
        uint64_t from = log_first;

        if (log_seq - from > LOG_SIZE)
                from = log_seq - LOG_SIZE;
        for (uint64_t s = from; s < log_seq; s++) {
                const struct log_entry *e = &log_ring[s % LOG_SIZE];
                cJSON *o = cJSON_CreateObject();

                cJSON_AddNumberToObject(o, "seq", (double)e->seq);
                cJSON_AddNumberToObject(o, "t_ms", (double)e->t_ms);
                cJSON_AddNumberToObject(o, "unix_ms", (double)e->unix_ms);
                cJSON_AddStringToObject(o, "endpoint", e->endpoint);
                cJSON_AddStringToObject(o, "app", e->id);
                cJSON_AddBoolToObject(o, "force", e->force);
                cJSON_AddNumberToObject(o, "http", e->status);
                if (e->errcode != EMU_NO_ERRCODE)
                        cJSON_AddNumberToObject(o, "errcode", e->errcode);
                else
                        cJSON_AddNullToObject(o, "errcode");
                if (e->fault)
                        cJSON_AddStringToObject(o, "fault", e->fault);
                else
                        cJSON_AddNullToObject(o, "fault");
                cJSON_AddNumberToObject(o, "generation", (double)e->gen);
                cJSON_AddItemToArray(arr, o);
        }
        return arr;
}

static void stats_add(cJSON *o, const struct emu_stats *s)
{
#define STAT(name) cJSON_AddNumberToObject(o, #name, (double)s->name)
        STAT(token_calls);
        STAT(token_ok);
        STAT(stable_normal);
        STAT(stable_force);
        STAT(stable_ok);
        STAT(gettoken_calls);
        STAT(gettoken_ok);
        STAT(ticket_calls);
        STAT(ticket_ok);
        STAT(agent_config_calls);
        STAT(callback_ok);
        STAT(callback_40001);
        STAT(callback_42001);
        STAT(faults);
        STAT(quota_rejects);
#undef STAT
}

cJSON *stats_json(void)
{
        cJSON *root = cJSON_CreateObject();
        cJSON *apps = cJSON_AddObjectToObject(root, "apps");
        cJSON *unknown = cJSON_AddObjectToObject(root, "unknown");

        cJSON_AddNumberToObject(root, "uptime_ms", (double)emu_uptime_ms());
        for (int i = 0; i < emu_napps; i++) {
                static const char *const type_names[] = {
                        [EMU_OFFICIAL] = "app", [EMU_CORP] = "corp", [EMU_COMPONENT] = "component",
                        [EMU_AUTHORIZER] = "authorizer", [EMU_SUITE] = "suite",
                        [EMU_PROVIDER] = "provider", [EMU_SUITE_CORP] = "suite_corp",
                };
                const struct emu_app *a = &emu_apps[i];
                cJSON *o;

                /* Thousands of derived accounts: only those something touched are shown. */
                if (!plat_app_shown(i))
                        continue;
                o = cJSON_AddObjectToObject(apps, a->id);
                cJSON_AddStringToObject(o, "type", type_names[a->type]);
                stats_add(o, &a->stats);
                /* Generations are state, not counters: reset-stats leaves them alone. */
                cJSON_AddNumberToObject(o, "token_generation",
                                        (double)a->slots[emu_type_kind(a->type)].gen);
                cJSON_AddNumberToObject(o, "stable_generation", (double)a->slots[KIND_STABLE].gen);
                cJSON_AddNumberToObject(o, "jsapi_generation", (double)a->slots[KIND_JSAPI].gen);
                cJSON_AddNumberToObject(o, "wx_card_generation", (double)a->slots[KIND_CARD].gen);
                cJSON_AddNumberToObject(o, "agent_config_generation", (double)a->slots[KIND_AGENT].gen);
                cJSON_AddNumberToObject(o, "quota_token_used", (double)a->used_token);
                cJSON_AddNumberToObject(o, "quota_stable_used", (double)a->used_stable);
                cJSON_AddNumberToObject(o, "quota_force_used", (double)a->used_force);
        }
        stats_add(unknown, &emu_unknown);
        plat_stats_json(root);
        return root;
}
