/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/b64url.h"
#include "core/error.h"

static int decode_str(const char *s, uint8_t *out, size_t cap, size_t *outlen)
{
    return cf_b64url_decode(s, strlen(s), out, cap, outlen);
}

/* RFC 4648 section 10, with the padding removed (RFC 7515 section 2). */
static const struct {
    const char *plain, *enc;
} rfc4648[] = {
    {"", ""},           {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_encode_rfc4648_vectors_without_padding(void **state)
{
    char out[16];

    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        size_t n = strlen(rfc4648[i].plain);
        assert_int_equal(cf_b64url_encode((const uint8_t *)rfc4648[i].plain, n, out),
                         strlen(rfc4648[i].enc));
        assert_string_equal(out, rfc4648[i].enc);
        assert_int_equal(cf_b64url_encoded_len(n), strlen(rfc4648[i].enc));
    }
}

static void test_decode_rfc4648_vectors_without_padding(void **state)
{
    uint8_t out[16];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        assert_int_equal(decode_str(rfc4648[i].enc, out, sizeof(out), &n), 0);
        assert_int_equal(n, strlen(rfc4648[i].plain));
        assert_memory_equal(out, rfc4648[i].plain, n);
    }
}

static void test_url_alphabet_uses_dash_and_underscore(void **state)
{
    static const uint8_t in[] = {0xfb, 0xff, 0xfe, 0xff, 0xff};
    uint8_t back[8];
    char out[16];
    size_t n;

    (void)state;
    /* Standard base64 would be "+//+//8=". */
    cf_b64url_encode(in, sizeof(in), out);
    assert_string_equal(out, "-__-__8");
    assert_int_equal(decode_str("-__-__8", back, sizeof(back), &n), 0);
    assert_int_equal(n, sizeof(in));
    assert_memory_equal(back, in, sizeof(in));
}

