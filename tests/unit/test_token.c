/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"
#include "core/token.h"

/* Fixed instant: 2023-11-14T22:13:20Z. Nothing here reads a clock. */
#define T 1700000000LL
#define T_MS (T * CF_SEC)

static const cf_token_expect_t expect0 = {"https://auth.example", "api", 0};
static const cf_token_expect_t expect30 = {"https://auth.example", "api", 30 * CF_SEC};

/* A valid payload: issued at T, expires at T+600. Caller decrefs. */
static json_t *base_payload(void)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:[s,s], s:I}", "iss",
                          "https://auth.example", "sub", "alice", "aud", "api", "exp",
                          (json_int_t)(T + 600), "iat", (json_int_t)T, "sid", "s1", "jti", "j1",
                          "client_id", "web", "scope", "read write", "roles", "admin", "dev",
                          "auth_time", (json_int_t)(T - 10));

    assert_non_null(p);
    return p;
}

static cf_reason_t check(const json_t *p, const cf_token_expect_t *e, cf_time_t now)
{
    cf_access_claims_t c;
    cf_reason_t why = CF_REASON__COUNT;

    assert_int_equal(cf_token_check_claims(p, e, now, &c, &why), 0);
    return why;
}

/* Verdict for base_payload() with member @name replaced by @v (NULL: removed). */
static cf_reason_t check_with(const char *name, json_t *v, const cf_token_expect_t *e, cf_time_t now)
{
    json_t *p = base_payload();
    cf_reason_t why;

    if (v == NULL)
        assert_int_equal(json_object_del(p, name), 0);
    else
        assert_int_equal(json_object_set_new(p, name, v), 0);
    why = check(p, e, now);
    json_decref(p);
    return why;
}

static json_t *str_of(char c, size_t n)
{
    char *s = malloc(n + 1);
    json_t *v;

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    v = json_string(s);
    free(s);
    return v;
}

/* ----------------------------------------------------------- verdicts */

static void test_valid_claims_are_copied_out(void **state)
{
    json_t *p = base_payload();
    cf_access_claims_t c;
    cf_reason_t why = CF_REASON__COUNT;

    (void)state;
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, &c, &why), 0);
    assert_int_equal(why, CF_REASON_NONE);
    assert_string_equal(c.sub, "alice");
    assert_string_equal(c.sid, "s1");
    assert_string_equal(c.jti, "j1");
    assert_string_equal(c.client_id, "web");
    assert_string_equal(c.scope, "read write");
    assert_string_equal(c.roles, "admin dev");
    assert_int_equal(c.exp, T + 600);
    assert_int_equal(c.iat, T);
    assert_int_equal(c.nbf, 0);
    assert_int_equal(c.auth_time, T - 10);
    json_decref(p);
}

static void test_optional_claims_may_be_absent(void **state)
{
    json_t *p = base_payload();
    cf_access_claims_t c;
    cf_reason_t why;

    (void)state;
    json_object_del(p, "client_id");
    json_object_del(p, "scope");
    json_object_del(p, "roles");
    json_object_del(p, "auth_time");
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, &c, &why), 0);
    assert_int_equal(why, CF_REASON_NONE);
    assert_string_equal(c.client_id, "");
    assert_string_equal(c.scope, "");
    assert_string_equal(c.roles, "");
    assert_int_equal(c.auth_time, 0);
    json_decref(p);
}

static void test_expiry_boundary_without_leeway(void **state)
{
    json_t *p = base_payload();
    cf_time_t exp_ms = (T + 600) * CF_SEC;

    (void)state;
    assert_int_equal(check(p, &expect0, exp_ms - 1), CF_REASON_NONE);
    assert_int_equal(check(p, &expect0, exp_ms), CF_REASON_TOKEN_EXPIRED);
    assert_int_equal(check(p, &expect0, exp_ms + 1), CF_REASON_TOKEN_EXPIRED);
    json_decref(p);
}

