/* SPDX-License-Identifier: MIT
 *
 * The application shell: data dir, keys, the in-memory index, the event
 * sinks, timers and routing. Decisions live in src/core; this file gathers
 * their inputs (the clock, the index, the request) and applies their results.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "app/app.h"
#include "api/api.h"
#include "app/cluster.h"
#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/token.h"
#include "util/file.h"
#include "util/log.h"
#include "util/random.h"

/* ------------------------------------------------------------------ */
/* Clock, data dir and keys                                            */
/* ------------------------------------------------------------------ */

cf_time_t cf_app_now(cf_app_t *app)
{
    cf_time_t now = app->clock(app->clock_ctx);

    cf_app_clock_observe(app, now); /* every read may reveal a step (api/clock.c) */
    return now;
}

static int make_dir(const char *path)
{
    int rc = cf_file_mkdirs(path);

    if (rc < 0)
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=mkdir path=%s error=\"%s\"", path,
               rc == CF_EIO ? strerror(errno) : "path empty or too long");
    return rc < 0 ? CF_EIO : 0;
}

/* Write a new secret file (mode 0600) atomically and durably. */
static int write_secret_file(const char *dir, const char *path, const char *data, size_t len)
{
    int rc = cf_file_replace(dir, path, data, len);

    if (rc < 0)
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=write path=%s error=\"%s\"", path,
               rc == CF_EIO ? strerror(errno) : "path too long");
    return rc;
}

static int load_admin_key(cf_app_t *app)
{
    const char *env = getenv("CURFEW_ADMIN_KEY");
    char path[600], hex[80], key[64], *text;
    size_t len;
    int rc;

    if (env != NULL && env[0] != '\0') {
        cf_sha256(env, strlen(env), app->admin_key_hash);
        return 0;
    }
    snprintf(path, sizeof path, "%s/admin-key.sha256", app->cfg.data_dir);
    rc = cf_file_read_all(path, sizeof hex - 1, &text, &len);
    if (rc == 0) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
            len--;
        rc = cf_hex_decode(text, len, app->admin_key_hash, 32);
        free(text);
        if (rc < 0)
            goto bad;
        return 0;
    }
    if (rc != CF_ENOENT)
        goto bad;
    /* First start without a configured key: make one, show it once, keep its hash. */
    cf_random_b64url(32, key);
    cf_sha256(key, strlen(key), app->admin_key_hash);
    cf_hex_encode(app->admin_key_hash, 32, hex);
    strcat(hex, "\n");
    rc = write_secret_file(app->cfg.data_dir, path, hex, strlen(hex));
    if (rc < 0)
        return rc;
    fprintf(stderr, "curfew: admin key (shown once): %s\n"
                    "curfew: only its hash is stored in %s; set CURFEW_ADMIN_KEY to choose your own\n",
            key, path);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
bad:
    CF_LOG(CF_LOG_ERROR, "event=startup_error what=admin_key path=%s error=\"unreadable or not a SHA-256 hex digest\"",
           path);
    return CF_ECONFIG;
}

/* ------------------------------------------------------------------ */
/* The index: sessions, refresh tokens, not-before epochs              */
/* ------------------------------------------------------------------ */

cf_session_t *cf_app_session(cf_app_t *app, const char *sid, size_t len)
{
    return cf_index_get(app->index, sid, len);
}

void cf_app_new_sid(cf_app_t *app, char sid[CF_SID_LEN + 1])
{
    do
        cf_random_b64url(CF_SID_RAW_LEN, sid);
    while (sid[0] == '-' || cf_app_session(app, sid, CF_SID_LEN) != NULL);
}

cf_session_t *cf_app_index_session(cf_app_t *app, cf_session_t *s)
{
    cf_session_t *r = cf_index_add(app->index, s, app->index_now ? app->index_now : cf_app_now(app));

    cf_session_free(s);
    return r;
}

cf_subject_t *cf_app_subject(cf_app_t *app, const char *sub)
{
    return cf_index_subject(app->index, sub);
}

cf_group_t *cf_app_client(cf_app_t *app, const char *client_id)
{
    return cf_index_client(app->index, client_id);
}

