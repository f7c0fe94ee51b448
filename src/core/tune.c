/* SPDX-License-Identifier: MIT
 *
 * The replay (tune.h). Each live session is a thread record holding, per
 * candidate, the start of that candidate's virtual session; a session that
 * timed out waits, keyed by its subject, for the subject's next session
 * until the re-login window has passed (a FIFO in end order finds the ones
 * whose window passed without scanning). So memory follows the sessions
 * alive at one time, and each fact costs O(candidates).
 */
#include "core/tune.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strmap.h"

typedef struct thread {
    cf_strmap_node_t node;          /* by sid while live, by sub while waiting */
    cf_strmap_node_t subnode;       /* live: the subject's latest session (struct tune.bysub) */
    int joinable;                   /* live, not a continuation: a late timeout line may join it */
    struct thread *prev, *next;     /* the waiting FIFO, oldest end first */
    char *sid, *sub;
    int waiting;
    cf_limits_t rec;                /* the current session's recorded limits */
    cf_time_t created, last, gaps;  /* the current session: start, last activity, silences */
    cf_time_t token_at;             /* last access token issued */
    cf_time_t ended_at;             /* waiting: when the session timed out */
    cf_time_t vstart[];             /* per candidate: its virtual session's start */
} thread_t;

struct cf_tune {
    size_t n;
    cf_time_t window, now;
    cf_tune_candidate_t *cand;
    cf_tune_result_t *res;
    cf_tune_totals_t tot;
    cf_strmap_t live, waiting, bysub;
    thread_t *head, *tail; /* waiting FIFO */
};

/* ------------------------------------------------------------------ */

cf_tune_t *cf_tune_new(const cf_tune_candidate_t *c, size_t n, cf_time_t window)
{
    cf_tune_t *t;

    if (n == 0 || n > CF_TUNE_MAX_CANDIDATES || window < 0)
        return NULL;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cand = malloc(n * sizeof *t->cand);
    t->res = calloc(n, sizeof *t->res);
    if (t->cand == NULL || t->res == NULL) {
        free(t->cand);
        free(t->res);
        free(t);
        return NULL;
    }
    memcpy(t->cand, c, n * sizeof *c);
    t->n = n;
    t->window = window;
    t->now = INT64_MIN;
    return t;
}

static void thread_free(thread_t *th)
{
    free(th->sid);
    free(th->sub);
    free(th);
}

static void free_map(cf_strmap_t *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        cf_strmap_node_t *n = m->b[i], *next;
        for (; n != NULL; n = next) {
            next = n->next;
            thread_free((thread_t *)n);
        }
    }
    cf_strmap_fini(m);
}

void cf_tune_free(cf_tune_t *t)
{
    if (t == NULL)
        return;
    free_map(&t->live);
    free_map(&t->waiting);
    cf_strmap_fini(&t->bysub); /* its nodes are live threads, freed above */
    free(t->cand);
    free(t->res);
    free(t);
}

/* ------------------------------------------------------------------ */
/* One candidate's view of a thread                                    */
/* ------------------------------------------------------------------ */

static cf_time_t idle_of(const cf_tune_t *t, size_t i, const thread_t *th)
{
    const cf_tune_candidate_t *c = &t->cand[i];
    return c->idle || c->absolute || c->access_ttl ? c->idle : th->rec.idle_timeout;
}

static cf_time_t abs_of(const cf_tune_t *t, size_t i, const thread_t *th)
{
    const cf_tune_candidate_t *c = &t->cand[i];
    return c->idle || c->absolute || c->access_ttl ? c->absolute : th->rec.absolute_timeout;
}

static cf_time_t ttl_of(const cf_tune_t *t, size_t i, const thread_t *th)
{
    const cf_tune_candidate_t *c = &t->cand[i];
    return c->idle || c->absolute || c->access_ttl ? c->access_ttl : th->rec.access_ttl;
}

/* A lifetime of 0 (or less) never ends anything: "no such limit". */
static int passed(cf_time_t start, cf_time_t life, cf_time_t at)
{
    return life > 0 && at - start >= life;
}

