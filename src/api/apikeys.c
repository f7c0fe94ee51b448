/* SPDX-License-Identifier: MIT
 *
 * The API key admin endpoints (admin key required): POST /v1/apikeys (the
 * secret is in this answer and nowhere else), GET /v1/apikeys[?sub=|client_id=],
 * GET and DELETE /v1/apikeys/{id}, POST /v1/apikeys/{id}/rotate and
 * POST /v1/apikeys/revocations. Each change is decided on copies, committed,
 * and answered once durable (decide -> commit -> apply -> reply).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "api/api.h"
#include "core/duration.h"
#include "core/error.h"
#include "util/log.h"

#define PREFIX "/v1/apikeys"

static void bad_request(cf_http_req_t *req, const char *desc)
{
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_INVALID_REQUEST, desc, NULL, 0);
}

static void not_found(cf_http_req_t *req)
{
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_NOT_FOUND, "no such API key", NULL, 0);
}

/* Printable ASCII, no quotes or backslashes, no NUL inside: safe in headers and logs. */
static int safe_string(json_t *v, size_t max, int allow_space)
{
    const char *s = json_string_value(v);

    if (s == NULL || strlen(s) != json_string_length(v) || json_string_length(v) > max)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || (c == ' ' && !allow_space))
            return 0;
    }
    return 1;
}

/* Seconds as an integer, or a duration string ("30d"). *@set: present. */
static int body_seconds(json_t *v, int64_t *out, int *set)
{
    cf_time_t ms;

    *set = v != NULL;
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
        cf_duration_parse(json_string_value(v), json_string_length(v), &ms, NULL) == 0 &&
        (ms == 0 || ms >= CF_SEC)) { /* "500ms" is not 0 ("never"): whole seconds only */
        *out = ms / CF_SEC;
        return 0;
    }
    return CF_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Creation                                                            */
/* ------------------------------------------------------------------ */

/* What a creation asks for, checked. */
typedef struct {
    const char *sub, *name, *client_id, *scope;
    char roles[512];
    cf_apikey_ask_t ask;
    int64_t idle, quota_day, quota_month;
    cf_cidr_t nets[CF_APIKEY_NETS_MAX];
    size_t nnets;
} spec_t;

static int parse_roles(json_t *v, char *roles, size_t cap, char *desc, size_t dcap)
{
    size_t i, len = 0;
    json_t *r;

    roles[0] = '\0';
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 32) {
        snprintf(desc, dcap, "roles: expected an array of at most 32 names");
        return CF_EINVAL;
    }
    json_array_foreach(v, i, r) {
        if (!safe_string(r, 127, 0) || json_string_length(r) == 0 ||
            strchr(json_string_value(r), ',') != NULL || len + json_string_length(r) + 2 > cap) {
            snprintf(desc, dcap, "roles[%zu]: expected a name without spaces, commas or quotes", i);
            return CF_EINVAL;
        }
        len += (size_t)snprintf(roles + len, cap - len, "%s%s", len ? "," : "", json_string_value(r));
    }
    return 0;
}

static int parse_nets(json_t *v, spec_t *sp, char *desc, size_t dcap)
{
    size_t i;
    json_t *n;

    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CF_APIKEY_NETS_MAX) {
        snprintf(desc, dcap, "networks: expected an array of at most %d CIDRs", CF_APIKEY_NETS_MAX);
        return CF_EINVAL;
    }
    json_array_foreach(v, i, n) {
        if (!json_is_string(n) ||
            cf_cidr_parse(json_string_value(n), json_string_length(n), &sp->nets[sp->nnets]) < 0) {
            snprintf(desc, dcap, "networks[%zu]: expected ADDR/BITS (IPv4 or IPv6)", i);
            return CF_EINVAL;
        }
        sp->nnets++;
    }
    return 0;
}

