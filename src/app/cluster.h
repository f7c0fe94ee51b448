/* SPDX-License-Identifier: MIT
 *
 * The cluster layer (store.url: redis://...): what makes a node's in-memory
 * index a faithful cache of the shared Redis. It applies what other nodes
 * publish, keeps the node's staleness bound, and resynchronises after a
 * lost link. Every function runs on the loop thread.
 *
 * Staleness: a node trusts its cache only while it hears the bus. Each node
 * publishes a heartbeat every max_staleness/4 and counts every message it
 * hears (its own heartbeats included, which proves the round trip through
 * Redis). Past max_staleness without one, or while a lost subscription has
 * not been resynchronised, checks are refused with 503 store_unavailable.
 */
#ifndef CF_API_CLUSTER_H
#define CF_API_CLUSTER_H

#include <stdint.h>
#include <uv.h>

#include "obs/metrics.h"
#include "store/wire.h"

#define CF_CLUSTER_SAMPLES 4096 /* recent propagation delays kept for /v1/cluster */

typedef struct cf_cluster {
    char node[CF_NODE_ID_LEN + 1];
    uint64_t heard_ms;  /* uv_now when the bus was last heard; 0 never */
    int link_up;
    int need_resync;    /* the subscription was (re)made: reload before trusting the cache */
    uv_timer_t heartbeat;
    uv_timer_t resync_timer;      /* retries a failed resync (with the heartbeat) */
    uint64_t resync_backoff_ms;   /* the next retry's delay */
    int heartbeat_started;        /* both timers exist */
    int keyset_refetch;           /* a key-set fetch failed: each heartbeat asks again */
    cf_histogram_t propagation; /* seconds from a revocation's origin to this node */
    uint32_t samples[CF_CLUSTER_SAMPLES]; /* µs, ring */
    uint64_t nsamples;
    uint64_t messages, bad_messages, resyncs;
    uint64_t stale_refusals;
} cf_cluster_t;

struct cf_app;

/** Open the Redis store for @app, load it and start listening to the bus. */
int cf_app_cluster_open(struct cf_app *app, const char *url);

/** Start the heartbeat (after the HTTP server is up). */
void cf_app_cluster_start(struct cf_app *app);

/** Stop the heartbeat; the store closes separately. */
void cf_app_cluster_stop(struct cf_app *app);

/** 1 when @app is a cluster node whose cache may be stale (see above). */
int cf_app_cluster_stale(struct cf_app *app);



/** Free the cluster state. */
void cf_app_cluster_fini(struct cf_app *app);

#endif
