/* cluster-accounts.c: a component's accounts or a suite's corps, and the ticket pushed to it, shared through Redis sealed with the fleet key; every agent keeps them all in its state_dir. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "account-seal.h"
#include "app.h"
#include "authorizer-file.h"
#include "clock.h"
#include "cluster-internal.h"
#include "cluster-record.h"
#include "log.h"
#include "redis-link.h"

/*
 * Why sealed copies in Redis and a full copy in every state_dir: a refresh token lost is
 * an account its merchant must authorize again, so no single place may hold the only
 * copy. Redis alone would lose them all at a FLUSHALL or a restart without persistence
 * (WxJava #1119); the holder's state_dir alone dies with its host. So each change made on
 * any agent (an add, a remove, a rotation WeChat handed out, a refusal) is sealed
 * (AES-256-GCM under a key derived from the fleet key: Redis never holds a refresh token in
 * clear, and a writer without the fleet key can neither read nor plant a record) into the
 * hash <prefix>:accounts:<component>, one field per account; every agent reads the hash at
 * each reconcile, takes what is newer than its own (by version), and writes its state_dir.
 * What Redis lacks or holds older, any agent puts back from its state_dir: a Redis
 * restarted empty loses nothing. A removal is a sealed tombstone, never a missing field, so
 * deleting fields in Redis removes no account.
 *
 * A WeCom suite's corps are the same thing (a permanent code is a refresh token that does
 * not rotate, and as precious): the same hash, named by the suite ("accounts:suite:<id>"
 * against "accounts:component:<id>"), and the seal covers that name, so a component's
 * record copied into a suite's hash (or one account's into another's field) does not open.
 */
#define TICKET_FIELD "~ticket"          /* not an appid or corpid: the verify ticket or suite_ticket */
#define ACCOUNTS_FIELDS_MAX (PROTOCOL_AUTHORIZERS_MAX + 1)

static const char script_accounts[] =
        "local t = redis.call('TYPE', KEYS[1]).ok\n"
        "if t == 'none' then return {} end\n"
        "if t ~= 'hash' then return {-1, t} end\n"
        "local n = redis.call('HLEN', KEYS[1])\n"
        "if n > tonumber(ARGV[1]) then return {-2, tostring(n)} end\n"
        "local all = redis.call('HGETALL', KEYS[1])\n"
        "for i = 1, #all do if #all[i] > tonumber(ARGV[2]) then return {-3, tostring(#all[i])} end end\n"
        "return all\n";

static const struct cluster_config *conf(const struct cluster *cl) {
        return &cl->svc->config->cluster;
}

static void accounts_key(const struct cluster *cl, const struct app *app, char *buf, size_t size) {
        char n[CLUSTER_NAME_MAX];

        cluster_app_name(app, n, sizeof(n));
        snprintf(buf, size, "%s:accounts:%s", conf(cl)->key_prefix, n);
}

bool cluster_accounts_shared(const struct cluster *cl, const struct app *app) {
        return cl && app_kind_platform(app->cfg->kind) && conf(cl)->fleet_key;
}

static void on_written(struct cluster *cl, redisReply *reply, void *userdata) {
        free(userdata); /* a write lost is made again at the next reconcile, from state_dir */
}

static void write_field(struct cluster *cl, struct app *app, const char *field, uint64_t version, const char *plain) {
        char key[CLUSTER_NAME_MAX + 80], name[CLUSTER_NAME_MAX], value[ACCOUNT_SEAL_VALUE_MAX];
        const char *argv[] = { "HSET", key, field, value };

        accounts_key(cl, app, key, sizeof(key));
        if (account_seal(conf(cl)->fleet_key, key, field, version, plain, value, sizeof(value)) < 0) {
                log_app(LOG_ERR, app->cfg->name, 0, "cluster: cannot seal the record of %s for Redis", field);
                return;
        }
        cluster_app_name(app, name, sizeof(name));
        cluster_send(cl, on_written, cluster_ref_new(REF_PUSH, name), 4, argv);
        explicit_bzero(value, sizeof(value));
}

static void write_account(struct cluster *cl, struct app *app, const struct authorizer_record *rec, bool removed) {
        char plain[PROTOCOL_REFRESH_TOKEN_MAX + 32];

        if (removed)
                snprintf(plain, sizeof(plain), "-");
        else
                snprintf(plain, sizeof(plain), "%ld %s", rec->refused, rec->refresh_token);
        write_field(cl, app, rec->appid, rec->changed_ms, plain);
        explicit_bzero(plain, sizeof(plain));
}

