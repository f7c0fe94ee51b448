/* SPDX-License-Identifier: MIT
 *
 * The OAuth endpoints: refresh-token grant with rotation and reuse detection
 * (RFC 6749 §6, RFC 9700 §4.14), revocation (RFC 7009) and introspection
 * (RFC 7662). Decisions come from core/session.c; this file parses forms,
 * applies the decision to the index and answers once the change is durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/error.h"
#include "core/token.h"

#define FIELD_CAP 8192

static const cf_http_header_t no_store_headers[] = {{"Cache-Control", 13, "no-store", 8},
                                                    {"Pragma", 6, "no-cache", 8}};

static void grant_error(cf_http_req_t *req, int status, const char *error, const char *desc,
                        cf_reason_t why)
{
    cf_reply_error(req, status, error, desc, why, no_store_headers, 2);
}

static int require_form(cf_http_req_t *req)
{
    if (cf_req_content_type_is(req, "application/x-www-form-urlencoded"))
        return 1;
    cf_reply_error(req, 415, "invalid_request", "the body must be application/x-www-form-urlencoded",
                   CF_REASON_NONE, NULL, 0);
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
    grant_error(req, 400, "invalid_request", desc, CF_REASON_NONE);
    return -2;
}

static void refresh_grant(cf_app_t *app, cf_http_req_t *req, const char *tok, size_t len,
                          const char *client_id)
{
    cf_time_t now = cf_app_now(app);
    cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, tok, len);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s;
    cf_reason_t why;
    cf_event_t *e;
    char refresh[CF_REFRESH_TOKEN_LEN + 1], desc[192];
    char *access = NULL;
    int64_t exp;
    cf_pending_t *p;

    if (entry == NULL) {
        grant_error(req, 400, "invalid_grant", "the refresh token is not known",
                    CF_REASON_UNKNOWN_REFRESH_TOKEN);
        return;
    }
    s = entry->session;
    if (client_id != NULL && strcmp(client_id, s->client_id) != 0) {
        grant_error(req, 400, "invalid_grant", "the refresh token was issued to another client",
                    CF_REASON_CLIENT_MISMATCH);
        return;
    }
    switch (cf_session_refresh_decide(s, entry->gen, now, app->cfg.reuse_grace, &why)) {
    case CF_REFRESH_DENY:
        /* Record a deadline that passed unobserved, so the store shows why. */
        cf_app_end_session(app, s, CF_END_NONE, now, &ev);
        if (ev.n > 0)
            cf_app_commit(app, &ev, NULL, NULL);
        snprintf(desc, sizeof desc, "the session has ended: %s", cf_reason_describe(why));
        grant_error(req, 400, "invalid_grant", desc, why);
        return;
    case CF_REFRESH_REUSE:
        /* Theft: two parties hold this session's refresh tokens. End it for both,
         * durably, before saying so. */
        cf_app_end_session(app, s, CF_END_REFRESH_REUSE, now, &ev);
        p = cf_pending_new(req, 400,
                           json_pack("{s:s, s:s, s:s}", "error", "invalid_grant",
                                     "error_description",
                                     "the refresh token was already used; the session has been ended",
                                     "reason", cf_reason_name(CF_REASON_REFRESH_REUSE)),
                           1);
        if (p == NULL) {
            cf_app_commit(app, &ev, NULL, NULL);
            grant_error(req, 500, "server_error", "out of memory", CF_REASON_NONE);
            return;
        }
        cf_app_commit(app, &ev, cf_pending_done, p);
        return;
    case CF_REFRESH_ROTATE:
        cf_session_rotate(s, now);
        break;
    case CF_REFRESH_GRACE:
        break; /* a sibling in the current generation */
    }
    cf_app_touch(app, s, now);
    e = cf_events_add(&ev, CF_EV_TOKEN_REFRESHED, now, s);
    if (e == NULL || cf_app_issue_refresh(app, s, s->refresh_gen, refresh, e) < 0 ||
        cf_app_issue_access(app, s, now, &access, &exp) < 0) {
        cf_events_fini(&ev);
        grant_error(req, 500, "server_error", "cannot issue tokens", CF_REASON_NONE);
        return;
    }
    p = cf_pending_new(req, 200, cf_app_token_body(s, access, exp, refresh, now), 1);
    OPENSSL_cleanse(refresh, sizeof refresh);
    free(access);
    if (p == NULL) {
        cf_events_fini(&ev);
        grant_error(req, 500, "server_error", "out of memory", CF_REASON_NONE);
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}

