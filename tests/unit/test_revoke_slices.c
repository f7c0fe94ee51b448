/* SPDX-License-Identifier: MIT
 *
 * A large revocation on one node is a job of slices (src/app/revoke.c): at
 * most 250 sessions ended per commit, and the next slice decided only a
 * turn of the loop after the previous one was acknowledged and applied, so
 * that the loop polls (serves the requests queued) between the apply of one
 * slice and the work of deciding the next. Driven here turn by turn
 * (UV_RUN_ONCE) on a real SQLite store:
 *  - N covered sessions take ceil(N / 250) commits;
 *  - no turn both applies a slice and decides (submits) the next one;
 *  - after every turn, the sessions of the slices applied so far are ended
 *    in memory (a check answered then refuses them), others not yet, and
 *    sessions the revocation does not cover stay live throughout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "util/log.h"

#define SLICE 250

typedef struct {
    int done;
    cf_revoke_result_t r;
} result_t;

static void on_done(cf_app_t *app, void *arg, const cf_revoke_result_t *r)
{
    result_t *res = arg;

    (void)app;
    res->done++;
    res->r = *r;
}

static void sid_of(int i, char out[CF_SID_LEN + 1])
{
    snprintf(out, CF_SID_LEN + 1, "S%023d", i);
}

/* Sessions ended in memory, of client @client; -1 when one ended otherwise than revoked. */
static int ended_of(cf_app_t *app, int n, const char *client)
{
    int k = 0;

    for (int i = 0; i < n; i++) {
        char sid[CF_SID_LEN + 1];
        cf_session_t *s;
        sid_of(i, sid);
        s = cf_app_session(app, sid, CF_SID_LEN);
        if (s == NULL || (s->end != CF_END_NONE && s->end != CF_END_REVOKED))
            return -1;
        if (strcmp(cf_session_client_id(s), client) == 0 && s->end != CF_END_NONE)
            k++;
    }
    return k;
}

/*
 * Sampled right before every poll: between two samples lie one poll and
 * what follows it up to the next poll (checks, timers). A slice applied
 * (sessions ended) and the next one decided (a batch submitted) in the same
 * window would mean the decision ran with no poll after the apply.
 */
typedef struct {
    cf_app_t *app;
    result_t *res;
    int n, covered, applied, windows, both, bad_step, others;
    uint64_t batches;
} watch_t;

static void on_prepare(uv_prepare_t *h)
{
    watch_t *w = h->data;
    int a = ended_of(w->app, w->n, "partner");
    uint64_t b = cf_store_stats(w->app->store).batches;
    int want = w->covered - w->applied < SLICE ? w->covered - w->applied : SLICE;

    w->windows++;
    if (a != w->applied && b != w->batches)
        w->both++;
    if (a != w->applied && a - w->applied != want)
        w->bad_step++; /* a whole slice at a time, or the rest */
    if (ended_of(w->app, w->n, "web") != 0)
        w->others++;
    w->applied = a;
    w->batches = b;
    /* Not when called by hand after the run: a stop left pending would make
     * the teardown's run return before the store's handles have closed. */
    if ((w->res->done || w->windows > 100000) && uv_is_active((uv_handle_t *)h))
        uv_stop(h->loop);
}

static void revoke_in_turns(int covered)
{
    char dir[] = "/tmp/curfew-test-revoke-XXXXXX";
    uv_loop_t loop;
    uv_prepare_t prep;
    cf_config_t cfg;
    cf_app_t *app = calloc(1, sizeof *app);
    cf_limits_t lim = {2 * 3600 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};
    int n = 2 * covered;
    uint64_t batches;
    result_t res = {0};
    watch_t w;
    cf_time_t now;

    assert_non_null(app);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(uv_loop_init(&loop), 0);
    cf_log_level_set(CF_LOG_WARN);
    setenv("CURFEW_ADMIN_KEY", "test-admin-key-test-admin-key-0123456789", 1);
    cf_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    assert_int_equal(cf_app_init(app, &cfg, &loop), 0);
    now = cf_app_now(app);
    for (int i = 0; i < n; i++) { /* every other one is the revoked client's */
        char sid[CF_SID_LEN + 1];
        cf_session_t *s;
        sid_of(i, sid);
        s = cf_session_new(sid, "someone", i % 2 ? "web" : "partner", "", "user", now - n + i,
                           &lim, now - n + i);
        assert_non_null(s);
        assert_non_null(cf_app_index_session(app, s));
    }
    batches = cf_store_stats(app->store).batches;
    cf_app_revoke_local(app, CF_REVOKE_CLIENT, "partner", 0, on_done, &res);
    assert_int_equal(cf_store_stats(app->store).batches, batches + 1); /* the first slice */
    assert_int_equal(ended_of(app, n, "partner"), 0); /* decided, not yet durable */
    w = (watch_t){app, &res, n, covered, 0, 0, 0, 0, 0, batches + 1};
    uv_prepare_init(&loop, &prep);
    prep.data = &w;
    uv_prepare_start(&prep, on_prepare);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_prepare_stop(&prep);
    on_prepare(&prep); /* what the last window did */
    uv_close((uv_handle_t *)&prep, NULL);
    assert_int_equal(res.done, 1);
    assert_int_equal(res.r.status, 0);
    assert_int_equal(res.r.ended, covered);
    assert_int_equal(w.applied, covered);
    assert_int_equal(w.both, 0);
    assert_int_equal(w.bad_step, 0);
    assert_int_equal(w.others, 0);
    assert_int_equal(cf_store_stats(app->store).batches - batches,
                     (uint64_t)((covered + SLICE - 1) / SLICE));
    cf_app_stop(app);
    uv_run(&loop, UV_RUN_DEFAULT);
    cf_app_fini(app);
    cf_config_fini(&cfg);
    free(app);
    (void)uv_loop_close(&loop); /* as main.c: handles the app never started may remain */
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

static void test_one_slice(void **state)
{
    (void)state;
    revoke_in_turns(SLICE); /* the client's list is short: one slice, from the list */
}

static void test_many_slices(void **state)
{
    (void)state;
    revoke_in_turns(4 * SLICE + 17); /* ceil: five commits, the last one short */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_slice),
        cmocka_unit_test(test_many_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
