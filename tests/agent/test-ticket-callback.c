/* test-ticket-callback.c: doc/recipes/component-callback.js between wxemu's encrypted pushes and the real agent: only signed pushes for this component (or WeCom suite) reach it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"

#define COMP "wxcomp0007"
#define OTHER "wxcomp0008" /* another platform's component: same token and key here, another appid */
#define CSECRET "Cmp-Secret-5c2e8a1f9b3d"
#define SUITE "wwsuite0007"
#define SSECRET "Suite-Secret-2d8f4a6c1e"
#define CORP "wwc00000001"
#define PUSH_TOKEN "CbToken7Q2"
#define AES_KEY "q8Wm3ZkT1vXc9RbN5yLp0JdF7gHs2KaE4uIo6tYwQxC" /* 43 letters and digits */

static struct emu_proc emu;
static struct agent_proc a;
static struct emu_proc recipe; /* only its port: http_call speaks to it like to wxemu */
static pid_t recipe_pid;
static struct emu_proc suite_recipe; /* the same recipe run for the WeCom suite */
static pid_t suite_recipe_pid;

static void recipe_stop(void) {
        pid_t *pids[] = { &recipe_pid, &suite_recipe_pid };

        for (int i = 0; i < 2; i++)
                if (*pids[i] > 0) {
                        kill(*pids[i], SIGTERM);
                        waitpid(*pids[i], NULL, 0);
                        *pids[i] = 0;
                }
}

/* node on the recipe for receiver (a component_appid or a SuiteId) and the agent's app; its port from its first line. */
static void recipe_run(struct emu_proc *r, pid_t *pid, const char *receiver, const char *app) {
        const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
        char path[1024], line[128] = "";
        int fds[2];
        FILE *f;

        snprintf(path, sizeof(path), "%s/doc/recipes/component-callback.js", top);
        SETUP_OK(pipe(fds) == 0);
        *pid = fork();
        SETUP_OK(*pid >= 0);
        if (*pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                close(fds[0]);
                close(fds[1]);
                setenv("WX_TOKEN", PUSH_TOKEN, 1);
                setenv("WX_AES_KEY", AES_KEY, 1);
                setenv("WX_COMPONENT_APPID", receiver, 1);
                setenv("WXTOKEND_APP", app, 1);
                setenv("WXTOKEND_SOCKET", a.socket, 1);
                setenv("PORT", "0", 1);
                execlp("node", "node", path, (char *)NULL);
                _exit(127);
        }
        close(fds[1]);
        f = fdopen(fds[0], "r");
        SETUP_OK(f && fgets(line, sizeof(line), f) && sscanf(line, "listening on %d", &r->port) == 1,
                 "the recipe says where it listens: '%s'", line);
        fclose(f);
}

static void recipe_start(void) {
        atexit(recipe_stop);
        recipe_run(&recipe, &recipe_pid, COMP, "plat");
        recipe_run(&suite_recipe, &suite_recipe_pid, SUITE, "crm");
}

struct push {
        char *query, *body;
        long long create_time;
};

static void push_free(struct push *p) {
        free(p->query);
        free(p->body);
        *p = (struct push){ 0 };
}

/* An encrypted push of a new ticket for owner as wxemu builds it: query and body (malloc'd), create time. */
static long long make_push(const char *owner, char **query, char **body) {
        struct http_res res;
        char path[96];
        long long t;

        snprintf(path, sizeof(path), "/emu/push_message?component=%s", owner);
        http_call(&emu, "POST", path, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "query") && json_str(res.json, "body"), "push_message: %s", res.body);
        *query = strdup(json_str(res.json, "query"));
        *body = strdup(json_str(res.json, "body"));
        t = json_int(res.json, "create_time", -1);
        http_res_free(&res);
        return t;
}

