/* SPDX-License-Identifier: MIT
 *
 * The session index in time: two deadline heaps, the live counters, the
 * queue of lapsed sessions, and the creation order that listings page
 * through. See index.h for the contract.
 *
 * Every record sits in exactly one heap. The live heap holds sessions not
 * known to have ended, keyed by the deadline they had when filed (the idle
 * one, which never passes the absolute one). The dead heap holds sessions
 * that ended or lapsed, keyed by the instant they may be purged. Popping
 * the live heap at `now` either re-files a session whose idle deadline moved
 * on (activity) or lapses it: it stops counting as active, its id is queued
 * for the shell to end durably, and it moves to the dead heap.
 */
#include "core/index_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ------------------------------------------------------------------ */
/* Heaps                                                                */
/* ------------------------------------------------------------------ */

static void heap_set(ix_heap_t *h, size_t i, ix_heap_ent_t e)
{
    h->v[i] = e;
    cf__ix_rec(h->recs, e.s)->heap_pos = (uint32_t)i + 1;
}

/*
 * The heaps are 4-ary: a move writes heap_pos into the record it moves, a
 * cache miss at a million sessions, and four children per node halve the
 * levels (10 instead of 20 at 1M) while the four keys compared share one
 * cache line of the array.
 */
#define HEAP_D 4

static void sift_up(ix_heap_t *h, size_t i)
{
    ix_heap_ent_t e = h->v[i];

    while (i > 0) {
        size_t parent = (i - 1) / HEAP_D;
        if (h->v[parent].key <= e.key)
            break;
        heap_set(h, i, h->v[parent]);
        i = parent;
    }
    heap_set(h, i, e);
}

static void sift_down(ix_heap_t *h, size_t i)
{
    ix_heap_ent_t e = h->v[i];

    for (;;) {
        size_t first = HEAP_D * i + 1, c = first;
        if (first >= h->n)
            break;
        for (size_t j = first + 1; j < first + HEAP_D && j < h->n; j++)
            if (h->v[j].key < h->v[c].key)
                c = j;
        if (e.key <= h->v[c].key)
            break;
        heap_set(h, i, h->v[c]);
        i = c;
    }
    heap_set(h, i, e);
}

static int heap_push(ix_heap_t *h, cf_session_t *s, cf_time_t key)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        ix_heap_ent_t *v = realloc(h->v, cap * sizeof *v);
        if (v == NULL)
            return CF_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n] = (ix_heap_ent_t){key, s->self + 1};
    sift_up(h, h->n++);
    return 0;
}

static void heap_remove_at(ix_heap_t *h, size_t i)
{
    cf__ix_rec(h->recs, h->v[i].s)->heap_pos = 0;
    if (i != --h->n) {
        heap_set(h, i, h->v[h->n]);
        sift_up(h, i);
        sift_down(h, i); /* a no-op when it moved up */
    }
}

static void heap_rekey(ix_heap_t *h, size_t i, cf_time_t key)
{
    h->v[i].key = key;
    sift_up(h, i);
    sift_down(h, i);
}

void cf__ix_heap_del(cf_index_t *ix, cf_session_t *s)
{
    if (s->heap_pos != 0)
        heap_remove_at(s->in_dead ? &ix->dead : &ix->live, s->heap_pos - 1);
}

/* ------------------------------------------------------------------ */
/* Counters and filing                                                  */
/* ------------------------------------------------------------------ */

void cf__ix_count(cf_index_t *ix, cf_session_t *s, int on)
{
    cf_group_t *cli = (cf_group_t *)(void *)(s->prof->client_id - offsetof(cf_group_t, name));

    if (on == (int)s->counted)
        return;
    s->counted = on ? 1 : 0;
    if (on) {
        ix->active++;
        cli->active++;
    } else {
        ix->active--;
        cli->active--;
    }
}

/* When an ended or lapsed session may be purged. */
static cf_time_t purge_key(const cf_index_t *ix, const cf_session_t *s)
{
    return (s->end != CF_END_NONE ? cf_session_ended_at(s) : cf_session_idle_deadline(s)) +
           ix->purge_after;
}

/* Put @s in the heap and the counters its state calls for at @now. */
int cf__ix_file(cf_index_t *ix, cf_session_t *s, cf_time_t now)
{
    int dead;
    ix_heap_t *want;
    cf_time_t key;

    if (cf_session_idle_deadline(s) > cf_session_absolute_deadline(s))
        cf_session_set_time(s, CF_T_IDLE, cf_session_absolute_deadline(s));
    if (s->end != CF_END_NONE)
        s->lapsed = 0;
    else
        s->lapsed =
            now >= cf_session_idle_deadline(s); /* a deadline moved on (merge, clock) revives it */
    dead = s->end != CF_END_NONE || s->lapsed;
    want = dead ? &ix->dead : &ix->live;
    key = dead ? purge_key(ix, s) : cf_session_idle_deadline(s);
    cf__ix_count(ix, s, !dead);
    if (s->heap_pos != 0 && (s->in_dead ? &ix->dead : &ix->live) == want) {
        /* Filing is exact; only touches (which do not file) leave a key behind. */
        if (want->v[s->heap_pos - 1].key != key)
            heap_rekey(want, s->heap_pos - 1, key);
        return 0;
    }
    cf__ix_heap_del(ix, s);
    s->in_dead = dead ? 1 : 0;
    return heap_push(want, s, key);
}

