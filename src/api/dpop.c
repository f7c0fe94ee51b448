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
    } else {
        memcpy(out->jkt, p->jkt, sizeof out->jkt);
        memcpy(out->jti_hash, p->jti_hash, sizeof out->jti_hash);
        out->unclaimed = app->cluster != NULL; /* the other nodes have not seen it */
    }
}

/* What Redis said of a claim, into @d. A claim Redis did not take spent
 * nothing: this node forgets the jti too, so the retry is not a "replay". */
static void settle(cf_app_t *app, cf_api_dpop_t *d, int status, int won)
{
    d->unclaimed = 0;
    if (status < 0) {
        cf_dpop_cache_forget(app->dpop_jtis, d->jti_hash);
        refuse(d, CF_REASON_STORE_UNAVAILABLE, "cannot reach Redis to spend the DPoP proof");
    } else if (!won)
        refuse(d, CF_REASON_DPOP_REPLAY, "this DPoP proof was used before");
}

typedef struct {
    cf_app_t *app;
    cf_api_dpop_t *d;
    void (*done)(void *arg);
    void *arg;
} claim_t;

static void on_claimed(void *arg, int status, int won)
{
    claim_t c = *(claim_t *)arg;

    free(arg);
    settle(c.app, c.d, status, won);
    c.done(c.arg);
}

int cf_api_dpop_claim(cf_app_t *app, cf_api_dpop_t *d, void (*done)(void *arg), void *arg)
{
    claim_t *c;
    int rc;

    if (!d->unclaimed || d->refused != CF_REASON_NONE)
        return 0;
    if ((c = malloc(sizeof *c)) == NULL) {
        settle(app, d, CF_ENOMEM, 0);
        return 0;
    }
    *c = (claim_t){app, d, done, arg};
    rc = cf_app_dpop_claim(app, d->jkt, d->jti_hash, on_claimed, c);
    if (rc < 0) {
        free(c);
        settle(app, d, rc, 0); /* Redis is down: fail closed */
        return 0;
    }
    return 1;
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
    cf_app_t *app;
    cf_http_req_t *req;
    cf_api_dpop_again_fn again;
    int claimed;     /* back from Redis: @d is the verdict */
    cf_api_dpop_t d; /* the proof as the local cache accepted it */
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

/* A new job with its own copy of @in; NULL when out of memory. */
static cf_api_dpop_job_t *job_new(cf_app_t *app, cf_http_req_t *req, const cf_dpop_input_t *in,
                                  cf_api_dpop_again_fn again)
{
    size_t n = in->proof_len + in->htm_len + in->htu_len + in->at_len;
    cf_api_dpop_job_t *j = calloc(1, sizeof *j + n + 1);
    char *w;

    if (j == NULL)
        return NULL;
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
    j->app = app;
    j->req = req;
    j->again = again;
    return j;
}

/* Copy @in into a new job and queue it: 1, or 0 when the pool cannot take it (verify inline). */
static int submit(cf_app_t *app, cf_http_req_t *req, const cf_dpop_input_t *in,
                  cf_api_dpop_again_fn again)
{
    cf_api_dpop_job_t *j = app->verify != NULL ? job_new(app, req, in, again) : NULL;

    if (j == NULL)
        return 0;
    if (cf_app_verify_submit(app, &j->v) < 0) {
        free(j);
        return 0;
    }
    return 1;
}

static void job_claimed(void *arg)
{
    cf_api_dpop_job_t *j = arg;

    j->claimed = 1;
    j->again(j->app, j->req, j);
}

/*
 * A proof the local cache accepted in @out, on a cluster node: with @again,
 * spend it in Redis (1: @again runs with the verdict), else the caller must.
 */
static int spend(cf_app_t *app, cf_http_req_t *req, const cf_dpop_input_t *in,
                 cf_api_dpop_again_fn again, cf_api_dpop_t *out)
{
    cf_api_dpop_job_t *j;

    if (!out->unclaimed || out->refused != CF_REASON_NONE || again == NULL)
        return 0;
    if ((j = job_new(app, req, in, again)) == NULL) {
        settle(app, out, CF_ENOMEM, 0);
        return 0;
    }
    j->d = *out;
    if (cf_api_dpop_claim(app, &j->d, job_claimed, j))
        return 1;
    *out = j->d; /* settled at once (Redis down) */
    free(j);
    return 0;
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
        if (pre->claimed) {
            *out = pre->d; /* Redis's verdict */
            return 0;
        }
        finish(app, pre->v.refused, pre->v.why, &pre->v.proof, out);
        return spend(app, req, &in, again, out);
    }
    if (pre == NULL && again != NULL && submit(app, req, &in, again))
        return 1;
    r = cf_dpop_verify(&in, &p, &why);
    finish(app, r, why, &p, out);
    return spend(app, req, &in, again, out);
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
