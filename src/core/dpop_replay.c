/* SPDX-License-Identifier: MIT
 *
 * The DPoP jti replay cache (core/dpop.h): two generations of fixed-size
 * tables, aged by the caller's clock. It never forgets a jti early (not even
 * when the clock steps back) and never records past its bound: when full it
 * refuses, and counts, rather than admit a proof it could not remember.
 */
#include "core/dpop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Each generation is an open-addressed table of 8-byte jti hashes (63 bits:
 * bit 0 set, so 0 marks an empty slot) at most two-thirds full. Two distinct
 * jtis share a hash with odds of about 2^-63 per pair; if they ever did, the
 * second proof would be refused as a replay, the safe side.
 */
struct cf_dpop_cache {
    size_t slots, max, count[2];
    int64_t window, start; /* the current generation began at @start */
    int64_t since;         /* nothing is known of earlier proofs */
    int cur;
    uint64_t full_total, full_gen; /* fresh proofs refused as the table was full: ever, this generation */
    uint64_t *gen[2];              /* 0 = empty */
};

/*
 * A generation's table. Big ones are mapped on their own, 2 MiB aligned and
 * advised for huge pages: each window starts on fresh zero pages, and with
 * 4 KiB pages their first touches cost a fault per record (measured here:
 * 17 MB of table, 4,296 faults, 170-400 ms of the loop per window, against
 * 14-20 ms as 9 huge pages). The pages still cost nothing until touched.
 */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t table_bytes(size_t slots)
{
    return slots * sizeof(uint64_t);
}

static uint64_t *table_new(size_t slots)
{
    size_t bytes = table_bytes(slots);
    char *map, *aligned;

    if (bytes < HUGE_PAGE)
        return calloc(slots, sizeof(uint64_t));
    map = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    aligned = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    /* give back the unaligned head and tail; the table is [aligned, aligned + bytes) */
    if (aligned > map)
        munmap(map, (size_t)(aligned - map));
    if (aligned + bytes < map + bytes + HUGE_PAGE)
        munmap(aligned + bytes, (size_t)(map + bytes + HUGE_PAGE - (aligned + bytes)));
#ifdef MADV_HUGEPAGE
    (void)madvise(aligned, bytes, MADV_HUGEPAGE); /* advice only: 4 KiB pages still work */
#endif
    return (uint64_t *)aligned;
}

static void table_free(uint64_t *t, size_t slots)
{
    if (t == NULL)
        return;
    if (table_bytes(slots) < HUGE_PAGE)
        free(t);
    else
        munmap(t, table_bytes(slots));
}

cf_dpop_cache_t *cf_dpop_cache_new(size_t max_per_window, int64_t window, int64_t since)
{
    cf_dpop_cache_t *c = calloc(1, sizeof *c);

    if (c == NULL || max_per_window == 0 || max_per_window > ((size_t)1 << 26) || window <= 0) {
        free(c);
        return NULL;
    }
    c->slots = max_per_window + max_per_window / 2 + 1;
    c->max = max_per_window;
    c->window = window;
    c->start = INT64_MIN;
    c->since = since;
    /* zero pages: they cost no memory until proofs are recorded in them */
    c->gen[0] = table_new(c->slots);
    c->gen[1] = table_new(c->slots);
    if (c->gen[0] == NULL || c->gen[1] == NULL) {
        cf_dpop_cache_free(c);
        return NULL;
    }
    return c;
}

int64_t cf_dpop_cache_since(const cf_dpop_cache_t *c)
{
    return c->since;
}

void cf_dpop_cache_stretch(cf_dpop_cache_t *c, int64_t span)
{
    if (span > c->window)
        c->window = span;
}

void cf_dpop_cache_free(cf_dpop_cache_t *c)
{
    if (c == NULL)
        return;
    table_free(c->gen[0], c->slots);
    table_free(c->gen[1], c->slots);
    free(c);
}

