/* SPDX-License-Identifier: MIT
 *
 * Session operations of the shell: the in-memory index over core/index.c,
 * the end of a session as a decided event, tokens issued and verified
 * (through the verification cache) and the JSON views of a session. Nothing
 * here commits: callers hand the events it decides to cf_app_commit().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "app/app.h"
#include "core/b64url.h"
#include "core/error.h"
#include "core/token.h"
#include "util/log.h"
#include "util/random.h"

/* ------------------------------------------------------------------ */
/* The index: sessions, refresh tokens, not-before epochs              */
/* ------------------------------------------------------------------ */

cf_session_t *cf_app_session(cf_app_t *app, const char *sid, size_t len)
{
    return cf_index_get(app->index, sid, len);
}

void cf_app_new_sid(cf_app_t *app, char sid[CF_SID_LEN + 1])
{
    do
        cf_random_b64url(CF_SID_RAW_LEN, sid);
    while (sid[0] == '-' || cf_app_session(app, sid, CF_SID_LEN) != NULL);
}

cf_session_t *cf_app_index_session(cf_app_t *app, cf_session_t *s)
{
    cf_session_t *r = cf_index_add(app->index, s, app->index_now ? app->index_now : cf_app_now(app));

    cf_session_free(s);
    return r;
}

cf_subject_t *cf_app_subject(cf_app_t *app, const char *sub)
{
    return cf_index_subject(app->index, sub);
}

cf_group_t *cf_app_client(cf_app_t *app, const char *client_id)
{
    return cf_index_client(app->index, client_id);
}

int cf_app_index_refresh(cf_app_t *app, cf_session_t *s, const uint8_t hash[32], uint32_t gen)
{
    int rc = cf_index_add_refresh(app->index, s, hash, gen);

    return rc == CF_EEXIST ? 0 : rc; /* already known: nothing to add */
}

void cf_app_unindex_session(cf_app_t *app, cf_session_t *s)
{
    cf_index_remove(app->index, s);
}

int cf_app_refresh_known(cf_app_t *app, const uint8_t hash[32])
{
    return cf_index_refresh(app->index, hash) != NULL;
}

size_t cf_app_session_count(cf_app_t *app)
{
    return cf_index_count(app->index);
}

void cf_app_session_changed(cf_app_t *app, cf_session_t *s)
{
    cf_index_sync(app->index, s, cf_app_now(app));
}

cf_refresh_entry_t *cf_app_refresh_lookup(cf_app_t *app, const char *tok, size_t len)
{
    uint8_t h[32];

    if (!cf_refresh_token_wellformed(tok, len))
        return NULL;
    cf_refresh_token_hash(tok, len, h);
    return cf_index_refresh(app->index, h);
}

int cf_app_set_not_before(cf_app_t *app, const char *sub, cf_time_t at)
{
    if (sub == NULL) {
        if (at > app->global_not_before)
            app->global_not_before = at;
        return 0;
    }
    return cf_index_set_not_before(app->index, sub, at);
}

cf_time_t cf_app_not_before(cf_app_t *app, const char *sub)
{
    cf_time_t at = cf_index_not_before(app->index, sub);

    return at > app->global_not_before ? at : app->global_not_before;
}

/* ------------------------------------------------------------------ */
/* Session operations                                                  */
/* ------------------------------------------------------------------ */

int cf_app_end_session(cf_app_t *app, cf_session_t *s, cf_end_t why, cf_time_t now,
                       cf_events_t *ev)
{
    cf_event_t *e;

    /* In a cluster, deadlines are data every node evaluates: idle time is
     * shared through batched activity, so a node must not declare a session
     * idle on what may only be its own view of it. */
    if (why == CF_END_NONE && app->cluster != NULL)
        return 0;
    /* Nor on a wall clock that has just jumped forward: if NTP steps it back
     * a moment later, the session must still be there (api/clock.c). */
    if (why == CF_END_NONE && cf_app_clock_unconfirmed(app))
        return 0;
    if (s->end != CF_END_NONE ||
        (why == CF_END_NONE && cf_session_end_at(s, now, NULL) == CF_END_NONE))
        return 0;
    /* Decided on the event's copy: @s itself changes when the store has said yes. */
    e = cf_events_add(ev, CF_EV_SESSION_ENDED, now, s);
    if (e == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=end_session");
        abort(); /* never answer for an end that was not even decided */
    }
    cf_session_end(e->session, why, now);
    e->reason = cf_end_refusal(e->session->end);
    /* One session's revocation, until a bulk revocation says otherwise. */
    e->scope = why == CF_END_LOGOUT    ? CF_REVOKE_LOGOUT
               : why == CF_END_REVOKED ? CF_REVOKE_SESSION
                                       : CF_REVOKE_NONE;
    return 1;
}

