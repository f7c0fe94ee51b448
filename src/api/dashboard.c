/* SPDX-License-Identifier: MIT
 *
 * GET /dashboard: the live dashboard's page, script and style, served from
 * the tables built into the binary (src/obs/dashboard/, embedded by
 * scripts/embed.py). The files are public and carry no data: the page asks
 * the operator for the admin key, keeps it in sessionStorage and sends it on
 * every call to the admin API (GET /v1/stats, /v1/sessions, ...), which is
 * where the authorisation happens. So this handler needs no key, and it must
 * never serve anything but the embedded files.
 *
 * Every response forbids what the page does not need: a strict
 * Content-Security-Policy (only its own script and style, fetches to this
 * origin only, no framing), nosniff, no caching (an upgraded binary serves
 * its own page at once) and no Referer.
 */
#include <string.h>

#include <http_parser.h>

#include "api/api.h"
#include "util/assets.h"

#define DASHBOARD_CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void reply_asset(cf_http_req_t *req, const cf_asset_t *a)
{
    const cf_http_header_t h[] = {
        {"Content-Type", 12, a->content_type, strlen(a->content_type)},
        {"Cache-Control", 13, "no-store", 8},
        {"Content-Security-Policy", 23, DASHBOARD_CSP, sizeof DASHBOARD_CSP - 1},
        {"X-Content-Type-Options", 22, "nosniff", 7},
        {"X-Frame-Options", 15, "DENY", 4},
        {"Referrer-Policy", 15, "no-referrer", 11},
    };

    cf_http_respond(req, 200, h, sizeof h / sizeof h[0], (const char *)a->data, a->len);
}

void cf_api_dashboard(cf_app_t *app, cf_http_req_t *req)
{
    const char *name = "index.html";
    size_t len = strlen(name);
    const cf_asset_t *a;

    (void)app;
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        cf_reply_method_not_allowed(req, "GET, HEAD");
        return;
    }
    /* "/dashboard" and "/dashboard/" are the page; "/dashboard/NAME" one of its files. */
    if (req->path_len > 11) {
        name = req->path + 11;
        len = req->path_len - 11;
    }
    a = cf_assets_find(cf_assets_dashboard, cf_assets_dashboard_count, name, len);
    if (a == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_NOT_FOUND, "no such dashboard file", NULL,
                         0);
        return;
    }
    reply_asset(req, a);
}
