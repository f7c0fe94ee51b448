/* SPDX-License-Identifier: MIT
 *
 * The session index with an injected clock: expiry comes off the heap in
 * deadline order and touches only what is due, the live counters follow
 * every change, cursors survive inserts and deletes, and a client's list
 * holds exactly its sessions.
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
#include "core/index.h"

#define T0 ((cf_time_t)1700000000000LL)

static void sid_of(int i, char out[CF_SID_LEN + 1])
{
    snprintf(out, CF_SID_LEN + 1, "S%023d", i);
}

/* Index a session @i of @client created at @at, idle @idle ms, absolute 10x that. */
static cf_session_t *add(cf_index_t *ix, int i, const char *client, cf_time_t at, cf_time_t idle)
{
    char sid[CF_SID_LEN + 1];
    cf_limits_t lim = {idle, 10 * idle, idle};
    cf_session_t *src, *s;

    sid_of(i, sid);
    src = cf_session_new(sid, i % 2 ? "alice" : "bob", client, "read", "user", 0, &lim, at);
    assert_non_null(src);
    s = cf_index_add(ix, src, at);
    cf_session_free(src);
    assert_non_null(s);
    return s;
}

typedef struct {
    cf_index_t *ix;
    char order[64][CF_SID_LEN + 1];
    int n;
} purge_log_t;

static cf_time_t purge_all(void *arg, cf_session_t *s)
{
    purge_log_t *l = arg;

    memcpy(l->order[l->n++], s->id, CF_SID_LEN + 1);
    cf_index_remove(l->ix, s);
    return 0;
}

/* Remove every session offered; @arg is the index. */
static cf_time_t remove_it(void *arg, cf_session_t *s)
{
    cf_index_remove(arg, s);
    return 0;
}

static void test_expiry_comes_in_deadline_order_and_only_when_due(void **state)
{
    cf_index_t *ix = cf_index_new(42);
    purge_log_t log = {ix, {{0}}, 0};
    char sid[CF_SID_LEN + 1], want[CF_SID_LEN + 1];
    /* Inserted out of deadline order: 30 s, 10 s, 20 s idle. */
    const cf_time_t idle[] = {30 * CF_SEC, 10 * CF_SEC, 20 * CF_SEC};

    (void)state;
    for (int i = 0; i < 3; i++)
        add(ix, i, "web", T0, idle[i]);
    assert_int_equal(cf_index_active(ix), 3);
    /* One millisecond before the first deadline nothing is due. */
    assert_int_equal(cf_index_expire(ix, T0 + 10 * CF_SEC - 1, 100, purge_all, &log), 0);
    assert_int_equal(cf_index_active(ix), 3);
    assert_int_equal(cf_index_next_lapsed(ix, sid), 0);
    /* At the deadline: session 1 lapses (no longer active) and is purged (purge_after 0). */
    assert_int_equal(cf_index_expire(ix, T0 + 10 * CF_SEC, 100, purge_all, &log), 1);
    assert_int_equal(cf_index_active(ix), 2);
    sid_of(1, want);
    assert_string_equal(log.order[0], want);
    /* Everything else, then in order 2, 0. */
    assert_int_equal(cf_index_expire(ix, T0 + 3600 * CF_SEC, 100, purge_all, &log), 2);
    sid_of(2, want);
    assert_string_equal(log.order[1], want);
    sid_of(0, want);
    assert_string_equal(log.order[2], want);
    assert_int_equal(cf_index_count(ix), 0);
    assert_int_equal(cf_index_active(ix), 0);
    cf_index_free(ix);
}

