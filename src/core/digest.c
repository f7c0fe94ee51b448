/* SPDX-License-Identifier: MIT
 *
 * SHA-256 through OpenSSL's EVP interface, constant-time comparison, hex, and
 * cf_hash64(). Decides nothing; must never branch on secret bytes in
 * cf_ct_equal() and never read past @len.
 */
#include "core/digest.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look it up (a locked
 * table walk) on every digest, a measurable share of a DPoP proof's check. */
static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_md;

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *cf_sha256_md(void)
{
    if (CRYPTO_THREAD_run_once(&sha256_once, sha256_init) != 1 || sha256_md == NULL)
        return EVP_sha256();
    return sha256_md;
}

void cf_sha256(const void *data, size_t len, uint8_t out[CF_SHA256_LEN])
{
    static const uint8_t empty[1] = {0};
    unsigned int outlen = 0;

    if (data == NULL)
        data = empty;
    if (EVP_Digest(data, len, out, &outlen, cf_sha256_md(), NULL) != 1 || outlen != CF_SHA256_LEN)
        abort(); /* see digest.h: no SHA-256 means a broken libcrypto */
}

int cf_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void cf_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[16] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int cf_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cf_hex_decode(const char *hex, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return CF_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int hi = cf_hex_digit(hex[2 * i]), lo = cf_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CF_EPARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/*
 * cf_hash64: a small wyhash-style hash. Each 8-byte little-endian word is
 * folded into the state with a 64x64->128 multiply whose halves are XORed
 * ("mum"); that one multiply mixes every input bit into every output bit,
 * so the loop needs no extra rounds and runs at several bytes per cycle. The
 * length and the seed enter before the first word, so inputs that differ
 * only in trailing zero bytes or in seed hash differently. A final mum with
 * fresh constants avalanches the last word. This is for bucket selection
 * only: it is not collision resistant against someone who knows the seed.
 */
#define H_P0 0xa0761d6478bd642fULL
#define H_P1 0xe7037ed1a0b428dbULL
#define H_P2 0x8ebc6af09c88c6e3ULL
#define H_P3 0x589965cc75374cc3ULL

static uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;

    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t read_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t cf_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    size_t n = len;
    uint64_t h = mum(seed ^ H_P0, (uint64_t)len ^ H_P1);

    while (n >= 8) {
        h = mum(h ^ read_le(p, 8) ^ H_P2, h ^ H_P1 ^ H_P3);
        p += 8;
        n -= 8;
    }
    if (n > 0)
        h = mum(h ^ read_le(p, n) ^ H_P2, h ^ H_P3 ^ ((uint64_t)n << 56));
    return mum(h ^ H_P0, h ^ H_P3);
}
