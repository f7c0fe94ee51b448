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

#include "app/app.h"
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
    cf_log_level = CF_LOG_DEBUG;
    for (int i = 0; i < 1000; i++) /* a burst, and a check after a silence */
        cf_app_emit_check_gap(app, CF_REASON_NONE, 1000, s, i == 999 ? 5 * CF_SEC : 0);
    assert_int_equal(fingerprints, 0);
    assert_int_equal(app->metrics.timeouts[cf_app_metrics_slot(&app->metrics, "web")].idle_gap.count, 1);
    /* A line that is written still names the session by its fingerprint. */
    cf_session_end(s, CF_END_LOGOUT, t0);
    cf_log_level = CF_LOG_INFO;
    cf_app_emit(app, &ended);
    assert_int_equal(fingerprints, 1);
    cf_log_level = CF_LOG_WARN; /* and one that is not, does not hash */
    cf_app_emit(app, &ended);
    assert_int_equal(fingerprints, 1);
    cf_app_metrics_fini(app);
    cf_config_fini(&app->cfg);
    cf_session_free(s);
    free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_with_session_hashes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