int cf_app_index_refresh(cf_app_t *app, cf_session_t *s, const uint8_t hash[32], uint32_t gen)
{
    int rc = cf_index_add_refresh(app->index, s, hash, gen);

    return rc == CF_EEXIST ? 0 : rc; /* already known: nothing to add */
}

void cf_app_unindex_session(cf_app_t *app, cf_session_t *s)
{
    cf_index_remove(app->index, s);
}

int cf_app_refresh_known(cf_app_t *app, const uint8_t hash[32])
{
    return cf_index_refresh(app->index, hash) != NULL;
}

size_t cf_app_session_count(cf_app_t *app)
{
    return cf_index_count(app->index);
}

void cf_app_session_changed(cf_app_t *app, cf_session_t *s)
{
    cf_index_sync(app->index, s, cf_app_now(app));
}

/*
 * Sessions a purge slice may touch in one turn of the loop, and those a
 * count brought to now may re-file: at a million sessions each costs a few
 * cache misses (heap moves touch records), 10-40 us, so these keep a turn
 * to a few milliseconds.
 */
#define PURGE_SLICE 200
#define COUNT_SLICE 64

static void on_purge_timer(uv_timer_t *t);

size_t cf_app_active(cf_app_t *app)
{
    /* A backlog of deadlines (a burst idling out together) is worked off by
     * the purge sweep in slices, starting a millisecond from now. */
    if (cf_index_advance_max(app->index, cf_app_now(app), COUNT_SLICE) && !app->stopping &&
        uv_is_active((uv_handle_t *)&app->purge_timer))
        uv_timer_start(&app->purge_timer, on_purge_timer, 1, (uint64_t)app->cfg.purge_interval);
    return cf_index_active(app->index);
}

cf_refresh_entry_t *cf_app_refresh_lookup(cf_app_t *app, const char *tok, size_t len)
{
    uint8_t h[32];

    if (!cf_refresh_token_wellformed(tok, len))
        return NULL;
    cf_refresh_token_hash(tok, len, h);
    return cf_index_refresh(app->index, h);
}

int cf_app_set_not_before(cf_app_t *app, const char *sub, cf_time_t at)
{
    if (sub == NULL) {
        if (at > app->global_not_before)
            app->global_not_before = at;
        return 0;
    }
    return cf_index_set_not_before(app->index, sub, at);
}

cf_time_t cf_app_not_before(cf_app_t *app, const char *sub)
{
    cf_time_t at = cf_index_not_before(app->index, sub);

    return at > app->global_not_before ? at : app->global_not_before;
}

/* ---- loading from the store ---- */

/*
 * The risk policy is configuration, not state: each loaded session derives
 * it afresh. A million rows share a few dozen (client, roles) pairs, and
 * resolving one walks the policy and writes its explanations, so a load
 * remembers the answer per pair, keyed by the index's interned strings
 * (valid and unique while the load runs; forgotten before each load).
 */
#define POLICY_MEMO 64

static struct {
    const char *client, *roles;
    uint8_t ip_binding, on_ip_change, on_device_change;
} policy_memo[POLICY_MEMO];

static void load_policy(cf_app_t *app, cf_session_t *r)
{
    size_t h = (((uintptr_t)r->client_id >> 4) ^ ((uintptr_t)r->roles >> 3)) % POLICY_MEMO;

    if (policy_memo[h].client == r->client_id && policy_memo[h].roles == r->roles) {
        r->ip_binding = policy_memo[h].ip_binding;
        r->on_ip_change = policy_memo[h].on_ip_change;
        r->on_device_change = policy_memo[h].on_device_change;
        return;
    }
    cf_app_session_apply_policy(app, r);
    policy_memo[h].client = r->client_id;
    policy_memo[h].roles = r->roles;
    policy_memo[h].ip_binding = r->ip_binding;
    policy_memo[h].on_ip_change = r->on_ip_change;
    policy_memo[h].on_device_change = r->on_device_change;
}

static int load_session(void *ctx, cf_session_t *s)
{
    cf_app_t *app = ctx;
    cf_session_t *r = cf_app_index_session(app, s); /* frees @s */

    if (r == NULL)
        return CF_ENOMEM;
    load_policy(app, r);
    return 0;
}

