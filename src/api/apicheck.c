/* SPDX-License-Identifier: MIT
 *
 * /v1/check with an API key instead of an access token: the key comes as
 * `Authorization: Bearer cfk_...` or in api_keys.header (X-API-Key). A key
 * check is a checksum, one hash lookup and a SHA-256, not a signature check:
 * the form is checked first, so a mistyped or forged-looking key is refused
 * without touching the table. Then the core decides (cf_apikey_decide: the
 * key, its deadlines and networks), the route's rules apply as for sessions
 * (roles, scopes), and last the per-key rate limit and quota, which count
 * only requests that would otherwise be allowed.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"

/* The key's string, or why there is none usable. */
typedef enum { KEY_NONE, KEY_OK, KEY_BROKEN } key_src_t;

static key_src_t presented(cf_app_t *app, const cf_http_req_t *req, const char **s, size_t *n)
{
    const char *h = app->cfg.apikey_header;
    size_t alen = 0;
    const char *auth = cf_http_req_header(req, "Authorization", &alen), *tok = NULL;
    size_t tlen = 0, count = cf_http_req_header_count(req, h);
    int bearer_key;

    /* "Bearer" 1*SP credentials (RFC 7235), as the access token path reads it. */
    if (auth != NULL && alen > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
        for (tok = auth + 7, tlen = alen - 7; tlen > 0 && *tok == ' '; tlen--)
            tok++;
    }
    bearer_key = tok != NULL && cf_apikey_has_prefix(tok, tlen);

    if (count == 0 && !bearer_key)
        return KEY_NONE;
    /* Two headers, or a key in both places: which one counts would be a guess. */
    if (count > 1 || (count == 1 && auth != NULL) ||
        cf_http_req_header_count(req, "Authorization") > 1)
        return KEY_BROKEN;
    if (count == 1) {
        *s = cf_http_req_header(req, h, n);
        return KEY_OK;
    }
    *s = tok;
    *n = tlen;
    return KEY_OK;
}

int cf_api_apikey_presented(cf_app_t *app, const cf_http_req_t *req)
{
    const char *s;
    size_t n;

    return app->apikeys != NULL && presented(app, req, &s, &n) != KEY_NONE;
}

/* @v in decimal into @out (room for any int64); returns the length. snprintf
 * costs more than the rest of building the answer. */
