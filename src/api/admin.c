/* SPDX-License-Identifier: MIT
 *
 * The admin API: create sessions (after the application authenticated the
 * user), list, show and end them, and revoke by subject or globally. Every
 * endpoint here requires the admin key. Changes are answered only once
 * durable.
 */
#include <stddef.h>
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
    int dev = no_device && cf_session_device(s)[0] != '\0' && s->on_device_change > CF_RISK_IGNORE;

    if (ip || dev)
        CF_LOG(CF_LOG_WARN,
               "event=session_bound_to_caller client=%s missing=%s hint=\"pass the user's ip and "
               "device_id to POST /v1/sessions\"",
               client_id[0] != '\0' ? client_id : "-", ip && dev ? "ip,device_id" : ip ? "ip" : "device_id");
}

/* What POST /v1/sessions asked for, checked field by field (fields[] below). */
typedef struct {
    cf_app_t *app;
    cf_http_req_t *req;
    cf_time_t now;
    const char *sub, *client_id, *scope; /* borrowed from the body */
    const cf_client_t *client;           /* NULL when no clients are configured */
    char roles[512];
    size_t rlen;
    char ip[46], device[44];
    int no_ip, no_device;                /* not given: bound to the caller (a warning) */
    cf_time_t auth_time;
    cf_limits_t requested;
    cf_cnf_t cnf; /* dpop_jkt: the session's tokens are bound to that key */
} create_t;

typedef struct create_field create_field_t;

/* One body field's check (@f its row): 0, or -1 with what is wrong in @desc. @v is NULL when absent. */
typedef int (*create_field_fn)(create_t *c, json_t *v, const create_field_t *f, char *desc,
                               size_t cap);

struct create_field {
    const char *name;
    create_field_fn check;
    size_t off; /* lifetimes: the cf_limits_t member of c->requested */
};

static int field_sub(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    (void)f;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 255 ||
        !safe_text(json_string_value(v), 0)) {
        snprintf(desc, cap, "sub: required, 1 to 255 printable characters without spaces or quotes");
        return -1;
    }
    c->sub = json_string_value(v);
    return 0;
}

static int field_client_id(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    const cf_policy_t *pol = &c->app->cfg.policy;

    (void)f;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) > 127 || !safe_text(json_string_value(v), 0)) {
        snprintf(desc, cap, "client_id: expected a string of at most 127 printable characters");
        return -1;
    }
    c->client_id = json_string_value(v);
    if (pol->nclients > 0) {
        c->client = cf_policy_client(pol, c->client_id);
        if (c->client == NULL) {
            snprintf(desc, cap, "client_id: '%.64s' is not a configured client", c->client_id);
            return -1;
        }
    }
    return 0;
}

/* The backend saw the user; what it says about address and device wins. */
static int field_ip(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    cf_ip_t parsed;

    (void)f;
    c->no_ip = v == NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || cf_ip_parse(json_string_value(v), json_string_length(v), &parsed) < 0) {
        snprintf(desc, cap, "ip: expected an IPv4 or IPv6 address");
        return -1;
    }
    cf_ip_format(&parsed, c->ip);
    return 0;
}

static int field_device_id(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    uint8_t md[32];

    (void)f;
    c->no_device = v == NULL;
    if (v == NULL) {
        cf_req_device(c->app, c->req, c->device);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 512) {
        snprintf(desc, cap, "device_id: expected a non-empty string of at most 512 characters");
        return -1;
    }
    cf_sha256(json_string_value(v), json_string_length(v), md);
    cf_b64url_encode(md, 24, c->device);
    return 0;
}

static int field_scope(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    (void)f;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) > 511 || !safe_text(json_string_value(v), 1)) {
        snprintf(desc, cap, "scope: expected a space-separated string of at most 511 characters");
        return -1;
    }
    c->scope = json_string_value(v);
    return 0;
}

static int field_roles(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    size_t i;
    json_t *r;

    (void)f;
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 32) {
        snprintf(desc, cap, "roles: expected an array of at most 32 strings");
        return -1;
    }
    json_array_foreach(v, i, r) {
        const char *name = json_string_value(r);
        size_t n = json_string_length(r);
        if (!json_is_string(r) || n == 0 || !safe_text(name, 0) || strchr(name, ',') != NULL ||
            c->rlen + n + 2 > sizeof c->roles) {
            snprintf(desc, cap,
                     "roles[%zu]: expected a non-empty name without spaces, commas or quotes (500 characters in all)",
                     i);
            return -1;
        }
        if (c->rlen > 0)
            c->roles[c->rlen++] = ',';
        memcpy(c->roles + c->rlen, name, n + 1);
        c->rlen += n;
    }
    return 0;
}

