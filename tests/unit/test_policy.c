/* SPDX-License-Identifier: MIT
 *
 * Policy decisions: strictest-wins resolution with the rule each value came
 * from, first-match routing (exact, prefix, glob, host, method), every route
 * verdict at its exact boundary, deep copy, and the explain text. Policies
 * are built by hand here; tests/unit/test_config.c covers building them
 * from YAML.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/policy.h"

#define T0 ((cf_time_t)1700000000000LL)

static const cf_limits_t global = {30 * CF_MIN, 12 * CF_HOUR, 10 * CF_MIN};

static char *xstrdup(const char *s)
{
    char *d = s != NULL ? strdup(s) : NULL;

    if (s != NULL)
        assert_non_null(d);
    return d;
}

static char **strv(size_t n, const char *a, const char *b)
{
    char **v = calloc(n, sizeof *v);

    assert_non_null(v);
    if (n > 0)
        v[0] = xstrdup(a);
    if (n > 1)
        v[1] = xstrdup(b);
    return v;
}

/*
 * Clients web (public, 15m/8h/5m, ip prefix24 + on_ip_change step_up) and
 * api (confidential, access 2m); roles admin (5m/1h/2m, ip exact, revoke) and
 * auditor (on_device_change ignore: weaker, so it must not apply); routes:
 *   0 GET|HEAD  glob "/dashboard/ *"      idle 8h
 *   1 any       prefix "/admin/"        roles admin|owner, idle 2m
 *   2 POST      glob "/api/payments/ **" host pay.example.com, scopes payments+write,
 *                                       max_auth_age 5m
 *   3 any       exact "/healthz"        anonymous
 *   4 any       glob "/internal/ **"    deny
 * (globs written with a space so they do not close this comment)
 */
static void build(cf_policy_t *p)
{
    memset(p, 0, sizeof *p);
    p->risk = (cf_risk_policy_t){CF_IPBIND_OFF, CF_RISK_REVOKE, CF_RISK_STEP_UP};

    p->nclients = 2;
    p->clients = calloc(2, sizeof *p->clients);
    assert_non_null(p->clients);
    p->clients[0] = (cf_client_t){.id = xstrdup("web"),
                                  .type = CF_CLIENT_PUBLIC,
                                  .grants = CF_GRANT_REFRESH_TOKEN,
                                  .scope = xstrdup(""),
                                  .limits = {15 * CF_MIN, 8 * CF_HOUR, 5 * CF_MIN},
                                  .risk = {CF_IPBIND_PREFIX24, CF_RISK_STEP_UP, CF_RISK_UNSET},
                                  .cookie = 1,
                                  .line = 3};
    p->clients[1] = (cf_client_t){.id = xstrdup("api"),
                                  .type = CF_CLIENT_CONFIDENTIAL,
                                  .secret_hash = xstrdup("pbkdf2-sha256$1$AAAAAAAAAAA$x"),
                                  .grants = CF_GRANT_CLIENT_CREDENTIALS,
                                  .scope = xstrdup("payments"),
                                  .limits = {0, 0, 2 * CF_MIN},
                                  .line = 9};

    p->nroles = 2;
    p->roles = calloc(2, sizeof *p->roles);
    assert_non_null(p->roles);
    p->roles[0] = (cf_role_t){.name = xstrdup("admin"),
                              .limits = {5 * CF_MIN, 1 * CF_HOUR, 2 * CF_MIN},
                              .risk = {CF_IPBIND_EXACT, CF_RISK_REVOKE, CF_RISK_UNSET},
                              .line = 15};
    p->roles[1] = (cf_role_t){.name = xstrdup("auditor"),
                              .limits = {0, 2 * CF_HOUR, 0},
                              .risk = {CF_IPBIND_UNSET, CF_RISK_UNSET, CF_RISK_IGNORE},
                              .line = 20};

    p->nroutes = 5;
    p->routes = calloc(5, sizeof *p->routes);
    assert_non_null(p->routes);
    p->routes[0] = (cf_route_t){.methods = CF_METHOD_GET | CF_METHOD_HEAD,
                                .path_kind = CF_PATH_GLOB,
                                .path = xstrdup("/dashboard/*"),
                                .idle_timeout = 8 * CF_HOUR,
                                .line = 30};
    p->routes[1] = (cf_route_t){.path_kind = CF_PATH_PREFIX,
                                .path = xstrdup("/admin/"),
                                .require_roles = strv(2, "admin", "owner"),
                                .nrequire_roles = 2,
                                .idle_timeout = 2 * CF_MIN,
                                .line = 34};
    p->routes[2] = (cf_route_t){.host = xstrdup("pay.example.com"),
                                .methods = CF_METHOD_POST,
                                .path_kind = CF_PATH_GLOB,
                                .path = xstrdup("/api/payments/**"),
                                .require_scopes = strv(2, "payments", "write"),
                                .nrequire_scopes = 2,
                                .max_auth_age = 5 * CF_MIN,
                                .line = 38};
    p->routes[3] = (cf_route_t){.path_kind = CF_PATH_EXACT,
                                .path = xstrdup("/healthz"),
                                .anonymous = 1,
                                .line = 45};
    p->routes[4] = (cf_route_t){.path_kind = CF_PATH_GLOB,
                                .path = xstrdup("/internal/**"),
                                .deny = 1,
                                .line = 48};
    cf_policy_prepare(p);
}

