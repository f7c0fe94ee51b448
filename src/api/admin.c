/* SPDX-License-Identifier: MIT
 *
 * The admin API: create sessions (after the application authenticated the
 * user), list, show and end them, and revoke by subject or globally. Every
 * endpoint here requires the admin key. Changes are answered only once
 * durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/b64url.h"
#include "core/digest.h"
#include "core/duration.h"
#include "core/netaddr.h"
#include "core/policy.h"
#include "core/error.h"
#include "util/log.h"
#include "util/random.h"

static void bad_request(cf_http_req_t *req, const char *desc)
{
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_INVALID_REQUEST, desc, NULL, 0);
}

/* Printable ASCII without quotes or backslashes: safe in headers and logs. */
static int safe_text(const char *s, int allow_space)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || (c == ' ' && !allow_space))
            return 0;
    }
    return 1;
}

/* A duration given as a string ("15m") or a number of seconds. 0 when absent. */
static int body_duration(json_t *v, const char *name, cf_time_t *out, char *desc, size_t cap)
{
    const char *why = NULL;

    *out = 0;
    if (v == NULL)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) < 100LL * 365 * 86400) {
        *out = (cf_time_t)json_integer_value(v) * CF_SEC;
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) > 0 && json_real_value(v) < 100.0 * 365 * 86400) {
        *out = (cf_time_t)(json_real_value(v) * CF_SEC);
        if (*out > 0)
            goto check_min;
    }
    if (json_is_string(v) &&
        cf_duration_parse(json_string_value(v), json_string_length(v), out, &why) == 0 && *out > 0)
        goto check_min;
    snprintf(desc, cap, "%s: expected a positive duration such as \"15m\" or a number of seconds%s%s",
             name, why ? ": " : "", why ? why : "");
    return CF_EINVAL;
check_min:
    /* Token times are whole seconds: a shorter lifetime would give exp == iat. */
    if (*out >= CF_SEC)
        return 0;
    snprintf(desc, cap, "%s: must be at least 1s (token times have one-second resolution)", name);
    return CF_EINVAL;
}

/*
 * Without "ip" (or "device_id") the session is bound to whoever called, i.e.
 * the backend: with risk binding on, the user's first request then looks
 * like a change and ends the session or asks for a step-up. Say so once per
 * session, without the subject or any id beyond the client.
 */
static void warn_bound_to_caller(const cf_session_t *s, const char *client_id, int no_ip,
                                 int no_device)
{
    int ip = no_ip && s->ip_binding > CF_IPBIND_OFF && s->on_ip_change > CF_RISK_IGNORE;
    int dev = no_device && s->device[0] != '\0' && s->on_device_change > CF_RISK_IGNORE;

    if (ip || dev)
        CF_LOG(CF_LOG_WARN,
               "event=session_bound_to_caller client=%s missing=%s hint=\"pass the user's ip and "
               "device_id to POST /v1/sessions\"",
               client_id[0] != '\0' ? client_id : "-", ip && dev ? "ip,device_id" : ip ? "ip" : "device_id");
}

