/* SPDX-License-Identifier: MIT
 *
 * Abuse controls and risk binding in the shell: rate limits (GCRA, per
 * endpoint class and key), IP lockout, and the IP/device comparison of a
 * request against its session. The arithmetic lives in core/ratelimit.c and
 * core/netaddr.c; this file builds the keys, answers 429 and applies risk
 * actions to the index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "api/api.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/netaddr.h"
#include "core/policy.h"
#include "core/ratelimit.h"
#include "util/log.h"

static const char *const class_names[CF_RATE__COUNT] = {
    [CF_RATE_REFRESH] = "refresh",
    [CF_RATE_SESSION_CREATE] = "session_create",
    [CF_RATE_CHECK_FAILURES] = "check_failures",
    [CF_RATE_CLIENT_CREDENTIALS] = "client_credentials",
};

const char *cf_rate_class_name(cf_rate_class_t c)
{
    return (unsigned)c < CF_RATE__COUNT ? class_names[c] : "unknown";
}

int cf_app_guard_init(cf_app_t *app)
{
    const cf_rate_cfg_t *cfgs[CF_RATE__COUNT] = {
        [CF_RATE_REFRESH] = &app->cfg.rl_refresh,
        [CF_RATE_SESSION_CREATE] = &app->cfg.rl_session_create,
        [CF_RATE_CHECK_FAILURES] = &app->cfg.rl_check_failures,
        [CF_RATE_CLIENT_CREDENTIALS] = &app->cfg.rl_client_credentials,
    };
    int rc;

    for (int i = 0; i < CF_RATE__COUNT; i++) {
        cf_rate_state_t *r = &app->rate[i];
        r->cfg = cfgs[i];
        if (!r->cfg->enabled)
            continue;
        rc = cf_gcra_init(&r->gcra, r->cfg->count, r->cfg->period, r->cfg->burst);
        if (rc < 0) {
            /* cf_config_validate() refuses these; never fail start-up without a word. */
            CF_LOG(CF_LOG_ERROR, "event=startup_error what=rate_limit class=%s error=%s",
                   class_names[i], cf_strerror(rc));
            return rc;
        }
        rc = cf_limiter_new(app->cfg.rl_max_keys, app->seed + (uint64_t)i, &r->limiter);
        if (rc < 0)
            return rc;
    }
    if (app->cfg.lockout_enabled) {
        rc = cf_lockout_new(app->cfg.rl_max_keys, app->cfg.lockout_max_failures,
                            app->cfg.lockout_window, app->cfg.lockout_duration, app->seed ^ 0x10c,
                            &app->lockout);
        if (rc < 0)
            return rc;
    }
    if (app->cfg.ntrusted > 0) {
        app->trusted = calloc(app->cfg.ntrusted, sizeof *app->trusted);
        if (app->trusted == NULL)
            return CF_ENOMEM;
        for (size_t i = 0; i < app->cfg.ntrusted; i++) {
            const char *c = app->cfg.trusted_proxies[i];
            rc = cf_cidr_parse(c, strlen(c), &app->trusted[i]);
            if (rc < 0)
                return rc; /* the config loader already validated them */
        }
        app->ntrusted = app->cfg.ntrusted;
    }
    return 0;
}

void cf_app_guard_fini(cf_app_t *app)
{
    for (int i = 0; i < CF_RATE__COUNT; i++)
        cf_limiter_free(app->rate[i].limiter);
    cf_lockout_free(app->lockout);
    free(app->trusted);
}

/* "ip=1.2.3.4|sub=alice": only the parts the class is keyed by. */
static size_t build_key(const cf_rate_cfg_t *cfg, const cf_rate_who_t *who, char *out, size_t cap)
{
    size_t n = 0;

#define PART(bit, label, value)                                                               \
    do {                                                                                      \
        if ((cfg->keys & (bit)) && n < cap) {                                                 \
            int w = snprintf(out + n, cap - n, "%s=%s|", (label), (value) ? (value) : "");     \
            n += w > 0 ? (size_t)w : 0;                                                       \
        }                                                                                     \
    } while (0)
    PART(CF_RLKEY_IP, "ip", who->ip);
    PART(CF_RLKEY_SUB, "sub", who->sub);
    PART(CF_RLKEY_CLIENT_ID, "client", who->client_id);
    PART(CF_RLKEY_SESSION, "sid", who->session);
    PART(CF_RLKEY_API_KEY, "key", who->api_key);
#undef PART
    return n < cap ? n : cap;
}

