/* test-config.c: config_load's defaults, every key, every error message, secret handling, equality. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "secret.h"
#include "test-util.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SECRET2 "fedcba9876543210fedcba9876543210"

static char dir[64];
static char conf_path[128];

/* The directory is flat: its files, then itself. */
static void cleanup(void) {
        char path[400];
        struct dirent *e;
        DIR *d;

        if (!dir[0] || !(d = opendir(dir)))
                return;
        while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                        unlink(path);
                }
        }
        closedir(d);
        rmdir(dir);
}

/* Write dir/name with mode; returns the path (static, overwritten by the next call). */
static const char *write_file(const char *name, const char *content, mode_t mode) {
        static char path[128];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        SETUP_OK(fd >= 0);
        SETUP_OK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
        SETUP_OK(fchmod(fd, mode) == 0);
        SETUP_OK(close(fd) == 0);
        return path;
}

/* The config text, with every "@" replaced by the temporary directory. */
__attribute__((format(printf, 1, 2)))
static void write_conf(const char *fmt, ...) {
        char text[4096], out[8192], *o = out;
        const char *s;
        va_list ap;

        va_start(ap, fmt);
        SETUP_OK(vsnprintf(text, sizeof(text), fmt, ap) < (int)sizeof(text));
        va_end(ap);
        for (s = text; *s; s++) {
                if (*s == '@')
                        o += sprintf(o, "%s", dir);
                else
                        *o++ = *s;
        }
        *o = '\0';
        write_file("wxtokend.conf", out, 0644);
}

static struct agent_config *load_ok(void) {
        struct agent_config *c = NULL;
        char err[CONFIG_ERROR_MAX];
        int r = config_load(conf_path, &c, err, sizeof(err));

        REQUIRE(r == 0 && c, "config_load: %d: %s", r, r < 0 ? err : "");
        return c;
}

/* Loading fails with a message naming the file, line and key, and never the secret. */
static void load_err(unsigned line, const char *key) {
        struct agent_config *c = NULL;
        char err[CONFIG_ERROR_MAX], where[160];
        int r = config_load(conf_path, &c, err, sizeof(err));

        fprintf(stderr, "  expected error: %s\n", err);
        CHECK(r < 0);
        CHECK(!c);
        snprintf(where, sizeof(where), "%s:%u: ", conf_path, line);
        CHECK(strncmp(err, where, strlen(where)) == 0);
        CHECK(strstr(err, key));
        CHECK(!strstr(err, SECRET));
        CHECK(!strstr(err, SECRET2));
        CHECK(!strstr(err, "9a8b7c6d5e4f3021")); /* test_cluster_fleet_key's key */
        CHECK(!strchr(err, '\n'));
}

#define APP_OK "kind = token\nappid = wx1\nsecret_file = @/s600\n"

/* kind = component: its appid is the component_appid; its kind is named in messages and status. */
static void test_component(void) {
        struct agent_config *c;

        write_conf("[app plat]\nkind = component\nappid = wxc1\nsecret_file = @/s600\n");
        c = load_ok();
        CHECK(c->n_apps == 1 && c->apps[0].kind == APP_KIND_COMPONENT && !strcmp(c->apps[0].appid, "wxc1") &&
              c->apps[0].tickets == 0);
        CHECK(!strcmp(app_kind_name(c->apps[0].kind), "component"));
        CHECK(!strcmp(c->apps[0].api_base[0], "https://api.weixin.qq.com"));
        config_free(c);
}

/*
 * authorizer_tickets (component) and corp_tickets (suite): the tickets every account gets,
 * each kind's own types only, the key and its fix named; a reload that changes them
 * restarts the app (app_config_equal).
 */
static void test_account_tickets(void) {
        struct agent_config *c;
        struct app_config x;

        write_conf("[app plat]\nkind = component\nappid = wxc1\nsecret_file = @/s600\nauthorizer_tickets = jsapi, wx_card\n"
                   "[app crm]\nkind = suite\nappid = wws1\nsecret_file = @/s600\ncorp_tickets = agent_config jsapi\n");
        c = load_ok();
        REQUIRE(c->n_apps == 2, "%lld apps", (long long)c->n_apps);
        CHECK_EQ(c->apps[0].account_tickets, TICKET_JSAPI | TICKET_WX_CARD);
        CHECK_EQ(c->apps[1].account_tickets, TICKET_JSAPI | TICKET_AGENT_CONFIG);
        CHECK(c->apps[0].tickets == 0 && c->apps[1].tickets == 0);
        x = c->apps[0];
        x.account_tickets = TICKET_JSAPI;
        CHECK(!app_config_equal(&x, &c->apps[0]));
        config_free(c);
        write_conf("[app plat]\nkind = component\nappid = wxc1\nsecret_file = @/s600\nauthorizer_tickets = agent_config\n");
        load_err(5, "[app plat] authorizer_tickets: agent_config is WeCom's: an authorizer takes jsapi and wx_card");
        write_conf("[app crm]\nkind = suite\nappid = wws1\nsecret_file = @/s600\ncorp_tickets = jsapi, wx_card\n");
        load_err(5, "[app crm] corp_tickets: wx_card is not available for a WeCom corp: a corp takes jsapi and "
                 "agent_config");
        write_conf("[app crm]\nkind = suite\nappid = wws1\nsecret_file = @/s600\nauthorizer_tickets = jsapi\n");
        load_err(5, "[app crm] authorizer_tickets: only for kind component (its authorized accounts); a suite's corps "
                 "take corp_tickets");
        write_conf("[app plat]\nkind = component\nappid = wxc1\nsecret_file = @/s600\ncorp_tickets = jsapi\n");
        load_err(5, "[app plat] corp_tickets: only for kind suite (its corps); a component's accounts take "
                 "authorizer_tickets");
        write_conf("[app a]\n" APP_OK "authorizer_tickets = jsapi\n");
        load_err(5, "[app a] authorizer_tickets: only for kind component (its authorized accounts); an app's own "
                 "tickets are 'tickets'");
        write_conf("[app plat]\nkind = component\nappid = wxc1\nsecret_file = @/s600\nauthorizer_tickets = jsapi foo\n");
        load_err(5, "[app plat] authorizer_tickets: expected jsapi, wx_card or agent_config, got 'foo'");
        write_conf("[app plat]\nkind = component\nappid = wxc1\nsecret_file = @/s600\nauthorizer_tickets = jsapi\n"
                   "[cluster]\nredis = redis://127.0.0.1\n");
        load_err(2, "[app plat] kind: component with [cluster] needs fleet_key_file");
}

