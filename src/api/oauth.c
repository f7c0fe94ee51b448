/* SPDX-License-Identifier: MIT
 *
 * The OAuth endpoints: refresh-token grant with rotation and reuse detection
 * (RFC 6749 §6, RFC 9700 §4.14), client credentials (RFC 6749 §4.4),
 * revocation (RFC 7009) and introspection (RFC 7662). Decisions come from
 * core/session.c and core/policy.c; this file parses forms, authenticates the
 * client (clientauth.c), applies the decision to the index and answers once
 * the change is durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "store/store.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/token.h"
#include "util/log.h"
#include "util/random.h"

#define FIELD_CAP 8192

static const cf_http_header_t no_store_headers[] = {{"Cache-Control", 13, "no-store", 8},
                                                    {"Pragma", 6, "no-cache", 8}};

/* One OAuth request while its client is authenticated (possibly off the loop). */
typedef struct {
    cf_client_auth_t ca; /* first: the callback gets this back */
    char grant[64];
    char scope[512];
    int has_scope;
    char *token; /* FIELD_CAP bytes: refresh or access token, or NULL */
    int token_len;
    int token_from_cookie;
    int asked_redis; /* cluster: Redis was asked about a token this node did not know */
    cf_reason_t why;
} oauth_call_t;

/* RFC 6749 §5.2 error; the status, error and no-store headers come from the reason map. */
static void grant_error(cf_http_req_t *req, cf_reason_t why, const char *desc)
{
    cf_reply_refusal(req, CF_ENDPOINT_TOKEN, why, desc, NULL, 0);
}

static int require_form(cf_http_req_t *req)
{
    if (cf_req_content_type_is(req, "application/x-www-form-urlencoded"))
        return 1;
    cf_reply_refusal(req, CF_ENDPOINT_TOKEN, CF_REASON_UNSUPPORTED_MEDIA_TYPE,
                     "the body must be application/x-www-form-urlencoded", NULL, 0);
    return 0;
}

/* Read a form field; replies 400 itself on a broken encoding. Returns length, -1 absent, or -2 replied. */
static int form_field(cf_http_req_t *req, const char *key, char *out, size_t cap)
{
    char desc[128];
    int n = cf_form_get(req->body, req->body_len, key, out, cap);

    if (n >= 0 || n == -1)
        return n;
    snprintf(desc, sizeof desc, "parameter '%s' is %s", key,
             n == CF_ETOOBIG ? "too long" : "badly encoded or repeated");
    grant_error(req, CF_REASON_INVALID_REQUEST, desc);
    return -2;
}

static void call_free(oauth_call_t *c)
{
    if (c == NULL)
        return;
    cf_client_auth_wipe(&c->ca);
    if (c->token != NULL) {
        OPENSSL_cleanse(c->token, FIELD_CAP);
        free(c->token);
    }
    free(c);
}

/* Parse the common parts; replies itself and returns NULL on any problem. */
static oauth_call_t *call_new(cf_app_t *app, cf_http_req_t *req, const char *token_field)
{
    oauth_call_t *c;
    cf_time_t now = cf_app_now(app);

    if (!require_form(req))
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->token = malloc(FIELD_CAP)) == NULL) {
        free(c);
        grant_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return NULL;
    }
    if (cf_client_auth_parse(&c->ca, app, req) < 0)
        goto replied;
    if (cf_req_locked_out(app, req, c->ca.ip, now))
        goto replied;
    c->token_len = form_field(req, token_field, c->token, FIELD_CAP);
    if (c->token_len == -2)
        goto replied;
    if (c->token_len == -1) {
        /* Browser clients in cookie mode send the refresh token as a cookie. */
        size_t len;
        const char *v = cf_req_cookie(req, app->cfg.refresh_cookie, &len);
        if (v != NULL && len > 0 && len < FIELD_CAP) {
            memcpy(c->token, v, len);
            c->token[len] = '\0';
            c->token_len = (int)len;
            c->token_from_cookie = 1;
        }
    }
    if (c->token_from_cookie && !cf_req_csrf_ok(app, req)) {
        grant_error(req, CF_REASON_CSRF_REJECTED, NULL);
        goto replied;
    }
    return c;
replied:
    call_free(c);
    return NULL;
}

/* Cookie-mode clients get their tokens as HttpOnly cookies, never in JSON. */
static int client_uses_cookies(cf_app_t *app, const cf_session_t *s)
{
    const cf_client_t *cl;

    if (s->client_id[0] == '\0')
        return 0;
    cl = cf_policy_client(&app->cfg.policy, s->client_id);
    return cl != NULL && cl->cookie;
}

