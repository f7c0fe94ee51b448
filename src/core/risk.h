/* SPDX-License-Identifier: MIT
 *
 * Risk binding: does a request still come from where its session was
 * created? The session remembers its client address and device fingerprint;
 * each use is compared under the session's policy (ip_binding,
 * on_ip_change, on_device_change). Pure: the shell computes the request's
 * client address (trusted proxies) and device fingerprint and hands them in.
 */
#ifndef CF_CORE_RISK_H
#define CF_CORE_RISK_H

#include "core/policy.h"
#include "core/reason.h"
#include "core/session.h"

/** What a comparison found and what the policy says to do about it. */
typedef struct {
    cf_reason_t why;         /* NONE, IP_CHANGED or DEVICE_CHANGED (what changed) */
    cf_risk_action_t action; /* the session's policy for that change; IGNORE when none */
} cf_risk_t;

/** No change found. */
#define CF_RISK_NONE ((cf_risk_t){CF_REASON_NONE, CF_RISK_IGNORE})

/** 1 when @s binds its address (so the request's address must be computed). */
int cf_risk_binds_ip(const cf_session_t *s);

/** 1 when @s binds a device (so the request's fingerprint must be computed). */
int cf_risk_binds_device(const cf_session_t *s);

/**
 * Compare a request from @ip with device fingerprint @device (either NULL or
 * "" when unknown) with what @s is bound to. The address first, then the
 * device. An unknown creation address or device binds nothing (nothing to
 * compare with), but a request that hides its device when the session has one
 * counts as a change: dropping the header must not get around the binding.
 * Addresses that do not parse are compared as strings. Pure.
 */
cf_risk_t cf_risk_compare(const cf_session_t *s, const char *ip, const char *device);

#endif
