/* SPDX-License-Identifier: MIT
 *
 * Internals of the session index shared by core/index.c (tables, records,
 * strings, groups) and core/index_time.c (deadline heaps, creation order,
 * listings). Nothing outside those two files includes this.
 */
#ifndef CF_CORE_INDEX_INT_H
#define CF_CORE_INDEX_INT_H

#include "core/index.h"

/* Fixed-size objects carved from large blocks: no malloc header per object. */
typedef struct {
    size_t size, per_block;
    void *free;    /* free list, linked through each object's first word */
    void **blocks;
    size_t nblocks, cap;
    size_t used;
} ix_pool_t;

/* An open-addressing table of pointers (NULL = empty); the key is in the object. */
typedef struct {
    void **slot;
    size_t cap, count; /* cap: a power of two, 0 before the first insert */
} ix_tab_t;

typedef struct {
    cf_time_t key;
    cf_session_t *s;
} ix_heap_ent_t;

/* A 4-ary min-heap of sessions; each remembers its place in s->heap_pos. */
typedef struct {
    ix_heap_ent_t *v;
    size_t n, cap;
} ix_heap_t;

struct cf_index {
    uint64_t seed;
    cf_time_t purge_after;
    ix_pool_t records, entries;
    ix_pool_t str_small, str_large; /* interned strings up to 24 and 48 bytes (see index.c) */
    ix_tab_t sessions, refresh, subjects, clients, strings;
    ix_heap_t live; /* keyed by the idle (<= absolute) deadline, lazily */
    ix_heap_t dead; /* ended or lapsed: keyed by when they may be purged */
    cf_session_t **order;     /* ascending (created_at, id); NULL marks a removed one */
    size_t norder, order_cap, order_holes;
    int bulk;                 /* loading: the order is sorted at the end (cf_index_bulk) */
    char (*lapsed)[CF_SID_LEN + 1]; /* FIFO of lapsed sessions for the shell to end */
    size_t lapsed_head, nlapsed, lapsed_cap;
    size_t active;
    size_t string_bytes;
};

/* index_time.c: the creation order and the heaps. */
int cf__ix_order_add(cf_index_t *ix, cf_session_t *s);
void cf__ix_order_del(cf_index_t *ix, cf_session_t *s);
void cf__ix_heap_del(cf_index_t *ix, cf_session_t *s);
int cf__ix_file(cf_index_t *ix, cf_session_t *s, cf_time_t now);
void cf__ix_count(cf_index_t *ix, cf_session_t *s, int on);

#endif
