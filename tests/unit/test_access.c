/* SPDX-License-Identifier: MIT
 *
 * cf_access_decide and cf_token_check_time with an injected clock: every
 * boundary at its exact millisecond, as an attacker would probe it (exp ==
 * now, nbf one ms ahead, huge and negative iat, leeway and slack edges, a
 * token issued in the same second as a revocation).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/access.h"
#include "core/token.h"

#define T0 ((cf_time_t)1700000000000LL) /* a whole second */
#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"

static cf_session_t *session(void)
{
    cf_limits_t lim = {600 * CF_SEC, 3600 * CF_SEC, 300 * CF_SEC};
    cf_session_t *s = cf_session_new(SID, "alice", "web", "read", "user", T0, &lim, T0);

    assert_non_null(s);
    return s;
}

/* A good token for @s issued at T0, living 300 s, decided at @now. */
static cf_access_input_t input(const cf_session_t *s, cf_time_t now)
{
    cf_access_input_t in = {
        .token = {CF_REASON_NONE, T0 / CF_SEC + 300, T0 / CF_SEC, 0},
        .session = s,
        .risk = CF_RISK_NONE,
        .now = now,
    };
    return in;
}

static cf_access_decision_t decide(const cf_access_input_t *in)
{
    cf_access_decision_t d;

    cf_access_decide(in, &d);
    return d;
}

static void test_time_exp_is_exclusive_to_the_ms(void **state)
{
    int64_t exp = T0 / CF_SEC + 10, iat = T0 / CF_SEC;

    (void)state;
    assert_int_equal(cf_token_check_time(exp, iat, 0, T0 + 10 * CF_SEC - 1, 0, 0), CF_REASON_NONE);
    assert_int_equal(cf_token_check_time(exp, iat, 0, T0 + 10 * CF_SEC, 0, 0), CF_REASON_TOKEN_EXPIRED);
    /* leeway extends exp by exactly its length */
    assert_int_equal(cf_token_check_time(exp, iat, 0, T0 + 10 * CF_SEC + 1999, 2000, 2000), CF_REASON_NONE);
    assert_int_equal(cf_token_check_time(exp, iat, 0, T0 + 12 * CF_SEC, 2000, 2000), CF_REASON_TOKEN_EXPIRED);
    /* a negative leeway is no leeway, never a shorter life */
    assert_int_equal(cf_token_check_time(exp, iat, 0, T0 + 10 * CF_SEC - 1, -5000, -5000), CF_REASON_NONE);
}

