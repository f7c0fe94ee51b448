/* SPDX-License-Identifier: MIT
 *
 * The cluster store: a shared Redis (7+) reached through hiredis on the
 * loop (its libuv adapter), so a slow Redis never blocks a request. It is a
 * cf_store_t like the SQLite file, plus what only a cluster needs: the bus
 * (every committed batch is published on one channel by the same script that
 * writes it, so a write and its announcement are one atomic step), the
 * guarded commit that lets exactly one of two racing nodes rotate a
 * refresh token, and a few plain commands for the shared key set.
 *
 * Layout in Redis (db from the URL):
 *   cf:s:<sid>   hash    one session; expires purge_after past its deadline.
 *                        Short field names (they are stored once per session):
 *                        u sub, c client_id, s scope, r roles, at auth_time,
 *                        ca created_at, la last_activity, it idle_timeout,
 *                        ab absolute_timeout, tt access_ttl, id idle_deadline,
 *                        ad absolute_deadline, ea ended_at, e end reason,
 *                        g refresh generation, ra rotated_at, ip, d device
 *   cf:r:<hex>   string  "<sid> <gen>" for a refresh-token hash
 *   cf:u:<sub>   set     the ids of a subject's live sessions (an index for
 *                        revocation; stale ids are dropped as it reads them)
 *   cf:c:<cid>   set     the same for a client
 *   cf:nb:<sub>  string  a subject's not-before (Unix ms); expires once every
 *                        token issued before it has (max_ttl + leeway later)
 *   cf:nbg       string  the global not-before, expiring the same way
 *   cf:keyset    string  the signing key set (private keys sealed by the KEK)
 *   curfew:bus:<db>      the pub/sub channel (store/wire.h messages)
 */
#ifndef CF_STORE_REDIS_H
#define CF_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/clock.h"
#include "core/reason.h"
#include "store/store.h"
#include "util/url.h" /* cf_redis_url_t, cf_url_parse_redis() */

/** What the store tells the cluster layer; every callback runs on the loop thread. */
typedef struct {
    void *ctx;
    /* A message heard on the bus (this node's own included). */
    void (*message)(void *ctx, const char *msg, size_t len);
    /* The subscription is live (1) or lost (0). After a loss the node has
     * missed messages and must resynchronise before trusting its cache. */
    void (*link)(void *ctx, int up);
    /* A connection attempt (connect and set-up, or connect and SUBSCRIBE) not
     * answered within this many ms is abandoned and made again; 0: 1000. */
    uint64_t attempt_ms;
    /* A subscription that hears nothing for this many ms is dropped and made
     * again (every node publishes a heartbeat more often); 0: never. */
    uint64_t silence_ms;
} cf_redis_bus_t;

/**
 * Connect to @url (commands and a separate subscription, reconnecting every
 * 100 ms while down, see on_timer in redis.c) as node @node_id. Sessions expire in Redis @keep after
 * their deadline, not-before epochs @nb_keep after their instant. Fails only on a bad argument or when the first connection
 * cannot be made: Redis must be up at startup, so a typo shows at once.
 */
int cf_store_open_redis(const cf_redis_url_t *url, const char *node_id, cf_time_t keep,
                        cf_time_t nb_keep, uv_loop_t *loop, const cf_redis_bus_t *bus,
                        cf_store_t **out);

/** Publish @msg on the bus (heartbeats, key-set notices). CF_EIO when not connected. */
int cf_redis_publish(cf_store_t *st, const char *msg);

/** What a guarded commit found in Redis. */
typedef struct {
    int claimed;       /* the guard held: the batch was applied and announced */
    int found;         /* when not: the session exists in Redis... */
    uint32_t gen;      /* ...at this generation */
    cf_time_t rotated_at;
    cf_end_t end;
    cf_time_t ended_at;
    cf_time_t not_before;        /* its subject's epoch (Unix ms), 0 when none */
    cf_time_t global_not_before;
} cf_redis_guard_t;

typedef void (*cf_redis_guarded_fn)(void *arg, int status, const cf_redis_guard_t *r);

/**
 * Commit @ev (taken, as cf_store_submit) only if session @sid is live at
 * refresh generation @gen, in one atomic step with its announcement. Two
 * nodes exchanging the same refresh token: exactly one gets claimed = 1; the
 * other learns the generation and end Redis holds, and decides again. @cb
 * gets status 0 or CF_ESTORE.
 */
