/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/b64url.h"
#include "core/error.h"
#include "core/jws.h"

/* RFC 8037 appendix A. */
#define RFC_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC_KID "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define RFC_PROTECTED "eyJhbGciOiJFZERTQSJ9"
#define RFC_PAYLOAD "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC_SIG "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
#define RFC_JWS RFC_PROTECTED "." RFC_PAYLOAD "." RFC_SIG

#define CLAIMS "{\"sub\":\"alice\",\"sid\":\"s1\"}"

static void decode32(const char *s, uint8_t out[32])
{
    size_t n;

    assert_int_equal(cf_b64url_decode(s, strlen(s), out, 32, &n), 0);
    assert_int_equal(n, 32);
}

static cf_jws_key_t *rfc_key(int with_private)
{
    uint8_t d[32], x[32];
    cf_jws_key_t *k = NULL;

    decode32(RFC_D, d);
    decode32(RFC_X, x);
    assert_int_equal(cf_jws_key_from_raw(with_private ? d : NULL, x, NULL, &k), 0);
    assert_non_null(k);
    return k;
}

static char *b64(const void *data, size_t n)
{
    char *out = malloc(cf_b64url_encoded_len(n) + 1);

    assert_non_null(out);
    cf_b64url_encode(data, n, out);
    return out;
}

/* "<b64(header)>.<b64(payload)>.<b64(sig)>", caller frees. */
static char *make_token(const char *header, const char *payload, const uint8_t *sig, size_t siglen)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload)), *s = b64(sig, siglen);
    size_t n = strlen(h) + strlen(p) + strlen(s) + 3;
    char *tok = malloc(n);

    assert_non_null(tok);
    snprintf(tok, n, "%s.%s.%s", h, p, s);
    free(h);
    free(p);
    free(s);
    return tok;
}

/* Verify @tok against @keys, return the verdict, drop any payload. */
static cf_reason_t verdict(const char *tok, const cf_jws_key_t *const *keys, size_t nkeys)
{
    json_t *payload = (json_t *)1;
    cf_reason_t why = CF_REASON__COUNT;

    assert_int_equal(cf_jws_verify(tok, strlen(tok), keys, nkeys, &payload, &why), 0);
    if (why == CF_REASON_NONE)
        assert_true(json_is_object(payload));
    else
        assert_null(payload);
    json_decref(payload);
    return why;
}

static cf_reason_t verdict1(const char *tok, const cf_jws_key_t *k)
{
    return verdict(tok, &k, 1);
}

/*
 * Sign CLAIMS with @k (typ "at+jwt") into *@out, which the caller frees.
 * An out-parameter, not a return value: a pointer returned from a local whose
 * address went to cf_jws_sign() looks to GCC as if it could point at that
 * local, and every later use of the token warned -Wdangling-pointer.
 */
static void sign_claims(const cf_jws_key_t *k, char **out)
{
    *out = NULL;
    assert_int_equal(cf_jws_sign(k, "at+jwt", CLAIMS, strlen(CLAIMS), out), 0);
    assert_non_null(*out);
}

/* ---------------------------------------------------- RFC 8037 appendix A */

static void test_rfc8037_a1_a2_raw_key_has_thumbprint_kid(void **state)
{
    cf_jws_key_t *k = rfc_key(1), *pub = rfc_key(0);

    (void)state;
    assert_string_equal(cf_jws_key_kid(k), RFC_KID);
    assert_string_equal(cf_jws_key_kid(pub), RFC_KID);
    assert_int_equal(cf_jws_key_has_private(k), 1);
    assert_int_equal(cf_jws_key_has_private(pub), 0);
    cf_jws_key_free(k);
    cf_jws_key_free(pub);
}

static void test_rfc8037_a1_public_key_derived_from_private(void **state)
{
    uint8_t d[32];
    cf_jws_key_t *k = NULL;
    json_t *jwk = NULL;

    (void)state;
    decode32(RFC_D, d);
    assert_int_equal(cf_jws_key_from_raw(d, NULL, NULL, &k), 0);
    assert_int_equal(cf_jws_key_public_jwk(k, &jwk), 0);
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), RFC_X);
    assert_string_equal(cf_jws_key_kid(k), RFC_KID);
    json_decref(jwk);
    cf_jws_key_free(k);
}

