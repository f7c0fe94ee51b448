/* SPDX-License-Identifier: MIT
 *
 * The event sinks' cost on the hot path (src/app/sinks.c): an allowed check
 * carries its session (for the idle-gap histogram), and the diagnostic log
 * must not hash that session's id (a SHA-256, cf_log_fingerprint) for a line
 * it never writes: that cost /v1/check a fifth of its throughput. The
 * fingerprint is counted through the linker (--wrap); the log level is set
 * to the most verbose, so only "no line for this event" can explain zero.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "app/app.h"
#include "core/relogin.h"
#include "util/log.h"

static int fingerprints;

void __real_cf_log_fingerprint(const char *secret, size_t len, char out[13]);
void __wrap_cf_log_fingerprint(const char *secret, size_t len, char out[13]);

void __wrap_cf_log_fingerprint(const char *secret, size_t len, char out[13])
{
    fingerprints++;
    __real_cf_log_fingerprint(secret, len, out);
}

static void test_check_with_session_hashes_nothing(void **state)
{
    cf_app_t *app = calloc(1, sizeof *app);
    cf_limits_t lim = {30 * 60 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};
    const cf_time_t t0 = 1767323045678;
    cf_session_t *s = cf_session_new("AAAAAAAAAAAAAAAAAAAAAAAA", "alice", "web", "", "user", t0,
                                     &lim, t0);
    cf_event_t ended = {.type = CF_EV_SESSION_ENDED, .at = t0, .session = s};

    (void)state;
    assert_non_null(app);
    assert_non_null(s);
    cf_config_defaults(&app->cfg);
    cf_app_metrics_init(app);
    cf_log_level_set(CF_LOG_DEBUG);
    for (int i = 0; i < 1000; i++) /* a burst, and a check after a silence */
        cf_app_emit_check_gap(app, CF_REASON_NONE, 1000, s, i == 999 ? 5 * CF_SEC : 0);
    assert_int_equal(fingerprints, 0);
    assert_int_equal(app->metrics.timeouts[cf_app_metrics_slot(&app->metrics, "web")].idle_gap.count, 1);
    /* A line that is written still names the session by its fingerprint. */
    cf_session_end(s, CF_END_LOGOUT, t0);
    cf_log_level_set(CF_LOG_INFO);
    cf_app_emit(app, &ended);
    assert_int_equal(fingerprints, 1);
    cf_log_level_set(CF_LOG_WARN); /* and one that is not, does not hash */
    cf_app_emit(app, &ended);
    assert_int_equal(fingerprints, 1);
    cf_app_metrics_fini(app);
    cf_config_fini(&app->cfg);
    cf_session_free(s);
    free(app);
}

/* One person's sessions: @sub's created, ended by @why at @end, and a new one at @back. */
static void idle_then_back(cf_app_t *app, const char *sid, cf_time_t t0, cf_time_t end, cf_time_t back)
{
    cf_limits_t lim = {3 * CF_SEC, 3600 * CF_SEC, 600 * CF_SEC};
    char sid2[CF_SID_LEN + 1];
    cf_session_t *a = cf_session_new(sid, "bob", "web", "", "user", t0, &lim, t0);
    cf_session_t *b;
    cf_event_t e = {.type = CF_EV_SESSION_CREATED, .at = t0, .session = a};

    assert_non_null(a);
    snprintf(sid2, sizeof sid2, "%s", sid);
    sid2[0] = 'B';
    b = cf_session_new(sid2, "bob", "web", "", "user", back, &lim, back);
    assert_non_null(b);
    cf_app_emit(app, &e);
    cf_session_end(a, CF_END_IDLE_TIMEOUT, end);
    e = (cf_event_t){.type = CF_EV_SESSION_ENDED, .at = end, .session = a};
    cf_app_emit(app, &e);
    e = (cf_event_t){.type = CF_EV_SESSION_CREATED, .at = back, .session = b};
    cf_app_emit(app, &e);
    cf_app_emit_check_gap(app, CF_REASON_NONE, 1000, b, 5 * CF_SEC);
    e = (cf_event_t){.type = CF_EV_TOKEN_REFRESHED, .at = back, .session = b, .gap = 7 * CF_SEC};
    cf_app_emit(app, &e);
    cf_session_free(a);
    cf_session_free(b);
}

/*
 * tuning.measure off: a check or refresh after a silence observes no idle gap,
 * and a timeout followed by a new session of the same subject is no re-login
 * (the tracker is not fed, so nothing is pending for a later sweep either);
 * back on (a reload changes app->cfg in place), the same traffic is counted.
 */
static void test_measure_off_observes_no_gap_and_tracks_no_relogin(void **state)
{
    cf_app_t *app = calloc(1, sizeof *app);
    const cf_time_t t0 = 1767323045678;
    const cf_app_metrics_t *m = &app->metrics;
    size_t web;

    (void)state;
    assert_non_null(app);
    cf_config_defaults(&app->cfg);
    assert_int_equal(app->cfg.measure, 1); /* on by default */
    app->cfg.measure = 0;
    cf_app_metrics_init(app);
    cf_log_level_set(CF_LOG_ERROR);
    web = cf_app_metrics_slot(m, "web");
    idle_then_back(app, "AAAAAAAAAAAAAAAAAAAAAAAA", t0, t0 + 3 * CF_SEC, t0 + 5 * CF_SEC);
    cf_app_metrics_sweep(app, t0 + 48 * 3600 * CF_SEC);
    assert_int_equal(m->timeouts[web].idle_gap.count, 0);
    assert_int_equal(m->timeouts[web].relogins[0] + m->timeouts[web].relogins[1], 0);
    assert_int_equal(m->sessions_created, 2); /* what is not measurement is still counted */
    assert_int_equal(m->checks[CF_REASON_NONE], 1);
    app->cfg.measure = 1;
    cf_app_metrics_sweep(app, t0 + 48 * 3600 * CF_SEC); /* nothing was pending */
    assert_int_equal(cf_relogin_without_return(m->relogin, web, 0), 0);
    idle_then_back(app, "CAAAAAAAAAAAAAAAAAAAAAAA", t0 + 49 * 3600 * CF_SEC,
                   t0 + 49 * 3600 * CF_SEC + 3 * CF_SEC, t0 + 49 * 3600 * CF_SEC + 5 * CF_SEC);
    assert_int_equal(m->timeouts[web].idle_gap.count, 2); /* the check's 5 s, the refresh's 7 s */
    assert_int_equal(m->timeouts[web].relogins[0] + m->timeouts[web].relogins[1], 1);
    cf_app_metrics_fini(app);
    cf_config_fini(&app->cfg);
    free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_with_session_hashes_nothing),
        cmocka_unit_test(test_measure_off_observes_no_gap_and_tracks_no_relogin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
