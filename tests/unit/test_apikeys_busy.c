/* SPDX-License-Identifier: MIT
 *
 * API keys with changes in flight (app/apikeys_busy.c): a decision waiting
 * for a key runs once that key's last change is answered, one waiting for
 * every key once none is in flight, in the order they came; a waiter that
 * holds again makes the next ones wait for that change too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "app/apikeys_busy.h"

static char g_ran[16];
static size_t g_nran;
static cf_apikeys_busy_t *g_b;

static void ran(struct cf_app *app, void *arg)
{
    (void)app;
    g_ran[g_nran++] = *(const char *)arg;
}

/* 'H' holds key A again when it runs. */
static void ran_and_hold(struct cf_app *app, void *arg)
{
    ran(app, arg);
    assert_int_equal(cf_apikeys_busy_hold(g_b, "AAAAAAAAAAAA"), 0);
}

static void test_waiters_run_when_their_key_is_free_in_order(void **state)
{
    cf_apikeys_busy_t b = {0};
    const char *A = "AAAAAAAAAAAA", *B = "BBBBBBBBBBBB";

    (void)state;
    g_nran = 0;
    assert_false(cf_apikeys_busy_held(&b, NULL));
    assert_int_equal(cf_apikeys_busy_hold(&b, A), 0);
    assert_int_equal(cf_apikeys_busy_hold(&b, A), 0);
    assert_int_equal(cf_apikeys_busy_hold(&b, B), 0);
    assert_true(cf_apikeys_busy_held(&b, A) && cf_apikeys_busy_held(&b, NULL));
    assert_false(cf_apikeys_busy_held(&b, "CCCCCCCCCCCC"));
    assert_int_equal(cf_apikeys_busy_wait(&b, A, ran, "1"), 0);
    assert_int_equal(cf_apikeys_busy_wait(&b, NULL, ran, "*"), 0);
    assert_int_equal(cf_apikeys_busy_wait(&b, A, ran, "2"), 0);
    cf_apikeys_busy_release(&b, NULL, A); /* A still has one in flight */
    assert_int_equal(g_nran, 0);
    cf_apikeys_busy_release(&b, NULL, A);
    assert_int_equal(g_nran, 2);
    assert_memory_equal(g_ran, "12", 2); /* B still busy: the all-waiter waits */
    cf_apikeys_busy_release(&b, NULL, "ZZZZZZZZZZZZ"); /* unknown: ignored */
    cf_apikeys_busy_release(&b, NULL, B);
    assert_int_equal(g_nran, 3);
    assert_int_equal(g_ran[2], '*');
    assert_false(cf_apikeys_busy_held(&b, NULL));
    cf_apikeys_busy_fini(&b);
}

static void test_a_waiter_that_holds_again_keeps_the_next_waiting(void **state)
{
    cf_apikeys_busy_t b = {0};
    const char *A = "AAAAAAAAAAAA";

    (void)state;
    g_nran = 0;
    g_b = &b;
    assert_int_equal(cf_apikeys_busy_hold(&b, A), 0);
    assert_int_equal(cf_apikeys_busy_wait(&b, A, ran_and_hold, "H"), 0);
    assert_int_equal(cf_apikeys_busy_wait(&b, A, ran, "2"), 0);
    assert_int_equal(cf_apikeys_busy_wait(&b, NULL, ran, "*"), 0);
    cf_apikeys_busy_release(&b, NULL, A);
    assert_int_equal(g_nran, 1); /* H holds A: "2" and "*" wait for that change */
    cf_apikeys_busy_release(&b, NULL, A);
    assert_int_equal(g_nran, 3);
    assert_memory_equal(g_ran, "H2*", 3);
    cf_apikeys_busy_wait(&b, A, ran, "x"); /* queued, never run: freed by fini */
    cf_apikeys_busy_fini(&b);
}

static void test_a_bulk_batch_holds_every_key(void **state)
{
    cf_apikeys_busy_t b = {0};
    const char *A = "AAAAAAAAAAAA";

    (void)state;
    g_nran = 0;
    assert_int_equal(cf_apikeys_busy_hold(&b, NULL), 0);
    assert_true(cf_apikeys_busy_held(&b, A) && cf_apikeys_busy_held(&b, NULL));
    assert_int_equal(cf_apikeys_busy_wait(&b, A, ran, "a"), 0);
    assert_int_equal(cf_apikeys_busy_hold(&b, A), 0);
    cf_apikeys_busy_release(&b, NULL, NULL); /* the bulk batch answered; A's own still flies */
    assert_int_equal(g_nran, 0);
    cf_apikeys_busy_release(&b, NULL, A);
    assert_int_equal(g_nran, 1);
    cf_apikeys_busy_release(&b, NULL, NULL); /* nothing held: ignored */
    assert_false(cf_apikeys_busy_held(&b, NULL));
    cf_apikeys_busy_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiters_run_when_their_key_is_free_in_order),
        cmocka_unit_test(test_a_waiter_that_holds_again_keeps_the_next_waiting),
        cmocka_unit_test(test_a_bulk_batch_holds_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