static void test_time_nbf_and_iat_one_ms_ahead(void **state)
{
    int64_t exp = T0 / CF_SEC + 100, at = T0 / CF_SEC + 1;

    (void)state;
    /* nbf one ms ahead of now: not yet; at nbf: valid */
    assert_int_equal(cf_token_check_time(exp, T0 / CF_SEC, at, T0 + CF_SEC - 1, 0, 0), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(cf_token_check_time(exp, T0 / CF_SEC, at, T0 + CF_SEC, 0, 0), CF_REASON_NONE);
    /* same for iat */
    assert_int_equal(cf_token_check_time(exp, at, 0, T0 + CF_SEC - 1, 0, 0), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(cf_token_check_time(exp, at, 0, T0 + CF_SEC, 0, 0), CF_REASON_NONE);
    /* ahead (leeway + slack) excuses exactly its length, and is never below leeway */
    assert_int_equal(cf_token_check_time(exp, at, 0, T0 + CF_SEC - 500, 0, 500), CF_REASON_NONE);
    assert_int_equal(cf_token_check_time(exp, at, 0, T0 + CF_SEC - 501, 0, 500), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(cf_token_check_time(exp, at, 0, T0 + CF_SEC - 500, 500, 0), CF_REASON_NONE);
}

static void test_time_huge_and_negative_values_never_wrap(void **state)
{
    (void)state;
    /* exp * 1000 would overflow: saturates to "far future", never to the past */
    assert_int_equal(cf_token_check_time(INT64_MAX, T0 / CF_SEC, 0, T0, 0, 0), CF_REASON_NONE);
    /* a huge iat is in the future, even with a day of leeway */
    assert_int_equal(cf_token_check_time(INT64_MAX, INT64_MAX, 0, T0, 86400 * CF_SEC, 86400 * CF_SEC),
                     CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(cf_token_check_time(INT64_MAX, INT64_MAX / 2, 0, T0, 0, 0), CF_REASON_TOKEN_NOT_YET_VALID);
    /* a negative exp has long expired, even with a day of leeway */
    assert_int_equal(cf_token_check_time(-1, 0, 0, T0, 86400 * CF_SEC, 0), CF_REASON_TOKEN_EXPIRED);
    assert_int_equal(cf_token_check_time(INT64_MIN, INT64_MIN, 0, T0, 0, 0), CF_REASON_TOKEN_EXPIRED);
    /* a negative iat lies in the past: only exp matters */
    assert_int_equal(cf_token_check_time(T0 / CF_SEC + 1, INT64_MIN, INT64_MIN, T0, 0, 0), CF_REASON_NONE);
    /* now near the end of time with a big leeway: saturates, no wrap into the past */
    assert_int_equal(cf_token_check_time(T0 / CF_SEC, 0, 0, INT64_MAX - 1, 60 * CF_SEC, 60 * CF_SEC),
                     CF_REASON_TOKEN_EXPIRED);
    assert_int_equal(cf_token_check_time(INT64_MAX / CF_SEC + 1, 0, 0, INT64_MAX - 1, 0, 0), CF_REASON_NONE);
}

static void test_allow_reports_the_earliest_deadline(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 + 1000);
    cf_access_decision_t d = decide(&in);

    (void)state;
    assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
    assert_int_equal(d.why, CF_REASON_NONE);
    assert_int_equal(d.deadline, T0 + 300 * CF_SEC); /* token exp before idle (600 s) */
    assert_int_equal(d.end, CF_END_NONE);
    in.token.exp = T0 / CF_SEC + 3000;
    d = decide(&in);
    assert_int_equal(d.deadline, cf_session_idle_deadline(s)); /* idle end first */
    cf_session_touch(s, T0 + 3500 * CF_SEC);
    in.now = T0 + 3500 * CF_SEC;
    in.token.exp = T0 / CF_SEC + 5000;
    d = decide(&in);
    assert_int_equal(d.deadline, T0 + 3600 * CF_SEC); /* absolute end first */
    cf_session_free(s);
}

static void test_exp_equal_now_refused_as_expired(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 + 300 * CF_SEC);
    cf_access_decision_t d = decide(&in);

    (void)state;
    assert_int_equal(d.verdict, CF_ACCESS_REFUSE);
    assert_int_equal(d.why, CF_REASON_TOKEN_EXPIRED);
    assert_true(d.authn_failed);
    in.now--;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    /* leeway edge: allowed until exp + leeway - 1 */
    in.leeway = 5 * CF_SEC;
    in.now = T0 + 305 * CF_SEC - 1;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    in.now++;
    assert_int_equal(decide(&in).why, CF_REASON_TOKEN_EXPIRED);
    cf_session_free(s);
}

static void test_slack_excuses_iat_but_never_exp(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 - 2 * CF_SEC); /* the clock stepped back 2 s */

    (void)state;
    assert_int_equal(decide(&in).why, CF_REASON_TOKEN_NOT_YET_VALID);
    in.slack = 2 * CF_SEC - 1;
    assert_int_equal(decide(&in).why, CF_REASON_TOKEN_NOT_YET_VALID);
    in.slack = 2 * CF_SEC;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    in.now = T0 + 300 * CF_SEC;
    in.slack = INT64_MAX / 2;
    assert_int_equal(decide(&in).why, CF_REASON_TOKEN_EXPIRED);
    in.slack = -CF_SEC; /* a negative slack is none */
    in.now = T0;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    cf_session_free(s);
}

static void test_not_before_in_the_same_second_revokes_by_creation_ms(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 + 10);

    (void)state;
    /* a revocation 1 ms after the session was created, in the token's iat second */
    in.subject_not_before = T0 + 1;
    assert_int_equal(decide(&in).why, CF_REASON_REVOKED_BEFORE);
    in.subject_not_before = T0; /* created at the epoch: not covered */
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    /* the global epoch refuses even a token whose session is unknown */
    in.session = NULL;
    in.global_not_before = T0 + CF_SEC;
    assert_int_equal(decide(&in).why, CF_REASON_REVOKED_BEFORE);
    in.global_not_before = 0;
    assert_int_equal(decide(&in).why, CF_REASON_SESSION_NOT_FOUND);
    cf_session_free(s);
}

static void test_revocation_hides_the_session_state(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 + 600 * CF_SEC); /* idle and expired */

    (void)state;
    in.token.exp = T0 / CF_SEC + 10000;
    assert_int_equal(decide(&in).why, CF_REASON_IDLE_TIMEOUT);
    in.global_not_before = T0 + CF_SEC;
    assert_int_equal(decide(&in).why, CF_REASON_REVOKED_BEFORE);
    /* a refused verification wins over everything but the route */
    in.token.refused = CF_REASON_BAD_SIGNATURE;
    assert_int_equal(decide(&in).why, CF_REASON_BAD_SIGNATURE);
    cf_session_free(s);
}