static void reply_429(cf_http_req_t *req, const cf_gcra_t *g, const cf_gcra_result_t *res,
                      cf_reason_t why, cf_time_t retry_after)
{
    char retry[24], policy[48], state[80];
    int64_t secs = (retry_after + CF_SEC - 1) / CF_SEC;
    cf_http_header_t h[3];
    size_t n = 0;

    if (secs < 1)
        secs = 1;
    h[n++] = (cf_http_header_t){"Retry-After", 11, retry,
                                (size_t)snprintf(retry, sizeof retry, "%lld", (long long)secs)};
    if (g != NULL) {
        h[n++] = (cf_http_header_t){"RateLimit-Policy", 16, policy,
                                    (size_t)snprintf(policy, sizeof policy, "%lld;w=%lld",
                                                     (long long)g->burst,
                                                     (long long)(g->window / CF_SEC))};
        h[n++] = (cf_http_header_t){
            "RateLimit", 9, state,
            (size_t)snprintf(state, sizeof state, "limit=%lld, remaining=%lld, reset=%lld",
                             (long long)g->burst, (long long)res->remaining,
                             (long long)secs)}; /* refused: the quota is back in Retry-After seconds */
    }
    cf_reply_refusal(req, CF_ENDPOINT_API, why, NULL, h, n);
}

/*
 * Limits and lockout run on the monotonic clock, whatever wall time the
 * caller read: their state is "when may this key try again", a duration
 * from now, and a wall-clock step would shift every stored instant at once
 * (after a step back by an hour every recent key would wait an hour). The
 * wall time the callers pass only stamps the events (rate_limited, locked_out).
 */
int cf_app_rate_limit(cf_app_t *app, cf_http_req_t *req, cf_rate_class_t cls,
                      const cf_rate_who_t *who, cf_time_t wall, int peek)
{
    cf_rate_state_t *r = &app->rate[cls];
    cf_gcra_result_t res;
    cf_time_t now;
    char key[640];
    size_t len;

    if (r->limiter == NULL)
        return 0;
    now = cf_app_mono(app);
    len = build_key(r->cfg, who, key, sizeof key);
    if (peek)
        cf_limiter_peek(r->limiter, &r->gcra, key, len, now, &res);
    else
        cf_limiter_hit(r->limiter, &r->gcra, key, len, now, &res);
    if (res.allowed)
        return 0;
    {
        cf_event_t e = {.type = CF_EV_RATE_LIMITED, .at = wall, .result = (int)cls};
        cf_app_emit(app, &e);
    }
    if (req != NULL)
        reply_429(req, &r->gcra, &res, CF_REASON_RATE_LIMITED, res.retry_after);
    return 1;
}

int cf_app_locked_out(cf_app_t *app, cf_http_req_t *req, const char *ip, cf_time_t wall)
{
    cf_time_t retry = 0;

    (void)wall; /* monotonic, see cf_app_rate_limit */
    if (app->lockout == NULL ||
        !cf_lockout_check(app->lockout, ip, strlen(ip), cf_app_mono(app), &retry))
        return 0;
    reply_429(req, NULL, NULL, CF_REASON_LOCKED_OUT, retry);
    return 1;
}

void cf_app_note_failure(cf_app_t *app, const char *ip, cf_time_t wall)
{
    if (app->lockout != NULL && cf_lockout_fail(app->lockout, ip, strlen(ip), cf_app_mono(app))) {
        cf_event_t e = {.type = CF_EV_LOCKED_OUT, .at = wall,
                        .reason = CF_REASON_LOCKED_OUT, .span = app->cfg.lockout_duration};

        CF_LOG(CF_LOG_WARN, "event=locked_out ip=%s duration_ms=%lld", ip,
               (long long)app->cfg.lockout_duration);
        snprintf(e.ip, sizeof e.ip, "%s", ip);
        cf_app_emit(app, &e);
    }
}

/*
 * Risk binding. The session remembers where it was created; every use is
 * compared under the session's policy. An unknown creation address or device
 * binds nothing (there is nothing to compare with), but a request that hides
 * its device when the session has one counts as a change: otherwise dropping
 * the header would be a way around the binding.
 */
