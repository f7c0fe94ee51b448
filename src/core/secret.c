/* SPDX-License-Identifier: MIT
 *
 * PBKDF2-HMAC-SHA256 client secret hashing, encoding and verification.
 * Decides whether a secret matches its stored hash; must never compare in
 * variable time, never leave derived bytes on the stack, and never accept an
 * encoding it would not itself produce.
 */
#include "core/secret.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"

#define PREFIX "pbkdf2-sha256$"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define SALT_CHARS 22 /* cf_b64url_encoded_len(16) */
#define HASH_CHARS 43 /* cf_b64url_encoded_len(32) */

int cf_pbkdf2_sha256(const void *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                     uint32_t iterations, uint8_t *out, size_t outlen)
{
    static const char empty[1] = {0};

    if (iterations < 1 || iterations > INT_MAX || pwlen > INT_MAX || saltlen > INT_MAX ||
        outlen < 1 || outlen > INT_MAX)
        return CF_EINVAL;
    if (pw == NULL)
        pw = empty;
    if (salt == NULL)
        salt = (const uint8_t *)empty;
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, (int)iterations, EVP_sha256(),
                          (int)outlen, out) != 1)
        return CF_ECRYPTO;
    return 0;
}

int cf_secret_hash(const char *secret, size_t len, const uint8_t salt[CF_SECRET_SALT_LEN],
                   uint32_t iterations, char *out, size_t cap)
{
    uint8_t dk[CF_SECRET_HASH_LEN];
    char salt64[SALT_CHARS + 1], hash64[HASH_CHARS + 1];
    int rc, w;

    if (cap > 0)
        out[0] = '\0';
    if (iterations < CF_SECRET_MIN_ITERATIONS || iterations > CF_SECRET_MAX_ITERATIONS)
        return CF_EINVAL;
    if (len > INT_MAX)
        return CF_ETOOBIG;
    rc = cf_pbkdf2_sha256(secret, len, salt, CF_SECRET_SALT_LEN, iterations, dk, sizeof(dk));
    if (rc < 0)
        return rc;
    (void)cf_b64url_encode(salt, CF_SECRET_SALT_LEN, salt64);
    (void)cf_b64url_encode(dk, sizeof(dk), hash64);
    OPENSSL_cleanse(dk, sizeof(dk));
    w = snprintf(out, cap, PREFIX "%u$%s$%s", (unsigned)iterations, salt64, hash64);
    if (w < 0 || (size_t)w >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return CF_ETOOBIG;
    }
    return 0;
}

/* Decode exactly @chars characters at @s into exactly @want bytes at @out. */
static int decode_exact(const char *s, size_t chars, uint8_t *out, size_t want)
{
    size_t got = 0;

    if (cf_b64url_decode(s, chars, out, want, &got) < 0 || got != want)
        return CF_EPARSE;
    return 0;
}

int cf_secret_parse(const char *encoded, uint32_t *iterations, uint8_t salt[CF_SECRET_SALT_LEN],
                    uint8_t hash[CF_SECRET_HASH_LEN])
{
    const char *p;
    uint32_t iter = 0;
    size_t digits = 0;

    if (encoded == NULL || strncmp(encoded, PREFIX, PREFIX_LEN) != 0)
        return CF_EPARSE;
    p = encoded + PREFIX_LEN;
    if (p[0] == '0')
        return CF_EPARSE; /* no leading zeros: one spelling per value */
    for (; p[digits] >= '0' && p[digits] <= '9'; digits++) {
        if (digits >= 8)
            return CF_EPARSE; /* 10,000,000 has 8 digits */
        iter = iter * 10 + (uint32_t)(p[digits] - '0');
    }
    if (digits == 0 || p[digits] != '$')
        return CF_EPARSE;
    if (iter < CF_SECRET_MIN_ITERATIONS || iter > CF_SECRET_MAX_ITERATIONS)
        return CF_EPARSE;
    p += digits + 1;
    if (strnlen(p, SALT_CHARS + 1) < SALT_CHARS + 1 || p[SALT_CHARS] != '$')
        return CF_EPARSE;
    if (decode_exact(p, SALT_CHARS, salt, CF_SECRET_SALT_LEN) < 0)
        return CF_EPARSE;
    p += SALT_CHARS + 1;
    if (strnlen(p, HASH_CHARS + 1) != HASH_CHARS)
        return CF_EPARSE;
    if (decode_exact(p, HASH_CHARS, hash, CF_SECRET_HASH_LEN) < 0)
        return CF_EPARSE;
    *iterations = iter;
    return 0;
}

int cf_secret_verify(const char *secret, size_t len, const char *encoded, int *ok)
{
    uint8_t salt[CF_SECRET_SALT_LEN], want[CF_SECRET_HASH_LEN], got[CF_SECRET_HASH_LEN];
    uint32_t iter;
    int rc;

    *ok = 0;
    rc = cf_secret_parse(encoded, &iter, salt, want);
    if (rc < 0)
        return rc;
    if (len > INT_MAX)
        return CF_ETOOBIG;
    rc = cf_pbkdf2_sha256(secret, len, salt, sizeof(salt), iter, got, sizeof(got));
    if (rc == 0)
        *ok = cf_ct_equal(got, want, sizeof(got));
    OPENSSL_cleanse(got, sizeof(got));
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}
