/* SPDX-License-Identifier: MIT
 *
 * The verifier pool (app.h): DPoP proof signatures checked on worker
 * threads, so the loop keeps serving other requests while one waits for its
 * signature. An ES256 verify costs about 100 µs, a bearer check from the
 * cache a tenth of that: on one loop thread DPoP checks were capped at one
 * core's verify rate, with the other cores idle.
 *
 * What runs where: the loop copies the proof and what it must match into the
 * job (cf_verify_job_t, owned by the caller), a worker runs only the pure
 * cf_dpop_verify() with a proof-key cache of its own (core/dpop.h: the cache
 * is not thread-safe, so each thread has one), and the job comes back to the
 * loop, where its caller spends the jti and decides. Nothing else is shared
 * but the two queues under one mutex.
 *
 * The loop helps: while jobs wait and it has no I/O to serve, it verifies
 * the oldest one itself (an idle handle, one job per turn of the loop, with
 * its own key cache), so a proof verified there needs no thread hand-off
 * either way, and under CPU contention from other processes fewer requests
 * wait for two more wake-ups. A turn of the loop still polls for I/O first,
 * so other requests wait for at most one verification.
 *
 * Bounded: at most verify_threads x CF_VERIFY_QUEUE_PER_THREAD jobs wait. A
 * job past that is refused (cf_app_verify_submit returns CF_ETOOBIG) and its
 * caller verifies inline on the loop, as with verify_threads: 0. That is
 * back-pressure rather than a refusal: the loop stops reading new requests
 * while it verifies, and no valid proof is ever answered 503 because the
 * server is busy. Counted in curfew_dpop_verify_inline_total.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/error.h"
#include "util/log.h"

struct cf_verify_pool {
    cf_app_t *app;
    uv_mutex_t mu;
    uv_cond_t cv;
    cf_verify_job_t *head, *tail; /* waiting, FIFO */
    size_t waiting, cap;
    uint64_t queued, inline_full, on_loop; /* loop thread only */
    cf_verify_job_t *done;        /* verified, newest first */
    uv_async_t async;
    uv_idle_t idle;   /* active while jobs wait: the loop takes one per turn */
    int handles;      /* open handles; freed when the last one closes */
    int stopping;
    size_t nthreads;
    struct worker {
        uv_thread_t thread;
        struct cf_verify_pool *pool;
        cf_dpop_keys_t *keys; /* this thread's own proof-key cache */
    } *w;
};

static cf_verify_job_t *take(struct cf_verify_pool *p)
{
    cf_verify_job_t *j;

    uv_mutex_lock(&p->mu);
    while (p->head == NULL && !p->stopping)
        uv_cond_wait(&p->cv, &p->mu);
    j = p->head; /* stopping: the queue is drained first */
    if (j != NULL) {
        p->head = j->cf__next;
        if (p->head == NULL)
            p->tail = NULL;
        p->waiting--;
    }
    uv_mutex_unlock(&p->mu);
    return j;
}

static void worker_main(void *arg)
{
    struct worker *w = arg;
    struct cf_verify_pool *p = w->pool;
    cf_verify_job_t *j;

    while ((j = take(p)) != NULL) {
        j->in.keys = w->keys;
        j->refused = cf_dpop_verify(&j->in, &j->proof, &j->why);
        uv_mutex_lock(&p->mu);
        j->cf__next = p->done;
        p->done = j;
        uv_mutex_unlock(&p->mu);
        uv_async_send(&p->async);
    }
}

/* Hand the verified jobs back to their callers, in the order they were verified. */
static void run_done(struct cf_verify_pool *p)
{
    cf_verify_job_t *list, *fifo = NULL, *next;

    uv_mutex_lock(&p->mu);
    list = p->done;
    p->done = NULL;
    uv_mutex_unlock(&p->mu);
    for (; list != NULL; list = next) { /* reverse: oldest first */
        next = list->cf__next;
        list->cf__next = fifo;
        fifo = list;
    }
    for (; fifo != NULL; fifo = next) {
        next = fifo->cf__next;
        fifo->done(p->app, fifo); /* may free the job */
    }
}

static void on_async(uv_async_t *a)
{
    run_done(a->data);
}

/* The loop had nothing else to do: verify the oldest waiting job here. */
static void on_idle(uv_idle_t *h)
{
    struct cf_verify_pool *p = h->data;
    cf_verify_job_t *j;

    uv_mutex_lock(&p->mu);
    j = p->head;
    if (j != NULL) {
        p->head = j->cf__next;
        if (p->head == NULL)
            p->tail = NULL;
        p->waiting--;
    }
    uv_mutex_unlock(&p->mu);
    if (j == NULL) {
        uv_idle_stop(h);
        return;
    }
    p->on_loop++;
    j->in.keys = p->app->dpop_keys; /* the loop thread's own cache */
    j->refused = cf_dpop_verify(&j->in, &j->proof, &j->why);
    j->done(p->app, j);
}

