/* SPDX-License-Identifier: MIT
 *
 * Timeouts from evidence (core/tune.h, core/relogin.h) on hand-built traces:
 * every expected figure is worked out by hand in the test, from the minutes
 * of the trace, never taken from the code under test. The clock is the
 * trace's own; nothing sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "core/access.h"
#include "core/relogin.h"
#include "core/tune.h"

#define T0 ((cf_time_t)1700000000000LL)
#define MIN(m) ((cf_time_t)(m) * CF_MIN)
#define SID1 "AAAAAAAAAAAAAAAAAAAAAAAA"
#define SID2 "BBBBBBBBBBBBBBBBBBBBBBBB"

static const cf_limits_t rec = {MIN(30), MIN(12 * 60), MIN(10)}; /* as configured */

static cf_tune_t *replay(const cf_tune_candidate_t *c, size_t n)
{
    cf_tune_t *t = cf_tune_new(c, n, MIN(30));
    assert_non_null(t);
    return t;
}

/* Done-when 1a: a 20-minute silence costs one re-login under 15m and none under 30m. */
static void test_twenty_minute_gap_relogs_under_15m_not_30m(void **state)
{
    cf_tune_candidate_t c[2] = {{MIN(15), MIN(8 * 60), MIN(5)}, {MIN(30), MIN(8 * 60), MIN(5)}};
    cf_tune_t *t = replay(c, 2);

    (void)state;
    /* Work 0-10 min, silence 10-30 (20 min), work 30-40, logout at 40. */
    assert_int_equal(cf_tune_start(t, SID1, "alice", T0, &rec), 0);
    cf_tune_gap(t, SID1, T0 + MIN(10), T0 + MIN(30));
    assert_int_equal(cf_tune_end(t, SID1, CF_END_LOGOUT, T0 + MIN(40), T0 + MIN(40)), 0);
    cf_tune_finish(t);
    assert_int_equal(cf_tune_result(t, 0)->relogins[0], 1);
    assert_int_equal(cf_tune_result(t, 0)->relogins[1], 0);
    assert_int_equal(cf_tune_result(t, 1)->relogins[0] + cf_tune_result(t, 1)->relogins[1], 0);
    /* Virtual sessions: 15m: one idle end, then the logout; 30m: the logout only. */
    assert_int_equal(cf_tune_result(t, 0)->ends[CF_TUNE_END_IDLE], 1);
    assert_int_equal(cf_tune_result(t, 0)->ends[CF_TUNE_END_LOGOUT], 1);
    assert_int_equal(cf_tune_result(t, 1)->ends[CF_TUNE_END_IDLE], 0);
    assert_int_equal(cf_tune_result(t, 1)->ends[CF_TUNE_END_LOGOUT], 1);
    /* Active time: 40 min minus the 20-min silence = 20 min. */
    assert_true(cf_tune_totals(t)->active_ms == (double)MIN(20));
    cf_tune_free(t);
}

/* The boundary is the server's: a silence of exactly the idle timeout ends the session. */
static void test_gap_equal_to_idle_is_a_relogin_one_ms_less_is_not(void **state)
{
    cf_tune_candidate_t c[2] = {{MIN(20), 0, MIN(5)}, {MIN(20) + 1, 0, MIN(5)}};
    cf_tune_t *t = replay(c, 2);

    (void)state;
    cf_tune_start(t, SID1, "alice", T0, &rec);
    cf_tune_gap(t, SID1, T0 + MIN(10), T0 + MIN(30));
    cf_tune_end(t, SID1, CF_END_LOGOUT, T0 + MIN(31), T0 + MIN(31));
    cf_tune_finish(t);
    assert_int_equal(cf_tune_result(t, 0)->relogins[0], 1);
    assert_int_equal(cf_tune_result(t, 1)->relogins[0], 0);
    cf_tune_free(t);
}

