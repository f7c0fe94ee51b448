/* SPDX-License-Identifier: MIT
 *
 * API keys: long-lived bearer secrets that still die on schedule. This module
 * holds the key as data and the rules about it: the key string's format and
 * checksum (so a mistyped key is refused without any lookup), the lifetime a
 * new key may get (default, maximum, no immortal keys), when a key ends
 * (expiry, idle expiry, the end of a rotation's overlap, revocation), which
 * networks may use it, and the day and month quota windows. Pure: no clock,
 * no I/O, no randomness; the shell passes `now` and the random bytes in.
 *
 * The key string is `cfk_<id>_<secret><check>`: a fixed prefix and a
 * 12-character id that secret scanners and logs can show, 32 characters of
 * secret (about 190 bits), and 6 characters of CRC-32 over everything
 * before, all in base62. Only the SHA-256 of the whole string is stored.
 */
#ifndef CF_CORE_APIKEY_H
#define CF_CORE_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/netaddr.h"
#include "core/reason.h"

#define CF_APIKEY_PREFIX "cfk_"
#define CF_APIKEY_PREFIX_LEN 4
#define CF_APIKEY_ID_LEN 12
#define CF_APIKEY_SECRET_LEN 32
#define CF_APIKEY_CHECK_LEN 6
/* cfk_ + id + _ + secret + check */
#define CF_APIKEY_LEN (CF_APIKEY_PREFIX_LEN + CF_APIKEY_ID_LEN + 1 + CF_APIKEY_SECRET_LEN + CF_APIKEY_CHECK_LEN)

/** Most allowed networks one key may carry. */
#define CF_APIKEY_NETS_MAX 16

/* Why a key ended; the wire names are also the refusal reasons' names. */
#define CF_APIKEY_END_MAP(X)                                          \
    X(NONE, "none", CF_REASON_NONE)                                   \
    X(EXPIRED, "key_expired", CF_REASON_KEY_EXPIRED)                  \
    X(IDLE_EXPIRED, "key_idle_expired", CF_REASON_KEY_IDLE_EXPIRED)   \
    X(REVOKED, "key_revoked", CF_REASON_KEY_REVOKED)                  \
    X(ROTATED, "key_rotated", CF_REASON_KEY_ROTATED)

typedef enum {
#define X(name, str, why) CF_APIKEY_END_##name,
    CF_APIKEY_END_MAP(X)
#undef X
        CF_APIKEY_END__COUNT
} cf_apikey_end_t;

/** Stable name of @e ("key_expired", ...); never NULL. */
const char *cf_apikey_end_name(cf_apikey_end_t e);
/** Parse an end name; CF_APIKEY_END__COUNT when unknown. */
cf_apikey_end_t cf_apikey_end_from_name(const char *s);
/** The refusal reason a request with a key ended by @e gets. */
cf_reason_t cf_apikey_end_refusal(cf_apikey_end_t e);

/** Usage within the current quota windows (UTC day and UTC month). */
typedef struct {
    cf_time_t day_start;   /* Unix ms of the UTC midnight the day count belongs to; 0 none */
    int64_t day_used;
    cf_time_t month_start; /* Unix ms of the first of the UTC month the month count belongs to */
    int64_t month_used;
} cf_apikey_usage_t;

/**
 * One key, whole: what events, stores and the wire carry. Strings are owned
 * and never NULL ("" for none). The server's table holds keys packed
 * (core/apikeyrec.h) and reads them back as this (cf_apikey_rec_view).
 */