static int parse_numbers(json_t *doc, spec_t *sp, char *desc, size_t dcap)
{
    static const char *const names[] = {"idle_expiry", "quota_per_day", "quota_per_month"};
    int64_t *outs[] = {&sp->idle, &sp->quota_day, &sp->quota_month};
    int set;

    if (body_seconds(json_object_get(doc, "expires_in"), &sp->ask.expires_in, &set) < 0) {
        snprintf(desc, dcap, "expires_in: expected seconds (0 or null: never) or a duration");
        return CF_EINVAL;
    }
    sp->ask.has_expires_in = set;
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(doc, names[i]);
        int rc = i == 0 ? body_seconds(v, outs[i], &set) : 0;
        if (i > 0 && v != NULL && !json_is_null(v)) {
            rc = json_is_integer(v) ? 0 : CF_EINVAL;
            *outs[i] = json_integer_value(v);
        }
        if (rc < 0 || *outs[i] < 0 || *outs[i] > CF_APIKEY_LIFETIME_MAX_S ||
            (v != NULL && !json_is_null(v) && *outs[i] == 0)) {
            snprintf(desc, dcap, "%s: expected a positive %s", names[i],
                     i == 0 ? "number of seconds or a duration" : "integer");
            return CF_EINVAL;
        }
    }
    return 0;
}

static int parse_spec(cf_app_t *app, json_t *doc, spec_t *sp, char *desc, size_t dcap)
{
    static const char *const known[] = {"sub", "name", "client_id", "roles", "scope",
                                        "expires_in", "idle_expiry", "networks",
                                        "quota_per_day", "quota_per_month"};
    const char *key;
    json_t *v;

    memset(sp, 0, sizeof *sp);
    sp->name = sp->client_id = sp->scope = "";
    json_object_foreach(doc, key, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof known[0]) {
            snprintf(desc, dcap, "unknown field '%.64s'", key);
            return CF_EINVAL;
        }
    }
    v = json_object_get(doc, "sub");
    if (!safe_string(v, 255, 0) || json_string_length(v) == 0) {
        snprintf(desc, dcap, "sub: required, 1 to 255 printable characters without spaces or quotes");
        return CF_EINVAL;
    }
    sp->sub = json_string_value(v);
    if ((v = json_object_get(doc, "name")) != NULL) {
        if (!safe_string(v, 128, 1)) {
            snprintf(desc, dcap, "name: expected at most 128 printable characters");
            return CF_EINVAL;
        }
        sp->name = json_string_value(v);
    }
    if ((v = json_object_get(doc, "client_id")) != NULL) {
        if (!safe_string(v, 127, 0) || (app->cfg.policy.nclients > 0 &&
                                        cf_policy_client(&app->cfg.policy, json_string_value(v)) == NULL)) {
            snprintf(desc, dcap, "client_id: expected a configured client id");
            return CF_EINVAL;
        }
        sp->client_id = json_string_value(v);
    }
    if ((v = json_object_get(doc, "scope")) != NULL) {
        if (!safe_string(v, 511, 1)) {
            snprintf(desc, dcap, "scope: expected a space-separated string of at most 511 characters");
            return CF_EINVAL;
        }
        sp->scope = json_string_value(v);
    }
    if (parse_roles(json_object_get(doc, "roles"), sp->roles, sizeof sp->roles, desc, dcap) < 0 ||
        parse_nets(json_object_get(doc, "networks"), sp, desc, dcap) < 0)
        return CF_EINVAL;
    return parse_numbers(doc, sp, desc, dcap);
}

/* The reply of a creation or rotation: the key's view plus the secret, once. */
static json_t *created_body(cf_app_t *app, const cf_apikey_t *k, const char *secret, cf_time_t now)
{
    json_t *o = cf_app_apikey_json(app, k, now);

    if (o != NULL)
        json_object_set_new(o, "key", json_string(secret));
    return o;
}

/*
 * A new key from @sp (or, rotating, from @from's attributes), its lifetime
 * decided by the core. Returns the key (owned) and the secret in @secret,
 * or NULL with the refusal in *@why.
 */
