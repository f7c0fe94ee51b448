/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/error.h"
#include "core/netaddr.h"

static cf_ip_t ip(const char *s)
{
    cf_ip_t a;

    assert_int_equal(cf_ip_parse(s, strlen(s), &a), 0);
    return a;
}

static cf_cidr_t cidr(const char *s)
{
    cf_cidr_t c;

    assert_int_equal(cf_cidr_parse(s, strlen(s), &c), 0);
    return c;
}

/* Parse @in and check that it formats as @want. */
static void roundtrip(const char *in, int family, const char *want)
{
    cf_ip_t a = ip(in);
    char buf[CF_IP_STRLEN];

    assert_int_equal(a.family, family);
    cf_ip_format(&a, buf);
    assert_string_equal(buf, want);
}

static void assert_ip(const cf_ip_t *got, const char *want)
{
    char buf[CF_IP_STRLEN];

    cf_ip_format(got, buf);
    assert_string_equal(buf, want);
}

static void test_parse_and_format_v4_v6(void **state)
{
    cf_ip_t a;

    (void)state;
    roundtrip("192.0.2.1", 4, "192.0.2.1");
    roundtrip("0.0.0.0", 4, "0.0.0.0");
    roundtrip("255.255.255.255", 4, "255.255.255.255");
    roundtrip("::1", 6, "::1");
    roundtrip("[::1]", 6, "::1");
    roundtrip("2001:DB8:0:0:0:0:0:1", 6, "2001:db8::1");
    roundtrip("fe80::1:2", 6, "fe80::1:2");
    roundtrip("::ffff:10.1.2.3", 4, "10.1.2.3"); /* mapped -> IPv4 */
    roundtrip("[::ffff:127.0.0.1]", 4, "127.0.0.1");

    a = ip("10.0.0.1");
    assert_int_equal(a.a[0], 10);
    assert_int_equal(a.a[3], 1);
    assert_int_equal(a.a[4], 0);
    assert_int_equal(a.a[15], 0);
    assert_int_equal(cf_ip_parse("10.0.0.1trailing", 8, &a), 0); /* length-delimited */
}

static void test_parse_rejects_garbage(void **state)
{
    static const char *const bad[] = {
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4:80", "[::1]:80", " 1.2.3.4", "1.2.3.4 ",
        "::1%eth0", "fe80::1::2", "[::1", "::1]", "[]", "unknown", "01.2.3.4x", "10.1",
        "[1.2.3.4]x", "1.2.3.4/32", "abcd", "::ffff:1.2.3.4.5",
    };
    cf_ip_t a;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&a, 0x77, sizeof(a));
        assert_int_equal(cf_ip_parse(bad[i], strlen(bad[i]), &a), CF_EPARSE);
        assert_int_equal(a.family, 0x77777777); /* untouched */
    }
    assert_int_equal(cf_ip_parse("1.2.3.4\0", 8, &a), CF_EPARSE);
    assert_int_equal(cf_ip_parse(NULL, 0, &a), CF_EPARSE);
    assert_int_equal(cf_ip_parse("1111:2222:3333:4444:5555:6666:7777:8888:9999", 44, &a), CF_EPARSE);
}

static void test_cidr_parse_and_contains(void **state)
{
    cf_cidr_t c;
    char buf[CF_IP_STRLEN];

    (void)state;
    c = cidr("10.0.0.0/8");
    assert_int_equal(c.bits, 8);
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("10.255.1.2")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("11.0.0.0")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("::a00:1")})); /* other family */

    c = cidr("10.1.2.3/8"); /* host bits accepted and masked */
    cf_ip_format(&c.net, buf);
    assert_string_equal(buf, "10.0.0.0");

    c = cidr("192.168.1.128/25");
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("192.168.1.255")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("192.168.1.127")}));

    c = cidr("127.0.0.1"); /* bare address: /32 */
    assert_int_equal(c.bits, 32);
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("127.0.0.1")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("127.0.0.2")}));
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("::ffff:127.0.0.1")}));

    c = cidr("0.0.0.0/0");
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("203.0.113.9")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("::1")}));

    c = cidr("::1/128");
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("::1")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("::2")}));
    c = cidr("::1");
    assert_int_equal(c.bits, 128);
    c = cidr("2001:db8::/32");
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("2001:db8:ffff::1")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("2001:db9::1")}));
    c = cidr("fd00::/7");
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("fc12::1")}));
    assert_false(cf_cidr_contains(&c, (cf_ip_t[]){ip("fe00::1")}));
    c = cidr("[::1]/128");
    assert_int_equal(c.bits, 128);

    c = cidr("::ffff:10.0.0.0/104"); /* mapped range -> IPv4 /8 */
    assert_int_equal(c.net.family, 4);
    assert_int_equal(c.bits, 8);
    assert_true(cf_cidr_contains(&c, (cf_ip_t[]){ip("10.9.9.9")}));
}