/* Index of the route matching, or -1. */
static long match(const cf_policy_t *p, const char *host, const char *method, const char *path)
{
    size_t index = 99;
    const cf_route_t *r = cf_policy_match(p, host, host != NULL ? strlen(host) : 0, method,
                                          strlen(method), path, strlen(path), &index);

    if (r == NULL)
        return -1;
    assert_ptr_equal(r, &p->routes[index]);
    return (long)index;
}

/* ------------------------------------------------------------------------ */
/* Resolution                                                                */
/* ------------------------------------------------------------------------ */

static void test_resolve_without_client_or_roles_is_global(void **state)
{
    cf_policy_t p;
    cf_effective_t e;

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, NULL, NULL, NULL, &e);
    assert_int_equal(e.limits.idle_timeout, 30 * CF_MIN);
    assert_int_equal(e.limits.absolute_timeout, 12 * CF_HOUR);
    assert_int_equal(e.limits.access_ttl, 10 * CF_MIN);
    assert_string_equal(e.idle_from, "session.idle_timeout");
    assert_string_equal(e.absolute_from, "session.absolute_timeout");
    assert_string_equal(e.access_from, "access_token.ttl");
    assert_int_equal(e.risk.ip_binding, CF_IPBIND_OFF);
    assert_int_equal(e.risk.on_device_change, CF_RISK_STEP_UP);
    assert_string_equal(e.ip_binding_from, "risk (global)");
    cf_policy_fini(&p);
}

static void test_resolve_unset_risk_falls_back_to_builtin_default(void **state)
{
    cf_policy_t p = {0};
    cf_effective_t e;

    (void)state;
    cf_policy_resolve(&p, &global, 0, NULL, "", NULL, &e);
    assert_int_equal(e.risk.ip_binding, CF_IPBIND_OFF);
    assert_int_equal(e.risk.on_ip_change, CF_RISK_REVOKE);
    assert_int_equal(e.risk.on_device_change, CF_RISK_REVOKE);
    assert_string_equal(e.ip_binding_from, "default");
    assert_string_equal(e.on_ip_change_from, "default");
}

static void test_resolve_client_is_stricter_than_global(void **state)
{
    cf_policy_t p;
    cf_effective_t e;

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, cf_policy_client(&p, "web"), NULL, NULL, &e);
    assert_int_equal(e.limits.idle_timeout, 15 * CF_MIN);
    assert_int_equal(e.limits.absolute_timeout, 8 * CF_HOUR);
    assert_int_equal(e.limits.access_ttl, 5 * CF_MIN);
    assert_string_equal(e.idle_from, "client web");
    assert_string_equal(e.absolute_from, "client web");
    assert_string_equal(e.access_from, "client web");
    /* Client risk overrides where set, leaves the rest to the global. */
    assert_int_equal(e.risk.ip_binding, CF_IPBIND_PREFIX24);
    assert_int_equal(e.risk.on_ip_change, CF_RISK_STEP_UP);
    assert_int_equal(e.risk.on_device_change, CF_RISK_STEP_UP);
    assert_string_equal(e.ip_binding_from, "client web");
    assert_string_equal(e.on_ip_change_from, "client web");
    assert_string_equal(e.on_device_change_from, "risk (global)");
    cf_policy_fini(&p);
}

