/* SPDX-License-Identifier: MIT
 *
 * The packed parts of the session index (issue 10, memory per session):
 * refresh-token entries of 28 bytes linked by 32-bit places, addresses of
 * up to 15 characters in the record itself, a one-byte end, times as 32-bit
 * offsets from creation (or wide), one interned profile per (client, scope,
 * roles, limits), an ext only for rare fields. Every value a record is
 * given comes back unchanged, at the limits too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/event.h"
#include "core/index.h"
#include "core/index_int.h"

#define T0 ((cf_time_t)1700000000000LL)

static void sid_of(int i, char out[CF_SID_LEN + 1])
{
    snprintf(out, CF_SID_LEN + 1, "P%023d", i);
}

/* A refresh hash that differs from every other one in its first 16 bytes. */
static void hash_of(int i, int k, uint8_t h[32])
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ULL ^ (uint64_t)k * 0xC2B2AE3D27D4EB4FULL;

    for (int b = 0; b < 32; b++) {
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ULL;
        h[b] = (uint8_t)(x >> 56);
    }
    memcpy(h + 8, &i, sizeof i); /* unique even if the mix collided */
    h[12] = (uint8_t)k;
}

static cf_session_t *add_as(cf_index_t *ix, int i, const char *sub, const char *ip)
{
    char sid[CF_SID_LEN + 1];
    cf_limits_t lim = {3600 * CF_SEC, 12 * 3600 * CF_SEC, 300 * CF_SEC};
    cf_session_t *src, *s;

    sid_of(i, sid);
    src = cf_session_new(sid, sub, "web", "read", "user", 0, &lim, T0 + i);
    assert_non_null(src);
    cf_session_bind(src, ip, "");
    s = cf_index_add(ix, src, T0 + i);
    cf_session_free(src);
    assert_non_null(s);
    return s;
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(sizeof(cf_refresh_entry_t), 28);
    assert_true(sizeof(cf_session_t) <= 136);
    assert_int_equal(sizeof(ix_heap_ent_t), 12);
    assert_int_equal(sizeof *((cf_index_t *)NULL)->order, 4);
}

/* Tokens of sessions with 0-5 tokens each: found, owned and generation-exact;
 * removing sessions frees theirs, new ones reuse the places, nothing mixes. */
static void test_refresh_entries_round_trip(void **state)
{
    cf_index_t *ix = cf_index_new(5);
    enum { N = 6000 };
    static cf_session_t *recs[2 * N];
    uint8_t h[32];
    size_t tokens = 0;

    (void)state;
    for (int i = 0; i < N; i++) {
        recs[i] = add_as(ix, i, "alice", "10.0.0.1");
        for (int k = 0; k < i % 6; k++, tokens++) {
            hash_of(i, k, h);
            assert_int_equal(cf_index_add_refresh(ix, recs[i], h, (uint32_t)(UINT32_MAX - k)), 0);
        }
    }
    assert_int_equal(cf_index_refresh_count(ix), tokens);
    for (int i = 0; i < N; i += 2) {
        tokens -= (size_t)(i % 6);
        cf_index_remove(ix, recs[i]);
        recs[i] = NULL;
    }
    assert_int_equal(cf_index_refresh_count(ix), tokens);
    /* New sessions take the freed places: their tokens must not name old owners. */
    for (int i = N; i < 2 * N; i++) {
        recs[i] = add_as(ix, i, "bob", "10.0.0.2");
        for (int k = 0; k < i % 6; k++, tokens++) {
            hash_of(i, k, h);
            assert_int_equal(cf_index_add_refresh(ix, recs[i], h, (uint32_t)k), 0);
        }
    }
    assert_int_equal(cf_index_refresh_count(ix), tokens);
    for (int i = 0; i < 2 * N; i++)
        for (int k = 0; k < i % 6; k++) {
            cf_refresh_entry_t *e;
            hash_of(i, k, h);
            e = cf_index_refresh(ix, h);
            if (recs[i] == NULL) {
                assert_null(e);
                continue;
            }
            assert_non_null(e);
            assert_ptr_equal(cf_index_refresh_owner(ix, e), recs[i]);
            assert_int_equal(e->gen, i < N ? UINT32_MAX - (uint32_t)k : (uint32_t)k);
        }
    /* The subjects' lists (4-byte links) hold exactly their sessions. */
    for (int who = 0; who < 2; who++) {
        const cf_subject_t *g = cf_index_subject(ix, who ? "bob" : "alice");
        size_t n = 0;
        for (cf_session_t *s = g->head; s != NULL; s = cf_index_sub_next(ix, s), n++) {
            assert_string_equal(s->sub, who ? "bob" : "alice");
            assert_ptr_equal(cf_index_get(ix, s->id, CF_SID_LEN), s);
        }
        assert_int_equal(n, who ? N : N / 2);
        assert_int_equal(g->count, n);
    }
    for (int i = 1; i < 2 * N; i += 2)
        cf_index_remove(ix, recs[i]);
    for (int i = N; i < 2 * N; i += 2)
        cf_index_remove(ix, recs[i]);
    assert_int_equal(cf_index_refresh_count(ix), 0);
    assert_int_equal(cf_index_count(ix), 0);
    cf_index_free(ix);
}

