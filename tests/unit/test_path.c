/* SPDX-License-Identifier: MIT
 *
 * Path normalization for route matching (core/path.c), written as an
 * attacker's list: every spelling of /admin a backend would serve as /admin
 * must come out as /admin, and every spelling that servers disagree on must
 * be refused. Plus the route match itself on normalized paths, so that
 * `/public/../admin/users` cannot reach an anonymous route.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/path.h"
#include "core/policy.h"

/* Normalize @in; returns the result (static buffer) or NULL when refused. */
static const char *norm(const char *in)
{
    static char out[9000];
    size_t n = strlen(in), len = 12345;

    assert_true(n + 2 <= sizeof out);
    memset(out, 'X', sizeof out);
    int rc = cf_path_normalize(in, n, out, &len);
    if (rc < 0) {
        assert_int_equal(rc, CF_EINVAL);
        return NULL;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(out));
    assert_true(len <= n + 1);
    return out;
}

#define NORM(in, want) assert_string_equal(norm(in), want)
#define REFUSED(in) assert_null(norm(in))

static void test_plain_paths_are_unchanged(void **state)
{
    (void)state;
    NORM("/", "/");
    NORM("/admin/users", "/admin/users");
    NORM("/admin/users/", "/admin/users/");
    NORM("/a-b_c.d~e/f", "/a-b_c.d~e/f");
    NORM("/...", "/..."); /* three dots are a name */
    NORM("/.hidden/..x", "/.hidden/..x");
}

static void test_unreserved_escapes_are_decoded(void **state)
{
    (void)state;
    NORM("/%61dmin/users", "/admin/users");
    NORM("/%41DMIN", "/ADMIN");
    NORM("/%69nternal/secret", "/internal/secret");
    NORM("/%61%64%6d%69%6E/users", "/admin/users");
    NORM("/a%2Db%5fc%7E%30", "/a-b_c~0");
}

static void test_other_escapes_keep_upper_case_hex(void **state)
{
    (void)state;
    NORM("/a%20b", "/a%20b");
    NORM("/a%3fb%3Bc", "/a%3Fb%3Bc");
    NORM("/caf%c3%a9", "/caf%C3%A9");
    NORM("/p%25", "/p%25");
}

static void test_double_encoding_is_decoded_once(void **state)
{
    (void)state;
    NORM("/%2561dmin/users", "/%2561dmin/users");
    NORM("/public/%252e%252e/admin", "/public/%252e%252e/admin"); /* "2e" is data */
    NORM("/%252F", "/%252F");
}

static void test_dot_segments_are_removed(void **state)
{
    (void)state;
    NORM("/public/../admin/users", "/admin/users");
    NORM("/x/../admin/users", "/admin/users");
    NORM("/api/7/./delete", "/api/7/delete");
    NORM("/./admin", "/admin");
    NORM("/admin/.", "/admin/");
    NORM("/admin/x/..", "/admin/");
    NORM("/a/b/c/../../d", "/a/d");
    NORM("/public/%2e%2e/admin", "/admin");
    NORM("/public/%2E%2e/admin", "/admin");
    NORM("/public/.%2e/admin", "/admin");
    NORM("/public/%2e/admin", "/public/admin");
    NORM("/..x/../admin", "/admin");
}

static void test_empty_segments_are_merged(void **state)
{
    (void)state;
    NORM("//admin/users", "/admin/users");
    NORM("/api/7//delete", "/api/7/delete");
    NORM("///", "/");
    NORM("/admin//", "/admin/");
    /* Merged before dots, as nginx and Python do: `..` takes `public`. */
    NORM("/public//../admin", "/admin");
}

static void test_parameters_are_cut_from_segments(void **state)
{
    (void)state;
    NORM("/admin;jsessionid=1/users", "/admin/users");
    NORM("/public;x", "/public");
    NORM("/api/7/delete;x=1", "/api/7/delete");
    NORM("/;x/admin", "/admin");
    NORM("/admin/;x", "/admin/");
    NORM("/public;/../admin", "/admin");
    NORM("/a%3Bb", "/a%3Bb"); /* an encoded `;` is data */
}

static void test_query_fragment_and_absolute_form(void **state)
{
    (void)state;
    NORM("/admin/users?x=/../public", "/admin/users");
    NORM("/admin#/../public", "/admin");
    NORM("/public?%2F", "/public");
    NORM("", "/");
    NORM("?x", "/");
    NORM("http://h.example/admin/../x", "/x");
    NORM("HTTPS://h.example:8443", "/");
    NORM("http://h.example?/admin", "/");
}

static void test_ambiguous_paths_are_refused(void **state)
{
    (void)state;
    REFUSED("/admin%2fusers");
    REFUSED("/admin%2Fusers");
    REFUSED("/public/..%2fadmin");
    REFUSED("/public/..%2Fadmin");
    REFUSED("/a%5cb");
    REFUSED("/a\\b");
    REFUSED("/public\\..\\admin");
    REFUSED("/a%00b");
    REFUSED("/..");
    REFUSED("/../admin");
    REFUSED("/public/../..");
    REFUSED("/public/../../admin");
    REFUSED("/%2e%2e/admin");
    REFUSED("/public/..;/admin");
    REFUSED("/public/..;x=1/admin");
    REFUSED("/.;/admin");
    REFUSED("/a%");
    REFUSED("/a%4");
    REFUSED("/a%zz");
    REFUSED("/a%%41");
    REFUSED("/a b");
    REFUSED("/a\tb");
    REFUSED("/a\x7f");
    REFUSED("*");
    REFUSED("admin/users");
    REFUSED("http:/admin");
    REFUSED("1http://x/a");
}

