/* SPDX-License-Identifier: MIT
 *
 * Loading the in-memory index from the store: at start-up and when a cluster
 * node resynchronises (cf_app_reload). Every row the store holds is filed in
 * the index as it was acknowledged; the risk policy, being configuration, is
 * derived afresh.
 */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "app/app.h"
#include "core/error.h"
#include "util/log.h"

/*
 * The risk policy is configuration, not state: each loaded session derives
 * it afresh. A million rows share a few dozen (client, roles) pairs, and
 * resolving one walks the policy and writes its explanations, so a load
 * remembers the answer per pair, keyed by the index's interned strings
 * (valid and unique while the load runs; forgotten before each load).
 */
#define POLICY_MEMO 64

static struct {
    const char *client, *roles;
    uint8_t ip_binding, on_ip_change, on_device_change;
} policy_memo[POLICY_MEMO];

static void load_policy(cf_app_t *app, cf_session_t *r)
{
    size_t h = (((uintptr_t)cf_session_client_id(r) >> 4) ^ ((uintptr_t)cf_session_roles(r) >> 3)) %
               POLICY_MEMO;

    if (policy_memo[h].client == cf_session_client_id(r) &&
        policy_memo[h].roles == cf_session_roles(r)) {
        r->ip_binding = policy_memo[h].ip_binding;
        r->on_ip_change = policy_memo[h].on_ip_change;
        r->on_device_change = policy_memo[h].on_device_change;
        return;
    }
    cf_app_session_apply_policy(app, r);
    policy_memo[h].client = cf_session_client_id(r);
    policy_memo[h].roles = cf_session_roles(r);
    policy_memo[h].ip_binding = r->ip_binding;
    policy_memo[h].on_ip_change = r->on_ip_change;
    policy_memo[h].on_device_change = r->on_device_change;
}

/*
 * Rows in hand. Loading a million rows is bound by cache misses: each row's
 * table slots and the records and groups they lead to are far apart. So a
 * row waits in a ring for RING more rows while the index fetches what it
 * will touch (cf_index_prefetch_add/_refresh, in stages), and the misses of
 * several rows overlap instead of following one another. Errors surface
 * when the row is added, a few rows late; the load stops all the same.
 */
#define RING 24
#define STAGE_GAP 8

typedef struct {
    uint8_t hash[32];
    char sid[CF_SID_LEN + 1];
    uint32_t gen;
} load_token_t;

typedef struct {
    cf_app_t *app;
    cf_session_t *rows[RING];   /* owned until added */
    load_token_t tokens[RING];
    size_t nrows, ntokens;      /* rows and tokens received so far */
    size_t rows_done, tokens_done;
} load_t;

static int add_row(load_t *l, cf_session_t *s)
{
    cf_session_t *r = cf_app_index_session(l->app, s); /* frees @s */

    if (r == NULL)
        return CF_ENOMEM;
    load_policy(l->app, r);
    return 0;
}

/* Add the rows still in hand, oldest first; with @rc < 0 only free them. */
static int flush_rows(load_t *l, int rc)
{
    for (; l->rows_done < l->nrows; l->rows_done++) {
        cf_session_t *s = l->rows[l->rows_done % RING];
        if (rc == 0)
            rc = add_row(l, s);
        else
            cf_session_free(s);
    }
    return rc;
}

static int add_token(load_t *l, const load_token_t *t)
{
    cf_session_t *s = cf_app_session(l->app, t->sid, CF_SID_LEN);

    if (s == NULL)
        return 0; /* orphan row: its session was purged; the token is dead */
    return cf_app_index_refresh(l->app, s, t->hash, t->gen);
}

static int flush_tokens(load_t *l)
{
    int rc = 0;

    for (; rc == 0 && l->tokens_done < l->ntokens; l->tokens_done++)
        rc = add_token(l, &l->tokens[l->tokens_done % RING]);
    l->tokens_done = l->ntokens;
    return rc;
}

static int load_session(void *ctx, cf_session_t *s)
{
    load_t *l = ctx;
    cf_index_t *ix = l->app->index;
    int rc = 0;

    if (l->nrows - l->rows_done == RING) { /* the oldest row's turn */
        rc = add_row(l, l->rows[l->rows_done % RING]);
        l->rows_done++;
    }
    l->rows[l->nrows++ % RING] = s;
    cf_index_prefetch_add(ix, s, 0);
    if (l->nrows - l->rows_done > STAGE_GAP)
        cf_index_prefetch_add(ix, l->rows[(l->nrows - 1 - STAGE_GAP) % RING], 1);
    if (l->nrows - l->rows_done > 2 * STAGE_GAP)
        cf_index_prefetch_add(ix, l->rows[(l->nrows - 1 - 2 * STAGE_GAP) % RING], 2);
    return rc;
}

