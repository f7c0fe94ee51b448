/* SPDX-License-Identifier: MIT
 *
 * Durable state behind the in-memory session index. The store is a sink of
 * the event stream: the shell submits batches of events, and the store calls
 * back on the loop thread once they are durable. It never decides anything.
 *
 * Group commit: the writer thread takes every batch queued while the previous
 * transaction was syncing and commits them together, so many concurrent
 * changes share one fsync while each caller still hears back only after its
 * own change is on disk.
 */
#ifndef CF_STORE_STORE_H
#define CF_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/event.h"
#include "core/reason.h"
#include "core/session.h"

typedef struct cf_store cf_store_t;

/** Called on the loop thread when a batch is durable (status 0) or failed (CF_ESTORE). */
typedef void (*cf_store_done_fn)(void *arg, int status);

/* Receivers for cf_store_load(); each returns 0 or a negative error to abort. */
typedef struct {
    void *ctx;
    /* Takes ownership of @s. */
    int (*session)(void *ctx, cf_session_t *s);
    int (*refresh_token)(void *ctx, const uint8_t hash[32], const char *sid, uint32_t gen);
    /* @sub is NULL for the global not-before. */
    int (*not_before)(void *ctx, const char *sub, cf_time_t at);
    /* Optional (may be NULL): @sub's refreshes are held until @until (Unix ms). */
    int (*alert_hold)(void *ctx, const char *sub, cf_time_t until);
    /* Optional (may be NULL), called before any row with how many sessions
     * the backend holds (0 when it cannot tell), to size the index. */
    void (*expect)(void *ctx, size_t sessions);
} cf_store_loader_t;

/** Takes ownership of @k; returns 0 or a negative error to abort the load. */
typedef int (*cf_store_apikey_fn)(void *ctx, cf_apikey_t *k);

/* Upper bounds (seconds) of the commit-time histogram; +Inf is implied. */
#define CF_STORE_COMMIT_NBOUNDS 14
extern const double cf_store_commit_bounds[CF_STORE_COMMIT_NBOUNDS];

typedef struct {
    uint64_t commits;       /* transactions (fsyncs) */
    uint64_t batches;       /* submitted batches */
    uint64_t events;        /* events written */
    uint64_t failures;
    /* Wall time of each transaction, BEGIN to COMMIT (fsync included):
     * commit_buckets[i] counts those in (bounds[i-1], bounds[i]] (not
     * cumulative), commit_buckets[CF_STORE_COMMIT_NBOUNDS] those above. */
    uint64_t commit_buckets[CF_STORE_COMMIT_NBOUNDS + 1];
    double commit_seconds;  /* sum */
} cf_store_stats_t;

/* ---- what only a shared store (a cluster's Redis) answers ---- */

/** What a guarded commit found in the store. */
typedef struct {
    int claimed;       /* the guard held: the batch was applied and announced */
    int found;         /* when not: the session exists in the store... */
    uint32_t gen;      /* ...at this generation */
    cf_time_t rotated_at;
    cf_end_t end;
    cf_time_t ended_at;
    cf_time_t not_before;        /* its subject's epoch (Unix ms), 0 when none */
    cf_time_t global_not_before;
} cf_store_guard_t;

typedef void (*cf_store_guarded_fn)(void *arg, int status, const cf_store_guard_t *r);

/** A session as the store holds it now, with the not-before epochs that apply to it. */
typedef struct {
    cf_session_t *session;  /* owned by the callee's caller; NULL: not in the store */
    cf_time_t not_before;   /* its subject's, 0 when none */
    cf_time_t global_not_before;
    uint32_t token_gen;     /* cf_store_fetch_refresh: the token's generation */
} cf_store_fetched_t;

typedef void (*cf_store_fetch_fn)(void *arg, int status, cf_store_fetched_t *f);

/** Which sessions a revocation ends, besides the ids it names. */
typedef enum {
    CF_STORE_REVOKE_SESSIONS, /* only the ids given */
    CF_STORE_REVOKE_SUBJECT,  /* every session the store indexes for the subject, and its epoch */
    CF_STORE_REVOKE_CLIENT,   /* every session the store indexes for the client */
} cf_store_revoke_scope_t;

