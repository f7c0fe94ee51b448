/* SPDX-License-Identifier: MIT
 *
 * Forward auth (GET /v1/check and anything below it) and logout. The check is
 * the hot path: with a token this node issued or verified before, it costs a
 * cache probe, a session lookup and a few comparisons; no allocation on
 * success, no I/O beyond the socket.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/dpop.h"
#include "api/mtls.h"
#include "core/error.h"
#include "core/path.h"
#include "core/access.h"
#include "core/policy.h"
#include "util/log.h"

typedef enum { BEARER_OK, BEARER_MISSING, BEARER_BROKEN } bearer_t;

/*
 * Is every byte of @p (@n) a b64token character (RFC 6750 §2.1: letters,
 * digits, "-._~+/=")? A bit per byte value, looked up without a branch: a
 * token is hundreds of bytes and this runs on every check.
 */
static int all_b64token(const char *p, size_t n)
{
    static const uint64_t ok[4] = {0x23ffe80000000000ULL, 0x47fffffe87fffffeULL, 0, 0};
    uint64_t bad = 0;

    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)p[k];
        bad |= ~(ok[c >> 6] >> (c & 63)) & 1u;
    }
    return bad == 0;
}

/* The Authorization scheme of @v (@n bytes): 6 for Bearer, 4 for DPoP (*dpop set), 0 for another. */
static size_t scheme_len(const char *v, size_t n, int *dpop)
{
    *dpop = 0;
    if (n >= 6 && strncasecmp(v, "Bearer", 6) == 0 && (n == 6 || v[6] == ' '))
        return 6;
    *dpop = n >= 4 && strncasecmp(v, "DPoP", 4) == 0 && (n == 4 || v[4] == ' ');
    return *dpop ? 4 : 0;
}

/* RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; RFC 9449 §7.1: the same with "DPoP" (*dpop set). */
static bearer_t parse_bearer(const cf_http_req_t *req, const char **tok, size_t *len, int *dpop)
{
    size_t n, i;
    const char *v;

    *dpop = 0;
    if (cf_http_req_header_count(req, "Authorization") > 1)
        return BEARER_BROKEN;
    v = cf_http_req_header(req, "Authorization", &n);
    if (v == NULL)
        return BEARER_MISSING;
    i = scheme_len(v, n, dpop);
    if (i == 0)
        return BEARER_MISSING; /* another scheme: no bearer credentials at all */
    while (i < n && v[i] == ' ')
        i++;
    if (i == n)
        return BEARER_BROKEN;
    *tok = v + i;
    *len = n - i;
    return all_b64token(*tok, *len) ? BEARER_OK : BEARER_BROKEN;
}

/*
 * Refuse per RFC 6750 §3: no error attribute when no credentials were sent,
 * invalid_request (400) for a broken header, invalid_token (401) otherwise;
 * the status, error and challenge come from the reason map.
 */
static void refuse(cf_http_req_t *req, cf_reason_t why)
{
    cf_reply_refusal(req, CF_ENDPOINT_BEARER, why, NULL, NULL, 0);
}

/* The proof verified off the loop (api/dpop.h) that a resumed check decides with; NULL: none yet. */
typedef struct {
    const cf_api_dpop_job_t *pre;
    cf_api_dpop_again_fn again; /* runs the handler again once the proof is verified or spent */
} proof_ctx_t;

static int gather_proof(cf_app_t *app, cf_http_req_t *req, const char *tok, size_t len,
                        int dpop_scheme, cf_access_input_t *in, char jkt[CF_DPOP_JKT_LEN + 1],
                        const proof_ctx_t *pc);

/*
 * Gather the token half of the access decision's inputs: the bearer token
 * (or, for browsers in cookie mode, the access cookie), verified through the
 * cache, its session and the epochs. A missing or broken credential becomes
 * in->token.refused. Returns 0, CHECK_VERIFYING when the DPoP proof went to
 * the verifier pool (the check runs again once it is verified), or a
 * negative CF_E* (internal error).
 */
