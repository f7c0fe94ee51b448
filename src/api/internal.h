/* SPDX-License-Identifier: MIT
 *
 * Shared by the API handlers (private to src/api): replies, body parsing,
 * and the session operations every handler needs. All of it runs on the loop
 * thread.
 */
#ifndef CF_API_INTERNAL_H
#define CF_API_INTERNAL_H

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/app.h"
#include "core/event.h"
#include "core/reason.h"
#include "core/token.h"
#include "core/policy.h"
#include "http/server.h"

/* ---- replies (reply.c) -------------------------------------------------- */

/** Send @body (reference stolen; may be NULL for an empty body) as JSON. */
void cf_reply_json(cf_http_req_t *req, int status, json_t *body, const cf_http_header_t *extra,
                   size_t nextra);

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
 * escape or an encoded NUL, CF_ETOOBIG when it does not fit @cap.
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

/* ---- alerts (alerts.c) ------------------------------------------------- */

/** Build the rules and the webhook from the config. Returns 0 or a negative CF_E* (logged). */
int cf_app_alerts_init(cf_app_t *app);
/** Stop the webhook and free the rules; safe on a half-initialised app. */
void cf_app_alerts_fini(cf_app_t *app);
/** The sink: count every event of @ev against the rules (loop thread). */
void cf_app_alerts_events(cf_app_t *app, const cf_events_t *ev);
/** A refused /v1/check from @ip ("" unknown) for @sub (NULL unknown). */
void cf_app_alerts_check_failed(cf_app_t *app, const char *ip, const char *sub, cf_time_t now);
/** Run the automatic actions firing rules queued; call after a commit. */
void cf_app_alerts_act(cf_app_t *app);
/** 1 when disable_refresh holds @sub's refreshes at @now. */
int cf_app_refresh_disabled(cf_app_t *app, const char *sub, cf_time_t now);
/**
 * Hold @sub's refreshes until @until (Unix ms) on this node: an ALERT_HOLD
 * that the store has acknowledged, loaded, or heard on the bus. A hold only
 * lengthens. Returns 0 or CF_ENOMEM (logged).
 */
int cf_app_alert_hold(cf_app_t *app, const char *sub, cf_time_t until);

/* ---- clock steps (clock.c) ------------------------------------------------ */

/** Set up the monotonic clock and the step watch (from cfg); call before any cf_app_now(). */
void cf_app_clock_init(cf_app_t *app);
/** Monotonic milliseconds: the clock of rate limits, lockout and step detection. */
cf_time_t cf_app_mono(cf_app_t *app);
/**
 * Compare @wall (just read) with the monotonic clock; on a step, log one
 * line and hand a CLOCK_STEP event to the non-store sinks (metrics, audit).
 */
void cf_app_clock_observe(cf_app_t *app, cf_time_t wall);
/** 1 while a forward wall-clock step is unconfirmed: deadlines end nothing durably. */
int cf_app_clock_unconfirmed(cf_app_t *app);
/** Extra ms a token's iat/nbf may lie ahead of now after a backward step. */
cf_time_t cf_app_clock_slack(cf_app_t *app);
/** Start (and stop) the timer that looks for steps while no request reads the clock. */
void cf_app_clock_start(cf_app_t *app);
void cf_app_clock_stop(cf_app_t *app);

/* ---- signing keys (keys.c) ----------------------------------------------- */

/**
 * Load the KEK (CURFEW_KEK, else keys.kek_file) and DATA_DIR/keyset.json;
 * migrate DATA_DIR/signing-key.pem into a new key set (same kid) or create a
 * first key when there is neither. Logs one startup_error line and returns a
 * negative CF_E* on failure.
 */