/* kind = suite (appid: the suite_id) and provider (appid: its corpid): WeCom's, so WeCom's API by default. */
static void test_wecom_provider_kinds(void) {
        struct agent_config *c;

        write_conf("[app suite1]\nkind = suite\nappid = wwsuite1\nsecret_file = @/s600\n\n"
                   "[app prov]\nkind = provider\nappid = wwprov1\nsecret_file = @/s600\n");
        c = load_ok();
        CHECK(c->n_apps == 2 && c->apps[0].kind == APP_KIND_SUITE && c->apps[1].kind == APP_KIND_PROVIDER);
        CHECK(!strcmp(app_kind_name(c->apps[0].kind), "suite") && !strcmp(app_kind_name(c->apps[1].kind), "provider"));
        CHECK(!strcmp(c->apps[0].api_base[0], "https://qyapi.weixin.qq.com") &&
              !strcmp(c->apps[1].api_base[0], "https://qyapi.weixin.qq.com"));
        config_free(c);
        /* Their tokens open no ticket API; a suite's ticket intake is one agent's. */
        write_conf("[app s]\nkind = suite\nappid = wws1\nsecret_file = @/s600\ntickets = jsapi\n");
        load_err(5, "[app s] tickets: kind suite has no tickets");
        write_conf("[app p]\nkind = provider\nappid = wwp1\nsecret_file = @/s600\ntickets = jsapi\n");
        load_err(5, "[app p] tickets: kind provider has no tickets");
        write_conf("[app s]\nkind = suite\nappid = wws1\nsecret_file = @/s600\n"
                   "[cluster]\nredis = redis://127.0.0.1\n");
        load_err(2, "[app s] kind: suite with [cluster] needs fleet_key_file in [cluster]: its corps' permanent "
                 "codes are shared through Redis sealed with the fleet key, never in clear");
        /* A provider's token is shared like a work app's: one lease, its record in Redis. */
        write_conf("[app p]\nkind = provider\nappid = wwp1\nsecret_file = @/s600\n"
                   "[cluster]\nredis = redis://127.0.0.1\n");
        c = load_ok();
        CHECK(c->n_apps == 1 && c->apps[0].kind == APP_KIND_PROVIDER && c->cluster.enabled);
        config_free(c);
        write_conf("[app s]\nkind = suites\nappid = wws1\nsecret_file = @/s600\n");
        load_err(2, "[app s] kind: expected token, stable, work, component, suite or provider, got 'suites'");
}

static void test_defaults(void) {
        struct agent_config *c;

        write_conf("; nothing but a comment\n");
        c = load_ok();
        CHECK(!strcmp(c->path, conf_path));
        CHECK(!strcmp(c->socket_path, "/run/wxtokend/wxtokend.sock"));
        CHECK(!c->socket_group);
        CHECK(!strcmp(c->state_dir, "/var/lib/wxtokend"));
        CHECK(!strcmp(c->shm_prefix, "wxshm"));
        CHECK_EQ(c->refresh_margin_ms, 300000);
        CHECK_EQ(c->backoff_min_ms, 1000);
        CHECK_EQ(c->backoff_max_ms, 300000);
        CHECK_EQ(c->min_force_interval_ms, 30000);
        CHECK_EQ(c->log_level, LOG_INFO);
        CHECK_EQ(c->n_apps, 0);
        config_free(c);

        /* Each kind's default api base and the agent's margin; indented keys are keys. */
        write_conf("[agent]\nrefresh_margin = 120\n[app a]\n" APP_OK
                   "[app b]\nkind = stable\nappid = wx2\n  secret_file = @/s400\n"
                   "[app c]\nkind = work\nappid = ww3\nsecret_file = @/s600\ntickets = agent_config, jsapi\n");
        c = load_ok();
        REQUIRE(c->n_apps == 3, "%lld apps", (long long)c->n_apps);
        CHECK_EQ(c->apps[2].tickets, TICKET_JSAPI | TICKET_AGENT_CONFIG);
        CHECK_EQ(c->apps[0].kind, APP_KIND_TOKEN);
        CHECK_EQ(c->apps[1].kind, APP_KIND_STABLE);
        CHECK_EQ(c->apps[2].kind, APP_KIND_WORK);
        CHECK_EQ(c->apps[0].n_api_base, 1);
        CHECK(!strcmp(c->apps[0].api_base[0], "https://api.weixin.qq.com"));
        CHECK(!strcmp(c->apps[1].api_base[0], "https://api.weixin.qq.com"));
        CHECK(!strcmp(c->apps[2].api_base[0], "https://qyapi.weixin.qq.com"));
        CHECK(!strcmp(c->apps[1].secret, SECRET2));
        CHECK(!strncmp(c->apps[1].secret_source, "secret_file /", 13));
        CHECK(strstr(c->apps[1].secret_source, "/s400"));
        CHECK_EQ(c->apps[0].refresh_margin_ms, 120000);
        CHECK_EQ(c->apps[0].gid, (gid_t)-1);
        CHECK(!c->apps[0].ca_file && !c->apps[0].group && c->apps[0].tickets == 0);
        CHECK_EQ(c->apps[0].line, 4);
        config_free(c);
}