#define CHECK_VERIFYING 1

static int gather_token(cf_app_t *app, cf_http_req_t *req, cf_time_t now, cf_access_input_t *in,
                        cf_session_t **sp, int *from_cookie, int *dpop,
                        char jkt[CF_DPOP_JKT_LEN + 1], char x5t[44], const proof_ctx_t *pc)
{
    const char *tok = NULL;
    size_t len = 0;
    int rc;

    *sp = NULL;
    switch (parse_bearer(req, &tok, &len, dpop)) {
    case BEARER_MISSING:
        tok = cf_req_cookie(req, app->cfg.access_cookie, &len);
        if (tok != NULL && len > 0) {
            *from_cookie = 1;
            break;
        }
        in->token.refused = CF_REASON_MISSING_TOKEN;
        return 0;
    case BEARER_BROKEN:
        in->token.refused = CF_REASON_INVALID_REQUEST;
        return 0;
    case BEARER_OK:
        break;
    }
    rc = cf_app_access_input(app, tok, len, now, in, sp);
    if (rc == 0 && in->token.refused == CF_REASON_NONE &&
        gather_proof(app, req, tok, len, *dpop || *from_cookie, in, jkt, pc))
        return CHECK_VERIFYING;
    /* RFC 8705 §3: the client certificate, for a certificate-bound token. */
    if (rc == 0 && in->bound_x5t != NULL)
        in->cert_x5t = cf_api_client_cert(app, req, x5t);
    return rc;
}

/* A refused check counts toward the lockout and the check_failures limit. */
static void note_check_failure(cf_app_t *app, const char *ip, cf_time_t now)
{
    cf_rate_who_t who = {.ip = ip};

    cf_app_note_failure(app, ip, now);
    (void)cf_req_rate_limit(app, NULL, CF_RATE_CHECK_FAILURES, &who, now, 0);
}

static const char *header_or(const cf_http_req_t *req, const char *a, const char *b, size_t *len)
{
    const char *v = cf_http_req_header(req, a, len);
    return v != NULL ? v : cf_http_req_header(req, b, len);
}

static int original_request(const cf_http_req_t *req, const char **host, size_t *hlen,
                            const char **method, size_t *mlen, const char **path, size_t *plen);

/*
 * The sender-constraint half of the inputs: the DPoP proof, verified for the
 * original method and URL and this token (ath), and its jti spent. A proof
 * counts only with the DPoP scheme (or a cookie): a bound token sent as
 * Bearer is refused dpop_required (RFC 9449 §7.2).
 */
static void check_verified(cf_app_t *app, cf_http_req_t *req, cf_api_dpop_job_t *job);

static int gather_proof(cf_app_t *app, cf_http_req_t *req, const char *tok, size_t len,
                        int dpop_scheme, cf_access_input_t *in, char jkt[CF_DPOP_JKT_LEN + 1],
                        const proof_ctx_t *pc)
{
    const char *host, *method = "", *path;
    size_t hlen, mlen = 0, plen, ulen = 0;
    char url[CF_DPOP_MAX_URL] = "";
    cf_api_dpop_t d;

    if (!dpop_scheme || cf_http_req_header(req, "DPoP", &plen) == NULL)
        return 0;
    /* A path header sent twice leaves the URL empty: the proof cannot match it. */
    if (original_request(req, &host, &hlen, &method, &mlen, &path, &plen) == 0)
        ulen = cf_api_dpop_url(req, path, plen, url, sizeof url);
    if (cf_api_dpop_verify_async(app, req, method, mlen, url, ulen, tok, len, pc->pre, pc->again,
                                 &d))
        return 1; /* pc->again takes it from here */
    if (d.unclaimed) /* never spent in Redis: not to be trusted */
        d.refused = CF_REASON_STORE_UNAVAILABLE;
    if (d.refused != CF_REASON_NONE) {
        in->proof_refused = d.refused;
        return 0;
    }
    memcpy(jkt, d.jkt, CF_DPOP_JKT_LEN + 1);
    in->proof_jkt = jkt;
    return 0;
}

