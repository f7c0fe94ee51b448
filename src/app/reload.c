/* SPDX-License-Identifier: MIT
 *
 * Reloading the configuration without a restart (SIGHUP).
 *
 * A reload is all or nothing. The reader (main.c's, the same code that
 * loaded the file at start, command-line overrides included) parses and
 * validates a whole new configuration off to the side; a file that does not
 * load, or that changes an option only a restart can change (the rows of
 * restart_only[] below: listeners, data dir, store, cluster, audit, keys,
 * alerts, API keys, limiter sizes), is refused with one log line and the
 * running configuration stays. Everything the new configuration needs that
 * can fail (the secret cache, the trusted-proxy table, limiters newly turned
 * on, a lockout table with new settings) is built before anything changes;
 * then the swap itself cannot fail and happens in one loop turn, so no
 * request ever sees half of each.
 *
 * The old configuration is not freed at the swap: a request waiting for the
 * store, or for PBKDF2 on the thread pool, still holds pointers into its
 * clients, roles and routes. It is retired, and retired configurations are
 * freed only at a moment when no request is in flight (the HTTP server's
 * dispatched and answered counters are equal), checked at the next reload
 * and on the activity flush timer. A storm of reloads while requests stay
 * pending is bounded by CF_RELOAD_RETIRED_MAX: past it a reload is refused
 * ("still draining") rather than holding an unbounded number of copies.
 *
 * State survives: sessions, tokens, keys, the index, the verified-token
 * cache (it holds signature verifications, which no reloadable option
 * changes, and is cleared anyway when issuer, audience or clock_leeway
 * change), a rate class's limiter and the lockout table when their
 * settings did not change. Changed limits apply from the next request.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "app/app.h"
#include "app/reload.h"
#include "core/error.h"
#include "core/netaddr.h"
#include "core/ratelimit.h"
#include "http/server.h"
#include "util/log.h"

/* One option (or a block of them) that only a restart can change. */
typedef struct {
    const char *key;
    size_t off, size;
    int how;       /* CMP_* */
} restart_row_t;

enum { CMP_BYTES, CMP_STRING, CMP_RATE, CMP_ALERTS };

#define ROW(key, field) {key, offsetof(cf_config_t, field), sizeof(((cf_config_t *)0)->field), CMP_BYTES}
#define STR(key, field) {key, offsetof(cf_config_t, field), sizeof(((cf_config_t *)0)->field), CMP_STRING}

/*
 * Why each is restart-only: the listener and the HTTP limits are bound at
 * start; the data dir, store and cluster settings own open files and
 * connections; the audit writer, the alert evaluator and webhook, the key
 * rotation timer, the timers of store.*, the re-login tracker, the DPoP
 * replay cache and the limiter tables are sized or started once. docs/operations.md lists them.
 */
static const restart_row_t restart_only[] = {
    STR("listen", listen_host),
    ROW("listen", listen_port),
    STR("data_dir", data_dir),
    ROW("verify_threads", verify_threads),
    ROW("dpop.replay_cache", dpop_replay_cache),
    ROW("limits.max_connections", max_connections),
    ROW("limits.client_timeout", client_timeout),
    ROW("limits.max_header_bytes", max_header_bytes),
    ROW("limits.max_body_bytes", max_body_bytes),
    STR("store.url", store_url),
    ROW("store.activity_flush", activity_flush),
    ROW("store.purge_interval", purge_interval),
    ROW("store.purge_after", purge_after),
    ROW("cluster.max_staleness", max_staleness),
    STR("cluster.on_partition", on_partition),
    STR("audit.path", audit_path),
    ROW("audit.buffer", audit_buffer),
    ROW("tuning.activity_gap", activity_gap),
    ROW("tuning.relogin_window", relogin_window),
    ROW("tuning.relogin_subjects", relogin_subjects),
    STR("tuning.background_header", background_header),
    STR("alerts.webhook", alert_webhook),
    ROW("alerts.queue", alert_queue),
    {"alerts.rules", offsetof(cf_config_t, alert_rules), 0, CMP_ALERTS},
    ROW("keys.rotate_every", key_rotate_every),
    STR("keys.kek_file", kek_file),
    ROW("rate_limits.max_keys", rl_max_keys),
    STR("api_keys.header", apikey_header),
    ROW("api_keys.require_expiry", apikey_require_expiry),
    ROW("api_keys.max_lifetime", apikey_max_lifetime),
    ROW("api_keys.default_lifetime", apikey_default_lifetime),
    ROW("api_keys.idle_expiry", apikey_idle_expiry),
    ROW("api_keys.rotation_overlap", apikey_overlap),
    ROW("api_keys.warn_before", apikey_warn_before),
    {"api_keys.rate", offsetof(cf_config_t, rl_apikey), 0, CMP_RATE},
    ROW("api_keys.quota_per_day", apikey_quota_day),
    ROW("api_keys.quota_per_month", apikey_quota_month),
};

