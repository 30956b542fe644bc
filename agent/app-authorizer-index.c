/* app-authorizer-index.c: a component's accounts linked in a list (in the order they came) and indexed by appid (chained hash), so a lookup is O(1) with 10,000 of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"

/* FNV-1a: appids are short ASCII strings; any even spread will do. */
static size_t hash(const char *s) {
        size_t h = (size_t)14695981039346656037ULL;

        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
        return h;
}

/* Twice the buckets, every account rehashed: a load factor of at most 1 keeps chains short. */
static int grow(struct app *app) {
        size_t n = app->n_buckets ? app->n_buckets * 2 : 64;
        struct authorizer **b = calloc(n, sizeof(*b));

        if (!b)
                return -ENOMEM;
        for (struct authorizer *a = app->authorizers; a; a = a->next) {
                size_t i = hash(a->rec.appid) & (n - 1);

                a->hnext = b[i];
                b[i] = a;
        }
        free(app->buckets);
        app->buckets = b;
        app->n_buckets = n;
        return 0;
}

int authorizer_link(struct app *app, struct authorizer *a) {
        size_t i;

        /* The bucket array is grown first: a failure leaves nothing half done. */
        if (app->n_authorizers + 1 > app->n_buckets && grow(app) < 0)
                return -ENOMEM;
        /* Last: the list's order is the order accounts came, so a paged list misses none added meanwhile. */
        if (!app->authorizers_tail)
                app->authorizers_tail = &app->authorizers;
        a->next = NULL;
        a->prev = app->authorizers_tail;
        *app->authorizers_tail = a;
        app->authorizers_tail = &a->next;
        i = hash(a->rec.appid) & (app->n_buckets - 1);
        a->hnext = app->buckets[i];
        app->buckets[i] = a;
        app->n_authorizers++;
        return 0;
}

void authorizer_unlink(struct app *app, struct authorizer *a) {
        struct authorizer **p = &app->buckets[hash(a->rec.appid) & (app->n_buckets - 1)];

        while (*p && *p != a)
                p = &(*p)->hnext;
        if (*p)
                *p = a->hnext;
        *a->prev = a->next;
        if (a->next)
                a->next->prev = a->prev;
        else
                app->authorizers_tail = a->prev;
        a->next = a->hnext = NULL;
        a->prev = NULL;
        app->n_authorizers--;
}

struct authorizer *authorizer_find(struct app *app, const char *appid) {
        if (!app->n_buckets)
                return NULL;
        for (struct authorizer *a = app->buckets[hash(appid) & (app->n_buckets - 1)]; a; a = a->hnext)
                if (strcmp(a->rec.appid, appid) == 0)
                        return a;
        return NULL;
}

size_t authorizers_count(const struct app *app) {
        return app->n_authorizers;
}

/* "COMPONENT.APPID": the component's name, a dot, then the appid looked up in the index. */
struct item *app_authorizer_find(const struct app *app, const char *name) {
        size_t len = strlen(app->cfg->name);
        struct authorizer *a;

        if (strncmp(name, app->cfg->name, len) != 0 || name[len] != '.')
                return NULL;
        a = authorizer_find((struct app *)app, name + len + 1);
        return a ? &a->item : NULL;
}

void authorizers_index_free(struct app *app) {
        free(app->buckets);
        app->buckets = NULL;
        app->n_buckets = 0;
}