static void relogin(cf_tune_result_t *r, int absolute, uint64_t k)
{
    r->relogins[absolute] += k;
    r->ends[absolute ? CF_TUNE_END_ABSOLUTE : CF_TUNE_END_IDLE] += k;
}

/* Continuous activity up to @x: each absolute deadline it crosses is a re-login there. */
static void advance(cf_tune_t *t, thread_t *th, cf_time_t x)
{
    if (x <= th->last)
        return;
    for (size_t i = 0; i < t->n; i++) {
        cf_time_t a = abs_of(t, i, th);
        if (passed(th->vstart[i], a, x)) {
            uint64_t k = (uint64_t)((x - th->vstart[i]) / a);
            relogin(&t->res[i], 1, k);
            th->vstart[i] += (cf_time_t)k * a;
        }
    }
    th->last = x;
}

/* Activity at @at after silence since th->last: an idle end (first), else an absolute one. */
static void resume(cf_tune_t *t, thread_t *th, cf_time_t at)
{
    for (size_t i = 0; i < t->n; i++) {
        if (passed(th->last, idle_of(t, i, th), at)) {
            relogin(&t->res[i], 0, 1);
            th->vstart[i] = at;
        } else if (passed(th->vstart[i], abs_of(t, i, th), at)) {
            relogin(&t->res[i], 1, 1);
            th->vstart[i] = at;
        }
    }
    th->last = at;
}

static void observe(cf_tune_result_t *r, cf_time_t e)
{
    double s = (double)e / CF_SEC;
    size_t b = s < 1 ? 0 : 1 + (size_t)(log(s) / log(1.01));

    r->exposed++;
    r->exposure_ms += (double)e;
    if (e > r->exposure_max)
        r->exposure_max = e;
    r->hist[b < CF_TUNE_BUCKETS ? b : CF_TUNE_BUCKETS]++;
}

/*
 * The thread ends at its last activity: by timeout (@at 0: whichever of the
 * candidate's idle and absolute ends comes first) or by @why at @at (unless
 * the candidate's session had ended before).
 */
static void close_thread(cf_tune_t *t, thread_t *th, cf_end_t why, cf_time_t at)
{
    for (size_t i = 0; i < t->n; i++) {
        cf_time_t I = idle_of(t, i, th), A = abs_of(t, i, th), T = ttl_of(t, i, th);
        cf_time_t end = INT64_MAX, left;
        cf_tune_end_t kind = why == CF_END_LOGOUT ? CF_TUNE_END_LOGOUT : CF_TUNE_END_OTHER;

        if (at > 0)
            end = at < th->last ? th->last : at;
        if (A > 0 && th->vstart[i] + A <= end) {
            end = th->vstart[i] + A;
            kind = CF_TUNE_END_ABSOLUTE;
        }
        if (I > 0 && th->last + I <= end) {
            end = th->last + I;
            kind = CF_TUNE_END_IDLE;
        }
        t->res[i].ends[kind]++;
        if (end == INT64_MAX)
            continue; /* no limit at all: exposure unbounded, not measured */
        left = th->token_at + T - th->last;
        observe(&t->res[i], end - th->last + (left > 0 ? left : 0));
    }
}

/* Account the current session's active time. */
static void session_done(cf_tune_t *t, const thread_t *th)
{
    cf_time_t a = th->last - th->created - th->gaps;
    if (a > 0)
        t->tot.active_ms += (double)a;
}

/* ------------------------------------------------------------------ */
/* The waiting FIFO                                                    */
/* ------------------------------------------------------------------ */

static void fifo_unlink(cf_tune_t *t, thread_t *th)
{
    if (th->prev)
        th->prev->next = th->next;
    else
        t->head = th->next;
    if (th->next)
        th->next->prev = th->prev;
    else
        t->tail = th->prev;
    th->prev = th->next = NULL;
}

/* Stop waiting for @th's subject: the thread ended without return. */
static void give_up(cf_tune_t *t, thread_t *th)
{
    fifo_unlink(t, th);
    cf_strmap_del(&t->waiting, &th->node);
    close_thread(t, th, CF_END_NONE, 0);
    thread_free(th);
}

