/* wxemu.c: WeChat token-endpoint emulator for tests, demo and benchmarks: main and options. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu-faults.h"
#include "emu-http.h"
#include "emu-plat.h"
#include "emu-push.h"
#include "emu-state.h"

static const char usage[] =
"Usage: wxemu [OPTION]... --app APPID:SECRET... --corp CORPID:SECRET...\n"
"Emulates api.weixin.qq.com and qyapi.weixin.qq.com token endpoints over HTTP.\n"
"\n"
"  --app ID:SECRET          an Official Account / Mini Program app (repeatable)\n"
"  --corp ID:SECRET         a WeCom corp (repeatable)\n"
"  --component ID:SECRET    an Open Platform third-party platform (repeatable)\n"
"  --authorizers N          accounts authorized to EACH component: wxa00000001,\n"
"                           numbered on across components in the order given;\n"
"                           refresh tokens refreshtoken@@@ + FNV-1a-64 hex of\n"
"                           \"SEED:APPID:1\" (and of it plus \"#\"): list them with\n"
"                           api_get_authorizer_list; random without --seed\n"
"  --rotate-refresh-tokens  api_authorizer_token hands out a new refresh token each\n"
"                           call; the old one is good for --overlap, then 61023\n"
"  --push-token TOKEN       the platform's message check token (3-32 letters, digits)\n"
"  --push-aes-key KEY       its EncodingAESKey (43 letters, digits): /emu/push_message\n"
"  --quota-component N      api_component_token calls per component a day (2000)\n"
"  --suite ID:SECRET        a WeCom service provider's suite (repeatable)\n"
"  --corps N                corps authorized to EACH suite: wwc00000001, ...\n"
"  --provider CORPID:SECRET a WeCom service provider (get_provider_token)\n"
"  --bind ADDR              numeric address to listen on (default 127.0.0.1)\n"
"  --port N                 port, 0 = any free one (default 0)\n"
"  --port-file PATH         write the bound port and a newline there, atomically,\n"
"                           once listening; removed again on a clean stop\n"
"  --expires-in S           token and ticket lifetime (default 7200)\n"
"  --overlap S              how long a superseded token stays valid (default 300);\n"
"                           only the latest predecessor gets it, older ones die\n"
"  --overlap-ms N           the same in milliseconds, for lifetimes scaled down\n"
"                           below a minute (the later of the two options wins)\n"
"  --quota-token N          /cgi-bin/token calls per app per day (default 2000)\n"
"  --quota-stable N         stable_token normal calls per day (default 500000)\n"
"  --quota-stable-force N   stable_token force calls per day (default 20)\n"
"  --ticket-hour-limit N    WeCom ticket fetches an hour before 45009 \"api freq out\n"
"                           of limit\": 400 per corp for get_jsapi_ticket, 100 per\n"
"                           app for ticket/get?type=agent_config by default; N sets\n"
"                           both. Passed, it blocks the call for an hour (emulator\n"
"                           clock: /emu/advance moves past it; /emu/reset-quota ends it)\n"
"  --force-spacing S        a force call within S s of the last forced rotation\n"
"                           answers the current token unrotated, as WeChat\n"
"                           documents (default 30)\n"
"  --latency-ms N           delay every WeChat answer (not /emu/) by N ms\n"
"  --token-length N         token length, %d..%d (default 157)\n"
"  --checksum-tokens        tokens end in 16 lowercase hex digits: the FNV-1a-64\n"
"                           hash of the [A-Za-z0-9] characters before them\n"
"  --seed N                 reproducible tokens\n"
"  --tls-cert FILE, --tls-key FILE   serve HTTPS (PEM)\n"
"  --verbose                one line per request on stderr (secrets redacted)\n"
"  --help, --version        this text; the version\n"
"\n"
"stable_token normal mode renews inside the last min(300, expires-in/4) seconds,\n"
"so short test lifetimes behave like WeChat's 5-minute early renewal.\n"
"Daily quotas reset at midnight Beijing time (UTC+8), as WeChat's do; POST\n"
"/emu/reset-quota resets them at once.\n"
"\n"
"Control (JSON): POST /emu/fault?app=&kind=busy|http500|garbage|hang|slow|refuse|none\n"
"  [&count=N][&ms=N][&on=tokens|tickets|all] (a hung request is dropped at the next\n"
"  /emu/fault call or at stop), POST /emu/rotate?app=,\n"
"  POST /emu/expire?app=, POST /emu/advance?s=|ms=, POST /emu/reset-quota?app=,\n"
"  GET /emu/stats, GET /emu/log, POST /emu/reset-stats.\n"
"Platforms: POST /emu/push_ticket?component=ID|suite=ID mints a component_verify_ticket\n"
"  (12 h) or suite_ticket (30 min) and answers {ticket, create_time}; POST /emu/ticket?...\n"
"  the newest; POST /emu/expire_ticket?..., /emu/invalidate_ticket?...;\n"
"  POST /emu/ip_block?component=|suite=&on=1|0 (61004 / 60020);\n"
"  POST /emu/deauthorize?authorizer=APPID|corp=CORPID; POST /emu/auth_code?authorizer=\n"
"  |corp= (re)authorizes and answers a one-time code for api_query_auth (1 h) or\n"
"  get_permanent_code (10 min). /emu/stats adds \"platform\": calls per endpoint.\n"
"  POST /emu/push_message?component=|suite= mints a ticket as push_ticket does and\n"
"  answers {ticket, create_time, query, body}: the request WeChat would POST to the\n"
"  platform's event URL, encrypted and signed with --push-token and --push-aes-key.\n";

enum {
        OPT_APP = 256, OPT_CORP, OPT_BIND, OPT_PORT, OPT_PORT_FILE, OPT_EXPIRES, OPT_OVERLAP,
        OPT_OVERLAP_MS, OPT_QTOKEN, OPT_QSTABLE, OPT_QFORCE, OPT_TICKET_HOUR, OPT_SPACING, OPT_LATENCY, OPT_LENGTH,
        OPT_CHECKSUM, OPT_SEED, OPT_CERT, OPT_KEY, OPT_VERBOSE, OPT_HELP, OPT_VERSION,
        OPT_COMPONENT, OPT_AUTHORIZERS, OPT_ROTATE_RT, OPT_QCOMPONENT, OPT_SUITE, OPT_CORPS,
        OPT_PROVIDER, OPT_PUSH_TOKEN, OPT_PUSH_KEY,
};

static const struct option options[] = {
        { "app", required_argument, NULL, OPT_APP },
        { "corp", required_argument, NULL, OPT_CORP },
        { "bind", required_argument, NULL, OPT_BIND },
        { "port", required_argument, NULL, OPT_PORT },
        { "port-file", required_argument, NULL, OPT_PORT_FILE },
        { "expires-in", required_argument, NULL, OPT_EXPIRES },
        { "overlap", required_argument, NULL, OPT_OVERLAP },
        { "overlap-ms", required_argument, NULL, OPT_OVERLAP_MS },
        { "quota-token", required_argument, NULL, OPT_QTOKEN },
        { "quota-stable", required_argument, NULL, OPT_QSTABLE },
        { "quota-stable-force", required_argument, NULL, OPT_QFORCE },
        { "ticket-hour-limit", required_argument, NULL, OPT_TICKET_HOUR },
        { "force-spacing", required_argument, NULL, OPT_SPACING },
        { "latency-ms", required_argument, NULL, OPT_LATENCY },
        { "token-length", required_argument, NULL, OPT_LENGTH },
        { "checksum-tokens", no_argument, NULL, OPT_CHECKSUM },
        { "seed", required_argument, NULL, OPT_SEED },
        { "tls-cert", required_argument, NULL, OPT_CERT },
        { "tls-key", required_argument, NULL, OPT_KEY },
        { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { "component", required_argument, NULL, OPT_COMPONENT },
        { "authorizers", required_argument, NULL, OPT_AUTHORIZERS },
        { "rotate-refresh-tokens", no_argument, NULL, OPT_ROTATE_RT },
        { "quota-component", required_argument, NULL, OPT_QCOMPONENT },
        { "suite", required_argument, NULL, OPT_SUITE },
        { "corps", required_argument, NULL, OPT_CORPS },
        { "provider", required_argument, NULL, OPT_PROVIDER },
        { "push-token", required_argument, NULL, OPT_PUSH_TOKEN },
        { "push-aes-key", required_argument, NULL, OPT_PUSH_KEY },
        { NULL, 0, NULL, 0 },
};

struct main_opts {
        const char *bind, *port_file, *cert_file, *key_file;
        int port;
};

static long long parse_num(const char *name, const char *s, long long min, long long max)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr, "wxemu: --%s wants a number in %lld..%lld, not '%s'\n",
                        name, min, max, s);
                exit(2);
        }
        return v;
}

static void parse_app(enum emu_apptype type, const char *spec)
{
        int r = emu_app_add(type, spec);

        /* The spec holds a secret: name the problem, never echo the argument. */
        if (r < 0) {
                static const char *const names[] = {
                        [EMU_OFFICIAL] = "app", [EMU_CORP] = "corp", [EMU_COMPONENT] = "component",
                        [EMU_SUITE] = "suite", [EMU_PROVIDER] = "provider",
                };

                fprintf(stderr, "wxemu: --%s: %s\n", names[type],
                        r == -EEXIST ? "that id is already configured" :
                        r == -ENAMETOOLONG ? "id or secret too long" :
                        "want ID:SECRET");
                exit(2);
        }
}