/* The index keys a token by the first 16 bytes of its SHA-256 (index.h):
 * hashes that differ only after them are one key, any earlier byte counts. */
static void test_refresh_key_is_its_first_16_bytes(void **state)
{
    cf_index_t *ix = cf_index_new(6);
    cf_session_t *s = add_as(ix, 1, "carol", "");
    uint8_t h1[32], h2[32];

    (void)state;
    memset(h1, 0xAB, sizeof h1);
    assert_int_equal(cf_index_add_refresh(ix, s, h1, 7), 0);
    memcpy(h2, h1, 32);
    h2[31] ^= 1;
    assert_int_equal(cf_index_add_refresh(ix, s, h2, 8), CF_EEXIST);
    assert_int_equal(cf_index_refresh(ix, h2)->gen, 7);
    for (int b = 0; b < CF_INDEX_REFRESH_KEY; b++) {
        memcpy(h2, h1, 32);
        h2[b] ^= 0x80;
        assert_null(cf_index_refresh(ix, h2));
        assert_int_equal(cf_index_add_refresh(ix, s, h2, (uint32_t)b), 0);
        assert_int_equal(cf_index_refresh(ix, h2)->gen, b);
    }
    assert_int_equal(cf_index_refresh_count(ix), 1 + CF_INDEX_REFRESH_KEY);
    cf_index_remove(ix, s);
    assert_int_equal(cf_index_refresh_count(ix), 0);
    cf_index_free(ix);
}

/* Addresses at the 15/16-character edge, the longest IPv6 text, "" and
 * a thousand sessions behind one address: each reads back exactly. */
static void test_addresses_round_trip(void **state)
{
    static const char *const ips[] = {
        "", "1.2.3.4", "255.255.255.255", "255.255.255.2550", "::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "2001:db8::1",
    };
    const size_t nips = sizeof ips / sizeof ips[0];
    cf_index_t *ix = cf_index_new(7);
    static cf_session_t *recs[1000];
    size_t bytes;

    (void)state;
    for (int i = 0; i < 1000; i++)
        recs[i] = add_as(ix, i, "dave", ips[(size_t)i % nips]);
    for (int i = 999; i >= 0; i -= 3) {
        cf_index_remove(ix, recs[i]);
        recs[i] = NULL;
    }
    for (int i = 0; i < 1000; i++)
        if (recs[i] != NULL)
            assert_string_equal(cf_session_ip(recs[i]), ips[(size_t)i % nips]);
    bytes = cf_index_bytes(ix);
    for (int i = 999; i >= 0; i -= 3) /* the freed chunks come back: no growth */
        recs[i] = add_as(ix, i, "dave", ips[(size_t)i % nips]);
    assert_int_equal(cf_index_bytes(ix) - bytes <= 4096, 1);
    for (int i = 0; i < 1000; i++)
        assert_string_equal(cf_session_ip(recs[i]), ips[(size_t)i % nips]);
    cf_index_free(ix);
}

