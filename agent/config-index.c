/* config-index.c: the app names and appids read so far, in trees: a config of 10,000 apps is checked without comparing every pair. */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "config-parse.h"

/* One name, or one kind and appid, and the apps (indices into c->apps) that have it. */
struct seen {
        char *key;
        size_t *apps;
        size_t n;
};

static int seen_cmp(const void *a, const void *b) {
        return strcmp(((const struct seen *)a)->key, ((const struct seen *)b)->key);
}

static void seen_free(void *p) {
        struct seen *s = p;

        free(s->key);
        free(s->apps);
        free(s);
}

/* The node for key in *root, made (with no app yet) if it is not there; NULL: out of memory. */
static struct seen *seen_get(void **root, const char *key) {
        struct seen probe = { .key = (char *)key }, *s, **found = tfind(&probe, root, seen_cmp);

        if (found)
                return *found;
        s = calloc(1, sizeof(*s));
        if (!s || !(s->key = strdup(key))) {
                free(s);
                return NULL;
        }
        found = tsearch(s, root, seen_cmp);
        if (!found) {
                seen_free(s);
                return NULL;
        }
        return s;
}

static int seen_add(struct seen *s, size_t app) {
        size_t *v = realloc(s->apps, (s->n + 1) * sizeof(*v));

        if (!v)
                return -1;
        s->apps = v;
        s->apps[s->n++] = app;
        return 0;
}

int config_name_taken(struct parse *p, const char *name) {
        struct seen *s = seen_get(&p->names, name);

        if (!s)
                return -1;
        if (s->n > 0)
                return 1;
        return seen_add(s, 0);
}

int config_appid_taken(struct parse *p, size_t app, size_t *earlier) {
        const struct app_config *a = &p->c->apps[app];
        char key[80];
        struct seen *s;

        /* The kind first: "0:wx123" and "2:wx123" are other tokens. */
        snprintf(key, sizeof(key), "%d:%s", (int)a->kind, a->appid);
        s = seen_get(&p->appids, key);
        if (!s)
                return -1;
        /* A WeCom corp has one corpid and a secret per app: there the pair names the token. */
        for (size_t i = 0; i < s->n; i++) {
                const struct app_config *b = &p->c->apps[s->apps[i]];

                if (a->kind != APP_KIND_WORK || (b->secret && a->secret && !strcmp(b->secret, a->secret))) {
                        *earlier = s->apps[i];
                        return 1;
                }
        }
        return seen_add(s, app);
}

void config_index_free(struct parse *p) {
        tdestroy(p->names, seen_free);
        tdestroy(p->appids, seen_free);
        p->names = p->appids = NULL;
}