static cf_apikey_t *decide_new(cf_app_t *app, const spec_t *sp, const cf_apikey_t *from,
                               cf_time_t now, char secret[CF_APIKEY_LEN + 1], cf_reason_t *why)
{
    cf_apikey_policy_t pol;
    cf_time_t life, idle_cfg = app->cfg.apikey_idle_expiry, idle;
    cf_apikey_t *k;

    cf_app_apikey_policy(app, from ? from->client_id : sp->client_id, from ? from->roles : sp->roles, &pol);
    *why = cf_apikey_lifetime(&pol, &sp->ask, &life);
    if (*why != CF_REASON_NONE)
        return NULL;
    k = from != NULL ? cf_app_apikey_mint(app, from->sub, from->name, from->client_id, from->roles,
                                          from->scope, secret)
                     : cf_app_apikey_mint(app, sp->sub, sp->name, sp->client_id, sp->roles,
                                          sp->scope, secret);
    if (k == NULL) {
        *why = CF_REASON_SERVER_ERROR;
        return NULL;
    }
    k->created_at = now;
    k->expires_at = life > 0 ? now + life : 0;
    idle = from != NULL ? from->idle_expiry : sp->idle * CF_SEC;
    k->idle_expiry = idle <= 0 ? idle_cfg : idle_cfg > 0 && idle_cfg < idle ? idle_cfg : idle;
    if (cf_apikey_set_nets(k, from != NULL ? from->nets : sp->nets,
                           from != NULL ? from->nnets : sp->nnets) < 0) {
        cf_apikey_free(k);
        *why = CF_REASON_SERVER_ERROR;
        return NULL;
    }
    if (from != NULL) {
        k->quota_day = from->quota_day;
        k->quota_month = from->quota_month;
        memcpy(k->predecessor, from->id, sizeof k->predecessor);
    } else {
        k->quota_day = sp->quota_day;
        k->quota_month = sp->quota_month;
    }
    return k;
}

/* A rotation's answer: in a cluster, Redis refuses it when another node
 * rotated (CF_EEXIST) or revoked (CF_ENOENT) the key first; its successor is
 * then nowhere. */
static void rotation_done(void *arg, int status)
{
    cf_pending_t *p = arg;
    cf_refusal_t r;

    if (status == CF_EEXIST || status == CF_ENOENT) {
        json_decref(p->body); /* the successor and its secret: never stored */
        cf_refusal_make(&r, CF_ENDPOINT_API,
                        status == CF_EEXIST ? CF_REASON_KEY_ROTATED : CF_REASON_KEY_REVOKED,
                        status == CF_EEXIST ? "another node rotated this key at the same moment"
                                            : "another node ended this key at the same moment",
                        -1);
        p->status = r.status;
        p->body = r.body;
        status = r.body != NULL ? 0 : CF_ENOMEM;
    }
    cf_pending_done(p, status);
}

/* Commit @ev, answering @status with @body once durable (503 if the store refused). */
static void commit_reply(cf_app_t *app, cf_http_req_t *req, cf_events_t *ev, int status, json_t *body,
                         cf_store_done_fn done)
{
    cf_pending_t *p = cf_pending_new(req, status, body, 1);

    if (p == NULL) {
        cf_events_fini(ev);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    cf_app_apikey_commit(app, ev, done, p);
}

static void create(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    cf_events_t ev = CF_EVENTS_INIT;
    char desc[160], secret[CF_APIKEY_LEN + 1];
    cf_reason_t why;
    cf_apikey_t *k;
    spec_t sp;
    json_t *doc = cf_req_json_object(req);

    if (doc == NULL)
        return;
    if (parse_spec(app, doc, &sp, desc, sizeof desc) < 0) {
        bad_request(req, desc);
        goto done;
    }
    k = decide_new(app, &sp, NULL, now, secret, &why);
    if (k == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, why, NULL, NULL, 0);
        goto done;
    }
    if (cf_events_add_apikey(&ev, CF_EV_APIKEY_CREATED, now, k) == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
    } else {
        commit_reply(app, req, &ev, 201, created_body(app, k, secret, now), cf_pending_done);
    }
    OPENSSL_cleanse(secret, sizeof secret);
    cf_apikey_free(k);
done:
    json_decref(doc);
}

