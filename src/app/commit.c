/* SPDX-License-Identifier: MIT
 *
 * The one commit point: decide -> commit -> apply on acknowledgement -> reply.
 *
 * A handler decides on copies: the events it hands to cf_app_commit() carry
 * snapshots of sessions as the change leaves them, and nothing in the index
 * moves yet. Only when the store has said yes are the events applied to the
 * index (sessions indexed or merged, refresh tokens indexed, not-before
 * epochs raised) and passed to the other sinks (log, metrics, audit, alerts),
 * and only then does the handler's callback reply. A failed commit leaves
 * memory exactly as it was, so the client's retry is decided afresh on the
 * same state: a refresh whose fsync failed is not mistaken for reuse, and a
 * revocation the disk refused is written when it is retried.
 *
 * The price is a window in which the change is decided but not visible.
 * Decisions that must see it (two refreshes of one session: exactly one
 * rotation may win) wait for it: every session named by a commit counts the
 * commits in flight, and cf_app_session_wait() runs its callback once that
 * count is back at zero, on the state the store acknowledged.
 *
 * Activity and purges keep their old path (sinks at once, store behind):
 * activity is persisted lazily by design, and a purge only drops sessions
 * that ended long ago.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/error.h"
#include "util/log.h"

typedef struct waiter waiter_t;
struct waiter {
    waiter_t *next;
    cf_wait_fn fn;
    void *arg;
};

typedef struct {
    cf_app_t *app;
    cf_events_t applied;     /* what to apply once acknowledged */
    char (*busy)[CF_SID_LEN + 1]; /* sessions whose in-flight count this commit raised */
    size_t nbusy;
    cf_store_done_fn done;
    void *arg;
} commit_t;

static void oom(const char *what)
{
    /* A small internal allocation: the style is to abort (systemd restarts us,
     * and nothing unacknowledged was ever applied). */
    CF_LOG(CF_LOG_ERROR, "event=oom what=%s", what);
    abort();
}

/* ------------------------------------------------------------------ */
/* Applying an acknowledged batch                                      */
/* ------------------------------------------------------------------ */

int cf_app_merge_session(cf_app_t *app, cf_session_t *s, const cf_session_t *snap)
{
    /* A binding made by a refresh (the first DPoP proof) reaches the index here. */
    if (cf_index_set_cnf(app->index, s, cf_session_cnf_text(snap)) < 0)
        oom("bind_session"); /* never serve a bound session as unbound */
    return cf_session_merge(s, snap);
}

static void apply_session(cf_app_t *app, const cf_event_t *e)
{
    cf_session_t *s = cf_app_session(app, e->session->id, CF_SID_LEN);

    if (s == NULL) {
        if (e->type != CF_EV_SESSION_CREATED)
            return; /* purged meanwhile: nothing left to change */
        s = cf_session_snapshot(e->session);
        if (s == NULL)
            oom("apply_session");
        cf_app_session_apply_policy(app, s);
        if ((s = cf_app_index_session(app, s)) == NULL)
            oom("index_session");
    } else {
        cf_app_merge_session(app, s, e->session);
        cf_app_session_changed(app, s); /* counters and deadlines follow the merge */
    }
    if (e->has_token && !cf_app_refresh_known(app, e->token_hash) &&
        cf_app_index_refresh(app, s, e->token_hash, e->token_gen) < 0)
        oom("index_refresh");
}

/* Make memory say what the store now says. */
static void apply(cf_app_t *app, const cf_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];

        switch (e->type) {
        case CF_EV_SESSION_CREATED:
        case CF_EV_TOKEN_REFRESHED:
        case CF_EV_SESSION_ENDED:
            apply_session(app, e);
            break;
        case CF_EV_NOT_BEFORE:
            if (cf_app_set_not_before(app, e->sub, e->not_before) < 0)
                oom("not_before");
            break;
        default:
            /* API key changes go to their module (app/apikeys.c), reached through the hook */
            if (e->apikey != NULL && app->apikeys_ext != NULL)
                app->apikeys_ext->apply(app, e);
            break; /* activity and purges were applied when they were decided */
        }
    }
}

