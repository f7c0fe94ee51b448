/* SPDX-License-Identifier: MIT
 *
 * The cluster wire format: how a batch of events travels to Redis and, on
 * the bus, to every other node. One JSON object per batch:
 *
 *   {"v":1, "node":"<origin node id>", "ts":<origin wall time, Unix µs>,
 *    "ev":[{"t":"session_created", "at":<ms>, "s":{...snapshot...},
 *           "th":"<refresh-token hash, hex>", "tg":<gen>, "sub":..., "nb":<ms>,
 *           "r":"<reason>", "sid":"..."}, ...]}
 *
 * Heartbeats carry "hb":1 and no events; a key-set change carries "keys":1.
 * The same string is applied by the Redis script (store/redis_scripts.c) and by every
 * node that hears it, so both read exactly what the origin wrote. Pure: no
 * I/O, no clock.
 */
#ifndef CF_STORE_WIRE_H
#define CF_STORE_WIRE_H

#include <stdint.h>

#include "core/event.h"

#define CF_NODE_ID_LEN 16 /* base64url of 12 random bytes */

/** A decoded bus message. */
typedef struct {
    char node[CF_NODE_ID_LEN + 1];
    int64_t ts_us;
    int heartbeat;
    int keys;          /* the shared key set changed */
    cf_events_t ev;    /* owned */
} cf_wire_msg_t;

/**
 * Encode @ev (PURGED events are local bookkeeping and are left out) from
 * @node at @ts_us. Returns a malloc'd NUL-terminated string or NULL when out
 * of memory. *@nout receives how many events were encoded.
 */
char *cf_wire_encode(const char *node, int64_t ts_us, const cf_events_t *ev, size_t *nout);

/** Encode a heartbeat (@keys = 0) or key-set notice (@keys = 1). */
char *cf_wire_encode_notice(const char *node, int64_t ts_us, int keys);

/**
 * Decode @len bytes of @s into @m (zeroed first). Returns 0, or CF_EPARSE
 * with a short reason in @err (@errlen bytes) for anything malformed: a bad
 * field never half-applies, the whole message is refused.
 */
int cf_wire_decode(const char *s, size_t len, cf_wire_msg_t *m, char *err, size_t errlen);

/** Free what @m owns. */
void cf_wire_msg_fini(cf_wire_msg_t *m);

#endif