/*
 * What the proxy is asking about. nginx sends X-Original-URI/-Method,
 * Caddy and Traefik X-Forwarded-Uri/-Method, Envoy appends the original path
 * to /v1/check; without any of them the check itself is the request. The
 * path is raw, as the client sent it (and as the backend receives it): the
 * caller normalizes it. Returns -1 when the path header comes twice, since
 * then the proxy and curfew might each read another one.
 */
static int original_request(const cf_http_req_t *req, const char **host, size_t *hlen,
                            const char **method, size_t *mlen, const char **path, size_t *plen)
{
    *host = header_or(req, "X-Forwarded-Host", "Host", hlen);
    if (*host == NULL) {
        *host = "";
        *hlen = 0;
    }
    *method = header_or(req, "X-Original-Method", "X-Forwarded-Method", mlen);
    if (*method == NULL) {
        *method = req->method_name;
        *mlen = strlen(req->method_name);
    }
    if (cf_http_req_header_count(req, "X-Original-URI") > 1 ||
        cf_http_req_header_count(req, "X-Forwarded-Uri") > 1)
        return -1;
    *path = header_or(req, "X-Original-URI", "X-Forwarded-Uri", plen);
    if (*path == NULL) {
        if (req->path_len > 9) {
            *path = req->path + 9; /* below "/v1/check" */
            *plen = req->path_len - 9;
        } else {
            *path = "/";
            *plen = 1;
        }
    }
    return 0;
}

/*
 * The route for this check, matched on the normalized path (core/path.h).
 * Returns 0 with *route (NULL: no route), or the refusal it replied with:
 * invalid_path for a path servers disagree on, __COUNT when out of memory.
 */
static cf_reason_t match_route(cf_app_t *app, cf_http_req_t *req, const cf_route_t **route,
                               size_t *index)
{
    const char *host, *method, *path;
    size_t hlen, mlen, plen, nlen;
    char stack[1024], *norm = stack;
    int rc = -1;

    if (original_request(req, &host, &hlen, &method, &mlen, &path, &plen) == 0) {
        if (plen + 2 > sizeof stack && (norm = malloc(plen + 2)) == NULL) {
            cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
            return CF_REASON__COUNT;
        }
        rc = cf_path_normalize(path, plen, norm, &nlen);
    }
    if (rc == 0)
        *route = cf_policy_match(&app->cfg.policy, host, hlen, method, mlen, norm, nlen, index);
    if (norm != stack)
        free(norm);
    if (rc < 0) {
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_INVALID_PATH, NULL, NULL, 0);
        return CF_REASON_INVALID_PATH;
    }
    return CF_REASON_NONE;
}

/* RFC 9470 §3: the resource asks for a fresher (max_age) or any new authentication. */
static void step_up(cf_http_req_t *req, cf_reason_t why, cf_time_t max_age)
{
    cf_refusal_t r;

    cf_refusal_make(&r, CF_ENDPOINT_BEARER, why, NULL, max_age > 0 ? max_age / CF_SEC : 0);
    cf_refusal_send(req, &r, NULL, 0);
}

/* End @s because its risk changed, durably, then refuse. */
static void risk_revoke(cf_app_t *app, cf_http_req_t *req, cf_session_t *s,
                        const cf_access_decision_t *d, cf_time_t now)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_pending_t *p;

    cf_app_end_session(app, s, d->end, now, &ev);
    p = cf_pending_refusal(req, CF_ENDPOINT_BEARER, d->why, NULL);
    if (p == NULL) {
        cf_app_commit(app, &ev, NULL, NULL);
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}

/* check() took the request over: it answers once Redis has (cluster only) or the proof is verified. */
#define CHECK_DEFERRED ((cf_reason_t)(CF_REASON__COUNT + 1))

