/* config-cluster.c: the [cluster] section of wxtokend.conf: where Redis is and how leases run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config-parse.h"
#include "secret.h"

const char *const cluster_keys[CK_MAX] = {
        "redis", "password_file", "key_prefix", "lease_ms", "node_id", "fleet_key_file",
};

/* A lease shorter than this cannot be renewed in time over a real network. */
#define CLUSTER_LEASE_MIN_MS 500
#define CLUSTER_LEASE_MAX_MS (3600 * 1000)

/*
 * "redis://HOST[:PORT][/DB]" ("[::1]" for IPv6) or an absolute path to Redis's unix
 * socket. A password in the URL is refused: it would sit in a world-readable file.
 */
static int parse_redis(struct parse *p, struct cluster_config *cl, const char *v) {
        const char *key = cluster_keys[CK_REDIS], *h, *end;
        long port = 6379, db = 0;
        char *tail;

        /* A password in the URL: refused, and the value never echoed (it would put the password in a log). */
        if (strchr(v, '@'))
                return parse_fail(p, -EINVAL, p->lineno, key, "no password in the URL: use password_file");
        if (v[0] == '/') {
                cl->unix_path = strdup(v);
                return cl->unix_path ? 1 : parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
        }
        if (strncmp(v, "redis://", 8) != 0)
                return parse_fail(p, -EINVAL, p->lineno, key, "expected redis://HOST[:PORT][/DB] or /path/to/redis.sock, "
                                  "got '%s'", v);
        h = v + 8;
        if (*h == '[') {
                end = strchr(h, ']');
                if (!end || end == h + 1)
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected [IPv6 address], got '%s'", v);
                cl->host = strndup(h + 1, (size_t)(end - h - 1));
                end++;
        } else {
                end = h + strcspn(h, ":/");
                if (end == h)
                        return parse_fail(p, -EINVAL, p->lineno, key, "no host in '%s'", v);
                cl->host = strndup(h, (size_t)(end - h));
        }
        if (!cl->host)
                return parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
        if (*end == ':') {
                errno = 0;
                port = strtol(end + 1, &tail, 10);
                if (errno || tail == end + 1 || port < 1 || port > 65535)
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected a port from 1 to 65535 in '%s'", v);
                end = tail;
        }
        if (*end == '/' && end[1]) {
                errno = 0;
                db = strtol(end + 1, &tail, 10);
                if (errno || tail == end + 1 || *tail || db < 0 || db > 100000)
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected a database number after '/' in '%s'", v);
                end = tail;
        } else if (*end == '/') {
                end++;
        }
        if (*end)
                return parse_fail(p, -EINVAL, p->lineno, key, "unexpected '%s' at the end of '%s'", end, v);
        cl->port = (int)port;
        cl->db = (int)db;
        return 1;
}

int cluster_set(struct parse *p, int k, const char *v) {
        struct cluster_config *cl = &p->c->cluster;
        const char *key = cluster_keys[k];
        char **dst = NULL;
        long long ms = 0;
        const char *q;

        switch (k) {
        case CK_REDIS:
                free(cl->redis);
                cl->redis = strdup(v);
                if (!cl->redis)
                        return parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
                return parse_redis(p, cl, v);
        case CK_PASSWORD_FILE:
                /* Never echoed: a password pasted in place of the path would reach the log. */
                if (v[0] != '/')
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected an absolute path (the value is not "
                                          "shown: it may be the password itself; put it in a file, chmod 600, and "
                                          "name the file here)");
                dst = &cl->password_file;
                break;
        case CK_FLEET_KEY_FILE:
                if (v[0] != '/')
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected an absolute path to a file (mode 0600)");
                dst = &cl->fleet_key_file;
                break;
        case CK_KEY_PREFIX:
                if (!name_valid(v, CONFIG_PREFIX_MAX))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected [A-Za-z0-9_-]{1,64}, got '%s'", v);
                dst = &cl->key_prefix;
                break;
        case CK_NODE_ID:
                if (!name_valid(v, CONFIG_PREFIX_MAX))
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected [A-Za-z0-9_-]{1,64}, got '%s'", v);
                dst = &cl->node_id;
                break;
        default:
                for (q = v; *q >= '0' && *q <= '9' && ms <= CLUSTER_LEASE_MAX_MS; q++)
                        ms = ms * 10 + (*q - '0');
                if (q == v || *q || ms < CLUSTER_LEASE_MIN_MS || ms > CLUSTER_LEASE_MAX_MS)
                        return parse_fail(p, -EINVAL, p->lineno, key, "expected milliseconds from %d to %d, got '%s'",
                                          CLUSTER_LEASE_MIN_MS, CLUSTER_LEASE_MAX_MS, v);
                cl->lease_ms = ms;
                return 1;
        }
        free(*dst);
        *dst = strdup(v);
        return *dst ? 1 : parse_fail(p, -ENOMEM, p->lineno, key, "out of memory");
}

