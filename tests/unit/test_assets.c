/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/assets.h"

static const unsigned char hello[] = "hello";
static const cf_asset_t table[] = {
    {"a.css", "text/css; charset=utf-8", hello, 5},
    {"index.html", "text/html; charset=utf-8", hello, 5},
};

static void test_assets_find_matches_the_exact_path_only(void **state)
{
    (void)state;
    assert_ptr_equal(cf_assets_find(table, 2, "index.html", 10), &table[1]);
    assert_ptr_equal(cf_assets_find(table, 2, "a.css", 5), &table[0]);
    /* A prefix, an extension, traversal or a doubled slash is not the file. */
    assert_null(cf_assets_find(table, 2, "index.html", 9));
    assert_null(cf_assets_find(table, 2, "index.html/", 11));
    assert_null(cf_assets_find(table, 2, "../index.html", 13));
    assert_null(cf_assets_find(table, 2, "/index.html", 11));
    assert_null(cf_assets_find(table, 2, "", 0));
    assert_null(cf_assets_find(table, 0, "a.css", 5));
}

static void test_dashboard_table_has_the_page_and_its_files(void **state)
{
    static const char *const want[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"dashboard.js", "text/javascript; charset=utf-8"},
        {"dashboard.css", "text/css; charset=utf-8"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const cf_asset_t *a = cf_assets_find(cf_assets_dashboard, cf_assets_dashboard_count, want[i][0],
                                             strlen(want[i][0]));
        assert_non_null(a);
        assert_string_equal(a->content_type, want[i][1]);
        assert_true(a->len > 100);
        assert_int_equal(a->data[a->len], 0); /* NUL-terminated after the bytes */
        assert_int_equal(strlen((const char *)a->data), a->len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_find_matches_the_exact_path_only),
        cmocka_unit_test(test_dashboard_table_has_the_page_and_its_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
