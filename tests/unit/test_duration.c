/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/duration.h"
#include "core/error.h"

static cf_time_t parse_ok(const char *s)
{
    cf_time_t v = -1;
    const char *why = "unset";

    assert_int_equal(cf_duration_parse(s, strlen(s), &v, &why), 0);
    assert_null(why);
    return v;
}

/* Parse @s, expect CF_EINVAL with a message starting with @msg, *out untouched. */
static void parse_fails(const char *s, const char *msg)
{
    cf_time_t v = 12345;
    const char *why = NULL;

    assert_int_equal(cf_duration_parse(s, strlen(s), &v, &why), CF_EINVAL);
    assert_non_null(why);
    assert_true(strncmp(why, msg, strlen(msg)) == 0);
    assert_int_equal(v, 12345);
}

static void test_parse_every_unit(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("500ms"), 500);
    assert_int_equal(parse_ok("30s"), 30 * CF_SEC);
    assert_int_equal(parse_ok("15m"), 15 * CF_MIN);
    assert_int_equal(parse_ok("12h"), 12 * CF_HOUR);
    assert_int_equal(parse_ok("30d"), 30 * CF_DAY);
    assert_int_equal(parse_ok("0ms"), 0);
    assert_int_equal(parse_ok("0s"), 0);
}

static void test_parse_bare_integer_means_seconds(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("90"), 90 * CF_SEC);
    assert_int_equal(parse_ok("0"), 0);
    assert_int_equal(parse_ok("007"), 7 * CF_SEC);
}

static void test_parse_compound_largest_unit_first(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1h30m"), 90 * CF_MIN);
    assert_int_equal(parse_ok("1d12h"), 36 * CF_HOUR);
    assert_int_equal(parse_ok("1d1h1m1s1ms"), CF_DAY + CF_HOUR + CF_MIN + CF_SEC + 1);
    assert_int_equal(parse_ok("2m500ms"), 2 * CF_MIN + 500);
}

static void test_parse_reads_only_n_bytes(void **state)
{
    cf_time_t v = 0;
    const char *why;

    (void)state;
    assert_int_equal(cf_duration_parse("15mXYZ", 3, &v, &why), 0);
    assert_int_equal(v, 15 * CF_MIN);
    assert_int_equal(cf_duration_parse("15m", 2, &v, &why), 0); /* "15": bare seconds */
    assert_int_equal(v, 15 * CF_SEC);
}

static void test_parse_accepts_null_why(void **state)
{
    cf_time_t v = 0;

    (void)state;
    assert_int_equal(cf_duration_parse("1x", 2, &v, NULL), CF_EINVAL);
    assert_int_equal(cf_duration_parse("1s", 2, &v, NULL), 0);
}

static void test_parse_rejects_empty(void **state)
{
    cf_time_t v = 1;
    const char *why = NULL;

    (void)state;
    parse_fails("", "empty duration");
    assert_int_equal(cf_duration_parse(NULL, 0, &v, &why), CF_EINVAL);
    assert_string_equal(why, "empty duration");
}

static void test_parse_rejects_negative_and_signs(void **state)
{
    (void)state;
    parse_fails("-5s", "negative durations are not allowed");
    parse_fails("-0", "negative durations are not allowed");
    parse_fails("+5s", "a sign is not allowed");
}

static void test_parse_rejects_unknown_unit_with_hint(void **state)
{
    (void)state;
    parse_fails("5x", "unknown unit (use ms, s, m, h or d)");
    parse_fails("5S", "unknown unit");
    parse_fails("5sec", "unknown unit");
    parse_fails("5us", "unknown unit");
    parse_fails("2w", "unknown unit");
}

static void test_parse_rejects_missing_number_or_unit(void **state)
{
    (void)state;
    parse_fails("s", "a number is missing before the unit");
    parse_fails("h1", "a number is missing before the unit");
    parse_fails("1h30", "missing unit after the last number");
}

static void test_parse_rejects_whitespace_fractions_and_junk(void **state)
{
    (void)state;
    parse_fails(" 5s", "whitespace is not allowed");
    parse_fails("5 s", "whitespace is not allowed");
    parse_fails("5s ", "whitespace is not allowed");
    parse_fails("1.5h", "fractions are not allowed");
    parse_fails("5s!", "unexpected character");
    parse_fails("5#", "unexpected character");
}

