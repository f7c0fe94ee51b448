/* SPDX-License-Identifier: MIT
 *
 * The cluster layer (see cluster.h): applies what other nodes publish to this
 * node's index, measures how long revocations take to arrive, and keeps the
 * staleness bound. Merging follows the store's rules, so applying a message
 * twice (once through a resync, once from the bus) changes nothing: activity
 * and generations only move forward, and an ended session never comes back.
 */
#include "app/cluster.h"

#include <http_parser.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app/app.h"
#include "core/digest.h"
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

/* Index @fresh (taking it) or merge it into the session already indexed. Returns the indexed one. */
static cf_session_t *adopt_session(cf_app_t *app, cf_session_t *fresh, int *ended)
{
    cf_session_t *s = cf_app_session(app, fresh->id, CF_SID_LEN);

    if (s != NULL) {
        *ended = cf_app_merge_session(app, s, fresh);
        cf_app_session_changed(app, s);
        cf_session_free(fresh);
        return s;
    }
    cf_app_session_apply_policy(app, fresh);
    if ((s = cf_app_index_session(app, fresh)) == NULL) /* takes fresh */
        return NULL;
    *ended = s->end != CF_END_NONE;
    return s;
}

/* Apply one event from another node; returns 1 for an end seen for the first time. */
static int apply_snapshot(cf_app_t *app, const cf_event_t *e)
{
    cf_session_t *s = cf_app_session(app, e->session->id, CF_SID_LEN);
    int ended = 0;

    if (s == NULL && e->type == CF_EV_ACTIVITY)
        return 0; /* a session we never saw: it arrives with its next change or a resync */
    if (s != NULL) {
        ended = cf_app_merge_session(app, s, e->session);
        cf_app_session_changed(app, s);
    } else {
        cf_session_t *copy = cf_session_snapshot(e->session);
        if (copy == NULL || (s = adopt_session(app, copy, &ended)) == NULL)
            return 0;
    }
    if (e->has_token && !cf_app_refresh_known(app, e->token_hash))
        (void)cf_app_index_refresh(app, s, e->token_hash, e->token_gen);
    return ended;
}

/* ---- reading one session from Redis ---- */

typedef struct {
    cf_app_t *app;
    void (*done)(void *arg, int status);
    void *arg;
    char sid[CF_SID_LEN + 1];
} fetch_op_t;

static void on_fetched(void *arg, int status, cf_store_fetched_t *f)
{
    fetch_op_t *op = arg;
    cf_app_t *app = op->app;
    int ended;

    if (status < 0) {
        op->done(op->arg, status);
        free(op);
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
        cf_session_t *s = cf_app_session(app, op->sid, CF_SID_LEN);
        if (s != NULL && !s->dirty)
            cf_app_unindex_session(app, s);
    }
    if (f->global_not_before > 0)
        (void)cf_app_set_not_before(app, NULL, f->global_not_before);
    op->done(op->arg, 0);
    free(op);
}

void cf_app_cluster_fetch(cf_app_t *app, const char *sid, void (*done)(void *arg, int status),
                          void *arg)
{
    fetch_op_t *op = malloc(sizeof *op);

    if (op == NULL) {
        done(arg, CF_ENOMEM);
        return;
    }
    op->app = app;
    op->done = done;
    op->arg = arg;
    memcpy(op->sid, sid, CF_SID_LEN);
    op->sid[CF_SID_LEN] = '\0';
    cf_store_fetch(app->store, op->sid, on_fetched, op);
}

void cf_app_cluster_refused(cf_app_t *app)
{
    app->cluster->stale_refusals++;
}

/* Apply a batch another node committed (or our own revocation's); 1 when it revoked anything. */
static int apply_batch(cf_app_t *app, const cf_events_t *ev)
{
    int revocation = 0;

    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];
        if (e->type == CF_EV_NOT_BEFORE) {
            (void)cf_app_set_not_before(app, e->sub, e->not_before);
            revocation = 1;
        } else if (e->type == CF_EV_ALERT_HOLD && e->sub != NULL) {
            (void)cf_app_alert_hold(app, e->sub, e->until); /* another node's alert fired */
        } else if (e->session != NULL) {
            if (apply_snapshot(app, e) && e->type == CF_EV_SESSION_ENDED)
                revocation = 1;
        } else if (e->apikey != NULL && app->apikeys_ext != NULL) {
            app->apikeys_ext->apply(app, e); /* API keys: their module, through its hook */
            revocation |= e->type == CF_EV_APIKEY_ENDED;
        }
    }
    return revocation;
}

