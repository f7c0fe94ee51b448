/* SPDX-License-Identifier: MIT
 *
 * DPoP proofs (RFC 9449): is this proof a fresh signature, by the key it
 * carries, over this request (method, URL, access token, nonce) at about
 * this time? And has its jti been seen before? Pure: the caller passes the
 * request's values and `now`; the replay cache is a bounded data structure
 * the caller owns and ages with the same injected clock. OpenSSL verifies
 * the signature (ES256 on P-256, EdDSA on Ed25519; never none, HS* or a key
 * the header did not pin).
 */
#ifndef CF_CORE_DPOP_H
#define CF_CORE_DPOP_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/reason.h"

#define CF_DPOP_MAX_PROOF 4096 /* bytes; a longer DPoP header is refused unparsed */
#define CF_DPOP_MAX_URL 2048   /* bytes of a normalised htu */
#define CF_DPOP_JKT_LEN 43     /* base64url SHA-256 */
#define CF_DPOP_KEY_CACHE 1024 /* the server's imported proof keys (cf_dpop_keys_new) */

typedef struct cf_dpop_keys cf_dpop_keys_t;

/** What the proof must match; strings borrowed, not NUL-terminated. */
typedef struct {
    const char *proof; /* the DPoP header's value */
    size_t proof_len;
    const char *htm; /* the request's method, compared exactly */
    size_t htm_len;
    const char *htu; /* the request's URL, scheme://host[:port]/path[?query]; normalised here */
    size_t htu_len;
    const char *access_token; /* ath = b64url(SHA-256(it)); NULL: no ath (token endpoint) */
    size_t at_len;
    const char *nonce; /* the nonce the proof must carry; NULL: none asked for */
    size_t nonce_len;
    int64_t now;    /* Unix seconds */
    int64_t window; /* iat may be this many seconds old at most */
    int64_t leeway; /* and this many seconds ahead (clock skew) */
    int64_t not_before; /* an earlier iat is refused: the replay cache began then (0: none) */
    cf_dpop_keys_t *keys; /* imported keys to reuse (below); NULL: import every proof's */
} cf_dpop_input_t;

/** A verified proof. */
typedef struct {
    char jkt[CF_DPOP_JKT_LEN + 1]; /* RFC 7638 thumbprint of the proof's key */
    uint8_t jti_hash[16];          /* first 16 bytes of SHA-256(jti), for the replay cache */
    int64_t iat;
} cf_dpop_proof_t;

/**
 * Verify @in->proof into @out (RFC 9449 §4.3). Returns CF_REASON_NONE, or
 * CF_REASON_DPOP_INVALID (malformed, wrong typ or alg, private or unknown
 * key, bad signature, htm/htu/ath mismatch, iat out of the window, too big),
 * or CF_REASON_USE_DPOP_NONCE (a nonce was asked for and the proof lacks it
 * or has another). @why gets a short description (static, never NULL).
 * Replay is not checked here (cf_dpop_cache_check). Pure but for @in->keys.
 */
cf_reason_t cf_dpop_verify(const cf_dpop_input_t *in, cf_dpop_proof_t *out, const char **why);

/**
 * Normalise a URL for htu comparison (RFC 9449 §4.3 point 9, RFC 3986 §6.2.2
 * and §6.2.3): scheme and host lower-cased, the scheme's default port
 * dropped, percent-encodings of unreserved characters decoded and the others'
 * hex upper-cased, dot segments removed, an empty path made "/", query and
 * fragment dropped. Only http and https. Writes a NUL-terminated string into
 * @out (@cap bytes). Returns 0 or CF_EINVAL.
 */
int cf_dpop_htu_normalize(const char *url, size_t len, char *out, size_t cap);

/** RFC 7638 SHA-256 thumbprint of a JWK, given as JSON text; 0 or CF_EINVAL. */
int cf_dpop_jwk_thumbprint(const char *jwk_json, size_t len, char out[CF_DPOP_JKT_LEN + 1]);

