/* SPDX-License-Identifier: MIT
 *
 * Revocation by subject, by client or of everyone, on one node, in slices.
 *
 * Ending a hundred thousand sessions in one turn of the loop stalls every
 * other request for half a second (each end is an event with a snapshot,
 * committed, applied and passed to the sinks). So a large revocation is a
 * job: it ends at most SLICE sessions per commit, and decides the next slice
 * only when the store has acknowledged the previous one. Each acknowledgement
 * arrives on its own turn of the loop, where the slice is applied; the next
 * slice is decided only after the loop has polled once more (an idle handle
 * keeps that poll from blocking, a check handle runs right after it), so the
 * requests queued behind the apply are served before the decision's work:
 * no stretch between two polls does more than half a slice's work (at a
 * million sessions, applying and deciding 250 ends took 3-9 ms together, on
 * a shared machine). A timer would not do: its due time counts from the
 * loop's clock, read before the poll that brought the acknowledgement.
 *
 * The order stays decide -> commit -> apply -> reply: every slice is applied
 * only once durable, and the caller is answered only after the last slice is,
 * so when the 200 leaves every session the revocation covers is ended in
 * memory and on disk, and /v1/check refuses it. By subject and for everyone
 * the not-before epoch travels with the first slice, so from that first
 * acknowledgement on the epoch already refuses every covered token. A crash
 * before the answer leaves a prefix of slices durable and the caller without
 * an answer; its retry ends the rest (ending is idempotent).
 *
 * The job walks the creation order by cursor (core/index.h), which stays
 * valid whatever is added or purged between slices; a small subject or
 * client is ended from its own list in one slice, as before.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/error.h"
#include "util/log.h"

/* Sessions ended per commit, and sessions looked at per turn while looking
 * for them: each bounds one turn of the loop to a few milliseconds at most. */
#define SLICE 250
#define SCAN_BUDGET 16384

struct revoke_job {
    cf_app_t *app;
    cf_revoke_scope_t scope;
    char *name;                /* subject or client; NULL for everyone */
    cf_time_t cutoff;          /* only sessions created before it; 0: every session */
    cf_time_t now;             /* the instant the revocation was decided */
    cf_index_cursor_t cur;     /* where the next slice starts in the creation order */
    int started, in_list;      /* first slice decided; the group's list did it all */
    int64_t ended;
    cf_revoke_done_fn done;
    void *arg;
    uv_idle_t spin;            /* active while waiting: the poll in between does not block */
    uv_check_t next;           /* after a poll: decides the next slice (see on_next) */
    int checks;                /* checks run since the last acknowledgement */
    int closing;               /* handles still to close before the job is freed */
};

typedef struct revoke_job revoke_job_t;

static void job_free(uv_handle_t *h)
{
    revoke_job_t *j = h->data;

    if (--j->closing == 0)
        free(j);
}

static void job_finish(revoke_job_t *j, int status)
{
    cf_revoke_result_t r = {.status = status, .refused = CF_REASON_NONE, .ended = j->ended};

    j->done(j->app, j->arg, &r);
    free(j->name);
    j->name = NULL;
    j->closing = 2;
    uv_close((uv_handle_t *)&j->spin, job_free);
    uv_close((uv_handle_t *)&j->next, job_free);
}

/* 1 when @s is one the revocation covers (still live as far as memory knows). */
static int covered(void *arg, const cf_session_t *s)
{
    const revoke_job_t *j = arg;

    if (s->end != CF_END_NONE || (j->cutoff > 0 && s->created_at >= j->cutoff))
        return 0;
    switch (j->scope) {
    case CF_REVOKE_SUBJECT:
        return strcmp(s->sub, j->name) == 0;
    case CF_REVOKE_CLIENT:
        return strcmp(cf_session_client_id(s), j->name) == 0;
    default:
        return 1;
    }
}

/* The subject's or client's own list, when it is small enough for one slice. */
static cf_session_t *small_group(revoke_job_t *j, int *is_sub)
{
    cf_group_t *g;

    *is_sub = j->scope == CF_REVOKE_SUBJECT;
    if (j->scope == CF_REVOKE_ALL)
        return NULL;
    g = *is_sub ? cf_app_subject(j->app, j->name) : cf_app_client(j->app, j->name);
    if (g == NULL) {
        j->in_list = 1; /* nobody to end */
        return NULL;
    }
    if (g->count > SLICE)
        return NULL;
    j->in_list = 1;
    return g->head;
}

