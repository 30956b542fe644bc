/* wxtokenctl.c: the command line: its usage and arguments; each command lives in a tools/ctl-*.c file (ctl.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "client.h"
#include "ctl.h"
#include "wire.h"

static const char usage_text[] =
        "Usage: wxtokenctl [--socket PATH] COMMAND\n"
        "  get [--json] APP                 print APP's token (read from shared memory)\n"
        "  refresh APP [--generation N] [--timeout MS]\n"
        "                                   have the agent replace generation N (default: the\n"
        "                                   one published now); print the new generation\n"
        "  status [--json] [APP]            every app's state (all pages), or APP's; exit 0 OK,\n"
        "                                   1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios)\n"
        "  metrics                          the agent's metrics, Prometheus text format\n"
        "  reload                           have the agent read its config again (as SIGHUP);\n"
        "                                   say whether it was taken, and why not\n"
        "  retry APP                        APP's next attempt now, skipping its backoff wait once\n"
        "                                   (after fixing a secret or the IP whitelist)\n"
        "  ticket put APP TICKET CREATE_TIME\n"
        "                                   hand a component its component_verify_ticket as WeChat\n"
        "                                   pushed it (CREATE_TIME: the push's CreateTime, Unix s);\n"
        "                                   TICKET - reads it from stdin (one line), off the command line\n"
        "  authorizer add COMPONENT APPID   an account authorized to component COMPONENT, published as\n"
        "                                   COMPONENT.APPID; its refresh token is read from stdin\n"
        "                                   (a WeCom suite's corp: APPID the corpid, its permanent code\n"
        "                                   on stdin, or with --auth-code the temporary auth code)\n"
        "  authorizer remove COMPONENT APPID\n"
        "                                   forget the account (its segment is removed)\n"
        "  authorizer list COMPONENT        the accounts, their state and tokens' expiry\n"
        "  authorizer add COMPONENT --auth-code\n"
        "                                   onboard the account whose authorization code (from the\n"
        "                                   authorization redirect or event) is read from stdin: the\n"
        "                                   agent asks api_query_auth, publishes COMPONENT.APPID\n"
        "                                   (a WeCom suite: its create_auth auth code; the agent\n"
        "                                   asks get_permanent_code, publishes SUITE.CORPID)\n"
        "  authorizer sync COMPONENT        read api_get_authorizer_list: add the accounts missing,\n"
        "                                   take changed refresh tokens; print the counts\n"
        "Options:\n"
        "  -s, --socket PATH   the agent's socket (default $WXTOKEND_SOCKET, else " PROTOCOL_SOCKET_DEFAULT ")\n"
        "  -j, --json          machine-readable output\n"
        "  -h, --help          this text\n"
        "      --version       print the version\n"
        "A usage error exits 64 (EX_USAGE).\n";

int usage_error(const char *what) {
        fprintf(stderr, "wxtokenctl: %s\n%s", what, usage_text);
        return EX_USAGE;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },     { "json", no_argument, NULL, 'j' },
                { "generation", required_argument, NULL, 'g' }, { "timeout", required_argument, NULL, 't' },
                { "version", no_argument, NULL, 'V' },
                { "auth-code", no_argument, NULL, 'A' },        /* authorizer add: stdin holds an auth code */
                { "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
        };
        const char *socket_path = client_socket_path(), *generation = NULL, *cmd;
        long timeout_ms = PROTOCOL_TIMEOUT_DEFAULT_MS;
        bool json = false, timeout_set = false, auth_code = false;
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "s:jg:t:h", options, NULL)) != -1) {
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'g':
                        generation = optarg;
                        break;
                case 't':
                        timeout_ms = strtol(optarg, &end, 10);
                        if (*end || timeout_ms < 1 || timeout_ms > PROTOCOL_TIMEOUT_MAX_MS)
                                return usage_error("--timeout wants milliseconds from 1 to "
                                                   PROTOCOL_STR(PROTOCOL_TIMEOUT_MAX_MS));
                        timeout_set = true;
                        break;
                case 'A':
                        auth_code = true;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                case 'V':
                        printf("wxtokenctl " PACKAGE_VERSION "\n");
                        return 0;
                default:
                        fputs(usage_text, stderr);
                        return EX_USAGE;
                }
        }
        if (optind >= argc)
                return usage_error("no command");
        cmd = argv[optind++];
        if ((generation || timeout_set) && strcmp(cmd, "refresh"))
                return usage_error("--generation and --timeout belong to refresh");
        if (auth_code && (strcmp(cmd, "authorizer") || optind >= argc || strcmp(argv[optind], "add")))
                return usage_error("--auth-code belongs to authorizer add");
        if (json && !strcmp(cmd, "refresh"))
                return usage_error("refresh has no --json");
        if (!strcmp(cmd, "status"))
                return argc - optind <= 1 ? cmd_status(socket_path, json, optind < argc ? argv[optind] : NULL)
                                          : usage_error("status takes one APP at most");
        if (!strcmp(cmd, "metrics"))
                return optind == argc && !json ? cmd_metrics(socket_path, PROTOCOL_TIMEOUT_DEFAULT_MS)
                                               : usage_error("metrics takes no APP and no --json");
        if (!strcmp(cmd, "reload"))
                return optind == argc && !json ? cmd_reload(socket_path) : usage_error("reload takes no APP and no --json");
        if (!strcmp(cmd, "ticket")) {
                if (json || argc - optind != 4 || strcmp(argv[optind], "put"))
                        return usage_error("ticket put APP TICKET CREATE_TIME, no --json");
                return cmd_ticket_put(socket_path, argv[optind + 1], argv[optind + 2], argv[optind + 3]);
        }
        if (!strcmp(cmd, "authorizer")) {
                int n = argc - optind;
                const char *verb = n > 0 ? argv[optind] : "";

                if (!strcmp(verb, "add") && n == 2 && auth_code)
                        return cmd_authorizer_wechat(socket_path, json, argv[optind + 1], false);
                if (!strcmp(verb, "sync") && n == 2 && !auth_code)
                        return cmd_authorizer_wechat(socket_path, json, argv[optind + 1], true);
                /* A corp under a WeCom suite: its corpid and, with --auth-code, the temporary auth code. */
                if ((!strcmp(verb, "add") && n == 3) || (!strcmp(verb, "remove") && n == 3 && !auth_code))
                        return cmd_authorizer(socket_path, json, verb, argv[optind + 1], argv[optind + 2], auth_code);
                if (!strcmp(verb, "list") && n == 2)
                        return cmd_authorizer(socket_path, json, verb, argv[optind + 1], NULL, false);
                return usage_error("authorizer add COMPONENT APPID (refresh token on stdin), authorizer add "
                                   "COMPONENT --auth-code (code on stdin), authorizer add SUITE CORPID [--auth-code] "
                                   "(permanent or auth code on stdin), authorizer remove COMPONENT APPID, "
                                   "authorizer list COMPONENT, authorizer sync COMPONENT");
        }
        if (strcmp(cmd, "get") && strcmp(cmd, "refresh") && strcmp(cmd, "retry"))
                return usage_error("unknown command (get, refresh, status, metrics, reload, retry, ticket, "
                                   "authorizer)");
        if (argc - optind != 1)
                return usage_error("one APP, please");
        if (!strcmp(cmd, "retry"))
                return json ? usage_error("retry has no --json") : cmd_retry(socket_path, argv[optind]);
        if (!strcmp(cmd, "get"))
                return cmd_get(socket_path, argv[optind], json);
        return cmd_refresh(socket_path, argv[optind], generation, (int)timeout_ms);
}
