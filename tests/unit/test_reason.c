/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/error.h"
#include "core/reason.h"

static void test_reason_name_from_name_round_trips_every_code(void **state)
{
    (void)state;
    for (int r = 0; r < CF_REASON__COUNT; r++) {
        const char *name = cf_reason_name((cf_reason_t)r);
        assert_non_null(name);
        assert_string_not_equal(name, "unknown");
        assert_int_equal(cf_reason_from_name(name), r);
    }
}

static void test_reason_names_are_unique_snake_case(void **state)
{
    (void)state;
    for (int a = 0; a < CF_REASON__COUNT; a++) {
        const char *name = cf_reason_name((cf_reason_t)a);
        assert_true(strlen(name) > 0);
        assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz_"), strlen(name));
        for (int b = a + 1; b < CF_REASON__COUNT; b++)
            assert_string_not_equal(name, cf_reason_name((cf_reason_t)b));
    }
}

static void test_reason_wire_names_are_stable(void **state)
{
    (void)state;
    /* They are API: a rename must break this test. */
    assert_string_equal(cf_reason_name(CF_REASON_NONE), "none");
    assert_string_equal(cf_reason_name(CF_REASON_MALFORMED_TOKEN), "malformed_token");
    assert_string_equal(cf_reason_name(CF_REASON_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(cf_reason_name(CF_REASON_UNKNOWN_KEY), "unknown_key");
    assert_string_equal(cf_reason_name(CF_REASON_TOKEN_EXPIRED), "token_expired");
    assert_string_equal(cf_reason_name(CF_REASON_IDLE_TIMEOUT), "idle_timeout");
    assert_string_equal(cf_reason_name(CF_REASON_REFRESH_REUSE), "refresh_reuse");
    assert_string_equal(cf_reason_name(CF_REASON_CLIENT_MISMATCH), "client_mismatch");
}

static void test_reason_out_of_range_is_unknown(void **state)
{
    (void)state;
    assert_string_equal(cf_reason_name(CF_REASON__COUNT), "unknown");
    assert_string_equal(cf_reason_name((cf_reason_t)(CF_REASON__COUNT + 100)), "unknown");
    assert_string_equal(cf_reason_name((cf_reason_t)-1), "unknown");
    assert_non_null(cf_reason_describe(CF_REASON__COUNT));
    assert_non_null(cf_reason_describe((cf_reason_t)-1));
}

static void test_reason_from_unknown_name_is_count(void **state)
{
    (void)state;
    assert_int_equal(cf_reason_from_name("unknown"), CF_REASON__COUNT);
    assert_int_equal(cf_reason_from_name(""), CF_REASON__COUNT);
    assert_int_equal(cf_reason_from_name("Token_Expired"), CF_REASON__COUNT);
    assert_int_equal(cf_reason_from_name("token_expired "), CF_REASON__COUNT);
}

static void test_reason_every_code_has_a_description(void **state)
{
    (void)state;
    for (int r = 0; r < CF_REASON__COUNT; r++) {
        const char *d = cf_reason_describe((cf_reason_t)r);
        assert_non_null(d);
        assert_true(strlen(d) > 0);
    }
}

static void test_end_name_from_name_round_trips_every_code(void **state)
{
    (void)state;
    for (int e = 0; e < CF_END__COUNT; e++) {
        const char *name = cf_end_name((cf_end_t)e);
        assert_string_not_equal(name, "unknown");
        assert_int_equal(cf_end_from_name(name), e);
    }
    assert_string_equal(cf_end_name(CF_END__COUNT), "unknown");
    assert_int_equal(cf_end_from_name("nope"), CF_END__COUNT);
}

static void test_end_maps_to_its_refusal(void **state)
{
    (void)state;
    assert_int_equal(cf_end_refusal(CF_END_NONE), CF_REASON_NONE);
    assert_int_equal(cf_end_refusal(CF_END_IDLE_TIMEOUT), CF_REASON_IDLE_TIMEOUT);
    assert_int_equal(cf_end_refusal(CF_END_ABSOLUTE_TIMEOUT), CF_REASON_ABSOLUTE_TIMEOUT);
    assert_int_equal(cf_end_refusal(CF_END_LOGOUT), CF_REASON_LOGOUT);
    assert_int_equal(cf_end_refusal(CF_END_REVOKED), CF_REASON_SESSION_REVOKED);
    assert_int_equal(cf_end_refusal(CF_END_REFRESH_REUSE), CF_REASON_REFRESH_REUSE);
    /* Out of range fails closed: the session is treated as revoked. */
    assert_int_equal(cf_end_refusal(CF_END__COUNT), CF_REASON_SESSION_REVOKED);
}

static void test_every_ended_session_refuses(void **state)
{
    (void)state;
    for (int e = 1; e < CF_END__COUNT; e++) {
        cf_reason_t r = cf_end_refusal((cf_end_t)e);
        assert_int_not_equal(r, CF_REASON_NONE);
        assert_true(r < CF_REASON__COUNT);
    }
}

static void test_strerror_covers_every_error(void **state)
{
    (void)state;
    assert_string_equal(cf_strerror(0), "ok");
    assert_string_equal(cf_strerror(CF_EPARSE), "malformed input");
    assert_string_equal(cf_strerror(CF_ETOOBIG), "input too large");
    assert_string_equal(cf_strerror(-99999), "unknown error");
#define X(name, val, str) assert_string_equal(cf_strerror(CF_##name), str);
    CF_ERRNO_MAP(X)
#undef X
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_name_from_name_round_trips_every_code),
        cmocka_unit_test(test_reason_names_are_unique_snake_case),
        cmocka_unit_test(test_reason_wire_names_are_stable),
        cmocka_unit_test(test_reason_out_of_range_is_unknown),
        cmocka_unit_test(test_reason_from_unknown_name_is_count),
        cmocka_unit_test(test_reason_every_code_has_a_description),
        cmocka_unit_test(test_end_name_from_name_round_trips_every_code),
        cmocka_unit_test(test_end_maps_to_its_refusal),
        cmocka_unit_test(test_every_ended_session_refuses),
        cmocka_unit_test(test_strerror_covers_every_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
