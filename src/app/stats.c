/* SPDX-License-Identifier: MIT
 *
 * The two views of the counters the metrics sink keeps (metrics.c): the
 * Prometheus text (GET /metrics) and the JSON the dashboard charts
 * (GET /v1/stats). The HTTP side is api/metrics.c. Gauges (active sessions,
 * signing keys, cluster staleness) are computed here, at scrape time, which
 * is why this view sits above the cluster layer and the index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/dpop.h"
#include "core/relogin.h"
#include "app/cluster.h"
#include "http/server.h"
#include "obs/webhook.h"

static const char *const refresh_names[] = {
#define X(name, str) str,
    CF_REFRESH_RESULT_MAP(X)
#undef X
};

static const char *const scope_names[] = {
#define X(name, str) str,
    CF_REVOKE_SCOPE_MAP(X)
#undef X
};

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

/*
 * Live sessions by client: configured clients first (zero included), then
 * any other the index holds. The index keeps these counts as sessions start
 * and end, so this costs the number of clients, not of sessions.
 */
static void render_active(cf_app_t *app, cf_prom_t *p)
{
    const cf_policy_t *pol = &app->cfg.policy;
    cf_group_t *g;
    size_t pos = 0;

    (void)cf_app_active(app); /* brings the counts to now */
    cf_prom_family(p, "curfew_sessions_active", "gauge",
                   "Sessions alive now (not ended, within their deadlines), by client "
                   "(\"\" for sessions without one).");
    for (size_t i = 0; i < pol->nclients; i++) {
        const char *id = pol->clients[i].id;
        const char *l[] = {"client", id, NULL};
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(pol->clients[j].id, id) == 0;
        g = cf_app_client(app, id);
        if (!dup)
            cf_prom_u64(p, "curfew_sessions_active", l, g != NULL ? g->active : 0);
    }
    while ((g = cf_index_next_client(app->index, &pos)) != NULL) {
        const char *l[] = {"client", g->name, NULL};
        if (g->active > 0 && cf_policy_client(pol, g->name) == NULL)
            cf_prom_u64(p, "curfew_sessions_active", l, g->active);
    }
}

/* The version of the running server. */
static void render_build(cf_app_t *app, cf_prom_t *p)
{
    (void)app;
    cf_prom_family(p, "curfew_build_info", "gauge", "Always 1; the version of the running server.");
    {
        const char *l[] = {"version", CF_VERSION, NULL};
        cf_prom_u64(p, "curfew_build_info", l, 1);
    }
}

/* Signing keys in use and the rotations this process made. */
static void render_keys(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    cf_prom_family(p, "curfew_signing_keys", "gauge",
                   "Signing keys by state: active (signs new tokens) and verifying (rotated out, "
                   "kept until their tokens have expired).");
    {
        const char *la[] = {"state", "active", NULL}, *lv[] = {"state", "verifying", NULL};
        cf_prom_u64(p, "curfew_signing_keys", la, 1);
        cf_prom_u64(p, "curfew_signing_keys", lv, cf_keyset_count(app->keys) - 1);
    }
    cf_prom_family(p, "curfew_signing_key_rotations_total", "counter",
                   "Signing-key rotations made by this process (admin API, CLI, keys.rotate_every).");
    cf_prom_u64(p, "curfew_signing_key_rotations_total", NULL, m->key_rotations);
}

/* Sessions created and ended, and how long they lived. */
static void render_sessions(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    cf_prom_family(p, "curfew_sessions_created_total", "counter", "Sessions created.");
    cf_prom_u64(p, "curfew_sessions_created_total", NULL, m->sessions_created);

    cf_prom_family(p, "curfew_sessions_ended_total", "counter", "Sessions ended, by end reason.");
    for (int r = 1; r < CF_END__COUNT; r++) {
        const char *l[] = {"reason", cf_end_name((cf_end_t)r), NULL};
        cf_prom_u64(p, "curfew_sessions_ended_total", l, m->sessions_ended[r]);
    }

    cf_prom_family(p, "curfew_session_age_seconds_at_end", "histogram",
                   "How long sessions lived, from creation to their end, by end reason.");
    for (int r = 1; r < CF_END__COUNT; r++) {
        const char *l[] = {"reason", cf_end_name((cf_end_t)r), NULL};
        cf_prom_histogram(p, "curfew_session_age_seconds_at_end", l, &m->session_age[r]);
    }
}