static void test_touched_session_is_refiled_not_expired(void **state)
{
    cf_index_t *ix = cf_index_new(7);
    cf_session_t *s = add(ix, 1, "web", T0, 10 * CF_SEC);
    char sid[CF_SID_LEN + 1];

    (void)state;
    cf_index_set_purge_after(ix, 60 * CF_SEC);
    cf_index_touch(ix, s, T0 + 9 * CF_SEC); /* idle deadline now T0 + 19 s */
    cf_index_advance(ix, T0 + 10 * CF_SEC);
    assert_int_equal(cf_index_active(ix), 1);
    assert_int_equal(cf_index_next_lapsed(ix, sid), 0);
    cf_index_advance(ix, T0 + 19 * CF_SEC);
    assert_int_equal(cf_index_active(ix), 0);
    assert_int_equal(cf_index_next_lapsed(ix, sid), 1);
    assert_string_equal(sid, s->id);
    assert_int_equal(cf_index_next_lapsed(ix, sid), 0);
    /* An explicit end keeps it out of the counts and files it for purging at end + 60 s. */
    cf_session_end(s, CF_END_REVOKED, T0 + 20 * CF_SEC);
    cf_index_sync(ix, s, T0 + 20 * CF_SEC);
    assert_int_equal(cf_index_active(ix), 0);
    cf_index_free(ix);
}

static void test_counters_per_client_follow_end_and_remove(void **state)
{
    cf_index_t *ix = cf_index_new(9);
    cf_session_t *v[6];
    cf_group_t *web, *cli;

    (void)state;
    for (int i = 0; i < 6; i++)
        v[i] = add(ix, i, i < 4 ? "web" : "cli", T0 + i, 3600 * CF_SEC);
    web = cf_index_client(ix, "web");
    cli = cf_index_client(ix, "cli");
    assert_int_equal(web->count, 4);
    assert_int_equal(web->active, 4);
    assert_int_equal(cli->active, 2);
    /* Interned: sessions of a client with the same grant share one profile. */
    assert_ptr_equal(v[0]->prof, v[3]->prof);
    assert_ptr_equal(cf_session_client_id(v[0]), cf_session_client_id(v[3]));
    assert_ptr_not_equal(v[0]->prof, v[5]->prof);
    assert_string_equal(cf_session_scope(v[0]), cf_session_scope(v[5]));
    cf_session_end(v[1], CF_END_LOGOUT, T0 + 10);
    cf_index_sync(ix, v[1], T0 + 10);
    assert_int_equal(web->active, 3);
    assert_int_equal(cf_index_active(ix), 5);
    cf_index_remove(ix, v[4]);
    assert_int_equal(cli->count, 1);
    assert_int_equal(cli->active, 1);
    /* The client's list holds exactly its sessions. */
    int n = 0;
    for (cf_session_t *s = web->head; s != NULL; s = cf_index_cli_next(ix, s), n++)
        assert_string_equal(cf_session_client_id(s), "web");
    assert_int_equal(n, 4);
    cf_index_remove(ix, v[5]);
    assert_null(cf_index_client(ix, "cli"));
    cf_index_free(ix);
}

/* Page through with @page entries a time, running @churn between pages. */
static void test_cursor_is_stable_under_insert_and_delete(void **state)
{
    cf_index_t *ix = cf_index_new(3);
    cf_session_t *out[7];
    cf_index_cursor_t cur, next;
    int seen[200] = {0}, more = 1, first = 1, added = 100;

    (void)state;
    /* Equal creation times too: the id breaks the tie. */
    for (int i = 0; i < 100; i++)
        add(ix, i, "web", T0 + i / 3, 3600 * CF_SEC);
    while (more) {
        size_t n = cf_index_list(ix, first ? NULL : &cur, NULL, NULL, out, 7, 1000, &next, &more);
        first = 0;
        for (size_t i = 0; i < n; i++) {
            int k = atoi(out[i]->id + 1);
            assert_true(k < 100); /* newer than the first page: never reached */
            assert_int_equal(seen[k], 0); /* never twice */
            seen[k] = 1;
        }
        if (n > 0)
            cur = next;
        /* Churn: a newer session, and remove the oldest still present that is not next. */
        add(ix, added, "web", T0 + 1000 + added, 3600 * CF_SEC);
        added++;
        for (int k = 0; k < 100; k++) {
            char sid[CF_SID_LEN + 1];
            cf_session_t *s;
            sid_of(k, sid);
            s = cf_index_get(ix, sid, CF_SID_LEN);
            if (s != NULL && !seen[k] && k % 5 == 0) {
                cf_index_remove(ix, s);
                seen[k] = 2; /* removed before it was listed: may not appear */
                break;
            }
        }
        if (added >= 200)
            break;
    }
    /* Every session present throughout was listed exactly once. */
    for (int k = 0; k < 100; k++)
        assert_true(seen[k] == 1 || seen[k] == 2);
    cf_index_free(ix);
}

