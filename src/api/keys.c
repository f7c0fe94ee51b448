/* SPDX-License-Identifier: MIT
 *
 * The signing keys over HTTP: the public JWKS and the admin API that lists
 * and rotates them. The key set itself lives in app/keys.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "app/app.h"
#include "core/error.h"
#include "core/keyset.h"

/* ------------------------------------------------------------------ */
/* HTTP: JWKS and the admin API                                        */
/* ------------------------------------------------------------------ */

void cf_api_jwks(cf_app_t *app, cf_http_req_t *req)
{
    json_t *keys = json_array(), *jwk = NULL;

    for (size_t i = 0; keys != NULL && i < cf_keyset_count(app->keys); i++) {
        if (cf_jws_key_public_jwk(cf_keyset_entry(app->keys, i)->key, &jwk) < 0) {
            json_decref(keys);
            keys = NULL;
            break;
        }
        json_array_append_new(keys, jwk);
    }
    if (keys == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "cannot export the public keys",
                         NULL, 0);
        return;
    }
    cf_reply_json(req, 200, json_pack("{s:o}", "keys", keys), NULL, 0);
}

static json_t *key_view(const cf_app_t *app, const cf_keyset_entry_t *e)
{
    int active = e->deactivated_at == 0;

    return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o}", "kid", cf_jws_key_kid(e->key), "state",
                     active ? "active" : "verifying", "created_at",
                     (json_int_t)cf_time_to_sec(e->created_at), "activated_at",
                     (json_int_t)cf_time_to_sec(e->activated_at), "deactivated_at",
                     active ? json_null() : json_integer(cf_time_to_sec(e->deactivated_at)),
                     "retires_at",
                     active ? json_null()
                            : json_integer(cf_time_to_sec(cf_keyset_retires_at(e, cf_app_keys_keep_for(app)))));
}

static json_t *keys_view(const cf_app_t *app)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < cf_keyset_count(app->keys); i++)
        json_array_append_new(a, key_view(app, cf_keyset_entry(app->keys, i)));
    return a;
}

void cf_api_keys_list(cf_app_t *app, cf_http_req_t *req)
{
    if (!cf_req_require_admin(app, req))
        return;
    cf_reply_json(req, 200,
                  json_pack("{s:o, s:I, s:I, s:I}", "keys", keys_view(app), "version",
                            (json_int_t)cf_keyset_version(app->keys), "rotate_every",
                            (json_int_t)cf_time_to_sec(app->cfg.key_rotate_every), "retire_after",
                            (json_int_t)cf_time_to_sec(cf_app_keys_keep_for(app))),
                  NULL, 0);
}

typedef struct {
    cf_http_req_t *req;
    char previous[CF_JWS_KID_MAX + 1];
} api_rotation_t;

static void on_api_rotation(cf_app_t *app, int rc, void *arg)
{
    api_rotation_t *r = arg;

    if (rc == CF_EEXIST) {
        cf_reply_refusal(r->req, CF_ENDPOINT_API, CF_REASON_ROTATION_CONFLICT,
                         "another node rotated the key set at the same moment; this node follows "
                         "it, retry if you want one more rotation",
                         NULL, 0);
    } else if (rc == CF_ESTORE) {
        cf_reply_store_failure(r->req);
    } else if (rc < 0) {
        cf_reply_refusal(r->req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR,
                         "the new key set could not be made durable; the current key stays active",
                         NULL, 0);
    } else {
        cf_reply_json(r->req, 200,
                      json_pack("{s:s, s:s, s:I, s:o}", "kid",
                                cf_jws_key_kid(cf_keyset_active(app->keys)), "previous",
                                r->previous, "version", (json_int_t)cf_keyset_version(app->keys),
                                "keys", keys_view(app)),
                      NULL, 0);
    }
    free(r);
}

void cf_api_keys_rotate(cf_app_t *app, cf_http_req_t *req)
{
    api_rotation_t *r;

    if (!cf_req_require_admin(app, req))
        return;
    r = malloc(sizeof *r);
    if (r == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    r->req = req;
    snprintf(r->previous, sizeof r->previous, "%s", cf_jws_key_kid(cf_keyset_active(app->keys)));
    cf_app_keys_rotate_async(app, "api", on_api_rotation, r);
}