/* The input's clock: the latest time seen. Threads whose window passed end. */
static void tick(cf_tune_t *t, cf_time_t now)
{
    if (now > t->now)
        t->now = now;
    while (t->head != NULL && t->now - t->head->ended_at > t->window)
        give_up(t, t->head);
}

#define SUBNODE_THREAD(n) ((thread_t *)((char *)(n) - offsetof(thread_t, subnode)))

/* @th is now its subject's latest live session. */
static int bysub_set(cf_tune_t *t, thread_t *th)
{
    cf_strmap_node_t *n = cf_strmap_get(&t->bysub, th->sub);

    if (n != NULL)
        cf_strmap_del(&t->bysub, n);
    th->subnode.key = th->sub;
    return cf_strmap_put(&t->bysub, &th->subnode);
}

static void bysub_drop(cf_tune_t *t, thread_t *th)
{
    if (cf_strmap_get(&t->bysub, th->sub) == &th->subnode)
        cf_strmap_del(&t->bysub, &th->subnode);
}

static thread_t *live(cf_tune_t *t, const char *sid)
{
    cf_strmap_node_t *n = cf_strmap_get(&t->live, sid);
    if (n == NULL)
        t->tot.orphans++;
    return (thread_t *)n;
}

/* ------------------------------------------------------------------ */
/* The facts                                                           */
/* ------------------------------------------------------------------ */

/* The subject's waiting thread continues as @sid: a re-login if the candidate ended it. */
static int chain(cf_tune_t *t, thread_t *th, const char *sid, cf_time_t created,
                 const cf_limits_t *rec)
{
    char *copy = strdup(sid);

    if (copy == NULL)
        return CF_ENOMEM;
    fifo_unlink(t, th);
    cf_strmap_del(&t->waiting, &th->node);
    th->waiting = 0;
    if (created > th->last)
        resume(t, th, created);
    free(th->sid);
    th->sid = copy;
    th->node.key = th->sid;
    th->rec = *rec;
    th->created = th->last = th->token_at = created;
    th->gaps = 0;
    th->joinable = 0;
    t->tot.chained++;
    if (cf_strmap_put(&t->live, &th->node) < 0) {
        thread_free(th);
        return CF_ENOMEM;
    }
    return bysub_set(t, th);
}

/*
 * The purge sweep writes a timeout's end up to store.purge_interval after the
 * deadline, so the subject's next session may already have started: @old
 * (just timed out) joins @nx, as chain() would have, had the lines come in
 * order. Exact for the re-login at the join; an absolute deadline @nx would
 * have crossed since is counted at its latest activity instead of when.
 */
static void join(cf_tune_t *t, thread_t *old, thread_t *nx)
{
    for (size_t i = 0; i < t->n; i++) {
        cf_time_t a = abs_of(t, i, old);
        if (passed(old->last, idle_of(t, i, old), nx->created)) {
            relogin(&t->res[i], 0, 1);
        } else if (passed(old->vstart[i], a, nx->created)) {
            relogin(&t->res[i], 1, 1);
        } else if (nx->vstart[i] == nx->created) {
            nx->vstart[i] = old->vstart[i];
            a = abs_of(t, i, nx);
            if (passed(nx->vstart[i], a, nx->last)) {
                uint64_t k = (uint64_t)((nx->last - nx->vstart[i]) / a);
                relogin(&t->res[i], 1, k);
                nx->vstart[i] += (cf_time_t)k * a;
            }
        }
    }
    nx->joinable = 0;
    t->tot.chained++;
}

int cf_tune_start(cf_tune_t *t, const char *sid, const char *sub, cf_time_t created,
                  const cf_limits_t *recorded)
{
    cf_strmap_node_t *w;
    thread_t *th;

    tick(t, created);
    if (cf_strmap_get(&t->live, sid) != NULL) {
        t->tot.dropped++;
        return 0;
    }
    t->tot.sessions++;
    w = cf_strmap_get(&t->waiting, sub);
    if (w != NULL && created >= ((thread_t *)w)->ended_at &&
        created - ((thread_t *)w)->ended_at <= t->window)
        return chain(t, (thread_t *)w, sid, created, recorded);
    th = calloc(1, sizeof *th + t->n * sizeof th->vstart[0]);
    if (th == NULL)
        return CF_ENOMEM;
    th->sid = strdup(sid);
    th->sub = strdup(sub);
    if (th->sid == NULL || th->sub == NULL) {
        thread_free(th);
        return CF_ENOMEM;
    }
    th->node.key = th->sid;
    th->rec = *recorded;
    th->created = th->last = th->token_at = created;
    th->joinable = 1;
    for (size_t i = 0; i < t->n; i++)
        th->vstart[i] = created;
    if (cf_strmap_put(&t->live, &th->node) < 0) {
        thread_free(th);
        return CF_ENOMEM;
    }
    return bysub_set(t, th);
}