/* Every field a record copies, at its limits: huge and negative times,
 * generation and end at their maxima, long and many distinct subjects. */
static void test_record_round_trip_at_the_limits(void **state)
{
    static const cf_time_t times[] = {INT64_MIN / 4, -1, 0, 1, T0, INT64_MAX / 4};
    cf_index_t *ix = cf_index_new(8);
    char sub[2048], sid[CF_SID_LEN + 1];
    int n = 0;

    (void)state;
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
        cf_limits_t lim = {times[t], times[t], times[t]};
        cf_session_t *src, *r;
        memset(sub, 'a' + (int)t, sizeof sub - 1);
        sub[sizeof sub - 1] = '\0';
        sid_of(100000 + n++, sid);
        src = cf_session_new(sid, sub, "c", "s p", "r,q", times[t], &lim, times[t]);
        assert_non_null(src);
        src->end = CF_END__COUNT - 1;
        cf_session_set_time(src, CF_T_ENDED, times[t]);
        src->refresh_gen = UINT32_MAX;
        cf_session_set_time(src, CF_T_ROTATED, times[t]);
        cf_session_set_time(src, CF_T_ACTIVITY, times[t]);
        cf_session_set_time(src, CF_T_IDLE, times[t]);
        cf_session_set_time(src, CF_T_ABSOLUTE, times[t]);
        cf_session_set_time(src, CF_T_AUTH, times[t]);
        r = cf_index_add(ix, src, T0);
        assert_non_null(r);
        assert_string_equal(r->id, src->id);
        assert_string_equal(r->sub, sub);
        assert_string_equal(cf_session_scope(r), "s p");
        assert_string_equal(cf_session_roles(r), "r,q");
        assert_int_equal(r->end, CF_END__COUNT - 1);
        assert_int_equal(r->refresh_gen, UINT32_MAX);
        assert_int_equal(r->created_at, times[t]);
        assert_int_equal(cf_session_auth_time(r), times[t]);
        assert_int_equal(cf_session_last_activity(r), times[t]);
        assert_int_equal(cf_session_ended_at(r), times[t]);
        assert_int_equal(cf_session_rotated_at(r), times[t]);
        assert_int_equal(cf_session_idle_deadline(r), times[t]);
        assert_int_equal(cf_session_absolute_deadline(r), times[t]);
        assert_memory_equal(cf_session_limits(r), &lim, sizeof lim);
        cf_session_free(src);
    }
    /* Groups are allocated to their name's length: the shortest names too. */
    for (int i = 0; i < 3; i++) {
        static const char *const names[] = {"", "x", "0123456789abcdefghij"};
        const cf_subject_t *g;
        add_as(ix, 150000 + i, names[i], "");
        g = cf_index_subject(ix, names[i]);
        assert_non_null(g);
        assert_int_equal(g->count, 1);
        assert_int_equal(g->not_before, 0);
        assert_string_equal(g->name, names[i]);
        assert_int_equal(cf_index_set_not_before(ix, names[i], T0), 0);
        assert_int_equal(cf_index_not_before(ix, names[i]), T0);
    }
    /* 20,000 distinct subjects: each its own group of one. */
    for (int i = 0; i < 20000; i++) {
        snprintf(sub, sizeof sub, "subject-%d", i);
        add_as(ix, 200000 + i, sub, "192.168.100.200");
    }
    for (int i = 0; i < 20000; i += 997) {
        const cf_subject_t *g;
        snprintf(sub, sizeof sub, "subject-%d", i);
        g = cf_index_subject(ix, sub);
        assert_non_null(g);
        assert_int_equal(g->count, 1);
        assert_string_equal(g->head->sub, sub);
        assert_string_equal(cf_session_ip(g->head), "192.168.100.200");
    }
    cf_index_free(ix);
}

static cf_session_t *add_at(cf_index_t *ix, int i, cf_time_t at)
{
    char sid[CF_SID_LEN + 1];
    cf_limits_t lim = {3600 * CF_SEC, 12 * 3600 * CF_SEC, 300 * CF_SEC};
    cf_session_t *src, *s;

    sid_of(i, sid);
    src = cf_session_new(sid, "erin", "web", "read", "user", 0, &lim, at);
    assert_non_null(src);
    s = cf_index_add(ix, src, at);
    cf_session_free(src);
    assert_non_null(s);
    return s;
}

