/* SPDX-License-Identifier: MIT
 *
 * The API key rules with an injected clock: the key string and its checksum
 * (every malformation refused before any lookup), lifetimes (default,
 * maxima, require_expiry, absurd and negative requests), the end of a key at
 * its exact millisecond (expiry, idle, rotation overlap), networks, and the
 * UTC day and month quota windows with their resets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/apikey.h"
#include "core/apikeytab.h"
#include "core/error.h"

/* 2023-11-14T22:13:20Z */
#define T0 ((cf_time_t)1700000000000LL)
#define ID "AbCdEf012345"
#define SECRET "0123456789abcdefghijABCDEFGHIJxy"

static cf_apikey_t *key(void)
{
    uint8_t h[32] = {0};
    cf_apikey_t *k = cf_apikey_new(ID, h, "alice", "ci", "", "reader", "read");

    assert_non_null(k);
    k->created_at = T0;
    return k;
}

static void test_format_parses_back_and_every_malformation_is_refused(void **state)
{
    char s[CF_APIKEY_LEN + 1], bad[CF_APIKEY_LEN + 2], id[CF_APIKEY_ID_LEN + 1];

    (void)state;
    cf_apikey_format(ID, SECRET, s);
    assert_int_equal(strlen(s), CF_APIKEY_LEN);
    assert_memory_equal(s, "cfk_" ID "_" SECRET, CF_APIKEY_LEN - CF_APIKEY_CHECK_LEN);
    assert_int_equal(cf_apikey_parse(s, CF_APIKEY_LEN, id), 0);
    assert_string_equal(id, ID);

    /* Every single-character change breaks the checksum or the form. */
    for (size_t i = 0; i < CF_APIKEY_LEN; i++) {
        memcpy(bad, s, sizeof s);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        assert_int_equal(cf_apikey_parse(bad, CF_APIKEY_LEN, id), CF_EPARSE);
    }
    /* Two adjacent characters swapped (the usual typo). */
    memcpy(bad, s, sizeof s);
    bad[20] = s[21];
    bad[21] = s[20];
    if (s[20] != s[21])
        assert_int_equal(cf_apikey_parse(bad, CF_APIKEY_LEN, id), CF_EPARSE);
    /* Truncated, overlong, empty. */
    assert_int_equal(cf_apikey_parse(s, CF_APIKEY_LEN - 1, id), CF_EPARSE);
    memcpy(bad, s, sizeof s);
    bad[CF_APIKEY_LEN] = 'x';
    assert_int_equal(cf_apikey_parse(bad, CF_APIKEY_LEN + 1, id), CF_EPARSE);
    assert_int_equal(cf_apikey_parse("", 0, id), CF_EPARSE);
    assert_int_equal(cf_apikey_parse("cfk_", 4, id), CF_EPARSE);
    /* CR, LF, NUL and a space inside. */
    const char junk[] = {'\r', '\n', '\0', ' ', '_', '-'};
    for (size_t j = 0; j < sizeof junk; j++) {
        memcpy(bad, s, sizeof s);
        bad[30] = junk[j];
        assert_int_equal(cf_apikey_parse(bad, CF_APIKEY_LEN, id), CF_EPARSE);
    }
    /* Wrong prefix case. */
    memcpy(bad, s, sizeof s);
    bad[0] = 'C';
    assert_int_equal(cf_apikey_parse(bad, CF_APIKEY_LEN, id), CF_EPARSE);
    assert_true(cf_apikey_has_prefix(s, CF_APIKEY_LEN));
    assert_false(cf_apikey_has_prefix("eyJhbGciOi", 10));
}