void cluster_account_changed(struct cluster *cl, struct app *app, const struct authorizer_record *rec, bool removed) {
        if (!cluster_accounts_shared(cl, app))
                return;
        write_account(cl, app, rec, removed);
        /*
         * On the wire before this agent publishes the token that came with it or answers
         * anyone: a holder killed right after a call leaves its refresh token in Redis.
         */
        redis_link_flush(cl->link);
}

static void write_ticket(struct cluster *cl, struct app *app, const char *ticket, int64_t create_time_s) {
        char plain[ACCOUNT_SEAL_PLAIN_MAX];

        if (snprintf(plain, sizeof(plain), "%" PRId64 " %s", create_time_s, ticket) >= (int)sizeof(plain))
                return;
        write_field(cl, app, TICKET_FIELD, (uint64_t)create_time_s, plain);
        app->ticket_seen_s = create_time_s;
        explicit_bzero(plain, sizeof(plain));
}

void cluster_ticket_changed(struct cluster *cl, struct app *app, const char *ticket, int64_t create_time_s) {
        /* A ticket taken from Redis is not written back. */
        if (cluster_accounts_shared(cl, app) && create_time_s > app->ticket_seen_s)
                write_ticket(cl, app, ticket, create_time_s);
}

/* ---- reading them back ---- */

/* What one reading found in Redis, for the repair pass: each field's version. */
struct seen {
        const char *field;
        uint64_t version;
};

static int seen_cmp(const void *a, const void *b) {
        return strcmp(((const struct seen *)a)->field, ((const struct seen *)b)->field);
}

/* One record refused: counted, and the first one's words kept for the log line. */
static void refused(unsigned *n, char *first, size_t size, const char *field, const char *why) {
        if ((*n)++ == 0)
                snprintf(first, size, "%.40s: %.150s", field, why);
}

/* "<refused> <refresh token>" or "-": false if it is not as an agent seals it. */
static bool parse_account(const char *plain, struct authorizer_record *rec, bool *removed) {
        char *end;
        long refused;
        const char *t;

        *removed = strcmp(plain, "-") == 0;
        if (*removed)
                return true;
        refused = strtol(plain, &end, 10);
        if (end == plain || *end != ' ' || refused < 0 || refused > 1000000000L)
                return false;
        t = end + 1;
        if (!*t || strlen(t) > PROTOCOL_REFRESH_TOKEN_MAX)
                return false;
        for (const char *p = t; *p; p++)
                if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
                        return false;
        rec->refused = refused;
        snprintf(rec->refresh_token, sizeof(rec->refresh_token), "%s", t);
        return true;
}

/* The component's verify ticket (a suite's suite_ticket) in Redis: taken as a put if newer than this agent's. */
static void take_ticket(struct app *app, const char *plain, uint64_t version, unsigned *n_refused, char *first,
                        size_t size) {
        struct status_component st;
        char *end, *reply;
        long long create = strtoll(plain, &end, 10);

        if (end == plain || *end != ' ' || create <= 0 || (uint64_t)create != version ||
            !protocol_ticket_text_ok(end + 1)) {
                refused(n_refused, first, size, TICKET_FIELD, "not a ticket as an agent writes it");
                return;
        }
        if (create > app->ticket_seen_s)
                app->ticket_seen_s = create;
        app_component_status(app, &st, clock_wall_ms());
        if (st.has_ticket && create <= st.create_time_s)
                return;
        /* The put's own checks apply (not in the future past the skew, not past 12 h, newest only). */
        reply = app_component_put(&app->token, end + 1, create, -1, -1);
        free(reply);
}