static void test_every_key(void) {
        struct agent_config *c;
        const struct app_config *a;

        SETUP_OK(setenv("CREDENTIALS_DIRECTORY", dir, 1) == 0);
        write_conf("[agent]\nsocket = /tmp/x.sock\nsocket_group = root\nstate_dir = /tmp/st\n"
                   "shm_prefix = wxt_1\nrefresh_margin = 600\nbackoff_min = 2\nbackoff_max = 60\n"
                   "min_force_interval = 10\nlog_level = debug ; inline comment\n"
                   "min_token_lifetime = 30\nallow_plain_http = yes\nproxy = http://proxy.example:3128\n"
                   "\n[app shop]\nkind = stable\nappid = wx_abc-1\nsecret_credential = s600\n"
                   "api_base = https://a.example/ http://b.example:8080//  https://c https://d\n"
                   "ca_file = @/s400\ngroup = root\ntickets = jsapi, wx_card\nrefresh_margin = 90\n");
        c = load_ok();
        CHECK(!strcmp(c->socket_path, "/tmp/x.sock"));
        CHECK(!strcmp(c->socket_group, "root"));
        CHECK(!strcmp(c->state_dir, "/tmp/st"));
        CHECK(!strcmp(c->shm_prefix, "wxt_1"));
        CHECK_EQ(c->refresh_margin_ms, 600000);
        CHECK_EQ(c->backoff_min_ms, 2000);
        CHECK_EQ(c->backoff_max_ms, 60000);
        CHECK_EQ(c->min_force_interval_ms, 10000);
        CHECK_EQ(c->log_level, LOG_DEBUG);
        CHECK_EQ(c->min_token_lifetime_ms, 30000);
        CHECK(c->allow_plain_http);
        CHECK(!strcmp(c->proxy, "http://proxy.example:3128"));
        a = config_find_app(c, "shop");
        REQUIRE(a == &c->apps[0]);
        CHECK(!config_find_app(c, "shop2"));
        CHECK(!config_find_app(c, "sho"));
        CHECK(!strcmp(a->name, "shop"));
        CHECK(!strcmp(a->appid, "wx_abc-1"));
        CHECK(!strcmp(a->secret, SECRET));
        CHECK(!strcmp(a->secret_source, "secret_credential s600"));
        CHECK_EQ(a->n_api_base, 4);
        CHECK(!strcmp(a->api_base[0], "https://a.example"));
        CHECK(!strcmp(a->api_base[1], "http://b.example:8080"));
        CHECK(!strcmp(a->api_base[2], "https://c"));
        CHECK(!strcmp(a->api_base[3], "https://d"));
        CHECK(!strncmp(a->ca_file, dir, strlen(dir)) && !strcmp(a->ca_file + strlen(dir), "/s400"));
        CHECK(!strcmp(a->group, "root"));
        CHECK_EQ(a->gid, 0);
        CHECK_EQ(a->tickets, TICKET_JSAPI | TICKET_WX_CARD);
        CHECK_EQ(a->refresh_margin_ms, 90000);
        CHECK_EQ(a->line, 16);
        /* ca_file is read at load: libcurl gets the bytes, and opens no file from the loop. */
        CHECK(a->ca_pem && a->ca_len == strlen(SECRET2) && !strcmp(a->ca_pem, SECRET2));
        CHECK(!strcmp(app_kind_name(a->kind), "stable"));
        CHECK(!strcmp(app_kind_name(APP_KIND_TOKEN), "token"));
        CHECK(!strcmp(app_kind_name(APP_KIND_WORK), "work"));
        config_free(c);

        /* The log levels, and the secret file's trailing CRLF is not part of the secret. */
        write_conf("[agent]\nlog_level = error\n[app a]\nkind = token\nappid = a\nsecret_file = @/crlf\n");
        c = load_ok();
        CHECK_EQ(c->log_level, LOG_ERR);
        CHECK(!strcmp(c->apps[0].secret, SECRET));
        config_free(c);
        SETUP_OK(unsetenv("CREDENTIALS_DIRECTORY") == 0);
}

