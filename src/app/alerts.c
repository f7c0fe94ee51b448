/* SPDX-License-Identifier: MIT
 *
 * Alerts: the shell around core/alert.c. The event sink and the refused-check
 * hook turn what happened into (kind, key) occurrences; a rule that fires is
 * written to the diagnostic log, to the audit log as an `alert_fired` line,
 * and queued for the webhook. Its automatic action (revoke_session,
 * revoke_subject, disable_refresh) is queued too. This file only decides
 * what an action means (cf_app_alerts_next: the events to commit); the
 * commit point runs them after the commit that triggered them
 * (cf_app_alerts_act, commit.c), so a sink never re-enters cf_app_commit()
 * halfway through a batch, and nothing here calls the commit.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "core/error.h"
#include "util/log.h"

#define ALERT_KEYS 4096      /* keys remembered per rule */
#define ACTIONS_MAX 1024     /* queued automatic actions; more are logged and skipped */

struct cf_alert_action {
    cf_alert_action_t what;
    cf_time_t duration;
    cf_time_t retry_at; /* monotonic ms: a refused action waits so (0: due now) */
    char sid[CF_SID_LEN + 1];
    char *sub; /* owned */
};

#define ACTION_RETRY_MS 100 /* a store that refused now is not asked again in the same pass */

typedef struct {
    cf_time_t until;
    char sub[]; /* the key, owned with the struct */
} refresh_off_t;

/* What the occurrence being counted knows beyond its key. */
typedef struct {
    cf_app_t *app;
    cf_time_t now;
    const char *sid; /* NULL when unknown */
    const char *sub;
} fire_ctx_t;

int cf_app_alerts_init(cf_app_t *app)
{
    int rc;

    cf_map_init(&app->refresh_off, app->seed ^ 0x61l);
    if (app->cfg.nalert_rules == 0)
        return 0;
    rc = cf_alert_new(app->cfg.alert_rules, app->cfg.nalert_rules, ALERT_KEYS, &app->alerts);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=alerts_init_failed error=%s", cf_strerror(rc));
        return rc;
    }
    if (app->cfg.alert_webhook[0] != '\0') {
        rc = cf_webhook_new(app->cfg.alert_webhook, app->cfg.alert_webhook_ca, app->cfg.alert_queue,
                            &app->webhook);
        if (rc < 0) {
            CF_LOG(CF_LOG_ERROR, "event=alerts_webhook_failed error=%s", cf_strerror(rc));
            return rc;
        }
    }
    CF_LOG(CF_LOG_INFO, "event=alerts_on rules=%zu webhook=%s", app->cfg.nalert_rules,
           app->webhook != NULL ? "on" : "off");
    return 0;
}

void cf_app_alerts_fini(cf_app_t *app)
{
    size_t pos = 0;
    refresh_off_t *r;

    cf_webhook_free(app->webhook);
    app->webhook = NULL;
    cf_alert_free(app->alerts);
    app->alerts = NULL;
    for (size_t i = 0; i < app->nactions; i++)
        free(app->actions[i].sub);
    free(app->actions);
    app->actions = NULL;
    app->nactions = app->actions_cap = 0;
    if (app->refresh_off.slots != NULL) {
        while ((r = cf_map_next(&app->refresh_off, &pos)) != NULL)
            free(r);
        cf_map_fini(&app->refresh_off);
    }
}

static void rfc3339(cf_time_t t, char out[64])
{
    time_t secs = (time_t)(t / CF_SEC);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL) {
        strcpy(out, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % CF_SEC));
}

/* A free slot at the end of the action queue, or NULL (logged) when it is full. */
static struct cf_alert_action *action_slot(cf_app_t *app, cf_alert_action_t what)
{
    if (app->nactions == app->actions_cap) {
        size_t cap = app->actions_cap ? app->actions_cap * 2 : 8;
        void *p;
        if (cap > ACTIONS_MAX ||
            (p = realloc(app->actions, cap * sizeof *app->actions)) == NULL) {
            CF_LOG(CF_LOG_ERROR, "event=alert_action_skipped action=%s why=queue_full",
                   cf_alert_action_name(what));
            return NULL;
        }
        app->actions = p;
        app->actions_cap = cap;
    }
    return &app->actions[app->nactions];
}

