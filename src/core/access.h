/* SPDX-License-Identifier: MIT
 *
 * The access decision: may this token serve this request now? Everything
 * /v1/check, logout, introspection and the enforcing proxy decide about an
 * access token is decided here, from values the shell gathered: the
 * verified claims (or why verification refused the token), the session the
 * token names, the not-before epochs, the route, the risk comparison, and
 * `now`. Pure: no clock, no I/O, no allocation; the answer is a verdict, a
 * reason, the instant it stops being true, and the session end it implies
 * (the shell commits that end before it answers).
 */
#ifndef CF_CORE_ACCESS_H
#define CF_CORE_ACCESS_H

#include <stdint.h>

#include "core/clock.h"
#include "core/policy.h"
#include "core/reason.h"
#include "core/risk.h"
#include "core/session.h"

/** The token as the shell verified it (signature, issuer, audience) or did not. */
typedef struct {
    cf_reason_t refused;   /* why verification refused it (missing, malformed, signature...); NONE: verified */
    int64_t exp, iat, nbf; /* Unix seconds (nbf 0: absent); only when verified */
} cf_access_token_t;

/** Everything the decision looks at; the shell gathers it, the core reads it. */
typedef struct {
    cf_access_token_t token;
    const cf_session_t *session;  /* the session the token names; NULL: none known */
    cf_time_t global_not_before;  /* Unix ms: tokens issued before it are revoked (0 none) */
    cf_time_t subject_not_before; /* Unix ms: the later of the subject's and the global (0 none) */
    const cf_route_t *route;      /* the route the request matched; NULL: none */
    cf_risk_t risk;               /* cf_risk_compare() of this request; CF_RISK_NONE when not compared */
    cf_time_t now;                /* Unix ms */
    cf_time_t leeway;             /* clock leeway for exp, iat, nbf (ms, >= 0) */
    cf_time_t slack;              /* extra ms iat/nbf may lie ahead after a backward clock step */
    int waive_exp;                /* logout: an expired token may still end its own session */
    int background;               /* the client marked the request as background (not a person's) */
    /* Sender constraints (RFC 9449 DPoP, RFC 8705 mTLS); NULL strings: absent. */
    const char *bound_jkt;        /* the token's cnf.jkt: it must come with a proof by that key */
    const char *bound_x5t;        /* the token's cnf.x5t#S256: it must come with that certificate */
    const char *proof_jkt;        /* the thumbprint of this request's verified DPoP proof */
    cf_reason_t proof_refused;    /* a DPoP proof was sent and refused (invalid, replay, nonce) */
    const char *cert_x5t;         /* the client certificate this request presented */
} cf_access_input_t;

typedef enum {
    CF_ACCESS_ALLOW,     /* serve it; touch the session (none for an anonymous route) */
    CF_ACCESS_ANONYMOUS, /* serve it without looking at any token (anonymous route) */
    CF_ACCESS_REFUSE,    /* refuse with the reason's status (401 or 403) */
    CF_ACCESS_STEP_UP,   /* refuse with an RFC 9470 challenge (max_age when > 0) */
} cf_access_verdict_t;

/** The answer. */
typedef struct {
    cf_access_verdict_t verdict;
    cf_reason_t why;      /* CF_REASON_NONE when allowed */
    cf_time_t deadline;   /* ALLOW: when this answer stops being true (earliest of token exp, idle end, absolute end) */
    cf_time_t max_age;    /* STEP_UP: the route's max_auth_age (ms); 0: any fresh authentication */
    cf_end_t end;         /* the session end this decision implies (risk revoke); CF_END_NONE: none */
    int risk_considered;  /* the risk comparison was reached (the shell logs a change it found) */
    int authn_failed;     /* refused at steps 2-5 (the token or its session): a failed authentication */
    int activity;         /* ALLOW: a person's activity, which moves the idle deadline (touch the session) */
} cf_access_decision_t;

/**
 * Decide @in into @out. In order, stopping at the first refusal:
 *  1. a route that denies: REFUSE route_denied; an anonymous route: ANONYMOUS
 *     (before any token is looked at);
 *  2. token.refused: REFUSE with it;
 *  3. the time check (cf_token_check_time with leeway, and leeway + slack for
 *     iat and nbf): token_expired (skipped with waive_exp when a session is
 *     known) or token_not_yet_valid;
 *  4. iat before the global not-before, or (with a session) before the
 *     subject's, or a session created before the subject's: revoked_before;
 *  5. no session: session_not_found; an ended session: its end's reason;
 *  5b. sender constraints: a DPoP proof that was sent and refused refuses
 *     (proof_refused), bound or not; a DPoP-bound token without a proof:
 *     dpop_required; with a proof by another key: dpop_key_mismatch; a
 *     certificate-bound token without the same certificate: cert_mismatch
 *     (strings compared in constant time);
 *  6. risk: a change whose policy is step_up: STEP_UP (max_age 0); revoke:
 *     REFUSE with end = ip_changed / device_changed; ignore: no refusal;
 *  7. the route's requirements (cf_route_decide): FORBIDDEN reasons REFUSE,
 *     step_up_required STEP_UP with the route's max_auth_age, route idle
 *     REFUSE (the session lives on for other routes);
 *  8. ALLOW, with the deadline; activity set unless the route says
 *     `activity: none` or the request is background (in->background): only
 *     a person's requests keep a session from idling out.
 * A refusal at steps 2-5b sets authn_failed (lockout and alert rules count it).
 * Pure; never fails.
 */
void cf_access_decide(const cf_access_input_t *in, cf_access_decision_t *out);

#endif
