/* SPDX-License-Identifier: MIT
 *
 * Loading the in-memory index from the store: at start-up and when a cluster
 * node resynchronises (cf_app_reload). Every row the store holds is filed in
 * the index as it was acknowledged; the risk policy, being configuration, is
 * derived afresh.
 */
#include <stdlib.h>
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
    size_t h = (((uintptr_t)r->client_id >> 4) ^ ((uintptr_t)r->roles >> 3)) % POLICY_MEMO;

    if (policy_memo[h].client == r->client_id && policy_memo[h].roles == r->roles) {
        r->ip_binding = policy_memo[h].ip_binding;
        r->on_ip_change = policy_memo[h].on_ip_change;
        r->on_device_change = policy_memo[h].on_device_change;
        return;
    }
    cf_app_session_apply_policy(app, r);
    policy_memo[h].client = r->client_id;
    policy_memo[h].roles = r->roles;
    policy_memo[h].ip_binding = r->ip_binding;
    policy_memo[h].on_ip_change = r->on_ip_change;
    policy_memo[h].on_device_change = r->on_device_change;
}

static int load_session(void *ctx, cf_session_t *s)
{
    cf_app_t *app = ctx;
    cf_session_t *r = cf_app_index_session(app, s); /* frees @s */

    if (r == NULL)
        return CF_ENOMEM;
    load_policy(app, r);
    return 0;
}

static int load_refresh(void *ctx, const uint8_t hash[32], const char *sid, uint32_t gen)
{
    cf_app_t *app = ctx;
    cf_session_t *s = cf_app_session(app, sid, strlen(sid));

    if (s == NULL)
        return 0; /* orphan row: its session was purged; the token is dead */
    return cf_app_index_refresh(app, s, hash, gen);
}

static int load_not_before(void *ctx, const char *sub, cf_time_t at)
{
    return cf_app_set_not_before(ctx, sub, at);
}

static int load_alert_hold(void *ctx, const char *sub, cf_time_t until)
{
    return cf_app_alert_hold(ctx, sub, until);
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
    app->dirty = NULL; /* unflushed activity is lost: sessions can only expire earlier */
}

int cf_app_load(cf_app_t *app)
{
    cf_store_loader_t ld = {app, load_session, load_refresh, load_not_before, load_alert_hold};
    int rc;

    memset(policy_memo, 0, sizeof policy_memo); /* the last load's strings are gone */
    app->index_now = cf_app_now(app); /* one clock read for the whole load */
    cf_index_bulk(app->index, 1);      /* rows come in id order: sort by creation once */
    rc = cf_store_load(app->store, &ld);
    cf_index_bulk(app->index, 0);
    app->index_now = 0;
    if (rc < 0)
        return rc;
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