/* Done-when 1b: abandoned at t, exposure = idle timeout + the token life left at t. */
static void test_exposure_of_abandoned_session_is_idle_plus_token_left(void **state)
{
    /* Token issued at 50 min with a 10 min TTL; last activity (t) at 55 min: 5 min left. */
    cf_tune_candidate_t c[2] = {{MIN(15), MIN(8 * 60), MIN(10)}, {MIN(60), MIN(8 * 60), MIN(2)}};
    cf_tune_t *t = replay(c, 2);

    (void)state;
    cf_tune_start(t, SID1, "alice", T0, &rec);
    cf_tune_token(t, SID1, T0 + MIN(50));
    /* The recorded session idled out at 55 + 30 (its own limit); nobody came back. */
    cf_tune_end(t, SID1, CF_END_IDLE_TIMEOUT, T0 + MIN(85), T0 + MIN(55));
    cf_tune_finish(t);
    /* 15m idle + (50 + 10 - 55) = 15 + 5 = 20 min. */
    assert_int_equal(cf_tune_result(t, 0)->exposed, 1);
    assert_int_equal(cf_tune_result(t, 0)->exposure_max, MIN(20));
    assert_true(cf_tune_result(t, 0)->exposure_ms == (double)MIN(20));
    /* 60m idle + max(0, 50 + 2 - 55) = 60 min: an expired token adds nothing. */
    assert_int_equal(cf_tune_result(t, 1)->exposure_max, MIN(60));
    assert_int_equal(cf_tune_result(t, 0)->ends[CF_TUNE_END_IDLE], 1);
    cf_tune_free(t);
}

/* The absolute deadline caps exposure too: created at 0, 1h absolute, abandoned at 50m. */
static void test_exposure_capped_by_absolute_deadline(void **state)
{
    cf_tune_candidate_t c[1] = {{MIN(30), MIN(60), MIN(10)}};
    cf_tune_t *t = replay(c, 1);

    (void)state;
    cf_tune_start(t, SID1, "alice", T0, &rec);
    cf_tune_token(t, SID1, T0 + MIN(45));
    cf_tune_end(t, SID1, CF_END_IDLE_TIMEOUT, T0 + MIN(80), T0 + MIN(50));
    cf_tune_finish(t);
    /* min(50 + 30, 0 + 60) - 50 = 10, plus 45 + 10 - 50 = 5: 15 min, ended by absolute. */
    assert_int_equal(cf_tune_result(t, 0)->exposure_max, MIN(15));
    assert_int_equal(cf_tune_result(t, 0)->ends[CF_TUNE_END_ABSOLUTE], 1);
    cf_tune_free(t);
}

/* Per client (the metrics' tags): each outcome is filed under the timed-out session's tag. */
static void test_relogin_outcomes_by_tag(void **state)
{
    cf_relogin_t *r = cf_relogin_new_tagged(100, MIN(30), 3);
    cf_relogin_out_t o;

    (void)state;
    assert_non_null(r);
    /* alice, client 2: idle end, back 10 min later: a re-login filed under 2. */
    cf_relogin_ended_tagged(r, "alice", CF_END_IDLE_TIMEOUT, T0, 2, &o);
    cf_relogin_started(r, "alice", T0 + MIN(10), &o);
    assert_int_equal(o.relogin, 0);
    assert_int_equal(o.tag, 2);
    /* bob, client 1: an idle end superseded by a later absolute end under client 0:
     * the first is without return under 1; the second, never answered, under 0. */
    cf_relogin_ended_tagged(r, "bob", CF_END_IDLE_TIMEOUT, T0, 1, &o);
    cf_relogin_ended_tagged(r, "bob", CF_END_ABSOLUTE_TIMEOUT, T0 + MIN(5), 0, &o);
    assert_int_equal(o.without_return[0], 1);
    /* carol: a tag past the table is filed under 0, never out of bounds. */
    cf_relogin_ended_tagged(r, "carol", CF_END_IDLE_TIMEOUT, T0 + MIN(5), 7, &o);
    /* dave, client 1: his new session was seen before the sweep wrote his end. */
    cf_relogin_started(r, "dave", T0 + MIN(20), &o);
    cf_relogin_ended_tagged(r, "dave", CF_END_ABSOLUTE_TIMEOUT, T0 + MIN(19), 1, &o);
    assert_int_equal(o.relogin, 1);
    assert_int_equal(o.tag, 1);
    cf_relogin_expire(r, T0 + MIN(41), &o); /* bob's and carol's windows have passed */
    assert_int_equal(cf_relogin_without_return(r, 1, 0), 1);
    assert_int_equal(cf_relogin_without_return(r, 0, 1), 1);
    assert_int_equal(cf_relogin_without_return(r, 0, 0), 1);
    assert_int_equal(cf_relogin_without_return(r, 2, 0) + cf_relogin_without_return(r, 2, 1), 0);
    assert_int_equal(cf_relogin_without_return(r, 1, 1), 0);
    assert_int_equal(cf_relogin_without_return(r, 3, 0) + cf_relogin_without_return(r, 0, 2), 0);
    cf_relogin_free(r);
}