static void test_errors(void) {
        char long_name[80];

        write_conf("[agent]\nsocket = /x\nfoo = 1\n");
        load_err(3, "] foo: unknown key");
        write_conf("[app a]\n" APP_OK "secret = " SECRET "\n");
        load_err(5, "secret: unknown key");
        write_conf("[agent]\n[mystery]\nx = 1\n");
        load_err(2, "[mystery] unknown section");
        write_conf("socket = /x\n");
        load_err(1, "socket: key outside any section");
        write_conf("[agent]\n[app shop]\nkind = tokn\nappid = wx1\nsecret_file = @/s600\n");
        load_err(3, "[app shop] kind: expected token, stable, work, component, suite or provider, got 'tokn'");
        write_conf("[agent]\nrefresh_margin = 5x\n");
        load_err(2, "[agent] refresh_margin: expected whole seconds");
        write_conf("[agent]\nbackoff_min = -1\n");
        load_err(2, "backoff_min: expected whole seconds");
        write_conf("[agent]\nbackoff_max = 0\n");
        load_err(2, "backoff_max: expected whole seconds");
        write_conf("[agent]\nmin_force_interval = 99999999999999999999999\n");
        load_err(2, "min_force_interval: expected whole seconds");
        write_conf("[app a]\n" APP_OK "refresh_margin =\n");
        load_err(5, "refresh_margin: expected whole seconds");
        write_conf("[agent]\nlog_level = verbose\n");
        load_err(2, "log_level: expected error, warning");
        write_conf("[agent]\nbackoff_min = 600\n");
        load_err(2, "backoff_min: 600 s is more than backoff_max 300 s");
        write_conf("[agent]\nbackoff_max = 10\nbackoff_min = 11\n");
        load_err(3, "backoff_min");
        write_conf("[agent]\nshm_prefix = a/b\n");
        load_err(2, "shm_prefix: expected");
        write_conf("[agent]\nsocket_group = no-such-group-wxt\n");
        load_err(2, "socket_group: no such group 'no-such-group-wxt'");
        write_conf("[agent]\nsocket = /x\nsocket = /y\n");
        load_err(3, "socket: given twice (first on line 2)");
        write_conf("[agent]\n[agent]\n");
        load_err(2, "[agent] given twice");

        /* Missing keys have no line of their own: the section header's line. */
        write_conf("\n[app shop]\nappid = wx1\nsecret_file = @/s600\n");
        load_err(2, "[app shop] kind: missing");
        write_conf("[app shop]\nkind = token\nsecret_file = @/s600\n[agent]\n");
        load_err(1, "[app shop] appid: missing");
        write_conf("[app shop]\nkind = token\nappid = wx1\n");
        load_err(1, "secret_file: missing");
        write_conf("[app empty]\n");
        load_err(1, "[app empty] kind: missing");
        write_conf("[app a]\n" APP_OK "secret_credential = s600\n");
        load_err(5, "secret_credential: give either secret_file or secret_credential, not both");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_credential = ../s600\n");
        load_err(4, "secret_credential: expected a credential name without '/'");
        write_conf("[app a]\nkind = token\nappid = wx/1\nsecret_file = @/s600\n");
        load_err(3, "appid: expected [A-Za-z0-9_-]{1,64}, got 'wx/1'");

        /* Secret files: private, regular, present, not empty, not huge. */
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/s644\n");
        load_err(4, "secret_file ");
        load_err(4, "s644: accessible by group or others (mode 0644)");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/s640\n");
        load_err(4, "s640: accessible by group or others (mode 0640)");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/nonexistent\n");
        load_err(4, "nonexistent: cannot open");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/empty\n");
        load_err(4, "empty: empty");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/blank\n");
        load_err(4, "blank: empty");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/big\n");
        load_err(4, "big: longer than 256 bytes");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/inner\n");
        load_err(4, "inner: contains whitespace");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/link\n");
        load_err(4, "link: is a symlink");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @\n");
        load_err(4, "not a regular file");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_credential = s600\n");
        load_err(4, "secret_credential s600: $CREDENTIALS_DIRECTORY is not set");

        /* App names. */
        write_conf("[app sh.op]\n" APP_OK);
        load_err(1, "[app sh.op] app name: expected [A-Za-z0-9_-]{1,64}");
        /* The suffix after a dot is the agent's to add (tickets, accounts): never the config's. */
        write_conf("[app platform.wx0123456789abcdef]\n" APP_OK);
        load_err(1, "app name");
        memset(long_name, 'x', 64);
        long_name[64] = '\0';
        write_conf("[app %s]\n" APP_OK, long_name);
        {
                struct agent_config *c = load_ok();

                CHECK(c->n_apps == 1 && strlen(c->apps[0].name) == 64, "a 64-character app name");
                config_free(c);
        }
        write_conf("[app]\n" APP_OK);
        load_err(1, "unknown section");
        write_conf("[app a b]\n" APP_OK);
        load_err(1, "app name");
        memset(long_name, 'x', 65);
        long_name[65] = '\0';
        write_conf("[app %s]\n" APP_OK, long_name);
        load_err(1, "app name");
        write_conf("[app a]\n" APP_OK "\n[app   a ]\n" APP_OK);
        load_err(6, "[app a] app defined twice");
        write_conf("[app a]\n" APP_OK "[app b]\n" APP_OK);
        load_err(7, "[app b] appid: same kind, appid as [app a]");
        write_conf("[app a]\nkind = work\nappid = ww1\nsecret_file = @/s600\n"
                   "[app b]\nkind = work\nappid = ww1\nsecret_file = @/crlf\n");
        load_err(7, "[app b] appid: same kind, appid and secret as [app a]");

        write_conf("[app a]\n" APP_OK "group = no-such-group-wxt\n");
        load_err(5, "[app a] group: no such group");
        write_conf("[app a]\nkind = work\nappid = ww1\nsecret_file = @/s600\ntickets = wx_card\n");
        load_err(5, "[app a] tickets: wx_card is not available for kind work");
        write_conf("[app a]\n" APP_OK "tickets = agent_config\n");
        load_err(5, "[app a] tickets: agent_config is WeCom's: only for kind work");
        /* A component takes no JS-SDK tickets, names the line, and agent_config's own rule does not hide it. */
        write_conf("[app c]\nkind = component\nappid = wxc1\nsecret_file = @/s600\ntickets = jsapi\n");
        load_err(5, "[app c] tickets: kind component has no tickets");
        write_conf("[app c]\nkind = component\nappid = wxc1\nsecret_file = @/s600\ntickets = agent_config\n");
        load_err(5, "[app c] tickets: kind component has no tickets");
        write_conf("[app c]\nkind = component\nappid = wxc1\nsecret_file = @/s600\n"
                   "[cluster]\nredis = redis://127.0.0.1\n");
        load_err(2, "[app c] kind: component with [cluster] needs fleet_key_file");
        write_conf("[app a]\n" APP_OK "tickets = jsapi foo\n");
        load_err(5, "tickets: expected jsapi, wx_card or agent_config, got 'foo'");
        write_conf("[app a]\n" APP_OK "api_base = ftp://x\n");
        load_err(5, "api_base: expected http://HOST or https://HOST, got 'ftp://x'");
        write_conf("[app a]\n" APP_OK "api_base = https://\n");
        load_err(5, "api_base: expected");
        write_conf("[app a]\n" APP_OK "api_base = http://1 http://2 http://3 http://4 http://5\n");
        load_err(5, "api_base: at most 4");
        write_conf("[app a]\n" APP_OK "ca_file = @/nonexistent\n");
        load_err(5, "ca_file: ");
        load_err(5, "nonexistent: cannot open: No such file");

        /* inih's syntax errors, at their line, also when they hide a key. */
        write_conf("[agent]\nsocket = /x\nthis line is wrong\n");
        load_err(3, "syntax error");
        write_conf("[app a]\nkind token\nappid = wx1\nsecret_file = @/s600\n");
        load_err(2, "syntax error");
        write_conf("[agent\nsocket = /x\n");
        load_err(1, "syntax error");
        write_conf("[agent]\nstate_dir = /%0250d\n", 0);
        load_err(2, "line longer than");
        /* Found by fuzz-config: a \r mid-line hid the length of what follows it. */
        write_conf("[agent]\nstate_dir = a\r%0250d\n", 0);
        load_err(2, "line longer than");
}

