/* SPDX-License-Identifier: MIT
 *
 * API keys in the shell: the in-memory table (id -> key, packed records with
 * interned strings: core/apikeyrec.h), loading it from the store, applying
 * acknowledged key events, and the one timer that writes lazy usage and ends
 * keys whose deadlines passed while nobody asked. Their JSON view and gauges
 * are app/apikeys_view.c's.
 *
 * The rules are core/apikey.c's. Creations, rotations and revocations follow
 * decide -> commit -> apply on acknowledgement -> reply: the handlers build
 * APIKEY_* events on copies, cf_app_commit() makes them durable, and only
 * then does apply() below change the table. Use (last_used and the quota
 * counts) is the one exception, as activity is for sessions: every check
 * would otherwise cost an fsync. It is kept in memory and written by the
 * timer every store.activity_flush, so a crash (kill -9) forgets at most
 * that interval's uses: a quota may then allow up to that many more
 * requests, and an idle key can only expire earlier, never later. A clean
 * stop writes everything.
 *
 * The commit point and the lifecycle reach this module through the hooks in
 * app->apikeys_ext, set here, so app.c and commit.c do not depend on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <openssl/crypto.h>

#include "app/apikeys_busy.h"
#include "app/app.h"
#include "core/apikeytab.h"
#include "core/digest.h"
#include "core/error.h"
#include "store/wire.h"
#include "util/log.h"
#include "util/random.h"

/* Keys used since the last flush (their `dirty` byte set): 8 bytes a key
 * while listed, nothing per key after. Emptied by each flush; its capacity
 * is kept for the next interval unless it is far more than that needed. */
typedef struct {
    cf_apikey_rec_t **v;
    size_t n, cap;
} dirty_t;

/* Capacity a flush keeps whatever it flushed (8 KiB). */
#define DIRTY_KEEP 1024

/*
 * Flushes allocate a snapshot per used key (an event, its copy of the
 * strings; about 5,000 a second under load) and free them once written,
 * interleaved with the use blocks keys get on first use: glibc keeps the
 * freed pages (they are not at the top of the heap), measured as ~100-250
 * bytes a key of RSS after each of 100,000-200,000 keys was used once. So
 * once this many keys were written since, the first quiet tick (nothing to
 * flush, every flush answered and freed) or TRIM_FORCE keys give the free
 * pages back (malloc_trim: cost in the free chunks, not in the heap's size).
 */
#define TRIM_AFTER 1024
#define TRIM_FORCE (256 * 1024)

struct cf_apikeys {
    cf_apikey_tab_t by_id;    /* owns the keys (packed records) */
    cf_strtab_t strs;         /* their owners, clients, roles and scopes, shared */
    dirty_t dirty;            /* keys with unwritten use */
    uv_timer_t timer;
    int timer_on;
    cf_time_t next_sweep;     /* wall ms */
    cf_gcra_t gcra;           /* api_keys.rate, when enabled */
    int rate_on;
    cf_webhook_t *webhook;    /* our own when alerts has none */
    int unsupported;          /* the store keeps no keys */
    cf_apikey_cache_t cache;  /* presented string -> its SHA-256 (allocated on first use) */
    size_t since_trim;        /* keys flushed since the last malloc_trim */
    unsigned flushing;        /* flush batches not yet answered by the store */
    cf_apikeys_busy_t busy;   /* keys with an admin change in flight */
};

