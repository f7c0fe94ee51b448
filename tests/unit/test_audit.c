/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/session.h"
#include "obs/audit.h"

#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"
#define T0 ((cf_time_t)1767323045678) /* 2026-01-02T03:04:05.678Z */

static cf_session_t *session(void)
{
    cf_limits_t lim = {30 * 60 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};
    cf_session_t *s = cf_session_new(SID, "al\"ice\n", "web", "read write", "admin,user", T0, &lim, T0);

    assert_non_null(s);
    cf_session_bind(s, "10.0.0.5", NULL);
    return s;
}

/* Format the only event of @ev and parse it back; the line ends in exactly one newline. */
static json_t *format_one(cf_events_t *ev)
{
    cf_audit_line_t l = {0};
    json_error_t err;
    json_t *j;

    assert_int_equal(cf_audit_format(&ev->v[0], &l), 1);
    assert_int_equal(strlen(l.buf), l.len);
    assert_true(l.len > 2 && l.buf[l.len - 1] == '\n');
    assert_null(memchr(l.buf, '\n', l.len - 1));
    j = json_loadb(l.buf, l.len, 0, &err);
    assert_non_null(j);
    cf_audit_line_fini(&l);
    return j;
}

static const char *str(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);

    assert_non_null(v);
    return json_is_null(v) ? NULL : json_string_value(v);
}

static void test_created_has_common_and_event_fields(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = session();
    cf_event_t *e;
    json_t *j, *roles;

    (void)state;
    e = cf_events_add(&ev, CF_EV_SESSION_CREATED, T0, s);
    e->has_token = 1;
    e->token_gen = 1;
    memset(e->token_hash, 0xab, sizeof e->token_hash);
    j = format_one(&ev);
    assert_int_equal(json_integer_value(json_object_get(j, "v")), CF_AUDIT_VERSION);
    assert_string_equal(str(j, "ts"), "2026-01-02T03:04:05.678Z");
    assert_string_equal(str(j, "event"), "session_created");
    assert_string_equal(str(j, "sid"), SID);
    assert_string_equal(str(j, "sub"), "al\"ice\n");
    assert_string_equal(str(j, "client_id"), "web");
    assert_string_equal(str(j, "ip"), "10.0.0.5");
    assert_null(str(j, "reason"));
    assert_string_equal(str(j, "scope"), "read write");
    assert_string_equal(str(j, "idle_expires_at"), "2026-01-02T03:34:05.678Z");
    assert_string_equal(str(j, "absolute_expires_at"), "2026-01-02T15:04:05.678Z");
    roles = json_object_get(j, "roles");
    assert_int_equal(json_array_size(roles), 2);
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "user");
    assert_int_equal(json_integer_value(json_object_get(j, "refresh_gen")), 1);
    assert_int_equal(strlen(str(j, "token_fp")), 12);
    json_decref(j);
    cf_events_fini(&ev);
    cf_session_free(s);
}

static void test_ended_not_before_purged(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = session();
    cf_event_t *e;
    json_t *j;

    (void)state;
    cf_session_end(s, CF_END_LOGOUT, T0 + 90500);
    e = cf_events_add(&ev, CF_EV_SESSION_ENDED, T0 + 90500, s);
    e->reason = CF_REASON_LOGOUT;
    j = format_one(&ev);
    assert_string_equal(str(j, "reason"), "logout");
    assert_string_equal(str(j, "end_reason"), "logout");
    assert_string_equal(str(j, "ended_at"), "2026-01-02T03:05:36.178Z");
    assert_true(json_real_value(json_object_get(j, "age_seconds")) == 90.5);
    json_decref(j);
    cf_events_fini(&ev);

    e = cf_events_add(&ev, CF_EV_NOT_BEFORE, T0, NULL);
    e->not_before = T0 - 1000;
    j = format_one(&ev);
    assert_string_equal(str(j, "scope"), "all");
    assert_null(str(j, "sub"));
    assert_null(str(j, "sid"));
    assert_string_equal(str(j, "at"), "2026-01-02T03:04:04.678Z");
    json_decref(j);
    cf_events_fini(&ev);

    e = cf_events_add(&ev, CF_EV_SESSION_PURGED, T0, NULL);
    memcpy(e->sid, SID, sizeof e->sid);
    j = format_one(&ev);
    assert_string_equal(str(j, "event"), "session_purged");
    assert_string_equal(str(j, "sid"), SID);
    json_decref(j);
    cf_events_fini(&ev);
    cf_session_free(s);
}

static void test_activity_is_not_audited(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = session();
    cf_audit_line_t l = {0};

    (void)state;
    cf_events_add(&ev, CF_EV_ACTIVITY, T0, s);
    assert_int_equal(cf_audit_format(&ev.v[0], &l), 0);
    cf_audit_line_fini(&l);
    cf_events_fini(&ev);
    cf_session_free(s);
}

static void test_control_bytes_are_escaped(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_event_t *e;
    cf_audit_line_t l = {0};

    (void)state;
    e = cf_events_add(&ev, CF_EV_NOT_BEFORE, T0, NULL);
    e->sub = strdup("a\x01\\b");
    assert_int_equal(cf_audit_format(e, &l), 1);
    assert_non_null(strstr(l.buf, "\"sub\":\"a\\u0001\\\\b\""));
    assert_non_null(strstr(l.buf, "\"scope\":\"subject\""));
    cf_audit_line_fini(&l);
    cf_events_fini(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_has_common_and_event_fields),
        cmocka_unit_test(test_ended_not_before_purged),
        cmocka_unit_test(test_activity_is_not_audited),
        cmocka_unit_test(test_control_bytes_are_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
