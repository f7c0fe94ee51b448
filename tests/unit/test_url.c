/* SPDX-License-Identifier: MIT
 *
 * util/url.c: the redis:// and http:// parsers the config loader, the store
 * and the webhook share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "util/url.h"

static void test_redis_defaults_and_parts(void **state)
{
    cf_redis_url_t u;
    char err[128] = "";

    (void)state;
    assert_int_equal(cf_url_parse_redis("redis://cache", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "cache");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(cf_url_parse_redis("redis://:s3cret@10.0.0.1:6380/15", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 15);
    assert_string_equal(u.password, "s3cret");
}

static void test_redis_refusals_say_why(void **state)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"rediss://h", "must start with redis://"},
        {"redis://", "missing or overlong host"},
        {"redis://h:0", "port must be 1-65535"},
        {"redis://h:65536", "port must be 1-65535"},
        {"redis://h:12x", "port must be 1-65535"},
        {"redis://h/16", "db must be 0-15"},
        {"redis://h/-1", "db must be 0-15"},
        {"redis://user@h", "credentials must be ':PASSWORD@' (at most 255 bytes)"},
    };
    cf_redis_url_t u;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(cf_url_parse_redis(bad[i].url, &u, err, sizeof err), CF_EPARSE);
        assert_string_equal(err, bad[i].why);
    }
}

static void test_http_parts(void **state)
{
    cf_http_url_t u;

    (void)state;
    assert_null(cf_url_parse_http("http://hooks.example.com", &u));
    assert_string_equal(u.host, "hooks.example.com");
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/");
    assert_null(cf_url_parse_http("http://10.1.2.3:8080/a/b?c=d", &u));
    assert_string_equal(u.host, "10.1.2.3");
    assert_string_equal(u.port, "8080");
    assert_string_equal(u.path, "/a/b?c=d");
    assert_int_equal(u.tls, 0);
    assert_null(cf_url_parse_http("https://hooks.example.com/x", &u));
    assert_string_equal(u.port, "443");
    assert_int_equal(u.tls, 1);
    assert_null(cf_url_parse_http("https://localhost:8443", &u));
    assert_string_equal(u.host, "localhost");
    assert_string_equal(u.port, "8443");
}

static void test_http_refusals(void **state)
{
    static const char *const bad[] = {
        "httpx://h/",      "http://",         "http://u:p@h/", "http://[::1]:80/",
        "http://h:0/",     "http://h:65536/", "http://h:/",    "http://h:8x/",
        "http://h/a b",    "ftp://h/",        "https://",      "https://u@h/",
        "https://h:0/",    "HTTPS//h/",
    };
    cf_http_url_t u;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_non_null(cf_url_parse_http(bad[i], &u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_defaults_and_parts),
        cmocka_unit_test(test_redis_refusals_say_why),
        cmocka_unit_test(test_http_parts),
        cmocka_unit_test(test_http_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
