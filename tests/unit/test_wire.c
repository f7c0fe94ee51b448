/* SPDX-License-Identifier: MIT
 *
 * The cluster wire format: what one node writes, every other node and the
 * Redis script read back exactly; anything malformed is refused whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/event.h"
#include "store/wire.h"

#define T0 ((cf_time_t)1795000000123LL)
#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"
#define NODE "node-0123456789a"

static cf_session_t *make(void)
{
    cf_limits_t lim = {600000, 43200000, 300000};
    cf_session_t *s = cf_session_new(SID, "alice@example.com", "web", "read write", "admin,user",
                                     T0 - 5000, &lim, T0);

    assert_non_null(s);
    cf_session_bind(s, "2001:db8::1", "dev-fp");
    s->refresh_gen = 7;
    cf_session_set_time(s, CF_T_ROTATED, T0 + 10);
    cf_session_set_time(s, CF_T_ACTIVITY, T0 + 20);
    cf_session_set_time(s, CF_T_IDLE, T0 + 20 + 600000);
    return s;
}

static void test_round_trip_keeps_every_field(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = make();
    cf_event_t *e;
    cf_wire_msg_t m;
    char err[128];
    size_t n;

    (void)state;
    e = cf_events_add(&ev, CF_EV_TOKEN_REFRESHED, T0 + 30, s);
    assert_non_null(e);
    e->has_token = 1;
    e->token_gen = 7;
    for (int i = 0; i < 32; i++)
        e->token_hash[i] = (uint8_t)(i * 7 + 1);
    cf_session_end(s, CF_END_REVOKED, T0 + 40);
    e = cf_events_add(&ev, CF_EV_SESSION_ENDED, T0 + 40, s);
    e->reason = CF_REASON_SESSION_REVOKED;
    e = cf_events_add(&ev, CF_EV_NOT_BEFORE, T0 + 50, NULL);
    e->sub = strdup("bob");
    e->not_before = T0 + 50;
    e = cf_events_add(&ev, CF_EV_NOT_BEFORE, T0 + 60, NULL);
    e->not_before = T0 + 60; /* everyone */

    char *msg = cf_wire_encode(NODE, 1795000000123456LL, &ev, &n);
    assert_non_null(msg);
    assert_int_equal(n, 4);
    assert_int_equal(cf_wire_decode(msg, strlen(msg), &m, err, sizeof err), 0);
    assert_string_equal(m.node, NODE);
    assert_true(m.ts_us == 1795000000123456LL);
    assert_false(m.heartbeat);
    assert_int_equal(m.ev.n, 4);

    const cf_event_t *r = &m.ev.v[0];
    const cf_session_t *rs = r->session;
    assert_int_equal(r->type, CF_EV_TOKEN_REFRESHED);
    assert_true(r->at == T0 + 30);
    assert_true(r->has_token);
    assert_int_equal(r->token_gen, 7);
    assert_memory_equal(r->token_hash, ev.v[0].token_hash, 32);
    assert_string_equal(rs->id, SID);
    assert_string_equal(rs->sub, "alice@example.com");
    assert_string_equal(cf_session_client_id(rs), "web");
    assert_string_equal(cf_session_scope(rs), "read write");
    assert_string_equal(cf_session_roles(rs), "admin,user");
    assert_string_equal(cf_session_ip(rs), "2001:db8::1");
    assert_string_equal(cf_session_device(rs), "dev-fp");
    assert_true(cf_session_auth_time(rs) == T0 - 5000 && rs->created_at == T0);
    assert_true(cf_session_last_activity(rs) == T0 + 20 &&
                cf_session_idle_deadline(rs) == T0 + 20 + 600000);
    assert_true(cf_session_absolute_deadline(rs) == cf_session_absolute_deadline(ev.v[0].session));
    assert_true(cf_session_limits(rs)->idle_timeout == 600000 &&
                cf_session_limits(rs)->access_ttl == 300000);
    assert_int_equal(rs->refresh_gen, 7);
    assert_true(cf_session_rotated_at(rs) == T0 + 10);
    assert_int_equal(rs->end, CF_END_NONE);

    assert_int_equal(m.ev.v[1].type, CF_EV_SESSION_ENDED);
    assert_int_equal(m.ev.v[1].session->end, CF_END_REVOKED);
    assert_true(cf_session_ended_at(m.ev.v[1].session) == T0 + 40);
    assert_int_equal(m.ev.v[1].reason, CF_REASON_SESSION_REVOKED);
    assert_string_equal(m.ev.v[2].sub, "bob");
    assert_true(m.ev.v[2].not_before == T0 + 50);
    assert_null(m.ev.v[3].sub);
    assert_true(m.ev.v[3].not_before == T0 + 60);

    cf_wire_msg_fini(&m);
    free(msg);
    cf_events_fini(&ev);
    cf_session_free(s);
}

static void test_purges_stay_local(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_event_t *e = cf_events_add(&ev, CF_EV_SESSION_PURGED, T0, NULL);
    size_t n = 99;

    (void)state;
    memcpy(e->sid, SID, sizeof e->sid);
    char *msg = cf_wire_encode(NODE, 1, &ev, &n);
    assert_non_null(msg);
    assert_int_equal(n, 0);
    free(msg);
    cf_events_fini(&ev);
}

