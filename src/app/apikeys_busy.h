/* SPDX-License-Identifier: MIT
 *
 * API keys with a change in flight: decided and committed, not yet answered
 * by the store. A change that must see another one (two rotations of one key:
 * exactly one may win; a rotation racing a revocation) waits until the key has
 * none in flight, then is decided on the acknowledged state, as refreshes of
 * one session do (app/commit.c). A data structure only; app/apikeys.c owns one.
 */
#ifndef CF_APP_APIKEYS_BUSY_H
#define CF_APP_APIKEYS_BUSY_H

#include <stddef.h>

#include "core/apikey.h"

struct cf_app;

/** What to run once the changes waited for are answered. */
typedef void (*cf_apikeys_busy_fn)(struct cf_app *app, void *arg);

typedef struct cf_apikeys_busy_entry cf_apikeys_busy_entry_t;
typedef struct cf_apikeys_busy_waiter cf_apikeys_busy_waiter_t;

/** Keys with changes in flight (few at a time: a flat array) and who waits for them. */
typedef struct {
    cf_apikeys_busy_entry_t *v;
    size_t n, cap;
    size_t total;                     /* changes in flight, all keys */
    size_t bulk;                      /* of those, batches held as a whole (NULL id) */
    cf_apikeys_busy_waiter_t *waiters; /* first come, first run */
} cf_apikeys_busy_t;

/**
 * Count one more change of key @id in flight; @id NULL: a batch of many keys
 * (a bulk revocation), which holds every key until answered. 0 or CF_ENOMEM.
 */
int cf_apikeys_busy_hold(cf_apikeys_busy_t *b, const char *id);

/**
 * One change of key @id (NULL: a bulk batch) was answered: run, in order,
 * the waiters nothing holds any more (for @id: no change of @id and no bulk
 * batch in flight; for every key: nothing in flight). A waiter may hold and
 * wait again.
 */
void cf_apikeys_busy_release(cf_apikeys_busy_t *b, struct cf_app *app, const char *id);

/** 1 while key @id (NULL: any key) has a change in flight. */
int cf_apikeys_busy_held(const cf_apikeys_busy_t *b, const char *id);

/** Queue @fn(app, arg) until key @id (NULL: every key) has none in flight. 0 or CF_ENOMEM. */
int cf_apikeys_busy_wait(cf_apikeys_busy_t *b, const char *id, cf_apikeys_busy_fn fn, void *arg);

/** Free the table; waiters still queued are dropped (at shutdown only). */
void cf_apikeys_busy_fini(cf_apikeys_busy_t *b);

#endif