/* Done-when 1c: back 40 min after an idle end, with a 30 min window: without return. */
static void test_relogin_after_40m_is_without_return_with_30m_window(void **state)
{
    cf_relogin_t *r = cf_relogin_new(100, MIN(30));
    cf_relogin_out_t o;
    cf_tune_candidate_t c[1] = {{0, 0, 0}}; /* the baseline: recorded limits */
    cf_tune_t *t = replay(c, 1);

    (void)state;
    assert_non_null(r);
    assert_int_equal(cf_relogin_ended(r, "alice", CF_END_IDLE_TIMEOUT, T0, &o), 0);
    assert_int_equal(o.relogin, -1);
    assert_int_equal(cf_relogin_started(r, "alice", T0 + MIN(40), &o), 0);
    assert_int_equal(o.relogin, -1);
    assert_int_equal(o.without_return[0], 1);
    /* Bob, back after 29 min: a forced re-login with a 29-min delay. */
    cf_relogin_ended(r, "bob", CF_END_ABSOLUTE_TIMEOUT, T0 + MIN(40), &o);
    cf_relogin_started(r, "bob", T0 + MIN(69), &o);
    assert_int_equal(o.relogin, 1);
    assert_int_equal(o.gap, MIN(29));
    /* Carol never returns: counted once her window has passed, not before. */
    cf_relogin_ended(r, "carol", CF_END_IDLE_TIMEOUT, T0 + MIN(70), &o);
    cf_relogin_expire(r, T0 + MIN(100), &o);
    assert_int_equal(o.without_return[0], 0);
    cf_relogin_expire(r, T0 + MIN(100) + 1, &o);
    assert_int_equal(o.without_return[0], 1);
    cf_relogin_free(r);

    /* The replay agrees: the 40-min return is a new thread, not a re-login. */
    cf_tune_start(t, SID1, "alice", T0 - MIN(60), &rec);
    cf_tune_end(t, SID1, CF_END_IDLE_TIMEOUT, T0, T0 - MIN(30));
    cf_tune_start(t, SID2, "alice", T0 + MIN(40), &rec);
    cf_tune_end(t, SID2, CF_END_LOGOUT, T0 + MIN(41), T0 + MIN(41));
    cf_tune_finish(t);
    assert_int_equal(cf_tune_result(t, 0)->relogins[0], 0);
    assert_int_equal(cf_tune_totals(t)->chained, 0);
    cf_tune_free(t);
}

/* The baseline reproduces what happened: an idle end followed by a return in 10 min. */
static void test_baseline_counts_recorded_relogin_in_and_out_of_order(void **state)
{
    cf_tune_candidate_t c[2] = {{0, 0, 0}, {MIN(60), MIN(12 * 60), MIN(10)}};

    (void)state;
    for (int late = 0; late < 2; late++) {
        cf_tune_t *t = replay(c, 2);
        /* Last activity at 10, idle end at 40 (30m), back at 50: a 40-min silence. */
        cf_tune_start(t, SID1, "alice", T0, &rec);
        if (!late) {
            cf_tune_end(t, SID1, CF_END_IDLE_TIMEOUT, T0 + MIN(40), T0 + MIN(10));
            cf_tune_start(t, SID2, "alice", T0 + MIN(50), &rec);
        } else { /* the purge sweep wrote the end after the new session began */
            cf_tune_start(t, SID2, "alice", T0 + MIN(50), &rec);
            cf_tune_end(t, SID1, CF_END_IDLE_TIMEOUT, T0 + MIN(40), T0 + MIN(10));
        }
        cf_tune_end(t, SID2, CF_END_LOGOUT, T0 + MIN(60), T0 + MIN(60));
        cf_tune_finish(t);
        assert_int_equal(cf_tune_result(t, 0)->relogins[0], 1);
        /* Under 60m idle the 40-min silence ends nothing: one thread, logged out. */
        assert_int_equal(cf_tune_result(t, 1)->relogins[0], 0);
        assert_int_equal(cf_tune_result(t, 1)->ends[CF_TUNE_END_LOGOUT], 1);
        assert_int_equal(cf_tune_totals(t)->chained, 1);
        cf_tune_free(t);
    }
}