#undef ROW
#undef STR

/* A configuration swapped out, kept until no request can hold a pointer into it. */
typedef struct {
    cf_config_t cfg;
    cf_secret_cache_t *secret_cache; /* sized for cfg.policy.nclients + 1 */
    cf_cidr_t *trusted;
    size_t nclients;
    int borrowed; /* the configuration main.c loaded: main.c frees it */
} retired_t;

struct cf_reload {
    cf_app_config_fn read;
    void *arg;
    retired_t retired[CF_RELOAD_RETIRED_MAX];
    size_t nretired;
    uint64_t generation; /* reloads applied */
    int owns_current;    /* app->cfg came from a reload: free it at the end */
};

/* Field by field: struct padding is not part of a setting. */
static int rate_differs(const cf_rate_cfg_t *a, const cf_rate_cfg_t *b)
{
    return a->enabled != b->enabled || a->count != b->count || a->period != b->period ||
           a->burst != b->burst || a->keys != b->keys;
}

static int alerts_differ(const cf_config_t *a, const cf_config_t *b)
{
    if (a->nalert_rules != b->nalert_rules)
        return 1;
    for (size_t i = 0; i < a->nalert_rules; i++) {
        const cf_alert_rule_t *x = &a->alert_rules[i], *y = &b->alert_rules[i];
        /* The line a rule came from is no setting. */
        if (x->kind != y->kind || x->threshold != y->threshold || x->window != y->window ||
            x->action != y->action || x->action_duration != y->action_duration)
            return 1;
    }
    return 0;
}

static int row_differs(const restart_row_t *r, const cf_config_t *a, const cf_config_t *b)
{
    const char *pa = (const char *)a + r->off, *pb = (const char *)b + r->off;

    switch (r->how) {
    case CMP_STRING:
        return strncmp(pa, pb, r->size) != 0;
    case CMP_RATE:
        return rate_differs((const cf_rate_cfg_t *)(const void *)pa,
                            (const cf_rate_cfg_t *)(const void *)pb);
    case CMP_ALERTS:
        return alerts_differ(a, b);
    default:
        return memcmp(pa, pb, r->size) != 0;
    }
}

/* Names of the restart-only options @a and @b disagree on, comma separated, into @out. */
static size_t restart_changes(const cf_config_t *a, const cf_config_t *b, char *out, size_t cap)
{
    size_t n = 0, len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof restart_only / sizeof restart_only[0]; i++) {
        const restart_row_t *r = &restart_only[i];

        if (!row_differs(r, a, b))
            continue;
        if (i > 0 && n > 0 && strcmp(restart_only[i - 1].key, r->key) == 0 &&
            row_differs(&restart_only[i - 1], a, b))
            continue; /* listen: host and port are one option */
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", n ? "," : "", r->key);
        n++;
    }
    return n;
}

static void retired_free(retired_t *r)
{
    if (r->secret_cache != NULL)
        OPENSSL_cleanse(r->secret_cache, (r->nclients + 1) * sizeof *r->secret_cache);
    free(r->secret_cache);
    free(r->trusted);
    if (!r->borrowed)
        cf_config_fini(&r->cfg);
    memset(r, 0, sizeof *r);
}

void cf_app_reload_drain(cf_app_t *app)
{
    cf_http_stats_t st;

    if (app->reload == NULL || app->reload->nretired == 0)
        return;
    if (app->http != NULL) {
        cf_http_server_stats(app->http, &st);
        if (st.answered != st.requests)
            return; /* a request may still point into a retired configuration */
    }
    for (size_t i = 0; i < app->reload->nretired; i++)
        retired_free(&app->reload->retired[i]);
    app->reload->nretired = 0;
}

int cf_app_reload_init(cf_app_t *app, cf_app_config_fn read, void *arg)
{
    app->reload = calloc(1, sizeof *app->reload);
    if (app->reload == NULL)
        return CF_ENOMEM;
    app->reload->read = read;
    app->reload->arg = arg;
    return 0;
}