static void test_no_file(void) {
        struct agent_config *c = NULL;
        char err[CONFIG_ERROR_MAX], path[160];

        snprintf(path, sizeof(path), "%s/nonexistent.conf", dir);
        CHECK_EQ(config_load(path, &c, err, sizeof(err)), -ENOENT);
        CHECK(!c);
        CHECK(strstr(err, "nonexistent.conf: cannot open"));
        config_free(NULL);
}

static void test_secret_api(void) {
        char err[CONFIG_ERROR_MAX], *s = NULL, path[160];

        snprintf(path, sizeof(path), "%s/s400", dir);
        CHECK_EQ(secret_load_file(path, &s, err, sizeof(err)), 0);
        CHECK(s && !strcmp(s, SECRET2));
        free(s);
        s = NULL;
        snprintf(path, sizeof(path), "%s/s644", dir);
        CHECK_EQ(secret_load_file(path, &s, err, sizeof(err)), -EPERM);
        CHECK(!s);
        CHECK(strstr(err, path));
        SETUP_OK(unsetenv("CREDENTIALS_DIRECTORY") == 0);
        CHECK_EQ(secret_load_credential("s600", &s, err, sizeof(err)), -ENOENT);
        SETUP_OK(setenv("CREDENTIALS_DIRECTORY", dir, 1) == 0);
        CHECK_EQ(secret_load_credential("a/b", &s, err, sizeof(err)), -EINVAL);
        CHECK_EQ(secret_load_credential("s600", &s, err, sizeof(err)), 0);
        CHECK(s && !strcmp(s, SECRET));
        free(s);
        SETUP_OK(unsetenv("CREDENTIALS_DIRECTORY") == 0);
}

static void test_equal(void) {
        struct agent_config *c, *d;
        struct app_config a;

        write_conf("[app a]\n" APP_OK "tickets = jsapi\n[app b]\nkind = work\nappid = ww1\nsecret_file = @/s600\n");
        c = load_ok();
        /* Different lines, the same serving. */
        write_conf("\n\n[app b]\nkind = work\nappid = ww1\nsecret_file = @/s600\n[app a]\n" APP_OK "tickets = jsapi\n");
        d = load_ok();
        CHECK(c->apps[0].line != config_find_app(d, "a")->line);
        CHECK(app_config_equal(&c->apps[0], config_find_app(d, "a")));
        CHECK(app_config_equal(&c->apps[1], config_find_app(d, "b")));
        CHECK(!app_config_equal(&c->apps[0], &c->apps[1]));

        a = c->apps[0];
        a.kind = APP_KIND_STABLE;
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.secret = SECRET2;
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.appid = "wx2";
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.api_base[0] = "https://other";
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.api_base[1] = "https://other";
        a.n_api_base = 2;
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.ca_file = "/etc/ca.pem";
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.gid = 0;
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.tickets = 0;
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.refresh_margin_ms++;
        CHECK(!app_config_equal(&a, &c->apps[0]));
        a = c->apps[0];
        a.line = 999;
        CHECK(app_config_equal(&a, &c->apps[0]));
        config_free(c);
        config_free(d);
}

/* [cluster]: Redis as a URL or a socket path, the password from a private file, defaults. */
static void test_cluster(void) {
        struct agent_config *c;
        char host[256] = "";

        write_conf("[app a]\n" APP_OK);
        c = load_ok();
        CHECK(!c->cluster.enabled);
        config_free(c);

        write_conf("[cluster]\nredis = redis://10.0.0.7:6380/2\n");
        c = load_ok();
        CHECK(c->cluster.enabled);
        CHECK(!strcmp(c->cluster.host, "10.0.0.7"));
        CHECK_EQ(c->cluster.port, 6380);
        CHECK_EQ(c->cluster.db, 2);
        CHECK(!c->cluster.unix_path && !c->cluster.password);
        CHECK(!strcmp(c->cluster.key_prefix, "wxtokend"));
        CHECK_EQ(c->cluster.lease_ms, 10000);
        /* The node id defaults to the hostname, made safe for a key. */
        SETUP_OK(gethostname(host, sizeof(host) - 1) == 0);
        CHECK(c->cluster.node_id[0] && strlen(c->cluster.node_id) <= strlen(host));
        config_free(c);

        write_conf("[cluster]\nredis = redis://[::1]\npassword_file = @/s600\nkey_prefix = fleet-1\n"
                   "lease_ms = 2500\nnode_id = host-a\n");
        c = load_ok();
        CHECK(!strcmp(c->cluster.host, "::1"));
        CHECK_EQ(c->cluster.port, 6379);
        CHECK_EQ(c->cluster.db, 0);
        CHECK(!strcmp(c->cluster.password, SECRET));
        CHECK(!strcmp(c->cluster.key_prefix, "fleet-1") && !strcmp(c->cluster.node_id, "host-a"));
        CHECK_EQ(c->cluster.lease_ms, 2500);
        config_free(c);

        write_conf("[cluster]\nredis = /run/redis/redis.sock\n");
        c = load_ok();
        CHECK(!strcmp(c->cluster.unix_path, "/run/redis/redis.sock") && !c->cluster.host);
        config_free(c);

        write_conf("[cluster]\nkey_prefix = x\n");
        load_err(1, "[cluster] redis: missing");
        write_conf("[cluster]\nredis = http://r:6379\n");
        load_err(2, "redis: expected redis://HOST[:PORT][/DB]");
        /* Written as is: write_conf would take the '@' for the test directory. */
        write_file("wxtokend.conf", "[cluster]\nredis = redis://:" SECRET "@r:6379\n", 0644);
        load_err(2, "redis: no password in the URL: use password_file");
        write_file("wxtokend.conf", "[cluster]\nredis = rediss://:" SECRET "@r:6379\n", 0644);
        load_err(2, "redis: no password in the URL: use password_file");
        write_conf("[cluster]\nredis = redis://r:99999\n");
        load_err(2, "expected a port from 1 to 65535");
        write_conf("[cluster]\nredis = redis://r/x\n");
        load_err(2, "expected a database number");
        write_conf("[cluster]\nredis = redis://r\nlease_ms = 100\n");
        load_err(3, "lease_ms: expected milliseconds from 500");
        write_conf("[cluster]\nredis = redis://r\nnode_id = a.b\n");
        load_err(3, "node_id: expected [A-Za-z0-9_-]{1,64}");
        write_conf("[cluster]\nredis = redis://r\npassword_file = @/s644\n");
        load_err(3, "password_file");
        write_conf("[cluster]\nredis = redis://r\n[cluster]\nredis = redis://s\n");
        load_err(3, "[cluster] given twice");
        write_conf("[cluster]\nredis = redis://r\nsecret = x\n");
        load_err(3, "secret: unknown key");
}

