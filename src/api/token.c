/* SPDX-License-Identifier: MIT
 *
 * The token endpoint, POST /oauth/token: the refresh-token grant with
 * rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14) and client
 * credentials (RFC 6749 §4.4). Decisions come from core/refresh.c and
 * core/policy.c; the commit and its application to the index are the app's
 * (app/commit.c); this file gathers inputs and answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/dpop.h"
#include "api/mtls.h"
#include "api/oauth.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/token.h"
#include "util/log.h"

/* ------------------------------------------------------------------ */
/* Refresh                                                             */
/* ------------------------------------------------------------------ */

/* Bind @s (a copy, not the index's) to the DPoP key @jkt. 0 or CF_ENOMEM. */
static int bind_key(cf_session_t *s, const char *jkt)
{
    cf_cnf_t cnf;

    if (cf_cnf_set(&cnf, CF_CNF_JKT, jkt, strlen(jkt)) < 0)
        return CF_EINVAL;
    return cf_session_set_cnf(s, &cnf);
}

/* Bind @s to the client certificate @req presented (none: nothing to do). 0 or CF_ENOMEM. */
static int bind_cert(cf_app_t *app, cf_http_req_t *req, cf_session_t *s, char x5t[44])
{
    const char *v = cf_api_client_cert(app, req, x5t);
    cf_cnf_t cnf;

    if (v == NULL)
        return 0;
    if (cf_cnf_set(&cnf, CF_CNF_X5T, v, strlen(v)) < 0)
        return CF_EINVAL;
    return cf_session_set_cnf(s, &cnf);
}