/* Index what Redis said of a session (taking f->session) with its epochs; the indexed one or NULL. */
static cf_session_t *adopt_fetched(cf_app_t *app, cf_store_fetched_t *f)
{
    cf_session_t *s = NULL;
    int ended;

    if (f->session != NULL) {
        s = adopt_session(app, f->session, &ended);
        f->session = NULL;
        if (s != NULL && f->not_before > 0)
            (void)cf_app_set_not_before(app, s->sub, f->not_before);
    }
    if (f->global_not_before > 0)
        (void)cf_app_set_not_before(app, NULL, f->global_not_before);
    return s;
}

/* ---- revocations: on Redis's index, applied here only once Redis said yes ---- */

/*
 * A node's index is a cache: a session created an instant ago on another
 * node may not be in it yet. So a revocation is decided and committed on
 * Redis's own index (cf_store_revoke), which holds every session
 * acknowledged anywhere, and this node applies the outcome exactly as the
 * other nodes do, from the bus message the same script published. Until
 * Redis has answered nothing changes here: a failed commit answers 503 and
 * leaves the node as it was, so the retry commits (and announces) again.
 */
typedef enum { REPLY_SESSION, REPLY_COUNT, REPLY_EMPTY } revoke_reply_t;

typedef struct revoke_op revoke_op_t;
struct revoke_op {
    cf_app_t *app;
    cf_revoke_done_fn done;
    void *done_arg;
    revoke_reply_t reply;
    cf_end_t why;
    cf_revoke_scope_t scope; /* what the revocation covers, for its events */
    char sid[CF_SID_LEN + 1];
    char client_id[128];  /* REPLY_EMPTY (/oauth/revoke): the caller's client, "" if none */
    uint8_t hash[32];     /* a refresh-token hash being looked up */
    void (*learned)(void *arg, int status);
    void *arg;
    json_int_t ended;     /* sessions the commit ended */
};

static revoke_op_t *revoke_op_new(cf_app_t *app, revoke_reply_t reply, cf_end_t why,
                                  cf_revoke_done_fn done, void *arg)
{
    revoke_op_t *op = calloc(1, sizeof *op);

    if (op == NULL) {
        cf_revoke_result_t r = {.status = CF_ENOMEM};
        done(app, arg, &r);
        return NULL;
    }
    op->app = app;
    op->done = done;
    op->done_arg = arg;
    op->reply = reply;
    op->why = why;
    op->scope = why == CF_END_LOGOUT ? CF_REVOKE_LOGOUT : CF_REVOKE_SESSION;
    return op;
}

/* Hand the outcome to the caller (who answers) and free @op. */
static void revoke_finish(revoke_op_t *op, int status, cf_reason_t refused)
{
    cf_app_t *app = op->app;
    cf_revoke_result_t r = {.status = status, .refused = refused, .ended = op->ended};

    if (status == 0 && refused == CF_REASON_NONE && op->reply == REPLY_SESSION) {
        r.session = op->sid[0] ? cf_app_session(app, op->sid, CF_SID_LEN) : NULL;
        if (r.session == NULL)
            r.refused = CF_REASON_SESSION_NOT_FOUND;
    }
    op->done(app, op->done_arg, &r);
    free(op);
}

static void on_revoked(void *arg, int status, size_t found, const char *msg, size_t len)
{
    revoke_op_t *op = arg;
    cf_app_t *app = op->app;
    cf_time_t now = cf_app_now(app);
    cf_wire_msg_t m = {0};
    char err[128];
    json_int_t ended = 0;
    cf_session_t *s;

    if (status < 0) {
        revoke_finish(op, status, CF_REASON_NONE);
        return;
    }
    if (len > 0 && cf_wire_decode(msg, len, &m, err, sizeof err) < 0)
        CF_LOG(CF_LOG_ERROR, "event=cluster_bad_message origin=revoke error=\"%s\"", err);
    (void)apply_batch(app, &m.ev);
    for (size_t i = 0; i < m.ev.n; i++) {
        ended += m.ev.v[i].type == CF_EV_SESSION_ENDED;
        m.ev.v[i].scope = op->scope; /* Redis wrote what this node decided */
    }
    s = op->sid[0] ? cf_app_session(app, op->sid, CF_SID_LEN) : NULL;
    if (s != NULL && found == 0 && s->end == CF_END_NONE) {
        /* Redis no longer has it (expired there, or never acknowledged):
         * there is nothing to write, but this node must not keep serving it. */
        cf_events_t local = CF_EVENTS_INIT;
        ended += cf_app_end_session(app, s, op->why, now, &local);
        /* cf_app_end_session only decides; nothing to store, so apply here. */
        for (size_t i = 0; i < local.n; i++)
            if (local.v[i].session != NULL) {
                cf_app_merge_session(app, s, local.v[i].session);
                cf_app_session_changed(app, s);
            }
        cf_app_sinks(app, &local);
        cf_events_fini(&local);
    }
    /* A revocation by subject or client is one event, as on a single node. */
    if (op->reply == REPLY_COUNT && cf_app_revocation_scope(&m.ev, op->scope, now) < 0)
        CF_LOG(CF_LOG_ERROR, "event=oom what=revocation_event");
    cf_app_sinks(app, &m.ev);
    cf_wire_msg_fini(&m);
    cf_app_alerts_act(app);
    op->ended = ended;
    revoke_finish(op, 0, CF_REASON_NONE);
}

