/* SPDX-License-Identifier: MIT */
#include "util/map.h"

#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"

void cf_map_init(cf_map_t *m, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->seed = seed;
}

void cf_map_fini(cf_map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static size_t find(const cf_map_t *m, const void *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;

    for (;;) {
        const cf_map_slot_t *s = &m->slots[i];
        if (s->value == NULL)
            return i;
        if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

void *cf_map_get(const cf_map_t *m, const void *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    return m->slots[find(m, key, len, cf_hash64(key, len, m->seed))].value;
}

static int grow(cf_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    cf_map_slot_t *old = m->slots;
    size_t oldcap = m->cap;
    cf_map_slot_t *slots = calloc(cap, sizeof *slots);

    if (slots == NULL)
        return CF_ENOMEM;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].value != NULL)
            m->slots[find(m, old[i].key, old[i].key_len, old[i].hash)] = old[i];
    }
    free(old);
    return 0;
}

int cf_map_put(cf_map_t *m, const void *key, size_t len, void *value, void **old)
{
    uint64_t h = cf_hash64(key, len, m->seed);
    size_t i;

    if (old != NULL)
        *old = NULL;
    /* Keep the load factor under 3/4 so probe sequences stay short. */
    if ((m->count + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc < 0)
            return rc;
    }
    i = find(m, key, len, h);
    if (m->slots[i].value != NULL) {
        if (old != NULL)
            *old = m->slots[i].value;
    } else {
        m->count++;
    }
    m->slots[i] = (cf_map_slot_t){key, len, h, value};
    return 0;
}

void *cf_map_del(cf_map_t *m, const void *key, size_t len)
{
    size_t mask, i, j;
    void *value;

    if (m->count == 0)
        return NULL;
    mask = m->cap - 1;
    i = find(m, key, len, cf_hash64(key, len, m->seed));
    value = m->slots[i].value;
    if (value == NULL)
        return NULL;
    /* Backward-shift: pull later entries of the probe run into the hole so
     * that every remaining key is still reachable from its home slot. */
    j = i;
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (m->slots[j].value == NULL)
            break;
        home = (size_t)m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].value = NULL;
    m->count--;
    return value;
}

void *cf_map_next(const cf_map_t *m, size_t *pos)
{
    while (*pos < m->cap) {
        void *v = m->slots[(*pos)++].value;
        if (v != NULL)
            return v;
    }
    return NULL;
}
