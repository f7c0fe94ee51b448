/* SPDX-License-Identifier: MIT
 *
 * Client secrets at rest: PBKDF2-HMAC-SHA256 hashes in one self-describing
 * text form, "pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>", as the
 * `secret_hash` of a confidential client and the output of `curfew
 * hash-secret`. Decides whether a presented secret matches a stored hash.
 * Must never compare hashes in variable time, never accept a second spelling
 * of an encoding, and never choose a salt itself: randomness is the caller's
 * (the core reads no devices). argon2id would be preferable but is not in
 * OpenSSL 3.0; PBKDF2 with a high iteration count is the NIST-approved
 * fallback (SP 800-132; OWASP 2023 recommends 600,000 for SHA-256).
 */
#ifndef CF_CORE_SECRET_H
#define CF_CORE_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define CF_SECRET_DEFAULT_ITERATIONS 600000
#define CF_SECRET_MIN_ITERATIONS 1000
#define CF_SECRET_MAX_ITERATIONS 10000000
#define CF_SECRET_SALT_LEN 16
#define CF_SECRET_HASH_LEN 32
/** Bytes an encoded hash needs, NUL included (the longest is 89 characters). */
#define CF_SECRET_ENCODED_MAX 96

/**
 * Hash @len bytes of @secret (NULL allowed when @len is 0) with the
 * CF_SECRET_SALT_LEN-byte @salt (from the caller's CSPRNG) and @iterations
 * (CF_SECRET_MIN_ITERATIONS..CF_SECRET_MAX_ITERATIONS) and write the encoded
 * form, NUL-terminated, into @out of @cap bytes (CF_SECRET_ENCODED_MAX is
 * always enough). Slow on purpose: run it off the event loop.
 *
 * Returns 0; CF_EINVAL for iterations out of range; CF_ETOOBIG if @cap is too
 * small (then @out holds "" if @cap > 0) or @len exceeds INT_MAX; CF_ECRYPTO
 * if OpenSSL fails.
 */
int cf_secret_hash(const char *secret, size_t len, const uint8_t salt[CF_SECRET_SALT_LEN],
                   uint32_t iterations, char *out, size_t cap);

/**
 * Parse the NUL-terminated @encoded strictly: the exact prefix
 * "pbkdf2-sha256$", iterations in decimal without a sign or leading zero
 * within CF_SECRET_MIN_ITERATIONS..CF_SECRET_MAX_ITERATIONS, '$', a salt of
 * exactly 22 base64url characters (16 bytes), '$', a hash of exactly 43
 * characters (32 bytes), and nothing after. Returns 0 and fills the three
 * outputs, or CF_EPARSE (outputs undefined).
 */
int cf_secret_parse(const char *encoded, uint32_t *iterations, uint8_t salt[CF_SECRET_SALT_LEN],
                    uint8_t hash[CF_SECRET_HASH_LEN]);

/**
 * Check @len bytes of @secret against the stored @encoded hash. Sets *@ok to
 * 1 on a match, 0 otherwise, comparing the derived bytes in constant time;
 * the time taken depends on the stored iteration count, not on how close the
 * guess was. Returns 0 (the answer is in *@ok); CF_EPARSE for a malformed
 * @encoded, CF_ETOOBIG or CF_ECRYPTO as cf_secret_hash(), with *@ok 0.
 * Callers that must hide whether a client exists should verify against a
 * dummy hash of the same cost when it does not.
 */
int cf_secret_verify(const char *secret, size_t len, const char *encoded, int *ok);

/**
 * The primitive: PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2) of @pwlen bytes
 * of @pw with @saltlen bytes of @salt and @iterations (>= 1), @outlen bytes
 * into @out. For known-answer tests and the functions above; it enforces no
 * policy on salt length or cost. Returns 0, CF_EINVAL (iterations 0, lengths
 * above INT_MAX or outlen 0) or CF_ECRYPTO.
 */
int cf_pbkdf2_sha256(const void *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                     uint32_t iterations, uint8_t *out, size_t outlen);

#endif