/*
 * Cluster: does this check need Redis before it can be decided? Yes when the
 * token is good but names a session this node has not heard of yet (created
 * elsewhere an instant ago), and, with cluster.on_partition: revalidate, for
 * every good token while the node is stale. Returns 1 when it fetched (the
 * check is re-run when Redis answers), 0 to decide now.
 */
static int cluster_gate(cf_app_t *app, cf_http_req_t *req, cf_time_t now)
{
    const char *tok = NULL, *sid;
    size_t len = 0;
    cf_session_t *s;
    cf_reason_t why;
    int64_t exp, iat;
    int stale = cf_app_cluster_stale(app), revalidate = strcmp(app->cfg.on_partition, "revalidate") == 0;

    if (req->user != NULL || (stale && !revalidate))
        return 0; /* already fetched once, or the stale gate answers */
    int dpop;

    if (parse_bearer(req, &tok, &len, &dpop) == BEARER_MISSING)
        tok = cf_req_cookie(req, app->cfg.access_cookie, &len);
    if (tok == NULL || len == 0 || cf_app_verify_access(app, tok, len, now, &s, &exp, &iat, &why) < 0)
        return 0;
    if (why == CF_REASON_SESSION_NOT_FOUND || (stale && why == CF_REASON_NONE)) {
        sid = s != NULL ? s->id : cf_app_cached_sid(app, tok, len);
        if (sid == NULL)
            return 0;
        cf_api_fetch_then(app, req, sid, cf_api_check, 1);
        return 1;
    }
    return 0;
}

/*
 * The gates before any decision: a locked-out or over-limit address learns
 * nothing, a cluster node may first need Redis, and a stale one decides
 * nothing unless it has just revalidated this request's session. Returns
 * CF_REASON_NONE to go on, or what it answered (CHECK_DEFERRED: Redis will).
 */
static cf_reason_t check_gates(cf_app_t *app, cf_http_req_t *req, cf_time_t now, char ip[46])
{
    if (app->lockout != NULL || app->rate[CF_RATE_CHECK_FAILURES].limiter != NULL) {
        cf_rate_who_t who = {.ip = ip};
        cf_req_client_ip(app, req, ip);
        if (cf_req_locked_out(app, req, ip, now))
            return CF_REASON_LOCKED_OUT;
        if (cf_req_rate_limit(app, req, CF_RATE_CHECK_FAILURES, &who, now, 1))
            return CF_REASON_RATE_LIMITED;
    }
    if (app->cluster != NULL && cluster_gate(app, req, now))
        return CHECK_DEFERRED;
    if (app->cluster != NULL && cf_app_cluster_stale(app) &&
        !(req->user != NULL && strcmp(app->cfg.on_partition, "revalidate") == 0)) {
        cf_api_cluster_refuse(app, req);
        return CF_REASON_STORE_UNAVAILABLE;
    }
    return CF_REASON_NONE;
}

/* A refused token or session: the lockout, the check_failures limit and the alert rules hear of it. */
static void check_failed(cf_app_t *app, cf_http_req_t *req, char ip[46], const cf_session_t *s,
                         cf_reason_t why, cf_time_t now)
{
    if (ip[0] != '\0')
        note_check_failure(app, ip, now);
    /* Refused checks are not events: the alert rules hear of them here. */
    if (app->alerts != NULL && why < CF_REASON__COUNT) {
        if (ip[0] == '\0')
            cf_req_client_ip(app, req, ip);
        cf_app_alerts_check_failed(app, ip, s != NULL ? s->sub : NULL, now);
        cf_app_alerts_act(app); /* what a rule it fired asked for */
    }
}

/* The client says this request is background work (tuning.background_header: 1), not a person. */
static int is_background(cf_app_t *app, const cf_http_req_t *req)
{
    size_t n;
    const char *v = cf_http_req_header(req, app->cfg.background_header, &n);

    return v != NULL && n == 1 && v[0] == '1';
}

