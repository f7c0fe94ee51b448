/* SPDX-License-Identifier: MIT
 *
 * core/jsonw.c against jansson, which wrote these documents before: every
 * string it writes must be byte-identical to json_dumps(JSON_COMPACT), and it
 * must refuse exactly the strings json_string() refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "core/jsonw.h"

/* What jansson writes for @s as a JSON string; NULL when it refuses it. */
static char *jansson_str(const char *s)
{
    json_t *v = json_string(s);
    char *out;

    if (v == NULL)
        return NULL;
    out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return out;
}

/* jsonw and jansson agree on @s: the same bytes, or both refuse. */
static void agree(const char *s)
{
    char buf[4096];
    cf_jsonw_t w;
    char *want = jansson_str(s);

    cf_jsonw_init(&w, buf, sizeof buf);
    cf_jsonw_str(&w, s);
    if (want == NULL) {
        assert_int_equal(w.err, CF_EINVAL);
        return;
    }
    assert_int_equal(w.err, 0);
    assert_string_equal(buf, want);
    assert_true(w.len <= cf_jsonw_str_max(strlen(s)));
    free(want);
}

static void test_every_single_byte_agrees_with_jansson(void **state)
{
    char s[2] = {0};

    (void)state;
    for (int c = 1; c < 256; c++) {
        s[0] = (char)c;
        agree(s);
    }
}

static void test_hostile_strings_agree_with_jansson(void **state)
{
    static const char *const cases[] = {
        "",
        "plain",
        "a\"b",                        /* a quote would end the string early */
        "\",\"sub\":\"admin",          /* injection of a member */
        "\\",                          /* a lone backslash */
        "\\u0000",                     /* an escape written as text */
        "line\nbreak\r\ttab\b\f",
        "\x01\x1f\x7f",                /* control characters and DEL */
        "a/b</script>",                /* '/' is not escaped, as jansson */
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* 2, 3 and 4-byte UTF-8 */
        "\xe2\x80\xa8\xe2\x80\xa9",    /* U+2028, U+2029 */
        "\xc0\xaf",                    /* overlong '/' */
        "\xe0\x80\xaf",                /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf",            /* overlong, 4 bytes */
        "\xed\xa0\x80",                /* a surrogate */
        "\xf4\x90\x80\x80",            /* past U+10FFFF */
        "\xf5\x80\x80\x80",
        "\x80",                        /* a stray continuation byte */
        "abc\xc3",                     /* truncated at the end */
        "\xe2\x82",
        "\xc3\x28",                    /* a bad continuation */
        "\xff\xfe",
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        agree(cases[i]);
}

static void test_random_strings_agree_with_jansson(void **state)
{
    char s[64];
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand_r(&seed) % 12);
        for (size_t i = 0; i < n; i++) {
            int r = rand_r(&seed);
            /* Mostly bytes that matter: controls, quotes, lead and continuation bytes. */
            static const char pick[] = "\x01\n\"\\a\x7f\xc2\xc3\xe2\xed\xf0\xf4\x80\xa8\xbf\x9f";
            s[i] = (r & 1) ? pick[(r >> 1) % (sizeof pick - 1)] : (char)(1 + (r >> 1) % 255);
        }
        s[n] = '\0';
        agree(s);
    }
}

static void test_integers_are_decimal_at_the_limits(void **state)
{
    static const int64_t v[] = {0, 1, -1, 9, 10, 1700000000, INT64_MAX, INT64_MIN};
    char buf[64], want[32];
    cf_jsonw_t w;

    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        cf_jsonw_init(&w, buf, sizeof buf);
        cf_jsonw_int(&w, v[i]);
        snprintf(want, sizeof want, "%lld", (long long)v[i]);
        assert_int_equal(w.err, 0);
        assert_string_equal(buf, want);
    }
}

static void test_a_short_buffer_fails_without_writing_past_it(void **state)
{
    char buf[16];
    cf_jsonw_t w;

    (void)state;
    memset(buf, 'x', sizeof buf);
    cf_jsonw_init(&w, buf, 8);
    cf_jsonw_str(&w, "abcdefghij");
    assert_int_equal(w.err, CF_ETOOBIG);
    assert_true(w.len < 8);
    for (size_t i = 8; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'x');
    cf_jsonw_raw(&w, "a", 1); /* stays failed */
    assert_int_equal(w.err, CF_ETOOBIG);
    cf_jsonw_init(&w, buf, 0);
    assert_int_equal(w.err, CF_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_single_byte_agrees_with_jansson),
        cmocka_unit_test(test_hostile_strings_agree_with_jansson),
        cmocka_unit_test(test_random_strings_agree_with_jansson),
        cmocka_unit_test(test_integers_are_decimal_at_the_limits),
        cmocka_unit_test(test_a_short_buffer_fails_without_writing_past_it),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