int cf_app_revocation_scope(cf_events_t *ev, cf_revoke_scope_t scope, cf_time_t now)
{
    cf_event_t *e;

    for (size_t i = 0; i < ev->n; i++)
        if (ev->v[i].type == CF_EV_SESSION_ENDED || ev->v[i].type == CF_EV_NOT_BEFORE)
            ev->v[i].scope = scope;
    e = cf_events_add(ev, CF_EV_REVOCATION, now, NULL);
    if (e == NULL)
        return CF_ENOMEM;
    e->scope = scope;
    return 0;
}

/*
 * Put @s on the list of sessions with unpersisted activity: an array beside
 * the index rather than a link in every record (8 bytes a session). Out of
 * memory, the activity is simply not persisted by the next flush (as after a
 * crash: the persisted idle deadline can only be earlier); the next touch
 * tries again. 0 or CF_ENOMEM.
 */
static int dirty_push(cf_app_t *app, cf_session_t *s)
{
    if (app->ndirty == app->dirty_cap) {
        size_t cap = app->dirty_cap ? app->dirty_cap * 2 : 1024;
        cf_session_t **v = realloc(app->dirty, cap * sizeof *v);
        if (v == NULL)
            return CF_ENOMEM;
        app->dirty = v;
        app->dirty_cap = cap;
    }
    app->dirty[app->ndirty++] = s;
    return 0;
}

cf_time_t cf_app_touch(cf_app_t *app, cf_session_t *s, cf_time_t now)
{
    cf_time_t gap = 0;

    /* Measurement only (tuning.measure): the deadline below moves either way. */
    if (app->cfg.measure) {
        gap = now - cf_session_last_activity(s);
        if (gap >= app->cfg.activity_gap && app->cfg.activity_gap > 0) {
            cf_event_t e = {.type = CF_EV_ACTIVITY_GAP, .at = now, .session = s, .span = gap};
            cf_app_emit(app, &e);
        }
    }
    cf_index_touch(app->index, s, now);
    cf_app_mark_active(app, s);
    return gap > 0 ? gap : 0;
}

void cf_app_mark_active(cf_app_t *app, cf_session_t *s)
{
    if (!s->dirty && dirty_push(app, s) == 0)
        s->dirty = 1;
}

void cf_app_mint_refresh(char out[CF_REFRESH_TOKEN_LEN + 1], uint8_t hash[32])
{
    uint8_t raw[CF_REFRESH_RAW_LEN];

    cf_random_bytes(raw, sizeof raw);
    cf_refresh_token_encode(raw, out);
    OPENSSL_cleanse(raw, sizeof raw);
    cf_refresh_token_hash(out, CF_REFRESH_TOKEN_LEN, hash);
}

void cf_app_issue_refresh(const cf_session_t *s, uint32_t gen, char out[CF_REFRESH_TOKEN_LEN + 1],
                          cf_event_t *e)
{
    cf_app_mint_refresh(out, e->token_hash);
    e->has_token = 1;
    e->token_gen = gen;
    memcpy(e->sid, s->id, sizeof e->sid);
}

/* Verify @tok's signature, issuer and audience into the cache; NULL with *why when refused. */
static const cf_tokcache_entry_t *verify_into_cache(cf_app_t *app, const char *tok, size_t len,
                                                    cf_time_t now, cf_access_token_t *t, int *rc)
{
    cf_token_expect_t expect = {app->cfg.issuer, app->cfg.audience, app->cfg.clock_leeway};
    cf_access_claims_t claims;
    json_t *payload = NULL;
    cf_reason_t why;
    /* Every key not yet retired verifies; the token's kid picks one, and
     * a kid that is unknown or retired is refused as unknown_key. */
    size_t nkeys;
    const cf_jws_key_t *const *keys = cf_keyset_verify_keys(app->keys, &nkeys);

    *rc = cf_jws_verify_typ(tok, len, keys, nkeys, "at+jwt", &payload, &t->refused); /* RFC 9068 §4 */
    if (*rc < 0 || t->refused != CF_REASON_NONE)
        return NULL;
    *rc = cf_token_check_claims(payload, &expect, now, &claims, &why);
    json_decref(payload);
    if (*rc < 0)
        return NULL;
    /* Time is judged on every use (core/access.c), so only other refusals stick. */
    if (why != CF_REASON_NONE && why != CF_REASON_TOKEN_EXPIRED && why != CF_REASON_TOKEN_NOT_YET_VALID) {
        t->refused = why;
        return NULL;
    }
    t->exp = claims.exp;
    t->iat = claims.iat;
    t->nbf = claims.nbf;
    if (strlen(claims.sid) != CF_SID_LEN)
        return NULL; /* signed by us but naming no session of ours: nothing to find */
    /* Cache the signature verdict; time-dependent checks are redone on every use. */
    *rc = cf_tokcache_put(&app->token_cache, tok, len, claims.sid, claims.exp, claims.iat, claims.nbf,
                          &claims.cnf);
    return *rc < 0 ? NULL : cf_tokcache_get(&app->token_cache, tok, len);
}