void cf_api_sessions_create(cf_app_t *app, cf_http_req_t *req)
{
    static const char *const known[] = {"sub", "client_id", "roles", "scope", "auth_time",
                                        "idle_timeout", "absolute_timeout", "access_ttl",
                                        "ip", "device_id"};
    cf_time_t now = cf_app_now(app);
    json_t *doc, *v;
    const char *key, *sub, *client_id = "", *scope = "";
    char roles[512] = "", desc[256], sid[CF_SID_LEN + 1], refresh[CF_REFRESH_TOKEN_LEN + 1];
    size_t rlen = 0;
    cf_limits_t requested = {0, 0, 0}, configured;
    cf_effective_t eff;
    const cf_client_t *client = NULL;
    char ip[46] = "", device[44] = "", keyid[24];
    cf_time_t auth_time = 0;
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s;
    cf_event_t *e;
    char *access = NULL;
    int64_t exp;
    cf_pending_t *p;

    if (!cf_req_require_admin(app, req))
        return;
    cf_req_client_ip(app, req, ip);
    cf_req_api_key_id(req, keyid);
    {
        cf_rate_who_t who = {.ip = ip, .api_key = keyid};
        if (cf_req_rate_limit(app, req, CF_RATE_SESSION_CREATE, &who, now, 0))
            return;
    }
    doc = cf_req_json_object(req);
    if (doc == NULL)
        return;
    json_object_foreach(doc, key, v) {
        size_t i;
        for (i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(key, known[i]) == 0)
                break;
        if (i == sizeof known / sizeof known[0]) {
            snprintf(desc, sizeof desc, "unknown field '%.64s'", key);
            goto bad;
        }
    }
    v = json_object_get(doc, "sub");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 255 ||
        !safe_text(json_string_value(v), 0)) {
        snprintf(desc, sizeof desc, "sub: required, 1 to 255 printable characters without spaces or quotes");
        goto bad;
    }
    sub = json_string_value(v);
    v = json_object_get(doc, "client_id");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) > 127 || !safe_text(json_string_value(v), 0)) {
            snprintf(desc, sizeof desc, "client_id: expected a string of at most 127 printable characters");
            goto bad;
        }
        client_id = json_string_value(v);
        if (app->cfg.policy.nclients > 0) {
            client = cf_policy_client(&app->cfg.policy, client_id);
            if (client == NULL) {
                snprintf(desc, sizeof desc, "client_id: '%.64s' is not a configured client", client_id);
                goto bad;
            }
        }
    }
    /* The backend saw the user; what it says about address and device wins. */
    v = json_object_get(doc, "ip");
    if (v != NULL) {
        cf_ip_t parsed;
        if (!json_is_string(v) ||
            cf_ip_parse(json_string_value(v), json_string_length(v), &parsed) < 0) {
            snprintf(desc, sizeof desc, "ip: expected an IPv4 or IPv6 address");
            goto bad;
        }
        cf_ip_format(&parsed, ip);
    }
    v = json_object_get(doc, "device_id");
    if (v != NULL) {
        uint8_t md[32];
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 512) {
            snprintf(desc, sizeof desc, "device_id: expected a non-empty string of at most 512 characters");
            goto bad;
        }
        cf_sha256(json_string_value(v), json_string_length(v), md);
        cf_b64url_encode(md, 24, device);
    } else {
        cf_req_device(app, req, device);
    }
    v = json_object_get(doc, "scope");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) > 511 || !safe_text(json_string_value(v), 1)) {
            snprintf(desc, sizeof desc, "scope: expected a space-separated string of at most 511 characters");
            goto bad;
        }
        scope = json_string_value(v);
    }
    v = json_object_get(doc, "roles");
    if (v != NULL) {
        size_t i;
        json_t *r;
        if (!json_is_array(v) || json_array_size(v) > 32) {
            snprintf(desc, sizeof desc, "roles: expected an array of at most 32 strings");
            goto bad;
        }
        json_array_foreach(v, i, r) {
            const char *name = json_string_value(r);
            size_t n = json_string_length(r);
            if (!json_is_string(r) || n == 0 || !safe_text(name, 0) || strchr(name, ',') != NULL ||
                rlen + n + 2 > sizeof roles) {
                snprintf(desc, sizeof desc,
                         "roles[%zu]: expected a non-empty name without spaces, commas or quotes (500 characters in all)",
                         i);
                goto bad;
            }
            if (rlen > 0)
                roles[rlen++] = ',';
            memcpy(roles + rlen, name, n + 1);
            rlen += n;
        }
    }
    v = json_object_get(doc, "auth_time");
    if (v != NULL) {
        /* Range first, arithmetic after: INT64_MAX seconds would overflow in ms. */
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            json_integer_value(v) > CF_TOKEN_MAX_NUMERICDATE ||
            (cf_time_t)json_integer_value(v) * CF_SEC > now + app->cfg.clock_leeway) {
            snprintf(desc, sizeof desc, "auth_time: expected Unix seconds, not in the future");
            goto bad;
        }
        auth_time = (cf_time_t)json_integer_value(v) * CF_SEC;
    }
    if (body_duration(json_object_get(doc, "idle_timeout"), "idle_timeout", &requested.idle_timeout,
                      desc, sizeof desc) < 0 ||
        body_duration(json_object_get(doc, "absolute_timeout"), "absolute_timeout",
                      &requested.absolute_timeout, desc, sizeof desc) < 0 ||
        body_duration(json_object_get(doc, "access_ttl"), "access_ttl", &requested.access_ttl, desc,
                      sizeof desc) < 0)
        goto bad;

    /* The server decides: requests can only make lifetimes shorter. */
    configured = (cf_limits_t){app->cfg.idle_timeout, app->cfg.absolute_timeout, app->cfg.access_ttl};
    cf_policy_resolve(&app->cfg.policy, &configured, app->cfg.access_max_ttl, client, roles,
                      &requested, &eff);
    cf_app_new_sid(app, sid);
    s = cf_session_new(sid, sub, client_id, scope, roles, auth_time, &eff.limits, now);
    if (s != NULL) {
        cf_session_bind(s, ip, device);
        s->ip_binding = (uint8_t)eff.risk.ip_binding;
        s->on_ip_change = (uint8_t)eff.risk.on_ip_change;
        s->on_device_change = (uint8_t)eff.risk.on_device_change;
        warn_bound_to_caller(s, client_id, json_object_get(doc, "ip") == NULL,
                             json_object_get(doc, "device_id") == NULL);
    }
    json_decref(doc);
    /* Tokens first, then the commit; the session is indexed only once the
     * store has it (commit.c), so a failure at any step leaves nothing. */
    e = s != NULL ? cf_events_add(&ev, CF_EV_SESSION_CREATED, now, s) : NULL;
    if (e == NULL || cf_app_issue_access(app, s, now, &access, &exp) < 0) {
        cf_session_free(s);
        cf_events_fini(&ev);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "cannot issue tokens", NULL,
                         0);
        return;
    }
    cf_app_issue_refresh(s, 0, refresh, e);
    p = cf_pending_new(req, 201, cf_app_token_body(s, access, exp, refresh, now), 1);
    if (p != NULL && client != NULL && client->cookie)
        cf_app_token_cookies(app, p, s, access, exp, refresh, now);
    OPENSSL_cleanse(refresh, sizeof refresh);
    free(access);
    cf_session_free(s);
    if (p == NULL) {
        cf_events_fini(&ev);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
    return;
bad:
    json_decref(doc);
    bad_request(req, desc);
}