/* End op->sid on Redis (the session is known here or was fetched). */
static void revoke_one(revoke_op_t *op)
{
    const char *sids[] = {op->sid};
    cf_store_revoke_t rv = {.scope = CF_STORE_REVOKE_SESSIONS, .why = op->why,
                            .now = cf_app_now(op->app), .sids = sids, .nsids = 1};

    cf_store_revoke(op->app->store, &rv, on_revoked, op);
}

/* The session to revoke is known now (or is known to be nowhere): check who asks, then commit. */
static void revoke_known(revoke_op_t *op, const cf_session_t *s)
{
    if (s == NULL) {
        revoke_finish(op, 0, CF_REASON_SESSION_NOT_FOUND);
        return;
    }
    /* RFC 7009 §2.1, as on one node (oauth.c's revoke_refused): a confidential
     * client's token only that client, authenticated, may revoke; a token
     * issued to another client than the one named is refused. */
    if (op->reply == REPLY_EMPTY) {
        const cf_client_t *owner = cf_policy_client(&op->app->cfg.policy, cf_session_client_id(s));
        if (op->client_id[0] == '\0' && owner != NULL && owner->type == CF_CLIENT_CONFIDENTIAL) {
            revoke_finish(op, 0, CF_REASON_INVALID_CLIENT);
            return;
        }
        if (op->client_id[0] != '\0' && strcmp(op->client_id, cf_session_client_id(s)) != 0) {
            revoke_finish(op, 0, CF_REASON_CLIENT_MISMATCH);
            return;
        }
    }
    revoke_one(op);
}

/* Redis answered a lookup by session id or by refresh-token hash: revoke what it knew. */
static void on_revoke_fetched(void *arg, int status, cf_store_fetched_t *f)
{
    revoke_op_t *op = arg;
    cf_session_t *s;

    if (status < 0) {
        cf_session_free(f->session);
        revoke_finish(op, status, CF_REASON_NONE);
        return;
    }
    s = adopt_fetched(op->app, f);
    if (s != NULL)
        memcpy(op->sid, s->id, sizeof op->sid);
    revoke_known(op, s);
}

/* Revoke op->sid, fetching it from Redis first when this node has not heard of it. */
static void revoke_sid(revoke_op_t *op)
{
    cf_session_t *s = cf_app_session(op->app, op->sid, CF_SID_LEN);

    if (s != NULL)
        revoke_known(op, s);
    else
        cf_store_fetch(op->app->store, op->sid, on_revoke_fetched, op);
}

void cf_app_cluster_delete(cf_app_t *app, const char *sid, size_t len, cf_revoke_done_fn done,
                           void *arg)
{
    revoke_op_t *op;

    if (len != CF_SID_LEN || memchr(sid, '\0', len) != NULL) {
        cf_revoke_result_t r = {.refused = CF_REASON_SESSION_NOT_FOUND};
        done(app, arg, &r);
        return;
    }
    if ((op = revoke_op_new(app, REPLY_SESSION, CF_END_REVOKED, done, arg)) == NULL)
        return;
    memcpy(op->sid, sid, CF_SID_LEN);
    revoke_sid(op);
}