/* The creation order and the heaps hold 4-byte links: after removals, and
 * new sessions landing in the freed places with older creation times (a
 * cluster node adopting them), listings still page through every session
 * once, newest first, and expiry still comes in deadline order. */
static void test_order_and_heaps_by_link(void **state)
{
    cf_index_t *ix = cf_index_new(9);
    static cf_session_t *recs[4000];
    cf_index_cursor_t cur = {0}, next;
    cf_session_t *page[100];
    size_t total = 0;
    cf_time_t last_at = INT64_MAX;
    char last_id[CF_SID_LEN + 1] = "~";
    int more = 1;

    (void)state;
    for (int i = 0; i < 3000; i++)
        recs[i] = add_at(ix, i, T0 + 10 * i);
    for (int i = 0; i < 3000; i += 3)
        cf_index_remove(ix, recs[i]);
    for (int i = 3000; i < 4000; i++) /* older than most: inserted mid-order */
        recs[i] = add_at(ix, i, T0 + 10 * (3999 - i) * 3 + 5);
    while (more) {
        size_t n = cf_index_list(ix, total ? &cur : NULL, NULL, NULL, page, 100, SIZE_MAX, &next,
                                 &more);
        for (size_t k = 0; k < n; k++) {
            const cf_session_t *s = page[k];
            assert_ptr_equal(cf_index_get(ix, s->id, CF_SID_LEN), s);
            assert_true(s->created_at < last_at ||
                        (s->created_at == last_at && strcmp(s->id, last_id) < 0));
            last_at = s->created_at;
            memcpy(last_id, s->id, sizeof last_id);
        }
        total += n;
        cur = next;
    }
    assert_int_equal(total, cf_index_count(ix));
    assert_int_equal(total, 3000);
    /* Everything idles out at its own deadline: the heap names the right records. */
    cf_index_advance(ix, T0 + 3600 * CF_SEC + 10 * 1500);
    assert_true(cf_index_active(ix) > 0 && cf_index_active(ix) < 3000);
    for (int i = 0; i < 4000; i++)
        if (i >= 3000 || i % 3 != 0)
            assert_int_equal(recs[i]->counted,
                             cf_session_idle_deadline(recs[i]) > T0 + 3600 * CF_SEC + 10 * 1500);
    cf_index_free(ix);
}

/* Would @v be held as an offset from @at (index.c, session.c: time_fits)? */
static int fits(cf_time_t at, cf_time_t v)
{
    return v == 0 || (v - at > INT32_MIN && v - at <= INT32_MAX);
}

static cf_session_t *add_src(cf_index_t *ix, cf_session_t *src)
{
    cf_session_t *s = cf_index_add(ix, src, T0);

    cf_session_free(src);
    assert_non_null(s);
    return s;
}

/* Times are 32-bit offsets from created_at until one does not fit: then
 * all six move to the ext ("wide"), at creation or at any later write, and
 * every value comes back exactly, 0 included (the offset's sentinel). */
