/* peer.c: who is on the other end of a control connection: credentials, access, per-uid counts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "peer.h"

#define PEER_GROUPS_MAX 256

void peer_credentials(struct peer *p, int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        gid_t groups[PEER_GROUPS_MAX];

        p->uid = (uid_t)-1;
        p->gid = (gid_t)-1;
        p->pid = 0;
        p->groups = NULL;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
                p->uid = cred.uid;
                p->gid = cred.gid;
                p->pid = cred.pid;
        }
        len = sizeof(groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0 && len > 0) {
                p->groups = malloc(len);
                if (p->groups)
                        memcpy(p->groups, groups, len);
        } else if (errno == ERANGE && len > 0 && (p->groups = malloc(len))) {
                /* More groups than the buffer: the kernel said how many; ask again. */
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) < 0)
                        len = 0;
        } else {
                len = 0;
        }
        p->n_groups = p->groups ? (int)(len / sizeof(gid_t)) : 0;
}

void peer_clear(struct peer *p) {
        free(p->groups);
        p->groups = NULL;
        p->n_groups = 0;
}

bool peer_allowed(const struct peer *p, const struct item *it) {
        gid_t g = it->app->cfg->gid != (gid_t)-1 ? it->app->cfg->gid : getegid();

        if (p->uid == 0 || p->uid == geteuid() || p->gid == g)
                return true;
        for (int i = 0; i < p->n_groups; i++)
                if (p->groups[i] == g)
                        return true;
        return false;
}

bool peer_is_operator(const struct peer *p) {
        return p->uid == 0 || p->uid == geteuid();
}

bool peer_may_steer(const struct peer *p, const struct item *it) {
        gid_t agent = getegid();
        gid_t readers = it->app->cfg->gid != (gid_t)-1 ? it->app->cfg->gid : agent;

        if (peer_is_operator(p))
                return true;
        /* A ticket changes what the agent sends WeChat: not for everyone who may read the token. */
        if (readers == agent)
                return false;
        if (p->gid == agent)
                return true;
        for (int i = 0; i < p->n_groups; i++)
                if (p->groups[i] == agent)
                        return true;
        return false;
}

/* A handful of uids use a socket at once (creating uids takes root): a linear search is right. */
static struct peer_use *find(const struct peer_table *t, uid_t uid) {
        for (size_t i = 0; i < t->n; i++)
                if (t->v[i].uid == uid)
                        return &t->v[i];
        return NULL;
}

struct peer_use peer_table_get(const struct peer_table *t, uid_t uid) {
        const struct peer_use *u = find(t, uid);

        return u ? *u : (struct peer_use){ .uid = uid };
}

int peer_table_add(struct peer_table *t, uid_t uid, int dconns, int dwaiters) {
        struct peer_use *u = find(t, uid);

        if (!u) {
                if (t->n == t->size) {
                        size_t size = t->size ? 2 * t->size : 8;
                        struct peer_use *v = realloc(t->v, size * sizeof(*v));

                        if (!v)
                                return -ENOMEM;
                        t->v = v;
                        t->size = size;
                }
                u = &t->v[t->n++];
                *u = (struct peer_use){ .uid = uid };
        }
        u->conns += (unsigned)dconns;
        u->waiters += (unsigned)dwaiters;
        /* A uid that holds nothing leaves the table: it stays as short as the set of users connected. */
        if (u->conns == 0 && u->waiters == 0)
                *u = t->v[--t->n];
        return 0;
}

void peer_table_free(struct peer_table *t) {
        free(t->v);
        *t = (struct peer_table){ 0 };
}
