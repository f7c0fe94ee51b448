/* SPDX-License-Identifier: MIT
 *
 * The access decision (access.h). The order of the steps is part of the
 * contract: a revoked token must not learn whether its session idled out,
 * and a route's requirements are judged only for a request that would
 * otherwise be served.
 */
#include "core/access.h"

#include <string.h>

#include "core/digest.h"
#include "core/token.h"

static void answer(cf_access_decision_t *out, cf_access_verdict_t v, cf_reason_t why)
{
    out->verdict = v;
    out->why = why;
}

/* Two thumbprints equal? Constant time over the expected one's length. */
static int same(const char *want, const char *got)
{
    size_t n = strlen(want);

    return got != NULL && strlen(got) == n && cf_ct_equal(want, got, n);
}

/* Step 5b: is this request made by the holder of the key the token is bound to? */
static cf_reason_t sender(const cf_access_input_t *in)
{
    if (in->proof_refused != CF_REASON_NONE)
        return in->proof_refused;
    if (in->bound_jkt != NULL && in->proof_jkt == NULL)
        return CF_REASON_DPOP_REQUIRED;
    if (in->bound_jkt != NULL && !same(in->bound_jkt, in->proof_jkt))
        return CF_REASON_DPOP_KEY_MISMATCH;
    if (in->bound_x5t != NULL && !same(in->bound_x5t, in->cert_x5t))
        return CF_REASON_CERT_MISMATCH;
    return CF_REASON_NONE;
}

/* Steps 2-5b: the token, the session it names, and who sends it. */
static cf_reason_t token_and_session(const cf_access_input_t *in)
{
    const cf_session_t *s = in->session;
    int64_t exp = in->token.exp;
    cf_reason_t why;

    if (in->token.refused != CF_REASON_NONE)
        return in->token.refused;
    if (in->waive_exp && s != NULL)
        exp = INT64_MAX; /* the signature verified: only exp is waived */
    why = cf_token_check_time(exp, in->token.iat, in->token.nbf, in->now, in->leeway,
                              in->leeway + (in->slack > 0 ? in->slack : 0));
    if (why != CF_REASON_NONE)
        return why;
    /* iat has one-second resolution; the session's creation time makes the
     * epoch exact to the millisecond for a session it covers. */
    if (in->token.iat < cf_time_to_sec(in->global_not_before) ||
        (s != NULL && (in->token.iat < cf_time_to_sec(in->subject_not_before) ||
                       cf_session_revoked_before(s, in->subject_not_before))))
        return CF_REASON_REVOKED_BEFORE;
    if (s == NULL)
        return CF_REASON_SESSION_NOT_FOUND;
    why = cf_session_verdict(s, in->now);
    return why != CF_REASON_NONE ? why : sender(in);
}

/* Step 6: what the session's risk policy says of a change. 1 when it refused. */
static int risk(const cf_access_input_t *in, cf_access_decision_t *out)
{
    out->risk_considered = 1;
    if (in->risk.why == CF_REASON_NONE || in->risk.action <= CF_RISK_IGNORE)
        return 0;
    if (in->risk.action == CF_RISK_REVOKE) {
        answer(out, CF_ACCESS_REFUSE, in->risk.why);
        out->end = in->risk.why == CF_REASON_IP_CHANGED ? CF_END_IP_CHANGED : CF_END_DEVICE_CHANGED;
    } else {
        answer(out, CF_ACCESS_STEP_UP, in->risk.why);
    }
    return 1;
}

void cf_access_decide(const cf_access_input_t *in, cf_access_decision_t *out)
{
    const cf_session_t *s = in->session;
    const cf_route_t *r = in->route;
    cf_reason_t why;

    memset(out, 0, sizeof *out);
    out->end = CF_END_NONE;
    if (r != NULL && r->deny) {
        answer(out, CF_ACCESS_REFUSE, CF_REASON_ROUTE_DENIED);
        return;
    }
    if (r != NULL && r->anonymous) {
        answer(out, CF_ACCESS_ANONYMOUS, CF_REASON_NONE);
        return;
    }
    why = token_and_session(in);
    if (why != CF_REASON_NONE) {
        out->authn_failed = 1;
        answer(out, CF_ACCESS_REFUSE, why);
        return;
    }
    if (risk(in, out))
        return;
    switch (cf_route_decide(r, cf_session_roles(s), cf_session_scope(s), cf_session_auth_time(s),
                            cf_session_last_activity(s), in->now, &why)) {
    case CF_ROUTE_PASS:
    case CF_ROUTE_ANONYMOUS:
        break;
    case CF_ROUTE_STEP_UP:
        out->max_age = r->max_auth_age;
        answer(out, CF_ACCESS_STEP_UP, why);
        return;
    case CF_ROUTE_DENY:
    case CF_ROUTE_FORBIDDEN:
    case CF_ROUTE_IDLE:
        answer(out, CF_ACCESS_REFUSE, why);
        return;
    }
    answer(out, CF_ACCESS_ALLOW, CF_REASON_NONE);
    out->activity = !in->background && (r == NULL || r->activity != CF_ACTIVITY_NONE);
    /* Whichever comes first ends this caller's access: token, idle or absolute. */
    out->deadline =
        cf_time_min(in->token.exp > INT64_MAX / CF_SEC ? INT64_MAX : in->token.exp * CF_SEC,
                    cf_time_min(cf_session_idle_deadline(s), cf_session_absolute_deadline(s)));
}
