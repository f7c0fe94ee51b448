/* SPDX-License-Identifier: MIT
 *
 * The session state machine with an injected clock: every deadline is tested
 * at its exact millisecond, and a 30-day lifetime runs in microseconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/event.h"
#include "core/session.h"

#define T0 ((cf_time_t)1700000000000LL)
#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"

static cf_session_t *make(cf_time_t idle, cf_time_t absolute, cf_time_t ttl)
{
    cf_limits_t lim = {idle, absolute, ttl};
    cf_session_t *s = cf_session_new(SID, "alice", "web", "read write", "admin,user", 0, &lim, T0);

    assert_non_null(s);
    return s;
}

static void test_idle_timeout_fires_at_exact_deadline(void **state)
{
    cf_session_t *s = make(600 * CF_SEC, 86400 * CF_SEC, 600 * CF_SEC);

    (void)state;
    assert_int_equal(cf_session_verdict(s, T0 + 600 * CF_SEC - 1), CF_REASON_NONE);
    assert_int_equal(cf_session_verdict(s, T0 + 600 * CF_SEC), CF_REASON_IDLE_TIMEOUT);
    cf_session_free(s);
}

static void test_activity_moves_idle_deadline(void **state)
{
    cf_session_t *s = make(600 * CF_SEC, 86400 * CF_SEC, 600 * CF_SEC);

    (void)state;
    cf_session_touch(s, T0 + 500 * CF_SEC);
    assert_int_equal(cf_session_idle_deadline(s), T0 + 1100 * CF_SEC);
    assert_int_equal(cf_session_verdict(s, T0 + 1099 * CF_SEC), CF_REASON_NONE);
    assert_int_equal(cf_session_verdict(s, T0 + 1100 * CF_SEC), CF_REASON_IDLE_TIMEOUT);
    cf_session_free(s);
}

static void test_touch_in_the_past_never_moves_deadline_back(void **state)
{
    cf_session_t *s = make(600 * CF_SEC, 86400 * CF_SEC, 600 * CF_SEC);

    (void)state;
    cf_session_touch(s, T0 + 500 * CF_SEC);
    cf_session_touch(s, T0 + 100 * CF_SEC);
    assert_int_equal(cf_session_idle_deadline(s), T0 + 1100 * CF_SEC);
    assert_int_equal(cf_session_last_activity(s), T0 + 500 * CF_SEC);
    cf_session_free(s);
}

static void test_absolute_timeout_ends_active_session(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, 1 * CF_HOUR, 10 * CF_MIN);
    cf_time_t t;

    (void)state;
    /* Active every 5 minutes: idle never fires, the absolute limit does. */
    for (t = T0; t < T0 + CF_HOUR; t += 5 * CF_MIN)
        cf_session_touch(s, t);
    assert_true(cf_session_idle_deadline(s) <= cf_session_absolute_deadline(s));
    assert_int_equal(cf_session_verdict(s, T0 + CF_HOUR - 1), CF_REASON_NONE);
    assert_int_equal(cf_session_verdict(s, T0 + CF_HOUR), CF_REASON_ABSOLUTE_TIMEOUT);
    cf_session_free(s);
}

static void test_thirty_day_session_without_sleeping(void **state)
{
    cf_session_t *s = make(2 * CF_DAY, 30 * CF_DAY, 10 * CF_MIN);
    cf_time_t at;

    (void)state;
    for (int day = 1; day < 30; day++)
        cf_session_touch(s, T0 + day * CF_DAY);
    assert_int_equal(cf_session_end_at(s, T0 + 30 * CF_DAY - 1, NULL), CF_END_NONE);
    assert_int_equal(cf_session_end_at(s, T0 + 31 * CF_DAY, &at), CF_END_ABSOLUTE_TIMEOUT);
    assert_int_equal(at, T0 + 30 * CF_DAY);
    cf_session_free(s);
}

static void test_idle_deadline_never_passes_absolute(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, 15 * CF_MIN, 10 * CF_MIN);

    (void)state;
    cf_session_touch(s, T0 + 14 * CF_MIN);
    assert_int_equal(cf_session_idle_deadline(s), T0 + 15 * CF_MIN);
    assert_int_equal(cf_session_verdict(s, T0 + 15 * CF_MIN), CF_REASON_ABSOLUTE_TIMEOUT);
    cf_session_free(s);
}