static void test_cursor_after_removed_cursor_session(void **state)
{
    cf_index_t *ix = cf_index_new(5);
    cf_session_t *out[3], *s;
    cf_index_cursor_t next;
    int more;

    (void)state;
    for (int i = 0; i < 10; i++)
        add(ix, i, "web", T0 + i, 3600 * CF_SEC);
    assert_int_equal(cf_index_list(ix, NULL, NULL, NULL, out, 3, 100, &next, &more), 3);
    assert_int_equal(more, 1);
    assert_int_equal(atoi(out[0]->id + 1), 9); /* newest first */
    s = cf_index_get(ix, next.id, CF_SID_LEN);
    cf_index_remove(ix, s); /* the cursor's own session goes */
    assert_int_equal(cf_index_list(ix, &next, NULL, NULL, out, 3, 100, &next, &more), 3);
    assert_int_equal(atoi(out[0]->id + 1), 6);
    assert_int_equal(atoi(out[2]->id + 1), 4);
    cf_index_free(ix);
}

static void test_bulk_load_in_any_order_lists_newest_first(void **state)
{
    cf_index_t *ix = cf_index_new(17);
    cf_session_t *out[50];
    cf_index_cursor_t next;
    int more;

    (void)state;
    cf_index_bulk(ix, 1);
    for (int i = 0; i < 50; i++) /* a store hands rows in id order, not creation order */
        add(ix, i, "web", T0 + (i * 37) % 50, 3600 * CF_SEC);
    cf_index_bulk(ix, 0);
    assert_int_equal(cf_index_list(ix, NULL, NULL, NULL, out, 50, 100, &next, &more), 50);
    assert_int_equal(more, 0);
    for (int i = 1; i < 50; i++)
        assert_true(out[i - 1]->created_at > out[i]->created_at);
    cf_index_remove(ix, out[10]); /* removal finds it by (created_at, id) */
    assert_int_equal(cf_index_list(ix, NULL, NULL, NULL, out, 50, 100, &next, &more), 49);
    cf_index_free(ix);
}

/* Ties on the creation millisecond are ordered by id, and the load hints
 * (prefetch stages, on known and unknown keys, on an empty index) change nothing. */