static cf_session_t *find_or_404(cf_app_t *app, cf_http_req_t *req, const char *sid, size_t len)
{
    cf_session_t *s = len == CF_SID_LEN ? cf_app_session(app, sid, len) : NULL;

    if (s == NULL)
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SESSION_NOT_FOUND, "no session with that id",
                         NULL, 0);
    return s;
}

void cf_api_session_show(cf_app_t *app, cf_http_req_t *req, const char *sid, size_t len)
{
    cf_session_t *s;

    if (!cf_req_require_admin(app, req))
        return;
    s = find_or_404(app, req, sid, len);
    if (s != NULL)
        cf_reply_json(req, 200, cf_app_session_json(app, s, cf_app_now(app)), NULL, 0);
}

void cf_api_session_delete(cf_app_t *app, cf_http_req_t *req, const char *sid, size_t len)
{
    cf_time_t now = cf_app_now(app);
    cf_events_t ev = CF_EVENTS_INIT;
    cf_session_t *s;
    cf_pending_t *p;

    if (!cf_req_require_admin(app, req))
        return;
    if (app->cluster != NULL) { /* Redis, not this node's cache, knows every session */
        cf_app_cluster_delete(app, sid, len, cf_api_revoked_session, req);
        return;
    }
    s = find_or_404(app, req, sid, len);
    if (s == NULL)
        return;
    cf_app_end_session(app, s, CF_END_REVOKED, now, &ev);
    /* The answer shows the session as the commit leaves it. */
    p = cf_pending_new(req, 200, cf_app_session_json(app, ev.n > 0 ? ev.v[0].session : s, now), 0);
    if (p == NULL) {
        cf_events_fini(&ev);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    cf_app_commit(app, &ev, cf_pending_done, p);
}

/*
 * Revocation by subject, by client or for everyone.
 *
 * By subject or for everyone two things happen: every live session of the
 * subject ends (reason revoked), and a not-before epoch is recorded so that
 * any token issued before now is refused even if it names a session this
 * node has never seen. The epoch is in milliseconds: a token issued in an
 * earlier second (JWT iat), and any token of a session created before the
 * epoch, is refused; refresh tokens too.
 *
 * By client there is no epoch (tokens do not carry a per-client epoch and
 * the not-before table is keyed by subject): the client's live sessions
 * end, and their tokens are refused through the ended session.
 *
 * In a cluster, revocations by subject and client run on Redis's index
 * (cluster.c), since this node's index may lack a session created elsewhere
 * an instant ago.
 *
 * With "before" (Unix seconds, not in the future) only sessions created
 * before that second end, and the epoch is set to that second instead of
 * now, so tokens issued since then keep working.
 *
 * On one node the sessions end in slices over several turns of the loop
 * (app/revoke.c); the answer waits for the last durable slice.
 */
void cf_api_revocations(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app), cutoff;
    json_t *doc, *sub, *all, *client, *before;
    int nscope;

    if (!cf_req_require_admin(app, req))
        return;
    doc = cf_req_json_object(req);
    if (doc == NULL)
        return;
    sub = json_object_get(doc, "sub");
    all = json_object_get(doc, "all");
    client = json_object_get(doc, "client_id");
    before = json_object_get(doc, "before");
    nscope = (sub != NULL) + (all != NULL) + (client != NULL);
    if (nscope != 1 || json_object_size(doc) != (size_t)(nscope + (before != NULL)) ||
        (sub != NULL && (!json_is_string(sub) || json_string_length(sub) == 0)) ||
        (client != NULL && (!json_is_string(client) || json_string_length(client) == 0)) ||
        (all != NULL && !json_is_true(all))) {
        json_decref(doc);
        bad_request(req, "expected exactly one of {\"sub\": \"<subject>\"}, {\"client_id\": \"<client>\"} "
                         "or {\"all\": true}, and optionally \"before\": <Unix seconds>");
        return;
    }
    cutoff = now;
    if (before != NULL) {
        if (!json_is_integer(before) || json_integer_value(before) <= 0 ||
            json_integer_value(before) > cf_time_to_sec(now)) {
            json_decref(doc);
            bad_request(req, "before: expected Unix seconds, not in the future");
            return;
        }
        cutoff = (cf_time_t)json_integer_value(before) * CF_SEC;
    }
    if (app->cluster != NULL && all == NULL) { /* on Redis's index: see cluster.c */
        cf_app_cluster_revoke(app, sub != NULL ? json_string_value(sub) : NULL,
                              client != NULL ? json_string_value(client) : NULL,
                              before != NULL ? cutoff : 0, cf_api_revoked_count, req);
        json_decref(doc);
        return;
    }
    /* In slices, answered once the last is durable (app/revoke.c). */
    cf_app_revoke_local(app, client != NULL ? CF_REVOKE_CLIENT : sub != NULL ? CF_REVOKE_SUBJECT
                                                                       : CF_REVOKE_ALL,
                        client != NULL ? json_string_value(client)
                        : sub != NULL  ? json_string_value(sub)
                                       : NULL,
                        before != NULL ? cutoff : 0, cf_api_revoked_count, req);
    json_decref(doc);
}
