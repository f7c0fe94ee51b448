/* SPDX-License-Identifier: MIT
 *
 * The API key id table (apikeytab.h): linear probing over bare pointers,
 * backward-shift deletion.
 */
#include "core/apikeytab.h"

#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"

static size_t tab_home(const cf_apikey_tab_t *t, const char *id)
{
    return (size_t)cf_hash64(id, CF_APIKEY_ID_LEN, t->seed) & (t->cap - 1);
}

/* The slot holding @id, or the empty slot where it would go. */
static size_t tab_find(const cf_apikey_tab_t *t, const char *id)
{
    size_t mask = t->cap - 1, i = tab_home(t, id);

    while (t->slots[i] != NULL && memcmp(t->slots[i]->id, id, CF_APIKEY_ID_LEN) != 0)
        i = (i + 1) & mask;
    return i;
}

cf_apikey_rec_t *cf_apikey_tab_get(const cf_apikey_tab_t *t, const char *id)
{
    return t->count > 0 ? t->slots[tab_find(t, id)] : NULL;
}

/* Load under 3/4 keeps probe runs short. */
static int tab_grow(cf_apikey_tab_t *t)
{
    size_t cap = t->cap ? 2 * t->cap : 64, oldcap = t->cap;
    cf_apikey_rec_t **old = t->slots, **v = calloc(cap, sizeof *v);

    if (v == NULL)
        return CF_ENOMEM;
    t->slots = v;
    t->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] != NULL)
            t->slots[tab_find(t, old[i]->id)] = old[i];
    free(old);
    return 0;
}

int cf_apikey_tab_put(cf_apikey_tab_t *t, cf_apikey_rec_t *k, cf_apikey_rec_t **old)
{
    size_t i;

    *old = NULL;
    if ((t->count + 1) * 4 > t->cap * 3) {
        int rc = tab_grow(t);
        if (rc < 0)
            return rc;
    }
    i = tab_find(t, k->id);
    if (t->slots[i] != NULL)
        *old = t->slots[i];
    else
        t->count++;
    t->slots[i] = k;
    return 0;
}

/* Backward-shift deletion: no tombstones. */
cf_apikey_rec_t *cf_apikey_tab_del(cf_apikey_tab_t *t, const char *id)
{
    size_t mask, i, j;
    cf_apikey_rec_t *k;

    if (t->count == 0)
        return NULL;
    mask = t->cap - 1;
    i = tab_find(t, id);
    if ((k = t->slots[i]) == NULL)
        return NULL;
    for (j = (i + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
        size_t home = tab_home(t, t->slots[j]->id);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = NULL;
    t->count--;
    return k;
}

cf_apikey_rec_t *cf_apikey_tab_next(const cf_apikey_tab_t *t, size_t *pos)
{
    while (*pos < t->cap) {
        cf_apikey_rec_t *k = t->slots[(*pos)++];
        if (k != NULL)
            return k;
    }
    return NULL;
}