/* Tokens issued and refresh-token grants. */
static void render_tokens(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    cf_prom_family(p, "curfew_tokens_issued_total", "counter", "Tokens issued, by type.");
    {
        const char *a[] = {"type", "access", NULL}, *r[] = {"type", "refresh", NULL};
        cf_prom_u64(p, "curfew_tokens_issued_total", a, m->tokens_access);
        cf_prom_u64(p, "curfew_tokens_issued_total", r, m->tokens_refresh);
    }

    cf_prom_family(p, "curfew_refresh_total", "counter",
                   "Refresh-token grant requests, by outcome.");
    for (int r = 0; r < CF_REFRESH_RESULT__COUNT; r++) {
        const char *l[] = {"result", refresh_names[r], NULL};
        cf_prom_u64(p, "curfew_refresh_total", l, m->refresh[r]);
    }

    cf_prom_family(p, "curfew_refresh_reuse_detected_total", "counter",
                   "Refresh tokens presented twice: each ended its session as stolen.");
    cf_prom_u64(p, "curfew_refresh_reuse_detected_total", NULL, m->reuse_detected);
}

/* Forward-auth checks and their duration. */
static void render_checks(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    cf_prom_family(p, "curfew_checks_total", "counter",
                   "Forward-auth checks (/v1/check), by result and refusal reason.");
    for (int r = 0; r < CF_REASON__COUNT; r++) {
        const char *l[] = {"result", r == CF_REASON_NONE ? "allow" : "deny", "reason",
                           cf_reason_name((cf_reason_t)r), NULL};
        cf_prom_u64(p, "curfew_checks_total", l, m->checks[r]);
    }
    {
        const char *l[] = {"result", "error", "reason", "none", NULL};
        cf_prom_u64(p, "curfew_checks_total", l, m->checks_error);
    }

    cf_prom_family(p, "curfew_check_duration_seconds", "histogram",
                   "Time spent answering a check, in the handler.");
    cf_prom_histogram(p, "curfew_check_duration_seconds", NULL, &m->check_duration);
}

/* Connections the enforcing proxy (src/proxy) cut, by reason. */
static void render_proxy(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    cf_prom_family(p, "curfew_proxy_connections_cut_total", "counter",
                   "Proxied connections and tunnels the proxy cut, by reason.");
    for (int r = 1; r < CF_REASON__COUNT; r++)
        if (m->proxy_cuts[r] > 0) {
            const char *l[] = {"reason", cf_reason_name((cf_reason_t)r), NULL};
            cf_prom_u64(p, "curfew_proxy_connections_cut_total", l, m->proxy_cuts[r]);
        }
}

/* The verifier pool (verify.c): its size, and proofs it handled or left to the loop. */
static void render_verify(cf_app_t *app, cf_prom_t *p)
{
    cf_verify_stats_t vs;

    cf_app_verify_stats(app, &vs);
    cf_prom_family(p, "curfew_dpop_verify_threads", "gauge",
                   "Threads verifying DPoP proof signatures off the event loop (verify_threads).");
    cf_prom_u64(p, "curfew_dpop_verify_threads", NULL, vs.threads);
    cf_prom_family(p, "curfew_dpop_verify_queued_total", "counter",
                   "DPoP proofs verified on the verifier threads.");
    cf_prom_u64(p, "curfew_dpop_verify_queued_total", NULL, vs.queued);
    cf_prom_family(p, "curfew_dpop_verify_inline_total", "counter",
                   "DPoP proofs verified on the event loop because the verifier queue was full.");
    cf_prom_u64(p, "curfew_dpop_verify_inline_total", NULL, vs.inline_full);
    cf_prom_family(p, "curfew_dpop_verify_on_loop_total", "counter",
                   "Of the queued DPoP proofs, those the event loop verified while it had no I/O.");
    cf_prom_u64(p, "curfew_dpop_verify_on_loop_total", NULL, vs.on_loop);
}

