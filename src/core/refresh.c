/* SPDX-License-Identifier: MIT
 *
 * The refresh decision (refresh.h). The generation rule itself (rotate,
 * grace, reuse, the last second) is cf_session_refresh_decide(); this file
 * puts the request's gates before it and the risk binding after it, so that
 * both backends refuse in the same order with the same reasons.
 */
#include "core/refresh.h"

#include <string.h>

#include "core/digest.h"

static void refuse(cf_refresh_decision_t *out, cf_refresh_result_t r, cf_reason_t why, int failure)
{
    out->result = r;
    out->why = why;
    out->note_failure = failure;
}

/* Two thumbprints equal? Constant time over the bound one's length. */
static int same_key(const char *bound, const char *got)
{
    size_t n = strlen(bound);

    return strlen(got) == n && cf_ct_equal(bound, got, n);
}

/* Steps 1-4b: may this request present this token at all? 1 when refused. */
static int gates(const cf_refresh_input_t *in, cf_refresh_decision_t *out)
{
    const cf_session_t *s = in->session;

    if (s == NULL)
        refuse(out, CF_REFRESH_RESULT_UNKNOWN, CF_REASON_UNKNOWN_REFRESH_TOKEN, 1);
    else if (in->disabled)
        refuse(out, CF_REFRESH_RESULT_DISABLED, CF_REASON_REFRESH_DISABLED, 0);
    else if (in->client_id != NULL && in->client_id[0] != '\0' &&
             strcmp(in->client_id, cf_session_client_id(s)) != 0)
        refuse(out, CF_REFRESH_RESULT_CLIENT_MISMATCH, CF_REASON_CLIENT_MISMATCH, 1);
    else if (!in->client_authenticated && cf_session_client_id(s)[0] != '\0' &&
             in->owner_confidential)
        /* A confidential client's refresh tokens are useless without its secret. */
        refuse(out, CF_REFRESH_RESULT_INVALID_CLIENT, CF_REASON_INVALID_CLIENT, 0);
    else if (in->proof_refused != CF_REASON_NONE)
        refuse(out, CF_REFRESH_RESULT_SENDER, in->proof_refused, 1);
    else if (cf_session_bound(s, CF_CNF_JKT) != NULL && in->proof_jkt == NULL)
        refuse(out, CF_REFRESH_RESULT_SENDER, CF_REASON_DPOP_REQUIRED, 1);
    else if (cf_session_bound(s, CF_CNF_JKT) != NULL &&
             !same_key(cf_session_bound(s, CF_CNF_JKT), in->proof_jkt))
        refuse(out, CF_REFRESH_RESULT_SENDER, CF_REASON_DPOP_KEY_MISMATCH, 1);
    else if (cf_session_bound(s, CF_CNF_X5T) != NULL &&
             (in->cert_x5t == NULL || !same_key(cf_session_bound(s, CF_CNF_X5T), in->cert_x5t)))
        refuse(out, CF_REFRESH_RESULT_SENDER, CF_REASON_CERT_MISMATCH, 1);
    else
        return 0;
    return 1;
}

void cf_refresh_decide(const cf_refresh_input_t *in, cf_refresh_decision_t *out)
{
    cf_reason_t why;

    memset(out, 0, sizeof *out);
    out->end = CF_END_NONE;
    if (gates(in, out))
        return;
    switch (cf_session_refresh_decide(in->session, in->gen, in->now, in->grace, in->not_before, &why)) {
    case CF_REFRESH_DENY:
        refuse(out, CF_REFRESH_RESULT_DENIED, why, 0);
        out->record_deadline = 1;
        return;
    case CF_REFRESH_REUSE:
        /* Theft: two parties hold this session's refresh tokens. */
        refuse(out, CF_REFRESH_RESULT_REUSE, CF_REASON_REFRESH_REUSE, 1);
        out->end = CF_END_REFRESH_REUSE;
        return;
    case CF_REFRESH_ROTATE:
        out->result = CF_REFRESH_RESULT_ROTATED;
        break;
    case CF_REFRESH_GRACE:
        out->result = CF_REFRESH_RESULT_GRACE;
        break;
    }
    out->bind_jkt = cf_session_cnf(in->session).kind == CF_CNF_NONE && in->proof_jkt != NULL;
    out->risk_considered = 1;
    if (in->risk.why != CF_REASON_NONE && in->risk.action > CF_RISK_IGNORE) {
        refuse(out, CF_REFRESH_RESULT_RISK, in->risk.why, 0);
        if (in->risk.action == CF_RISK_REVOKE)
            out->end = in->risk.why == CF_REASON_IP_CHANGED ? CF_END_IP_CHANGED : CF_END_DEVICE_CHANGED;
    }
}