static size_t fmt_i64(char out[24], int64_t v)
{
    char tmp[24];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, len = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

/* 200: who the caller is, and what is left of its quota. */
static void allow(cf_app_t *app, cf_http_req_t *req, cf_apikey_rec_t *r, const cf_apikey_t *k,
                  cf_time_t deadline, const cf_apikey_quota_t *q, cf_time_t now)
{
    char exp[24], rl[96];
    cf_http_header_t h[6] = {
        {"X-Curfew-Subject", 16, k->sub, strlen(k->sub)},
        {"X-Curfew-Key", 12, k->id, CF_APIKEY_ID_LEN},
        {"X-Curfew-Roles", 14, k->roles, strlen(k->roles)},
        {"X-Curfew-Client", 15, k->client_id, strlen(k->client_id)},
    };
    size_t nh = 4;

    cf_app_apikey_touch(app, r, now);
    if (deadline > 0)
        h[nh++] = (cf_http_header_t){"X-Curfew-Expires-In", 19, exp,
                                     fmt_i64(exp, (deadline - now) / CF_SEC)};
    if (q->limit > 0)
        h[nh++] = (cf_http_header_t){"RateLimit", 9, rl,
                                     (size_t)snprintf(rl, sizeof rl, "limit=%lld, remaining=%lld, reset=%lld",
                                                      (long long)q->limit, (long long)q->remaining,
                                                      (long long)((q->reset + CF_SEC - 1) / CF_SEC))};
    cf_http_respond(req, 200, h, nh, NULL, 0);
}

/* 429 quota_exceeded until the window that refused starts anew. */
static void over_quota(cf_http_req_t *req, const cf_apikey_quota_t *q)
{
    cf_limit_t l = {.why = CF_REASON_QUOTA_EXCEEDED, .has_quota = 1, .burst = q->limit,
                    .remaining = 0, .window = q->window / CF_SEC};

    l.retry_after = (q->reset + CF_SEC - 1) / CF_SEC; /* rounded up: never too early */
    if (l.retry_after < 1)
        l.retry_after = 1;
    cf_reply_limited(req, &l);
}

/* The limits after the decision: the route, the rate, the quota. Returns the refusal or NONE.
 * @k is @r as read before the check; the counts move in @r. */
static cf_reason_t limits(cf_app_t *app, cf_http_req_t *req, cf_apikey_rec_t *r,
                          const cf_apikey_t *k, const cf_route_t *route, cf_time_t now,
                          cf_apikey_quota_t *q)
{
    int64_t day = cf_apikey_quota_min(app->cfg.apikey_quota_day, k->quota_day);
    int64_t month = cf_apikey_quota_min(app->cfg.apikey_quota_month, k->quota_month);
    cf_reason_t why = CF_REASON_NONE;
    cf_limit_t l;

    if (route != NULL) {
        cf_route_verdict_t v = cf_route_decide(route, k->roles, k->scope, k->created_at,
                                               k->last_used > 0 ? k->last_used : k->created_at,
                                               now, &why);
        if (v != CF_ROUTE_PASS && why != CF_REASON_NONE) {
            cf_reply_refusal(req, CF_ENDPOINT_BEARER, why, NULL, NULL, 0);
            return why;
        }
    }
    if (cf_app_apikey_rate(app, r, &l)) {
        cf_reply_limited(req, &l);
        return CF_REASON_RATE_LIMITED;
    }
    memset(q, 0, sizeof *q);
    /* A refusal is no use of the key: its idle deadline stays (a moved
     * window is written by cf_app_apikey_quota itself). */
    if ((day > 0 || month > 0) && !cf_app_apikey_quota(app, r, day, month, now, q)) {
        over_quota(req, q);
        return CF_REASON_QUOTA_EXCEEDED;
    }
    return CF_REASON_NONE;
}

cf_reason_t cf_api_apikey_check(cf_app_t *app, cf_http_req_t *req, const cf_route_t *route,
                                cf_time_t now, int *authn_failed)
{
    cf_apikey_input_t in = {.now = now};
    cf_apikey_decision_t d;
    cf_apikey_quota_t q;
    char ipbuf[46];
    cf_apikey_rec_t *r;
    cf_apikey_t view, *k = NULL;
    cf_ip_t ip;
    const char *s = NULL;
    size_t n = 0;
    cf_reason_t why;

    *authn_failed = 0;
    if (presented(app, req, &s, &n) != KEY_OK) {
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, CF_REASON_INVALID_REQUEST,
                         "send one API key, in Authorization or in the API key header", NULL, 0);
        return CF_REASON_INVALID_REQUEST;
    }
    /* The string's parse and SHA-256 may come from the cache; the key's state
     * is the live record's, judged below on every request. */
    r = cf_app_apikey_find(app, s, n, &in.malformed, &in.secret_ok);
    if (r != NULL)
        cf_app_apikey_view(app, r, k = &view);
    in.key = k;
    /* The client address matters only to a key limited to networks. */
    if (k != NULL && k->nnets > 0) {
        cf_req_client_ip(app, req, ipbuf);
        if (cf_ip_parse(ipbuf, strlen(ipbuf), &ip) == 0)
            in.ip = &ip;
    }
    cf_apikey_decide(&in, &d);
    if (d.why != CF_REASON_NONE) {
        /* A wrong or dead key is a failed authentication (lockout, alerts). */
        *authn_failed = d.why != CF_REASON_NETWORK_NOT_ALLOWED;
        cf_reply_refusal(req, CF_ENDPOINT_BEARER, d.why, NULL, NULL, 0);
        return d.why;
    }
    why = limits(app, req, r, k, route, now, &q);
    if (why == CF_REASON_NONE)
        allow(app, req, r, k, d.deadline, &q, now);
    return why;
}
