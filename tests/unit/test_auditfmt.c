/* SPDX-License-Identifier: MIT
 *
 * The audit line, byte for byte. `curfew tune` (core/auditline.c) and
 * operators' tools parse these lines, so a faster formatter must write
 * exactly what the printf-based one wrote. The expected lines below were
 * produced by that formatter (src/obs/audit.c before the hand-written
 * appenders) from these same events: every event kind, times before 1970,
 * at the end of year 9999, past it and out of gmtime's range, negative and
 * extreme integers, escapes, and one formatter reused across events (the
 * per-second time cache must never leak into the next line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/session.h"
#include "obs/audit.h"

#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"
#define T0 ((cf_time_t)1767323045678) /* 2026-01-02T03:04:05.678Z */

/* ---- cases: begin (the generator of the expected lines used this block as is) ---- */
static cf_session_t *g_s;
static cf_apikey_t g_key;

static void g_setup(void)
{
    cf_limits_t lim = {30 * 60 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};

    g_s = cf_session_new(SID, "al\"ice\n", "web", "read write", "admin,,user", T0, &lim, T0);
    cf_session_bind(g_s, "10.0.0.5", NULL);
    memset(&g_key, 0, sizeof g_key);
    memcpy(g_key.id, "K0123456789abcdefghijk", sizeof g_key.id - 1);
    g_key.sub = "svc\tname";
    g_key.name = "ci";
    g_key.client_id = "";
    g_key.expires_at = T0 + 86400000;
}