void cf_app_token_cookies(cf_app_t *app, cf_pending_t *p, const cf_session_t *s, const char *access,
                          int64_t exp, const char *refresh, cf_time_t now)
{
    char buf[1024];
    int64_t access_age = exp - cf_time_to_sec(now);
    int64_t refresh_age = (s->absolute_deadline - now) / CF_SEC;

    snprintf(buf, sizeof buf, "%s=%s; " CF_COOKIE_ATTRS "; Max-Age=%lld",
             app->cfg.refresh_cookie, refresh, (long long)(refresh_age > 0 ? refresh_age : 0));
    p->set_cookie[0] = strdup(buf);
    snprintf(buf, sizeof buf, "%s=%s; " CF_COOKIE_ATTRS "; Max-Age=%lld",
             app->cfg.access_cookie, access, (long long)(access_age > 0 ? access_age : 0));
    p->set_cookie[1] = strdup(buf);
    OPENSSL_cleanse(buf, sizeof buf);
    if (p->body != NULL)
        json_object_del(p->body, "refresh_token");
}

/* ------------------------------------------------------------------ */
/* Refresh                                                             */
/* ------------------------------------------------------------------ */

/* The refresh decision's inputs, gathered from the index and the request. */
static void refresh_input(cf_app_t *app, oauth_call_t *c, const cf_refresh_entry_t *entry,
                          cf_time_t now, cf_refresh_input_t *in)
{
    const cf_session_t *s = entry != NULL ? entry->session : NULL;

    memset(in, 0, sizeof *in);
    in->session = s;
    in->client_id = c->ca.client_id;
    in->client_authenticated = c->ca.authenticated;
    in->risk = CF_RISK_NONE;
    in->now = now;
    in->grace = app->cfg.reuse_grace;
    if (s == NULL)
        return;
    in->gen = entry->gen;
    in->disabled = cf_app_refresh_disabled(app, s->sub, now);
    if (!c->ca.authenticated && s->client_id[0] != '\0') {
        const cf_client_t *owner = cf_policy_client(&app->cfg.policy, s->client_id);
        in->owner_confidential = owner != NULL && owner->type == CF_CLIENT_CONFIDENTIAL;
    }
    in->not_before = cf_app_not_before(app, s->sub);
    in->risk = cf_req_risk(app, c->ca.req, s);
}

/* Commit the end a refusal implies, then answer it (or answer at once when none). */
static void refresh_refuse_ending(cf_app_t *app, oauth_call_t *c, cf_session_t *s,
                                  const cf_refresh_decision_t *d, const char *desc, cf_time_t now)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_pending_t *p = cf_pending_refusal(c->ca.req, CF_ENDPOINT_TOKEN, d->why, desc);

    /* The refusal says the session ended: answer once that is true. */
    cf_app_end_session(app, s, d->end, now, &ev);
    if (p != NULL) {
        cf_app_commit(app, &ev, cf_pending_done, p);
        return;
    }
    cf_app_commit(app, &ev, NULL, NULL);
    grant_error(c->ca.req, d->end == CF_END_REFRESH_REUSE ? CF_REASON_SERVER_ERROR : d->why,
                d->end == CF_END_REFRESH_REUSE ? "out of memory" : NULL);
}

/* A deadline that passed unobserved is recorded, so the store shows why; then refuse. */
static void refresh_denied(cf_app_t *app, oauth_call_t *c, cf_session_t *s,
                           const cf_refresh_decision_t *d, cf_time_t now)
{
    cf_events_t ev = CF_EVENTS_INIT;
    char desc[192];

    cf_app_end_session(app, s, CF_END_NONE, now, &ev);
    if (ev.n > 0)
        cf_app_commit(app, &ev, NULL, NULL);
    else
        cf_events_fini(&ev);
    if (cf_session_end_at(s, now, NULL) == CF_END_NONE)
        snprintf(desc, sizeof desc, "less than 1 s of the session's absolute lifetime is left: %s",
                 cf_reason_describe(d->why));
    else
        snprintf(desc, sizeof desc, "the session has ended: %s", cf_reason_describe(d->why));
    grant_error(c->ca.req, d->why, desc);
}

/*
 * Decide a refresh with cf_refresh_decide() on what the index holds and
 * answer every refusal (committing the end it implies first). Returns the
 * result (ROTATED or GRACE) when tokens are to be issued, -1 when answered.
 */