void cf_dpop_cache_stats(const cf_dpop_cache_t *c, cf_dpop_cache_stats_t *out)
{
    out->capacity = c->max;
    out->entries = c->start == INT64_MIN ? 0 : c->count[c->cur];
    out->full_total = c->full_total;
    out->full_window = c->full_gen;
    out->bytes = 2 * c->slots * sizeof *c->gen[0];
}

/* Forget generation @g: fresh zero pages when they can be had (memory goes back as use falls). */
static void gen_clear(cf_dpop_cache_t *c, int g)
{
    uint64_t *fresh;

    if (c->count[g] == 0)
        return;
    fresh = table_new(c->slots);
    if (fresh != NULL) {
        table_free(c->gen[g], c->slots);
        c->gen[g] = fresh;
    } else {
        memset(c->gen[g], 0, c->slots * sizeof *c->gen[g]);
    }
    c->count[g] = 0;
}

/* The slot holding @h in generation @g, or the empty one where it would go. */
static size_t probe(const cf_dpop_cache_t *c, int g, uint64_t h)
{
    /* the high half of the hash scaled to the table: no power-of-two rounding */
    size_t i = (size_t)(((h >> 32) * (uint64_t)c->slots) >> 32);

    while (c->gen[g][i] != h && c->gen[g][i] != 0)
        i = i + 1 == c->slots ? 0 : i + 1;
    return i;
}

cf_reason_t cf_dpop_cache_check(cf_dpop_cache_t *c, const uint8_t jti_hash[16], int64_t now)
{
    uint64_t h;
    size_t i;

    memcpy(&h, jti_hash, sizeof h);
    h |= 1; /* never zero: zero marks an empty slot */
    /* A clock stepping back keeps the generations: forgetting would admit replays. */
    if (c->start == INT64_MIN || now - c->start >= 2 * c->window) {
        gen_clear(c, 0);
        gen_clear(c, 1);
        c->start = now;
        c->full_gen = 0;
    } else if (now - c->start >= c->window) {
        c->cur ^= 1; /* the older generation is forgotten */
        gen_clear(c, c->cur);
        c->start = now;
        c->full_gen = 0;
    }
    i = probe(c, c->cur ^ 1, h);
    if (c->gen[c->cur ^ 1][i] == h)
        return CF_REASON_DPOP_REPLAY;
    i = probe(c, c->cur, h);
    if (c->gen[c->cur][i] == h)
        return CF_REASON_DPOP_REPLAY;
    if (c->count[c->cur] >= c->max) {
        /* Full: fail closed until the window turns; an unrecorded proof could be replayed. */
        c->full_total++;
        c->full_gen++;
        return CF_REASON_DPOP_INVALID;
    }
    c->gen[c->cur][i] = h;
    c->count[c->cur]++;
    return CF_REASON_NONE;
}

/* Empty slot @i of generation @g, moving later entries of its run back so
 * every probe still finds them (linear probing's deletion, no tombstones). */
static void slot_clear(cf_dpop_cache_t *c, int g, size_t i)
{
    size_t j = i;

    for (;;) {
        j = j + 1 == c->slots ? 0 : j + 1;
        if (c->gen[g][j] == 0)
            break;
        size_t home = (size_t)(((c->gen[g][j] >> 32) * (uint64_t)c->slots) >> 32);
        /* stays when its home lies cyclically in (i, j] */
        if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
            continue;
        c->gen[g][i] = c->gen[g][j];
        i = j;
    }
    c->gen[g][i] = 0;
}

void cf_dpop_cache_forget(cf_dpop_cache_t *c, const uint8_t jti_hash[16])
{
    uint64_t h;

    memcpy(&h, jti_hash, sizeof h);
    h |= 1;
    for (int g = 0; g < 2 && c->start != INT64_MIN; g++) {
        size_t i = probe(c, g, h);
        if (c->gen[g][i] == h) {
            slot_clear(c, g, i);
            c->count[g]--;
        }
    }
}