void cf_app_cluster_revoke_token(cf_app_t *app, const char *client_id, const char *tok, size_t len,
                                 cf_revoke_done_fn done, void *arg)
{
    cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, tok, len);
    revoke_op_t *op = revoke_op_new(app, REPLY_EMPTY, CF_END_LOGOUT, done, arg);
    const char *sid = NULL;

    if (op == NULL)
        return;
    snprintf(op->client_id, sizeof op->client_id, "%s", client_id);
    if (entry != NULL) {
        sid = cf_index_refresh_owner(app->index, entry)->id;
    } else if (cf_refresh_token_wellformed(tok, len)) {
        /* A refresh token this node has not heard of: Redis knows its session. */
        cf_refresh_token_hash(tok, len, op->hash);
        cf_store_fetch_refresh(app->store, op->hash, on_revoke_fetched, op);
        return;
    } else {
        cf_session_t *s;
        int64_t exp, iat;
        cf_reason_t why;
        /* An access token: any token we signed names its session, even an expired one. */
        if (cf_app_verify_access(app, tok, len, cf_app_now(app), &s, &exp, &iat, &why) >= 0 &&
            why != CF_REASON_MALFORMED_TOKEN && why != CF_REASON_BAD_SIGNATURE &&
            why != CF_REASON_UNKNOWN_KEY && why != CF_REASON_WRONG_ISSUER &&
            why != CF_REASON_WRONG_AUDIENCE)
            sid = cf_app_cached_sid(app, tok, len);
    }
    if (sid == NULL) {
        revoke_known(op, NULL);
        return;
    }
    memcpy(op->sid, sid, CF_SID_LEN);
    revoke_sid(op);
}

void cf_app_cluster_revoke(cf_app_t *app, const char *sub, const char *client_id, cf_time_t cutoff,
                           cf_revoke_done_fn done, void *arg)
{
    revoke_op_t *op = revoke_op_new(app, REPLY_COUNT, CF_END_REVOKED, done, arg);
    cf_time_t now = cf_app_now(app);
    cf_store_revoke_t rv = {.why = CF_END_REVOKED, .now = now, .cutoff = cutoff};
    const char **sids = NULL;
    size_t n = 0;
    cf_session_t *s;

    if (op == NULL)
        return;
    op->scope = sub != NULL ? CF_REVOKE_SUBJECT : CF_REVOKE_CLIENT;
    /* This node's own view goes along: sessions indexed before Redis kept
     * per-subject and per-client sets are ended too. */
    if (sub != NULL) {
        cf_subject_t *subj = cf_app_subject(app, sub);
        rv.scope = CF_STORE_REVOKE_SUBJECT;
        rv.target = sub;
        rv.not_before = cutoff > 0 ? cutoff : now;
        sids = malloc(((subj != NULL ? subj->count : 0) + 1) * sizeof *sids);
        for (s = subj != NULL ? subj->head : NULL; sids != NULL && s != NULL;
             s = cf_index_sub_next(app->index, s))
            if (s->end == CF_END_NONE)
                sids[n++] = s->id;
    } else {
        rv.scope = CF_STORE_REVOKE_CLIENT;
        rv.target = client_id;
        cf_group_t *cli = cf_app_client(app, client_id); /* the client's own list */
        sids = malloc(((cli != NULL ? cli->count : 0) + 1) * sizeof *sids);
        for (s = cli != NULL ? cli->head : NULL; sids != NULL && s != NULL;
             s = cf_index_cli_next(app->index, s))
            if (s->end == CF_END_NONE)
                sids[n++] = s->id;
    }
    if (sids == NULL) {
        revoke_finish(op, CF_ENOMEM, CF_REASON_NONE);
        return;
    }
    rv.sids = sids;
    rv.nsids = n;
    cf_store_revoke(app->store, &rv, on_revoked, op);
    free(sids);
}

/* ---- a refresh token this node has not heard of ---- */

static void on_refresh_learned(void *arg, int status, cf_store_fetched_t *f)
{
    revoke_op_t *op = arg;
    cf_app_t *app = op->app;
    uint32_t gen = f->token_gen;
    cf_session_t *s;

    if (status < 0) {
        cf_session_free(f->session);
    } else if ((s = adopt_fetched(app, f)) != NULL && !cf_app_refresh_known(app, op->hash)) {
        (void)cf_app_index_refresh(app, s, op->hash, gen);
    }
    op->learned(op->arg, status);
    free(op);
}

