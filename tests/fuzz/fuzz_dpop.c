/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for DPoP proofs (core/dpop.h, RFC 9449): cf_dpop_verify
 * on the request /v1/check and the token endpoint see, the htu normaliser,
 * the JWK thumbprint and the jti replay cache.
 *
 * Why the harness signs: a proof is verified with the key it carries, so a
 * mutated proof fails its signature and the claim checks (htm, htu, iat,
 * ath, nonce, jti) would never run. The harness holds two fixed keys, P-256
 * (ES256) and Ed25519 (EdDSA), whose public JWKs the seeds embed, and signs
 * the header and claims the fuzzer writes; a proof whose jwk is still the
 * harness's key then passes its signature and reaches every claim check.
 *
 * The first input byte: bits 0-1 the mode, bit 2 the key (0 ES256, 1 EdDSA),
 * bit 3 whether a server nonce is required, bit 4 whether an access token is
 * presented (ath checked, as on /v1/check) or not (the token endpoint).
 *   mode 0: the rest is a DPoP header value as a client sends it; also fed
 *           to the htu normaliser and the thumbprint as a URL and a JWK;
 *   mode 1-3: "<header JSON>\n<claims JSON>", signed by the chosen key.
 * Oracles: the verdict and thumbprint are the same with the key cache (a
 * small one, kept across inputs, so fuzzed keys evict each other) as
 * without; a verified proof names the thumbprint of the key that signed it
 * (nobody else's: the harness never signs with another), its jti is new to
 * the cache once and a replay the second time; a normalised URL is a fixed
 * point of the normaliser.
 *
 * Build: make fuzz-build; run: scripts/fuzz-run.sh dpop 600.
 * Seeds (tests/fuzz/corpus/dpop): proofs made with Python's cryptography for
 * these keys (tests/fuzz/gen_seeds.py), and their header/claims pairs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/dpop.h"
#include "core/error.h"

#define NOW INT64_C(1790000000)
#define HTM "POST"
#define HTU "https://api.example.com/v1/check"
#define ACCESS_TOKEN "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
#define NONCE "n-fuzz-1"

/* Fixed keys, so that seeds embedding their JWKs verify and crashes replay. */
static const char ec_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgb12UybEv6w9VrJ8y\n"
                             "85nKUDlWgb7lEs6utzKjzFMT0NqhRANCAAR6FChKwFPIN2/5KQ7eJcBS9vxmx/Zc\n"
                             "m1R18pVNH7oCxK3SXSed1/AqEBW6A0BsFuQmJT9ea/Sdx2Itz44NtsjX\n"
                             "-----END PRIVATE KEY-----\n";
static const char ed_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MC4CAQAwBQYDK2VwBCIEIFHrEonxpdvSia5qBaEm5HKos9PPhhaQgX4h4X7xSv7J\n"
                             "-----END PRIVATE KEY-----\n";

static EVP_PKEY *keys[2];                      /* [0] P-256, [1] Ed25519 */
static char jkt[2][CF_DPOP_JKT_LEN + 1];      /* their RFC 7638 thumbprints */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)         \
    do {                 \
        if (!(x))        \
            abort();     \
    } while (0)

static void b64(const uint8_t *in, size_t n, char *out)
{
    out[cf_b64url_encode(in, n, out)] = '\0';
}

static EVP_PKEY *load(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    CHECK(pk != NULL);
    return pk;
}