static void test_bulk_ties_and_prefetch_hints(void **state)
{
    cf_index_t *ix = cf_index_new(5);
    cf_limits_t lim = {CF_SEC, 10 * CF_SEC, CF_SEC};
    cf_session_t *out[40], *src;
    cf_index_cursor_t next;
    char sid[CF_SID_LEN + 1];
    uint8_t hash[32] = {1};
    int more;

    (void)state;
    sid_of(7, sid);
    src = cf_session_new(sid, "carol", "web", "read", "user", 0, &lim, T0);
    assert_non_null(src);
    for (int stage = 0; stage < 3; stage++) { /* empty tables: no slot to fetch */
        cf_index_prefetch_add(ix, src, stage);
        cf_index_prefetch_refresh(ix, sid, hash, stage);
    }
    cf_session_free(src);
    cf_index_bulk(ix, 1);
    for (int i = 39; i >= 0; i--) /* reverse id order, four sessions per millisecond */
        add(ix, i, "web", T0 + i / 4, 3600 * CF_SEC);
    cf_index_bulk(ix, 0);
    for (int i = 0; i < 60; i++) {
        sid_of(i, sid);
        src = cf_session_new(sid, i % 2 ? "alice" : "dave", "web", "read", "user", 0, &lim, T0);
        assert_non_null(src);
        cf_session_bind(src, i % 3 ? "10.0.0.1" : NULL, NULL);
        for (int stage = 0; stage < 3; stage++) {
            cf_index_prefetch_add(ix, src, stage);
            hash[1] = (uint8_t)i;
            cf_index_prefetch_refresh(ix, sid, hash, stage);
        }
        cf_session_free(src);
    }
    assert_int_equal(cf_index_count(ix), 40);
    assert_int_equal(cf_index_list(ix, NULL, NULL, NULL, out, 40, 100, &next, &more), 40);
    for (int i = 0; i < 40; i++) { /* newest first: T0+9 down to T0, each ms by descending id */
        sid_of(39 - i, sid);
        assert_string_equal(out[i]->id, sid);
    }
    cf_index_free(ix);
}

typedef struct {
    cf_index_t *ix;
    cf_time_t now, last;
    int offered;
} order_check_t;

/* Purge callback: each session offered is due at @now, in deadline order within one call. */
static cf_time_t purge_checked(void *arg, cf_session_t *s)
{
    order_check_t *c = arg;

    assert_true(cf_session_idle_deadline(s) <= c->now);
    assert_true(cf_session_idle_deadline(s) >= c->last);
    c->last = cf_session_idle_deadline(s);
    c->offered++;
    cf_index_remove(c->ix, s);
    return 0;
}

/*
 * The heaps under many sessions, removals from the middle, touches and a
 * clock that steps forwards and back: each expiry offers exactly the
 * sessions due (deadline <= now, to the millisecond), in deadline order,
 * and leaves every other one.
 */
static void test_heaps_under_random_work_and_stepping_clock(void **state)
{
    enum { N = 3000 };
    cf_index_t *ix = cf_index_new(99);
    static cf_time_t dl[N];
    static int gone[N];
    cf_session_t *recs[N];
    order_check_t c = {ix, 0, 0, 0};
    uint32_t rnd = 12345;
    cf_time_t now = T0;
    int left = N;

    (void)state;
    memset(gone, 0, sizeof gone);
    for (int i = 0; i < N; i++) {
        rnd = rnd * 1103515245u + 12345u;
        recs[i] = add(ix, i, i % 3 ? "web" : "cli", T0, 1 + (rnd >> 8) % 4000);
        dl[i] = cf_session_idle_deadline(recs[i]);
    }
    for (int i = 0; i < N; i += 7) { /* removed from the middle of the heap */
        cf_index_remove(ix, recs[i]);
        gone[i] = 1;
        left--;
    }
    for (int i = 3; i < N; i += 11) /* touched at T0 + 1000: a later deadline, filed lazily */
        if (!gone[i] && dl[i] > T0 + 1000) {
            cf_index_touch(ix, recs[i], T0 + 1000);
            dl[i] = cf_session_idle_deadline(recs[i]);
        }
    for (int step = 0; left > 0; step++) {
        int due = 0;
        /* Mostly forwards by 1-97 ms; every fifth step back by up to 40 ms. */
        rnd = rnd * 1103515245u + 12345u;
        now += step % 5 == 4 ? -(cf_time_t)((rnd >> 8) % 40) : (cf_time_t)(1 + (rnd >> 8) % 97);
        if (step % 13 == 0) /* exactly on a live session's deadline */
            for (int i = 0; i < N; i++)
                if (!gone[i] && dl[i] > now) {
                    now = dl[i];
                    break;
                }
        for (int i = 0; i < N; i++)
            if (!gone[i] && dl[i] <= now) {
                gone[i] = 1;
                due++;
            }
        c.now = now;
        c.last = 0;
        c.offered = 0;
        (void)cf_index_expire(ix, now, SIZE_MAX, purge_checked, &c);
        assert_int_equal(c.offered, due);
        left -= due;
        assert_int_equal((int)cf_index_count(ix), left);
        assert_int_equal((int)cf_index_active(ix), left);
        assert_true(step < 100000);
    }
    cf_index_free(ix);
}