/* POST body to recipe r at ?query: the HTTP status, the answer in out. */
static long deliver_to(struct emu_proc *r, const char *query, const char *body, char *out, size_t size) {
        struct http_res res;
        char path[512];
        long status;

        snprintf(path, sizeof(path), "/?%s", query);
        http_fresh_connect = true;
        http_call(r, "POST", path, body, 10000, &res);
        snprintf(out, size, "%s", res.body ? res.body : "");
        status = res.status;
        http_res_free(&res);
        return status;
}

static long deliver(const char *query, const char *body, char *out, size_t size) {
        return deliver_to(&recipe, query, body, out, size);
}

/* The ticket create time the agent holds for plat (-1 if none). */
static long long held_create_time(void) {
        char raw[16384];
        cJSON *o = agent_request(&a, "{\"op\":\"status\",\"app\":\"plat\"}\n", raw, sizeof(raw));
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"), 0);
        long long t = json_int(cJSON_GetObjectItemCaseSensitive(e, "component"), "ticket_create_time", -1);

        cJSON_Delete(o);
        return t;
}

/* wxemu's sealed push at path (a ticket, an authorization event), as WeChat or WeCom posts it. */
static struct push sealed_push(const char *path) {
        struct push p = { 0 };
        struct http_res res;

        http_call(&emu, "POST", path, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "query") && json_str(res.json, "body"), "%s: %s", path, res.body);
        p.query = strdup(json_str(res.json, "query"));
        p.body = strdup(json_str(res.json, "body"));
        p.create_time = json_int(res.json, "create_time", -1);
        http_res_free(&res);
        return p;
}

/* wxemu's authorization change notice for appid (event: authorized, unauthorized), as WeChat posts it. */
static struct push event_push(const char *event, const char *appid) {
        struct push p = { 0 };
        struct http_res res;
        char path[160];

        snprintf(path, sizeof(path), "/emu/push_message?component=" COMP "&event=%s&authorizer=%s", event, appid);
        http_call(&emu, "POST", path, NULL, 5000, &res);
        SETUP_OK(json_str(res.json, "query") && json_str(res.json, "body"), "push_message %s: %s", event, res.body);
        p.query = strdup(json_str(res.json, "query"));
        p.body = strdup(json_str(res.json, "body"));
        http_res_free(&res);
        return p;
}

/*
 * The authorization events: "authorized" (its AuthorizationCode) onboards the account (the
 * agent asks api_query_auth and publishes it before the recipe says success);
 * "unauthorized" removes it; the same cancel again is done already (success).
 */