static int load_refresh(void *ctx, const uint8_t hash[32], const char *sid, uint32_t gen)
{
    cf_app_t *app = ctx;
    cf_session_t *s = cf_app_session(app, sid, strlen(sid));

    if (s == NULL)
        return 0; /* orphan row: its session was purged; the token is dead */
    return cf_app_index_refresh(app, s, hash, gen);
}

static int load_not_before(void *ctx, const char *sub, cf_time_t at)
{
    return cf_app_set_not_before(ctx, sub, at);
}

static int load_alert_hold(void *ctx, const char *sub, cf_time_t until)
{
    return cf_app_alert_hold(ctx, sub, until);
}

static int index_init(cf_app_t *app)
{
    app->index = cf_index_new(app->seed);
    if (app->index == NULL)
        return CF_ENOMEM;
    cf_index_set_purge_after(app->index, app->cfg.purge_after);
    return 0;
}

static void index_clear(cf_app_t *app)
{
    cf_index_free(app->index);
    app->index = NULL;
    if (index_init(app) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=index_clear");
        abort(); /* an index that is not there cannot answer for anything */
    }
    app->global_not_before = 0;
    app->dirty = NULL; /* unflushed activity is lost: sessions can only expire earlier */
}

static int load_index(cf_app_t *app)
{
    cf_store_loader_t ld = {app, load_session, load_refresh, load_not_before, load_alert_hold};
    int rc;

    memset(policy_memo, 0, sizeof policy_memo); /* the last load's strings are gone */
    app->index_now = cf_app_now(app); /* one clock read for the whole load */
    cf_index_bulk(app->index, 1);      /* rows come in id order: sort by creation once */
    rc = cf_store_load(app->store, &ld);
    cf_index_bulk(app->index, 0);
    app->index_now = 0;
    if (rc < 0)
        return rc;
    CF_LOG(CF_LOG_INFO, "event=store_loaded backend=%s sessions=%zu refresh_tokens=%zu",
           cf_store_name(app->store), cf_index_count(app->index),
           cf_index_refresh_count(app->index));
    return 0;
}

int cf_app_reload(cf_app_t *app)
{
    index_clear(app);
    return load_index(app);
}

/* ------------------------------------------------------------------ */
/* Session operations                                                  */
/* ------------------------------------------------------------------ */

int cf_app_end_session(cf_app_t *app, cf_session_t *s, cf_end_t why, cf_time_t now,
                       cf_events_t *ev)
{
    cf_event_t *e;

    /* In a cluster, deadlines are data every node evaluates: idle time is
     * shared through batched activity, so a node must not declare a session
     * idle on what may only be its own view of it. */
    if (why == CF_END_NONE && app->cluster != NULL)
        return 0;
    /* Nor on a wall clock that has just jumped forward: if NTP steps it back
     * a moment later, the session must still be there (api/clock.c). */
    if (why == CF_END_NONE && cf_app_clock_unconfirmed(app))
        return 0;
    if (s->end != CF_END_NONE ||
        (why == CF_END_NONE && cf_session_end_at(s, now, NULL) == CF_END_NONE))
        return 0;
    /* Decided on the event's copy: @s itself changes when the store has said yes. */
    e = cf_events_add(ev, CF_EV_SESSION_ENDED, now, s);
    if (e == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=oom what=end_session");
        abort(); /* never answer for an end that was not even decided */
    }
    cf_session_end(e->session, why, now);
    e->reason = cf_end_refusal(e->session->end);
    /* One session's revocation, until a bulk revocation says otherwise. */
    e->scope = why == CF_END_LOGOUT    ? CF_REVOKE_LOGOUT
               : why == CF_END_REVOKED ? CF_REVOKE_SESSION
                                       : CF_REVOKE_NONE;
    return 1;
}

int cf_app_revocation_scope(cf_events_t *ev, cf_revoke_scope_t scope, cf_time_t now)
{
    cf_event_t *e;

    for (size_t i = 0; i < ev->n; i++)
        if (ev->v[i].type == CF_EV_SESSION_ENDED || ev->v[i].type == CF_EV_NOT_BEFORE)
            ev->v[i].scope = scope;
    e = cf_events_add(ev, CF_EV_REVOCATION, now, NULL);
    if (e == NULL)
        return CF_ENOMEM;
    e->scope = scope;
    return 0;
}

