/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/ratelimit.h"

#define T0 ((cf_time_t)1700000000000) /* an arbitrary "now", in ms */

/* 10 per minute, bursts of 5: T = 6 s, tolerance = 24 s. */
static cf_gcra_t rate_10_per_min_burst_5(void)
{
    cf_gcra_t g;

    assert_int_equal(cf_gcra_init(&g, 10, CF_MIN, 5), 0);
    return g;
}

/* ---- GCRA arithmetic ---------------------------------------------------- */

static void test_gcra_init_derives_emission_and_tolerance(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();

    (void)state;
    assert_int_equal(g.emission, 6 * CF_SEC);
    assert_int_equal(g.tolerance, 24 * CF_SEC);
    assert_int_equal(g.burst, 5);
    assert_int_equal(g.window, CF_MIN);

    assert_int_equal(cf_gcra_init(&g, 3, CF_SEC, 1), 0);
    assert_int_equal(g.emission, 334); /* rounded up: never more than 3 per second */
    assert_int_equal(g.tolerance, 0);
    assert_int_equal(cf_gcra_init(&g, 1000, CF_SEC, 1), 0);
    assert_int_equal(g.emission, 1);
}

static void test_gcra_init_refuses_nonsense(void **state)
{
    cf_gcra_t g;

    (void)state;
    memset(&g, 0x5a, sizeof(g));
    assert_int_equal(cf_gcra_init(&g, 0, CF_MIN, 1), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, -1, CF_MIN, 1), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, 10, 0, 1), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, 10, -CF_SEC, 1), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, 10, CF_MIN, 0), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, 10, CF_MIN, -3), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, 2000, CF_SEC, 1), CF_EINVAL); /* finer than 1/ms */
    assert_int_equal(cf_gcra_init(&g, 1, 36500 * CF_DAY + 1, 1), CF_EINVAL);
    assert_int_equal(cf_gcra_init(&g, 1, CF_DAY, CF_GCRA_BURST_MAX), CF_EINVAL); /* overflow guard */
    assert_int_equal(cf_gcra_init(&g, 1, CF_SEC, CF_GCRA_BURST_MAX + 1), CF_EINVAL);
    assert_int_equal((unsigned char)((unsigned char *)&g)[0], 0x5a); /* untouched */
}

static void test_gcra_burst_then_refusal_with_exact_retry_after(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();
    cf_gcra_result_t r;
    cf_time_t tat = 0;
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        cf_gcra_apply(&g, &tat, T0, &r);
        assert_true(r.allowed);
        assert_int_equal(r.retry_after, 0);
        assert_int_equal(r.remaining, 4 - i);
        assert_int_equal(r.reset, (i + 1) * 6 * CF_SEC);
    }
    assert_int_equal(tat, T0 + 30 * CF_SEC);

    cf_gcra_apply(&g, &tat, T0, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after, 6 * CF_SEC);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset, 30 * CF_SEC);
    assert_int_equal(tat, T0 + 30 * CF_SEC); /* a refusal changes nothing */

    cf_gcra_apply(&g, &tat, T0 + 6 * CF_SEC - 1, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after, 1);
    assert_int_equal(r.reset, 24 * CF_SEC + 1);

    cf_gcra_apply(&g, &tat, T0 + 6 * CF_SEC, &r); /* exactly at retry_after */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset, 30 * CF_SEC);
    assert_int_equal(tat, T0 + 36 * CF_SEC);
}

