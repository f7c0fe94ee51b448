/* SPDX-License-Identifier: MIT
 *
 * Forward auth (GET /v1/check and anything below it) and logout. The check is
 * the hot path: with a token this node issued or verified before, it costs a
 * cache probe, a session lookup and a few comparisons; no allocation on
 * success, no I/O beyond the socket.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "core/error.h"

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
 * invalid_request (400) for a broken header, invalid_token (401) otherwise.
 * The reason's wire name goes in the JSON body; its description in the header.
 */
static void refuse(cf_http_req_t *req, cf_reason_t why)
{
    char challenge[256];
    cf_http_header_t h = {"WWW-Authenticate", 16, challenge, 0};
    int status = 401;

    if (why == CF_REASON_MISSING_TOKEN) {
        h.value_len = (size_t)snprintf(challenge, sizeof challenge, "Bearer realm=\"curfew\"");
    } else {
        const char *error = "invalid_token";
        if (why == CF_REASON_INVALID_REQUEST) {
            error = "invalid_request";
            status = 400;
        }
        h.value_len = (size_t)snprintf(challenge, sizeof challenge,
                                       "Bearer realm=\"curfew\", error=\"%s\", error_description=\"%s\"",
                                       error, cf_reason_describe(why));
        if (h.value_len >= sizeof challenge)
            h.value_len = sizeof challenge - 1;
    }
    cf_reply_error(req, status, why == CF_REASON_INVALID_REQUEST ? "invalid_request"
                                : why == CF_REASON_MISSING_TOKEN ? "unauthorized"
                                                                 : "invalid_token",
                   cf_reason_describe(why), why, &h, 1);
}

/* Authenticate the request's bearer token. Replies itself and returns NULL on refusal. */
static cf_session_t *authenticate(cf_app_t *app, cf_http_req_t *req, cf_time_t now, int64_t *exp)
{
    const char *tok = NULL;
    size_t len = 0;
    cf_session_t *s = NULL;
    cf_reason_t why;
    int64_t iat;
    int rc;

    switch (parse_bearer(req, &tok, &len)) {
    case BEARER_MISSING:
        refuse(req, CF_REASON_MISSING_TOKEN);
        return NULL;
    case BEARER_BROKEN:
        refuse(req, CF_REASON_INVALID_REQUEST);
        return NULL;
    case BEARER_OK:
        break;
    }
    rc = cf_app_verify_access(app, tok, len, now, &s, exp, &iat, &why);
    if (rc < 0) {
        cf_reply_error(req, 500, "server_error", cf_strerror(rc), CF_REASON_NONE, NULL, 0);
        return NULL;
    }
    if (why != CF_REASON_NONE) {
        refuse(req, why);
        return NULL;
    }
    return s;
}

void cf_api_check(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    int64_t exp;
    cf_session_t *s = authenticate(app, req, now, &exp);
    char expires_in[24];
    cf_time_t until;

    if (s == NULL)
        return;
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
}

void cf_api_logout(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    int64_t exp;
    cf_session_t *s = authenticate(app, req, now, &exp);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_pending_t *p;

    if (s == NULL)
        return;
    cf_app_end_session(app, s, CF_END_LOGOUT, now, &ev);
    p = cf_pending_new(req, 204, NULL, 0);
    if (p == NULL) {
        cf_events_fini(&ev);
        cf_reply_error(req, 500, "server_error", "out of memory", CF_REASON_NONE, NULL, 0);
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}