static void parse_options(int argc, char **argv, struct main_opts *m)
{
        const long long big = 1000000000000LL;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                const char *name = c >= OPT_APP ? options[c - OPT_APP].name : "";

                switch (c) {
                case OPT_APP: parse_app(EMU_OFFICIAL, optarg); break;
                case OPT_CORP: parse_app(EMU_CORP, optarg); break;
                case OPT_COMPONENT: parse_app(EMU_COMPONENT, optarg); break;
                case OPT_SUITE: parse_app(EMU_SUITE, optarg); break;
                case OPT_PROVIDER: parse_app(EMU_PROVIDER, optarg); break;
                /* ids are 8 digits; a million accounts is far past any bench */
                case OPT_AUTHORIZERS:
                        plat_cfg.authorizers = (int)parse_num(name, optarg, 0, 1000000);
                        break;
                case OPT_CORPS: plat_cfg.corps = (int)parse_num(name, optarg, 0, 1000000); break;
                case OPT_ROTATE_RT: plat_cfg.rotate_refresh = true; break;
                /* Both are the platform's secrets: name the problem, never echo them. */
                case OPT_PUSH_TOKEN:
                        if (push_set_token(optarg) < 0) {
                                fprintf(stderr, "wxemu: --push-token wants 3 to 32 letters and digits\n");
                                exit(2);
                        }
                        break;
                case OPT_PUSH_KEY:
                        if (push_set_aes_key(optarg) < 0) {
                                fprintf(stderr, "wxemu: --push-aes-key wants an EncodingAESKey: 43 letters and digits\n");
                                exit(2);
                        }
                        break;
                case OPT_QCOMPONENT:
                        plat_cfg.quota_component = (uint64_t)parse_num(name, optarg, 0, big);
                        break;
                case OPT_BIND: m->bind = optarg; break;
                case OPT_PORT: m->port = (int)parse_num(name, optarg, 0, 65535); break;
                case OPT_PORT_FILE: m->port_file = optarg; break;
                case OPT_EXPIRES:
                        emu_cfg.expires_in = (int)parse_num(name, optarg, 1, 86400 * 365);
                        break;
                case OPT_OVERLAP:
                        emu_cfg.overlap_ms = parse_num(name, optarg, 0, 86400 * 365) * 1000;
                        break;
                case OPT_OVERLAP_MS:
                        emu_cfg.overlap_ms = parse_num(name, optarg, 0, 86400LL * 365 * 1000);
                        break;
                case OPT_QTOKEN:
                        emu_cfg.quota_token = (uint64_t)parse_num(name, optarg, 0, big);
                        break;
                case OPT_QSTABLE:
                        emu_cfg.quota_stable = (uint64_t)parse_num(name, optarg, 0, big);
                        break;
                case OPT_QFORCE:
                        emu_cfg.quota_stable_force = (uint64_t)parse_num(name, optarg, 0, big);
                        break;
                case OPT_TICKET_HOUR:
                        emu_cfg.ticket_hour_corp = emu_cfg.ticket_hour_app = (uint64_t)parse_num(name, optarg, 0, big);
                        break;
                case OPT_SPACING:
                        emu_cfg.force_spacing = (int)parse_num(name, optarg, 0, 86400);
                        break;
                case OPT_LATENCY:
                        emu_cfg.latency_ms = (int)parse_num(name, optarg, 0, 3600000);
                        break;
                case OPT_LENGTH:
                        emu_cfg.token_length = (int)parse_num(name, optarg, EMU_TOKEN_MIN,
                                                              EMU_TOKEN_MAX);
                        break;
                case OPT_CHECKSUM: emu_cfg.checksum = true; break;
                case OPT_SEED:
                        emu_cfg.seed = (uint64_t)parse_num(name, optarg, 0, INT64_MAX);
                        emu_cfg.have_seed = true;
                        break;
                case OPT_CERT: m->cert_file = optarg; break;
                case OPT_KEY: m->key_file = optarg; break;
                case OPT_VERBOSE: emu_cfg.verbose = true; break;
                case OPT_HELP:
                        printf(usage, EMU_TOKEN_MIN, EMU_TOKEN_MAX);
                        exit(0);
                case OPT_VERSION:
                        printf("wxemu " PACKAGE_VERSION "\n");
                        exit(0);
                default:
                        fprintf(stderr, "Try 'wxemu --help'.\n");
                        exit(2);
                }
        }
        if (optind < argc || !m->cert_file != !m->key_file) {
                fprintf(stderr, "wxemu: stray arguments, or only one of --tls-cert/--tls-key\n");
                exit(2);
        }
}