void cf_app_cluster_learn_refresh(cf_app_t *app, const char *tok, size_t len,
                                  void (*done)(void *arg, int status), void *arg)
{
    revoke_op_t *op;

    if (!cf_refresh_token_wellformed(tok, len) || (op = calloc(1, sizeof *op)) == NULL) {
        done(arg, 0); /* nothing Redis could know (or no memory to ask): decide as we are */
        return;
    }
    op->app = app;
    op->learned = done;
    op->arg = arg;
    cf_refresh_token_hash(tok, len, op->hash);
    cf_store_fetch_refresh(app->store, op->hash, on_refresh_learned, op);
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
    /* Another node's: applied (an API key warning sends no webhook here),
     * then seen by the sinks apart: the metrics count it as remote, the audit
     * log and the alert rules leave it to its origin. */
    for (size_t i = 0; i < m.ev.n; i++)
        m.ev.v[i].remote = 1;
    revocation = apply_batch(app, &m.ev);
    cf_app_sinks(app, &m.ev);
    if (revocation)
        record_delay(c, m.ts_us);
    cf_wire_msg_fini(&m);
}

#define RESYNC_FIRST_MS 25 /* the first retry of a failed resync... */
#define RESYNC_MAX_MS 200  /* ...doubling up to this, so a node serves soon after Redis does */

static void on_resync_timer(uv_timer_t *t);

/*
 * Reload the index from Redis. It fails while Redis still loads its
 * append-only file (-LOADING), or when Redis goes again: the node stays stale
 * and tries again with backoff for as long as the subscription is live (a
 * lost subscription resynchronises when it is back anyway). Any error is
 * worth a retry: none of them makes the cache trustworthy.
 */
static void resync(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;
    uint64_t t0 = uv_hrtime();

    if (cf_app_reload(app) < 0) {
        CF_LOG(CF_LOG_WARN, "event=cluster_resync_failed retry_ms=%llu",
               (unsigned long long)c->resync_backoff_ms);
        if (c->heartbeat_started && c->link_up) {
            uv_timer_start(&c->resync_timer, on_resync_timer, c->resync_backoff_ms, 0);
            c->resync_backoff_ms = c->resync_backoff_ms * 2 > RESYNC_MAX_MS
                                       ? RESYNC_MAX_MS
                                       : c->resync_backoff_ms * 2;
        }
        return;
    }
    c->need_resync = 0;
    c->resyncs++;
    c->resync_backoff_ms = RESYNC_FIRST_MS;
    uv_update_time(app->loop); /* the reload may have taken a while: heard now, not before it */
    c->heard_ms = uv_now(app->loop);
    cf_app_keys_changed(app); /* a rotation may have been missed too */
    CF_LOG(CF_LOG_INFO, "event=cluster_resync sessions=%zu ms=%.1f", cf_app_session_count(app),
           (double)(uv_hrtime() - t0) / 1e6);
}

static void on_resync_timer(uv_timer_t *t)
{
    cf_app_t *app = t->data;

    if (app->cluster->link_up && app->cluster->need_resync)
        resync(app);
}

static void on_bus_link(void *ctx, int up)
{
    cf_app_t *app = ctx;
    cf_cluster_t *c = app->cluster;

    c->link_up = up;
    if (!up) {
        c->need_resync = 1;
        c->resync_backoff_ms = RESYNC_FIRST_MS;
        if (c->heartbeat_started)
            uv_timer_stop(&c->resync_timer);
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
        (void)cf_store_publish(app->store, msg); /* a failure shows as silence */
    free(msg);
    if (app->cluster->keyset_refetch)
        cf_app_keys_changed(app); /* a rotation heard while the command link was down */
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
    c->resync_backoff_ms = RESYNC_FIRST_MS;
    cf_histogram_init(&c->propagation, propagation_bounds,
                      sizeof propagation_bounds / sizeof propagation_bounds[0]);
    if (cf_url_parse_redis(url, &u, err, sizeof err) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=store_url error=\"%s\"", err);
        return CF_ECONFIG;
    }
    /* An attempt gets half the staleness bound (within 0.2-1 s) before it is
     * made again; the bus, whose heartbeats come every max_staleness/4, is
     * remade after a whole bound of silence. */
    uint64_t attempt = (uint64_t)app->cfg.max_staleness / 2;
    cf_redis_bus_t bus = {app, on_bus_message, on_bus_link,
                          attempt < 200 ? 200 : attempt > 1000 ? 1000 : attempt,
                          (uint64_t)app->cfg.max_staleness};
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
    uv_timer_init(app->loop, &c->resync_timer);
    c->resync_timer.data = app;
    c->heartbeat_started = 1;
    if (c->link_up && c->need_resync) /* a resync failed before the timers existed */
        uv_timer_start(&c->resync_timer, on_resync_timer, c->resync_backoff_ms, 0);
}