/* Interned strings of every size class (pooled small and large, malloc'd
 * beyond): equal strings share one copy, and each survives the removal of
 * the other sessions naming it. */
static void test_interned_strings_of_every_size(void **state)
{
    cf_index_t *ix = cf_index_new(3);
    cf_limits_t lim = {CF_SEC, 10 * CF_SEC, CF_SEC};
    cf_session_t *recs[2][80];
    char sid[CF_SID_LEN + 1], ip[100];

    (void)state;
    for (int round = 0; round < 2; round++)
        for (int len = 0; len < 80; len++) {
            cf_session_t *src;
            memset(ip, 'a' + len % 26, (size_t)len);
            ip[len] = '\0';
            sid_of(round * 100 + len, sid);
            src = cf_session_new(sid, "erin", "web", "read", "user", 0, &lim, T0);
            assert_non_null(src);
            cf_session_bind(src, ip, ip);
            recs[round][len] = cf_index_add(ix, src, T0);
            cf_session_free(src);
            assert_non_null(recs[round][len]);
        }
    for (int len = 0; len < 80; len++) {
        /* Addresses of up to 15 characters are in the record itself (index.c: ip_ref). */
        if (len >= 16)
            assert_ptr_equal(cf_session_ip(recs[0][len]), cf_session_ip(recs[1][len]));
        else
            assert_ptr_not_equal(cf_session_ip(recs[0][len]), cf_session_ip(recs[1][len]));
        assert_ptr_equal(cf_session_device(recs[0][len]), cf_session_device(recs[1][len]));
        assert_string_equal(cf_session_ip(recs[0][len]), cf_session_device(recs[0][len]));
        cf_index_remove(ix, recs[0][len]);
    }
    for (int len = 0; len < 80; len++) {
        assert_int_equal(strlen(cf_session_ip(recs[1][len])), len);
        for (int i = 0; i < len; i++)
            assert_int_equal(cf_session_ip(recs[1][len])[i], 'a' + len % 26);
    }
    for (int len = 0; len < 80; len += 2)
        cf_index_remove(ix, recs[1][len]);
    assert_int_equal(cf_index_count(ix), 40);
    cf_index_free(ix); /* the other half goes with the index */
}

static void test_refresh_and_not_before(void **state)
{
    cf_index_t *ix = cf_index_new(11);
    cf_session_t *s = add(ix, 1, "web", T0, 3600 * CF_SEC);
    uint8_t h1[32], h2[32];

    (void)state;
    memset(h1, 1, 32);
    memset(h2, 2, 32);
    assert_int_equal(cf_index_add_refresh(ix, s, h1, 0), 0);
    assert_int_equal(cf_index_add_refresh(ix, s, h2, 1), 0);
    assert_int_equal(cf_index_add_refresh(ix, s, h2, 1), CF_EEXIST);
    assert_ptr_equal(cf_index_refresh_owner(ix, cf_index_refresh(ix, h1)), s);
    assert_int_equal(cf_index_refresh(ix, h2)->gen, 1);
    assert_int_equal(cf_index_set_not_before(ix, "alice", T0 + 5), 0);
    assert_int_equal(cf_index_set_not_before(ix, "alice", T0 + 1), 0); /* only rises */
    assert_int_equal(cf_index_not_before(ix, "alice"), T0 + 5);
    cf_index_remove(ix, s);
    assert_null(cf_index_refresh(ix, h1));
    assert_int_equal(cf_index_refresh_count(ix), 0);
    /* The epoch outlives the subject's sessions. */
    assert_int_equal(cf_index_not_before(ix, "alice"), T0 + 5);
    assert_int_equal(cf_index_not_before(ix, "nobody"), 0);
    cf_index_free(ix);
}