/*
 * How long a proxy may reuse this allow (check.cache_max_age), never past
 * @deadline (the token's, idle or absolute end, whichever is first). Writes
 * the Cache-Control value into @cc and nginx's X-Accel-Expires into @xa and
 * returns 1, or returns 0 (not cacheable: the caller sends no-store).
 *
 * nginx keeps an entry while its expiry second is >= its whole-second clock,
 * i.e. up to a second past a relative max-age. So nginx gets an absolute
 * "@SECONDS" one second short of the bound: the entry is gone by
 * now + cache_max_age (and by the deadline) in real time, which is the
 * promise docs/operations.md makes about revocations through the cache.
 */
static int cache_headers(const cf_app_t *app, cf_time_t now, cf_time_t deadline, char cc[48],
                         char xa[32])
{
    cf_time_t until = now + app->cfg.check_cache_max_age;
    int64_t last_second;

    if (app->cfg.check_cache_max_age <= 0)
        return 0;
    if (deadline < until)
        until = deadline;
    last_second = until / CF_SEC - 1; /* the entry lives through this second, no later */
    if (until - now < CF_SEC || last_second < now / CF_SEC)
        return 0;
    snprintf(cc, 48, "private, max-age=%lld", (long long)((until - now) / CF_SEC));
    snprintf(xa, 32, "@%lld", (long long)last_second);
    return 1;
}

/* @v in decimal at @out (room for 21 bytes), NUL-terminated; its length. No printf: every
 * allowed check formats X-Curfew-Expires-In. */
