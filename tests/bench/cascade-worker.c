/* cascade-worker.c: one worker process of the cascade benchmark: getcallbackip in a loop, what it saw counted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "bench-cascade.h"

/* One easy handle per worker: it keeps its connection to wxemu alive between calls, as SDKs' clients do. */
struct http {
        CURL *curl;
        char base[64];
        char body[8192];
        size_t len;
};

static struct cascade_shared *shared;
static const struct cascade_opts *opts;

uint64_t cascade_now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cascade_sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

bool worker_counting(void) {
        return atomic_load(&shared->t0_ns) != 0;
}

/* Remember the first unexpected thing: the report shows it, so a broken run says why. */
static void note(struct worker_result *res, const char *what) {
        if (!res->what[0])
                snprintf(res->what, sizeof(res->what), "%s", what);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct http *h = userdata;
        size_t n = size * nmemb;

        /* An answer that does not fit is no answer of wxemu's: fail the transfer. */
        if (n >= sizeof(h->body) - h->len)
                return 0;
        memcpy(h->body + h->len, ptr, n);
        h->len += n;
        h->body[h->len] = '\0';
        return n;
}

static int http_init(struct http *h, int port) {
        snprintf(h->base, sizeof(h->base), "http://127.0.0.1:%d", port);
        if (!(h->curl = curl_easy_init()))
                return -ENOMEM;
        curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
        curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 10000L);
        return 0;
}

/* GET base+path; the parsed JSON answer, or NULL with why set. */
static cJSON *http_get(struct http *h, const char *path, char *why, size_t why_size) {
        char url[2048];
        long status = 0;
        CURLcode cc;
        cJSON *o;

        snprintf(url, sizeof(url), "%s%s", h->base, path);
        h->len = 0;
        h->body[0] = '\0';
        curl_easy_setopt(h->curl, CURLOPT_URL, url);
        if ((cc = curl_easy_perform(h->curl)) != CURLE_OK) {
                snprintf(why, why_size, "HTTP: %s", curl_easy_strerror(cc));
                return NULL;
        }
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || !(o = cJSON_Parse(h->body))) {
                snprintf(why, why_size, "HTTP %ld: %.60s", status, h->body);
                return NULL;
        }
        return o;
}

static int errcode_of(const cJSON *o) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "errcode");

        return cJSON_IsNumber(e) ? e->valueint : 0;
}

int http_fetch_token(struct http *h, char *token, size_t size, int64_t *expires_in_ms, char *why, size_t why_size) {
        char path[256];
        cJSON *o, *t, *e;
        int r = -1;

        snprintf(path, sizeof(path), "/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s",
                 CASCADE_APPID, CASCADE_SECRET);
        if (!(o = http_get(h, path, why, why_size)))
                return -1;
        t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
        e = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
        if (cJSON_IsString(t) && strlen(t->valuestring) < size && cJSON_IsNumber(e)) {
                snprintf(token, size, "%s", t->valuestring);
                *expires_in_ms = (int64_t)e->valuedouble * 1000;
                r = 0;
        } else {
                snprintf(why, why_size, "/cgi-bin/token: errcode %d", errcode_of(o));
        }
        cJSON_Delete(o);
        return r;
}

/* The business call: 0 if WeChat took the token, its errcode if not, -1 (why set) for anything else. */
static int business_call(struct http *h, const char *token, char *why, size_t why_size) {
        char path[64 + 1024];
        cJSON *o;
        int code;

        /* Tokens are [A-Za-z0-9_-]: nothing to escape in a query. */
        snprintf(path, sizeof(path), "/cgi-bin/getcallbackip?access_token=%s", token);
        if (!(o = http_get(h, path, why, why_size)))
                return -1;
        code = errcode_of(o);
        if (code == 0 && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "ip_list")))
                code = -1;
        if (code != 0 && code != 40001 && code != 42001)
                snprintf(why, why_size, "getcallbackip: errcode %d", code);
        cJSON_Delete(o);
        return code;
}

/*
 * Count one business call started at start and answered at end. Near the outside
 * rotation a failure sends the worker back to "not yet back"; its first success
 * (started after the rotation) after that is when it had a working token again.
 */
static void record(struct worker_result *res, int code, uint64_t start, uint64_t end, const char *why) {
        int64_t t0 = atomic_load(&shared->t0_ns), rot = atomic_load(&shared->rot_ns);
        bool refused = code == 40001 || code == 42001;

        if (!t0 || (int64_t)start < t0)
                return;
        res->calls++;
        if (code == 0)
                res->ok++;
        else if (code == 40001)
                res->e40001++;
        else if (code == 42001)
                res->e42001++;
        else {
                res->other++;
                note(res, why);
        }
        if (!rot)
                return;
        if (refused && (int64_t)end >= rot && (int64_t)end < rot + cascade_window_ms(opts) * 1000000) {
                res->errors_near++;
                res->back_ns = 0;
        } else if (code == 0 && (int64_t)start >= rot && res->back_ns == 0) {
                res->back_ns = (int64_t)end;
        }
}

static long pause_ms(uint64_t *rng) {
        uint64_t x = *rng;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *rng = x;
        return opts->pause_min_ms + (long)(x % (uint64_t)(opts->pause_max_ms - opts->pause_min_ms + 1));
}

/*
 * Get the token, call, and on 40001/42001 do what the set-up does, then retry at once
 * (once: a second refusal in a row waits for the next turn), as SDKs retry a call.
 */
int worker_main(const struct worker_env *env, struct cascade_shared *sh) {
        struct worker_result *res = &sh->w[env->index];
        uint64_t rng = 0x9e3779b97f4a7c15u * (uint64_t)(env->index + 1);
        char token[1024], why[120];
        bool retried = false, readied = false;
        struct source *src;
        struct http h;

        shared = sh;
        opts = env->opts;
        if (http_init(&h, env->emu_port) < 0) {
                note(res, "curl_easy_init failed");
                return 1;
        }
        if (!(src = source_open(env, &h, res, why, sizeof(why)))) {
                note(res, why);
                return 1;
        }
        /* Spread the first calls over one pause, as processes of a real service start apart. */
        cascade_sleep_ms(pause_ms(&rng));
        while (!atomic_load(&sh->stop)) {
                uint64_t start = cascade_now_ns();
                int code;

                if (source_get(src, token, sizeof(token), why, sizeof(why)) < 0) {
                        /* The source counted it; no business call was made. */
                        note(res, why);
                        cascade_sleep_ms(pause_ms(&rng));
                        continue;
                }
                code = business_call(&h, token, why, sizeof(why));
                record(res, code, start, cascade_now_ns(), why);
                if (!readied) {
                        readied = true;
                        atomic_fetch_add(&sh->ready, 1);
                }
                if (code == 40001 || code == 42001) {
                        if (source_failed(src, why, sizeof(why)) < 0)
                                note(res, why);
                        if (!retried) {
                                retried = true;
                                continue;
                        }
                }
                retried = false;
                cascade_sleep_ms(pause_ms(&rng));
        }
        source_close(src);
        curl_easy_cleanup(h.curl);
        return 0;
}