static int refresh_decide(cf_app_t *app, oauth_call_t *c, cf_refresh_entry_t *entry, cf_time_t now)
{
    cf_http_req_t *req = c->ca.req;
    cf_session_t *s = entry != NULL ? entry->session : NULL;
    cf_refresh_input_t in;
    cf_refresh_decision_t d;

    refresh_input(app, c, entry, now, &in);
    cf_refresh_decide(&in, &d);
    if (d.risk_considered)
        cf_app_risk_log(app, s, in.risk);
    c->why = d.why;
    if (d.result == CF_REFRESH_RESULT_ROTATED || d.result == CF_REFRESH_RESULT_GRACE)
        return (int)d.result;
    cf_app_emit_refresh(app, d.result);
    if (d.note_failure)
        cf_app_note_failure(app, c->ca.ip, now);
    if (d.result == CF_REFRESH_RESULT_UNKNOWN)
        grant_error(req, d.why, "the refresh token is not known");
    else if (d.result == CF_REFRESH_RESULT_CLIENT_MISMATCH)
        grant_error(req, d.why, "the refresh token was issued to another client");
    else if (d.result == CF_REFRESH_RESULT_INVALID_CLIENT)
        cf_reply_invalid_client(req, "this refresh token belongs to a confidential client; authenticate");
    else if (d.result == CF_REFRESH_RESULT_DENIED)
        refresh_denied(app, c, s, &d, now);
    else if (d.end == CF_END_REFRESH_REUSE)
        refresh_refuse_ending(app, c, s, &d, "the refresh token was already used; the session has been ended", now);
    else if (d.end != CF_END_NONE)
        refresh_refuse_ending(app, c, s, &d, NULL, now);
    else
        grant_error(req, d.why, NULL);
    return -1;
}

/* A refresh's answer, counted only once the store has said yes. */
typedef struct {
    cf_pending_t *p;
    cf_app_t *app;
    cf_refresh_result_t result;
} refresh_reply_t;

static void refresh_done(void *arg, int status)
{
    refresh_reply_t *r = arg;

    cf_app_emit_refresh(r->app, status < 0 ? CF_REFRESH_RESULT_ERROR : r->result);
    cf_pending_done(r->p, status);
    free(r);
}

/*
 * Issue the next generation (or a grace sibling) on a copy of @s, sign every
 * token, then commit; the index moves to the new generation only when the
 * store has said yes (commit.c), so a failed commit leaves the presented
 * token current and the client's retry is an ordinary refresh.
 */