/* Continuous work past the absolute deadline: one re-login per deadline crossed. */
static void test_absolute_deadline_crossed_twice(void **state)
{
    cf_tune_candidate_t c[1] = {{MIN(30), MIN(60), MIN(10)}};
    cf_tune_t *t = replay(c, 1);

    (void)state;
    cf_tune_start(t, SID1, "alice", T0, &rec);
    cf_tune_end(t, SID1, CF_END_LOGOUT, T0 + MIN(150), T0 + MIN(150)); /* 60, 120 crossed */
    cf_tune_finish(t);
    assert_int_equal(cf_tune_result(t, 0)->relogins[1], 2);
    assert_int_equal(cf_tune_result(t, 0)->ends[CF_TUNE_END_ABSOLUTE], 2);
    cf_tune_free(t);
}

/* Hostile input: unknown sessions, duplicates, time running backwards, huge values. */
static void test_inconsistent_facts_are_counted_not_trusted(void **state)
{
    cf_tune_candidate_t c[1] = {{MIN(15), INT64_MAX / 4, INT64_MAX / 4}};
    cf_tune_t *t = replay(c, 1);

    (void)state;
    cf_tune_gap(t, "nope", T0, T0 + MIN(1));
    assert_int_equal(cf_tune_totals(t)->orphans, 1);
    cf_tune_start(t, SID1, "alice", T0, &rec);
    cf_tune_start(t, SID1, "alice", T0, &rec);
    assert_int_equal(cf_tune_totals(t)->dropped, 1);
    cf_tune_gap(t, SID1, T0 + MIN(30), T0 + MIN(10)); /* ends before it starts */
    assert_int_equal(cf_tune_totals(t)->dropped, 2);
    cf_tune_gap(t, SID1, T0 + MIN(5), T0 + MIN(25));
    cf_tune_gap(t, SID1, T0 + MIN(6), T0 + MIN(20)); /* already known: stale */
    assert_int_equal(cf_tune_totals(t)->dropped, 3);
    cf_tune_end(t, SID1, CF_END_REVOKED, T0 + MIN(26), T0 + MIN(26));
    cf_tune_finish(t);
    assert_int_equal(cf_tune_result(t, 0)->relogins[0], 1);
    assert_int_equal(cf_tune_result(t, 0)->ends[CF_TUNE_END_OTHER], 1);
    assert_true(cf_tune_result(t, 0)->exposure_max > 0);
    cf_tune_free(t);
    assert_null(cf_tune_new(c, 0, 0));
    assert_null(cf_tune_new(c, 1, -1));
}

static void test_exposure_quantiles_within_one_percent(void **state)
{
    cf_tune_candidate_t c[1] = {{MIN(10), 0, CF_SEC}};
    cf_tune_t *t = replay(c, 1);
    char sid[32];

    (void)state;
    /* 100 sessions: 99 idle from their start (10 min + the 1 s their token has left),
     * one last active at 99 s with an expired token (10 min exactly). */
    for (int i = 0; i < 100; i++) {
        snprintf(sid, sizeof sid, "S%023d", i);
        cf_tune_start(t, sid, sid, T0, &rec);
        cf_tune_end(t, sid, CF_END_LOGOUT, T0 + MIN(60), T0 + (i == 99 ? 99 * CF_SEC : 0));
    }
    cf_tune_finish(t);
    cf_time_t p50 = cf_tune_exposure_quantile(cf_tune_result(t, 0), 0.5);
    cf_time_t p01 = cf_tune_exposure_quantile(cf_tune_result(t, 0), 0.01);
    assert_true(p50 >= MIN(10) + CF_SEC && p50 <= (MIN(10) + CF_SEC) * 101 / 100);
    assert_true(p01 >= MIN(10) && p01 <= MIN(10) * 101 / 100);
    assert_int_equal(cf_tune_exposure_quantile(cf_tune_result(t, 0), 1.0), MIN(10) + CF_SEC);
    assert_int_equal(cf_tune_result(t, 0)->exposure_max, MIN(10) + CF_SEC);
    assert_true(cf_tune_result(t, 0)->exposure_ms == 99.0 * (MIN(10) + CF_SEC) + MIN(10));
    cf_tune_free(t);
}