static size_t fmt_ll(char *out, long long v)
{
    char d[20];
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    size_t n = 0, len = 0;

    do
        d[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = d[--n];
    out[len] = '\0';
    return len;
}

/*
 * 200 with who the caller is and how long that stays true. Only a person's
 * request moves the idle deadline (d->activity); *gap gets the silence it
 * ended, for the idle-gap histogram (0: not activity). An allow that a DPoP
 * proof or a client certificate (@in) decided is never cacheable: a proxy's
 * cache would answer a replayed proof, or the token without its certificate.
 */
static void allow(cf_app_t *app, cf_http_req_t *req, cf_session_t *s,
                  const cf_access_decision_t *d, const cf_access_input_t *in, cf_time_t now,
                  cf_time_t *gap)
{
    int constrained = in->bound_jkt != NULL || in->bound_x5t != NULL || in->proof_jkt != NULL;
    char expires_in[24], cc[48], xa[32];
    cf_time_t deadline = d->deadline;
    size_t nh = 5;

    if (d->activity)
        *gap = cf_app_touch(app, s, now);
    cf_http_header_t h[6] = {
        {"X-Curfew-Subject", 16, s->sub, strlen(s->sub)},
        {"X-Curfew-Session", 16, s->id, CF_SID_LEN},
        {"X-Curfew-Roles", 14, cf_session_roles(s), strlen(cf_session_roles(s))},
        {"X-Curfew-Expires-In", 19, expires_in,
         fmt_ll(expires_in, (long long)((deadline - now) / CF_SEC))},
        {"Cache-Control", 13, "no-store", 8},
    };
    if (!constrained && cache_headers(app, now, deadline, cc, xa)) {
        h[4] = (cf_http_header_t){"Cache-Control", 13, cc, strlen(cc)};
        h[5] = (cf_http_header_t){"X-Accel-Expires", 15, xa, strlen(xa)};
        nh = 6;
    }
    cf_http_respond(req, 200, h, nh, NULL, 0);
}

/*
 * Answer a check: parse -> gather inputs -> cf_access_decide -> commit what
 * it implies -> reply. Returns why it was refused (CF_REASON_NONE: allowed,
 * __COUNT: error, CHECK_DEFERRED: answered later).
 */
static cf_reason_t check(cf_app_t *app, cf_http_req_t *req, cf_session_t **who, cf_time_t *gap,
                         long *route_at, const proof_ctx_t *pc)
{
    cf_time_t now = cf_app_now(app);
    cf_access_input_t in = {.token.refused = CF_REASON_NONE};
    cf_access_decision_t d;
    const cf_route_t *route = NULL;
    cf_session_t *s = NULL;
    char ip[46] = "";
    size_t index;
    int from_cookie = 0, dpop = 0;
    char jkt[CF_DPOP_JKT_LEN + 1], x5t[44];
    cf_reason_t why = check_gates(app, req, now, ip);

    if (why != CF_REASON_NONE)
        return why;
    if (app->cfg.policy.nroutes > 0 && (why = match_route(app, req, &route, &index)) != CF_REASON_NONE)
        return why;
    if (route != NULL)
        *route_at = (long)index;
    /* A closed or anonymous route is answered without looking at any token. */
    if (route == NULL || !(route->deny || route->anonymous)) {
        int rc, failed;
        if (cf_api_apikey_presented(app, req)) { /* an API key, not a token (apicheck.c) */
            why = cf_api_apikey_check(app, req, route, now, &failed);
            if (failed)
                check_failed(app, req, ip, NULL, why, now);
            return why;
        }
        rc = gather_token(app, req, now, &in, &s, &from_cookie, &dpop, jkt, x5t, pc);
        if (rc == CHECK_VERIFYING)
            return CHECK_DEFERRED; /* nothing changed yet: the check runs again, verified */
        if (in.proof_refused == CF_REASON_STORE_UNAVAILABLE) {
            cf_api_cluster_refuse(app, req); /* Redis could not spend the proof: as a stale node */
            return CF_REASON_STORE_UNAVAILABLE;
        }
        if (rc < 0) {
            cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, cf_strerror(rc), NULL, 0);
            check_failed(app, req, ip, NULL, CF_REASON__COUNT, now);
            return CF_REASON__COUNT;
        }
        if (s != NULL && in.token.refused == CF_REASON_NONE)
            in.risk = cf_req_risk(app, req, s);
        in.background = is_background(app, req);
    }
    in.route = route;
    cf_access_decide(&in, &d);
    *who = s; /* for the log line of a refusal; allowed: the session served */
    if (d.risk_considered)
        cf_app_risk_log(app, s, in.risk);
    switch (d.verdict) {
    case CF_ACCESS_ANONYMOUS:
        cf_http_respond(req, 200, NULL, 0, NULL, 0);
        break;
    case CF_ACCESS_ALLOW:
        allow(app, req, s, &d, &in, now, gap);
        break;
    case CF_ACCESS_STEP_UP:
        step_up(req, d.why, d.max_age);
        break;
    case CF_ACCESS_REFUSE:
        if (d.end != CF_END_NONE)
            risk_revoke(app, req, s, &d, now);
        else if (dpop || in.bound_jkt != NULL || in.proof_refused != CF_REASON_NONE)
            cf_api_dpop_refuse(app, req, CF_ENDPOINT_BEARER, d.why, NULL); /* RFC 9449 §7.1 */
        else
            refuse(req, d.why);
        if (d.authn_failed)
            check_failed(app, req, ip, s, d.why, now);
        break;
    }
    return d.why;
}

/*
 * The check, as an event: result and reason, and the time spent in the
 * handler. uv_hrtime is a vDSO clock read and the event lives on the stack
 * (the sinks count it), so the cost is nanoseconds against microseconds.
 * A check whose DPoP proof goes to the verifier pool runs twice: first up to
 * the proof (no state changed), then, with the verified proof, in full.
 */
static void run_check(cf_app_t *app, cf_http_req_t *req, const proof_ctx_t *pc)
{
    uint64_t t0 = uv_hrtime();
    cf_session_t *s = NULL;
    cf_time_t gap = 0;
    long route = -1;
    char ip[46] = "";
    cf_reason_t why;

    /* The address, while @req is valid, only when a refusal would be logged. */
    if (cf_app_refusal_log_wanted(app))
        cf_req_client_ip(app, req, ip);
    why = check(app, req, &s, &gap, &route, pc);
    if (why == CHECK_DEFERRED)
        return; /* counted when it is answered */
    if (why != CF_REASON_NONE)
        cf_app_emit_check_refused(app, (int)why, uv_hrtime() - t0, s, ip, route);
    else
        cf_app_emit_check_gap(app, (int)why, uv_hrtime() - t0, s, gap);
}