static void test_resolve_client_unset_fields_keep_global(void **state)
{
    cf_policy_t p;
    cf_effective_t e;

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, cf_policy_client(&p, "api"), NULL, NULL, &e);
    assert_int_equal(e.limits.idle_timeout, 30 * CF_MIN);
    assert_string_equal(e.idle_from, "session.idle_timeout");
    assert_int_equal(e.limits.access_ttl, 2 * CF_MIN);
    assert_string_equal(e.access_from, "client api");
    cf_policy_fini(&p);
}

static void test_resolve_role_is_strictest_field_by_field(void **state)
{
    cf_policy_t p;
    cf_effective_t e;

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, cf_policy_client(&p, "web"), "user,admin,auditor",
                      NULL, &e);
    assert_int_equal(e.limits.idle_timeout, 5 * CF_MIN);
    assert_int_equal(e.limits.absolute_timeout, 1 * CF_HOUR);
    assert_int_equal(e.limits.access_ttl, 2 * CF_MIN);
    assert_string_equal(e.idle_from, "role admin");
    assert_string_equal(e.absolute_from, "role admin");
    assert_string_equal(e.access_from, "role admin");
    /* admin's exact binding is stricter than web's prefix24; revoke beats step_up. */
    assert_int_equal(e.risk.ip_binding, CF_IPBIND_EXACT);
    assert_string_equal(e.ip_binding_from, "role admin");
    assert_int_equal(e.risk.on_ip_change, CF_RISK_REVOKE);
    assert_string_equal(e.on_ip_change_from, "role admin");
    /* auditor's ignore is weaker than the global step_up: a role never loosens. */
    assert_int_equal(e.risk.on_device_change, CF_RISK_STEP_UP);
    assert_string_equal(e.on_device_change_from, "risk (global)");
    cf_policy_fini(&p);
}

static void test_resolve_tie_keeps_the_earlier_rule(void **state)
{
    cf_policy_t p;
    cf_effective_t e;
    cf_limits_t same = {15 * CF_MIN, 0, 0};

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, cf_policy_client(&p, "web"), NULL, &same, &e);
    assert_int_equal(e.limits.idle_timeout, 15 * CF_MIN);
    assert_string_equal(e.idle_from, "client web");
    cf_policy_fini(&p);
}

static void test_resolve_request_may_only_shorten(void **state)
{
    cf_policy_t p;
    cf_effective_t e;
    cf_limits_t req = {1 * CF_MIN, 100 * CF_DAY, 30 * CF_SEC};

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, NULL, "admin", &req, &e);
    assert_int_equal(e.limits.idle_timeout, 1 * CF_MIN);
    assert_string_equal(e.idle_from, "request");
    assert_int_equal(e.limits.absolute_timeout, 1 * CF_HOUR);
    assert_string_equal(e.absolute_from, "role admin");
    assert_int_equal(e.limits.access_ttl, 30 * CF_SEC);
    assert_string_equal(e.access_from, "request");
    cf_policy_fini(&p);
}

static void test_resolve_caps_access_at_max_ttl_and_idle_at_absolute(void **state)
{
    cf_policy_t p = {0};
    cf_effective_t e;
    cf_limits_t loose = {2 * CF_HOUR, 1 * CF_HOUR, 1 * CF_HOUR};

    (void)state;
    cf_policy_resolve(&p, &loose, 15 * CF_MIN, NULL, NULL, NULL, &e);
    assert_int_equal(e.limits.access_ttl, 15 * CF_MIN);
    assert_string_equal(e.access_from, "access_token.max_ttl");
    assert_int_equal(e.limits.idle_timeout, 1 * CF_HOUR);
    assert_string_equal(e.idle_from, "session.absolute_timeout");
}

