/* SPDX-License-Identifier: MIT
 *
 * The HTTP handlers' shared parts (private to src/api): replies, body
 * parsing, the request's sender, held replies, client authentication and the
 * handlers the route table (routes.c) dispatches to. All of it runs on the
 * loop thread; state and decisions live in app/app.h and src/core.
 */
#ifndef CF_API_API_H
#define CF_API_API_H

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "app/app.h"
#include "core/event.h"
#include "core/reason.h"
#include "core/token.h"
#include "core/policy.h"
#include "http/server.h"

/* ---- replies (reply.c) -------------------------------------------------- */

/** Send @body (reference stolen; may be NULL for an empty body) as JSON. */
void cf_reply_json(cf_http_req_t *req, int status, json_t *body, const cf_http_header_t *extra,
                   size_t nextra);

/** A success body already written as JSON text (@len bytes), with @extra headers. */
void cf_reply_json_text(cf_http_req_t *req, int status, const char *text, size_t len,
                        const cf_http_header_t *extra, size_t nextra);

/**
 * A refusal as the client sees it, built from the reason map (core/reason.h)
 * by cf_refusal_make, the one place that turns a reason into an answer.
 */
typedef struct {
    int status;
    json_t *body;          /* {"error", "error_description", "reason"}; owned; NULL when out of memory */
    char challenge[320];   /* WWW-Authenticate value */
    size_t challenge_len;  /* 0: no WWW-Authenticate */
    int no_store;          /* OAuth endpoints: Cache-Control: no-store, Pragma: no-cache */
} cf_refusal_t;

/**
 * Fill @r with the answer to a refusal for @why on an endpoint of @kind:
 * status and `error` from the map's column for @kind, the body's
 * error_description @desc (NULL: the reason's own description), and the
 * challenge: the reason's fixed one, else for a 400/401/403 on a bearer
 * endpoint `Bearer realm="curfew", error=..., error_description="<the reason's
 * description>"` (RFC 6750 §3). @step_up >= 0 makes it a step-up challenge
 * (RFC 9470: 401 insufficient_user_authentication whatever @why is), with
 * `max_age=@step_up` seconds when > 0; -1 for every other refusal.
 * CF_REASON_NONE is answered as server_error. The caller owns r->body
 * (cf_refusal_send takes it).
 */
void cf_refusal_make(cf_refusal_t *r, cf_endpoint_t kind, cf_reason_t why, const char *desc,
                     int64_t step_up);

/** Send @r (its body is taken) with @extra headers after its own. */
void cf_refusal_send(cf_http_req_t *req, cf_refusal_t *r, const cf_http_header_t *extra,
                     size_t nextra);

/** cf_refusal_make and cf_refusal_send in one: every error answer goes through here. */
void cf_reply_refusal(cf_http_req_t *req, cf_endpoint_t kind, cf_reason_t why, const char *desc,
                      const cf_http_header_t *extra, size_t nextra);

/** 405 method_not_allowed with an Allow header. */
void cf_reply_method_not_allowed(cf_http_req_t *req, const char *allow);

/** Answer 503 store_unavailable after a failed store commit. */
void cf_reply_store_failure(cf_http_req_t *req);

/** 1 when the request's Content-Type media type is @type (parameters ignored). */
int cf_req_content_type_is(const cf_http_req_t *req, const char *type);

/**
 * Percent-decode [s, s+n) as application/x-www-form-urlencoded ('+' is a
 * space) into @out, NUL-terminated. Returns the length, CF_EPARSE on a bad
 * escape or a NUL (raw or encoded), CF_ETOOBIG when it does not fit @cap.
 */
int cf_form_decode(const char *s, size_t n, char *out, size_t cap);

/**
 * Read form field @key from an application/x-www-form-urlencoded body into
 * @out (percent-decoded, NUL-terminated). Returns its length, -1 when absent,
 * CF_EPARSE when badly encoded or given more than once (RFC 6749 §3.1),
 * CF_ETOOBIG when longer than @cap - 1.
 */
