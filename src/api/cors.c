/* SPDX-License-Identifier: MIT
 *
 * CORS for the endpoints a single-page app on another origin calls itself
 * (/oauth/token, /oauth/revoke, /v1/logout; routes.c marks them). Origins
 * are allowed globally (cors.allowed_origins) or per client
 * (clients[].allowed_origins).
 *
 * A preflight names no client, so it is answered 204 for an origin in the
 * global list or in ANY client's list, and 403 origin_not_allowed for any
 * other. The request that follows names its client (client_id, or the
 * session of the access token for /v1/logout); once the handler knows it,
 * cf_api_cors_client() decides again against the global list and that
 * client's list only: allowed, the answer echoes the Origin in
 * Access-Control-Allow-Origin (never '*', never another origin) and says
 * Access-Control-Allow-Credentials only for a cookie-mode client (or with
 * cors.allow_credentials); not allowed, it is 403 origin_not_allowed before
 * anything changes, with no CORS header. A page on curfew's own host, on
 * the issuer's origin or in cookie.allowed_origins is the same-origin case:
 * its calls go on without CORS headers. Answers given before the client is
 * known (a malformed request) carry the CORS headers of the preflight, so
 * the script can read why. Every answer of these paths says Vary: Origin,
 * so no cache hands one origin's answer to another.
 *
 * The Origin header is compared after canonicalisation (core/origin.h) with
 * the configured origins, which the config walker already holds canonical.
 * Exactly one Origin header is accepted: two are no browser's doing.
 */
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app/app.h"
#include "core/origin.h"
#include "core/policy.h"

static const cf_http_header_t vary = {"Vary", 4, "Origin", 6};
static const cf_http_header_t credentials = {"Access-Control-Allow-Credentials", 32, "true", 4};
/* what a browser script may read beyond the CORS-safelisted response headers */
static const cf_http_header_t expose = {"Access-Control-Expose-Headers", 29,
                                        "WWW-Authenticate, Retry-After, DPoP-Nonce", 41};

/* The request's one Origin header (raw, for the echo) with its canonical form in @canon. */
static const char *one_origin(const cf_http_req_t *req, char canon[CF_ORIGIN_MAX], size_t *len)
{
    const char *v;

    if (cf_http_req_header_count(req, "Origin") != 1)
        return NULL;
    v = cf_http_req_header(req, "Origin", len);
    if (v == NULL || cf_origin_canon(v, *len, canon, CF_ORIGIN_MAX) < 0)
        return NULL;
    return v;
}

static int listed(char *const *v, size_t n, const char *canon)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], canon) == 0)
            return 1;
    return 0;
}

/* Does any client list @canon? *@cookie: a cookie-mode one does. */
static int any_client(const cf_app_t *app, const char *canon, int *cookie)
{
    const cf_policy_t *p = &app->cfg.policy;
    int found = 0;

    for (size_t i = 0; i < p->nclients; i++) {
        if (listed(p->clients[i].origins, p->clients[i].norigins, canon)) {
            found = 1;
            *cookie |= p->clients[i].cookie;
        }
    }
    return found;
}

/* The host of "HOST[:PORT]" ("[v6]" kept whole), as a length. */
static size_t host_len(const char *s, size_t n)
{
    const char *end = s[0] == '[' ? memchr(s, ']', n) : memchr(s, ':', n);

    if (end == NULL)
        return n;
    return (size_t)(end - s) + (s[0] == '[');
}

/*
 * A page of curfew's own site: the Host the browser sent (a proxy may drop
 * the port, so the host alone), the issuer's origin, or an origin trusted
 * for cookie requests. Not a cross-origin call: no CORS, no refusal.
 */
static int same_site(const cf_app_t *app, const cf_http_req_t *req, const char *canon)
{
    char iss[CF_ORIGIN_MAX];
    const char *host = strstr(canon, "://") + 3, *h, *slash, *after;
    size_t hlen, olen = host_len(host, strlen(host));

    h = cf_http_req_header(req, "Host", &hlen);
    if (h != NULL && cf_http_req_header_count(req, "Host") == 1 && hlen > 0 &&
        host_len(h, hlen) == olen && strncasecmp(h, host, olen) == 0)
        return 1;
    after = strstr(app->cfg.issuer, "://");
    slash = after != NULL ? strchr(after + 3, '/') : NULL;
    if (after != NULL &&
        cf_origin_canon(app->cfg.issuer,
                        slash != NULL ? (size_t)(slash - app->cfg.issuer) : strlen(app->cfg.issuer),
                        iss, sizeof iss) == 0 &&
        strcmp(iss, canon) == 0)
        return 1;
    for (size_t i = 0; i < app->cfg.nallowed_origins; i++)
        if (strcmp(app->cfg.allowed_origins[i], canon) == 0)
            return 1;
    return 0;
}