int cf_app_keys_init(cf_app_t *app);
/** Start the retirement / rotate_every timer (after the loop is running). */
void cf_app_keys_start(cf_app_t *app);
/** Close the timer (if started). */
void cf_app_keys_stop(cf_app_t *app);
/** Free the key set and wipe the KEK; safe on a half-initialised app. */
void cf_app_keys_fini(cf_app_t *app);
/** The key that signs new tokens. */
const cf_jws_key_t *cf_app_signing_key(const cf_app_t *app);
/**
 * Make a new key active; the old one keeps verifying. Durable before it takes
 * effect; then the keyset hook runs. @trigger names the cause in the log
 * ("api", "schedule"). Returns 0 or a negative CF_E* (logged; nothing changed).
 */
int cf_app_keys_rotate(cf_app_t *app, const char *trigger);

typedef void (*cf_keys_done_fn)(cf_app_t *app, int rc, void *arg);

/**
 * Rotate, and on a cluster first make Redis accept the new set (one rotation
 * wins when nodes race; the losers get CF_EEXIST and follow the winner). @done
 * (may be NULL) gets 0 or a negative CF_E*, possibly before this returns.
 */
void cf_app_keys_rotate_async(cf_app_t *app, const char *trigger, cf_keys_done_fn done, void *arg);

/** Cluster start-up: share this node's key set through Redis, or adopt the cluster's. */
int cf_app_keys_cluster_init(cf_app_t *app);

/* ---- app operations (app.c) ------------------------------------------- */

cf_time_t cf_app_now(cf_app_t *app);

/** 1 when the request carries the admin key (constant-time compare); else replies 401. */
int cf_app_require_admin(cf_app_t *app, cf_http_req_t *req);

cf_session_t *cf_app_session(cf_app_t *app, const char *sid, size_t len);

/**
 * A fresh session id: 144 random bits in base64url, unknown to the index, and
 * never starting with '-', so it can be given to a command line as is.
 */
void cf_app_new_sid(cf_app_t *app, char sid[CF_SID_LEN + 1]);

/* The index (app.c). index_* return 0 or CF_ENOMEM; the index owns what it holds. */
int cf_app_index_session(cf_app_t *app, cf_session_t *s);
int cf_app_index_refresh(cf_app_t *app, cf_session_t *s, const uint8_t hash[32], uint32_t gen);
void cf_app_unindex_session(cf_app_t *app, cf_session_t *s);

/** The sessions of @sub (NULL when it has none in the index). */
cf_subject_t *cf_app_subject(cf_app_t *app, const char *sub);

/**
 * Drop the whole index and load it again from the store (a cluster node
 * resynchronising). Pointers to sessions do not survive it. Returns 0 or a
 * negative CF_E*, leaving the index empty.
 */
int cf_app_reload(cf_app_t *app);

/** The shared signing key set may have changed (cluster): reload it. */
void cf_app_keys_changed(cf_app_t *app);

/** The session id a verified token (in the verification cache) names, or NULL. */
const char *cf_app_cached_sid(cf_app_t *app, const char *tok, size_t len);

/**
 * Cluster: read session @sid (and its epochs) from Redis into the index, then
 * run cf_api_check() on @req again with req->user set, so it is fetched once.
 * Answers 503 store_unavailable itself when Redis does not answer.
 */
void cf_app_cluster_fetch(cf_app_t *app, cf_http_req_t *req, const char *sid);

/**
 * Cluster: DELETE /v1/sessions/{id}. Ends the session on Redis (fetching it
 * first when this node has not heard of it), applies the end here only once
 * Redis acknowledged it, and answers 200 with the session, 404, or 503
 * store_unavailable (nothing changed anywhere: a retry is safe).
 */
void cf_app_cluster_delete(cf_app_t *app, cf_http_req_t *req, const char *sid, size_t len);

/**
 * Cluster: /oauth/revoke of @tok (refresh or access token) by @client_id ("":
 * no client named), as cf_app_cluster_delete does, with end reason logout.
 * Answers 200 with no body (RFC 7009) or 503 store_unavailable.
 */
void cf_app_cluster_revoke_token(cf_app_t *app, cf_http_req_t *req, const char *client_id,
                                 const char *tok, size_t len);

