/* SPDX-License-Identifier: MIT
 *
 * The key_expiring alert an API key's expiry warning posts to the alerts
 * webhook: its JSON (never the secret), apart from the table (app/apikeys.c)
 * that decides when, so the table does not depend on its own JSON view.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/apikeys.h"
#include "app/app.h"

static void rfc3339(cf_time_t t, char out[32])
{
    time_t s = (time_t)cf_time_to_sec(t);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* key_expiring reaches the alerts webhook, as every alert does (never the secret). */
void cf_app_apikey_warn(cf_webhook_t *w, const cf_apikey_t *k, cf_time_t at)
{
    char ts[32], exp[32];
    json_t *o;
    char *body;

    if (w == NULL)
        return;
    rfc3339(at, ts);
    rfc3339(k->expires_at, exp);
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "alert", "key_expiring", "key_id",
                  k->id, "sub", k->sub, "name", k->name, "client_id", k->client_id, "expires_at",
                  exp, "expires_in_seconds", (json_int_t)((k->expires_at - at) / CF_SEC), "ts", ts);
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (body != NULL)
        (void)cf_webhook_post(w, body, strlen(body));
    free(body);
    json_decref(o);
}
