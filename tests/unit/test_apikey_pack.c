/* SPDX-License-Identifier: MIT
 *
 * The packed API key of the Redis store (store/apikey_pack.c): a key packs
 * and reads back field for field; a value that is truncated, has trailing
 * bytes, an unknown format, a number past 2^53 or a string with a NUL is
 * refused (NULL), never read half; negative and huge numbers are refused
 * when packing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "store/apikey_pack.h"

#define ID "AbCdEfGhIjKl"

static cf_apikey_t *full_key(void)
{
    uint8_t h[32];
    cf_apikey_t *k;

    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(i * 37); /* includes 0x00 and bytes >= 0x80 */
    k = cf_apikey_new(ID, h, "svc1", "ci key \xc3\xa9", "web", "reader,writer", "read write");
    assert_non_null(k);
    assert_int_equal(cf_apikey_nets_parse(k, "10.0.0.0/8,2001:db8::/32"), 0);
    k->created_at = 1764000000123;
    k->expires_at = 1766592000123;
    k->idle_expiry = 604800000;
    k->last_used = 1764000100000;
    k->overlap_until = 1764086400000;
    k->ended_at = 1764086400001;
    k->end = CF_APIKEY_END_ROTATED;
    k->warned_at = 1765000000000;
    k->quota_day = 1000000000000; /* quotas go to 10^12 */
    k->quota_month = CF_APIKEY_PACK_NUM_MAX;
    k->usage.day_start = 1763942400000;
    k->usage.day_used = 127;
    k->usage.month_start = 1761955200000;
    k->usage.month_used = 128;
    memcpy(k->successor, "ZyXwVuTsRqPo", 13);
    memcpy(k->predecessor, "MnOpQrStUvWx", 13);
    return k;
}

static void assert_same(const cf_apikey_t *a, const cf_apikey_t *b)
{
    char na[CF_APIKEY_NETS_STRLEN], nb[CF_APIKEY_NETS_STRLEN];

    assert_string_equal(a->id, b->id);
    assert_memory_equal(a->hash, b->hash, 32);
    assert_string_equal(a->sub, b->sub);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->client_id, b->client_id);
    assert_string_equal(a->roles, b->roles);
    assert_string_equal(a->scope, b->scope);
    cf_apikey_nets_format(a, na, sizeof na);
    cf_apikey_nets_format(b, nb, sizeof nb);
    assert_string_equal(na, nb);
    assert_string_equal(a->successor, b->successor);
    assert_string_equal(a->predecessor, b->predecessor);
    assert_int_equal(a->end, b->end);
    assert_int_equal(a->created_at, b->created_at);
    assert_int_equal(a->expires_at, b->expires_at);
    assert_int_equal(a->idle_expiry, b->idle_expiry);
    assert_int_equal(a->last_used, b->last_used);
    assert_int_equal(a->overlap_until, b->overlap_until);
    assert_int_equal(a->ended_at, b->ended_at);
    assert_int_equal(a->warned_at, b->warned_at);
    assert_int_equal(a->quota_day, b->quota_day);
    assert_int_equal(a->quota_month, b->quota_month);
    assert_int_equal(a->usage.day_start, b->usage.day_start);
    assert_int_equal(a->usage.day_used, b->usage.day_used);
    assert_int_equal(a->usage.month_start, b->usage.month_start);
    assert_int_equal(a->usage.month_used, b->usage.month_used);
}

static void test_round_trip_every_field(void **state)
{
    uint8_t buf[1024];
    cf_apikey_t *k = full_key(), *back;
    int n;

    (void)state;
    n = cf_apikey_pack(k, buf, sizeof buf);
    assert_true(n > 34);
    assert_int_equal(buf[0], CF_APIKEY_PACK_V1);
    back = cf_apikey_unpack(ID, "svc1", buf, (size_t)n);
    assert_non_null(back);
    assert_same(k, back);
    cf_apikey_free(back);
    cf_apikey_free(k);
}

/* A fresh key with only what every key has: small, and read back with zeros and "". */
static void test_plain_key_is_small(void **state)
{
    uint8_t h[32] = {0}, buf[256];
    cf_apikey_t *k = cf_apikey_new(ID, h, "svc1", "key12345", "web", "reader,writer", "read write");
    cf_apikey_t *back;
    int n;

    (void)state;
    k->created_at = 1764000000123;
    k->expires_at = 1766592000123;
    k->idle_expiry = 604800000;
    n = cf_apikey_pack(k, buf, sizeof buf);
    /* 1 + 32 + a one-byte mask + 3 times (6, 6, 5) + 4 strings with their lengths (9 4 14 11) */
    assert_int_equal(n, 1 + 32 + 1 + 17 + 38);
    back = cf_apikey_unpack(ID, "svc1", buf, (size_t)n);
    assert_non_null(back);
    assert_same(k, back);
    assert_int_equal(back->end, CF_APIKEY_END_NONE);
    assert_int_equal(back->nnets, 0);
    assert_string_equal(back->successor, "");
    cf_apikey_free(back);
    cf_apikey_free(k);
}

