/* SPDX-License-Identifier: MIT
 *
 * OAuth client authentication (RFC 6749 §2.3): HTTP Basic or
 * client_secret_post, against the configured clients. Secrets are stored as
 * PBKDF2-SHA256 hashes with a deliberately high cost, so verifying one takes
 * a noticeable fraction of a second: that work runs on libuv's thread pool,
 * never on the loop, and a secret that verified once is remembered (as a
 * SHA-256 digest) so a client pays the cost once, not per request.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/mtls.h"
#include "core/digest.h"
#include "core/policy.h"
#include "core/secret.h"
#include "util/log.h"

void cf_reply_invalid_client(cf_http_req_t *req, const char *desc)
{
    cf_reply_refusal(req, CF_ENDPOINT_TOKEN, CF_REASON_INVALID_CLIENT, desc, NULL, 0);
}

static size_t client_index(const cf_app_t *app, const cf_client_t *c)
{
    return (size_t)(c - app->cfg.policy.clients);
}

static int cached_secret_ok(cf_app_t *app, const cf_client_t *c, const char *secret)
{
    cf_secret_cache_t *e = &app->secret_cache[client_index(app, c)];
    uint8_t d[32];

    if (e->client_id[0] == '\0' || strcmp(e->client_id, c->id) != 0)
        return 0;
    cf_sha256(secret, strlen(secret), d);
    return cf_ct_equal(d, e->secret_digest, sizeof d);
}

/* Authenticated (or nothing to authenticate): the client's CORS origins decide next. */
static void proceed(cf_client_auth_t *ca)
{
    ca->done(ca, !cf_api_cors_client(ca->app, ca->req, ca->client_id, CF_ENDPOINT_TOKEN));
}

/* A failed authentication counts towards the address's lockout, whatever the method. */
static void refuse(cf_client_auth_t *ca, cf_reason_t why, const char *desc)
{
    cf_app_t *app = ca->app;

    cf_app_note_failure(app, ca->ip, cf_app_now(app));
    CF_LOG(CF_LOG_INFO, "event=client_auth_failed reason=%s client_len=%zu ip=%s",
           cf_reason_name(why), strlen(ca->client_id), ca->ip);
    cf_reply_refusal(ca->req, CF_ENDPOINT_TOKEN, why, desc, NULL, 0);
    ca->done(ca, 0);
}

static void finish(cf_client_auth_t *ca, int ok)
{
    if (!ok) {
        refuse(ca, CF_REASON_INVALID_CLIENT, "client authentication failed");
        return;
    }
    ca->authenticated = ca->client != NULL && ca->client->type == CF_CLIENT_CONFIDENTIAL;
    proceed(ca);
}

static void verify_work(uv_work_t *w)
{
    cf_client_auth_t *ca = w->data;
    int ok = 0;

    if (cf_secret_verify(ca->secret, strlen(ca->secret), ca->client->secret_hash, &ok) < 0)
        ok = 0;
    ca->verified = ok;
}

static void verify_done(uv_work_t *w, int status)
{
    cf_client_auth_t *ca = w->data;
    cf_app_t *app = ca->app;

    /* A reload during PBKDF2 retired ca->client's table: cache nothing then. */
    if (status == 0 && ca->verified && ca->client >= app->cfg.policy.clients &&
        ca->client < app->cfg.policy.clients + app->cfg.policy.nclients) {
        cf_secret_cache_t *e = &app->secret_cache[client_index(app, ca->client)];
        snprintf(e->client_id, sizeof e->client_id, "%s", ca->client->id);
        cf_sha256(ca->secret, strlen(ca->secret), e->secret_digest);
    }
    finish(ca, status == 0 && ca->verified);
}

/*
 * RFC 8705 §2: the client proves itself with its TLS certificate alone. A
 * secret sent as well is refused, not ignored: one method per request
 * (RFC 6749 §2.3), and a secret must never stand in for the certificate.
 */