/* The DPoP jti replay cache: how full, and fresh proofs refused because it was full. */
static void render_dpop(cf_app_t *app, cf_prom_t *p)
{
    cf_dpop_cache_stats_t st;

    cf_dpop_cache_stats(app->dpop_jtis, &st);
    cf_prom_family(p, "curfew_dpop_replay_cache_entries", "gauge",
                   "DPoP proof jtis recorded in the current window (dpop.replay_cache is the bound).");
    cf_prom_u64(p, "curfew_dpop_replay_cache_entries", NULL, st.entries);
    cf_prom_family(p, "curfew_dpop_replay_cache_full_total", "counter",
                   "New DPoP proofs refused (dpop_invalid) because the replay cache was full.");
    cf_prom_u64(p, "curfew_dpop_replay_cache_full_total", NULL, st.full_total);
    render_verify(app, p);
}

/* Rate limits hit, revocations, clock steps, purges and dropped audit lines. */
static void render_limits(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    cf_prom_family(p, "curfew_rate_limited_total", "counter",
                   "Requests refused by a rate limit, by endpoint class.");
    for (int c = 0; c < CF_RATE__COUNT; c++) {
        const char *l[] = {"class", cf_rate_class_name((cf_rate_class_t)c), NULL};
        cf_prom_u64(p, "curfew_rate_limited_total", l, m->rate_limited[c]);
    }

    cf_prom_family(p, "curfew_revocations_total", "counter",
                   "Revocations, by scope: one session, a subject, a client, everyone, or a "
                   "logout by the user.");
    for (int c = 1; c < CF_REVOKE__COUNT; c++) { /* 0: none, not a revocation */
        const char *l[] = {"scope", scope_names[c], NULL};
        cf_prom_u64(p, "curfew_revocations_total", l, m->revocations[c]);
    }

    cf_prom_family(p, "curfew_clock_steps_total", "counter",
                   "Jumps of this node's wall clock (more than 5s against the monotonic clock), "
                   "by direction.");
    {
        const char *fwd[] = {"direction", "forward", NULL}, *back[] = {"direction", "backward", NULL};
        cf_prom_u64(p, "curfew_clock_steps_total", fwd, m->clock_steps[0]);
        cf_prom_u64(p, "curfew_clock_steps_total", back, m->clock_steps[1]);
    }

    cf_prom_family(p, "curfew_sessions_purged_total", "counter",
                   "Ended sessions removed from the index and the store.");
    cf_prom_u64(p, "curfew_sessions_purged_total", NULL, m->purged);

    cf_prom_family(p, "curfew_audit_dropped_total", "counter",
                   "Audit log lines dropped because the in-memory queue (audit.buffer) was full.");
    cf_prom_u64(p, "curfew_audit_dropped_total", NULL,
                app->audit != NULL ? cf_audit_dropped(app->audit) : 0);

    /* The count the event=log_dropped lines give, as a counter an alert can watch. */
    cf_prom_family(p, "curfew_log_dropped_total", "counter",
                   "Log lines left out by the log's rate limit (a flood), by what they were.");
    {
        const char *l[] = {"what", "check_refused", NULL};
        cf_prom_u64(p, "curfew_log_dropped_total", l, app->refusal_log.dropped_total);
    }
}

/* The store's group commits (its own counters, read from the writer). */
static void render_store(cf_app_t *app, cf_prom_t *p)
{
    if (app->store == NULL)
        return;
    cf_store_stats_t st = cf_store_stats(app->store);
    cf_histogram_t h;

    cf_histogram_init(&h, cf_store_commit_bounds, CF_STORE_COMMIT_NBOUNDS);
    memcpy(h.counts, st.commit_buckets, sizeof st.commit_buckets);
    h.sum = st.commit_seconds;
    h.count = st.commits;
    cf_prom_family(p, "curfew_store_commit_seconds", "histogram",
                   "Time of one store transaction (group commit), fsync included.");
    cf_prom_histogram(p, "curfew_store_commit_seconds", NULL, &h);
    cf_prom_family(p, "curfew_store_events_total", "counter", "Events written to the store.");
    cf_prom_u64(p, "curfew_store_events_total", NULL, st.events);
    cf_prom_family(p, "curfew_store_failures_total", "counter",
                   "Batches the store failed to make durable.");
    cf_prom_u64(p, "curfew_store_failures_total", NULL, st.failures);
}