int cf_form_get(const char *body, size_t len, const char *key, char *out, size_t cap);

/**
 * Parse the request body as a JSON object. On failure replies 400/415 itself
 * and returns NULL.
 */
json_t *cf_req_json_object(cf_http_req_t *req);

/* ---- the request's sender (request.c) ------------------------------------ */

/**
 * HTTP Basic client credentials (RFC 6749 §2.3.1, form-urlencoded inside the
 * base64). Returns 1 with @id and @secret filled, 0 when the request has no
 * Basic credentials, CF_EPARSE/CF_ETOOBIG when they are malformed.
 */
int cf_req_basic_auth(const cf_http_req_t *req, char *id, size_t idcap, char *secret,
                      size_t secretcap);

/** Value of cookie @name (borrowed from the request), or NULL. */
const char *cf_req_cookie(const cf_http_req_t *req, const char *name, size_t *len);

/** The client address: the peer, or what trusted proxies say it is. */
void cf_req_client_ip(cf_app_t *app, const cf_http_req_t *req, char out[46]);

/** Device fingerprint per config (device_header or device_headers); "" when none. */
void cf_req_device(cf_app_t *app, const cf_http_req_t *req, char out[44]);

/** 1 when the request carries the admin key (constant-time compare); else replies 401. */
int cf_req_require_admin(cf_app_t *app, cf_http_req_t *req);

/** 1 when a cookie-authenticated request carries an allowed Origin or the CSRF header. */
int cf_req_csrf_ok(cf_app_t *app, const cf_http_req_t *req);

/** A short digest naming the request's Authorization credential (rate-limit key). */
void cf_req_api_key_id(const cf_http_req_t *req, char out[24]);

/**
 * Compare the request's client address and device with what @s is bound to
 * (core/risk.h); only what the session binds is computed.
 */
cf_risk_t cf_req_risk(cf_app_t *app, const cf_http_req_t *req, const cf_session_t *s);

/* ---- limits (limits.c) ---------------------------------------------------- */

/** Answer 429 for @l: Retry-After, and RateLimit-Policy / RateLimit when it has a quota. */
void cf_reply_limited(cf_http_req_t *req, const cf_limit_t *l);

/**
 * cf_app_rate_limit(), answering the 429 itself when over the limit and @req
 * is not NULL. Returns 1 when over the limit, 0 when allowed.
 */
int cf_req_rate_limit(cf_app_t *app, cf_http_req_t *req, cf_rate_class_t cls,
                      const cf_rate_who_t *who, cf_time_t now, int peek);

/** cf_app_locked_out(), answering 429 locked_out itself. Returns 1 when locked out. */
int cf_req_locked_out(cf_app_t *app, cf_http_req_t *req, const char *ip, cf_time_t now);

/* ---- pending replies ---------------------------------------------------- */

/**
 * A reply held until the store acknowledges durability. cf_pending_new
 * returns a store callback argument; on success the JSON body is sent with
 * @status, on failure a 500.
 */
typedef struct {
    cf_http_req_t *req;
    int status;
    json_t *body; /* owned; NULL for an empty body */
    int no_store;  /* add Cache-Control: no-store */
    char *set_cookie[2];     /* owned, may be NULL */
    char *www_authenticate;  /* owned, may be NULL */
    char *text;              /* owned; a body already written as JSON text, sent instead of @body */
    size_t text_len;
} cf_pending_t;

cf_pending_t *cf_pending_new(cf_http_req_t *req, int status, json_t *body, int no_store);

/** A pending answer that refuses for @why (as cf_refusal_make); NULL when out of memory. */
cf_pending_t *cf_pending_refusal(cf_http_req_t *req, cf_endpoint_t kind, cf_reason_t why,
                                 const char *desc);
void cf_pending_done(void *arg, int status);

/* ---- OAuth client authentication (clientauth.c) ------------------------- */

typedef struct cf_client_auth cf_client_auth_t;

