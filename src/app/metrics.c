/* SPDX-License-Identifier: MIT
 *
 * The application's metrics: the metrics sink of the event stream. The two
 * views of every counter, the Prometheus text (GET /metrics) and the JSON
 * the dashboard charts (GET /v1/stats), are in stats.c.
 *
 * Every counter is counted here, in the metrics sink, from the events that
 * pass it (cf_app_sinks for acknowledged batches, cf_app_emit for refusals,
 * check results, limits hit and rotations): no handler increments one.
 * Gauges (active sessions, signing keys) are computed at scrape time.
 *
 * Counters are per node: a node counts what happened through it. Events it
 * applied from another node's bus message are counted only in
 * curfew_cluster_events_applied_total{event}, never as its own creations,
 * ends or revocations, so summing a counter over the nodes counts each
 * change once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/app.h"

static const double check_bounds[] = {
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001,    0.0025,  0.005,    0.01,    0.025,  0.1,
};

/* Sessions live from seconds (logout right away) to the absolute timeout (hours, days). */
static const double age_bounds[] = {
    1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 604800,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void cf_app_metrics_init(cf_app_t *app)
{
    cf_app_metrics_t *m = &app->metrics;

    memset(m, 0, sizeof *m);
    cf_histogram_init(&m->check_duration, check_bounds, NELEM(check_bounds));
    for (size_t i = 0; i < CF_END__COUNT; i++)
        cf_histogram_init(&m->session_age[i], age_bounds, NELEM(age_bounds));
}

/* ------------------------------------------------------------------ */
/* The event sink                                                      */
/* ------------------------------------------------------------------ */

/* Revocations: one session (a DELETE, an alert's action) and logouts count per
 * ended session; a revocation by subject, client or everyone counts once, from
 * its REVOCATION event, whatever number of sessions it ended. */
static void count_ended(cf_app_metrics_t *m, const cf_event_t *e)
{
    const cf_session_t *s = e->session;

    if (s == NULL || s->end >= CF_END__COUNT)
        return;
    m->sessions_ended[s->end]++;
    cf_histogram_observe(&m->session_age[s->end], (double)(s->ended_at - s->created_at) / CF_SEC);
    if (s->end == CF_END_REFRESH_REUSE)
        m->reuse_detected++;
    if (e->scope == CF_REVOKE_SESSION || e->scope == CF_REVOKE_LOGOUT)
        m->revocations[e->scope]++;
}

static void count_check(cf_app_metrics_t *m, const cf_event_t *e)
{
    if (e->result == CF_CHECK_ERROR)
        m->checks_error++;
    else if ((unsigned)e->reason < CF_REASON__COUNT)
        m->checks[e->result == CF_CHECK_ALLOW ? CF_REASON_NONE : e->reason]++;
    if (e->ns > 0) /* 0: answered after a fetch from Redis, not timed */
        cf_histogram_observe(&m->check_duration, (double)e->ns / 1e9);
}

static void count(cf_app_metrics_t *m, const cf_event_t *e)
{
    switch (e->type) {
    case CF_EV_SESSION_CREATED:
        m->sessions_created++;
        m->tokens_access++; /* every creation issues an access token */
        m->tokens_refresh += e->has_token != 0;
        break;
    case CF_EV_TOKEN_REFRESHED:
        m->tokens_access++;
        m->tokens_refresh += e->has_token != 0;
        break;
    case CF_EV_SESSION_ENDED:
        count_ended(m, e);
        break;
    case CF_EV_REVOCATION:
        if ((unsigned)e->scope < CF_REVOKE__COUNT)
            m->revocations[e->scope]++;
        break;
    case CF_EV_CLOCK_STEP:
        m->clock_steps[e->step > 0 ? 0 : 1]++;
        break;
    case CF_EV_CHECK:
        count_check(m, e);
        break;
    case CF_EV_REFRESH:
        if ((unsigned)e->result < CF_REFRESH_RESULT__COUNT)
            m->refresh[e->result]++;
        break;
    case CF_EV_RATE_LIMITED:
        if ((unsigned)e->result < CF_RATE__COUNT)
            m->rate_limited[e->result]++;
        break;
    case CF_EV_SESSION_PURGED:
        m->purged++;
        break;
    case CF_EV_KEY_ROTATED:
        m->key_rotations++;
        break;
    case CF_EV_CONNECTION_CUT:
        if ((unsigned)e->reason < CF_REASON__COUNT)
            m->proxy_cuts[e->reason]++;
        break;
    default:
        break; /* activity, not-before, holds, lockouts, risk, alerts: audited, not counted */
    }
}

void cf_app_metrics_events(cf_app_t *app, const cf_events_t *ev)
{
    cf_app_metrics_t *m = &app->metrics;

    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];

        if (!e->remote)
            count(m, e);
        else if ((unsigned)e->type < CF_EV__COUNT)
            m->remote[e->type]++;
    }
}
