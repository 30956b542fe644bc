/* config-check.c: what wxtokend -t adds to reading the file: every error kept, "did you mean", paths, the start's directories. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config-parse.h"
#include "file.h"
#include "namespace.h"

/* Levenshtein distance of two short strings; both under 64 bytes (the caller checks). */
static unsigned edit_distance(const char *a, const char *b) {
        unsigned row[65], i, j, la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

        for (j = 0; j <= lb; j++)
                row[j] = j;
        for (i = 1; i <= la; i++) {
                unsigned diag = row[0];

                row[0] = i;
                for (j = 1; j <= lb; j++) {
                        unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);

                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        diag = up;
                        row[j] = best;
                }
        }
        return row[lb];
}

const char *key_suggest(const char *const *keys, int n, const char *name) {
        size_t len = strlen(name);
        /* A typo or two; for short names one, or every three-letter key would be "near". */
        unsigned max = len <= 4 ? 1 : len <= 8 ? 2 : 3, best = max + 1;
        const char *found = NULL;

        if (len == 0 || len >= 64)
                return NULL;
        for (int k = 0; k < n; k++) {
                unsigned d = edit_distance(name, keys[k]);

                if (d < best) {
                        best = d;
                        found = keys[k];
                }
        }
        return found;
}

int parse_path(struct parse *p, const char *key, const char *v, char **dst) {
        char *s = NULL;

        if (!*v)
                return parse_fail(p, -EINVAL, p->lineno, key, "expected a path, got ''");
        if (v[0] == '/')
                s = strdup(v);
        else if (asprintf(&s, "%s/%s", p->dir, v) < 0)
                s = NULL;
        if (!s)
                return parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
        free(*dst);
        *dst = s;
        return 1;
}

void report_add(struct config_report *rep, bool note, unsigned line, const char *msg) {
        struct config_report_line *l;
        char *text = strdup(msg);

        l = text ? realloc(rep->lines, (rep->n + 1) * sizeof(*l)) : NULL;
        if (!l) {
                free(text);
                /* Out of memory: the count still fails the check. */
                rep->n_errors += !note;
                return;
        }
        rep->lines = l;
        rep->lines[rep->n++] = (struct config_report_line){ .line = line, .note = note, .text = text };
        rep->n_errors += !note;
}

void config_report_free(struct config_report *rep) {
        for (size_t i = 0; i < rep->n; i++)
                free(rep->lines[i].text);
        free(rep->lines);
        *rep = (struct config_report){ 0 };
}

/* A wxtokend.socket installed for this path: then PID 1 makes the directory and binds, not the agent. */
static bool socket_unit_for(const char *socket_path, char *unit, size_t unit_size) {
        static const char *const dirs[] = { "/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                                            "/usr/lib/systemd/system", "/lib/systemd/system" };
        char path[256], *line = NULL;
        size_t size = 0;
        bool found = false;

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !found; i++) {
                FILE *f;

                snprintf(path, sizeof(path), "%s/wxtokend.socket", dirs[i]);
                f = fopen(path, "re");
                if (!f)
                        continue;
                while (!found && getline(&line, &size, f) > 0) {
                        line[strcspn(line, "\r\n")] = '\0';
                        found = !strncmp(line, "ListenStream=", 13) && !strcmp(line + 13, socket_path);
                }
                fclose(f);
                if (found)
                        snprintf(unit, unit_size, "%s", path);
        }
        free(line);
        return found;
}

/* The directory d (or, if missing and may_make, its parent) as this user can use it: 0 or -errno in err. */
static int dir_usable(const char *d, bool may_make, char *err, size_t err_size) {
        struct stat st;

        if (stat(d, &st) < 0) {
                int r = -errno;
                const char *slash = strrchr(d, '/');
                char parent[4096];

                if (r != -ENOENT || !may_make || !slash) {
                        snprintf(err, err_size, "%s: %s", d, strerror(-r));
                        return r;
                }
                snprintf(parent, sizeof(parent), "%.*s", slash == d ? 1 : (int)(slash - d), d);
                if (faccessat(AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS) < 0) {
                        r = -errno;
                        snprintf(err, err_size, "%.200s is missing and cannot be made in %.200s: %s", d, parent, strerror(-r));
                        return r;
                }
                return 0;
        }
        if (!S_ISDIR(st.st_mode)) {
                snprintf(err, err_size, "%s is not a directory", d);
                return -ENOTDIR;
        }
        if (faccessat(AT_FDCWD, d, W_OK | X_OK, AT_EACCESS) < 0) {
                int r = -errno;

                snprintf(err, err_size, "%s: %s (uid %u)", d, strerror(-r), (unsigned)geteuid());
                return r;
        }
        return 0;
}

