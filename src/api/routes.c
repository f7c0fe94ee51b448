/* SPDX-License-Identifier: MIT
 *
 * The route table: every endpoint, the methods it answers and its handler.
 * 404, 405 and the Allow header are answered here and nowhere else, from
 * the same rows, so a new endpoint is one line and cannot forget its 405.
 */
#include <http_parser.h>
#include <string.h>

#include "api/api.h"
#include "app/app.h"

typedef enum {
    ROUTE_EXACT,   /* the path is the row's path */
    ROUTE_SUBTREE, /* the path or anything under it ("/dashboard", "/dashboard/x") */
    ROUTE_ITEM,    /* the row's path (ending in '/') and one non-empty segment */
} route_match_t;

#define M(x) (1u << (x))
#define M_GET (M(HTTP_GET))
#define M_GET_HEAD (M(HTTP_GET) | M(HTTP_HEAD))
#define M_POST (M(HTTP_POST))
#define M_ANY (~0u) /* the handler answers methods itself */

typedef void (*route_fn)(cf_app_t *app, cf_http_req_t *req);

typedef struct {
    const char *path;
    route_match_t match;
    unsigned methods; /* mask of enum http_method */
    route_fn handler;
    int gated;        /* a stale cluster node refuses it (cf_api_cluster_gate) */
    int cors;         /* browser scripts on other origins call it (cf_api_cors) */
} route_t;

static void reply_healthz(cf_app_t *app, cf_http_req_t *req)
{
    (void)app;
    cf_reply_json(req, 200, json_pack("{s:s}", "status", "ok"), NULL, 0);
}

/*
 * Readiness, for a load balancer: 503 with a reason exactly while this node
 * would refuse decisions (a cluster node past max_staleness or resyncing),
 * so traffic goes elsewhere; /healthz stays liveness.
 */
static void reply_readyz(cf_app_t *app, cf_http_req_t *req)
{
    static const cf_http_header_t hdrs[] = {{"Cache-Control", 13, "no-store", 8},
                                            {"Retry-After", 11, "1", 1}};
    char why[200];

    if (cf_app_cluster_ready(app, why, sizeof why)) {
        cf_reply_json(req, 200, json_pack("{s:s}", "status", "ready"), hdrs, 1);
        return;
    }
    cf_reply_json(req, 503,
                  json_pack("{s:s, s:s, s:s}", "status", "not_ready", "reason",
                            cf_reason_name(CF_REASON_STORE_UNAVAILABLE), "error_description", why),
                  hdrs, 2);
}

/* RFC 8414 authorization server metadata. */
static void reply_metadata(cf_app_t *app, cf_http_req_t *req)
{
    char token[600], revoke[600], introspect[600], jwks[600];
    const char *iss = app->cfg.issuer;

    snprintf(token, sizeof token, "%s/oauth/token", iss);
    snprintf(revoke, sizeof revoke, "%s/oauth/revoke", iss);
    snprintf(introspect, sizeof introspect, "%s/oauth/introspect", iss);
    snprintf(jwks, sizeof jwks, "%s/.well-known/jwks.json", iss);
    cf_reply_json(req, 200,
                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s,s], s:[s,s,s,s,s], s:[s,s,s,s,s], "
                            "s:[s,s,s,s,s], s:[s], s:[s], s:b}",
                            "issuer", iss, "token_endpoint", token, "revocation_endpoint", revoke,
                            "introspection_endpoint", introspect, "jwks_uri", jwks,
                            "grant_types_supported", "refresh_token", "client_credentials",
                            "token_endpoint_auth_methods_supported", "none", "client_secret_basic",
                            "client_secret_post", "tls_client_auth", "self_signed_tls_client_auth",
                            "revocation_endpoint_auth_methods_supported", "none",
                            "client_secret_basic", "client_secret_post", "tls_client_auth",
                            "self_signed_tls_client_auth",
                            "introspection_endpoint_auth_methods_supported", "bearer",
                            "client_secret_basic", "client_secret_post", "tls_client_auth",
                            "self_signed_tls_client_auth",
                            "response_types_supported", "none",
                            "token_endpoint_auth_signing_alg_values_supported", "EdDSA",
                            /* RFC 8705 §3.3 */
                            "tls_client_certificate_bound_access_tokens", 1),
                  NULL, 0);
}

#define SESSION_PREFIX "/v1/sessions/"

static void session_show(cf_app_t *app, cf_http_req_t *req)
{
    size_t n = strlen(SESSION_PREFIX);
    cf_api_session_show(app, req, req->path + n, req->path_len - n);
}

static void session_delete(cf_app_t *app, cf_http_req_t *req)
{
    size_t n = strlen(SESSION_PREFIX);
    cf_api_session_delete(app, req, req->path + n, req->path_len - n);
}

