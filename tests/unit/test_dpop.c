/*
 * DPoP (RFC 9449) with an injected clock: proofs signed here with OpenSSL
 * (Ed25519 and P-256) and then broken the ways an attacker would: another
 * method or URL (query, fragment, case, default port, percent-encoding, dot
 * segments), stale and future iat at the exact edge, wrong ath, another
 * key's signature, alg none and HS256, a private key in the jwk, a huge
 * proof; the replay cache's generations, its bound and a clock stepping
 * back; and the binding step of cf_access_decide.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/access.h"
#include "core/b64url.h"
#include "core/digest.h"
#include "core/dpop.h"
#include "core/error.h"

#define NOW 1700000000LL
#define URL "https://api.example.com/v1/things"

typedef struct {
    EVP_PKEY *pk;
    int ec;
    char jwk[256];
} key_t_;

static void b64(const uint8_t *in, size_t n, char *out)
{
    out[cf_b64url_encode(in, n, out)] = '\0';
}

static key_t_ key_new(int ec)
{
    key_t_ k = {.ec = ec};
    uint8_t raw[65];
    size_t n = sizeof raw;
    char x[64], y[64];

    k.pk = ec ? EVP_EC_gen("P-256") : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k.pk);
    if (ec) {
        assert_int_equal(EVP_PKEY_get_octet_string_param(k.pk, OSSL_PKEY_PARAM_PUB_KEY, raw, n, &n), 1);
        b64(raw + 1, 32, x);
        b64(raw + 33, 32, y);
        snprintf(k.jwk, sizeof k.jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    } else {
        n = 32;
        assert_int_equal(EVP_PKEY_get_raw_public_key(k.pk, raw, &n), 1);
        b64(raw, 32, x);
        snprintf(k.jwk, sizeof k.jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x);
    }
    return k;
}

/* header.claims signed by @k (JSON given as text); returns a malloc'd compact JWS. */
static char *sign(const key_t_ *k, const char *hdr, const char *claims)
{
    char *out = malloc(16384), *p;
    uint8_t sig[128], *der = NULL;
    size_t slen = sizeof sig, n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    p = out;
    p += cf_b64url_encode((const uint8_t *)hdr, strlen(hdr), p);
    *p++ = '.';
    p += cf_b64url_encode((const uint8_t *)claims, strlen(claims), p);
    n = (size_t)(p - out);
    assert_int_equal(EVP_DigestSignInit(md, NULL, k->ec ? EVP_sha256() : NULL, NULL, k->pk), 1);
    assert_int_equal(EVP_DigestSign(md, k->ec ? NULL : sig, &slen, (uint8_t *)out, n), 1);
    if (k->ec) {
        uint8_t dbuf[128];
        const uint8_t *dp = dbuf;
        ECDSA_SIG *es;

        slen = sizeof dbuf;
        assert_int_equal(EVP_DigestSign(md, dbuf, &slen, (uint8_t *)out, n), 1);
        es = d2i_ECDSA_SIG(NULL, &dp, (long)slen);
        assert_non_null(es);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
        slen = 64;
        ECDSA_SIG_free(es);
    }
    (void)der;
    EVP_MD_CTX_free(md);
    *p++ = '.';
    p += cf_b64url_encode(sig, slen, p);
    *p = '\0';
    return out;
}

static char *proof_full(const key_t_ *k, const char *alg, const char *typ, const char *jwk,
                        const char *htm, const char *htu, long long iat, const char *jti,
                        const char *extra)
{
    char hdr[512], claims[8192];

    snprintf(hdr, sizeof hdr, "{\"typ\":\"%s\",\"alg\":\"%s\",\"jwk\":%s}", typ, alg, jwk);
    snprintf(claims, sizeof claims, "{\"jti\":\"%s\",\"htm\":\"%s\",\"htu\":\"%s\",\"iat\":%lld%s}",
             jti, htm, htu, iat, extra ? extra : "");
    return sign(k, hdr, claims);
}

static char *proof(const key_t_ *k, const char *htm, const char *htu, long long iat, const char *extra)
{
    return proof_full(k, k->ec ? "ES256" : "EdDSA", "dpop+jwt", k->jwk, htm, htu, iat, "jti-1", extra);
}

static cf_dpop_keys_t *keys; /* the key cache verify() passes (NULL: none) */