static void test_resolve_unknown_roles_and_empty_items_are_ignored(void **state)
{
    cf_policy_t p;
    cf_effective_t e;

    (void)state;
    build(&p);
    cf_policy_resolve(&p, &global, 15 * CF_MIN, NULL, ",nobody,,admi,adminx,", NULL, &e);
    assert_int_equal(e.limits.idle_timeout, 30 * CF_MIN);
    assert_string_equal(e.idle_from, "session.idle_timeout");
    cf_policy_fini(&p);
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                  */
/* ------------------------------------------------------------------------ */

static void test_glob_star_stays_within_a_segment(void **state)
{
    (void)state;
    assert_true(cf_glob_match("/a/*", 4, "/a/b", 4));
    assert_true(cf_glob_match("/a/*", 4, "/a/", 3));
    assert_false(cf_glob_match("/a/*", 4, "/a/b/c", 6));
    assert_true(cf_glob_match("/a/*/c", 6, "/a/xyz/c", 8));
    assert_false(cf_glob_match("/a/*/c", 6, "/a/x/y/c", 8));
    assert_true(cf_glob_match("/*.json", 7, "/data.json", 10));
    assert_false(cf_glob_match("/*.json", 7, "/d/data.json", 12));
    assert_true(cf_glob_match("/a*b*c", 6, "/abbbc", 6));
    assert_false(cf_glob_match("/a*b*c", 6, "/ab/bc", 6));
    assert_false(cf_glob_match("/a", 2, "/ab", 3));
    assert_false(cf_glob_match("/ab", 3, "/a", 2));
}

static void test_glob_double_star_crosses_segments(void **state)
{
    (void)state;
    assert_true(cf_glob_match("/a/**", 5, "/a/b/c/d", 8));
    assert_true(cf_glob_match("/a/**", 5, "/a/", 3));
    assert_false(cf_glob_match("/a/**", 5, "/b/c", 4));
    assert_true(cf_glob_match("/**/x", 5, "/a/b/x", 6));
    assert_true(cf_glob_match("/**/x", 5, "//x", 3));
    assert_false(cf_glob_match("/**/x", 5, "/a/b/xy", 7));
    /* '**' then a segment-bound '*': the '**' must take over when '*' hits a '/'. */
    assert_true(cf_glob_match("/**/v*/edit", 11, "/a/v1/b/v2/edit", 15));
    assert_false(cf_glob_match("/**/v*/edit", 11, "/a/v1/b/w2/edit", 15));
    assert_true(cf_glob_match("**", 2, "", 0));
    assert_true(cf_glob_match("*", 1, "", 0));
}

static void test_glob_adversarial_input_stays_fast(void **state)
{
    static char text[8192 + 1];
    const char *pat = "/**a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";

    (void)state;
    /* Exponential backtracking would never finish; this is O(n*m) at worst. */
    memset(text, 'a', sizeof text - 1);
    text[0] = '/';
    assert_false(cf_glob_match(pat, strlen(pat), text, sizeof text - 1));
    text[sizeof text - 2] = 'b';
    assert_true(cf_glob_match(pat, strlen(pat), text, sizeof text - 1));
    /* Many short segments: '**' restarts, each '*' runs to the next '/'. */
    for (size_t i = 1; i < sizeof text - 1; i++)
        text[i] = i % 64 == 0 ? '/' : 'a';
    assert_false(cf_glob_match("/**a*b", 6, text, sizeof text - 1));
}

/* Obviously-correct exponential reference, for short inputs only. */
static int ref_glob(const char *p, const char *s)
{
    if (*p == '\0')
        return *s == '\0';
    if (p[0] == '*' && p[1] == '*') {
        while (*p == '*')
            p++;
        for (const char *t = s;; t++) {
            if (ref_glob(p, t))
                return 1;
            if (*t == '\0')
                return 0;
        }
    }
    if (p[0] == '*') {
        for (const char *t = s;; t++) {
            if (ref_glob(p + 1, t))
                return 1;
            if (*t == '\0' || *t == '/')
                return 0;
        }
    }
    return *s == *p && ref_glob(p + 1, s + 1);
}

static void test_glob_agrees_with_reference_on_random_inputs(void **state)
{
    static const char palpat[] = "ab/**";
    static const char paltext[] = "ab/";
    uint32_t x = 12345;
    char pat[12], text[14];

    (void)state;
    for (int iter = 0; iter < 200000; iter++) {
        size_t m, n;

        x = x * 1103515245u + 12345u;
        m = (x >> 16) % sizeof pat;
        for (size_t i = 0; i < m; i++) {
            x = x * 1103515245u + 12345u;
            pat[i] = palpat[(x >> 16) % 5];
        }
        pat[m] = '\0';
        x = x * 1103515245u + 12345u;
        n = (x >> 16) % sizeof text;
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            text[i] = paltext[(x >> 16) % 3];
        }
        text[n] = '\0';
        if (cf_glob_match(pat, m, text, n) != ref_glob(pat, text))
            fail_msg("glob '%s' on '%s': got %d", pat, text, cf_glob_match(pat, m, text, n));
    }
}