/* Decide the next slice into @ev. Returns 1 when it is the last one. */
static int decide_slice(revoke_job_t *j, cf_events_t *ev)
{
    cf_session_t *page[SLICE], *s;
    cf_index_cursor_t next;
    size_t n;
    int more, is_sub;

    if (!j->started) {
        j->started = 1;
        s = small_group(j, &is_sub);
        for (; s != NULL;
             s = is_sub ? cf_index_sub_next(j->app->index, s) : cf_index_cli_next(j->app->index, s))
            if (covered(j, s))
                j->ended += cf_app_end_session(j->app, s, CF_END_REVOKED, j->now, ev);
        if (j->in_list)
            return 1;
        /* From the newest, or from just below the cutoff: ids are base64url,
         * so (cutoff, "!") sorts before every session created at cutoff. */
        if (j->cutoff > 0) {
            j->cur.created_at = j->cutoff;
            memcpy(j->cur.id, "!", 2);
        }
    } else if (j->in_list) {
        return 1;
    }
    n = cf_index_list(j->app->index, j->cur.id[0] ? &j->cur : NULL, covered, j, page, SLICE,
                      SCAN_BUDGET, &next, &more);
    for (size_t i = 0; i < n; i++)
        j->ended += cf_app_end_session(j->app, page[i], CF_END_REVOKED, j->now, ev);
    if (!more)
        return 1;
    j->cur = next;
    return 0;
}

static void run_slice(revoke_job_t *j);

static void on_spin(uv_idle_t *h)
{
    (void)h; /* its being active is what counts: the poll does not wait */
}

/* Runs after every poll while a slice waits: the first is the poll that
 * brought the acknowledgement (the slice was applied in it), the second
 * one later; so a poll lies between the apply and this decision. */
static void on_next(uv_check_t *h)
{
    revoke_job_t *j = h->data;

    if (++j->checks < 2)
        return;
    uv_check_stop(&j->next);
    uv_idle_stop(&j->spin);
    if (j->app->stopping) {
        job_finish(j, CF_ESTORE);
        return;
    }
    run_slice(j);
}

static void slice_done(void *arg, int status)
{
    revoke_job_t *j = arg;

    if (status < 0) {
        job_finish(j, status);
        return;
    }
    if (j->app->stopping) {
        job_finish(j, CF_ESTORE);
        return;
    }
    /* This turn applied the slice; the next one is decided after the next poll. */
    j->checks = 0;
    uv_idle_start(&j->spin, on_spin);
    uv_check_start(&j->next, on_next);
}

static void last_done(void *arg, int status)
{
    job_finish(arg, status);
}

static void run_slice(revoke_job_t *j)
{
    cf_events_t ev = CF_EVENTS_INIT;
    int first = !j->started, last;

    if (first && j->scope != CF_REVOKE_CLIENT) {
        /* The epoch goes first: once this slice is durable, it alone refuses
         * every token the revocation covers (raised in memory by commit.c). */
        cf_event_t *e = cf_events_add(&ev, CF_EV_NOT_BEFORE, j->now, NULL);
        if (e == NULL || (j->name != NULL && (e->sub = strdup(j->name)) == NULL)) {
            cf_events_fini(&ev);
            job_finish(j, CF_ENOMEM);
            return;
        }
        e->not_before = j->cutoff > 0 ? j->cutoff : j->now;
    }
    last = decide_slice(j, &ev);
    for (size_t i = 0; i < ev.n; i++)
        ev.v[i].scope = j->scope;
    /* The request's own event rides with its last slice: metrics count it once. */
    if (last && cf_app_revocation_scope(&ev, j->scope, j->now) < 0) {
        cf_events_fini(&ev);
        job_finish(j, CF_ENOMEM);
        return;
    }
    cf_app_commit(j->app, &ev, last ? last_done : slice_done, j);
}

void cf_app_revoke_local(cf_app_t *app, cf_revoke_scope_t scope, const char *name, cf_time_t cutoff,
                         cf_revoke_done_fn done, void *arg)
{
    revoke_job_t *j = calloc(1, sizeof *j);

    if (j == NULL || (name != NULL && (j->name = strdup(name)) == NULL)) {
        cf_revoke_result_t r = {.status = CF_ENOMEM};
        free(j);
        done(app, arg, &r);
        return;
    }
    uv_idle_init(app->loop, &j->spin);
    uv_check_init(app->loop, &j->next);
    j->spin.data = j->next.data = j;
    j->app = app;
    j->scope = scope;
    j->cutoff = cutoff;
    j->now = cf_app_now(app);
    j->done = done;
    j->arg = arg;
    run_slice(j);
}