/* A hostname may hold dots and more: keep what a node id allows, so it is a safe key part. */
static int default_node_id(char **ret) {
        char host[256] = "";
        size_t i, n = 0;

        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                snprintf(host, sizeof(host), "node");
        for (i = 0; host[i] && n < CONFIG_PREFIX_MAX; i++) {
                char ch = host[i];

                host[n++] = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                            ch == '-' ? ch : '_';
        }
        host[n] = '\0';
        *ret = strdup(host);
        return *ret ? 0 : -ENOMEM;
}

/*
 * The fleet key: a private file (the secret file rules: regular, no symlink, mode 0600
 * or stricter) owned by root or by the agent's own user, since whoever can write it
 * can sign tokens for the whole fleet. It is never logged.
 */
static void load_fleet_key(struct parse *p, struct cluster_config *cl) {
        unsigned line = p->cluster_line[CK_FLEET_KEY_FILE];
        char err[CONFIG_ERROR_MAX];
        struct stat st;
        int r;

        /* lstat first for the owner; secret_load_file then opens with O_NOFOLLOW and checks the rest. */
        if (lstat(cl->fleet_key_file, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid != 0 && st.st_uid != geteuid()) {
                parse_fail(p, -EPERM, line, "fleet_key_file", "%s is owned by uid %u: it must belong to root or to "
                           "the agent's user (chown root %s)", cl->fleet_key_file, (unsigned)st.st_uid,
                           cl->fleet_key_file);
                return;
        }
        r = secret_load_file(cl->fleet_key_file, &cl->fleet_key, err, sizeof(err));
        if (r < 0) {
                parse_fail(p, r, line, "fleet_key_file", "%s", strncmp(err, "secret_file ", 12) ? err : err + 12);
                return;
        }
        if (strlen(cl->fleet_key) < CONFIG_FLEET_KEY_MIN)
                parse_fail(p, -EINVAL, line, "fleet_key_file", "%s holds fewer than %d characters: make one with "
                           "'openssl rand -hex 32 > %s' and copy it to every host", cl->fleet_key_file,
                           CONFIG_FLEET_KEY_MIN, cl->fleet_key_file);
}

void cluster_close(struct parse *p) {
        struct cluster_config *cl = &p->c->cluster;
        char err[CONFIG_ERROR_MAX];
        int r;

        if (parse_stopped(p))
                return;
        if (!p->cluster_line[CK_REDIS]) {
                parse_fail(p, -EINVAL, p->sec_line, "redis", "missing (in the section starting here)");
                return;
        }
        cl->enabled = true;
        if (!cl->key_prefix && !(cl->key_prefix = strdup("wxtokend")))
                parse_fail(p, -ENOMEM, p->sec_line, NULL, "out of memory");
        if (!cl->node_id && default_node_id(&cl->node_id) < 0)
                parse_fail(p, -ENOMEM, p->sec_line, NULL, "out of memory");
        if (cl->password_file) {
                /* Held to the same rules as an app secret: private file, never logged. */
                r = secret_load_file(cl->password_file, &cl->password, err, sizeof(err));
                /* err names the file as a "secret_file ..."; here the key is password_file. */
                if (r < 0)
                        parse_fail(p, r, p->cluster_line[CK_PASSWORD_FILE], "password_file", "%s",
                                   strncmp(err, "secret_file ", 12) ? err : err + 12);
        }
        if (cl->fleet_key_file)
                load_fleet_key(p, cl);
}

void cluster_config_clear(struct cluster_config *cl) {
        if (cl->password)
                explicit_bzero(cl->password, strlen(cl->password));
        free(cl->password);
        if (cl->fleet_key)
                explicit_bzero(cl->fleet_key, strlen(cl->fleet_key));
        free(cl->fleet_key);
        free(cl->fleet_key_file);
        free(cl->password_file);
        free(cl->redis);
        free(cl->host);
        free(cl->unix_path);
        free(cl->key_prefix);
        free(cl->node_id);
        memset(cl, 0, sizeof(*cl));
}

static bool same(const char *a, const char *b) {
        return a == b || (a && b && !strcmp(a, b));
}

bool cluster_config_equal(const struct cluster_config *a, const struct cluster_config *b) {
        return a->enabled == b->enabled && same(a->redis, b->redis) && same(a->password, b->password) &&
               same(a->key_prefix, b->key_prefix) && a->lease_ms == b->lease_ms && same(a->node_id, b->node_id) &&
               same(a->fleet_key, b->fleet_key);
}