/* The cluster layer's view of the bus (cluster nodes only). */
static void render_cluster(cf_app_t *app, cf_prom_t *p)
{
    const cf_app_metrics_t *m = &app->metrics;

    if (app->cluster == NULL)
        return;
    const cf_cluster_t *c = app->cluster;

    cf_prom_family(p, "curfew_revocation_propagation_seconds", "histogram",
                   "Delay from a revocation on another node (its origin timestamp) to "
                   "this node applying it.");
    cf_prom_histogram(p, "curfew_revocation_propagation_seconds", NULL, &c->propagation);
    cf_prom_family(p, "curfew_cluster_stale", "gauge",
                   "1 while this node refuses checks: it has not heard the bus within "
                   "cluster.max_staleness or has not resynchronised.");
    cf_prom_u64(p, "curfew_cluster_stale", NULL, (uint64_t)cf_app_cluster_stale(app));
    cf_prom_family(p, "curfew_cluster_messages_total", "counter",
                   "Bus messages heard (heartbeats and this node's own included).");
    cf_prom_u64(p, "curfew_cluster_messages_total", NULL, c->messages);
    cf_prom_family(p, "curfew_cluster_bad_messages_total", "counter",
                   "Bus messages that could not be decoded and were ignored.");
    cf_prom_u64(p, "curfew_cluster_bad_messages_total", NULL, c->bad_messages);
    cf_prom_family(p, "curfew_cluster_resyncs_total", "counter",
                   "Times this node reloaded its index from Redis after (re)subscribing.");
    cf_prom_u64(p, "curfew_cluster_resyncs_total", NULL, c->resyncs);
    cf_prom_family(p, "curfew_cluster_stale_refusals_total", "counter",
                   "Checks refused with store_unavailable because this node was stale.");
    cf_prom_u64(p, "curfew_cluster_stale_refusals_total", NULL, c->stale_refusals);
    cf_prom_family(p, "curfew_cluster_events_applied_total", "counter",
                   "Events applied from other nodes' bus messages, by kind (counted here "
                   "only: the origin node counts them as its own).");
    for (int t = 0; t < CF_EV__COUNT; t++) {
        const char *l[] = {"event", cf_event_name((cf_event_type_t)t), NULL};
        if (cf_event_flags((cf_event_type_t)t) & CF_EVF_PUBLISH)
            cf_prom_u64(p, "curfew_cluster_events_applied_total", l, m->remote[t]);
    }
}

/* The HTTP server's own counters. */
static void render_http(cf_app_t *app, cf_prom_t *p)
{
    if (app->http == NULL)
        return;
    cf_http_stats_t hs;

    cf_http_server_stats(app->http, &hs);
    cf_prom_family(p, "curfew_http_requests_total", "counter", "HTTP requests handled.");
    cf_prom_u64(p, "curfew_http_requests_total", NULL, hs.requests);
    cf_prom_family(p, "curfew_http_connections_open", "gauge", "Open client connections.");
    cf_prom_u64(p, "curfew_http_connections_open", NULL, hs.open_connections);
    cf_prom_family(p, "curfew_http_connections_rejected_total", "counter",
                   "Connections refused over limits.max_connections.");
    cf_prom_u64(p, "curfew_http_connections_rejected_total", NULL, hs.rejected);
}

/* The timeout measures' client label of slot @i: a configured client, or "other". */
static const char *slot_name(const cf_app_metrics_t *m, size_t i)
{
    return i < m->clients->nclients ? m->clients->clients[i].id : "other";
}

/* Timeouts measured: idle gaps, forced re-logins and timeouts without return (docs/tuning.md),
 * by client (configured ones, then "other") and end reason. */