/* 1 when @ev changes anything that waits for the acknowledgement. */
static int needs_ack(const cf_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        if ((cf_event_flags(ev->v[i].type) & CF_EVF_DURABLE) &&
            ev->v[i].type != CF_EV_ACTIVITY && ev->v[i].type != CF_EV_SESSION_PURGED &&
            ev->v[i].type != CF_EV_APIKEY_USED)
            return 1;
    return 0;
}

/*
 * Drop what the store has no business with (a REVOCATION's scope rides in
 * the batch for the sinks only), so the store counts and writes exactly the
 * durable events. Non-durable events own nothing.
 */
static void store_only(cf_events_t *ev)
{
    size_t n = 0;

    for (size_t i = 0; i < ev->n; i++)
        if (cf_event_flags(ev->v[i].type) & CF_EVF_DURABLE)
            ev->v[n++] = ev->v[i];
    ev->n = n;
}

static int clone_events(const cf_events_t *in, cf_events_t *out)
{
    for (size_t i = 0; i < in->n; i++) {
        const cf_event_t *src = &in->v[i];
        cf_event_t *e = cf_events_add(out, src->type, src->at, src->session);
        cf_session_t *snap;

        if (e == NULL)
            return CF_ENOMEM;
        snap = e->session;
        *e = *src;
        e->session = snap;
        e->sub = NULL;
        e->apikey = NULL;
        if (src->sub != NULL && (e->sub = strdup(src->sub)) == NULL)
            return CF_ENOMEM;
        if (src->apikey != NULL && (e->apikey = cf_apikey_copy(src->apikey)) == NULL)
            return CF_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sessions with changes in flight                                     */
/* ------------------------------------------------------------------ */

int cf_app_session_busy(const cf_session_t *s)
{
    return s->inflight > 0;
}

int cf_app_session_wait(cf_app_t *app, cf_session_t *s, cf_wait_fn fn, void *arg)
{
    void **head = cf_session_waiters(s); /* the list lives in the session's ext */
    waiter_t *w = head != NULL ? malloc(sizeof *w) : NULL, **tail = (waiter_t **)head;

    (void)app;
    if (w == NULL)
        return CF_ENOMEM;
    w->next = NULL;
    w->fn = fn;
    w->arg = arg;
    while (*tail != NULL) /* first come, first decided */
        tail = &(*tail)->next;
    *tail = w;
    return 0;
}

static void mark_busy(cf_app_t *app, commit_t *c, const cf_events_t *ev)
{
    c->busy = calloc(ev->n, sizeof *c->busy);
    if (c->busy == NULL && ev->n > 0)
        oom("commit_busy");
    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];
        cf_session_t *s;

        if (e->session == NULL || e->type == CF_EV_ACTIVITY)
            continue;
        s = cf_app_session(app, e->session->id, CF_SID_LEN);
        if (s == NULL)
            continue;
        s->inflight++;
        memcpy(c->busy[c->nbusy++], s->id, CF_SID_LEN + 1);
    }
}

/* Lower the counts mark_busy raised and run what waited for them to reach 0. */
static void unmark_busy(cf_app_t *app, commit_t *c)
{
    for (size_t i = 0; i < c->nbusy; i++) {
        cf_session_t *s = cf_app_session(app, c->busy[i], CF_SID_LEN);
        waiter_t *w;

        if (s == NULL || s->inflight == 0)
            continue; /* the index was reloaded meanwhile (cluster) */
        if (--s->inflight > 0)
            continue;
        w = cf_session_waiters_peek(s);
        if (w != NULL)
            s->ext->waiters = NULL;
        /* A waiter may commit again (and so make later ones wait anew), or
         * end the session; it must not free it (nothing on this path does). */
        while (w != NULL) {
            waiter_t *next = w->next;
            w->fn(app, w->arg);
            free(w);
            w = next;
        }
    }
}