/* ------------------------------------------------------------------ */
/* Listing and showing                                                 */
/* ------------------------------------------------------------------ */

static int by_creation(const void *a, const void *b)
{
    const cf_apikey_rec_t *x = *(const cf_apikey_rec_t *const *)a;
    const cf_apikey_rec_t *y = *(const cf_apikey_rec_t *const *)b;

    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void list(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    char sub[256], client[128];
    int has_sub = cf_form_get(req->query, req->query_len, "sub", sub, sizeof sub);
    int has_client = cf_form_get(req->query, req->query_len, "client_id", client, sizeof client);
    size_t pos = 0, n = 0, cap = 16;
    cf_apikey_rec_t *k, **v = malloc(cap * sizeof *v);
    cf_apikey_t view;
    json_t *arr = json_array();

    if (has_sub < -1 || has_client < -1 || v == NULL || arr == NULL) {
        free(v);
        json_decref(arr);
        bad_request(req, "sub, client_id: expected each at most once, percent-encoded");
        return;
    }
    while ((k = cf_app_apikey_next(app, &pos)) != NULL) {
        cf_app_apikey_view(app, k, &view);
        if ((has_sub >= 0 && strcmp(view.sub, sub) != 0) ||
            (has_client >= 0 && strcmp(view.client_id, client) != 0))
            continue;
        if (n == cap) {
            cf_apikey_rec_t **nv = realloc(v, 2 * cap * sizeof *v);
            if (nv == NULL)
                break;
            v = nv;
            cap *= 2;
        }
        v[n++] = k;
    }
    qsort(v, n, sizeof *v, by_creation);
    for (size_t i = 0; i < n; i++) {
        cf_app_apikey_view(app, v[i], &view);
        json_array_append_new(arr, cf_app_apikey_json(app, &view, now));
    }
    free(v);
    cf_reply_json(req, 200, json_pack("{s:o}", "keys", arr), NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Revocation and rotation                                             */
/* ------------------------------------------------------------------ */

/*
 * Revoke @k, and its predecessor while that one is still in its overlap:
 * revoking "the key" must not leave its old secret working for another day.
 */
static int revoke_one(cf_app_t *app, const cf_apikey_t *k, cf_time_t now, cf_events_t *ev)
{
    const cf_apikey_rec_t *pr = k->predecessor[0] ? cf_app_apikey(app, k->predecessor) : NULL;
    cf_apikey_t view, *prev = NULL;
    int n = cf_app_apikey_end(app, k, CF_APIKEY_END_REVOKED, now, ev);

    if (pr != NULL)
        cf_app_apikey_view(app, pr, prev = &view);

    if (n >= 0 && prev != NULL && strcmp(prev->successor, k->id) == 0 &&
        cf_apikey_end_at(prev, now, NULL) == CF_APIKEY_END_NONE) {
        int m = cf_app_apikey_end(app, prev, CF_APIKEY_END_REVOKED, now, ev);
        n = m < 0 ? m : n + m;
    }
    return n;
}

static void delete_one(cf_app_t *app, cf_http_req_t *req, cf_apikey_t *k)
{
    cf_time_t now = cf_app_now(app);
    cf_events_t ev = CF_EVENTS_INIT;

    if (revoke_one(app, k, now, &ev) < 0) {
        cf_events_fini(&ev);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    commit_reply(app, req, &ev, 200, cf_app_apikey_json(app, ev.n > 0 ? ev.v[0].apikey : k, now),
                 cf_pending_done);
}

static void on_shared_revoked(cf_app_t *app, void *arg, int status, int64_t ended)
{
    cf_http_req_t *req = arg;

    (void)app;
    if (status < 0)
        cf_reply_store_failure(req);
    else
        cf_reply_json(req, 200, json_pack("{s:I}", "keys_revoked", (json_int_t)ended), NULL, 0);
}

static void revocations(cf_app_t *app, cf_http_req_t *req)
{
    cf_time_t now = cf_app_now(app);
    cf_events_t ev = CF_EVENTS_INIT;
    json_t *doc = cf_req_json_object(req), *sub, *client;
    const char *key;
    json_t *v;
    cf_apikey_rec_t *r;
    cf_apikey_t view, *k = &view;
    size_t pos = 0;
    int64_t n = 0;
    int rc;

    if (doc == NULL)
        return;
    sub = json_object_get(doc, "sub");
    client = json_object_get(doc, "client_id");
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "sub") != 0 && strcmp(key, "client_id") != 0)
            sub = client = NULL; /* an unknown field: refuse below */
    }
    /* "" would name every key without a client (or owner): never a bulk wildcard. */
    if ((sub != NULL) == (client != NULL) || !safe_string(sub != NULL ? sub : client, 255, 0) ||
        json_string_length(sub != NULL ? sub : client) == 0) {
        json_decref(doc);
        bad_request(req, "expected exactly one of sub or client_id (a non-empty string), and nothing else");
        return;
    }
    /* A cluster: Redis ends the keys on its own index (covering keys other
     * nodes created a moment ago); the reply waits for that. */
    rc = cf_app_apikeys_revoke_shared(app, sub != NULL ? json_string_value(sub) : NULL,
                                      client != NULL ? json_string_value(client) : NULL,
                                      on_shared_revoked, req);
    if (rc != CF_ENOTSUP) {
        json_decref(doc);
        if (rc < 0)
            cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    while ((r = cf_app_apikey_next(app, &pos)) != NULL) {
        int ended;
        cf_app_apikey_view(app, r, k);
        if (strcmp(sub != NULL ? k->sub : k->client_id, json_string_value(sub != NULL ? sub : client)) != 0 ||
            cf_apikey_end_at(k, now, NULL) != CF_APIKEY_END_NONE)
            continue;
        ended = cf_app_apikey_end(app, k, CF_APIKEY_END_REVOKED, now, &ev);
        n += ended > 0 ? ended : 0;
    }
    json_decref(doc);
    commit_reply(app, req, &ev, 200, json_pack("{s:I}", "keys_revoked", (json_int_t)n), cf_pending_done);
}

static void rotate(cf_app_t *app, cf_http_req_t *req, cf_apikey_t *old)
{
    cf_time_t now = cf_app_now(app), overlap = app->cfg.apikey_overlap;
    cf_events_t ev = CF_EVENTS_INIT;
    cf_apikey_end_t end = cf_apikey_end_at(old, now, NULL);
    char secret[CF_APIKEY_LEN + 1], desc[160];
    json_t *doc = req->body_len > 0 ? cf_req_json_object(req) : json_object(), *body;
    cf_event_t *e;
    cf_reason_t why;
    cf_apikey_t *k;
    spec_t sp = {0};
    int64_t asked;
    int set;

    if (doc == NULL)
        return;
    if (end != CF_APIKEY_END_NONE || old->overlap_until > 0) {
        json_decref(doc);
        cf_reply_refusal(req, CF_ENDPOINT_API, end != CF_APIKEY_END_NONE ? cf_apikey_end_refusal(end)
                                                                        : CF_REASON_KEY_ROTATED,
                         end != CF_APIKEY_END_NONE ? NULL : "the key was rotated already", NULL, 0);
        return;
    }
    if (body_seconds(json_object_get(doc, "overlap"), &asked, &set) < 0 || asked < 0 ||
        parse_numbers(doc, &sp, desc, sizeof desc) < 0 || json_object_size(doc) > (size_t)(set + sp.ask.has_expires_in)) {
        json_decref(doc);
        bad_request(req, "expected only overlap (seconds or a duration) and expires_in");
        return;
    }
    json_decref(doc);
    /* A rotation may ask for a shorter overlap, never longer (compared before
     * scaling: a huge ask must not wrap into a negative, i.e. no overlap). */
    if (set && asked <= CF_APIKEY_LIFETIME_MAX_S && asked * CF_SEC < overlap)
        overlap = asked * CF_SEC;
    k = decide_new(app, &sp, old, now, secret, &why);
    if (k == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, why, NULL, NULL, 0);
        return;
    }
    e = cf_events_add_apikey(&ev, CF_EV_APIKEY_ROTATED, now, old);
    if (e != NULL) {
        e->apikey->overlap_until = cf_apikey_overlap_end(old, now, overlap);
        memcpy(e->apikey->successor, k->id, sizeof k->id);
    }
    body = created_body(app, k, secret, now);
    if (e == NULL || cf_events_add_apikey(&ev, CF_EV_APIKEY_CREATED, now, k) == NULL || body == NULL) {
        cf_events_fini(&ev);
        json_decref(body);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
    } else {
        json_object_set_new(body, "previous", cf_app_apikey_json(app, ev.v[0].apikey, now));
        commit_reply(app, req, &ev, 201, body, rotation_done);
    }
    OPENSSL_cleanse(secret, sizeof secret);
    cf_apikey_free(k);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* The key a path segment names, or NULL (answered 404). */
static cf_apikey_rec_t *find(cf_app_t *app, cf_http_req_t *req, const char *seg, size_t n)
{
    char id[CF_APIKEY_ID_LEN + 1];
    cf_apikey_rec_t *k = NULL;

    if (n == CF_APIKEY_ID_LEN) {
        memcpy(id, seg, n);
        id[n] = '\0';
        k = cf_app_apikey(app, id);
    }
    if (k == NULL)
        not_found(req);
    return k;
}

static void redispatch(cf_app_t *app, void *arg)
{
    cf_api_apikeys(app, arg);
}

/* 1 when @req must wait for the changes in flight of key @id (NULL: of every
 * key) and will be dispatched again once they are answered: a rotation or
 * revocation is decided on the acknowledged state, so of two racing rotations
 * exactly one wins, and nothing is rotated after it was revoked. */
static int must_wait(cf_app_t *app, cf_http_req_t *req, const char *id)
{
    int rc = cf_app_apikey_wait(app, id, redispatch, req);

    if (rc < 0)
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
    return rc != 0;
}

void cf_api_apikeys(cf_app_t *app, cf_http_req_t *req)
{
    const char *rest = req->path + strlen(PREFIX), *slash;
    size_t n = req->path_len - strlen(PREFIX);
    int get = req->method == HTTP_GET, post = req->method == HTTP_POST;
    cf_apikey_rec_t *r;
    cf_apikey_t view, *k = &view;

    if (!cf_req_require_admin(app, req))
        return;
    if (!cf_app_apikeys_stored(app) && !get) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_STORE_UNAVAILABLE,
                         "this store does not keep API keys", NULL, 0);
        return;
    }
    if (n == 0) {
        if (get || post)
            (get ? list : create)(app, req);
        else
            cf_reply_method_not_allowed(req, "GET, POST");
        return;
    }
    rest++; /* the '/' the route row matched */
    n--;
    if (n == strlen("revocations") && memcmp(rest, "revocations", n) == 0) {
        if (!post)
            cf_reply_method_not_allowed(req, "POST");
        else if (!must_wait(app, req, NULL))
            revocations(app, req);
        return;
    }
    slash = memchr(rest, '/', n);
    if (slash != NULL && !((size_t)(rest + n - slash) == 7 && memcmp(slash, "/rotate", 7) == 0)) {
        not_found(req);
        return;
    }
    if ((r = find(app, req, rest, slash != NULL ? (size_t)(slash - rest) : n)) == NULL)
        return;
    if ((post || req->method == HTTP_DELETE) && must_wait(app, req, r->id))
        return;
    cf_app_apikey_view(app, r, k); /* a copy: the handlers decide on it, commit, then apply */
    if (slash != NULL && post)
        rotate(app, req, k);
    else if (slash != NULL)
        cf_reply_method_not_allowed(req, "POST");
    else if (get)
        cf_reply_json(req, 200, cf_app_apikey_json(app, k, cf_app_now(app)), NULL, 0);
    else if (req->method == HTTP_DELETE)
        delete_one(app, req, k);
    else
        cf_reply_method_not_allowed(req, "GET, DELETE");
}
