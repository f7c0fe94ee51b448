/* SPDX-License-Identifier: MIT
 *
 * cf_app_clock_hold: one reading per hold, a fresh one for each hold, every
 * real read still checked for a step, plain reads again after the release.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "app/app.h"

typedef struct {
    cf_time_t wall, mono;
    int reads;
} fake_t;

static cf_time_t fake_wall(void *ctx)
{
    fake_t *f = ctx;

    f->reads++;
    return f->wall;
}

static cf_time_t fake_mono(void *ctx)
{
    return ((fake_t *)ctx)->mono;
}

static cf_app_t *app_with(fake_t *f)
{
    cf_app_t *app = calloc(1, sizeof *app);

    assert_non_null(app);
    app->clock = fake_wall;
    app->mono = fake_mono;
    app->clock_ctx = f;
    cf_clockstep_init(&app->clockstep, 5 * CF_MIN, 15 * CF_MIN);
    return app;
}

static void test_a_hold_reads_the_clock_once(void **state)
{
    fake_t f = {1700000000000, 5000, 0};
    cf_app_t *app = app_with(&f);

    (void)state;
    assert_int_equal(cf_app_now(app), f.wall);
    assert_int_equal(f.reads, 1);
    cf_app_clock_hold(app);
    f.wall += 7;
    f.mono += 7;
    assert_int_equal(cf_app_now(app), 1700000000007);
    f.wall += 5; /* time passes inside the hold: the hold's one instant stays */
    f.mono += 5;
    assert_int_equal(cf_app_now(app), 1700000000007);
    assert_int_equal(cf_app_now(app), 1700000000007);
    assert_int_equal(f.reads, 2);
    cf_app_clock_release(app);
    assert_int_equal(cf_app_now(app), 1700000000012); /* released: real reads again */
    assert_int_equal(cf_app_now(app), 1700000000012);
    assert_int_equal(f.reads, 4);
    free(app);
}

static void test_each_hold_and_nested_hold_reads_afresh(void **state)
{
    fake_t f = {1700000000000, 5000, 0};
    cf_app_t *app = app_with(&f);

    (void)state;
    cf_app_clock_hold(app);
    assert_int_equal(cf_app_now(app), 1700000000000);
    f.wall += 3;
    f.mono += 3;
    cf_app_clock_hold(app); /* a pipelined request decided inside the first one's work */
    assert_int_equal(cf_app_now(app), 1700000000003);
    cf_app_clock_release(app);
    assert_int_equal(cf_app_now(app), 1700000000003); /* never staler than before */
    cf_app_clock_release(app);
    cf_app_clock_release(app); /* one release too many changes nothing */
    f.wall += 1;
    f.mono += 1;
    cf_app_clock_hold(app);
    assert_int_equal(cf_app_now(app), 1700000000004);
    cf_app_clock_release(app);
    assert_int_equal(app->clock_held, 0);
    free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_hold_reads_the_clock_once),
        cmocka_unit_test(test_each_hold_and_nested_hold_reads_afresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
