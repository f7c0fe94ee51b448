/* SPDX-License-Identifier: MIT
 *
 * The sinks of the event stream that record: the diagnostic log, the metrics
 * and the audit log. cf_app_sinks() (commit.c) hands them every acknowledged
 * batch, then the alert rules; cf_app_emit() hands them one non-durable event
 * (a refusal, a check result, a limit hit, a rule firing, a clock step) built
 * on the emitter's stack, so the hot path allocates nothing to be counted.
 * The alert rules count only acknowledged changes (and refused checks,
 * through their own hook), never a non-durable event, which is why this file
 * calls nothing above it: the clock, the guard, the keys and the alerts all
 * emit through here.
 *
 * Events applied from another node's bus message arrive marked remote. They
 * happened there, so that node audits them, counts them as its own and runs
 * its alert rules on them; here they reach the log (debug) and the metrics
 * sink, which counts them apart (curfew_cluster_events_applied_total).
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "util/log.h"

/* The session's log fingerprint, "-" without one. A SHA-256: computed only for a
 * line that is written (CF_LOG evaluates it after the level test), never per check. */
static const char *fingerprint(const cf_event_t *e, char fp[13])
{
    if (e->session != NULL)
        cf_log_fingerprint(e->session->id, CF_SID_LEN, fp);
    else if (e->sid[0])
        cf_log_fingerprint(e->sid, CF_SID_LEN, fp);
    else
        strcpy(fp, "-");
    return fp;
}

/* ---- refused checks in the log, rate-limited -------------------------- */

static void refusal_dropped_line(cf_app_t *app)
{
    if (app->refusal_log.dropped == 0)
        return;
    CF_LOG(CF_LOG_WARN, "event=log_dropped what=check_refused n=%llu per_second=%d",
           (unsigned long long)app->refusal_log.dropped, CF_REFUSAL_LOG_PER_SEC);
    app->refusal_log.dropped = 0;
}

/* Fixed one-second windows on the monotonic clock: a flood cannot fill a disk. */
static int refusal_budget(cf_app_t *app, int take)
{
    cf_time_t sec = (cf_time_t)(uv_now(app->loop) / CF_SEC); /* loop time: no clock.c cycle */

    if (cf_log_level_get() > CF_LOG_INFO)
        return 0;
    if (sec != app->refusal_log.window) {
        app->refusal_log.window = sec;
        app->refusal_log.lines = 0;
        if (take)
            refusal_dropped_line(app);
    }
    if (app->refusal_log.lines >= CF_REFUSAL_LOG_PER_SEC) {
        if (take) {
            app->refusal_log.dropped++;
            app->refusal_log.dropped_total++;
        }
        return 0;
    }
    if (take)
        app->refusal_log.lines++;
    return 1;
}

int cf_app_refusal_log_wanted(cf_app_t *app)
{
    return refusal_budget(app, 0);
}

void cf_app_refusal_log_flush(cf_app_t *app)
{
    if (app->refusal_log.dropped > 0 &&
        (cf_time_t)(uv_now(app->loop) / CF_SEC) != app->refusal_log.window)
        refusal_dropped_line(app);
}

/*
 * One line per refused check: the reason, the route rule, the client, and
 * fingerprints of the subject and session; never a token, key or full id.
 */
static void log_refusal(cf_app_t *app, const cf_event_t *e)
{
    char sid[13] = "-", sub[13] = "-";
    const cf_session_t *s = e->session;

    if (!refusal_budget(app, 1))
        return;
    if (s != NULL) {
        cf_log_fingerprint(s->id, CF_SID_LEN, sid);
        cf_log_fingerprint(s->sub, strlen(s->sub), sub);
    }
    if (e->count > 0)
        CF_LOG(CF_LOG_INFO,
               "event=check_refused reason=%s route=%llu client=%s sub=%s sid=%s ip=%s",
               e->result == CF_CHECK_ERROR ? "server_error" : cf_reason_name(e->reason),
               (unsigned long long)(e->count - 1),
               s != NULL && cf_session_client_id(s)[0] ? cf_session_client_id(s) : "-", sub, sid,
               e->ip[0] ? e->ip : "-");
    else
        CF_LOG(CF_LOG_INFO, "event=check_refused reason=%s route=- client=%s sub=%s sid=%s ip=%s",
               e->result == CF_CHECK_ERROR ? "server_error" : cf_reason_name(e->reason),
               s != NULL && cf_session_client_id(s)[0] ? cf_session_client_id(s) : "-", sub, sid,
               e->ip[0] ? e->ip : "-");
}