static void test_first_deadline_names_the_reason(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);
    cf_time_t at;

    (void)state;
    /* Both deadlines have passed: the idle one came first, so it is the reason. */
    assert_int_equal(cf_session_end_at(s, T0 + 2 * CF_HOUR, &at), CF_END_IDLE_TIMEOUT);
    assert_int_equal(at, T0 + 10 * CF_MIN);
    cf_session_free(s);
}

static void test_explicit_end_is_final_and_keeps_reason(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);

    (void)state;
    assert_int_equal(cf_session_end(s, CF_END_LOGOUT, T0 + CF_MIN), 1);
    assert_int_equal(cf_session_end(s, CF_END_REVOKED, T0 + 2 * CF_MIN), 0);
    assert_int_equal(s->end, CF_END_LOGOUT);
    assert_int_equal(cf_session_verdict(s, T0 + 2 * CF_MIN), CF_REASON_LOGOUT);
    /* Activity after the end changes nothing. */
    cf_session_touch(s, T0 + 3 * CF_MIN);
    assert_int_equal(cf_session_last_activity(s), T0);
    assert_int_equal(cf_session_verdict(s, T0 + 3 * CF_MIN), CF_REASON_LOGOUT);
    cf_session_free(s);
}

static void test_revoking_expired_session_keeps_deadline_reason(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);

    (void)state;
    assert_int_equal(cf_session_end(s, CF_END_REVOKED, T0 + 20 * CF_MIN), 1);
    assert_int_equal(s->end, CF_END_IDLE_TIMEOUT);
    assert_int_equal(cf_session_ended_at(s), T0 + 10 * CF_MIN);
    cf_session_free(s);
}

static void test_end_reasons_map_to_refusals(void **state)
{
    (void)state;
    assert_int_equal(cf_end_refusal(CF_END_REVOKED), CF_REASON_SESSION_REVOKED);
    assert_int_equal(cf_end_refusal(CF_END_REFRESH_REUSE), CF_REASON_REFRESH_REUSE);
    assert_int_equal(cf_end_refusal(CF_END_LOGOUT), CF_REASON_LOGOUT);
    assert_int_equal(cf_end_refusal(CF_END_IDLE_TIMEOUT), CF_REASON_IDLE_TIMEOUT);
    assert_int_equal(cf_end_refusal(CF_END_ABSOLUTE_TIMEOUT), CF_REASON_ABSOLUTE_TIMEOUT);
}

static void test_limits_requests_only_shorten(void **state)
{
    cf_limits_t cfg = {30 * CF_MIN, 12 * CF_HOUR, 10 * CF_MIN};
    cf_limits_t longer = {CF_DAY, 30 * CF_DAY, CF_HOUR};
    cf_limits_t shorter = {CF_MIN, CF_HOUR, 30 * CF_SEC};
    cf_limits_t none = {0, 0, 0};
    cf_limits_t r;

    (void)state;
    r = cf_limits_resolve(&cfg, 15 * CF_MIN, &longer);
    assert_int_equal(r.idle_timeout, 30 * CF_MIN);
    assert_int_equal(r.absolute_timeout, 12 * CF_HOUR);
    assert_int_equal(r.access_ttl, 10 * CF_MIN);
    r = cf_limits_resolve(&cfg, 15 * CF_MIN, &shorter);
    assert_int_equal(r.idle_timeout, CF_MIN);
    assert_int_equal(r.absolute_timeout, CF_HOUR);
    assert_int_equal(r.access_ttl, 30 * CF_SEC);
    r = cf_limits_resolve(&cfg, 15 * CF_MIN, &none);
    assert_memory_equal(&r, &cfg, sizeof r);
}

static void test_limits_clamp_idle_to_absolute_and_ttl_to_max(void **state)
{
    cf_limits_t cfg = {30 * CF_MIN, 12 * CF_HOUR, 20 * CF_MIN};
    cf_limits_t req = {0, 5 * CF_MIN, 0};
    cf_limits_t r = cf_limits_resolve(&cfg, 15 * CF_MIN, &req);

    (void)state;
    assert_int_equal(r.absolute_timeout, 5 * CF_MIN);
    assert_int_equal(r.idle_timeout, 5 * CF_MIN);
    assert_int_equal(r.access_ttl, 15 * CF_MIN);
}

static void test_access_exp_never_passes_absolute(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, 15 * CF_MIN, 10 * CF_MIN);

    (void)state;
    assert_int_equal(cf_session_access_exp(s, T0), (T0 + 10 * CF_MIN) / CF_SEC);
    assert_int_equal(cf_session_access_exp(s, T0 + 10 * CF_MIN), (T0 + 15 * CF_MIN) / CF_SEC);
    cf_session_free(s);
}