/* The refresh decision's inputs, gathered from the index and the request. */
static void refresh_input(cf_app_t *app, oauth_call_t *c, const cf_refresh_entry_t *entry,
                          cf_time_t now, cf_refresh_input_t *in)
{
    const cf_session_t *s = entry != NULL ? cf_index_refresh_owner(app->index, entry) : NULL;

    memset(in, 0, sizeof *in);
    in->session = s;
    in->client_id = c->ca.client_id;
    in->client_authenticated = c->ca.authenticated;
    in->risk = CF_RISK_NONE;
    in->now = now;
    in->grace = app->cfg.reuse_grace;
    in->proof_refused = c->dpop.present ? c->dpop.refused : CF_REASON_NONE;
    in->proof_jkt = c->dpop.present && c->dpop.refused == CF_REASON_NONE ? c->dpop.jkt : NULL;
    in->cert_x5t = cf_api_client_cert(app, c->ca.req, c->cert_x5t);
    if (s == NULL)
        return;
    in->gen = entry->gen;
    in->disabled = cf_app_refresh_disabled(app, s->sub, now);
    if (!c->ca.authenticated && cf_session_client_id(s)[0] != '\0') {
        const cf_client_t *owner = cf_policy_client(&app->cfg.policy, cf_session_client_id(s));
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
    cf_oauth_error(c->ca.req, d->end == CF_END_REFRESH_REUSE ? CF_REASON_SERVER_ERROR : d->why,
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
    cf_oauth_error(c->ca.req, d->why, desc);
}

/*
 * Decide a refresh with cf_refresh_decide() on what the index holds and
 * answer every refusal (committing the end it implies first). Returns the
 * result (ROTATED or GRACE) when tokens are to be issued, -1 when answered.
 */
static int refresh_decide(cf_app_t *app, oauth_call_t *c, cf_refresh_entry_t *entry, cf_time_t now)
{
    cf_http_req_t *req = c->ca.req;
    cf_session_t *s = entry != NULL ? cf_index_refresh_owner(app->index, entry) : NULL;
    cf_refresh_input_t in;
    cf_refresh_decision_t d;

    refresh_input(app, c, entry, now, &in);
    cf_refresh_decide(&in, &d);
    if (d.risk_considered)
        cf_app_risk_log(app, s, in.risk);
    c->why = d.why;
    c->bind_jkt = d.bind_jkt;
    if (d.result == CF_REFRESH_RESULT_ROTATED || d.result == CF_REFRESH_RESULT_GRACE)
        return (int)d.result;
    cf_app_emit_refresh(app, d.result);
    if (d.note_failure)
        cf_app_note_failure(app, c->ca.ip, now);
    if (d.result == CF_REFRESH_RESULT_UNKNOWN)
        cf_oauth_error(req, d.why, "the refresh token is not known");
    else if (d.result == CF_REFRESH_RESULT_CLIENT_MISMATCH)
        cf_oauth_error(req, d.why, "the refresh token was issued to another client");
    else if (d.result == CF_REFRESH_RESULT_INVALID_CLIENT)
        cf_reply_invalid_client(req, "this refresh token belongs to a confidential client; authenticate");
    else if (d.result == CF_REFRESH_RESULT_DENIED)
        refresh_denied(app, c, s, &d, now);
    else if (d.result == CF_REFRESH_RESULT_SENDER)
        cf_api_dpop_refuse(app, req, CF_ENDPOINT_TOKEN, d.why,
                           d.why == CF_REASON_DPOP_REQUIRED
                               ? "this refresh token is bound to a DPoP key: send a DPoP proof signed by it"
                           : d.why == CF_REASON_DPOP_KEY_MISMATCH
                               ? "this refresh token is bound to another DPoP key"
                           : d.why == CF_REASON_CERT_MISMATCH ? NULL
                                                             : c->dpop.why);
    else if (d.end == CF_END_REFRESH_REUSE)
        refresh_refuse_ending(app, c, s, &d, "the refresh token was already used; the session has been ended", now);
    else if (d.end != CF_END_NONE)
        refresh_refuse_ending(app, c, s, &d, NULL, now);
    else
        cf_oauth_error(req, d.why, NULL);
    return -1;
}

/*
 * A refresh's answer. The rotation's commit and its access token's signature
 * (on the signer thread, app/sign.c: it does not depend on the commit) run at once; the
 * answer waits for both, and is counted only once the store has said yes.
 */
typedef struct {
    cf_app_t *app;
    cf_http_req_t *req;
    cf_session_t *next; /* the session as the rotation leaves it: the answer's fields */
    char refresh[CF_REFRESH_TOKEN_LEN + 1];
    char *access;
    int64_t exp;
    cf_time_t now;
    int waiting; /* the commit and the signature */
    int committed, signed_ok;
    cf_refresh_result_t result;
} refresh_reply_t;

static void refresh_reply_free(refresh_reply_t *r)
{
    OPENSSL_cleanse(r->refresh, sizeof r->refresh);
    if (r->access != NULL) {
        OPENSSL_cleanse(r->access, strlen(r->access));
        free(r->access);
    }
    cf_session_free(r->next);
    free(r);
}

/* The answer with the tokens, or NULL when out of memory. */
static cf_pending_t *refresh_pending(refresh_reply_t *r)
{
    int cookies = cf_oauth_uses_cookies(r->app, r->next);
    cf_pending_t *p = cf_pending_new(r->req, 200, NULL, 1);

    if (p == NULL)
        return NULL;
    /* Cookie-mode clients get the refresh token as a cookie only. */
    if (cf_app_token_body_text(r->next, r->access, r->exp, cookies ? NULL : r->refresh, r->now,
                               &p->text, &p->text_len) < 0) {
        free(p); /* nothing in it yet */
        return NULL;
    }
    if (cookies)
        cf_app_token_cookies(r->app, p, r->next, r->access, r->exp, r->refresh, r->now);
    return p;
}

static void refresh_answer(refresh_reply_t *r)
{
    cf_pending_t *p;

    if (--r->waiting > 0)
        return;
    if (!r->committed) {
        cf_app_emit_refresh(r->app, CF_REFRESH_RESULT_ERROR);
        cf_reply_store_failure(r->req);
    } else if (!r->signed_ok) {
        /* Durable but unanswerable (out of memory twice): a retry within the grace window works. */
        cf_app_emit_refresh(r->app, CF_REFRESH_RESULT_ERROR);
        cf_oauth_error(r->req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
    } else if ((p = refresh_pending(r)) != NULL) {
        cf_app_emit_refresh(r->app, r->result);
        cf_pending_done(p, 0);
    } else {
        cf_app_emit_refresh(r->app, CF_REFRESH_RESULT_ERROR);
        cf_oauth_error(r->req, CF_REASON_SERVER_ERROR, "out of memory");
    }
    refresh_reply_free(r);
}

static void refresh_done(void *arg, int status)
{
    refresh_reply_t *r = arg;

    r->committed = status >= 0;
    refresh_answer(r);
}

static void refresh_signed(void *arg, int rc, char *access, int64_t exp)
{
    refresh_reply_t *r = arg;

    r->signed_ok = rc == 0;
    r->access = access;
    r->exp = exp;
    refresh_answer(r);
}

/*
 * Issue the next generation (or a grace sibling) on a copy of @s, then
 * commit it while its access token is signed; the index moves to the new
 * generation only when the store has said yes (commit.c), so a failed
 * commit leaves the presented token current and the client's retry is an
 * ordinary refresh. Whatever can refuse the claims does so before the
 * commit, so such a refusal commits nothing.
 */
static void refresh_issue(cf_app_t *app, oauth_call_t *c, cf_session_t *s, int grace, cf_time_t now)
{
    cf_http_req_t *req = c->ca.req;
    cf_events_t ev = CF_EVENTS_INIT;
    refresh_reply_t *r = calloc(1, sizeof *r);
    cf_event_t *e;
    cf_time_t gap;

    /* Grace: a sibling in the current generation; otherwise the next generation. */
    if (r == NULL || (r->next = cf_session_snapshot(s)) == NULL)
        goto fail;
    if (!grace)
        cf_session_rotate(r->next, now);
    if (c->bind_jkt && bind_key(r->next, c->dpop.jkt) < 0) /* bound from now on, durably with the rotation */
        goto fail;
    gap = now - cf_session_last_activity(
                    r->next); /* the silence this refresh ends (idle-gap histogram) */
    cf_session_touch(r->next, now);
    e = cf_events_add(&ev, CF_EV_TOKEN_REFRESHED, now, r->next);
    if (e == NULL)
        goto fail;
    e->gap = gap;
    r->app = app;
    r->req = req;
    r->now = now;
    r->result = grace ? CF_REFRESH_RESULT_GRACE : CF_REFRESH_RESULT_ROTATED;
    r->waiting = 2;
    if (cf_app_issue_access_async(app, r->next, now, refresh_signed, r) < 0)
        goto fail;
    cf_app_issue_refresh(r->next, r->next->refresh_gen, r->refresh, e);
    cf_app_commit(app, &ev, refresh_done, r);
    return;
fail:
    /* Nothing was committed, so nothing changed: a retry is safe. */
    cf_events_fini(&ev);
    if (r != NULL)
        refresh_reply_free(r);
    cf_oauth_error(req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
    cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
}

/*
 * Cluster refresh. The new tokens are prepared on a copy of the session and
 * committed with a guard (cf_app_commit_guarded): Redis applies and announces
 * them only if the session is still live at the generation this node saw, in
 * one step. Of two nodes exchanging one token exactly one passes; the other
 * has learnt what Redis says (a newer generation, or an end) and decides
 * again exactly as one node would: grace or reuse, never a second rotation.
 * Nothing changes on this node until Redis has said yes, and a node dying in
 * between leaves no trace.
 */
typedef struct {
    oauth_call_t *c;
    cf_session_t *next; /* the session as the commit leaves it */
    char refresh[CF_REFRESH_TOKEN_LEN + 1];
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

static void cluster_refresh(cf_app_t *app, oauth_call_t *c, const cf_session_t *s, int grace,
                            cf_time_t now, int attempts);

/* Redis took this node's tokens and the app applied them: answer. */
static void cluster_claimed(cf_app_t *app, cluster_refresh_t *r, const cf_session_t *s)
{
    cf_http_req_t *req = r->c->ca.req;
    const cf_session_t *view = s != NULL ? s : r->next;
    char *access = NULL;
    int64_t exp;
    cf_pending_t *p;

    if (cf_app_issue_access(app, view, r->now, &access, &exp) < 0 ||
        (p = cf_pending_new(req, 200, cf_app_token_body(view, access, exp, r->refresh, r->now), 1)) == NULL) {
        /* Committed but unanswerable: the client retries, within the grace window. */
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
    } else {
        if (cf_oauth_uses_cookies(app, view))
            cf_app_token_cookies(app, p, view, access, exp, r->refresh, r->now);
        cf_app_emit_refresh(app, r->grace ? CF_REFRESH_RESULT_GRACE : CF_REFRESH_RESULT_ROTATED);
        cf_pending_done(p, 0);
    }
    free(access);
}

/*
 * The guard failed: another node rotated or ended the session, or an epoch
 * covers it; the app has merged what Redis said. Decide again exactly as one
 * node would. Returns 1 when a new attempt now owns the call.
 */
static int cluster_lost(cf_app_t *app, cluster_refresh_t *r, cf_refresh_entry_t *entry)
{
    int act = refresh_decide(app, r->c, entry, r->now);

    if (act >= 0 && r->attempts < 3) {
        cluster_refresh(app, r->c, cf_index_refresh_owner(app->index, entry),
                        act == CF_REFRESH_RESULT_GRACE, r->now, r->attempts + 1);
        return 1;
    }
    if (act >= 0) { /* three lost races in a row: let the client retry */
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_reply_store_failure(r->c->ca.req);
    }
    return 0;
}

static void cluster_refreshed(void *arg, int status, const cf_guarded_t *g)
{
    cluster_refresh_t *r = arg;
    oauth_call_t *c = r->c;
    cf_app_t *app = c->ca.app;
    cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    cf_session_t *s = entry != NULL ? cf_index_refresh_owner(app->index, entry) : NULL;

    if (status < 0) {
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_reply_store_failure(c->ca.req);
    } else if (g->claimed) {
        cluster_claimed(app, r, s);
    } else if (s == NULL || !g->found) {
        /* Gone from Redis: expired and purged there; fail towards expiry. */
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_UNKNOWN);
        cf_oauth_error(c->ca.req, CF_REASON_UNKNOWN_REFRESH_TOKEN, "the refresh token is not known");
    } else if (cluster_lost(app, r, entry)) {
        cluster_refresh_free(r);
        return; /* the next attempt owns c */
    }
    cluster_refresh_free(r);
    cf_oauth_call_free(c);
}

static void cluster_refresh(cf_app_t *app, oauth_call_t *c, const cf_session_t *s, int grace,
                            cf_time_t now, int attempts)
{
    cluster_refresh_t *r = calloc(1, sizeof *r);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_event_t *e;
    cf_time_t gap;

    if (r == NULL || (r->next = cf_session_snapshot(s)) == NULL) {
        free(r);
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_oauth_error(c->ca.req, CF_REASON_SERVER_ERROR, "out of memory");
        cf_oauth_call_free(c);
        return;
    }
    r->c = c;
    r->now = now;
    r->attempts = attempts;
    /* Grace: a sibling in the current generation; otherwise the next generation. */
    r->grace = grace;
    if (!r->grace)
        cf_session_rotate(r->next, now);
    if (c->bind_jkt && bind_key(r->next, c->dpop.jkt) < 0) {
        cf_events_fini(&ev);
        cluster_refreshed(r, CF_ENOMEM, NULL);
        return;
    }
    gap = now - cf_session_last_activity(r->next);
    cf_session_touch(r->next, now);
    e = cf_events_add(&ev, CF_EV_TOKEN_REFRESHED, now, r->next);
    if (e == NULL) {
        cf_events_fini(&ev);
        cluster_refreshed(r, CF_ENOMEM, NULL);
        return;
    }
    e->gap = gap;
    cf_app_mint_refresh(r->refresh, e->token_hash); /* the event names its session already */
    e->has_token = 1;
    e->token_gen = r->next->refresh_gen;
    cf_app_commit_guarded(app, &ev, s->id, s->refresh_gen, cluster_refreshed, r);
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
    cf_oauth_call_free(c);
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
        cf_oauth_error(req, CF_REASON_INVALID_REQUEST, "refresh_token is required");
        return 0;
    }
    if (c->ca.client != NULL && !(c->ca.client->grants & CF_GRANT_REFRESH_TOKEN)) {
        cf_oauth_error(req, CF_REASON_UNAUTHORIZED_CLIENT, "this client may not use grant_type=refresh_token");
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_INVALID_REQUEST);
        return 0;
    }
    entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    if (app->cluster != NULL && !c->asked_redis &&
        (entry == NULL || entry->gen > cf_index_refresh_owner(app->index, entry)->refresh_gen)) {
        /* A rotation made on another node an instant ago may not have reached
         * this one: Redis knows, so ask it before calling the token unknown
         * (or a generation from the future reuse). */
        c->asked_redis = 1;
        cf_app_cluster_learn_refresh(app, c->token, (size_t)c->token_len, refresh_relearned, c);
        return 1;
    }
    s = entry != NULL ? cf_index_refresh_owner(app->index, entry) : NULL;
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
        cf_oauth_call_free(c);
        return;
    }
    if (!refresh_step(app, c))
        cf_oauth_call_free(c);
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
    cf_session_t *s = entry != NULL ? cf_index_refresh_owner(app->index, entry) : NULL;
    int act;

    if (entry == NULL) { /* purged while it waited */
        cf_oauth_error(req, CF_REASON_UNKNOWN_REFRESH_TOKEN, NULL);
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_UNKNOWN);
        return 0;
    }
    if (app->cluster == NULL && cf_app_session_busy(s)) {
        if (cf_app_session_wait(app, s, refresh_resume, c) == 0)
            return 1;
        cf_app_emit_refresh(app, CF_REFRESH_RESULT_ERROR);
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "out of memory");
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
    if (c->dpop.present && c->dpop.refused != CF_REASON_NONE) {
        cf_api_dpop_refuse(app, req, CF_ENDPOINT_TOKEN, c->dpop.refused, c->dpop.why);
        return;
    }
    if (!(cl->grants & CF_GRANT_CLIENT_CREDENTIALS)) {
        cf_oauth_error(req, CF_REASON_UNAUTHORIZED_CLIENT, "this client may not use grant_type=client_credentials");
        return;
    }
    {
        cf_rate_who_t who = {c->ca.ip, cl->id, cl->id, "", ""};
        if (cf_req_rate_limit(app, req, CF_RATE_CLIENT_CREDENTIALS, &who, now, 0))
            return;
    }
    scope = c->has_scope ? c->scope : (cl->scope != NULL ? cl->scope : "");
    if (!scope_subset(scope, cl->scope != NULL ? cl->scope : "")) {
        cf_oauth_error(req, CF_REASON_INVALID_SCOPE, "the requested scope exceeds what this client may get");
        return;
    }
    cf_policy_resolve(&app->cfg.policy, &global, app->cfg.access_max_ttl, cl, "", NULL, &eff);
    eff.limits.absolute_timeout = eff.limits.access_ttl;
    eff.limits.idle_timeout = eff.limits.access_ttl;
    cf_app_new_sid(app, sid);
    /* Indexed only once the store has it (commit.c): a failure leaves nothing. */
    s = cf_session_new(sid, cl->id, cl->id, scope, "", 0, &eff.limits, now);
    if (s == NULL) {
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return;
    }
    s->refresh_gen = 1; /* no refresh token was ever issued for it */
    /* Verified above: its tokens need the DPoP key, or else the TLS client certificate (RFC 8705 §3). */
    if (c->dpop.present ? bind_key(s, c->dpop.jkt) < 0 : bind_cert(app, req, s, c->cert_x5t) < 0) {
        cf_session_free(s);
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return;
    }
    if (cf_app_issue_access(app, s, now, &access, &exp) < 0 ||
        cf_events_add(&ev, CF_EV_SESSION_CREATED, now, s) == NULL) {
        cf_session_free(s);
        cf_events_fini(&ev);
        free(access);
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "cannot issue tokens");
        return;
    }
    body = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access, "token_type",
                     cf_session_bound(s, CF_CNF_JKT) ? "DPoP" : "Bearer",
                     "expires_in", (json_int_t)(exp - cf_time_to_sec(now)), "scope", scope);
    cf_session_free(s);
    free(access);
    p = cf_pending_new(req, 200, body, 1);
    if (p == NULL) {
        cf_events_fini(&ev);
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "out of memory");
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
    cf_oauth_call_free(c);
}