static void test_times_narrow_wide_and_the_escape_bound(void **state)
{
    static const cf_time_t deltas[] = {0, 1, -1, INT32_MAX, (cf_time_t)INT32_MAX + 1,
                                       -(cf_time_t)INT32_MAX, INT32_MIN, (cf_time_t)INT32_MIN - 1,
                                       (cf_time_t)UINT32_MAX + 7};
    static const cf_time_t absolutes[] = {0, 1, -1, INT64_MAX / 4, INT64_MIN / 4, -T0};
    cf_limits_t lim = {3600 * CF_SEC, 12 * 3600 * CF_SEC, 300 * CF_SEC};
    cf_index_t *ix = cf_index_new(10);
    char sid[CF_SID_LEN + 1];
    size_t nd = sizeof deltas / sizeof deltas[0], na = sizeof absolutes / sizeof absolutes[0];
    int n = 0;

    (void)state;
    for (int k = 0; k < CF_T__COUNT; k++) {
        for (size_t d = 0; d < nd + na; d++) {
            cf_time_t v = d < nd ? T0 + deltas[d] : absolutes[d - nd], want[CF_T__COUNT];
            cf_session_t *src, *r;
            int narrow = 1;

            sid_of(300000 + n++, sid);
            src = cf_session_new(sid, "tim", "web", "read", "user", T0 - 5, &lim, T0);
            assert_non_null(src);
            cf_session_set_time(src, k, v);
            if (k == CF_T_IDLE) /* else the absolute deadline would clamp it */
                cf_session_set_time(src, CF_T_ABSOLUTE, v);
            for (int j = 0; j < CF_T__COUNT; j++)
                want[j] = cf_session_time(src, j);
            if (want[CF_T_IDLE] > want[CF_T_ABSOLUTE]) /* the index holds idle <= absolute */
                want[CF_T_IDLE] = want[CF_T_ABSOLUTE];
            for (int j = 0; j < CF_T__COUNT; j++)
                narrow &= fits(T0, want[j]);
            r = add_src(ix, src);
            assert_int_equal(r->wide, !narrow);
            if (narrow)
                assert_null(r->ext); /* nothing rare: no ext at all */
            for (int j = 0; j < CF_T__COUNT; j++)
                assert_int_equal(cf_session_time(r, j), want[j]);
            assert_int_equal(r->created_at, T0);
        }
    }
    /* Narrow at creation, widened by a later write: touch far in the future. */
    {
        cf_session_t *r, *c;
        cf_time_t later = T0 + (cf_time_t)INT32_MAX + 5, before[CF_T__COUNT];

        sid_of(399000, sid);
        r = add_src(ix, cf_session_new(sid, "tim", "web", "read", "user", 0, &lim, T0));
        assert_int_equal(r->wide, 0);
        for (int j = 0; j < CF_T__COUNT; j++)
            before[j] = cf_session_time(r, j);
        cf_session_touch(r, later);
        assert_int_equal(r->wide, 1);
        assert_non_null(r->ext);
        assert_int_equal(cf_session_last_activity(r), later);
        assert_int_equal(cf_session_idle_deadline(r), cf_session_absolute_deadline(r));
        for (int j = 0; j < CF_T__COUNT; j++)
            if (j != CF_T_ACTIVITY && j != CF_T_IDLE)
                assert_int_equal(cf_session_time(r, j), before[j]);
        /* A wide record keeps every later value exactly, back in range too. */
        cf_session_rotate(r, T0 + 3);
        assert_int_equal(cf_session_rotated_at(r), T0 + 3);
        assert_int_equal(cf_session_end(r, CF_END_LOGOUT, INT64_MAX / 2), 1);
        assert_int_equal(cf_session_ended_at(r), cf_session_absolute_deadline(r)); /* lapsed */
        c = cf_session_copy(r);
        assert_non_null(c);
        for (int j = 0; j < CF_T__COUNT; j++)
            assert_int_equal(cf_session_time(c, j), cf_session_time(r, j));
        cf_session_free(c);
        cf_index_sync(ix, r, T0);
        cf_index_remove(ix, r);
    }
    /* Widened by a merge: a snapshot's rotation long after creation. */
    {
        cf_session_t *r, *snap;

        sid_of(399001, sid);
        r = add_src(ix, cf_session_new(sid, "tim", "web", "read", "user", 0, &lim, T0));
        snap = cf_session_copy(r);
        snap->refresh_gen = 9;
        cf_session_set_time(snap, CF_T_ROTATED, INT64_MIN / 3);
        assert_int_equal(cf_session_merge(r, snap), 0);
        assert_int_equal(r->wide, 1);
        assert_int_equal(r->refresh_gen, 9);
        assert_int_equal(cf_session_rotated_at(r), INT64_MIN / 3);
        assert_int_equal(cf_session_last_activity(r), T0);
        cf_session_free(snap);
    }
    cf_index_free(ix);
}