/* /v1/check comes first: it is the hot path. A path may have several rows, one per method set. */
static const route_t routes[] = {
    {"/v1/check", ROUTE_SUBTREE, M_ANY, cf_api_check, 0, 0},
    {"/metrics", ROUTE_EXACT, M_GET_HEAD, cf_api_metrics, 1, 0},
    {"/v1/stats", ROUTE_EXACT, M_GET_HEAD, cf_api_stats, 1, 0},
    {"/dashboard", ROUTE_SUBTREE, M_ANY, cf_api_dashboard, 1, 0},
    {"/healthz", ROUTE_EXACT, M_GET_HEAD, reply_healthz, 1, 0},
    {"/readyz", ROUTE_EXACT, M_GET_HEAD, reply_readyz, 0, 0},
    {"/oauth/token", ROUTE_EXACT, M_POST, cf_api_token, 1, 1},
    {"/oauth/revoke", ROUTE_EXACT, M_POST, cf_api_revoke, 1, 1},
    {"/oauth/introspect", ROUTE_EXACT, M_POST, cf_api_introspect, 1, 0},
    {"/v1/logout", ROUTE_EXACT, M_POST, cf_api_logout, 1, 1},
    {"/v1/sessions", ROUTE_EXACT, M_GET, cf_api_sessions_list, 1, 0},
    {"/v1/sessions", ROUTE_EXACT, M_POST, cf_api_sessions_create, 1, 0},
    {SESSION_PREFIX, ROUTE_ITEM, M_GET, session_show, 1, 0},
    {SESSION_PREFIX, ROUTE_ITEM, M(HTTP_DELETE), session_delete, 1, 0},
    {"/v1/revocations", ROUTE_EXACT, M_POST, cf_api_revocations, 1, 0},
    {"/v1/cluster", ROUTE_EXACT, M_GET, cf_api_cluster, 1, 0},
    {"/v1/keys", ROUTE_EXACT, M_GET, cf_api_keys_list, 1, 0},
    {"/v1/apikeys", ROUTE_SUBTREE, M_ANY, cf_api_apikeys, 1, 0},
    {"/v1/keys/rotate", ROUTE_EXACT, M_POST, cf_api_keys_rotate, 1, 0},
    {"/v1/config/reload", ROUTE_EXACT, M_POST, cf_api_config_reload, 0, 0},
    {"/.well-known/jwks.json", ROUTE_EXACT, M_GET, cf_api_jwks, 1, 0},
    {"/.well-known/oauth-authorization-server", ROUTE_EXACT, M_GET, reply_metadata, 1, 0},
};

#define NROUTES (sizeof routes / sizeof routes[0])

static int matches(const route_t *r, const cf_http_req_t *req)
{
    size_t n = strlen(r->path);

    if (req->path_len < n || memcmp(req->path, r->path, n) != 0)
        return 0;
    switch (r->match) {
    case ROUTE_EXACT:
        return req->path_len == n;
    case ROUTE_SUBTREE:
        return req->path_len == n || req->path[n] == '/';
    case ROUTE_ITEM:
        return req->path_len > n && memchr(req->path + n, '/', req->path_len - n) == NULL;
    }
    return 0;
}

/* The Allow value of every row for the path of @first (which matched). */
static void allow_of(size_t first, const cf_http_req_t *req, char *out, size_t cap)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {M(HTTP_GET), "GET"}, {M(HTTP_POST), "POST"}, {M(HTTP_DELETE), "DELETE"},
    };
    size_t len = 0;

    out[0] = '\0';
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        for (size_t i = first; i < NROUTES; i++) {
            if (!matches(&routes[i], req) || !(routes[i].methods & names[n].bit))
                continue;
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", names[n].name);
            break;
        }
        if (len >= cap)
            break;
    }
}

void cf_api_route(void *ctx, cf_http_req_t *req)
{
    cf_app_t *app = ctx;
    unsigned bit = req->method < 32 ? M(req->method) : 0;
    size_t first = NROUTES;

    for (size_t i = 0; i < NROUTES; i++) {
        if (!matches(&routes[i], req))
            continue;
        if (first == NROUTES) {
            first = i;
            /* before the method: a preflight is OPTIONS, which no such row takes */
            if (routes[i].cors && cf_api_cors(app, req))
                return;
        }
        if (routes[i].methods & bit) {
            /* a stale cluster node decides nothing from its index (gate.c) */
            if (!routes[i].gated || !cf_api_cluster_gate(app, req, routes[i].handler))
                routes[i].handler(app, req);
            return;
        }
    }
    if (first == NROUTES) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_NOT_FOUND, "no such endpoint", NULL, 0);
        return;
    }
    char allow[32];
    allow_of(first, req, allow, sizeof allow);
    cf_reply_method_not_allowed(req, allow);
}