static void test_rfc8037_a4_signature_matches_exactly(void **state)
{
    static const char text[] = "Example of Ed25519 signing";
    cf_jws_key_t *k = rfc_key(1);
    char *payload = b64(text, strlen(text)), *tok = NULL;

    (void)state;
    assert_string_equal(payload, RFC_PAYLOAD);
    assert_int_equal(cf_jws_sign_raw(k, RFC_PROTECTED, strlen(RFC_PROTECTED), RFC_PAYLOAD,
                                     strlen(RFC_PAYLOAD), &tok),
                     0);
    assert_string_equal(tok, RFC_JWS);
    free(tok);
    free(payload);
    cf_jws_key_free(k);
}

static void test_rfc8037_a5_signature_verifies_with_public_key(void **state)
{
    cf_jws_key_t *pub = rfc_key(0);
    char tok[] = RFC_JWS;
    int valid = -1;

    (void)state;
    assert_int_equal(cf_jws_verify_raw(pub, tok, strlen(tok), &valid), 0);
    assert_int_equal(valid, 1);
    tok[3] = tok[3] == 'h' ? 'g' : 'h'; /* alter the protected header */
    assert_int_equal(cf_jws_verify_raw(pub, tok, strlen(tok), &valid), 0);
    assert_int_equal(valid, 0);
    assert_int_equal(cf_jws_verify_raw(pub, "a.b", 3, &valid), CF_EINVAL);
    cf_jws_key_free(pub);
}

static void test_rfc8037_a4_token_lacks_kid_so_verify_refuses(void **state)
{
    cf_jws_key_t *pub = rfc_key(0);

    (void)state;
    /* A valid signature is not enough: our tokens must name their key. */
    assert_int_equal(verdict1(RFC_JWS, pub), CF_REASON_UNKNOWN_KEY);
    cf_jws_key_free(pub);
}

static void test_public_jwk_has_exact_members_and_no_private_part(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    json_t *jwk = NULL;

    (void)state;
    assert_int_equal(cf_jws_key_public_jwk(k, &jwk), 0);
    assert_int_equal(json_object_size(jwk), 6);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), RFC_X);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), RFC_KID);
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_null(json_object_get(jwk, "d"));
    json_decref(jwk);
    cf_jws_key_free(k);
}

/* ------------------------------------------------------------- raw keys */

static void test_from_raw_rejects_mismatched_pair_and_bad_kid(void **state)
{
    uint8_t d[32], x[32];
    cf_jws_key_t *k = (cf_jws_key_t *)1;
    char longkid[CF_JWS_KID_MAX + 2];

    (void)state;
    decode32(RFC_D, d);
    decode32(RFC_X, x);
    x[0] ^= 1;
    assert_int_equal(cf_jws_key_from_raw(d, x, NULL, &k), CF_EINVAL);
    assert_null(k);
    x[0] ^= 1;
    assert_int_equal(cf_jws_key_from_raw(NULL, NULL, NULL, &k), CF_EINVAL);
    assert_int_equal(cf_jws_key_from_raw(d, x, "", &k), CF_EINVAL);
    assert_int_equal(cf_jws_key_from_raw(d, x, "has space", &k), CF_EINVAL);
    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    assert_int_equal(cf_jws_key_from_raw(d, x, longkid, &k), CF_EINVAL);
    longkid[CF_JWS_KID_MAX] = '\0';
    assert_int_equal(cf_jws_key_from_raw(d, x, longkid, &k), 0);
    assert_string_equal(cf_jws_key_kid(k), longkid);
    cf_jws_key_free(k);
    assert_int_equal(cf_jws_key_from_raw(NULL, x, "2024-01", &k), 0);
    assert_string_equal(cf_jws_key_kid(k), "2024-01");
    cf_jws_key_free(k);
    cf_jws_key_free(NULL);
}

/* ------------------------------------------------------------ round trip */

static void test_sign_verify_round_trip_with_generated_key(void **state)
{
    cf_jws_key_t *k = NULL;
    char *tok;
    json_t *payload = NULL;
    cf_reason_t why = CF_REASON__COUNT;
    const cf_jws_key_t *keys[1];

    (void)state;
    assert_int_equal(cf_jws_key_generate(&k), 0);
    assert_int_equal(strlen(cf_jws_key_kid(k)), 43);
    keys[0] = k;
    sign_claims(k, &tok);
    assert_int_equal(cf_jws_verify(tok, strlen(tok), keys, 1, &payload, &why), 0);
    assert_int_equal(why, CF_REASON_NONE);
    assert_string_equal(json_string_value(json_object_get(payload, "sub")), "alice");
    assert_string_equal(json_string_value(json_object_get(payload, "sid")), "s1");
    json_decref(payload);
    free(tok);
    cf_jws_key_free(k);
}