static void test_expiry_boundary_with_30s_leeway(void **state)
{
    json_t *p = base_payload();
    cf_time_t exp_ms = (T + 600) * CF_SEC;

    (void)state;
    assert_int_equal(check(p, &expect30, exp_ms), CF_REASON_NONE);
    assert_int_equal(check(p, &expect30, exp_ms + 30 * CF_SEC - 1), CF_REASON_NONE);
    assert_int_equal(check(p, &expect30, exp_ms + 30 * CF_SEC), CF_REASON_TOKEN_EXPIRED);
    json_decref(p);
}

static void test_nbf_boundary_with_and_without_leeway(void **state)
{
    json_t *p = base_payload();
    cf_time_t nbf_ms = (T + 100) * CF_SEC;

    (void)state;
    json_object_set_new(p, "nbf", json_integer(T + 100));
    assert_int_equal(check(p, &expect0, nbf_ms - 1), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(check(p, &expect0, nbf_ms), CF_REASON_NONE);
    assert_int_equal(check(p, &expect30, nbf_ms - 30 * CF_SEC - 1), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(check(p, &expect30, nbf_ms - 30 * CF_SEC), CF_REASON_NONE);
    json_decref(p);
}

static void test_iat_in_future_boundary(void **state)
{
    json_t *p = base_payload();

    (void)state;
    /* iat = T: one millisecond before it the token is not yet valid. */
    assert_int_equal(check(p, &expect0, T_MS - 1), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(check(p, &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check(p, &expect30, T_MS - 30 * CF_SEC - 1), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(check(p, &expect30, T_MS - 30 * CF_SEC), CF_REASON_NONE);
    json_decref(p);
}

static void test_nbf_zero_means_absent(void **state)
{
    (void)state;
    assert_int_equal(check_with("nbf", json_integer(0), &expect0, T_MS), CF_REASON_NONE);
}

static void test_wrong_issuer(void **state)
{
    (void)state;
    assert_int_equal(check_with("iss", json_string("https://evil.example"), &expect0, T_MS),
                     CF_REASON_WRONG_ISSUER);
    assert_int_equal(check_with("iss", json_string("https://auth.example/"), &expect0, T_MS),
                     CF_REASON_WRONG_ISSUER);
    assert_int_equal(check_with("iss", json_stringn("https://auth.example\0x", 22), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
}

static void test_audience_as_string_or_array(void **state)
{
    (void)state;
    assert_int_equal(check_with("aud", json_pack("[s,s]", "other", "api"), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("aud", json_pack("[s]", "api"), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("aud", json_pack("[s,s]", "other", "apis"), &expect0, T_MS),
                     CF_REASON_WRONG_AUDIENCE);
    assert_int_equal(check_with("aud", json_array(), &expect0, T_MS), CF_REASON_WRONG_AUDIENCE);
    assert_int_equal(check_with("aud", json_string("API"), &expect0, T_MS), CF_REASON_WRONG_AUDIENCE);
}

static void test_audience_of_wrong_type_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_with("aud", json_pack("[s,i]", "api", 1), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("aud", json_integer(1), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("aud", json_pack("{s:s}", "aud", "api"), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
}

static void test_verdicts_come_in_documented_order(void **state)
{
    json_t *p = base_payload();
    cf_time_t late = (T + 10000) * CF_SEC;

    (void)state;
    json_object_set_new(p, "iss", json_string("https://evil.example"));
    json_object_set_new(p, "aud", json_string("other"));
    assert_int_equal(check(p, &expect0, late), CF_REASON_WRONG_ISSUER);
    json_object_set_new(p, "iss", json_string("https://auth.example"));
    assert_int_equal(check(p, &expect0, late), CF_REASON_WRONG_AUDIENCE);
    json_object_set_new(p, "aud", json_string("api"));
    json_object_set_new(p, "nbf", json_integer(T + 20000));
    assert_int_equal(check(p, &expect0, late), CF_REASON_TOKEN_EXPIRED);
    json_object_del(p, "sid");
    assert_int_equal(check(p, &expect0, late), CF_REASON_MALFORMED_TOKEN);
    json_decref(p);
}

static void test_missing_required_claim_is_malformed(void **state)
{
    static const char *required[] = {"iss", "sub", "aud", "exp", "iat", "sid", "jti"};

    (void)state;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        assert_int_equal(check_with(required[i], NULL, &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
}

static void test_claim_of_wrong_type_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_with("sid", json_integer(1), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("sub", json_null(), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("jti", json_true(), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("iss", json_pack("[s]", "https://auth.example"), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("exp", json_string("1700000600"), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("exp", json_real(1700000600.0), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("iat", json_real(1700000000.5), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("nbf", json_string("0"), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("auth_time", json_null(), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("scope", json_pack("[s]", "read"), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("client_id", json_integer(7), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("roles", json_string("admin"), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("roles", json_pack("[s,i]", "admin", 1), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
}

static void test_times_out_of_range_are_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_with("exp", json_integer(-1), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("exp", json_integer(CF_TOKEN_MAX_NUMERICDATE + 1), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("exp", json_integer(CF_TOKEN_MAX_NUMERICDATE), &expect0, T_MS),
                     CF_REASON_NONE);
    assert_int_equal(check_with("iat", json_integer(INT64_MIN), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("nbf", json_integer(INT64_MAX), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
}

/* The issuer refuses an empty sub, sid or jti (cf_token_access_payload), so a
 * token carrying one was not written by curfew's issuer: the verifier must not
 * be laxer than the issuer (found by fuzz_jws's re-issue oracle). */
static void test_empty_identifiers_are_malformed(void **state)
{
    static const char *ids[] = {"sub", "sid", "jti"};

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        assert_int_equal(check_with(ids[i], json_string(""), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
        assert_int_equal(check_with(ids[i], json_string("x"), &expect0, T_MS), CF_REASON_NONE);
    }
    /* Optional ones may be empty: the issuer writes client_id "" as given. */
    assert_int_equal(check_with("client_id", json_string(""), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("scope", json_string(""), &expect0, T_MS), CF_REASON_NONE);
}

static void test_strings_too_long_for_their_field_are_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_with("sub", str_of('a', 255), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("sub", str_of('a', 256), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("sid", str_of('s', 63), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("sid", str_of('s', 64), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("jti", str_of('j', 64), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("client_id", str_of('c', 128), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("scope", str_of('r', 511), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("scope", str_of('r', 512), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
}

static void test_roles_must_join_cleanly(void **state)
{
    json_t *roles = json_array();
    json_t *big = json_array();

    (void)state;
    assert_int_equal(check_with("roles", json_array(), &expect0, T_MS), CF_REASON_NONE);
    assert_int_equal(check_with("roles", json_pack("[s]", "a b"), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("roles", json_pack("[s]", ""), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    json_array_append_new(roles, json_stringn("adm\0in", 6));
    assert_int_equal(check_with("roles", roles, &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    /* 2 roles of 255 chars + 1 space = 511: fits. A third char tips it over. */
    json_array_append_new(big, str_of('x', 255));
    json_array_append_new(big, str_of('y', 255));
    assert_int_equal(check_with("roles", json_deep_copy(big), &expect0, T_MS), CF_REASON_NONE);
    json_array_append_new(big, json_string("z"));
    assert_int_equal(check_with("roles", big, &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
}

static void test_embedded_nul_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(check_with("sub", json_stringn("admin\0alice", 11), &expect0, T_MS),
                     CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check_with("aud", json_stringn("api\0x", 5), &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
}

static void test_payload_not_an_object_is_malformed(void **state)
{
    json_t *arr = json_array();

    (void)state;
    assert_int_equal(check(arr, &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    assert_int_equal(check(NULL, &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    json_decref(arr);
}

static void test_claims_filled_when_expired_zeroed_when_malformed(void **state)
{
    json_t *p = base_payload();
    cf_access_claims_t c;
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_token_check_claims(p, &expect0, (T + 600) * CF_SEC, &c, &why), 0);
    assert_int_equal(why, CF_REASON_TOKEN_EXPIRED);
    assert_string_equal(c.sid, "s1");
    json_object_del(p, "jti");
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, &c, &why), 0);
    assert_int_equal(why, CF_REASON_MALFORMED_TOKEN);
    assert_string_equal(c.sid, "");
    json_decref(p);
}

static void test_extreme_now_does_not_overflow(void **state)
{
    json_t *p = base_payload();
    cf_token_expect_t huge = {"https://auth.example", "api", INT64_MAX};

    (void)state;
    assert_int_equal(check(p, &expect30, INT64_MAX), CF_REASON_TOKEN_EXPIRED);
    assert_int_equal(check(p, &expect30, INT64_MIN), CF_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(check(p, &huge, INT64_MAX - 1), CF_REASON_NONE); /* saturates, no wrap */
    json_decref(p);
}

static void test_check_rejects_bad_arguments(void **state)
{
    json_t *p = base_payload();
    cf_access_claims_t c;
    cf_reason_t why;
    cf_token_expect_t no_iss = {NULL, "api", 0}, no_aud = {"https://auth.example", NULL, 0};
    cf_token_expect_t neg = {"https://auth.example", "api", -1};

    (void)state;
    assert_int_equal(cf_token_check_claims(p, &no_iss, T_MS, &c, &why), CF_EINVAL);
    assert_int_equal(cf_token_check_claims(p, &no_aud, T_MS, &c, &why), CF_EINVAL);
    assert_int_equal(cf_token_check_claims(p, &neg, T_MS, &c, &why), CF_EINVAL);
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, NULL, &why), CF_EINVAL);
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, &c, NULL), CF_EINVAL);
    json_decref(p);
}

/* ------------------------------------------------------- payload builder */

static const char *const roles2[] = {"admin", "dev"};

static cf_access_token_spec_t base_spec(void)
{
    cf_access_token_spec_t s = {
        .issuer = "https://auth.example", .audience = "api", .sub = "alice", .sid = "s1",
        .client_id = "web", .jti = "j1", .scope = "read write", .roles = roles2, .nroles = 2,
        .iat = T, .exp = T + 600, .auth_time = T - 10,
    };
    return s;
}

static void test_payload_builder_exact_output(void **state)
{
    cf_access_token_spec_t s = base_spec();
    char *json = NULL;

    (void)state;
    assert_int_equal(cf_token_access_payload(&s, &json), 0);
    assert_string_equal(json, "{\"iss\":\"https://auth.example\",\"sub\":\"alice\",\"aud\":\"api\","
                              "\"exp\":1700000600,\"iat\":1700000000,\"jti\":\"j1\",\"client_id\":\"web\","
                              "\"sid\":\"s1\",\"scope\":\"read write\",\"roles\":[\"admin\",\"dev\"],"
                              "\"auth_time\":1699999990}");
    free(json);
}

static void test_payload_builder_output_parses_back(void **state)
{
    cf_access_token_spec_t s = base_spec();
    char *json = NULL;
    json_t *p;
    cf_access_claims_t c;
    cf_reason_t why;

    (void)state;
    assert_int_equal(cf_token_access_payload(&s, &json), 0);
    p = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(p);
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, &c, &why), 0);
    assert_int_equal(why, CF_REASON_NONE);
    assert_string_equal(c.sub, "alice");
    assert_string_equal(c.sid, "s1");
    assert_string_equal(c.client_id, "web");
    assert_string_equal(c.jti, "j1");
    assert_string_equal(c.scope, "read write");
    assert_string_equal(c.roles, "admin dev");
    assert_int_equal(c.exp, T + 600);
    assert_int_equal(c.iat, T);
    assert_int_equal(c.auth_time, T - 10);
    json_decref(p);
    free(json);
}

#define JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

/* cnf (RFC 9449 §6.1, RFC 8705 §3.1): issued as built, read back, anything else malformed. */
static void test_cnf_round_trips_and_odd_ones_are_malformed(void **state)
{
    cf_access_token_spec_t s = base_spec();
    cf_cnf_t cnf;
    char *json = NULL;
    json_t *p;
    cf_access_claims_t c;
    cf_reason_t why;
    static const char *const bad[] = {
        "\"" JKT "\"", "[]", "{}", "{\"jkt\":\"" JKT "\",\"x5t#S256\":\"" JKT "\"}",
        "{\"jkt\":1}", "{\"jkt\":\"short\"}", "{\"jkt\":\"" JKT "=\"}", "{\"x5t#S256\":null}",
        "{\"jwk\":{}}", "null"};

    (void)state;
    assert_int_equal(cf_cnf_set(&cnf, CF_CNF_X5T, JKT, strlen(JKT)), 0);
    s.cnf = &cnf;
    assert_int_equal(cf_token_access_payload(&s, &json), 0);
    assert_non_null(strstr(json, ",\"cnf\":{\"x5t#S256\":\"" JKT "\"}}"));
    p = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    assert_int_equal(cf_token_check_claims(p, &expect0, T_MS, &c, &why), 0);
    assert_int_equal(why, CF_REASON_NONE);
    assert_int_equal(c.cnf.kind, CF_CNF_X5T);
    assert_string_equal(c.cnf.v, JKT);
    json_decref(p);
    free(json);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        assert_int_equal(check_with("cnf", v, &expect0, T_MS), CF_REASON_MALFORMED_TOKEN);
    }
}

static void test_payload_builder_omits_absent_optionals(void **state)
{
    cf_access_token_spec_t s = base_spec();
    char *json = NULL;

    (void)state;
    /* An empty scope is still a scope claim (RFC 9068 lists it); NULL leaves it out. */
    s.scope = "";
    s.client_id = NULL;
    s.roles = NULL;
    s.nroles = 0;
    s.auth_time = 0;
    assert_int_equal(cf_token_access_payload(&s, &json), 0);
    assert_string_equal(json, "{\"iss\":\"https://auth.example\",\"sub\":\"alice\",\"aud\":\"api\","
                              "\"exp\":1700000600,\"iat\":1700000000,\"jti\":\"j1\",\"sid\":\"s1\","
                              "\"scope\":\"\",\"roles\":[]}");
    free(json);
    s.scope = NULL;
    assert_int_equal(cf_token_access_payload(&s, &json), 0);
    assert_null(strstr(json, "scope"));
    free(json);
}

/* Hostile values (a member injection, escapes, controls, non-ASCII) come back
 * exactly as given; invalid UTF-8 is refused as jansson refused it. */
static void test_payload_builder_escapes_hostile_values(void **state)
{
    cf_access_token_spec_t s = base_spec();
    const char *sub = "a\",\"sub\":\"admin", *scope = "r\\w\n\t\x01\x7f caf\xc3\xa9 </x>";
    const char *client = "\xe2\x80\xa8\"}", *iss = "https://i\\\"/";
    char *json = NULL;
    json_t *p;

    (void)state;
    s.sub = sub;
    s.scope = scope;
    s.client_id = client;
    s.issuer = iss;
    assert_int_equal(cf_token_access_payload(&s, &json), 0);
    p = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(p);
    assert_int_equal(json_object_size(p), 11);
    assert_string_equal(json_string_value(json_object_get(p, "sub")), sub);
    assert_string_equal(json_string_value(json_object_get(p, "scope")), scope);
    assert_string_equal(json_string_value(json_object_get(p, "client_id")), client);
    assert_string_equal(json_string_value(json_object_get(p, "iss")), iss);
    json_decref(p);
    free(json);
    s.scope = "ok\xc0\xaf"; /* an overlong '/' */
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    assert_null(json);
}

static void test_payload_builder_rejects_what_verifier_would_refuse(void **state)
{
    static const char *const bad_roles[] = {"admin", "has space"};
    static const char *const empty_role[] = {""};
    char longsub[300], *json = (char *)1;
    cf_access_token_spec_t s;

    (void)state;
    memset(longsub, 'a', 256);
    longsub[256] = '\0';
    s = base_spec();
    s.sub = longsub;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    assert_null(json);
    s = base_spec();
    s.sid = NULL;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s = base_spec();
    s.jti = "";
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s = base_spec();
    s.roles = bad_roles;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s.roles = empty_role;
    s.nroles = 1;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s = base_spec();
    s.exp = s.iat;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s = base_spec();
    s.iat = -1;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s = base_spec();
    s.sub = "\xff\xfe";
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
    s = base_spec();
    s.issuer = NULL;
    assert_int_equal(cf_token_access_payload(&s, &json), CF_EINVAL);
}

/* -------------------------------------------------------- refresh tokens */

static void test_refresh_token_encode_is_43_b64url_chars(void **state)
{
    uint8_t raw[CF_REFRESH_RAW_LEN];
    char tok[CF_REFRESH_TOKEN_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (uint8_t)i;
    cf_refresh_token_encode(raw, tok);
    assert_string_equal(tok, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    assert_int_equal(cf_refresh_token_wellformed(tok, strlen(tok)), 1);
}

static void test_refresh_token_wellformed_rejects_everything_else(void **state)
{
    char tok[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    (void)state;
    assert_int_equal(cf_refresh_token_wellformed(tok, 42), 0);
    assert_int_equal(cf_refresh_token_wellformed("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A", 44), 0);
    assert_int_equal(cf_refresh_token_wellformed(NULL, 43), 0);
    assert_int_equal(cf_refresh_token_wellformed("", 0), 0);
    tok[5] = '+';
    assert_int_equal(cf_refresh_token_wellformed(tok, 43), 0);
    tok[5] = 'F';
    tok[42] = '9'; /* non-zero unused bits: a second spelling of other bytes */
    assert_int_equal(cf_refresh_token_wellformed(tok, 43), 0);
    tok[42] = '=';
    assert_int_equal(cf_refresh_token_wellformed(tok, 43), 0);
}

static void test_refresh_token_hash_is_sha256_of_the_string(void **state)
{
    static const char tok[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    uint8_t h[CF_SHA256_LEN];
    char hex[2 * CF_SHA256_LEN + 1];

    (void)state;
    cf_refresh_token_hash(tok, strlen(tok), h);
    cf_hex_encode(h, sizeof(h), hex);
    assert_string_equal(hex, "ea866a757e4c38babfa8127cbe9a409d3e1f93a00ff1488ff735fcf917afffd0");
}

/* --------------------------------------------------------------- digest */
/* digest.c has no suite of its own; the refresh-token code is its main user. */

static void test_sha256_known_vectors(void **state)
{
    uint8_t h[CF_SHA256_LEN];
    char hex[2 * CF_SHA256_LEN + 1];

    (void)state;
    cf_sha256("abc", 3, h);
    cf_hex_encode(h, sizeof(h), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cf_sha256(NULL, 0, h);
    cf_hex_encode(h, sizeof(h), hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hex_encode_lowercase(void **state)
{
    static const uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];

    (void)state;
    cf_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "000fa5ff");
    cf_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_int_equal(cf_ct_equal("abcdef", "abcdef", 6), 1);
    assert_int_equal(cf_ct_equal("abcdef", "abcdeg", 6), 0);
    assert_int_equal(cf_ct_equal("xbcdef", "abcdef", 6), 0);
    assert_int_equal(cf_ct_equal("a", "b", 0), 1);
}

static void test_hash64_deterministic_and_seeded(void **state)
{
    static const char zeros[4] = {0};

    (void)state;
    assert_true(cf_hash64("session-1", 9, 42) == cf_hash64("session-1", 9, 42));
    assert_true(cf_hash64("session-1", 9, 42) != cf_hash64("session-1", 9, 43));
    assert_true(cf_hash64("session-1", 9, 42) != cf_hash64("session-2", 9, 42));
    assert_true(cf_hash64(zeros, 1, 0) != cf_hash64(zeros, 2, 0));
    assert_true(cf_hash64(zeros, 0, 0) != cf_hash64(zeros, 4, 0));
    assert_true(cf_hash64(NULL, 0, 1) == cf_hash64("", 0, 1));
}

static void test_hash64_spreads_sequential_keys(void **state)
{
    enum { KEYS = 65536, BUCKETS = 1024 };
    unsigned *count = calloc(BUCKETS, sizeof(unsigned)), max = 0;

    (void)state;
    assert_non_null(count);
    for (uint32_t i = 0; i < KEYS; i++) {
        uint8_t key[12] = {0};
        memcpy(key, &i, sizeof(i));
        count[cf_hash64(key, sizeof(key), 7) % BUCKETS]++;
    }
    for (size_t b = 0; b < BUCKETS; b++)
        if (count[b] > max)
            max = count[b];
    /* Mean 64 per bucket; a uniform hash stays well below 2x. */
    assert_true(max < 128);
    free(count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_claims_are_copied_out),
        cmocka_unit_test(test_optional_claims_may_be_absent),
        cmocka_unit_test(test_expiry_boundary_without_leeway),
        cmocka_unit_test(test_expiry_boundary_with_30s_leeway),
        cmocka_unit_test(test_nbf_boundary_with_and_without_leeway),
        cmocka_unit_test(test_iat_in_future_boundary),
        cmocka_unit_test(test_nbf_zero_means_absent),
        cmocka_unit_test(test_wrong_issuer),
        cmocka_unit_test(test_audience_as_string_or_array),
        cmocka_unit_test(test_audience_of_wrong_type_is_malformed),
        cmocka_unit_test(test_verdicts_come_in_documented_order),
        cmocka_unit_test(test_missing_required_claim_is_malformed),
        cmocka_unit_test(test_claim_of_wrong_type_is_malformed),
        cmocka_unit_test(test_times_out_of_range_are_malformed),
        cmocka_unit_test(test_empty_identifiers_are_malformed),
        cmocka_unit_test(test_strings_too_long_for_their_field_are_malformed),
        cmocka_unit_test(test_roles_must_join_cleanly),
        cmocka_unit_test(test_embedded_nul_is_malformed),
        cmocka_unit_test(test_payload_not_an_object_is_malformed),
        cmocka_unit_test(test_claims_filled_when_expired_zeroed_when_malformed),
        cmocka_unit_test(test_extreme_now_does_not_overflow),
        cmocka_unit_test(test_check_rejects_bad_arguments),
        cmocka_unit_test(test_payload_builder_exact_output),
        cmocka_unit_test(test_payload_builder_output_parses_back),
        cmocka_unit_test(test_payload_builder_omits_absent_optionals),
        cmocka_unit_test(test_payload_builder_escapes_hostile_values),
        cmocka_unit_test(test_payload_builder_rejects_what_verifier_would_refuse),
        cmocka_unit_test(test_cnf_round_trips_and_odd_ones_are_malformed),
        cmocka_unit_test(test_refresh_token_encode_is_43_b64url_chars),
        cmocka_unit_test(test_refresh_token_wellformed_rejects_everything_else),
        cmocka_unit_test(test_refresh_token_hash_is_sha256_of_the_string),
        cmocka_unit_test(test_sha256_known_vectors),
        cmocka_unit_test(test_hex_encode_lowercase),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_hash64_deterministic_and_seeded),
        cmocka_unit_test(test_hash64_spreads_sequential_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