static int load_refresh(void *ctx, const uint8_t hash[32], const char *sid, uint32_t gen)
{
    load_t *l = ctx;
    load_token_t *t;
    int rc = flush_rows(l, 0); /* sessions come first: the tokens name them */

    if (rc < 0)
        return rc;
    if (strlen(sid) != CF_SID_LEN)
        return 0; /* names no session the index can hold: an orphan */
    if (l->ntokens - l->tokens_done == RING) {
        rc = add_token(l, &l->tokens[l->tokens_done % RING]);
        l->tokens_done++;
    }
    t = &l->tokens[l->ntokens++ % RING];
    memcpy(t->hash, hash, 32);
    memcpy(t->sid, sid, CF_SID_LEN + 1);
    t->gen = gen;
    cf_index_prefetch_refresh(l->app->index, t->sid, t->hash, 0);
    if (l->ntokens - l->tokens_done > STAGE_GAP) {
        const load_token_t *o = &l->tokens[(l->ntokens - 1 - STAGE_GAP) % RING];
        cf_index_prefetch_refresh(l->app->index, o->sid, o->hash, 1);
    }
    return rc;
}

static int load_not_before(void *ctx, const char *sub, cf_time_t at)
{
    load_t *l = ctx;
    int rc = flush_rows(l, 0);

    if (rc == 0)
        rc = flush_tokens(l);
    return rc < 0 ? rc : cf_app_set_not_before(l->app, sub, at);
}

static int load_alert_hold(void *ctx, const char *sub, cf_time_t until)
{
    load_t *l = ctx;

    return cf_app_alert_hold(l->app, sub, until);
}

int cf_app_index_init(cf_app_t *app)
{
    app->index = cf_index_new(app->seed);
    if (app->index == NULL)
        return CF_ENOMEM;
    cf_index_set_purge_after(app->index, app->cfg.purge_after);
    return 0;
}

static void index_clear(cf_app_t *app)
{
    cf_index_free(app->index);
    app->index = NULL;
    if (cf_app_index_init(app) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=index_clear");
        abort(); /* an index that is not there cannot answer for anything */
    }
    app->global_not_before = 0;
    app->ndirty = 0; /* unflushed activity is lost: sessions can only expire earlier */
}

/* Size the index from the store's estimate: no table grows during the load. */
static void load_expect(void *ctx, size_t sessions)
{
    load_t *l = ctx;

    (void)cf_index_reserve(l->app->index, sessions); /* out of memory: they grow as before */
}

int cf_app_load(cf_app_t *app)
{
    load_t l = {.app = app};
    cf_store_loader_t ld = {&l, load_session, load_refresh, load_not_before, load_alert_hold,
                            load_expect};
    int rc;

    memset(policy_memo, 0, sizeof policy_memo); /* the last load's strings are gone */
    app->index_now = cf_app_now(app); /* one clock read for the whole load */
    cf_index_bulk(app->index, 1);      /* rows come in id order: sort by creation once */
    rc = cf_store_load(app->store, &ld);
    rc = flush_rows(&l, rc); /* after an error, only frees the rows in hand */
    if (rc == 0)
        rc = flush_tokens(&l);
    cf_index_bulk(app->index, 0);
    app->index_now = 0;
    if (rc < 0)
        return rc;
#ifdef __GLIBC__
    /* The rows' copies, the store's page cache and the check's connection
     * were freed in the middle of the heaps: give those pages back. */
    (void)malloc_trim(0);
#endif
    CF_LOG(CF_LOG_INFO, "event=store_loaded backend=%s sessions=%zu refresh_tokens=%zu",
           cf_store_name(app->store), cf_index_count(app->index),
           cf_index_refresh_count(app->index));
    return 0;
}

int cf_app_reload(cf_app_t *app)
{
    int rc;

    index_clear(app);
    rc = cf_app_load(app);
    if (rc == 0 && app->apikeys_ext != NULL)
        rc = app->apikeys_ext->reload(app); /* API keys too, through their hook */
    return rc;
}
