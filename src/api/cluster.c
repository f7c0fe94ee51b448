/* SPDX-License-Identifier: MIT
 *
 * The cluster layer (see cluster.h): applies what other nodes publish to this
 * node's index, measures how long revocations take to arrive, and keeps the
 * staleness bound. Merging follows the store's rules, so applying a message
 * twice (once through a resync, once from the bus) changes nothing: activity
 * and generations only move forward, and an ended session never comes back.
 */
#include "api/cluster.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "core/error.h"
#include "store/redis.h"
#include "util/log.h"
#include "util/random.h"

static const double propagation_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                            0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                            1,      2.5};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void record_delay(cf_cluster_t *c, int64_t origin_us)
{
    int64_t d = wall_us() - origin_us;

    if (d < 0)
        d = 0; /* clocks of two hosts; never report negative time */
    cf_histogram_observe(&c->propagation, (double)d / 1e6);
    c->samples[c->nsamples % CF_CLUSTER_SAMPLES] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    c->nsamples++;
}

/* Merge what another node (or Redis) says of @snap's session into @s. Returns 1 for a new end. */
static int merge_session(cf_session_t *s, const cf_session_t *snap)
{
    if (snap->last_activity > s->last_activity)
        s->last_activity = snap->last_activity;
    if (snap->idle_deadline > s->idle_deadline)
        s->idle_deadline = snap->idle_deadline;
    if (snap->refresh_gen > s->refresh_gen) {
        s->refresh_gen = snap->refresh_gen;
        s->refresh_rotated_at = snap->refresh_rotated_at;
    }
    if (snap->end != CF_END_NONE && s->end == CF_END_NONE) {
        s->end = snap->end;
        s->ended_at = snap->ended_at;
        return 1;
    }
    return 0;
}

/* Index @fresh (taking it) or merge it into the session already indexed. Returns the indexed one. */
static cf_session_t *adopt_session(cf_app_t *app, cf_session_t *fresh, int *ended)
{
    cf_session_t *s = cf_app_session(app, fresh->id, CF_SID_LEN);

    if (s != NULL) {
        *ended = merge_session(s, fresh);
        cf_session_free(fresh);
        return s;
    }
    cf_app_session_apply_policy(app, fresh);
    if (cf_app_index_session(app, fresh) < 0) {
        cf_session_free(fresh);
        return NULL;
    }
    *ended = fresh->end != CF_END_NONE;
    return fresh;
}

/* Apply one event from another node; returns 1 for an end seen for the first time. */
static int apply_snapshot(cf_app_t *app, const cf_event_t *e)
{
    cf_session_t *s = cf_app_session(app, e->session->id, CF_SID_LEN);
    int ended = 0;

    if (s == NULL && e->type == CF_EV_ACTIVITY)
        return 0; /* a session we never saw: it arrives with its next change or a resync */
    if (s != NULL) {
        ended = merge_session(s, e->session);
    } else {
        cf_session_t *copy = cf_session_snapshot(e->session);
        if (copy == NULL || (s = adopt_session(app, copy, &ended)) == NULL)
            return 0;
    }
    if (e->has_token && cf_map_get(&app->refresh, e->token_hash, 32) == NULL)
        (void)cf_app_index_refresh(app, s, e->token_hash, e->token_gen);
    return ended;
}

/* ---- a check that needs Redis first ---- */

static const char fetched_mark; /* req->user once the check's session was fetched */

typedef struct {
    cf_app_t *app;
    cf_http_req_t *req;
    char sid[CF_SID_LEN + 1];
} check_fetch_t;