static cf_reason_t verify(const char *p, const char *htm, const char *htu, const char *at,
                          const char *nonce, cf_dpop_proof_t *out)
{
    const char *why;
    cf_dpop_input_t in = {
        .proof = p, .proof_len = strlen(p), .htm = htm, .htm_len = strlen(htm), .htu = htu,
        .htu_len = strlen(htu), .access_token = at, .at_len = at ? strlen(at) : 0,
        .nonce = nonce, .nonce_len = nonce ? strlen(nonce) : 0, .now = NOW, .window = 60,
        .leeway = 5, .keys = keys,
    };
    cf_reason_t r = cf_dpop_verify(&in, out, &why);

    assert_non_null(why);
    return r;
}

static void test_valid_proofs_both_algs(void **state)
{
    (void)state;
    for (int ec = 0; ec < 2; ec++) {
        key_t_ k = key_new(ec);
        char *p = proof(&k, "GET", URL, NOW, NULL), want[CF_DPOP_JKT_LEN + 1];
        cf_dpop_proof_t out;

        assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
        assert_int_equal(cf_dpop_jwk_thumbprint(k.jwk, strlen(k.jwk), want), 0);
        assert_string_equal(out.jkt, want);
        assert_int_equal(out.iat, NOW);
        free(p);
        EVP_PKEY_free(k.pk);
    }
}

static void test_rfc7638_thumbprint_vector(void **state)
{
    /* RFC 7638 §3.1 is RSA; this is RFC 8037 §A.3's Ed25519 example. */
    const char *jwk = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    char t[CF_DPOP_JKT_LEN + 1];

    (void)state;
    assert_int_equal(cf_dpop_jwk_thumbprint(jwk, strlen(jwk), t), 0);
    assert_string_equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

/* P-256 from a fixed scalar (1234567), jwk and thumbprint by Python's cryptography + hashlib. */
static void test_ec_thumbprint_vector_and_member_order(void **state)
{
    static const char *const jwks[] = {
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"Zd4V_st-w837Vw-oercc4fGOidWXawcFfNu_9f-Ft2A\","
        "\"y\":\"Z9hQmLaQO62CvrDJiPefHylenBKFxYCxmYNhIO0bv34\"}",
        /* order, whitespace and optional members are not part of it (RFC 7638 §3.2-3.3) */
        "{ \"y\" : \"Z9hQmLaQO62CvrDJiPefHylenBKFxYCxmYNhIO0bv34\", \"kid\": \"k1\", \"use\": \"sig\","
        " \"x\":\"Zd4V_st-w837Vw-oercc4fGOidWXawcFfNu_9f-Ft2A\", \"crv\":\"P-256\", \"kty\":\"EC\"}",
    };
    /* RFC 7638 §3.1's own example is RSA, which DPoP here never accepts: refused, not guessed. */
    const char *rsa = "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78\"}";
    char t[CF_DPOP_JKT_LEN + 1];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(cf_dpop_jwk_thumbprint(jwks[i], strlen(jwks[i]), t), 0);
        assert_string_equal(t, "8Q6zNFU-lfxatP8SSURXfSgOsD675AfNWhWQINgCFx8");
    }
    assert_int_equal(cf_dpop_jwk_thumbprint(rsa, strlen(rsa), t), CF_EINVAL);
}