static void test_alert_hold_travels_and_clock_steps_stay_local(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_event_t *e = cf_events_add(&ev, CF_EV_CLOCK_STEP, T0, NULL);
    cf_wire_msg_t m;
    char err[128];
    size_t n = 99;

    (void)state;
    e->step = -3600000;
    e = cf_events_add(&ev, CF_EV_ALERT_HOLD, T0, NULL);
    e->sub = strdup("al\"ice\u00e9");
    e->until = T0 + 600000;
    char *msg = cf_wire_encode(NODE, 1, &ev, &n);
    assert_non_null(msg);
    assert_int_equal(n, 1); /* the step is this node's own observation */
    assert_int_equal(cf_wire_decode(msg, strlen(msg), &m, err, sizeof err), 0);
    assert_int_equal(m.ev.n, 1);
    assert_int_equal(m.ev.v[0].type, CF_EV_ALERT_HOLD);
    assert_string_equal(m.ev.v[0].sub, "al\"ice\u00e9");
    assert_true(m.ev.v[0].until == T0 + 600000);
    cf_wire_msg_fini(&m);
    free(msg);
    cf_events_fini(&ev);
}

static void test_heartbeat_and_keys_notice(void **state)
{
    cf_wire_msg_t m;
    char err[128];
    char *hb = cf_wire_encode_notice(NODE, 42, 0), *keys = cf_wire_encode_notice(NODE, 43, 1);

    (void)state;
    assert_int_equal(cf_wire_decode(hb, strlen(hb), &m, err, sizeof err), 0);
    assert_true(m.heartbeat && !m.keys && m.ev.n == 0 && m.ts_us == 42);
    cf_wire_msg_fini(&m);
    assert_int_equal(cf_wire_decode(keys, strlen(keys), &m, err, sizeof err), 0);
    assert_true(!m.heartbeat && m.keys);
    cf_wire_msg_fini(&m);
    free(hb);
    free(keys);
}

static void expect_refused(const char *msg, const char *why)
{
    cf_wire_msg_t m;
    char err[128] = "";

    assert_int_equal(cf_wire_decode(msg, strlen(msg), &m, err, sizeof err), CF_EPARSE);
    if (strstr(err, why) == NULL)
        fail_msg("'%s': expected an error containing '%s', got '%s'", msg, why, err);
    assert_int_equal(m.ev.n, 0);
    assert_null(m.ev.v);
}

static void test_malformed_messages_are_refused_whole(void **state)
{
    (void)state;
    expect_refused("not json", "not a JSON object");
    expect_refused("[1]", "not a JSON object");
    expect_refused("{\"v\":2,\"node\":\"" NODE "\",\"ts\":1}", "unknown version");
    expect_refused("{\"v\":1,\"node\":\"short\",\"ts\":1}", "bad node id");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\"}", "bad ts");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":{}}", "ev is not an array");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"nope\",\"at\":1}]}",
                   "unknown event type");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"activity\",\"at\":1}]}",
                   "without a session");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"not_before\",\"at\":1,"
                   "\"sub\":5,\"nb\":1}]}",
                   "bad not_before");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"alert_hold\",\"at\":1,"
                   "\"sub\":\"a\"}]}",
                   "bad alert_hold");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"alert_hold\",\"at\":1,"
                   "\"sub\":\"\",\"until\":5}]}",
                   "bad alert_hold");
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"alert_hold\",\"at\":1,"
                   "\"sub\":null,\"until\":5}]}",
                   "bad alert_hold");
    /* A good event followed by a bad one: nothing is kept. */
    expect_refused("{\"v\":1,\"node\":\"" NODE "\",\"ts\":1,\"ev\":[{\"t\":\"not_before\",\"at\":1,"
                   "\"sub\":null,\"nb\":1},{\"t\":\"session_created\",\"at\":1,\"s\":{\"id\":\"x\"}}]}",
                   "session field");
}

static void test_bad_snapshot_fields_are_named(void **state)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = make();
    char *msg, *p;

    (void)state;
    cf_events_add(&ev, CF_EV_SESSION_CREATED, T0, s);
    msg = cf_wire_encode(NODE, 1, &ev, NULL);
    assert_non_null(msg);
    /* Break one integer field and one end reason in place. */
    p = strstr(msg, "\"idle_timeout\":600000");
    assert_non_null(p);
    memcpy(p, "\"idle_timeout\":\"6000\"", 21);
    expect_refused(msg, "'idle_timeout'");
    free(msg);
    cf_session_end(s, CF_END_LOGOUT, T0 + 1);
    cf_events_fini(&ev);
    cf_events_add(&ev, CF_EV_SESSION_ENDED, T0, s);
    msg = cf_wire_encode(NODE, 1, &ev, NULL);
    p = strstr(msg, "\"logout\"");
    assert_non_null(p);
    memcpy(p, "\"lagout\"", 8);
    expect_refused(msg, "unknown end reason");
    free(msg);
    cf_events_fini(&ev);
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_every_field),
        cmocka_unit_test(test_purges_stay_local),
        cmocka_unit_test(test_alert_hold_travels_and_clock_steps_stay_local),
        cmocka_unit_test(test_heartbeat_and_keys_notice),
        cmocka_unit_test(test_malformed_messages_are_refused_whole),
        cmocka_unit_test(test_bad_snapshot_fields_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
