/* SPDX-License-Identifier: MIT
 *
 * The verified-token cache: which access tokens already passed the signature,
 * issuer and audience checks, and the claims the time checks need. A
 * signature verify costs ~100 µs; a probe here costs a hash and a memcmp, so
 * a token is verified once, not once per request. Direct-mapped: a collision
 * evicts the older entry, which only costs its next use a verify. Nothing
 * time-dependent is cached: exp, iat and nbf are kept and judged on every use
 * (core/access.h). Pure data structure: no clock, no I/O.
 */
#ifndef CF_CORE_TOKCACHE_H
#define CF_CORE_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/session.h"

#define CF_TOKEN_CACHE_SIZE 65536 /* entries; a power of two */

/** One verified access token. */
typedef struct {
    char *token; /* owned copy, compared in full on lookup; NULL when empty */
    size_t len;
    char sid[CF_SID_LEN + 1];
    int64_t exp, iat, nbf; /* Unix seconds, as the token claims them (nbf 0: absent) */
    cf_cnf_t cnf;          /* the token's sender constraint (cnf), judged on every use */
} cf_tokcache_entry_t;

typedef struct {
    cf_tokcache_entry_t *v; /* @size entries */
    size_t size;            /* a power of two */
    uint64_t seed;          /* keys the slot hash, so slots cannot be aimed at */
} cf_tokcache_t;

/**
 * Allocate an empty cache of @size entries (a power of two; 0 picks
 * CF_TOKEN_CACHE_SIZE) hashed with @seed. Returns 0, CF_EINVAL, CF_ENOMEM.
 */
int cf_tokcache_init(cf_tokcache_t *c, size_t size, uint64_t seed);

/** Free every entry and the table. Safe on a zeroed or half-initialised cache. */
void cf_tokcache_fini(cf_tokcache_t *c);

/** Forget every entry (a verification key left the set). */
void cf_tokcache_clear(cf_tokcache_t *c);

/** The entry for exactly @tok (@len bytes), or NULL. Borrowed until the next put or clear. */
const cf_tokcache_entry_t *cf_tokcache_get(const cf_tokcache_t *c, const char *tok, size_t len);

/**
 * Remember @tok (@len bytes, copied) as verified, naming session @sid
 * (CF_SID_LEN characters) with its exp, iat, nbf and sender constraint
 * @cnf (NULL: none). Evicts what held the
 * slot. Returns 0 or CF_ENOMEM (the cache is then unchanged).
 */
int cf_tokcache_put(cf_tokcache_t *c, const char *tok, size_t len, const char *sid, int64_t exp,
                    int64_t iat, int64_t nbf, const cf_cnf_t *cnf);

#endif