static void test_round_trip_every_length_up_to_100(void **state)
{
    uint8_t in[100], back[100];
    char enc[140];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(in); len++) {
        size_t elen = cf_b64url_encode(in, len, enc);
        assert_int_equal(elen, cf_b64url_encoded_len(len));
        assert_int_equal(strlen(enc), elen);
        assert_int_equal(cf_b64url_decoded_maxlen(elen), len);
        assert_int_equal(cf_b64url_decode(enc, elen, back, len, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(back, in, len);
    }
}

static void test_decode_rejects_padding(void **state)
{
    uint8_t out[16];
    size_t n = 99;

    (void)state;
    assert_int_equal(decode_str("Zg==", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(n, 0);
    assert_int_equal(decode_str("Zm8=", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("=", out, sizeof(out), &n), CF_EPARSE);
}

static void test_decode_rejects_standard_alphabet(void **state)
{
    uint8_t out[16];
    size_t n;

    (void)state;
    assert_int_equal(decode_str("+__-", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("-_/-", out, sizeof(out), &n), CF_EPARSE);
}

static void test_decode_rejects_whitespace_anywhere(void **state)
{
    uint8_t out[16];
    size_t n;

    (void)state;
    assert_int_equal(decode_str(" Zm9v", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm 9v", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9v\n", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9\tv", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9v\r\n", out, sizeof(out), &n), CF_EPARSE);
}

static void test_decode_rejects_nul_and_non_ascii(void **state)
{
    uint8_t out[16];
    size_t n;

    (void)state;
    assert_int_equal(cf_b64url_decode("Zm\0v", 4, out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9\xc3", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm.v", out, sizeof(out), &n), CF_EPARSE);
}

static void test_decode_rejects_length_one_mod_four(void **state)
{
    uint8_t out[16];
    size_t n;

    (void)state;
    assert_int_equal(decode_str("Z", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9vY", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9vYmFyZ", out, sizeof(out), &n), CF_EPARSE);
}

static void test_decode_rejects_nonzero_trailing_bits(void **state)
{
    uint8_t out[16];
    size_t n;

    (void)state;
    /* "f" is "Zg"; "Zh".."Zv" differ only in the 4 unused bits. */
    assert_int_equal(decode_str("Zg", out, sizeof(out), &n), 0);
    assert_int_equal(decode_str("Zh", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zv", out, sizeof(out), &n), CF_EPARSE);
    /* "fo" is "Zm8"; "Zm9" sets one of the 2 unused bits. */
    assert_int_equal(decode_str("Zm8", out, sizeof(out), &n), 0);
    assert_int_equal(decode_str("Zm9", out, sizeof(out), &n), CF_EPARSE);
    assert_int_equal(decode_str("Zm9vZm9", out, sizeof(out), &n), CF_EPARSE);
}

static void test_decode_reports_too_big_for_small_buffer(void **state)
{
    uint8_t out[8];
    size_t n = 99;

    (void)state;
    assert_int_equal(decode_str("Zm9vYmFy", out, 5, &n), CF_ETOOBIG);
    assert_int_equal(n, 0);
    assert_int_equal(decode_str("Zm9vYmFy", out, 6, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(decode_str("Zg", out, 0, &n), CF_ETOOBIG);
    assert_int_equal(decode_str("", NULL, 0, &n), 0);
    assert_int_equal(n, 0);
}

static void test_decode_reports_garbage_before_size(void **state)
{
    uint8_t out[1];
    size_t n;

    (void)state;
    assert_int_equal(decode_str("Zm9v+mFy", out, sizeof(out), &n), CF_EPARSE);
}

static void test_length_helpers(void **state)
{
    (void)state;
    assert_int_equal(cf_b64url_encoded_len(0), 0);
    assert_int_equal(cf_b64url_encoded_len(1), 2);
    assert_int_equal(cf_b64url_encoded_len(2), 3);
    assert_int_equal(cf_b64url_encoded_len(3), 4);
    assert_int_equal(cf_b64url_encoded_len(32), 43);
    assert_int_equal(cf_b64url_encoded_len(64), 86);
    assert_int_equal(cf_b64url_decoded_maxlen(43), 32);
    assert_int_equal(cf_b64url_decoded_maxlen(86), 64);
    assert_int_equal(cf_b64url_decoded_maxlen(5), 3); /* invalid length: still an upper bound */
}

static void test_standard_base64_for_http_basic(void **state)
{
    uint8_t out[32];
    size_t n = 0;

    (void)state;
    /* RFC 4648 §10 vectors with the standard alphabet and padding. */
    assert_int_equal(cf_b64std_decode("Zm9vYmFy", 8, out, sizeof out, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(cf_b64std_decode("Zm9vYg==", 8, out, sizeof out, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(cf_b64std_decode("+/+/", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 0xfb);
    /* Rejections: url alphabet, padding in the middle, bad length, too small a buffer. */
    assert_int_equal(cf_b64std_decode("-_-_", 4, out, sizeof out, &n), CF_EPARSE);
    assert_int_equal(cf_b64std_decode("Zg==Zg==", 8, out, sizeof out, &n), CF_EPARSE);
    assert_int_equal(cf_b64std_decode("Zm9", 3, out, sizeof out, &n), CF_EPARSE);
    assert_int_equal(cf_b64std_decode("Zm9vYmFy", 8, out, 5, &n), CF_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_base64_for_http_basic),
        cmocka_unit_test(test_encode_rfc4648_vectors_without_padding),
        cmocka_unit_test(test_decode_rfc4648_vectors_without_padding),
        cmocka_unit_test(test_url_alphabet_uses_dash_and_underscore),
        cmocka_unit_test(test_round_trip_every_length_up_to_100),
        cmocka_unit_test(test_decode_rejects_padding),
        cmocka_unit_test(test_decode_rejects_standard_alphabet),
        cmocka_unit_test(test_decode_rejects_whitespace_anywhere),
        cmocka_unit_test(test_decode_rejects_nul_and_non_ascii),
        cmocka_unit_test(test_decode_rejects_length_one_mod_four),
        cmocka_unit_test(test_decode_rejects_nonzero_trailing_bits),
        cmocka_unit_test(test_decode_reports_too_big_for_small_buffer),
        cmocka_unit_test(test_decode_reports_garbage_before_size),
        cmocka_unit_test(test_length_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
