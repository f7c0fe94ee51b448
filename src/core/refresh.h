/* SPDX-License-Identifier: MIT
 *
 * The refresh decision: what to do with a presented refresh token. One rule
 * for every backend: a single node decides on its index, a cluster node on
 * what Redis told it, and both call this. Pure: the shell looks the token up,
 * gathers the session, the epochs, the alert hold, the requesting client and
 * the risk comparison, and applies the answer (decide -> commit -> apply on
 * acknowledgement -> reply, app/commit.c).
 */
#ifndef CF_CORE_REFRESH_H
#define CF_CORE_REFRESH_H

#include <stdint.h>

#include "core/clock.h"
#include "core/event.h"
#include "core/reason.h"
#include "core/risk.h"
#include "core/session.h"

/* How a refresh-token request ended: cf_refresh_result_t, in core/event.h (the event carries it). */

/** Everything the decision looks at. */
typedef struct {
    const cf_session_t *session; /* the token's session; NULL: the token is unknown */
    uint32_t gen;                /* the presented token's generation */
    const char *client_id;       /* the client the request names; "" or NULL: none */
    int client_authenticated;    /* the request proved a confidential client's secret */
    int owner_confidential;      /* the session's client is a configured confidential client */
    int disabled;                /* an alert's disable_refresh holds the session's subject */
    cf_risk_t risk;              /* cf_risk_compare() of this request; CF_RISK_NONE when not compared */
    cf_time_t now;               /* Unix ms */
    cf_time_t grace;             /* refresh.reuse_grace (ms); 0: none */
    cf_time_t not_before;        /* Unix ms: the later of the subject's and the global epoch (0 none) */
    /* DPoP (RFC 9449 §5): the session's cnf says which key its refresh tokens need. */
    const char *proof_jkt;       /* the thumbprint of the request's verified DPoP proof; NULL: none */
    cf_reason_t proof_refused;   /* a DPoP proof was sent and refused (invalid, replay, nonce) */
    const char *cert_x5t;        /* x5t#S256 of the client certificate this request presented; NULL: none */
} cf_refresh_input_t;

/** The answer. */
typedef struct {
    cf_refresh_result_t result; /* ROTATED or GRACE: issue tokens; anything else refuses */
    cf_reason_t why;            /* the refusal's reason; CF_REASON_NONE when issuing */
    cf_end_t end;               /* the end it implies: refresh_reuse, ip/device changed; CF_END_NONE */
    int record_deadline;        /* DENIED: a deadline may have passed unobserved; record it */
    int note_failure;           /* counts toward the client address's lockout */
    int risk_considered;        /* the risk comparison was reached (the shell logs a change) */
    int bind_jkt;               /* issuing: bind the unbound session to proof_jkt from now on */
} cf_refresh_decision_t;

/**
 * Decide @in into @out. In order, stopping at the first refusal:
 *  1. no session: UNKNOWN (unknown_refresh_token), a failure for the lockout;
 *  2. disabled: DISABLED (refresh_disabled);
 *  3. a client named that is not the session's: CLIENT_MISMATCH, a failure;
 *  4. the session's client is confidential and the request did not
 *     authenticate: INVALID_CLIENT (invalid_client);
 *  4b. DPoP: a proof that was sent and refused: SENDER with its reason; a
 *     session bound to a key (cnf jkt) without a proof: SENDER
 *     dpop_required; with a proof by another key: SENDER dpop_key_mismatch,
 *     a failure (a stolen refresh token without its key is worth nothing);
 *     a session bound to a certificate is refreshed only over that
 *     certificate, which the shell checks before (cert_mismatch);
 *  5. cf_session_refresh_decide(): an ended or epoch-revoked session, or less
 *     than CF_REFRESH_MIN_LEFT before its absolute deadline: DENIED
 *     (record_deadline set); an older generation (or one from the future):
 *     REUSE, end refresh_reuse, a failure;
 *  6. risk: a change whose policy is revoke: RISK with end ip_changed /
 *     device_changed; step_up: RISK without an end; ignore: nothing;
 *  7. ROTATED for the current generation, GRACE for the previous one within
 *     @grace of its rotation (generations wrap around 2^32); bind_jkt set
 *     when an unbound session was refreshed with a valid proof.
 * Pure; never fails.
 */
void cf_refresh_decide(const cf_refresh_input_t *in, cf_refresh_decision_t *out);

#endif