/* min_token_lifetime, allow_plain_http and proxy: bounds, and values that are never echoed. */
static void test_new_keys(void) {
        struct agent_config *c;

        write_conf("[app a]\n" APP_OK);
        c = load_ok();
        CHECK_EQ(c->min_token_lifetime_ms, 60000);
        CHECK(!c->allow_plain_http && !c->proxy);
        config_free(c);

        /* http:// carries the secret in clear: refused, naming the key that allows it. */
        write_conf("[app a]\n" APP_OK "api_base = https://a http://b\n");
        load_err(5, "api_base: http:// sends the AppSecret in clear: use https://, or set allow_plain_http = yes");
        write_conf("[app a]\n" APP_OK "api_base = http://b\n[agent]\nallow_plain_http = no\n");
        load_err(5, "allow_plain_http = yes");
        write_conf("[app a]\n" APP_OK "api_base = http://b\n[agent]\nallow_plain_http = yes\n");
        c = load_ok();
        CHECK(c->allow_plain_http);
        config_free(c);
        write_conf("[agent]\nallow_plain_http = sometimes\n");
        load_err(2, "allow_plain_http: expected yes or no, got 'sometimes'");

        write_conf("[agent]\nmin_token_lifetime = 86401\n");
        load_err(2, "min_token_lifetime: 86401 s is more than a token may live (86400 s)");
        write_conf("[agent]\nmin_token_lifetime = 0\n");
        load_err(2, "min_token_lifetime: expected whole seconds");
        write_conf("[agent]\nmin_token_lifetime = 1\n");
        c = load_ok();
        CHECK_EQ(c->min_token_lifetime_ms, 1000);
        config_free(c);

        /* A proxy may carry a password: a bad one is refused without its value. */
        write_conf("[agent]\nproxy = ftp://u:" SECRET "@p\n");
        load_err(2, "proxy: expected a URL of http://");
        write_conf("[agent]\nproxy = " SECRET "\n");
        load_err(2, "(the value is not shown)");
        write_conf("[agent]\nproxy = socks5h://127.0.0.1:1080\n");
        c = load_ok();
        CHECK(!strcmp(c->proxy, "socks5h://127.0.0.1:1080"));
        config_free(c);

        /* metrics_listen: off by default, a bare port is loopback, an address only as given. */
        write_conf("[app a]\n" APP_OK);
        c = load_ok();
        CHECK(!c->metrics_listen);
        config_free(c);
#ifdef HAVE_MICROHTTPD
        write_conf("[agent]\nmetrics_listen = 9187\n");
        c = load_ok();
        CHECK(c->metrics_listen && !strcmp(c->metrics_listen, "127.0.0.1:9187"), "%s", c->metrics_listen);
        config_free(c);
        write_conf("[agent]\nmetrics_listen = [::1]:9187\n");
        c = load_ok();
        CHECK(c->metrics_listen && !strcmp(c->metrics_listen, "[::1]:9187"));
        config_free(c);
        write_conf("[agent]\nmetrics_listen = localhost:9187\n");
        load_err(2, "metrics_listen: expected PORT (on 127.0.0.1), IPv4:PORT or [IPv6]:PORT");
        write_conf("[agent]\nmetrics_listen = 127.0.0.1:70000\n");
        load_err(2, "metrics_listen: expected PORT");
#else
        write_conf("[agent]\nmetrics_listen = 9187\n");
        load_err(2, "metrics_listen: this wxtokend was built without libmicrohttpd");
#endif

        /* A secret pasted where its file belongs is never echoed (load_err checks SECRET is absent). */
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = " SECRET "\n");
        load_err(4, "secret_file: expected a path (the value is not shown");
        /* A relative secret_file is the config file's neighbour, not the current directory's. */
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = nosuch.secret\n");
        load_err(4, "/nosuch.secret: cannot open");
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_credential = " SECRET "\n");
        load_err(4, "secret_credential: the value is not shown");
        write_conf("[cluster]\nredis = redis://r\npassword_file = " SECRET "\n");
        load_err(3, "password_file: expected an absolute path (the value is not shown");

        /* Pasted into any other key, the secret is not echoed either (load_err checks it is absent). */
        write_conf("[app a]\nkind = " SECRET "\n");
        load_err(2, "kind: expected token, stable, work, component, suite or provider, got '***'");
        write_conf("[app a]\n" APP_OK "group = " SECRET "\n");
        load_err(5, "group: no such group '***'");
        write_conf("[app a]\n" APP_OK "tickets = jsapi," SECRET "\n");
        load_err(5, "tickets: expected jsapi, wx_card or agent_config, got '***'");
        write_conf("[app a]\n" APP_OK "api_base = https://a ftp://" SECRET "\n");
        load_err(5, "api_base: expected http://HOST or https://HOST, got 'ftp://***'");
        write_conf("[agent]\nlog_level = " SECRET "\n");
        load_err(2, "log_level: expected error, warning, notice, info or debug, got '***'");
        write_conf("[agent]\nbackoff_min = " SECRET "\n");
        load_err(2, "backoff_min: expected whole seconds");
        write_conf("[cluster]\nredis = redis://r\nkey_prefix = " SECRET ".x\n");
        load_err(3, "key_prefix: expected [A-Za-z0-9_-]{1,64}, got '***.x'");
        write_conf("[cluster]\nredis = redis://" SECRET ":99999\n");
        load_err(2, "redis: ");
        /* Ordinary values are still quoted: the rule is about secret-looking runs only. */
        write_conf("[app a]\nkind = tokn\n");
        load_err(2, "got 'tokn'");
}

