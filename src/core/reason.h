/* SPDX-License-Identifier: MIT
 *
 * Why a request was refused, and why a session ended: data, not prose.
 * One X-macro per set; the enum, the wire name (HTTP body, WWW-Authenticate,
 * metric label, audit event) and the human description all come from it, and
 * docs/api.md lists the same names. Never renumber or rename: they are API.
 */
#ifndef CF_CORE_REASON_H
#define CF_CORE_REASON_H

/* X(ENUM, "wire_name", "human description") */
#define CF_REASON_MAP(X)                                                                \
    X(NONE, "none", "no refusal")                                                       \
    X(MISSING_TOKEN, "missing_token", "no access token was sent")                       \
    X(INVALID_REQUEST, "invalid_request", "the Authorization header is malformed")      \
    X(MALFORMED_TOKEN, "malformed_token", "the token is not a well-formed JWT")         \
    X(BAD_SIGNATURE, "bad_signature", "the token signature does not verify")            \
    X(UNKNOWN_KEY, "unknown_key", "the token names a key this server does not have")    \
    X(TOKEN_EXPIRED, "token_expired", "the access token has expired")                   \
    X(TOKEN_NOT_YET_VALID, "token_not_yet_valid", "the access token is not valid yet")  \
    X(WRONG_ISSUER, "wrong_issuer", "the token was issued by someone else")             \
    X(WRONG_AUDIENCE, "wrong_audience", "the token is meant for another audience")      \
    X(SESSION_NOT_FOUND, "session_not_found", "the session does not exist")             \
    X(IDLE_TIMEOUT, "idle_timeout", "the session ended after being idle too long")      \
    X(ABSOLUTE_TIMEOUT, "absolute_timeout", "the session reached its maximum lifetime") \
    X(LOGOUT, "logout", "the session was logged out")                                   \
    X(SESSION_REVOKED, "session_revoked", "the session was revoked by an administrator") \
    X(REFRESH_REUSE, "refresh_reuse",                                                   \
      "a refresh token was used twice; the session was ended as stolen")                \
    X(REVOKED_BEFORE, "revoked_before",                                                 \
      "every token issued to this subject before a revocation is refused")              \
    X(UNKNOWN_REFRESH_TOKEN, "unknown_refresh_token", "the refresh token is not known") \
    X(CLIENT_MISMATCH, "client_mismatch",                                               \
      "the refresh token was issued to another client")                                 \
    X(ADMIN_UNAUTHORIZED, "admin_unauthorized", "a valid admin key is required")         \
    X(INVALID_CLIENT, "invalid_client", "client authentication failed")                 \
    X(UNAUTHORIZED_CLIENT, "unauthorized_client",                                       \
      "the client may not use this grant type")                                         \
    X(INSUFFICIENT_ROLE, "insufficient_role", "the session lacks a role this route requires") \
    X(INSUFFICIENT_SCOPE, "insufficient_scope",                                         \
      "the token lacks a scope this route requires")                                    \
    X(STEP_UP_REQUIRED, "step_up_required",                                             \
      "this route requires a more recent authentication")                               \
    X(ROUTE_IDLE_TIMEOUT, "route_idle_timeout",                                         \
      "the session has been idle too long for this route")                              \
    X(ROUTE_DENIED, "route_denied", "this route is closed by policy")                   \
    X(IP_CHANGED, "ip_changed", "the session is used from another network address")     \
    X(DEVICE_CHANGED, "device_changed", "the session is used from another device")      \
    X(RATE_LIMITED, "rate_limited", "too many requests; retry later")                   \
    X(LOCKED_OUT, "locked_out", "too many failures from this address; locked out for a while") \
    X(CSRF_REJECTED, "csrf_rejected",                                                   \
      "a cookie-authenticated request lacks a matching Origin or CSRF header")           \
    X(REFRESH_DISABLED, "refresh_disabled",                                             \
      "an alert rule has disabled refreshes for this subject for a while")              \
    X(STORE_UNAVAILABLE, "store_unavailable",                                           \
      "the session store cannot be reached or this node may be stale; retry")            \
    X(INVALID_PATH, "invalid_path",                                                     \
      "the request path is ambiguous: an encoded slash, backslash or NUL, or a dot segment above the root")

typedef enum {
#define X(name, str, desc) CF_REASON_##name,
    CF_REASON_MAP(X)
#undef X
        CF_REASON__COUNT
} cf_reason_t;

/** Stable wire name of @r; never NULL ("unknown" when out of range). */
const char *cf_reason_name(cf_reason_t r);

/** One-sentence human description of @r; never NULL. */
const char *cf_reason_describe(cf_reason_t r);

/** Parse a wire name; returns CF_REASON__COUNT when unknown. */
cf_reason_t cf_reason_from_name(const char *name);

/* Why a session ended. Exactly one per ended session, never changed after. */
#define CF_END_MAP(X)                                               \
    X(NONE, "none", CF_REASON_NONE)                                 \
    X(IDLE_TIMEOUT, "idle_timeout", CF_REASON_IDLE_TIMEOUT)         \
    X(ABSOLUTE_TIMEOUT, "absolute_timeout", CF_REASON_ABSOLUTE_TIMEOUT) \
    X(LOGOUT, "logout", CF_REASON_LOGOUT)                           \
    X(REVOKED, "revoked", CF_REASON_SESSION_REVOKED)                \
    X(REFRESH_REUSE, "refresh_reuse", CF_REASON_REFRESH_REUSE)      \
    X(IP_CHANGED, "ip_changed", CF_REASON_IP_CHANGED)               \
    X(DEVICE_CHANGED, "device_changed", CF_REASON_DEVICE_CHANGED)

typedef enum {
#define X(name, str, refusal) CF_END_##name,
    CF_END_MAP(X)
#undef X
        CF_END__COUNT
} cf_end_t;

/** Stable name of an end reason; never NULL. */
const char *cf_end_name(cf_end_t e);

/** The refusal reason a request on a session ended by @e gets. */
cf_reason_t cf_end_refusal(cf_end_t e);

/** Parse an end name; returns CF_END__COUNT when unknown. */
cf_end_t cf_end_from_name(const char *name);

#endif