typedef struct cf_apikey {
    char id[CF_APIKEY_ID_LEN + 1];
    uint8_t hash[32];            /* SHA-256 of the whole key string */
    char successor[CF_APIKEY_ID_LEN + 1];   /* "" none */
    char predecessor[CF_APIKEY_ID_LEN + 1]; /* "" none */
    uint8_t nnets;               /* 0: any network; at most CF_APIKEY_NETS_MAX */
    /* roles comma separated, scope space separated; all five live in the
     * key's own allocation */
    char *sub, *name, *client_id, *roles, *scope;
    cf_cidr_t *nets;             /* nnets entries, owned (cf_apikey_set_nets); NULL for none */
    cf_time_t created_at;
    cf_time_t expires_at;        /* 0: never */
    cf_time_t idle_expiry;       /* ms without use that end it; 0: none */
    cf_time_t last_used;         /* 0: never used (idle counts from created_at) */
    cf_time_t overlap_until;     /* rotated: the old secret works until then; 0: not rotated */
    cf_time_t ended_at;
    cf_apikey_end_t end;
    cf_time_t warned_at;         /* key_expiring sent at; 0: not yet */
    int64_t quota_day, quota_month; /* this key's own quotas; 0: none */
    cf_apikey_usage_t usage;
    /* An apikey_used event: the uses this node counted since its previous
     * one, in usage's windows. A cluster's quota is the sum of every node's
     * deltas (cf_apikey_usage_add), not the largest count any node saw. */
    cf_apikey_usage_t delta;
} cf_apikey_t;

/* ---- the key string ---- */

/**
 * Write the key string for @id (CF_APIKEY_ID_LEN base62 characters) and
 * @secret (CF_APIKEY_SECRET_LEN base62 characters) into @out, NUL-terminated.
 */
void cf_apikey_format(const char *id, const char *secret, char out[CF_APIKEY_LEN + 1]);

/**
 * Base62 text from random bytes: @n characters into @out (not terminated),
 * each from one byte of @rnd by rejection-free reduction (byte % 62; the bias
 * is under 2 % per character and irrelevant at 190 bits).
 */
void cf_apikey_base62(const uint8_t *rnd, size_t n, char *out);

/** 1 when @n bytes of @s start with the key prefix (the shell then treats it as a key). */
int cf_apikey_has_prefix(const char *s, size_t n);

/**
 * Check the form of @n bytes of @s without looking anything up: prefix,
 * exact length, separator, base62 characters and the checksum. Returns 0
 * and the id in @id (NUL-terminated), or CF_EPARSE (malformed_key).
 */
int cf_apikey_parse(const char *s, size_t n, char id[CF_APIKEY_ID_LEN + 1]);

/** SHA-256 of the key string: what is stored. */
void cf_apikey_hash(const char *s, size_t n, uint8_t out[32]);

/* ---- the string cache ---- */

/**
 * What hashing a presented key string found, remembered so a key used again
 * and again is not CRC'd and SHA-256'd on every request. An entry holds only
 * a fact about the string itself: "this exact string is well formed and its
 * SHA-256 is this". It holds no key, no state and no decision: the caller
 * still looks the id up in the live table and compares the remembered hash
 * with the live record's, in constant time, on every request, so a revoked,
 * rotated, expired or purged key is refused on the very next request whether
 * or not its string is cached, and a key re-created under the same id with
 * another secret does not match. Direct-mapped, keyed by a seeded hash of
 * the whole string; a probe compares the whole string in constant time.
 */
#define CF_APIKEY_CACHE_SIZE 4096 /* entries; a power of two (about 360 KiB) */

typedef struct {
    char str[CF_APIKEY_LEN];     /* the presented string (every cached one is CF_APIKEY_LEN long) */
    uint8_t used;
    uint8_t hash[32];            /* its SHA-256 */
} cf_apikey_cache_entry_t;

typedef struct {
    cf_apikey_cache_entry_t *v;  /* @size entries; NULL until cf_apikey_cache_init */
    size_t size;
    uint64_t seed;
} cf_apikey_cache_t;

/** Allocate an empty cache of @size entries (a power of two; 0: the default). 0, CF_EINVAL or CF_ENOMEM. */
int cf_apikey_cache_init(cf_apikey_cache_t *c, size_t size, uint64_t seed);
/** Free the table; safe on a zeroed cache. */
void cf_apikey_cache_fini(cf_apikey_cache_t *c);

/**
 * Parse and hash @n bytes of @s as cf_apikey_parse() and cf_apikey_hash()
 * would, through the cache: returns 0 with the id and the SHA-256, or
 * CF_EPARSE (malformed strings are never cached). A miss computes both and
 * remembers them, evicting the slot's previous string. A NULL or
 * uninitialised cache just computes. *@hit (may be NULL) says which.
 */