static void *finish_thread(void *arg)
{
    cf_jws_unsigned_t *u = arg;
    char *tok = NULL;

    if (cf_jws_sign_finish(u, &tok) < 0)
        return NULL;
    return tok;
}

/*
 * Prepared on one thread, signed on another, after the key itself was freed
 * (a rotation on the loop while the pool signs): the token is the one
 * cf_jws_sign() would write, and verifies with the key's public half.
 */
static void test_prepare_then_finish_elsewhere_outlives_the_key(void **state)
{
    cf_jws_key_t *k = rfc_key(1), *pub = rfc_key(0);
    cf_jws_unsigned_t u;
    char *tok, *direct;
    pthread_t t;
    void *ret;

    (void)state;
    sign_claims(k, &direct); /* Ed25519 is deterministic: the same bytes */
    assert_int_equal(cf_jws_sign_prepare(k, "at+jwt", CLAIMS, strlen(CLAIMS), &u), 0);
    cf_jws_key_free(k);
    assert_int_equal(pthread_create(&t, NULL, finish_thread, &u), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    tok = ret;
    assert_non_null(tok);
    assert_string_equal(tok, direct);
    assert_int_equal(verdict1(tok, pub), CF_REASON_NONE);
    cf_jws_unsigned_fini(&u);
    cf_jws_unsigned_fini(&u); /* idempotent */
    free(tok);
    free(direct);
    cf_jws_key_free(pub);
}

/* prepare refuses what cf_jws_sign refuses, and leaves nothing to free. */
static void test_prepare_refuses_like_sign(void **state)
{
    cf_jws_key_t *k = rfc_key(1), *pub = rfc_key(0);
    cf_jws_unsigned_t u;
    size_t big = 9000;
    char *payload = malloc(big + 1);
    char *tok = (char *)1;

    (void)state;
    memset(payload, 'a', big);
    payload[big] = '\0';
    assert_int_equal(cf_jws_sign_prepare(pub, "at+jwt", CLAIMS, strlen(CLAIMS), &u), CF_EINVAL);
    assert_null(u.tok);
    assert_int_equal(cf_jws_sign_prepare(k, "at+jwt", payload, big, &u), CF_ETOOBIG);
    assert_null(u.tok);
    assert_int_equal(cf_jws_sign_prepare(k, "bad\xc3", CLAIMS, strlen(CLAIMS), &u), CF_EINVAL);
    assert_null(u.tok);
    assert_int_equal(cf_jws_sign(k, "bad\xc3", CLAIMS, strlen(CLAIMS), &tok), CF_EINVAL);
    assert_null(tok);
    memset(&u, 0, sizeof u);
    assert_int_equal(cf_jws_sign_finish(&u, &tok), CF_EINVAL); /* nothing prepared */
    assert_null(tok);
    free(payload);
    cf_jws_key_free(k);
    cf_jws_key_free(pub);
}

static void test_sign_writes_exact_protected_header(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *tok = NULL, want[256], *want64;
    size_t n;

    (void)state;
    assert_int_equal(cf_jws_sign(k, "at+jwt", CLAIMS, strlen(CLAIMS), &tok), 0);
    n = (size_t)snprintf(want, sizeof(want), "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", RFC_KID);
    want64 = b64(want, n);
    assert_int_equal(strncmp(tok, want64, strlen(want64)), 0);
    assert_int_equal(tok[strlen(want64)], '.');
    free(want64);
    free(tok);

    assert_int_equal(cf_jws_sign(k, NULL, CLAIMS, strlen(CLAIMS), &tok), 0);
    n = (size_t)snprintf(want, sizeof(want), "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", RFC_KID);
    want64 = b64(want, n);
    assert_int_equal(strncmp(tok, want64, strlen(want64)), 0);
    assert_int_equal(verdict1(tok, k), CF_REASON_NONE);
    free(want64);
    free(tok);
    cf_jws_key_free(k);
}

static void test_verify_picks_key_by_kid_among_several(void **state)
{
    cf_jws_key_t *a = NULL, *b = NULL;
    const cf_jws_key_t *keys[2];
    char *ta, *tb;

    (void)state;
    assert_int_equal(cf_jws_key_generate(&a), 0);
    assert_int_equal(cf_jws_key_generate(&b), 0);
    keys[0] = a;
    keys[1] = b;
    sign_claims(a, &ta);
    sign_claims(b, &tb);
    assert_int_equal(verdict(ta, keys, 2), CF_REASON_NONE);
    assert_int_equal(verdict(tb, keys, 2), CF_REASON_NONE);
    assert_int_equal(verdict(tb, keys, 1), CF_REASON_UNKNOWN_KEY);
    assert_int_equal(verdict(ta, keys, 0), CF_REASON_UNKNOWN_KEY);
    free(ta);
    free(tb);
    cf_jws_key_free(a);
    cf_jws_key_free(b);
}

static void test_verify_only_key_cannot_sign(void **state)
{
    cf_jws_key_t *pub = rfc_key(0);
    char *tok = (char *)1, *pem = (char *)1;

    (void)state;
    assert_int_equal(cf_jws_sign(pub, "at+jwt", CLAIMS, strlen(CLAIMS), &tok), CF_EINVAL);
    assert_null(tok);
    assert_int_equal(cf_jws_sign_raw(pub, "a", 1, "b", 1, &tok), CF_EINVAL);
    assert_int_equal(cf_jws_key_to_pem(pub, &pem), CF_EINVAL);
    assert_null(pem);
    cf_jws_key_free(pub);
}

static void test_sign_raw_rejects_non_b64url_segments(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *tok = NULL;

    (void)state;
    assert_int_equal(cf_jws_sign_raw(k, "a.b", 3, "c", 1, &tok), CF_EINVAL);
    assert_int_equal(cf_jws_sign_raw(k, "ab", 2, "c=", 2, &tok), CF_EINVAL);
    assert_null(tok);
    cf_jws_key_free(k);
}

static void test_sign_refuses_token_it_would_not_verify(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    size_t n = 6500;
    char *big = malloc(n + 1), *tok = NULL;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(cf_jws_sign(k, "at+jwt", big, n, &tok), CF_ETOOBIG);
    assert_null(tok);
    /* The largest payload that fits still verifies. */
    n = 5900;
    big[n - 1] = '}';
    assert_int_equal(cf_jws_sign(k, "at+jwt", big, n, &tok), 0);
    assert_true(strlen(tok) <= CF_JWS_MAX_LEN);
    assert_int_equal(verdict1(tok, k), CF_REASON_NONE);
    free(tok);
    free(big);
    cf_jws_key_free(k);
}

/* ------------------------------------------------------------------- PEM */

static void test_pem_private_round_trip(void **state)
{
    cf_jws_key_t *k = NULL, *back = NULL;
    char *pem = NULL, *tok;

    (void)state;
    assert_int_equal(cf_jws_key_generate(&k), 0);
    assert_int_equal(cf_jws_key_to_pem(k, &pem), 0);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    assert_int_equal(cf_jws_key_from_pem(pem, strlen(pem), &back), 0);
    assert_string_equal(cf_jws_key_kid(back), cf_jws_key_kid(k));
    assert_int_equal(cf_jws_key_has_private(back), 1);
    sign_claims(back, &tok);
    assert_int_equal(verdict1(tok, k), CF_REASON_NONE);
    free(tok);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
    cf_jws_key_free(back);
    cf_jws_key_free(k);
}

static void test_pem_public_key_loads_verify_only(void **state)
{
    /* SubjectPublicKeyInfo for Ed25519: fixed 12-byte prefix, then x. */
    static const uint8_t prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t der[44];
    char b64std[64], pem[160], *pemout = NULL;
    cf_jws_key_t *pub = NULL, *k = rfc_key(1);
    char *tok;

    (void)state;
    memcpy(der, prefix, sizeof(prefix));
    decode32(RFC_X, der + sizeof(prefix));
    assert_int_equal(EVP_EncodeBlock((unsigned char *)b64std, der, sizeof(der)), 60);
    snprintf(pem, sizeof(pem), "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64std);
    assert_int_equal(cf_jws_key_from_pem(pem, strlen(pem), &pub), 0);
    assert_int_equal(cf_jws_key_has_private(pub), 0);
    assert_string_equal(cf_jws_key_kid(pub), RFC_KID);
    assert_int_equal(cf_jws_key_to_pem(pub, &pemout), CF_EINVAL);
    sign_claims(k, &tok);
    assert_int_equal(verdict1(tok, pub), CF_REASON_NONE);
    free(tok);
    cf_jws_key_free(pub);
    cf_jws_key_free(k);
}

static void test_pem_rejects_garbage_and_other_key_types(void **state)
{
    cf_jws_key_t *k = (cf_jws_key_t *)1;
    EVP_PKEY *ec;
    BIO *bio;
    char *data = NULL;
    long n;

    (void)state;
    assert_int_equal(cf_jws_key_from_pem("hello", 5, &k), CF_EPARSE);
    assert_null(k);
    assert_int_equal(cf_jws_key_from_pem("", 0, &k), CF_EPARSE);

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    assert_int_equal(cf_jws_key_from_pem(data, (size_t)n, &k), CF_EINVAL);
    assert_null(k);
    BIO_free(bio);
    EVP_PKEY_free(ec);
}

/* ------------------------------------------------------------- forgeries */

static void test_forgery_alg_none_with_empty_signature(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char hdr[128], *tok;

    (void)state;
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\"}", RFC_KID);
    tok = make_token(hdr, CLAIMS, NULL, 0);
    assert_int_equal(tok[strlen(tok) - 1], '.');
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    free(tok);
    tok = make_token("{\"alg\":\"none\"}", CLAIMS, NULL, 0);
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    free(tok);
    cf_jws_key_free(k);
}

static void test_forgery_hs256_keyed_with_public_key(void **state)
{
    cf_jws_key_t *k = rfc_key(0);
    uint8_t x[32], mac[32];
    char hdr[128], *h64, *p64, *input, *tok;
    size_t maclen = 0, n;

    (void)state;
    decode32(RFC_X, x);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\"}", RFC_KID);
    h64 = b64(hdr, strlen(hdr));
    p64 = b64(CLAIMS, strlen(CLAIMS));
    n = strlen(h64) + strlen(p64) + 2;
    input = malloc(n);
    assert_non_null(input);
    snprintf(input, n, "%s.%s", h64, p64);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, x, sizeof(x),
                              (const unsigned char *)input, strlen(input), mac, sizeof(mac), &maclen));
    assert_int_equal(maclen, 32);
    tok = make_token(hdr, CLAIMS, mac, maclen);
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    free(tok);
    free(input);
    free(h64);
    free(p64);
    cf_jws_key_free(k);
}

