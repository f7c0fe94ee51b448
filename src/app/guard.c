/* SPDX-License-Identifier: MIT
 *
 * Abuse controls and risk binding in the shell: rate limits (GCRA, per
 * endpoint class and key), IP lockout, and the IP/device comparison of a
 * request against its session. The arithmetic lives in core/ratelimit.c and
 * core/netaddr.c, the risk comparison in core/risk.c; this file builds the
 * keys and keeps the limiter state. It answers nothing itself: the verdicts
 * go back to src/api, which sends the 429 (api/limits.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/error.h"
#include "core/netaddr.h"
#include "core/policy.h"
#include "core/ratelimit.h"
#include "util/log.h"
#include "util/x509.h"

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
    cf_app_client_ca_drop(app);
}

struct x509_store_st *cf_app_client_ca(cf_app_t *app)
{
    const char *path = app->cfg.mtls_client_ca[0] ? app->cfg.mtls_client_ca : app->cfg.tls_client_ca;

    if (app->client_ca != NULL && strcmp(path, app->client_ca_path) == 0)
        return app->client_ca;
    cf_app_client_ca_drop(app);
    if (path[0] == '\0')
        return NULL;
    app->client_ca = cf_x509_store_load(path);
    if (app->client_ca == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=client_ca_unreadable path=%s", path);
        return NULL;
    }
    snprintf(app->client_ca_path, sizeof app->client_ca_path, "%s", path);
    return app->client_ca;
}

void cf_app_client_ca_drop(cf_app_t *app)
{
    X509_STORE_free(app->client_ca);
    app->client_ca = NULL;
    app->client_ca_path[0] = '\0';
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

/* The refusal's numbers: Retry-After in whole seconds (at least 1), and the quota. */
static int refused(cf_limit_t *out, cf_reason_t why, cf_time_t retry_after, const cf_gcra_t *g,
                   const cf_gcra_result_t *res)
{
    memset(out, 0, sizeof *out);
    out->why = why;
    out->retry_after = (retry_after + CF_SEC - 1) / CF_SEC;
    if (out->retry_after < 1)
        out->retry_after = 1;
    if (g != NULL) {
        out->has_quota = 1;
        out->burst = g->burst;
        out->remaining = res->remaining;
        out->window = g->window / CF_SEC;
    }
    return 1;
}

/*
 * Limits and lockout run on the monotonic clock, whatever wall time the
 * caller read: their state is "when may this key try again", a duration
 * from now, and a wall-clock step would shift every stored instant at once
 * (after a step back by an hour every recent key would wait an hour). The
 * wall time the callers pass only stamps the events (rate_limited, locked_out).
 */
int cf_app_rate_limit(cf_app_t *app, cf_rate_class_t cls, const cf_rate_who_t *who,
                      cf_time_t wall, int peek, cf_limit_t *out)
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
    return refused(out, CF_REASON_RATE_LIMITED, res.retry_after, &r->gcra, &res);
}

int cf_app_locked_out(cf_app_t *app, const char *ip, cf_time_t wall, cf_limit_t *out)
{
    cf_time_t retry = 0;

    (void)wall; /* monotonic, see cf_app_rate_limit */
    if (app->lockout == NULL ||
        !cf_lockout_check(app->lockout, ip, strlen(ip), cf_app_mono(app), &retry))
        return 0;
    return refused(out, CF_REASON_LOCKED_OUT, retry, NULL, NULL);
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

void cf_app_risk_log(cf_app_t *app, const cf_session_t *s, cf_risk_t risk)
{
    char fp[13];

    (void)app;
    if (risk.why == CF_REASON_NONE)
        return;
    /* Every change is logged, whatever the policy does about it. */
    cf_log_fingerprint(s->id, CF_SID_LEN, fp);
    CF_LOG(CF_LOG_INFO, "event=risk_change sid=%s reason=%s action=%s", fp, cf_reason_name(risk.why),
           cf_risk_action_name(risk.action));
    {
        /* Borrowed for the sinks' call: the audit line names the session. */
        cf_event_t e = {.type = CF_EV_RISK_CHANGED, .at = cf_app_now(app),
                        .session = (cf_session_t *)s, .reason = risk.why,
                        .result = risk.action == CF_RISK_REVOKE, .name = cf_risk_action_name(risk.action)};
        memcpy(e.sid, s->id, sizeof e.sid);
        cf_app_emit(app, &e);
    }
}

void cf_app_session_apply_policy(cf_app_t *app, cf_session_t *s)
{
    cf_effective_t eff;
    cf_limits_t global = {app->cfg.idle_timeout, app->cfg.absolute_timeout, app->cfg.access_ttl};
    const cf_client_t *client = cf_session_client_id(s)[0]
                                    ? cf_policy_client(&app->cfg.policy, cf_session_client_id(s))
                                    : NULL;

    cf_policy_resolve(&app->cfg.policy, &global, app->cfg.access_max_ttl, client,
                      cf_session_roles(s), NULL, &eff);
    s->ip_binding = (uint8_t)eff.risk.ip_binding;
    s->on_ip_change = (uint8_t)eff.risk.on_ip_change;
    s->on_device_change = (uint8_t)eff.risk.on_device_change;
}
