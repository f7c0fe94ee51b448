/* SPDX-License-Identifier: MIT
 *
 * The OAuth endpoints' shared parts (forms, the call while its client is
 * authenticated, token cookies), revocation (RFC 7009) and introspection
 * (RFC 7662). The token endpoint (refresh and client-credentials grants) is
 * token.c. Decisions come from src/core; this file parses forms,
 * authenticates the client (clientauth.c) and answers once the change is
 * durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/oauth.h"
#include "core/error.h"
#include "core/policy.h"
#include "core/token.h"
#include "util/log.h"
#include "util/random.h"


/* RFC 6749 §5.2 error; the status, error and no-store headers come from the reason map. */
void cf_oauth_error(cf_http_req_t *req, cf_reason_t why, const char *desc)
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
int cf_oauth_field(cf_http_req_t *req, const char *key, char *out, size_t cap)
{
    char desc[128];
    int n = cf_form_get(req->body, req->body_len, key, out, cap);

    if (n >= 0 || n == -1)
        return n;
    snprintf(desc, sizeof desc, "parameter '%s' is %s", key,
             n == CF_ETOOBIG ? "too long" : "badly encoded or repeated");
    cf_oauth_error(req, CF_REASON_INVALID_REQUEST, desc);
    return -2;
}

void cf_oauth_call_free(oauth_call_t *c)
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
oauth_call_t *cf_oauth_call_new(cf_app_t *app, cf_http_req_t *req, const char *token_field)
{
    oauth_call_t *c;
    cf_time_t now = cf_app_now(app);

    if (!require_form(req))
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->token = malloc(FIELD_CAP)) == NULL) {
        free(c);
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        return NULL;
    }
    if (cf_client_auth_parse(&c->ca, app, req) < 0)
        goto replied;
    if (cf_req_locked_out(app, req, c->ca.ip, now))
        goto replied;
    c->token_len = cf_oauth_field(req, token_field, c->token, FIELD_CAP);
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
        cf_oauth_error(req, CF_REASON_CSRF_REJECTED, NULL);
        goto replied;
    }
    return c;
replied:
    cf_oauth_call_free(c);
    return NULL;
}

/* Cookie-mode clients get their tokens as HttpOnly cookies, never in JSON. */
int cf_oauth_uses_cookies(cf_app_t *app, const cf_session_t *s)
{
    const cf_client_t *cl;

    if (cf_session_client_id(s)[0] == '\0')
        return 0;
    cl = cf_policy_client(&app->cfg.policy, cf_session_client_id(s));
    return cl != NULL && cl->cookie;
}

void cf_app_token_cookies(cf_app_t *app, cf_pending_t *p, const cf_session_t *s, const char *access,
                          int64_t exp, const char *refresh, cf_time_t now)
{
    char buf[1024];
    int64_t access_age = exp - cf_time_to_sec(now);
    int64_t refresh_age = (cf_session_absolute_deadline(s) - now) / CF_SEC;

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
    const cf_client_t *owner = cf_policy_client(&ca->app->cfg.policy, cf_session_client_id(s));

    if (ca->client_id[0] == '\0') {
        if (owner == NULL || owner->type != CF_CLIENT_CONFIDENTIAL)
            return 0;
        cf_reply_invalid_client(ca->req, "the token belongs to a confidential client: "
                                         "authenticate as that client (RFC 7009 §2.1)");
        return 1;
    }
    if (strcmp(ca->client_id, cf_session_client_id(s)) == 0)
        return 0;
    cf_oauth_error(ca->req, CF_REASON_CLIENT_MISMATCH, NULL);
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
        cf_oauth_error(req, CF_REASON_INVALID_REQUEST, "token is required");
        goto done;
    }
    if (app->cluster != NULL) { /* the session may be one this node has not heard of */
        cf_app_cluster_revoke_token(app, ca->client_id, c->token, (size_t)c->token_len,
                                    cf_api_revoked_token, req);
        goto done;
    }
    entry = cf_app_refresh_lookup(app, c->token, (size_t)c->token_len);
    if (entry != NULL) {
        s = cf_index_refresh_owner(app->index, entry);
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
            cf_oauth_error(req, CF_REASON_SERVER_ERROR, "out of memory");
        }
    } else {
        cf_events_fini(&ev);
        cf_reply_json(req, 200, NULL, no_store_headers, 2);
    }
done:
    cf_oauth_call_free(c);
}

void cf_api_revoke(cf_app_t *app, cf_http_req_t *req)
{
    oauth_call_t *c = cf_oauth_call_new(app, req, "token");

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
    json_t *o = json_pack(
        "{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "active", 1, "sub", s->sub, "sid", s->id,
        "client_id", cf_session_client_id(s), "scope", cf_session_scope(s), "token_type", type,
        "idle_expires_at", (json_int_t)cf_time_to_sec(cf_session_idle_deadline(s)),
        "absolute_expires_at", (json_int_t)cf_time_to_sec(cf_session_absolute_deadline(s)));

    if (o != NULL) {
        json_object_set_new(o, "exp", json_integer(exp));
        json_object_set_new(o, "iat", json_integer(iat));
        if (cf_session_roles(s)[0])
            json_object_set_new(o, "roles", json_string(cf_session_roles(s)));
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
        cf_oauth_error(req, CF_REASON_INVALID_REQUEST, "token is required");
        goto done;
    }
    n = (size_t)c->token_len;
    entry = cf_app_refresh_lookup(app, tok, n);
    if (entry != NULL) {
        cf_reason_t why;
        cf_session_t *s = cf_index_refresh_owner(app->index, entry);
        cf_refresh_action_t act =
            cf_session_refresh_decide(s, entry->gen, now, app->cfg.reuse_grace,
                                      cf_app_not_before(app, s->sub), &why);
        if (act == CF_REFRESH_ROTATE || act == CF_REFRESH_GRACE)
            body = active_body(s, "refresh_token", cf_time_to_sec(cf_session_absolute_deadline(s)),
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
        cf_oauth_error(req, CF_REASON_SERVER_ERROR, "cannot introspect");
    else
        cf_reply_json(req, 200, body, no_store_headers, 2);
done:
    cf_oauth_call_free(c);
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
    c = cf_oauth_call_new(app, req, "token");
    if (c == NULL)
        return;
    c->ca.admin = bearer;
    c->ca.done = introspect_after_auth;
    if (bearer)
        introspect_after_auth(&c->ca, 1);
    else
        cf_client_auth_start(&c->ca);
}
