/* SPDX-License-Identifier: MIT
 *
 * CORS for the endpoints a single-page app on another origin calls itself
 * (/oauth/token, /oauth/revoke, /v1/logout; routes.c marks them). An origin
 * in cors.allowed_origins gets its own Origin echoed in
 * Access-Control-Allow-Origin (never '*', never another origin) on every
 * answer and a 204 to its preflight; any other origin gets no CORS header,
 * and its preflight a 403 origin_not_allowed. Every answer of these paths
 * says Vary: Origin, so no cache hands one origin's answer to another.
 *
 * The Origin header is compared after canonicalisation (core/origin.h) with
 * the configured origins, which the config walker already holds canonical.
 * Exactly one Origin header is accepted: two are no browser's doing.
 */
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app/app.h"
#include "core/origin.h"

static const cf_http_header_t vary = {"Vary", 4, "Origin", 6};
static const cf_http_header_t credentials = {"Access-Control-Allow-Credentials", 32, "true", 4};
/* what a browser script may read beyond the CORS-safelisted response headers */
static const cf_http_header_t expose = {"Access-Control-Expose-Headers", 29,
                                        "WWW-Authenticate, Retry-After, DPoP-Nonce", 41};

/* The request's one Origin header when it names an allowed origin, else NULL. */
static const char *allowed_origin(const cf_app_t *app, const cf_http_req_t *req, size_t *len)
{
    char canon[CF_ORIGIN_MAX];
    const char *v;

    if (app->cfg.ncors_origins == 0 || cf_http_req_header_count(req, "Origin") != 1)
        return NULL;
    v = cf_http_req_header(req, "Origin", len);
    if (v == NULL || cf_origin_canon(v, *len, canon, sizeof canon) < 0)
        return NULL;
    for (size_t i = 0; i < app->cfg.ncors_origins; i++)
        if (strcmp(app->cfg.cors_origins[i], canon) == 0)
            return v;
    return NULL;
}

static void also(cf_http_req_t *req, cf_http_header_t h)
{
    if (req->nalso < CF_HTTP_ALSO_MAX)
        req->also[req->nalso++] = h;
}

static void preflight(cf_app_t *app, cf_http_req_t *req, const char *origin, size_t olen)
{
    char age[24], allow_headers[128];
    cf_http_header_t h[7];
    size_t n = 0;
    int alen, hlen;

    if (origin == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_ORIGIN_NOT_ALLOWED,
                         "this origin may not call this endpoint from a browser "
                         "(cors.allowed_origins)",
                         NULL, 0);
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
    if (app->cfg.cors_credentials)
        h[n++] = credentials;
    cf_http_respond(req, 204, h, n, NULL, 0);
}

int cf_api_cors(cf_app_t *app, cf_http_req_t *req)
{
    size_t olen = 0;
    const char *origin = allowed_origin(app, req, &olen);

    also(req, vary);
    if (req->method == HTTP_OPTIONS &&
        cf_http_req_header(req, "Access-Control-Request-Method", NULL) != NULL) {
        preflight(app, req, origin, olen);
        return 1;
    }
    if (origin != NULL) {
        also(req, (cf_http_header_t){"Access-Control-Allow-Origin", 27, origin, olen});
        also(req, expose);
        if (app->cfg.cors_credentials)
            also(req, credentials);
    }
    return 0;
}