void cf_index_sync(cf_index_t *ix, cf_session_t *s, cf_time_t now)
{
    /* Out of memory: it stays out of the heaps until the next sync; the
     * verdicts are computed from the record itself, so none is wrong. */
    (void)cf__ix_file(ix, s, now);
}

void cf_index_touch(cf_index_t *ix, cf_session_t *s, cf_time_t now)
{
    cf_session_touch(s, now);
    if (s->lapsed && s->end == CF_END_NONE && cf_session_idle_deadline(s) > now)
        cf_index_sync(ix, s, now);
}

void cf_index_set_purge_after(cf_index_t *ix, cf_time_t purge_after)
{
    ix->purge_after = purge_after;
}

size_t cf_index_active(const cf_index_t *ix)
{
    return ix->active;
}

static void lapsed_push(cf_index_t *ix, const cf_session_t *s)
{
    if (ix->lapsed_head + ix->nlapsed == ix->lapsed_cap) {
        if (ix->lapsed_head > 0) { /* reuse the consumed front first */
            memmove(ix->lapsed, ix->lapsed + ix->lapsed_head, ix->nlapsed * sizeof *ix->lapsed);
            ix->lapsed_head = 0;
        } else {
            size_t cap = ix->lapsed_cap ? ix->lapsed_cap * 2 : 256;
            void *v = realloc(ix->lapsed, cap * sizeof *ix->lapsed);
            if (v == NULL)
                return; /* the purge sweep still drops it after purge_after */
            ix->lapsed = v;
            ix->lapsed_cap = cap;
        }
    }
    memcpy(ix->lapsed[ix->lapsed_head + ix->nlapsed++], s->id, CF_SID_LEN + 1);
}

void cf_index_advance(cf_index_t *ix, cf_time_t now)
{
    (void)cf_index_advance_max(ix, now, SIZE_MAX);
}

int cf_index_behind(const cf_index_t *ix, cf_time_t now)
{
    return ix->live.n > 0 && ix->live.v[0].key <= now;
}

int cf_index_advance_max(cf_index_t *ix, cf_time_t now, size_t max)
{
    cf_session_t *s;
    int was_lapsed;

    for (size_t n = 0;; n++) {
        if (!cf_index_behind(ix, now))
            return 0;
        if (n == max)
            return 1;
        s = cf__ix_rec(&ix->records, ix->live.v[0].s);
        was_lapsed = s->lapsed;
        if (cf__ix_file(ix, s, now) < 0) {
            heap_remove_at(&ix->live, 0); /* out of memory: never loop on it */
            continue;
        }
        if (s->lapsed && !was_lapsed)
            lapsed_push(ix, s);
    }
}