/**
 * Cluster: POST /v1/revocations for subject @sub or client @client_id (the
 * other NULL), on Redis's per-subject / per-client index. @cutoff (Unix ms):
 * only sessions created before it end; 0 = all of them (a subject's
 * not-before is then now). Answers {"sessions_ended": N} or 503.
 */
void cf_app_cluster_revoke(cf_app_t *app, cf_http_req_t *req, const char *sub,
                           const char *client_id, cf_time_t cutoff);

/**
 * Cluster: a refresh token this node does not know (or knows at a generation
 * ahead of its session): look its hash up in Redis and index the session and
 * the token it names, then call @done with 0 (whether or not Redis knew it)
 * or CF_ESTORE. May call @done before returning.
 */
void cf_app_cluster_learn_refresh(cf_app_t *app, const char *tok, size_t len,
                                  void (*done)(void *arg, int status), void *arg);

/** GET /v1/cluster (cluster.c). */
void cf_api_cluster(cf_app_t *app, cf_http_req_t *req);

/**
 * Sign a new access token for @s at @now. Returns 0 with a malloc'd token in
 * *out and its expiry (Unix seconds) in *exp; the token is also placed in the
 * verification cache, so this node never verifies its own signature.
 */
int cf_app_issue_access(cf_app_t *app, const cf_session_t *s, cf_time_t now, char **out,
                        int64_t *exp);

/**
 * Mint a refresh token of generation @gen for @s: writes the token into @out
 * and records its hash on the event @e (which must belong to the batch that
 * persists the session change). The hash is indexed when that batch is
 * acknowledged (commit.c), never before.
 */
void cf_app_issue_refresh(const cf_session_t *s, uint32_t gen, char out[CF_REFRESH_TOKEN_LEN + 1],
                          cf_event_t *e);

/**
 * Decide to end @s with @why at @now if it is still live: adds the event,
 * whose snapshot carries the end, to @ev and returns 1. @s itself is not
 * changed; the end reaches the index when the batch is acknowledged. With
 * CF_END_NONE, records only a deadline that already passed. Returns 0 when
 * there is nothing to end.
 */
int cf_app_end_session(cf_app_t *app, cf_session_t *s, cf_end_t why, cf_time_t now,
                       cf_events_t *ev);

/** Record activity on @s (persisted lazily by the flush timer). */
void cf_app_touch(cf_app_t *app, cf_session_t *s, cf_time_t now);

/** The sinks that are not the store: log, metrics, audit log, alert rules. */
void cf_app_sinks(cf_app_t *app, const cf_events_t *ev);

/** A new refresh token in @out and its hash, not yet indexed anywhere. */
void cf_app_mint_refresh(char out[CF_REFRESH_TOKEN_LEN + 1], uint8_t hash[32]);

/* ---- the commit point (commit.c) --------------------------------------- */

/**
 * Commit a batch of decided events: the store makes them durable; then, and
 * only if it said yes, they are applied to the index and passed to the other
 * sinks, and @done (may be NULL) runs with 0. On failure nothing is applied
 * and @done gets the negative CF_E*. @done may run before this returns.
 * Activity and purge batches keep their lazy path (sinks first). Takes
 * ownership of @ev.
 */
void cf_app_commit(cf_app_t *app, cf_events_t *ev, cf_store_done_fn done, void *arg);

/**
 * The one merge rule for what a snapshot (the store, another node, Redis) says
 * of its session: later activity, newer generation, first end; never undoes an
 * end. Returns 1 when it brought @s a new end.
 */
int cf_app_merge_session(cf_session_t *s, const cf_session_t *snap);

/** 1 while a committed change of @s waits for the store's answer. */
int cf_app_session_busy(const cf_session_t *s);

typedef void (*cf_wait_fn)(cf_app_t *app, void *arg);

/**
 * Run @fn(app, arg) once every change of @s in flight has been answered (in
 * the order of the calls), so a decision that must see them is made on the
 * acknowledged state. Returns 0, or CF_ENOMEM (then @fn never runs).
 */