/* An agent's process never waits on a file: the config, a secret and ca_file as FIFOs. */
static void test_trusted_files(void) {
        struct agent_config *c = NULL;
        char err[CONFIG_ERROR_MAX], path[160], fifo_conf[160];

        snprintf(path, sizeof(path), "%s/fifo", dir);
        SETUP_OK(mkfifo(path, 0600) == 0);
        /* Were the open blocking, these would hang: no writer ever comes. */
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/fifo\n");
        load_err(4, "fifo: a FIFO, not a regular file: refused");
        write_conf("[app a]\n" APP_OK "ca_file = @/fifo\n");
        load_err(5, "ca_file: ");
        load_err(5, "fifo: a FIFO, not a regular file");
        write_conf("[cluster]\nredis = redis://r\npassword_file = @/fifo\n");
        load_err(3, "fifo: a FIFO, not a regular file");
        snprintf(fifo_conf, sizeof(fifo_conf), "%s/fifo.conf", dir);
        SETUP_OK(mkfifo(fifo_conf, 0600) == 0);
        CHECK_EQ(config_load(fifo_conf, &c, err, sizeof(err)), -EINVAL);
        CHECK(!c && strstr(err, "fifo.conf: a FIFO, not a regular file: refused"));

        /* The config and ca_file: not writable by group or others. */
        write_conf("[app a]\n" APP_OK);
        SETUP_OK(chmod(conf_path, 0664) == 0);
        CHECK_EQ(config_load(conf_path, &c, err, sizeof(err)), -EPERM);
        CHECK(!c && strstr(err, "wxtokend.conf: writable by group or others (mode 0664), chmod go-w it"));
        write_file("ca-gw", "PEM", 0620);
        write_conf("[app a]\n" APP_OK "ca_file = @/ca-gw\n");
        load_err(5, "ca-gw: writable by group or others (mode 0620)");

        /* Owned by another user: only root can make such files, so only root tests it. */
        if (geteuid() != 0) {
                fprintf(stderr, "not root: ownership checks skipped\n");
                return;
        }
        write_file("s600-other", SECRET "\n", 0600);
        snprintf(path, sizeof(path), "%s/s600-other", dir);
        SETUP_OK(chown(path, 4242, 4242) == 0);
        write_conf("[app a]\nkind = token\nappid = wx1\nsecret_file = @/s600-other\n");
        load_err(4, "s600-other: owned by uid 4242, not by root or the agent's uid 0");
        write_file("ca-other", "PEM", 0644);
        snprintf(path, sizeof(path), "%s/ca-other", dir);
        SETUP_OK(chown(path, 4242, 4242) == 0);
        write_conf("[app a]\n" APP_OK "ca_file = @/ca-other\n");
        load_err(5, "ca-other: owned by uid 4242");
        write_conf("[app a]\n" APP_OK);
        SETUP_OK(chown(conf_path, 4242, 0) == 0);
        CHECK_EQ(config_load(conf_path, &c, err, sizeof(err)), -EPERM);
        CHECK(!c && strstr(err, "owned by uid 4242"));
}

/* max_forced_per_day ([agent] default, per-app override), the per-uid socket limits and their defaults. */
static void test_budgets(void) {
        struct agent_config *c, *d;

        write_conf("[app a]\n" APP_OK);
        c = load_ok();
        CHECK_EQ(c->max_forced_per_day, 200);
        CHECK_EQ(c->apps[0].max_forced_per_day, 200);
        CHECK_EQ(c->max_connections_per_uid, 1024 / 4);
        CHECK_EQ(c->max_waiters_per_uid, 16384 / 4);
        config_free(c);

        write_conf("[agent]\nmax_connections = 100\nmax_waiters = 2\nmax_forced_per_day = 3\n"
                   "[app a]\n" APP_OK "[app b]\nkind = stable\nappid = wx2\nsecret_file = @/s600\n"
                   "max_forced_per_day = 0\n");
        c = load_ok();
        CHECK_EQ(c->max_forced_per_day, 3);
        CHECK_EQ(c->apps[0].max_forced_per_day, 3);
        CHECK_EQ(c->apps[1].max_forced_per_day, 0);
        CHECK_EQ(c->max_connections_per_uid, 25);
        CHECK_EQ(c->max_waiters_per_uid, 1);
        config_free(c);

        write_conf("[agent]\nmax_connections_per_uid = 7\nmax_waiters_per_uid = 9\nmax_forced_per_day = 2000\n");
        c = load_ok();
        CHECK_EQ(c->max_connections_per_uid, 7);
        CHECK_EQ(c->max_waiters_per_uid, 9);
        CHECK_EQ(c->max_forced_per_day, 2000);
        config_free(c);

        /* A changed cap is a changed app (reload takes it). */
        write_conf("[app a]\n" APP_OK "max_forced_per_day = 5\n");
        c = load_ok();
        write_conf("[app a]\n" APP_OK "max_forced_per_day = 6\n");
        d = load_ok();
        CHECK(!app_config_equal(&c->apps[0], &d->apps[0]));
        config_free(c);
        config_free(d);

        write_conf("[agent]\nmax_forced_per_day = 2001\n");
        load_err(2, "[agent] max_forced_per_day: expected a whole number from 0 to 2000");
        write_conf("[agent]\nmax_forced_per_day = -1\n");
        load_err(2, "max_forced_per_day: expected a whole number from 0 to 2000");
        write_conf("[app a]\n" APP_OK "max_forced_per_day = many\n");
        load_err(5, "[app a] max_forced_per_day: expected a whole number");
        write_conf("[agent]\nmax_connections_per_uid = 0\n");
        load_err(2, "max_connections_per_uid: expected a whole number from 1");
        write_conf("[agent]\nmax_waiters_per_uid = x\n");
        load_err(2, "max_waiters_per_uid: expected a whole number from 1");
}

