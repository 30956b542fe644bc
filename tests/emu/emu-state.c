/* emu-state.c: the emulator's lock, clock, app table, daily quotas and stop/wait plumbing. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu-state.h"

struct emu_config emu_cfg = {
        .expires_in = 7200,
        .overlap_ms = 300 * 1000,
        .quota_token = 2000,
        .quota_stable = 500000,
        .quota_stable_force = 20,
        .ticket_hour_corp = 400,
        .ticket_hour_app = 100,
        .force_spacing = 30,
        .token_length = 157,
};
struct emu_app *emu_apps;
int emu_napps;
struct emu_stats emu_unknown;

static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_cond;       /* monotonic clock, set up in emu_state_init */
static int64_t clock_offset_ms;        /* atomic: read by lock-free paths too */
static int64_t clock_start_ms;
static bool stopping;

void emu_lock(void)
{
        pthread_mutex_lock(&state_mutex);
}

void emu_unlock(void)
{
        pthread_mutex_unlock(&state_mutex);
}

static int64_t clock_ms(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t emu_now_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC) + __atomic_load_n(&clock_offset_ms, __ATOMIC_RELAXED);
}

/* The log's time base: real elapsed time, so tests can measure an agent's backoff. */
int64_t emu_uptime_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC) - clock_start_ms;
}

int64_t emu_unix_ms(void)
{
        return clock_ms(CLOCK_REALTIME) + __atomic_load_n(&clock_offset_ms, __ATOMIC_RELAXED);
}

void emu_clock_advance(int64_t ms)
{
        __atomic_add_fetch(&clock_offset_ms, ms, __ATOMIC_RELAXED);
}

int emu_state_init(void)
{
        pthread_condattr_t attr;
        int r;

        /* Timed waits on the monotonic clock, so a wall-clock step cannot stretch them. */
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        r = pthread_cond_init(&state_cond, &attr);
        pthread_condattr_destroy(&attr);
        if (r)
                return -r;
        clock_start_ms = clock_ms(CLOCK_MONOTONIC);
        return 0;
}

void emu_state_free(void)
{
        for (int i = 0; i < emu_napps; i++)
                for (int k = 0; k < KIND_COUNT; k++)
                        for (int h = 0; h < EMU_HISTORY; h++)
                                free(emu_apps[i].slots[k].ring[h]);
        free(emu_apps);
        emu_apps = NULL;
        emu_napps = 0;
        pthread_cond_destroy(&state_cond);
}

/* Parses "ID:SECRET"; the id may not contain ':' (WeChat ids never do), the secret may. */
int emu_app_add(enum emu_apptype type, const char *spec)
{
        const char *colon = strchr(spec, ':');
        struct emu_app *apps, *a;
        size_t idlen;

        if (!colon || colon == spec || !colon[1])
                return -EINVAL;
        idlen = (size_t)(colon - spec);
        if (idlen > EMU_ID_MAX || strlen(colon + 1) > EMU_SECRET_MAX)
                return -ENAMETOOLONG;
        if (emu_app_find_id(spec, idlen) >= 0)
                return -EEXIST;
        apps = realloc(emu_apps, sizeof(*apps) * (size_t)(emu_napps + 1));
        if (!apps)
                return -ENOMEM;
        emu_apps = apps;
        a = &emu_apps[emu_napps++];
        memset(a, 0, sizeof(*a));
        a->type = type;
        memcpy(a->id, spec, idlen);
        strcpy(a->secret, colon + 1);
        a->last_force_ms = INT64_MIN;
        return 0;
}

int emu_apps_grow(enum emu_apptype type, int n)
{
        struct emu_app *apps = realloc(emu_apps, sizeof(*apps) * (size_t)(emu_napps + n));
        int first = emu_napps;

        if (!apps)
                return -ENOMEM;
        emu_apps = apps;
        memset(&emu_apps[first], 0, sizeof(*apps) * (size_t)n);
        for (int i = first; i < first + n; i++) {
                emu_apps[i].type = type;
                emu_apps[i].last_force_ms = INT64_MIN;
        }
        emu_napps += n;
        return first;
}

int emu_app_find_id(const char *id, size_t len)
{
        for (int i = 0; i < emu_napps; i++)
                if (strlen(emu_apps[i].id) == len && !memcmp(emu_apps[i].id, id, len))
                        return i;
        return -1;
}

/* An appid of the wrong family is as unknown to that API as a made-up one. */
int emu_app_find(const char *id, enum emu_apptype type)
{
        int i = emu_app_find_id(id, strlen(id));

        return i >= 0 && emu_apps[i].type == type ? i : -1;
}

/* WeChat's daily quotas reset at midnight Beijing time (UTC+8), whatever the host's zone. */
bool emu_app_quota(struct emu_app *a)
{
        int64_t day = (emu_unix_ms() / 1000 + 8 * 3600) / 86400;

        if (day == a->quota_day)
                return false;
        a->quota_day = day;
        a->used_token = a->used_stable = a->used_force = 0;
        return true;
}

void emu_stats_reset(void)
{
        for (int i = 0; i < emu_napps; i++)
                memset(&emu_apps[i].stats, 0, sizeof(emu_apps[i].stats));
        memset(&emu_unknown, 0, sizeof(emu_unknown));
}

void emu_stop(void)
{
        emu_lock();
        stopping = true;
        pthread_cond_broadcast(&state_cond);
        emu_unlock();
}

bool emu_stopping(void)
{
        return stopping;
}

void emu_wake_all(void)
{
        pthread_cond_broadcast(&state_cond);
}

void emu_wait_ms(int64_t ms, const uint64_t *epoch)
{
        uint64_t seen = epoch ? *epoch : 0;
        struct timespec ts;
        int64_t end;

        if (ms == 0)
                return;
        end = clock_ms(CLOCK_MONOTONIC) + ms;
        ts.tv_sec = end / 1000;
        ts.tv_nsec = (end % 1000) * 1000000;
        while (!stopping && (!epoch || *epoch == seen)) {
                if (ms < 0)
                        pthread_cond_wait(&state_cond, &state_mutex);
                else if (pthread_cond_timedwait(&state_cond, &state_mutex, &ts) == ETIMEDOUT)
                        break;
        }
}
