/* SPDX-License-Identifier: MIT
 *
 * Digests and comparisons: SHA-256 (refresh-token storage, JWK thumbprints),
 * constant-time equality for secrets, lowercase hex, and a fast seeded
 * non-cryptographic hash for in-memory hash tables. Nothing here decides
 * anything; it must never compare a secret with memcmp and never use
 * cf_hash64() where an attacker gains from a collision beyond slowing a table.
 */
#ifndef CF_CORE_DIGEST_H
#define CF_CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define CF_SHA256_LEN 32

/**
 * SHA-256 of @len bytes at @data (NULL allowed when @len is 0) into @out.
 * Aborts the process if OpenSSL cannot compute a digest: that is a broken
 * installation, not a runtime condition, and there is no safe fallback.
 */
void cf_sha256(const void *data, size_t len, uint8_t out[CF_SHA256_LEN]);

struct evp_md_st;
/** OpenSSL's SHA-256, fetched once (process lifetime); for EVP calls that take a digest. */
const struct evp_md_st *cf_sha256_md(void);

/**
 * Compare @n bytes of @a and @b in time that depends only on @n
 * (CRYPTO_memcmp). Returns 1 if they are equal, 0 otherwise.
 */
int cf_ct_equal(const void *a, const void *b, size_t n);

/**
 * Write @n bytes of @in as 2*@n lowercase hex digits plus a NUL into @out,
 * which must hold 2*@n + 1 bytes.
 */
void cf_hex_encode(const uint8_t *in, size_t n, char *out);

/** The value of hex digit @c (either case), or -1. */
int cf_hex_digit(char c);

/**
 * Read exactly 2*@n hex digits (either case) of @hex (@len bytes) into @out.
 * Returns 0, or CF_EPARSE for a wrong length or a non-hex character.
 */
int cf_hex_decode(const char *hex, size_t len, uint8_t *out, size_t n);

/**
 * Fast 64-bit non-cryptographic hash of @len bytes at @data (NULL allowed
 * when @len is 0), keyed by @seed, for hash tables. Pick the seed at random at
 * startup so that clients cannot aim keys at one bucket. Deterministic for a
 * given seed and input on every platform; not a MAC and not stable API across
 * curfew versions (never persist its output).
 */
uint64_t cf_hash64(const void *data, size_t len, uint64_t seed);

#endif
