/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "store/store.h"

/*
 * The cluster-only operations are optional in the store vtable: a store
 * nodes do not share (the SQLite file) leaves them NULL, and the wrappers
 * answer CF_ENOTSUP at once instead of calling through a NULL pointer.
 */

typedef struct {
    int calls;
    int status;
} heard_t;

static void on_guarded(void *arg, int status, const cf_store_guard_t *g)
{
    heard_t *h = arg;

    assert_non_null(g);
    assert_int_equal(g->claimed, 0);
    h->calls++;
    h->status = status;
}

static void on_fetched(void *arg, int status, cf_store_fetched_t *f)
{
    heard_t *h = arg;

    assert_non_null(f);
    assert_null(f->session);
    h->calls++;
    h->status = status;
}

static void on_revoked(void *arg, int status, size_t found, const char *msg, size_t len)
{
    heard_t *h = arg;

    assert_int_equal(found, 0);
    assert_non_null(msg);
    assert_int_equal(len, 0);
    h->calls++;
    h->status = status;
}

static void on_value(void *arg, int status, const char *val, size_t len)
{
    heard_t *h = arg;

    assert_null(val);
    assert_int_equal(len, 0);
    h->calls++;
    h->status = status;
}

static void on_cas(void *arg, int status, int won)
{
    heard_t *h = arg;

    assert_int_equal(won, 0);
    h->calls++;
    h->status = status;
}

#define HEARD_ENOTSUP(h)                            \
    do {                                            \
        assert_int_equal((h).calls, 1);             \
        assert_int_equal((h).status, CF_ENOTSUP);   \
    } while (0)

static void test_sqlite_has_no_cluster_ops(void **state)
{
    char dir[] = "/tmp/cf_test_store_XXXXXX", path[64];
    uv_loop_t loop;
    cf_store_t *st = NULL;
    cf_events_t ev = CF_EVENTS_INIT;
    cf_store_revoke_t rv = {.scope = CF_STORE_REVOKE_SUBJECT, .target = "alice"};
    uint8_t hash[32] = {0};
    heard_t h[7] = {{0}};
    char *json = (char *)"untouched";

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/curfew.db", dir);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(cf_store_open_sqlite(path, &loop, &st), 0);
    assert_string_equal(cf_store_name(st), "sqlite");

    /* Ownership of the events passes even when the store cannot take them. */
    assert_non_null(cf_events_add(&ev, CF_EV_TOKEN_REFRESHED, 1, NULL));
    cf_store_submit_guarded(st, &ev, "AAAAAAAAAAAAAAAAAAAAAAAA", 1, on_guarded, &h[0]);
    HEARD_ENOTSUP(h[0]);
    assert_int_equal(ev.n, 0);

    cf_store_fetch(st, "AAAAAAAAAAAAAAAAAAAAAAAA", on_fetched, &h[1]);
    HEARD_ENOTSUP(h[1]);
    cf_store_fetch_refresh(st, hash, on_fetched, &h[2]);
    HEARD_ENOTSUP(h[2]);
    cf_store_revoke(st, &rv, on_revoked, &h[3]);
    HEARD_ENOTSUP(h[3]);
    cf_store_keyset_get(st, on_value, &h[4]);
    HEARD_ENOTSUP(h[4]);
    cf_store_keyset_put(st, "{}", 2, on_cas, &h[5]);
    HEARD_ENOTSUP(h[5]);
    assert_int_equal(cf_store_publish(st, "hello"), CF_ENOTSUP);
    assert_int_equal(cf_store_keyset_get_sync(st, &json), CF_ENOTSUP);
    assert_null(json);
    assert_int_equal(cf_store_keyset_offer_sync(st, "{}"), CF_ENOTSUP);
    assert_string_equal(cf_strerror(CF_ENOTSUP), "not supported");

    cf_store_close(st, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    cf_events_fini(&ev);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/curfew.db-wal", dir);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/curfew.db-shm", dir);
    (void)unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

/*
 * /metrics reads the writer's counters from the loop thread while the writer
 * thread commits (a group commit updates commits, events and the histogram).
 * The copy must be taken under the writer's mutex: the counters read here
 * stay consistent with each other and never go backwards, and the TSan lane
 * (make unit-tsan) reports the race if the copy is made without the lock.
 */
#define STATS_BATCHES 300
#define STATS_IN_FLIGHT 4

static int load_session(void *ctx, cf_session_t *s)
{
    (void)ctx;
    cf_session_free(s);
    return 0;
}

static int load_token(void *ctx, const uint8_t hash[32], const char *sid, uint32_t gen)
{
    (void)ctx;
    (void)hash;
    (void)sid;
    (void)gen;
    return 0;
}

static int load_not_before(void *ctx, const char *sub, cf_time_t at)
{
    (void)ctx;
    (void)sub;
    (void)at;
    return 0;
}

static void on_durable(void *arg, int status)
{
    int *acked = arg;

    assert_int_equal(status, 0);
    (*acked)++;
}

static void assert_stats_consistent(const cf_store_stats_t *s, const cf_store_stats_t *prev)
{
    uint64_t sum = 0;

    for (size_t b = 0; b <= CF_STORE_COMMIT_NBOUNDS; b++)
        sum += s->commit_buckets[b];
    assert_int_equal(sum, s->commits);
    assert_true(s->commits <= s->batches);
    assert_true(s->events <= s->batches); /* one event per batch here */
    assert_true(s->commits >= prev->commits);
    assert_true(s->events >= prev->events);
    assert_true(s->commit_seconds >= prev->commit_seconds);
    assert_int_equal(s->failures, 0);
}

static void test_sqlite_stats_read_while_writer_commits(void **state)
{
    char dir[] = "/tmp/cf_test_store_XXXXXX", path[64];
    cf_store_loader_t ld = {.session = load_session, .refresh_token = load_token,
                            .not_before = load_not_before};
    cf_store_stats_t prev = {0}, s;
    uv_loop_t loop;
    cf_store_t *st = NULL;
    int submitted = 0, acked = 0;
    uint64_t reads = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/curfew.db", dir);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(cf_store_open_sqlite(path, &loop, &st), 0);
    assert_int_equal(cf_store_load(st, &ld), 0); /* starts the writer thread */

    /* A few batches in flight at a time, so the writer commits many times
     * while this thread keeps reading its counters. */
    while (acked < STATS_BATCHES) {
        while (submitted < STATS_BATCHES && submitted - acked < STATS_IN_FLIGHT) {
            cf_events_t ev = CF_EVENTS_INIT;
            cf_event_t *e = cf_events_add(&ev, CF_EV_NOT_BEFORE, 1000 + submitted, NULL);

            assert_non_null(e);
            e->not_before = 1000 + submitted; /* sub NULL: the global not-before */
            cf_store_submit(st, &ev, on_durable, &acked);
            submitted++;
        }
        s = cf_store_stats(st);
        assert_stats_consistent(&s, &prev);
        prev = s;
        reads++;
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    }
    s = cf_store_stats(st);
    assert_stats_consistent(&s, &prev);
    assert_int_equal(s.batches, STATS_BATCHES);
    assert_int_equal(s.events, STATS_BATCHES);
    assert_true(s.commits >= STATS_BATCHES / STATS_IN_FLIGHT);
    assert_true(reads >= s.commits);

    cf_store_close(st, &s);
    assert_int_equal(s.events, STATS_BATCHES);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/curfew.db-wal", dir);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/curfew.db-shm", dir);
    (void)unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_has_no_cluster_ops),
        cmocka_unit_test(test_sqlite_stats_read_while_writer_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