static void on_check_fetched(void *arg, int status, cf_redis_fetched_t *f)
{
    check_fetch_t *cf = arg;
    cf_app_t *app = cf->app;
    int ended;

    if (status < 0) {
        static const cf_http_header_t retry = {"Retry-After", 11, "1", 1};
        app->metrics.checks[CF_REASON_STORE_UNAVAILABLE]++;
        cf_reply_error(cf->req, 503, "temporarily_unavailable",
                       cf_reason_describe(CF_REASON_STORE_UNAVAILABLE),
                       CF_REASON_STORE_UNAVAILABLE, &retry, 1);
        free(cf);
        return;
    }
    if (f->session != NULL) {
        const char *sub;
        cf_session_t *s = adopt_session(app, f->session, &ended);
        sub = s != NULL ? s->sub : NULL;
        if (sub != NULL && f->not_before > 0)
            (void)cf_app_set_not_before(app, sub, f->not_before);
    } else {
        /* Not in Redis: never was, or expired and purged there. Forget it here too,
         * unless it waits in the activity list (the purge sweep takes it later). */
        cf_session_t *s = cf_app_session(app, cf->sid, CF_SID_LEN);
        if (s != NULL && !s->dirty) {
            cf_app_unindex_session(app, s);
            cf_session_free(s);
        }
    }
    if (f->global_not_before > 0)
        (void)cf_app_set_not_before(app, NULL, f->global_not_before);
    cf->req->user = (void *)&fetched_mark;
    cf_api_check(app, cf->req);
    free(cf);
}

void cf_app_cluster_fetch(cf_app_t *app, cf_http_req_t *req, const char *sid)
{
    check_fetch_t *cf = malloc(sizeof *cf);

    if (cf == NULL) {
        cf_reply_error(req, 500, "server_error", "out of memory", CF_REASON_NONE, NULL, 0);
        return;
    }
    cf->app = app;
    cf->req = req;
    memcpy(cf->sid, sid, CF_SID_LEN);
    cf->sid[CF_SID_LEN] = '\0';
    cf_redis_fetch(app->store, cf->sid, on_check_fetched, cf);
}

static void on_bus_message(void *ctx, const char *msg, size_t len)
{
    cf_app_t *app = ctx;
    cf_cluster_t *c = app->cluster;
    cf_wire_msg_t m;
    char err[128];
    int revocation = 0;

    c->heard_ms = uv_now(app->loop);
    c->messages++;
    if (cf_wire_decode(msg, len, &m, err, sizeof err) < 0) {
        c->bad_messages++;
        CF_LOG(CF_LOG_WARN, "event=cluster_bad_message error=\"%s\"", err);
        return;
    }
    if (strcmp(m.node, c->node) == 0) {
        cf_wire_msg_fini(&m); /* our own: already applied before it was published */
        return;
    }
    if (m.keys)
        cf_app_keys_changed(app);
    for (size_t i = 0; i < m.ev.n; i++) {
        const cf_event_t *e = &m.ev.v[i];
        if (e->type == CF_EV_NOT_BEFORE) {
            (void)cf_app_set_not_before(app, e->sub, e->not_before);
            revocation = 1;
        } else if (e->session != NULL) {
            if (apply_snapshot(app, e) && e->type == CF_EV_SESSION_ENDED)
                revocation = 1;
        }
        c->applied_events++;
    }
    if (revocation)
        record_delay(c, m.ts_us);
    cf_wire_msg_fini(&m);
}

static void resync(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;
    uint64_t t0 = uv_hrtime();

    if (cf_app_reload(app) < 0) {
        CF_LOG(CF_LOG_WARN, "event=cluster_resync_failed");
        return; /* still stale; the next link-up tries again */
    }
    c->need_resync = 0;
    c->resyncs++;
    c->heard_ms = uv_now(app->loop);
    cf_app_keys_changed(app); /* a rotation may have been missed too */
    CF_LOG(CF_LOG_INFO, "event=cluster_resync sessions=%zu ms=%.1f", app->sessions.count,
           (double)(uv_hrtime() - t0) / 1e6);
}

static void on_bus_link(void *ctx, int up)
{
    cf_app_t *app = ctx;
    cf_cluster_t *c = app->cluster;

    c->link_up = up;
    if (!up) {
        c->need_resync = 1;
        return;
    }
    if (c->need_resync)
        resync(app);
}

static void on_heartbeat(uv_timer_t *t)
{
    cf_app_t *app = t->data;
    char *msg = cf_wire_encode_notice(app->cluster->node, wall_us(), 0);

    if (msg != NULL)
        (void)cf_redis_publish(app->store, msg); /* a failure shows as silence */
    free(msg);
}

