/* SPDX-License-Identifier: MIT
 *
 * What an access token (RFC 9068 JWT profile) claims, whether those claims
 * hold at a given instant for this resource server, and the opaque refresh
 * tokens. Decides the claim verdicts (malformed, wrong issuer, wrong
 * audience, expired, not yet valid); signature checking is jws.h's job and
 * session state is session.h's. Pure: it must never read a clock (now is a
 * parameter), never accept a claim of the wrong JSON type or one that does
 * not fit its buffer (rather than truncate it), and never store a refresh
 * token itself, only its SHA-256.
 */
#ifndef CF_CORE_TOKEN_H
#define CF_CORE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/digest.h"
#include "core/reason.h"
#include "core/session.h"

/** Largest NumericDate accepted in exp, iat, nbf, auth_time: 9999-12-31T23:59:59Z. */
#define CF_TOKEN_MAX_NUMERICDATE INT64_C(253402300799)

/** The claims of a verified access token, copied out of the JSON. */
typedef struct {
    char sub[256], sid[64], client_id[128], jti[64], scope[512], roles[512]; /* roles space-separated */
    int64_t exp, iat, nbf, auth_time; /* Unix seconds; nbf = 0 when absent; auth_time=0 when absent */
    cf_cnf_t cnf; /* cnf.jkt or cnf.x5t#S256 (RFC 9449 §6, RFC 8705 §3); kind NONE when absent */
} cf_access_claims_t;

/** What this resource server expects of a token. */
typedef struct {
    const char *issuer;   /* expected iss; required */
    const char *audience; /* expected aud: aud claim may be a string or an array containing it; required */
    cf_time_t leeway;     /* for exp/nbf/iat; >= 0 */
} cf_token_expect_t;

/**
 * Decide whether the claims in @payload (borrowed) hold at @now for @exp.
 * Pure and thread-safe.
 *
 * Checks, in order, stopping at the first failure:
 *  1. CF_REASON_MALFORMED_TOKEN unless: @payload is an object; iss is a
 *     string; sub, sid and jti are non-empty strings; aud is a string or an array of strings; exp and
 *     iat are integers; nbf and auth_time are integers or absent; scope and
 *     client_id are strings or absent; roles is an array of strings or
 *     absent; cnf is absent or an object with exactly one of jkt and
 *     x5t#S256, a 43-character base64url string. Also malformed: any string that contains NUL or does not fit
 *     its field in @out, a role that is empty or contains a space, and any
 *     NumericDate outside 0..CF_TOKEN_MAX_NUMERICDATE. Real numbers are not
 *     integers (we only issue integers).
 *  2. CF_REASON_WRONG_ISSUER: iss != @exp->issuer.
 *  3. CF_REASON_WRONG_AUDIENCE: aud is neither @exp->audience nor an array
 *     containing it.
 *  4. CF_REASON_TOKEN_EXPIRED: @now >= exp*1000 + leeway.
 *  5. CF_REASON_TOKEN_NOT_YET_VALID: (nbf present and @now + leeway <
 *     nbf*1000) or @now + leeway < iat*1000.
 * Returns 0 with *@why set (CF_REASON_NONE when valid); CF_EINVAL for NULL
 * arguments, a NULL issuer or audience in @exp, or a negative leeway.
 * @out is zeroed first and filled whenever step 1 passed (so the caller may
 * log the sid of an expired token); on MALFORMED it stays zeroed.
 */
int cf_token_check_claims(const json_t *payload, const cf_token_expect_t *exp, cf_time_t now,
                          cf_access_claims_t *out, cf_reason_t *why);

/**
 * The one time check of an access token, for fresh claims and cached ones
 * alike: CF_REASON_TOKEN_EXPIRED when @now >= exp*1000 + @leeway;
 * CF_REASON_TOKEN_NOT_YET_VALID when @now + @ahead < nbf*1000 (nbf != 0) or
 * @now + @ahead < iat*1000; else CF_REASON_NONE. @ahead is the leeway for
 * iat and nbf (the clock leeway plus any slack after a backward clock step);
 * it is never less than @leeway, and a negative @leeway counts as 0. Times
 * are Unix seconds (exp, iat, nbf) and milliseconds (@now, @leeway, @ahead);
 * arithmetic saturates, so no attacker-chosen value can wrap. Pure.
 */
cf_reason_t cf_token_check_time(int64_t exp, int64_t iat, int64_t nbf, cf_time_t now,
                                cf_time_t leeway, cf_time_t ahead);

/** The claims of an access token to issue. All strings are borrowed. */
typedef struct {
    const char *issuer, *audience, *sub, *sid, *client_id, *jti, *scope;
    const char *const *roles;
    size_t nroles;
    int64_t iat, exp, auth_time;
    const cf_cnf_t *cnf; /* the sender constraint; NULL or kind NONE: a bearer token */
} cf_access_token_spec_t;

/**
 * Build the RFC 9068 payload for @spec as compact JSON, members in this
 * order: iss, sub, aud, exp, iat, jti, client_id, sid, scope, roles,
 * auth_time, cnf. client_id is left out when NULL, scope when NULL,
 * auth_time when 0; roles is always an array (possibly empty).
 * *@json_out is a new NUL-terminated string the caller frees with free().
 * Returns 0; CF_EINVAL when issuer, audience, sub, sid or jti is NULL or
 * empty, any string would not pass cf_token_check_claims() (too long for its
 * field, invalid UTF-8, a role empty or containing a space), exp <= iat, or
 * a time is outside 0..CF_TOKEN_MAX_NUMERICDATE; CF_ENOMEM. The issuer
 * therefore never signs a token its own verifier would call malformed.
 */
int cf_token_access_payload(const cf_access_token_spec_t *spec, char **json_out);

#define CF_REFRESH_RAW_LEN 32
#define CF_REFRESH_TOKEN_LEN 43 /* base64url of 32 bytes */

/**
 * Encode @raw (32 random bytes from the caller's CSPRNG) as the refresh
 * token string handed to the client: 43 base64url characters plus NUL.
 */
void cf_refresh_token_encode(const uint8_t raw[CF_REFRESH_RAW_LEN], char out[CF_REFRESH_TOKEN_LEN + 1]);

/**
 * SHA-256 of the @len bytes of token string @tok into @out. Only this hash is
 * stored, so a leaked store does not leak usable refresh tokens. Call
 * cf_refresh_token_wellformed() first; this hashes whatever it is given.
 */
void cf_refresh_token_hash(const char *tok, size_t len, uint8_t out[CF_SHA256_LEN]);

/**
 * 1 if @tok (@len bytes) is exactly 43 base64url characters that decode
 * canonically to 32 bytes (the last character's two unused bits zero), as
 * cf_refresh_token_encode() produces; else 0.
 */
int cf_refresh_token_wellformed(const char *tok, size_t len);

#endif