static int field_auth_time(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    (void)f;
    if (v == NULL)
        return 0;
    /* Range first, arithmetic after: INT64_MAX seconds would overflow in ms. */
    if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
        json_integer_value(v) > CF_TOKEN_MAX_NUMERICDATE ||
        (cf_time_t)json_integer_value(v) * CF_SEC > c->now + c->app->cfg.clock_leeway) {
        snprintf(desc, cap, "auth_time: expected Unix seconds, not in the future");
        return -1;
    }
    c->auth_time = (cf_time_t)json_integer_value(v) * CF_SEC;
    return 0;
}

/* A requested lifetime, into the cf_limits_t member f->off of c->requested. */
static int field_lifetime(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    cf_time_t *out = (cf_time_t *)((char *)&c->requested + f->off);

    return body_duration(v, f->name, out, desc, cap) < 0 ? -1 : 0;
}

/* RFC 9449 §10: the backend that saw the client's DPoP key binds the session to it. */
static int field_dpop_jkt(create_t *c, json_t *v, const create_field_t *f, char *desc, size_t cap)
{
    (void)f;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) ||
        cf_cnf_set(&c->cnf, CF_CNF_JKT, json_string_value(v), json_string_length(v)) < 0) {
        snprintf(desc, cap, "dpop_jkt: expected an RFC 7638 JWK SHA-256 thumbprint (43 base64url characters)");
        return -1;
    }
    return 0;
}

/* Every field the body may have, checked in this order (so is the first error named). */
static const create_field_t fields[] = {
    {"sub", field_sub, 0},
    {"client_id", field_client_id, 0},
    {"ip", field_ip, 0},
    {"device_id", field_device_id, 0},
    {"scope", field_scope, 0},
    {"roles", field_roles, 0},
    {"auth_time", field_auth_time, 0},
    {"idle_timeout", field_lifetime, offsetof(cf_limits_t, idle_timeout)},
    {"absolute_timeout", field_lifetime, offsetof(cf_limits_t, absolute_timeout)},
    {"access_ttl", field_lifetime, offsetof(cf_limits_t, access_ttl)},
    {"dpop_jkt", field_dpop_jkt, 0},
};

#define NFIELDS (sizeof fields / sizeof fields[0])

/* Check the body: unknown fields first, then each field in fields[] order. */
static int create_parse(create_t *c, json_t *doc, char *desc, size_t cap)
{
    const char *key;
    json_t *v;

    json_object_foreach(doc, key, v) {
        size_t i;
        for (i = 0; i < NFIELDS; i++)
            if (strcmp(key, fields[i].name) == 0)
                break;
        if (i == NFIELDS) {
            snprintf(desc, cap, "unknown field '%.64s'", key);
            return -1;
        }
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].check(c, json_object_get(doc, fields[i].name), &fields[i], desc, cap) < 0)
            return -1;
    return 0;
}

/* The server decides: requests can only make lifetimes shorter. NULL when out of memory. */
static cf_session_t *create_session(create_t *c)
{
    cf_app_t *app = c->app;
    cf_limits_t configured = {app->cfg.idle_timeout, app->cfg.absolute_timeout, app->cfg.access_ttl};
    char sid[CF_SID_LEN + 1];
    cf_effective_t eff;
    cf_session_t *s;

    cf_policy_resolve(&app->cfg.policy, &configured, app->cfg.access_max_ttl, c->client, c->roles,
                      &c->requested, &eff);
    cf_app_new_sid(app, sid);
    s = cf_session_new(sid, c->sub, c->client_id, c->scope, c->roles, c->auth_time, &eff.limits,
                       c->now);
    if (s != NULL) {
        cf_session_bind(s, c->ip, c->device);
        if (c->cnf.kind != CF_CNF_NONE && cf_session_set_cnf(s, &c->cnf) < 0) {
            cf_session_free(s);
            return NULL; /* out of memory: never an unbound session in its place */
        }
        s->ip_binding = (uint8_t)eff.risk.ip_binding;
        s->on_ip_change = (uint8_t)eff.risk.on_ip_change;
        s->on_device_change = (uint8_t)eff.risk.on_device_change;
        warn_bound_to_caller(s, c->client_id, c->no_ip, c->no_device);
    }
    return s;
}