static void test_logout_waives_only_exp(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 + 400 * CF_SEC);

    (void)state;
    in.waive_exp = 1;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    in.session = NULL; /* nothing to end: no waiver */
    assert_int_equal(decide(&in).why, CF_REASON_TOKEN_EXPIRED);
    in.session = s;
    in.subject_not_before = T0 + 1;
    assert_int_equal(decide(&in).why, CF_REASON_REVOKED_BEFORE);
    in.subject_not_before = 0;
    in.now = T0 + 600 * CF_SEC;
    assert_int_equal(decide(&in).why, CF_REASON_IDLE_TIMEOUT);
    cf_session_free(s);
}

static void test_risk_step_up_and_revoke(void **state)
{
    cf_session_t *s = session();
    cf_access_input_t in = input(s, T0 + 1000);
    cf_access_decision_t d;

    (void)state;
    in.risk = (cf_risk_t){CF_REASON_IP_CHANGED, CF_RISK_IGNORE};
    d = decide(&in);
    assert_int_equal(d.verdict, CF_ACCESS_ALLOW);
    assert_true(d.risk_considered);
    in.risk.action = CF_RISK_STEP_UP;
    d = decide(&in);
    assert_int_equal(d.verdict, CF_ACCESS_STEP_UP);
    assert_int_equal(d.max_age, 0);
    assert_int_equal(d.end, CF_END_NONE);
    assert_false(d.authn_failed);
    in.risk = (cf_risk_t){CF_REASON_DEVICE_CHANGED, CF_RISK_REVOKE};
    d = decide(&in);
    assert_int_equal(d.verdict, CF_ACCESS_REFUSE);
    assert_int_equal(d.why, CF_REASON_DEVICE_CHANGED);
    assert_int_equal(d.end, CF_END_DEVICE_CHANGED);
    in.risk.why = CF_REASON_IP_CHANGED;
    assert_int_equal(decide(&in).end, CF_END_IP_CHANGED);
    /* an expired token never reaches the risk step: no end for a stale token */
    in.now = T0 + 300 * CF_SEC;
    d = decide(&in);
    assert_int_equal(d.why, CF_REASON_TOKEN_EXPIRED);
    assert_int_equal(d.end, CF_END_NONE);
    assert_false(d.risk_considered);
    cf_session_free(s);
}

static void test_routes(void **state)
{
    cf_session_t *s = session();
    char *roles[] = {"admin"};
    cf_route_t r = {0};
    cf_access_input_t in = input(s, T0 + 1000);
    cf_access_decision_t d;

    (void)state;
    in.route = &r;
    r.deny = 1;
    in.token.refused = CF_REASON_MISSING_TOKEN; /* a closed route is closed to all */
    assert_int_equal(decide(&in).why, CF_REASON_ROUTE_DENIED);
    r.deny = 0;
    r.anonymous = 1;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ANONYMOUS);
    r.anonymous = 0;
    assert_int_equal(decide(&in).why, CF_REASON_MISSING_TOKEN);
    in.token.refused = CF_REASON_NONE;
    r.require_roles = roles;
    r.nrequire_roles = 1;
    d = decide(&in);
    assert_int_equal(d.verdict, CF_ACCESS_REFUSE);
    assert_int_equal(d.why, CF_REASON_INSUFFICIENT_ROLE);
    assert_false(d.authn_failed);
    r.nrequire_roles = 0;
    r.max_auth_age = 1000; /* authenticated at T0: at T0 + 1000 too old */
    d = decide(&in);
    assert_int_equal(d.verdict, CF_ACCESS_STEP_UP);
    assert_int_equal(d.max_age, 1000);
    in.now = T0 + 999;
    assert_int_equal(decide(&in).verdict, CF_ACCESS_ALLOW);
    r.max_auth_age = 0;
    r.idle_timeout = 999; /* last active at T0 */
    d = decide(&in);
    assert_int_equal(d.why, CF_REASON_ROUTE_IDLE_TIMEOUT);
    assert_int_equal(d.end, CF_END_NONE); /* the session lives on for other routes */
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_exp_is_exclusive_to_the_ms),
        cmocka_unit_test(test_time_nbf_and_iat_one_ms_ahead),
        cmocka_unit_test(test_time_huge_and_negative_values_never_wrap),
        cmocka_unit_test(test_allow_reports_the_earliest_deadline),
        cmocka_unit_test(test_exp_equal_now_refused_as_expired),
        cmocka_unit_test(test_slack_excuses_iat_but_never_exp),
        cmocka_unit_test(test_not_before_in_the_same_second_revokes_by_creation_ms),
        cmocka_unit_test(test_revocation_hides_the_session_state),
        cmocka_unit_test(test_logout_waives_only_exp),
        cmocka_unit_test(test_risk_step_up_and_revoke),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
