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
#include "core/relogin.h"

static const double check_bounds[] = {
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001,    0.0025,  0.005,    0.01,    0.025,  0.1,
};

/* Sessions live from seconds (logout right away) to the absolute timeout (hours, days). */
static const double age_bounds[] = {
    1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 604800,
};

/* Idle gaps: seconds to a day; the configured timeouts are added as bounds. */
static const double gap_bounds[] = {
    1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400,
};

/* Time to re-login after a timeout, seconds (within tuning.relogin_window). */
static const double relogin_bounds[] = {1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Insert @v (seconds) into the ascending @b of *@n (cap CF_HISTOGRAM_MAX_BUCKETS) unless present. */
static void add_bound(double *b, size_t *n, double v)
{
    size_t i = 0;

    if (v <= 0 || *n >= CF_HISTOGRAM_MAX_BUCKETS)
        return;
    while (i < *n && b[i] < v)
        i++;
    if (i < *n && b[i] == v)
        return;
    memmove(b + i + 1, b + i, (*n - i) * sizeof *b);
    b[i] = v;
    (*n)++;
}

void cf_app_metrics_init(cf_app_t *app)
{
    cf_app_metrics_t *m = &app->metrics;
    const cf_config_t *c = &app->cfg;
    size_t n = NELEM(gap_bounds);

    memset(m, 0, sizeof *m);
    cf_histogram_init(&m->check_duration, check_bounds, NELEM(check_bounds));
    for (size_t i = 0; i < CF_END__COUNT; i++)
        cf_histogram_init(&m->session_age[i], age_bounds, NELEM(age_bounds));
    /* The configured idle timeouts first (global, clients, roles, routes), so they
     * are bounds: a gap histogram answers "how many gaps would this timeout cut". */
    memcpy(m->idle_gap_bounds, gap_bounds, sizeof gap_bounds);
    add_bound(m->idle_gap_bounds, &n, (double)c->idle_timeout / CF_SEC);
    for (size_t i = 0; i < c->policy.nclients; i++)
        add_bound(m->idle_gap_bounds, &n, (double)c->policy.clients[i].limits.idle_timeout / CF_SEC);
    for (size_t i = 0; i < c->policy.nroles; i++)
        add_bound(m->idle_gap_bounds, &n, (double)c->policy.roles[i].limits.idle_timeout / CF_SEC);
    for (size_t i = 0; i < c->policy.nroutes; i++)
        add_bound(m->idle_gap_bounds, &n, (double)c->policy.routes[i].idle_timeout / CF_SEC);
    /* One slot per configured client and one for every other: labels stay bounded
     * whatever client_id a session names. Without them (out of memory) the timeout
     * measures are simply not kept, as without the tracker. */
    m->clients = &c->policy;
    m->timeouts = calloc(c->policy.nclients + 1, sizeof *m->timeouts);
    for (size_t i = 0; m->timeouts != NULL && i <= c->policy.nclients; i++) {
        cf_histogram_init(&m->timeouts[i].idle_gap, m->idle_gap_bounds, n);
        for (size_t k = 0; k < 2; k++)
            cf_histogram_init(&m->timeouts[i].relogin_gap[k], relogin_bounds, NELEM(relogin_bounds));
    }
    m->relogin = cf_relogin_new_tagged(c->relogin_subjects, c->relogin_window,
                                       c->policy.nclients + 1);
}

void cf_app_metrics_fini(cf_app_t *app)
{
    cf_relogin_free(app->metrics.relogin);
    app->metrics.relogin = NULL;
    free(app->metrics.timeouts);
    app->metrics.timeouts = NULL;
}

size_t cf_app_metrics_slot(const cf_app_metrics_t *m, const char *client_id)
{
    size_t n = m->clients != NULL ? m->clients->nclients : 0;

    for (size_t i = 0; client_id != NULL && i < n; i++)
        if (strcmp(m->clients->clients[i].id, client_id) == 0)
            return i;
    return n;
}

static void add_relogin(cf_app_metrics_t *m, const cf_relogin_out_t *o)
{
    m->relogin_evicted += o->evicted;
    if (o->relogin >= 0 && m->timeouts != NULL) {
        m->timeouts[o->tag].relogins[o->relogin]++;
        cf_histogram_observe(&m->timeouts[o->tag].relogin_gap[o->relogin], (double)o->gap / CF_SEC);
    }
}

/* Timeouts without return are counted when their window has passed: at the next event or scrape. */
void cf_app_metrics_sweep(cf_app_t *app, cf_time_t now)
{
    cf_relogin_out_t o = {.relogin = -1};

    /* Off, the counters stand still; pending timeouts are settled once it is back on. */
    if (app->cfg.measure && app->metrics.relogin != NULL) {
        cf_relogin_expire(app->metrics.relogin, now, &o);
        add_relogin(&app->metrics, &o);
    }
}

/* A person's activity after a silence (gaps under a second are request bursts, not
 * silences): only then is the client's slot looked up, never on a burst. */
static void observe_gap(cf_app_metrics_t *m, const cf_session_t *s, cf_time_t gap)
{
    if (gap >= CF_SEC && s != NULL && m->timeouts != NULL)
        cf_histogram_observe(&m->timeouts[cf_app_metrics_slot(m, cf_session_client_id(s))].idle_gap,
                             (double)gap / CF_SEC);
}

static void track_relogin(cf_app_metrics_t *m, const cf_event_t *e)
{
    const cf_session_t *s = e->session;
    cf_relogin_out_t o;

    if (m->relogin == NULL || s == NULL || s->sub == NULL)
        return;
    if (e->type == CF_EV_SESSION_CREATED) {
        if (cf_relogin_started(m->relogin, s->sub, s->created_at, &o) == 0)
            add_relogin(m, &o);
    } else if (cf_relogin_ended_tagged(m->relogin, s->sub, s->end, cf_session_ended_at(s),
                                       cf_app_metrics_slot(m, cf_session_client_id(s)), &o) == 0) {
        add_relogin(m, &o);
    }
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
    cf_histogram_observe(&m->session_age[s->end],
                         (double)(cf_session_ended_at(s) - s->created_at) / CF_SEC);
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

/* @measure: tuning.measure; off, no idle gap is observed and the re-login tracker is not fed. */
static void count(cf_app_metrics_t *m, const cf_event_t *e, int measure)
{
    switch (e->type) {
    case CF_EV_SESSION_CREATED:
        if (measure)
            track_relogin(m, e);
        m->sessions_created++;
        m->tokens_access++; /* every creation issues an access token */
        m->tokens_refresh += e->has_token != 0;
        break;
    case CF_EV_TOKEN_REFRESHED:
        if (measure)
            observe_gap(m, e->session, e->gap);
        m->tokens_access++;
        m->tokens_refresh += e->has_token != 0;
        break;
    case CF_EV_SESSION_ENDED:
        count_ended(m, e);
        if (measure)
            track_relogin(m, e);
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
        if (measure)
            observe_gap(m, e->session, e->gap);
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
    int measure = app->cfg.measure;

    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];

        if (!e->remote)
            count(m, e, measure);
        else if ((unsigned)e->type < CF_EV__COUNT)
            m->remote[e->type]++;
    }
}