/*
 * Tokens first, then the commit; the session is indexed only once the store
 * has it (commit.c), so a failure at any step leaves nothing. Takes @s.
 */
static void create_issue(cf_app_t *app, cf_http_req_t *req, const cf_client_t *client,
                         cf_session_t *s, cf_time_t now)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_event_t *e = s != NULL ? cf_events_add(&ev, CF_EV_SESSION_CREATED, now, s) : NULL;
    char refresh[CF_REFRESH_TOKEN_LEN + 1];
    char *access = NULL;
    int64_t exp;
    cf_pending_t *p;

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
}

void cf_api_sessions_create(cf_app_t *app, cf_http_req_t *req)
{
    create_t c = {.app = app, .req = req, .now = cf_app_now(app), .client_id = "", .scope = ""};
    char desc[256], keyid[24];
    cf_session_t *s;
    json_t *doc;

    if (!cf_req_require_admin(app, req))
        return;
    cf_req_client_ip(app, req, c.ip);
    cf_req_api_key_id(req, keyid);
    {
        cf_rate_who_t who = {.ip = c.ip, .api_key = keyid};
        if (cf_req_rate_limit(app, req, CF_RATE_SESSION_CREATE, &who, c.now, 0))
            return;
    }
    doc = cf_req_json_object(req);
    if (doc == NULL)
        return;
    if (create_parse(&c, doc, desc, sizeof desc) < 0) {
        json_decref(doc);
        bad_request(req, desc);
        return;
    }
    s = create_session(&c);
    json_decref(doc); /* c's strings are borrowed from it: the session has its copies */
    create_issue(app, req, c.client, s, c.now);
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
/* What POST /v1/revocations asked for. */
typedef struct {
    const char *sub, *client_id; /* borrowed from the body; NULL unless that is the scope */
    int all;
    int has_before;
    cf_time_t cutoff;            /* "before" in ms, else now */
} revocation_t;

/* Check the body into @r: one scope, maybe "before". Replies 400 and returns -1 otherwise. */
static int revocation_parse(cf_http_req_t *req, json_t *doc, cf_time_t now, revocation_t *r)
{
    json_t *sub = json_object_get(doc, "sub"), *all = json_object_get(doc, "all");
    json_t *client = json_object_get(doc, "client_id"), *before = json_object_get(doc, "before");
    int nscope = (sub != NULL) + (all != NULL) + (client != NULL);

    if (nscope != 1 || json_object_size(doc) != (size_t)(nscope + (before != NULL)) ||
        (sub != NULL && (!json_is_string(sub) || json_string_length(sub) == 0)) ||
        (client != NULL && (!json_is_string(client) || json_string_length(client) == 0)) ||
        (all != NULL && !json_is_true(all))) {
        bad_request(req, "expected exactly one of {\"sub\": \"<subject>\"}, {\"client_id\": \"<client>\"} "
                         "or {\"all\": true}, and optionally \"before\": <Unix seconds>");
        return -1;
    }
    *r = (revocation_t){json_string_value(sub), json_string_value(client), all != NULL,
                        before != NULL, now};
    if (before != NULL) {
        if (!json_is_integer(before) || json_integer_value(before) <= 0 ||
            json_integer_value(before) > cf_time_to_sec(now)) {
            bad_request(req, "before: expected Unix seconds, not in the future");
            return -1;
        }
        r->cutoff = (cf_time_t)json_integer_value(before) * CF_SEC;
    }
    return 0;
}

void cf_api_revocations(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    revocation_t r;
    json_t *doc;

    if (!cf_req_require_admin(app, req))
        return;
    doc = cf_req_json_object(req);
    if (doc == NULL)
        return;
    if (revocation_parse(req, doc, now, &r) < 0) {
        json_decref(doc);
        return;
    }
    if (app->cluster != NULL && !r.all) { /* on Redis's index: see cluster.c */
        cf_app_cluster_revoke(app, r.sub, r.client_id, r.has_before ? r.cutoff : 0,
                              cf_api_revoked_count, req);
        json_decref(doc);
        return;
    }
    /* In slices, answered once the last is durable (app/revoke.c). */
    cf_app_revoke_local(app, r.client_id != NULL ? CF_REVOKE_CLIENT
                             : r.sub != NULL     ? CF_REVOKE_SUBJECT
                                                 : CF_REVOKE_ALL,
                        r.client_id != NULL ? r.client_id : r.sub, r.has_before ? r.cutoff : 0,
                        cf_api_revoked_count, req);
    json_decref(doc);
}
