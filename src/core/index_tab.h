/* SPDX-License-Identifier: MIT
 *
 * The session index's open-addressing tables of pointers (sessions, refresh
 * tokens, subjects, clients, interned strings), with incremental growth.
 *
 * A table that doubled used to re-hash every entry in one call: at 786,432
 * sessions, 786k cache misses (each entry is read to hash it again), about
 * half a second during which the loop answered nobody. Growth is now spread
 * out the way Redis's dict does it: the full array becomes the "old" one, a
 * new array of twice the size takes every insert, and each later operation
 * on the table moves a few old slots' entries across (at most
 * CF__IX_REHASH_MOVES, looking at no more than REHASH_SLOTS slots), as does
 * the index's periodic advance. Until the old array is empty, look-ups probe
 * both; a key is in exactly one of them.
 *
 * The old array is only ever drained, never filled: an entry that leaves it
 * (moved or deleted) leaves a tombstone, so the probe chains of the keys
 * still there stay unbroken (backward-shift deletion there could move an
 * entry behind the migration cursor, where it would be skipped). The new
 * array has no tombstones and keeps backward-shift deletion.
 *
 * Each operation advances the cursor by at least CF__IX_REHASH_MOVES slots,
 * so the old array (N slots, 3N/4 entries) is drained after N/4 operations,
 * long before the 3N/4 inserts that would make the new one grow again.
 *
 * Included only by index.c (and the unit tests): as static functions in the
 * one translation unit, each call site's table kind is a constant and the
 * probe loops inline, as they did before growth became incremental (a
 * separate file cost the load about 15 % more CPU).
 */
#ifndef CF_CORE_INDEX_TAB_H
#define CF_CORE_INDEX_TAB_H

#include "core/index_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"

/* Where a moved or deleted entry was in the old array: probes go on past it. */
#define TOMB ((void *)(uintptr_t)1)

/* Old slots one operation looks at (empty ones are cheap: no entry read). */
#define REHASH_SLOTS 16

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t cf__ix_key_hash(const cf_index_t *ix, ix_kind_t k, const void *key,
                                       size_t len)
{
    /* Refresh-token hashes are SHA-256 of server-made secrets: already uniform. */
    if (k == K_REFRESH)
        return load64(key) ^ ix->seed;
    if (k == K_PROFILE) { /* every part, each string with its own seed chained */
        const cf_profile_t *p = key;
        uint64_t h = cf_hash64(&p->limits, sizeof p->limits, ix->seed ^ (uint64_t)k);
        h = cf_hash64(p->client_id, strlen(p->client_id), h);
        h = cf_hash64(p->scope, strlen(p->scope), h ^ 1);
        return cf_hash64(p->roles, strlen(p->roles), h ^ 2);
    }
    return cf_hash64(key, len, ix->seed ^ (uint64_t)k);
}

static inline uint64_t entry_hash(const cf_index_t *ix, ix_kind_t k, const void *e)
{
    switch (k) {
    case K_SESSION:
        return cf__ix_key_hash(ix, k, ((const cf_session_t *)e)->id, CF_SID_LEN);
    case K_REFRESH:
        return cf__ix_key_hash(ix, k, ((const cf_refresh_entry_t *)e)->hash, CF_INDEX_REFRESH_KEY);
    case K_GROUP:
        return ((const cf_group_t *)e)->hash;
    case K_PROFILE:
        return ((const cf_profile_t *)e)->hash;
    default:
        return ((const ix_str_t *)e)->hash;
    }
}

static inline int entry_eq(ix_kind_t k, const void *e, const void *key, size_t len)
{
    const char *name;

    switch (k) {
    case K_SESSION:
        return len == CF_SID_LEN && memcmp(((const cf_session_t *)e)->id, key, len) == 0;
    case K_REFRESH:
        return memcmp(((const cf_refresh_entry_t *)e)->hash, key, CF_INDEX_REFRESH_KEY) == 0;
    case K_GROUP:
        name = ((const cf_group_t *)e)->name;
        break;
    case K_PROFILE: {
        const cf_profile_t *a = e, *b = key;
        return memcmp(&a->limits, &b->limits, sizeof a->limits) == 0 &&
               strcmp(a->client_id, b->client_id) == 0 && strcmp(a->scope, b->scope) == 0 &&
               strcmp(a->roles, b->roles) == 0;
    }
    default:
        name = ((const ix_str_t *)e)->s;
        break;
    }
    return strncmp(name, key, len) == 0 && name[len] == '\0';
}

