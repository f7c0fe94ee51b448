/* SPDX-License-Identifier: MIT
 *
 * cf_risk_compare: prefixes at their edges, IPv6, strings that do not parse,
 * a hidden device, and what an unbound session ignores.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/risk.h"

#define T0 ((cf_time_t)1700000000000LL)
#define SID "AAAAAAAAAAAAAAAAAAAAAAAA"

static cf_session_t *bound(const char *ip, const char *dev, cf_ip_binding_t b)
{
    cf_limits_t lim = {600 * CF_SEC, 3600 * CF_SEC, 300 * CF_SEC};
    cf_session_t *s = cf_session_new(SID, "alice", "", "", "", T0, &lim, T0);

    assert_non_null(s);
    cf_session_bind(s, ip, dev);
    s->ip_binding = (uint8_t)b;
    s->on_ip_change = CF_RISK_STEP_UP;
    s->on_device_change = CF_RISK_REVOKE;
    return s;
}

static void test_prefix_edges(void **state)
{
    cf_session_t *s = bound("10.1.2.3", "", CF_IPBIND_PREFIX24);
    cf_risk_t r;

    (void)state;
    assert_int_equal(cf_risk_compare(s, "10.1.2.254", NULL).why, CF_REASON_NONE);
    r = cf_risk_compare(s, "10.1.3.3", NULL);
    assert_int_equal(r.why, CF_REASON_IP_CHANGED);
    assert_int_equal(r.action, CF_RISK_STEP_UP);
    s->ip_binding = CF_IPBIND_PREFIX16;
    assert_int_equal(cf_risk_compare(s, "10.1.255.1", NULL).why, CF_REASON_NONE);
    assert_int_equal(cf_risk_compare(s, "10.2.2.3", NULL).why, CF_REASON_IP_CHANGED);
    s->ip_binding = CF_IPBIND_EXACT;
    assert_int_equal(cf_risk_compare(s, "10.1.2.3", NULL).why, CF_REASON_NONE);
    assert_int_equal(cf_risk_compare(s, "10.1.2.4", NULL).why, CF_REASON_IP_CHANGED);
    /* another family, garbage, empty, missing: all changes */
    assert_int_equal(cf_risk_compare(s, "::ffff:10.1.2.4", NULL).why, CF_REASON_IP_CHANGED);
    assert_int_equal(cf_risk_compare(s, "10.1.2.3x", NULL).why, CF_REASON_IP_CHANGED);
    assert_int_equal(cf_risk_compare(s, "", NULL).why, CF_REASON_IP_CHANGED);
    assert_int_equal(cf_risk_compare(s, NULL, NULL).why, CF_REASON_IP_CHANGED);
    s->ip_binding = CF_IPBIND_OFF;
    assert_int_equal(cf_risk_compare(s, "192.0.2.1", NULL).why, CF_REASON_NONE);
    cf_session_free(s);
}

static void test_ipv6_prefix(void **state)
{
    cf_session_t *s = bound("2001:db8:1:2::1", "", CF_IPBIND_PREFIX24);

    (void)state;
    assert_int_equal(cf_risk_compare(s, "2001:db8:1:2:ffff::9", NULL).why, CF_REASON_NONE); /* same /64 */
    assert_int_equal(cf_risk_compare(s, "2001:db8:1:3::1", NULL).why, CF_REASON_IP_CHANGED);
    cf_session_free(s);
}

static void test_unparseable_stored_address_compares_as_string(void **state)
{
    cf_session_t *s = bound("unix-socket", "", CF_IPBIND_PREFIX16);

    (void)state;
    assert_int_equal(cf_risk_compare(s, "unix-socket", NULL).why, CF_REASON_NONE);
    assert_int_equal(cf_risk_compare(s, "unix-socket2", NULL).why, CF_REASON_IP_CHANGED);
    cf_session_free(s);
}

static void test_device(void **state)
{
    cf_session_t *s = bound("", "devA", CF_IPBIND_EXACT);
    cf_risk_t r;

    (void)state;
    assert_false(cf_risk_binds_ip(s)); /* unknown creation address binds nothing */
    assert_true(cf_risk_binds_device(s));
    assert_int_equal(cf_risk_compare(s, "198.51.100.1", "devA").why, CF_REASON_NONE);
    r = cf_risk_compare(s, "198.51.100.1", "devB");
    assert_int_equal(r.why, CF_REASON_DEVICE_CHANGED);
    assert_int_equal(r.action, CF_RISK_REVOKE);
    /* hiding the device is a change, not a way around the binding */
    assert_int_equal(cf_risk_compare(s, NULL, NULL).why, CF_REASON_DEVICE_CHANGED);
    assert_int_equal(cf_risk_compare(s, NULL, "").why, CF_REASON_DEVICE_CHANGED);
    assert_int_equal(cf_risk_compare(s, NULL, "devAx").why, CF_REASON_DEVICE_CHANGED);
    cf_session_free(s);
}

static void test_address_before_device(void **state)
{
    cf_session_t *s = bound("10.0.0.1", "devA", CF_IPBIND_EXACT);

    (void)state;
    assert_int_equal(cf_risk_compare(s, "10.0.0.2", "devB").why, CF_REASON_IP_CHANGED);
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_edges),
        cmocka_unit_test(test_ipv6_prefix),
        cmocka_unit_test(test_unparseable_stored_address_compares_as_string),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_address_before_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