int cf_app_access_input(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                        cf_access_input_t *in, cf_session_t **sp)
{
    const cf_tokcache_entry_t *c = cf_tokcache_get(&app->token_cache, tok, len);
    cf_session_t *s = NULL;
    int rc = 0;

    memset(in, 0, sizeof *in);
    in->now = now;
    in->leeway = app->cfg.clock_leeway;
    /* After a backward clock step, tokens issued before it carry an iat "in
     * the future" by up to the step: excuse that, for as long as they live. */
    in->slack = cf_app_clock_slack(app);
    in->risk = CF_RISK_NONE;
    in->global_not_before = app->global_not_before;
    in->subject_not_before = app->global_not_before;
    if (c == NULL)
        c = verify_into_cache(app, tok, len, now, &in->token, &rc);
    if (c != NULL) {
        in->token = (cf_access_token_t){CF_REASON_NONE, c->exp, c->iat, c->nbf};
        s = cf_app_session(app, c->sid, CF_SID_LEN);
        /* Borrowed from the cache entry: valid until the next put, i.e. for this request. */
        if (c->cnf.kind == CF_CNF_JKT)
            in->bound_jkt = c->cnf.v;
        else if (c->cnf.kind == CF_CNF_X5T)
            in->bound_x5t = c->cnf.v;
    }
    /* A session bound to a key binds every token it names, even one issued before. */
    if (s != NULL && in->bound_jkt == NULL && in->bound_x5t == NULL) {
        in->bound_jkt = cf_session_bound(s, CF_CNF_JKT);
        in->bound_x5t = cf_session_bound(s, CF_CNF_X5T);
    }
    if (s != NULL)
        in->subject_not_before = cf_app_not_before(app, s->sub);
    in->session = s;
    *sp = s;
    return rc;
}

int cf_app_verify_access(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                         cf_session_t **sp, int64_t *exp, int64_t *iat, cf_reason_t *why)
{
    cf_access_input_t in;
    cf_access_decision_t d;
    int rc = cf_app_access_input(app, tok, len, now, &in, sp);

    if (rc < 0)
        return rc;
    /* Is the token live? Who may use it is the resource request's question. */
    in.bound_jkt = in.bound_x5t = NULL;
    cf_access_decide(&in, &d);
    *exp = in.token.exp;
    *iat = in.token.iat;
    *why = d.why;
    return 0;
}

const char *cf_app_cached_sid(cf_app_t *app, const char *tok, size_t len)
{
    const cf_tokcache_entry_t *c = cf_tokcache_get(&app->token_cache, tok, len);

    return c != NULL ? c->sid : NULL;
}

/* ------------------------------------------------------------------ */
/* JSON views                                                          */
/* ------------------------------------------------------------------ */

static json_t *roles_array(const char *roles)
{
    json_t *a = json_array();
    const char *p = roles;

    while (a != NULL && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (e != NULL);
    }
    return a;
}

json_t *cf_app_session_json(cf_app_t *app, const cf_session_t *s, cf_time_t now)
{
    cf_time_t ended_at;
    cf_end_t end = cf_session_end_at(s, now, &ended_at);
    json_t *o = json_object();

    (void)app;
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "session_id", json_string(s->id));
    json_object_set_new(o, "sub", json_string(s->sub));
    json_object_set_new(o, "client_id", json_string(cf_session_client_id(s)));
    json_object_set_new(o, "roles", roles_array(cf_session_roles(s)));
    json_object_set_new(o, "scope", json_string(cf_session_scope(s)));
    json_object_set_new(o, "auth_time", json_integer(cf_time_to_sec(cf_session_auth_time(s))));
    json_object_set_new(o, "created_at", json_integer(cf_time_to_sec(s->created_at)));
    json_object_set_new(o, "last_activity",
                        json_integer(cf_time_to_sec(cf_session_last_activity(s))));
    json_object_set_new(o, "idle_expires_at",
                        json_integer(cf_time_to_sec(cf_session_idle_deadline(s))));
    json_object_set_new(o, "absolute_expires_at",
                        json_integer(cf_time_to_sec(cf_session_absolute_deadline(s))));
    json_object_set_new(o, "idle_timeout",
                        json_integer(cf_session_limits(s)->idle_timeout / CF_SEC));
    json_object_set_new(o, "absolute_timeout",
                        json_integer(cf_session_limits(s)->absolute_timeout / CF_SEC));
    json_object_set_new(o, "state", json_string(end == CF_END_NONE ? "active" : "ended"));
    json_object_set_new(o, "end_reason", end == CF_END_NONE ? json_null() : json_string(cf_end_name(end)));
    json_object_set_new(o, "ended_at", end == CF_END_NONE ? json_null() : json_integer(cf_time_to_sec(ended_at)));
    return o;
}