static void refresh_issue(cf_app_t *app, oauth_call_t *c, cf_session_t *s, int grace, cf_time_t now)
{
    cf_http_req_t *req = c->ca.req;
    cf_events_t ev = CF_EVENTS_INIT;
    char refresh[CF_REFRESH_TOKEN_LEN + 1];
    char *access = NULL;
    int64_t exp;
    refresh_reply_t *r = NULL;
    cf_session_t *next = cf_session_snapshot(s);
    cf_event_t *e;

    /* Grace: a sibling in the current generation; otherwise the next generation. */
    if (next == NULL)
        goto fail;
    if (!grace)
        cf_session_rotate(next, now);
    cf_session_touch(next, now);
    if (cf_app_issue_access(app, next, now, &access, &exp) < 0)
        goto fail;
    e = cf_events_add(&ev, CF_EV_TOKEN_REFRESHED, now, next);
    r = calloc(1, sizeof *r);
    if (e == NULL || r == NULL)
        goto fail;
    cf_app_issue_refresh(next, next->refresh_gen, refresh, e);
    r->p = cf_pending_new(req, 200, cf_app_token_body(next, access, exp, refresh, now), 1);
    if (r->p != NULL && client_uses_cookies(app, next))
        cf_app_token_cookies(app, r->p, next, access, exp, refresh, now);
    OPENSSL_cleanse(refresh, sizeof refresh);
    if (r->p == NULL)
        goto fail;
    free(access);
    cf_session_free(next);
    r->app = app;
    r->result = grace ? CF_REFRESH_RESULT_GRACE : CF_REFRESH_RESULT_ROTATED;
    cf_app_commit(app, &ev, refresh_done, r);
    return;
fail:
    /* Nothing was committed, so nothing changed: a retry is safe. */
    free(r);
    cf_events_fini(&ev);
    free(access);
    cf_session_free(next);
    grant_error(req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
    cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
}

/*
 * Cluster refresh. The new tokens are prepared on a copy of the session and
 * committed with a guard: Redis applies and announces them only if the
 * session is still live at the generation this node saw, in one step. Of two
 * nodes exchanging one token exactly one passes; the other adopts what Redis
 * says (a newer generation, or an end) and decides again exactly as one node
 * would: grace or reuse, never a second rotation. Nothing changes on this node
 * until Redis has said yes, and a node dying in between leaves no trace.
 */
typedef struct {
    oauth_call_t *c;
    cf_session_t *next; /* the session as the commit leaves it */
    char refresh[CF_REFRESH_TOKEN_LEN + 1];
    uint8_t hash[32];
    int grace;
    int attempts;
    cf_time_t now;
} cluster_refresh_t;

static void cluster_refresh_free(cluster_refresh_t *r)
{
    OPENSSL_cleanse(r->refresh, sizeof r->refresh);
    cf_session_free(r->next);
    free(r);
}

/* The refresh's one event, for the store (before) or the other sinks (after). */
static int refreshed_event(const cluster_refresh_t *r, cf_events_t *ev)
{
    cf_event_t *e = cf_events_add(ev, CF_EV_TOKEN_REFRESHED, r->now, r->next);

    if (e == NULL)
        return CF_ENOMEM;
    e->has_token = 1;
    e->token_gen = r->next->refresh_gen;
    memcpy(e->token_hash, r->hash, 32);
    return 0;
}

static void cluster_refresh(cf_app_t *app, oauth_call_t *c, const cf_session_t *s, int grace,
                            cf_time_t now, int attempts);

/* Redis took this node's tokens: merge what the commit changed, as a bus message would be, and answer. */
static void cluster_claimed(cf_app_t *app, cluster_refresh_t *r, cf_session_t *s)
{
    cf_http_req_t *req = r->c->ca.req;
    const cf_session_t *view = s != NULL ? s : r->next;
    cf_events_t ev = CF_EVENTS_INIT;
    char *access = NULL;
    int64_t exp;
    cf_pending_t *p;

    if (s != NULL) {
        (void)cf_session_merge(s, r->next);
        if (!cf_app_refresh_known(app, r->hash))
            (void)cf_app_index_refresh(app, s, r->hash, r->next->refresh_gen);
        cf_app_session_changed(app, s);
    }
    if (refreshed_event(r, &ev) == 0)
        cf_app_sinks(app, &ev);
    cf_events_fini(&ev);
    cf_app_alerts_act(app);
    if (cf_app_issue_access(app, view, r->now, &access, &exp) < 0 ||
        (p = cf_pending_new(req, 200, cf_app_token_body(view, access, exp, r->refresh, r->now), 1)) == NULL) {
        /* Committed but unanswerable: the client retries, within the grace window. */
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        grant_error(req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
    } else {
        if (client_uses_cookies(app, view))
            cf_app_token_cookies(app, p, view, access, exp, r->refresh, r->now);
        cf_app_emit_refresh(app, r->grace ? CF_REFRESH_RESULT_GRACE : CF_REFRESH_RESULT_ROTATED);
        cf_pending_done(p, 0);
    }
    free(access);
}

/*
 * The guard failed: another node rotated or ended the session, or an epoch
 * covers it. Learn what Redis said and decide again exactly as one node
 * would. Returns 1 when a new attempt now owns the call.
 */
static int cluster_lost(cf_app_t *app, cluster_refresh_t *r, cf_refresh_entry_t *entry,
                        const cf_store_guard_t *g)
{
    cf_session_t *s = entry->session;
    cf_session_t said = {.refresh_gen = g->gen, .refresh_rotated_at = g->rotated_at,
                         .end = g->end, .ended_at = g->ended_at};
    int act;

    if (cf_session_merge(s, &said)) /* the one merge rule: newer generation, first end */
        cf_app_session_changed(app, s);
    /* An epoch this node has not heard of yet failed the guard: learn it. */
    if (g->not_before > 0)
        (void)cf_app_set_not_before(app, s->sub, g->not_before);
    if (g->global_not_before > 0)
        (void)cf_app_set_not_before(app, NULL, g->global_not_before);
    act = refresh_decide(app, r->c, entry, r->now);
    if (act >= 0 && r->attempts < 3) {
        cluster_refresh(app, r->c, s, act == CF_REFRESH_RESULT_GRACE, r->now, r->attempts + 1);
        return 1;
    }
    if (act >= 0) { /* three lost races in a row: let the client retry */
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_reply_store_failure(r->c->ca.req);
    }
    return 0;
}

static void cluster_refreshed(void *arg, int status, const cf_store_guard_t *g)
{
    cluster_refresh_t *r = arg;
    oauth_call_t *c = r->c;
    cf_app_t *app = c->ca.app;
    cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    cf_session_t *s = entry != NULL ? entry->session : NULL;

    if (status < 0) {
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_reply_store_failure(c->ca.req);
    } else if (g->claimed) {
        cluster_claimed(app, r, s);
    } else if (s == NULL || !g->found) {
        /* Gone from Redis: expired and purged there; fail towards expiry. */
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_UNKNOWN);
        grant_error(c->ca.req, CF_REASON_UNKNOWN_REFRESH_TOKEN, "the refresh token is not known");
    } else if (cluster_lost(app, r, entry, g)) {
        cluster_refresh_free(r);
        return; /* the next attempt owns c */
    }
    cluster_refresh_free(r);
    call_free(c);
}

static void cluster_refresh(cf_app_t *app, oauth_call_t *c, const cf_session_t *s, int grace,
                            cf_time_t now, int attempts)
{
    cluster_refresh_t *r = calloc(1, sizeof *r);
    cf_events_t ev = CF_EVENTS_INIT;
    uint32_t expected = s->refresh_gen;

    if (r == NULL || (r->next = cf_session_snapshot(s)) == NULL) {
        free(r);
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        grant_error(c->ca.req, CF_REASON_SERVER_ERROR, "out of memory");
        call_free(c);
        return;
    }
    r->c = c;
    r->now = now;
    r->attempts = attempts;
    /* Grace: a sibling in the current generation; otherwise the next generation. */
    r->grace = grace;
    if (!r->grace)
        cf_session_rotate(r->next, now);
    cf_session_touch(r->next, now);
    cf_app_mint_refresh(r->refresh, r->hash);
    if (refreshed_event(r, &ev) < 0) {
        cf_events_fini(&ev);
        cluster_refreshed(r, CF_ENOMEM, &(cf_store_guard_t){0});
        return;
    }
    cf_store_submit_guarded(app->store, &ev, s->id, expected, cluster_refreshed, r);
}

static int refresh_step(cf_app_t *app, oauth_call_t *c);
static int refresh_grant(cf_app_t *app, oauth_call_t *c);

/* Redis told this node what it had not heard yet: decide again, now knowing. */
static void refresh_relearned(void *arg, int status)
{
    oauth_call_t *c = arg;

    if (status < 0) {
        cf_app_emit_refresh(c->ca.app, CF_REFRESH_RESULT_ERROR);
        cf_reply_store_failure(c->ca.req);
    } else if (refresh_grant(c->ca.app, c)) {
        return; /* the guarded commit owns c */
    }
    call_free(c);
}

/* Returns 1 when @c now belongs to an asynchronous step (Redis lookup or guarded commit). */
static int refresh_grant(cf_app_t *app, oauth_call_t *c)
{
    cf_http_req_t *req = c->ca.req;
    cf_time_t now = cf_app_now(app);
    cf_refresh_entry_t *entry;
    cf_session_t *s;

    if (c->token_len < 0) {
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_INVALID_REQUEST);
        grant_error(req, CF_REASON_INVALID_REQUEST, "refresh_token is required");
        return 0;
    }
    if (c->ca.client != NULL && !(c->ca.client->grants & CF_GRANT_REFRESH_TOKEN)) {
        grant_error(req, CF_REASON_UNAUTHORIZED_CLIENT, "this client may not use grant_type=refresh_token");
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_INVALID_REQUEST);
        return 0;
    }
    entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    if (app->cluster != NULL && !c->asked_redis &&
        (entry == NULL || entry->gen > entry->session->refresh_gen)) {
        /* A rotation made on another node an instant ago may not have reached
         * this one: Redis knows, so ask it before calling the token unknown
         * (or a generation from the future reuse). */
        c->asked_redis = 1;
        cf_app_cluster_learn_refresh(app, c->token, (size_t)c->token_len, refresh_relearned, c);
        return 1;
    }
    s = entry != NULL ? entry->session : NULL;
    {
        cf_rate_who_t who = {c->ca.ip, s ? s->sub : "", c->ca.client_id, s ? s->id : "", ""};
        if (cf_req_rate_limit(app, req, CF_RATE_REFRESH, &who, now, 0)) {
            cf_app_emit_refresh(app, CF_REFRESH_RESULT_RATE_LIMITED);
            return 0;
        }
    }
    if (entry == NULL) { /* decided (unknown) without waiting for anything */
        (void)refresh_decide(app, c, NULL, now);
        return 0;
    }
    return refresh_step(app, c);
}