/* ------------------------------------------------------------------ */
/* The commit                                                          */
/* ------------------------------------------------------------------ */

/* The commit's answer reaches its caller; then sessions it held are released. */
static void finish(commit_t *c, int status)
{
    if (c->done != NULL)
        c->done(c->arg, status);
    unmark_busy(c->app, c);
    cf_events_fini(&c->applied);
    free(c->busy);
    free(c);
}

static void finish_ok(void *arg)
{
    finish(arg, 0);
}

static void committed(void *arg, int status)
{
    commit_t *c = arg;
    cf_app_t *app = c->app;

    if (status < 0) {
        CF_LOG(CF_LOG_WARN, "event=commit_failed events=%zu error=\"%s\" applied=none",
               c->applied.n, cf_strerror(status));
        finish(c, status);
        return;
    }
    apply(app, &c->applied);
    cf_app_sinks(app, &c->applied);
    /* Automatic actions the sinks queued commit their own events; the caller
     * is answered once they are answered too (alerts.c). */
    if (!app->stopping)
        cf_app_alerts_act_then(app, finish_ok, c);
    else
        finish(c, 0);
}

void cf_app_commit(cf_app_t *app, cf_events_t *ev, cf_store_done_fn done, void *arg)
{
    commit_t *c;

    if (!needs_ack(ev)) {
        cf_app_sinks(app, ev);
        store_only(ev);
        cf_store_submit(app->store, ev, done, arg);
        cf_app_alerts_act(app);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || clone_events(ev, &c->applied) < 0)
        oom("commit");
    c->app = app;
    c->done = done;
    c->arg = arg;
    mark_busy(app, c, ev);
    store_only(ev);
    cf_store_submit(app->store, ev, committed, c); /* may answer before it returns */
}

/* ------------------------------------------------------------------ */
/* Automatic actions of alert rules                                    */
/* ------------------------------------------------------------------ */

/*
 * The actions one batch's alerts queued, committed as a group: @then runs
 * once every one of them has been answered, so the request that tripped a
 * rule is answered only after the rule's action took effect (a client that
 * reads its answer and retries finds the session already revoked).
 * alerts.c decides what each action means; they are committed here.
 */
typedef struct {
    size_t pending; /* commits in flight, plus one while they are being started */
    void (*then)(void *arg);
    void *arg;
} act_group_t;

typedef struct {
    act_group_t *group;
    cf_store_done_fn fn; /* the action's own callback, may be NULL */
    void *arg;
} act_done_t;

static void group_release(act_group_t *g)
{
    if (--g->pending > 0)
        return;
    if (g->then != NULL)
        g->then(g->arg);
    free(g);
}

static void act_committed(void *arg, int status)
{
    act_done_t *d = arg;
    act_group_t *g = d->group;

    if (d->fn != NULL)
        d->fn(d->arg, status);
    free(d);
    group_release(g);
}

/* Commit an action's events as part of @g (unchained when out of memory: it still commits). */
static void act_commit(cf_app_t *app, act_group_t *g, cf_events_t *ev, cf_store_done_fn fn,
                       void *arg)
{
    act_done_t *d = g != NULL ? malloc(sizeof *d) : NULL;

    if (d == NULL) {
        cf_app_commit(app, ev, fn, arg);
        return;
    }
    d->group = g;
    d->fn = fn;
    d->arg = arg;
    g->pending++;
    cf_app_commit(app, ev, act_committed, d);
}

void cf_app_alerts_act(cf_app_t *app)
{
    cf_app_alerts_act_then(app, NULL, NULL);
}