static void test_lifetime_default_max_and_require_expiry(void **state)
{
    cf_apikey_policy_t pol = {.require_expiry = 1, .max_lifetime = 365 * CF_DAY,
                              .default_lifetime = 90 * CF_DAY};
    cf_apikey_ask_t ask = {0};
    cf_time_t life = -1;

    (void)state;
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_NONE);
    assert_int_equal(life, 90 * CF_DAY);
    ask = (cf_apikey_ask_t){1, 365 * 86400};
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_NONE);
    assert_int_equal(life, 365 * CF_DAY);
    ask.expires_in++; /* one second past the maximum */
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_LIFETIME_TOO_LONG);
    ask.expires_in = 0; /* never */
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_EXPIRY_REQUIRED);
    ask.expires_in = -1;
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_INVALID_REQUEST);
    ask.expires_in = INT64_MIN;
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_INVALID_REQUEST);
    ask.expires_in = INT64_MAX; /* must not overflow into something short */
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_LIFETIME_TOO_LONG);

    /* The client's and a role's maxima are stricter: the strictest wins. */
    pol.client_max = 30 * CF_DAY;
    pol.role_max = 7 * CF_DAY;
    ask = (cf_apikey_ask_t){1, 8 * 86400};
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_LIFETIME_TOO_LONG);
    ask.has_expires_in = 0; /* the 90-day default is cut to the role's 7 days */
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_NONE);
    assert_int_equal(life, 7 * CF_DAY);

    /* No maximum, no requirement: an immortal key is allowed when asked for. */
    pol = (cf_apikey_policy_t){0};
    ask = (cf_apikey_ask_t){1, 0};
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_NONE);
    assert_int_equal(life, 0);
    /* require_expiry with no default: omitting expires_in is refused. */
    pol.require_expiry = 1;
    ask.has_expires_in = 0;
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_EXPIRY_REQUIRED);
    /* A maximum with no default: the default is the maximum. */
    pol.max_lifetime = 10 * CF_DAY;
    assert_int_equal(cf_apikey_lifetime(&pol, &ask, &life), CF_REASON_NONE);
    assert_int_equal(life, 10 * CF_DAY);
}

static void test_expiry_at_the_exact_millisecond(void **state)
{
    cf_apikey_t *k = key();
    cf_apikey_input_t in = {.key = k, .secret_ok = 1};
    cf_apikey_decision_t d;
    cf_time_t dl;

    (void)state;
    k->expires_at = T0 + 60 * CF_SEC;
    in.now = T0 + 60 * CF_SEC - 1;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_NONE);
    assert_int_equal(d.deadline, T0 + 60 * CF_SEC);
    in.now++;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_KEY_EXPIRED);
    assert_int_equal(d.end, CF_APIKEY_END_EXPIRED); /* not recorded yet: record it */
    k->end = CF_APIKEY_END_EXPIRED;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.end, CF_APIKEY_END_NONE);
    assert_int_equal(cf_apikey_end_at(k, T0, &dl), CF_APIKEY_END_EXPIRED); /* recorded ends stay */
    cf_apikey_free(k);
}

static void test_idle_expiry_counts_from_last_use_or_creation(void **state)
{
    cf_apikey_t *k = key();
    cf_time_t dl;

    (void)state;
    k->idle_expiry = 30 * CF_DAY;
    k->expires_at = T0 + 365 * CF_DAY;
    assert_int_equal(cf_apikey_end_at(k, T0 + 30 * CF_DAY - 1, &dl), CF_APIKEY_END_NONE);
    assert_int_equal(dl, T0 + 30 * CF_DAY);
    assert_int_equal(cf_apikey_end_at(k, T0 + 30 * CF_DAY, &dl), CF_APIKEY_END_IDLE_EXPIRED);
    k->last_used = T0 + 20 * CF_DAY;
    assert_int_equal(cf_apikey_end_at(k, T0 + 49 * CF_DAY, &dl), CF_APIKEY_END_NONE);
    assert_int_equal(cf_apikey_end_at(k, T0 + 50 * CF_DAY, &dl), CF_APIKEY_END_IDLE_EXPIRED);
    /* The earliest deadline decides: expiry before idle. */
    k->expires_at = T0 + 40 * CF_DAY;
    assert_int_equal(cf_apikey_end_at(k, T0 + 45 * CF_DAY, &dl), CF_APIKEY_END_EXPIRED);
    cf_apikey_free(k);
}