size_t cf__ix_expire(cf_index_t *ix, cf_time_t now, size_t max, cf_index_purge_fn fn, void *arg)
{
    size_t n = 0;

    (void)cf_index_advance_max(ix, now, max); /* the rest on the next call */
    while (n < max && ix->dead.n > 0 && ix->dead.v[0].key <= now) {
        cf_session_t *s = cf__ix_rec(&ix->records, ix->dead.v[0].s);
        cf_time_t again;

        n++;
        again = fn(arg, s);
        if (again == 0)
            continue; /* removed */
        heap_rekey(&ix->dead, s->heap_pos - 1, again > now ? again : now + 1);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Creation order                                                       */
/* ------------------------------------------------------------------ */

/* (created_at, id) of @a compared with @at, @id. */
static int order_cmp(const cf_session_t *a, cf_time_t at, const char *id)
{
    if (a->created_at != at)
        return a->created_at < at ? -1 : 1;
    return strcmp(a->id, id);
}

/* The session at position @j of the creation order; NULL for a hole. */
static cf_session_t *ord(const cf_index_t *ix, size_t j)
{
    return cf__ix_rec(&ix->records, ix->order[j]);
}

/* First position whose session compares >= (at, id), holes skipped. */
static size_t order_lower(const cf_index_t *ix, cf_time_t at, const char *id)
{
    size_t lo = 0, hi = ix->norder;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, j = mid;
        while (j < hi && ix->order[j] == 0)
            j++;
        if (j == hi) {
            hi = mid; /* only holes from mid on */
            continue;
        }
        if (order_cmp(ord(ix, j), at, id) < 0)
            lo = j + 1;
        else
            hi = mid;
    }
    return lo;
}

static void order_compact(cf_index_t *ix)
{
    size_t w = 0;

    for (size_t r = 0; r < ix->norder; r++)
        if (ix->order[r] != 0)
            ix->order[w++] = ix->order[r];
    ix->norder = w;
    ix->order_holes = 0;
}

static int order_qcmp(const void *a, const void *b, void *ix)
{
    const cf_session_t *x = cf__ix_rec(&((const cf_index_t *)ix)->records, *(const uint32_t *)a);
    const cf_session_t *y = cf__ix_rec(&((const cf_index_t *)ix)->records, *(const uint32_t *)b);

    return order_cmp(x, y->created_at, y->id);
}

/* A session and its creation time side by side, so sorting compares keys
 * without a cache miss on two records per comparison. */
typedef struct {
    cf_time_t at;
    const cf_session_t *s;
    uint32_t link;
} order_key_t;

static int order_kcmp(const void *a, const void *b)
{
    const order_key_t *x = a, *y = b;

    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return strcmp(x->s->id, y->s->id);
}

static void order_sort(cf_index_t *ix)
{
    order_key_t *k = malloc(ix->norder * sizeof *k);

    if (k == NULL) { /* slower, but needs no memory */
        qsort_r(ix->order, ix->norder, sizeof *ix->order, order_qcmp, ix);
        return;
    }
    for (size_t i = 0; i < ix->norder; i++) {
        const cf_session_t *s = ord(ix, i);
        k[i] = (order_key_t){s->created_at, s, ix->order[i]};
    }
    qsort(k, ix->norder, sizeof *k, order_kcmp);
    for (size_t i = 0; i < ix->norder; i++)
        ix->order[i] = k[i].link;
    free(k);
}

void cf_index_bulk(cf_index_t *ix, int on)
{
    if (on) {
        ix->bulk = 1;
        return;
    }
    if (!ix->bulk)
        return;
    ix->bulk = 0;
    order_compact(ix);
    if (ix->norder > 1) /* an empty index has no array: qsort's pointer must not be NULL */
        order_sort(ix);
}

int cf__ix_order_add(cf_index_t *ix, cf_session_t *s)
{
    size_t pos;

    if (ix->norder == ix->order_cap) {
        if (ix->order_holes > 0) {
            order_compact(ix);
        } else {
            size_t cap = ix->order_cap ? ix->order_cap * 2 : 1024;
            uint32_t *v = realloc(ix->order, cap * sizeof *v);
            if (v == NULL)
                return CF_ENOMEM;
            ix->order = v;
            ix->order_cap = cap;
        }
    }
    /* New sessions are the newest: the common case appends. A bulk load
     * (rows in any order) appends too, and is sorted once at its end. */
    pos = ix->norder;
    if (ix->bulk) {
        ix->order[ix->norder++] = s->self + 1;
        return 0;
    }
    if (pos > 0) {
        size_t last = pos;
        while (last > 0 && ix->order[last - 1] == 0)
            last--;
        if (last > 0 && order_cmp(ord(ix, last - 1), s->created_at, s->id) > 0)
            pos = order_lower(ix, s->created_at, s->id);
    }
    memmove(ix->order + pos + 1, ix->order + pos, (ix->norder - pos) * sizeof *ix->order);
    ix->order[pos] = s->self + 1;
    ix->norder++;
    return 0;
}

void cf__ix_order_del(cf_index_t *ix, cf_session_t *s)
{
    size_t pos = order_lower(ix, s->created_at, s->id);

    while (pos < ix->norder && ix->order[pos] != s->self + 1) /* holes before it */
        pos++;
    if (pos == ix->norder)
        return;
    ix->order[pos] = 0;
    ix->order_holes++;
    if (pos + 1 == ix->norder) { /* trim trailing holes */
        while (ix->norder > 0 && ix->order[ix->norder - 1] == 0) {
            ix->norder--;
            ix->order_holes--;
        }
    }
    /* Keep holes under half, so searches stay logarithmic (amortised O(1)). */
    if (ix->order_holes > 1024 && ix->order_holes * 2 > ix->norder)
        order_compact(ix);
}

size_t cf_index_list(const cf_index_t *ix, const cf_index_cursor_t *cur, cf_index_filter_fn filter,
                     void *arg, cf_session_t **out, size_t max, size_t budget,
                     cf_index_cursor_t *next, int *more)
{
    size_t pos = cur != NULL && cur->id[0] ? order_lower(ix, cur->created_at, cur->id) : ix->norder;
    size_t n = 0, seen = 0;
    const cf_session_t *last = NULL;

    *more = 0;
    while (pos > 0 && n < max) {
        cf_session_t *s = ord(ix, --pos);
        if (s == NULL)
            continue;
        if (seen++ == budget) {
            pos++;
            *more = 1;
            break;
        }
        last = s;
        if (filter == NULL || filter(arg, s))
            out[n++] = s;
    }
    if (!*more) {
        while (pos > 0 && ix->order[pos - 1] == 0)
            pos--;
        *more = pos > 0;
    }
    if (*more && last != NULL) {
        next->created_at = last->created_at;
        memcpy(next->id, last->id, sizeof next->id);
    } else if (*more && cur != NULL) {
        *next = *cur;
    }
    return n;
}
