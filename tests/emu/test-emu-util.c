/* test-emu-util.c: what test-emu needs around wxemu: a child process, HTTP calls. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-emu-util.h"

#define MAX_PROCS 4

bool http_fresh_connect;
static struct emu_proc *procs[MAX_PROCS];
static CURL *curl;

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

static int port_read(const char *path)
{
        FILE *f = fopen(path, "re");
        int port = -1;

        if (!f)
                return -1;
        if (fscanf(f, "%d", &port) != 1)
                port = -1;
        fclose(f);
        return port;
}

static void proc_exec(const char *bin, const char *const *argv, const char *err_file,
                      pid_t parent)
{
        int fd;

        /* Never outlive the test, even if it is killed before its cleanup runs. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(127);
        fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                _exit(127);
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
                dup2(fd, STDIN_FILENO);
                dup2(fd, STDOUT_FILENO);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
}

/* The test cannot run here: "SKIP: " and the first line of path, then automake's skip (77). */
static _Noreturn void skip_with_file(const char *path)
{
        char line[512] = "";
        FILE *f = fopen(path, "re");

        if (f && !fgets(line, sizeof(line), f))
                line[0] = '\0';
        if (f)
                fclose(f);
        printf("SKIP: %s%s", line, strchr(line, '\n') ? "" : "\n");
        fflush(stdout);
        exit(EXIT_SKIP);
}

void proc_start(struct emu_proc *p, const char *bin, const char *const *args)
{
        const char **argv;
        pid_t parent = getpid();
        int n = 0, slot = -1, status;
        size_t n_args = 0;

        /* As many as given: test-agent-scale and bench-scale give wxemu thousands of apps. */
        while (args[n_args])
                n_args++;
        argv = calloc(n_args + 6, sizeof(*argv));
        SETUP_OK(argv, "out of memory");

        for (int i = 0; i < MAX_PROCS; i++)
                if (!procs[i]) {
                        slot = i;
                        break;
                }
        check_on_stop(proc_cleanup_all);
        memset(p, 0, sizeof(*p));
        strcpy(p->dir, "/tmp/test-emu.XXXXXX");
        SETUP_OK(slot >= 0, "more than %d emulators", MAX_PROCS);
        SETUP_OK(mkdtemp(p->dir), "mkdtemp: %m");
        snprintf(p->port_file, sizeof(p->port_file), "%s/port", p->dir);
        snprintf(p->err_file, sizeof(p->err_file), "%s/stderr", p->dir);
        argv[n++] = bin;
        for (; *args; args++)
                argv[n++] = *args;
        argv[n++] = "--port";
        argv[n++] = "0";
        argv[n++] = "--port-file";
        argv[n++] = p->port_file;
        argv[n] = NULL;
        procs[slot] = p;
        p->pid = fork();
        SETUP_OK(p->pid >= 0, "fork: %m");
        if (p->pid == 0)
                proc_exec(bin, argv, p->err_file, parent);
        free(argv);
        /* Readiness is the port file appearing; each wait is short and their number bounded
         * (generous for sanitizer builds), so a dead or stuck emulator fails setup fast. */
        for (int i = 0; i < 2000; i++) {
                if ((p->port = port_read(p->port_file)) > 0)
                        return;
                if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                        p->pid = 0;
                        /* 77: a wxemu built without libmicrohttpd (wxemu-missing.c); its stderr says what is missing. */
                        if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
                                skip_with_file(p->err_file);
                        SETUP_OK(false, "%s exited before listening (see its stderr above)", bin);
                }
                sleep_ms(10);
        }
        SETUP_OK(false, "%s wrote no port file in 20 s", bin);
}

int proc_stop(struct emu_proc *p)
{
        int status;

        if (p->pid <= 0)
                return -1;
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 1000; i++) {
                if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                        p->pid = 0;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
                sleep_ms(10);
        }
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        p->pid = 0;
        return -1;
}

void proc_cleanup_all(void)
{
        for (int i = 0; i < MAX_PROCS; i++) {
                struct emu_proc *p = procs[i];

                if (!p)
                        continue;
                if (p->pid > 0) {
                        kill(p->pid, SIGKILL);
                        waitpid(p->pid, NULL, 0);
                        p->pid = 0;
                }
                unlink(p->port_file);
                unlink(p->err_file);
                rmdir(p->dir);
                procs[i] = NULL;
        }
        if (curl)
                curl_easy_cleanup(curl);
        curl = NULL;
}

char *file_slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                return NULL;
        if (getdelim(&buf, &len, '\0', f) < 0) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