static void thumbprint(EVP_PKEY *pk, int ec, char out[CF_DPOP_JKT_LEN + 1])
{
    uint8_t raw[65];
    size_t n = sizeof raw;
    char x[64], y[64], jwk[256];

    if (ec) {
        CHECK(EVP_PKEY_get_octet_string_param(pk, "pub", raw, n, &n) == 1 && n == 65);
        b64(raw + 1, 32, x);
        b64(raw + 33, 32, y);
        snprintf(jwk, sizeof jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    } else {
        n = 32;
        CHECK(EVP_PKEY_get_raw_public_key(pk, raw, &n) == 1);
        b64(raw, 32, x);
        snprintf(jwk, sizeof jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x);
    }
    CHECK(cf_dpop_jwk_thumbprint(jwk, strlen(jwk), out) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    keys[0] = load(ec_pem);
    keys[1] = load(ed_pem);
    thumbprint(keys[0], 1, jkt[0]);
    thumbprint(keys[1], 0, jkt[1]);
    return 0;
}

/* JWS signature of @in with key @k: R||S for ES256 (RFC 7518 §3.4), raw for EdDSA. */
static size_t sign(int k, const char *in, size_t n, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dlen = sizeof der;

    CHECK(ctx != NULL);
    if (k == 1) {
        dlen = 64;
        CHECK(EVP_DigestSignInit(ctx, NULL, NULL, NULL, keys[1]) == 1);
        CHECK(EVP_DigestSign(ctx, sig, &dlen, (const uint8_t *)in, n) == 1);
    } else {
        const uint8_t *p = der;
        ECDSA_SIG *es;
        const BIGNUM *r, *s;

        CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, keys[0]) == 1);
        CHECK(EVP_DigestSign(ctx, der, &dlen, (const uint8_t *)in, n) == 1);
        es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        CHECK(es != NULL);
        ECDSA_SIG_get0(es, &r, &s);
        CHECK(BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32);
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX_free(ctx);
    return 64;
}

static void verify(const char *proof, size_t len, unsigned flags, int signer)
{
    cf_dpop_input_t in = {
        .proof = proof, .proof_len = len, .htm = HTM, .htm_len = strlen(HTM),
        .htu = HTU, .htu_len = strlen(HTU), .now = NOW, .window = 60, .leeway = 5,
    };
    static cf_dpop_keys_t *keys; /* kept across inputs */
    cf_dpop_proof_t out, cached;
    cf_dpop_cache_t *cache;
    const char *why = NULL;
    cf_reason_t r, rc;

    if (flags & 8) {
        in.nonce = NONCE;
        in.nonce_len = strlen(NONCE);
    }
    if (flags & 16) {
        in.access_token = ACCESS_TOKEN;
        in.at_len = strlen(ACCESS_TOKEN);
    }
    if (keys == NULL)
        CHECK((keys = cf_dpop_keys_new(4)) != NULL);
    r = cf_dpop_verify(&in, &out, &why);
    CHECK(why != NULL);
    in.keys = keys;
    rc = cf_dpop_verify(&in, &cached, &why);
    CHECK(rc == r && strcmp(cached.jkt, out.jkt) == 0 && cached.iat == out.iat &&
          memcmp(cached.jti_hash, out.jti_hash, sizeof out.jti_hash) == 0);
    CHECK(r == CF_REASON_NONE || r == CF_REASON_DPOP_INVALID || r == CF_REASON_USE_DPOP_NONCE);
    if (r != CF_REASON_NONE)
        return;
    /* Only the harness signs, so a verified proof was signed by one of its keys. */
    if (signer < 0)
        CHECK(strcmp(out.jkt, jkt[0]) == 0 || strcmp(out.jkt, jkt[1]) == 0);
    else
        CHECK(strcmp(out.jkt, jkt[signer]) == 0);
    CHECK(out.iat >= NOW - 60 && out.iat <= NOW + 5);
    /* The same proof twice: new, then a replay, also a window later. A fresh
     * cache per input keeps every run replayable. */
    cache = cf_dpop_cache_new(4, 60, 0);
    CHECK(cache != NULL);
    CHECK(cf_dpop_cache_check(cache, out.jti_hash, NOW) == CF_REASON_NONE);
    CHECK(cf_dpop_cache_check(cache, out.jti_hash, NOW) == CF_REASON_DPOP_REPLAY);
    CHECK(cf_dpop_cache_check(cache, out.jti_hash, NOW + 60) == CF_REASON_DPOP_REPLAY);
    cf_dpop_cache_free(cache);
}

static void check_raw(const uint8_t *data, size_t size, unsigned flags)
{
    char norm[CF_DPOP_MAX_URL + 1], again[CF_DPOP_MAX_URL + 1], t[CF_DPOP_JKT_LEN + 1];

    verify((const char *)data, size, flags, -1);
    if (cf_dpop_htu_normalize((const char *)data, size, norm, sizeof norm) == 0) {
        CHECK(strlen(norm) < sizeof norm);
        CHECK(cf_dpop_htu_normalize(norm, strlen(norm), again, sizeof again) == 0);
        CHECK(strcmp(norm, again) == 0);
    }
    if (cf_dpop_jwk_thumbprint((const char *)data, size, t) == 0)
        CHECK(strlen(t) == CF_DPOP_JKT_LEN);
}

static void check_signed(const char *p, size_t n, unsigned flags)
{
    const char *nl = memchr(p, '\n', n);
    int k = (flags >> 2) & 1;
    size_t hlen, clen, off;
    uint8_t sig[64];
    char *tok;

    if (nl == NULL)
        return;
    hlen = (size_t)(nl - p);
    clen = n - hlen - 1;
    tok = malloc(cf_b64url_encoded_len(hlen) + cf_b64url_encoded_len(clen) +
                 cf_b64url_encoded_len(64) + 3);
    CHECK(tok != NULL);
    off = cf_b64url_encode((const uint8_t *)p, hlen, tok);
    tok[off++] = '.';
    off += cf_b64url_encode((const uint8_t *)nl + 1, clen, tok + off);
    sign(k, tok, off, sig);
    tok[off++] = '.';
    off += cf_b64url_encode(sig, 64, tok + off);
    tok[off] = '\0';
    verify(tok, off, flags, k);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if ((data[0] & 3) == 0)
        check_raw(data + 1, size - 1, data[0]);
    else
        check_signed((const char *)data + 1, size - 1, data[0]);
    return 0;
}