void cf_app_touch(cf_app_t *app, cf_session_t *s, cf_time_t now)
{
    cf_index_touch(app->index, s, now);
    if (!s->dirty) {
        s->dirty = 1;
        s->dirty_next = app->dirty;
        app->dirty = s;
    }
}

int cf_app_issue_access(cf_app_t *app, const cf_session_t *s, cf_time_t now, char **out,
                        int64_t *exp)
{
    char jti[32];
    const char *roles[64];
    size_t nroles = 0;
    char rolebuf[512];
    char *payload = NULL;
    int rc;

    cf_random_b64url(16, jti);
    snprintf(rolebuf, sizeof rolebuf, "%s", s->roles);
    for (char *p = rolebuf, *save = NULL, *r; (r = strtok_r(p, ",", &save)) != NULL; p = NULL)
        if (nroles < 64)
            roles[nroles++] = r;
    cf_access_token_spec_t spec = {
        .issuer = app->cfg.issuer,
        .audience = app->cfg.audience,
        .sub = s->sub,
        .sid = s->id,
        .client_id = s->client_id,
        .jti = jti,
        .scope = s->scope,
        .roles = roles,
        .nroles = nroles,
        .iat = cf_time_to_sec(now),
        .exp = cf_session_access_exp(s, now),
        .auth_time = cf_time_to_sec(s->auth_time),
    };
    rc = cf_token_access_payload(&spec, &payload);
    if (rc < 0)
        return rc;
    rc = cf_jws_sign(cf_app_signing_key(app), "at+jwt", payload, strlen(payload), out);
    free(payload);
    if (rc < 0)
        return rc;
    *exp = spec.exp;

    /* Pre-verify our own token so checks on this node never pay for a signature verify. */
    (void)cf_tokcache_put(&app->token_cache, *out, strlen(*out), s->id, spec.exp, spec.iat, 0);
    return 0; /* without the cache entry the first check verifies the signature: no harm */
}

void cf_app_mint_refresh(char out[CF_REFRESH_TOKEN_LEN + 1], uint8_t hash[32])
{
    uint8_t raw[CF_REFRESH_RAW_LEN];

    cf_random_bytes(raw, sizeof raw);
    cf_refresh_token_encode(raw, out);
    OPENSSL_cleanse(raw, sizeof raw);
    cf_refresh_token_hash(out, CF_REFRESH_TOKEN_LEN, hash);
}

void cf_app_issue_refresh(const cf_session_t *s, uint32_t gen, char out[CF_REFRESH_TOKEN_LEN + 1],
                          cf_event_t *e)
{
    cf_app_mint_refresh(out, e->token_hash);
    e->has_token = 1;
    e->token_gen = gen;
    memcpy(e->sid, s->id, sizeof e->sid);
}

/* Verify @tok's signature, issuer and audience into the cache; NULL with *why when refused. */
static const cf_tokcache_entry_t *verify_into_cache(cf_app_t *app, const char *tok, size_t len,
                                                    cf_time_t now, cf_access_token_t *t, int *rc)
{
    cf_token_expect_t expect = {app->cfg.issuer, app->cfg.audience, app->cfg.clock_leeway};
    cf_access_claims_t claims;
    json_t *payload = NULL;
    cf_reason_t why;
    /* Every key not yet retired verifies; the token's kid picks one, and
     * a kid that is unknown or retired is refused as unknown_key. */
    size_t nkeys;
    const cf_jws_key_t *const *keys = cf_keyset_verify_keys(app->keys, &nkeys);

    *rc = cf_jws_verify_typ(tok, len, keys, nkeys, "at+jwt", &payload, &t->refused); /* RFC 9068 §4 */
    if (*rc < 0 || t->refused != CF_REASON_NONE)
        return NULL;
    *rc = cf_token_check_claims(payload, &expect, now, &claims, &why);
    json_decref(payload);
    if (*rc < 0)
        return NULL;
    /* Time is judged on every use (core/access.c), so only other refusals stick. */
    if (why != CF_REASON_NONE && why != CF_REASON_TOKEN_EXPIRED && why != CF_REASON_TOKEN_NOT_YET_VALID) {
        t->refused = why;
        return NULL;
    }
    t->exp = claims.exp;
    t->iat = claims.iat;
    t->nbf = claims.nbf;
    if (strlen(claims.sid) != CF_SID_LEN)
        return NULL; /* signed by us but naming no session of ours: nothing to find */
    /* Cache the signature verdict; time-dependent checks are redone on every use. */
    *rc = cf_tokcache_put(&app->token_cache, tok, len, claims.sid, claims.exp, claims.iat, claims.nbf);
    return *rc < 0 ? NULL : cf_tokcache_get(&app->token_cache, tok, len);
}