static void test_many_sessions_stay_compact(void **state)
{
    cf_index_t *ix = cf_index_new(13);
    const int n = 100000;

    (void)state;
    for (int i = 0; i < n; i++) {
        cf_session_t *s = add(ix, i, i % 3 ? "web" : "mobile", T0 + i, 3600 * CF_SEC);
        uint8_t h[32] = {0};
        memcpy(h, &i, sizeof i);
        h[31] = 7;
        assert_int_equal(cf_index_add_refresh(ix, s, h, 0), 0);
    }
    assert_int_equal(cf_index_count(ix), n);
    assert_int_equal(cf_index_active(ix), n);
    /* Records, entries, tables, heaps, order and strings: under 400 B a session here. */
    assert_true(cf_index_bytes(ix) / n < 400);
    cf_index_advance(ix, T0 + 3600 * CF_SEC + n / 2);
    assert_int_equal(cf_index_active(ix), n / 2 - 1);
    cf_index_free(ix);
}

/* A burst of deadlines at one instant is worked off in bounded slices: no
 * call re-files or purges more than it is allowed, and nothing is lost. */
static void test_advance_and_expire_are_bounded(void **state)
{
    cf_index_t *ix = cf_index_new(21);
    const int n = 5000;
    cf_time_t due = T0 + 60 * CF_SEC;
    char sid[CF_SID_LEN + 1];
    size_t offered = 0, calls = 0, lapsed = 0;

    (void)state;
    for (int i = 0; i < n; i++)
        add(ix, i, "web", T0, 60 * CF_SEC);
    assert_int_equal(cf_index_behind(ix, due - 1), 0);
    assert_int_equal(cf_index_behind(ix, due), 1);
    /* 300 at a time: the counts move by exactly that much per call. */
    assert_int_equal(cf_index_advance_max(ix, due, 300), 1);
    assert_int_equal(cf_index_active(ix), n - 300);
    while (cf_index_next_lapsed(ix, sid))
        lapsed++;
    assert_int_equal(lapsed, 300);
    assert_int_equal(cf_index_advance_max(ix, due, 0), 1); /* a zero budget does nothing */
    assert_int_equal(cf_index_active(ix), n - 300);
    /* expire() advances by at most its own budget too. */
    while (offered < (size_t)n) {
        size_t k = cf_index_expire(ix, due, 400, remove_it, ix);
        assert_true(k <= 400);
        assert_true(++calls < 100);
        offered += k;
        if (k == 0 && !cf_index_behind(ix, due))
            break;
    }
    assert_int_equal(offered, n);
    assert_int_equal(cf_index_active(ix), 0);
    assert_int_equal(cf_index_behind(ix, due), 0);
    assert_int_equal(cf_index_advance_max(ix, due, 300), 0);
    assert_int_equal(cf_index_count(ix), 0);
    cf_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_comes_in_deadline_order_and_only_when_due),
        cmocka_unit_test(test_touched_session_is_refiled_not_expired),
        cmocka_unit_test(test_counters_per_client_follow_end_and_remove),
        cmocka_unit_test(test_cursor_is_stable_under_insert_and_delete),
        cmocka_unit_test(test_cursor_after_removed_cursor_session),
        cmocka_unit_test(test_bulk_load_in_any_order_lists_newest_first),
        cmocka_unit_test(test_bulk_ties_and_prefetch_hints),
        cmocka_unit_test(test_heaps_under_random_work_and_stepping_clock),
        cmocka_unit_test(test_interned_strings_of_every_size),
        cmocka_unit_test(test_refresh_and_not_before),
        cmocka_unit_test(test_many_sessions_stay_compact),
        cmocka_unit_test(test_advance_and_expire_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
