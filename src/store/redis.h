/* SPDX-License-Identifier: MIT
 *
 * The cluster store: a shared Redis (7+) reached through hiredis on the
 * loop (its libuv adapter), so a slow Redis never blocks a request. It is a
 * cf_store_t like the SQLite file, plus what only a cluster needs: the bus
 * (every committed batch is published on one channel by the same script that
 * writes it, so a write and its announcement are one atomic step), the
 * guarded commit that lets exactly one of two racing nodes rotate a
 * refresh token, and the shared key set: store.h's optional operations.
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
 *   cf:dpop:<hex> string "1": a DPoP proof spent (hex of 16 bytes of SHA-256
 *                        over its key's thumbprint and jti); expires once no
 *                        node would accept the proof (dpop.window + leeway)
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
 * 100 ms while down, see on_timer in redis_conn.c) as node @node_id. Sessions expire in Redis @keep after
 * their deadline, not-before epochs @nb_keep after their instant. Fails only on a bad argument or when the first connection
 * cannot be made: Redis must be up at startup, so a typo shows at once.
 */
int cf_store_open_redis(const cf_redis_url_t *url, const char *node_id, cf_time_t keep,
                        cf_time_t nb_keep, uv_loop_t *loop, const cf_redis_bus_t *bus,
                        cf_store_t **out);

/*
 * The rest of what a cluster needs (the guarded commit, fetch, revoke,
 * publish, the shared key set) is reached through store.h's optional
 * operations, which this backend sets: callers need not include this header.
 */

/**
 * 1 while the command connection is up and has answered its set-up (SELECT,
 * SCRIPT LOAD, PING): a Redis still loading its append-only file accepts the
 * connection but refuses the scripts, so "connected" alone does not take writes.
 */
int cf_redis_connected(const cf_store_t *st);

#endif