int cf_app_access_input(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                        cf_access_input_t *in, cf_session_t **sp)
{
    const cf_tokcache_entry_t *c = cf_tokcache_get(&app->token_cache, tok, len);
    cf_session_t *s = NULL;
    int rc = 0;

    memset(in, 0, sizeof *in);
    in->now = now;
    in->leeway = app->cfg.clock_leeway;
    /* After a backward clock step, tokens issued before it carry an iat "in
     * the future" by up to the step: excuse that, for as long as they live. */
    in->slack = cf_app_clock_slack(app);
    in->risk = CF_RISK_NONE;
    in->global_not_before = app->global_not_before;
    in->subject_not_before = app->global_not_before;
    if (c == NULL)
        c = verify_into_cache(app, tok, len, now, &in->token, &rc);
    if (c != NULL) {
        in->token = (cf_access_token_t){CF_REASON_NONE, c->exp, c->iat, c->nbf};
        s = cf_app_session(app, c->sid, CF_SID_LEN);
    }
    if (s != NULL)
        in->subject_not_before = cf_app_not_before(app, s->sub);
    in->session = s;
    *sp = s;
    return rc;
}

int cf_app_verify_access(cf_app_t *app, const char *tok, size_t len, cf_time_t now,
                         cf_session_t **sp, int64_t *exp, int64_t *iat, cf_reason_t *why)
{
    cf_access_input_t in;
    cf_access_decision_t d;
    int rc = cf_app_access_input(app, tok, len, now, &in, sp);

    if (rc < 0)
        return rc;
    cf_access_decide(&in, &d);
    *exp = in.token.exp;
    *iat = in.token.iat;
    *why = d.why;
    return 0;
}

const char *cf_app_cached_sid(cf_app_t *app, const char *tok, size_t len)
{
    const cf_tokcache_entry_t *c = cf_tokcache_get(&app->token_cache, tok, len);

    return c != NULL ? c->sid : NULL;
}

/* ------------------------------------------------------------------ */
/* JSON views                                                          */
/* ------------------------------------------------------------------ */

static json_t *roles_array(const char *roles)
{
    json_t *a = json_array();
    const char *p = roles;

    while (a != NULL && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (e != NULL);
    }
    return a;
}

json_t *cf_app_session_json(cf_app_t *app, const cf_session_t *s, cf_time_t now)
{
    cf_time_t ended_at;
    cf_end_t end = cf_session_end_at(s, now, &ended_at);
    json_t *o = json_object();

    (void)app;
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "session_id", json_string(s->id));
    json_object_set_new(o, "sub", json_string(s->sub));
    json_object_set_new(o, "client_id", json_string(s->client_id));
    json_object_set_new(o, "roles", roles_array(s->roles));
    json_object_set_new(o, "scope", json_string(s->scope));
    json_object_set_new(o, "auth_time", json_integer(cf_time_to_sec(s->auth_time)));
    json_object_set_new(o, "created_at", json_integer(cf_time_to_sec(s->created_at)));
    json_object_set_new(o, "last_activity", json_integer(cf_time_to_sec(s->last_activity)));
    json_object_set_new(o, "idle_expires_at", json_integer(cf_time_to_sec(s->idle_deadline)));
    json_object_set_new(o, "absolute_expires_at", json_integer(cf_time_to_sec(s->absolute_deadline)));
    json_object_set_new(o, "idle_timeout", json_integer(s->limits.idle_timeout / CF_SEC));
    json_object_set_new(o, "absolute_timeout", json_integer(s->limits.absolute_timeout / CF_SEC));
    json_object_set_new(o, "state", json_string(end == CF_END_NONE ? "active" : "ended"));
    json_object_set_new(o, "end_reason", end == CF_END_NONE ? json_null() : json_string(cf_end_name(end)));
    json_object_set_new(o, "ended_at", end == CF_END_NONE ? json_null() : json_integer(cf_time_to_sec(ended_at)));
    return o;
}

