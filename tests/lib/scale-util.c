/* scale-util.c: thousands of apps on one agent, for test-agent-scale and bench-scale: wxemu, config, counts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "scale-util.h"

long long scale_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void scale_emu_start(struct emu_proc *emu, int apps, int latency_ms, const char *const *extra) {
        size_t n_extra = 0, n = 0;
        const char **args;
        char (*specs)[48], latency[16];

        while (extra && extra[n_extra])
                n_extra++;
        args = calloc(2 * (size_t)apps + n_extra + 3, sizeof(*args));
        specs = calloc((size_t)apps, sizeof(*specs));
        SETUP_OK(args && specs, "out of memory");
        for (int i = 0; i < apps; i++) {
                snprintf(specs[i], sizeof(specs[i]), SCALE_APPID_FMT ":Scale-Secret-%05d", i, i);
                args[n++] = "--app";
                args[n++] = specs[i];
        }
        snprintf(latency, sizeof(latency), "%d", latency_ms);
        args[n++] = "--latency-ms";
        args[n++] = latency;
        for (size_t i = 0; i < n_extra; i++)
                args[n++] = extra[i];
        args[n] = NULL;
        emu_start(emu, args);
        free(args);
        free(specs);
}

void scale_write_config(struct agent_proc *a, int apps, int port, const char *agent_extra) {
        size_t size = (size_t)apps * 200 + 1, len = 0;
        char *conf = malloc(size);

        SETUP_OK(conf, "out of memory");
        conf[0] = '\0';
        for (int i = 0; i < apps; i++) {
                char name[16], secret[32];

                snprintf(name, sizeof(name), SCALE_NAME_FMT, i);
                snprintf(secret, sizeof(secret), "Scale-Secret-%05d", i);
                len += (size_t)snprintf(conf + len, size - len,
                                        "[app %s]\nkind = token\nappid = " SCALE_APPID_FMT
                                        "\nsecret_file = %s.secret\napi_base = http://127.0.0.1:%d\n\n",
                                        name, i, name, port);
                SETUP_OK(len < size, "config buffer");
                agent_secret_file(a, name, secret);
        }
        agent_write_config(a, agent_extra, conf);
        free(conf);
}

bool scale_wait_all_fresh(struct agent_proc *a, int apps, int max_ms) {
        char what[64];

        snprintf(what, sizeof(what), "STATUS=%d of %d apps fresh", apps, apps);
        return agent_wait_notify(a, what, max_ms);
}

int scale_count_fresh(int apps) {
        char buf[WXSHM_TOKEN_MAX + 1], name[16];
        wxshm_info info;
        int fresh = 0;

        for (int i = 0; i < apps; i++) {
                snprintf(name, sizeof(name), SCALE_NAME_FMT, i);
                if (agent_read(name, buf, sizeof(buf), &info) > 0 && info.generation >= 1)
                        fresh++;
        }
        return fresh;
}

bool scale_emu_calls(struct emu_proc *emu, struct scale_calls *c) {
        struct http_res r;
        const cJSON *apps, *o;

        *c = (struct scale_calls){ 0 };
        http_call(emu, "GET", "/emu/stats", NULL, 30000, &r);
        apps = r.json ? cJSON_GetObjectItemCaseSensitive(r.json, "apps") : NULL;
        /* One walk over the object: a lookup by name per app would be quadratic. */
        cJSON_ArrayForEach(o, apps) {
                int n = json_int(o, "token_calls", -1);

                c->apps++;
                c->calls += n > 0 ? n : 0;
                c->once += n == 1;
        }
        http_res_free(&r);
        return apps != NULL;
}

int scale_log_warnings(struct agent_proc *a) {
        /* wxemu speaks http://: the start's one warning about that is the test's doing. */
        return agent_log_count(a, "wxtokend: warning: ") + agent_log_count(a, "wxtokend: error: ") -
               agent_log_count(a, "wxtokend: warning: allow_plain_http = yes");
}

char *scale_ctl_output(const char *args, int *status) {
        const char *bin = getenv("WXTOKENCTL") ? getenv("WXTOKENCTL") : "./tools/wxtokenctl";
        char cmd[600], *out = NULL;
        size_t len = 0, size = 0;
        FILE *p;
        int rc;

        snprintf(cmd, sizeof(cmd), "%s %s", bin, args);
        p = popen(cmd, "r");
        SETUP_OK(p, "%s: %m", cmd);
        for (;;) {
                if (len + 65536 > size) {
                        char *more = realloc(out, size = size ? 2 * size : 1 << 20);

                        SETUP_OK(more, "out of memory");
                        out = more;
                }
                size_t got = fread(out + len, 1, size - len - 1, p);

                if (got == 0)
                        break;
                len += got;
        }
        rc = pclose(p);
        *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        out[len] = '\0';
        return out;
}

int scale_status_entries(int *status) {
        char *out = scale_ctl_output("status --json", status);
        cJSON *o = cJSON_Parse(out), *apps = o ? cJSON_GetObjectItemCaseSensitive(o, "apps") : NULL;
        int n = cJSON_IsArray(apps) ? cJSON_GetArraySize(apps) : -1;

        cJSON_Delete(o);
        free(out);
        return n;
}
