/* SPDX-License-Identifier: MIT
 *
 * The shell half of DPoP (RFC 9449): read a request's DPoP header, work out
 * the method and URL it must be bound to, and have the core verify it
 * (core/dpop.h) and the replay cache remember its jti. What a proof means for
 * a token is decided in the core (cf_access_decide, cf_refresh_decide).
 */
#ifndef CF_API_DPOP_H
#define CF_API_DPOP_H

#include <stddef.h>

#include "api/api.h"
#include "core/dpop.h"

/** What a request's DPoP header says. */
typedef struct {
    int present;           /* a DPoP header was sent */
    cf_reason_t refused;   /* present and refused: dpop_invalid, dpop_replay, use_dpop_nonce */
    const char *why;       /* refused: a short description (static) */
    char jkt[CF_DPOP_JKT_LEN + 1]; /* present and verified: its key's thumbprint */
    uint8_t jti_hash[16];  /* present and verified: its jti's (core/dpop.h) */
    int unclaimed;         /* cluster: not yet spent in Redis (cf_api_dpop_claim) */
} cf_api_dpop_t;

/**
 * Verify @req's DPoP header, if any, as a proof for method @htm and URL @htu
 * (absolute, as the client addressed it) and, when @at is not NULL, access
 * token @at (ath). A second DPoP header, an empty one, a refused proof or a
 * jti seen before are refusals in @out; with dpop.nonce the proof must carry
 * the current nonce. Never fails; the replay cache remembers a good jti. On a
 * cluster node a good proof is left @out->unclaimed: the caller must spend it
 * with cf_api_dpop_claim before it counts.
 */
void cf_api_dpop_verify(cf_app_t *app, cf_http_req_t *req, const char *htm, size_t htm_len,
                        const char *htu, size_t htu_len, const char *at, size_t at_len,
                        cf_api_dpop_t *out);

/**
 * Spend @d's jti for the whole cluster when it is @d->unclaimed (a DPoP proof
 * the local cache accepted on a cluster node): Redis keeps it for dpop.window
 * + clock_leeway, so no node accepts it again. Returns 1 when Redis was asked:
 * @done(@arg) runs on the loop once it answered, @d (which must live until
 * then) updated. Returns 0 when @d is settled now; @done never runs then.
 * Settled: as it was, or refused dpop_replay (spent on some node), or
 * store_unavailable (Redis did not answer: fail closed, as a stale node does).
 */
int cf_api_dpop_claim(cf_app_t *app, cf_api_dpop_t *d, void (*done)(void *arg), void *arg);

/** A proof handed to the verifier pool (app.h), owned by the request's handler. */
typedef struct cf_api_dpop_job cf_api_dpop_job_t;

/** Runs on the loop once @job is verified: the handler runs again with it. */
typedef void (*cf_api_dpop_again_fn)(cf_app_t *app, cf_http_req_t *req, cf_api_dpop_job_t *job);

/**
 * cf_api_dpop_verify, with the signature checked off the loop when the
 * verifier pool (verify_threads) can take it, and on a cluster node spent in
 * Redis (cf_api_dpop_claim) after the local cache accepted it. With @again,
 * returns 1 when the proof went to the pool or to Redis: nothing is in @out,
 * and once it is back @again(app, req, job) runs on the loop and must call
 * this again with @pre = job and @again (then cf_api_dpop_job_free(job));
 * that can happen twice (verified, then claimed). Otherwise returns 0 with
 * @out filled as cf_api_dpop_verify does (without @again: maybe unclaimed).
 * @pre's verdict counts only for the very proof, method, URL and token it was
 * made for (else the proof is verified again, inline); either way its jti is
 * spent here, on the loop, and only when the signature and claims passed.
 */
int cf_api_dpop_verify_async(cf_app_t *app, cf_http_req_t *req, const char *htm, size_t htm_len,
                             const char *htu, size_t htu_len, const char *at, size_t at_len,
                             const cf_api_dpop_job_t *pre, cf_api_dpop_again_fn again,
                             cf_api_dpop_t *out);

/** Accepts NULL. */
void cf_api_dpop_job_free(cf_api_dpop_job_t *job);

/**
 * The URL the client addressed for @path (@plen bytes): the scheme from
 * X-Forwarded-Proto, else https on the TLS listener, else http; the host from
 * X-Forwarded-Host, else Host. Written NUL-terminated into @out; returns its
 * length, or 0 when it does not fit or there is no host.
 */
size_t cf_api_dpop_url(const cf_http_req_t *req, const char *path, size_t plen, char *out,
                       size_t cap);

/** The current server nonce (dpop.nonce) into @out: 22 base64url characters and a NUL. */
void cf_api_dpop_nonce(cf_app_t *app, char out[23]);

/** The proof algorithms curfew verifies (the algs of a DPoP challenge, RFC 9449 §7.1). */
#define CF_API_DPOP_ALGS "ES256 EdDSA"

/**
 * Refuse @req with @why (@desc: NULL for the reason's own words). On the
 * bearer endpoints the challenge is `DPoP error=..., algs="ES256 EdDSA"`
 * (RFC 9449 §7.1); with dpop.nonce a fresh DPoP-Nonce header goes with it.
 */
void cf_api_dpop_refuse(cf_app_t *app, cf_http_req_t *req, cf_endpoint_t kind, cf_reason_t why,
                        const char *desc);

#endif
