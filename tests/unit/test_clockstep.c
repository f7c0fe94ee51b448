/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clockstep.h"

#define W0 ((cf_time_t)1700000000000) /* wall at the first reading */
#define M0 ((cf_time_t)5000)          /* monotonic at the first reading */
#define HOLD (5 * CF_MIN)
#define BACKWIN (15 * CF_MIN + 30 * CF_SEC)

static cf_clockstep_t watch(void)
{
    cf_clockstep_t c;

    cf_clockstep_init(&c, HOLD, BACKWIN);
    assert_int_equal(cf_clockstep_observe(&c, W0, M0), 0); /* the reference */
    return c;
}

static void test_clocks_running_together_are_no_step(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    for (cf_time_t t = 0; t <= CF_DAY; t += 17 * CF_MIN)
        assert_int_equal(cf_clockstep_observe(&c, W0 + t, M0 + t), 0);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + CF_DAY), 0);
    assert_int_equal(cf_clockstep_slack(&c, M0 + CF_DAY), 0);
}

static void test_slewing_is_never_a_step(void **state)
{
    cf_clockstep_t c = watch();
    cf_time_t drift = 0;

    (void)state;
    /* NTP slews 0.5 ms/s at most: 1 ms per reading, an hour of drift in all. */
    for (cf_time_t i = 1; i <= 3600 * 1000; i += 1000) {
        drift += 1000;
        assert_int_equal(cf_clockstep_observe(&c, W0 + i * CF_SEC + drift / 1000, M0 + i * CF_SEC), 0);
    }
}

static void test_step_bound_is_exclusive(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + 1000 + CF_CLOCKSTEP_BOUND, M0 + 1000), 0);
    assert_int_equal(cf_clockstep_observe(&c, W0 + 2000 + CF_CLOCKSTEP_BOUND + CF_CLOCKSTEP_BOUND + 1,
                                          M0 + 2000),
                     CF_CLOCKSTEP_BOUND + 1);
}

static void test_forward_step_is_held_then_confirmed(void **state)
{
    cf_clockstep_t c = watch();
    cf_time_t m = M0 + CF_SEC;

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_SEC + CF_HOUR, m), CF_HOUR);
    assert_int_equal(cf_clockstep_unconfirmed(&c, m), 1);
    assert_int_equal(cf_clockstep_unconfirmed(&c, m + HOLD - 1), 1);
    assert_int_equal(cf_clockstep_unconfirmed(&c, m + HOLD), 0); /* lasted the hold: it is real */
    assert_int_equal(cf_clockstep_slack(&c, m), 0);               /* forward: no iat excuse */
}

static void test_forward_step_undone_clears_the_hold_at_once(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_SEC + CF_HOUR, M0 + CF_SEC), CF_HOUR);
    assert_int_equal(cf_clockstep_observe(&c, W0 + 61 * CF_SEC + CF_HOUR, M0 + 61 * CF_SEC), 0);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + 61 * CF_SEC), 1);
    /* NTP corrects it: back within the bound of the pre-step offset. */
    assert_int_equal(cf_clockstep_observe(&c, W0 + 62 * CF_SEC + 2 * CF_SEC, M0 + 62 * CF_SEC),
                     -CF_HOUR + 2 * CF_SEC);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + 62 * CF_SEC), 0);
    /* Tokens issued during the wrong hour carry iat up to an hour ahead. */
    assert_int_equal(cf_clockstep_slack(&c, M0 + 62 * CF_SEC), CF_HOUR - 2 * CF_SEC);
}

static void test_partial_correction_restarts_the_hold(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_HOUR, M0), CF_HOUR);
    /* Half corrected after 4 minutes: still ahead, the hold counts again. */
    assert_int_equal(cf_clockstep_observe(&c, W0 + 4 * CF_MIN + 30 * CF_MIN, M0 + 4 * CF_MIN),
                     -30 * CF_MIN);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + 4 * CF_MIN + HOLD - 1), 1);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + 4 * CF_MIN + HOLD), 0);
}

