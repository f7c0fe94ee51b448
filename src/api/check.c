/* SPDX-License-Identifier: MIT
 *
 * Forward auth (GET /v1/check and anything below it) and logout. The check is
 * the hot path: with a token this node issued or verified before, it costs a
 * cache probe, a session lookup and a few comparisons; no allocation on
 * success, no I/O beyond the socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/error.h"
#include "core/path.h"
#include "core/policy.h"
#include "util/log.h"

typedef enum { BEARER_OK, BEARER_MISSING, BEARER_BROKEN } bearer_t;

static int b64token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. */
static bearer_t parse_bearer(const cf_http_req_t *req, const char **tok, size_t *len)
{
    size_t n, i = 6;
    const char *v;

    if (cf_http_req_header_count(req, "Authorization") > 1)
        return BEARER_BROKEN;
    v = cf_http_req_header(req, "Authorization", &n);
    if (v == NULL)
        return BEARER_MISSING;
    if (n < 6 || strncasecmp(v, "Bearer", 6) != 0 || (n > 6 && v[6] != ' '))
        return BEARER_MISSING; /* another scheme: no bearer credentials at all */
    while (i < n && v[i] == ' ')
        i++;
    if (i == n)
        return BEARER_BROKEN;
    *tok = v + i;
    *len = n - i;
    for (size_t k = 0; k < *len; k++)
        if (!b64token_char((*tok)[k]))
            return BEARER_BROKEN;
    return BEARER_OK;
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

/*
 * Authenticate the request's bearer token. Replies itself and returns NULL on
 * refusal, with the reason in *refused (CF_REASON__COUNT for an internal error).
 */
static cf_session_t *authenticate(cf_app_t *app, cf_http_req_t *req, cf_time_t now, int64_t *exp,
                                  int *from_cookie, cf_reason_t *refused, const char **refused_sub,
                                  int for_logout)
{
    const char *tok = NULL;
    size_t len = 0;
    cf_session_t *s = NULL;
    cf_reason_t why;
    int64_t iat;
    int rc;

    switch (parse_bearer(req, &tok, &len)) {
    case BEARER_MISSING:
        /* Browser clients in cookie mode carry the access token in a cookie. */
        tok = cf_req_cookie(req, app->cfg.access_cookie, &len);
        if (tok != NULL && len > 0) {
            if (from_cookie != NULL)
                *from_cookie = 1;
            break;
        }
        *refused = CF_REASON_MISSING_TOKEN;
        refuse(req, CF_REASON_MISSING_TOKEN);
        return NULL;
    case BEARER_BROKEN:
        *refused = CF_REASON_INVALID_REQUEST;
        refuse(req, CF_REASON_INVALID_REQUEST);
        return NULL;
    case BEARER_OK:
        break;
    }
    rc = cf_app_verify_access(app, tok, len, now, &s, exp, &iat, &why);
    if (rc < 0) {
        *refused = CF_REASON__COUNT;
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, cf_strerror(rc), NULL, 0);
        return NULL;
    }
    if (why == CF_REASON_TOKEN_EXPIRED && for_logout && s != NULL) {
        /* Logout must work after the access token expired (a tab left open
         * past its TTL): the signature verified, so only exp is waived; a
         * revocation or the session's own end still refuses. */
        why = iat < cf_time_to_sec(app->global_not_before) ||
                      iat < cf_time_to_sec(cf_app_not_before(app, s->sub))
                  ? CF_REASON_REVOKED_BEFORE
                  : cf_session_verdict(s, now);
    }
    if (why != CF_REASON_NONE) {
        *refused = why;
        if (refused_sub != NULL && s != NULL)
            *refused_sub = s->sub; /* the session outlives the request */
        refuse(req, why);
        return NULL;
    }
    return s;
}

/* A refused check counts toward the lockout and the check_failures limit. */
static void note_check_failure(cf_app_t *app, const char *ip, cf_time_t now)
{
    cf_rate_who_t who = {.ip = ip};

    cf_app_note_failure(app, ip, now);
    (void)cf_app_rate_limit(app, NULL, CF_RATE_CHECK_FAILURES, &who, now, 0);
}

