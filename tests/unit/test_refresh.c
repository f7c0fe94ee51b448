/* SPDX-License-Identifier: MIT
 *
 * cf_refresh_decide with an injected clock: the order of its gates, the
 * grace window at its exact millisecond, generation wrap, the last second
 * before the absolute deadline, and the session merge rule both backends use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/error.h"
#include "core/refresh.h"

#define T0 ((cf_time_t)1700000000000LL)
#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"
#define GRACE (10 * CF_SEC)

static cf_session_t *session(const char *client)
{
    cf_limits_t lim = {600 * CF_SEC, 3600 * CF_SEC, 300 * CF_SEC};
    cf_session_t *s = cf_session_new(SID, "alice", client, "", "user", T0, &lim, T0);

    assert_non_null(s);
    return s;
}

static cf_refresh_input_t input(const cf_session_t *s, uint32_t gen, cf_time_t now)
{
    cf_refresh_input_t in = {.session = s, .gen = gen, .client_id = "", .risk = CF_RISK_NONE,
                             .now = now, .grace = GRACE};
    return in;
}

static cf_refresh_decision_t decide(const cf_refresh_input_t *in)
{
    cf_refresh_decision_t d;

    cf_refresh_decide(in, &d);
    return d;
}

static void test_rotate_then_grace_to_the_ms_then_reuse(void **state)
{
    cf_session_t *s = session("web");
    cf_refresh_input_t in = input(s, 0, T0 + 1000);
    cf_refresh_decision_t d = decide(&in);

    (void)state;
    assert_int_equal(d.result, CF_REFRESH_RESULT_ROTATED);
    assert_int_equal(d.why, CF_REASON_NONE);
    cf_session_rotate(s, T0 + 1000);
    in.now = T0 + 1000 + GRACE - 1; /* the old token, last ms of the grace */
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_GRACE);
    in.now++; /* the grace is over: theft */
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_REUSE);
    assert_int_equal(d.why, CF_REASON_REFRESH_REUSE);
    assert_int_equal(d.end, CF_END_REFRESH_REUSE);
    assert_true(d.note_failure);
    in.grace = 0; /* no grace at all: reuse at once */
    in.now = T0 + 1000;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_REUSE);
    /* two generations back is reuse even within the grace */
    in.grace = GRACE;
    cf_session_rotate(s, T0 + 2000);
    in.now = T0 + 2001;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_REUSE);
    cf_session_free(s);
}

static void test_generation_from_the_future_is_reuse(void **state)
{
    cf_session_t *s = session("web");
    cf_refresh_input_t in = input(s, 1, T0 + 1000);

    (void)state;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_REUSE);
    in.gen = UINT32_MAX;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_REUSE);
    cf_session_free(s);
}

static void test_generation_wrap(void **state)
{
    cf_session_t *s = session("web");
    cf_session_vals_t v = {0};
    cf_profile_t prof;
    cf_session_ext_t ext;
    cf_session_t later;
    cf_refresh_input_t in;

    (void)state;
    cf_session_init(&later, &prof, &ext, &v);
    s->refresh_gen = UINT32_MAX;
    in = input(s, UINT32_MAX, T0 + 1000);
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_ROTATED);
    cf_session_rotate(s, T0 + 1000);
    assert_int_equal(s->refresh_gen, 0);
    in.now = T0 + 1001; /* generation 2^32-1 is the previous one of 0 */
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_GRACE);
    in.gen = 0;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_ROTATED);
    /* the merge takes a wrapped generation as newer, never as older */
    s->refresh_gen = UINT32_MAX;
    later.refresh_gen = 0;
    cf_session_set_time(&later, CF_T_ROTATED, T0 + 5);
    assert_int_equal(cf_session_merge(s, &later), 0);
    assert_int_equal(s->refresh_gen, 0);
    later.refresh_gen = UINT32_MAX;
    (void)cf_session_merge(s, &later);
    assert_int_equal(s->refresh_gen, 0);
    cf_session_free(s);
}

static void test_gates_in_order(void **state)
{
    cf_session_t *s = session("web");
    cf_refresh_input_t in = input(NULL, 0, T0 + 1000);
    cf_refresh_decision_t d = decide(&in);

    (void)state;
    assert_int_equal(d.result, CF_REFRESH_RESULT_UNKNOWN);
    assert_int_equal(d.why, CF_REASON_UNKNOWN_REFRESH_TOKEN);
    assert_true(d.note_failure);
    in = input(s, 5, T0 + 1000); /* a reuse, behind every gate */
    in.disabled = 1;
    in.client_id = "other";
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_DISABLED);
    assert_int_equal(d.end, CF_END_NONE); /* a held subject's session is not ended */
    assert_false(d.note_failure);
    in.disabled = 0;
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_CLIENT_MISMATCH);
    assert_true(d.note_failure);
    in.client_id = "web";
    in.owner_confidential = 1;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_INVALID_CLIENT);
    in.client_authenticated = 1;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_REUSE);
    in.client_id = NULL; /* no client named: no mismatch */
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_REUSE);
    cf_session_free(s);
}