static void test_forgery_any_other_alg_is_bad_signature(void **state)
{
    static const char *algs[] = {"RS256", "ES256", "Ed25519", "eddsa", "EdDSA ", ""};
    cf_jws_key_t *k = rfc_key(1);
    uint8_t sig[64] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char hdr[128], *tok;
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i], RFC_KID);
        tok = make_token(hdr, CLAIMS, sig, sizeof(sig));
        assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
        free(tok);
    }
    cf_jws_key_free(k);
}

static void test_forgery_unknown_kid(void **state)
{
    cf_jws_key_t *k = rfc_key(1), *other = NULL;
    char *tok;

    (void)state;
    assert_int_equal(cf_jws_key_generate(&other), 0);
    sign_claims(other, &tok);
    assert_int_equal(verdict1(tok, k), CF_REASON_UNKNOWN_KEY);
    free(tok);
    cf_jws_key_free(other);
    cf_jws_key_free(k);
}

static void test_forgery_kid_of_our_key_signed_by_another(void **state)
{
    cf_jws_key_t *k = rfc_key(1), *attacker = NULL;
    uint8_t d[32] = {1};
    char hdr[128], *h64, *p64, *tok = NULL;

    (void)state;
    assert_int_equal(cf_jws_key_from_raw(d, NULL, RFC_KID, &attacker), 0);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", RFC_KID);
    h64 = b64(hdr, strlen(hdr));
    p64 = b64(CLAIMS, strlen(CLAIMS));
    assert_int_equal(cf_jws_sign_raw(attacker, h64, strlen(h64), p64, strlen(p64), &tok), 0);
    assert_int_equal(verdict1(tok, attacker), CF_REASON_NONE);
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    free(tok);
    free(h64);
    free(p64);
    cf_jws_key_free(attacker);
    cf_jws_key_free(k);
}

