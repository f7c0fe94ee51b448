/* SPDX-License-Identifier: MIT
 *
 * The index's tables grow incrementally (core/index_tab.h): while a table
 * drains its old array into the new one, every key is found exactly once,
 * deletes and re-inserts work on either array, iteration sees each entry
 * once, no single operation moves more than its budget, and the periodic
 * sweep drains a table that inserts stopped feeding. White-box: reads the
 * tables through core/index_int.h.
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
#include "core/index_int.h"
#include "core/index_tab.h"

#define T0 ((cf_time_t)1700000000000LL)
#define TOMB ((void *)(uintptr_t)1)

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void sid_of(long i, char out[CF_SID_LEN + 1])
{
    snprintf(out, CF_SID_LEN + 1, "R%023ld", i);
}

static void hash_of(long i, uint8_t h[32])
{
    memset(h, 0, 32);
    memcpy(h, &i, sizeof i);
    h[31] = 0xa5;
}

/* Index session @i (subject i/3, client i%@nclients, a unique address) with one refresh token. */
static cf_session_t *add(cf_index_t *ix, long i, int nclients)
{
    char sid[CF_SID_LEN + 1], sub[32], cli[32], ip[32];
    cf_limits_t lim = {3600 * CF_SEC, 36000 * CF_SEC, 300 * CF_SEC};
    uint8_t h[32];
    cf_session_t *src, *s;

    sid_of(i, sid);
    snprintf(sub, sizeof sub, "user-%ld", i / 3);
    snprintf(cli, sizeof cli, "client-%ld", i % nclients);
    snprintf(ip, sizeof ip, "10.%ld.%ld.%ld", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    src = cf_session_new(sid, sub, cli, "read", "user", T0, &lim, T0 + i);
    assert_non_null(src);
    cf_session_bind(src, ip, "");
    s = cf_index_add(ix, src, T0 + i);
    cf_session_free(src);
    assert_non_null(s);
    hash_of(i, h);
    assert_int_equal(cf_index_add_refresh(ix, s, h, 0), 0);
    return s;
}

static cf_session_t *get(const cf_index_t *ix, long i)
{
    char sid[CF_SID_LEN + 1];

    sid_of(i, sid);
    return cf_index_get(ix, sid, CF_SID_LEN);
}

/* 1 when the entry @e sits in @t's old array (not yet moved). */
static int in_old(const ix_tab_t *t, const void *e)
{
    for (size_t i = 0; t->old != NULL && i < t->old_cap; i++)
        if (t->old[i] != TOMB && cf__ix_untag(t->old[i]) == e)
            return 1;
    return 0;
}

/* Every entry of @t once: the iteration's count is the table's and no pointer repeats. */
static void assert_entries_unique(const ix_tab_t *t)
{
    size_t pos = 0, n = 0, cap = t->count * 2 + 2;
    void **seen = calloc(cap, sizeof *seen), *e;

    assert_non_null(seen);
    while ((e = cf__ix_tab_next(t, &pos)) != NULL) {
        size_t j = ((uintptr_t)e >> 4) % cap;
        while (seen[j] != NULL) {
            assert_ptr_not_equal(seen[j], e); /* a duplicate */
            j = (j + 1) % cap;
        }
        seen[j] = e;
        n++;
    }
    assert_int_equal(n, t->count);
    free(seen);
}

/* Session @i and its token are found (@live) or absent (!@live). */
static void assert_present(const cf_index_t *ix, long i, int live)
{
    cf_session_t *s = get(ix, i);
    uint8_t h[32];
    cf_refresh_entry_t *e;

    hash_of(i, h);
    e = cf_index_refresh(ix, h);
    if (!live) {
        assert_null(s);
        assert_null(e);
        return;
    }
    assert_non_null(s);
    assert_non_null(e);
    assert_ptr_equal(cf_index_refresh_owner(ix, e), s);
}

/* Random inserts, deletes and look-ups across several growths of every table,
 * checked against a model after each operation on the keys it touched and
 * in full whenever a table is half drained. */
static void test_random_work_across_growths_loses_and_doubles_nothing(void **state)
{
    const long n = 60000;
    cf_index_t *ix = cf_index_new(5);
    uint8_t *live = calloc((size_t)n, 1);
    long added = 0, nlive = 0, checks = 0, during = 0;
    void **checked = NULL; /* the old array last checked half drained */

    (void)state;
    assert_non_null(live);
    while (added < n) {
        uint64_t r = next_rand();
        if (r % 4 != 0 || nlive == 0) { /* insert */
            add(ix, added, 100);
            live[added++] = 1;
            nlive++;
            assert_present(ix, added - 1, 1);
        } else { /* delete a random live one */
            long i = (long)(next_rand() % (uint64_t)added);
            cf_session_t *s = get(ix, i);
            assert_true((s != NULL) == live[i]);
            if (s != NULL) {
                cf_index_remove(ix, s);
                live[i] = 0;
                nlive--;
                assert_present(ix, i, 0);
            }
        }
        assert_int_equal(cf_index_count(ix), nlive);
        assert_int_equal(cf_index_refresh_count(ix), nlive);
        if (ix->sessions.old != NULL)
            during++;
        if (ix->sessions.old != NULL && ix->sessions.old != checked &&
            ix->sessions.cursor >= ix->sessions.old_cap / 2) {
            checked = ix->sessions.old;
            for (long i = 0; i < added; i++)
                assert_present(ix, i, live[i]);
            assert_entries_unique(&ix->sessions);
            assert_entries_unique(&ix->refresh);
            assert_entries_unique(&ix->strings);
            assert_entries_unique(&ix->subjects);
            checks++;
        }
    }
    assert_true(during > 1000); /* the checks ran while tables were draining */
    assert_true(checks >= 5);
    for (long i = 0; i < n; i++)
        assert_present(ix, i, live[i]);
    assert_entries_unique(&ix->sessions);
    assert_entries_unique(&ix->refresh);
    /* The sweep drains what is left and frees every old array (deletes
     * from an old array are counted, or it would never be empty). */
    for (int k = 0; k < 200; k++)
        cf_index_expire(ix, T0, 100, NULL, NULL);
    assert_null(ix->sessions.old);
    assert_null(ix->refresh.old);
    assert_null(ix->strings.old);
    assert_null(ix->subjects.old);
    cf_index_free(ix);
    free(live);
}

/* Right after a growth starts, every key is found (most still in the old
 * array); deleting keys from either array removes exactly them; they can be
 * indexed again, once. */
static void test_lookup_and_delete_during_resize(void **state)
{
    cf_index_t *ix = cf_index_new(9);
    long i = 0, in_old_deleted = 0, in_new_deleted = 0;
    cf_session_t *s;

    (void)state;
    /* The sessions table starts at 64 slots and grows past 48, 96, 192, ... */
    while (ix->sessions.old == NULL || ix->sessions.old_cap < 4096)
        add(ix, i++, 7);
    assert_true(ix->sessions.old_count > 3000); /* barely started */
    for (long j = 0; j < i; j++)
        assert_present(ix, j, 1);
    /* Delete every third: most from the old array, some already moved. */
    for (long j = 0; j < i; j += 3) {
        s = get(ix, j);
        if (in_old(&ix->sessions, s))
            in_old_deleted++;
        else
            in_new_deleted++;
        cf_index_remove(ix, s);
        assert_present(ix, j, 0);
    }
    assert_true(in_old_deleted > 100);
    assert_true(in_new_deleted > 0);
    for (long j = 0; j < i; j++)
        assert_present(ix, j, j % 3 != 0);
    /* A key still in the old array cannot be indexed twice. */
    for (long j = 1; j < i && ix->sessions.old != NULL; j += 3) {
        char sid[CF_SID_LEN + 1];
        cf_limits_t lim = {CF_SEC, CF_SEC, CF_SEC};
        cf_session_t *dup;
        sid_of(j, sid);
        if (!in_old(&ix->sessions, get(ix, j)))
            continue;
        dup = cf_session_new(sid, "mallory", "", "", "", T0, &lim, T0);
        assert_null(cf_index_add(ix, dup, T0));
        cf_session_free(dup);
        assert_false(in_old(&ix->sessions, get(ix, j))); /* moved when found */
        break;
    }
    /* Deleted ones come back, once. */
    for (long j = 0; j < i; j += 3)
        add(ix, j, 7);
    assert_int_equal(cf_index_count(ix), i);
    assert_entries_unique(&ix->sessions);
    assert_entries_unique(&ix->refresh);
    for (long j = 0; j < i; j++)
        assert_present(ix, j, 1);
    cf_index_free(ix);
}

/* Iterating clients while their table drains returns each client once. */
static void test_client_iteration_during_resize(void **state)
{
    cf_index_t *ix = cf_index_new(3);
    long i = 0;
    size_t pos = 0, n = 0;
    cf_group_t *g;

    (void)state;
    while (ix->clients.old == NULL || ix->clients.old_cap < 256)
        add(ix, i++, 1000000); /* one client per session */
    assert_non_null(ix->clients.old);
    while ((g = cf_index_next_client(ix, &pos)) != NULL) {
        assert_int_equal(g->count, 1);
        n++;
    }
    assert_int_equal(n, (size_t)i);
    assert_non_null(cf_index_client(ix, "client-0"));
    assert_entries_unique(&ix->clients);
    cf_index_free(ix);
}

/* Moves per table per call, over many growths: never more than the budget
 * (one more when the call's own key is found in the old array). With the
 * default budget no growth ever starts before the previous one drained. */
static void run_budget(size_t budget, long n)
{
    cf_index_t *ix = cf_index_new(17);
    ix_tab_t *tabs[] = {&ix->sessions, &ix->refresh, &ix->subjects, &ix->clients, &ix->strings};
    /* cf_index_add calls the strings table 5 times, subjects and clients once. */
    const size_t calls[] = {1, 1, 1, 1, 5};
    size_t before[5], max[5] = {0}, growths = 0, prev_cap = 0;

    ix->rehash_moves = budget;
    for (long i = 0; i < n; i++) {
        for (int t = 0; t < 5; t++)
            before[t] = tabs[t]->moved;
        add(ix, i, 10);
        if (i % 5 == 4)
            cf_index_remove(ix, get(ix, i - 2));
        for (int t = 0; t < 5; t++) {
            size_t d = tabs[t]->moved - before[t];
            if (d > max[t])
                max[t] = d;
            /* add: every call to the table, plus remove's deletes (1 each). */
            assert_true(d <= (calls[t] + 1) * (budget + 1));
        }
        if (ix->sessions.cap != prev_cap) {
            growths++;
            prev_cap = ix->sessions.cap;
        }
    }
    assert_true(growths >= 10);
    assert_true(max[0] > 0); /* it did move */
    for (long i = 0; i < n; i++)
        assert_present(ix, i, !(i % 5 == 2));
    cf_index_free(ix);
}

static void test_no_call_moves_more_than_its_budget(void **state)
{
    (void)state;
    run_budget(CF__IX_REHASH_MOVES, 100000);
    run_budget(1, 30000);
}

/* The default budget drains each old array long before the next growth:
 * every growth starts with no old array left (the all-at-once fallback
 * would show as one call moving thousands). */
static void test_default_budget_drains_before_next_growth(void **state)
{
    cf_index_t *ix = cf_index_new(23);
    size_t prev_cap = 0;

    (void)state;
    for (long i = 0; i < 200000; i++) {
        size_t moved = ix->sessions.moved;
        int draining = ix->sessions.old != NULL;
        add(ix, i, 10);
        if (ix->sessions.cap != prev_cap) {
            assert_false(draining); /* the previous one was done */
            prev_cap = ix->sessions.cap;
        }
        assert_true(ix->sessions.moved - moved <= CF__IX_REHASH_MOVES + 1);
    }
    cf_index_free(ix);
}

/* With no moves per operation, inserts alone never drain a table; the
 * periodic sweep (cf_index_expire) does, and frees the old array. A growth
 * that finds the previous one undrained finishes it first. */
static void test_sweep_drains_idle_table_and_zero_budget_still_correct(void **state)
{
    cf_index_t *ix = cf_index_new(29);
    long i = 0;
    int sweeps = 0;

    (void)state;
    ix->rehash_moves = 0;
    while (ix->sessions.old == NULL || ix->sessions.old_cap < 8192)
        add(ix, i++, 10);
    for (long j = 0; j < i; j++)
        assert_present(ix, j, 1);
    assert_non_null(ix->sessions.old);
    while (ix->sessions.old != NULL || ix->refresh.old != NULL || ix->strings.old != NULL) {
        size_t moved = ix->sessions.moved;
        cf_index_expire(ix, T0, 100, NULL, NULL); /* nothing due: only the sweep's steps */
        assert_true(ix->sessions.moved - moved <= 256);
        assert_true(++sweeps < 1000);
    }
    assert_true(sweeps > 10);
    for (long j = 0; j < i; j++)
        assert_present(ix, j, 1);
    assert_entries_unique(&ix->sessions);
    cf_index_free(ix);
}

/* Sized before a load, the tables never grow during it; sizing a table that
 * holds entries changes nothing; an absurd estimate is capped. */
static void test_reserve_sizes_once_and_is_capped(void **state)
{
    cf_index_t *ix = cf_index_new(31);
    size_t cap;

    (void)state;
    assert_int_equal(cf_index_reserve(ix, 50000), 0);
    cap = ix->sessions.cap;
    assert_true(cap * 3 / 4 > 50000);
    assert_true(cap / 2 * 3 / 4 <= 50000); /* no bigger than needed */
    for (long i = 0; i < 50000; i++) {
        add(ix, i, 10);
        assert_null(ix->sessions.old);
        assert_null(ix->refresh.old);
    }
    assert_int_equal(ix->sessions.cap, cap);
    assert_int_equal(ix->sessions.moved, 0);
    assert_int_equal(cf_index_reserve(ix, 10000000), 0); /* not empty: unchanged */
    assert_int_equal(ix->sessions.cap, cap);
    cf_index_free(ix);
    ix = cf_index_new(37);
    assert_int_equal(cf_index_reserve(ix, SIZE_MAX / 2), 0);
    assert_true(ix->sessions.cap <= CF_INDEX_RESERVE_MAX * 2);
    add(ix, 1, 1);
    assert_present(ix, 1, 1);
    cf_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_work_across_growths_loses_and_doubles_nothing),
        cmocka_unit_test(test_lookup_and_delete_during_resize),
        cmocka_unit_test(test_client_iteration_during_resize),
        cmocka_unit_test(test_no_call_moves_more_than_its_budget),
        cmocka_unit_test(test_default_budget_drains_before_next_growth),
        cmocka_unit_test(test_sweep_drains_idle_table_and_zero_budget_still_correct),
        cmocka_unit_test(test_reserve_sizes_once_and_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