static void test_match_takes_the_first_matching_route(void **state)
{
    cf_policy_t p;

    (void)state;
    build(&p);
    assert_int_equal(match(&p, NULL, "GET", "/dashboard/main"), 0);
    assert_int_equal(match(&p, NULL, "GET", "/admin/users"), 1);
    assert_int_equal(match(&p, NULL, "DELETE", "/admin/"), 1);
    assert_int_equal(match(&p, NULL, "GET", "/healthz"), 3);
    assert_int_equal(match(&p, NULL, "GET", "/internal/x/y"), 4);
    assert_int_equal(match(&p, NULL, "GET", "/elsewhere"), -1);
    assert_null(cf_policy_match(&p, NULL, 0, "GET", 3, "/nothing", 8, NULL));
    cf_policy_fini(&p);
}

static void test_match_exact_prefix_and_query(void **state)
{
    cf_policy_t p;

    (void)state;
    build(&p);
    assert_int_equal(match(&p, NULL, "GET", "/healthz?verbose=1"), 3);
    assert_int_equal(match(&p, NULL, "GET", "/healthz/"), -1);
    assert_int_equal(match(&p, NULL, "GET", "/healthzz"), -1);
    assert_int_equal(match(&p, NULL, "GET", "/admin"), -1); /* prefix is "/admin/" */
    assert_int_equal(match(&p, NULL, "GET", "/dashboard/a/b"), -1);
    cf_policy_fini(&p);
}

static void test_match_method_filters(void **state)
{
    cf_policy_t p;

    (void)state;
    build(&p);
    assert_int_equal(match(&p, NULL, "HEAD", "/dashboard/x"), 0);
    assert_int_equal(match(&p, NULL, "POST", "/dashboard/x"), -1);
    assert_int_equal(match(&p, NULL, "get", "/dashboard/x"), -1); /* methods are case-sensitive */
    assert_int_equal(match(&p, NULL, "PROPFIND", "/admin/x"), 1);  /* unknown: only any-method routes */
    assert_int_equal(cf_method_bit("PATCH", 5), CF_METHOD_PATCH);
    assert_int_equal(cf_method_bit("PATCHX", 6), 0);
    assert_int_equal(cf_method_bit("", 0), 0);
    cf_policy_fini(&p);
}

static void test_match_host_ignores_case_and_port(void **state)
{
    cf_policy_t p;

    (void)state;
    build(&p);
    assert_int_equal(match(&p, "pay.example.com", "POST", "/api/payments/1/refund"), 2);
    assert_int_equal(match(&p, "PAY.Example.COM:8443", "POST", "/api/payments/1"), 2);
    assert_int_equal(match(&p, "other.example.com", "POST", "/api/payments/1"), -1);
    assert_int_equal(match(&p, "pay.example.com.evil", "POST", "/api/payments/1"), -1);
    assert_int_equal(match(&p, NULL, "POST", "/api/payments/1"), -1);
    assert_int_equal(match(&p, "pay.example.com", "GET", "/api/payments/1"), -1);
    cf_policy_fini(&p);
}