static void test_ended_at_is_the_deadline_that_passed_not_now(void **state)
{
    cf_apikey_t *k = key();

    (void)state;
    k->expires_at = T0 + 60 * CF_SEC;
    k->idle_expiry = 30 * CF_SEC;
    assert_int_equal(cf_apikey_ended_at(k, T0 + 30 * CF_SEC - 1), 0); /* alive */
    /* Idle first: it ended at its idle deadline, however late anyone asks. */
    assert_int_equal(cf_apikey_ended_at(k, T0 + 30 * CF_SEC), T0 + 30 * CF_SEC);
    assert_int_equal(cf_apikey_ended_at(k, T0 + 99 * CF_DAY), T0 + 30 * CF_SEC);
    k->last_used = T0 + 40 * CF_SEC; /* used: now expiry comes first */
    assert_int_equal(cf_apikey_ended_at(k, T0 + 61 * CF_SEC), T0 + 60 * CF_SEC);
    k->overlap_until = T0 + 50 * CF_SEC;
    assert_int_equal(cf_apikey_ended_at(k, T0 + 61 * CF_SEC), T0 + 50 * CF_SEC);
    /* A recorded end is the answer, even one recorded before a deadline. */
    k->end = CF_APIKEY_END_REVOKED;
    k->ended_at = T0 + 5 * CF_SEC;
    assert_int_equal(cf_apikey_ended_at(k, T0 + 99 * CF_DAY), T0 + 5 * CF_SEC);
    cf_apikey_free(k);
}

static void test_rotation_overlap_and_revocation_during_it(void **state)
{
    cf_apikey_t *k = key();
    cf_apikey_input_t in = {.key = k, .secret_ok = 1};
    cf_apikey_decision_t d;

    (void)state;
    k->expires_at = T0 + 10 * CF_DAY;
    /* The overlap never outlives the key. */
    assert_int_equal(cf_apikey_overlap_end(k, T0, CF_DAY), T0 + CF_DAY);
    assert_int_equal(cf_apikey_overlap_end(k, T0 + 9 * CF_DAY + 1, CF_DAY), T0 + 10 * CF_DAY);
    assert_int_equal(cf_apikey_overlap_end(k, T0, -5), T0);
    k->overlap_until = T0 + CF_DAY;
    /* A second rotation request can only shorten it. */
    assert_int_equal(cf_apikey_overlap_end(k, T0, 2 * CF_DAY), T0 + CF_DAY);
    in.now = T0 + CF_DAY - 1;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_NONE);
    assert_int_equal(d.deadline, T0 + CF_DAY);
    in.now = T0 + CF_DAY;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_KEY_ROTATED);
    /* Revoked within the overlap: revoked, at once, whatever the overlap says. */
    k->end = CF_APIKEY_END_REVOKED;
    k->ended_at = T0 + 1;
    in.now = T0 + 2;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_KEY_REVOKED);
    cf_apikey_free(k);
}

static void test_decide_order_and_networks(void **state)
{
    cf_apikey_t *k = key();
    cf_apikey_input_t in = {.key = k, .secret_ok = 1, .now = T0};
    cf_apikey_decision_t d;
    cf_ip_t inside, outside;

    (void)state;
    in.malformed = 1;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_MALFORMED_KEY);
    in.malformed = 0;
    in.secret_ok = 0;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_INVALID_KEY);
    in.key = NULL;
    in.secret_ok = 1;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_INVALID_KEY);
    in.key = k;
    assert_int_equal(cf_apikey_nets_parse(k, "10.0.0.0/8,2001:db8::/32"), 0);
    assert_int_equal(k->nnets, 2);
    assert_int_equal(cf_ip_parse("10.9.8.7", 8, &inside), 0);
    assert_int_equal(cf_ip_parse("11.0.0.1", 8, &outside), 0);
    in.ip = &inside;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_NONE);
    in.ip = &outside;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_NETWORK_NOT_ALLOWED);
    in.ip = NULL; /* unknown address while the key has networks */
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_NETWORK_NOT_ALLOWED);
    /* An ended key says so before its network does. */
    k->end = CF_APIKEY_END_REVOKED;
    cf_apikey_decide(&in, &d);
    assert_int_equal(d.why, CF_REASON_KEY_REVOKED);
    cf_apikey_free(k);
}