/*
 * Slots hold tagged pointers: the top 16 bits (unused by user-space
 * addresses on x86-64 and arm64 Linux) carry 16 bits of the key's hash, so
 * a probe compares an entry only when the tags agree. At a million sessions
 * each entry compared is a cache miss; with the tag, a probe past other
 * keys costs none. The tag mixes the hash's low 32 bits only, which is all
 * that groups and strings keep of it.
 */
static inline uintptr_t tag_of(uint64_t h)
{
    return (uintptr_t)(((uint32_t)h * 0x9E3779B1u) >> 16) << CF__IX_TAG_SHIFT;
}

/* In @slot (@cap slots): the slot holding @key, or the empty one where it would go. */
static inline size_t find_in(void *const *slot, size_t cap, ix_kind_t k, const void *key,
                             size_t len, uint64_t h)
{
    size_t mask = cap - 1, i = (size_t)h & mask;
    uintptr_t tag = tag_of(h);

    while (slot[i] != NULL &&
           (slot[i] == TOMB || ((uintptr_t)slot[i] & ~CF__IX_ADDR_MASK) != tag ||
            !entry_eq(k, cf__ix_untag(slot[i]), key, len)))
        i = (i + 1) & mask;
    return i;
}

static inline void cf__ix_tab_set(ix_tab_t *t, size_t i, void *e, uint64_t h)
{
    if (((uintptr_t)e & ~CF__IX_ADDR_MASK) != 0)
        abort(); /* an address above 2^48: the tags would corrupt it */
    t->slot[i] = (void *)((uintptr_t)e | tag_of(h));
    t->count++;
}

static inline void *cf__ix_tab_get(const cf_index_t *ix, const ix_tab_t *t, ix_kind_t k,
                                   const void *key, size_t len)
{
    uint64_t h;
    void *e;

    if (t->count == 0)
        return NULL;
    h = cf__ix_key_hash(ix, k, key, len);
    e = t->slot[find_in(t->slot, t->cap, k, key, len, h)];
    if (e == NULL && t->old != NULL)
        e = t->old[find_in(t->old, t->old_cap, k, key, len, h)];
    return cf__ix_untag(e);
}

/* Put the tagged entry @v, taken out of the old array, into the new one. */
static inline void place(const cf_index_t *ix, ix_tab_t *t, ix_kind_t k, void *v)
{
    size_t mask = t->cap - 1, j = (size_t)entry_hash(ix, k, cf__ix_untag(v)) & mask;

    while (t->slot[j] != NULL)
        j = (j + 1) & mask;
    t->slot[j] = v;
    t->old_count--;
    t->moved++;
}

static inline void cf__ix_tab_step(const cf_index_t *ix, ix_tab_t *t, ix_kind_t k, size_t slots,
                                   size_t moves)
{
    if (t->old == NULL)
        return;
    while (slots > 0 && moves > 0 && t->old_count > 0 && t->cursor < t->old_cap) {
        void *v = t->old[t->cursor];
        if (v != NULL && v != TOMB) {
            place(ix, t, k, v);
            t->old[t->cursor] = TOMB;
            moves--;
        }
        t->cursor++;
        slots--;
    }
    if (t->old_count == 0) {
        free(t->old);
        t->old = NULL;
        t->old_cap = t->cursor = 0;
    }
}

static inline int tab_grow(const cf_index_t *ix, ix_tab_t *t, ix_kind_t k)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    void **slot;

    /* Not reached with the default budgets (see the top); a smaller
     * injected one may still be draining: finish it first. */
    cf__ix_tab_step(ix, t, k, SIZE_MAX, SIZE_MAX);
    slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return CF_ENOMEM;
    if (t->count > 0) {
        t->old = t->slot;
        t->old_cap = t->cap;
        t->old_count = t->count;
        t->cursor = 0;
    } else {
        free(t->slot);
    }
    t->slot = slot;
    t->cap = cap;
    return 0;
}