/** State of one client authentication; embed it first in a per-request struct. */
struct cf_client_auth {
    cf_app_t *app;
    cf_http_req_t *req;
    char client_id[128];
    char secret[256];
    char ip[46];
    int has_basic, has_post_secret;
    int admin;                   /* the request carried the admin key instead */
    const cf_client_t *client;   /* the configured client, when named and known */
    int authenticated;           /* a confidential client proved its secret */
    int verified;                /* thread-pool result */
    uv_work_t work;
    /* Runs exactly once: ok = 1 to continue, 0 when a reply was already sent. */
    void (*done)(cf_client_auth_t *ca, int ok);
};

/**
 * Read Basic credentials and client_id/client_secret from the form. Replies
 * itself and returns -1 when they are malformed.
 */
int cf_client_auth_parse(cf_client_auth_t *ca, cf_app_t *app, cf_http_req_t *req);

/**
 * Authenticate the client per RFC 6749 §2.3 and call ca->done. May complete
 * later (PBKDF2 runs on the thread pool) or synchronously.
 */
void cf_client_auth_start(cf_client_auth_t *ca);

/** Erase the secret. */
void cf_client_auth_wipe(cf_client_auth_t *ca);

/** 401 invalid_client with a Basic challenge. */
void cf_reply_invalid_client(cf_http_req_t *req, const char *desc);

/*
 * Attributes of both token cookies. __Host- cookies must be Secure, Path=/
 * and carry no Domain (RFC 6265bis §4.1.3.2); clearing one (logout) must
 * repeat them with Max-Age=0, or the browser keeps it.
 */
#define CF_COOKIE_ATTRS "Path=/; Secure; HttpOnly; SameSite=Strict"

/**
 * Put the tokens of a cookie-mode client in HttpOnly cookies on @p and take
 * the refresh token out of its JSON body.
 */
void cf_app_token_cookies(cf_app_t *app, cf_pending_t *p, const cf_session_t *s, const char *access,
                          int64_t exp, const char *refresh, cf_time_t now);

/**
 * CORS for a path routes.c marks as called by browser scripts (cors.c). A
 * preflight (OPTIONS with Access-Control-Request-Method) is answered here:
 * 204 with the Access-Control-* headers for an allowed origin, else 403
 * origin_not_allowed; returns 1 then. Otherwise adds Vary: Origin and, for
 * an allowed origin, its Access-Control-* headers to @req->also (whatever
 * the handler answers carries them) and returns 0.
 */
int cf_api_cors(cf_app_t *app, cf_http_req_t *req);

/**
 * The second CORS decision, once a CORS endpoint knows its client
 * (@client_id as named, or the session's; NULL or "" = none): a request
 * with an Origin header allowed neither globally nor for that client, and
 * not from curfew's own site, is answered 403 origin_not_allowed without
 * CORS headers and 1 is returned (the caller changes nothing). Otherwise
 * the answer's CORS headers are set for that client (credentials only for
 * a cookie-mode one) and 0 is returned. A no-op off the CORS endpoints.
 * @kind is the endpoint's, so the refusal carries what its other refusals
 * do (the challenge of /v1/logout, the no-store of the token endpoints).
 */
int cf_api_cors_client(cf_app_t *app, cf_http_req_t *req, const char *client_id,
                       cf_endpoint_t kind);

/** The route table (routes.c): the server's request handler, @ctx the app. */
void cf_api_route(void *ctx, cf_http_req_t *req);

/* ---- the staleness gate of a cluster node (gate.c) ------------------------ */

/**
 * The gate of every endpoint that decides from the index except /v1/check
 * (see deciders[] in gate.c), before @handler runs. Returns 1 when it
 * answered @req (503 store_unavailable) or took it over (revalidating
 * against Redis, then running @handler), 0 to run @handler as usual.
 */
int cf_api_cluster_gate(cf_app_t *app, cf_http_req_t *req,
                        void (*handler)(cf_app_t *app, cf_http_req_t *req));

/** Answer @req 503 store_unavailable because this node is stale, and count it. */
void cf_api_cluster_refuse(cf_app_t *app, cf_http_req_t *req);

