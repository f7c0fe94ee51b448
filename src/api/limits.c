/* SPDX-License-Identifier: MIT
 *
 * The HTTP side of the abuse controls: app/guard.c decides whether a request
 * is over a limit or locked out and says why; this file sends the 429 with
 * Retry-After and the RateLimit headers (draft-ietf-httpapi-ratelimit-headers).
 */
#include <stdio.h>

#include "api/api.h"

void cf_reply_limited(cf_http_req_t *req, const cf_limit_t *l)
{
    char retry[24], policy[48], state[80];
    cf_http_header_t h[3];
    size_t n = 0;

    h[n++] = (cf_http_header_t){"Retry-After", 11, retry,
                                (size_t)snprintf(retry, sizeof retry, "%lld", (long long)l->retry_after)};
    if (l->has_quota) {
        h[n++] = (cf_http_header_t){"RateLimit-Policy", 16, policy,
                                    (size_t)snprintf(policy, sizeof policy, "%lld;w=%lld",
                                                     (long long)l->burst, (long long)l->window)};
        h[n++] = (cf_http_header_t){
            "RateLimit", 9, state,
            (size_t)snprintf(state, sizeof state, "limit=%lld, remaining=%lld, reset=%lld",
                             (long long)l->burst, (long long)l->remaining,
                             (long long)l->retry_after)}; /* refused: the quota is back in Retry-After seconds */
    }
    cf_reply_refusal(req, CF_ENDPOINT_API, l->why, NULL, h, n);
}

int cf_req_rate_limit(cf_app_t *app, cf_http_req_t *req, cf_rate_class_t cls,
                      const cf_rate_who_t *who, cf_time_t now, int peek)
{
    cf_limit_t l;

    if (!cf_app_rate_limit(app, cls, who, now, peek, &l))
        return 0;
    if (req != NULL)
        cf_reply_limited(req, &l);
    return 1;
}

int cf_req_locked_out(cf_app_t *app, cf_http_req_t *req, const char *ip, cf_time_t now)
{
    cf_limit_t l;

    if (!cf_app_locked_out(app, ip, now, &l))
        return 0;
    cf_reply_limited(req, &l);
    return 1;
}
