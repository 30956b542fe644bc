/* config.h: the agent's configuration: the INI file's [agent] and [app NAME] sections. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/wxtokend/wxtokend.conf"
#define CONFIG_API_BASES_MAX 4
#define CONFIG_ERROR_MAX 512
#define CONFIG_FLEET_KEY_MIN 32         /* bytes of a fleet_key_file: an HMAC key worth the name */

enum app_kind {
        APP_KIND_TOKEN,         /* GET /cgi-bin/token: every call rotates */
        APP_KIND_STABLE,        /* POST /cgi-bin/stable_token: normal mode returns the live token */
        APP_KIND_WORK,          /* WeCom GET /cgi-bin/gettoken: same token while valid */
        APP_KIND_COMPONENT,     /* Open Platform POST api_component_token: needs the pushed component_verify_ticket */
        APP_KIND_SUITE,         /* WeCom service provider's suite: get_suite_token, needs the pushed suite_ticket */
        APP_KIND_PROVIDER,      /* WeCom service provider: get_provider_token (corpid, provider_secret) */
};

/* A kind whose token needs a ticket pushed to the platform and that holds accounts added at run time. */
static inline bool app_kind_platform(enum app_kind kind) {
        return kind == APP_KIND_COMPONENT || kind == APP_KIND_SUITE;
}

/* A kind served by WeCom (qyapi.weixin.qq.com): the same token while it is valid. */
static inline bool app_kind_wecom(enum app_kind kind) {
        return kind == APP_KIND_WORK || kind == APP_KIND_SUITE || kind == APP_KIND_PROVIDER;
}

/* Tickets published beside the token, each in "<app>.<type>". */
enum ticket_type {
        TICKET_JSAPI = 1 << 0,
        TICKET_WX_CARD = 1 << 1,
        TICKET_AGENT_CONFIG = 1 << 2,   /* WeCom's app ticket, for wx.agentConfig (work only) */
};

struct app_config {
        char name[65];                  /* [A-Za-z0-9_-]{1,64}: the segment name */
        enum app_kind kind;
        char *appid;                    /* the corpid for work */
        char *secret;                   /* loaded from secret_file or the credential; never logged */
        char *secret_source;            /* "secret_file /path" or "secret_credential NAME", for messages */
        char *api_base[CONFIG_API_BASES_MAX]; /* failover order, no trailing slash */
        int n_api_base;
        char *ca_file;                  /* NULL: the system's CAs */
        char *ca_pem;                   /* ca_file's contents, read once (libcurl opens no file) */
        size_t ca_len;
        unsigned plain_http_line;       /* the api_base line with an http:// base, 0 if none */
        char *group;                    /* owner group of the segments, NULL: the agent's */
        gid_t gid;                      /* resolved group, (gid_t)-1 if none */
        unsigned tickets;               /* enum ticket_type bits */
        unsigned account_tickets;       /* the same, for every account under a component (authorizer_tickets) or suite (corp_tickets) */
        int64_t refresh_margin_ms;      /* from the app, else [agent] refresh_margin */
        bool verify_before_force;       /* probe the token before a client-forced rotation */
        unsigned max_forced_per_day;    /* client-forced upstream calls per item per Beijing day; else [agent]'s */
        bool has_max_forced_per_day;    /* given in the section (0 is a valid cap) */
        unsigned line;                  /* line of the section's first key, for messages */
};

/* [cluster]: agents on several hosts share each app's token through Redis. */
struct cluster_config {
        bool enabled;                   /* the section is present */
        char *redis;                    /* as written, for messages */
        char *host;                     /* redis://HOST:PORT/DB, or */
        int port, db;
        char *unix_path;                /* a unix socket path */
        char *password_file;
        char *password;                 /* AUTH; never logged */
        char *key_prefix;               /* every key and channel starts "<prefix>:" */
        int64_t lease_ms;
        char *node_id;                  /* this agent's name in leases; the hostname by default */
        char *fleet_key_file;
        char *fleet_key;                /* HMAC key of records and notes, NULL: none; never logged */
};