static inline size_t cf__ix_tab_slot(const cf_index_t *ix, ix_tab_t *t, ix_kind_t k,
                                     const void *key, size_t len, uint64_t *h)
{
    size_t i;

    if ((t->count + 1) * 4 > t->cap * 3 && tab_grow(ix, t, k) < 0)
        return SIZE_MAX;
    cf__ix_tab_step(ix, t, k, REHASH_SLOTS, ix->rehash_moves);
    *h = cf__ix_key_hash(ix, k, key, len);
    i = find_in(t->slot, t->cap, k, key, len, *h);
    if (t->slot[i] == NULL && t->old != NULL) {
        /* In the old array? Move it now, so the caller finds it in the new one. */
        size_t o = find_in(t->old, t->old_cap, k, key, len, *h);
        if (t->old[o] != NULL) {
            t->slot[i] = t->old[o];
            t->old[o] = TOMB;
            t->old_count--;
            t->moved++;
            cf__ix_tab_step(ix, t, k, 0, 0); /* frees the old array if that was its last */
        }
    }
    return i;
}

/* Remove the entry in slot @i of the new array; backward-shift deletion, no tombstones. */
static inline void del_new(const cf_index_t *ix, ix_tab_t *t, ix_kind_t k, size_t i)
{
    size_t mask = t->cap - 1, j;

    for (j = i;;) {
        size_t home;
        j = (j + 1) & mask;
        if (t->slot[j] == NULL)
            break;
        home = (size_t)entry_hash(ix, k, cf__ix_untag(t->slot[j])) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->slot[i] = NULL;
}

static inline void cf__ix_tab_del(const cf_index_t *ix, ix_tab_t *t, ix_kind_t k, const void *key,
                                  size_t len)
{
    uint64_t h;
    size_t i;

    if (t->count == 0)
        return;
    h = cf__ix_key_hash(ix, k, key, len);
    i = find_in(t->slot, t->cap, k, key, len, h);
    if (t->slot[i] != NULL) {
        del_new(ix, t, k, i);
    } else if (t->old != NULL) {
        i = find_in(t->old, t->old_cap, k, key, len, h);
        if (t->old[i] == NULL)
            return;
        t->old[i] = TOMB;
        t->old_count--;
    } else {
        return;
    }
    t->count--;
    cf__ix_tab_step(ix, t, k, REHASH_SLOTS, ix->rehash_moves);
}

static inline void *cf__ix_tab_next(const ix_tab_t *t, size_t *pos)
{
    while (*pos < t->cap + t->old_cap) {
        size_t i = (*pos)++;
        void *v = i < t->cap ? t->slot[i] : t->old[i - t->cap];
        if (v != NULL && v != TOMB)
            return cf__ix_untag(v);
    }
    return NULL;
}

static inline int cf__ix_tab_reserve(ix_tab_t *t, size_t n)
{
    size_t cap = 64;
    void **slot;

    if (t->count > 0 || t->old != NULL)
        return 0;
    while (cap / 4 * 3 < n + 1) /* below the growth point after n inserts */
        cap *= 2;
    if (cap <= t->cap)
        return 0;
    slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return CF_ENOMEM;
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
    return 0;
}

static inline void cf__ix_tab_fini(ix_tab_t *t)
{
    free(t->slot);
    free(t->old);
    memset(t, 0, sizeof *t);
}

/* The home slot of @h in @slot: prefetched (@deref 0), or the entry there
 * prefetched and returned when a probe would compare it. */
static inline void *home_fetch(void *const *slot, size_t cap, uint64_t h, int deref)
{
    void *v;

    if (cap == 0)
        return NULL;
    if (!deref) {
        __builtin_prefetch(&slot[(size_t)h & (cap - 1)]);
        return NULL;
    }
    v = slot[(size_t)h & (cap - 1)];
    if (v == NULL || v == TOMB || ((uintptr_t)v & ~CF__IX_ADDR_MASK) != tag_of(h))
        return NULL;
    v = cf__ix_untag(v);
    __builtin_prefetch(v);
    return v;
}

static inline void *cf__ix_tab_prefetch(const cf_index_t *ix, const ix_tab_t *t, ix_kind_t k,
                                        const void *key, size_t len, int deref)
{
    uint64_t h;
    void *e;

    if (t->cap == 0)
        return NULL;
    h = cf__ix_key_hash(ix, k, key, len);
    e = home_fetch(t->slot, t->cap, h, deref);
    if (e == NULL && t->old != NULL)
        e = home_fetch(t->old, t->old_cap, h, deref);
    return e;
}

#endif