void cf_app_alerts_act_then(cf_app_t *app, void (*then)(void *arg), void *arg)
{
    cf_alert_step_t step;
    act_group_t *g;

    if (app->nactions == 0 || app->alerts_busy) {
        if (then != NULL)
            then(arg);
        return;
    }
    g = malloc(sizeof *g);
    if (g == NULL && then != NULL)
        then(arg); /* out of memory: answer now, the actions still commit */
    if (g != NULL)
        *g = (act_group_t){.pending = 1, .then = then, .arg = arg};
    app->alerts_busy = 1; /* the actions' own commits do not run actions */
    while (cf_app_alerts_next(app, &step)) {
        if (step.ev.n > 0)
            act_commit(app, g, &step.ev, step.done, step.arg);
        else
            cf_events_fini(&step.ev);
    }
    app->alerts_busy = 0;
    if (g != NULL)
        group_release(g);
}

void cf_app_sinks(cf_app_t *app, const cf_events_t *ev)
{
    cf_app_record(app, ev); /* log, metrics, audit (sinks.c) */
    cf_app_alerts_events(app, ev);
    if (app->tap != NULL) /* the enforcing proxy (src/proxy), through a pointer: no call upward */
        app->tap(app->tap_arg, ev);
}

/* ------------------------------------------------------------------ */
/* The guarded commit (cluster refresh)                                */
/* ------------------------------------------------------------------ */

typedef struct {
    cf_app_t *app;
    cf_events_t applied; /* what to apply once claimed */
    char sid[CF_SID_LEN + 1];
    cf_guarded_done_fn done;
    void *arg;
} guarded_t;

/* The guard failed: learn what the store said of the session and its epochs. */
static void learn_guard(cf_app_t *app, cf_session_t *s, const cf_store_guard_t *g)
{
    cf_session_vals_t v = {.t = {[CF_T_ROTATED] = g->rotated_at, [CF_T_ENDED] = g->ended_at}};
    cf_profile_t prof;
    cf_session_ext_t ext;
    cf_session_t said;

    cf_session_init(&said, &prof, &ext, &v);
    said.refresh_gen = g->gen;
    said.end = g->end;

    if (cf_session_merge(s, &said)) /* the one merge rule: newer generation, first end */
        cf_app_session_changed(app, s);
    /* An epoch this node has not heard of yet failed the guard: learn it. */
    if (g->not_before > 0)
        (void)cf_app_set_not_before(app, s->sub, g->not_before);
    if (g->global_not_before > 0)
        (void)cf_app_set_not_before(app, NULL, g->global_not_before);
}

static void guarded_answered(void *arg, int status, const cf_store_guard_t *g)
{
    guarded_t *c = arg;
    cf_app_t *app = c->app;
    cf_session_t *s = cf_app_session(app, c->sid, CF_SID_LEN);
    cf_guarded_t r = {0};

    if (status < 0) {
        c->done(c->arg, status, NULL);
    } else {
        r.claimed = g->claimed;
        r.found = g->found;
        if (g->claimed) {
            /* Applied as a bus message would be: the store has it. */
            apply(app, &c->applied);
            cf_app_sinks(app, &c->applied);
            cf_app_alerts_act(app);
        } else if (g->found && s != NULL) {
            learn_guard(app, s, g);
        }
        c->done(c->arg, 0, &r);
    }
    cf_events_fini(&c->applied);
    free(c);
}

void cf_app_commit_guarded(cf_app_t *app, cf_events_t *ev, const char *sid, uint32_t gen,
                           cf_guarded_done_fn done, void *arg)
{
    guarded_t *c = calloc(1, sizeof *c);

    if (c == NULL || clone_events(ev, &c->applied) < 0)
        oom("commit_guarded");
    c->app = app;
    c->done = done;
    c->arg = arg;
    memcpy(c->sid, sid, CF_SID_LEN);
    store_only(ev);
    cf_store_submit_guarded(app->store, ev, c->sid, gen, guarded_answered, c);
}