static void test_match_ipv6_host_port_is_stripped(void **state)
{
    cf_policy_t p = {0};
    cf_route_t r = {.host = "[::1]", .path_kind = CF_PATH_ANY};

    (void)state;
    p.routes = &r;
    p.nroutes = 1;
    cf_policy_prepare(&p);
    assert_int_equal(match(&p, "[::1]:7070", "GET", "/"), 0);
    assert_int_equal(match(&p, "[::1]", "GET", "/"), 0);
    assert_int_equal(match(&p, "[::2]:7070", "GET", "/"), -1);
}

/* ------------------------------------------------------------------------ */
/* Route verdicts                                                            */
/* ------------------------------------------------------------------------ */

static void test_decide_without_route_passes(void **state)
{
    cf_reason_t why = CF_REASON__COUNT;

    (void)state;
    assert_int_equal(cf_route_decide(NULL, "", "", T0, T0, T0, &why), CF_ROUTE_PASS);
    assert_int_equal(why, CF_REASON_NONE);
}

static void test_decide_deny_and_anonymous(void **state)
{
    cf_policy_t p;
    cf_reason_t why = CF_REASON__COUNT;

    (void)state;
    build(&p);
    assert_int_equal(cf_route_decide(&p.routes[4], "admin", "x", T0, T0, T0, &why), CF_ROUTE_DENY);
    assert_int_equal(why, CF_REASON_ROUTE_DENIED);
    assert_int_equal(cf_route_decide(&p.routes[3], NULL, NULL, 0, 0, T0, &why),
                     CF_ROUTE_ANONYMOUS);
    assert_int_equal(why, CF_REASON_NONE);
    assert_int_equal(cf_route_decide(&p.routes[4], NULL, NULL, 0, 0, T0, NULL), CF_ROUTE_DENY);
    cf_policy_fini(&p);
}

static void test_decide_roles_any_of(void **state)
{
    cf_policy_t p;
    cf_reason_t why = CF_REASON__COUNT;
    const cf_route_t *r;

    (void)state;
    build(&p);
    r = &p.routes[1];
    assert_int_equal(cf_route_decide(r, "user,owner", "", T0, T0, T0, &why), CF_ROUTE_PASS);
    assert_int_equal(cf_route_decide(r, "admin", "", T0, T0, T0, &why), CF_ROUTE_PASS);
    assert_int_equal(cf_route_decide(r, "user,admins", "", T0, T0, T0, &why), CF_ROUTE_FORBIDDEN);
    assert_int_equal(why, CF_REASON_INSUFFICIENT_ROLE);
    assert_int_equal(cf_route_decide(r, "", "admin", T0, T0, T0, &why), CF_ROUTE_FORBIDDEN);
    assert_int_equal(cf_route_decide(r, NULL, NULL, T0, T0, T0, &why), CF_ROUTE_FORBIDDEN);
    assert_int_equal(why, CF_REASON_INSUFFICIENT_ROLE);
    cf_policy_fini(&p);
}

static void test_decide_scopes_all_of(void **state)
{
    cf_policy_t p;
    cf_reason_t why = CF_REASON__COUNT;
    const cf_route_t *r;

    (void)state;
    build(&p);
    r = &p.routes[2];
    assert_int_equal(cf_route_decide(r, "", "read write payments", T0, T0, T0, &why),
                     CF_ROUTE_PASS);
    assert_int_equal(cf_route_decide(r, "", "payments", T0, T0, T0, &why), CF_ROUTE_FORBIDDEN);
    assert_int_equal(why, CF_REASON_INSUFFICIENT_SCOPE);
    assert_int_equal(cf_route_decide(r, "", "payments writer", T0, T0, T0, &why),
                     CF_ROUTE_FORBIDDEN);
    assert_int_equal(cf_route_decide(r, "", NULL, T0, T0, T0, &why), CF_ROUTE_FORBIDDEN);
    cf_policy_fini(&p);
}

static void test_decide_step_up_at_exact_max_auth_age(void **state)
{
    cf_policy_t p;
    cf_reason_t why = CF_REASON__COUNT;
    const cf_route_t *r;
    const char *sc = "payments write";

    (void)state;
    build(&p);
    r = &p.routes[2];
    assert_int_equal(cf_route_decide(r, "", sc, T0, T0 + 5 * CF_MIN - 1, T0 + 5 * CF_MIN - 1, &why),
                     CF_ROUTE_PASS);
    assert_int_equal(cf_route_decide(r, "", sc, T0, T0 + 5 * CF_MIN, T0 + 5 * CF_MIN, &why),
                     CF_ROUTE_STEP_UP);
    assert_int_equal(why, CF_REASON_STEP_UP_REQUIRED);
    cf_policy_fini(&p);
}