static void test_parse_rejects_repeated_or_unordered_units(void **state)
{
    (void)state;
    parse_fails("30m1h", "units must each appear once, largest first");
    parse_fails("1h1h", "units must each appear once");
    parse_fails("1s1m", "units must each appear once");
    parse_fails("500ms1s", "units must each appear once");
}

static void test_parse_rejects_over_100_years(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("36500d"), CF_DURATION_MAX);
    parse_fails("36501d", "duration too long (at most 100 years)");
    parse_fails("36500d1ms", "duration too long");
    parse_fails("3153600001", "duration too long"); /* bare seconds */
    parse_fails("99999999999999999999999999s", "duration too long");
    parse_fails("9223372036854775807ms", "duration too long");
    assert_int_equal(parse_ok("3153600000"), CF_DURATION_MAX);
}

static void format_is(cf_time_t ms, const char *want)
{
    char buf[32];

    assert_int_equal(cf_duration_format(ms, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void test_format_shortest_exact_form(void **state)
{
    (void)state;
    format_is(0, "0s");
    format_is(1, "1ms");
    format_is(1500, "1500ms");
    format_is(30 * CF_SEC, "30s");
    format_is(900000, "15m");
    format_is(90 * CF_MIN, "90m");
    format_is(12 * CF_HOUR, "12h");
    format_is(25 * CF_HOUR, "25h");
    format_is(30 * CF_DAY, "30d");
    format_is(CF_DAY + CF_SEC, "1d1s");
    format_is(CF_DURATION_MAX, "36500d");
}

static void test_format_rejects_negative_and_small_buffer(void **state)
{
    char buf[4] = "xyz";

    (void)state;
    assert_int_equal(cf_duration_format(-1, buf, sizeof(buf)), CF_EINVAL);
    assert_int_equal(cf_duration_format(1500, buf, sizeof(buf)), CF_ETOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(cf_duration_format(15 * CF_MIN, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "15m");
    assert_int_equal(cf_duration_format(0, buf, 0), CF_ETOOBIG);
}

static void test_format_max_int64_fits_24_bytes(void **state)
{
    char buf[24];

    (void)state;
    assert_int_equal(cf_duration_format(INT64_MAX, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "9223372036854775807ms");
}

static void test_format_then_parse_round_trips(void **state)
{
    static const cf_time_t samples[] = {
        0, 1, 999, 1000, 1001, 59 * CF_SEC, 61 * CF_SEC, CF_HOUR - 1, CF_HOUR + CF_SEC,
        7 * CF_DAY, 7 * CF_DAY + 1, 86399999, CF_DURATION_MAX - 1, CF_DURATION_MAX,
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        assert_int_equal(cf_duration_format(samples[i], buf, sizeof(buf)), 0);
        assert_int_equal(parse_ok(buf), samples[i]);
    }
    for (cf_time_t ms = 0; ms < 10 * CF_DAY; ms += 7919 * 13) {
        assert_int_equal(cf_duration_format(ms, buf, sizeof(buf)), 0);
        assert_int_equal(parse_ok(buf), ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_every_unit),
        cmocka_unit_test(test_parse_bare_integer_means_seconds),
        cmocka_unit_test(test_parse_compound_largest_unit_first),
        cmocka_unit_test(test_parse_reads_only_n_bytes),
        cmocka_unit_test(test_parse_accepts_null_why),
        cmocka_unit_test(test_parse_rejects_empty),
        cmocka_unit_test(test_parse_rejects_negative_and_signs),
        cmocka_unit_test(test_parse_rejects_unknown_unit_with_hint),
        cmocka_unit_test(test_parse_rejects_missing_number_or_unit),
        cmocka_unit_test(test_parse_rejects_whitespace_fractions_and_junk),
        cmocka_unit_test(test_parse_rejects_repeated_or_unordered_units),
        cmocka_unit_test(test_parse_rejects_over_100_years),
        cmocka_unit_test(test_format_shortest_exact_form),
        cmocka_unit_test(test_format_rejects_negative_and_small_buffer),
        cmocka_unit_test(test_format_max_int64_fits_24_bytes),
        cmocka_unit_test(test_format_then_parse_round_trips),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