void cf_tune_token(cf_tune_t *t, const char *sid, cf_time_t at)
{
    thread_t *th;

    tick(t, at);
    th = live(t, sid);
    if (th != NULL && at > th->token_at)
        th->token_at = at;
}

void cf_tune_gap(cf_tune_t *t, const char *sid, cf_time_t from, cf_time_t at)
{
    thread_t *th;

    tick(t, at);
    th = live(t, sid);
    if (th == NULL)
        return;
    if (at < from || at <= th->last) {
        t->tot.dropped++;
        return;
    }
    if (from < th->last)
        from = th->last; /* overlaps what is known: only the unknown part is silence */
    advance(t, th, from);
    th->gaps += at - from;
    resume(t, th, at);
}

int cf_tune_end(cf_tune_t *t, const char *sid, cf_end_t why, cf_time_t at, cf_time_t last)
{
    thread_t *th;

    tick(t, at);
    th = live(t, sid);
    if (th == NULL)
        return 0;
    advance(t, th, last < at ? last : at);
    session_done(t, th);
    cf_strmap_del(&t->live, &th->node);
    bysub_drop(t, th);
    if (why == CF_END_IDLE_TIMEOUT || why == CF_END_ABSOLUTE_TIMEOUT) {
        cf_strmap_node_t *old = cf_strmap_get(&t->waiting, th->sub);
        cf_strmap_node_t *sn = cf_strmap_get(&t->bysub, th->sub);
        thread_t *nx = sn != NULL ? SUBNODE_THREAD(sn) : NULL;

        if (nx != NULL && nx->joinable && nx->created >= at && nx->created - at <= t->window) {
            join(t, th, nx);
            thread_free(th);
            return 0;
        }
        if (old != NULL) /* one waiting thread per subject: the latest */
            give_up(t, (thread_t *)old);
        th->ended_at = at;
        th->waiting = 1;
        th->node.key = th->sub;
        if (cf_strmap_put(&t->waiting, &th->node) < 0) {
            thread_free(th);
            return CF_ENOMEM;
        }
        th->prev = t->tail;
        if (t->tail)
            t->tail->next = th;
        else
            t->head = th;
        t->tail = th;
        return 0;
    }
    close_thread(t, th, why, at);
    thread_free(th);
    return 0;
}

void cf_tune_finish(cf_tune_t *t)
{
    while (t->head != NULL)
        give_up(t, t->head);
    for (size_t i = 0; i < t->live.nb; i++)
        for (cf_strmap_node_t *n = t->live.b[i]; n != NULL; n = n->next) {
            session_done(t, (thread_t *)n);
            t->tot.open++;
        }
}

const cf_tune_result_t *cf_tune_result(const cf_tune_t *t, size_t i)
{
    return i < t->n ? &t->res[i] : NULL;
}

const cf_tune_totals_t *cf_tune_totals(const cf_tune_t *t)
{
    return &t->tot;
}

cf_time_t cf_tune_exposure_quantile(const cf_tune_result_t *r, double q)
{
    uint64_t want, seen = 0;

    if (r->exposed == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)r->exposed);
    if (want < 1)
        want = 1;
    for (size_t b = 0; b <= CF_TUNE_BUCKETS; b++) {
        seen += r->hist[b];
        if (seen >= want) {
            cf_time_t upper = b == 0 ? CF_SEC : (cf_time_t)(pow(1.01, (double)b) * CF_SEC);
            return upper < r->exposure_max ? upper : r->exposure_max;
        }
    }
    return r->exposure_max;
}