/* The token request's proof is settled (cf_api_dpop_claim): authenticate its client. */
static void token_proof_spent(void *arg)
{
    oauth_call_t *c = arg;

    if (c->dpop.refused == CF_REASON_STORE_UNAVAILABLE) { /* Redis did not answer: as a stale node */
        cf_api_cluster_refuse(c->ca.app, c->ca.req);
        cf_oauth_call_free(c);
        return;
    }
    c->ca.done = token_after_auth;
    cf_client_auth_start(&c->ca); /* continues in token_after_auth, maybe later */
}

void cf_api_token(cf_app_t *app, cf_http_req_t *req)
{
    oauth_call_t *c = cf_oauth_call_new(app, req, "refresh_token");
    int n;

    if (c == NULL)
        return;
    n = cf_oauth_field(req, "grant_type", c->grant, sizeof c->grant);
    if (n == -2)
        goto replied;
    if (n < 0) {
        cf_oauth_error(req, CF_REASON_INVALID_REQUEST, "grant_type is required");
        goto replied;
    }
    if (strcmp(c->grant, "refresh_token") != 0 && strcmp(c->grant, "client_credentials") != 0) {
        cf_oauth_error(req, CF_REASON_UNSUPPORTED_GRANT_TYPE, "grant_type must be refresh_token or client_credentials");
        goto replied;
    }
    if (strcmp(c->grant, "client_credentials") == 0 && app->cfg.policy.nclients == 0) {
        cf_oauth_error(req, CF_REASON_UNSUPPORTED_GRANT_TYPE, "client_credentials needs configured confidential clients");
        goto replied;
    }
    n = cf_oauth_field(req, "scope", c->scope, sizeof c->scope);
    if (n == -2)
        goto replied;
    c->has_scope = n >= 0;
    {
        /* Verified once, here: the jti is spent even if the grant is decided twice (cluster). */
        char url[CF_DPOP_MAX_URL];
        size_t ulen = cf_api_dpop_url(req, req->path, req->path_len, url, sizeof url);
        cf_api_dpop_verify(app, req, req->method_name, strlen(req->method_name), url, ulen, NULL, 0,
                           &c->dpop);
    }
    /* A cluster spends the proof in Redis too: a proof used on one node is refused on all. */
    if (!cf_api_dpop_claim(app, &c->dpop, token_proof_spent, c))
        token_proof_spent(c);
    return;
replied:
    cf_oauth_call_free(c);
}