json_t *cf_app_token_body(const cf_session_t *s, const char *access, int64_t exp,
                          const char *refresh, cf_time_t now)
{
    json_t *o = json_object();
    int64_t expires_in = exp - cf_time_to_sec(now);

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "access_token", json_string(access));
    json_object_set_new(o, "token_type", json_string("Bearer"));
    json_object_set_new(o, "expires_in", json_integer(expires_in > 0 ? expires_in : 0));
    json_object_set_new(o, "refresh_token", json_string(refresh));
    json_object_set_new(o, "session_id", json_string(s->id));
    if (s->scope[0])
        json_object_set_new(o, "scope", json_string(s->scope));
    json_object_set_new(o, "idle_expires_at", json_integer(cf_time_to_sec(s->idle_deadline)));
    json_object_set_new(o, "absolute_expires_at", json_integer(cf_time_to_sec(s->absolute_deadline)));
    return o;
}

/* ------------------------------------------------------------------ */
/* Timers: lazy activity flush and purge                               */
/* ------------------------------------------------------------------ */

/*
 * Activity is the one change we do not make durable before answering: every
 * check is activity, and an fsync per check would cap us at the disk's sync
 * rate. Instead the flush timer writes the newest activity of each touched
 * session in one batch. A crash loses at most one interval of activity, and a
 * lost update only moves the persisted idle deadline earlier, so a session
 * can expire early after a crash but never live longer than it should.
 */
static void flush_activity(cf_app_t *app)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_time_t now = cf_app_now(app);

    while (app->dirty != NULL) {
        cf_session_t *s = app->dirty;
        app->dirty = s->dirty_next;
        s->dirty = 0;
        s->dirty_next = NULL;
        if (cf_events_add(&ev, CF_EV_ACTIVITY, now, s) == NULL)
            break;
    }
    if (ev.n > 0)
        cf_app_commit(app, &ev, NULL, NULL);
    else
        cf_events_fini(&ev);
}

static void on_flush_timer(uv_timer_t *t)
{
    flush_activity(t->data);
}

/*
 * The purge sweep. Sessions whose deadlines passed while nobody asked are
 * marked ended here (so the store and the admin API show why), and sessions
 * that ended more than purge_after ago are dropped with their refresh tokens.
 * We keep ended sessions for a while so that a late request still gets the
 * precise reason (idle_timeout, refresh_reuse...) instead of session_not_found.
 *
 * The index's deadline heaps say which sessions are due, so a sweep costs
 * what expires, not what exists; and it does at most PURGE_SLICE of each
 * kind per turn of the loop, coming back a millisecond later for the rest,
 * so a million sessions expiring at once never stall the loop.
 */
typedef struct {
    cf_app_t *app;
    cf_events_t *ev;
    cf_time_t now;
} purge_ctx_t;

static cf_time_t purge_one(void *arg, cf_session_t *s)
{
    purge_ctx_t *c = arg;
    cf_event_t *e;

    /* Unflushed activity or a commit in flight: look again next sweep. */
    if (s->dirty || cf_app_session_busy(s) ||
        (e = cf_events_add(c->ev, CF_EV_SESSION_PURGED, c->now, NULL)) == NULL)
        return c->now + (c->app->cfg.purge_interval > 0 ? c->app->cfg.purge_interval : CF_SEC);
    memcpy(e->sid, s->id, sizeof e->sid);
    cf_app_unindex_session(c->app, s);
    return 0;
}