/* The jkt of a verified proof is the thumbprint of its jwk, whatever else the jwk holds. */
static void test_proof_jkt_ignores_optional_members(void **state)
{
    key_t_ k = key_new(1);
    char jwk[320], want[CF_DPOP_JKT_LEN + 1], *p;
    cf_dpop_proof_t out;

    (void)state;
    /* the same members reordered, plus kid/use/alg */
    snprintf(jwk, sizeof jwk, "{\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"ES256\",%s", k.jwk + 1);
    p = proof_full(&k, "ES256", "dpop+jwt", jwk, "GET", URL, NOW, "j", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
    assert_int_equal(cf_dpop_jwk_thumbprint(k.jwk, strlen(k.jwk), want), 0);
    assert_string_equal(out.jkt, want);
    free(p);
    EVP_PKEY_free(k.pk);
}

static cf_dpop_keys_stats_t keys_stats(void)
{
    cf_dpop_keys_stats_t st;

    cf_dpop_keys_stats(keys, &st);
    return st;
}

/* A cached key saves its import, never the signature check; a hit is that very key. */
static void test_key_cache_never_skips_a_check(void **state)
{
    key_t_ a = key_new(1), b = key_new(1), e = key_new(0);
    char jwk[320], x[64], *p;
    cf_dpop_proof_t out;
    const char *xs;

    (void)state;
    keys = cf_dpop_keys_new(16);
    assert_non_null(keys);
    p = proof_full(&a, "ES256", "dpop+jwt", a.jwk, "GET", URL, NOW, "j1", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
    free(p);
    assert_int_equal(keys_stats().misses, 1);
    assert_int_equal(keys_stats().entries, 1);
    p = proof_full(&a, "ES256", "dpop+jwt", a.jwk, "GET", URL, NOW, "j2", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
    free(p);
    assert_int_equal(keys_stats().hits, 1);
    /* a's cached jwk, b's signature: refused on a hit */
    p = proof_full(&b, "ES256", "dpop+jwt", a.jwk, "GET", URL, NOW, "j3", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    assert_int_equal(keys_stats().hits, 2);
    free(p);
    /* a hit still checks every claim */
    p = proof_full(&a, "ES256", "dpop+jwt", a.jwk, "POST", URL, NOW, "j4", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* Another key under the same kid is another key: b's own, then a's signature with b's jwk. */
    snprintf(jwk, sizeof jwk, "{\"kid\":\"same\",%s", a.jwk + 1);
    p = proof_full(&a, "ES256", "dpop+jwt", jwk, "GET", URL, NOW, "j5", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
    free(p);
    snprintf(jwk, sizeof jwk, "{\"kid\":\"same\",%s", b.jwk + 1);
    p = proof_full(&a, "ES256", "dpop+jwt", jwk, "GET", URL, NOW, "j6", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    p = proof_full(&b, "ES256", "dpop+jwt", jwk, "GET", URL, NOW, "j7", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
    free(p);
    {
        char want[CF_DPOP_JKT_LEN + 1];

        assert_int_equal(cf_dpop_jwk_thumbprint(b.jwk, strlen(b.jwk), want), 0);
        assert_string_equal(out.jkt, want);
    }
    assert_int_equal(keys_stats().entries, 2);
    /* a's x with b's y is no key at all (off the curve), cached a or not */
    xs = strstr(a.jwk, "\"x\":\"") + 5;
    snprintf(x, sizeof x, "%.43s", xs);
    snprintf(jwk, sizeof jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",%s", x, strstr(b.jwk, "\"y\""));
    p = proof_full(&a, "ES256", "dpop+jwt", jwk, "GET", URL, NOW, "j8", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* a's x as an Ed25519 key: another type, never a's cached P-256 key */
    snprintf(jwk, sizeof jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x);
    p = proof_full(&e, "EdDSA", "dpop+jwt", jwk, "GET", URL, NOW, "j9", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    assert_int_equal(keys_stats().entries, 2); /* refused keys are not kept */
    cf_dpop_keys_free(keys);
    keys = NULL;
    EVP_PKEY_free(a.pk);
    EVP_PKEY_free(b.pk);
    EVP_PKEY_free(e.pk);
}

/* Bounded: a fifth key evicts the least recently used of four; an evicted key is imported again. */
static void test_key_cache_eviction(void **state)
{
    key_t_ k[6];
    cf_dpop_proof_t out;
    char jti[16];
    int n = 0;

    (void)state;
    assert_null(cf_dpop_keys_new(0));
    keys = cf_dpop_keys_new(4); /* one set of four */
    assert_non_null(keys);
    for (int i = 0; i < 6; i++)
        k[i] = key_new(i % 2);
#define USE(i, want_hit)                                                                          \
    do {                                                                                          \
        uint64_t h0 = keys_stats().hits;                                                          \
        char *p_;                                                                                 \
        snprintf(jti, sizeof jti, "j%d", n++);                                                    \
        p_ = proof_full(&k[i], k[i].ec ? "ES256" : "EdDSA", "dpop+jwt", k[i].jwk, "GET", URL, NOW, \
                        jti, NULL);                                                               \
        assert_int_equal(verify(p_, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);               \
        assert_int_equal(keys_stats().hits - h0, (want_hit));                                     \
        free(p_);                                                                                 \
    } while (0)
    for (int i = 0; i < 4; i++)
        USE(i, 0);
    assert_int_equal(keys_stats().entries, 4);
    assert_int_equal(keys_stats().evictions, 0);
    USE(0, 1); /* 0 is now the most recently used; 1 the least */
    USE(4, 0); /* evicts 1 */
    assert_int_equal(keys_stats().evictions, 1);
    assert_int_equal(keys_stats().entries, 4);
    USE(0, 1);
    USE(2, 1);
    USE(3, 1);
    USE(4, 1);
    USE(1, 0); /* evicted, so imported (and verified) again; evicts 0 */
    USE(5, 0); /* evicts 2 */
    USE(0, 0);
    assert_int_equal(keys_stats().evictions, 4);
    assert_int_equal(keys_stats().entries, 4);
#undef USE
    cf_dpop_keys_free(keys);
    keys = NULL;
    for (int i = 0; i < 6; i++)
        EVP_PKEY_free(k[i].pk);
}

static void test_htm_and_htu(void **state)
{
    key_t_ k = key_new(0);
    static const struct {
        const char *htu, *req;
        int ok;
    } cases[] = {
        {URL, URL "?a=1", 1},                         /* query ignored on both sides */
        {URL "?x=2#frag", URL, 1},                    /* ...and fragments */
        {"HTTPS://API.Example.COM/v1/things", URL, 1}, /* scheme and host case */
        {"https://api.example.com:443/v1/things", URL, 1},
        {"https://api.example.com:00443/v1/things", URL, 1},
        {"https://api.example.com/v1/%74hings", URL, 1}, /* unreserved decoded */
        {"https://api.example.com/v1/a/../things", URL, 1},
        {"https://api.example.com/v1/./things", URL, 1},
        {"https://api.example.com/v1/Things", URL, 0},  /* path case matters */
        {"http://api.example.com/v1/things", URL, 0},   /* scheme */
        {"https://api.example.com:8443/v1/things", URL, 0},
        {"https://api.example.com/v1/things/", URL, 0},
        {"https://api.example.com/v1/things%2F", URL, 0},
        {"https://evil.example.com/v1/things", URL, 0},
        {"https://api.example.com@evil.com/v1/things", URL, 0},
        {"https://api.example.com:99999/v1/things", URL, 0},
        {"https://api.example.com/v1/th%zzings", URL, 0},
        {"/v1/things", URL, 0},
        {"", URL, 0},
        {"https://api.example.com/v1/a%2fb", "https://api.example.com/v1/a%2Fb", 1},
        {"https://api.example.com/v1/a%2Fb", "https://api.example.com/v1/a/b", 0},
    };
    cf_dpop_proof_t out;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = proof(&k, "GET", cases[i].htu, NOW, NULL);
        cf_reason_t r = verify(p, "GET", cases[i].req, NULL, NULL, &out);

        if ((r == CF_REASON_NONE) != cases[i].ok)
            fail_msg("htu %s vs %s: %s", cases[i].htu, cases[i].req, cf_reason_name(r));
        free(p);
    }
    {
        char *p = proof(&k, "GET", URL, NOW, NULL);
        assert_int_equal(verify(p, "POST", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
        assert_int_equal(verify(p, "get", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
        free(p);
    }
    EVP_PKEY_free(k.pk);
}

/* Found by tests/fuzz/fuzz_dpop: the IP-literal host was copied unchecked
 * (NUL, '/', spaces inside the brackets) and anything could follow its ']',
 * so "https://[::1]v1/x" normalised to "https://[::1]/v1/x". */
static void test_htu_host_is_strict(void **state)
{
    static const struct {
        const char *url;
        size_t len; /* 0: strlen */
        const char *want; /* NULL: refused */
    } cases[] = {
        {"https://[::1]/x", 0, "https://[::1]/x"},
        {"https://[2001:DB8::1]:8443/a", 0, "https://[2001:db8::1]:8443/a"},
        {"https://[2001:db8::1]:443?q", 0, "https://[2001:db8::1]/"},
        {"http://[::ffff:192.0.2.1]#f", 0, "http://[::ffff:192.0.2.1]/"},
        {"https://[::1]x/", 0, NULL},
        {"https://[::1]v1/things", 0, NULL},
        {"https://[::1", 0, NULL},
        {"https://[]/", 0, NULL},
        {"https://[a\0b]/x", 15, NULL},
        {"https://[a/b]/x", 0, NULL},
        {"https://[a b]/x", 0, NULL},
        {"https://[::1%25eth0]/x", 0, NULL},
        {"https://[::1]@evil/x", 0, NULL},
        {"https://a]b/x", 0, NULL},
        {"https://a[b/x", 0, NULL},
        {"https://api.example.com\x7f/x", 0, NULL},
        {"https://api.\xc3\xa9xample.com/x", 0, NULL},
    };
    static const char port_then_more[] = "https://h.example:44" "3/x"; /* len 20 ends at "44" */
    char out[256];

    (void)state;
    /* A URL need not be NUL-terminated: a port that ends it is read within its
     * length, not on into what follows (fuzz_dpop: a heap over-read, and here
     * ":44" followed by "3" in memory read as the default port 443). */
    assert_int_equal(cf_dpop_htu_normalize(port_then_more, 20, out, sizeof out), 0);
    assert_string_equal(out, "https://h.example:44/");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].url);
        int rc = cf_dpop_htu_normalize(cases[i].url, len, out, sizeof out);

        if (cases[i].want == NULL && rc == 0)
            fail_msg("%s: accepted as %s", cases[i].url, out);
        if (cases[i].want != NULL && (rc != 0 || strcmp(out, cases[i].want) != 0))
            fail_msg("%s: rc %d, %s", cases[i].url, rc, rc == 0 ? out : "");
    }
}

static void test_iat_window_edges(void **state)
{
    key_t_ k = key_new(1);
    static const struct {
        long long iat;
        int ok;
    } cases[] = {{NOW - 60, 1}, {NOW - 61, 0}, {NOW + 5, 1}, {NOW + 6, 0}, {0, 0}, {-1, 0},
                 {9223372036854775807LL, 0}};
    cf_dpop_proof_t out;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = proof(&k, "GET", URL, cases[i].iat, NULL);
        assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out) == CF_REASON_NONE, cases[i].ok);
        free(p);
    }
    EVP_PKEY_free(k.pk);
}

static void test_ath_and_nonce(void **state)
{
    key_t_ k = key_new(0);
    uint8_t h[CF_SHA256_LEN];
    char ath[64], extra[160];
    cf_dpop_proof_t out;
    char *p;

    (void)state;
    cf_sha256("the.access.token", 16, h);
    b64(h, sizeof h, ath);
    snprintf(extra, sizeof extra, ",\"ath\":\"%s\",\"nonce\":\"n-1\"", ath);
    p = proof(&k, "GET", URL, NOW, extra);
    assert_int_equal(verify(p, "GET", URL, "the.access.token", "n-1", &out), CF_REASON_NONE);
    assert_int_equal(verify(p, "GET", URL, "the.access.tokem", NULL, &out), CF_REASON_DPOP_INVALID);
    assert_int_equal(verify(p, "GET", URL, "the.access.token", "n-2", &out), CF_REASON_USE_DPOP_NONCE);
    free(p);
    p = proof(&k, "GET", URL, NOW, NULL); /* no ath at all */
    assert_int_equal(verify(p, "GET", URL, "the.access.token", NULL, &out), CF_REASON_DPOP_INVALID);
    assert_int_equal(verify(p, "GET", URL, NULL, "n-1", &out), CF_REASON_USE_DPOP_NONCE);
    free(p);
    EVP_PKEY_free(k.pk);
}

static void test_forged_and_malformed(void **state)
{
    key_t_ a = key_new(0), b = key_new(0), e = key_new(1);
    char hs[2048], bigjti[5000], priv[400];
    cf_dpop_proof_t out;
    char *p;

    (void)state;
    /* Signed by b, carrying a's public key. */
    p = proof_full(&b, "EdDSA", "dpop+jwt", a.jwk, "GET", URL, NOW, "j", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* alg/key confusion: EdDSA header with an EC key, ES256 with an OKP key. */
    p = proof_full(&e, "EdDSA", "dpop+jwt", e.jwk, "GET", URL, NOW, "j", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    p = proof_full(&a, "ES256", "dpop+jwt", a.jwk, "GET", URL, NOW, "j", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* typ other than dpop+jwt. */
    p = proof_full(&a, "EdDSA", "JWT", a.jwk, "GET", URL, NOW, "j", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* A private key in the jwk. */
    snprintf(priv, sizeof priv, "%.*s,\"d\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
             (int)strlen(a.jwk) - 1, a.jwk);
    p = proof_full(&a, "EdDSA", "dpop+jwt", priv, "GET", URL, NOW, "j", NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* alg none (empty signature) and HS256. */
    {
        char hdr[400], c[200], *q = hs;
        snprintf(hdr, sizeof hdr, "{\"typ\":\"dpop+jwt\",\"alg\":\"none\",\"jwk\":%s}", a.jwk);
        snprintf(c, sizeof c, "{\"jti\":\"j\",\"htm\":\"GET\",\"htu\":\"%s\",\"iat\":%lld}", URL, NOW);
        q += cf_b64url_encode((uint8_t *)hdr, strlen(hdr), q);
        *q++ = '.';
        q += cf_b64url_encode((uint8_t *)c, strlen(c), q);
        *q++ = '.';
        *q = '\0';
        assert_int_equal(verify(hs, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
        p = proof_full(&a, "HS256", "dpop+jwt", a.jwk, "GET", URL, NOW, "j", NULL);
        assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
        free(p);
    }
    /* Huge: a 5000-byte jti makes the proof larger than CF_DPOP_MAX_PROOF. */
    memset(bigjti, 'x', sizeof bigjti - 1);
    bigjti[sizeof bigjti - 1] = '\0';
    p = proof_full(&a, "EdDSA", "dpop+jwt", a.jwk, "GET", URL, NOW, bigjti, NULL);
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    /* Structure: two parts, four parts, garbage, empty. */
    assert_int_equal(verify("a.b", "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    assert_int_equal(verify("a.b.c.d", "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    assert_int_equal(verify("!!.??.**", "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    assert_int_equal(verify("", "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    /* A valid proof with one signature byte flipped. */
    p = proof(&a, "GET", URL, NOW, NULL);
    p[strlen(p) - 2] = p[strlen(p) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_DPOP_INVALID);
    free(p);
    EVP_PKEY_free(a.pk);
    EVP_PKEY_free(b.pk);
    EVP_PKEY_free(e.pk);
}

/*
 * ES256 jwks whose point is not on P-256 are refused when the key is
 * imported, before any signature math: a y with one bit flipped, an x not
 * below the field prime, (0,0). (The import checks the point on the curve
 * only; P-256's cofactor of 1 makes the order check redundant.)
 */
static void test_ec_points_off_the_curve(void **state)
{
    key_t_ e = key_new(1);
    uint8_t raw[65], ff[32];
    size_t n = sizeof raw;
    char x[64], y[64], bad[64], fx[64], z[64], jwk[256], flipped[256], over[256], zero[256];
    const char *jwks[3], *why;
    cf_dpop_proof_t out;

    (void)state;
    assert_int_equal(EVP_PKEY_get_octet_string_param(e.pk, OSSL_PKEY_PARAM_PUB_KEY, raw, n, &n), 1);
    b64(raw + 1, 32, x);
    raw[64] ^= 1;
    b64(raw + 33, 32, bad);
    raw[64] ^= 1;
    b64(raw + 33, 32, y);
    memset(ff, 0xff, sizeof ff);
    b64(ff, 32, fx);
    memset(ff, 0, sizeof ff);
    b64(ff, 32, z);
    snprintf(flipped, sizeof flipped, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, bad);
    snprintf(over, sizeof over, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", fx, y);
    snprintf(zero, sizeof zero, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", z, z);
    jwks[0] = flipped;
    jwks[1] = over;
    jwks[2] = zero;
    for (int i = 0; i < 3; i++) {
        char *p = proof_full(&e, "ES256", "dpop+jwt", jwks[i], "GET", URL, NOW, "j", NULL);
        cf_dpop_input_t in = {.proof = p, .proof_len = strlen(p), .htm = "GET", .htm_len = 3,
                              .htu = URL, .htu_len = strlen(URL), .now = NOW, .window = 60};

        assert_int_equal(cf_dpop_verify(&in, &out, &why), CF_REASON_DPOP_INVALID);
        assert_string_equal(why, "the jwk is not a P-256 (ES256) or Ed25519 (EdDSA) public key");
        free(p);
    }
    /* and the untouched key still works, so the refusals above are the point's */
    snprintf(jwk, sizeof jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    {
        char *p = proof_full(&e, "ES256", "dpop+jwt", jwk, "GET", URL, NOW, "j", NULL);

        assert_int_equal(verify(p, "GET", URL, NULL, NULL, &out), CF_REASON_NONE);
        free(p);
    }
    EVP_PKEY_free(e.pk);
}

static void test_replay_cache(void **state)
{
    cf_dpop_cache_t *c = cf_dpop_cache_new(3, 60, 0);
    uint8_t h[4][16];

    (void)state;
    assert_non_null(c);
    for (int i = 0; i < 4; i++)
        memset(h[i], i + 1, 16);
    assert_int_equal(cf_dpop_cache_check(c, h[0], NOW), CF_REASON_NONE);
    assert_int_equal(cf_dpop_cache_check(c, h[0], NOW), CF_REASON_DPOP_REPLAY);
    assert_int_equal(cf_dpop_cache_check(c, h[1], NOW + 1), CF_REASON_NONE);
    assert_int_equal(cf_dpop_cache_check(c, h[2], NOW + 2), CF_REASON_NONE);
    /* Full for this window: fail closed. */
    assert_int_equal(cf_dpop_cache_check(c, h[3], NOW + 3), CF_REASON_DPOP_INVALID);
    /* The clock steps back: nothing is forgotten. */
    assert_int_equal(cf_dpop_cache_check(c, h[0], NOW - 1000), CF_REASON_DPOP_REPLAY);
    /* The next window: a new generation, the old one still remembered. */
    assert_int_equal(cf_dpop_cache_check(c, h[3], NOW + 60), CF_REASON_NONE);
    assert_int_equal(cf_dpop_cache_check(c, h[0], NOW + 61), CF_REASON_DPOP_REPLAY);
    /* Two windows later the first generation is gone (its proofs are stale by iat anyway). */
    assert_int_equal(cf_dpop_cache_check(c, h[0], NOW + 120), CF_REASON_NONE);
    assert_int_equal(cf_dpop_cache_check(c, h[3], NOW + 121), CF_REASON_DPOP_REPLAY);
    cf_dpop_cache_free(c);
    assert_null(cf_dpop_cache_new(0, 60, 0));
    assert_null(cf_dpop_cache_new(10, 0, 0));
}

/* jti hashes as cf_dpop_verify makes them: SHA-256 of distinct jtis. */
static void jti_hash(int i, uint8_t out[16])
{
    char jti[32];
    uint8_t h[CF_SHA256_LEN];

    snprintf(jti, sizeof jti, "jti-%d", i);
    cf_sha256(jti, strlen(jti), h);
    memcpy(out, h, 16);
}

/* Full: every replay still refused, fresh proofs refused and counted, until the window turns. */
static void test_replay_cache_full(void **state)
{
    enum { MAX = 5000 };
    cf_dpop_cache_t *c = cf_dpop_cache_new(MAX, 60, 0);
    cf_dpop_cache_stats_t st;
    uint8_t h[16];

    (void)state;
    assert_non_null(c);
    cf_dpop_cache_stats(c, &st);
    assert_int_equal(st.capacity, MAX);
    assert_int_equal(st.entries, 0);
    assert_true(st.bytes <= (size_t)MAX * 24 + 16);
    for (int i = 0; i < MAX; i++) {
        jti_hash(i, h);
        assert_int_equal(cf_dpop_cache_check(c, h, NOW + i % 60), CF_REASON_NONE);
    }
    jti_hash(MAX, h);
    assert_int_equal(cf_dpop_cache_check(c, h, NOW + 59), CF_REASON_DPOP_INVALID);
    assert_int_equal(cf_dpop_cache_check(c, h, NOW + 59), CF_REASON_DPOP_INVALID); /* not recorded */
    for (int i = 0; i < MAX; i++) { /* every replay, full or not */
        jti_hash(i, h);
        assert_int_equal(cf_dpop_cache_check(c, h, NOW + 59), CF_REASON_DPOP_REPLAY);
    }
    cf_dpop_cache_stats(c, &st);
    assert_int_equal(st.entries, MAX);
    assert_int_equal(st.full_total, 2);
    assert_int_equal(st.full_window, 2);
    /* The window turns: fresh proofs again, the old generation's replays still refused. */
    jti_hash(MAX, h);
    assert_int_equal(cf_dpop_cache_check(c, h, NOW + 60), CF_REASON_NONE);
    cf_dpop_cache_stats(c, &st);
    assert_int_equal(st.full_total, 2);
    assert_int_equal(st.full_window, 0);
    assert_int_equal(st.entries, 1);
    for (int i = 0; i < MAX; i++) {
        jti_hash(i, h);
        assert_int_equal(cf_dpop_cache_check(c, h, NOW + 61), CF_REASON_DPOP_REPLAY);
    }
    /* ...for one more window only (their iat is stale by then) */
    jti_hash(0, h);
    assert_int_equal(cf_dpop_cache_check(c, h, NOW + 120), CF_REASON_NONE);
    jti_hash(MAX, h);
    assert_int_equal(cf_dpop_cache_check(c, h, NOW + 121), CF_REASON_DPOP_REPLAY);
    cf_dpop_cache_free(c);
}

/* Forgetting a jti (its cluster claim failed) keeps every other one: deletion
 * in the middle of long probe runs, in both generations. */
static void test_replay_cache_forget(void **state)
{
    enum { MAX = 3000 };
    cf_dpop_cache_t *c = cf_dpop_cache_new(MAX, 60, 0);
    cf_dpop_cache_stats_t st;
    uint8_t h[16];

    (void)state;
    assert_non_null(c);
    jti_hash(0, h);
    cf_dpop_cache_forget(c, h); /* an empty cache: nothing to do */
    for (int i = 0; i < MAX; i++) {
        jti_hash(i, h);
        assert_int_equal(cf_dpop_cache_check(c, h, NOW), CF_REASON_NONE);
    }
    for (int i = 0; i < MAX; i += 3) {
        jti_hash(i, h);
        cf_dpop_cache_forget(c, h);
        cf_dpop_cache_forget(c, h); /* twice: the second finds nothing */
    }
    cf_dpop_cache_stats(c, &st);
    assert_int_equal(st.entries, MAX - MAX / 3);
    for (int i = 0; i < MAX; i++) {
        jti_hash(i, h);
        assert_int_equal(cf_dpop_cache_check(c, h, NOW + 1),
                         i % 3 == 0 ? CF_REASON_NONE : CF_REASON_DPOP_REPLAY);
    }
    /* The window turns: the older generation forgets one of its own too. */
    jti_hash(1, h);
    cf_dpop_cache_forget(c, h);
    jti_hash(MAX, h);
    assert_int_equal(cf_dpop_cache_check(c, h, NOW + 60), CF_REASON_NONE);
    for (int i = 1; i < 5; i++) {
        jti_hash(i, h);
        assert_int_equal(cf_dpop_cache_check(c, h, NOW + 61),
                         i == 1 ? CF_REASON_NONE : CF_REASON_DPOP_REPLAY);
    }
    cf_dpop_cache_free(c);
}

/* cf_access_decide step 5b. */
static void test_access_binding(void **state)
{
    cf_limits_t lim = {600 * CF_SEC, 3600 * CF_SEC, 300 * CF_SEC};
    cf_time_t t0 = (cf_time_t)NOW * CF_SEC;
    cf_session_t *s = cf_session_new("AAAAAAAAAAAAAAAAAAAAAAAA", "alice", "web", "", "", t0, &lim, t0);
    cf_access_input_t in = {.token = {CF_REASON_NONE, NOW + 300, NOW, 0}, .session = s,
                            .risk = CF_RISK_NONE, .now = t0};
    cf_access_decision_t d;

    (void)state;
    assert_non_null(s);
    cf_access_decide(&in, &d);
    assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
    in.bound_jkt = "jkt-A";
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_DPOP_REQUIRED);
    assert_true(d.authn_failed);
    in.proof_jkt = "jkt-B";
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_DPOP_KEY_MISMATCH);
    in.proof_jkt = "jkt-A";
    cf_access_decide(&in, &d);
    assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
    in.proof_refused = CF_REASON_DPOP_REPLAY;
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_DPOP_REPLAY);
    /* A refused proof refuses even an unbound token: the client asked for DPoP. */
    in.bound_jkt = NULL;
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_DPOP_REPLAY);
    in.proof_refused = CF_REASON_NONE;
    in.bound_x5t = "x5t-A";
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_CERT_MISMATCH);
    in.cert_x5t = "x5t-A-";
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_CERT_MISMATCH);
    in.cert_x5t = "x5t-A";
    cf_access_decide(&in, &d);
    assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
    /* A revoked session says so before any binding question. */
    in.cert_x5t = NULL;
    in.token.exp = NOW - 100;
    cf_access_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_TOKEN_EXPIRED);
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_proofs_both_algs),
        cmocka_unit_test(test_rfc7638_thumbprint_vector),
        cmocka_unit_test(test_ec_thumbprint_vector_and_member_order),
        cmocka_unit_test(test_proof_jkt_ignores_optional_members),
        cmocka_unit_test(test_key_cache_never_skips_a_check),
        cmocka_unit_test(test_key_cache_eviction),
        cmocka_unit_test(test_htm_and_htu),
        cmocka_unit_test(test_htu_host_is_strict),
        cmocka_unit_test(test_iat_window_edges),
        cmocka_unit_test(test_ath_and_nonce),
        cmocka_unit_test(test_forged_and_malformed),
        cmocka_unit_test(test_ec_points_off_the_curve),
        cmocka_unit_test(test_replay_cache),
        cmocka_unit_test(test_replay_cache_full),
        cmocka_unit_test(test_replay_cache_forget),
        cmocka_unit_test(test_access_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