static const char *header_or(const cf_http_req_t *req, const char *a, const char *b, size_t *len)
{
    const char *v = cf_http_req_header(req, a, len);
    return v != NULL ? v : cf_http_req_header(req, b, len);
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

static void forbidden(cf_http_req_t *req, cf_reason_t why)
{
    cf_reply_refusal(req, CF_ENDPOINT_BEARER, why, NULL, NULL, 0);
}

/* End @s because its risk changed, durably, then refuse. */
static void risk_revoke(cf_app_t *app, cf_http_req_t *req, cf_session_t *s, cf_reason_t why,
                        cf_time_t now)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_pending_t *p;

    cf_app_end_session(app, s, why == CF_REASON_IP_CHANGED ? CF_END_IP_CHANGED : CF_END_DEVICE_CHANGED,
                       now, &ev);
    p = cf_pending_refusal(req, CF_ENDPOINT_BEARER, why, NULL);
    if (p == NULL) {
        cf_app_commit(app, &ev, NULL, NULL);
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}

/* check() took the request over: it answers once Redis has (cluster only). */
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
    if (parse_bearer(req, &tok, &len) == BEARER_MISSING)
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

/* Answer a check; returns why it was refused (CF_REASON_NONE: allowed, __COUNT: error). */
static cf_reason_t check(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    const cf_route_t *route = NULL;
    size_t index;
    char ip[46] = "", expires_in[24];
    int64_t exp;
    cf_session_t *s;
    cf_reason_t why;
    cf_route_verdict_t verdict;
    const char *refused_sub = NULL;
    cf_time_t until, last_activity;
    int revoke;

    /* Abuse controls first: a locked-out or over-limit address learns nothing. */
    if (app->lockout != NULL || app->rate[CF_RATE_CHECK_FAILURES].limiter != NULL) {
        cf_rate_who_t who = {.ip = ip};
        cf_req_client_ip(app, req, ip);
        if (cf_app_locked_out(app, req, ip, now))
            return CF_REASON_LOCKED_OUT;
        if (cf_app_rate_limit(app, req, CF_RATE_CHECK_FAILURES, &who, now, 1))
            return CF_REASON_RATE_LIMITED;
    }
    if (app->cluster != NULL && cluster_gate(app, req, now))
        return CHECK_DEFERRED;
    /* A cluster node that may have missed revocations decides nothing, unless
     * it has just revalidated this request's session against Redis. */
    if (app->cluster != NULL && cf_app_cluster_stale(app) &&
        !(req->user != NULL && strcmp(app->cfg.on_partition, "revalidate") == 0)) {
        cf_api_cluster_refuse(app, req);
        return CF_REASON_STORE_UNAVAILABLE;
    }
    if (app->cfg.policy.nroutes > 0) {
        why = match_route(app, req, &route, &index);
        if (why != CF_REASON_NONE)
            return why;
        if (route != NULL && route->deny) {
            forbidden(req, CF_REASON_ROUTE_DENIED);
            return CF_REASON_ROUTE_DENIED;
        }
        if (route != NULL && route->anonymous) {
            cf_http_respond(req, 200, NULL, 0, NULL, 0);
            return CF_REASON_NONE;
        }
    }
    s = authenticate(app, req, now, &exp, NULL, &why, &refused_sub, 0);
    if (s == NULL) {
        if (ip[0] != '\0')
            note_check_failure(app, ip, now);
        /* Refused checks are not events: the alert rules hear of them here. */
        if (app->alerts != NULL && why < CF_REASON__COUNT) {
            if (ip[0] == '\0')
                cf_req_client_ip(app, req, ip);
            cf_app_alerts_check_failed(app, ip, refused_sub, now);
        }
        return why;
    }
    why = cf_app_risk_check(app, s, req, &revoke);
    if (why != CF_REASON_NONE) {
        if (revoke)
            risk_revoke(app, req, s, why, now);
        else
            step_up(req, why, 0);
        return why;
    }
    last_activity = s->last_activity;
    verdict = cf_route_decide(route, s->roles, s->scope, s->auth_time, last_activity, now, &why);
    switch (verdict) {
    case CF_ROUTE_PASS:
    case CF_ROUTE_ANONYMOUS:
        break;
    case CF_ROUTE_DENY:
    case CF_ROUTE_FORBIDDEN:
        forbidden(req, why);
        return why;
    case CF_ROUTE_STEP_UP:
        step_up(req, why, route->max_auth_age);
        return why;
    case CF_ROUTE_IDLE:
        refuse(req, why); /* the session lives on for other routes */
        return why;
    }
    cf_app_touch(app, s, now);
    /* Whichever comes first ends this caller's access: token, idle or absolute. */
    until = cf_time_min(exp * CF_SEC, cf_time_min(s->idle_deadline, s->absolute_deadline));
    cf_http_header_t h[4] = {
        {"X-Curfew-Subject", 16, s->sub, strlen(s->sub)},
        {"X-Curfew-Session", 16, s->id, CF_SID_LEN},
        {"X-Curfew-Roles", 14, s->roles, strlen(s->roles)},
        {"X-Curfew-Expires-In", 19, expires_in,
         (size_t)snprintf(expires_in, sizeof expires_in, "%lld",
                          (long long)((until - now) / CF_SEC))},
    };
    cf_http_respond(req, 200, h, 4, NULL, 0);
    return CF_REASON_NONE;
}

/*
 * The check, as an event: result and reason, and the time spent in the
 * handler. uv_hrtime is a vDSO clock read and the event lives on the stack
 * (the sinks count it), so the cost is nanoseconds against microseconds.
 */
void cf_api_check(cf_app_t *app, cf_http_req_t *req)
{
    uint64_t t0 = uv_hrtime();
    cf_reason_t why = check(app, req);

    if (why == CHECK_DEFERRED)
        return; /* counted when it is answered */
    cf_app_emit_check(app, (int)why, uv_hrtime() - t0);
}

void cf_api_logout(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    int64_t exp;
    int from_cookie = 0;
    cf_reason_t why;
    cf_session_t *s = authenticate(app, req, now, &exp, &from_cookie, &why, NULL, 1);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_pending_t *p;
    size_t len;

    if (s == NULL)
        return;
    if (from_cookie && !cf_app_csrf_ok(app, req)) {
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_CSRF_REJECTED, NULL, NULL, 0);
        return;
    }
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