static void test_cidr_parse_rejects_garbage(void **state)
{
    static const char *const bad[] = {
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8",
        "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/1000", "10.0.0.0/x", "10.0.0/8",
    };
    cf_cidr_t c;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cf_cidr_parse(bad[i], strlen(bad[i]), &c), CF_EPARSE);
}

/* The trusted proxies of most tests: loopback and a private /8. */
static cf_cidr_t trusted[3];

static int setup_trusted(void **state)
{
    (void)state;
    trusted[0] = cidr("127.0.0.1/32");
    trusted[1] = cidr("::1/128");
    trusted[2] = cidr("10.0.0.0/8");
    return 0;
}

/* cf_ip_client() with NUL-terminated headers (NULL = absent). */
static cf_ip_t client(const char *peer, const char *xff, const char *xreal)
{
    cf_ip_t p = ip(peer), out;

    assert_int_equal(cf_ip_client(&p, xff, xff ? strlen(xff) : 0, xreal, xreal ? strlen(xreal) : 0,
                                  trusted, 3, &out),
                     0);
    return out;
}

static void test_client_spoofed_headers_from_untrusted_peer_ignored(void **state)
{
    cf_ip_t c;

    (void)state;
    c = client("203.0.113.7", "1.1.1.1", NULL);
    assert_ip(&c, "203.0.113.7");
    c = client("203.0.113.7", "127.0.0.1", "1.1.1.1");
    assert_ip(&c, "203.0.113.7");
    c = client("203.0.113.7", NULL, "1.1.1.1");
    assert_ip(&c, "203.0.113.7");
    c = client("2001:db8::5", "1.1.1.1", NULL);
    assert_ip(&c, "2001:db8::5");
}

static void test_client_trusted_proxy_chain(void **state)
{
    cf_ip_t c;

    (void)state;
    /* One proxy: the only entry is the client. */
    c = client("127.0.0.1", "198.51.100.4", NULL);
    assert_ip(&c, "198.51.100.4");
    /* Client-sent garbage on the left is not reached: the rightmost untrusted wins. */
    c = client("127.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2, 10.1.1.1", NULL);
    assert_ip(&c, "198.51.100.4");
    /* No spaces, tabs, IPv6 hops. */
    c = client("::1", "2001:db8::9,\t::1 ,10.0.0.3", NULL);
    assert_ip(&c, "2001:db8::9");
    /* Every hop trusted: the leftmost. */
    c = client("127.0.0.1", "10.0.0.9, 10.0.0.8", NULL);
    assert_ip(&c, "10.0.0.9");
    /* Mapped peer from a dual-stack socket is trusted as 127.0.0.1. */
    c = client("::ffff:127.0.0.1", "198.51.100.4", NULL);
    assert_ip(&c, "198.51.100.4");
    /* Bracketed IPv6 entries are addresses too. */
    c = client("127.0.0.1", "[2001:db8::7]", NULL);
    assert_ip(&c, "2001:db8::7");
}

static void test_client_garbage_entries_stop_the_walk(void **state)
{
    cf_ip_t c;

    (void)state;
    /* Rightmost entry bad: the last good hop is the peer itself. */
    c = client("127.0.0.1", "198.51.100.4, unknown", NULL);
    assert_ip(&c, "127.0.0.1");
    c = client("127.0.0.1", "198.51.100.4, 1.2.3.4:5678", NULL);
    assert_ip(&c, "127.0.0.1");
    /* Bad entry behind a trusted hop: that trusted hop. */
    c = client("127.0.0.1", "198.51.100.4, garbage, 10.0.0.2", NULL);
    assert_ip(&c, "10.0.0.2");
    /* Empty entries are garbage. */
    c = client("127.0.0.1", "198.51.100.4,,10.0.0.2", NULL);
    assert_ip(&c, "10.0.0.2");
    c = client("127.0.0.1", "198.51.100.4,", NULL);
    assert_ip(&c, "127.0.0.1");
    c = client("127.0.0.1", ",198.51.100.4", NULL); /* stops at the untrusted hop first */
    assert_ip(&c, "198.51.100.4");
    c = client("127.0.0.1", ",10.0.0.2", NULL);
    assert_ip(&c, "10.0.0.2");
}

