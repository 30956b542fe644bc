/* config-parse.h: the parser's state shared by config.c (the file) and config-keys.c (the keys). */
#ifndef CONFIG_PARSE_H
#define CONFIG_PARSE_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "wire.h"               /* the name grammar */

/* A duration beyond this is a typo; the cap also keeps ms and us arithmetic far from overflow. */
#define CONFIG_SECONDS_MAX 2147483647LL
/* The retired shm_prefix: "/<prefix>.<app>" was a segment name. */
#define CONFIG_PREFIX_MAX 64
#define CONFIG_APP_NAME_MAX WIRE_NAME_BASE_MAX
/* Debian's whole bundle (ca-certificates.crt) is about 200 KB. */
#define CONFIG_CA_FILE_MAX (4 * 1024 * 1024)
/* WeChat's daily quota of /cgi-bin/token calls: a cap above it caps nothing. */
#define CONFIG_FORCED_PER_DAY_MAX 2000
/* Upstream calls at once (each a socket) and started a second: beyond these a typo, not a plan. */
#define CONFIG_CONCURRENT_CALLS_MAX 1024
#define CONFIG_CALLS_PER_SECOND_MAX 10000

enum { AK_SOCKET, AK_SOCKET_GROUP, AK_STATE_DIR, AK_SHM_PREFIX, AK_REFRESH_MARGIN, AK_BACKOFF_MIN,
       AK_BACKOFF_MAX, AK_MIN_FORCE_INTERVAL, AK_LOG_LEVEL, AK_MAX_CONNECTIONS, AK_IDLE_TIMEOUT,
       AK_MAX_WAITERS, AK_SHM_DIR, AK_MIN_TOKEN_LIFETIME, AK_ALLOW_PLAIN_HTTP, AK_PROXY,
       AK_MAX_FORCED_PER_DAY, AK_MAX_CONNECTIONS_PER_UID, AK_MAX_WAITERS_PER_UID, AK_LOG_FORMAT, AK_METRICS_LISTEN,
       AK_MAX_CONCURRENT_CALLS, AK_MAX_CALLS_PER_SECOND, AK_MAX };

enum { PK_KIND, PK_APPID, PK_SECRET_FILE, PK_SECRET_CREDENTIAL, PK_API_BASE, PK_CA_FILE, PK_GROUP,
       PK_TICKETS, PK_REFRESH_MARGIN, PK_VERIFY_BEFORE_FORCE, PK_MAX_FORCED_PER_DAY, PK_AUTHORIZER_TICKETS,
       PK_CORP_TICKETS, PK_MAX };

enum { CK_REDIS, CK_PASSWORD_FILE, CK_KEY_PREFIX, CK_LEASE_MS, CK_NODE_ID, CK_FLEET_KEY_FILE, CK_MAX };

enum section { SEC_NONE, SEC_AGENT, SEC_APP, SEC_CLUSTER, SEC_BAD };

struct parse {
        const char *path;
        FILE *f;
        char *buf;                      /* getline's buffer */
        size_t buf_size;
        unsigned lineno;
        struct agent_config *c;
        enum section sec;
        char label[208];                /* "agent", "app shop": the section, for messages */
        unsigned sec_line;              /* the section header's line */
        unsigned agent_line[AK_MAX];    /* where each key was given, 0: not given */
        unsigned app_line[PK_MAX];
        unsigned cluster_line[CK_MAX];
        bool agent_seen, cluster_seen;
        char *secret_arg;               /* the current app's secret_file or secret_credential */
        const char *value;              /* the value being set, for parse_fail to keep secrets out */
        int err;                        /* the first error, -errno */
        unsigned err_found;             /* the line being read when it was found */
        char *err_buf;
        size_t err_size;
        char *dir;                      /* the config file's directory, absolute: relative paths start there */
        struct config_report *report;   /* -t: every error goes here and the reading goes on; NULL: stop at the first */
        size_t sec_errors;              /* the report's errors when the current section began */
        void *names, *appids;           /* trees of what was read so far (config-index.c) */
};

/* Stop at the first error (start, reload), or read on to the end to report them all (-t). */
static inline bool parse_stopped(const struct parse *p) {
        return p->err && !p->report;
}

extern const char *const agent_keys[AK_MAX];
extern const char *const app_keys[PK_MAX];
extern const char *const cluster_keys[CK_MAX];

/* WeChat's tokens and tickets live 7200 s: a longer claimed lifetime is not believed. */
#define CONFIG_TOKEN_LIFETIME_MAX 86400

/* True if s is [A-Za-z0-9_-]{1,max}. */
bool name_valid(const char *s, size_t max);

/*
 * True if v, given where a path or name belongs, may be a secret pasted in its place
 * (16 or more of [A-Za-z0-9_+=-], letters and digits both present): messages never echo
 * it. parse_fail replaces every such run of the value being set by "***".
 */
bool value_looks_secret(const char *v);

/* Record "path:line: [section] key: message" unless an earlier error is kept; 0 for inih. */
__attribute__((format(printf, 5, 6)))
int parse_fail(struct parse *p, int err, unsigned line, const char *key, const char *fmt, ...);

/* Set key k of [agent], or of the app being read, from v: 1, or parse_fail()'s 0. */
int agent_set(struct parse *p, int k, const char *v);
int app_set(struct parse *p, struct app_config *a, int k, const char *v);
int cluster_set(struct parse *p, int k, const char *v);

/* The [cluster] section ended: required keys, defaults, the password file. */
void cluster_close(struct parse *p);

/* The index of name in keys, -1 if absent. */
int key_lookup(const char *const *keys, int n, const char *name);

/* The known key nearest to name (a small edit distance, for "did you mean"), or NULL if none is near. */
const char *key_suggest(const char *const *keys, int n, const char *name);

/* v as an absolute path: a relative one is taken from the config file's directory. 1, or parse_fail()'s 0. */
int parse_path(struct parse *p, const char *key, const char *v, char **dst);

/* Add one line to the -t report (an error unless note). */
void report_add(struct config_report *rep, bool note, unsigned line, const char *msg);

/*
 * config-index.c: whether an app called name was read before (1), recording it if not (0);
 * -1 out of memory.
 */
int config_name_taken(struct parse *p, const char *name);

/*
 * Whether an app read before has the same kind and appid as c->apps[app] (and for work
 * the same secret): 1 and its index in *earlier; else 0, and app is recorded; -1 out of
 * memory.
 */
int config_appid_taken(struct parse *p, size_t app, size_t *earlier);

void config_index_free(struct parse *p);

/* config-tickets.c: the section's tickets, authorizer_tickets and corp_tickets against its kind (failures through parse_fail). */
void tickets_check(struct parse *p, const struct app_config *a);

/* -t, after the file was read: what the start would meet (socket directory, state_dir, shm_dir). */
void config_check_start(struct parse *p);

#endif
