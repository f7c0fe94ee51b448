/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"

static void test_family_writes_help_and_type_escaped(void **state)
{
    cf_prom_t p;

    (void)state;
    cf_prom_init(&p);
    cf_prom_family(&p, "x_total", "counter", "a \\ b\nc \"q\"");
    assert_false(p.oom);
    /* HELP escapes backslash and newline only; quotes stay as they are. */
    assert_string_equal(p.buf, "# HELP x_total a \\\\ b\\nc \"q\"\n# TYPE x_total counter\n");
    cf_prom_fini(&p);
}

static void test_samples_with_and_without_labels(void **state)
{
    const char *one[] = {"reason", "idle_timeout", NULL};
    const char *two[] = {"result", "deny", "reason", "logout", NULL};
    cf_prom_t p;

    (void)state;
    cf_prom_init(&p);
    cf_prom_u64(&p, "a_total", NULL, 0);
    cf_prom_u64(&p, "a_total", one, 18446744073709551615ull);
    cf_prom_u64(&p, "b_total", two, 3);
    cf_prom_double(&p, "g", NULL, 0.25);
    assert_string_equal(p.buf, "a_total 0\n"
                               "a_total{reason=\"idle_timeout\"} 18446744073709551615\n"
                               "b_total{result=\"deny\",reason=\"logout\"} 3\n"
                               "g 0.25\n");
    cf_prom_fini(&p);
}

static void test_label_values_are_escaped(void **state)
{
    const char *l[] = {"client", "a\"b\\c\nd", NULL};
    const char *empty[] = {"client", "", NULL};
    cf_prom_t p;

    (void)state;
    cf_prom_init(&p);
    cf_prom_u64(&p, "m", l, 1);
    cf_prom_u64(&p, "m", empty, 2);
    assert_string_equal(p.buf, "m{client=\"a\\\"b\\\\c\\nd\"} 1\nm{client=\"\"} 2\n");
    cf_prom_fini(&p);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    static const double bounds[] = {0.005, 0.1, 1, 10};
    const char *l[] = {"reason", "logout", NULL};
    cf_histogram_t h;
    cf_prom_t p;

    (void)state;
    cf_histogram_init(&h, bounds, 4);
    cf_histogram_observe(&h, 0.001); /* le 0.005 */
    cf_histogram_observe(&h, 0.005); /* le 0.005: the bound is inclusive */
    cf_histogram_observe(&h, 0.5);   /* le 1 */
    cf_histogram_observe(&h, 100);   /* +Inf only */
    assert_int_equal(h.count, 4);
    assert_int_equal(h.counts[0], 2);
    assert_int_equal(h.counts[1], 0);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[3], 0);
    assert_int_equal(h.counts[4], 1);
    cf_prom_init(&p);
    cf_prom_histogram(&p, "age_seconds", l, &h);
    assert_false(p.oom);
    assert_string_equal(p.buf, "age_seconds_bucket{reason=\"logout\",le=\"0.005\"} 2\n"
                               "age_seconds_bucket{reason=\"logout\",le=\"0.1\"} 2\n"
                               "age_seconds_bucket{reason=\"logout\",le=\"1\"} 3\n"
                               "age_seconds_bucket{reason=\"logout\",le=\"10\"} 3\n"
                               "age_seconds_bucket{reason=\"logout\",le=\"+Inf\"} 4\n"
                               "age_seconds_sum{reason=\"logout\"} 100.506\n"
                               "age_seconds_count{reason=\"logout\"} 4\n");
    cf_prom_fini(&p);
}

static void test_histogram_without_labels(void **state)
{
    static const double bounds[] = {1};
    cf_histogram_t h;
    cf_prom_t p;

    (void)state;
    cf_histogram_init(&h, bounds, 1);
    cf_prom_init(&p);
    cf_prom_histogram(&p, "d", NULL, &h);
    assert_string_equal(p.buf, "d_bucket{le=\"1\"} 0\nd_bucket{le=\"+Inf\"} 0\nd_sum 0\nd_count 0\n");
    cf_prom_fini(&p);
}

static void test_format_double(void **state)
{
    char b[32];

    (void)state;
    assert_string_equal(cf_prom_format_double(0, b), "0");
    assert_string_equal(cf_prom_format_double(86400, b), "86400");
    assert_string_equal(cf_prom_format_double(-3, b), "-3");
    assert_string_equal(cf_prom_format_double(0.1, b), "0.1");
    assert_string_equal(cf_prom_format_double(0.00025, b), "0.00025");
    assert_string_equal(cf_prom_format_double(5e-06, b), "5e-06");
    assert_string_equal(cf_prom_format_double(INFINITY, b), "+Inf");
    assert_string_equal(cf_prom_format_double(-INFINITY, b), "-Inf");
    assert_string_equal(cf_prom_format_double(NAN, b), "NaN");
    assert_true(strtod(cf_prom_format_double(1.0 / 3, b), NULL) == 1.0 / 3);
}

static void test_buffer_grows_past_its_first_block(void **state)
{
    cf_prom_t p;

    (void)state;
    cf_prom_init(&p);
    for (int i = 0; i < 2000; i++)
        cf_prom_u64(&p, "counter_with_a_long_name_total", NULL, (uint64_t)i);
    assert_false(p.oom);
    assert_int_equal(strlen(p.buf), p.len);
    assert_true(p.len > 4096);
    assert_memory_equal(p.buf + p.len - 36, "counter_with_a_long_name_total 1999\n", 36);
    cf_prom_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_writes_help_and_type_escaped),
        cmocka_unit_test(test_samples_with_and_without_labels),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_histogram_without_labels),
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_buffer_grows_past_its_first_block),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