static void log_event(cf_app_t *app, const cf_event_t *e)
{
    char fp[13];

    if (e->remote) {
        CF_LOG(CF_LOG_DEBUG, "event=%s origin=bus", cf_event_name(e->type));
        return;
    }
    switch (e->type) {
    case CF_EV_CHECK:
        if (e->result != CF_CHECK_ALLOW)
            log_refusal(app, e);
        break;
    case CF_EV_ACTIVITY:
    case CF_EV_ACTIVITY_GAP:
    case CF_EV_REFRESH:
    case CF_EV_RATE_LIMITED:
    case CF_EV_REVOCATION:
        break; /* too frequent for the diagnostic log, or said by another line */
    case CF_EV_SESSION_ENDED:
        CF_LOG(CF_LOG_INFO, "event=%s sid=%s sub_len=%zu reason=%s", cf_event_name(e->type),
               fingerprint(e, fp),
               strlen(e->session->sub), cf_end_name(e->session->end));
        break;
    case CF_EV_NOT_BEFORE:
        CF_LOG(CF_LOG_INFO, "event=%s scope=%s at=%lld", cf_event_name(e->type),
               e->sub ? "subject" : "all", (long long)e->not_before);
        break;
    case CF_EV_ALERT_HOLD:
        CF_LOG(CF_LOG_INFO, "event=%s sub_len=%zu until=%lld", cf_event_name(e->type),
               e->sub ? strlen(e->sub) : 0, (long long)e->until);
        break;
    case CF_EV_CLOCK_STEP:
    case CF_EV_LOCKED_OUT:
    case CF_EV_RISK_CHANGED:
    case CF_EV_KEY_ROTATED:
    case CF_EV_ALERT_FIRED:
        break; /* their emitters logged them with what only they know */
    default:
        CF_LOG(CF_LOG_DEBUG, "event=%s sid=%s", cf_event_name(e->type), fingerprint(e, fp));
        break;
    }
}

void cf_app_record(cf_app_t *app, const cf_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        log_event(app, &ev->v[i]);
    cf_app_metrics_events(app, ev);
    if (app->audit != NULL)
        cf_audit_events(app->audit, ev);
}

void cf_app_emit(cf_app_t *app, const cf_event_t *e)
{
    /* A one-event batch over the caller's event: nothing to allocate or free. */
    const cf_events_t one = {(cf_event_t *)e, 1, 1};

    log_event(app, e);
    cf_app_metrics_events(app, &one);
    if (app->audit != NULL && (cf_event_flags(e->type) & CF_EVF_AUDIT))
        cf_audit_events(app->audit, &one);
}

void cf_app_emit_check(cf_app_t *app, int why, uint64_t ns)
{
    cf_event_t e = {.type = CF_EV_CHECK, .ns = ns};

    if (why == CF_REASON_NONE) {
        e.result = CF_CHECK_ALLOW;
    } else if (why > 0 && why < CF_REASON__COUNT) {
        e.result = CF_CHECK_DENY;
        e.reason = (cf_reason_t)why;
    } else {
        e.result = CF_CHECK_ERROR;
    }
    cf_app_emit(app, &e);
}

void cf_app_emit_check_refused(cf_app_t *app, int why, uint64_t ns, const cf_session_t *s,
                               const char *ip, long route)
{
    cf_event_t e = {.type = CF_EV_CHECK, .ns = ns, .result = CF_CHECK_ERROR,
                    .session = (cf_session_t *)s, .count = route >= 0 ? (uint64_t)route + 1 : 0};

    if (why > 0 && why < CF_REASON__COUNT) {
        e.result = CF_CHECK_DENY;
        e.reason = (cf_reason_t)why;
    }
    snprintf(e.ip, sizeof e.ip, "%s", ip != NULL ? ip : "");
    cf_app_emit(app, &e);
}

void cf_app_emit_check_gap(cf_app_t *app, int why, uint64_t ns, const cf_session_t *s, cf_time_t gap)
{
    cf_event_t e = {.type = CF_EV_CHECK, .ns = ns, .result = CF_CHECK_ALLOW,
                    .session = (cf_session_t *)s, .gap = gap > 0 ? gap : 0};

    if (why != CF_REASON_NONE) {
        cf_app_emit_check(app, why, ns);
        return;
    }
    cf_app_emit(app, &e);
}

void cf_app_emit_refresh(cf_app_t *app, cf_refresh_result_t result)
{
    cf_event_t e = {.type = CF_EV_REFRESH, .result = (int)result};

    cf_app_emit(app, &e);
}