static void test_events(void) {
        char out[256], buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        struct push on = event_push("authorized", "wxa00000001"), off;
        long st = deliver(on.query, on.body, out, sizeof(out));

        CHECK(st == 200 && !strcmp(out, "success"), "an authorized event is taken: %ld %s", st, out);
        CHECK(agent_read("plat.wxa00000001", buf, sizeof(buf), &info) > 0, "the account is published when it is");
        st = deliver(on.query, on.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success") && agent_log_count(&a, "61009") >= 1,
              "the same event again (a used code): done, not pushed again: %ld %s", st, out);
        off = event_push("unauthorized", "wxa00000001");
        st = deliver(off.query, off.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success"), "an unauthorized event is taken: %ld %s", st, out);
        CHECK(agent_read("plat.wxa00000001", buf, sizeof(buf), &info) < 0, "the account's segment is gone");
        st = deliver(off.query, off.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success"), "the cancel again is done already: %ld %s", st, out);
        push_free(&on);
        push_free(&off);
}

/*
 * The same recipe as a WeCom suite's instruction callback: its suite_ticket (by TimeStamp),
 * create_auth (an AuthCode and no corp: the agent asks get_permanent_code, the corp is
 * published before "success"; the same code again is done), cancel_auth (the corp removed;
 * again: done).
 */
static void test_suite(void) {
        char out[256], buf[WXSHM_TOKEN_MAX + 1], raw[16384];
        wxshm_info info = { .size = sizeof(info) };
        struct push t = sealed_push("/emu/push_message?suite=" SUITE), on, off;
        long st = deliver_to(&suite_recipe, t.query, t.body, out, sizeof(out));
        cJSON *o;

        CHECK(st == 200 && !strcmp(out, "success"), "a suite_ticket push is taken: %ld %s", st, out);
        o = agent_request(&a, "{\"op\":\"status\",\"app\":\"crm\"}\n", raw, sizeof(raw));
        CHECK(json_int(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "apps"),
                                                                           0), "component"), "ticket_create_time", -1) ==
              t.create_time, "the agent holds the suite_ticket by its TimeStamp %lld: %s", t.create_time, raw);
        cJSON_Delete(o);
        CHECK(agent_wait_generation("crm", 1, 20000), "and the suite's token is fetched with it");
        st = deliver(t.query, t.body, out, sizeof(out));
        CHECK(st == 403, "the component's recipe refuses the suite's push (another receiver): %ld %s", st, out);

        on = sealed_push("/emu/push_message?suite=" SUITE "&event=create_auth&corp=" CORP);
        st = deliver_to(&suite_recipe, on.query, on.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success"), "a create_auth event is taken: %ld %s", st, out);
        CHECK(agent_read("crm." CORP, buf, sizeof(buf), &info) > 0, "the corp it names is published when it is");
        st = deliver_to(&suite_recipe, on.query, on.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success") && agent_log_count(&a, "40078") >= 1,
              "the same event again (a used auth code): done, not pushed again: %ld %s", st, out);
        off = sealed_push("/emu/push_message?suite=" SUITE "&event=cancel_auth&corp=" CORP);
        st = deliver_to(&suite_recipe, off.query, off.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success"), "a cancel_auth event is taken: %ld %s", st, out);
        CHECK(agent_read("crm." CORP, buf, sizeof(buf), &info) < 0, "the corp's segment is gone");
        st = deliver_to(&suite_recipe, off.query, off.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success"), "the cancel again is done already: %ld %s", st, out);
        push_free(&t);
        push_free(&on);
        push_free(&off);
}

static struct push new_push(const char *owner) {
        struct push p;

        p.create_time = make_push(owner, &p.query, &p.body);
        return p;
}

static char *slurp(const char *rel) {
        const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
        char path[1024], *buf = NULL;
        size_t n = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", top, rel);
        f = fopen(path, "r");
        SETUP_OK(f, "open %s: %s", path, strerror(errno));
        SETUP_OK(getdelim(&buf, &n, '\0', f) > 0, "read %s", path);
        fclose(f);
        return buf;
}

/* Every line of the README's excerpt ("Its heart:") is a line of the recipe this test runs. */
static void readme_excerpt_matches(void) {
        char *readme = slurp("README.md"), *code = slurp("doc/recipes/component-callback.js");
        char *at = strstr(readme, "Its heart:"), *line, *end;
        int lines = 0, missing = 0;

        at = at ? strstr(at, "```js\n") : NULL;
        SETUP_OK(at, "README.md has the recipe's excerpt");
        for (line = at + 6; (end = strchr(line, '\n')) && strncmp(line, "```", 3); line = end + 1) {
                *end = '\0';
                lines++;
                if (!strstr(code, line)) {
                        missing++;
                        fprintf(stderr, "README line not in the recipe: %s\n", line);
                }
        }
        CHECK(lines >= 5 && missing == 0, "README's excerpt (%d lines) is the recipe's own code", lines);
        free(readme);
        free(code);
}

static void advance_wechat_clock(void) {
        struct http_res res;

        /* A push within the same second would not be newer: WeChat's clock moves 2 s. */
        http_call(&emu, "POST", "/emu/advance?s=2", NULL, 5000, &res);
        http_res_free(&res);
}

int main(void) {
        static const char *const args[] = { "--component", COMP ":" CSECRET, "--component", OTHER ":Other-Secret-1",
                                            "--push-token", PUSH_TOKEN, "--push-aes-key", AES_KEY, "--authorizers", "2",
                                            "--suite", SUITE ":" SSECRET, "--corps", "1", NULL };
        char apps[2048], out[256], *bad;
        struct push p1, p2, p3, other, late;
        long st;

        if (system("command -v node >/dev/null 2>&1") != 0) {
                printf("SKIP: no node: the recipe is JavaScript\n");
                return 77;
        }
        readme_excerpt_matches();
        emu_start(&emu, args);
        agent_init(&a);
        snprintf(apps, sizeof(apps),
                 "[app plat]\nkind = component\nappid = " COMP "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n\n"
                 "[app crm]\nkind = suite\nappid = " SUITE "\nsecret_file = %s\napi_base = http://127.0.0.1:%d\n",
                 agent_secret_file(&a, "plat", CSECRET), emu.port, agent_secret_file(&a, "crm", SSECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\n", apps);
        agent_start(&a);
        recipe_start();

        p1 = new_push(COMP);
        /* A wrong signature: one hex digit of msg_signature changed. */
        bad = strdup(p1.query);
        bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
        st = deliver(bad, p1.body, out, sizeof(out));
        CHECK(st == 403 && strcmp(out, "success"), "a push with a wrong msg_signature is refused: %ld %s", st, out);
        free(bad);
        CHECK(held_create_time() == -1, "and nothing reached the agent (ticket time %lld)", held_create_time());
        /* The body changed under a right signature: the signature covers Encrypt. */
        st = deliver(p1.query, "<xml><AppId><![CDATA[" COMP "]]></AppId><Encrypt><![CDATA[AAAA]]></Encrypt></xml>",
                     out, sizeof(out));
        CHECK(st == 403, "a push whose Encrypt is not the signed one is refused: %ld %s", st, out);

        st = deliver(p1.query, p1.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success"), "the signed push is answered success: %ld %s", st, out);
        CHECK(held_create_time() == p1.create_time, "the agent holds its ticket (create time %lld, pushed %lld)",
              held_create_time(), p1.create_time);
        CHECK(agent_wait_generation("plat", 1, 20000), "and the component token is fetched with it");

        /* Signed with the same token and key, for another component: decrypts, names another appid. */
        advance_wechat_clock();
        other = new_push(OTHER);
        st = deliver(other.query, other.body, out, sizeof(out));
        CHECK(st == 403, "a push for another component_appid is refused: %ld %s", st, out);
        CHECK(held_create_time() == p1.create_time, "the agent's ticket is unchanged: %lld", held_create_time());

        /* Out of order: the newer push first, then the older; the agent keeps the newer. */
        advance_wechat_clock();
        p2 = new_push(COMP);
        advance_wechat_clock();
        p3 = new_push(COMP);
        CHECK(p2.create_time > p1.create_time && p3.create_time > p2.create_time, "pushes %lld < %lld < %lld",
              p1.create_time, p2.create_time, p3.create_time);
        st = deliver(p3.query, p3.body, out, sizeof(out));
        CHECK(st == 200 && held_create_time() == p3.create_time, "the newest push is taken: %ld, held %lld", st,
              held_create_time());
        st = deliver(p2.query, p2.body, out, sizeof(out));
        CHECK(st == 200 && !strcmp(out, "success") && held_create_time() == p3.create_time,
              "an older push arriving late is answered success and ignored: %ld %s, held %lld", st, out,
              held_create_time());

        test_events();
        test_suite();

        /* The agent gone: no "success", so WeChat pushes again. */
        agent_stop(&a);
        advance_wechat_clock();
        late = new_push(COMP);
        st = deliver(late.query, late.body, out, sizeof(out));
        CHECK(st == 503 && strcmp(out, "success"), "with the agent down the push is not acknowledged: %ld %s", st, out);
        recipe_stop();
        printf("the recipe refused a wrong signature, a changed body and another appid's push, forwarded the "
               "signed ones (the agent kept the newest when an older came late), and did not acknowledge with the "
               "agent down\n");
        push_free(&p1), push_free(&p2), push_free(&p3), push_free(&other), push_free(&late);
        return harness_finish(&a);
}