static void on_accounts(struct cluster *cl, redisReply *reply, void *userdata) {
        struct cluster_ref *ref = userdata;
        struct app *app = cluster_find_app(cl, ref->name);
        char key[CLUSTER_NAME_MAX + 80], why[200], first[200] = "", words[sizeof(app->accounts_refused)];
        char plain[ACCOUNT_SEAL_PLAIN_MAX + 1];
        struct seen *seen = NULL, probe, *hit;
        struct status_component st;
        unsigned n_refused = 0, taken = 0;
        size_t n_seen = 0;
        uint64_t version, ticket_version = 0, skew_ms = (uint64_t)clock_wall_ms() + CLUSTER_SKEW_MS;

        if (!app || !reply || !cluster_accounts_shared(cl, app)) {
                if (app && ref->what == REF_RESUME && app->lease.holder)
                        app->accounts_resume = true; /* read again at the next tick */
                free(ref);
                return;
        }
        accounts_key(cl, app, key, sizeof(key));
        if (reply->type != REDIS_REPLY_ARRAY || (reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_INTEGER)) {
                snprintf(first, sizeof(first), "the key is not what agents write (%s); not read",
                         reply->type == REDIS_REPLY_ERROR ? "Redis refused the script" : "not a hash within bounds");
                n_refused = 1;
        } else if (reply->elements % 2 == 0 && reply->elements > 0) {
                seen = calloc(reply->elements / 2, sizeof(*seen));
        }
        for (size_t i = 0; seen && i + 1 < reply->elements; i += 2) {
                const redisReply *f = reply->element[i], *v = reply->element[i + 1];
                struct authorizer_record rec = { 0 };
                bool removed;

                if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || strlen(f->str) != f->len)
                        continue;
                if (strcmp(f->str, TICKET_FIELD) != 0 && !wire_authorizer_appid_valid(f->str)) {
                        refused(&n_refused, first, sizeof(first), f->str, "not an appid");
                        continue;
                }
                if (account_open(conf(cl)->fleet_key, key, f->str, v->str, v->len, &version, plain, sizeof(plain), why,
                                 sizeof(why)) < 0) {
                        refused(&n_refused, first, sizeof(first), f->str, why);
                        continue;
                }
                if (version > skew_ms && strcmp(f->str, TICKET_FIELD) != 0) {
                        refused(&n_refused, first, sizeof(first), f->str, "its version is in the future");
                        continue;
                }
                if (strcmp(f->str, TICKET_FIELD) == 0) {
                        ticket_version = version;
                        take_ticket(app, plain, version, &n_refused, first, sizeof(first));
                        explicit_bzero(plain, sizeof(plain));
                        continue;
                }
                seen[n_seen++] = (struct seen){ f->str, version };
                if (!parse_account(plain, &rec, &removed)) {
                        refused(&n_refused, first, sizeof(first), f->str, "not an account record as an agent seals it");
                } else {
                        snprintf(rec.appid, sizeof(rec.appid), "%s", f->str);
                        rec.changed_ms = version;
                        taken += app_authorizer_take(app, &rec, removed) > 0;
                }
                explicit_bzero(plain, sizeof(plain));
                explicit_bzero(&rec, sizeof(rec));
        }
        if (taken > 0 && app_authorizers_save(app) == 0)
                log_app(LOG_INFO, app->cfg->name, 0, "cluster: %u account records taken from Redis and saved", taken);
        /* One line per change of what is refused: a forged record is said once, not at every reconcile. */
        if (n_refused)
                snprintf(words, sizeof(words), "%u records refused (first %.160s)", n_refused, first);
        else
                words[0] = '\0';
        if (strcmp(words, app->accounts_refused) != 0) {
                if (n_refused)
                        log_app(LOG_WARNING, app->cfg->name, 0, "cluster: Redis key %s: %s; not taken, this agent's "
                                "own records are written over them", key, words);
                snprintf(app->accounts_refused, sizeof(app->accounts_refused), "%s", words);
        }
        /* What Redis lacks, or holds older (or refused), goes back from this agent's state_dir. */
        if (n_seen)
                qsort(seen, n_seen, sizeof(*seen), seen_cmp);
        for (struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it)) {
                const struct authorizer_record *rec = app_authorizer_record(it);

                probe.field = rec->appid;
                hit = n_seen ? bsearch(&probe, seen, n_seen, sizeof(*seen), seen_cmp) : NULL;
                if (!hit || hit->version < rec->changed_ms)
                        write_account(cl, app, rec, false);
        }
        app_component_status(app, &st, clock_wall_ms());
        if (st.has_ticket && (uint64_t)st.create_time_s > ticket_version && app_component_newest(app))
                write_ticket(cl, app, app_component_newest(app), st.create_time_s);
        free(seen);
        if (ref->what == REF_RESUME)
                app->accounts_resume = false;
        free(ref);
}

