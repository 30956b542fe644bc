/*
 * test-agent-tls.c: wxtokend over HTTPS: ca_file trusts a test CA; without it the fetch
 * fails as transport. SSLKEYLOGFILE and the proxy variables are ignored.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent-harness.h"
#include "upstream.h"

#define SEC_TLS "Tls-Secret-5a5a5a5a"

/* A throwaway CA and a certificate for 127.0.0.1 signed by it, made with the openssl tool. */
static bool make_certs(const char *dir) {
        char cmd[2048];

        snprintf(cmd, sizeof(cmd),
                 "(cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wxtokend-test-ca "
                 "-keyout ca.key -out ca.pem && "
                 "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr && "
                 "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
                 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                 "-extfile ext.cnf -out server.pem) >/dev/null 2>&1",
                 dir);
        return system(cmd) == 0;
}

/* A listening TCP port on 127.0.0.1 that never accepts by itself: a proxy that counts. */
static int proxy_listen(int *port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return -1;
        *port = ntohs(sa.sin_port);
        return fd;
}

/* Connections the proxy port received (accepted now, non-blocking). */
static int proxy_connections(int fd) {
        int n = 0, c;

        while ((c = accept(fd, NULL, NULL)) >= 0) {
                close(c);
                n++;
        }
        return n;
}

int main(void) {
        static char keylog[220], proxy_env[3][80];
        int proxy_port = 0, proxy_fd;
        const char *emu_args[] = { "--app", "wxT:" SEC_TLS, "--tls-cert", NULL, "--tls-key", NULL, NULL };
        char cert[200], key[200], ca[200], apps[1024], buf[WXSHM_TOKEN_MAX + 1];
        struct emu_proc emu;
        struct agent_proc a;
        wxshm_info info;

        if (system("openssl version >/dev/null 2>&1") != 0) {
                printf("openssl not found (Debian package openssl): skipped\n");
                return EXIT_SKIP;
        }
        agent_init(&a);
        SETUP_OK(make_certs(a.dir), "cannot make test certificates");
        snprintf(cert, sizeof(cert), "%s/server.pem", a.dir);
        snprintf(key, sizeof(key), "%s/server.key", a.dir);
        snprintf(ca, sizeof(ca), "%s/ca.pem", a.dir);
        emu_args[3] = cert;
        emu_args[5] = key;
        emu_start(&emu, emu_args);

        /* "good" trusts the test CA; "untrusting" uses the system's CAs, which do not know it. */
        snprintf(apps, sizeof(apps),
                 "[app good]\nkind = token\nappid = wxT\nsecret_file = %s\napi_base = https://127.0.0.1:%d\n"
                 "ca_file = %s\n\n"
                 "[app untrusting]\nkind = stable\nappid = wxT\nsecret_file = %s\napi_base = https://127.0.0.1:%d\n",
                 agent_secret_file(&a, "good", SEC_TLS), emu.port, ca, agent_secret_file(&a, "untrusting", SEC_TLS),
                 emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2", apps);
        /*
         * What an operator's shell may carry into the agent: a key log file, where curl's
         * OpenSSL backend would write every session key, and proxies, which would see every
         * request. The agent must honour neither.
         */
        proxy_fd = proxy_listen(&proxy_port);
        SETUP_OK(proxy_fd >= 0, "proxy port: %m");
        snprintf(keylog, sizeof(keylog), "SSLKEYLOGFILE=%s/keys.log", a.dir);
        snprintf(proxy_env[0], sizeof(proxy_env[0]), "https_proxy=http://127.0.0.1:%d", proxy_port);
        snprintf(proxy_env[1], sizeof(proxy_env[1]), "HTTPS_PROXY=http://127.0.0.1:%d", proxy_port);
        snprintf(proxy_env[2], sizeof(proxy_env[2]), "ALL_PROXY=http://127.0.0.1:%d", proxy_port);
        a.env[0] = keylog;
        a.env[1] = proxy_env[0];
        a.env[2] = proxy_env[1];
        a.env[3] = proxy_env[2];
        a.env[4] = NULL;
        agent_start(&a);

        CHECK(agent_read("good", buf, sizeof(buf), &info) > 0 && info.generation == 1, "token over HTTPS");
        CHECK(agent_wait_state("untrusting", WXSHM_STATE_RETRYING, 5000), "an unknown CA is refused");
        {
                int64_t state, errcode;

                CHECK(agent_status("untrusting", &state, &errcode) && errcode == UPSTREAM_ERR_TRANSPORT,
                      "as a transport failure");
        }
        CHECK(agent_read("untrusting", buf, sizeof(buf), &info) == -ENODATA, "and nothing was published");
        {
                char path[220];

                snprintf(path, sizeof(path), "%s/keys.log", a.dir);
                CHECK(access(path, F_OK) < 0 && errno == ENOENT, "no TLS key log was written (SSLKEYLOGFILE ignored)");
        }
        CHECK(proxy_connections(proxy_fd) == 0, "the environment's proxy saw no connection");

        /* The proxy the config names is the one used (it never answers: only its connection counts). */
        {
                static struct agent_proc b;
                char extra[128];
                int seen = 0;

                agent_init(&b);
                snprintf(apps, sizeof(apps), "[app viaproxy]\nkind = token\nappid = wxT\nsecret_file = %s\n"
                         "api_base = https://127.0.0.1:%d\nca_file = %s\n",
                         agent_secret_file(&b, "viaproxy", SEC_TLS), emu.port, ca);
                snprintf(extra, sizeof(extra), "proxy = http://127.0.0.1:%d", proxy_port);
                agent_write_config(&b, extra, apps);
                agent_spawn(&b);
                for (int waited = 0; waited < 10000 && !seen; waited += 20) {
                        seen = proxy_connections(proxy_fd);
                        if (!seen)
                                harness_sleep_ms(20);
                }
                CHECK(seen > 0, "proxy = URL is honoured");
                CHECK(agent_stop(&b) == 0, "the proxied agent stops cleanly");
        }
        close(proxy_fd);
        return harness_finish(&a);
}