int cf_apikey_cache_lookup(cf_apikey_cache_t *c, const char *s, size_t n,
                           char id[CF_APIKEY_ID_LEN + 1], uint8_t hash[32], int *hit);

/* ---- lifetimes ---- */

/** The lifetime rules (api_keys.* and the per-client/per-role maxima). */
typedef struct {
    int require_expiry;          /* no key without an expiry */
    cf_time_t max_lifetime;      /* 0: no maximum */
    cf_time_t default_lifetime;  /* when the request names none; 0: none (never expires) */
    cf_time_t client_max;        /* the key's client's maximum; 0: none */
    cf_time_t role_max;          /* the strictest maximum of the key's roles; 0: none */
} cf_apikey_policy_t;

/** What a creation (or rotation) asks for. */
typedef struct {
    int has_expires_in;          /* 0: use the default */
    int64_t expires_in;          /* seconds; 0 with has_expires_in: never */
} cf_apikey_ask_t;

/**
 * Decide the lifetime of a new key: the requested one, else the default, and
 * never past the strictest maximum (global, client, role). Negative or
 * absurd (past CF_APIKEY_LIFETIME_MAX) requests are invalid_request; a
 * request for no expiry while one is required, or while a maximum applies,
 * is expiry_required; a request past the maximum is lifetime_too_long (the
 * server never silently shortens what was explicitly asked for). A default
 * longer than the maximum is cut to the maximum. Returns CF_REASON_NONE and
 * *lifetime (ms, 0 = never), or the refusal.
 */
cf_reason_t cf_apikey_lifetime(const cf_apikey_policy_t *pol, const cf_apikey_ask_t *ask,
                               cf_time_t *lifetime);

/** Longest lifetime anyone may ask for: 100 years, in seconds. */
#define CF_APIKEY_LIFETIME_MAX_S ((int64_t)100 * 366 * 86400)

/* ---- when a key ends ---- */

/**
 * The end @k has reached at @now, if any: its recorded end, else the earliest
 * deadline that has passed (a deadline is reached at its exact millisecond):
 * expires_at (key_expired), the idle end (last use, or creation, plus
 * idle_expiry: key_idle_expired), the overlap end of a rotated key
 * (key_rotated). *@deadline (may be NULL) gets the earliest deadline still
 * ahead when none has passed, 0 when there is none. Pure.
 */
cf_apikey_end_t cf_apikey_end_at(const cf_apikey_t *k, cf_time_t now, cf_time_t *deadline);

/**
 * When @k ended, as of @now: its recorded end time, else the deadline that
 * ended it (the one cf_apikey_end_at() reports), never @now itself; 0 while
 * @k lives. Pure: every view and the record of the end agree on it.
 */
cf_time_t cf_apikey_ended_at(const cf_apikey_t *k, cf_time_t now);

/**
 * Rotate @old at @now with an overlap of @overlap ms (>= 0): the instant the
 * old secret stops working, never after its own expiry. Pure.
 */
cf_time_t cf_apikey_overlap_end(const cf_apikey_t *old, cf_time_t now, cf_time_t overlap);

/* ---- the check ---- */

typedef struct {
    int malformed;               /* cf_apikey_parse() refused it */
    const cf_apikey_t *key;      /* the key its id names; NULL: none */
    int secret_ok;               /* the presented string's hash is the key's */
    const cf_ip_t *ip;           /* the client address; NULL: unknown */
    cf_time_t now;
} cf_apikey_input_t;

typedef struct {
    cf_reason_t why;             /* CF_REASON_NONE: the key may be used */
    cf_apikey_end_t end;         /* a deadline passed that is not yet recorded: record it */
    cf_time_t deadline;          /* allowed: when this answer stops being true (0: never) */
} cf_apikey_decision_t;

/**
 * May this key be used now? In order: malformed_key; no key or a wrong
 * secret: invalid_key (the two are not told apart); an ended key or a
 * passed deadline: its end's reason (and @end when not yet recorded); an
 * address outside the key's networks (or unknown while it has some):
 * network_not_allowed. Route rules, the rate limit and the quota follow in
 * the shell with cf_route_decide, cf_gcra_apply and cf_apikey_quota_take.
 */
