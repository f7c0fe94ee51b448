/* SPDX-License-Identifier: MIT
 *
 * Risk comparison (risk.h): the request's address and device against the
 * session's, under the session's binding policy.
 */
#include "core/risk.h"

#include <string.h>

#include "core/netaddr.h"

int cf_risk_binds_ip(const cf_session_t *s)
{
    return s->ip_binding > CF_IPBIND_OFF && cf_session_ip(s)[0] != '\0';
}

int cf_risk_binds_device(const cf_session_t *s)
{
    return cf_session_device(s)[0] != '\0';
}

/* Prefix lengths per binding (IPv4, IPv6); OFF and UNSET never get here. */
static int same_address(uint8_t binding, const char *was, const char *now)
{
    static const int prefix[][2] = {
        [CF_IPBIND_PREFIX16] = {16, 48},
        [CF_IPBIND_PREFIX24] = {24, 64},
        [CF_IPBIND_EXACT] = {32, 128},
    };
    cf_ip_t a, b;

    if (cf_ip_parse(was, strlen(was), &a) < 0 || cf_ip_parse(now, strlen(now), &b) < 0)
        return strcmp(was, now) == 0;
    if (binding > CF_IPBIND_EXACT)
        binding = CF_IPBIND_EXACT; /* an unknown binding binds the strictest way */
    return cf_ip_same_prefix(&a, &b, prefix[binding][0], prefix[binding][1]);
}

cf_risk_t cf_risk_compare(const cf_session_t *s, const char *ip, const char *device)
{
    if (cf_risk_binds_ip(s) && !same_address(s->ip_binding, cf_session_ip(s), ip != NULL ? ip : ""))
        return (cf_risk_t){CF_REASON_IP_CHANGED, (cf_risk_action_t)s->on_ip_change};
    if (cf_risk_binds_device(s) && strcmp(device != NULL ? device : "", cf_session_device(s)) != 0)
        return (cf_risk_t){CF_REASON_DEVICE_CHANGED, (cf_risk_action_t)s->on_device_change};
    return CF_RISK_NONE;
}