int cf_app_cluster_open(cf_app_t *app, const char *url)
{
    cf_redis_url_t u;
    char err[128];
    cf_cluster_t *c = calloc(1, sizeof *c);
    int rc;

    if (c == NULL)
        return CF_ENOMEM;
    app->cluster = c;
    cf_random_b64url(12, c->node);
    c->need_resync = 1; /* until the subscription is live, we may miss messages */
    cf_histogram_init(&c->propagation, propagation_bounds,
                      sizeof propagation_bounds / sizeof propagation_bounds[0]);
    if (cf_url_parse_redis(url, &u, err, sizeof err) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=store_url error=\"%s\"", err);
        return CF_ECONFIG;
    }
    cf_redis_bus_t bus = {app, on_bus_message, on_bus_link};
    rc = cf_store_open_redis(&u, c->node, app->cfg.purge_after,
                             app->cfg.access_max_ttl + app->cfg.clock_leeway, app->loop, &bus,
                             &app->store);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=redis host=%s port=%d error=\"cannot reach Redis\"",
               u.host, u.port);
        return rc;
    }
    CF_LOG(CF_LOG_INFO, "event=cluster_node node=%s host=%s port=%d db=%d", c->node, u.host, u.port,
           u.db);
    return 0;
}

void cf_app_cluster_start(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;
    uint64_t every = (uint64_t)(app->cfg.max_staleness / 4);

    if (c == NULL)
        return;
    if (every < 10)
        every = 10;
    uv_timer_init(app->loop, &c->heartbeat);
    c->heartbeat.data = app;
    uv_timer_start(&c->heartbeat, on_heartbeat, 0, every);
    c->heartbeat_started = 1;
}

void cf_app_cluster_stop(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;

    if (c != NULL && c->heartbeat_started) {
        uv_close((uv_handle_t *)&c->heartbeat, NULL);
        c->heartbeat_started = 0;
    }
}

int cf_app_cluster_stale(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;

    if (c == NULL)
        return 0;
    return c->need_resync || c->heard_ms == 0 ||
           uv_now(app->loop) - c->heard_ms > (uint64_t)app->cfg.max_staleness;
}

void cf_app_cluster_fini(cf_app_t *app)
{
    free(app->cluster);
    app->cluster = NULL;
}

/* ---- GET /v1/cluster ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void cf_api_cluster(cf_app_t *app, cf_http_req_t *req)
{
    cf_cluster_t *c = app->cluster;
    json_t *o, *p;

    if (!cf_app_require_admin(app, req))
        return;
    if (c == NULL) {
        cf_reply_json(req, 200, json_pack("{s:s, s:b}", "store", "sqlite", "cluster", 0), NULL, 0);
        return;
    }
    size_t n = c->nsamples < CF_CLUSTER_SAMPLES ? (size_t)c->nsamples : CF_CLUSTER_SAMPLES;
    uint32_t *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL) {
        cf_reply_error(req, 500, "server_error", "out of memory", CF_REASON_NONE, NULL, 0);
        return;
    }
    memcpy(v, c->samples, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_u32);
    p = json_pack("{s:I, s:I}", "count", (json_int_t)c->propagation.count, "window", (json_int_t)n);
    if (n > 0) {
        json_object_set_new(p, "p50_ms", json_real(v[(n - 1) / 2] / 1000.0));
        json_object_set_new(p, "p99_ms", json_real(v[(size_t)((double)(n - 1) * 0.99)] / 1000.0));
        json_object_set_new(p, "max_ms", json_real(v[n - 1] / 1000.0));
    }
    free(v);
    o = json_pack("{s:s, s:b, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "store", "redis",
                  "cluster", 1, "node", c->node, "link_up", c->link_up, "stale",
                  cf_app_cluster_stale(app), "heard_ms_ago",
                  c->heard_ms ? (json_int_t)(uv_now(app->loop) - c->heard_ms) : (json_int_t)-1,
                  "max_staleness_ms", (json_int_t)app->cfg.max_staleness, "messages",
                  (json_int_t)c->messages, "applied_events", (json_int_t)c->applied_events,
                  "bad_messages", (json_int_t)c->bad_messages, "resyncs", (json_int_t)c->resyncs,
                  "stale_refusals", (json_int_t)c->stale_refusals);
    json_object_set_new(o, "propagation", p);
    cf_reply_json(req, 200, o, NULL, 0);
}
