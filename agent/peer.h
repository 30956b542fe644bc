/* peer.h: who is on the other end of a control connection: credentials, access, per-uid counts. */
#ifndef PEER_H
#define PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct item;

struct peer {
        uid_t uid;                      /* (uid_t)-1 if unknown */
        gid_t gid;
        pid_t pid;                      /* at connect time; 0 if unknown (for log lines only) */
        gid_t *groups;                  /* the peer's supplementary groups at connect time */
        int n_groups;
};

/* Read fd's peer credentials now, so a later setuid of the peer changes nothing. */
void peer_credentials(struct peer *p, int fd);
void peer_clear(struct peer *p);

/* May p get or refresh it? Root, the agent's user and members of the app's group. */
bool peer_allowed(const struct peer *p, const struct item *it);

/* May p reload the agent or retry an app? Root and the agent's own user only. */
bool peer_is_operator(const struct peer *p);

/*
 * Who may steer what the agent sends WeChat (issue 17: put a component's verify ticket, add
 * or remove its accounts): root, the agent's user, or a member
 * of the agent's group (its egid, as primary or supplementary group). Where the app's
 * readers get that same group (no "group =" of their own), membership says nothing more
 * than "may read": operators only.
 */
bool peer_may_steer(const struct peer *p, const struct item *it);

/* What each uid holds of the socket, so one user cannot take all of it (root is not counted against). */
struct peer_use {
        uid_t uid;
        unsigned conns, waiters;
};

struct peer_table {
        struct peer_use *v;
        size_t n, size;
};

/* uid's counts (zeros if it holds nothing). */
struct peer_use peer_table_get(const struct peer_table *t, uid_t uid);

/* Add dconns and dwaiters (either may be negative) to uid's counts; -ENOMEM if it cannot grow. */
int peer_table_add(struct peer_table *t, uid_t uid, int dconns, int dwaiters);

void peer_table_free(struct peer_table *t);

#endif