static void test_forgery_payload_changed_by_one_char(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *tok, *dot1, *dot2;
    char *evil, *mixed;
    size_t n;

    (void)state;
    sign_claims(k, &tok);
    dot1 = strchr(tok, '.');
    dot2 = strrchr(tok, '.');
    /* Flip one character of the encoded payload. */
    dot1[1] = dot1[1] == 'e' ? 'f' : 'e';
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    dot1[1] = dot1[1] == 'e' ? 'f' : 'e';
    assert_int_equal(verdict1(tok, k), CF_REASON_NONE);

    /* Same header and signature, payload "alice" -> "alicf". */
    evil = make_token("{}", "{\"sub\":\"alicf\",\"sid\":\"s1\"}", NULL, 0);
    n = strlen(tok) + strlen(evil);
    mixed = malloc(n);
    assert_non_null(mixed);
    snprintf(mixed, n, "%.*s.%.*s%s", (int)(dot1 - tok), tok,
             (int)(strrchr(evil, '.') - strchr(evil, '.') - 1), strchr(evil, '.') + 1, dot2);
    assert_int_equal(verdict1(mixed, k), CF_REASON_BAD_SIGNATURE);
    free(mixed);
    free(evil);
    free(tok);
    cf_jws_key_free(k);
}

static void test_forgery_missing_kid(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *h64, *p64, *tok = NULL;
    static const char hdr[] = "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}";

    (void)state;
    h64 = b64(hdr, strlen(hdr));
    p64 = b64(CLAIMS, strlen(CLAIMS));
    assert_int_equal(cf_jws_sign_raw(k, h64, strlen(h64), p64, strlen(p64), &tok), 0);
    assert_int_equal(verdict1(tok, k), CF_REASON_UNKNOWN_KEY);
    free(tok);
    free(h64);
    free(p64);
    cf_jws_key_free(k);
}

