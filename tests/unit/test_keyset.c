/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/b64url.h"
#include "core/error.h"
#include "core/jws.h"
#include "core/keyset.h"

#define T0 ((cf_time_t)1790000000000) /* Unix ms */
#define KEEP (930 * CF_SEC)            /* max access TTL 15m + leeway 30s */

static const uint8_t KEK[CF_KEK_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                       12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                       23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static cf_jws_key_t *gen(void)
{
    cf_jws_key_t *k = NULL;

    assert_int_equal(cf_jws_key_generate(&k), 0);
    return k;
}

static cf_keyset_t *make_set(void)
{
    cf_keyset_t *ks = NULL;
    cf_jws_key_t *k = gen();

    assert_int_equal(cf_keyset_new(k, T0, &ks), 0);
    return ks;
}

static char *kid_copy(const cf_jws_key_t *k)
{
    return strdup(cf_jws_key_kid(k));
}

/* Parse @json expecting failure @rc with exactly the message @msg. */
static void expect_parse_error(const char *json, const uint8_t *kek, int rc, const char *msg)
{
    cf_keyset_t *ks = (cf_keyset_t *)1;
    char err[256] = "";

    assert_int_equal(cf_keyset_from_json(json, strlen(json), kek, &ks, NULL, err, sizeof err), rc);
    assert_null(ks);
    assert_string_equal(err, msg);
}

/* ---------------------------------------------------------------- set */

static void test_new_set_has_one_active_key_version_1(void **state)
{
    cf_keyset_t *ks = make_set();
    size_t n = 0;

    (void)state;
    assert_int_equal(cf_keyset_count(ks), 1);
    assert_int_equal(cf_keyset_version(ks), 1);
    assert_non_null(cf_keyset_active(ks));
    assert_ptr_equal(cf_keyset_verify_keys(ks, &n)[0], cf_keyset_active(ks));
    assert_int_equal(n, 1);
    assert_int_equal(cf_keyset_entry(ks, 0)->deactivated_at, 0);
    assert_int_equal(cf_keyset_entry(ks, 0)->activated_at, T0);
    assert_null(cf_keyset_entry(ks, 1));
    cf_keyset_free(ks);
}

static void test_new_set_refuses_a_verify_only_key(void **state)
{
    cf_keyset_t *ks = NULL;
    cf_jws_key_t *k = gen(), *pub = NULL;
    uint8_t x[CF_JWS_KEY_LEN];

    (void)state;
    cf_jws_key_raw_public(k, x);
    assert_int_equal(cf_jws_key_from_raw(NULL, x, NULL, &pub), 0);
    assert_int_equal(cf_keyset_new(pub, T0, &ks), CF_EINVAL);
    assert_null(ks);
    cf_jws_key_free(pub);
    cf_jws_key_free(k);
}

static void test_rotate_makes_new_key_active_and_keeps_old_verifying(void **state)
{
    cf_keyset_t *ks = make_set();
    char *old = kid_copy(cf_keyset_active(ks));
    cf_jws_key_t *nk = gen();
    size_t n = 0;
    const cf_jws_key_t *const *vk;

    (void)state;
    assert_int_equal(cf_keyset_rotate(ks, nk, T0 + 60 * CF_SEC), 0);
    assert_ptr_equal(cf_keyset_active(ks), nk);
    assert_int_equal(cf_keyset_version(ks), 2);
    assert_int_equal(cf_keyset_count(ks), 2);
    vk = cf_keyset_verify_keys(ks, &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(vk[0], nk);
    assert_string_equal(cf_jws_key_kid(vk[1]), old);
    assert_int_equal(cf_keyset_entry(ks, 0)->activated_at, T0 + 60 * CF_SEC);
    assert_int_equal(cf_keyset_entry(ks, 0)->deactivated_at, 0);
    assert_int_equal(cf_keyset_entry(ks, 1)->deactivated_at, T0 + 60 * CF_SEC);
    assert_non_null(cf_keyset_find(ks, old));
    assert_ptr_equal(cf_keyset_find(ks, cf_jws_key_kid(nk)), nk);
    assert_null(cf_keyset_find(ks, "no-such-kid"));
    free(old);
    cf_keyset_free(ks);
}

static void test_rotate_refuses_duplicate_kid_and_time_going_back(void **state)
{
    cf_keyset_t *ks = make_set();
    cf_jws_key_t *dup = NULL, *nk = gen();
    uint8_t d[CF_JWS_KEY_LEN];

    (void)state;
    assert_int_equal(cf_jws_key_raw_private(cf_keyset_active(ks), d), 0);
    assert_int_equal(cf_jws_key_from_raw(d, NULL, NULL, &dup), 0);
    OPENSSL_cleanse(d, sizeof d);
    assert_int_equal(cf_keyset_rotate(ks, dup, T0 + 1), CF_EINVAL);
    assert_int_equal(cf_keyset_rotate(ks, nk, T0 - 1), CF_EINVAL);
    assert_int_equal(cf_keyset_count(ks), 1);
    assert_int_equal(cf_keyset_version(ks), 1);
    cf_jws_key_free(dup); /* ownership stays with the caller on failure */
    cf_jws_key_free(nk);
    cf_keyset_free(ks);
}

static void test_retire_happens_at_exactly_keep_after_deactivation(void **state)
{
    cf_keyset_t *ks = make_set();
    char *old = kid_copy(cf_keyset_active(ks));
    cf_time_t t1 = T0 + 60 * CF_SEC;

    (void)state;
    assert_int_equal(cf_keyset_rotate(ks, gen(), t1), 0);
    assert_int_equal(cf_keyset_retires_at(cf_keyset_entry(ks, 1), KEEP), t1 + KEEP);
    assert_int_equal(cf_keyset_retires_at(cf_keyset_entry(ks, 0), KEEP), CF_KEYSET_NEVER);
    assert_int_equal(cf_keyset_retire(ks, t1 + KEEP - 1, KEEP), 0);
    assert_non_null(cf_keyset_find(ks, old));
    assert_int_equal(cf_keyset_retire(ks, t1 + KEEP, KEEP), 1);
    assert_null(cf_keyset_find(ks, old));
    assert_int_equal(cf_keyset_count(ks), 1);
    /* The active key never retires, however old. */
    assert_int_equal(cf_keyset_retire(ks, t1 + 1000 * KEEP, KEEP), 0);
    assert_int_equal(cf_keyset_count(ks), 1);
    free(old);
    cf_keyset_free(ks);
}

static void test_retire_drops_only_the_due_keys_and_keeps_order(void **state)
{
    cf_keyset_t *ks = make_set();
    char *k0 = kid_copy(cf_keyset_active(ks)), *k1, *k2;
    size_t n;

    (void)state;
    assert_int_equal(cf_keyset_rotate(ks, gen(), T0 + 100 * CF_SEC), 0);
    k1 = kid_copy(cf_keyset_active(ks));
    assert_int_equal(cf_keyset_rotate(ks, gen(), T0 + 500 * CF_SEC), 0);
    k2 = kid_copy(cf_keyset_active(ks));
    assert_int_equal(cf_keyset_version(ks), 3);
    /* k0 deactivated at +100s, k1 at +500s. */
    assert_string_equal(cf_jws_key_kid(cf_keyset_entry(ks, 1)->key), k1);
    assert_string_equal(cf_jws_key_kid(cf_keyset_entry(ks, 2)->key), k0);
    assert_int_equal(cf_keyset_retire(ks, T0 + 100 * CF_SEC + KEEP, KEEP), 1);
    assert_null(cf_keyset_find(ks, k0));
    assert_non_null(cf_keyset_find(ks, k1));
    assert_string_equal(cf_jws_key_kid(cf_keyset_verify_keys(ks, &n)[0]), k2);
    assert_int_equal(n, 2);
    free(k0);
    free(k1);
    free(k2);
    cf_keyset_free(ks);
}

static void test_next_change_is_earliest_retirement_or_rotation(void **state)
{
    cf_keyset_t *ks = make_set();

    (void)state;
    assert_int_equal(cf_keyset_next_change(ks, KEEP, 0), CF_KEYSET_NEVER);
    assert_int_equal(cf_keyset_next_change(ks, KEEP, 86400 * CF_SEC), T0 + 86400 * CF_SEC);
    assert_false(cf_keyset_rotation_due(ks, T0 + 86400 * CF_SEC - 1, 86400 * CF_SEC));
    assert_true(cf_keyset_rotation_due(ks, T0 + 86400 * CF_SEC, 86400 * CF_SEC));
    assert_false(cf_keyset_rotation_due(ks, T0 + 1000 * 86400 * CF_SEC, 0));
    assert_int_equal(cf_keyset_rotate(ks, gen(), T0 + 10 * CF_SEC), 0);
    assert_int_equal(cf_keyset_next_change(ks, KEEP, 0), T0 + 10 * CF_SEC + KEEP);
    assert_int_equal(cf_keyset_next_change(ks, KEEP, 60 * CF_SEC), T0 + 70 * CF_SEC);
    assert_int_equal(cf_keyset_retire(ks, T0 + 10 * CF_SEC + KEEP, KEEP), 1);
    assert_int_equal(cf_keyset_next_change(ks, KEEP, 0), CF_KEYSET_NEVER);
    cf_keyset_free(ks);
}

static void test_dup_is_deep_and_equal(void **state)
{
    cf_keyset_t *ks = make_set(), *c = NULL;
    char *a = NULL, *b = NULL;

    (void)state;
    assert_int_equal(cf_keyset_rotate(ks, gen(), T0 + 5), 0);
    assert_int_equal(cf_keyset_dup(ks, &c), 0);
    assert_ptr_not_equal(cf_keyset_active(c), cf_keyset_active(ks));
    assert_int_equal(cf_keyset_to_json(ks, NULL, &a), 0);
    assert_int_equal(cf_keyset_to_json(c, NULL, &b), 0);
    assert_string_equal(a, b);
    cf_keyset_free(ks); /* the copy must not depend on the original */
    assert_int_equal(cf_keyset_retire(c, T0 + 5 + KEEP, KEEP), 1);
    free(a);
    free(b);
    cf_keyset_free(c);
}

/* ---------------------------------------------------------------- KEK */

static void test_kek_parse_accepts_hex_base64url_base64(void **state)
{
    uint8_t k[CF_KEK_LEN];
    const char *hex = "0102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F20";
    const char *b64u = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
    const char *b64 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n";

    (void)state;
    assert_int_equal(cf_keyset_kek_parse(hex, strlen(hex), k), 0);
    assert_memory_equal(k, KEK, sizeof k);
    memset(k, 0, sizeof k);
    assert_int_equal(cf_keyset_kek_parse(b64u, strlen(b64u), k), 0);
    assert_memory_equal(k, KEK, sizeof k);
    memset(k, 0, sizeof k);
    assert_int_equal(cf_keyset_kek_parse(b64, strlen(b64), k), 0);
    assert_memory_equal(k, KEK, sizeof k);
}

static void test_kek_parse_refuses_wrong_length_and_junk(void **state)
{
    uint8_t k[CF_KEK_LEN];
    static const char *const bad[] = {
        "",
        "short",
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",   /* 31 bytes hex */
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2g", /* not hex */
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHy",                       /* 42 chars */
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH!A",
        "correct horse battery staple correct horse.",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cf_keyset_kek_parse(bad[i], strlen(bad[i]), k), CF_EINVAL);
}

/* ------------------------------------------------------ serialisation */

static void round_trip(const uint8_t *kek)
{
    cf_keyset_t *ks = make_set(), *back = NULL;
    char *a = NULL, *b = NULL, err[256] = "";
    size_t nclear = 99;

    assert_int_equal(cf_keyset_rotate(ks, gen(), T0 + 7 * CF_SEC), 0);
    assert_int_equal(cf_keyset_rotate(ks, gen(), T0 + 9 * CF_SEC), 0);
    assert_int_equal(cf_keyset_to_json(ks, kek, &a), 0);
    assert_int_equal(cf_keyset_from_json(a, strlen(a), kek, &back, &nclear, err, sizeof err), 0);
    assert_int_equal(nclear, kek ? 0 : 3);
    assert_int_equal(cf_keyset_version(back), 3);
    assert_int_equal(cf_keyset_count(back), 3);
    for (size_t i = 0; i < 3; i++) {
        const cf_keyset_entry_t *x = cf_keyset_entry(ks, i), *y = cf_keyset_entry(back, i);
        uint8_t dx[CF_JWS_KEY_LEN], dy[CF_JWS_KEY_LEN];
        assert_string_equal(cf_jws_key_kid(x->key), cf_jws_key_kid(y->key));
        assert_int_equal(x->created_at, y->created_at);
        assert_int_equal(x->activated_at, y->activated_at);
        assert_int_equal(x->deactivated_at, y->deactivated_at);
        assert_int_equal(cf_jws_key_raw_private(x->key, dx), 0);
        assert_int_equal(cf_jws_key_raw_private(y->key, dy), 0);
        assert_memory_equal(dx, dy, sizeof dx);
    }
    /* In clear the document says "d"; encrypted it must not. */
    if (kek != NULL) {
        assert_null(strstr(a, "\"d\""));
        assert_non_null(strstr(a, "\"A256GCM\""));
    } else {
        assert_non_null(strstr(a, "\"d\""));
    }
    OPENSSL_cleanse(a, strlen(a));
    free(a);
    assert_int_equal(cf_keyset_to_json(back, kek, &b), 0);
    free(b);
    cf_keyset_free(back);
    cf_keyset_free(ks);
}

static void test_round_trip_in_clear(void **state)
{
    (void)state;
    round_trip(NULL);
}

static void test_round_trip_encrypted(void **state)
{
    (void)state;
    round_trip(KEK);
}

static void test_encryption_uses_a_fresh_nonce_each_time(void **state)
{
    cf_keyset_t *ks = make_set();
    char *a = NULL, *b = NULL;

    (void)state;
    assert_int_equal(cf_keyset_to_json(ks, KEK, &a), 0);
    assert_int_equal(cf_keyset_to_json(ks, KEK, &b), 0);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    cf_keyset_free(ks);
}

static char *encrypted_doc(char **kid)
{
    cf_keyset_t *ks = make_set();
    char *a = NULL;

    assert_int_equal(cf_keyset_to_json(ks, KEK, &a), 0);
    *kid = kid_copy(cf_keyset_active(ks));
    cf_keyset_free(ks);
    return a;
}

static void test_wrong_kek_is_a_clean_error(void **state)
{
    uint8_t wrong[CF_KEK_LEN];
    char *kid, *a = encrypted_doc(&kid), err[256] = "", want[256];
    cf_keyset_t *ks = NULL;

    (void)state;
    memcpy(wrong, KEK, sizeof wrong);
    wrong[31] ^= 1;
    assert_int_equal(cf_keyset_from_json(a, strlen(a), wrong, &ks, NULL, err, sizeof err),
                     CF_ECRYPTO);
    assert_null(ks);
    snprintf(want, sizeof want,
             "keys[0] (kid %s) does not decrypt: wrong key-encryption key, or the file was altered",
             kid);
    assert_string_equal(err, want);
    /* And without any KEK it says so. */
    assert_int_equal(cf_keyset_from_json(a, strlen(a), NULL, &ks, NULL, err, sizeof err),
                     CF_ECONFIG);
    snprintf(want, sizeof want,
             "keys[0] (kid %s) is encrypted but no key-encryption key is configured "
             "(CURFEW_KEK or keys.kek_file)",
             kid);
    assert_string_equal(err, want);
    free(kid);
    free(a);
}

/* Replace member @name of keys[0] with @value and parse under the KEK. */
static int parse_tampered(const char *doc, const char *name, const char *value)
{
    json_t *j = json_loads(doc, 0, NULL);
    cf_keyset_t *ks = NULL;
    char *s, err[256];
    int rc;

    assert_non_null(j);
    json_object_set_new(json_array_get(json_object_get(j, "keys"), 0), name, json_string(value));
    s = json_dumps(j, 0);
    json_decref(j);
    rc = cf_keyset_from_json(s, strlen(s), KEK, &ks, NULL, err, sizeof err);
    assert_null(ks);
    free(s);
    return rc;
}

static void test_tampered_ciphertext_tag_nonce_or_kid_fails_to_decrypt(void **state)
{
    char *kid, *a = encrypted_doc(&kid);
    json_t *j = json_loads(a, 0, NULL), *k0 = json_array_get(json_object_get(j, "keys"), 0);
    char ct[64], tag[64], iv[64];

    (void)state;
    snprintf(ct, sizeof ct, "%s", json_string_value(json_object_get(k0, "ct")));
    snprintf(tag, sizeof tag, "%s", json_string_value(json_object_get(k0, "tag")));
    snprintf(iv, sizeof iv, "%s", json_string_value(json_object_get(k0, "iv")));
    json_decref(j);
    ct[0] = ct[0] == 'A' ? 'B' : 'A';
    tag[0] = tag[0] == 'A' ? 'B' : 'A';
    iv[0] = iv[0] == 'A' ? 'B' : 'A';
    assert_int_equal(parse_tampered(a, "ct", ct), CF_ECRYPTO);
    assert_int_equal(parse_tampered(a, "tag", tag), CF_ECRYPTO);
    assert_int_equal(parse_tampered(a, "iv", iv), CF_ECRYPTO);
    /* The kid is the AAD: a ciphertext moved to another kid does not open. */
    assert_int_equal(parse_tampered(a, "kid", "another-kid"), CF_ECRYPTO);
    free(kid);
    free(a);
}

static void test_clear_key_whose_d_does_not_match_x_is_refused(void **state)
{
    cf_keyset_t *ks = make_set();
    cf_jws_key_t *other = gen();
    uint8_t d[CF_JWS_KEY_LEN];
    char d64[48], *a = NULL;

    (void)state;
    assert_int_equal(cf_keyset_to_json(ks, NULL, &a), 0);
    assert_int_equal(cf_jws_key_raw_private(other, d), 0);
    {
        json_t *j = json_loads(a, 0, NULL);
        cf_b64url_encode(d, sizeof d, d64);
        json_object_set_new(json_array_get(json_object_get(j, "keys"), 0), "d", json_string(d64));
        free(a);
        a = json_dumps(j, 0);
        json_decref(j);
    }
    expect_parse_error(a, NULL, CF_EPARSE,
                       "keys[0]: not a valid Ed25519 key pair with a valid kid (\"d\" must match "
                       "\"x\"; a kid is visible ASCII)");
    free(a);
    cf_jws_key_free(other);
    cf_keyset_free(ks);
}

#define X32 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"
#define KEYHEAD "{\"kid\":\"k1\",\"x\":\"" X32 "\",\"created_at\":1,\"activated_at\":1,"

static void test_malformed_documents_get_precise_errors(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *msg;
    } cases[] = {
        {"", CF_EPARSE, "line 1 column 0: '[' or '{' expected near end of file"},
        {"{\"v\":1,", CF_EPARSE, "line 1 column 7: string or '}' expected near end of file"},
        {"[]", CF_EPARSE, "expected a JSON object"},
        {"{}", CF_EPARSE, "v: missing or not an integer (the format version, 1)"},
        {"{\"v\":2,\"version\":1,\"keys\":[]}", CF_EPARSE, "v: unsupported format 2 (this curfew reads 1)"},
        {"{\"v\":1,\"version\":0,\"keys\":[]}", CF_EPARSE, "version: expected a positive integer"},
        {"{\"v\":1,\"version\":1,\"keys\":[]}", CF_EPARSE, "keys: expected a non-empty array"},
        {"{\"v\":1,\"v\":1}", CF_EPARSE, "line 1 column 10: duplicate object key near '\"v\"'"},
        {"{\"v\":1,\"version\":1,\"keys\":[7]}", CF_EPARSE, "keys[0]: expected an object"},
        {"{\"v\":1,\"version\":1,\"keys\":[{\"kid\":\"k1\",\"zz\":1}]}", CF_EPARSE,
         "keys[0]: unknown member 'zz'"},
        {"{\"v\":1,\"version\":1,\"keys\":[{\"kid\":\"\"}]}", CF_EPARSE,
         "keys[0].kid: expected a string of 1 to 255 characters"},
        {"{\"v\":1,\"version\":1,\"keys\":[{\"kid\":\"k1\",\"x\":\"abc\"}]}", CF_EPARSE,
         "keys[0].x: expected the base64url of 32 bytes"},
        {"{\"v\":1,\"version\":1,\"keys\":[{\"kid\":\"k1\",\"x\":\"" X32 "\"}]}", CF_EPARSE,
         "keys[0].created_at: expected a non-negative integer (Unix milliseconds)"},
        {"{\"v\":1,\"version\":1,\"keys\":[" KEYHEAD "\"deactivated_at\":-5}]}", CF_EPARSE,
         "keys[0].deactivated_at: expected a non-negative integer (Unix milliseconds)"},
        {"{\"v\":1,\"version\":1,\"keys\":[" KEYHEAD "\"deactivated_at\":0}]}", CF_EPARSE,
         "keys[0].d: missing"},
        {"{\"v\":1,\"version\":1,\"keys\":[" KEYHEAD "\"deactivated_at\":0,\"d\":\"" X32 "\",\"enc\":\"A256GCM\"}]}",
         CF_EPARSE, "keys[0]: both \"d\" and \"enc\" (in clear or encrypted, not both)"},
        {"{\"v\":1,\"version\":1,\"keys\":[" KEYHEAD "\"deactivated_at\":0,\"enc\":\"A128GCM\"}]}",
         CF_EPARSE, "keys[0].enc: expected \"A256GCM\""},
        {"{\"v\":1,\"version\":1,\"keys\":[" KEYHEAD "\"deactivated_at\":0,\"enc\":\"A256GCM\",\"iv\":\"AAAA\"}]}",
         CF_EPARSE, "keys[0].iv: expected the base64url of 12 bytes"},
        {"{\"v\":1,\"version\":1,\"keys\":[" KEYHEAD "\"deactivated_at\":0,\"d\":\"" X32 "\",\"iv\":\"AAAA\"}]}",
         CF_EPARSE, "keys[0]: \"iv\", \"ct\" or \"tag\" without \"enc\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cf_keyset_t *ks = (cf_keyset_t *)1;
        char err[256] = "";
        int rc = cf_keyset_from_json(cases[i].json, strlen(cases[i].json), KEK, &ks, NULL, err,
                                     sizeof err);
        if (rc != cases[i].rc || strcmp(err, cases[i].msg) != 0)
            fail_msg("case %zu: got %d '%s', want %d '%s'", i, rc, err, cases[i].rc, cases[i].msg);
        assert_null(ks);
    }
}

/* Two sets' documents combined into one, with a given deactivated_at for each. */
static char *two_key_doc(cf_time_t deact0, cf_time_t deact1, int same_kid)
{
    cf_keyset_t *a = make_set(), *b = make_set();
    char *sa = NULL, *sb = NULL, *out;
    json_t *ja, *jb, *k0, *k1;

    assert_int_equal(cf_keyset_to_json(a, NULL, &sa), 0);
    assert_int_equal(cf_keyset_to_json(same_kid ? a : b, NULL, &sb), 0);
    ja = json_loads(sa, 0, NULL);
    jb = json_loads(sb, 0, NULL);
    k0 = json_array_get(json_object_get(ja, "keys"), 0);
    k1 = json_array_get(json_object_get(jb, "keys"), 0);
    json_object_set_new(k0, "deactivated_at", json_integer(deact0));
    json_object_set_new(k1, "deactivated_at", json_integer(deact1));
    json_array_append(json_object_get(ja, "keys"), k1);
    out = json_dumps(ja, 0);
    json_decref(ja);
    json_decref(jb);
    free(sa);
    free(sb);
    cf_keyset_free(a);
    cf_keyset_free(b);
    return out;
}

static void test_exactly_one_active_key_and_unique_kids(void **state)
{
    char *s;

    (void)state;
    s = two_key_doc(0, 0, 0);
    expect_parse_error(s, NULL, CF_EPARSE, "more than one active key (keys[0] and keys[1])");
    free(s);
    s = two_key_doc(T0 + 1, T0 + 2, 0);
    expect_parse_error(s, NULL, CF_EPARSE, "no active key (every key has a deactivated_at)");
    free(s);
    s = two_key_doc(0, T0 + 2, 1);
    expect_parse_error(s, NULL, CF_EPARSE, "keys[1].kid: same kid as keys[0]");
    free(s);
}

static void test_parse_orders_active_first(void **state)
{
    char *s = two_key_doc(T0 + 5, 0, 0), err[256];
    cf_keyset_t *ks = NULL;

    (void)state;
    assert_int_equal(cf_keyset_from_json(s, strlen(s), NULL, &ks, NULL, err, sizeof err), 0);
    assert_int_equal(cf_keyset_entry(ks, 0)->deactivated_at, 0);
    assert_int_equal(cf_keyset_entry(ks, 1)->deactivated_at, T0 + 5);
    cf_keyset_free(ks);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_set_has_one_active_key_version_1),
        cmocka_unit_test(test_new_set_refuses_a_verify_only_key),
        cmocka_unit_test(test_rotate_makes_new_key_active_and_keeps_old_verifying),
        cmocka_unit_test(test_rotate_refuses_duplicate_kid_and_time_going_back),
        cmocka_unit_test(test_retire_happens_at_exactly_keep_after_deactivation),
        cmocka_unit_test(test_retire_drops_only_the_due_keys_and_keeps_order),
        cmocka_unit_test(test_next_change_is_earliest_retirement_or_rotation),
        cmocka_unit_test(test_dup_is_deep_and_equal),
        cmocka_unit_test(test_kek_parse_accepts_hex_base64url_base64),
        cmocka_unit_test(test_kek_parse_refuses_wrong_length_and_junk),
        cmocka_unit_test(test_round_trip_in_clear),
        cmocka_unit_test(test_round_trip_encrypted),
        cmocka_unit_test(test_encryption_uses_a_fresh_nonce_each_time),
        cmocka_unit_test(test_wrong_kek_is_a_clean_error),
        cmocka_unit_test(test_tampered_ciphertext_tag_nonce_or_kid_fails_to_decrypt),
        cmocka_unit_test(test_clear_key_whose_d_does_not_match_x_is_refused),
        cmocka_unit_test(test_malformed_documents_get_precise_errors),
        cmocka_unit_test(test_exactly_one_active_key_and_unique_kids),
        cmocka_unit_test(test_parse_orders_active_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