static cf_reason_t risk_compare(cf_app_t *app, const cf_session_t *s, const cf_http_req_t *req,
                                cf_risk_action_t *action)
{
    *action = CF_RISK_IGNORE;
    if (s->ip_binding > CF_IPBIND_OFF && s->ip[0] != '\0') {
        char now_ip[46];
        cf_ip_t a, b;
        int same;
        cf_req_client_ip(app, req, now_ip);
        if (cf_ip_parse(s->ip, strlen(s->ip), &a) < 0 ||
            cf_ip_parse(now_ip, strlen(now_ip), &b) < 0)
            same = strcmp(s->ip, now_ip) == 0;
        else if (s->ip_binding == CF_IPBIND_EXACT)
            same = cf_ip_same_prefix(&a, &b, 32, 128);
        else if (s->ip_binding == CF_IPBIND_PREFIX24)
            same = cf_ip_same_prefix(&a, &b, 24, 64);
        else
            same = cf_ip_same_prefix(&a, &b, 16, 48);
        if (!same) {
            *action = (cf_risk_action_t)s->on_ip_change;
            return CF_REASON_IP_CHANGED;
        }
    }
    if (s->device[0] != '\0') {
        char dev[44];
        cf_req_device(app, req, dev);
        if (strcmp(dev, s->device) != 0) {
            *action = (cf_risk_action_t)s->on_device_change;
            return CF_REASON_DEVICE_CHANGED;
        }
    }
    return CF_REASON_NONE;
}

cf_reason_t cf_app_risk_check(cf_app_t *app, const cf_session_t *s, const cf_http_req_t *req,
                              int *revoke)
{
    cf_risk_action_t action;
    cf_reason_t why;
    char fp[13];

    *revoke = 0;
    /* Cheap exit for the common case: nothing bound, nothing to compare. */
    if ((s->ip_binding <= CF_IPBIND_OFF || s->ip[0] == '\0') && s->device[0] == '\0')
        return CF_REASON_NONE;
    why = risk_compare(app, s, req, &action);
    if (why == CF_REASON_NONE)
        return why;
    /* Every change is an event, whatever the policy does about it. */
    cf_log_fingerprint(s->id, CF_SID_LEN, fp);
    CF_LOG(CF_LOG_INFO, "event=risk_change sid=%s reason=%s action=%s", fp, cf_reason_name(why),
           cf_risk_action_name(action));
    {
        /* Borrowed for the sinks' call: the audit line names the session. */
        cf_event_t e = {.type = CF_EV_RISK_CHANGED, .at = cf_app_now(app),
                        .session = (cf_session_t *)s, .reason = why,
                        .result = action == CF_RISK_REVOKE, .name = cf_risk_action_name(action)};
        memcpy(e.sid, s->id, sizeof e.sid);
        cf_app_emit(app, &e);
    }
    if (action <= CF_RISK_IGNORE)
        return CF_REASON_NONE;
    *revoke = action == CF_RISK_REVOKE;
    return why;
}

void cf_app_session_apply_policy(cf_app_t *app, cf_session_t *s)
{
    cf_effective_t eff;
    cf_limits_t global = {app->cfg.idle_timeout, app->cfg.absolute_timeout, app->cfg.access_ttl};
    const cf_client_t *client = s->client_id[0] ? cf_policy_client(&app->cfg.policy, s->client_id) : NULL;

    cf_policy_resolve(&app->cfg.policy, &global, app->cfg.access_max_ttl, client, s->roles, NULL,
                      &eff);
    s->ip_binding = (uint8_t)eff.risk.ip_binding;
    s->on_ip_change = (uint8_t)eff.risk.on_ip_change;
    s->on_device_change = (uint8_t)eff.risk.on_device_change;
}

int cf_app_csrf_ok(cf_app_t *app, const cf_http_req_t *req)
{
    size_t len;
    const char *origin;

    if (app->cfg.csrf_header[0] != '\0') {
        const char *v = cf_http_req_header(req, app->cfg.csrf_header, &len);
        if (v != NULL && len > 0)
            return 1;
    }
    origin = cf_http_req_header(req, "Origin", &len);
    if (origin == NULL)
        return 0;
    for (size_t i = 0; i < app->cfg.nallowed_origins; i++) {
        const char *o = app->cfg.allowed_origins[i];
        if (strlen(o) == len && memcmp(o, origin, len) == 0)
            return 1;
    }
    return 0;
}

void cf_app_api_key_id(const cf_http_req_t *req, char out[24])
{
    uint8_t md[CF_SHA256_LEN];
    size_t len;
    const char *v = cf_http_req_header(req, "Authorization", &len);

    out[0] = '\0';
    if (v == NULL)
        return;
    /* Never the credential itself: a short digest names it well enough. */
    cf_sha256(v, len, md);
    cf_hex_encode(md, 11, out);
    out[22] = '\0';
}