static void refresh_resume(cf_app_t *app, void *arg)
{
    oauth_call_t *c = arg;

    if (app->stopping) { /* the store is closing: commit nothing more */
        cf_reply_store_failure(c->ca.req);
        call_free(c);
        return;
    }
    if (!refresh_step(app, c))
        call_free(c);
}

/*
 * Decide and issue, on the state the store acknowledged. On one node a
 * refresh waits for the changes of its session still in flight (another
 * refresh, a revocation): exactly one of two racing refreshes rotates, and
 * the other is decided on the result. Returns 1 when @c now belongs to an
 * asynchronous step.
 */
static int refresh_step(cf_app_t *app, oauth_call_t *c)
{
    cf_http_req_t *req = c->ca.req;
    cf_time_t now = cf_app_now(app);
    cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    cf_session_t *s = entry != NULL ? entry->session : NULL;
    int act;

    if (entry == NULL) { /* purged while it waited */
        grant_error(req, CF_REASON_UNKNOWN_REFRESH_TOKEN, NULL);
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_UNKNOWN);
        return 0;
    }
    if (app->cluster == NULL && cf_app_session_busy(s)) {
        if (cf_app_session_wait(app, s, refresh_resume, c) == 0)
            return 1;
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        grant_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return 0;
    }
    act = refresh_decide(app, c, entry, now);
    if (act < 0)
        return 0;
    if (app->cluster != NULL) {
        /* Another node may be exchanging the same token right now: let Redis pick one. */
        cluster_refresh(app, c, s, act == CF_REFRESH_RESULT_GRACE, now, 0);
        return 1;
    }
    refresh_issue(app, c, s, act == CF_REFRESH_RESULT_GRACE, now);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Client credentials                                                  */
