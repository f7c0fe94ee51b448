/* SPDX-License-Identifier: MIT
 *
 * The staleness gate of a cluster node (see app/cluster.c): which endpoints
 * must not answer from a cache that may be stale, how each names its
 * session, and the one 503 a node gives when it cannot vouch for it. The
 * node reads the session from Redis (cf_app_cluster_fetch) and runs the
 * handler again; this file only speaks HTTP.
 */
#include <http_parser.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app/app.h"
#include "core/error.h"

/* The one refusal of a node that cannot vouch for its cache (or reach Redis). */
static void reply_unavailable(cf_http_req_t *req)
{
    static const cf_http_header_t retry = {"Retry-After", 11, "1", 1};

    cf_endpoint_t kind = strncmp(req->path, "/oauth/", 7) == 0 ? CF_ENDPOINT_TOKEN
                         : strncmp(req->path, "/v1/check", 9) == 0 ||
                                   strncmp(req->path, "/v1/logout", 10) == 0
                             ? CF_ENDPOINT_BEARER
                             : CF_ENDPOINT_API;

    cf_reply_refusal(req, kind, CF_REASON_STORE_UNAVAILABLE, NULL, &retry, 1);
}

void cf_api_cluster_refuse(cf_app_t *app, cf_http_req_t *req)
{
    cf_app_cluster_refused(app);
    reply_unavailable(req);
}

static const char fetched_mark; /* req->user once the request's session was fetched */

typedef struct {
    cf_app_t *app;
    cf_http_req_t *req;
    void (*again)(cf_app_t *app, cf_http_req_t *req); /* the handler to run once fetched */
    int is_check; /* count a failure as a refused check */
} fetch_then_t;

static void on_fetched(void *arg, int status)
{
    fetch_then_t *ft = arg;

    if (status < 0) {
        if (ft->is_check)
            cf_app_emit_check(ft->app, CF_REASON_STORE_UNAVAILABLE, 0);
        reply_unavailable(ft->req);
    } else {
        ft->req->user = (void *)&fetched_mark;
        ft->again(ft->app, ft->req);
    }
    free(ft);
}

