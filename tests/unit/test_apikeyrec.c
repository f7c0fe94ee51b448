/* SPDX-License-Identifier: MIT
 *
 * The packed in-memory API key (core/apikeyrec.c) and the interned strings
 * it names (core/strtab.c): a record reads back as exactly the key it was
 * built from, saves what may change, shares repeated strings, and stays
 * small (issue 12: under 256 bytes a key).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <cmocka.h>

#include "core/apikeyrec.h"
#include "core/strtab.h"

/* Same string, same id, one copy; the last unref frees it and its id is reused. */
static void test_strtab_shares_and_frees(void **state)
{
    cf_strtab_t t = CF_STRTAB_INIT;
    uint32_t a, b, c, e, ids[1000];
    char buf[32];

    (void)state;
    assert_int_equal(cf_strtab_ref(&t, "", &e), 0);
    assert_int_equal(e, CF_STRTAB_EMPTY);
    assert_int_equal(cf_strtab_ref(&t, NULL, &e), 0);
    assert_int_equal(e, CF_STRTAB_EMPTY);
    assert_string_equal(cf_strtab_str(&t, e), "");
    assert_int_equal(cf_strtab_count(&t), 0);
    assert_int_equal(cf_strtab_ref(&t, "svc1", &a), 0);
    assert_int_equal(cf_strtab_ref(&t, "svc1", &b), 0);
    assert_int_equal(cf_strtab_ref(&t, "svc2", &c), 0);
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
    assert_int_equal(cf_strtab_count(&t), 2);
    assert_string_equal(cf_strtab_str(&t, a), "svc1");
    assert_string_equal(cf_strtab_str(&t, c), "svc2");
    cf_strtab_unref(&t, a);
    assert_string_equal(cf_strtab_str(&t, b), "svc1"); /* one reference left */
    cf_strtab_unref(&t, b);
    assert_int_equal(cf_strtab_count(&t), 1);
    assert_int_equal(cf_strtab_ref(&t, "svc3", &b), 0);
    assert_int_equal(b, a); /* the freed id, reused */
    assert_string_equal(cf_strtab_str(&t, b), "svc3");
    cf_strtab_unref(&t, e); /* "" holds nothing: a no-op */
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "owner-%d", i);
        assert_int_equal(cf_strtab_ref(&t, buf, &ids[i]), 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "owner-%d", i);
        assert_string_equal(cf_strtab_str(&t, ids[i]), buf);
        cf_strtab_unref(&t, ids[i]);
    }
    cf_strtab_unref(&t, b);
    cf_strtab_unref(&t, c);
    assert_int_equal(cf_strtab_count(&t), 0);
    cf_strtab_fini(&t);
}

/* A key with every field set. */
static cf_apikey_t *full_key(const char *id, const char *sub)
{
    uint8_t h[32];
    cf_cidr_t nets[2];
    cf_apikey_t *k;

    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(i * 7 + 1);
    k = cf_apikey_new(id, h, sub, "deploy key", "ci", "reader,writer", "read write");
    assert_non_null(k);
    assert_int_equal(cf_cidr_parse("10.0.0.0/8", 10, &nets[0]), 0);
    assert_int_equal(cf_cidr_parse("2001:db8::/32", 13, &nets[1]), 0);
    assert_int_equal(cf_apikey_set_nets(k, nets, 2), 0);
    memcpy(k->successor, "SSSSSSSSSSSS", 13);
    memcpy(k->predecessor, "PPPPPPPPPPPP", 13);
    k->created_at = 1700000000123;
    k->expires_at = 1800000000456;
    k->idle_expiry = 7 * 86400000LL + 1;
    k->last_used = 1700000500789;
    k->overlap_until = 1700086400000;
    k->ended_at = 1700090000000;
    k->end = CF_APIKEY_END_ROTATED;
    k->warned_at = 1700080000000;
    k->quota_day = 1000;
    k->quota_month = INT64_MAX;
    k->usage = (cf_apikey_usage_t){1699920000000, 17, 1698796800000, 420};
    return k;
}

