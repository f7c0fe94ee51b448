/* SPDX-License-Identifier: MIT
 *
 * An open-addressing hash map from byte strings to pointers, with linear
 * probing and backward-shift deletion (no tombstones, so lookups stay short
 * under churn). The map borrows keys: each key must live inside, or as long
 * as, its value. Not thread-safe: one owner thread.
 */
#ifndef CF_UTIL_MAP_H
#define CF_UTIL_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const void *key;
    size_t key_len;
    uint64_t hash;
    void *value; /* NULL marks an empty slot */
} cf_map_slot_t;

typedef struct {
    cf_map_slot_t *slots;
    size_t cap;   /* power of two */
    size_t count;
    uint64_t seed;
} cf_map_t;

/** Initialise an empty map; @seed randomises the hash against flooding. */
void cf_map_init(cf_map_t *m, uint64_t seed);

/** Free the slot array (not the values). */
void cf_map_fini(cf_map_t *m);

/** The value stored under @key, or NULL. */
void *cf_map_get(const cf_map_t *m, const void *key, size_t len);

/**
 * Store @value (non-NULL) under @key, replacing any previous value (which is
 * returned through *old when @old is not NULL). Returns 0 or CF_ENOMEM.
 */
int cf_map_put(cf_map_t *m, const void *key, size_t len, void *value, void **old);

/** Remove @key; returns its value or NULL when absent. */
void *cf_map_del(cf_map_t *m, const void *key, size_t len);

/** Iterate: call with *pos = 0; returns the next value or NULL at the end. */
void *cf_map_next(const cf_map_t *m, size_t *pos);

#endif