/* [cluster] fleet_key_file: a private file of root or the agent's user, long enough, never echoed. */
#define FLEET_KEY "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
static void test_cluster_fleet_key(void) {
        struct agent_config *c;
        const char *path;

        /* Without the key: none, and an unkeyed fleet works as before. */
        write_conf("[cluster]\nredis = redis://r\n");
        c = load_ok();
        CHECK(!c->cluster.fleet_key && !c->cluster.fleet_key_file);
        config_free(c);

        write_file("k600", FLEET_KEY "\n", 0600);
        write_conf("[cluster]\nredis = redis://r\nfleet_key_file = @/k600\n");
        c = load_ok();
        CHECK(c->cluster.fleet_key && !strcmp(c->cluster.fleet_key, FLEET_KEY));
        config_free(c);
        /* With the key a component may be clustered: its refresh tokens cross Redis sealed with it. */
        write_conf("[app c]\nkind = component\nappid = wxc1\nsecret_file = @/s600\n"
                   "[cluster]\nredis = redis://r\nfleet_key_file = @/k600\n");
        c = load_ok();
        CHECK(c->n_apps == 1 && c->apps[0].kind == APP_KIND_COMPONENT && c->cluster.enabled);
        config_free(c);
        /* And a suite: its corps' permanent codes the same way; its corps' tickets as any item's. */
        write_conf("[app s]\nkind = suite\nappid = wws1\nsecret_file = @/s600\n"
                   "[cluster]\nredis = redis://r\nfleet_key_file = @/k600\n");
        c = load_ok();
        CHECK(c->n_apps == 1 && c->apps[0].kind == APP_KIND_SUITE && c->cluster.enabled);
        config_free(c);
        write_conf("[app s]\nkind = suite\nappid = wws1\nsecret_file = @/s600\ncorp_tickets = jsapi\n"
                   "[cluster]\nredis = redis://r\nfleet_key_file = @/k600\n");
        c = load_ok();
        CHECK(c->n_apps == 1 && c->apps[0].account_tickets == TICKET_JSAPI);
        config_free(c);

        write_conf("[cluster]\nredis = redis://r\nfleet_key_file = k600\n");
        load_err(3, "fleet_key_file: expected an absolute path");
        write_conf("[cluster]\nredis = redis://r\nfleet_key_file = @/absent\n");
        load_err(3, "fleet_key_file");
        write_file("k644", FLEET_KEY "\n", 0644);
        write_conf("[cluster]\nredis = redis://r\nfleet_key_file = @/k644\n");
        load_err(3, "chmod 600");
        write_file("kshort", "0123456789abcdef\n", 0600);
        write_conf("[cluster]\nredis = redis://r\nfleet_key_file = @/kshort\n");
        load_err(3, "fewer than 32 characters");
        /* Owned by someone else: whoever owns it could sign tokens for the whole fleet. */
        path = write_file("kforeign", FLEET_KEY "\n", 0600);
        if (geteuid() == 0 && chown(path, 54321, (gid_t)-1) == 0) {
                write_conf("[cluster]\nredis = redis://r\nfleet_key_file = @/kforeign\n");
                load_err(3, "owned by uid 54321");
        } else {
                fprintf(stderr, "  (not root: the foreign owner case is not tried)\n");
        }
}

/* The upstream queue's limits: defaults, values taken, and what is refused (a typo, not a plan). */
static void test_queue_keys(void) {
        struct agent_config *c;

        write_conf("; nothing\n");
        c = load_ok();
        CHECK_EQ(c->max_concurrent_calls, 32);
        CHECK_EQ(c->max_calls_per_second, 200);
        config_free(c);
        write_conf("[agent]\nmax_concurrent_calls = 1024\nmax_calls_per_second = 1\n");
        c = load_ok();
        CHECK_EQ(c->max_concurrent_calls, 1024);
        CHECK_EQ(c->max_calls_per_second, 1);
        config_free(c);
        write_conf("[agent]\nmax_concurrent_calls = 0\n");
        load_err(2, "max_concurrent_calls: expected a whole number from 1 to 1024, got '0'");
        write_conf("[agent]\nmax_concurrent_calls = 1025\n");
        load_err(2, "max_concurrent_calls: expected a whole number from 1 to 1024, got '1025'");
        write_conf("[agent]\n\nmax_calls_per_second = 10001\n");
        load_err(3, "max_calls_per_second: expected a whole number from 1 to 10000, got '10001'");
        write_conf("[agent]\nmax_calls_per_second = fast\n");
        load_err(2, "max_calls_per_second: expected a whole number from 1 to 10000, got 'fast'");
}

int main(void) {
        char big[300];

        snprintf(dir, sizeof(dir), "/tmp/test-config.XXXXXX");
        SETUP_OK(mkdtemp(dir));
        SETUP_OK(atexit(cleanup) == 0);
        snprintf(conf_path, sizeof(conf_path), "%s/wxtokend.conf", dir);
        SETUP_OK(unsetenv("CREDENTIALS_DIRECTORY") == 0);

        write_file("s600", SECRET "\n", 0600);
        write_file("s400", SECRET2, 0400);
        write_file("s644", SECRET "\n", 0644);
        write_file("s640", SECRET "\n", 0640);
        write_file("empty", "", 0600);
        write_file("blank", "\n", 0600);
        write_file("crlf", SECRET "\r\n", 0600);
        write_file("inner", "0123 4567\n", 0600);
        memset(big, 'a', 257);
        big[257] = '\0';
        write_file("big", big, 0600);
        {
                char target[160], link[160];

                snprintf(target, sizeof(target), "%s/s600", dir);
                snprintf(link, sizeof(link), "%s/link", dir);
                SETUP_OK(symlink(target, link) == 0);
        }

        test_defaults();
        test_queue_keys();
        test_every_key();
        test_errors();
        test_no_file();
        test_secret_api();
        test_equal();
        test_cluster();
        test_new_keys();
        test_trusted_files();
        test_budgets();
        test_cluster_fleet_key();
        test_component();
        test_wecom_provider_kinds();
        test_account_tickets();
        return 0;
}