static void test_nul_byte_in_the_middle_is_refused(void **state)
{
    char out[16];
    size_t len;

    (void)state;
    assert_int_equal(cf_path_normalize("/a\0b", 4, out, &len), CF_EINVAL);
    assert_int_equal(cf_path_normalize(NULL, 0, out, &len), 0);
    assert_string_equal(out, "/");
}

static void test_normalizing_twice_changes_nothing(void **state)
{
    static const char *const in[] = {"/%61dmin//x/./y/../z/", "/a%2561", "/a%c3%a9;p", "/x/.."};

    (void)state;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char once[64];
        strcpy(once, norm(in[i]));
        NORM(once, once);
    }
}

static void test_very_long_paths(void **state)
{
    char *in = malloc(8193);
    char *want = malloc(8193);

    (void)state;
    assert_non_null(in);
    assert_non_null(want);
    /* 2048 x "/a", then 2048 x "/.": the dots go, a trailing slash stays. */
    for (int i = 0; i < 2048; i++)
        memcpy(in + 2 * i, "/a", 2);
    for (int i = 0; i < 2048; i++)
        memcpy(in + 4096 + 2 * i, "/.", 2);
    in[8192] = '\0';
    memcpy(want, in, 4096);
    want[4096] = '/';
    want[4097] = '\0';
    NORM(in, want);
    for (int i = 0; i < 1365; i++)
        memcpy(in + 4096 + 3 * i, "/..", 3);
    in[4096 + 3 * 1365] = '\0';
    /* 2048 segments, 1365 removed. */
    memcpy(want, in, 2 * (2048 - 1365));
    strcpy(want + 2 * (2048 - 1365), "/");
    NORM(in, want);
    for (int i = 0; i < 2730; i++)
        memcpy(in + 3 * i, "/..", 3);
    in[3 * 2730] = '\0';
    REFUSED(in);
    free(in);
    free(want);
}

/* ---- route matching on normalized paths --------------------------------- */

static cf_route_t route(cf_path_kind_t kind, const char *path)
{
    cf_route_t r;

    memset(&r, 0, sizeof r);
    r.path_kind = kind;
    r.path = (char *)path;
    r.path_len = strlen(path);
    return r;
}

/* Index of the route the normalized @raw matches, -1 none, -2 refused. */
static int match(const cf_policy_t *p, const char *raw)
{
    const char *n = norm(raw);
    size_t index = 99;

    if (n == NULL)
        return -2;
    return cf_policy_match(p, NULL, 0, "GET", 3, n, strlen(n), &index) != NULL ? (int)index : -1;
}

static void test_attacks_do_not_escape_their_route(void **state)
{
    cf_route_t routes[4];
    cf_policy_t p;

    (void)state;
    routes[0] = route(CF_PATH_PREFIX, "/admin/");
    routes[1] = route(CF_PATH_PREFIX, "/internal/");
    routes[2] = route(CF_PATH_GLOB, "/api/*/delete");
    routes[3] = route(CF_PATH_PREFIX, "/public/");
    memset(&p, 0, sizeof p);
    p.routes = routes;
    p.nroutes = 4;

    assert_int_equal(match(&p, "/public/../admin/users"), 0);
    assert_int_equal(match(&p, "/%61dmin/users"), 0);
    assert_int_equal(match(&p, "/x/../admin/users"), 0);
    assert_int_equal(match(&p, "//admin/users"), 0);
    assert_int_equal(match(&p, "/public/%2e%2e/admin/users"), 0);
    assert_int_equal(match(&p, "/admin;x/users"), 0);
    assert_int_equal(match(&p, "/public;/../admin/users"), 0);
    assert_int_equal(match(&p, "/%69nternal/secret"), 1);
    assert_int_equal(match(&p, "/api/7//delete"), 2);
    assert_int_equal(match(&p, "/api/7/./delete"), 2);
    assert_int_equal(match(&p, "/api/7/delete;x"), 2);
    assert_int_equal(match(&p, "/api/%37/delete"), 2);
    assert_int_equal(match(&p, "/public/x"), 3);
    /* Refused rather than guessed. */
    assert_int_equal(match(&p, "/admin%2fusers"), -2);
    assert_int_equal(match(&p, "/public/..%2fadmin"), -2);
    assert_int_equal(match(&p, "/public/..;/admin/users"), -2);
    assert_int_equal(match(&p, "/public/../../admin"), -2);
    /* Case-sensitive (RFC 3986 §6.2.2.1): /ADMIN is another path, and a
     * backend that folds case must be given case-folded rules. */
    assert_int_equal(match(&p, "/ADMIN/users"), -1);
    /* Decoded once: /%2561dmin is the file "%61dmin" to a backend too. */
    assert_int_equal(match(&p, "/%2561dmin/users"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_paths_are_unchanged),
        cmocka_unit_test(test_unreserved_escapes_are_decoded),
        cmocka_unit_test(test_other_escapes_keep_upper_case_hex),
        cmocka_unit_test(test_double_encoding_is_decoded_once),
        cmocka_unit_test(test_dot_segments_are_removed),
        cmocka_unit_test(test_empty_segments_are_merged),
        cmocka_unit_test(test_parameters_are_cut_from_segments),
        cmocka_unit_test(test_query_fragment_and_absolute_form),
        cmocka_unit_test(test_ambiguous_paths_are_refused),
        cmocka_unit_test(test_nul_byte_in_the_middle_is_refused),
        cmocka_unit_test(test_normalizing_twice_changes_nothing),
        cmocka_unit_test(test_very_long_paths),
        cmocka_unit_test(test_attacks_do_not_escape_their_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
