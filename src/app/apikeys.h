/* SPDX-License-Identifier: MIT
 *
 * The API key module's operations (app/apikeys.c). Included at the end of
 * app/app.h, whose types they use; handlers reach them through app.h.
 */
#ifndef CF_APP_APIKEYS_H
#define CF_APP_APIKEYS_H

#include "app/app.h"
#include "core/apikeyrec.h"

/* ---- API keys (apikeys.c) ------------------------------------------------ */

/**
 * Load the API keys from the store and hook the module into the commit
 * point and the lifecycle. Call once after cf_app_init(), before serving.
 * Returns 0 or a negative CF_E* (logged).
 */
int cf_app_apikeys_init(cf_app_t *app);
/** Start the timer that writes lazy use and ends lapsed keys (after cf_app_start). */
void cf_app_apikeys_start(cf_app_t *app);
/**
 * 1 when the store keeps API keys (SQLite and Redis do). A store without
 * them gets no key events at all: the admin endpoints refuse to create any.
 */
int cf_app_apikeys_stored(const cf_app_t *app);
/** The API key gauges (by state, expiring within 7 days) for /metrics, at scrape time. */
void cf_app_apikeys_render(cf_app_t *app, cf_prom_t *p);
/** A shared revocation's outcome: status 0 or CF_ESTORE, and how many keys it ended. */
typedef void (*cf_apikeys_revoked_fn)(cf_app_t *app, void *arg, int status, int64_t ended);
/**
 * Revoke every live key of owner @sub (or, @sub NULL, of client @client_id)
 * on the shared store's own index (a cluster's Redis), so keys created on
 * other nodes a moment ago end too; the ends are applied here and on every
 * node before @done runs. Returns 0 (then @done runs exactly once),
 * CF_ENOTSUP when the store does not share (decide locally then), CF_ENOMEM.
 */
int cf_app_apikeys_revoke_shared(cf_app_t *app, const char *sub, const char *client_id,
                                 cf_apikeys_revoked_fn done, void *arg);
/**
 * The key with id @id (NUL-terminated), or NULL. Records are packed
 * (core/apikeyrec.h): read one with cf_app_apikey_view().
 */
cf_apikey_rec_t *cf_app_apikey(cf_app_t *app, const char *id);
/**
 * The key a presented string @s (@n bytes) names: NULL with *@malformed when
 * its form or checksum is wrong, NULL when no key has its id, else the live
 * record with *@secret_ok saying whether the string's SHA-256 is the key's.
 * The string's parse and hash are cached (core/apikey.h); the record never is.
 */
cf_apikey_rec_t *cf_app_apikey_find(cf_app_t *app, const char *s, size_t n, int *malformed,
                                int *secret_ok);
/**
 * @r as a whole key in @out: a copy whose strings and networks are borrowed
 * from the table (valid until @r changes or leaves it; never freed).
 */
void cf_app_apikey_view(const cf_app_t *app, const cf_apikey_rec_t *r, cf_apikey_t *out);
/** Iterate the keys: *@pos starts at 0; NULL at the end. No changes while iterating. */
cf_apikey_rec_t *cf_app_apikey_next(cf_app_t *app, size_t *pos);
/** The lifetime rules for a key of @client_id ("" none) holding @roles (comma separated). */
void cf_app_apikey_policy(cf_app_t *app, const char *client_id, const char *roles,
                          cf_apikey_policy_t *pol);
/**
 * A new key, not in the table: a fresh unique id, and the key string in @out
 * (the secret: shown once, then wiped by the caller). Only its hash is in the
 * returned key, which the caller owns. NULL when out of memory.
 */
cf_apikey_t *cf_app_apikey_mint(cf_app_t *app, const char *sub, const char *name,
                                const char *client_id, const char *roles, const char *scope,
                                char out[CF_APIKEY_LEN + 1]);
/**
 * Decide to end @k with @why at @now: appends APIKEY_ENDED (a snapshot with
 * the end) to @ev. A key already past one of its deadlines ends with that
 * deadline's reason, at that deadline, whatever @why. Returns 1, 0 when @k's
 * end is recorded already, CF_ENOMEM.
 */
int cf_app_apikey_end(cf_app_t *app, const cf_apikey_t *k, cf_apikey_end_t why, cf_time_t now,
                      cf_events_t *ev);
/**
 * cf_app_commit() for a batch of API key changes decided by the admin API:
 * every key it names counts as busy until the store answered; then @done
 * runs (on the applied state), then what cf_app_apikey_wait() queued.
 */
void cf_app_apikey_commit(cf_app_t *app, cf_events_t *ev, cf_store_done_fn done, void *arg);
/**
 * When key @id (NULL: any key) has a change in flight, queue @fn(app, arg)
 * until it has none and return 1; 0 when nothing is in flight (decide now);
 * CF_ENOMEM. Two rotations of a key are so decided one after the other.
 */
int cf_app_apikey_wait(cf_app_t *app, const char *id, cf_wait_fn fn, void *arg);
/** Record a use of @k at @now (and its counted quota): written lazily. */
void cf_app_apikey_touch(cf_app_t *app, cf_apikey_rec_t *k, cf_time_t now);
/**
 * Count one use of @k against quotas @day and @month (0 = none) at @now, as
 * cf_apikey_quota_take() (1 counted, 0 refused, *@q either way); the count
 * is written lazily, and what this node counted is sent as its delta.
 */
int cf_app_apikey_quota(cf_app_t *app, cf_apikey_rec_t *k, int64_t day, int64_t month,
                        cf_time_t now, cf_apikey_quota_t *q);
/** The per-key rate limit (api_keys.rate): 1 when over it, with the 429 in @out; 0 counted. */
int cf_app_apikey_rate(cf_app_t *app, cf_apikey_rec_t *k, cf_limit_t *out);
/** The admin view of @k at @now (never the secret or its hash). New reference or NULL. */
json_t *cf_app_apikey_json(cf_app_t *app, const cf_apikey_t *k, cf_time_t now);
/** Post the key_expiring alert for @k at @at to @w (NULL: none); never the secret. */
void cf_app_apikey_warn(cf_webhook_t *w, const cf_apikey_t *k, cf_time_t at);

#endif