void cf_apikey_decide(const cf_apikey_input_t *in, cf_apikey_decision_t *out);

/* ---- quotas ---- */

/** Unix ms of the UTC midnight that starts the day of @now. */
cf_time_t cf_apikey_day_start(cf_time_t now);
/** Unix ms of 00:00 UTC on the first day of @now's month, and of the next month. */
cf_time_t cf_apikey_month_start(cf_time_t now);
cf_time_t cf_apikey_next_month(cf_time_t now);

/** What a quota refusal says. */
typedef struct {
    int64_t limit;               /* the quota that was reached */
    int64_t remaining;           /* allowed: left in the tighter window after this request */
    cf_time_t reset;             /* ms until that window starts anew (> 0) */
    cf_time_t window;            /* that window's length (ms) */
} cf_apikey_quota_t;

/**
 * Count one request at @now against @u with quotas @day and @month (0 =
 * none): windows that have passed start from zero. Returns 1 and counts it
 * when both quotas have room; 0, counting nothing, when either is used up,
 * with the window that refused in *@out (reset: until it starts anew, the
 * Retry-After). Pure apart from updating @u.
 */
int cf_apikey_quota_take(cf_apikey_usage_t *u, int64_t day, int64_t month, cf_time_t now,
                         cf_apikey_quota_t *out);

/**
 * The uses counted in @u since @sent (both in @u's windows): the part of a
 * count this node has not yet told anyone. A window that started since
 * @sent counts from zero. Pure.
 */
void cf_apikey_usage_delta(const cf_apikey_usage_t *u, const cf_apikey_usage_t *sent,
                           cf_apikey_usage_t *out);

/**
 * Add another node's uses @d to @u: in the same window they add up; a newer
 * window replaces the count; an older one is ignored (its window has
 * passed). Negative counts add nothing. Pure apart from updating @u.
 */
void cf_apikey_usage_add(cf_apikey_usage_t *u, const cf_apikey_usage_t *d);

/** The strictest of two quotas where 0 means none. */
int64_t cf_apikey_quota_min(int64_t a, int64_t b);

/* ---- the record ---- */

/**
 * A key with copies of the strings (NULL taken as ""); id and hash are
 * copied, everything else zero. NULL when out of memory.
 */
cf_apikey_t *cf_apikey_new(const char *id, const uint8_t hash[32], const char *sub,
                           const char *name, const char *client_id, const char *roles,
                           const char *scope);
/** A deep copy of @k without the shell's bookkeeping; NULL when out of memory. */
cf_apikey_t *cf_apikey_copy(const cf_apikey_t *k);
/** Free @k; NULL is a no-op. */
void cf_apikey_free(cf_apikey_t *k);

/**
 * Give @k a copy of the @n (<= CF_APIKEY_NETS_MAX) networks @nets, replacing
 * its own. Returns 0, or CF_ENOMEM leaving @k as it was.
 */
int cf_apikey_set_nets(cf_apikey_t *k, const cf_cidr_t *nets, size_t n);

/** Room cf_apikey_nets_format() needs: every network as "addr/bits," */
#define CF_APIKEY_NETS_STRLEN (CF_APIKEY_NETS_MAX * (CF_IP_STRLEN + 5))

/** @k's networks as "a/8,b/16" ("" for any) into @out, which has @cap bytes. */
void cf_apikey_nets_format(const cf_apikey_t *k, char *out, size_t cap);

/**
 * Read networks written by cf_apikey_nets_format() into @k. An entry that
 * does not parse becomes ::/128, which no client address is: damaged state
 * narrows a key, it never opens it to every network. Returns 0, or
 * CF_ENOMEM (the caller must then not use @k: it would allow any network).
 */
int cf_apikey_nets_parse(cf_apikey_t *k, const char *s);

/**
 * Take @snap's state into @k (the same key) the way every write merges: an
 * ended key stays ended with its first end; last use, usage and the warning
 * only move forward; an overlap only shortens. Returns 1 when anything
 * changed.
 */
int cf_apikey_merge(cf_apikey_t *k, const cf_apikey_t *snap);

#endif
