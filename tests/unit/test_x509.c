/* SPDX-License-Identifier: MIT
 *
 * util/x509.c: RFC 4514 DNs are parsed into X.509 names and compared as
 * names, so neither RDN order nor escaping can make another name match;
 * SANs compare exactly (no suffix, no wildcard, no embedded NUL).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "util/x509.h"

/* A certificate whose subject is @dn (parsed by the code under test's twin: built by hand). */
static X509 *cert_with(const char *const *rdns, size_t n, const char *san)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    for (size_t i = 0; i < n; i += 2)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, rdns[i], MBSTRING_UTF8,
                                                    (const unsigned char *)rdns[i + 1], -1, -1, 0),
                         1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, k), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    if (san != NULL) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    X509_NAME_free(name);
    EVP_PKEY_free(k);
    return x;
}

static void test_dn_matches_as_a_name(void **state)
{
    static const char *const rdns[] = {"O", "Example Corp", "OU", "svc", "CN", "billing"};
    X509 *x = cert_with(rdns, 6, NULL);

    (void)state;
    assert_true(cf_x509_dn_match(x, "CN=billing,OU=svc,O=Example Corp"));
    assert_true(cf_x509_dn_match(x, "cn = billing , ou=svc,o=Example Corp"));
    assert_true(cf_x509_dn_match(x, "CN=Billing,OU=SVC,O=example  corp")); /* RFC 5280 folding */
    assert_true(cf_x509_dn_match(x, "CN=\\62illing,OU=svc,O=Example\\ Corp"));
    assert_false(cf_x509_dn_match(x, "O=Example Corp,OU=svc,CN=billing"));  /* order */
    assert_false(cf_x509_dn_match(x, "CN=billing,O=Example Corp"));         /* an RDN fewer */
    assert_false(cf_x509_dn_match(x, "CN=billing,OU=svc,O=Example Corp,C=US"));
    assert_false(cf_x509_dn_match(x, "CN=billing\\,OU=svc,O=Example Corp"));
    assert_false(cf_x509_dn_match(x, "CN=billin,OU=svc,O=Example Corp"));
    assert_false(cf_x509_dn_match(NULL, "CN=billing"));
    X509_free(x);
}

static void test_escaped_comma_is_one_value(void **state)
{
    static const char *const rdns[] = {"CN", "billing,OU=svc"};
    X509 *x = cert_with(rdns, 2, NULL);

    (void)state;
    assert_true(cf_x509_dn_match(x, "CN=billing\\,OU=svc"));
    assert_true(cf_x509_dn_match(x, "CN=billing\\2COU\\3Dsvc"));
    assert_false(cf_x509_dn_match(x, "CN=billing,OU=svc"));
    X509_free(x);
}

static void test_dn_parse_refusals(void **state)
{
    static const char *const bad[] = {
        "", "CN", "=x", "CN=", "CN= ", "CN=a,", "CN=a,,O=b", "CN=a+UID=b", "CN=#616263",
        "CN=a\\", "CN=a\\4", "CN=a\\zz", "XX=a", "C N=a", "CN=a,O",
    };
    X509_NAME *n = NULL;
    const char *why = NULL;
    char big[1100];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(cf_x509_dn_parse(bad[i], &n, &why), 0);
        assert_null(n);
        assert_non_null(why);
    }
    memset(big, 'a', sizeof big);
    memcpy(big, "CN=", 3);
    big[sizeof big - 1] = '\0';
    assert_int_not_equal(cf_x509_dn_parse(big, &n, &why), 0);
    assert_int_equal(cf_x509_dn_parse("CN=a\\ ", &n, &why), 0); /* an escaped trailing space */
    X509_NAME_free(n);
}

static void test_san_exact(void **state)
{
    X509 *x = cert_with((const char *const[]){"CN", "x"}, 2,
                        "DNS:svc.example, URI:spiffe://e/svc, IP:10.0.0.1, IP:::1, "
                        "email:a@b.example, DNS:*.wild.example");

    (void)state;
    assert_true(cf_x509_san_match(x, CF_X509_SAN_DNS, "svc.example"));
    assert_true(cf_x509_san_match(x, CF_X509_SAN_DNS, "SVC.Example"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_DNS, "svc.example.evil"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_DNS, "vc.example"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_DNS, "a.wild.example"));
    assert_true(cf_x509_san_match(x, CF_X509_SAN_URI, "spiffe://e/svc"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_URI, "spiffe://e/svc/"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_URI, "SPIFFE://e/svc"));
    assert_true(cf_x509_san_match(x, CF_X509_SAN_IP, "10.0.0.1"));
    assert_true(cf_x509_san_match(x, CF_X509_SAN_IP, "0:0::1"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_IP, "10.0.0.10"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_IP, "svc.example"));
    assert_true(cf_x509_san_match(x, CF_X509_SAN_EMAIL, "a@b.example"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_EMAIL, "a@b.example.x"));
    assert_false(cf_x509_san_match(x, CF_X509_SAN_DNS, "10.0.0.1")); /* kinds do not mix */
    assert_false(cf_x509_san_match(x, CF_X509_SAN_DNS, ""));
    X509_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dn_matches_as_a_name),
        cmocka_unit_test(test_escaped_comma_is_one_value),
        cmocka_unit_test(test_dn_parse_refusals),
        cmocka_unit_test(test_san_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