/*
 * Imported proof keys, reused: a client signs every proof with one key, and
 * importing it (and checking a P-256 point is on the curve) is a good part
 * of a proof's cost. A fixed-size set-associative table (4 ways, the least
 * recently used key of a set evicted), picked by the thumbprint and matched
 * on the key's exact bytes and type, so a hit is the very key the jwk
 * describes; only a key whose signature verified is kept. The signature is
 * verified on every proof, hit or not. Not thread-safe: one per thread
 * (the loop has one, each verifier thread of app/verify.c its own).
 */
typedef struct {
    uint64_t hits, misses, evictions, entries;
} cf_dpop_keys_stats_t;

/** A cache of up to @entries keys (1 to 2^20). NULL on ENOMEM or a bad size. */
cf_dpop_keys_t *cf_dpop_keys_new(size_t entries);

/** Accepts NULL. */
void cf_dpop_keys_free(cf_dpop_keys_t *k);

/** Counters since creation; entries = keys held now. */
void cf_dpop_keys_stats(const cf_dpop_keys_t *k, cf_dpop_keys_stats_t *out);

/*
 * The jti replay cache: two generations of a fixed-size open-addressed set
 * of jti hashes. A generation lasts `span` seconds; a jti is remembered for
 * one to two spans. The caller makes the span dpop.window + clock_leeway:
 * a proof dated ahead by the leeway verifies until its iat + window, that
 * long after it was used (a span of the window alone forgot it first). Memory is fixed at creation: 24 bytes per jti
 * of @max_per_window (8-byte hashes, tables two-thirds full at most, two
 * generations), taken from the system only as pages are first written. When
 * the current generation is full, new proofs are refused (fail closed) until
 * it turns, and counted; a replay is refused whether full or not.
 */
typedef struct cf_dpop_cache cf_dpop_cache_t;

/** What the cache holds and has refused. */
typedef struct {
    size_t capacity;      /* jtis per window */
    size_t entries;       /* jtis in the current generation */
    size_t bytes;         /* the tables' size (both generations) */
    uint64_t full_total;  /* new proofs refused because the generation was full, ever */
    uint64_t full_window; /* the same in the current generation (1: the first one) */
} cf_dpop_cache_stats_t;

/**
 * A cache holding up to @max_per_window jtis per @span seconds, knowing
 * nothing of proofs before @since (Unix seconds). NULL on ENOMEM.
 */
cf_dpop_cache_t *cf_dpop_cache_new(size_t max_per_window, int64_t span, int64_t since);

/** The @since it was made with: a proof with an earlier iat may have been spent unseen. */
int64_t cf_dpop_cache_since(const cf_dpop_cache_t *c);

/**
 * Let generations last @span seconds from now on if that is longer (a reload
 * widened dpop.window or clock_leeway); never shorter, which would forget
 * jtis recorded under the longer span. The table's size stays.
 */
void cf_dpop_cache_stretch(cf_dpop_cache_t *c, int64_t span);

/** Accepts NULL. */
void cf_dpop_cache_free(cf_dpop_cache_t *c);

/**
 * Record @jti_hash at @now (Unix seconds). Returns CF_REASON_NONE when it is
 * new (and now remembered), CF_REASON_DPOP_REPLAY when it was seen, or
 * CF_REASON_DPOP_INVALID when the cache is full for this window.
 */
cf_reason_t cf_dpop_cache_check(cf_dpop_cache_t *c, const uint8_t jti_hash[16], int64_t now);

/**
 * Forget @jti_hash (recorded by a check whose proof was then refused for
 * another reason: the cluster's claim could not be made). Its retry must not
 * be judged a replay of a use nobody acknowledged.
 */
void cf_dpop_cache_forget(cf_dpop_cache_t *c, const uint8_t jti_hash[16]);

/** The counters above. */
void cf_dpop_cache_stats(const cf_dpop_cache_t *c, cf_dpop_cache_stats_t *out);

#endif
