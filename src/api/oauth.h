/* SPDX-License-Identifier: MIT
 *
 * What the OAuth endpoints share (private to src/api): token.c (the token
 * endpoint) and oauth.c (revocation, introspection, and these helpers).
 */
#ifndef CF_API_OAUTH_H
#define CF_API_OAUTH_H

#include "api/api.h"
#include "api/dpop.h"

#define FIELD_CAP 8192

static const cf_http_header_t no_store_headers[] = {{"Cache-Control", 13, "no-store", 8},
                                                    {"Pragma", 6, "no-cache", 8}};

/* One OAuth request while its client is authenticated (possibly off the loop). */
typedef struct {
    cf_client_auth_t ca; /* first: the callback gets this back */
    char grant[64];
    char scope[512];
    int has_scope;
    char *token; /* FIELD_CAP bytes: refresh or access token, or NULL */
    int token_len;
    int token_from_cookie;
    int asked_redis; /* cluster: Redis was asked about a token this node did not know */
    cf_reason_t why;
    cf_api_dpop_t dpop; /* the token request's DPoP proof, verified once (token.c) */
    int bind_jkt;       /* the refresh binds the unbound session to dpop.jkt */
    char cert_x5t[44];  /* the client certificate's x5t#S256 (cf_api_client_cert's buffer) */
} oauth_call_t;

/** RFC 6749 §5.2 error; the status, error and no-store headers come from the reason map. */
void cf_oauth_error(cf_http_req_t *req, cf_reason_t why, const char *desc);

/**
 * Read form field @key into @out (@cap bytes); replies 400 itself on a broken
 * encoding. Returns the length, -1 when absent, or -2 when it replied.
 */
int cf_oauth_field(cf_http_req_t *req, const char *key, char *out, size_t cap);

/**
 * Parse the common parts of an OAuth request (form body, client
 * credentials, lockout, the token in @token_field or the refresh cookie,
 * CSRF). Replies itself and returns NULL on any problem.
 */
oauth_call_t *cf_oauth_call_new(cf_app_t *app, cf_http_req_t *req, const char *token_field);

/** Wipe and free @c (NULL is fine). */
void cf_oauth_call_free(oauth_call_t *c);

/** 1 when @s's client is in cookie mode: its tokens go in HttpOnly cookies, never in JSON. */
int cf_oauth_uses_cookies(cf_app_t *app, const cf_session_t *s);

#endif