static void test_decide_route_idle_at_exact_timeout(void **state)
{
    cf_policy_t p;
    cf_reason_t why = CF_REASON__COUNT;
    const cf_route_t *r;

    (void)state;
    build(&p);
    r = &p.routes[1];
    assert_int_equal(cf_route_decide(r, "admin", "", 0, T0, T0 + 2 * CF_MIN - 1, &why),
                     CF_ROUTE_PASS);
    assert_int_equal(why, CF_REASON_NONE);
    assert_int_equal(cf_route_decide(r, "admin", "", 0, T0, T0 + 2 * CF_MIN, &why), CF_ROUTE_IDLE);
    assert_int_equal(why, CF_REASON_ROUTE_IDLE_TIMEOUT);
    /* Roles are checked before idleness. */
    assert_int_equal(cf_route_decide(r, "user", "", 0, T0, T0 + 2 * CF_MIN, &why),
                     CF_ROUTE_FORBIDDEN);
    cf_policy_fini(&p);
}

static void test_decide_order_scope_before_step_up_before_idle(void **state)
{
    cf_route_t r = {.max_auth_age = CF_MIN, .idle_timeout = CF_MIN};
    char *scopes[] = {"s"};
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_route_decide(&r, "", "", T0, T0, T0 + CF_HOUR, &why), CF_ROUTE_STEP_UP);
    r.require_scopes = scopes;
    r.nrequire_scopes = 1;
    assert_int_equal(cf_route_decide(&r, "", "", T0, T0, T0 + CF_HOUR, &why), CF_ROUTE_FORBIDDEN);
    assert_int_equal(why, CF_REASON_INSUFFICIENT_SCOPE);
    r.nrequire_scopes = 0;
    r.max_auth_age = 0;
    assert_int_equal(cf_route_decide(&r, "", "", T0, T0, T0 + CF_HOUR, &why), CF_ROUTE_IDLE);
}

/* ------------------------------------------------------------------------ */
/* Copy, lookups, explain                                                    */
/* ------------------------------------------------------------------------ */

static void test_copy_is_deep_and_fini_is_idempotent(void **state)
{
    cf_policy_t p, q;

    (void)state;
    build(&p);
    assert_int_equal(cf_policy_copy(&q, &p), 0);
    cf_policy_fini(&p);
    cf_policy_fini(&p);
    assert_non_null(cf_policy_client(&q, "api"));
    assert_string_equal(cf_policy_client(&q, "api")->secret_hash, "pbkdf2-sha256$1$AAAAAAAAAAA$x");
    assert_non_null(cf_policy_role(&q, "admin,x", 5));
    assert_null(cf_policy_role(&q, "admi", 4));
    assert_int_equal(match(&q, "pay.example.com", "POST", "/api/payments/9"), 2);
    assert_string_equal(q.routes[1].require_roles[1], "owner");
    cf_policy_fini(&q);
    cf_policy_fini(NULL);
}