int cf_app_session_wait(cf_app_t *app, cf_session_t *s, cf_wait_fn fn, void *arg);

/** Look up a refresh token by its string; NULL if unknown or malformed. */
cf_refresh_entry_t *cf_app_refresh_lookup(cf_app_t *app, const char *tok, size_t len);

/**
 * Verify an access token at @now: signature (cached), claims, not-before
 * epochs and the session state. Returns CF_REASON_NONE with the session and
 * the token's exp, or the refusal reason (with *s set when the session is
 * known, e.g. for introspection). Negative CF_E* on internal errors.
 */
int cf_app_verify_access(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                         cf_session_t **s, int64_t *exp, int64_t *iat, cf_reason_t *why);

/** Raise the not-before epoch of @sub (NULL: everyone) to @at. Returns 0 or CF_ENOMEM. */
int cf_app_set_not_before(cf_app_t *app, const char *sub, cf_time_t at);

/** Not-before (Unix ms) that applies to @sub: the later of its own and the global one. */
cf_time_t cf_app_not_before(cf_app_t *app, const char *sub);

/** JSON view of a session for the admin API. New reference. */
json_t *cf_app_session_json(cf_app_t *app, const cf_session_t *s, cf_time_t now);

/** The token response body shared by session creation and refresh. New reference. */
json_t *cf_app_token_body(const cf_session_t *s, const char *access, int64_t exp,
                          const char *refresh, cf_time_t now);

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

/* ---- abuse controls and risk (guard.c) ---------------------------------- */

typedef struct {
    const char *ip, *sub, *client_id, *session, *api_key;
} cf_rate_who_t;

int cf_app_guard_init(cf_app_t *app);
void cf_app_guard_fini(cf_app_t *app);
const char *cf_rate_class_name(cf_rate_class_t c);

/**
 * Count a request of class @cls for @who (or only look, with @peek). Returns
 * 1 when over the limit, after replying 429 with Retry-After and RateLimit
 * headers (when @req is not NULL); 0 when allowed. Limits and lockout run
 * on cf_app_mono(): the wall time @wall of these three is not used (a
 * clock step must not move them); it stays for the callers' convenience.
 */
int cf_app_rate_limit(cf_app_t *app, cf_http_req_t *req, cf_rate_class_t cls,
                      const cf_rate_who_t *who, cf_time_t wall, int peek);

/** 1 (after replying 429 locked_out) when @ip is locked out. */
int cf_app_locked_out(cf_app_t *app, cf_http_req_t *req, const char *ip, cf_time_t wall);

/** Record an authentication failure from @ip for the lockout. */
void cf_app_note_failure(cf_app_t *app, const char *ip, cf_time_t wall);

/**
 * Compare the request's address and device with what @s is bound to.
 * Returns CF_REASON_NONE, or IP_CHANGED / DEVICE_CHANGED with *revoke set
 * when the policy says to end the session (else: step up).
 */
cf_reason_t cf_app_risk_check(cf_app_t *app, const cf_session_t *s, const cf_http_req_t *req,
                              int *revoke);

/** Copy the session's effective risk policy (client, roles, global) into it. */
void cf_app_session_apply_policy(cf_app_t *app, cf_session_t *s);

/** 1 when a cookie-authenticated request carries an allowed Origin or the CSRF header. */
int cf_app_csrf_ok(cf_app_t *app, const cf_http_req_t *req);

/** A short digest naming the request's Authorization credential (rate-limit key). */
void cf_app_api_key_id(const cf_http_req_t *req, char out[24]);

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

/* ---- metrics (metrics.c) ------------------------------------------------ */

/** Zero the metrics and set their histogram buckets. */
void cf_app_metrics_init(cf_app_t *app);

/** The metrics sink of the event stream: count what a batch of events says happened. */
void cf_app_metrics_events(cf_app_t *app, const cf_events_t *ev);

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