/* One slice of the sweep; returns 1 when more is due right away. */
static int purge(cf_app_t *app)
{
    cf_events_t ev = CF_EVENTS_INIT;
    purge_ctx_t c = {app, &ev, cf_app_now(app)};
    char sid[CF_SID_LEN + 1];
    size_t nended = 0, npurged;

    /* After a forward clock step, what expired only by the step must not end
     * or vanish for good until the step is confirmed (docs/operations.md). */
    if (cf_app_clock_unconfirmed(app)) {
        CF_LOG(CF_LOG_WARN, "event=purge_deferred why=clock_step_unconfirmed");
        return 0;
    }
    (void)cf_index_advance_max(app->index, c.now, PURGE_SLICE);
    while (nended < PURGE_SLICE && cf_index_next_lapsed(app->index, sid)) {
        cf_session_t *s = cf_app_session(app, sid, CF_SID_LEN);
        nended++;
        cf_app_end_session(app, s, CF_END_NONE, c.now, &ev);
    }
    npurged = cf_index_expire(app->index, c.now, PURGE_SLICE, purge_one, &c);
    if (ev.n > 0)
        cf_app_commit(app, &ev, NULL, NULL); /* the metrics sink counts the purges */
    else
        cf_events_fini(&ev);
    if (npurged > 0) /* the metrics sink has counted them (SESSION_PURGED events) */
        CF_LOG(CF_LOG_INFO, "event=purge sessions_purged=%zu total_purged=%llu", npurged,
               (unsigned long long)app->metrics.purged);
    return nended == PURGE_SLICE || npurged == PURGE_SLICE ||
           cf_index_behind(app->index, c.now);
}