static void test_explain_names_every_rule_and_the_route(void **state)
{
    cf_policy_t p;
    char *text = NULL;

    (void)state;
    build(&p);
    assert_int_equal(cf_policy_explain(&p, &global, 15 * CF_MIN, "web", "admin", NULL, "POST",
                                       "/admin/users", &text),
                     0);
    assert_non_null(text);
    assert_non_null(strstr(text, "client: web\n"));
    assert_non_null(strstr(text, "  idle_timeout: 5m (from role admin)\n"));
    assert_non_null(strstr(text, "  absolute_timeout: 1h (from role admin)\n"));
    assert_non_null(strstr(text, "  access_ttl: 2m (from role admin)\n"));
    assert_non_null(strstr(text, "  ip_binding: exact (from role admin)\n"));
    assert_non_null(strstr(text, "  on_ip_change: revoke (from role admin)\n"));
    assert_non_null(strstr(text, "  on_device_change: step_up (from risk (global))\n"));
    assert_non_null(strstr(text, "route: routes[1] (line 34)\n"));
    assert_non_null(strstr(text, "  path_prefix: /admin/\n"));
    assert_non_null(strstr(text, "  require_roles (any of): admin, owner\n"));
    assert_non_null(strstr(text, "  idle_timeout: 2m"));
    free(text);

    assert_int_equal(cf_policy_explain(&p, &global, 15 * CF_MIN, NULL, "ghost", NULL, "GET",
                                       "/nowhere", &text),
                     0);
    assert_non_null(strstr(text, "client: (none)\n"));
    assert_non_null(strstr(text, "note: role 'ghost' is not configured"));
    assert_non_null(strstr(text, "  idle_timeout: 30m (from session.idle_timeout)\n"));
    assert_non_null(strstr(text, "  access_ttl: 10m (from access_token.ttl)\n"));
    assert_non_null(strstr(text, "route: no route matches"));
    free(text);

    assert_int_equal(cf_policy_explain(&p, &global, 15 * CF_MIN, "web", "", "pay.example.com",
                                       "POST", "/api/payments/7", &text),
                     0);
    assert_non_null(strstr(text, "  idle_timeout: 15m (from client web)\n"));
    assert_non_null(strstr(text, "route: routes[2] (line 38)\n"));
    assert_non_null(strstr(text, "  host: pay.example.com\n"));
    assert_non_null(strstr(text, "  methods: POST\n"));
    assert_non_null(strstr(text, "  require_scopes (all of): payments, write\n"));
    assert_non_null(strstr(text, "  max_auth_age: 5m"));
    free(text);
    cf_policy_fini(&p);
}

static void test_explain_unknown_client_is_enoent(void **state)
{
    cf_policy_t p;
    char *text = (char *)"sentinel";

    (void)state;
    build(&p);
    assert_int_equal(cf_policy_explain(&p, &global, 0, "nope", "", NULL, "GET", "/", &text),
                     CF_ENOENT);
    assert_null(text);
    cf_policy_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_without_client_or_roles_is_global),
        cmocka_unit_test(test_resolve_unset_risk_falls_back_to_builtin_default),
        cmocka_unit_test(test_resolve_client_is_stricter_than_global),
        cmocka_unit_test(test_resolve_client_unset_fields_keep_global),
        cmocka_unit_test(test_resolve_role_is_strictest_field_by_field),
        cmocka_unit_test(test_resolve_tie_keeps_the_earlier_rule),
        cmocka_unit_test(test_resolve_request_may_only_shorten),
        cmocka_unit_test(test_resolve_caps_access_at_max_ttl_and_idle_at_absolute),
        cmocka_unit_test(test_resolve_unknown_roles_and_empty_items_are_ignored),
        cmocka_unit_test(test_glob_star_stays_within_a_segment),
        cmocka_unit_test(test_glob_double_star_crosses_segments),
        cmocka_unit_test(test_glob_adversarial_input_stays_fast),
        cmocka_unit_test(test_glob_agrees_with_reference_on_random_inputs),
        cmocka_unit_test(test_match_takes_the_first_matching_route),
        cmocka_unit_test(test_match_exact_prefix_and_query),
        cmocka_unit_test(test_match_method_filters),
        cmocka_unit_test(test_match_host_ignores_case_and_port),
        cmocka_unit_test(test_match_ipv6_host_port_is_stripped),
        cmocka_unit_test(test_decide_without_route_passes),
        cmocka_unit_test(test_decide_deny_and_anonymous),
        cmocka_unit_test(test_decide_roles_any_of),
        cmocka_unit_test(test_decide_scopes_all_of),
        cmocka_unit_test(test_decide_step_up_at_exact_max_auth_age),
        cmocka_unit_test(test_decide_route_idle_at_exact_timeout),
        cmocka_unit_test(test_decide_order_scope_before_step_up_before_idle),
        cmocka_unit_test(test_copy_is_deep_and_fini_is_idempotent),
        cmocka_unit_test(test_explain_names_every_rule_and_the_route),
        cmocka_unit_test(test_explain_unknown_client_is_enoent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