void cf_api_token(cf_app_t *app, cf_http_req_t *req)
{
    char grant[64], client_id[256];
    char *tok = NULL;
    int n, cn;

    if (!require_form(req))
        return;
    n = form_field(req, "grant_type", grant, sizeof grant);
    if (n == -2)
        return;
    if (n < 0) {
        grant_error(req, 400, "invalid_request", "grant_type is required", CF_REASON_NONE);
        return;
    }
    if (strcmp(grant, "refresh_token") != 0) {
        grant_error(req, 400, "unsupported_grant_type",
                    "only grant_type=refresh_token is supported", CF_REASON_NONE);
        return;
    }
    cn = form_field(req, "client_id", client_id, sizeof client_id);
    if (cn == -2)
        return;
    tok = malloc(FIELD_CAP);
    if (tok == NULL) {
        grant_error(req, 500, "server_error", "out of memory", CF_REASON_NONE);
        return;
    }
    n = form_field(req, "refresh_token", tok, FIELD_CAP);
    if (n == -1)
        grant_error(req, 400, "invalid_request", "refresh_token is required", CF_REASON_NONE);
    else if (n >= 0)
        refresh_grant(app, req, tok, (size_t)n, cn >= 0 ? client_id : NULL);
    OPENSSL_cleanse(tok, FIELD_CAP);
    free(tok);
}

/*
 * RFC 7009: the answer is 200 whether or not the token was valid, so that a
 * revocation endpoint cannot be used to probe for live tokens. Revoking
 * either kind of token ends the whole session: a logout.
 */
void cf_api_revoke(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s = NULL;
    char *tok;
    int n;

    if (!require_form(req))
        return;
    tok = malloc(FIELD_CAP);
    if (tok == NULL) {
        cf_reply_error(req, 500, "server_error", "out of memory", CF_REASON_NONE, NULL, 0);
        return;
    }
    n = form_field(req, "token", tok, FIELD_CAP);
    if (n == -1) {
        cf_reply_error(req, 400, "invalid_request", "token is required", CF_REASON_NONE, NULL, 0);
    } else if (n >= 0) {
        cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, tok, (size_t)n);
        if (entry != NULL) {
            s = entry->session;
        } else {
            int64_t exp, iat;
            cf_reason_t why;
            /* An access token: any token we signed names its session, even an expired one. */
            if (cf_app_verify_access(app, tok, (size_t)n, now, &s, &exp, &iat, &why) < 0)
                s = NULL;
            if (why == CF_REASON_MALFORMED_TOKEN || why == CF_REASON_BAD_SIGNATURE ||
                why == CF_REASON_UNKNOWN_KEY || why == CF_REASON_WRONG_ISSUER ||
                why == CF_REASON_WRONG_AUDIENCE)
                s = NULL;
        }
        if (s != NULL)
            cf_app_end_session(app, s, CF_END_LOGOUT, now, &ev);
        if (ev.n > 0) {
            cf_pending_t *p = cf_pending_new(req, 200, NULL, 1);
            if (p != NULL)
                cf_app_commit(app, &ev, cf_pending_done, p);
            else {
                cf_app_commit(app, &ev, NULL, NULL);
                cf_reply_error(req, 500, "server_error", "out of memory", CF_REASON_NONE, NULL, 0);
            }
        } else {
            cf_events_fini(&ev);
            cf_reply_json(req, 200, NULL, no_store_headers, 2);
        }
    }
    OPENSSL_cleanse(tok, FIELD_CAP);
    free(tok);
}

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

void cf_api_introspect(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    char *tok;
    int n;

    if (!cf_app_require_admin(app, req) || !require_form(req))
        return;
    tok = malloc(FIELD_CAP);
    if (tok == NULL) {
        cf_reply_error(req, 500, "server_error", "out of memory", CF_REASON_NONE, NULL, 0);
        return;
    }
    n = form_field(req, "token", tok, FIELD_CAP);
    if (n == -1) {
        cf_reply_error(req, 400, "invalid_request", "token is required", CF_REASON_NONE, NULL, 0);
    } else if (n >= 0) {
        cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, tok, (size_t)n);
        json_t *body;
        if (entry != NULL) {
            cf_reason_t why;
            cf_session_t *s = entry->session;
            cf_refresh_action_t act =
                cf_session_refresh_decide(s, entry->gen, now, app->cfg.reuse_grace, &why);
            if (act == CF_REFRESH_ROTATE || act == CF_REFRESH_GRACE)
                body = active_body(s, "refresh_token", cf_time_to_sec(s->absolute_deadline),
                                   cf_time_to_sec(s->created_at));
            else
                body = inactive(why);
        } else {
            cf_session_t *s = NULL;
            int64_t exp = 0, iat = 0;
            cf_reason_t why;
            int rc = cf_app_verify_access(app, tok, (size_t)n, now, &s, &exp, &iat, &why);
            if (rc < 0)
                body = NULL;
            else if (why != CF_REASON_NONE)
                body = inactive(why == CF_REASON_MALFORMED_TOKEN && cf_refresh_token_wellformed(tok, (size_t)n)
                                    ? CF_REASON_UNKNOWN_REFRESH_TOKEN
                                    : why);
            else
                body = active_body(s, "access_token", exp, iat);
        }
        if (body == NULL)
            cf_reply_error(req, 500, "server_error", "cannot introspect", CF_REASON_NONE, NULL, 0);
        else
            cf_reply_json(req, 200, body, no_store_headers, 2);
    }
    OPENSSL_cleanse(tok, FIELD_CAP);
    free(tok);
}