static void also(cf_http_req_t *req, cf_http_header_t h)
{
    if (req->nalso < CF_HTTP_ALSO_MAX)
        req->also[req->nalso++] = h;
}

static void allow(cf_http_req_t *req, const char *origin, size_t olen, int creds)
{
    also(req, (cf_http_header_t){"Access-Control-Allow-Origin", 27, origin, olen});
    also(req, expose);
    if (creds)
        also(req, credentials);
}

/* Take back the Access-Control-* headers cf_api_cors() added; Vary stays. */
static void drop_cors(cf_http_req_t *req)
{
    size_t n = 0;

    for (size_t i = 0; i < req->nalso; i++)
        if (strncasecmp(req->also[i].name, "Access-Control-", 15) != 0)
            req->also[n++] = req->also[i];
    req->nalso = n;
}

/* cf_api_cors() ran for @req: the path is one of the CORS endpoints. */
static int cors_route(const cf_http_req_t *req)
{
    for (size_t i = 0; i < req->nalso; i++)
        if (req->also[i].name == vary.name)
            return 1;
    return 0;
}

static void refuse(cf_http_req_t *req, cf_endpoint_t kind, const char *desc)
{
    cf_reply_refusal(req, kind, CF_REASON_ORIGIN_NOT_ALLOWED, desc, NULL, 0);
}

static void preflight(cf_app_t *app, cf_http_req_t *req, const char *origin, size_t olen,
                      int creds)
{
    char age[24], allow_headers[128];
    cf_http_header_t h[7];
    size_t n = 0;
    int alen, hlen;

    if (origin == NULL) {
        refuse(req, CF_ENDPOINT_API, "this origin may not call this endpoint from a browser "
                    "(cors.allowed_origins, clients[].allowed_origins)");
        return;
    }
    alen = snprintf(age, sizeof age, "%lld", (long long)(app->cfg.cors_max_age / CF_SEC));
    /* the CSRF header is what a cookie-mode app sends instead of relying on Origin */
    hlen = snprintf(allow_headers, sizeof allow_headers, "Authorization, Content-Type, DPoP%s%s",
                    app->cfg.csrf_header[0] ? ", " : "", app->cfg.csrf_header);
    h[n++] = (cf_http_header_t){"Access-Control-Allow-Origin", 27, origin, olen};
    h[n++] = (cf_http_header_t){"Access-Control-Allow-Methods", 28, "POST", 4};
    h[n++] = (cf_http_header_t){"Access-Control-Allow-Headers", 28, allow_headers,
                                (size_t)hlen};
    h[n++] = (cf_http_header_t){"Access-Control-Max-Age", 22, age, (size_t)alen};
    h[n++] = (cf_http_header_t){"Cache-Control", 13, "no-store", 8};
    if (creds)
        h[n++] = credentials;
    cf_http_respond(req, 204, h, n, NULL, 0);
}

int cf_api_cors(cf_app_t *app, cf_http_req_t *req)
{
    char canon[CF_ORIGIN_MAX];
    size_t olen = 0;
    const char *origin = one_origin(req, canon, &olen);
    int cookie = 0;

    if (origin != NULL && !listed(app->cfg.cors_origins, app->cfg.ncors_origins, canon) &&
        !any_client(app, canon, &cookie))
        origin = NULL;
    also(req, vary);
    if (req->method == HTTP_OPTIONS &&
        cf_http_req_header(req, "Access-Control-Request-Method", NULL) != NULL) {
        preflight(app, req, origin, olen, app->cfg.cors_credentials || cookie);
        return 1;
    }
    if (origin != NULL)
        allow(req, origin, olen, app->cfg.cors_credentials || cookie);
    return 0;
}

int cf_api_cors_client(cf_app_t *app, cf_http_req_t *req, const char *client_id,
                       cf_endpoint_t kind)
{
    char canon[CF_ORIGIN_MAX];
    size_t olen = 0;
    const char *origin;
    const cf_client_t *c = NULL;

    /* no Origin: not a browser's cross-origin call (a server, curl) */
    if (!cors_route(req) || cf_http_req_header(req, "Origin", NULL) == NULL)
        return 0;
    origin = one_origin(req, canon, &olen);
    if (client_id != NULL && client_id[0] != '\0')
        c = cf_policy_client(&app->cfg.policy, client_id);
    drop_cors(req);
    if (origin != NULL && (listed(app->cfg.cors_origins, app->cfg.ncors_origins, canon) ||
                           (c != NULL && listed(c->origins, c->norigins, canon)))) {
        allow(req, origin, olen, app->cfg.cors_credentials || (c != NULL && c->cookie));
        return 0;
    }
    if (origin != NULL && same_site(app, req, canon))
        return 0;
    refuse(req, kind, "this origin may not call this endpoint for this client "
                "(cors.allowed_origins, clients[].allowed_origins)");
    return 1;
}
