/* SPDX-License-Identifier: MIT
 *
 * Rate limits and lockout. Decides whether one more request from a key (an
 * IP, a subject, a client id, a hashed API key...) fits its configured rate,
 * with GCRA, and whether a key has failed so often that it is locked out for
 * a while. Both tables live in memory, have a fixed upper bound on the number
 * of keys they track, and allocate all of it when they are created: an
 * attacker rotating keys can make curfew forget old keys (which only ever
 * makes those keys *less* limited), never make it use more memory.
 *
 * Pure: no I/O, no clock, no logging; `now` is always a parameter. The tables
 * are not thread-safe: one owner thread (the loop) calls everything.
 */
#ifndef CF_CORE_RATELIMIT_H
#define CF_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"

/** Largest burst cf_gcra_init() accepts. */
#define CF_GCRA_BURST_MAX ((int64_t)1000000000)

/** Largest max_keys cf_limiter_new() and cf_lockout_new() accept. */
#define CF_LIMITER_KEYS_MAX ((size_t)1 << 28)

/** A rate, prepared for GCRA. Plain data; copy freely. */
typedef struct {
    cf_time_t emission;  /* period / count, rounded up to whole ms: time per request */
    cf_time_t tolerance; /* emission * (burst - 1) */
    int64_t burst;       /* requests allowed at once from a full bucket */
    cf_time_t window;    /* the configured period, for RateLimit-Policy's w= */
} cf_gcra_t;

/**
 * Prepare @g for "@count requests per @period, bursts of up to @burst".
 *
 * The emission interval is @period / @count rounded *up* to a whole
 * millisecond, so the steady rate never exceeds the configured one.
 * Returns 0; or CF_EINVAL, leaving @g untouched, when @count < 1, @period < 1
 * ms, @period > CF_DURATION_MAX, @count > @period in ms (finer than one
 * request per millisecond cannot be represented), @burst < 1 or @burst >
 * CF_GCRA_BURST_MAX, or emission * burst > CF_DURATION_MAX.
 */
int cf_gcra_init(cf_gcra_t *g, int64_t count, cf_time_t period, int64_t burst);

/**
 * Parse a rate "N/DURATION" from @n bytes of @s (not NUL-terminated), e.g.
 * "10/1m", "100/1s", "5/30s"; the duration goes through cf_duration_parse().
 * N is 1..1,000,000,000 written in decimal digits only.
 *
 * Returns 0 and sets *@count and *@period; or CF_EINVAL, leaving both
 * untouched, with *@why (if @why is not NULL) set to a short static English
 * message. Also refuses a rate finer than one request per millisecond (which
 * cf_gcra_init() would refuse). *@why is NULL on success.
 */
int cf_rate_parse(const char *s, size_t n, int64_t *count, cf_time_t *period, const char **why);

/** The answer for one request. */
typedef struct {
    int allowed;           /* 1 if the request fits, 0 if refused */
    cf_time_t retry_after; /* refused: ms until the same request would be allowed (> 0); else 0 */
    int64_t remaining;     /* requests that would still be allowed right after this one (0 when refused) */
    cf_time_t reset;       /* ms until the bucket is full again (0 when it is full) */
} cf_gcra_result_t;

/**
 * Apply GCRA for one request at @now to the theoretical arrival time *@tat
 * (0, or any value <= @now, means "full bucket": a key never seen).
 *
 * Pure. Updates *@tat only when the request is allowed; fills *@out always.
 * A clock that goes backwards is harmless: *@tat is compared, never
 * subtracted into a negative allowance.
 */
void cf_gcra_apply(const cf_gcra_t *g, cf_time_t *tat, cf_time_t now, cf_gcra_result_t *out);

/** A bounded table of keys -> GCRA state. */
typedef struct cf_limiter cf_limiter_t;

/**
 * Create a limiter tracking at most @max_keys keys (1..CF_LIMITER_KEYS_MAX),
 * hashed with @seed (pick it at random at startup). All memory is allocated
 * here (about 80 bytes per key plus an index of 8-16 bytes per key); hits
 * never allocate. On success *@out is owned by the caller, to be released
 * with cf_limiter_free(). Returns 0, CF_EINVAL or CF_ENOMEM (*@out NULL).
 */
int cf_limiter_new(size_t max_keys, uint64_t seed, cf_limiter_t **out);

/** Free @l and everything it tracks; NULL is a no-op. */
void cf_limiter_free(cf_limiter_t *l);

/**
 * Count one request from @key (@len bytes, borrowed for the call only; NULL
 * allowed when @len is 0) at @now under rate @g and fill *@out.
 *
 * An allowed request updates the key's state; a refused one does not. Either
 * way the key becomes the most recently used. A key not yet tracked is
 * inserted, evicting another when the table is full (see ratelimit.c for
 * which one). Keys longer than 32 bytes are tracked by their SHA-256. One
 * limiter should be used with one @g: the stored state is a bare arrival
 * time whose meaning depends on the rate.
 */
void cf_limiter_hit(cf_limiter_t *l, const cf_gcra_t *g, const void *key, size_t len, cf_time_t now,
                    cf_gcra_result_t *out);

/**
 * What cf_limiter_hit() would answer for @key at @now, without changing
 * anything (no state update, no insertion, no recency update).
 */
void cf_limiter_peek(cf_limiter_t *l, const cf_gcra_t *g, const void *key, size_t len, cf_time_t now,
                     cf_gcra_result_t *out);

/** Number of keys tracked right now; never more than max_keys. */
size_t cf_limiter_count(const cf_limiter_t *l);

/** A bounded table of keys -> recent failures and lock deadline. */
typedef struct cf_lockout cf_lockout_t;

/**
 * Create a lockout table: a key that fails @max_failures times within a
 * fixed window of @window (starting at its first failure) is locked for
 * @duration. Bounded at @max_keys keys like the limiter, with @seed for the
 * hash. Returns 0, CF_EINVAL (max_keys out of range, @max_failures < 1,
 * @window or @duration < 1 ms or > CF_DURATION_MAX) or CF_ENOMEM; on success
 * the caller owns *@out and frees it with cf_lockout_free().
 */
int cf_lockout_new(size_t max_keys, int64_t max_failures, cf_time_t window, cf_time_t duration,
                   uint64_t seed, cf_lockout_t **out);

/** Free @l; NULL is a no-op. */
void cf_lockout_free(cf_lockout_t *l);

/**
 * Is @key locked at @now? Returns 1 and sets *@retry_after (if not NULL) to
 * the ms left on the lock (> 0); returns 0 otherwise, with *@retry_after 0.
 * Changes nothing. A lock ends exactly at locked_until: at that instant the
 * key is no longer locked.
 */
int cf_lockout_check(cf_lockout_t *l, const void *key, size_t len, cf_time_t now,
                     cf_time_t *retry_after);

/**
 * Record one failure for @key at @now. Returns 1 if this failure locked the
 * key (it was the max_failures-th within the window), 0 otherwise. The
 * window starts at the first failure and a failure at or after
 * start + window begins a new window counting from 1. A failure while the
 * key is locked is ignored (returns 0 and does not extend the lock); a lock
 * clears the failure count.
 */
int cf_lockout_fail(cf_lockout_t *l, const void *key, size_t len, cf_time_t now);

/** Number of keys tracked right now; never more than max_keys. */
size_t cf_lockout_count(const cf_lockout_t *l);

#endif