static void queue_action(cf_app_t *app, const cf_alert_rule_t *r, const fire_ctx_t *c)
{
    struct cf_alert_action *a = action_slot(app, r->action);

    if (a == NULL)
        return;
    memset(a, 0, sizeof *a);
    a->what = r->action;
    a->duration = r->action_duration;
    if (c->sid != NULL)
        snprintf(a->sid, sizeof a->sid, "%s", c->sid);
    if (c->sub != NULL && (a->sub = strdup(c->sub)) == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=alert_action");
        return;
    }
    app->nactions++;
}

/* A rule fired: log, audit, webhook, and queue its action. */
static void fired(void *arg, const cf_alert_fire_t *f)
{
    fire_ctx_t *c = arg;
    cf_app_t *app = c->app;
    char ts[64], fp[13] = "-";
    json_t *o;
    char *body;

    rfc3339(c->now, ts);
    o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "alert", cf_alert_kind_name(f->r->kind), "key",
                  f->key, "count", (json_int_t)f->count, "window_seconds",
                  (json_int_t)(f->r->window / CF_SEC), "ts", ts, "action",
                  cf_alert_action_name(f->r->action));
    if (o != NULL && c->sid != NULL)
        json_object_set_new(o, "sid", json_string(c->sid));
    if (o != NULL && c->sub != NULL)
        json_object_set_new(o, "sub", json_string(c->sub));
    if (c->sid != NULL)
        cf_log_fingerprint(c->sid, CF_SID_LEN, fp);
    CF_LOG(CF_LOG_WARN, "event=alert_fired rule=%s count=%u window_ms=%lld sid=%s action=%s",
           cf_alert_kind_name(f->r->kind), (unsigned)f->count, (long long)f->r->window, fp,
           cf_alert_action_name(f->r->action));
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (body != NULL && app->webhook != NULL)
        (void)cf_webhook_post(app->webhook, body, strlen(body));
    free(body);
    json_decref(o);
    /* The stream: the audit log writes it, with docs/audit.md's fields. */
    {
        cf_event_t e = {.type = CF_EV_ALERT_FIRED, .at = c->now, .sub = (char *)c->sub,
                        .name = cf_alert_kind_name(f->r->kind), .key = f->key,
                        .detail = cf_alert_action_name(f->r->action), .count = f->count,
                        .span = f->r->window};
        if (c->sid != NULL)
            snprintf(e.sid, sizeof e.sid, "%s", c->sid);
        if (f->r->kind == CF_ALERT_CHECK_FAILURES_PER_IP)
            snprintf(e.ip, sizeof e.ip, "%s", f->key);
        cf_app_emit(app, &e);
    }
    if (f->r->action != CF_ALERT_ACT_NONE)
        queue_action(app, f->r, c);
}

static void hit(cf_app_t *app, cf_alert_kind_t kind, const char *key, const char *sid,
                const char *sub, cf_time_t now)
{
    fire_ctx_t c = {app, now, sid, sub};

    (void)cf_alert_hit(app->alerts, kind, key, now, fired, &c);
}

void cf_app_alerts_events(cf_app_t *app, const cf_events_t *ev)
{
    if (app->alerts == NULL)
        return;
    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];
        const cf_session_t *s = e->session;

        if (s == NULL || e->remote) /* another node's rules count its own events */
            continue;
        switch (e->type) {
        case CF_EV_SESSION_CREATED:
            hit(app, CF_ALERT_CONCURRENT_SESSIONS_PER_SUBJECT, s->sub, s->id, s->sub, e->at);
            break;
        case CF_EV_TOKEN_REFRESHED:
            hit(app, CF_ALERT_REFRESH_RATE_PER_SESSION, s->id, s->id, s->sub, e->at);
            break;
        case CF_EV_SESSION_ENDED:
            if (s->end == CF_END_REFRESH_REUSE)
                hit(app, CF_ALERT_REFRESH_REUSE, s->id, s->id, s->sub, e->at);
            else if (s->end == CF_END_IDLE_TIMEOUT)
                hit(app, CF_ALERT_IDLE_TIMEOUT_SPIKE, "*", NULL, NULL, e->at);
            break;
        default:
            break;
        }
    }
}

