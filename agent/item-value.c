/* item-value.c: an item's token in the agent's memory: allocated to its length, wiped when it is let go (app-internal.h says the rule). */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app-internal.h"

char *item_value_copy(const char *v, size_t len) {
        char *copy = malloc(len + 1);

        if (copy) {
                memcpy(copy, v, len);
                copy[len] = '\0';
        }
        return copy;
}

void item_value_take(struct item *it, char *copy, size_t len) {
        item_value_clear(it);
        it->value = copy;
        it->value_len = len;
}

void item_value_drop(char *copy, size_t len) {
        if (copy) {
                explicit_bzero(copy, len);
                free(copy);
        }
}

void item_value_clear(struct item *it) {
        item_value_drop(it->value, it->value_len);
        it->value = NULL;
        it->value_len = 0;
}
