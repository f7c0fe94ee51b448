/* SPDX-License-Identifier: MIT
 *
 * Internals of the session index shared by core/index.c (tables, records,
 * strings, groups) and core/index_time.c (deadline heaps, creation order,
 * listings) and core/index_tab.h (the tables, inlined into index.c). Nothing else in src/ includes
 * this (the unit tests do, to count what a resize moves).
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

/*
 * An open-addressing table of tagged pointers (NULL = empty); the key is in
 * the object. While it grows, the previous array (old) is drained into the
 * new one a few entries per operation (index_tab.h).
 */
typedef struct {
    void **slot;
    size_t cap, count;   /* cap: a power of two, 0 before the first insert; count: both arrays */
    void **old;          /* NULL, or the array being drained (holds tombstones) */
    size_t old_cap, old_count, cursor; /* old slots below cursor are drained */
    size_t moved;        /* entries moved from old to slot, ever (tests count it per call) */
} ix_tab_t;

/* What a table holds decides how an entry hashes and compares. */
typedef enum { K_SESSION, K_REFRESH, K_GROUP, K_STRING, K_PROFILE } ix_kind_t;

/* An interned string: shared by every record naming it. */
typedef struct {
    uint32_t refs;
    uint32_t hash;
    char s[];
} ix_str_t;

/* Default entries moved from an old array per table operation (one more
 * when the operation's own key is found there: it moves first). */
#define CF__IX_REHASH_MOVES 4

/* Tagged slots: 16 bits of the key's hash above a 48-bit address. */
#define CF__IX_TAG_SHIFT 48
#define CF__IX_ADDR_MASK (((uintptr_t)1 << CF__IX_TAG_SHIFT) - 1)

static inline void *cf__ix_untag(const void *v)
{
    return (void *)((uintptr_t)v & CF__IX_ADDR_MASK);
}

/* Records per pool block: a power of two, so a link resolves with a shift. */
#define CF__IX_REC_BLOCK 4096u

/* A record from its link (1 + its place in the records pool @p); NULL for 0. */
static inline cf_session_t *cf__ix_rec(const ix_pool_t *p, uint32_t link)
{
    uint32_t at = link - 1;

    if (link == 0)
        return NULL;
    return (cf_session_t *)(void *)((char *)p->blocks[at / CF__IX_REC_BLOCK] +
                                    (size_t)(at % CF__IX_REC_BLOCK) * sizeof(cf_session_t));
}

/* 12 bytes, not 16: the key and the record's link (1 + its place). */
typedef struct __attribute__((packed, aligned(4))) {
    cf_time_t key;
    uint32_t s;
} ix_heap_ent_t;

/* A 4-ary min-heap of sessions; each remembers its place in s->heap_pos. */
typedef struct {
    ix_heap_ent_t *v;
    size_t n, cap;
    const ix_pool_t *recs; /* the records the links name */
} ix_heap_t;

struct cf_index {
    uint64_t seed;
    cf_time_t purge_after;
    ix_pool_t records, entries;
    ix_pool_t str_small, str_large; /* interned strings up to 24 and 48 bytes (see index.c) */
    ix_tab_t sessions, refresh, subjects, clients, strings;
    ix_tab_t profiles;        /* interned cf_profile_t: the key is the probe profile itself */
    ix_heap_t live; /* keyed by the idle (<= absolute) deadline, lazily */
    ix_heap_t dead; /* ended or lapsed: keyed by when they may be purged */
    uint32_t *order;          /* record links, ascending (created_at, id); 0 marks a removed one */
    size_t norder, order_cap, order_holes;
    int bulk;                 /* loading: the order is sorted at the end (cf_index_bulk) */
    char (*lapsed)[CF_SID_LEN + 1]; /* FIFO of lapsed sessions for the shell to end */
    size_t lapsed_head, nlapsed, lapsed_cap;
    size_t active;
    size_t string_bytes;
    size_t rehash_moves;      /* per table operation; CF__IX_REHASH_MOVES (tests inject others) */
};

/* index_time.c: the creation order and the heaps. */
int cf__ix_order_add(cf_index_t *ix, cf_session_t *s);
void cf__ix_order_del(cf_index_t *ix, cf_session_t *s);
void cf__ix_heap_del(cf_index_t *ix, cf_session_t *s);
int cf__ix_file(cf_index_t *ix, cf_session_t *s, cf_time_t now);
void cf__ix_count(cf_index_t *ix, cf_session_t *s, int on);
/* cf_index_expire() but for the tables' share (index.c adds it). */
size_t cf__ix_expire(cf_index_t *ix, cf_time_t now, size_t max, cf_index_purge_fn fn, void *arg);

#endif
