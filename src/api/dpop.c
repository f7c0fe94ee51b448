/* SPDX-License-Identifier: MIT
 *
 * DPoP proofs as requests carry them (dpop.h). The proof's checks are the
 * core's; this file only finds the header, the URL the client addressed and
 * the clock, and asks the replay cache about the jti of a proof that passed.
 */
#include "api/dpop.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/jws.h"
#include "core/keyset.h"
#include "util/log.h"

/*
 * The nonce of window number @n: a keyed hash only this deployment can make,
 * keyed from the active signing key so that every node sharing the key set
 * (a cluster behind one load balancer) makes and accepts the same nonce; a
 * per-process key sent a client retrying on another node round in circles.
 * The random per-process key is the fallback should the key be unreadable.
 */
static void nonce_of(cf_app_t *app, int64_t n, char out[23])
{
    static const char label[] = "curfew dpop nonce";
    enum { L = sizeof label - 1 };
    uint8_t buf[L + CF_JWS_KEY_LEN + 8], h[CF_SHA256_LEN];
    const cf_jws_key_t *k = app->keys != NULL ? cf_keyset_active(app->keys) : NULL;

    memcpy(buf, label, L);
    if (k == NULL || cf_jws_key_raw_private(k, buf + L) < 0)
        memcpy(buf + L, app->dpop_nonce_key, CF_JWS_KEY_LEN);
    for (int i = 0; i < 8; i++)
        buf[L + CF_JWS_KEY_LEN + i] = (uint8_t)((uint64_t)n >> (8 * i));
    cf_sha256(buf, sizeof buf, h);
    OPENSSL_cleanse(buf, sizeof buf);
    (void)cf_b64url_encode(h, 16, out); /* 22 characters */
}

void cf_api_dpop_nonce(cf_app_t *app, char out[23])
{
    int64_t w = cf_time_to_sec(app->cfg.dpop_window);

    nonce_of(app, cf_time_to_sec(cf_app_now(app)) / (w > 0 ? w : 60), out);
}

