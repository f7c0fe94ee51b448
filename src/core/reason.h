/* SPDX-License-Identifier: MIT
 *
 * Why a request was refused, and why a session ended: data, not prose.
 * One X-macro per set; the enum, the wire name (HTTP body, WWW-Authenticate,
 * metric label, audit event) and the human description all come from it, and
 * docs/api.md lists the same names. Never renumber or rename: they are API.
 */
#ifndef CF_CORE_REASON_H
#define CF_CORE_REASON_H

/*
 * X(ENUM, "wire_name", "description",
 *   status, "error",               every endpoint unless overridden below
 *   bearer_status, "bearer_error", /v1/check and /v1/logout (RFC 6750); 0, NULL: as above
 *   token_status, "token_error",   /oauth/token, /revoke, /introspect (RFC 6749 §5.2); 0, NULL: as above
 *   "challenge")                   a fixed WWW-Authenticate, or NULL (bearer refusals build theirs)
 *
 * The description is the answer's error_description and the WWW-Authenticate
 * error_description; docs/api.md's reason table is printed from this map
 * (`curfew reasons`). New rows go at the end: the enum values are counted in
 * metrics arrays and must not move.
 */
#define CF_REASON_MAP(X)                                                                           \
    X(NONE, "none", "no refusal", 0, NULL, 0, NULL, 0, NULL, NULL)                                 \
    X(MISSING_TOKEN, "missing_token", "no access token was sent", 401, "unauthorized", 0, NULL, 0, \
      NULL, "Bearer realm=\"curfew\"")                                                             \
    X(INVALID_REQUEST, "invalid_request",                                                          \
      "the request is malformed: a header, parameter or field is missing, repeated or invalid",   \
      400, "invalid_request", 0, NULL, 0, NULL, NULL)                                              \
    X(MALFORMED_TOKEN, "malformed_token", "the token is not a well-formed JWT", 401,               \
      "invalid_token", 0, NULL, 0, NULL, NULL)                                                     \
    X(BAD_SIGNATURE, "bad_signature",                                                              \
      "the token signature does not verify, or its alg is not the key's", 401, "invalid_token", 0, \
      NULL, 0, NULL, NULL)                                                                         \
    X(UNKNOWN_KEY, "unknown_key", "the token names a key this server does not have (or none)",    \
      401, "invalid_token", 0, NULL, 0, NULL, NULL)                                                \
    X(TOKEN_EXPIRED, "token_expired", "the access token has expired", 401, "invalid_token", 0,    \
      NULL, 0, NULL, NULL)                                                                         \
    X(TOKEN_NOT_YET_VALID, "token_not_yet_valid", "the access token's nbf or iat is in the future", \
      401, "invalid_token", 0, NULL, 0, NULL, NULL)                                                \
    X(WRONG_ISSUER, "wrong_issuer", "the token was issued by someone else", 401, "invalid_token",  \
      0, NULL, 0, NULL, NULL)                                                                      \
    X(WRONG_AUDIENCE, "wrong_audience", "the token is meant for another audience", 401,           \
      "invalid_token", 0, NULL, 0, NULL, NULL)                                                     \
    X(SESSION_NOT_FOUND, "session_not_found",                                                      \
      "the session does not exist (never did, or was purged)", 404, "not_found", 401,             \
      "invalid_token", 400, "invalid_grant", NULL)                                                 \
    X(IDLE_TIMEOUT, "idle_timeout", "the session ended after being idle too long", 401,            \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(ABSOLUTE_TIMEOUT, "absolute_timeout", "the session reached its maximum lifetime", 401,       \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(LOGOUT, "logout", "the session was logged out", 401, "invalid_token", 0, NULL, 400,          \
      "invalid_grant", NULL)                                                                       \
    X(SESSION_REVOKED, "session_revoked", "the session was revoked by an administrator", 401,      \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(REFRESH_REUSE, "refresh_reuse",                                                              \
      "a refresh token was used twice; the session was ended as stolen", 401, "invalid_token", 0,  \
      NULL, 400, "invalid_grant", NULL)                                                            \
    X(REVOKED_BEFORE, "revoked_before",                                                            \
      "every token issued to this subject (or everyone) before a revocation is refused", 401,      \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(UNKNOWN_REFRESH_TOKEN, "unknown_refresh_token", "the refresh token is not known", 400,       \
      "invalid_grant", 0, NULL, 0, NULL, NULL)                                                     \
    X(CLIENT_MISMATCH, "client_mismatch", "the refresh token was issued to another client", 400,   \
      "invalid_grant", 0, NULL, 0, NULL, NULL)                                                     \
    X(ADMIN_UNAUTHORIZED, "admin_unauthorized", "a valid admin key is required", 401,              \
      "unauthorized", 0, NULL, 0, NULL, "Bearer realm=\"curfew-admin\"")                           \
    X(INVALID_CLIENT, "invalid_client",                                                            \
      "client authentication failed (wrong secret, unknown client)", 401, "invalid_client", 0,     \
      NULL, 0, NULL, "Basic realm=\"curfew\"")                                                     \
    X(UNAUTHORIZED_CLIENT, "unauthorized_client", "the client may not use this grant type", 400,   \
      "unauthorized_client", 0, NULL, 0, NULL, NULL)                                               \
    X(INSUFFICIENT_ROLE, "insufficient_role", "the session lacks a role this route requires", 403, \
      "insufficient_scope", 0, NULL, 0, NULL, NULL)                                                \
    X(INSUFFICIENT_SCOPE, "insufficient_scope", "the token lacks a scope this route requires",     \
      403, "insufficient_scope", 0, NULL, 0, NULL, NULL)                                           \
    X(STEP_UP_REQUIRED, "step_up_required", "this route requires a more recent authentication",   \
      401, "insufficient_user_authentication", 0, NULL, 400, "invalid_grant", NULL)               \
    X(ROUTE_IDLE_TIMEOUT, "route_idle_timeout",                                                    \
      "the session has been idle too long for this route; it lives on elsewhere", 401,             \
      "invalid_token", 0, NULL, 0, NULL, NULL)                                                     \
    X(ROUTE_DENIED, "route_denied", "this route is closed by policy", 403, "access_denied", 0,     \
      NULL, 0, NULL, NULL)                                                                         \
    X(IP_CHANGED, "ip_changed", "the session is used from another network address", 401,          \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(DEVICE_CHANGED, "device_changed", "the session is used from another device", 401,           \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(RATE_LIMITED, "rate_limited", "too many requests; retry after Retry-After seconds", 429,     \
      "rate_limited", 0, NULL, 0, NULL, NULL)                                                      \
    X(LOCKED_OUT, "locked_out", "too many failures from this address; locked out for a while",    \
      429, "locked_out", 0, NULL, 0, NULL, NULL)                                                   \
    X(CSRF_REJECTED, "csrf_rejected",                                                              \
      "a cookie-authenticated request lacks a matching Origin or CSRF header", 403,               \
      "access_denied", 0, NULL, 0, NULL, NULL)                                                     \
    X(REFRESH_DISABLED, "refresh_disabled",                                                        \
      "an alert rule holds this subject's refreshes for a while", 400, "invalid_grant", 0, NULL,   \
      0, NULL, NULL)                                                                               \
    X(STORE_UNAVAILABLE, "store_unavailable",                                                      \
      "the store cannot be reached, or this cluster node may be stale; retry", 503,                \
      "temporarily_unavailable", 0, NULL, 0, NULL, NULL)                                           \
    X(NOT_FOUND, "not_found", "there is nothing at this path", 404, "not_found", 0, NULL, 0, NULL, \
      NULL)                                                                                        \
    X(METHOD_NOT_ALLOWED, "method_not_allowed",                                                    \
      "this path does not accept the method; Allow lists those it does", 405,                     \
      "method_not_allowed", 0, NULL, 0, NULL, NULL)                                                \
    X(LENGTH_REQUIRED, "length_required",                                                          \
      "a request body needs Content-Length or chunked Transfer-Encoding", 411, "length_required",  \
      0, NULL, 0, NULL, NULL)                                                                      \
    X(PAYLOAD_TOO_LARGE, "payload_too_large", "the request body exceeds limits.max_body_bytes",    \
      413, "payload_too_large", 0, NULL, 0, NULL, NULL)                                            \
    X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",                                            \
      "the body has a Content-Type this endpoint does not take", 415, "invalid_request", 0, NULL,  \
      0, NULL, NULL)                                                                               \
    X(HEADERS_TOO_LARGE, "headers_too_large",                                                      \
      "the request line and headers exceed limits.max_header_bytes or the field count", 431,            \
      "request_header_fields_too_large", 0, NULL, 0, NULL, NULL)                                   \
    X(REQUEST_TIMEOUT, "request_timeout",                                                          \
      "the request was not received completely within limits.client_timeout", 408,                \
      "request_timeout", 0, NULL, 0, NULL, NULL)                                                   \
    X(HTTP_VERSION_NOT_SUPPORTED, "http_version_not_supported",                                    \
      "only HTTP/1.0 and HTTP/1.1 are supported", 505, "http_version_not_supported", 0, NULL, 0,   \
      NULL, NULL)                                                                                  \
    X(TOO_MANY_CONNECTIONS, "too_many_connections",                                                \
      "the server holds limits.max_connections connections already; retry", 503,                  \
      "temporarily_unavailable", 0, NULL, 0, NULL, NULL)                                           \
    X(INVALID_JSON, "invalid_json", "the body is not a valid JSON object", 400, "invalid_request", \
      0, NULL, 0, NULL, NULL)                                                                      \
    X(UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type",                                            \
      "the grant_type is not one this server supports", 400, "unsupported_grant_type", 0, NULL, 0, \
      NULL, NULL)                                                                                  \
    X(INVALID_SCOPE, "invalid_scope", "the requested scope exceeds what this client may get", 400, \
      "invalid_scope", 0, NULL, 0, NULL, NULL)                                                     \
    X(METRICS_UNAUTHORIZED, "metrics_unauthorized", "a valid metrics token is required", 401,      \
      "unauthorized", 0, NULL, 0, NULL, "Bearer realm=\"curfew-metrics\"")                         \
    X(ROTATION_CONFLICT, "rotation_conflict",                                                      \
      "another node rotated the key set at the same moment; retry for one more rotation", 409,    \
      "conflict", 0, NULL, 0, NULL, NULL)                                                          \
    X(CONFIG_REFUSED, "config_refused",                                                            \
      "the configuration was not reloaded (a FILE:LINE error, or a restart-only option changed); " \
      "the running one stays", 409, "conflict", 0, NULL, 0, NULL, NULL)                           \
    X(SERVER_ERROR, "server_error", "the server could not complete this request", \
      500, "server_error", 0, NULL, 0, NULL, NULL) \
    X(INVALID_PATH, "invalid_path",                                                                \
      "the request path is ambiguous: an encoded slash, backslash or NUL, or a dot segment above the root", \
      400, "invalid_request", 0, NULL, 0, NULL, NULL)                                              \
    X(MALFORMED_KEY, "malformed_key",                                                              \
      "the API key is not well-formed (prefix, length, characters or checksum)", 401,             \
      "invalid_token", 0, NULL, 0, NULL, NULL)                                                     \
    X(INVALID_KEY, "invalid_key", "the API key is not known (no such key, or a wrong secret)",    \
      401, "invalid_token", 0, NULL, 0, NULL, NULL)                                                \
    X(KEY_EXPIRED, "key_expired", "the API key reached its expiry", 409, "conflict", 401,         \
      "invalid_token", 0, NULL, NULL)                                                              \
    X(KEY_IDLE_EXPIRED, "key_idle_expired", "the API key expired after going unused too long",    \
      409, "conflict", 401, "invalid_token", 0, NULL, NULL)                                        \
    X(KEY_REVOKED, "key_revoked", "the API key was revoked", 409, "conflict", 401,                \
      "invalid_token", 0, NULL, NULL)                                                              \
    X(KEY_ROTATED, "key_rotated", "the API key was rotated and its overlap window has ended", 409, \
      "conflict", 401, "invalid_token", 0, NULL, NULL)                                             \
    X(NETWORK_NOT_ALLOWED, "network_not_allowed",                                                  \
      "the API key may not be used from this network address", 403, "access_denied", 0, NULL, 0,  \
      NULL, NULL)                                                                                  \
    X(QUOTA_EXCEEDED, "quota_exceeded",                                                            \
      "the API key used up its quota for the day or month; retry after Retry-After seconds", 429, \
      "rate_limited", 0, NULL, 0, NULL, NULL)                                                      \
    X(EXPIRY_REQUIRED, "expiry_required",                                                          \
      "an API key must expire (api_keys.require_expiry or a maximum lifetime applies)", 400,      \
      "invalid_request", 0, NULL, 0, NULL, NULL)                                                   \
    X(LIFETIME_TOO_LONG, "lifetime_too_long",                                                      \
      "the requested lifetime exceeds the maximum lifetime for API keys", 400, "invalid_request", \
      0, NULL, 0, NULL, NULL)                                                                      \
    X(UPSTREAM_UNAVAILABLE, "upstream_unavailable",                                                \
      "the proxied server could not be reached, or broke off its answer", 502, "bad_gateway", 0,   \
      NULL, 0, NULL, NULL)                                                                         \
    X(UPSTREAM_TIMEOUT, "upstream_timeout", "the proxied server did not answer in time", 504,      \
      "gateway_timeout", 0, NULL, 0, NULL, NULL)                                                   \
    X(DPOP_REQUIRED, "dpop_required",                                                              \
      "the token is bound to a DPoP key (or the client must use DPoP): send a DPoP proof", 401,    \
      "invalid_token", 0, NULL, 400, "invalid_dpop_proof", NULL)                                   \
    X(DPOP_INVALID, "dpop_invalid",                                                                \
      "the DPoP proof is malformed, badly signed, or made for another method, URL, time or token", \
      401, "invalid_dpop_proof", 0, NULL, 400, "invalid_dpop_proof", NULL)                         \
    X(DPOP_REPLAY, "dpop_replay", "this DPoP proof (its jti) was used before", 401,                \
      "invalid_dpop_proof", 0, NULL, 400, "invalid_dpop_proof", NULL)                              \
    X(DPOP_KEY_MISMATCH, "dpop_key_mismatch",                                                      \
      "the DPoP proof was signed by another key than the one the token is bound to", 401,         \
      "invalid_token", 0, NULL, 400, "invalid_dpop_proof", NULL)                                   \
    X(USE_DPOP_NONCE, "use_dpop_nonce",                                                            \
      "the DPoP proof must carry the nonce of the DPoP-Nonce header", 401, "use_dpop_nonce", 0,    \
      NULL, 400, "use_dpop_nonce", NULL)                                                           \
    X(CERT_MISMATCH, "cert_mismatch",                                                              \
      "the token is bound to a client certificate this request did not present", 401,             \
      "invalid_token", 0, NULL, 400, "invalid_grant", NULL)                                        \
    X(ORIGIN_NOT_ALLOWED, "origin_not_allowed",                                                    \
      "a CORS preflight from an origin in no cors or client allowed_origins list, or a call "      \
      "from an origin its client does not allow (or a missing, repeated or malformed Origin)",     \
      403, "access_denied", 0, NULL, 0, NULL, NULL)                                                \
    X(CLIENT_CERT_REQUIRED, "client_cert_required",                                                \
      "the client authenticates with a TLS client certificate: present it (and no secret)", 401,   \
      "invalid_client", 0, NULL, 0, NULL, NULL)                                                    \
    X(CLIENT_CERT_INVALID, "client_cert_invalid",                                                  \
      "the client certificate does not chain to the configured CAs, or has expired", 401,          \
      "invalid_client", 0, NULL, 0, NULL, NULL)                                                    \
    X(CLIENT_CERT_MISMATCH, "client_cert_mismatch",                                                \
      "the client certificate is not the one registered for the client (subject DN, SAN or "       \
      "thumbprint)", 401, "invalid_client", 0, NULL, 0, NULL, NULL)

typedef enum {
#define X(name, str, desc, st, err, bst, berr, tst, terr, ch) CF_REASON_##name,
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

/** The kinds of endpoint whose answers to the same reason differ (the map's columns). */
typedef enum {
    CF_ENDPOINT_API,    /* admin API and everything not below */
    CF_ENDPOINT_BEARER, /* /v1/check and /v1/logout: RFC 6750 resource */
    CF_ENDPOINT_TOKEN,  /* /oauth/token, /oauth/revoke, /oauth/introspect: RFC 6749 §5.2 */
    CF_ENDPOINT__COUNT
} cf_endpoint_t;

/**
 * HTTP status that refuses a request for reason @r on an endpoint of @kind;
 * 500 for CF_REASON_NONE or an out-of-range value (a refusal must never be a 2xx).
 */
int cf_reason_status(cf_reason_t r, cf_endpoint_t kind);

/** The `error` code (RFC 6750 / RFC 6749 / HTTP) of that answer; never NULL. */
const char *cf_reason_error(cf_reason_t r, cf_endpoint_t kind);

/** A fixed WWW-Authenticate value for @r (e.g. the admin realm), or NULL. */
const char *cf_reason_challenge(cf_reason_t r);

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