struct agent_config {
        char *path;                     /* the file read */
        char *socket_path;
        char *socket_group;             /* NULL: none */
        gid_t socket_gid;               /* (gid_t)-1 if none */
        unsigned max_connections;       /* control socket connections at once */
        int64_t idle_timeout_ms;        /* a connection without a complete request is closed after this */
        unsigned max_waiters;           /* forced-refresh requests waiting on one app */
        unsigned max_forced_per_day;    /* default cap on client-forced upstream calls per item per Beijing day */
        unsigned max_connections_per_uid; /* per peer uid (root exempt); default a quarter of max_connections */
        unsigned max_waiters_per_uid;   /* refresh waiters per peer uid over all apps (root exempt) */
        char *state_dir;
        char *shm_dir;                  /* the agent's segment directory: only it writes there */
        char *shm_prefix;               /* retired: the old /dev/shm/<prefix>.* names, unlinked at start */
        int64_t refresh_margin_ms;
        int64_t backoff_min_ms;
        int64_t backoff_max_ms;
        int64_t min_force_interval_ms;
        int log_level;                  /* syslog priority: LOG_ERR .. LOG_DEBUG */
        bool log_json;                  /* log_format = json: one JSON object per line (outside journald) */
        int64_t min_token_lifetime_ms;  /* a shorter expires_in is an upstream error, not a schedule */
        bool allow_plain_http;          /* http:// api_base allowed (tests, wxemu): the secret goes in clear */
        char *proxy;                    /* the only proxy libcurl uses; NULL: none, whatever the environment */
        char *metrics_listen;           /* "127.0.0.1:9187": /metrics, /healthz, /readyz over HTTP; NULL: off */
        unsigned max_concurrent_calls;  /* upstream transfers at once; more wait in the agent's queue */
        unsigned max_calls_per_second;  /* upstream transfers started a second, evenly spaced */
        struct app_config *apps;
        size_t n_apps;
        struct cluster_config cluster;
};

/*
 * Read and check path, including that every secret is readable (and not readable by
 * group or others). On error returns -EINVAL (or -errno for an unreadable file) and
 * writes one line to err naming the file, line and key: "wxtokend.conf:12: [app shop]
 * kind: expected token, stable, work, component, suite or provider, got 'tokn'". Secrets never appear in err.
 */
int config_load(const char *path, struct agent_config **ret, char *err, size_t err_size);

/* What wxtokend -t found: every error and note, in the file's order. */
struct config_report {
        struct config_report_line {
                unsigned line;          /* for the order; 0: not tied to a line (last) */
                bool note;              /* said, but not an error */
                char *text;             /* "path:line: [section] key: message", no secret in it */
        } *lines;
        size_t n, n_errors;
        size_t n_apps;          /* apps configured, when no error was found */
};

/*
 * wxtokend -t: read the whole file as config_load does, but report every error instead
 * of the first, then check what the start would meet with the effective user's rights:
 * the socket's directory (unless socket activation is configured), state_dir, shm_dir
 * (without taking its lock). Nothing is created. 0 if no error was found, else -EINVAL;
 * rep is filled either way (free it with config_report_free).
 */
int config_check(const char *path, struct config_report *rep);
void config_report_free(struct config_report *rep);

/* Free c; the secrets are wiped first. NULL is allowed. */
void config_free(struct agent_config *c);

/* The app called name, or NULL. */
const struct app_config *config_find_app(const struct agent_config *c, const char *name);

/* True if a and b would be served the same way (for reload: unchanged apps keep running). */
bool app_config_equal(const struct app_config *a, const struct app_config *b);

const char *app_kind_name(enum app_kind kind);

/* Wipe the password and free the section's strings. */
void cluster_config_clear(struct cluster_config *cl);

/* Same Redis, credentials, prefix, lease and node: a reload may keep the connection. */
bool cluster_config_equal(const struct cluster_config *a, const struct cluster_config *b);

#endif
