/* SPDX-License-Identifier: MIT
 *
 * POST /v1/config/reload: what SIGHUP does, for an operator who is not on the
 * server's machine (curfew reload) and wants to know the outcome: 200 with
 * the new generation, or 409 config_refused with the FILE:LINE error while
 * the running configuration stays (app/reload.c).
 */
#include <stdio.h>

#include "api/api.h"
#include "app/app.h"
#include "core/error.h"

void cf_api_config_reload(cf_app_t *app, cf_http_req_t *req)
{
    char why[1100];

    if (!cf_req_require_admin(app, req))
        return;
    why[0] = '\0';
    if (cf_app_hup(app, why, sizeof why) < 0) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_CONFIG_REFUSED, why, NULL, 0);
        return;
    }
    cf_reply_json(req, 200,
                  json_pack("{s:s, s:I, s:s}", "status", "applied", "generation",
                            (json_int_t)cf_app_reload_generation(app), "source", app->cfg.source),
                  NULL, 0);
}