void cf_api_fetch_then(cf_app_t *app, cf_http_req_t *req, const char *sid,
                       void (*again)(cf_app_t *, cf_http_req_t *), int is_check)
{
    fetch_then_t *ft = malloc(sizeof *ft);

    if (ft == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    ft->app = app;
    ft->req = req;
    ft->again = again;
    ft->is_check = is_check;
    cf_app_cluster_fetch(app, sid, on_fetched, ft);
}

/* ---- the staleness gate of every endpoint that decides ---- */

/*
 * The endpoints that answer from this node's index. Past max_staleness (or
 * before a lost subscription is resynchronised) that index may hold sessions
 * revoked elsewhere as live and lack sessions made elsewhere, so none of them
 * may answer from it alone: each either fails closed exactly as /v1/check
 * does (503 store_unavailable, Retry-After: 1), or first reads the session
 * its request names, with the not-before epochs, from Redis and then decides
 * on that (what /v1/check does with cluster.on_partition: revalidate).
 *  - GRANT (introspection, refresh, reading a session): revalidated with
 *    on_partition: revalidate, refused otherwise, never answered from a stale
 *    cache: a revoked token must not be called active or refreshed.
 *  - END (logout, /oauth/revoke, DELETE of a session): always revalidated,
 *    since ending a session only makes things stricter and its commit needs
 *    Redis anyway; a session the node did not know is then found, not
 *    answered 404 or a silent 200.
 *  - listing sessions has no one session to read: always refused.
 * A request whose token this node cannot tie to a session is refused.
 * /v1/check keeps the same gate inline (check.c), after its abuse controls.
 */
enum { GRANT, END, REFUSE };
enum { FROM_FORM, FROM_BEARER, FROM_PATH, FROM_NOTHING };

typedef struct {
    const char *path;
    int prefix; /* path is a prefix: /v1/sessions/{id} */
    int method;
    int kind;   /* GRANT, END, REFUSE */
    int from;   /* where the request names its session */
    const char *field; /* FROM_FORM: the form field holding the token */
    int redis_decides; /* revalidating, let it through: its commit is decided on Redis */
} decider_t;

static const decider_t deciders[] = {
    {"/oauth/introspect", 0, HTTP_POST, GRANT, FROM_FORM, "token", 0},
    {"/oauth/token", 0, HTTP_POST, GRANT, FROM_FORM, "refresh_token", 1},
    {"/v1/sessions/", 1, HTTP_GET, GRANT, FROM_PATH, NULL, 0},
    {"/oauth/revoke", 0, HTTP_POST, END, FROM_FORM, "token", 0},
    {"/v1/logout", 0, HTTP_POST, END, FROM_BEARER, NULL, 0},
    {"/v1/sessions/", 1, HTTP_DELETE, END, FROM_PATH, NULL, 0},
    {"/v1/sessions", 0, HTTP_GET, REFUSE, FROM_NOTHING, NULL, 0},
};

static const decider_t *decider_of(const cf_http_req_t *req)
{
    for (size_t i = 0; i < sizeof deciders / sizeof deciders[0]; i++) {
        const decider_t *d = &deciders[i];
        size_t n = strlen(d->path);
        if (req->method == d->method && (d->prefix ? req->path_len > n : req->path_len == n) &&
            memcmp(req->path, d->path, n) == 0)
            return d;
    }
    return NULL;
}

#define TOKEN_CAP 8192 /* as the OAuth endpoints read it */

/* The session token @v names (a refresh token this node knows, or any access token it signed). */
static const char *sid_of_token(cf_app_t *app, const char *v, size_t len)
{
    cf_refresh_entry_t *entry = cf_app_refresh_lookup(app, v, len);
    cf_session_t *s = NULL;
    int64_t exp, iat;
    cf_reason_t why;

    if (entry != NULL)
        return cf_index_refresh_owner(app->index, entry)->id;
    if (cf_app_verify_access(app, v, len, cf_app_now(app), &s, &exp, &iat, &why) < 0)
        return NULL;
    return s != NULL ? s->id : cf_app_cached_sid(app, v, len);
}

/* The session @req names (see deciders[]), copied into @sid; 0, or -1 when none is known. */
static int request_sid(cf_app_t *app, cf_http_req_t *req, const decider_t *d,
                       char sid[CF_SID_LEN + 1])
{
    const char *id = NULL, *v = NULL;
    char *tok = NULL;
    size_t len = 0;

    if (d->from == FROM_PATH) {
        if (req->path_len - 13 != CF_SID_LEN)
            return -1;
        id = req->path + 13;
    } else if (d->from == FROM_BEARER) {
        v = cf_http_req_header(req, "Authorization", &len);
        if (v != NULL && len > 7 && strncasecmp(v, "Bearer ", 7) == 0) {
            v += 7;
            len -= 7;
        } else {
            v = cf_req_cookie(req, app->cfg.access_cookie, &len);
        }
    } else if (d->from == FROM_FORM && (tok = malloc(TOKEN_CAP)) != NULL) {
        int n = cf_form_get(req->body, req->body_len, d->field, tok, TOKEN_CAP);
        if (n > 0) {
            v = tok;
            len = (size_t)n;
        } else if (n == -1) {
            v = cf_req_cookie(req, app->cfg.refresh_cookie, &len);
        }
    }
    if (v != NULL && len > 0)
        id = sid_of_token(app, v, len);
    if (id != NULL) {
        memcpy(sid, id, CF_SID_LEN);
        sid[CF_SID_LEN] = '\0';
    }
    if (tok != NULL) {
        OPENSSL_cleanse(tok, TOKEN_CAP);
        free(tok);
    }
    return id != NULL ? 0 : -1;
}

int cf_api_cluster_gate(cf_app_t *app, cf_http_req_t *req,
                        void (*handler)(cf_app_t *app, cf_http_req_t *req))
{
    const decider_t *d;
    char sid[CF_SID_LEN + 1];
    int revalidate;

    if (app->cluster == NULL || req->user == &fetched_mark || !cf_app_cluster_stale(app) ||
        (d = decider_of(req)) == NULL)
        return 0;
    revalidate = d->kind == END ||
                 (d->kind == GRANT && strcmp(app->cfg.on_partition, "revalidate") == 0);
    /* A refresh is decided by Redis anyway (the guarded commit checks the
     * generation, the session's end and the not-before epochs, and a token
     * this node does not know is looked up there first): let it through. */
    if (revalidate && d->redis_decides)
        return 0;
    if (revalidate && request_sid(app, req, d, sid) == 0) {
        cf_api_fetch_then(app, req, sid, handler, 0);
        return 1;
    }
    cf_api_cluster_refuse(app, req);
    return 1;
}


/* ---- answers to cluster revocations and GET /v1/cluster ---- */

/* 1 when @r failed or was refused, after answering it. */
static int revoke_failed(cf_http_req_t *req, const cf_revoke_result_t *r, cf_endpoint_t kind)
{
    if (r->status == CF_ENOMEM)
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
    else if (r->status < 0)
        cf_reply_store_failure(req);
    else if (r->refused == CF_REASON_INVALID_CLIENT)
        cf_reply_invalid_client(req, "the token belongs to a confidential client: "
                                     "authenticate as that client (RFC 7009 §2.1)");
    else if (r->refused == CF_REASON_SESSION_NOT_FOUND)
        cf_reply_refusal(req, kind, CF_REASON_SESSION_NOT_FOUND, "no session with that id", NULL, 0);
    else if (r->refused != CF_REASON_NONE)
        cf_reply_refusal(req, kind, r->refused, NULL, NULL, 0);
    else
        return 0;
    return 1;
}

void cf_api_revoked_session(cf_app_t *app, void *arg, const cf_revoke_result_t *r)
{
    cf_http_req_t *req = arg;

    if (!revoke_failed(req, r, CF_ENDPOINT_API))
        cf_reply_json(req, 200, cf_app_session_json(app, r->session, cf_app_now(app)), NULL, 0);
}

void cf_api_revoked_count(cf_app_t *app, void *arg, const cf_revoke_result_t *r)
{
    cf_http_req_t *req = arg;

    (void)app;
    if (!revoke_failed(req, r, CF_ENDPOINT_API))
        cf_reply_json(req, 200, json_pack("{s:I}", "sessions_ended", (json_int_t)r->ended), NULL, 0);
}

void cf_api_revoked_token(cf_app_t *app, void *arg, const cf_revoke_result_t *r)
{
    static const cf_http_header_t no_store[] = {{"Cache-Control", 13, "no-store", 8},
                                                {"Pragma", 6, "no-cache", 8}};
    cf_http_req_t *req = arg;

    (void)app;
    /* RFC 7009 §2.2: an unknown or already invalid token is answered like any other. */
    if (r->status == 0 && r->refused == CF_REASON_SESSION_NOT_FOUND) {
        cf_reply_json(req, 200, NULL, no_store, 2);
        return;
    }
    if (!revoke_failed(req, r, CF_ENDPOINT_TOKEN))
        cf_reply_json(req, 200, NULL, no_store, 2);
}

void cf_api_cluster(cf_app_t *app, cf_http_req_t *req)
{
    json_t *o;

    if (!cf_req_require_admin(app, req))
        return;
    o = cf_app_cluster_json(app);
    if (o == NULL)
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
    else
        cf_reply_json(req, 200, o, NULL, 0);
}