static void test_client_x_real_ip(void **state)
{
    cf_ip_t c;

    (void)state;
    c = client("127.0.0.1", NULL, "198.51.100.4");
    assert_ip(&c, "198.51.100.4");
    c = client("127.0.0.1", "", " 198.51.100.4 ");
    assert_ip(&c, "198.51.100.4");
    c = client("127.0.0.1", "  ", "198.51.100.4"); /* a blank XFF is absent */
    assert_ip(&c, "198.51.100.4");
    c = client("127.0.0.1", NULL, "not-an-ip");
    assert_ip(&c, "127.0.0.1");
    c = client("127.0.0.1", NULL, NULL);
    assert_ip(&c, "127.0.0.1");
    /* XFF takes precedence over X-Real-IP. */
    c = client("127.0.0.1", "198.51.100.4", "192.0.2.1");
    assert_ip(&c, "198.51.100.4");
}

static void test_client_without_trusted_proxies_is_the_peer(void **state)
{
    cf_ip_t p = ip("127.0.0.1"), out;

    (void)state;
    assert_int_equal(cf_ip_client(&p, "1.1.1.1", 7, "2.2.2.2", 7, NULL, 0, &out), 0);
    assert_ip(&out, "127.0.0.1");
    assert_int_equal(cf_ip_client(NULL, NULL, 0, NULL, 0, NULL, 0, &out), CF_EINVAL);
    assert_int_equal(cf_ip_client(&p, NULL, 0, NULL, 0, NULL, 0, NULL), CF_EINVAL);
}

static void test_same_prefix(void **state)
{
    cf_ip_t a = ip("192.0.2.10"), b = ip("192.0.2.200"), c = ip("192.0.3.10"), d = ip("192.1.2.10");
    cf_ip_t v6a = ip("2001:db8:1:2:aaaa::1"), v6b = ip("2001:db8:1:2:bbbb::2");
    cf_ip_t v6c = ip("2001:db8:1:3::1"), v6d = ip("2001:db8:1:ffff::1");

    (void)state;
    assert_true(cf_ip_same_prefix(&a, &b, 24, 64));
    assert_false(cf_ip_same_prefix(&a, &c, 24, 64));
    assert_true(cf_ip_same_prefix(&a, &c, 16, 48));
    assert_false(cf_ip_same_prefix(&a, &d, 16, 48));
    assert_false(cf_ip_same_prefix(&a, &b, 32, 128));
    assert_true(cf_ip_same_prefix(&a, &a, 32, 128));
    assert_true(cf_ip_same_prefix(&a, &d, 0, 0));
    assert_true(cf_ip_same_prefix(&a, &c, 23, 64)); /* .2 and .3 differ in bit 24 only */

    assert_true(cf_ip_same_prefix(&v6a, &v6b, 24, 64));
    assert_false(cf_ip_same_prefix(&v6a, &v6c, 24, 64));
    assert_true(cf_ip_same_prefix(&v6a, &v6d, 16, 48));
    assert_false(cf_ip_same_prefix(&v6a, &v6b, 32, 128));
    assert_true(cf_ip_same_prefix(&v6a, &v6a, 32, 999)); /* clamped */

    assert_false(cf_ip_same_prefix(&a, &v6a, 0, 0)); /* families differ */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format_v4_v6),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_cidr_parse_and_contains),
        cmocka_unit_test(test_cidr_parse_rejects_garbage),
        cmocka_unit_test_setup(test_client_spoofed_headers_from_untrusted_peer_ignored, setup_trusted),
        cmocka_unit_test_setup(test_client_trusted_proxy_chain, setup_trusted),
        cmocka_unit_test_setup(test_client_garbage_entries_stop_the_walk, setup_trusted),
        cmocka_unit_test_setup(test_client_x_real_ip, setup_trusted),
        cmocka_unit_test(test_client_without_trusted_proxies_is_the_peer),
        cmocka_unit_test(test_same_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