void cluster_accounts_read(struct cluster *cl, struct app *app, bool resume) {
        char name[CLUSTER_NAME_MAX], key[CLUSTER_NAME_MAX + 80], fields[16], len[16];
        const char *argv[] = { "EVAL", script_accounts, "1", key, fields, len };

        if (!cluster_accounts_shared(cl, app))
                return;
        cluster_app_name(app, name, sizeof(name));
        accounts_key(cl, app, key, sizeof(key));
        snprintf(fields, sizeof(fields), "%d", ACCOUNTS_FIELDS_MAX);
        snprintf(len, sizeof(len), "%d", ACCOUNT_SEAL_VALUE_MAX);
        if (resume)
                app->accounts_resume = true;
        cluster_send(cl, on_accounts, cluster_ref_new(resume ? REF_RESUME : REF_READ, name), 6, argv);
}

/* ---- the accounts' items ---- */

/*
 * A component's account is "authorizer:<component appid>:<appid>", a suite's corp
 * "corp:<suite id>:<corpid>": a suite and a component of one id never share an item.
 */
static const char *account_prefix(enum app_kind kind) {
        return kind == APP_KIND_SUITE ? "corp:" : "authorizer:";
}

void cluster_authorizer_name(const struct item *it, char *buf, size_t size) {
        /* An account's ticket: "<the account's name>.jsapi", never the app's own "<app>.jsapi". */
        const struct item *account = it->owner ? it->owner : it;

        snprintf(buf, size, "%s%s:%s%s%s", account_prefix(it->app->cfg->kind), it->app->cfg->appid,
                 app_authorizer_record(account)->appid, it->owner ? "." : "",
                 it->owner ? ticket_type_name(it->ticket) : "");
}

bool cluster_is_account_name(const char *name) {
        return !strncmp(name, "authorizer:", strlen("authorizer:")) || !strncmp(name, "corp:", strlen("corp:"));
}

/*
 * An account by its name in Redis: its component (or suite) by kind and appid, then the
 * account by its item name; "<account>.jsapi" is that account's ticket item.
 */
struct item *cluster_find_authorizer(struct cluster *cl, const char *name) {
        enum app_kind kind = !strncmp(name, "corp:", strlen("corp:")) ? APP_KIND_SUITE : APP_KIND_COMPONENT;
        const char *cid = name + strlen(account_prefix(kind)), *aid = strchr(cid, ':'), *type;
        char n[CLUSTER_NAME_MAX];
        struct item *account, *t;

        if (!cluster_is_account_name(name))
                return NULL;
        for (size_t i = 0; aid && i < cl->svc->n_apps; i++) {
                struct app *app = cl->svc->apps[i];

                if (!app || app->cfg->kind != kind || strlen(app->cfg->appid) != (size_t)(aid - cid) ||
                    strncmp(app->cfg->appid, cid, (size_t)(aid - cid)) != 0)
                        continue;
                type = strchr(aid + 1, '.');
                snprintf(n, sizeof(n), "%s.%.*s", app->cfg->name, (int)(type ? type - aid - 1 : (long)strlen(aid + 1)),
                         aid + 1);
                account = app_authorizer_find(app, n);
                if (!account || !type)
                        return account;
                for (int k = 0; (t = app_authorizer_ticket(account, k)); k++)
                        if (!strcmp(ticket_type_name(t->ticket), type + 1))
                                return t;
                return NULL;
        }
        return NULL;
}

void cluster_accounts_tick(struct cluster *cl, struct app *app, bool reconcile) {
        /* A component's accounts (a suite's corps): first the set (any agent may have changed it), then each one's token. */
        if (app->lease.holder && app->accounts_resume)
                cluster_accounts_read(cl, app, true);
        else if (reconcile)
                cluster_accounts_read(cl, app, false);
        for (struct item *it = app_authorizer_next(app, NULL); it; it = app_authorizer_next(app, it)) {
                struct item *t;

                cluster_item_tick(cl, it, reconcile);
                /* Its tickets (authorizer_tickets, corp_tickets): a record each, as an app's tickets have. */
                for (int i = 0; (t = app_authorizer_ticket(it, i)); i++)
                        cluster_item_tick(cl, t, reconcile);
        }
}