/* ------------------------------------------------------------------ */

/* 1 when every scope in @asked is in @allowed (both space-separated). */
static int scope_subset(const char *asked, const char *allowed)
{
    const char *p = asked;

    while (*p) {
        size_t n = strcspn(p, " ");
        const char *a = allowed;
        int found = 0;
        while (n > 0 && *a && !found) {
            size_t m = strcspn(a, " ");
            found = m == n && memcmp(a, p, n) == 0;
            a += m + (a[m] == ' ');
        }
        if (n > 0 && !found)
            return 0;
        p += n + (p[n] == ' ');
    }
    return 1;
}

/*
 * A machine client gets a short-lived access token and no refresh token
 * (RFC 6749 §4.4.3). The token still names a session, whose absolute
 * deadline is the token's expiry: that is what makes it revocable like any
 * other, without giving machines an idle session that outlives the token.
 */
static void client_credentials_grant(cf_app_t *app, oauth_call_t *c)
{
    cf_http_req_t *req = c->ca.req;
    const cf_client_t *cl = c->ca.client;
    cf_time_t now = cf_app_now(app);
    cf_limits_t global = {app->cfg.idle_timeout, app->cfg.absolute_timeout, app->cfg.access_ttl};
    cf_effective_t eff;
    cf_events_t ev = CF_EVENTS_INIT;
    char sid[CF_SID_LEN + 1];
    const char *scope;
    cf_session_t *s;
    char *access = NULL;
    int64_t exp;
    cf_pending_t *p;
    json_t *body;

    if (cl == NULL || !c->ca.authenticated) {
        cf_reply_invalid_client(req, "client_credentials needs an authenticated confidential client");
        return;
    }
    if (!(cl->grants & CF_GRANT_CLIENT_CREDENTIALS)) {
        grant_error(req, CF_REASON_UNAUTHORIZED_CLIENT, "this client may not use grant_type=client_credentials");
        return;
    }
    {
        cf_rate_who_t who = {c->ca.ip, cl->id, cl->id, "", ""};
        if (cf_req_rate_limit(app, req, CF_RATE_CLIENT_CREDENTIALS, &who, now, 0))
            return;
    }
    scope = c->has_scope ? c->scope : (cl->scope != NULL ? cl->scope : "");
    if (!scope_subset(scope, cl->scope != NULL ? cl->scope : "")) {
        grant_error(req, CF_REASON_INVALID_SCOPE, "the requested scope exceeds what this client may get");
        return;
    }
    cf_policy_resolve(&app->cfg.policy, &global, app->cfg.access_max_ttl, cl, "", NULL, &eff);
    eff.limits.absolute_timeout = eff.limits.access_ttl;
    eff.limits.idle_timeout = eff.limits.access_ttl;
    cf_app_new_sid(app, sid);
    /* Indexed only once the store has it (commit.c): a failure leaves nothing. */
    s = cf_session_new(sid, cl->id, cl->id, scope, "", 0, &eff.limits, now);
    if (s == NULL) {
        grant_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return;
    }
    s->refresh_gen = 1; /* no refresh token was ever issued for it */
    if (cf_app_issue_access(app, s, now, &access, &exp) < 0 ||
        cf_events_add(&ev, CF_EV_SESSION_CREATED, now, s) == NULL) {
        cf_session_free(s);
        cf_events_fini(&ev);
        free(access);
        grant_error(req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
        return;
    }
    cf_session_free(s);
    body = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access, "token_type", "Bearer",
                     "expires_in", (json_int_t)(exp - cf_time_to_sec(now)), "scope", scope);
    free(access);
    p = cf_pending_new(req, 200, body, 1);
    if (p == NULL) {
        cf_events_fini(&ev);
        grant_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}

static void token_after_auth(cf_client_auth_t *ca, int ok)
{
    oauth_call_t *c = (oauth_call_t *)ca;

    if (ok) {
        if (strcmp(c->grant, "refresh_token") == 0) {
            if (refresh_grant(ca->app, c))
                return; /* cluster_refreshed frees it */
        } else {
            client_credentials_grant(ca->app, c);
        }
    }
    call_free(c);
}

void cf_api_token(cf_app_t *app, cf_http_req_t *req)
{
    oauth_call_t *c = call_new(app, req, "refresh_token");
    int n;

    if (c == NULL)
        return;
    n = form_field(req, "grant_type", c->grant, sizeof c->grant);
    if (n == -2)
        goto replied;
    if (n < 0) {
        grant_error(req, CF_REASON_INVALID_REQUEST, "grant_type is required");
        goto replied;
    }
    if (strcmp(c->grant, "refresh_token") != 0 && strcmp(c->grant, "client_credentials") != 0) {
        grant_error(req, CF_REASON_UNSUPPORTED_GRANT_TYPE, "grant_type must be refresh_token or client_credentials");
        goto replied;
    }
    if (strcmp(c->grant, "client_credentials") == 0 && app->cfg.policy.nclients == 0) {
        grant_error(req, CF_REASON_UNSUPPORTED_GRANT_TYPE, "client_credentials needs configured confidential clients");
        goto replied;
    }
    n = form_field(req, "scope", c->scope, sizeof c->scope);
    if (n == -2)
        goto replied;
    c->has_scope = n >= 0;
    c->ca.done = token_after_auth;
    cf_client_auth_start(&c->ca); /* continues in token_after_auth, maybe later */
    return;
replied:
    call_free(c);
}

/* ------------------------------------------------------------------ */
/* Revocation                                                          */
/* ------------------------------------------------------------------ */

/*
 * RFC 7009: the answer is 200 whether or not the token was valid, so that a
 * revocation endpoint cannot be used to probe for live tokens. Revoking
 * either kind of token ends the whole session: a logout.
 */
/*
 * RFC 7009 §2.1: the server validates the client's credentials (for a
 * confidential client) and then that the token was issued to that client;
 * if either fails the request is refused, not answered 200. Anyone holding
 * a token of a public client (or of a session without one) may still end
 * it, as a logout; a confidential client's token only its authenticated
 * client may. Replies and returns 1 when refused.
 */
static int revoke_refused(cf_client_auth_t *ca, const cf_session_t *s)
{
    const cf_client_t *owner = cf_policy_client(&ca->app->cfg.policy, s->client_id);

    if (ca->client_id[0] == '\0') {
        if (owner == NULL || owner->type != CF_CLIENT_CONFIDENTIAL)
            return 0;
        cf_reply_invalid_client(ca->req, "the token belongs to a confidential client: "
                                         "authenticate as that client (RFC 7009 §2.1)");
        return 1;
    }
    if (strcmp(ca->client_id, s->client_id) == 0)
        return 0;
    grant_error(ca->req, CF_REASON_CLIENT_MISMATCH, NULL);
    return 1;
}

static void revoke_after_auth(cf_client_auth_t *ca, int ok)
{
    oauth_call_t *c = (oauth_call_t *)ca;
    cf_app_t *app = ca->app;
    cf_http_req_t *req = ca->req;
    cf_time_t now = cf_app_now(app);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = NULL;
    cf_refresh_entry_t *entry;

    if (!ok)
        goto done;
    if (c->token_len < 0) {
        grant_error(req, CF_REASON_INVALID_REQUEST, "token is required");
        goto done;
    }
    if (app->cluster != NULL) { /* the session may be one this node has not heard of */
        cf_app_cluster_revoke_token(app, ca->client_id, c->token, (size_t)c->token_len,
                                    cf_api_revoked_token, req);
        goto done;
    }
    entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    if (entry != NULL) {
        s = entry->session;
    } else {
        int64_t exp, iat;
        cf_reason_t why;
        /* An access token: any token we signed names its session, even an expired one. */
        if (cf_app_verify_access(app, c->token, (size_t)c->token_len, now, &s, &exp, &iat, &why) < 0)
            s = NULL;
        else if (why == CF_REASON_MALFORMED_TOKEN || why == CF_REASON_BAD_SIGNATURE ||
                 why == CF_REASON_UNKNOWN_KEY || why == CF_REASON_WRONG_ISSUER ||
                 why == CF_REASON_WRONG_AUDIENCE)
            s = NULL;
    }
    if (s != NULL && revoke_refused(ca, s))
        goto done;
    if (s != NULL)
        cf_app_end_session(app, s, CF_END_LOGOUT, now, &ev);
    if (ev.n > 0) {
        cf_pending_t *p = cf_pending_new(req, 200, NULL, 1);
        if (p != NULL) {
            cf_app_commit(app, &ev, cf_pending_done, p);
        } else {
            cf_app_commit(app, &ev, NULL, NULL);
            grant_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        }
    } else {
        cf_events_fini(&ev);
        cf_reply_json(req, 200, NULL, no_store_headers, 2);
    }
done:
    call_free(c);
}

void cf_api_revoke(cf_app_t *app, cf_http_req_t *req)
{
    oauth_call_t *c = call_new(app, req, "token");

    if (c == NULL)
        return;
    c->ca.done = revoke_after_auth;
    cf_client_auth_start(&c->ca);
}

/* ------------------------------------------------------------------ */
/* Introspection                                                       */
/* ------------------------------------------------------------------ */

static json_t *inactive(cf_reason_t why)
{
    return json_pack("{s:b, s:s}", "active", 0, "reason", cf_reason_name(why));
}

static json_t *active_body(const cf_session_t *s, const char *type, int64_t exp, int64_t iat)
{
    json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "active", 1, "sub", s->sub,
                          "sid", s->id, "client_id", s->client_id, "scope", s->scope,
                          "token_type", type, "idle_expires_at",
                          (json_int_t)cf_time_to_sec(s->idle_deadline), "absolute_expires_at",
                          (json_int_t)cf_time_to_sec(s->absolute_deadline));

    if (o != NULL) {
        json_object_set_new(o, "exp", json_integer(exp));
        json_object_set_new(o, "iat", json_integer(iat));
        if (s->roles[0])
            json_object_set_new(o, "roles", json_string(s->roles));
    }
    return o;
}