size_t cf_api_dpop_url(const cf_http_req_t *req, const char *path, size_t plen, char *out,
                       size_t cap)
{
    size_t slen = 0, hlen = 0;
    const char *scheme = cf_http_req_header(req, "X-Forwarded-Proto", &slen);
    const char *host = cf_http_req_header(req, "X-Forwarded-Host", &hlen);
    int n;

    if (scheme == NULL) {
        scheme = req->tls ? "https" : "http";
        slen = strlen(scheme);
    }
    if (host == NULL)
        host = cf_http_req_header(req, "Host", &hlen);
    if (host == NULL || hlen == 0)
        return 0;
    n = snprintf(out, cap, "%.*s://%.*s%.*s", (int)slen, scheme, (int)hlen, host, (int)plen, path);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The replay cache refused a fresh proof: said once per window (the metric counts them all). */
static void warn_full(cf_app_t *app)
{
    cf_dpop_cache_stats_t st;

    cf_dpop_cache_stats(app->dpop_jtis, &st);
    if (st.full_window == 1)
        CF_LOG(CF_LOG_WARN,
               "event=dpop_replay_cache_full capacity=%zu window=%llds hint=\"new DPoP proofs are "
               "refused (dpop_invalid) until the window turns: raise dpop.replay_cache\"",
               st.capacity, (long long)cf_time_to_sec(app->cfg.dpop_window));
}

static void refuse(cf_api_dpop_t *out, cf_reason_t why, const char *desc)
{
    out->refused = why;
    out->why = desc;
}

/* The DPoP header of @req, or NULL with @out saying why (absent, or sent twice). */
static const char *proof_header(cf_http_req_t *req, size_t *len, cf_api_dpop_t *out)
{
    const char *proof = cf_http_req_header(req, "DPoP", len);

    memset(out, 0, sizeof *out);
    out->refused = CF_REASON_NONE;
    if (proof == NULL)
        return NULL;
    out->present = 1;
    if (cf_http_req_header_count(req, "DPoP") > 1) {
        refuse(out, CF_REASON_DPOP_INVALID, "more than one DPoP header");
        return NULL;
    }
    return proof;
}

/* What the core checks a proof against; @nonce (the caller's) gets the current nonce. */
static cf_dpop_input_t proof_input(cf_app_t *app, const char *proof, size_t len, const char *htm,
                                   size_t htm_len, const char *htu, size_t htu_len,
                                   const char *at, size_t at_len, char nonce[23])
{
    if (app->cfg.dpop_nonce)
        cf_api_dpop_nonce(app, nonce);
    return (cf_dpop_input_t){
        .proof = proof,
        .proof_len = len,
        .htm = htm,
        .htm_len = htm_len,
        .htu = htu,
        .htu_len = htu_len,
        .access_token = at,
        .at_len = at_len,
        .nonce = app->cfg.dpop_nonce ? nonce : NULL,
        .nonce_len = app->cfg.dpop_nonce ? 22 : 0,
        .now = cf_time_to_sec(cf_app_now(app)),
        .window = cf_time_to_sec(app->cfg.dpop_window),
        .leeway = cf_time_to_sec(app->cfg.clock_leeway),
        .not_before = cf_dpop_cache_since(app->dpop_jtis), /* it knows nothing older */
        .keys = app->dpop_keys, /* the loop thread's own; each worker has one */
    };
}

/* The core's verdict @r on a proof into @out; only a proof that passed spends its jti. */
static void finish(cf_app_t *app, cf_reason_t r, const char *why, const cf_dpop_proof_t *p,
                   cf_api_dpop_t *out)
{
    if (r != CF_REASON_NONE) {
        refuse(out, r, why);
        return;
    }
    /* Only a proof that passed is remembered: junk cannot fill the cache. */
    out->refused = cf_dpop_cache_check(app->dpop_jtis, p->jti_hash, cf_time_to_sec(cf_app_now(app)));
    if (out->refused == CF_REASON_DPOP_REPLAY)
        out->why = "this DPoP proof was used before";
    else if (out->refused != CF_REASON_NONE) {
        out->why = "too many DPoP proofs in this window";
        warn_full(app);
    } else
        memcpy(out->jkt, p->jkt, sizeof out->jkt);
}

void cf_api_dpop_verify(cf_app_t *app, cf_http_req_t *req, const char *htm, size_t htm_len,
                        const char *htu, size_t htu_len, const char *at, size_t at_len,
                        cf_api_dpop_t *out)
{
    (void)cf_api_dpop_verify_async(app, req, htm, htm_len, htu, htu_len, at, at_len, NULL, NULL, out);
}

/* A proof on its way through the verifier pool, with its own copy of every string it reads. */
struct cf_api_dpop_job {
    cf_verify_job_t v;
    cf_http_req_t *req;
    cf_api_dpop_again_fn again;
    char nonce[23];
    char buf[]; /* proof, htm, htu and access token, back to back */
};

static void job_done(cf_app_t *app, cf_verify_job_t *v)
{
    cf_api_dpop_job_t *j = (cf_api_dpop_job_t *)((char *)v - offsetof(cf_api_dpop_job_t, v));

    j->again(app, j->req, j);
}

void cf_api_dpop_job_free(cf_api_dpop_job_t *job)
{
    free(job);
}

static int same(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* @pre was verified for exactly this proof, method, URL and access token. */
static int pre_matches(const cf_api_dpop_job_t *pre, const cf_dpop_input_t *in)
{
    const cf_dpop_input_t *v = &pre->v.in;

    return same(v->proof, v->proof_len, in->proof, in->proof_len) &&
           same(v->htm, v->htm_len, in->htm, in->htm_len) &&
           same(v->htu, v->htu_len, in->htu, in->htu_len) &&
           (v->access_token == NULL) == (in->access_token == NULL) &&
           same(v->access_token, v->at_len, in->access_token, in->at_len);
}

/* Copy @in into a new job and queue it: 1, or 0 when the pool cannot take it (verify inline). */
static int submit(cf_app_t *app, cf_http_req_t *req, const cf_dpop_input_t *in,
                  cf_api_dpop_again_fn again)
{
    size_t n = in->proof_len + in->htm_len + in->htu_len + in->at_len;
    cf_api_dpop_job_t *j;
    char *w;

    if (app->verify == NULL || (j = malloc(sizeof *j + n + 1)) == NULL)
        return 0;
    j->v.in = *in;
    w = j->buf;
    memcpy(w, in->proof, in->proof_len);
    j->v.in.proof = w;
    w += in->proof_len;
    memcpy(w, in->htm, in->htm_len);
    j->v.in.htm = w;
    w += in->htm_len;
    memcpy(w, in->htu, in->htu_len);
    j->v.in.htu = w;
    w += in->htu_len;
    if (in->access_token != NULL) {
        memcpy(w, in->access_token, in->at_len);
        j->v.in.access_token = w;
    }
    if (in->nonce != NULL) {
        memcpy(j->nonce, in->nonce, sizeof j->nonce);
        j->v.in.nonce = j->nonce;
    }
    j->v.in.keys = NULL; /* the worker's own */
    j->v.done = job_done;
    j->req = req;
    j->again = again;
    if (cf_app_verify_submit(app, &j->v) < 0) {
        free(j);
        return 0;
    }
    return 1;
}

int cf_api_dpop_verify_async(cf_app_t *app, cf_http_req_t *req, const char *htm, size_t htm_len,
                             const char *htu, size_t htu_len, const char *at, size_t at_len,
                             const cf_api_dpop_job_t *pre, cf_api_dpop_again_fn again,
                             cf_api_dpop_t *out)
{
    size_t len = 0;
    const char *proof = proof_header(req, &len, out);
    char nonce[23];
    cf_dpop_input_t in;
    cf_dpop_proof_t p;
    const char *why = "";
    cf_reason_t r;

    if (proof == NULL)
        return 0;
    in = proof_input(app, proof, len, htm, htm_len, htu, htu_len, at, at_len, nonce);
    if (pre != NULL && pre_matches(pre, &in)) {
        finish(app, pre->v.refused, pre->v.why, &pre->v.proof, out);
        return 0;
    }
    if (pre == NULL && again != NULL && submit(app, req, &in, again))
        return 1;
    r = cf_dpop_verify(&in, &p, &why);
    finish(app, r, why, &p, out);
    return 0;
}

void cf_api_dpop_refuse(cf_app_t *app, cf_http_req_t *req, cf_endpoint_t kind, cf_reason_t why,
                        const char *desc)
{
    cf_refusal_t r;
    char nonce[23];
    cf_http_header_t h = {"DPoP-Nonce", 10, nonce, 22};

    cf_refusal_make(&r, kind, why, desc, -1);
    if (kind == CF_ENDPOINT_BEARER) {
        int n = snprintf(r.challenge, sizeof r.challenge,
                         "DPoP error=\"%s\", error_description=\"%s\", algs=\"" CF_API_DPOP_ALGS "\"",
                         cf_reason_error(why, kind), cf_reason_describe(why));
        r.challenge_len = n > 0 ? ((size_t)n < sizeof r.challenge ? (size_t)n : sizeof r.challenge - 1) : 0;
    }
    if (app->cfg.dpop_nonce)
        cf_api_dpop_nonce(app, nonce);
    cf_refusal_send(req, &r, &h, app->cfg.dpop_nonce ? 1 : 0);
}
