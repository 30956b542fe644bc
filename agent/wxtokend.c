/* wxtokend.c: main: options, process hardening, the configuration check (-t); the manager runs the rest. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "manager.h"

static void usage(FILE *f) {
        fprintf(f, "usage: wxtokend [-c CONFIG] [-t [-u USER]]\n"
                   "  -c CONFIG  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                   "  -t         check the configuration, every secret and the directories the start\n"
                   "             needs, report every error, then exit\n"
                   "  -u USER    with -t: check as USER, the service's user (root only)\n"
                   "  --version  print the version and exit\n"
                   "  --help     print this help and exit\n"
                   "Keeps each configured WeChat app's access token fresh in shared memory.\n");
}

/* A report line's place: the file's order, lines tied to no line (defaults, the file itself) last. */
static unsigned report_key(const struct config_report_line *l) {
        return l->line ? l->line : ~0u;
}

/* -t as the current user: every error on stderr, notes and the verdict naming the user. 0, or 1. */
/*
 * -c as given, made absolute once at start, so status shows which file (and a reload reads
 * the same one whatever the cwd). Only the directory is resolved (realpath): the file's own
 * name is kept, so a config that is a symlink a deploy tool swaps is followed at reload.
 * NULL if the directory cannot be resolved: the path stays as given, and loading it says why.
 */
static char *config_path_absolute(const char *path) {
        const char *slash = strrchr(path, '/');
        char *dir_given = NULL, *dir, *ret = NULL;

        if (path[0] == '/' || (slash && !slash[1]))
                return NULL;
        if (slash && !(dir_given = strndup(path, (size_t)(slash - path))))
                return NULL;
        dir = realpath(dir_given ? dir_given : ".", NULL);
        free(dir_given);
        if (!dir)
                return NULL;
        if (asprintf(&ret, "%s/%s", strcmp(dir, "/") ? dir : "", slash ? slash + 1 : path) < 0)
                ret = NULL;
        free(dir);
        return ret;
}

static int check_as_self(const char *path, bool user_given) {
        struct passwd *pw = getpwuid(geteuid());
        struct config_report rep;
        char who[128];
        int r;

        snprintf(who, sizeof(who), "user %s (uid %u)", pw ? pw->pw_name : "?", (unsigned)geteuid());
        r = config_check(path, &rep);
        /* Insertion sort: stable, so what one line produced keeps its order. */
        for (size_t i = 1; i < rep.n; i++) {
                struct config_report_line t = rep.lines[i];
                size_t j = i;

                for (; j > 0 && report_key(&rep.lines[j - 1]) > report_key(&t); j--)
                        rep.lines[j] = rep.lines[j - 1];
                rep.lines[j] = t;
        }
        for (size_t i = 0; i < rep.n; i++)
                fprintf(rep.lines[i].note ? stdout : stderr, "wxtokend: %s%s\n", rep.lines[i].note ? "note: " : "",
                        rep.lines[i].text);
        if (r < 0)
                fprintf(stderr, "wxtokend: %s: %zu error%s, checked as %s\n", path, rep.n_errors,
                        rep.n_errors == 1 ? "" : "s", who);
        else
                printf("wxtokend: %s: configuration ok, %zu apps, checked as %s\n", path, rep.n_apps, who);
        /* Root reads every file: what the service's user cannot read would pass unseen. */
        if (geteuid() == 0 && !user_given)
                printf("wxtokend: note: as root, files only root can read pass and the service's own secrets are "
                       "refused (not root's); check as the service's user (the unit's User=, wxtokend) with -t -u USER\n");
        config_report_free(&rep);
        return r < 0 ? 1 : 0;
}

/*
 * -t -u USER: a child drops to USER (its groups too, as systemd's User= would) and checks;
 * the parent stays root and passes its verdict on.
 */
static int check_as(const char *path, const char *user) {
        struct passwd *pw;
        int status;
        pid_t pid;

        if (!user)
                return check_as_self(path, false);
        errno = 0;
        pw = getpwnam(user);
        if (!pw) {
                fprintf(stderr, "wxtokend: -u %s: %s\n", user, errno ? strerror(errno) : "no such user");
                return 1;
        }
        if (pw->pw_uid == geteuid())
                return check_as_self(path, true);
        if (geteuid() != 0) {
                fprintf(stderr, "wxtokend: -u %s: only root can check as another user; run it as root, or as %s\n",
                        user, user);
                return 1;
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "wxtokend: fork: %s\n", strerror(errno));
                return 1;
        }
        if (pid == 0) {
                if (setgid(pw->pw_gid) < 0 || initgroups(pw->pw_name, pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 ||
                    geteuid() != pw->pw_uid) {
                        fprintf(stderr, "wxtokend: -u %s: cannot become this user: %s\n", user, strerror(errno));
                        _exit(1);
                }
                exit(check_as_self(path, true));
        }
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return 1;
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *path = CONFIG_DEFAULT_PATH, *user = NULL;
        struct agent_config *config = NULL;
        char err[CONFIG_ERROR_MAX], *absolute = NULL;
        bool test_only = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:thu:", longopts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 't':
                        test_only = true;
                        break;
                case 'u':
                        user = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("wxtokend " PACKAGE_VERSION "\n");
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || (user && !test_only)) {
                fprintf(stderr, "wxtokend: %s\n", user && !test_only ? "-u goes with -t" : "unexpected argument");
                usage(stderr);
                return 2;
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

        if (test_only)
                return check_as(path, user);
        absolute = config_path_absolute(path);
        if (absolute)
                path = absolute;
        r = config_load(path, &config, err, sizeof(err));
        free(absolute); /* config_load keeps its own copy */
        if (r < 0) {
                fprintf(stderr, "wxtokend: %s\n", err);
                return 1;
        }
        log_setup(config->log_level);
        log_set_json(config->log_json);
        /* Said at every start, so a test setting cannot pass unnoticed into production. */
        if (config->allow_plain_http)
                log_warning("allow_plain_http = yes: an http:// api_base gets the AppSecret in clear; for tests "
                            "and wxemu only");
        return manager_run(config);
}