static void test_second_forward_step_keeps_the_first_base(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_HOUR, M0), CF_HOUR);
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_MIN + 2 * CF_HOUR, M0 + CF_MIN), CF_HOUR);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + CF_MIN + HOLD - 1), 1);
    /* Both undone in one correction: back at the original offset. */
    assert_int_equal(cf_clockstep_observe(&c, W0 + 2 * CF_MIN, M0 + 2 * CF_MIN), -2 * CF_HOUR);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + 2 * CF_MIN), 0);
}

static void test_backward_step_after_a_confirmed_forward_one_holds_nothing(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_HOUR, M0), CF_HOUR);
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_HOUR + HOLD, M0 + HOLD), 0);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + HOLD), 0);
    assert_int_equal(cf_clockstep_observe(&c, W0 + HOLD + CF_SEC + 30 * CF_MIN, M0 + HOLD + CF_SEC),
                     -30 * CF_MIN);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + HOLD + CF_SEC), 0);
}

static void test_backward_slack_lasts_the_window_and_takes_the_largest(void **state)
{
    cf_clockstep_t c = watch();
    cf_time_t m = M0 + CF_SEC;

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + CF_SEC - CF_HOUR, m), -CF_HOUR);
    assert_int_equal(cf_clockstep_unconfirmed(&c, m), 0); /* backward: nothing to hold */
    assert_int_equal(cf_clockstep_slack(&c, m), CF_HOUR);
    assert_int_equal(cf_clockstep_observe(&c, W0 + 2 * CF_SEC - CF_HOUR - 10 * CF_SEC, m + CF_SEC),
                     -10 * CF_SEC);
    assert_int_equal(cf_clockstep_slack(&c, m + CF_SEC), CF_HOUR); /* the larger one stays */
    assert_int_equal(cf_clockstep_slack(&c, m + CF_SEC + BACKWIN - 1), CF_HOUR);
    assert_int_equal(cf_clockstep_slack(&c, m + CF_SEC + BACKWIN), 0);
    /* A later, smaller step starts from nothing once the window is over. */
    assert_int_equal(cf_clockstep_observe(&c, W0 - CF_HOUR - 30 * CF_SEC + 2 * BACKWIN,
                                          m + 2 * BACKWIN),
                     -20 * CF_SEC - CF_SEC);
    assert_int_equal(cf_clockstep_slack(&c, m + 2 * BACKWIN), 21 * CF_SEC);
}

static void test_huge_steps_do_not_overflow(void **state)
{
    cf_clockstep_t c = watch();

    (void)state;
    assert_int_equal(cf_clockstep_observe(&c, W0 + 100 * 365 * CF_DAY, M0), 100 * 365 * CF_DAY);
    assert_int_equal(cf_clockstep_observe(&c, 0, M0 + 1), -(W0 + 100 * 365 * CF_DAY) - 1);
    assert_int_equal(cf_clockstep_unconfirmed(&c, M0 + 1), 0); /* below the base: not held */
    assert_true(cf_clockstep_slack(&c, M0 + 1) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks_running_together_are_no_step),
        cmocka_unit_test(test_slewing_is_never_a_step),
        cmocka_unit_test(test_step_bound_is_exclusive),
        cmocka_unit_test(test_forward_step_is_held_then_confirmed),
        cmocka_unit_test(test_forward_step_undone_clears_the_hold_at_once),
        cmocka_unit_test(test_partial_correction_restarts_the_hold),
        cmocka_unit_test(test_second_forward_step_keeps_the_first_base),
        cmocka_unit_test(test_backward_step_after_a_confirmed_forward_one_holds_nothing),
        cmocka_unit_test(test_backward_slack_lasts_the_window_and_takes_the_largest),
        cmocka_unit_test(test_huge_steps_do_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