static void introspect_after_auth(cf_client_auth_t *ca, int ok)
{
    oauth_call_t *c = (oauth_call_t *)ca;
    cf_app_t *app = ca->app;
    cf_http_req_t *req = ca->req;
    cf_time_t now = cf_app_now(app);
    const char *tok = c->token;
    size_t n;
    json_t *body;
    cf_refresh_entry_t *entry;

    if (!ok)
        goto done;
    if (!c->ca.authenticated && !c->ca.admin) {
        cf_reply_invalid_client(req, "introspection needs the admin key or an authenticated confidential client");
        goto done;
    }
    if (c->token_len < 0) {
        grant_error(req, CF_REASON_INVALID_REQUEST, "token is required");
        goto done;
    }
    n = (size_t)c->token_len;
    entry = cf_app_refresh_lookup(app, tok, n);
    if (entry != NULL) {
        cf_reason_t why;
        cf_session_t *s = entry->session;
        cf_refresh_action_t act =
            cf_session_refresh_decide(s, entry->gen, now, app->cfg.reuse_grace,
                                      cf_app_not_before(app, s->sub), &why);
        if (act == CF_REFRESH_ROTATE || act == CF_REFRESH_GRACE)
            body = active_body(s, "refresh_token", cf_time_to_sec(s->absolute_deadline),
                               cf_time_to_sec(s->created_at));
        else
            body = inactive(why);
    } else {
        cf_session_t *s = NULL;
        int64_t exp = 0, iat = 0;
        cf_reason_t why;
        int rc = cf_app_verify_access(app, tok, n, now, &s, &exp, &iat, &why);
        if (rc < 0)
            body = NULL;
        else if (why != CF_REASON_NONE)
            body = inactive(why == CF_REASON_MALFORMED_TOKEN && cf_refresh_token_wellformed(tok, n)
                                ? CF_REASON_UNKNOWN_REFRESH_TOKEN
                                : why);
        else
            body = active_body(s, "access_token", exp, iat);
    }
    if (body == NULL)
        grant_error(req, CF_REASON_SERVER_ERROR, "cannot introspect");
    else
        cf_reply_json(req, 200, body, no_store_headers, 2);
done:
    call_free(c);
}

void cf_api_introspect(cf_app_t *app, cf_http_req_t *req)
{
    size_t len;
    const char *auth = cf_http_req_header(req, "Authorization", &len);
    int bearer = auth != NULL && len >= 7 && strncasecmp(auth, "Bearer ", 7) == 0;
    oauth_call_t *c;

    /* Resource servers ask with the admin key, or as a confidential client. */
    if ((bearer || app->cfg.policy.nclients == 0) && !cf_req_require_admin(app, req))
        return;
    c = call_new(app, req, "token");
    if (c == NULL)
        return;
    c->ca.admin = bearer;
    c->ca.done = introspect_after_auth;
    if (bearer)
        introspect_after_auth(&c->ca, 1);
    else
        cf_client_auth_start(&c->ca);
}
