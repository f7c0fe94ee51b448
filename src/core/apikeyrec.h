/* SPDX-License-Identifier: MIT
 *
 * The in-memory form of an API key: what the server's table holds for every
 * key, packed because keys may be hundreds of thousands (issue 12 asks under
 * 256 bytes a key). cf_apikey_t (core/apikey.h) stays the full snapshot that
 * events, stores and the wire carry; a record is built from one, and read
 * back as one with cf_apikey_rec_view() (no allocation: the view borrows the
 * record's strings and networks).
 *
 * The packing: the owner, client, roles and scope are interned (core/strtab.h:
 * keys share a handful of them) and named by 32-bit ids; the name is stored inline after the record;
 * the fields most keys never set (rotation links, overlap, end and warning
 * times, own quotas, networks) live in `more`, allocated only for keys that
 * have one; the use state (quota windows with this node's unsent counts, and
 * the GCRA state) lives in `use`, allocated only when a key's quota is first
 * counted or its rate first limited: a key used without either never gets
 * one. A key with a short name and neither is one 112-byte record plus its
 * name: one 144-byte malloc chunk. A used key's "not yet written" mark is a
 * byte of the record (`dirty`, in what was padding) plus the shell's list.
 */
#ifndef CF_CORE_APIKEYREC_H
#define CF_CORE_APIKEYREC_H

#include <stdint.h>

#include "core/apikey.h"
#include "core/strtab.h"

/** What few keys have: set at creation, rotation, end or warning. */
struct cf_apikey_more {
    char successor[CF_APIKEY_ID_LEN + 1];   /* "" none */
    char predecessor[CF_APIKEY_ID_LEN + 1]; /* "" none */
    cf_time_t overlap_until;
    cf_time_t ended_at;
    cf_time_t warned_at;
    int64_t quota_day, quota_month;
    cf_cidr_t nets[];                       /* the record's nnets entries */
};

/**
 * A counted key's state, 40 bytes (a 48-byte malloc chunk): its quota
 * windows as day numbers (their start in ms / CF_DAY: windows start at UTC
 * midnight), the counts, and how many of them this node has counted and not
 * yet written (sent as the APIKEY_USED delta, then zeroed: a cluster's quota
 * is the sum of every node's deltas). A window that moves drops its unsent
 * count with its count: uses of a window that is over no longer matter.
 */
struct cf_apikey_use {
    int32_t day, month;          /* window starts, days since 1970 (0 with a zero count: none) */
    int64_t day_used, month_used;
    uint32_t day_unsent, month_unsent; /* saturating: more in one flush interval is not reachable */
    cf_time_t tat;               /* GCRA state of the per-key rate limit (monotonic ms) */
};

typedef struct cf_apikey_rec {
    char id[CF_APIKEY_ID_LEN + 1];
    uint8_t end;                 /* cf_apikey_end_t */
    uint8_t nnets;
    uint8_t dirty;               /* the shell's: on its list of keys with unwritten use */
    uint8_t hash[32];            /* SHA-256 of the whole key string (kept in full) */
    uint32_t sub, client_id, roles, scope; /* ids in the table's cf_strtab_t */
    cf_time_t created_at;
    cf_time_t expires_at;        /* 0: never */
    cf_time_t idle_expiry;       /* 0: none */
    cf_time_t last_used;         /* 0: never */
    struct cf_apikey_more *more; /* NULL: all of it zero */
    struct cf_apikey_use *use;   /* NULL: never used (usage zero, no GCRA state) */
    char name[];
} cf_apikey_rec_t;

/**
 * A record holding everything @k says except its delta (an event's, not a
 * key's), its strings interned in @st. NULL when out of memory.
 */
cf_apikey_rec_t *cf_apikey_rec_new(const cf_apikey_t *k, cf_strtab_t *st);

/** Free @r and release its strings in @st; NULL is a no-op. */
void cf_apikey_rec_free(cf_apikey_rec_t *r, cf_strtab_t *st);

/**
 * Fill @out with @r as a full key, its shared strings read from @st. The
 * strings and networks are borrowed (valid while @r is, never to be freed);
 * delta is zero. The view is a copy: changing it changes nothing until
 * cf_apikey_rec_save().
 */
void cf_apikey_rec_view(const cf_apikey_rec_t *r, const cf_strtab_t *st, cf_apikey_t *out);

/**
 * Store the state a view of @r may have changed (end and ended_at,
 * last_used, warned_at, overlap_until, successor, usage) back into @r;
 * what a key is born with (id, hash, strings, times, quotas, networks) never
 * changes. Returns 0, or CF_ENOMEM leaving @r as it was.
 */
int cf_apikey_rec_save(cf_apikey_rec_t *r, const cf_apikey_t *v);

/** @r's use state, allocated (zero) at the first call; NULL when out of memory. */
struct cf_apikey_use *cf_apikey_rec_use(cf_apikey_rec_t *r);

/** @r's quota windows (zero when it has no use state). */
void cf_apikey_rec_usage(const cf_apikey_rec_t *r, cf_apikey_usage_t *out);

/**
 * Count a local use: @r's windows become @now_u, which cf_apikey_quota_take()
 * made from @before (@r's windows as read); what it added is this node's, and
 * joins the unsent counts. Returns 0, or CF_ENOMEM leaving @r as it was.
 */
int cf_apikey_rec_count(cf_apikey_rec_t *r, const cf_apikey_usage_t *before,
                        const cf_apikey_usage_t *now_u);

/**
 * What this node has counted and not yet sent, in @r's current windows (the
 * APIKEY_USED delta), and mark it sent. All zero for a key with no use state.
 */
void cf_apikey_rec_take_unsent(cf_apikey_rec_t *r, cf_apikey_usage_t *out);

#endif
