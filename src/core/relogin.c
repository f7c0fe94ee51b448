/* SPDX-License-Identifier: MIT
 *
 * The re-login tracker (relogin.h): a string map of subjects threaded on an
 * LRU list (most recent at the tail). Pending timeouts are found by their
 * window on the same list: an entry moves to the tail on every start or
 * timeout, and a timeout's window starts at the end it records, so the
 * entries whose windows passed sit towards the head; expire() walks from the
 * head and stops at the first entry still within its window.
 */
#include "core/relogin.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strmap.h"

typedef struct entry {
    cf_strmap_node_t node;
    struct entry *prev, *next;
    cf_time_t started; /* latest session start; INT64_MIN when none seen */
    cf_time_t ended;   /* pending timeout's end */
    int pending;       /* -1 none, 0 idle, 1 absolute */
    size_t tag;        /* the pending timeout's tag */
    cf_time_t seen;    /* last touched (list order) */
    char sub[];
} entry_t;

struct cf_relogin {
    size_t cap;
    cf_time_t window;
    cf_strmap_t map;
    entry_t *head, *tail;
    size_t ntags;
    uint64_t (*lost)[2]; /* timeouts without return, per tag and kind */
};

static void out_init(cf_relogin_out_t *out)
{
    memset(out, 0, sizeof *out);
    out->relogin = -1;
}

cf_relogin_t *cf_relogin_new_tagged(size_t cap, cf_time_t window, size_t ntags)
{
    cf_relogin_t *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->cap = cap > 0 ? cap : 1;
    r->window = window > 0 ? window : 0;
    r->ntags = ntags > 0 ? ntags : 1;
    r->lost = calloc(r->ntags, sizeof *r->lost);
    if (r->lost == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

cf_relogin_t *cf_relogin_new(size_t cap, cf_time_t window)
{
    return cf_relogin_new_tagged(cap, window, 1);
}

uint64_t cf_relogin_without_return(const cf_relogin_t *r, size_t tag, int kind)
{
    return tag < r->ntags && (kind == 0 || kind == 1) ? r->lost[tag][kind] : 0;
}

/* @e's pending timeout had no return: counted in @out and under its tag. */
static void without_return(cf_relogin_t *r, entry_t *e, cf_relogin_out_t *out)
{
    out->without_return[e->pending]++;
    r->lost[e->tag][e->pending]++;
    e->pending = -1;
}

void cf_relogin_free(cf_relogin_t *r)
{
    if (r == NULL)
        return;
    for (entry_t *e = r->head, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    cf_strmap_fini(&r->map);
    free(r->lost);
    free(r);
}

size_t cf_relogin_size(const cf_relogin_t *r)
{
    return r->map.n;
}

static void unlink_entry(cf_relogin_t *r, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        r->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        r->tail = e->prev;
    e->prev = e->next = NULL;
}

static void append(cf_relogin_t *r, entry_t *e)
{
    e->prev = r->tail;
    if (r->tail)
        r->tail->next = e;
    else
        r->head = e;
    r->tail = e;
}

static void drop(cf_relogin_t *r, entry_t *e)
{
    unlink_entry(r, e);
    cf_strmap_del(&r->map, &e->node);
    free(e);
}

/* The entry of @sub, moved to the tail (created when missing). NULL when out of memory. */
static entry_t *touch(cf_relogin_t *r, const char *sub, cf_time_t at, cf_relogin_out_t *out)
{
    entry_t *e = (entry_t *)cf_strmap_get(&r->map, sub);
    size_t len;

    if (e != NULL) {
        unlink_entry(r, e);
        if (at > e->seen)
            e->seen = at;
        append(r, e);
        return e;
    }
    if (r->map.n >= r->cap) {
        out->evicted += r->head->pending >= 0;
        drop(r, r->head);
    }
    len = strlen(sub);
    e = calloc(1, sizeof *e + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->sub, sub, len + 1);
    e->node.key = e->sub;
    e->started = INT64_MIN;
    e->pending = -1;
    e->seen = at;
    if (cf_strmap_put(&r->map, &e->node) < 0) {
        free(e);
        return NULL;
    }
    append(r, e);
    return e;
}

int cf_relogin_started(cf_relogin_t *r, const char *sub, cf_time_t at, cf_relogin_out_t *out)
{
    entry_t *e;

    out_init(out);
    cf_relogin_expire(r, at, out);
    e = touch(r, sub, at, out);
    if (e == NULL)
        return CF_ENOMEM;
    if (e->pending >= 0 && at >= e->ended) {
        if (at - e->ended <= r->window) {
            out->relogin = e->pending;
            out->gap = at - e->ended;
            out->tag = e->tag;
            e->pending = -1;
        } else {
            without_return(r, e, out);
        }
    }
    if (at > e->started)
        e->started = at;
    return 0;
}

int cf_relogin_ended(cf_relogin_t *r, const char *sub, cf_end_t why, cf_time_t at,
                     cf_relogin_out_t *out)
{
    return cf_relogin_ended_tagged(r, sub, why, at, 0, out);
}

int cf_relogin_ended_tagged(cf_relogin_t *r, const char *sub, cf_end_t why, cf_time_t at,
                            size_t tag, cf_relogin_out_t *out)
{
    int kind = why == CF_END_IDLE_TIMEOUT ? 0 : why == CF_END_ABSOLUTE_TIMEOUT ? 1 : -1;
    entry_t *e;

    out_init(out);
    if (kind < 0)
        return 0;
    e = touch(r, sub, at, out);
    if (e == NULL)
        return CF_ENOMEM;
    if (e->pending >= 0) /* superseded by this later timeout of the same subject */
        without_return(r, e, out);
    if (tag >= r->ntags)
        tag = 0;
    /* A late end (the purge sweep): the subject may have started again already. */
    if (e->started != INT64_MIN && e->started >= at && e->started - at <= r->window) {
        out->relogin = kind;
        out->gap = e->started - at;
        out->tag = tag;
        e->started = INT64_MIN; /* that start answers one timeout only */
        return 0;
    }
    e->pending = kind;
    e->tag = tag;
    e->ended = at;
    return 0;
}

void cf_relogin_expire(cf_relogin_t *r, cf_time_t now, cf_relogin_out_t *out)
{
    entry_t *e = r->head, *next;

    /* Entries are in the order last touched; one whose last touch is within
     * the window cannot hold an expired timeout, nor can any after it. */
    for (; e != NULL && now - e->seen > r->window; e = next) {
        next = e->next;
        if (e->pending >= 0 && now - e->ended > r->window)
            without_return(r, e, out);
        drop(r, e); /* nothing pending within the window: forget the subject */
    }
}