/* An error of [agent] key k, at its line (none if the default is in use). */
static void agent_fail(struct parse *p, int k, const char *what, const char *msg) {
        p->sec = SEC_AGENT;
        snprintf(p->label, sizeof(p->label), "agent");
        p->value = NULL;
        parse_fail(p, -EINVAL, p->agent_line[k], agent_keys[k], "%s%s", what, msg);
}

/*
 * READY=1 waits for every app's first token, and a cold start (nothing to adopt) fetches
 * them at max_calls_per_second: with many apps that takes minutes. Said, not refused: the
 * agent moves systemd's start timeout on as apps settle, and a restart adopts its tokens
 * and is ready at once.
 */
static void check_pace(struct parse *p) {
        const struct agent_config *c = p->c;
        unsigned line = p->agent_line[AK_MAX_CALLS_PER_SECOND];
        size_t seconds = (c->n_apps + c->max_calls_per_second - 1) / c->max_calls_per_second;
        char what[600], at[16] = "";

        if (seconds <= 60)
                return;
        if (line)
                snprintf(at, sizeof(at), "%u:", line);
        snprintf(what, sizeof(what), "%.300s:%s [agent] max_calls_per_second: %zu apps at %u calls a second%s: a cold "
                 "start (no token to adopt) is READY after about %zu s; under systemd the agent moves the start timeout on "
                 "as apps settle (EXTEND_TIMEOUT_USEC), another supervisor must wait that long", p->path, at, c->n_apps, c->max_calls_per_second,
                 line ? "" : " (the default)", seconds);
        report_add(p->report, true, line, what);
}

void config_check_start(struct parse *p) {
        const struct agent_config *c = p->c;
        char err[CONFIG_ERROR_MAX], what[4200], unit[300];
        const char *slash = strrchr(c->socket_path, '/');

        /* The socket: bound by the agent in its directory, unless systemd hands one over. */
        if (sd_listen_fds(0) > 0 || socket_unit_for(c->socket_path, unit, sizeof(unit))) {
                snprintf(what, sizeof(what), "%s: socket %s: %s (socket activation): its directory is systemd's, "
                         "not checked", p->path, c->socket_path, sd_listen_fds(0) > 0 ? "passed by systemd" : unit);
                report_add(p->report, true, p->agent_line[AK_SOCKET], what);
        } else {
                char d[4096];

                snprintf(d, sizeof(d), "%.*s", !slash ? 1 : slash == c->socket_path ? 1 : (int)(slash - c->socket_path),
                         !slash ? "." : c->socket_path);
                if (dir_usable(d, false, err, sizeof(err)) < 0) {
                        /* Said first: the start would fail here, after making empty segments. */
                        snprintf(what, sizeof(what), "%s (make the directory, or let wxtokend.socket pass the socket)",
                                 err);
                        agent_fail(p, AK_SOCKET, "the agent could not bind its socket: ", what);
                }
        }
        /* state_dir: made private if missing, refused if others could write to it. */
        if (dir_usable(c->state_dir, true, err, sizeof(err)) < 0) {
                agent_fail(p, AK_STATE_DIR, "", err);
        } else if (access(c->state_dir, F_OK) == 0) {
                snprintf(what, sizeof(what), "state_dir %s", c->state_dir);
                if (file_check_dir(c->state_dir, what, err, sizeof(err)) < 0)
                        agent_fail(p, AK_STATE_DIR, "", err);
        }
        if (namespace_check(c->shm_dir, err, sizeof(err)) < 0)
                agent_fail(p, AK_SHM_DIR, "", err);
        check_pace(p);
}