void cf_app_reload_fini(cf_app_t *app)
{
    if (app->reload == NULL)
        return;
    for (size_t i = 0; i < app->reload->nretired; i++)
        retired_free(&app->reload->retired[i]);
    if (app->reload->owns_current)
        cf_config_fini(&app->cfg);
    free(app->reload);
    app->reload = NULL;
}

/* What the new configuration needs that can fail, built before anything changes. */
typedef struct {
    cf_secret_cache_t *secret_cache;
    cf_cidr_t *trusted;
    cf_gcra_t gcra[CF_RATE__COUNT];
    cf_limiter_t *limiter[CF_RATE__COUNT]; /* new limiters (classes turned on) */
    cf_lockout_t *lockout;                 /* a new table, when its settings changed */
    int new_lockout;
} staged_t;

static const cf_rate_cfg_t *rate_cfg(const cf_config_t *c, int i)
{
    const cf_rate_cfg_t *cfgs[CF_RATE__COUNT] = {
        [CF_RATE_REFRESH] = &c->rl_refresh,
        [CF_RATE_SESSION_CREATE] = &c->rl_session_create,
        [CF_RATE_CHECK_FAILURES] = &c->rl_check_failures,
        [CF_RATE_CLIENT_CREDENTIALS] = &c->rl_client_credentials,
    };
    return cfgs[i];
}

static void staged_free(staged_t *s)
{
    free(s->secret_cache);
    free(s->trusted);
    for (int i = 0; i < CF_RATE__COUNT; i++)
        cf_limiter_free(s->limiter[i]);
    cf_lockout_free(s->lockout);
}