static void test_day_quota_resets_at_utc_midnight(void **state)
{
    cf_apikey_usage_t u = {0};
    cf_apikey_quota_t q;
    cf_time_t midnight = cf_apikey_day_start(T0) + CF_DAY; /* 2023-11-15T00:00:00Z */

    (void)state;
    assert_int_equal(midnight, 1700006400000LL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cf_apikey_quota_take(&u, 3, 0, T0, &q), 1);
        assert_int_equal(q.remaining, 2 - i);
    }
    assert_int_equal(cf_apikey_quota_take(&u, 3, 0, midnight - 1, &q), 0);
    assert_int_equal(q.limit, 3);
    assert_int_equal(q.reset, 1); /* Retry-After rounds this up to 1 s */
    assert_int_equal(u.day_used, 3);
    assert_int_equal(cf_apikey_quota_take(&u, 3, 0, midnight, &q), 1);
    assert_int_equal(u.day_used, 1);
    /* A clock stepped back into the old day does not restore the old count. */
    assert_int_equal(cf_apikey_quota_take(&u, 3, 0, midnight - 10, &q), 1);
    assert_int_equal(u.day_used, 2);
}

static void test_month_quota_and_calendar(void **state)
{
    cf_apikey_usage_t u = {0};
    cf_apikey_quota_t q;
    /* 2024-02-29T12:00:00Z: a leap day. */
    cf_time_t leap = 1709208000000LL;

    (void)state;
    assert_int_equal(cf_apikey_month_start(leap), 1706745600000LL); /* 2024-02-01 */
    assert_int_equal(cf_apikey_next_month(leap), 1709251200000LL);  /* 2024-03-01 */
    assert_int_equal(cf_apikey_next_month(1703980800000LL), 1704067200000LL); /* Dec 31 -> Jan 1 */
    assert_int_equal(cf_apikey_month_start(0), 0);
    assert_int_equal(cf_apikey_day_start(-1), -CF_DAY); /* before 1970: floor, not truncation */
    assert_int_equal(cf_apikey_quota_take(&u, 10, 2, leap, &q), 1);
    assert_int_equal(q.remaining, 1); /* the month is the tighter window */
    assert_int_equal(q.limit, 2);
    assert_int_equal(cf_apikey_quota_take(&u, 10, 2, leap, &q), 1);
    assert_int_equal(cf_apikey_quota_take(&u, 10, 2, leap, &q), 0);
    assert_int_equal(q.reset, 1709251200000LL - leap); /* the month's end, not midnight */
    assert_int_equal(q.window, 29 * CF_DAY);
    assert_int_equal(cf_apikey_quota_take(&u, 10, 2, 1709251200000LL, &q), 1);
    assert_int_equal(cf_apikey_quota_min(0, 5), 5);
    assert_int_equal(cf_apikey_quota_min(7, 5), 5);
    assert_int_equal(cf_apikey_quota_min(0, 0), 0);
}

static void test_merge_keeps_first_end_and_moves_forward(void **state)
{
    cf_apikey_t *k = key(), *s = key();

    (void)state;
    s->end = CF_APIKEY_END_REVOKED;
    s->ended_at = T0 + 5;
    s->last_used = T0 + 4;
    s->usage = (cf_apikey_usage_t){T0, 7, T0, 9};
    assert_int_equal(cf_apikey_merge(k, s), 1);
    assert_int_equal(k->end, CF_APIKEY_END_REVOKED);
    s->end = CF_APIKEY_END_EXPIRED;
    s->ended_at = T0 + 9;
    s->last_used = T0 + 1;
    s->usage.day_used = 3;
    cf_apikey_merge(k, s);
    assert_int_equal(k->end, CF_APIKEY_END_REVOKED);
    assert_int_equal(k->ended_at, T0 + 5);
    assert_int_equal(k->last_used, T0 + 4);
    assert_int_equal(k->usage.day_used, 7);
    assert_string_equal(cf_apikey_end_name(CF_APIKEY_END_ROTATED), "key_rotated");
    assert_int_equal(cf_apikey_end_from_name("key_idle_expired"), CF_APIKEY_END_IDLE_EXPIRED);
    assert_int_equal(cf_apikey_end_from_name("bogus"), CF_APIKEY_END__COUNT);
    cf_apikey_free(k);
    cf_apikey_free(s);
}