void cf_app_alerts_check_failed(cf_app_t *app, const char *ip, const char *sub, cf_time_t now)
{
    if (app->alerts == NULL)
        return;
    if (ip != NULL && ip[0] != '\0')
        hit(app, CF_ALERT_CHECK_FAILURES_PER_IP, ip, NULL, sub, now);
    if (sub != NULL && sub[0] != '\0')
        hit(app, CF_ALERT_CHECK_FAILURES_PER_SUBJECT, sub, NULL, sub, now);
}

int cf_app_refresh_disabled(cf_app_t *app, const char *sub, cf_time_t now)
{
    refresh_off_t *r;

    if (app->refresh_off.slots == NULL || app->refresh_off.count == 0)
        return 0;
    r = cf_map_get(&app->refresh_off, sub, strlen(sub));
    return r != NULL && now < r->until;
}

int cf_app_alert_hold(cf_app_t *app, const char *sub, cf_time_t until)
{
    size_t pos = 0, len = strlen(sub);
    cf_time_t now = cf_app_now(app);
    refresh_off_t *r, *old = NULL;

    if (until <= now)
        return 0; /* already over: e.g. loaded after it lapsed */
    /* Forget the expired ones first: the map holds only live holds. */
    while ((r = cf_map_next(&app->refresh_off, &pos)) != NULL)
        if (r->until <= now) {
            cf_map_del(&app->refresh_off, r->sub, strlen(r->sub));
            free(r);
            pos = 0;
        }
    r = cf_map_get(&app->refresh_off, sub, len);
    if (r != NULL) {
        if (r->until < until)
            r->until = until; /* holds only ever lengthen, as in the store */
        return 0;
    }
    r = malloc(sizeof *r + len + 1);
    if (r == NULL || (r->until = until, memcpy(r->sub, sub, len + 1),
                      cf_map_put(&app->refresh_off, r->sub, len, r, (void **)&old)) < 0) {
        free(r);
        CF_LOG(CF_LOG_ERROR, "event=oom what=alert_hold");
        return CF_ENOMEM;
    }
    free(old);
    return 0;
}

/* Put @act (its sub taken) back on the queue, due in ACTION_RETRY_MS: the store refused it. */
static void requeue(cf_app_t *app, struct cf_alert_action *act, int status)
{
    struct cf_alert_action *a = action_slot(app, act->what);

    CF_LOG(CF_LOG_WARN, "event=alert_action_retry action=%s error=\"%s\"",
           cf_alert_action_name(act->what), cf_strerror(status));
    if (a == NULL) {
        free(act->sub);
    } else {
        *a = *act;
        a->retry_at = cf_app_mono(app) + ACTION_RETRY_MS;
        app->nactions++;
    }
    act->sub = NULL;
}

/* A hold the store has acknowledged (or refused) is applied to this node. */
typedef struct {
    cf_app_t *app;
    cf_time_t until;
    char sub[]; /* owned with the struct */
} hold_commit_t;

static void hold_committed(void *arg, int status)
{
    hold_commit_t *h = arg;

    /* A hold only refuses: if the store failed, hold here anyway (fail
     * towards refusal), say that the other nodes and a restart do not know
     * of it yet, and commit it again until the store has it. */
    if (status < 0) {
        cf_time_t left = h->until - cf_app_now(h->app);
        struct cf_alert_action act = {.what = CF_ALERT_ACT_DISABLE_REFRESH,
                                      .duration = left > 0 ? left : 0, .sub = strdup(h->sub)};
        CF_LOG(CF_LOG_ERROR, "event=alert_hold_not_durable sub_len=%zu error=%s", strlen(h->sub),
               cf_strerror(status));
        if (left > 0 && act.sub != NULL)
            requeue(h->app, &act, status);
        free(act.sub);
    }
    (void)cf_app_alert_hold(h->app, h->sub, h->until);
    free(h);
}

/*
 * disable_refresh: the hold is an event, committed like a revocation, so
 * the store keeps it across restarts and, in a cluster, every node applies
 * it from the bus (or from Redis when it resyncs). Memory changes when the
 * store has answered (hold_committed).
 */