/* The tracker's memory is capped: the least recently seen subject goes, counted if pending. */
static void test_relogin_cap_evicts_least_recent(void **state)
{
    cf_relogin_t *r = cf_relogin_new(2, MIN(30));
    cf_relogin_out_t o;

    (void)state;
    cf_relogin_ended(r, "a", CF_END_IDLE_TIMEOUT, T0, &o);
    cf_relogin_started(r, "b", T0 + 1, &o);
    cf_relogin_started(r, "c", T0 + 2, &o);
    assert_int_equal(o.evicted, 1);
    assert_int_equal(cf_relogin_size(r), 2);
    cf_relogin_started(r, "a", T0 + 3, &o); /* forgotten: a fresh subject */
    assert_int_equal(o.relogin, -1);
    cf_relogin_free(r);
}

/* Done-when 1d: a polling route (activity: none) is decided but moves no idle deadline. */
static void test_polling_route_does_not_extend_idle_deadline(void **state)
{
    cf_limits_t lim = {MIN(15), MIN(8 * 60), MIN(10)};
    cf_session_t *s = cf_session_new(SID1, "alice", "web", "", "", T0, &lim, T0);
    cf_route_t poll = {.activity = CF_ACTIVITY_NONE}, page = {.activity = CF_ACTIVITY_COUNTS};
    cf_access_input_t in = {.token = {CF_REASON_NONE, T0 / CF_SEC + 3600, T0 / CF_SEC, 0},
                            .session = s, .risk = CF_RISK_NONE};
    cf_access_decision_t d;

    (void)state;
    assert_non_null(s);
    /* A tab polls every 10 s for 20 min; the shell touches only on d.activity. */
    for (cf_time_t now = T0 + 10 * CF_SEC; now <= T0 + MIN(20); now += 10 * CF_SEC) {
        in.now = now;
        in.route = &poll;
        cf_access_decide(&in, &d);
        if (now < T0 + MIN(15)) {
            assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
            assert_int_equal(d.activity, 0);
        } else { /* idle since T0: the 15-min deadline holds */
            assert_int_equal(d.verdict, CF_ACCESS_REFUSE);
            assert_int_equal(d.why, CF_REASON_IDLE_TIMEOUT);
        }
        if (d.verdict == CF_ACCESS_ALLOW && d.activity)
            cf_session_touch(s, now);
    }
    assert_int_equal(cf_session_idle_deadline(s), T0 + MIN(15));
    /* The same check on a page route, or without a route, is a person's activity... */
    in.now = T0 + MIN(1);
    in.route = &page;
    cf_access_decide(&in, &d);
    assert_int_equal(d.activity, 1);
    in.route = NULL;
    cf_access_decide(&in, &d);
    assert_int_equal(d.activity, 1);
    /* ...unless the client marks it as background. */
    in.background = 1;
    cf_access_decide(&in, &d);
    assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
    assert_int_equal(d.activity, 0);
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twenty_minute_gap_relogs_under_15m_not_30m),
        cmocka_unit_test(test_gap_equal_to_idle_is_a_relogin_one_ms_less_is_not),
        cmocka_unit_test(test_exposure_of_abandoned_session_is_idle_plus_token_left),
        cmocka_unit_test(test_exposure_capped_by_absolute_deadline),
        cmocka_unit_test(test_relogin_after_40m_is_without_return_with_30m_window),
        cmocka_unit_test(test_baseline_counts_recorded_relogin_in_and_out_of_order),
        cmocka_unit_test(test_absolute_deadline_crossed_twice),
        cmocka_unit_test(test_inconsistent_facts_are_counted_not_trusted),
        cmocka_unit_test(test_exposure_quantiles_within_one_percent),
        cmocka_unit_test(test_relogin_cap_evicts_least_recent),
        cmocka_unit_test(test_relogin_outcomes_by_tag),
        cmocka_unit_test(test_polling_route_does_not_extend_idle_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