/* Fill *@e with case @i; 0 when there is no such case. */
static int g_case(int i, cf_event_t *e)
{
    static const cf_time_t times[] = {
        T0, 0, -1, -1000, -999, 1, 999, 1000, 951782400000 /* 2000-02-29 */,
        253402300799999 /* 9999-12-31T23:59:59.999Z */, 253402300800000 /* year 10000 */,
        -62167219200000 /* year 0 */, -62167219200001, INT64_MAX / 1000 * 1000, INT64_MIN,
        T0 + 999, T0 + 1000, T0 - 86400000LL * 365 * 56,
    };
    const int ntimes = (int)(sizeof times / sizeof times[0]);

    memset(e, 0, sizeof *e);
    e->at = T0;
    e->session = g_s;
    if (i < ntimes) { /* every time, as ts and idle_from */
        e->type = CF_EV_ACTIVITY_GAP;
        e->at = times[i];
        e->span = i % 3 == 0 ? 45000 : i % 3 == 1 ? -7 : INT64_MIN / 2;
        return 1;
    }
    i -= ntimes;
    switch (i) {
    case 0:
        e->type = CF_EV_SESSION_CREATED;
        e->has_token = 1;
        memset(e->token_hash, 0xab, sizeof e->token_hash);
        e->token_gen = 4000000000u;
        return 1;
    case 1:
        e->type = CF_EV_TOKEN_REFRESHED;
        e->gap = -5;
        return 1;
    case 2:
        e->type = CF_EV_TOKEN_REFRESHED;
        e->gap = INT64_MAX;
        e->has_token = 1;
        return 1;
    case 3:
        e->type = CF_EV_SESSION_ENDED;
        e->reason = CF_REASON_IDLE_TIMEOUT;
        return 1;
    case 4:
        e->type = CF_EV_NOT_BEFORE;
        e->session = NULL;
        e->sub = "a\x01\\b\x7f\xc3\xa9";
        e->not_before = T0 - 1000;
        return 1;
    case 5:
        e->type = CF_EV_NOT_BEFORE;
        e->session = NULL;
        e->not_before = -1;
        return 1;
    case 6:
        e->type = CF_EV_SESSION_PURGED;
        e->session = NULL;
        memcpy(e->sid, SID, sizeof e->sid);
        return 1;
    case 7:
        e->type = CF_EV_ALERT_HOLD;
        e->session = NULL;
        e->sub = "bob";
        e->until = T0 + 3600000;
        return 1;
    case 8:
        e->type = CF_EV_CLOCK_STEP;
        e->session = NULL;
        e->step = -123456;
        return 1;
    case 9:
        e->type = CF_EV_CLOCK_STEP;
        e->session = NULL;
        e->step = INT64_MAX;
        return 1;
    case 10:
        e->type = CF_EV_LOCKED_OUT;
        e->session = NULL;
        strcpy(e->ip, "2001:db8::1");
        e->span = 900000;
        return 1;
    case 11:
        e->type = CF_EV_RISK_CHANGED;
        e->name = "revoke";
        e->reason = CF_REASON_IP_CHANGED;
        return 1;
    case 12:
        e->type = CF_EV_KEY_ROTATED;
        e->session = NULL;
        e->name = "kid-2";
        e->key = "";
        e->detail = "api";
        e->count = UINT64_MAX;
        return 1;
    case 13:
        e->type = CF_EV_APIKEY_ROTATED;
        e->session = NULL;
        e->apikey = &g_key;
        g_key.overlap_until = T0 + 60000;
        g_key.end = 0; /* not ended */
        memcpy(g_key.successor, "S0123456789abcdefghijk", sizeof g_key.successor - 1);
        return 1;
    case 14:
        e->type = CF_EV_APIKEY_ENDED;
        e->session = NULL;
        e->apikey = &g_key;
        g_key.overlap_until = 0;
        g_key.successor[0] = '\0';
        g_key.end = CF_APIKEY_END_REVOKED;
        g_key.ended_at = T0 + 1000;
        return 1;
    case 15:
        e->type = CF_EV_ALERT_FIRED;
        e->session = NULL;
        e->sub = "eve";
        strcpy(e->ip, "10.1.2.3");
        memcpy(e->sid, SID, sizeof e->sid);
        e->name = "check_failures_per_ip";
        e->key = "10.1.2.3";
        e->detail = "webhook";
        e->count = 42;
        e->span = 61999;
        return 1;
    case 16:
        e->type = CF_EV_CONNECTION_CUT;
        e->name = "websocket";
        e->reason = CF_REASON_SESSION_REVOKED;
        e->bytes_up = 0;
        e->bytes_down = 18446744073709551615ULL;
        e->span = 1234567;
        return 1;
    case 17: /* a session whose strings are all empty */
        e->type = CF_EV_ACTIVITY_GAP;
        e->session = cf_session_new(SID, "", "", "", "", T0, cf_session_limits(g_s), T0);
        e->at = T0 + 500;
        e->span = 1000;
        return 2; /* the caller frees e->session */
    default:
        return 0;
    }
}
/* ---- cases: end ---- */

static const char *const expected[] = {
#include "auditfmt_golden.inc"
};

static void test_lines_are_byte_identical(void **state)
{
    cf_audit_line_t l = {0}; /* one formatter for all: what one line leaves must not show */
    cf_event_t e;
    int i, rc, n = 0;

    (void)state;
    g_setup();
    for (i = 0; (rc = g_case(i, &e)) != 0; i++) {
        assert_true(i < (int)(sizeof expected / sizeof expected[0]));
        assert_int_equal(cf_audit_format(&e, &l), 1);
        if (strcmp(l.buf, expected[i]) != 0)
            fail_msg("case %d:\n got  %s want %s", i, l.buf, expected[i]);
        assert_int_equal(l.len, strlen(expected[i]));
        if (rc == 2)
            cf_session_free(e.session);
        n++;
    }
    assert_int_equal(n, (int)(sizeof expected / sizeof expected[0]));
    /* The same cases again, in reverse: a cached second from a later case must not leak. */
    for (i = n - 1; i >= 0; i--) {
        rc = g_case(i, &e);
        assert_int_equal(cf_audit_format(&e, &l), 1);
        if (strcmp(l.buf, expected[i]) != 0)
            fail_msg("case %d (reverse):\n got  %s want %s", i, l.buf, expected[i]);
        if (rc == 2)
            cf_session_free(e.session);
    }
    cf_audit_line_fini(&l);
    cf_session_free(g_s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_are_byte_identical),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