/* Every field of @a equals @b's (delta aside: an event's, not a key's). */
static void assert_same_key(const cf_apikey_t *a, const cf_apikey_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_memory_equal(a->hash, b->hash, 32);
    assert_string_equal(a->successor, b->successor);
    assert_string_equal(a->predecessor, b->predecessor);
    assert_string_equal(a->sub, b->sub);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->client_id, b->client_id);
    assert_string_equal(a->roles, b->roles);
    assert_string_equal(a->scope, b->scope);
    assert_int_equal(a->nnets, b->nnets);
    if (a->nnets > 0)
        assert_memory_equal(a->nets, b->nets, a->nnets * sizeof a->nets[0]);
    assert_true(a->created_at == b->created_at && a->expires_at == b->expires_at);
    assert_true(a->idle_expiry == b->idle_expiry && a->last_used == b->last_used);
    assert_true(a->overlap_until == b->overlap_until && a->ended_at == b->ended_at);
    assert_true(a->end == b->end && a->warned_at == b->warned_at);
    assert_true(a->quota_day == b->quota_day && a->quota_month == b->quota_month);
    assert_memory_equal(&a->usage, &b->usage, sizeof a->usage);
}

static void test_record_reads_back_every_field(void **state)
{
    cf_strtab_t st = CF_STRTAB_INIT;
    cf_apikey_t *k = full_key("AAAAAAAAAAAA", "svc1"), *k2 = full_key("BBBBBBBBBBBB", "svc1");
    cf_apikey_rec_t *r = cf_apikey_rec_new(k, &st), *r2 = cf_apikey_rec_new(k2, &st);
    cf_apikey_t v;

    (void)state;
    assert_non_null(r);
    assert_non_null(r2);
    cf_apikey_rec_view(r, &st, &v);
    assert_same_key(&v, k);
    assert_true(v.nets != k->nets); /* the record's own copy */
    /* two keys of one owner, client, roles and scope: one copy of each */
    assert_int_equal(r->sub, r2->sub);
    assert_int_equal(r->roles, r2->roles);
    assert_int_equal(cf_strtab_count(&st), 4);
    cf_apikey_rec_free(r, &st);
    cf_apikey_rec_free(r2, &st);
    assert_int_equal(cf_strtab_count(&st), 0);
    cf_apikey_free(k);
    cf_apikey_free(k2);
    cf_strtab_fini(&st);
}

/* A plain key: no `more`, no use state, one small chunk (issue 12's budget
 * is 256 bytes a key with the id table's slot and malloc's header). */
static void test_plain_key_is_one_small_chunk(void **state)
{
    cf_strtab_t st = CF_STRTAB_INIT;
    uint8_t h[32] = {1};
    cf_apikey_t *k = cf_apikey_new("CCCCCCCCCCCC", h, "svc42", "key123456", "web",
                                   "reader,writer", "read write");
    cf_apikey_rec_t *r;
    cf_apikey_t v;

    (void)state;
    k->created_at = 1700000000000;
    k->expires_at = k->created_at + 30 * 86400000LL;
    k->idle_expiry = 7 * 86400000LL;
    r = cf_apikey_rec_new(k, &st);
    assert_non_null(r);
    assert_null(r->more);
    assert_null(r->use);
    assert_true(sizeof *r <= 112);
    assert_true(malloc_usable_size(r) <= 136); /* a 144-byte chunk with its header */
    cf_apikey_rec_view(r, &st, &v);
    assert_same_key(&v, k);
    assert_null(v.nets);
    cf_apikey_rec_free(r, &st);
    cf_apikey_free(k);
    cf_strtab_fini(&st);
}

/* What a view changed is saved; `more` and the use state appear when needed. */
static void test_save_stores_what_changes(void **state)
{
    cf_strtab_t st = CF_STRTAB_INIT;
    cf_apikey_t *full = full_key("DDDDDDDDDDDD", "svc9"), *plain;
    cf_apikey_rec_t *r;
    cf_apikey_t v, w;

    (void)state;
    plain = cf_apikey_new("DDDDDDDDDDDD", full->hash, "svc9", "deploy key", "ci", "reader,writer",
                          "read write");
    plain->created_at = full->created_at;
    plain->expires_at = full->expires_at;
    plain->idle_expiry = full->idle_expiry;
    r = cf_apikey_rec_new(plain, &st);
    assert_non_null(r);
    cf_apikey_rec_view(r, &st, &v);
    v.last_used = full->last_used;
    v.usage = full->usage;
    assert_int_equal(cf_apikey_rec_save(r, &v), 0);
    assert_null(r->more); /* use alone needs no `more` */
    assert_non_null(r->use);
    memcpy(v.successor, full->successor, sizeof v.successor);
    v.overlap_until = full->overlap_until;
    v.end = full->end;
    v.ended_at = full->ended_at;
    v.warned_at = full->warned_at;
    assert_int_equal(cf_apikey_rec_save(r, &v), 0);
    assert_non_null(r->more);
    cf_apikey_rec_view(r, &st, &w);
    assert_same_key(&w, &v);
    cf_apikey_rec_free(r, &st);
    cf_apikey_free(plain);
    cf_apikey_free(full);
    cf_strtab_fini(&st);
}