static void oom(const char *what)
{
    CF_LOG(CF_LOG_ERROR, "event=oom what=%s", what);
    abort();
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

cf_apikey_rec_t *cf_app_apikey(cf_app_t *app, const char *id)
{
    if (app->apikeys == NULL || strlen(id) != CF_APIKEY_ID_LEN)
        return NULL;
    return cf_apikey_tab_get(&app->apikeys->by_id, id);
}

cf_apikey_rec_t *cf_app_apikey_find(cf_app_t *app, const char *s, size_t n, int *malformed,
                                    int *secret_ok)
{
    struct cf_apikeys *ks = app->apikeys;
    char id[CF_APIKEY_ID_LEN + 1];
    uint8_t hash[32];
    cf_apikey_rec_t *k;

    *malformed = 0;
    *secret_ok = 0;
    if (ks == NULL)
        return NULL;
    /* Out of memory for the cache only costs every request its hashing. */
    if (ks->cache.v == NULL)
        (void)cf_apikey_cache_init(&ks->cache, 0, app->seed ^ 0x6b63616368650000u);
    if (cf_apikey_cache_lookup(&ks->cache, s, n, id, hash, NULL) < 0) {
        *malformed = 1;
        return NULL;
    }
    /* The decision is the live record's: looked up and compared every time. */
    k = cf_apikey_tab_get(&ks->by_id, id);
    if (k != NULL)
        *secret_ok = cf_ct_equal(hash, k->hash, sizeof hash);
    return k;
}

int cf_app_apikeys_stored(const cf_app_t *app)
{
    return app->apikeys != NULL && !app->apikeys->unsupported;
}

cf_apikey_rec_t *cf_app_apikey_next(cf_app_t *app, size_t *pos)
{
    return app->apikeys != NULL ? cf_apikey_tab_next(&app->apikeys->by_id, pos) : NULL;
}

void cf_app_apikey_view(const cf_app_t *app, const cf_apikey_rec_t *r, cf_apikey_t *out)
{
    cf_apikey_rec_view(r, &app->apikeys->strs, out);
}

/* Free @k; if it is on the dirty list, its entry is cleared (its unwritten
 * use goes with it, as the key does). Rare: a purge skips dirty keys. */
static void drop(cf_app_t *app, cf_apikey_rec_t *k)
{
    dirty_t *d = &app->apikeys->dirty;

    for (size_t i = 0; k != NULL && k->dirty && i < d->n; i++)
        if (d->v[i] == k)
            d->v[i] = NULL;
    cf_apikey_rec_free(k, &app->apikeys->strs);
}

/* A packed copy of @k into the table. A new record is not dirty and has no
 * unsent uses: it has sent (or was told) all its use. */
static int put(cf_app_t *app, const cf_apikey_t *k)
{
    cf_apikey_rec_t *r = cf_apikey_rec_new(k, &app->apikeys->strs), *old = NULL;
    int rc;

    if (r == NULL)
        return CF_ENOMEM;
    rc = cf_apikey_tab_put(&app->apikeys->by_id, r, &old);
    if (rc < 0) {
        cf_apikey_rec_free(r, &app->apikeys->strs);
        return rc;
    }
    drop(app, old);
    return 0;
}

/* Merge @snap into the live @r as every write merges (cf_apikey_merge). */
static void merge(cf_app_t *app, cf_apikey_rec_t *r, const cf_apikey_t *snap)
{
    cf_apikey_t v;

    cf_app_apikey_view(app, r, &v);
    if (cf_apikey_merge(&v, snap) && cf_apikey_rec_save(r, &v) < 0)
        oom("apikey_merge");
}

static int load_one(void *ctx, cf_apikey_t *k)
{
    cf_app_t *app = ctx;
    cf_apikey_rec_t *have = cf_app_apikey(app, k->id);
    int rc = 0;

    if (have == NULL)
        rc = put(app, k);
    else /* a resync: merge, so the entry (and its place on the dirty list) stays */
        merge(app, have, k);
    cf_apikey_free(k);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Applying acknowledged events                                        */
/* ------------------------------------------------------------------ */

/* Another node's use, merged into @r: its uses since its previous event add
 * up (a cluster-wide quota); its view of the totals would count this node's
 * own uses twice, so that is not merged. */
static void apply_remote(cf_app_t *app, cf_apikey_rec_t *r, const cf_event_t *e)
{
    cf_apikey_t v;
    cf_apikey_usage_t mine;

    cf_app_apikey_view(app, r, &v);
    mine = v.usage;
    cf_apikey_merge(&v, e->apikey);
    v.usage = mine;
    /* Added to the count, not to this node's unsent uses: not ours to send. */
    if (e->type == CF_EV_APIKEY_USED)
        cf_apikey_usage_add(&v.usage, &e->apikey->delta);
    if (cf_apikey_rec_save(r, &v) < 0)
        oom("apikey_apply");
}

static void apply(cf_app_t *app, const cf_event_t *e)
{
    cf_apikey_rec_t *r = cf_app_apikey(app, e->apikey->id);
    cf_apikey_t view, *k = &view;

    /* Another node's change to a key this node does not hold (purged, or
     * missed while cut off: the resync brings it) has nothing to change. */
    if (r == NULL && e->remote && e->type != CF_EV_APIKEY_CREATED)
        return;
    /* A creation heard long after it happened is a replay of a key this node
     * already purged (ended past store.purge_after): not brought back. */
    if (r == NULL && e->remote && e->at + app->cfg.purge_after < cf_app_now(app))
        return;
    if (r == NULL) {
        if (put(app, e->apikey) < 0 || (r = cf_app_apikey(app, e->apikey->id)) == NULL)
            oom("apikey_apply");
    } else if (e->remote) {
        apply_remote(app, r, e);
    } else {
        merge(app, r, e->apikey);
    }
    cf_app_apikey_view(app, r, k);
    switch (e->type) {
    case CF_EV_APIKEY_CREATED:
        CF_LOG(CF_LOG_INFO, "event=apikey_created key_id=%s sub_len=%zu expires_at=%lld",
               k->id, strlen(k->sub), (long long)k->expires_at);
        break;
    case CF_EV_APIKEY_ROTATED:
        CF_LOG(CF_LOG_INFO, "event=apikey_rotated key_id=%s successor=%s overlap_until=%lld",
               k->id, k->successor, (long long)k->overlap_until);
        break;
    case CF_EV_APIKEY_ENDED:
        CF_LOG(CF_LOG_INFO, "event=apikey_ended key_id=%s reason=%s", k->id,
               cf_apikey_end_name(k->end));
        break;
    case CF_EV_APIKEY_EXPIRING:
        CF_LOG(CF_LOG_WARN, "event=apikey_expiring key_id=%s expires_at=%lld", k->id,
               (long long)k->expires_at);
        if (!e->remote)
            cf_app_apikey_warn(app->webhook != NULL ? app->webhook : app->apikeys->webhook, k, e->at);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Decisions the handlers commit                                       */
/* ------------------------------------------------------------------ */

static cf_time_t strictest(cf_time_t a, cf_time_t b)
{
    if (a <= 0)
        return b > 0 ? b : 0;
    return b > 0 && b < a ? b : a;
}

void cf_app_apikey_policy(cf_app_t *app, const char *client_id, const char *roles,
                          cf_apikey_policy_t *pol)
{
    const cf_client_t *c = client_id[0] ? cf_policy_client(&app->cfg.policy, client_id) : NULL;
    const char *r = roles;

    memset(pol, 0, sizeof *pol);
    pol->require_expiry = app->cfg.apikey_require_expiry;
    pol->max_lifetime = app->cfg.apikey_max_lifetime;
    pol->default_lifetime = app->cfg.apikey_default_lifetime;
    pol->client_max = c != NULL ? c->apikey_max_lifetime : 0;
    while (*r != '\0') {
        size_t n = strcspn(r, ",");
        const cf_role_t *role = cf_policy_role(&app->cfg.policy, r, n);
        if (role != NULL)
            pol->role_max = strictest(pol->role_max, role->apikey_max_lifetime);
        r += n + (r[n] == ',');
    }
}

cf_apikey_t *cf_app_apikey_mint(cf_app_t *app, const char *sub, const char *name,
                                const char *client_id, const char *roles, const char *scope,
                                char out[CF_APIKEY_LEN + 1])
{
    uint8_t rnd[CF_APIKEY_ID_LEN + CF_APIKEY_SECRET_LEN], hash[32];
    char id[CF_APIKEY_ID_LEN + 1], secret[CF_APIKEY_SECRET_LEN];
    cf_apikey_t *k;

    do {
        cf_random_bytes(rnd, sizeof rnd);
        cf_apikey_base62(rnd, CF_APIKEY_ID_LEN, id);
        id[CF_APIKEY_ID_LEN] = '\0';
    } while (cf_app_apikey(app, id) != NULL);
    cf_apikey_base62(rnd + CF_APIKEY_ID_LEN, CF_APIKEY_SECRET_LEN, secret);
    cf_apikey_format(id, secret, out);
    cf_apikey_hash(out, CF_APIKEY_LEN, hash);
    OPENSSL_cleanse(rnd, sizeof rnd);
    OPENSSL_cleanse(secret, sizeof secret);
    k = cf_apikey_new(id, hash, sub, name, client_id, roles, scope);
    if (k == NULL)
        OPENSSL_cleanse(out, CF_APIKEY_LEN + 1);
    return k;
}

int cf_app_apikey_end(cf_app_t *app, const cf_apikey_t *k, cf_apikey_end_t why, cf_time_t now,
                      cf_events_t *ev)
{
    cf_apikey_end_t passed = cf_apikey_end_at(k, now, NULL);
    cf_event_t *e;

    (void)app;
    if (k->end != CF_APIKEY_END_NONE)
        return 0;
    /* A key past a deadline ended there, whoever notices it and however late
     * (sweep, restart, a later revocation): record that end at that deadline. */
    if (passed != CF_APIKEY_END_NONE)
        why = passed;
    e = cf_events_add_apikey(ev, CF_EV_APIKEY_ENDED, now, k);
    if (e == NULL)
        return CF_ENOMEM;
    e->apikey->end = why;
    e->apikey->ended_at = passed != CF_APIKEY_END_NONE ? cf_apikey_ended_at(k, now) : now;
    e->reason = cf_apikey_end_refusal(why);
    return 1;
}

typedef struct {
    cf_app_t *app;
    cf_store_done_fn done;
    void *arg;
    size_t n;
    char ids[][CF_APIKEY_ID_LEN + 1]; /* "": the bulk hold */
} held_t;

/* The answer first (memory was applied before it), then whoever waited. */
static void on_held_done(void *arg, int status)
{
    held_t *h = arg;

    h->done(h->arg, status);
    for (size_t i = 0; i < h->n; i++)
        cf_apikeys_busy_release(&h->app->apikeys->busy, h->app, h->ids[i][0] ? h->ids[i] : NULL);
    free(h);
}

void cf_app_apikey_commit(cf_app_t *app, cf_events_t *ev, cf_store_done_fn done, void *arg)
{
    held_t *h = calloc(1, sizeof *h + ev->n * sizeof h->ids[0]);

    if (h == NULL)
        oom("apikey_commit");
    *h = (held_t){app, done, arg, ev->n > 4}; /* a bulk batch: one hold of every key */
    for (size_t i = 0; i < ev->n && ev->n <= 4; i++) {
        if (ev->v[i].apikey != NULL)
            memcpy(h->ids[h->n++], ev->v[i].apikey->id, CF_APIKEY_ID_LEN + 1);
    }
    for (size_t i = 0; i < h->n; i++)
        if (cf_apikeys_busy_hold(&app->apikeys->busy, h->ids[i][0] ? h->ids[i] : NULL) < 0)
            oom("apikey_commit");
    cf_app_commit(app, ev, on_held_done, h);
}

int cf_app_apikey_wait(cf_app_t *app, const char *id, cf_wait_fn fn, void *arg)
{
    if (app->apikeys == NULL || !cf_apikeys_busy_held(&app->apikeys->busy, id))
        return 0;
    return cf_apikeys_busy_wait(&app->apikeys->busy, id, fn, arg) < 0 ? CF_ENOMEM : 1;
}

/* Put @k on the dirty list, once. */
static void mark_dirty(cf_app_t *app, cf_apikey_rec_t *k)
{
    dirty_t *d = &app->apikeys->dirty;

    if (k->dirty)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        cf_apikey_rec_t **v = realloc(d->v, cap * sizeof *v);
        if (v == NULL)
            oom("apikey_dirty");
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = k;
    k->dirty = 1;
}

int cf_app_apikey_quota(cf_app_t *app, cf_apikey_rec_t *k, int64_t day, int64_t month,
                        cf_time_t now, cf_apikey_quota_t *q)
{
    cf_apikey_usage_t before, u;
    int ok;

    cf_apikey_rec_usage(k, &before);
    u = before;
    ok = cf_apikey_quota_take(&u, day, month, now, q);
    /* Even a refusal may have moved a window: stored, and written lazily. */
    if (memcmp(&u, &before, sizeof u) != 0) {
        if (cf_apikey_rec_count(k, &before, &u) < 0)
            oom("apikey_use");
        mark_dirty(app, k);
    }
    return ok;
}

void cf_app_apikey_touch(cf_app_t *app, cf_apikey_rec_t *k, cf_time_t now)
{
    if (now > k->last_used)
        k->last_used = now;
    mark_dirty(app, k);
}

int cf_app_apikey_rate(cf_app_t *app, cf_apikey_rec_t *k, cf_limit_t *out)
{
    cf_gcra_result_t r;

    if (app->apikeys == NULL || !app->apikeys->rate_on)
        return 0;
    if (cf_apikey_rec_use(k) == NULL)
        oom("apikey_use");
    cf_gcra_apply(&app->apikeys->gcra, &k->use->tat, cf_app_mono(app), &r);
    if (r.allowed)
        return 0;
    memset(out, 0, sizeof *out);
    out->why = CF_REASON_RATE_LIMITED;
    out->retry_after = (r.retry_after + CF_SEC - 1) / CF_SEC;
    if (out->retry_after < 1)
        out->retry_after = 1;
    out->has_quota = 1;
    out->burst = app->apikeys->gcra.burst;
    out->remaining = 0;
    out->window = app->apikeys->gcra.window / CF_SEC;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Revocation by owner or client on a shared store                     */
/* ------------------------------------------------------------------ */

typedef struct {
    cf_app_t *app;
    cf_apikeys_revoked_fn done;
    void *arg;
} revoke_op_t;

/*
 * Redis ended the keys on its own index and published the ends: apply them
 * here as every other node does (the bus skips our own message), then the
 * sinks see them as this node's decision.
 */
static void on_revoked(void *arg, int status, size_t found, const char *msg, size_t len)
{
    revoke_op_t *op = arg;
    cf_wire_msg_t m = {0};
    char err[128];
    int64_t n = 0;

    (void)found;
    if (status == 0 && len > 0 && cf_wire_decode(msg, len, &m, err, sizeof err) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=cluster_bad_message origin=apikey_revoke error=\"%s\"", err);
        status = CF_ESTORE; /* written, but not understood: say so rather than guess */
    }
    for (size_t i = 0; status == 0 && i < m.ev.n; i++) {
        if (m.ev.v[i].apikey == NULL)
            continue;
        apply(op->app, &m.ev.v[i]);
        /* revoked by this request; a key found past its deadline ended before it */
        n += m.ev.v[i].type == CF_EV_APIKEY_ENDED && m.ev.v[i].apikey->end == CF_APIKEY_END_REVOKED;
    }
    if (status == 0)
        cf_app_sinks(op->app, &m.ev);
    cf_wire_msg_fini(&m);
    op->done(op->app, op->arg, status, n);
    free(op);
}

int cf_app_apikeys_revoke_shared(cf_app_t *app, const char *sub, const char *client_id,
                                 cf_apikeys_revoked_fn done, void *arg)
{
    cf_store_revoke_t rv = {.scope = sub != NULL ? CF_STORE_REVOKE_SUBJECT : CF_STORE_REVOKE_CLIENT,
                            .target = sub != NULL ? sub : client_id,
                            .why = CF_END_REVOKED,
                            .now = cf_app_now(app)};
    revoke_op_t *op;

    if (!cf_store_shares_apikeys(app->store))
        return CF_ENOTSUP;
    op = malloc(sizeof *op);
    if (op == NULL)
        return CF_ENOMEM;
    *op = (revoke_op_t){app, done, arg};
    cf_store_revoke_apikeys(app->store, &rv, on_revoked, op);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The timer: lazy use, and deadlines nobody asked about               */
/* ------------------------------------------------------------------ */

/* Give freed pages back once a burst of flushes is over (see TRIM_AFTER). */
static void trim(struct cf_apikeys *ks, size_t flushed)
{
    ks->since_trim += flushed;
    if (ks->since_trim < TRIM_AFTER ||
        ((flushed > 0 || ks->flushing > 0) && ks->since_trim < TRIM_FORCE))
        return;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    ks->since_trim = 0;
}

/* One flush's keys, by id: a key may leave the table before the store answers. */
typedef struct {
    cf_app_t *app;
    size_t n;
    char ids[][CF_APIKEY_ID_LEN + 1];
} flush_t;

/*
 * A refused flush wrote nothing: put its keys back on the dirty list so the
 * next one writes their use (the uses were answered 200; a crash may forget
 * only the last interval's). SQLite writes whole counts, so nothing is lost;
 * a cluster's deltas were taken and stay lost rather than risk counting
 * twice (a Redis failure may hide a write that was made).
 */
static void flushed(void *arg, int status)
{
    flush_t *f = arg;

    f->app->apikeys->flushing--;
    for (size_t i = 0; status < 0 && i < f->n; i++) {
        cf_apikey_rec_t *r = cf_app_apikey(f->app, f->ids[i]);
        if (r != NULL)
            mark_dirty(f->app, r);
    }
    free(f);
}

static void flush(cf_app_t *app, cf_time_t now)
{
    cf_events_t ev = CF_EVENTS_INIT;

    dirty_t *d = &app->apikeys->dirty;
    size_t n = d->n;
    flush_t *f = malloc(sizeof *f + n * sizeof f->ids[0]);

    if (f == NULL)
        oom("apikey_flush");
    *f = (flush_t){.app = app};
    for (size_t i = 0; i < n; i++) {
        cf_apikey_rec_t *r = d->v[i];
        cf_apikey_t k;
        if (r == NULL)
            continue; /* the key left the table meanwhile */
        r->dirty = 0;
        memcpy(f->ids[f->n++], r->id, sizeof f->ids[0]);
        cf_app_apikey_view(app, r, &k);
        cf_event_t *e = cf_events_add_apikey(&ev, CF_EV_APIKEY_USED, now, &k);
        if (e == NULL)
            oom("apikey_flush");
        /* Uses since the previous flush (a cluster adds them up): lost if
         * this commit fails (the quota may then allow that many more), never
         * counted twice. SQLite keeps whole counts: flushed() retries. */
        cf_apikey_rec_take_unsent(r, &e->apikey->delta);
    }
    d->n = 0;
    /* A burst of use must not pin its list: past DIRTY_KEEP, keep no more
     * than twice what this interval needed. */
    if (d->cap > DIRTY_KEEP && d->cap > 4 * n) {
        size_t cap = 2 * n > DIRTY_KEEP ? 2 * n : DIRTY_KEEP;
        cf_apikey_rec_t **v = realloc(d->v, cap * sizeof *v);
        if (v != NULL) {
            d->v = v;
            d->cap = cap;
        }
    }
    if (ev.n > 0) {
        app->apikeys->flushing++;
        cf_app_commit(app, &ev, flushed, f);
    } else {
        cf_events_fini(&ev);
        free(f);
    }
}

/* Whether @k is due a key_expiring warning at @now. */
static int due_warning(const cf_app_t *app, const cf_apikey_t *k, cf_time_t now)
{
    cf_time_t before = app->cfg.apikey_warn_before;

    return before > 0 && k->expires_at > 0 && k->warned_at == 0 && k->successor[0] == '\0' &&
           now >= k->expires_at - before && now < k->expires_at;
}

/*
 * End what has lapsed (so the store, the audit log and the listing say why)
 * and warn what will soon expire. O(keys) per sweep; a sweep runs every
 * store.purge_interval, or sooner when a deadline found is due sooner.
 */
typedef struct {
    cf_apikey_rec_t **v;
    size_t n, cap;
} purge_t;

static int purge_add(purge_t *p, cf_apikey_rec_t *k)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        cf_apikey_rec_t **v = realloc(p->v, cap * sizeof *v);
        if (v == NULL)
            return CF_ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = k;
    return 0;
}

static void sweep(cf_app_t *app, cf_time_t now)
{
    purge_t purge = {0};
    cf_events_t ev = CF_EVENTS_INIT;
    cf_time_t next = now + app->cfg.purge_interval;
    cf_apikey_rec_t *r;
    cf_apikey_t view, *k = &view;
    size_t pos = 0;

    if (cf_app_clock_unconfirmed(app))
        return; /* a forward step alone must not end keys for good */
    while ((r = cf_app_apikey_next(app, &pos)) != NULL) {
        cf_time_t dl;
        cf_apikey_end_t end;

        cf_app_apikey_view(app, r, k);

        if (k->end != CF_APIKEY_END_NONE) {
            /* Ended keys stay listed (with their end reason) for
             * store.purge_after, as ended sessions do, then leave memory
             * (Redis expires them itself; SQLite keeps the row, which a
             * restart reloads and this drops again). */
            if (k->ended_at + app->cfg.purge_after <= now && !r->dirty)
                if (purge_add(&purge, r) < 0)
                    oom("apikey_purge");
            continue;
        }
        end = cf_apikey_end_at(k, now, &dl);
        if (end != CF_APIKEY_END_NONE) {
            if (cf_app_apikey_end(app, k, end, now, &ev) < 0)
                oom("apikey_sweep");
            continue;
        }
        if (due_warning(app, k, now)) {
            cf_event_t *e = cf_events_add_apikey(&ev, CF_EV_APIKEY_EXPIRING, now, k);
            if (e == NULL)
                oom("apikey_warn");
            e->apikey->warned_at = now;
        } else if (app->cfg.apikey_warn_before > 0 && k->expires_at > 0 && k->warned_at == 0 &&
                   k->expires_at - app->cfg.apikey_warn_before < next) {
            next = k->expires_at - app->cfg.apikey_warn_before;
        }
        if (dl > 0 && dl < next)
            next = dl;
    }
    for (size_t i = 0; i < purge.n; i++)
        drop(app, cf_apikey_tab_del(&app->apikeys->by_id, purge.v[i]->id));
    if (purge.n > 0)
        CF_LOG(CF_LOG_INFO, "event=apikeys_purged keys=%zu", purge.n);
    free(purge.v);
    app->apikeys->next_sweep = next;
    if (ev.n > 0)
        cf_app_commit(app, &ev, NULL, NULL);
    else
        cf_events_fini(&ev);
}

static void on_timer(uv_timer_t *t)
{
    cf_app_t *app = t->data;
    cf_time_t now = cf_app_now(app);
    size_t n = app->apikeys->dirty.n;

    flush(app, now);
    trim(app->apikeys, n);
    if (now >= app->apikeys->next_sweep)
        sweep(app, now);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

static void ext_stop(cf_app_t *app)
{
    if (app->apikeys == NULL)
        return;
    if (app->apikeys->timer_on) {
        uv_close((uv_handle_t *)&app->apikeys->timer, NULL);
        app->apikeys->timer_on = 0;
    }
    flush(app, cf_app_now(app));
}

static void ext_fini(cf_app_t *app)
{
    struct cf_apikeys *ks = app->apikeys;
    size_t pos = 0;
    cf_apikey_rec_t *k;

    if (ks == NULL)
        return;
    while ((k = cf_apikey_tab_next(&ks->by_id, &pos)) != NULL)
        cf_apikey_rec_free(k, &ks->strs);
    free(ks->by_id.slots);
    cf_strtab_fini(&ks->strs);
    free(ks->dirty.v);
    cf_apikey_cache_fini(&ks->cache);
    cf_apikeys_busy_fini(&ks->busy);
    cf_webhook_free(ks->webhook);
    free(ks);
    app->apikeys = NULL;
    app->apikeys_ext = NULL;
}

/* A cluster node resynchronising: what Redis holds now, merged into the table. */
static int ext_reload(cf_app_t *app)
{
    return app->apikeys != NULL ? cf_store_load_apikeys(app->store, load_one, app) : 0;
}

static const cf_app_ext_t ext = {apply, ext_stop, ext_fini, ext_reload};

int cf_app_apikeys_init(cf_app_t *app)
{
    struct cf_apikeys *ks = calloc(1, sizeof *ks);
    int rc;

    if (ks == NULL)
        return CF_ENOMEM;
    ks->by_id.seed = app->seed ^ 0x6b657973u;
    app->apikeys = ks;
    app->apikeys_ext = &ext;
    if (app->cfg.rl_apikey.enabled) {
        rc = cf_gcra_init(&ks->gcra, app->cfg.rl_apikey.count, app->cfg.rl_apikey.period,
                          app->cfg.rl_apikey.burst);
        if (rc < 0) {
            CF_LOG(CF_LOG_ERROR, "event=startup_error what=api_keys.rate error=\"%s\"", cf_strerror(rc));
            return rc;
        }
        ks->rate_on = 1;
    }
    if (app->webhook == NULL && app->cfg.alert_webhook[0] != '\0' &&
        (rc = cf_webhook_new(app->cfg.alert_webhook, app->cfg.alert_webhook_ca,
                             app->cfg.alert_queue, &ks->webhook)) < 0)
        return rc;
    rc = cf_store_load_apikeys(app->store, load_one, app);
    if (rc == CF_ENOTSUP) {
        CF_LOG(CF_LOG_WARN, "event=apikeys_not_stored backend=%s", cf_store_name(app->store));
        ks->unsupported = 1;
        rc = 0;
    }
    if (rc < 0)
        return rc;
    CF_LOG(CF_LOG_INFO, "event=apikeys_loaded keys=%zu", ks->by_id.count);
    return 0;
}

void cf_app_apikeys_start(cf_app_t *app)
{
    struct cf_apikeys *ks = app->apikeys;

    if (ks == NULL || ks->timer_on)
        return;
    uv_timer_init(app->loop, &ks->timer);
    ks->timer.data = app;
    ks->timer_on = 1;
    uv_timer_start(&ks->timer, on_timer, (uint64_t)app->cfg.activity_flush,
                   (uint64_t)app->cfg.activity_flush);
}