static void render_timeouts(cf_app_t *app, cf_prom_t *p)
{
    cf_app_metrics_t *m = &app->metrics;
    static const char *const ends[2] = {"idle_timeout", "absolute_timeout"};
    size_t n = m->timeouts != NULL ? m->clients->nclients + 1 : 0;

    cf_app_metrics_sweep(app, cf_app_now(app));
    cf_prom_family(p, "curfew_idle_gap_seconds", "histogram",
                   "Silence before an allowed check or refresh that was a person's activity "
                   "(gaps under 1s skipped), by client; the configured idle timeouts are bucket "
                   "bounds.");
    for (size_t i = 0; i < n; i++) {
        const char *l[] = {"client", slot_name(m, i), NULL};
        cf_prom_histogram(p, "curfew_idle_gap_seconds", l, &m->timeouts[i].idle_gap);
    }
    cf_prom_family(p, "curfew_relogins_total", "counter",
                   "Forced re-logins: a session ended by a timeout, and a new session of the "
                   "same subject within tuning.relogin_window, by the ended session's client "
                   "and end reason.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const char *l[] = {"client", slot_name(m, i), "reason", ends[k], NULL};
            cf_prom_u64(p, "curfew_relogins_total", l, m->timeouts[i].relogins[k]);
        }
    cf_prom_family(p, "curfew_relogin_delay_seconds", "histogram",
                   "Time from a timeout to the subject's new session, by client and end reason.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const char *l[] = {"client", slot_name(m, i), "reason", ends[k], NULL};
            cf_prom_histogram(p, "curfew_relogin_delay_seconds", l, &m->timeouts[i].relogin_gap[k]);
        }
    cf_prom_family(p, "curfew_timeouts_without_return_total", "counter",
                   "Sessions ended by a timeout whose subject did not start another within "
                   "tuning.relogin_window, by client and end reason.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const char *l[] = {"client", slot_name(m, i), "reason", ends[k], NULL};
            cf_prom_u64(p, "curfew_timeouts_without_return_total", l,
                        m->relogin != NULL ? cf_relogin_without_return(m->relogin, i, k) : 0);
        }
    cf_prom_family(p, "curfew_relogin_evicted_total", "counter",
                   "Timeouts forgotten before their window passed (tuning.relogin_subjects).");
    cf_prom_u64(p, "curfew_relogin_evicted_total", NULL, m->relogin_evicted);
}

/* The alert webhook (alerts.webhook, with rules): what became of each body. */
static void render_alerts(cf_app_t *app, cf_prom_t *p)
{
    static const char *const results[] = {"sent", "failed", "dropped"};
    uint64_t v[3];

    if (app->webhook == NULL)
        return;
    cf_webhook_stats(app->webhook, &v[0], &v[1], &v[2]);
    cf_prom_family(p, "curfew_alert_webhook_total", "counter",
                   "Alert bodies the webhook delivered (sent), gave up on after every attempt "
                   "(failed: receiver down, no 2xx, or its TLS certificate did not verify) or "
                   "dropped for a full queue.");
    for (size_t i = 0; i < 3; i++) {
        const char *l[] = {"result", results[i], NULL};
        cf_prom_u64(p, "curfew_alert_webhook_total", l, v[i]);
    }
}

/* The exposition, family by family, in the order scrapers have always seen. */
static void (*const sections[])(cf_app_t *app, cf_prom_t *p) = {
    render_build,  render_active, render_keys,   render_sessions, render_tokens,
    render_checks, render_proxy,  render_dpop,   render_limits,   render_store,
    render_cluster, render_http,  render_timeouts, cf_app_apikeys_render, render_alerts,
};

void cf_app_metrics_render(cf_app_t *app, cf_prom_t *p)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        sections[i](app, p);
}

/* ------------------------------------------------------------------ */
/* GET /v1/stats: the same counters as JSON, for the dashboard         */
/* ------------------------------------------------------------------ */

/*
 * Why a second view of the counters: /metrics may sit behind metrics.token,
 * which the dashboard does not have, and a browser should not have to parse
 * the exposition format. This view takes the admin key instead and gives
 * exactly what the dashboard charts. The values are the raw counters (rates
 * are the reader's business, from two readings and their "time"), and a
 * histogram keeps its bucket counts so a quantile can be taken over any
 * interval.
 */
static json_t *histogram_json(const cf_histogram_t *h)
{
    json_t *bounds = json_array(), *counts = json_array();

    for (size_t i = 0; i < h->nbounds; i++)
        json_array_append_new(bounds, json_real(h->bounds[i]));
    for (size_t i = 0; i <= h->nbounds; i++)
        json_array_append_new(counts, json_integer((json_int_t)h->counts[i]));
    return json_pack("{s:o, s:o, s:I, s:f}", "bounds", bounds, "counts", counts, "count",
                     (json_int_t)h->count, "sum", h->sum);
}

/* The timeout measures of slot @i (the same counters as render_timeouts), and the idle timeout
 * its sessions get unless a role or route is stricter. */
