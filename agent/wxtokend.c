/* wxtokend.c: main: options, process hardening, the configuration check (-t); the manager runs the rest. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "config.h"
#include "log.h"
#include "manager.h"

static void usage(FILE *f) {
        fprintf(f, "usage: wxtokend [-c CONFIG] [-t]\n"
                   "  -c CONFIG  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                   "  -t         check the configuration and every secret, then exit\n"
                   "Keeps each configured WeChat app's access token fresh in shared memory.\n");
}

int main(int argc, char **argv) {
        const char *path = CONFIG_DEFAULT_PATH;
        struct agent_config *config = NULL;
        char err[CONFIG_ERROR_MAX];
        bool test_only = false;
        int c, r;

        while ((c = getopt(argc, argv, "c:th")) != -1) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 't':
                        test_only = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        /* Every client connection is a descriptor: use all the hard limit allows. */
        {
                struct rlimit nofile;

                if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                        nofile.rlim_cur = nofile.rlim_max;
                        setrlimit(RLIMIT_NOFILE, &nofile);
                }
        }
        /* Before libcurl ever starts (see http_new): TLS session keys must not leave the process. */
        unsetenv("SSLKEYLOGFILE");
        /* Secrets live in this process's memory: no core dump, no ptrace by other users. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });

        r = config_load(path, &config, err, sizeof(err));
        if (test_only) {
                if (r < 0)
                        fprintf(stderr, "wxtokend: %s\n", err);
                else
                        printf("wxtokend: %s: configuration ok, %zu apps\n", path, config->n_apps);
                config_free(config);
                return r < 0 ? 1 : 0;
        }
        if (r < 0) {
                fprintf(stderr, "wxtokend: %s\n", err);
                return 1;
        }
        log_setup(config->log_level);
        /* Said at every start, so a test setting cannot pass unnoticed into production. */
        if (config->allow_plain_http)
                log_warning("allow_plain_http = yes: an http:// api_base gets the AppSecret in clear; for tests "
                            "and wxemu only");
        return manager_run(config);
}