/**
 * Cluster: read session @sid from Redis into the index, then run @again on
 * @req (once: the request is marked, so the gate lets it through). Answers
 * 503 store_unavailable itself when Redis does not answer (counted as a
 * refused check when @is_check).
 */
void cf_api_fetch_then(cf_app_t *app, cf_http_req_t *req, const char *sid,
                       void (*again)(cf_app_t *app, cf_http_req_t *req), int is_check);

/* ---- handlers ----------------------------------------------------------- */

void cf_api_check(cf_app_t *app, cf_http_req_t *req);
void cf_api_logout(cf_app_t *app, cf_http_req_t *req);
void cf_api_token(cf_app_t *app, cf_http_req_t *req);
void cf_api_revoke(cf_app_t *app, cf_http_req_t *req);
void cf_api_introspect(cf_app_t *app, cf_http_req_t *req);
void cf_api_sessions_create(cf_app_t *app, cf_http_req_t *req);
void cf_api_sessions_list(cf_app_t *app, cf_http_req_t *req);
void cf_api_session_show(cf_app_t *app, cf_http_req_t *req, const char *sid, size_t len);
void cf_api_session_delete(cf_app_t *app, cf_http_req_t *req, const char *sid, size_t len);
void cf_api_revocations(cf_app_t *app, cf_http_req_t *req);
void cf_api_jwks(cf_app_t *app, cf_http_req_t *req);
void cf_api_keys_list(cf_app_t *app, cf_http_req_t *req);
void cf_api_keys_rotate(cf_app_t *app, cf_http_req_t *req);
void cf_api_cluster(cf_app_t *app, cf_http_req_t *req);
/** POST /v1/config/reload (reload.c): SIGHUP's reload, answering with its outcome. */
void cf_api_config_reload(cf_app_t *app, cf_http_req_t *req);

/** /v1/apikeys and everything below it (apikeys.c): the API key admin endpoints. */
void cf_api_apikeys(cf_app_t *app, cf_http_req_t *req);

/** 1 when @req carries an API key (Bearer cfk_... or api_keys.header) for /v1/check (apicheck.c). */
int cf_api_apikey_presented(cf_app_t *app, const cf_http_req_t *req);

/**
 * Answer /v1/check for the API key @req carries, under @route (NULL: none)
 * at @now. Returns the refusal (CF_REASON_NONE: allowed); *@authn_failed is
 * set when the key itself was refused (lockout and alerts count it).
 */
cf_reason_t cf_api_apikey_check(cf_app_t *app, cf_http_req_t *req, const cf_route_t *route,
                                cf_time_t now, int *authn_failed);

/**
 * Answer a cluster revocation (cf_revoke_done_fn; @arg is the request): 503
 * or 500 when it failed, else the refusal, else for DELETE the session, for
 * /v1/revocations {"sessions_ended": N}, for /oauth/revoke 200 empty.
 */
void cf_api_revoked_session(cf_app_t *app, void *arg, const cf_revoke_result_t *r);
void cf_api_revoked_count(cf_app_t *app, void *arg, const cf_revoke_result_t *r);
void cf_api_revoked_token(cf_app_t *app, void *arg, const cf_revoke_result_t *r);

/* ---- metrics handlers (api/metrics.c) ------------------------------------ */

/** GET /metrics: the Prometheus text exposition (scrape token checked when configured). */
void cf_api_metrics(cf_app_t *app, cf_http_req_t *req);

/**
 * GET /v1/stats (admin): the counters the dashboard charts, as one JSON
 * object; readable with the admin key whether or not metrics.token is set.
 */
void cf_api_stats(cf_app_t *app, cf_http_req_t *req);

/* ---- dashboard (dashboard.c) ------------------------------------------- */

/**
 * /dashboard, /dashboard/ and /dashboard/NAME: the embedded page and its
 * files (GET and HEAD; no key needed, the page asks for it).
 */
void cf_api_dashboard(cf_app_t *app, cf_http_req_t *req);


#endif
