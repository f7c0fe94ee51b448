/* SPDX-License-Identifier: MIT
 *
 * The verified-token cache: full comparison on every probe (a prefix, a
 * longer token or a collision never hits), eviction, clearing, bad sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/tokcache.h"

#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"
#define SID2 "BBBBBBBBBBBBBBBBBBBBBBBB"

static void test_put_get_exact_only(void **state)
{
    cf_tokcache_t c;
    const cf_tokcache_entry_t *e;

    (void)state;
    assert_int_equal(cf_tokcache_init(&c, 16, 42), 0);
    assert_null(cf_tokcache_get(&c, "abc.def.ghi", 11));
    assert_int_equal(cf_tokcache_put(&c, "abc.def.ghi", 11, SID, 100, 50, 0, NULL), 0);
    e = cf_tokcache_get(&c, "abc.def.ghi", 11);
    assert_non_null(e);
    assert_string_equal(e->sid, SID);
    assert_int_equal(e->exp, 100);
    assert_int_equal(e->iat, 50);
    assert_null(cf_tokcache_get(&c, "abc.def.gh", 10));   /* a prefix */
    assert_null(cf_tokcache_get(&c, "abc.def.ghiX", 12)); /* longer */
    assert_null(cf_tokcache_get(&c, "abc.def.ghj", 11));  /* one byte off */
    assert_null(cf_tokcache_get(&c, "abc.def.ghi\0", 12)); /* an embedded NUL */
    cf_tokcache_fini(&c);
}

static void test_collisions_evict_and_never_confuse(void **state)
{
    cf_tokcache_t c;
    char tok[32];

    (void)state;
    assert_int_equal(cf_tokcache_init(&c, 1, 7), 0); /* one slot: every token collides */
    assert_int_equal(cf_tokcache_put(&c, "first", 5, SID, 1, 1, 0, NULL), 0);
    assert_int_equal(cf_tokcache_put(&c, "second", 6, SID2, 2, 2, 0, NULL), 0);
    assert_null(cf_tokcache_get(&c, "first", 5));
    assert_string_equal(cf_tokcache_get(&c, "second", 6)->sid, SID2);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(tok, sizeof tok, "t%d", i);
        assert_int_equal(cf_tokcache_put(&c, tok, (size_t)n, SID, i, i, 0, NULL), 0);
    }
    assert_null(cf_tokcache_get(&c, "second", 6));
    assert_int_equal(cf_tokcache_get(&c, "t999", 4)->exp, 999);
    cf_tokcache_clear(&c);
    assert_null(cf_tokcache_get(&c, "t999", 4));
    cf_tokcache_fini(&c);
    cf_tokcache_fini(&c); /* twice is harmless */
    assert_null(cf_tokcache_get(&c, "t999", 4));
}

static void test_sizes(void **state)
{
    cf_tokcache_t c;

    (void)state;
    assert_int_equal(cf_tokcache_init(&c, 3, 1), CF_EINVAL);
    assert_int_equal(cf_tokcache_init(&c, 0, 1), 0);
    assert_int_equal(c.size, CF_TOKEN_CACHE_SIZE);
    cf_tokcache_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_exact_only),
        cmocka_unit_test(test_collisions_evict_and_never_confuse),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