static void pool_free(struct cf_verify_pool *p)
{
    for (size_t i = 0; i < p->nthreads; i++)
        cf_dpop_keys_free(p->w[i].keys);
    free(p->w);
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
    free(p);
}

static void on_closed(uv_handle_t *h)
{
    struct cf_verify_pool *p = h->data;

    if (--p->handles == 0)
        pool_free(p);
}

/* Stop and join the first @n workers of @p. */
static void join(struct cf_verify_pool *p, size_t n)
{
    uv_mutex_lock(&p->mu);
    p->stopping = 1;
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++)
        uv_thread_join(&p->w[i].thread);
}

size_t cf_app_verify_threads(const cf_config_t *cfg)
{
    return cfg->verify_threads >= 0 ? (size_t)cfg->verify_threads
                                    : (size_t)uv_available_parallelism();
}

int cf_app_verify_start(cf_app_t *app)
{
    size_t n = cf_app_verify_threads(&app->cfg), started = 0;
    struct cf_verify_pool *p;

    if (n == 0)
        return 0; /* verify inline, on the loop */
    if ((p = calloc(1, sizeof *p)) == NULL || (p->w = calloc(n, sizeof *p->w)) == NULL) {
        free(p);
        return CF_ENOMEM;
    }
    p->app = app;
    p->nthreads = n;
    p->cap = n * CF_VERIFY_QUEUE_PER_THREAD;
    if (uv_mutex_init(&p->mu) != 0) {
        free(p->w);
        free(p);
        return CF_ENOMEM;
    }
    if (uv_cond_init(&p->cv) != 0) {
        uv_mutex_destroy(&p->mu);
        free(p->w);
        free(p);
        return CF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if ((p->w[i].keys = cf_dpop_keys_new(CF_DPOP_KEY_CACHE)) == NULL) {
            pool_free(p);
            return CF_ENOMEM;
        }
    uv_async_init(app->loop, &p->async, on_async);
    p->async.data = p;
    uv_idle_init(app->loop, &p->idle);
    p->idle.data = p;
    p->handles = 2;
    for (; started < n; started++) {
        p->w[started].pool = p;
        if (uv_thread_create(&p->w[started].thread, worker_main, &p->w[started]) != 0)
            break;
    }
    if (started < n) {
        join(p, started);
        uv_close((uv_handle_t *)&p->async, on_closed);
        uv_close((uv_handle_t *)&p->idle, on_closed);
        CF_LOG(CF_LOG_ERROR, "event=verify_threads_failed threads=%zu", n);
        return CF_ENOMEM;
    }
    app->verify = p;
    CF_LOG(CF_LOG_INFO, "event=verify_pool_started threads=%zu queue=%zu", n, p->cap);
    return 0;
}

int cf_app_verify_submit(cf_app_t *app, cf_verify_job_t *job)
{
    struct cf_verify_pool *p = app->verify;
    int rc = 0;

    if (p == NULL)
        return CF_ENOTSUP;
    job->cf__next = NULL;
    uv_mutex_lock(&p->mu);
    if (p->stopping)
        rc = CF_ENOTSUP;
    else if (p->waiting >= p->cap)
        rc = CF_ETOOBIG;
    else {
        if (p->tail != NULL)
            p->tail->cf__next = job;
        else
            p->head = job;
        p->tail = job;
        p->waiting++;
        uv_cond_signal(&p->cv);
    }
    uv_mutex_unlock(&p->mu);
    if (rc == 0)
        uv_idle_start(&p->idle, on_idle); /* no-op when already active */
    if (rc == CF_ETOOBIG)
        p->inline_full++;
    else if (rc == 0)
        p->queued++;
    return rc;
}

void cf_app_verify_stats(const cf_app_t *app, cf_verify_stats_t *out)
{
    const struct cf_verify_pool *p = app->verify;

    memset(out, 0, sizeof *out);
    out->threads = cf_app_verify_threads(&app->cfg);
    if (p == NULL)
        return;
    out->threads = p->nthreads;
    out->queued = p->queued;
    out->inline_full = p->inline_full;
    out->on_loop = p->on_loop;
}

void cf_app_verify_stop(cf_app_t *app)
{
    struct cf_verify_pool *p = app->verify;

    if (p == NULL)
        return;
    app->verify = NULL; /* what the callbacks submit now is verified inline */
    join(p, p->nthreads); /* the workers verify what waits, then exit */
    run_done(p);
    uv_close((uv_handle_t *)&p->async, on_closed);
    uv_close((uv_handle_t *)&p->idle, on_closed);
}