void cf_redis_submit_guarded(cf_store_t *st, cf_events_t *ev, const char *sid, uint32_t gen,
                             cf_redis_guarded_fn cb, void *arg);

/** A session as Redis holds it now, with the not-before epochs that apply to it. */
typedef struct {
    cf_session_t *session;  /* owned by the callee's caller; NULL: not in Redis */
    cf_time_t not_before;   /* its subject's, 0 when none */
    cf_time_t global_not_before;
    uint32_t token_gen;     /* cf_redis_fetch_refresh: the token's generation */
} cf_redis_fetched_t;

typedef void (*cf_redis_fetch_fn)(void *arg, int status, cf_redis_fetched_t *f);

/**
 * Read session @sid and the epochs that apply to it in one atomic step. The
 * callback owns f->session (free it, or keep it). Status 0 or CF_ESTORE.
 */
void cf_redis_fetch(cf_store_t *st, const char *sid, cf_redis_fetch_fn cb, void *arg);

/**
 * Read the session that refresh-token hash @hash names, with its epochs, in
 * one atomic step: for a node that has not heard of a rotation yet. f->session
 * is NULL when Redis does not know the token; f->token_gen is its generation.
 */
void cf_redis_fetch_refresh(cf_store_t *st, const uint8_t hash[32], cf_redis_fetch_fn cb,
                            void *arg);

/** Which sessions a revocation ends, besides the ids it names. */
typedef enum {
    CF_REDIS_REVOKE_SESSIONS, /* only the ids given */
    CF_REDIS_REVOKE_SUBJECT,  /* every session Redis indexes for the subject, and its epoch */
    CF_REDIS_REVOKE_CLIENT,   /* every session Redis indexes for the client */
} cf_redis_revoke_scope_t;

typedef struct {
    cf_redis_revoke_scope_t scope;
    const char *target;       /* the subject or client id (scope SUBJECT, CLIENT) */
    cf_end_t why;
    cf_time_t now;
    cf_time_t cutoff;         /* end only sessions created before it (Unix ms); 0: all */
    cf_time_t not_before;     /* SUBJECT: the epoch to raise (Unix ms), 0: none */
    const char *const *sids;  /* sessions to end too (this node's own view), may be NULL */
    size_t nsids;
} cf_redis_revoke_t;

/**
 * Called with the sessions Redis had of the ids and sets named (@found) and
 * the bus message that announced the ends (@msg, @len bytes; "" when nothing
 * ended), which the caller applies as every other node does. Status 0 or
 * CF_ESTORE: then nothing was written anywhere.
 */
typedef void (*cf_redis_revoke_fn)(void *arg, int status, size_t found, const char *msg,
                                   size_t len);

/**
 * End sessions on Redis's own index, not on this node's view of it, in one
 * atomic step with their announcement: a revocation covers every session
 * acknowledged anywhere before it. Ends merge as every write does (an ended
 * session keeps its first end).
 */
void cf_redis_revoke(cf_store_t *st, const cf_redis_revoke_t *rv, cf_redis_revoke_fn cb,
                     void *arg);

/** Whether the key set was stored (@won) or a newer/equal one was already there. */
typedef void (*cf_redis_cas_fn)(void *arg, int status, int won);

/**
 * Store the key-set document @json in cf:keyset if its @version is above the
 * stored one's, and announce it on the bus, in one atomic step. Two nodes
 * rotating at once: exactly one wins; the other adopts the winner's set.
 */
void cf_redis_keyset_cas(cf_store_t *st, const char *json, uint64_t version, cf_redis_cas_fn cb,
                         void *arg);

/** Reply to a GET: @val NULL when the key is absent. */
typedef void (*cf_redis_value_fn)(void *arg, int status, const char *val, size_t len);

void cf_redis_get(cf_store_t *st, const char *key, cf_redis_value_fn cb, void *arg);

/**
 * GET @key synchronously on a short-lived connection (startup only, before
 * the loop serves). Returns 1 with a malloc'd value, 0 when absent, CF_ESTORE.
 */
int cf_redis_get_sync(cf_store_t *st, const char *key, char **val);

/** SET @key only if absent, synchronously (startup only). 1 set, 0 existed, CF_ESTORE. */
int cf_redis_setnx_sync(cf_store_t *st, const char *key, const char *val);

/** 1 while the command connection is up. */
int cf_redis_connected(const cf_store_t *st);

#endif
