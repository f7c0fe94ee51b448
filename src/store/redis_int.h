/* SPDX-License-Identifier: MIT
 *
 * Private to the Redis store: its state, and what its files share. The
 * store is four files so that each reads alone and none calls back into
 * one that calls it:
 *   redis.c          the asynchronous operations, the vtable, opening;
 *   redis_conn.c     the libuv adapter, the two connections, their watch
 *                    timer and closing;
 *   redis_sync.c     synchronous access (the start-up script check, loading
 *                    every key, the shared key set before the loop serves);
 *   redis_scripts.c  the Lua scripts.
 * Nothing outside src/store/ includes this header.
 */
#ifndef CF_STORE_REDIS_INT_H
#define CF_STORE_REDIS_INT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <uv.h>

#include "store/redis.h"
#include "store/wire.h" /* CF_NODE_ID_LEN */

/* The shared signing key set (sealed by the KEK); only the store names it. */
#define KEYSET_KEY "cf:keyset"

/* The scripts (redis_scripts.c); each file's comment there says its contract. */
extern const char cf__redis_apply_script[];
extern const char cf__redis_fetch_script[];
extern const char cf__redis_revoke_script[];
extern const char cf__redis_refresh_script[];
extern const char cf__redis_keyset_script[];
extern const char cf__redis_apikey_revoke_script[];

typedef struct rd_store rd_t;
struct rd_store {
    cf_store_t base; /* first: the interface */
    uv_loop_t *loop;
    cf_redis_url_t url;
    char node[CF_NODE_ID_LEN + 1];
    char channel[64];
    char keep[24];
    char nb_keep[24];
    cf_redis_bus_t bus;
    redisAsyncContext *cmd; /* NULL while down */
    redisAsyncContext *sub;
    int cmd_up, sub_up;
    int sub_connected; /* the subscription's TCP connection is up (subscribed or not) */
    int cmd_ready;     /* the command connection's set-up was answered */
    uv_timer_t timer; /* reconnects and watches for a hung Redis */
    uint64_t pending;        /* commands sent, not yet answered */
    uint64_t last_reply_ms;  /* uv_now of the last reply */
    uint64_t cmd_since, sub_since; /* uv_now when each connection was last attempted */
    uint64_t last_bus_ms;    /* uv_now of the last reply or message on the subscription */
    uint64_t last_tick_ms;   /* uv_now of the previous on_timer */
    char apply_sha[41], fetch_sha[41], keyset_sha[41], revoke_sha[41], refresh_sha[41];
    char apikey_revoke_sha[41];
    int closing, timer_closed;
    cf_store_stats_t stats;
};

/* ---- redis_conn.c ---- */

/** Arm the watch timer and make both connections (cf_store_open_redis, once). */
void cf__redis_conn_start(rd_t *st);

/** The vtable's close: disconnect both connections; @st is freed once all are gone. */
void cf__redis_close(cf_store_t *base, cf_store_stats_t *final);

/** Free @st at once (the password cleansed); only before cf__redis_conn_start. */
void cf__redis_free(rd_t *st);

/* ---- redis_sync.c ---- */

/** SCRIPT LOAD every script on a short-lived connection; 0 or CF_ESTORE (logged). */
int cf__redis_load_scripts(rd_t *st);

/** The vtable's load: every session, token, epoch and hold, handed to @ld. */
int cf__redis_load(cf_store_t *base, const cf_store_loader_t *ld);

/** The vtable's load_apikeys: every key in cf:k:*, handed to @fn. */
int cf__redis_load_apikeys(cf_store_t *base, cf_store_apikey_fn fn, void *ctx);

/** The vtable's keyset_get_sync: 1 with *@val (caller frees), 0 absent, CF_ESTORE. */
int cf__redis_keyset_get_sync(cf_store_t *base, char **val);

/** The vtable's keyset_offer_sync: 1 set, 0 one existed, CF_ESTORE. */
int cf__redis_keyset_offer_sync(cf_store_t *base, const char *val);

/**
 * A session read back from its hash @h (an HGETALL reply) as session @sid;
 * NULL when a required field is missing or out of memory. Caller owns it.
 */
cf_session_t *cf__redis_session_from_hash(const char *sid, const redisReply *h);

#endif
