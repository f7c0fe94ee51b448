/* SPDX-License-Identifier: MIT
 *
 * The purge sweep and the live counts it keeps honest. It sits above the
 * commit point (a sweep commits the ends it finds) and below the views
 * (stats.c asks for counts brought to now, which may hand it a backlog).
 */
#include <string.h>

#include "app/app.h"
#include "core/error.h"
#include "util/log.h"

/*
 * The purge sweep. Sessions whose deadlines passed while nobody asked are
 * marked ended here (so the store and the admin API show why), and sessions
 * that ended more than purge_after ago are dropped with their refresh tokens.
 * We keep ended sessions for a while so that a late request still gets the
 * precise reason (idle_timeout, refresh_reuse...) instead of session_not_found.
 *
 * The index's deadline heaps say which sessions are due, so a sweep costs
 * what expires, not what exists; and it does at most PURGE_SLICE of each
 * kind per turn of the loop, coming back a millisecond later for the rest,
 * so a million sessions expiring at once never stall the loop.
 */
/*
 * Sessions a purge slice may touch in one turn of the loop, and those a
 * count brought to now may re-file: at a million sessions each costs a few
 * cache misses (heap moves touch records), 10-40 us, more when other
 * processes share the caches. So a slice works in steps of PURGE_STEP and
 * stops after PURGE_BUDGET of wall time (the commit of what it found comes
 * on top), or at PURGE_SLICE of each kind, whichever comes first: a count
 * alone let a slice take 10-17 ms of CPU on the shared bench machine. The
 * acknowledgement applies the slice's ends on a later turn, which costs
 * about as much again: 1 ms and 128 keep each of the two turns short.
 */
#define PURGE_SLICE 128
#define PURGE_STEP 16
#define PURGE_BUDGET_NS 1000000ull
#define COUNT_SLICE 64

typedef struct {
    cf_app_t *app;
    cf_events_t *ev;
    cf_time_t now;
} purge_ctx_t;

static cf_time_t purge_one(void *arg, cf_session_t *s)
{
    purge_ctx_t *c = arg;
    cf_event_t *e;

    /* Unflushed activity or a commit in flight: look again next sweep. */
    if (s->dirty || cf_app_session_busy(s) ||
        (e = cf_events_add(c->ev, CF_EV_SESSION_PURGED, c->now, NULL)) == NULL)
        return c->now + (c->app->cfg.purge_interval > 0 ? c->app->cfg.purge_interval : CF_SEC);
    memcpy(e->sid, s->id, sizeof e->sid);
    cf_app_unindex_session(c->app, s);
    return 0;
}

/* One slice of the sweep; returns 1 when more is due right away. */
static int purge(cf_app_t *app)
{
    cf_events_t ev = CF_EVENTS_INIT;
    purge_ctx_t c = {app, &ev, cf_app_now(app)};
    char sid[CF_SID_LEN + 1];
    size_t nended = 0, npurged = 0;
    uint64_t until = uv_hrtime() + PURGE_BUDGET_NS;
    int more;

    /* After a forward clock step, what expired only by the step must not end
     * or vanish for good until the step is confirmed (docs/operations.md). */
    if (cf_app_clock_unconfirmed(app)) {
        CF_LOG(CF_LOG_WARN, "event=purge_deferred why=clock_step_unconfirmed");
        return 0;
    }
    do {
        size_t ended = 0, purged;
        more = cf_index_advance_max(app->index, c.now, PURGE_STEP);
        while (ended < PURGE_STEP && cf_index_next_lapsed(app->index, sid)) {
            cf_session_t *s = cf_app_session(app, sid, CF_SID_LEN);
            ended++;
            cf_app_end_session(app, s, CF_END_NONE, c.now, &ev);
        }
        purged = cf_index_expire(app->index, c.now, PURGE_STEP, purge_one, &c);
        nended += ended;
        npurged += purged;
        more = more || ended == PURGE_STEP || purged == PURGE_STEP;
    } while (more && nended < PURGE_SLICE && npurged < PURGE_SLICE && uv_hrtime() < until);
    if (ev.n > 0)
        cf_app_commit(app, &ev, NULL, NULL); /* the metrics sink counts the purges */
    else
        cf_events_fini(&ev);
    if (npurged > 0) /* the metrics sink has counted them (SESSION_PURGED events) */
        CF_LOG(CF_LOG_INFO, "event=purge sessions_purged=%zu total_purged=%llu", npurged,
               (unsigned long long)app->metrics.purged);
    return more || cf_index_behind(app->index, c.now);
}

static void on_purge_timer(uv_timer_t *t)
{
    cf_app_t *app = t->data;

    if (purge(app) && !app->stopping) /* the rest in a moment, after other work */
        uv_timer_start(&app->purge_timer, on_purge_timer, 1, (uint64_t)app->cfg.purge_interval);
}

void cf_app_purge_start(cf_app_t *app)
{
    uv_timer_init(app->loop, &app->purge_timer);
    app->purge_timer.data = app;
    uv_timer_start(&app->purge_timer, on_purge_timer, (uint64_t)app->cfg.purge_interval,
                   (uint64_t)app->cfg.purge_interval);
}

size_t cf_app_active(cf_app_t *app)
{
    /* A backlog of deadlines (a burst idling out together) is worked off by
     * the purge sweep in slices, starting a millisecond from now. */
    if (cf_index_advance_max(app->index, cf_app_now(app), COUNT_SLICE) && !app->stopping &&
        uv_is_active((uv_handle_t *)&app->purge_timer))
        uv_timer_start(&app->purge_timer, on_purge_timer, 1, (uint64_t)app->cfg.purge_interval);
    return cf_index_active(app->index);
}