void cf_api_check(cf_app_t *app, cf_http_req_t *req)
{
    const proof_ctx_t pc = {NULL, check_verified};

    run_check(app, req, &pc);
}

/* The proof came back from the verifier pool or from Redis: decide with it. */
static void check_verified(cf_app_t *app, cf_http_req_t *req, cf_api_dpop_job_t *job)
{
    const proof_ctx_t pc = {job, check_verified};

    run_check(app, req, &pc);
    cf_api_dpop_job_free(job);
}

static void logout_verified(cf_app_t *app, cf_http_req_t *req, cf_api_dpop_job_t *job);

static void run_logout(cf_app_t *app, cf_http_req_t *req, const proof_ctx_t *pc)
{
    cf_time_t now = cf_app_now(app);
    /* Logout must work after the access token expired (a tab left open past
     * its TTL): the signature verified, so only exp is waived; a revocation
     * or the session's own end still refuses. */
    cf_access_input_t in = {.token.refused = CF_REASON_NONE};
    cf_access_decision_t d;
    int from_cookie = 0;
    cf_session_t *s;
    cf_events_t ev = CF_EVENTS_INIT;
    cf_pending_t *p;
    size_t len;

    int dpop = 0;
    char jkt[CF_DPOP_JKT_LEN + 1], x5t[44];
    int rc = gather_token(app, req, now, &in, &s, &from_cookie, &dpop, jkt, x5t, pc);

    if (rc == CHECK_VERIFYING)
        return; /* logout_verified() takes it from here */
    if (in.proof_refused == CF_REASON_STORE_UNAVAILABLE) {
        cf_api_cluster_refuse(app, req);
        return;
    }
    if (rc < 0) {
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, cf_strerror(rc), NULL, 0);
        return;
    }
    in.waive_exp = 1;
    cf_access_decide(&in, &d);
    if (d.verdict != CF_ACCESS_ALLOW && (dpop || in.bound_jkt != NULL)) {
        cf_api_dpop_refuse(app, req, CF_ENDPOINT_BEARER, d.why, NULL);
        return;
    }
    if (d.verdict != CF_ACCESS_ALLOW) {
        refuse(req, d.why);
        return;
    }
    if (from_cookie && !cf_req_csrf_ok(app, req)) {
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_CSRF_REJECTED, NULL, NULL, 0);
        return;
    }
    if (cf_api_cors_client(app, req, cf_session_client_id(s), CF_ENDPOINT_BEARER))
        return; /* the session's client does not allow this page's origin */
    cf_app_end_session(app, s, CF_END_LOGOUT, now, &ev);
    p = cf_pending_new(req, 204, NULL, 0);
    if (p == NULL) {
        cf_events_fini(&ev);
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    /* A browser in cookie mode forgets both tokens: same name and attributes, Max-Age=0. */
    if (from_cookie || cf_req_cookie(req, app->cfg.refresh_cookie, &len) != NULL) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s=; " CF_COOKIE_ATTRS "; Max-Age=0", app->cfg.refresh_cookie);
        p->set_cookie[0] = strdup(buf);
        snprintf(buf, sizeof buf, "%s=; " CF_COOKIE_ATTRS "; Max-Age=0", app->cfg.access_cookie);
        p->set_cookie[1] = strdup(buf);
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}

void cf_api_logout(cf_app_t *app, cf_http_req_t *req)
{
    const proof_ctx_t pc = {NULL, logout_verified};

    run_logout(app, req, &pc);
}

/* The logout's proof came back from the verifier pool or from Redis. */
static void logout_verified(cf_app_t *app, cf_http_req_t *req, cf_api_dpop_job_t *job)
{
    const proof_ctx_t pc = {job, logout_verified};

    run_logout(app, req, &pc);
    cf_api_dpop_job_free(job);
}