/* Every truncation of a valid value, and any trailing byte, is refused. */
static void test_truncated_and_trailing_refused(void **state)
{
    uint8_t buf[1024];
    cf_apikey_t *k = full_key(), *back;
    int n;

    (void)state;
    n = cf_apikey_pack(k, buf, sizeof buf);
    for (int len = 0; len < n; len++)
        assert_null(cf_apikey_unpack(ID, "svc1", buf, (size_t)len));
    buf[n] = 0;
    assert_null(cf_apikey_unpack(ID, "svc1", buf, (size_t)n + 1));
    back = cf_apikey_unpack(ID, "svc1", buf, (size_t)n);
    assert_non_null(back);
    cf_apikey_free(back);
    cf_apikey_free(k);
}

static void test_corrupted_values_refused(void **state)
{
    uint8_t buf[1024], bad[1024];
    cf_apikey_t *k = full_key();
    int n;

    (void)state;
    n = cf_apikey_pack(k, buf, sizeof buf);
    /* unknown format byte */
    memcpy(bad, buf, (size_t)n);
    bad[0] = 2;
    assert_null(cf_apikey_unpack(ID, "svc1", bad, (size_t)n));
    /* a mask naming a field past the last */
    uint8_t m[48] = {1};
    memset(m + 1, 0xab, 32);
    m[33] = 0x80, m[34] = 0x80, m[35] = 0x80, m[36] = 0x01; /* bit 21 */
    assert_null(cf_apikey_unpack(ID, "svc1", m, 37));
    /* a number of 2^53 (one past the largest), as 8 varint bytes */
    m[33] = 0x01;                                            /* mask: created_at */
    memcpy(m + 34, "\x80\x80\x80\x80\x80\x80\x80\x10", 8);  /* 2^53 */
    assert_null(cf_apikey_unpack(ID, "svc1", m, 42));
    memcpy(m + 34, "\xff\xff\xff\xff\xff\xff\xff\x0f", 8);  /* 2^53 - 1: fine */
    cf_apikey_t *ok = cf_apikey_unpack(ID, "svc1", m, 42);
    assert_non_null(ok);
    assert_int_equal(ok->created_at, CF_APIKEY_PACK_NUM_MAX);
    cf_apikey_free(ok);
    /* a varint that never ends within 8 bytes */
    memcpy(m + 34, "\xff\xff\xff\xff\xff\xff\xff\xff\x01", 9);
    assert_null(cf_apikey_unpack(ID, "svc1", m, 43));
    /* a string holding a NUL, an empty string marked present, a length past the end */
    uint8_t s[40] = {1};
    s[33] = 0x08; /* mask bit 3: the name */
    memcpy(s + 34, "\x03" "a\0b", 4);
    assert_null(cf_apikey_unpack(ID, "svc1", s, 38));
    memcpy(s + 34, "\x03" "abc", 4);
    ok = cf_apikey_unpack(ID, "svc1", s, 38);
    assert_non_null(ok);
    assert_string_equal(ok->name, "abc");
    cf_apikey_free(ok);
    s[34] = 0;
    assert_null(cf_apikey_unpack(ID, "svc1", s, 35));
    s[34] = 0x7f;
    assert_null(cf_apikey_unpack(ID, "svc1", s, 38));
    /* a successor that is not an id; an unknown end reads as revoked */
    cf_apikey_t *odd = full_key();
    memcpy(odd->successor, "short", 6);
    n = cf_apikey_pack(odd, buf, sizeof buf);
    assert_null(cf_apikey_unpack(ID, "svc1", buf, (size_t)n));
    /* a bad id or owner */
    n = cf_apikey_pack(k, buf, sizeof buf);
    assert_null(cf_apikey_unpack("short", "svc1", buf, (size_t)n));
    assert_null(cf_apikey_unpack(ID, "", buf, (size_t)n));
    cf_apikey_free(odd);
    cf_apikey_free(k);
}

static void test_unknown_end_reads_as_revoked(void **state)
{
    uint8_t v[64] = {1};
    cf_apikey_t *k;

    (void)state;
    v[33] = 0x80, v[34] = 0x80, v[35] = 0x40; /* mask bit 20: the end */
    memcpy(v + 36, "\x0b" "key_unknown", 12);
    k = cf_apikey_unpack(ID, "svc1", v, 48);
    assert_non_null(k);
    assert_int_equal(k->end, CF_APIKEY_END_REVOKED);
    cf_apikey_free(k);
}

static void test_negative_and_huge_numbers_not_packed(void **state)
{
    uint8_t buf[1024];
    cf_apikey_t *k = full_key();

    (void)state;
    k->usage.day_used = -1;
    assert_int_equal(cf_apikey_pack(k, buf, sizeof buf), CF_EINVAL);
    k->usage.day_used = CF_APIKEY_PACK_NUM_MAX + 1;
    assert_int_equal(cf_apikey_pack(k, buf, sizeof buf), CF_EINVAL);
    k->usage.day_used = INT64_MAX;
    assert_int_equal(cf_apikey_pack(k, buf, sizeof buf), CF_EINVAL);
    k->usage.day_used = 5;
    assert_int_equal(cf_apikey_pack(k, buf, 40), CF_ETOOBIG);
    assert_true(cf_apikey_pack(k, buf, sizeof buf) > 40);
    cf_apikey_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_field),
        cmocka_unit_test(test_plain_key_is_small),
        cmocka_unit_test(test_truncated_and_trailing_refused),
        cmocka_unit_test(test_corrupted_values_refused),
        cmocka_unit_test(test_unknown_end_reads_as_revoked),
        cmocka_unit_test(test_negative_and_huge_numbers_not_packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