/* Cluster quotas: each node sends its uses since its last event; they add up per window. */
static void test_usage_deltas_add_up_per_window(void **state)
{
    cf_time_t d0 = cf_apikey_day_start(T0), d1 = d0 + CF_DAY, m0 = cf_apikey_month_start(T0);
    cf_apikey_usage_t u = {d0, 5, m0, 50}, sent = {d0, 3, m0, 48}, d, total = {d0, 10, m0, 100};

    (void)state;
    cf_apikey_usage_delta(&u, &sent, &d);
    assert_int_equal(d.day_used, 2);
    assert_int_equal(d.month_used, 2);
    assert_int_equal(d.day_start, d0);
    cf_apikey_usage_add(&total, &d);
    assert_int_equal(total.day_used, 12);
    assert_int_equal(total.month_used, 102);
    /* A new day since the last send: everything in it is new. */
    u = (cf_apikey_usage_t){d1, 4, m0, 54};
    cf_apikey_usage_delta(&u, &sent, &d);
    assert_int_equal(d.day_used, 4);
    assert_int_equal(d.day_start, d1);
    /* Added to a count of the previous day: the new day replaces it. */
    cf_apikey_usage_add(&total, &d);
    assert_int_equal(total.day_start, d1);
    assert_int_equal(total.day_used, 4);
    /* A delta for a day that has passed, or negative, or zero: nothing. */
    cf_apikey_usage_add(&total, &(cf_apikey_usage_t){d0, 7, m0 - 1, 9});
    cf_apikey_usage_add(&total, &(cf_apikey_usage_t){d1, -3, m0, 0});
    assert_int_equal(total.day_used, 4);
    assert_int_equal(total.month_used, 108);
    /* A count behind what was sent (a merge from the store) never goes negative. */
    cf_apikey_usage_delta(&sent, &u, &d);
    assert_int_equal(d.day_used, 3);
    cf_apikey_usage_delta(&(cf_apikey_usage_t){d1, 1, m0, 1}, &u, &d);
    assert_int_equal(d.day_used, 0);
    assert_int_equal(d.month_used, 0);
    /* Huge counts saturate instead of wrapping. */
    total.day_used = INT64_MAX - 1;
    cf_apikey_usage_add(&total, &(cf_apikey_usage_t){d1, 5, m0, 0});
    assert_true(total.day_used == INT64_MAX);
}

/* The string cache remembers only "this exact string hashes to this"; two
 * strings never share an entry, even in the same slot, and what it answers
 * is always what parsing and hashing would. */
static void test_string_cache_never_confuses_two_strings(void **state)
{
    cf_apikey_cache_t c = {0};
    char a[CF_APIKEY_LEN + 1], b[CF_APIKEY_LEN + 1], bad[CF_APIKEY_LEN + 1];
    char id[CF_APIKEY_ID_LEN + 1];
    uint8_t ha[32], hb[32], h[32];
    int hit;

    (void)state;
    cf_apikey_format(ID, SECRET, a);
    cf_apikey_format(ID, "0123456789abcdefghijABCDEFGHIJxz", b); /* same id, another secret */
    cf_apikey_hash(a, CF_APIKEY_LEN, ha);
    cf_apikey_hash(b, CF_APIKEY_LEN, hb);
    assert_int_equal(cf_apikey_cache_init(&c, 3, 1), CF_EINVAL);
    /* One slot: every string lands in it, so a and b evict each other. */
    assert_int_equal(cf_apikey_cache_init(&c, 1, 42), 0);
    assert_int_equal(cf_apikey_cache_lookup(&c, a, CF_APIKEY_LEN, id, h, &hit), 0);
    assert_false(hit);
    assert_memory_equal(h, ha, 32);
    assert_string_equal(id, ID);
    assert_int_equal(cf_apikey_cache_lookup(&c, a, CF_APIKEY_LEN, id, h, &hit), 0);
    assert_true(hit);
    assert_memory_equal(h, ha, 32);
    /* b differs in its last secret character only: a miss with its own hash. */
    assert_int_equal(cf_apikey_cache_lookup(&c, b, CF_APIKEY_LEN, id, h, &hit), 0);
    assert_false(hit);
    assert_memory_equal(h, hb, 32);
    assert_int_equal(cf_apikey_cache_lookup(&c, a, CF_APIKEY_LEN, id, h, &hit), 0);
    assert_false(hit);
    assert_memory_equal(h, ha, 32);
    /* A cached string with one character changed (checksum broken) is
     * malformed, never a hit; a prefix of a cached string is malformed. */
    memcpy(bad, a, sizeof a);
    bad[30] = bad[30] == 'a' ? 'b' : 'a';
    assert_int_equal(cf_apikey_cache_lookup(&c, bad, CF_APIKEY_LEN, id, h, &hit), CF_EPARSE);
    assert_false(hit);
    assert_int_equal(cf_apikey_cache_lookup(&c, a, CF_APIKEY_LEN - 1, id, h, &hit), CF_EPARSE);
    cf_apikey_cache_fini(&c);
    /* Without a cache it computes the same. */
    assert_int_equal(cf_apikey_cache_lookup(NULL, b, CF_APIKEY_LEN, id, h, &hit), 0);
    assert_memory_equal(h, hb, 32);
    assert_int_equal(cf_apikey_cache_lookup(&c, bad, CF_APIKEY_LEN, id, h, NULL), CF_EPARSE);
}

