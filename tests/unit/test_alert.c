/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/alert.h"
#include "core/error.h"

#define T0 ((cf_time_t)1700000000000)

typedef struct {
    int fired;
    char key[CF_ALERT_KEY_MAX];
    uint32_t count;
    size_t rule;
} rec_t;

static void record(void *arg, const cf_alert_fire_t *f)
{
    rec_t *r = arg;

    r->fired++;
    snprintf(r->key, sizeof r->key, "%s", f->key);
    r->count = f->count;
    r->rule = f->rule;
}

static cf_alert_t *one(cf_alert_kind_t k, uint32_t threshold, cf_time_t window, size_t keys)
{
    cf_alert_rule_t r = {.kind = k, .threshold = threshold, .window = window};
    cf_alert_t *a = NULL;

    assert_int_equal(cf_alert_new(&r, 1, keys, &a), 0);
    return a;
}

static void test_names_round_trip(void **state)
{
    (void)state;
    for (int k = 0; k < CF_ALERT__COUNT; k++) {
        const char *n = cf_alert_kind_name((cf_alert_kind_t)k);
        assert_int_equal(cf_alert_kind_from_name(n, strlen(n)), k);
    }
    for (int k = 0; k < CF_ALERT_ACT__COUNT; k++) {
        const char *n = cf_alert_action_name((cf_alert_action_t)k);
        assert_int_equal(cf_alert_action_from_name(n, strlen(n)), k);
    }
    assert_int_equal(cf_alert_kind_from_name("nope", 4), CF_ALERT__COUNT);
    assert_string_equal(cf_alert_kind_name(CF_ALERT__COUNT), "unknown");
}

/* Three within 10 s fires; the third at exactly 10 s after the first does not. */
static void test_window_exact_boundary(void **state)
{
    cf_alert_t *a = one(CF_ALERT_CHECK_FAILURES_PER_IP, 3, 10 * CF_SEC, 16);
    rec_t r = {0};

    (void)state;
    assert_int_equal(cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_IP, "1.2.3.4", T0, record, &r), 0);
    assert_int_equal(cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_IP, "1.2.3.4", T0 + 5000, record, &r), 0);
    /* the first is now exactly one window old: out */
    assert_int_equal(cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_IP, "1.2.3.4", T0 + 10000, record, &r), 0);
    /* 5000, 10000, 14999: within 10 s */
    assert_int_equal(cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_IP, "1.2.3.4", T0 + 14999, record, &r), 1);
    assert_int_equal(r.fired, 1);
    assert_string_equal(r.key, "1.2.3.4");
    assert_int_equal(r.count, 3);
    cf_alert_free(a);
}

static void test_other_kinds_and_keys_do_not_count(void **state)
{
    cf_alert_t *a = one(CF_ALERT_REFRESH_RATE_PER_SESSION, 2, CF_MIN, 16);

    (void)state;
    assert_int_equal(cf_alert_hit(a, CF_ALERT_REFRESH_RATE_PER_SESSION, "s1", T0, NULL, NULL), 0);
    assert_int_equal(cf_alert_hit(a, CF_ALERT_REFRESH_RATE_PER_SESSION, "s2", T0, NULL, NULL), 0);
    assert_int_equal(cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_IP, "s1", T0, NULL, NULL), 0);
    assert_int_equal(cf_alert_hit(a, CF_ALERT_REFRESH_RATE_PER_SESSION, "s1", T0 + 1, NULL, NULL), 1);
    cf_alert_free(a);
}

/* A storm fires once per window, then again once the cooldown has passed. */
static void test_cooldown(void **state)
{
    cf_alert_t *a = one(CF_ALERT_IDLE_TIMEOUT_SPIKE, 2, 10 * CF_SEC, 4);
    size_t fired = 0;

    (void)state;
    for (cf_time_t t = 0; t < 10 * CF_SEC; t += 100)
        fired += cf_alert_hit(a, CF_ALERT_IDLE_TIMEOUT_SPIKE, "*", T0 + t, NULL, NULL);
    assert_int_equal(fired, 1); /* at T0 + 100, quiet until T0 + 10100 */
    assert_int_equal(cf_alert_hit(a, CF_ALERT_IDLE_TIMEOUT_SPIKE, "*", T0 + 10099, NULL, NULL), 0);
    assert_int_equal(cf_alert_hit(a, CF_ALERT_IDLE_TIMEOUT_SPIKE, "*", T0 + 10100, NULL, NULL), 1);
    cf_alert_free(a);
}

/* refresh_reuse has no cooldown: every reuse is an alert. */
static void test_refresh_reuse_always_fires(void **state)
{
    cf_alert_t *a = one(CF_ALERT_REFRESH_REUSE, 1, CF_SEC, 4);

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(cf_alert_hit(a, CF_ALERT_REFRESH_REUSE, "sid", T0 + i, NULL, NULL), 1);
    cf_alert_free(a);
}

/* Key churn never grows the table; the least recently seen key goes first. */
static void test_bounded_keys(void **state)
{
    cf_alert_t *a = one(CF_ALERT_CHECK_FAILURES_PER_SUBJECT, 2, CF_HOUR, 8);
    char key[32];

    (void)state;
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "user-%d", i);
        cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_SUBJECT, key, T0 + i, NULL, NULL);
        assert_true(cf_alert_keys(a, 0) <= 8);
    }
    assert_int_equal(cf_alert_keys(a, 0), 8);
    /* the newest key is still remembered: its second hit fires */
    assert_int_equal(cf_alert_hit(a, CF_ALERT_CHECK_FAILURES_PER_SUBJECT, "user-9999", T0 + 10000,
                                  NULL, NULL),
                     1);
    cf_alert_free(a);
}

static void test_new_refuses_nonsense(void **state)
{
    cf_alert_rule_t r = {.kind = CF_ALERT_REFRESH_REUSE, .threshold = 1, .window = CF_SEC};
    cf_alert_t *a = NULL;

    (void)state;
    assert_int_equal(cf_alert_new(&r, 1, 0, &a), CF_EINVAL);
    r.threshold = 0;
    assert_int_equal(cf_alert_new(&r, 1, 4, &a), CF_EINVAL);
    r.threshold = CF_ALERT_THRESHOLD_MAX + 1;
    assert_int_equal(cf_alert_new(&r, 1, 4, &a), CF_EINVAL);
    r.threshold = 1;
    r.window = 0;
    assert_int_equal(cf_alert_new(&r, 1, 4, &a), CF_EINVAL);
    assert_null(a);
    assert_int_equal(cf_alert_new(NULL, 0, 4, &a), 0);
    assert_int_equal(cf_alert_hit(a, CF_ALERT_REFRESH_REUSE, "x", T0, NULL, NULL), 0);
    cf_alert_free(a);
    cf_alert_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_window_exact_boundary),
        cmocka_unit_test(test_other_kinds_and_keys_do_not_count),
        cmocka_unit_test(test_cooldown),
        cmocka_unit_test(test_refresh_reuse_always_fires),
        cmocka_unit_test(test_bounded_keys),
        cmocka_unit_test(test_new_refuses_nonsense),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
