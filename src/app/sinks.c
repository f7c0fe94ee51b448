/* SPDX-License-Identifier: MIT
 *
 * The sinks of the event stream that are not the store: the diagnostic log,
 * the metrics, the audit log and the alert rules. cf_app_commit() hands them
 * every acknowledged batch; cf_app_emit() hands them one non-durable event
 * (a refusal, a check result, a limit hit, a rule firing) built on the
 * emitter's stack, so the hot path allocates nothing to be counted.
 *
 * Events applied from another node's bus message arrive marked remote. They
 * happened there, so that node audits them, counts them as its own and runs
 * its alert rules on them; here they reach the log (debug) and the metrics
 * sink, which counts them apart (curfew_cluster_events_applied_total).
 */
#include <string.h>

#include "app/app.h"
#include "util/log.h"

static void log_event(const cf_event_t *e)
{
    char fp[13] = "-";

    if (e->remote) {
        CF_LOG(CF_LOG_DEBUG, "event=%s origin=bus", cf_event_name(e->type));
        return;
    }
    if (e->session != NULL)
        cf_log_fingerprint(e->session->id, CF_SID_LEN, fp);
    else if (e->sid[0])
        cf_log_fingerprint(e->sid, CF_SID_LEN, fp);
    switch (e->type) {
    case CF_EV_ACTIVITY:
    case CF_EV_CHECK:
    case CF_EV_REFRESH:
    case CF_EV_RATE_LIMITED:
    case CF_EV_REVOCATION:
        break; /* too frequent for the diagnostic log, or said by another line */
    case CF_EV_SESSION_ENDED:
        CF_LOG(CF_LOG_INFO, "event=%s sid=%s sub_len=%zu reason=%s", cf_event_name(e->type), fp,
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
        CF_LOG(CF_LOG_DEBUG, "event=%s sid=%s", cf_event_name(e->type), fp);
        break;
    }
}

void cf_app_sinks(cf_app_t *app, const cf_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        log_event(&ev->v[i]);
    cf_app_metrics_events(app, ev);
    if (app->audit != NULL)
        cf_audit_events(app->audit, ev);
    cf_app_alerts_events(app, ev);
    if (app->tap != NULL)
        app->tap(app->tap_arg, ev);
}

void cf_app_emit(cf_app_t *app, const cf_event_t *e)
{
    /* A one-event batch over the caller's event: nothing to allocate or free. */
    const cf_events_t one = {(cf_event_t *)e, 1, 1};

    log_event(e);
    cf_app_metrics_events(app, &one);
    if (app->audit != NULL && (cf_event_flags(e->type) & CF_EVF_AUDIT))
        cf_audit_events(app->audit, &one);
    cf_app_alerts_events(app, &one);
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

void cf_app_emit_refresh(cf_app_t *app, cf_refresh_result_t result)
{
    cf_event_t e = {.type = CF_EV_REFRESH, .result = (int)result};

    cf_app_emit(app, &e);
}
