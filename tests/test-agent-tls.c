/* test-agent-tls.c: wxtokend over HTTPS: ca_file trusts a test CA; without it the fetch fails as transport. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void) {
        const char *emu_args[] = { "--app", "wxT:" SEC_TLS, "--tls-cert", NULL, "--tls-key", NULL, NULL };
        char cert[200], key[200], ca[200], apps[1024], buf[WXSHM_TOKEN_MAX + 1];
        struct emu_proc emu;
        struct agent_proc a;
        wxshm_info info;

        if (system("openssl version >/dev/null 2>&1") != 0) {
                printf("openssl not found (Debian package openssl): skipped\n");
                return 77;
        }
        agent_init(&a);
        if (!make_certs(a.dir)) {
                fprintf(stderr, "SETUP: cannot make test certificates\n");
                agent_cleanup_all();
                return EXIT_SETUP;
        }
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
        agent_start(&a);

        CHECK(agent_read("good", buf, sizeof(buf), &info) > 0 && info.generation == 1, "token over HTTPS");
        CHECK(agent_wait_state("untrusting", WXSHM_STATE_RETRYING, 5000), "an unknown CA is refused");
        {
                int64_t state, errcode;

                CHECK(agent_status("untrusting", &state, &errcode) && errcode == UPSTREAM_ERR_TRANSPORT,
                      "as a transport failure");
        }
        CHECK(agent_read("untrusting", buf, sizeof(buf), &info) == -ENODATA, "and nothing was published");
        return harness_finish(&a);
}
