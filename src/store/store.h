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

#include <stdint.h>
#include <uv.h>

#include "core/event.h"
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
} cf_store_loader_t;

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

/*
 * A backend: the SQLite file (sqlite.c, the default) or a shared Redis
 * (redis.c, for clusters). Each embeds cf_store_t first and fills in its ops.
 */
typedef struct cf_store_ops {
    const char *name;
    int (*load)(cf_store_t *st, const cf_store_loader_t *ld);
    void (*submit)(cf_store_t *st, cf_events_t *ev, cf_store_done_fn done, void *arg);
    cf_store_stats_t (*stats)(const cf_store_t *st);
    void (*close)(cf_store_t *st, cf_store_stats_t *final);
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

#endif