static void test_gcra_refills_one_request_per_emission_interval(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();
    cf_gcra_result_t r;
    cf_time_t tat = T0 + 30 * CF_SEC; /* burst spent at T0 */

    (void)state;
    /* Two intervals later two requests have come back; using one leaves one. */
    cf_gcra_apply(&g, &tat, T0 + 12 * CF_SEC, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
    assert_int_equal(r.reset, 24 * CF_SEC);

    /* 11.999 s between requests is not yet two intervals. */
    tat = T0 + 30 * CF_SEC;
    cf_gcra_apply(&g, &tat, T0 + 12 * CF_SEC - 1, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
}

static void test_gcra_full_bucket_after_reset_elapses(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();
    cf_gcra_result_t r;
    cf_time_t tat = T0 + 30 * CF_SEC;

    (void)state;
    cf_gcra_apply(&g, &tat, T0 + 30 * CF_SEC, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    assert_int_equal(r.reset, 6 * CF_SEC);

    tat = T0 + 30 * CF_SEC; /* long idle: no credit beyond the burst */
    cf_gcra_apply(&g, &tat, T0 + 365 * CF_DAY, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
}

static void test_gcra_burst_of_one_is_a_strict_interval(void **state)
{
    cf_gcra_t g;
    cf_gcra_result_t r;
    cf_time_t tat = 0;

    (void)state;
    assert_int_equal(cf_gcra_init(&g, 1, CF_SEC, 1), 0);
    cf_gcra_apply(&g, &tat, T0, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset, CF_SEC);
    cf_gcra_apply(&g, &tat, T0 + 999, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after, 1);
    cf_gcra_apply(&g, &tat, T0 + 1000, &r);
    assert_true(r.allowed);
}

static void test_gcra_clock_going_backwards_grants_nothing(void **state)
{
    cf_gcra_t g;
    cf_gcra_result_t r;
    cf_time_t tat = 0;

    (void)state;
    assert_int_equal(cf_gcra_init(&g, 1, CF_MIN, 1), 0);
    cf_gcra_apply(&g, &tat, T0, &r);
    assert_true(r.allowed);
    cf_gcra_apply(&g, &tat, T0 - CF_HOUR, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after, CF_HOUR + CF_MIN);
    assert_int_equal(tat, T0 + CF_MIN);
}

static void test_rate_parse(void **state)
{
    int64_t c = -1;
    cf_time_t p = -1;
    const char *why = "unset";
    static const char *const bad[] = {
        "", "10", "/1m", "10/", "10/m", "0/1m", "-1/1m", "+1/1m", "10 /1m", "10/ 1m",
        "10/1x", "2000/1s", "10/0s", "1/1m/", "10000000000/1m", "a/1m",
    };
    size_t i;

    (void)state;
    assert_int_equal(cf_rate_parse("10/1m", 5, &c, &p, &why), 0);
    assert_null(why);
    assert_int_equal(c, 10);
    assert_int_equal(p, CF_MIN);
    assert_int_equal(cf_rate_parse("100/1s", 6, &c, &p, NULL), 0);
    assert_int_equal(c, 100);
    assert_int_equal(p, CF_SEC);
    assert_int_equal(cf_rate_parse("5/30sXX", 5, &c, &p, NULL), 0); /* length-delimited */
    assert_int_equal(c, 5);
    assert_int_equal(p, 30 * CF_SEC);
    assert_int_equal(cf_rate_parse("1000/1s", 7, &c, &p, NULL), 0);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = 77;
        p = 77;
        why = NULL;
        assert_int_equal(cf_rate_parse(bad[i], strlen(bad[i]), &c, &p, &why), CF_EINVAL);
        assert_non_null(why);
        assert_int_equal(c, 77);
        assert_int_equal(p, 77);
    }
}

/* ---- limiter table ------------------------------------------------------ */

static void test_limiter_hit_and_peek(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();
    cf_limiter_t *l = NULL;
    cf_gcra_result_t r;
    int i;

    (void)state;
    assert_int_equal(cf_limiter_new(16, 42, &l), 0);
    cf_limiter_peek(l, &g, "10.0.0.1", 8, T0, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    assert_int_equal(cf_limiter_count(l), 0); /* peek inserts nothing */

    for (i = 0; i < 5; i++) {
        cf_limiter_hit(l, &g, "10.0.0.1", 8, T0, &r);
        assert_true(r.allowed);
    }
    cf_limiter_peek(l, &g, "10.0.0.1", 8, T0, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after, 6 * CF_SEC);
    cf_limiter_hit(l, &g, "10.0.0.1", 8, T0 + 1000, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after, 5 * CF_SEC);

    cf_limiter_hit(l, &g, "10.0.0.2", 8, T0, &r); /* another key is independent */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    cf_limiter_hit(l, &g, NULL, 0, T0, &r); /* the empty key is a key too */
    assert_true(r.allowed);
    assert_int_equal(cf_limiter_count(l), 3);
    cf_limiter_free(l);
}

static void test_limiter_long_keys_are_distinct(void **state)
{
    cf_gcra_t g;
    cf_limiter_t *l = NULL;
    cf_gcra_result_t r;
    char a[100], b[100];

    (void)state;
    assert_int_equal(cf_gcra_init(&g, 1, CF_MIN, 1), 0);
    memset(a, 'x', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[99] = 'y';
    assert_int_equal(cf_limiter_new(8, 7, &l), 0);
    cf_limiter_hit(l, &g, a, sizeof(a), T0, &r);
    assert_true(r.allowed);
    cf_limiter_hit(l, &g, b, sizeof(b), T0, &r);
    assert_true(r.allowed);
    cf_limiter_hit(l, &g, a, sizeof(a), T0, &r);
    assert_false(r.allowed);
    cf_limiter_hit(l, &g, a, 32, T0, &r); /* a 32-byte prefix is another key */
    assert_true(r.allowed);
    cf_limiter_hit(l, &g, a, 33, T0, &r);
    assert_true(r.allowed);
    cf_limiter_hit(l, &g, a, 33, T0, &r);
    assert_false(r.allowed);
    cf_limiter_free(l);
}

static void test_limiter_bounded_under_key_churn(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();
    cf_limiter_t *l = NULL;
    cf_gcra_result_t r;
    struct mallinfo2 before, after;
    char key[32];
    int i;

    (void)state;
    assert_int_equal(cf_limiter_new(1000, 99, &l), 0);
    before = mallinfo2();
    for (i = 0; i < 10000; i++) { /* 10x max_keys distinct keys */
        int n = snprintf(key, sizeof(key), "attacker-%d", i);

        cf_limiter_hit(l, &g, key, (size_t)n, T0 + i, &r);
        assert_true(r.allowed);
        assert_true(cf_limiter_count(l) <= 1000);
    }
    after = mallinfo2();
    assert_int_equal(cf_limiter_count(l), 1000);
    assert_true(after.uordblks == before.uordblks); /* hits never allocate */
    assert_true(after.hblkhd == before.hblkhd);

    /* The most recent keys are still tracked, the oldest were forgotten. */
    cf_limiter_peek(l, &g, "attacker-9999", 13, T0 + 9999, &r);
    assert_int_equal(r.remaining, 3);
    cf_limiter_peek(l, &g, "attacker-0", 10, T0 + 9999, &r);
    assert_int_equal(r.remaining, 4);

    /* Every surviving key is still findable after many backward shifts. */
    for (i = 9000; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "attacker-%d", i);

        cf_limiter_peek(l, &g, key, (size_t)n, T0 + 9999, &r);
        assert_int_equal(r.remaining, 3);
    }
    cf_limiter_free(l);
}

static void test_limiter_evicts_least_recently_used(void **state)
{
    cf_gcra_t g;
    cf_limiter_t *l = NULL;
    cf_gcra_result_t r;

    (void)state;
    assert_int_equal(cf_gcra_init(&g, 1, CF_MIN, 1), 0);
    assert_int_equal(cf_limiter_new(4, 1, &l), 0);
    cf_limiter_hit(l, &g, "A", 1, T0, &r);
    cf_limiter_hit(l, &g, "B", 1, T0, &r);
    cf_limiter_hit(l, &g, "C", 1, T0, &r);
    cf_limiter_hit(l, &g, "D", 1, T0, &r);
    cf_limiter_hit(l, &g, "A", 1, T0, &r); /* refused, but A is now most recent */
    assert_false(r.allowed);
    cf_limiter_hit(l, &g, "E", 1, T0, &r); /* evicts B */
    assert_int_equal(cf_limiter_count(l), 4);
    cf_limiter_peek(l, &g, "B", 1, T0, &r);
    assert_true(r.allowed); /* forgotten: less limited, never more */
    cf_limiter_peek(l, &g, "A", 1, T0, &r);
    assert_false(r.allowed);
    cf_limiter_peek(l, &g, "C", 1, T0, &r);
    assert_false(r.allowed);
    cf_limiter_free(l);
}

static void test_limiter_eviction_prefers_full_buckets(void **state)
{
    cf_gcra_t g = rate_10_per_min_burst_5();
    cf_limiter_t *l = NULL;
    cf_gcra_result_t r;
    int i;

    (void)state;
    assert_int_equal(cf_limiter_new(4, 3, &l), 0);
    for (i = 0; i < 6; i++)
        cf_limiter_hit(l, &g, "hot", 3, T0, &r); /* limited until T0 + 6 s */
    assert_false(r.allowed);
    cf_limiter_hit(l, &g, "b", 1, T0, &r);
    cf_limiter_hit(l, &g, "c", 1, T0, &r);
    cf_limiter_hit(l, &g, "d", 1, T0, &r);
    /* At T0 + 6 s, b, c and d are full again; hot (least recent) still is not. */
    cf_limiter_hit(l, &g, "e", 1, T0 + 6 * CF_SEC, &r);
    cf_limiter_peek(l, &g, "hot", 3, T0 + 6 * CF_SEC, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0); /* still tracked: only one request back */
    cf_limiter_free(l);
}

static void test_limiter_new_refuses_bad_sizes(void **state)
{
    cf_limiter_t *l = (cf_limiter_t *)&l;

    (void)state;
    assert_int_equal(cf_limiter_new(0, 1, &l), CF_EINVAL);
    assert_null(l);
    assert_int_equal(cf_limiter_new(CF_LIMITER_KEYS_MAX + 1, 1, &l), CF_EINVAL);
    assert_null(l);
    cf_limiter_free(NULL);
}

/* ---- lockout ------------------------------------------------------------ */

static cf_lockout_t *lockout_3_per_min_for_5m(void)
{
    cf_lockout_t *l = NULL;

    assert_int_equal(cf_lockout_new(64, 3, CF_MIN, 5 * CF_MIN, 5, &l), 0);
    return l;
}

static void test_lockout_nth_failure_locks_until_exact_expiry(void **state)
{
    cf_lockout_t *l = lockout_3_per_min_for_5m();
    cf_time_t ra = -1;

    (void)state;
    assert_int_equal(cf_lockout_fail(l, "1.2.3.4", 7, T0), 0);
    assert_int_equal(cf_lockout_fail(l, "1.2.3.4", 7, T0 + 1), 0);
    assert_int_equal(cf_lockout_check(l, "1.2.3.4", 7, T0 + 2, &ra), 0);
    assert_int_equal(ra, 0);
    assert_int_equal(cf_lockout_fail(l, "1.2.3.4", 7, T0 + 2), 1);
    assert_int_equal(cf_lockout_check(l, "1.2.3.4", 7, T0 + 2, &ra), 1);
    assert_int_equal(ra, 5 * CF_MIN);
    assert_int_equal(cf_lockout_check(l, "1.2.3.5", 7, T0 + 2, &ra), 0); /* other keys unaffected */

    assert_int_equal(cf_lockout_check(l, "1.2.3.4", 7, T0 + 2 + 5 * CF_MIN - 1, &ra), 1);
    assert_int_equal(ra, 1);
    assert_int_equal(cf_lockout_check(l, "1.2.3.4", 7, T0 + 2 + 5 * CF_MIN, &ra), 0);
    assert_int_equal(ra, 0);
    assert_int_equal(cf_lockout_check(l, "1.2.3.4", 7, T0 + 2 + 5 * CF_MIN, NULL), 0);

    /* After the lock the count starts from zero. */
    assert_int_equal(cf_lockout_fail(l, "1.2.3.4", 7, T0 + 2 + 5 * CF_MIN), 0);
    assert_int_equal(cf_lockout_fail(l, "1.2.3.4", 7, T0 + 3 + 5 * CF_MIN), 0);
    assert_int_equal(cf_lockout_fail(l, "1.2.3.4", 7, T0 + 4 + 5 * CF_MIN), 1);
    cf_lockout_free(l);
}

static void test_lockout_window_expiry_resets_count(void **state)
{
    cf_lockout_t *l = lockout_3_per_min_for_5m();

    (void)state;
    assert_int_equal(cf_lockout_fail(l, "k", 1, T0), 0);
    assert_int_equal(cf_lockout_fail(l, "k", 1, T0 + CF_MIN - 1), 0);
    /* The window [T0, T0 + 1m) is over: this failure is the first of a new one. */
    assert_int_equal(cf_lockout_fail(l, "k", 1, T0 + CF_MIN), 0);
    assert_int_equal(cf_lockout_fail(l, "k", 1, T0 + CF_MIN + 1), 0);
    assert_int_equal(cf_lockout_check(l, "k", 1, T0 + CF_MIN + 1, NULL), 0);
    assert_int_equal(cf_lockout_fail(l, "k", 1, T0 + CF_MIN + 2), 1);
    assert_int_equal(cf_lockout_check(l, "k", 1, T0 + CF_MIN + 2, NULL), 1);
    cf_lockout_free(l);
}

static void test_lockout_failures_while_locked_do_not_extend(void **state)
{
    cf_lockout_t *l = lockout_3_per_min_for_5m();
    cf_time_t ra = 0;
    int i;

    (void)state;
    for (i = 0; i < 3; i++)
        (void)cf_lockout_fail(l, "k", 1, T0); /* the third locks; checked above */
    for (i = 0; i < 10; i++)
        assert_int_equal(cf_lockout_fail(l, "k", 1, T0 + CF_MIN + i), 0);
    assert_int_equal(cf_lockout_check(l, "k", 1, T0 + CF_MIN, &ra), 1);
    assert_int_equal(ra, 4 * CF_MIN);
    assert_int_equal(cf_lockout_check(l, "k", 1, T0 + 5 * CF_MIN, NULL), 0);
    cf_lockout_free(l);
}

static void test_lockout_single_failure_limit(void **state)
{
    cf_lockout_t *l = NULL;

    (void)state;
    assert_int_equal(cf_lockout_new(4, 1, CF_MIN, CF_SEC, 1, &l), 0);
    assert_int_equal(cf_lockout_fail(l, "k", 1, T0), 1);
    assert_int_equal(cf_lockout_check(l, "k", 1, T0 + 999, NULL), 1);
    assert_int_equal(cf_lockout_check(l, "k", 1, T0 + 1000, NULL), 0);
    cf_lockout_free(l);
}

static void test_lockout_bounded_and_keeps_locks_under_churn(void **state)
{
    cf_lockout_t *l = NULL;
    char key[32];
    int i;

    (void)state;
    assert_int_equal(cf_lockout_new(100, 2, CF_MIN, CF_DAY, 11, &l), 0);
    assert_int_equal(cf_lockout_fail(l, "victim", 6, T0), 0);
    assert_int_equal(cf_lockout_fail(l, "victim", 6, T0), 1);
    /* 10x max_keys keys, each failing once, two minutes later: their windows
     * expire as they go, so eviction finds idle entries before the lock. */
    for (i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "churn-%d", i);

        (void)cf_lockout_fail(l, key, (size_t)n, T0 + 2 * CF_MIN + i * CF_MIN);
        assert_true(cf_lockout_count(l) <= 100);
    }
    assert_int_equal(cf_lockout_count(l), 100);
    assert_int_equal(cf_lockout_check(l, "victim", 6, T0 + 1001 * CF_MIN, NULL), 1);
    cf_lockout_free(l);
}

static void test_lockout_new_refuses_nonsense(void **state)
{
    cf_lockout_t *l = NULL;

    (void)state;
    assert_int_equal(cf_lockout_new(0, 3, CF_MIN, CF_MIN, 1, &l), CF_EINVAL);
    assert_int_equal(cf_lockout_new(10, 0, CF_MIN, CF_MIN, 1, &l), CF_EINVAL);
    assert_int_equal(cf_lockout_new(10, 3, 0, CF_MIN, 1, &l), CF_EINVAL);
    assert_int_equal(cf_lockout_new(10, 3, CF_MIN, 0, 1, &l), CF_EINVAL);
    assert_null(l);
    cf_lockout_free(NULL);
}

/* ---- clock steps: the shell feeds monotonic time ------------------------ */

/*
 * Why the shell must feed monotonic time: a theoretical arrival time taken on
 * the wall clock lies an hour "in the future" after the wall clock is stepped
 * back by an hour, and the key waits that hour. On the monotonic clock the
 * step does not exist. Both halves run the same requests.
 */
static void test_limiter_on_wall_time_waits_out_a_backward_step(void **state)
{
    cf_gcra_t g;
    cf_limiter_t *l;
    cf_gcra_result_t r;

    (void)state;
    assert_int_equal(cf_gcra_init(&g, 5, 10 * CF_SEC, 5), 0);
    assert_int_equal(cf_limiter_new(16, 1, &l), 0);
    cf_limiter_hit(l, &g, "ip=1", 4, T0, &r);
    assert_true(r.allowed);
    for (int i = 0; i < 5; i++)
        cf_limiter_hit(l, &g, "ip=1", 4, T0 - CF_HOUR + 10 * CF_SEC + i, &r);
    assert_false(r.allowed);
    assert_true(r.retry_after > 3580 * CF_SEC); /* the defect the monotonic clock avoids */
    cf_limiter_free(l);
}

static void test_limiter_and_lockout_on_monotonic_time_ignore_wall_steps(void **state)
{
    const cf_time_t m0 = 123456; /* monotonic: arbitrary origin, never jumps */
    cf_gcra_t g;
    cf_limiter_t *l;
    cf_lockout_t *lo;
    cf_gcra_result_t r;
    cf_time_t retry = 0;

    (void)state;
    assert_int_equal(cf_gcra_init(&g, 5, 10 * CF_SEC, 5), 0);
    assert_int_equal(cf_limiter_new(16, 1, &l), 0);
    assert_int_equal(cf_lockout_new(16, 3, CF_MIN, 30 * CF_SEC, 2, &lo), 0);
    for (int i = 0; i < 5; i++) {
        cf_limiter_hit(l, &g, "ip=1", 4, m0 + i, &r);
        assert_true(r.allowed);
    }
    cf_limiter_hit(l, &g, "ip=1", 4, m0 + 5, &r);
    assert_false(r.allowed);
    assert_true(r.retry_after <= 2 * CF_SEC); /* one emission interval, not an hour */
    cf_limiter_hit(l, &g, "ip=1", 4, m0 + 10 * CF_SEC, &r);
    assert_true(r.allowed); /* the wall clock went back an hour meanwhile: no matter */

    assert_int_equal(cf_lockout_fail(lo, "1.2.3.4", 7, m0), 0);
    assert_int_equal(cf_lockout_fail(lo, "1.2.3.4", 7, m0 + 1), 0);
    assert_int_equal(cf_lockout_fail(lo, "1.2.3.4", 7, m0 + 2), 1);
    assert_int_equal(cf_lockout_check(lo, "1.2.3.4", 7, m0 + 3, &retry), 1);
    assert_true(retry <= 30 * CF_SEC); /* not stretched by a step */
    assert_int_equal(cf_lockout_check(lo, "1.2.3.4", 7, m0 + 2 + 30 * CF_SEC, &retry), 0);
    cf_lockout_free(lo);
    cf_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_init_derives_emission_and_tolerance),
        cmocka_unit_test(test_gcra_init_refuses_nonsense),
        cmocka_unit_test(test_gcra_burst_then_refusal_with_exact_retry_after),
        cmocka_unit_test(test_gcra_refills_one_request_per_emission_interval),
        cmocka_unit_test(test_gcra_full_bucket_after_reset_elapses),
        cmocka_unit_test(test_gcra_burst_of_one_is_a_strict_interval),
        cmocka_unit_test(test_gcra_clock_going_backwards_grants_nothing),
        cmocka_unit_test(test_rate_parse),
        cmocka_unit_test(test_limiter_hit_and_peek),
        cmocka_unit_test(test_limiter_long_keys_are_distinct),
        cmocka_unit_test(test_limiter_bounded_under_key_churn),
        cmocka_unit_test(test_limiter_evicts_least_recently_used),
        cmocka_unit_test(test_limiter_eviction_prefers_full_buckets),
        cmocka_unit_test(test_limiter_new_refuses_bad_sizes),
        cmocka_unit_test(test_lockout_nth_failure_locks_until_exact_expiry),
        cmocka_unit_test(test_lockout_window_expiry_resets_count),
        cmocka_unit_test(test_lockout_failures_while_locked_do_not_extend),
        cmocka_unit_test(test_lockout_single_failure_limit),
        cmocka_unit_test(test_lockout_bounded_and_keeps_locks_under_churn),
        cmocka_unit_test(test_lockout_new_refuses_nonsense),
        cmocka_unit_test(test_limiter_on_wall_time_waits_out_a_backward_step),
        cmocka_unit_test(test_limiter_and_lockout_on_monotonic_time_ignore_wall_steps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
