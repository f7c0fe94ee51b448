/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/error.h"
#include "core/origin.h"

static void canon_is(const char *in, const char *want)
{
    char out[CF_ORIGIN_MAX];

    assert_int_equal(cf_origin_canon(in, strlen(in), out, sizeof out), 0);
    assert_string_equal(out, want);
}

static void refused(const char *in)
{
    char out[CF_ORIGIN_MAX] = "x";

    assert_int_equal(cf_origin_canon(in, strlen(in), out, sizeof out), CF_EINVAL);
    assert_string_equal(out, "");
}

static void test_case_and_default_ports_fold(void **state)
{
    (void)state;
    canon_is("https://app.example.com", "https://app.example.com");
    canon_is("HTTPS://App.Example.COM", "https://app.example.com");
    canon_is("https://app.example.com:443", "https://app.example.com");
    canon_is("http://app.example.com:80", "http://app.example.com");
    canon_is("https://app.example.com:80", "https://app.example.com:80");
    canon_is("http://app.example.com:443", "http://app.example.com:443");
    canon_is("http://127.0.0.1:8080", "http://127.0.0.1:8080");
    canon_is("http://[::1]:65535", "http://[::1]:65535");
}

static void test_what_is_not_an_origin_is_refused(void **state)
{
    static const char *const bad[] = {
        "null", "", "https://", "https://:443", "app.example.com", "ftp://app.example.com",
        "https://app.example.com/", "https://app.example.com/path", "https://app.example.com?q",
        "https://app.example.com#f", "https://user@app.example.com",
        "https://evil.com@app.example.com", "https://app.example.com:", "https://app.example.com:0",
        "https://app.example.com:0443", "https://app.example.com:65536",
        "https://app.example.com:123456", "https://app.example.com ", " https://app.example.com",
        "https://app%2eexample.com", "https://app.example.com\\@evil.com", "https://[::1",
        "https://[]", "https://app_example.com", "https://app.example.com,https://evil.com",
        "https://app.example.com\r\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i]);
}

static void test_lookalike_hosts_stay_distinct(void **state)
{
    char a[CF_ORIGIN_MAX], b[CF_ORIGIN_MAX];
    static const char *const look[] = {"https://evil.com.allowed.com", "https://allowed.com.evil.com",
                                       "http://allowed.com", "https://allowed.com:8443",
                                       "https://allowed.co"};

    (void)state;
    assert_int_equal(cf_origin_canon("https://allowed.com", 19, a, sizeof a), 0);
    for (size_t i = 0; i < sizeof look / sizeof look[0]; i++) {
        assert_int_equal(cf_origin_canon(look[i], strlen(look[i]), b, sizeof b), 0);
        assert_string_not_equal(a, b);
    }
}

static void test_output_that_does_not_fit_is_refused(void **state)
{
    char out[8] = "x";

    (void)state;
    assert_int_equal(cf_origin_canon("https://a.com", 13, out, sizeof out), CF_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(cf_origin_canon("https://a.com", 13, out, 0), CF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_and_default_ports_fold),
        cmocka_unit_test(test_what_is_not_an_origin_is_refused),
        cmocka_unit_test(test_lookalike_hosts_stay_distinct),
        cmocka_unit_test(test_output_that_does_not_fit_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