void http_forget(void)
{
        /* The handle's sockets are shared with the parent: cleanup would only close our copies. */
        if (curl)
                curl_easy_cleanup(curl);
        curl = NULL;
        for (int i = 0; i < MAX_PROCS; i++)
                procs[i] = NULL; /* never the child's to kill */
}

struct buf {
        char *data;
        size_t len;
};

static size_t http_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct buf *b = userdata;
        size_t n = size * nmemb;
        char *nd = realloc(b->data, b->len + n + 1);

        if (!nd)
                return 0;
        memcpy(nd + b->len, ptr, n);
        b->data = nd;
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

void http_call(struct emu_proc *p, const char *method, const char *path, const char *body,
               long timeout_ms, struct http_res *res)
{
        struct curl_slist *hdr = NULL;
        struct buf b = { NULL, 0 };
        char url[4096];

        if (!curl)
                curl = curl_easy_init();
        SETUP_OK(curl);
        /* One handle for the whole run: its connection cache gives keep-alive, as agents use. */
        curl_easy_reset(curl);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", p->port, path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, http_fresh_connect ? 1L : 0L);
        if (!strcmp(method, "POST")) {
                hdr = curl_slist_append(hdr, "Content-Type: application/json");
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
                curl_easy_setopt(curl, CURLOPT_POST, 1L);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        }
        memset(res, 0, sizeof(*res));
        res->cc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
        curl_slist_free_all(hdr);
        res->body = b.data;
        if (res->cc == CURLE_OK && b.data)
                res->json = cJSON_Parse(b.data);
}

void http_res_free(struct http_res *res)
{
        free(res->body);
        cJSON_Delete(res->json);
        memset(res, 0, sizeof(*res));
}

int json_int(const cJSON *o, const char *name, int dflt)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        return cJSON_IsNumber(v) ? v->valueint : dflt;
}

const char *json_str(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* printf into one of a few rotating buffers, so calls can nest in arguments. */
const char *fmt(const char *f, ...)
{
        static char bufs[8][2048];
        static int next;
        char *b = bufs[next++ % 8];
        va_list ap;

        va_start(ap, f);
        vsnprintf(b, sizeof(bufs[0]), f, ap);
        va_end(ap);
        return b;
}

/* The call's errcode: 0 for a JSON answer without one, NOT_JSON - status otherwise. */
int call(struct emu_proc *p, const char *method, const char *path, const char *body)
{
        struct http_res r;
        int e;

        http_call(p, method, path, body, 5000, &r);
        e = r.json ? json_int(r.json, "errcode", 0) : NOT_JSON - (int)r.status;
        http_res_free(&r);
        return e;
}

/* Fetches field ("access_token" or "ticket") from an answer; NULL (and a failure) if none. */
char *fetch(struct emu_proc *p, const char *method, const char *path, const char *body,
                   const char *field, int *expires_in)
{
        struct http_res r;
        const char *v;
        char *out = NULL;

        http_call(p, method, path, body, 5000, &r);
        v = r.json ? json_str(r.json, field) : NULL;
        CHECK(v, "%s %s answered %s", method, path, r.body ? r.body : "(nothing)");
        if (v)
                out = strdup(v);
        if (expires_in)
                *expires_in = r.json ? json_int(r.json, "expires_in", -1) : -1;
        http_res_free(&r);
        return out;
}

char *token(struct emu_proc *p, const char *app, const char *secret)
{
        return fetch(p, "GET", fmt("/cgi-bin/token?grant_type=client_credential&appid=%s"
                                   "&secret=%s", app, secret), NULL, "access_token", NULL);
}

char *stable(struct emu_proc *p, const char *app, const char *secret, bool force,
                    int *expires_in)
{
        return fetch(p, "POST", "/cgi-bin/stable_token",
                     fmt("{\"grant_type\":\"client_credential\",\"appid\":\"%s\",\"secret\":"
                         "\"%s\",\"force_refresh\":%s}", app, secret, force ? "true" : "false"),
                     "access_token", expires_in);
}

int callback(struct emu_proc *p, const char *tok)
{
        return call(p, "GET", fmt("/cgi-bin/getcallbackip?access_token=%s", tok), NULL);
}

int control(struct emu_proc *p, const char *path)
{
        struct http_res r;
        long status;

        http_call(p, "POST", path, NULL, 5000, &r);
        status = r.status;
        CHECK(r.cc == CURLE_OK && status == 200, "POST %s: %ld %s", path, status,
              r.body ? r.body : "");
        http_res_free(&r);
        return (int)status;
}

bool same(const char *a, const char *b)
{
        return a && b && !strcmp(a, b);
}