static void cert_auth(cf_client_auth_t *ca)
{
    cf_reason_t why;

    if (ca->has_basic || ca->has_post_secret) {
        refuse(ca, CF_REASON_CLIENT_CERT_REQUIRED,
               "this client authenticates with its TLS certificate: send client_id and no secret");
        return;
    }
    why = cf_api_cert_auth(ca->app, ca->req, ca->client);
    if (why != CF_REASON_NONE) {
        refuse(ca, why, NULL);
        return;
    }
    finish(ca, 1);
}

void cf_client_auth_start(cf_client_auth_t *ca)
{
    cf_app_t *app = ca->app;
    const cf_policy_t *pol = &app->cfg.policy;

    if (ca->has_basic && ca->has_post_secret) {
        cf_reply_refusal(ca->req, CF_ENDPOINT_TOKEN, CF_REASON_INVALID_REQUEST,
                         "use one client authentication method, not both (RFC 6749 §2.3)", NULL, 0);
        ca->done(ca, 0);
        return;
    }
    if (pol->nclients == 0 || ca->client_id[0] == '\0') {
        /* No client registry, or no client named: nothing to authenticate. */
        if (pol->nclients > 0 && (ca->has_basic || ca->has_post_secret)) {
            finish(ca, 0);
            return;
        }
        proceed(ca);
        return;
    }
    ca->client = cf_policy_client(pol, ca->client_id);
    if (ca->client == NULL) {
        finish(ca, 0);
        return;
    }
    if (ca->client->type == CF_CLIENT_PUBLIC) {
        /* A public client has no secret; presenting one is a mistake we refuse. */
        finish(ca, !(ca->has_basic || ca->has_post_secret));
        return;
    }
    if (ca->client->auth_method >= CF_CLIENT_AUTH_TLS) {
        cert_auth(ca);
        return;
    }
    if (!(ca->has_basic || ca->has_post_secret)) {
        finish(ca, 0);
        return;
    }
    if (cached_secret_ok(app, ca->client, ca->secret)) {
        finish(ca, 1);
        return;
    }
    ca->work.data = ca;
    if (uv_queue_work(app->loop, &ca->work, verify_work, verify_done) < 0)
        finish(ca, 0);
}

int cf_client_auth_parse(cf_client_auth_t *ca, cf_app_t *app, cf_http_req_t *req)
{
    char form_id[128];
    int n, b;

    memset(ca, 0, sizeof *ca);
    ca->app = app;
    ca->req = req;
    cf_req_client_ip(app, req, ca->ip);
    b = cf_req_basic_auth(req, ca->client_id, sizeof ca->client_id, ca->secret, sizeof ca->secret);
    if (b < 0) {
        cf_reply_invalid_client(req, "malformed Basic credentials");
        return -1;
    }
    ca->has_basic = b == 1;
    n = cf_form_get(req->body, req->body_len, "client_id", form_id, sizeof form_id);
    if (n < -1) {
        cf_reply_refusal(req, CF_ENDPOINT_TOKEN, CF_REASON_INVALID_REQUEST,
                         "client_id is badly encoded or repeated", NULL, 0);
        return -1;
    }
    if (n >= 0) {
        if (ca->has_basic && strcmp(form_id, ca->client_id) != 0) {
            cf_reply_refusal(req, CF_ENDPOINT_TOKEN, CF_REASON_INVALID_REQUEST,
                             "client_id in the body differs from the Basic credentials", NULL, 0);
            return -1;
        }
        snprintf(ca->client_id, sizeof ca->client_id, "%s", form_id);
    }
    if (!ca->has_basic) {
        n = cf_form_get(req->body, req->body_len, "client_secret", ca->secret, sizeof ca->secret);
        if (n < -1) {
            cf_reply_invalid_client(req, "client_secret is badly encoded, repeated or too long");
            return -1;
        }
        ca->has_post_secret = n >= 0;
    } else if (cf_form_get(req->body, req->body_len, "client_secret", form_id, sizeof form_id) != -1) {
        ca->has_post_secret = 1; /* both methods: refused in cf_client_auth_start */
    }
    return 0;
}

void cf_client_auth_wipe(cf_client_auth_t *ca)
{
    OPENSSL_cleanse(ca->secret, sizeof ca->secret);
}