static void test_ended_and_last_second_are_denied(void **state)
{
    cf_session_t *s = session("web");
    cf_refresh_input_t in = input(s, 0, T0 + 3600 * CF_SEC - CF_SEC);
    cf_refresh_decision_t d;

    (void)state;
    cf_session_touch(s, T0 + 3000 * CF_SEC);
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_ROTATED); /* exactly 1 s left */
    in.now++;
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_DENIED);
    assert_int_equal(d.why, CF_REASON_ABSOLUTE_TIMEOUT);
    assert_true(d.record_deadline);
    assert_int_equal(d.end, CF_END_NONE);
    in.now = T0 + 3600 * CF_SEC;
    assert_int_equal(decide(&in).why, CF_REASON_ABSOLUTE_TIMEOUT);
    in.now = T0 + 1000;
    in.not_before = T0 + 1; /* revoked with its subject one ms after creation */
    assert_int_equal(decide(&in).why, CF_REASON_REVOKED_BEFORE);
    in.not_before = 0;
    cf_session_end(s, CF_END_LOGOUT, T0 + 500);
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_DENIED);
    assert_int_equal(d.why, cf_end_refusal(CF_END_LOGOUT));
    cf_session_free(s);
}

static void test_risk_after_the_generation(void **state)
{
    cf_session_t *s = session("web");
    cf_refresh_input_t in = input(s, 0, T0 + 1000);
    cf_refresh_decision_t d;

    (void)state;
    in.risk = (cf_risk_t){CF_REASON_IP_CHANGED, CF_RISK_IGNORE};
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_ROTATED);
    in.risk.action = CF_RISK_STEP_UP;
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_RISK);
    assert_int_equal(d.why, CF_REASON_IP_CHANGED);
    assert_int_equal(d.end, CF_END_NONE);
    in.risk = (cf_risk_t){CF_REASON_DEVICE_CHANGED, CF_RISK_REVOKE};
    d = decide(&in);
    assert_int_equal(d.end, CF_END_DEVICE_CHANGED);
    assert_true(d.risk_considered);
    in.gen = 7; /* a reuse is a reuse, whatever the address */
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_REUSE);
    assert_false(d.risk_considered);
    cf_session_free(s);
}

#define JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
#define JKT2 "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

static cf_session_t *bound_session(cf_cnf_kind_t kind, const char *v)
{
    cf_session_t *s = session("web");
    cf_cnf_t c;

    assert_int_equal(cf_cnf_set(&c, kind, v, strlen(v)), 0);
    assert_int_equal(cf_session_set_cnf(s, &c), 0);
    return s;
}

/* Step 4b: a stolen bound refresh token is worthless without the key, and refusing spends nothing. */
static void test_dpop_bound_refresh_needs_the_key(void **state)
{
    cf_session_t *s = bound_session(CF_CNF_JKT, JKT);
    cf_refresh_input_t in = input(s, 0, T0 + 1000);
    cf_refresh_decision_t d = decide(&in);

    (void)state;
    assert_int_equal(d.result, CF_REFRESH_RESULT_SENDER);
    assert_int_equal(d.why, CF_REASON_DPOP_REQUIRED);
    assert_true(d.note_failure);
    assert_int_equal(d.end, CF_END_NONE);
    in.proof_jkt = JKT2;
    d = decide(&in);
    assert_int_equal(d.why, CF_REASON_DPOP_KEY_MISMATCH);
    in.proof_jkt = JKT "x"; /* a longer string with the same prefix */
    assert_int_equal(decide(&in).why, CF_REASON_DPOP_KEY_MISMATCH);
    in.proof_jkt = JKT;
    in.proof_refused = CF_REASON_DPOP_REPLAY; /* a refused proof refuses, whatever its key */
    assert_int_equal(decide(&in).why, CF_REASON_DPOP_REPLAY);
    in.proof_refused = CF_REASON_NONE;
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_ROTATED);
    assert_false(d.bind_jkt); /* bound already */
    /* A reuse behind a missing proof is not detected: the thief learns nothing, ends nothing. */
    in = input(s, 5, T0 + 1000);
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_SENDER);
    cf_session_free(s);
}