static void disable_refresh(cf_app_t *app, cf_alert_step_t *step, const char *sub,
                            cf_time_t until, cf_time_t now)
{
    size_t len = strlen(sub);
    hold_commit_t *h = malloc(sizeof *h + len + 1);
    cf_event_t *e = h != NULL ? cf_events_add(&step->ev, CF_EV_ALERT_HOLD, now, NULL) : NULL;

    if (h != NULL) {
        h->app = app;
        h->until = until;
        memcpy(h->sub, sub, len + 1);
    }
    if (e == NULL || (e->sub = strdup(sub)) == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=disable_refresh");
        cf_events_fini(&step->ev);
        if (h != NULL)
            hold_committed(h, CF_ENOMEM); /* still hold it here */
        return;
    }
    e->until = until;
    e->reason = CF_REASON_REFRESH_DISABLED;
    step->done = hold_committed;
    step->arg = h;
}

/* A revocation an action decided, kept until the store has it. */
typedef struct {
    cf_app_t *app;
    struct cf_alert_action act;
} action_commit_t;

/*
 * Nobody retries an automatic revocation by hand: one the store refused
 * goes back on the queue, decided again when the queue next runs (after the
 * next commit, or the next activity flush), so it ends what lives then.
 */
static void action_committed(void *arg, int status)
{
    action_commit_t *c = arg;

    if (status < 0)
        requeue(c->app, &c->act, status);
    free(c->act.sub);
    free(c);
}

/* Have @step's commit put @act (whose sub it takes) back on the queue if refused. */
static void retry_if_refused(cf_app_t *app, cf_alert_step_t *step, struct cf_alert_action *act)
{
    action_commit_t *c;

    if (step->ev.n == 0 || (c = malloc(sizeof *c)) == NULL)
        return;
    c->app = app;
    c->act = *act;
    act->sub = NULL;
    step->done = action_committed;
    step->arg = c;
}

/* revoke_subject: raise the subject's epoch and end its live sessions. */
static size_t revoke_subject(cf_app_t *app, cf_events_t *ev, const char *sub, cf_time_t now)
{
    cf_event_t *e = cf_events_add(ev, CF_EV_NOT_BEFORE, now, NULL);
    cf_subject_t *subj;
    size_t ended = 0;

    /* The epoch is raised in memory once durable (commit.c). */
    if (e == NULL || (e->sub = strdup(sub)) == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=alert_revoke_subject");
        return 0;
    }
    e->not_before = now;
    subj = cf_app_subject(app, sub);
    for (cf_session_t *s = subj != NULL ? subj->head : NULL; s != NULL;
         s = cf_index_sub_next(app->index, s))
        ended += cf_app_end_session(app, s, CF_END_REVOKED, now, ev);
    return ended;
}

int cf_app_alerts_next(cf_app_t *app, cf_alert_step_t *step)
{
    struct cf_alert_action act;
    cf_time_t now;
    cf_session_t *s;
    size_t ended = 0, i = 0;

    *step = (cf_alert_step_t){CF_EVENTS_INIT, NULL, NULL};
    /* First queued, first decided (deciding may queue more behind it); an
     * action waiting to be retried is passed over until its time. */
    while (i < app->nactions && app->actions[i].retry_at > cf_app_mono(app))
        i++;
    if (i == app->nactions)
        return 0;
    act = app->actions[i];
    app->nactions--;
    memmove(app->actions + i, app->actions + i + 1, (app->nactions - i) * sizeof *app->actions);
    now = cf_app_now(app);
    switch (act.what) {
    case CF_ALERT_ACT_REVOKE_SESSION:
        s = act.sid[0] ? cf_app_session(app, act.sid, CF_SID_LEN) : NULL;
        if (s != NULL)
            ended += cf_app_end_session(app, s, CF_END_REVOKED, now, &step->ev);
        break;
    case CF_ALERT_ACT_REVOKE_SUBJECT:
        if (act.sub != NULL)
            ended += revoke_subject(app, &step->ev, act.sub, now);
        break;
    case CF_ALERT_ACT_DISABLE_REFRESH:
        if (act.sub != NULL)
            disable_refresh(app, step, act.sub, now + act.duration, now);
        break;
    default:
        break;
    }
    CF_LOG(CF_LOG_INFO, "event=alert_action action=%s sessions_ended=%zu",
           cf_alert_action_name(act.what), ended);
    if (act.what == CF_ALERT_ACT_REVOKE_SESSION || act.what == CF_ALERT_ACT_REVOKE_SUBJECT)
        retry_if_refused(app, step, &act);
    free(act.sub);
    return 1;
}