static void test_forgery_truncated_or_extended_signature(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *tok, *longer;
    size_t n;

    (void)state;
    sign_claims(k, &tok);
    n = strlen(tok);
    /* 86 chars -> 84 chars: still clean base64url, but 63 bytes. */
    tok[n - 2] = '\0';
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    /* Signature segment removed entirely. */
    *(strrchr(tok, '.') + 1) = '\0';
    assert_int_equal(verdict1(tok, k), CF_REASON_BAD_SIGNATURE);
    free(tok);

    sign_claims(k, &tok);
    longer = malloc(strlen(tok) + 8);
    assert_non_null(longer);
    snprintf(longer, strlen(tok) + 8, "%sAAAA", tok); /* 67 bytes */
    assert_int_equal(verdict1(longer, k), CF_REASON_BAD_SIGNATURE);
    free(longer);
    free(tok);
    cf_jws_key_free(k);
}

static void test_forgery_wrong_segment_count(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *tok, *four;
    size_t n;

    (void)state;
    sign_claims(k, &tok);
    n = strlen(tok) + 8;
    four = malloc(n);
    assert_non_null(four);
    snprintf(four, n, "%s.AAAA", tok);
    assert_int_equal(verdict1(four, k), CF_REASON_MALFORMED_TOKEN);
    snprintf(four, n, "%s.", tok);
    assert_int_equal(verdict1(four, k), CF_REASON_MALFORMED_TOKEN);
    *strrchr(tok, '.') = '\0'; /* two segments */
    assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
    *strrchr(tok, '.') = '\0'; /* one segment */
    assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(verdict1("", k), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(verdict1("..", k), CF_REASON_MALFORMED_TOKEN);
    free(four);
    free(tok);
    cf_jws_key_free(k);
}

static void test_forgery_bad_b64url_in_any_segment(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char *tok, *padded, *dot1, *dot2;
    size_t n;
    char saved;

    (void)state;
    sign_claims(k, &tok);
    dot1 = strchr(tok, '.');
    dot2 = strrchr(tok, '.');
    n = strlen(tok) + 4;
    saved = tok[0];
    tok[0] = '+';
    assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
    tok[0] = saved;
    saved = dot1[2];
    dot1[2] = '/';
    assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
    dot1[2] = saved;
    saved = dot2[3];
    dot2[3] = ' ';
    assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
    dot2[3] = saved;
    assert_int_equal(verdict1(tok, k), CF_REASON_NONE);

    padded = malloc(n);
    assert_non_null(padded);
    snprintf(padded, n, "%s==", tok);
    assert_int_equal(verdict1(padded, k), CF_REASON_MALFORMED_TOKEN);
    free(padded);
    free(tok);
    cf_jws_key_free(k);
}

static void test_forgery_header_not_a_json_object(void **state)
{
    static const char *headers[] = {
        "not json", "[\"alg\",\"EdDSA\"]", "\"EdDSA\"", "{\"alg\":\"EdDSA\"", "{\"alg\":\"EdDSA\"} x", "",
    };
    cf_jws_key_t *k = rfc_key(1);
    uint8_t sig[64] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *tok = make_token(headers[i], CLAIMS, sig, sizeof(sig));
        assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
        free(tok);
    }
    cf_jws_key_free(k);
}