static cf_session_t *add_prof(cf_index_t *ix, int i, const char *client, const char *scope,
                              const char *roles, cf_time_t idle)
{
    char sid[CF_SID_LEN + 1];
    cf_limits_t lim = {idle, 12 * 3600 * CF_SEC, 300 * CF_SEC};
    cf_session_t *r;

    sid_of(i, sid);
    r = add_src(ix, cf_session_new(sid, "pat", client, scope, roles, 0, &lim, T0));
    assert_string_equal(cf_session_client_id(r), client);
    assert_string_equal(cf_session_scope(r), scope);
    assert_string_equal(cf_session_roles(r), roles);
    assert_int_equal(cf_session_limits(r)->idle_timeout, idle);
    return r;
}

/* (client, scope, roles, limits) is interned as one profile: shared by
 * every session with the same four, kept while one of them lives, freed
 * with the last; parts that concatenate alike are still told apart. */
static void test_profiles_shared_and_released(void **state)
{
    cf_index_t *ix = cf_index_new(11);
    size_t bytes0 = cf_index_bytes(ix);
    static char big[3][2049];
    static cf_session_t *r[5000];
    cf_session_t *a, *b;

    (void)state;
    for (int i = 0; i < 100; i++)
        r[i] = add_prof(ix, i, "web", "read write", "user", 3600 * CF_SEC);
    assert_int_equal(ix->profiles.count, 1);
    for (int i = 1; i < 100; i++)
        assert_ptr_equal(r[i]->prof, r[0]->prof);
    /* Any one part differs: another profile. */
    r[100] = add_prof(ix, 100, "web2", "read write", "user", 3600 * CF_SEC);
    r[101] = add_prof(ix, 101, "web", "read", "user", 3600 * CF_SEC);
    r[102] = add_prof(ix, 102, "web", "read write", "admin", 3600 * CF_SEC);
    r[103] = add_prof(ix, 103, "web", "read write", "user", 3600 * CF_SEC + 1);
    r[104] = add_prof(ix, 104, "", "", "", 0);
    assert_int_equal(ix->profiles.count, 6);
    for (int i = 100; i < 105; i++)
        for (int j = 0; j < i; j++)
            if (j >= 100 || j == 0)
                assert_ptr_not_equal(r[i]->prof, r[j]->prof);
    /* "ab"+"c" and "a"+"bc": the same bytes run together, two profiles. */
    a = add_prof(ix, 105, "w", "ab", "c", 1);
    b = add_prof(ix, 106, "w", "a", "bc", 1);
    assert_ptr_not_equal(a->prof, b->prof);
    /* 2 KB of each string. */
    for (int k = 0; k < 3; k++) {
        memset(big[k], 'k' + k, 2048);
        big[k][2048] = '\0';
    }
    r[107] = add_prof(ix, 107, big[0], big[1], big[2], 7);
    r[108] = add_prof(ix, 108, big[0], big[1], big[2], 7);
    assert_ptr_equal(r[107]->prof, r[108]->prof);
    assert_int_equal(ix->profiles.count, 9);
    /* Kept while one session names it, freed with the last. */
    for (int i = 0; i < 99; i++)
        cf_index_remove(ix, r[i]);
    assert_int_equal(ix->profiles.count, 9);
    assert_string_equal(cf_session_scope(r[99]), "read write");
    cf_index_remove(ix, r[99]);
    assert_int_equal(ix->profiles.count, 8);
    assert_non_null(cf_index_client(ix, "web2"));
    for (int i = 100; i < 109; i++)
        if (i != 105 && i != 106)
            cf_index_remove(ix, r[i]);
    cf_index_remove(ix, a);
    cf_index_remove(ix, b);
    assert_int_equal(ix->profiles.count, 0);
    assert_null(cf_index_client(ix, "web"));
    /* Many distinct profiles: one each (requested lifetimes differ). */
    for (int i = 0; i < 5000; i++)
        r[i] = add_prof(ix, 1000 + i, i % 2 ? "odd" : "even", "s", "r", 1000 + i);
    assert_int_equal(ix->profiles.count, 5000);
    for (int i = 0; i < 5000; i += 2)
        cf_index_remove(ix, r[i]);
    assert_int_equal(ix->profiles.count, 2500);
    for (int i = 1; i < 5000; i += 2) {
        assert_int_equal(cf_session_limits(r[i])->idle_timeout, 1000 + i);
        assert_string_equal(cf_session_client_id(r[i]), "odd");
        cf_index_remove(ix, r[i]);
    }
    assert_int_equal(ix->profiles.count, 0);
    assert_int_equal(ix->string_bytes, 0);
    assert_true(cf_index_bytes(ix) >= bytes0);
    cf_index_free(ix);
}