typedef struct {
    cf_store_revoke_scope_t scope;
    const char *target;       /* the subject or client id (scope SUBJECT, CLIENT) */
    cf_end_t why;
    cf_time_t now;
    cf_time_t cutoff;         /* end only sessions created before it (Unix ms); 0: all */
    cf_time_t not_before;     /* SUBJECT: the epoch to raise (Unix ms), 0: none */
    const char *const *sids;  /* sessions to end too (this node's own view), may be NULL */
    size_t nsids;
} cf_store_revoke_t;

/**
 * Called with the sessions the store had of the ids and sets named (@found)
 * and the bus message that announced the ends (@msg, @len bytes; "" when
 * nothing ended), which the caller applies as every other node does. Status 0
 * or CF_ESTORE (then nothing was written anywhere), CF_ENOTSUP.
 */
typedef void (*cf_store_revoke_fn)(void *arg, int status, size_t found, const char *msg,
                                   size_t len);

/** Whether the key set was stored (@won) or a newer/equal one was already there. */
typedef void (*cf_store_cas_fn)(void *arg, int status, int won);

/** The shared key-set document: @val NULL when there is none. */
typedef void (*cf_store_value_fn)(void *arg, int status, const char *val, size_t len);

/*
 * A backend: the SQLite file (sqlite.c, the default) or a shared Redis
 * (redis.c, for clusters). Each embeds cf_store_t first and fills in its ops.
 *
 * The operations below the line are optional: only a store that nodes share
 * has them (Redis sets them, SQLite leaves them NULL). Callers go through the
 * cf_store_*() wrappers, which answer CF_ENOTSUP for a missing one, so no
 * caller needs to know which backend it holds.
 */
typedef struct cf_store_ops {
    const char *name;
    int (*load)(cf_store_t *st, const cf_store_loader_t *ld);
    void (*submit)(cf_store_t *st, cf_events_t *ev, cf_store_done_fn done, void *arg);
    cf_store_stats_t (*stats)(const cf_store_t *st);
    void (*close)(cf_store_t *st, cf_store_stats_t *final);
    /* ---- optional ---- */
    void (*submit_guarded)(cf_store_t *st, cf_events_t *ev, const char *sid, uint32_t gen,
                           cf_store_guarded_fn cb, void *arg);
    void (*fetch)(cf_store_t *st, const char *sid, cf_store_fetch_fn cb, void *arg);
    void (*fetch_refresh)(cf_store_t *st, const uint8_t hash[32], cf_store_fetch_fn cb,
                          void *arg);
    void (*revoke)(cf_store_t *st, const cf_store_revoke_t *rv, cf_store_revoke_fn cb,
                   void *arg);
    int (*publish)(cf_store_t *st, const char *msg);
    void (*keyset_get)(cf_store_t *st, cf_store_value_fn cb, void *arg);
    void (*keyset_put)(cf_store_t *st, const char *json, uint64_t version, cf_store_cas_fn cb,
                       void *arg);
    int (*keyset_get_sync)(cf_store_t *st, char **json);
    int (*keyset_offer_sync)(cf_store_t *st, const char *json);
    /* API keys: read every key back (start-up, or a cluster resync), calling thread */
    int (*load_apikeys)(cf_store_t *st, cf_store_apikey_fn fn, void *ctx);
    void (*revoke_apikeys)(cf_store_t *st, const cf_store_revoke_t *rv, cf_store_revoke_fn cb,
                           void *arg);
    int (*dpop_claim)(cf_store_t *st, const uint8_t id[16], uint64_t ttl_ms, cf_store_cas_fn cb,
                      void *arg);
} cf_store_ops_t;

struct cf_store {
    const cf_store_ops_t *ops;
};

/**
 * Open (creating if needed) the SQLite database at @path in WAL mode with
 * synchronous=FULL, and start the writer thread. Completions are delivered on
 * @loop. Returns 0 or CF_ESTORE (the reason is logged).
 */
int cf_store_open_sqlite(const char *path, uv_loop_t *loop, cf_store_t **out);

