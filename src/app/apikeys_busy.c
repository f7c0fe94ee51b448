/* SPDX-License-Identifier: MIT
 *
 * API keys with changes in flight, and the decisions waiting for them
 * (app/apikeys_busy.h). Linear scans: only single-key changes between a
 * commit and the store's answer are here, a handful at a time; a batch of
 * many keys is one bulk hold.
 */
#include <stdlib.h>
#include <string.h>

#include "app/apikeys_busy.h"
#include "core/error.h"

struct cf_apikeys_busy_entry {
    char id[CF_APIKEY_ID_LEN + 1];
    size_t n;
};

struct cf_apikeys_busy_waiter {
    cf_apikeys_busy_waiter_t *next;
    char id[CF_APIKEY_ID_LEN + 1]; /* "" waits for every key */
    cf_apikeys_busy_fn fn;
    void *arg;
};

static cf_apikeys_busy_entry_t *lookup(const cf_apikeys_busy_t *b, const char *id)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].id, id) == 0)
            return &b->v[i];
    return NULL;
}

int cf_apikeys_busy_hold(cf_apikeys_busy_t *b, const char *id)
{
    cf_apikeys_busy_entry_t *e = id != NULL ? lookup(b, id) : NULL;

    if (id == NULL) {
        b->bulk++;
        b->total++;
        return 0;
    }
    if (e == NULL) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 8;
            cf_apikeys_busy_entry_t *v = realloc(b->v, cap * sizeof *v);
            if (v == NULL)
                return CF_ENOMEM;
            b->v = v;
            b->cap = cap;
        }
        e = &b->v[b->n++];
        memset(e, 0, sizeof *e);
        strncpy(e->id, id, CF_APIKEY_ID_LEN);
    }
    e->n++;
    b->total++;
    return 0;
}

int cf_apikeys_busy_held(const cf_apikeys_busy_t *b, const char *id)
{
    return id == NULL ? b->total > 0 : b->bulk > 0 || lookup(b, id) != NULL;
}

int cf_apikeys_busy_wait(cf_apikeys_busy_t *b, const char *id, cf_apikeys_busy_fn fn, void *arg)
{
    cf_apikeys_busy_waiter_t *w = calloc(1, sizeof *w), **tail = &b->waiters;

    if (w == NULL)
        return CF_ENOMEM;
    if (id != NULL)
        strncpy(w->id, id, CF_APIKEY_ID_LEN);
    w->fn = fn;
    w->arg = arg;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = w;
    return 0;
}

/* Take out the first waiter that may run now. One at a time: a waiter may
 * hold again, and the next must then wait for that change too. */
static cf_apikeys_busy_waiter_t *first_ready(cf_apikeys_busy_t *b)
{
    for (cf_apikeys_busy_waiter_t **p = &b->waiters; *p != NULL; p = &(*p)->next) {
        cf_apikeys_busy_waiter_t *w = *p;
        if (!cf_apikeys_busy_held(b, w->id[0] ? w->id : NULL)) {
            *p = w->next;
            return w;
        }
    }
    return NULL;
}

void cf_apikeys_busy_release(cf_apikeys_busy_t *b, struct cf_app *app, const char *id)
{
    cf_apikeys_busy_entry_t *e = id != NULL ? lookup(b, id) : NULL;
    cf_apikeys_busy_waiter_t *w;

    if (id == NULL && b->bulk > 0) {
        b->bulk--;
        b->total--;
    } else if (e != NULL) {
        b->total--;
        if (--e->n > 0)
            return;
        *e = b->v[--b->n]; /* order does not matter */
    } else {
        return;
    }
    while ((w = first_ready(b)) != NULL) {
        w->fn(app, w->arg);
        free(w);
    }
}

void cf_apikeys_busy_fini(cf_apikeys_busy_t *b)
{
    while (b->waiters != NULL) {
        cf_apikeys_busy_waiter_t *w = b->waiters;
        b->waiters = w->next;
        free(w);
    }
    free(b->v);
    memset(b, 0, sizeof *b);
}