/* The id table: every key findable after growth and after deletions from
 * the middle of probe runs (backward shift), none after its removal. */
static void test_id_table_put_get_delete(void **state)
{
    enum { N = 3000 };
    cf_apikey_tab_t t = {.seed = 7};
    cf_strtab_t st = CF_STRTAB_INIT;
    static cf_apikey_rec_t *k[N];
    cf_apikey_rec_t *old;
    uint8_t h[32] = {0};
    char id[CF_APIKEY_ID_LEN + 1];
    size_t pos = 0, seen = 0;

    (void)state;
    for (int i = 0; i < N; i++) {
        cf_apikey_t *full;
        snprintf(id, sizeof id, "%012d", i);
        full = cf_apikey_new(id, h, "s", "", "", "", "");
        assert_non_null(full);
        k[i] = cf_apikey_rec_new(full, &st);
        cf_apikey_free(full);
        assert_non_null(k[i]);
        assert_int_equal(cf_apikey_tab_put(&t, k[i], &old), 0);
        assert_null(old);
    }
    assert_int_equal(t.count, N);
    assert_true(t.count * 4 <= t.cap * 3);
    for (int i = 0; i < N; i += 3)
        assert_ptr_equal(cf_apikey_tab_del(&t, k[i]->id), k[i]);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(cf_apikey_tab_get(&t, k[i]->id), i % 3 == 0 ? NULL : k[i]);
    assert_null(cf_apikey_tab_del(&t, k[0]->id));
    assert_int_equal(cf_apikey_tab_put(&t, k[1], &old), 0);
    assert_ptr_equal(old, k[1]); /* the same id replaces */
    while (cf_apikey_tab_next(&t, &pos) != NULL)
        seen++;
    assert_int_equal(seen, t.count);
    for (int i = 0; i < N; i++)
        cf_apikey_rec_free(k[i], &st);
    assert_int_equal(cf_strtab_count(&st), 0);
    cf_strtab_fini(&st);
    free(t.slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parses_back_and_every_malformation_is_refused),
        cmocka_unit_test(test_lifetime_default_max_and_require_expiry),
        cmocka_unit_test(test_expiry_at_the_exact_millisecond),
        cmocka_unit_test(test_idle_expiry_counts_from_last_use_or_creation),
        cmocka_unit_test(test_ended_at_is_the_deadline_that_passed_not_now),
        cmocka_unit_test(test_rotation_overlap_and_revocation_during_it),
        cmocka_unit_test(test_decide_order_and_networks),
        cmocka_unit_test(test_day_quota_resets_at_utc_midnight),
        cmocka_unit_test(test_month_quota_and_calendar),
        cmocka_unit_test(test_merge_keeps_first_end_and_moves_forward),
        cmocka_unit_test(test_usage_deltas_add_up_per_window),
        cmocka_unit_test(test_string_cache_never_confuses_two_strings),
        cmocka_unit_test(test_id_table_put_get_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