/* Device, sender constraint and waiters live in an ext that only sessions
 * with one of them get; a short address lives in the record itself. */
static void test_ext_and_address_in_place(void **state)
{
    cf_limits_t lim = {3600 * CF_SEC, 12 * 3600 * CF_SEC, 300 * CF_SEC};
    cf_index_t *ix = cf_index_new(12);
    char sid[CF_SID_LEN + 1], v6[64];
    cf_session_t *src, *r, *c;
    const char *cnf = "jkt:0123456789abcdefghijABCDEFGHIJ_-01234567890";
    void **w;

    (void)state;
    sid_of(500000, sid);
    src = cf_session_new(sid, "eve", "web", "read", "user", 0, &lim, T0);
    cf_session_bind(src, "255.255.255.255", "");
    r = add_src(ix, src);
    assert_null(r->ext);
    assert_ptr_equal(cf_session_ip(r), r->ip.in);
    assert_string_equal(cf_session_ip(r), "255.255.255.255");
    assert_string_equal(cf_session_device(r), "");
    assert_string_equal(cf_session_cnf_text(r), "");
    /* A binding later: the ext comes, once; a second binding changes nothing. */
    assert_int_equal(cf_index_set_cnf(ix, r, cnf), 0);
    assert_non_null(r->ext);
    assert_string_equal(cf_session_cnf_text(r), cnf);
    assert_int_equal(cf_index_set_cnf(ix, r, "jkt:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), 0);
    assert_string_equal(cf_session_cnf_text(r), cnf);
    w = cf_session_waiters(r);
    assert_ptr_equal(w, &r->ext->waiters);
    assert_null(cf_session_waiters_peek(r));
    /* A device and an IPv6 address of the longest text form. */
    memset(v6, 0, sizeof v6);
    snprintf(v6, sizeof v6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    sid_of(500001, sid);
    src = cf_session_new(sid, "eve", "web", "read", "user", 0, &lim, T0);
    cf_session_bind(src, "10.0.0.1", "dev-1");
    cf_session_bind(src, v6, "dev-2"); /* a rebind frees the first */
    assert_int_equal(cf_session_set_cnf_text(src, cnf), 0);
    r = add_src(ix, src);
    assert_non_null(r->ext);
    assert_ptr_not_equal(cf_session_ip(r), r->ip.in);
    assert_string_equal(cf_session_ip(r), v6);
    assert_string_equal(cf_session_device(r), "dev-2");
    assert_string_equal(cf_session_cnf_text(r), cnf);
    assert_non_null(cf_session_bound(r, CF_CNF_JKT));
    c = cf_session_snapshot(r);
    assert_non_null(c);
    assert_string_equal(cf_session_ip(c), v6);
    assert_string_equal(cf_session_device(c), "dev-2");
    assert_string_equal(cf_session_cnf_text(c), cnf);
    assert_string_equal(cf_session_client_id(c), "web");
    cf_session_bind(c, "1.2.3.4", NULL);
    assert_string_equal(cf_session_ip(c), "1.2.3.4");
    assert_string_equal(cf_session_device(c), "");
    cf_session_free(c);
    cf_index_remove(ix, r);
    cf_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_refresh_entries_round_trip),
        cmocka_unit_test(test_refresh_key_is_its_first_16_bytes),
        cmocka_unit_test(test_addresses_round_trip),
        cmocka_unit_test(test_record_round_trip_at_the_limits),
        cmocka_unit_test(test_order_and_heaps_by_link),
        cmocka_unit_test(test_times_narrow_wide_and_the_escape_bound),
        cmocka_unit_test(test_profiles_shared_and_released),
        cmocka_unit_test(test_ext_and_address_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