void cf_app_cluster_stop(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;

    if (c != NULL && c->heartbeat_started) {
        uv_close((uv_handle_t *)&c->heartbeat, NULL);
        uv_close((uv_handle_t *)&c->resync_timer, NULL);
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

int cf_app_cluster_ready(cf_app_t *app, char *why, size_t cap)
{
    cf_cluster_t *c = app->cluster;

    why[0] = '\0';
    if (c == NULL)
        return 1;
    if (!cf_app_cluster_stale(app)) {
        /* The bus may come back before the command connection (the store's
         * reconnect tick), or Redis may still be loading its append-only file
         * and refuse the scripts: until then every write would answer 503. */
        if (cf_redis_connected(app->store))
            return 1;
        snprintf(why, cap, "the Redis command connection is not up and set up yet (writes would fail)");
        return 0;
    }
    if (c->need_resync)
        snprintf(why, cap, "resynchronising with Redis after a lost link (redis %s)",
                 c->link_up ? "up" : "down");
    else if (c->heard_ms == 0)
        snprintf(why, cap, "has not heard the cluster bus yet");
    else
        snprintf(why, cap, "has not heard the cluster bus for %llu ms (cluster.max_staleness %lld ms)",
                 (unsigned long long)(uv_now(app->loop) - c->heard_ms),
                 (long long)app->cfg.max_staleness);
    return 0;
}

/*
 * A proof's jti is the client's choice: the claim is named by the hash of
 * the key's thumbprint and the jti's hash, so one client cannot spend
 * another's jti. It lasts as long as any node would accept the proof (iat at
 * most leeway ahead, window old; plus a second for whole-second clocks).
 */
int cf_app_dpop_claim(cf_app_t *app, const char *jkt, const uint8_t jti_hash[16],
                      void (*cb)(void *arg, int status, int won), void *arg)
{
    uint8_t buf[64 + 16], id[CF_SHA256_LEN];
    size_t n = strlen(jkt);

    if (app->cluster == NULL || app->store == NULL)
        return CF_ENOTSUP;
    if (n > 64)
        return CF_EINVAL;
    memcpy(buf, jkt, n);
    memcpy(buf + n, jti_hash, 16);
    cf_sha256(buf, n + 16, id);
    return cf_store_dpop_claim(app->store, id,
                               (uint64_t)(app->cfg.dpop_window + app->cfg.clock_leeway + CF_SEC), cb,
                               arg);
}

void cf_app_cluster_fini(cf_app_t *app)
{
    free(app->cluster);
    app->cluster = NULL;
}

/* ---- what GET /v1/cluster shows ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

json_t *cf_app_cluster_json(cf_app_t *app)
{
    cf_cluster_t *c = app->cluster;
    json_t *o, *p;
    uint64_t applied = 0;

    if (c == NULL)
        return json_pack("{s:s, s:b}", "store", "sqlite", "cluster", 0);
    size_t n = c->nsamples < CF_CLUSTER_SAMPLES ? (size_t)c->nsamples : CF_CLUSTER_SAMPLES;
    uint32_t *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    memcpy(v, c->samples, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_u32);
    p = json_pack("{s:I, s:I}", "count", (json_int_t)c->propagation.count, "window", (json_int_t)n);
    if (n > 0) {
        json_object_set_new(p, "p50_ms", json_real(v[(n - 1) / 2] / 1000.0));
        json_object_set_new(p, "p99_ms", json_real(v[(size_t)((double)(n - 1) * 0.99)] / 1000.0));
        json_object_set_new(p, "max_ms", json_real(v[n - 1] / 1000.0));
    }
    free(v);
    for (int t = 0; t < CF_EV__COUNT; t++) /* counted by the metrics sink */
        applied += app->metrics.remote[t];
    o = json_pack("{s:s, s:b, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "store", "redis",
                  "cluster", 1, "node", c->node, "link_up", c->link_up, "stale",
                  cf_app_cluster_stale(app), "heard_ms_ago",
                  c->heard_ms ? (json_int_t)(uv_now(app->loop) - c->heard_ms) : (json_int_t)-1,
                  "max_staleness_ms", (json_int_t)app->cfg.max_staleness, "messages",
                  (json_int_t)c->messages, "applied_events", (json_int_t)applied,
                  "bad_messages", (json_int_t)c->bad_messages, "resyncs", (json_int_t)c->resyncs,
                  "stale_refusals", (json_int_t)c->stale_refusals);
    if (o != NULL)
        json_object_set_new(o, "propagation", p);
    else
        json_decref(p);
    return o;
}
