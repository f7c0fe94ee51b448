/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/digest.h"
#include "core/error.h"
#include "core/secret.h"

static const uint8_t salt16[CF_SECRET_SALT_LEN] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                   8, 9, 10, 11, 12, 13, 14, 15};

/* Independently computed (Python hashlib.pbkdf2_hmac) for "correct horse". */
static const char kat_encoded[] =
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ";

static void hex(const uint8_t *b, size_t n, char *out)
{
    cf_hex_encode(b, n, out);
}

static void test_pbkdf2_rfc7914_vectors(void **state)
{
    uint8_t dk[64];
    char h[129];

    (void)state;
    /* RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1, dkLen=64). */
    assert_int_equal(cf_pbkdf2_sha256("passwd", 6, (const uint8_t *)"salt", 4, 1, dk, 64), 0);
    hex(dk, 64, h);
    assert_string_equal(h, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                           "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    /* (P="Password", S="NaCl", c=80000, dkLen=64). */
    assert_int_equal(cf_pbkdf2_sha256("Password", 8, (const uint8_t *)"NaCl", 4, 80000, dk, 64), 0);
    hex(dk, 64, h);
    assert_string_equal(h, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                           "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
    assert_int_equal(cf_pbkdf2_sha256("x", 1, salt16, 16, 0, dk, 32), CF_EINVAL);
    assert_int_equal(cf_pbkdf2_sha256("x", 1, salt16, 16, 1, dk, 0), CF_EINVAL);
}

static void test_hash_matches_known_answer(void **state)
{
    char out[CF_SECRET_ENCODED_MAX];

    (void)state;
    assert_int_equal(cf_secret_hash("correct horse", 13, salt16, 1000, out, sizeof(out)), 0);
    assert_string_equal(out, kat_encoded);
}

static void test_round_trip_and_wrong_secret(void **state)
{
    char out[CF_SECRET_ENCODED_MAX];
    uint8_t salt[CF_SECRET_SALT_LEN], hash[CF_SECRET_HASH_LEN];
    uint32_t iter = 0;
    int ok = -1;

    (void)state;
    assert_int_equal(cf_secret_hash("s3cret", 6, salt16, 1500, out, sizeof(out)), 0);
    assert_int_equal(cf_secret_parse(out, &iter, salt, hash), 0);
    assert_int_equal(iter, 1500);
    assert_memory_equal(salt, salt16, sizeof(salt));

    assert_int_equal(cf_secret_verify("s3cret", 6, out, &ok), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(cf_secret_verify("s3creT", 6, out, &ok), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(cf_secret_verify("s3cret", 5, out, &ok), 0); /* a prefix is not the secret */
    assert_int_equal(ok, 0);
    assert_int_equal(cf_secret_verify("s3cret!", 7, out, &ok), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(cf_secret_verify("correct horse", 13, kat_encoded, &ok), 0);
    assert_int_equal(ok, 1);

    /* The empty secret is a secret like any other. */
    assert_int_equal(cf_secret_hash(NULL, 0, salt16, 1000, out, sizeof(out)), 0);
    assert_int_equal(cf_secret_verify("", 0, out, &ok), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(cf_secret_verify("a", 1, out, &ok), 0);
    assert_int_equal(ok, 0);

    /* Different salts, different hashes. */
    {
        uint8_t other[CF_SECRET_SALT_LEN];
        char out2[CF_SECRET_ENCODED_MAX];

        memcpy(other, salt16, sizeof(other));
        other[15] ^= 1;
        assert_int_equal(cf_secret_hash("", 0, other, 1000, out2, sizeof(out2)), 0);
        assert_string_not_equal(out, out2);
    }
}

static void test_hash_refuses_bad_arguments(void **state)
{
    char out[CF_SECRET_ENCODED_MAX];
    char small[40];

    (void)state;
    assert_int_equal(cf_secret_hash("x", 1, salt16, 999, out, sizeof(out)), CF_EINVAL);
    assert_int_equal(cf_secret_hash("x", 1, salt16, 10000001, out, sizeof(out)), CF_EINVAL);
    assert_int_equal(cf_secret_hash("x", 1, salt16, 1000, small, sizeof(small)), CF_ETOOBIG);
    assert_string_equal(small, "");
    /* The longest encoding (the largest iteration count) fits CF_SECRET_ENCODED_MAX. */
    assert_true(strlen("pbkdf2-sha256$10000000$AAECAwQFBgcICQoLDA0ODw$"
                       "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ") < CF_SECRET_ENCODED_MAX);
    /* An exact fit works; one byte less does not. */
    assert_int_equal(cf_secret_hash("correct horse", 13, salt16, 1000, out, strlen(kat_encoded) + 1), 0);
    assert_string_equal(out, kat_encoded);
    assert_int_equal(cf_secret_hash("correct horse", 13, salt16, 1000, out, strlen(kat_encoded)),
                     CF_ETOOBIG);
    assert_string_equal(out, "");
}

static void test_parse_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "pbkdf2-sha256",
        "pbkdf2-sha1$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "PBKDF2-SHA256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$999$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$01000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$+1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$10000001$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$100000000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$1000AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        /* salt one char short / long, padded, wrong alphabet, non-zero trailing bits */
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0OD$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODwA$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0OD+$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODx$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        /* hash short, long, trailing junk, missing, trailing bits */
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumG",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQA",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ$",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ\n",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw",
        "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGR",
        " pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
    };
    uint8_t salt[CF_SECRET_SALT_LEN], hash[CF_SECRET_HASH_LEN];
    uint32_t iter;
    int ok = -1;
    size_t i;

    (void)state;
    assert_int_equal(cf_secret_parse(kat_encoded, &iter, salt, hash), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cf_secret_parse(bad[i], &iter, salt, hash), CF_EPARSE);
        ok = -1;
        assert_int_equal(cf_secret_verify("correct horse", 13, bad[i], &ok), CF_EPARSE);
        assert_int_equal(ok, 0);
    }
    assert_int_equal(cf_secret_parse(NULL, &iter, salt, hash), CF_EPARSE);
    assert_int_equal(cf_secret_parse(
                         "pbkdf2-sha256$10000000$AAECAwQFBgcICQoLDA0ODw$"
                         "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
                         &iter, salt, hash),
                     0);
    assert_int_equal(iter, 10000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pbkdf2_rfc7914_vectors),
        cmocka_unit_test(test_hash_matches_known_answer),
        cmocka_unit_test(test_round_trip_and_wrong_secret),
        cmocka_unit_test(test_hash_refuses_bad_arguments),
        cmocka_unit_test(test_parse_rejects_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