static void test_refresh_rotation_then_reuse_is_theft(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + CF_SEC, 0, 0, &why), CF_REFRESH_ROTATE);
    cf_session_rotate(s, T0 + CF_SEC);
    assert_int_equal(s->refresh_gen, 1);
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + 2 * CF_SEC, 0, 0, &why), CF_REFRESH_REUSE);
    assert_int_equal(why, CF_REASON_REFRESH_REUSE);
    assert_int_equal(cf_session_refresh_decide(s, 1, T0 + 2 * CF_SEC, 0, 0, &why), CF_REFRESH_ROTATE);
    cf_session_free(s);
}

static void test_refresh_grace_window_exact_edges(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);
    cf_reason_t why;
    cf_time_t grace = 5 * CF_SEC;

    (void)state;
    cf_session_rotate(s, T0 + CF_SEC);
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + CF_SEC + grace - 1, grace, 0, &why),
                     CF_REFRESH_GRACE);
    assert_int_equal(why, CF_REASON_NONE);
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + CF_SEC + grace, grace, 0, &why),
                     CF_REFRESH_REUSE);
    /* Two generations back is reuse even inside the window. */
    cf_session_rotate(s, T0 + 2 * CF_SEC);
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + 2 * CF_SEC, grace, 0, &why),
                     CF_REFRESH_REUSE);
    cf_session_free(s);
}

/* A not-before epoch refuses refreshes of sessions created before it, to the millisecond. */
static void test_refresh_before_not_before_is_denied_at_the_millisecond(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN); /* created at T0 */
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + CF_SEC, 0, T0, &why), CF_REFRESH_ROTATE);
    assert_int_equal(why, CF_REASON_NONE);
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + CF_SEC, 0, T0 + 1, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_REVOKED_BEFORE);
    assert_true(cf_session_revoked_before(s, T0 + 1));
    assert_false(cf_session_revoked_before(s, T0));
    assert_false(cf_session_revoked_before(s, 0));
    /* A reuse of a covered session is no theft: the epoch already ended it. */
    cf_session_rotate(s, T0 + CF_SEC);
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + 2 * CF_SEC, 0, T0 + 999, &why),
                     CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_REVOKED_BEFORE);
    /* An ended session keeps its own reason. */
    cf_session_end(s, CF_END_LOGOUT, T0 + 3 * CF_SEC);
    assert_int_equal(cf_session_refresh_decide(s, 1, T0 + 4 * CF_SEC, 0, T0 + 999, &why),
                     CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_LOGOUT);
    cf_session_free(s);
}

static void test_refresh_on_ended_session_is_denied_with_reason(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + 10 * CF_MIN, 0, 0, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_IDLE_TIMEOUT);
    cf_session_end(s, CF_END_REFRESH_REUSE, T0 + CF_MIN);
    /* Even the current generation is dead once the session ended as stolen. */
    assert_int_equal(cf_session_refresh_decide(s, 0, T0 + 2 * CF_MIN, 0, 0, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_REFRESH_REUSE);
    cf_session_free(s);
}