static void on_purge_timer(uv_timer_t *t)
{
    cf_app_t *app = t->data;

    if (purge(app) && !app->stopping) /* the rest in a moment, after other work */
        uv_timer_start(&app->purge_timer, on_purge_timer, 1, (uint64_t)app->cfg.purge_interval);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

int cf_app_init(cf_app_t *app, const cf_config_t *cfg, uv_loop_t *loop)
{
    char path[600];
    int rc;

    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    app->loop = loop;
    cf_app_clock_init(app); /* the wall and monotonic clocks */
    cf_app_metrics_init(app);
    cf_random_bytes(&app->seed, sizeof app->seed);
    if (index_init(app) < 0)
        return CF_ENOMEM;
    rc = cf_tokcache_init(&app->token_cache, CF_TOKEN_CACHE_SIZE, app->seed);
    if (rc < 0)
        return rc;

    app->secret_cache = calloc(cfg->policy.nclients + 1, sizeof *app->secret_cache);
    if (app->secret_cache == NULL)
        return CF_ENOMEM;
    rc = cf_app_guard_init(app);
    if (rc < 0)
        return rc;
    rc = make_dir(cfg->data_dir);
    if (rc < 0)
        return rc;
    if (cfg->audit_path[0] != '\0') {
        rc = cf_audit_open(cfg->audit_path, cfg->audit_buffer, &app->audit);
        if (rc < 0)
            return rc;
        CF_LOG(CF_LOG_INFO, "event=audit_opened path=%s buffer=%zu", cfg->audit_path,
               cfg->audit_buffer);
    }
    rc = cf_app_alerts_init(app);
    if (rc < 0)
        return rc;
    rc = cf_app_keys_init(app);
    if (rc < 0)
        return rc;
    rc = load_admin_key(app);
    if (rc < 0)
        return rc;
    if (strcmp(cfg->store_url, "sqlite") == 0) {
        snprintf(path, sizeof path, "%s/curfew.db", cfg->data_dir);
        rc = cf_store_open_sqlite(path, loop, &app->store);
    } else {
        rc = cf_app_cluster_open(app, cfg->store_url);
        if (rc == 0)
            rc = cf_app_keys_cluster_init(app);
    }
    if (rc < 0)
        return rc;
    return load_index(app);
}

static void on_signal(uv_signal_t *h, int signum)
{
    cf_app_t *app = h->data;

    CF_LOG(CF_LOG_INFO, "event=shutdown signal=%d", signum);
    cf_app_stop(app);
}

/* SIGHUP: logrotate has moved the audit log away; write to a fresh file. */
static void on_sighup(uv_signal_t *h, int signum)
{
    cf_app_t *app = h->data;

    (void)signum;
    CF_LOG(CF_LOG_INFO, "event=sighup audit=%s", app->audit != NULL ? "reopen" : "off");
    if (app->audit != NULL)
        cf_audit_reopen(app->audit);
}

int cf_app_start(cf_app_t *app, cf_http_handler_fn handler)
{
    cf_http_config_t hc = {
        .host = app->cfg.listen_host,
        .port = app->cfg.listen_port,
        .max_connections = app->cfg.max_connections,
        .idle_timeout = app->cfg.client_timeout,
        .request_timeout = app->cfg.client_timeout,
        .max_header_bytes = app->cfg.max_header_bytes,
        .max_body_bytes = app->cfg.max_body_bytes,
        .on_request = handler,
        .ctx = app,
    };
    int rc = cf_http_server_start(app->loop, &hc, &app->http);

    if (rc < 0)
        return rc;
    app->started = 1;
    uv_timer_init(app->loop, &app->flush_timer);
    app->flush_timer.data = app;
    uv_timer_start(&app->flush_timer, on_flush_timer, (uint64_t)app->cfg.activity_flush,
                   (uint64_t)app->cfg.activity_flush);
    uv_timer_init(app->loop, &app->purge_timer);
    app->purge_timer.data = app;
    uv_timer_start(&app->purge_timer, on_purge_timer, (uint64_t)app->cfg.purge_interval,
                   (uint64_t)app->cfg.purge_interval);
    cf_app_keys_start(app);
    cf_app_clock_start(app);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigterm.data = app;
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_init(app->loop, &app->sigint);
    app->sigint.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_init(app->loop, &app->sighup);
    app->sighup.data = app;
    uv_signal_start(&app->sighup, on_sighup, SIGHUP);
    cf_app_cluster_start(app);
    CF_LOG(CF_LOG_INFO, "event=listening addr=%s port=%d kid=%s", app->cfg.listen_host,
           cf_http_server_port(app->http), cf_jws_key_kid(cf_app_signing_key(app)));
    return 0;
}

int cf_app_port(const cf_app_t *app)
{
    return cf_http_server_port(app->http);
}

void cf_app_stop(cf_app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = 1;
    if (app->http != NULL)
        cf_http_server_stop(app->http);
    app->http = NULL;
    if (app->started) {
        /* Only handles that were initialised may be closed. */
        uv_close((uv_handle_t *)&app->flush_timer, NULL);
        uv_close((uv_handle_t *)&app->purge_timer, NULL);
        cf_app_clock_stop(app);
        cf_app_keys_stop(app);
        uv_close((uv_handle_t *)&app->sigterm, NULL);
        uv_close((uv_handle_t *)&app->sigint, NULL);
        uv_close((uv_handle_t *)&app->sighup, NULL);
    }
    cf_app_cluster_stop(app);
    flush_activity(app);
    if (app->store != NULL) {
        cf_store_stats_t st;
        cf_store_close(app->store, &st); /* commits the queue and runs every pending callback */
        CF_LOG(CF_LOG_INFO, "event=store_closed batches=%llu commits=%llu events=%llu failures=%llu",
               (unsigned long long)st.batches, (unsigned long long)st.commits,
               (unsigned long long)st.events, (unsigned long long)st.failures);
    }
    app->store = NULL;
    /* Last: the store's callbacks may still have committed events. */
    cf_audit_close(app->audit);
    app->audit = NULL;
}

void cf_app_fini(cf_app_t *app)
{
    cf_index_free(app->index);
    app->index = NULL;
    cf_app_cluster_fini(app);
    cf_tokcache_fini(&app->token_cache);
    if (app->secret_cache != NULL)
        OPENSSL_cleanse(app->secret_cache, (app->cfg.policy.nclients + 1) * sizeof *app->secret_cache);
    free(app->secret_cache);
    cf_app_guard_fini(app);
    cf_app_keys_fini(app);
    cf_app_alerts_fini(app);
    cf_audit_close(app->audit); /* when init failed after opening it */
    app->audit = NULL;
}