/** The backend's name ("sqlite", "redis"). */
static inline const char *cf_store_name(const cf_store_t *st)
{
    return st->ops->name;
}

/** Read everything back at startup (before serving), from the calling thread. */
static inline int cf_store_load(cf_store_t *st, const cf_store_loader_t *ld)
{
    return st->ops->load(st, ld);
}

/**
 * Queue @ev for the next commit. Takes ownership of the events (the array is
 * moved out and @ev left empty). @done (may be NULL) runs on the loop thread
 * once durable. Never fails synchronously.
 */
static inline void cf_store_submit(cf_store_t *st, cf_events_t *ev, cf_store_done_fn done,
                                   void *arg)
{
    st->ops->submit(st, ev, done, arg);
}

/** Counters, read on the loop thread. */
static inline cf_store_stats_t cf_store_stats(const cf_store_t *st)
{
    return st->ops->stats(st);
}

/**
 * Commit whatever is queued, stop the writer and close the database. Pending
 * callbacks run before it returns; the final counters go to @final (may be
 * NULL). Call from the loop thread, with the loop no longer serving requests;
 * the memory is released once the loop runs the close callback. NULL is a no-op.
 */
static inline void cf_store_close(cf_store_t *st, cf_store_stats_t *final)
{
    if (st != NULL)
        st->ops->close(st, final);
}

/* ---- optional operations: CF_ENOTSUP from a store that does not share ---- */

/**
 * Commit @ev (taken, as cf_store_submit) only if session @sid is live at
 * refresh generation @gen, in one atomic step with its announcement. Two
 * nodes exchanging the same refresh token: exactly one gets claimed = 1; the
 * other learns the generation and end the store holds, and decides again. @cb
 * gets status 0, CF_ESTORE or CF_ENOTSUP.
 */
static inline void cf_store_submit_guarded(cf_store_t *st, cf_events_t *ev, const char *sid,
                                           uint32_t gen, cf_store_guarded_fn cb, void *arg)
{
    if (st->ops->submit_guarded == NULL) {
        cf_events_fini(ev);
        cb(arg, CF_ENOTSUP, &(cf_store_guard_t){0});
        return;
    }
    st->ops->submit_guarded(st, ev, sid, gen, cb, arg);
}

/**
 * Read session @sid and the epochs that apply to it in one atomic step. The
 * callback owns f->session (free it, or keep it). Status 0, CF_ESTORE or
 * CF_ENOTSUP.
 */
static inline void cf_store_fetch(cf_store_t *st, const char *sid, cf_store_fetch_fn cb,
                                  void *arg)
{
    if (st->ops->fetch == NULL)
        cb(arg, CF_ENOTSUP, &(cf_store_fetched_t){0});
    else
        st->ops->fetch(st, sid, cb, arg);
}

/**
 * Read the session that refresh-token hash @hash names, with its epochs, in
 * one atomic step: for a node that has not heard of a rotation yet. f->session
 * is NULL when the store does not know the token; f->token_gen is its generation.
 */
static inline void cf_store_fetch_refresh(cf_store_t *st, const uint8_t hash[32],
                                          cf_store_fetch_fn cb, void *arg)
{
    if (st->ops->fetch_refresh == NULL)
        cb(arg, CF_ENOTSUP, &(cf_store_fetched_t){0});
    else
        st->ops->fetch_refresh(st, hash, cb, arg);
}

/**
 * End sessions on the store's own index, not on this node's view of it, in
 * one atomic step with their announcement: a revocation covers every session
 * acknowledged anywhere before it. Ends merge as every write does (an ended
 * session keeps its first end).
 */
static inline void cf_store_revoke(cf_store_t *st, const cf_store_revoke_t *rv,
                                   cf_store_revoke_fn cb, void *arg)
{
    if (st->ops->revoke == NULL)
        cb(arg, CF_ENOTSUP, 0, "", 0);
    else
        st->ops->revoke(st, rv, cb, arg);
}

/** Publish @msg on the bus (heartbeats, key-set notices). CF_EIO when not connected. */
static inline int cf_store_publish(cf_store_t *st, const char *msg)
{
    return st->ops->publish == NULL ? CF_ENOTSUP : st->ops->publish(st, msg);
}

