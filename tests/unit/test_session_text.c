/* SPDX-License-Identifier: MIT
 *
 * A session's JSON view written without allocations (app/session_text.c,
 * the pages of GET /v1/sessions) against the jansson view it replaces
 * (cf_app_session_json() through json_dumps(JSON_COMPACT), what
 * cf_reply_json() sends): byte for byte, for live and ended sessions, roles
 * with empty segments, strings that need escaping, and a string that is not
 * UTF-8 (refused, so the page falls back to jansson).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/session_text.h"
#include "core/error.h"

static const cf_time_t t0 = 1767323045678;

/* Both views of @s at @now must be the same bytes, and fit the bound. */
static void same_bytes(const cf_session_t *s, cf_time_t now)
{
    json_t *o = cf_app_session_json(NULL, s, now);
    char *want = json_dumps(o, JSON_COMPACT);
    size_t cap = cf_session_text_max(s);
    char *buf = malloc(cap);
    cf_jsonw_t w;

    assert_non_null(want);
    assert_non_null(buf);
    cf_jsonw_init(&w, buf, cap);
    cf_session_text(&w, s, now);
    assert_int_equal(w.err, 0);
    assert_string_equal(w.buf, want);
    assert_int_equal(w.len, strlen(want));
    free(buf);
    free(want);
    json_decref(o);
}

static cf_session_t *session(const char *sub, const char *client, const char *scope,
                             const char *roles)
{
    cf_limits_t lim = {30 * 60 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};
    cf_session_t *s = cf_session_new("AAAAAAAAAAAAAAAAAAAAAA_-", sub, client, scope, roles,
                                     t0 - 5000, &lim, t0);

    assert_non_null(s);
    return s;
}

static void test_live_and_ended(void **state)
{
    cf_session_t *s = session("alice", "web", "read write", "user,admin");

    (void)state;
    same_bytes(s, t0 + 1000);
    same_bytes(s, t0 + 31 * 60 * CF_SEC); /* idled out: ended, with its reason and time */
    cf_session_end(s, CF_END_REVOKED, t0 + 2000);
    same_bytes(s, t0 + 3000);
    cf_session_free(s);
}

static void test_roles_and_escapes(void **state)
{
    const char *roles[] = {"", ",", ",user,,admin,", "a", "x,y,z"};

    (void)state;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        cf_session_t *s = session("bob", "", "", roles[i]);
        same_bytes(s, t0);
        cf_session_free(s);
    }
    {
        cf_session_t *s = session("q\"uo\\te\n\x01/\x7f caf\xc3\xa9 \xf0\x9f\x98\x80",
                                  "cli\"ent", "sc\tope", "r\"1,r\\2");
        same_bytes(s, t0);
        cf_session_free(s);
    }
}

static void test_invalid_utf8_is_refused(void **state)
{
    cf_session_t *s = session("bad\xc3(", "web", "", "user");
    char buf[1024];
    cf_jsonw_t w;

    (void)state;
    cf_jsonw_init(&w, buf, sizeof buf);
    cf_session_text(&w, s, t0);
    assert_int_equal(w.err, CF_EINVAL); /* the caller answers with jansson's view instead */
    cf_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_and_ended),
        cmocka_unit_test(test_roles_and_escapes),
        cmocka_unit_test(test_invalid_utf8_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