static void test_refresh_in_the_last_second_is_absolute_timeout(void **state)
{
    /* T0 + 0.5 s: the deadline at T0 + 10.5 s shares its whole second with
     * T0 + 10.2 s, where an access token would get exp == iat. */
    cf_time_t start = T0 + 500;
    cf_limits_t lim = {10 * CF_SEC, 10 * CF_SEC, 10 * CF_MIN};
    cf_session_t *s = cf_session_new(SID, "alice", "web", "", "", 0, &lim, start);
    cf_time_t deadline = start + 10 * CF_SEC;
    cf_reason_t why = CF_REASON__COUNT;

    (void)state;
    assert_non_null(s);
    /* Exactly 1 s left: a token with exp = iat + 1 can still be issued. */
    assert_int_equal(cf_session_refresh_decide(s, 0, deadline - CF_SEC, 0, 0, &why), CF_REFRESH_ROTATE);
    assert_true(cf_session_access_exp(s, deadline - CF_SEC) > cf_time_to_sec(deadline - CF_SEC));
    /* 1 ms less, the same whole second as the deadline, and its last millisecond. */
    assert_int_equal(cf_session_refresh_decide(s, 0, deadline - CF_SEC + 1, 0, 0, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_ABSOLUTE_TIMEOUT);
    assert_int_equal(cf_session_refresh_decide(s, 0, deadline - 300, 0, 0, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_ABSOLUTE_TIMEOUT);
    assert_int_equal(cf_session_refresh_decide(s, 0, deadline - 1, 0, 0, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_ABSOLUTE_TIMEOUT);
    /* Not ended: checks still pass until the deadline itself. */
    assert_int_equal(cf_session_verdict(s, deadline - 1), CF_REASON_NONE);
    /* A grace sibling in the last second is refused the same way... */
    cf_session_rotate(s, deadline - 2 * CF_SEC);
    assert_int_equal(cf_session_refresh_decide(s, 0, deadline - 500, 5 * CF_SEC, 0, &why), CF_REFRESH_DENY);
    assert_int_equal(why, CF_REASON_ABSOLUTE_TIMEOUT);
    /* ...but an older token is still theft, whatever the time. */
    cf_session_rotate(s, deadline - 2 * CF_SEC);
    assert_int_equal(cf_session_refresh_decide(s, 0, deadline - 500, 0, 0, &why), CF_REFRESH_REUSE);
    assert_int_equal(why, CF_REASON_REFRESH_REUSE);
    cf_session_free(s);
}

static void test_every_allowed_refresh_gets_exp_after_iat(void **state)
{
    cf_limits_t lim = {3 * CF_SEC, 3 * CF_SEC, CF_SEC};
    cf_reason_t why;

    (void)state;
    /* Every millisecond offset of the start and of the refresh: whenever a
     * refresh is allowed, the token it gets outlives its iat. */
    for (cf_time_t off = 0; off < CF_SEC; off += 7) {
        cf_session_t *s = cf_session_new(SID, "alice", "", "", "", 0, &lim, T0 + off);
        assert_non_null(s);
        for (cf_time_t t = T0 + off; t < T0 + off + 3 * CF_SEC; t += 13)
            if (cf_session_refresh_decide(s, 0, t, 0, 0, &why) == CF_REFRESH_ROTATE)
                assert_true(cf_session_access_exp(s, t) > cf_time_to_sec(t));
        cf_session_free(s);
    }
}

static void test_event_owns_a_snapshot(void **state)
{
    cf_session_t *s = make(10 * CF_MIN, CF_HOUR, 10 * CF_MIN);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_event_t *e;

    (void)state;
    e = cf_events_add(&ev, CF_EV_SESSION_ENDED, T0, s);
    assert_non_null(e);
    cf_session_end(s, CF_END_LOGOUT, T0);
    cf_session_free(s);
    /* The event still describes the session as it was, after the original is gone. */
    assert_string_equal(ev.v[0].session->sub, "alice");
    assert_int_equal(ev.v[0].session->end, CF_END_NONE);
    assert_string_equal(cf_event_name(ev.v[0].type), "session_ended");
    cf_events_fini(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_timeout_fires_at_exact_deadline),
        cmocka_unit_test(test_activity_moves_idle_deadline),
        cmocka_unit_test(test_touch_in_the_past_never_moves_deadline_back),
        cmocka_unit_test(test_absolute_timeout_ends_active_session),
        cmocka_unit_test(test_thirty_day_session_without_sleeping),
        cmocka_unit_test(test_idle_deadline_never_passes_absolute),
        cmocka_unit_test(test_first_deadline_names_the_reason),
        cmocka_unit_test(test_explicit_end_is_final_and_keeps_reason),
        cmocka_unit_test(test_revoking_expired_session_keeps_deadline_reason),
        cmocka_unit_test(test_end_reasons_map_to_refusals),
        cmocka_unit_test(test_limits_requests_only_shorten),
        cmocka_unit_test(test_limits_clamp_idle_to_absolute_and_ttl_to_max),
        cmocka_unit_test(test_access_exp_never_passes_absolute),
        cmocka_unit_test(test_refresh_rotation_then_reuse_is_theft),
        cmocka_unit_test(test_refresh_grace_window_exact_edges),
        cmocka_unit_test(test_refresh_on_ended_session_is_denied_with_reason),
        cmocka_unit_test(test_refresh_in_the_last_second_is_absolute_timeout),
        cmocka_unit_test(test_every_allowed_refresh_gets_exp_after_iat),
        cmocka_unit_test(test_refresh_before_not_before_is_denied_at_the_millisecond),
        cmocka_unit_test(test_event_owns_a_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
