/* SPDX-License-Identifier: MIT
 *
 * GET /metrics (Prometheus text, behind metrics.token when set) and
 * GET /v1/stats (the dashboard's JSON, behind the admin key). What they
 * say is rendered by app/metrics.c.
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app/app.h"
#include "core/digest.h"

/* With metrics.token set, the scraper must send it as a Bearer token. */
static int scrape_allowed(cf_app_t *app, cf_http_req_t *req)
{
    const char *tok = app->cfg.metrics_token;
    uint8_t want[32], got[32];
    size_t len;
    const char *v;

    if (tok[0] == '\0')
        return 1;
    v = cf_http_req_header(req, "Authorization", &len);
    /* Compare digests, so the time does not depend on where the strings differ. */
    if (v != NULL && len > 7 && strncasecmp(v, "Bearer ", 7) == 0) {
        cf_sha256(tok, strlen(tok), want);
        cf_sha256(v + 7, len - 7, got);
        if (cf_ct_equal(want, got, sizeof want))
            return 1;
    }
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_METRICS_UNAUTHORIZED,
                     "a valid metrics token is required (Authorization: Bearer <token>)", NULL, 0);
    return 0;
}

void cf_api_metrics(cf_app_t *app, cf_http_req_t *req)
{
    static const cf_http_header_t type = {"Content-Type", 12, CF_PROM_CONTENT_TYPE,
                                          sizeof CF_PROM_CONTENT_TYPE - 1};
    cf_prom_t p;

    if (!scrape_allowed(app, req))
        return;
    cf_prom_init(&p);
    cf_app_metrics_render(app, &p);
    if (p.oom)
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
    else
        cf_http_respond(req, 200, &type, 1, p.buf, p.len);
    cf_prom_fini(&p);
}

void cf_api_stats(cf_app_t *app, cf_http_req_t *req)
{
    json_t *o;

    if (!cf_req_require_admin(app, req))
        return;
    o = cf_app_stats_json(app);
    if (o == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    cf_reply_json(req, 200, o, NULL, 0);
}