static json_t *timeouts_slot_json(cf_app_t *app, size_t i)
{
    const cf_app_metrics_t *m = &app->metrics;
    static const char *const ends[2] = {"idle_timeout", "absolute_timeout"};
    cf_time_t idle = app->cfg.idle_timeout;
    json_t *relogins = json_object(), *gone = json_object(), *delay = json_object();

    if (i < m->clients->nclients && m->clients->clients[i].limits.idle_timeout > 0 &&
        (idle == 0 || m->clients->clients[i].limits.idle_timeout < idle))
        idle = m->clients->clients[i].limits.idle_timeout;
    for (int k = 0; k < 2; k++) {
        json_object_set_new(relogins, ends[k], json_integer((json_int_t)m->timeouts[i].relogins[k]));
        json_object_set_new(gone, ends[k], json_integer((json_int_t)(
            m->relogin != NULL ? cf_relogin_without_return(m->relogin, i, (int)k) : 0)));
        json_object_set_new(delay, ends[k], histogram_json(&m->timeouts[i].relogin_gap[k]));
    }
    return json_pack("{s:s, s:f, s:o, s:o, s:o, s:o}", "client", slot_name(m, i),
                     "idle_timeout", (double)idle / CF_SEC,
                     "idle_gap_seconds", histogram_json(&m->timeouts[i].idle_gap),
                     "relogins", relogins, "timeouts_without_return", gone,
                     "relogin_delay_seconds", delay);
}

/* "timeouts": what /metrics says in the curfew_idle_gap_seconds, curfew_relogins_total,
 * curfew_relogin_delay_seconds and curfew_timeouts_without_return_total families, by client
 * slot, with the configured lifetimes that go with them (the dashboard's Timeouts panel and
 * `curfew tune --live`). */
static json_t *timeouts_json(cf_app_t *app)
{
    cf_app_metrics_t *m = &app->metrics;
    json_t *slots = json_array();
    size_t n = m->timeouts != NULL ? m->clients->nclients + 1 : 0;

    cf_app_metrics_sweep(app, cf_app_now(app));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(slots, timeouts_slot_json(app, i));
    return json_pack("{s:f, s:f, s:f, s:f, s:I, s:o}",
                     "idle_timeout", (double)app->cfg.idle_timeout / CF_SEC,
                     "absolute_timeout", (double)app->cfg.absolute_timeout / CF_SEC,
                     "access_ttl", (double)app->cfg.access_ttl / CF_SEC,
                     "relogin_window", (double)app->cfg.relogin_window / CF_SEC,
                     "relogin_evicted", (json_int_t)m->relogin_evicted, "clients", slots);
}

json_t *cf_app_stats_json(cf_app_t *app)
{
    const cf_app_metrics_t *m = &app->metrics;
    cf_time_t now = cf_app_now(app);
    json_t *ended, *checks, *denied, *refresh, *revocations, *o;

    ended = json_object();
    for (int r = 1; r < CF_END__COUNT; r++)
        json_object_set_new(ended, cf_end_name((cf_end_t)r), json_integer((json_int_t)m->sessions_ended[r]));
    denied = json_object();
    {
        uint64_t deny = 0;
        for (int r = 1; r < CF_REASON__COUNT; r++) {
            deny += m->checks[r];
            json_object_set_new(denied, cf_reason_name((cf_reason_t)r), json_integer((json_int_t)m->checks[r]));
        }
        checks = json_pack("{s:I, s:I, s:I}", "allow", (json_int_t)m->checks[CF_REASON_NONE], "deny",
                           (json_int_t)deny, "error", (json_int_t)m->checks_error);
    }
    refresh = json_object();
    for (int r = 0; r < CF_REFRESH_RESULT__COUNT; r++)
        json_object_set_new(refresh, refresh_names[r], json_integer((json_int_t)m->refresh[r]));
    revocations = json_object();
    for (int c = 1; c < CF_REVOKE__COUNT; c++)
        json_object_set_new(revocations, scope_names[c], json_integer((json_int_t)m->revocations[c]));
    /* revocation_propagation_seconds: measured between nodes, so null on a single node. */
    o = json_pack("{s:f, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}",
                  "time", (double)now / CF_SEC, "version", CF_VERSION,
                  "sessions_active", (json_int_t)cf_app_active(app),
                  "sessions_created", (json_int_t)m->sessions_created,
                  "sessions_ended", ended, "checks", checks, "checks_denied", denied,
                  "refresh", refresh, "refresh_reuse_detected", (json_int_t)m->reuse_detected,
                  "revocations", revocations,
                  "check_duration_seconds", histogram_json(&m->check_duration),
                  "revocation_propagation_seconds",
                  app->cluster != NULL ? histogram_json(&app->cluster->propagation) : json_null(),
                  "timeouts", timeouts_json(app));
    return o;
}