/** Read the shared key-set document (sealed by the KEK). */
static inline void cf_store_keyset_get(cf_store_t *st, cf_store_value_fn cb, void *arg)
{
    if (st->ops->keyset_get == NULL)
        cb(arg, CF_ENOTSUP, NULL, 0);
    else
        st->ops->keyset_get(st, cb, arg);
}

/**
 * Claim the DPoP proof @id (a hash of its key and jti) for @ttl_ms, once for
 * the whole cluster: @cb hears won 1 (this claim has it), 0 (another had it,
 * a replay) or status CF_ESTORE. Returns 0 then; or CF_ENOTSUP (a store nodes
 * do not share) or CF_ESTORE (not connected), and @cb never runs.
 */
static inline int cf_store_dpop_claim(cf_store_t *st, const uint8_t id[16], uint64_t ttl_ms,
                                      cf_store_cas_fn cb, void *arg)
{
    return st->ops->dpop_claim == NULL ? CF_ENOTSUP : st->ops->dpop_claim(st, id, ttl_ms, cb, arg);
}

/**
 * Store the key-set document @json if its @version is above the stored one's,
 * and announce it on the bus, in one atomic step. Two nodes rotating at once:
 * exactly one wins; the other adopts the winner's set.
 */
static inline void cf_store_keyset_put(cf_store_t *st, const char *json, uint64_t version,
                                       cf_store_cas_fn cb, void *arg)
{
    if (st->ops->keyset_put == NULL)
        cb(arg, CF_ENOTSUP, 0);
    else
        st->ops->keyset_put(st, json, version, cb, arg);
}

/**
 * Read the shared key-set document synchronously (startup only, before the
 * loop serves). Returns 1 with a malloc'd @json, 0 when there is none,
 * CF_ESTORE, CF_ENOTSUP.
 */
static inline int cf_store_keyset_get_sync(cf_store_t *st, char **json)
{
    *json = NULL;
    return st->ops->keyset_get_sync == NULL ? CF_ENOTSUP : st->ops->keyset_get_sync(st, json);
}

/**
 * Offer @json as the shared key set if there is none yet, synchronously
 * (startup only). 1 stored, 0 one existed, CF_ESTORE, CF_ENOTSUP.
 */
static inline int cf_store_keyset_offer_sync(cf_store_t *st, const char *json)
{
    return st->ops->keyset_offer_sync == NULL ? CF_ENOTSUP
                                              : st->ops->keyset_offer_sync(st, json);
}

/**
 * Read every API key back into @fn (startup, before serving). Returns 0, a
 * negative error from @fn, CF_ESTORE, or CF_ENOTSUP when the backend keeps
 * no keys.
 */
static inline int cf_store_load_apikeys(cf_store_t *st, cf_store_apikey_fn fn, void *ctx)
{
    return st->ops->load_apikeys == NULL ? CF_ENOTSUP : st->ops->load_apikeys(st, fn, ctx);
}

/**
 * Revoke, on the store's own index, every live API key of the owner
 * (@rv->scope SUBJECT) or client (CLIENT) named by @rv->target at @rv->now,
 * in one atomic step with the announcement: it covers every key whose
 * creation was acknowledged anywhere before, whether or not this node has
 * heard of it. @cb gets the keys found and the bus message of the ends
 * (apikey_ended events, "" when none ended), as cf_store_revoke. CF_ENOTSUP
 * from a store that does not share (then the caller decides alone).
 */
static inline void cf_store_revoke_apikeys(cf_store_t *st, const cf_store_revoke_t *rv,
                                           cf_store_revoke_fn cb, void *arg)
{
    if (st->ops->revoke_apikeys == NULL)
        cb(arg, CF_ENOTSUP, 0, "", 0);
    else
        st->ops->revoke_apikeys(st, rv, cb, arg);
}

/** 1 when the store revokes API keys on its own index (a cluster's Redis). */
static inline int cf_store_shares_apikeys(const cf_store_t *st)
{
    return st->ops->revoke_apikeys != NULL;
}

#endif