static int stage(cf_app_t *app, const cf_config_t *next, staged_t *s)
{
    const cf_config_t *cur = &app->cfg;
    int rc;

    memset(s, 0, sizeof *s);
    s->secret_cache = calloc(next->policy.nclients + 1, sizeof *s->secret_cache);
    if (s->secret_cache == NULL)
        return CF_ENOMEM;
    if (next->ntrusted > 0) {
        s->trusted = calloc(next->ntrusted, sizeof *s->trusted);
        if (s->trusted == NULL)
            return CF_ENOMEM;
        for (size_t i = 0; i < next->ntrusted; i++) {
            const char *c = next->trusted_proxies[i];
            rc = cf_cidr_parse(c, strlen(c), &s->trusted[i]);
            if (rc < 0)
                return rc;
        }
    }
    for (int i = 0; i < CF_RATE__COUNT; i++) {
        const cf_rate_cfg_t *r = rate_cfg(next, i);
        if (!r->enabled)
            continue;
        rc = cf_gcra_init(&s->gcra[i], r->count, r->period, r->burst);
        if (rc < 0)
            return rc;
        if (app->rate[i].limiter == NULL) {
            rc = cf_limiter_new(next->rl_max_keys, app->seed + (uint64_t)i, &s->limiter[i]);
            if (rc < 0)
                return rc;
        }
    }
    s->new_lockout = next->lockout_enabled != cur->lockout_enabled ||
                     next->lockout_max_failures != cur->lockout_max_failures ||
                     next->lockout_window != cur->lockout_window ||
                     next->lockout_duration != cur->lockout_duration;
    if (s->new_lockout && next->lockout_enabled) {
        rc = cf_lockout_new(next->rl_max_keys, next->lockout_max_failures, next->lockout_window,
                            next->lockout_duration, app->seed ^ 0x10c, &s->lockout);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The swap: cannot fail. @next is taken; the old configuration is retired into @slot. */
static void swap(cf_app_t *app, cf_config_t *next, staged_t *s, retired_t *slot)
{
    int clear_tokens = strcmp(app->cfg.issuer, next->issuer) != 0 ||
                       strcmp(app->cfg.audience, next->audience) != 0 ||
                       app->cfg.clock_leeway != next->clock_leeway;

    slot->cfg = app->cfg; /* slot->borrowed was set by the caller */
    slot->secret_cache = app->secret_cache;
    slot->nclients = app->cfg.policy.nclients;
    slot->trusted = app->trusted;
    app->cfg = *next;
    memset(next, 0, sizeof *next);
    app->secret_cache = s->secret_cache;
    app->trusted = s->trusted;
    app->ntrusted = app->cfg.ntrusted;
    for (int i = 0; i < CF_RATE__COUNT; i++) {
        cf_rate_state_t *r = &app->rate[i];
        r->cfg = rate_cfg(&app->cfg, i);
        if (!r->cfg->enabled) {
            /* Rate checks answer synchronously: nothing in flight holds the table. */
            cf_limiter_free(r->limiter);
            r->limiter = NULL;
            continue;
        }
        r->gcra = s->gcra[i];
        if (r->limiter == NULL) {
            r->limiter = s->limiter[i];
            s->limiter[i] = NULL;
        }
    }
    if (s->new_lockout) {
        cf_lockout_free(app->lockout);
        app->lockout = s->lockout;
        s->lockout = NULL;
    }
    if (clear_tokens)
        cf_tokcache_clear(&app->token_cache);
    /* A wider dpop.window or clock_leeway lets spent proofs verify longer: remember them longer. */
    cf_dpop_cache_stretch(app->dpop_jtis,
                          cf_time_to_sec(app->cfg.dpop_window) + cf_time_to_sec(app->cfg.clock_leeway));
    cf_log_level_set((cf_log_level_t)cf_log_level_parse(app->cfg.log_level));
    memset(s, 0, sizeof *s);
}

/* Hand the refusal's text (or "") to the caller: the admin endpoint answers with it. */
static int refuse(char *why, size_t cap, int rc, const char *msg)
{
    if (why != NULL && cap > 0)
        snprintf(why, cap, "%s", msg);
    return rc;
}

int cf_app_reload_config(cf_app_t *app, char *why, size_t cap)
{
    struct cf_reload *rl = app->reload;
    char err[512], what[512], msg[1100];
    cf_config_t next;
    staged_t s;
    int rc;

    if (rl == NULL || rl->read == NULL) {
        CF_LOG(CF_LOG_WARN, "event=reload_refused error=\"no configuration file to read again\"");
        return refuse(why, cap, CF_ENOTSUP, "no configuration file to read again");
    }
    cf_app_reload_drain(app);
    if (rl->nretired == CF_RELOAD_RETIRED_MAX) {
        snprintf(msg, sizeof msg, "%d earlier configurations are still in use by pending requests; "
                 "try again", CF_RELOAD_RETIRED_MAX);
        CF_LOG(CF_LOG_WARN, "event=reload_refused error=\"%s\"", msg);
        return refuse(why, cap, CF_EIO, msg);
    }
    rc = rl->read(rl->arg, &next, err, sizeof err);
    if (rc < 0) {
        /* err is "FILE:LINE: what is wrong" (config.h); the file holds no secret we print. */
        CF_LOG(CF_LOG_ERROR, "event=reload_refused error=\"%s\" config=unchanged", err);
        return refuse(why, cap, rc, err);
    }
    if (restart_changes(&app->cfg, &next, what, sizeof what) > 0) {
        snprintf(msg, sizeof msg, "%s: these options change only with a restart: %s",
                 next.source[0] ? next.source : "config", what);
        CF_LOG(CF_LOG_ERROR, "event=reload_refused error=\"%s: these options change only with a "
               "restart\" restart_only=%s config=unchanged",
               next.source[0] ? next.source : "config", what);
        cf_config_fini(&next);
        return refuse(why, cap, CF_ECONFIG, msg);
    }
    rc = stage(app, &next, &s);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=reload_refused error=\"%s\" config=unchanged", cf_strerror(rc));
        staged_free(&s);
        cf_config_fini(&next);
        return refuse(why, cap, rc, cf_strerror(rc));
    }
    rl->retired[rl->nretired].borrowed = !rl->owns_current;
    swap(app, &next, &s, &rl->retired[rl->nretired++]);
    rl->owns_current = 1;
    rl->generation++;
    CF_LOG(CF_LOG_INFO, "event=reloaded generation=%llu source=%s clients=%zu roles=%zu routes=%zu "
           "log_level=%s", (unsigned long long)rl->generation, app->cfg.source,
           app->cfg.policy.nclients, app->cfg.policy.nroles, app->cfg.policy.nroutes,
           app->cfg.log_level);
    for (size_t i = 0; i < app->cfg.nnotes; i++)
        CF_LOG(CF_LOG_INFO, "%s", app->cfg.notes[i]);
    cf_app_reload_drain(app);
    return refuse(why, cap, 0, "");
}

uint64_t cf_app_reload_generation(const cf_app_t *app)
{
    return app->reload != NULL ? app->reload->generation : 0;
}