static void test_unbound_refresh_with_a_proof_binds(void **state)
{
    cf_session_t *s = session("web");
    cf_refresh_input_t in = input(s, 0, T0 + 1000);
    cf_refresh_decision_t d;

    (void)state;
    assert_false(decide(&in).bind_jkt);
    in.proof_jkt = JKT;
    d = decide(&in);
    assert_int_equal(d.result, CF_REFRESH_RESULT_ROTATED);
    assert_true(d.bind_jkt);
    in.proof_jkt = NULL;
    in.proof_refused = CF_REASON_DPOP_INVALID; /* sent and refused: refused even unbound */
    assert_int_equal(decide(&in).why, CF_REASON_DPOP_INVALID);
    cf_session_free(s);
}

static void test_certificate_bound_refresh_needs_the_certificate(void **state)
{
    cf_session_t *s = bound_session(CF_CNF_X5T, JKT);
    cf_refresh_input_t in = input(s, 0, T0 + 1000);

    (void)state;
    assert_int_equal(decide(&in).why, CF_REASON_CERT_MISMATCH);
    in.cert_x5t = JKT2;
    assert_int_equal(decide(&in).why, CF_REASON_CERT_MISMATCH);
    in.proof_jkt = JKT; /* a DPoP proof by "the same" thumbprint is no certificate */
    assert_int_equal(decide(&in).why, CF_REASON_CERT_MISMATCH);
    in.cert_x5t = JKT;
    assert_int_equal(decide(&in).result, CF_REFRESH_RESULT_ROTATED);
    cf_session_free(s);
}

static void test_cnf_stored_form(void **state)
{
    cf_cnf_t c;
    char text[CF_CNF_TEXT_LEN];

    (void)state;
    assert_int_equal(cf_cnf_parse("jkt:" JKT, &c), 0);
    assert_int_equal(c.kind, CF_CNF_JKT);
    cf_cnf_format(&c, text);
    assert_string_equal(text, "jkt:" JKT);
    assert_int_equal(cf_cnf_parse("", &c), 0);
    assert_int_equal(c.kind, CF_CNF_NONE);
    assert_int_equal(cf_cnf_parse(NULL, &c), 0);
    static const char *const bad[] = {"jkt:", "jkt:short", "JKT:" JKT, "x5t:" JKT "=", "jkt:" JKT "A",
                                      "abc:" JKT, "jkt:+ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cf_cnf_parse(bad[i], &c), CF_EINVAL);
        assert_int_equal(c.kind, CF_CNF_NONE);
    }
}

static void test_merge_never_moves_back_or_undoes_an_end(void **state)
{
    cf_session_t *s = session("web");
    cf_session_t *copy = cf_session_copy(s), snap = *copy; /* its own ext: a copy's */

    (void)state;
    cf_session_set_time(&snap, CF_T_ACTIVITY, T0 + 100);
    cf_session_set_time(&snap, CF_T_IDLE, T0 + 700 * CF_SEC);
    snap.end = CF_END_LOGOUT;
    cf_session_set_time(&snap, CF_T_ENDED, T0 + 200);
    assert_int_equal(cf_session_merge(s, &snap), 1);
    assert_int_equal(s->end, CF_END_LOGOUT);
    assert_int_equal(cf_session_last_activity(s), T0 + 100);
    /* an older snapshot, a later end: nothing moves, the first end stays */
    cf_session_set_time(&snap, CF_T_ACTIVITY, T0);
    cf_session_set_time(&snap, CF_T_IDLE, T0);
    snap.end = CF_END_REFRESH_REUSE;
    cf_session_set_time(&snap, CF_T_ENDED, T0 + 300);
    assert_int_equal(cf_session_merge(s, &snap), 0);
    assert_int_equal(s->end, CF_END_LOGOUT);
    assert_int_equal(cf_session_ended_at(s), T0 + 200);
    assert_int_equal(cf_session_last_activity(s), T0 + 100);
    assert_int_equal(cf_session_idle_deadline(s), T0 + 700 * CF_SEC);
    cf_session_free(copy);
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotate_then_grace_to_the_ms_then_reuse),
        cmocka_unit_test(test_generation_from_the_future_is_reuse),
        cmocka_unit_test(test_generation_wrap),
        cmocka_unit_test(test_gates_in_order),
        cmocka_unit_test(test_ended_and_last_second_are_denied),
        cmocka_unit_test(test_risk_after_the_generation),
        cmocka_unit_test(test_merge_never_moves_back_or_undoes_an_end),
        cmocka_unit_test(test_dpop_bound_refresh_needs_the_key),
        cmocka_unit_test(test_unbound_refresh_with_a_proof_binds),
        cmocka_unit_test(test_certificate_bound_refresh_needs_the_certificate),
        cmocka_unit_test(test_cnf_stored_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