static char *file_read(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0, cap = 0, n;

        if (!f)
                return NULL;
        do {
                if (cap - len < 4096) {
                        char *nb = realloc(buf, cap += 65536);

                        if (!nb) {
                                free(buf);
                                fclose(f);
                                return NULL;
                        }
                        buf = nb;
                }
                n = fread(buf + len, 1, cap - len - 1, f);
                len += n;
        } while (n > 0);
        buf[len] = '\0';
        fclose(f);
        return buf;
}

/* Tests wait for this file: rename makes it appear complete or not at all. */
static int port_file_write(const char *path, int port)
{
        char tmp[4096];
        FILE *f;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f, "%d\n", port);
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
                int r = -errno;

                unlink(tmp);
                return r;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct main_opts m = { .bind = "127.0.0.1" };
        struct http_options h = { 0 };
        char *cert = NULL, *key = NULL;
        sigset_t stop;
        int port, sig, r;

        parse_options(argc, argv, &m);
        if (emu_cfg.checksum && emu_cfg.token_length < 16 + 8) {
                fprintf(stderr, "wxemu: --checksum-tokens needs --token-length >= 24\n");
                return 2;
        }
        /* Blocked before any thread exists, so only sigwait() below ever sees them. */
        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
        signal(SIGPIPE, SIG_IGN);
        /* The derived accounts exist before faults_init sizes its table by the apps. */
        if ((r = plat_setup()) == -EEXIST) {
                fprintf(stderr, "wxemu: an --app or --corp id is spelled like a derived account "
                        "(wxa/wwc and 8 digits)\n");
                return 2;
        }
        if (r < 0 || (r = emu_state_init()) < 0 || (r = faults_init(emu_napps)) < 0) {
                fprintf(stderr, "wxemu: init: %s\n", strerror(-r));
                return 1;
        }
        if (m.cert_file && (!(cert = file_read(m.cert_file)) || !(key = file_read(m.key_file)))) {
                fprintf(stderr, "wxemu: cannot read TLS certificate or key: %s\n",
                        strerror(errno));
                return 1;
        }
        if (m.port_file)
                unlink(m.port_file);
        h = (struct http_options){ m.bind, m.port, cert, key };
        port = http_start(&h);
        if (port < 0) {
                fprintf(stderr, "wxemu: cannot serve on %s port %d: %s\n", m.bind, m.port,
                        strerror(-port));
                return 1;
        }
        if (m.port_file && (r = port_file_write(m.port_file, port)) < 0) {
                fprintf(stderr, "wxemu: %s: %s\n", m.port_file, strerror(-r));
                http_stop();
                return 1;
        }
        if (emu_cfg.verbose)
                fprintf(stderr, "wxemu: listening on %s port %d, %d apps%s\n", m.bind, port,
                        emu_napps, cert ? ", HTTPS" : "");
        while (sigwait(&stop, &sig) != 0)
                ;
        /* Release hung and sleeping requests first: stopping the daemon joins their threads. */
        emu_stop();
        http_stop();
        if (m.port_file)
                unlink(m.port_file);
        faults_free();
        plat_free();
        emu_state_free();
        free(cert);
        free(key);
        if (emu_cfg.verbose)
                fprintf(stderr, "wxemu: stopped by signal %d\n", sig);
        return 0;
}