static void test_forgery_header_structure_is_malformed(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    uint8_t sig[64] = {0};
    const char *fmt[] = {
        "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"kid\":\"%s\"}", /* duplicate alg */
        "{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"%s\"}",  /* duplicate alg */
        "{\"kid\":\"%s\"}",                                     /* absent alg */
        "{\"alg\":null,\"kid\":\"%s\"}",                        /* alg not a string */
        "{\"alg\":[\"EdDSA\"],\"kid\":\"%s\"}",                 /* alg not a string */
        "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"crit\":[\"exp\"]}", /* crit */
        "{\"alg\":\"EdDSA\",\"kid\":[\"%s\"]}",                 /* kid not a string */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        char hdr[160], *tok;
        snprintf(hdr, sizeof(hdr), fmt[i], RFC_KID);
        tok = make_token(hdr, CLAIMS, sig, sizeof(sig));
        assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
        free(tok);
    }
    cf_jws_key_free(k);
}

static void test_signed_payload_must_be_a_json_object(void **state)
{
    static const char *payloads[] = {"[1,2]", "\"alice\"", "{\"sub\":\"a\",\"sub\":\"b\"}", "{", ""};
    cf_jws_key_t *k = rfc_key(1);

    (void)state;
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        char *tok = NULL;
        assert_int_equal(cf_jws_sign(k, "at+jwt", payloads[i], strlen(payloads[i]), &tok), 0);
        assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
        free(tok);
    }
    cf_jws_key_free(k);
}

static void test_token_over_8k_is_malformed(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    size_t n = CF_JWS_MAX_LEN + 1;
    char *tok = malloc(n + 1);

    (void)state;
    assert_non_null(tok);
    memset(tok, 'A', n);
    tok[10] = '.';
    tok[20] = '.';
    tok[n] = '\0';
    assert_int_equal(verdict1(tok, k), CF_REASON_MALFORMED_TOKEN);
    free(tok);
    cf_jws_key_free(k);
}

/* Sign CLAIMS under the protected header @header (JSON text) with @k. */
static char *sign_with_header(const cf_jws_key_t *k, const char *header)
{
    char *h = b64(header, strlen(header)), *p = b64(CLAIMS, strlen(CLAIMS)), *tok = NULL;

    assert_int_equal(cf_jws_sign_raw(k, h, strlen(h), p, strlen(p), &tok), 0);
    free(h);
    free(p);
    return tok;
}

static cf_reason_t typ_verdict(const cf_jws_key_t *k, const char *header)
{
    char *tok = sign_with_header(k, header);
    json_t *payload = (json_t *)1;
    cf_reason_t why = CF_REASON__COUNT;

    assert_int_equal(cf_jws_verify_typ(tok, strlen(tok), &k, 1, "at+jwt", &payload, &why), 0);
    if (why == CF_REASON_NONE)
        assert_true(json_is_object(payload));
    else
        assert_null(payload);
    json_decref(payload);
    free(tok);
    return why;
}

/* RFC 9068 §4: an access token's typ is at+jwt, nothing else. */
static void test_typ_must_be_at_jwt(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    char hdr[256];
    static const char *const ok[] = {"at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt",
                                     "Application/AT+JWT"};
    static const char *const bad[] = {
        "JWT", "jwt", "", "at+jwt ", " at+jwt", "at+jwt; charset=utf-8", "application/jwt",
        "application/", "application/application/at+jwt", "text/at+jwt", "at+jwt\\u0000",
        "dpop+jwt", "logout+jwt", "secevent+jwt", "at+jwt/application", "application/at+jwtx",
        "applicationat+jwt", "at+jw"};

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"typ\":\"%s\",\"kid\":\"%s\"}", ok[i], RFC_KID);
        assert_int_equal(typ_verdict(k, hdr), CF_REASON_NONE);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"typ\":\"%s\",\"kid\":\"%s\"}", bad[i], RFC_KID);
        assert_int_equal(typ_verdict(k, hdr), CF_REASON_MALFORMED_TOKEN);
    }
    /* Absent, or not a string. */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", RFC_KID);
    assert_int_equal(typ_verdict(k, hdr), CF_REASON_MALFORMED_TOKEN);
    /* ...which the untyped verifier (NULL typ) still accepts. */
    {
        char *tok = sign_with_header(k, hdr);
        assert_int_equal(verdict1(tok, k), CF_REASON_NONE);
        free(tok);
    }
    static const char *const nonstr[] = {"null", "1", "true", "[\"at+jwt\"]", "{\"at+jwt\":1}"};
    for (size_t i = 0; i < sizeof nonstr / sizeof nonstr[0]; i++) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"typ\":%s,\"kid\":\"%s\"}", nonstr[i], RFC_KID);
        assert_int_equal(typ_verdict(k, hdr), CF_REASON_MALFORMED_TOKEN);
    }
    /* Twice: a duplicate member is malformed whatever its value. */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
             RFC_KID);
    assert_int_equal(typ_verdict(k, hdr), CF_REASON_MALFORMED_TOKEN);
    /* What this server signs passes. */
    {
        char *tok;
        json_t *payload = NULL;
        cf_reason_t why = CF_REASON__COUNT;

        sign_claims(k, &tok);
        assert_int_equal(cf_jws_verify_typ(tok, strlen(tok), (const cf_jws_key_t *const *)&k, 1,
                                           "at+jwt", &payload, &why), 0);
        assert_int_equal(why, CF_REASON_NONE);
        json_decref(payload);
        free(tok);
    }
    cf_jws_key_free(k);
}