/* The use state is one 48-byte chunk, and holds what the cluster's delta
 * needs: local uses join the unsent counts, a count merged from elsewhere
 * does not, and a window that moves drops the unsent uses of the old one. */
static void test_use_state_counts_unsent_uses(void **state)
{
    cf_strtab_t st = CF_STRTAB_INIT;
    uint8_t h[32] = {2};
    cf_apikey_t *k = cf_apikey_new("EEEEEEEEEEEE", h, "svc1", "k", "", "", "");
    cf_time_t day = 1700006400000LL - 1700006400000LL % 86400000LL; /* a UTC midnight */
    cf_apikey_usage_t before, u, d;
    cf_apikey_quota_t q;
    cf_apikey_rec_t *r;
    cf_apikey_t v;

    (void)state;
    r = cf_apikey_rec_new(k, &st);
    assert_non_null(r);
    assert_null(r->use);
    cf_apikey_rec_take_unsent(r, &d); /* never counted: nothing to send, nothing allocated */
    assert_true(d.day_used == 0 && d.month_used == 0);
    assert_null(r->use);
    for (int i = 0; i < 3; i++) {
        cf_apikey_rec_usage(r, &before);
        u = before;
        assert_int_equal(cf_apikey_quota_take(&u, 10, 100, day + 1000 + i, &q), 1);
        assert_int_equal(cf_apikey_rec_count(r, &before, &u), 0);
    }
    assert_non_null(r->use);
    assert_true(sizeof *r->use <= 40 && malloc_usable_size(r->use) <= 40);
    /* Another node's 5 uses merged in: counted, not ours to send. */
    cf_apikey_rec_view(r, &st, &v);
    assert_true(v.usage.day_start == day && v.usage.day_used == 3);
    v.usage.day_used += 5;
    v.usage.month_used += 5;
    assert_int_equal(cf_apikey_rec_save(r, &v), 0);
    cf_apikey_rec_take_unsent(r, &d);
    assert_true(d.day_start == day && d.day_used == 3 && d.month_used == 3);
    cf_apikey_rec_take_unsent(r, &d); /* sent once, never twice */
    assert_true(d.day_used == 0 && d.month_used == 0);
    /* Two more uses, then the next day: the day's unsent uses go with its window. */
    for (int i = 0; i < 2; i++) {
        cf_apikey_rec_usage(r, &before);
        u = before;
        assert_int_equal(cf_apikey_quota_take(&u, 10, 100, day + 2000, &q), 1);
        assert_int_equal(cf_apikey_rec_count(r, &before, &u), 0);
    }
    cf_apikey_rec_usage(r, &before);
    u = before;
    assert_int_equal(cf_apikey_quota_take(&u, 10, 100, day + 86400000LL + 5, &q), 1);
    assert_int_equal(cf_apikey_rec_count(r, &before, &u), 0);
    cf_apikey_rec_take_unsent(r, &d);
    assert_true(d.day_start == day + 86400000LL && d.day_used == 1);
    assert_int_equal(d.month_used, 3); /* same month: both days' uses */
    cf_apikey_rec_view(r, &st, &v);
    assert_true(v.usage.day_used == 1 && v.usage.month_used == 11);
    cf_apikey_rec_free(r, &st);
    cf_apikey_free(k);
    cf_strtab_fini(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab_shares_and_frees),
        cmocka_unit_test(test_record_reads_back_every_field),
        cmocka_unit_test(test_plain_key_is_one_small_chunk),
        cmocka_unit_test(test_save_stores_what_changes),
        cmocka_unit_test(test_use_state_counts_unsent_uses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