static void test_verify_rejects_null_arguments(void **state)
{
    cf_jws_key_t *k = rfc_key(1);
    const cf_jws_key_t *keys[1] = {k};
    json_t *payload = NULL;
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_jws_verify("a.b.c", 5, keys, 1, NULL, &why), CF_EINVAL);
    assert_int_equal(cf_jws_verify("a.b.c", 5, keys, 1, &payload, NULL), CF_EINVAL);
    assert_int_equal(cf_jws_verify(NULL, 5, keys, 1, &payload, &why), CF_EINVAL);
    assert_int_equal(cf_jws_verify("a.b.c", 5, NULL, 1, &payload, &why), CF_EINVAL);
    cf_jws_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8037_a1_a2_raw_key_has_thumbprint_kid),
        cmocka_unit_test(test_rfc8037_a1_public_key_derived_from_private),
        cmocka_unit_test(test_rfc8037_a4_signature_matches_exactly),
        cmocka_unit_test(test_rfc8037_a5_signature_verifies_with_public_key),
        cmocka_unit_test(test_rfc8037_a4_token_lacks_kid_so_verify_refuses),
        cmocka_unit_test(test_public_jwk_has_exact_members_and_no_private_part),
        cmocka_unit_test(test_from_raw_rejects_mismatched_pair_and_bad_kid),
        cmocka_unit_test(test_sign_verify_round_trip_with_generated_key),
        cmocka_unit_test(test_prepare_then_finish_elsewhere_outlives_the_key),
        cmocka_unit_test(test_prepare_refuses_like_sign),
        cmocka_unit_test(test_sign_writes_exact_protected_header),
        cmocka_unit_test(test_verify_picks_key_by_kid_among_several),
        cmocka_unit_test(test_verify_only_key_cannot_sign),
        cmocka_unit_test(test_sign_raw_rejects_non_b64url_segments),
        cmocka_unit_test(test_sign_refuses_token_it_would_not_verify),
        cmocka_unit_test(test_pem_private_round_trip),
        cmocka_unit_test(test_pem_public_key_loads_verify_only),
        cmocka_unit_test(test_pem_rejects_garbage_and_other_key_types),
        cmocka_unit_test(test_forgery_alg_none_with_empty_signature),
        cmocka_unit_test(test_forgery_hs256_keyed_with_public_key),
        cmocka_unit_test(test_forgery_any_other_alg_is_bad_signature),
        cmocka_unit_test(test_forgery_unknown_kid),
        cmocka_unit_test(test_forgery_kid_of_our_key_signed_by_another),
        cmocka_unit_test(test_forgery_payload_changed_by_one_char),
        cmocka_unit_test(test_forgery_missing_kid),
        cmocka_unit_test(test_forgery_truncated_or_extended_signature),
        cmocka_unit_test(test_forgery_wrong_segment_count),
        cmocka_unit_test(test_forgery_bad_b64url_in_any_segment),
        cmocka_unit_test(test_forgery_header_not_a_json_object),
        cmocka_unit_test(test_forgery_header_structure_is_malformed),
        cmocka_unit_test(test_signed_payload_must_be_a_json_object),
        cmocka_unit_test(test_token_over_8k_is_malformed),
        cmocka_unit_test(test_verify_rejects_null_arguments),
        cmocka_unit_test(test_typ_must_be_at_jwt),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
