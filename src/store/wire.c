/* SPDX-License-Identifier: MIT */
#include "store/wire.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"

static json_t *session_json(const cf_session_t *s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:s, s:I, s:I, s:s, s:s, s:s}",
                     "id", s->id, "sub", s->sub, "client_id", cf_session_client_id(s), "scope",
                     cf_session_scope(s), "roles", cf_session_roles(s), "auth_time",
                     (json_int_t)cf_session_auth_time(s), "created_at", (json_int_t)s->created_at,
                     "last_activity", (json_int_t)cf_session_last_activity(s), "idle_timeout",
                     (json_int_t)cf_session_limits(s)->idle_timeout, "absolute_timeout",
                     (json_int_t)cf_session_limits(s)->absolute_timeout, "access_ttl",
                     (json_int_t)cf_session_limits(s)->access_ttl, "idle_deadline",
                     (json_int_t)cf_session_idle_deadline(s), "absolute_deadline",
                     (json_int_t)cf_session_absolute_deadline(s), "ended_at",
                     (json_int_t)cf_session_ended_at(s), "end", cf_end_name(s->end), "gen",
                     (json_int_t)s->refresh_gen, "rotated_at", (json_int_t)cf_session_rotated_at(s),
                     "ip", cf_session_ip(s), "device", cf_session_device(s), "cnf",
                     cf_session_cnf_text(s) != NULL ? cf_session_cnf_text(s) : "");
}

/*
 * An API key snapshot ("k"): only the SHA-256 of the key string travels,
 * never the secret. The short names are also the fields of its Redis hash
 * (store/redis_scripts.c), so the script copies them as they come.
 */
#define APIKEY_STRS(X) X("u", sub) X("n", name) X("c", client_id) X("r", roles) X("sc", scope)
#define APIKEY_STRS_N 5
#define APIKEY_INTS(X)                                                                           \
    X("ca", created_at) X("ex", expires_at) X("ie", idle_expiry) X("lu", last_used)               \
    X("ou", overlap_until) X("ea", ended_at) X("wa", warned_at) X("qd", quota_day)                \
    X("qm", quota_month) X("ds", usage.day_start) X("du", usage.day_used)                         \
    X("ms", usage.month_start) X("mu", usage.month_used)

static json_t *apikey_json(const cf_apikey_t *k)
{
    json_t *o = json_object();
    char hex[65], nets[CF_APIKEY_NETS_STRLEN];

    if (o == NULL)
        return NULL;
    cf_hex_encode(k->hash, sizeof k->hash, hex);
    cf_apikey_nets_format(k, nets, sizeof nets);
    json_object_set_new(o, "id", json_string(k->id));
    json_object_set_new(o, "h", json_string(hex));
#define X(name, field) json_object_set_new(o, name, json_string(k->field));
    APIKEY_STRS(X)
#undef X
#define X(name, field) json_object_set_new(o, name, json_integer((json_int_t)k->field));
    APIKEY_INTS(X)
#undef X
    json_object_set_new(o, "nt", json_string(nets));
    json_object_set_new(o, "su", json_string(k->successor));
    json_object_set_new(o, "pr", json_string(k->predecessor));
    json_object_set_new(o, "e", json_string(k->end == CF_APIKEY_END_NONE ? ""
                                                                          : cf_apikey_end_name(k->end)));
    if (k->delta.day_used > 0 || k->delta.month_used > 0) { /* an apikey_used event's uses */
        json_object_set_new(o, "dd", json_integer((json_int_t)k->delta.day_used));
        json_object_set_new(o, "dm", json_integer((json_int_t)k->delta.month_used));
    }
    return o;
}

/* 1 when @s is @len base62 characters (a key id), or "" when @empty_ok. */
static int key_id_ok(const char *s, int empty_ok)
{
    size_t n = strlen(s);

    if (n == 0)
        return empty_ok;
    if (n != CF_APIKEY_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

static const char *str_field(json_t *o, const char *k);
static int int_field(json_t *o, const char *k, int64_t *out);

/* The snapshot @o decoded, or NULL with @err set: nothing half-read is applied. */
static cf_apikey_t *apikey_from(json_t *o, char *err, size_t errlen)
{
    const char *id = json_is_object(o) ? str_field(o, "id") : NULL, *h = str_field(o, "h");
    const char *su = str_field(o, "su"), *pr = str_field(o, "pr"), *end = str_field(o, "e");
    const char *nets = str_field(o, "nt"), *sv[APIKEY_STRS_N];
    uint8_t hash[32];
    cf_apikey_t *k;
    size_t i = 0;

    if (id == NULL || !key_id_ok(id, 0) || h == NULL || cf_hex_decode(h, strlen(h), hash, 32) < 0 ||
        su == NULL || !key_id_ok(su, 1) || pr == NULL || !key_id_ok(pr, 1) || end == NULL ||
        nets == NULL || (end[0] && cf_apikey_end_from_name(end) == CF_APIKEY_END__COUNT)) {
        snprintf(err, errlen, "bad API key snapshot");
        return NULL;
    }
#define X(name, field)                                                                           \
    if ((sv[i++] = str_field(o, name)) == NULL) {                                                 \
        snprintf(err, errlen, "API key field '%s' missing or not a string", name);                \
        return NULL;                                                                              \
    }
    APIKEY_STRS(X)
#undef X
    k = cf_apikey_new(id, hash, sv[0], sv[1], sv[2], sv[3], sv[4]);
    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
#define X(name, field)                                                                           \
    if (int_field(o, name, &k->field) < 0 || k->field < 0) {                                      \
        snprintf(err, errlen, "API key field '%s' missing or not an integer >= 0", name);         \
        cf_apikey_free(k);                                                                        \
        return NULL;                                                                              \
    }
    APIKEY_INTS(X)
#undef X
    memcpy(k->successor, su, strlen(su) + 1);
    memcpy(k->predecessor, pr, strlen(pr) + 1);
    k->end = end[0] ? cf_apikey_end_from_name(end) : CF_APIKEY_END_NONE;
    if (k->end == CF_APIKEY_END_NONE)
        k->ended_at = 0;
    if (cf_apikey_nets_parse(k, nets) < 0) {
        snprintf(err, errlen, "out of memory");
        cf_apikey_free(k);
        return NULL;
    }
    if (json_object_get(o, "dd") != NULL &&
        (int_field(o, "dd", &k->delta.day_used) < 0 || int_field(o, "dm", &k->delta.month_used) < 0 ||
         k->delta.day_used < 0 || k->delta.month_used < 0)) {
        snprintf(err, errlen, "API key uses (dd, dm) not integers >= 0");
        cf_apikey_free(k);
        return NULL;
    }
    k->delta.day_start = k->usage.day_start;
    k->delta.month_start = k->usage.month_start;
    return k;
}

static json_t *event_json(const cf_event_t *e)
{
    json_t *o = json_pack("{s:s, s:I}", "t", cf_event_name(e->type), "at", (json_int_t)e->at);

    if (o == NULL)
        return NULL;
    if (e->session != NULL)
        json_object_set_new(o, "s", session_json(e->session));
    if (e->apikey != NULL)
        json_object_set_new(o, "k", apikey_json(e->apikey));
    if (e->has_token) {
        char hex[65];
        cf_hex_encode(e->token_hash, 32, hex);
        json_object_set_new(o, "th", json_string(hex));
        json_object_set_new(o, "tg", json_integer(e->token_gen));
    }
    if (e->type == CF_EV_NOT_BEFORE) {
        json_object_set_new(o, "sub", e->sub ? json_string(e->sub) : json_null());
        json_object_set_new(o, "nb", json_integer(e->not_before));
    }
    if (e->type == CF_EV_ALERT_HOLD) {
        json_object_set_new(o, "sub", json_string(e->sub ? e->sub : ""));
        json_object_set_new(o, "until", json_integer(e->until));
    }
    if (e->reason != CF_REASON_NONE)
        json_object_set_new(o, "r", json_string(cf_reason_name(e->reason)));
    if (e->sid[0])
        json_object_set_new(o, "sid", json_string(e->sid));
    return o;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *cf_wire_encode(const char *node, int64_t ts_us, const cf_events_t *ev, size_t *nout)
{
    json_t *o = json_pack("{s:i, s:s, s:I, s:[]}", "v", 1, "node", node, "ts", (json_int_t)ts_us,
                          "ev");
    json_t *a = o ? json_object_get(o, "ev") : NULL;
    size_t n = 0;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < ev->n; i++) {
        /* The flags say what travels: purges are local bookkeeping, and
         * refusals, check results and the like stay on their node. */
        if (!(cf_event_flags(ev->v[i].type) & CF_EVF_PUBLISH))
            continue;
        json_t *e = event_json(&ev->v[i]);
        if (e == NULL || json_array_append_new(a, e) < 0) {
            json_decref(o);
            return NULL;
        }
        n++;
    }
    if (nout != NULL)
        *nout = n;
    return dump(o);
}

char *cf_wire_encode_notice(const char *node, int64_t ts_us, int keys)
{
    return dump(json_pack("{s:i, s:s, s:I, s:i}", "v", 1, "node", node, "ts", (json_int_t)ts_us,
                          keys ? "keys" : "hb", 1));
}

/* ---- decoding ---- */

#define FAIL(...)                                 \
    do {                                          \
        snprintf(err, errlen, __VA_ARGS__);       \
        goto fail;                                \
    } while (0)

static const char *str_field(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int int_field(json_t *o, const char *k, int64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static cf_session_t *session_from(json_t *o, char *err, size_t errlen)
{
    static const char *const strs[] = {"id", "sub", "client_id", "scope", "roles", "end", "ip", "device"};
    static const char *const ints[] = {"auth_time", "created_at", "last_activity", "idle_timeout",
                                       "absolute_timeout", "access_ttl", "idle_deadline",
                                       "absolute_deadline", "ended_at", "gen", "rotated_at"};
    const char *sv[8];
    int64_t iv[11];
    cf_session_t *s;

    if (!json_is_object(o)) {
        snprintf(err, errlen, "session snapshot is not an object");
        return NULL;
    }
    for (size_t i = 0; i < 8; i++)
        if ((sv[i] = str_field(o, strs[i])) == NULL) {
            snprintf(err, errlen, "session field '%s' missing or not a string", strs[i]);
            return NULL;
        }
    for (size_t i = 0; i < 11; i++)
        if (int_field(o, ints[i], &iv[i]) < 0) {
            snprintf(err, errlen, "session field '%s' missing or not an integer", ints[i]);
            return NULL;
        }
    if (strlen(sv[0]) != CF_SID_LEN) {
        snprintf(err, errlen, "session id has the wrong length");
        return NULL;
    }
    cf_end_t end = cf_end_from_name(sv[5]);
    if (end == CF_END__COUNT) {
        snprintf(err, errlen, "unknown end reason");
        return NULL;
    }
    cf_limits_t lim = {iv[3], iv[4], iv[5]};
    s = cf_session_new(sv[0], sv[1], sv[2], sv[3], sv[4], iv[0], &lim, iv[1]);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cf_session_set_time(s, CF_T_ACTIVITY, iv[2]);
    cf_session_set_time(s, CF_T_IDLE, iv[6]);
    cf_session_set_time(s, CF_T_ABSOLUTE, iv[7]);
    cf_session_set_time(s, CF_T_ENDED, iv[8]);
    s->end = end;
    s->refresh_gen = (uint32_t)iv[9];
    cf_session_set_time(s, CF_T_ROTATED, iv[10]);
    cf_session_bind(s, sv[6], sv[7]);
    /* Optional: a node without sender constraints sends none. */
    if (cf_session_set_cnf_text(s, str_field(o, "cnf")) < 0) {
        snprintf(err, errlen, "session field 'cnf' is not a sender constraint");
        cf_session_free(s);
        return NULL;
    }
    return s;
}

static int event_type(const char *name)
{
    for (int t = 0; t < CF_EV__COUNT; t++)
        if (strcmp(name, cf_event_name((cf_event_type_t)t)) == 0)
            return t;
    return -1;
}

/* Write a refusal's message into @err; returns -1, for `return bad(...)`. */
static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The optional parts of event @i (@j) that follow its type into @e. */
static int event_extras(json_t *j, size_t i, int type, cf_event_t *e, char *err, size_t errlen)
{
    if (json_object_get(j, "th") != NULL) {
        const char *th = str_field(j, "th");
        int64_t g;
        if (th == NULL || cf_hex_decode(th, strlen(th), e->token_hash, 32) < 0 ||
            int_field(j, "tg", &g) < 0)
            return bad(err, errlen, "ev[%zu]: bad refresh token hash", i);
        e->has_token = 1;
        e->token_gen = (uint32_t)g;
    }
    if (type == CF_EV_NOT_BEFORE) {
        json_t *sub = json_object_get(j, "sub");
        if (int_field(j, "nb", &e->not_before) < 0 || !(json_is_null(sub) || json_is_string(sub)))
            return bad(err, errlen, "ev[%zu]: bad not_before", i);
        if (json_is_string(sub) && (e->sub = strdup(json_string_value(sub))) == NULL)
            return bad(err, errlen, "out of memory");
    }
    if (type == CF_EV_ALERT_HOLD) {
        const char *sub = str_field(j, "sub");
        if (sub == NULL || sub[0] == '\0' || int_field(j, "until", &e->until) < 0)
            return bad(err, errlen, "ev[%zu]: bad alert_hold", i);
        if ((e->sub = strdup(sub)) == NULL)
            return bad(err, errlen, "out of memory");
    }
    if (str_field(j, "r") != NULL) {
        cf_reason_t r = cf_reason_from_name(str_field(j, "r"));
        e->reason = r == CF_REASON__COUNT ? CF_REASON_NONE : r;
    }
    return 0;
}

/* Event @i of the array (@j), appended to @ev; 0, or -1 with @err set. */
static int decode_event(json_t *j, size_t i, cf_events_t *ev, char *err, size_t errlen)
{
    const char *t = str_field(j, "t");
    int type = t ? event_type(t) : -1;
    cf_session_t *s = NULL;
    cf_event_t *e;
    int64_t at;

    if (type < 0)
        return bad(err, errlen, "ev[%zu]: unknown event type", i);
    if (int_field(j, "at", &at) < 0)
        return bad(err, errlen, "ev[%zu]: bad at", i);
    if (type >= CF_EV_APIKEY_CREATED && type <= CF_EV_APIKEY_EXPIRING) {
        char why[96];
        cf_apikey_t *k = apikey_from(json_object_get(j, "k"), why, sizeof why);
        if (k == NULL)
            return bad(err, errlen, "ev[%zu]: %s", i, why);
        e = cf_events_add_apikey(ev, (cf_event_type_t)type, at, k);
        cf_apikey_free(k);
        if (e == NULL)
            return bad(err, errlen, "out of memory");
        return event_extras(j, i, type, e, err, errlen);
    }
    if (json_object_get(j, "s") != NULL) {
        char why[96];
        s = session_from(json_object_get(j, "s"), why, sizeof why);
        if (s == NULL)
            return bad(err, errlen, "ev[%zu]: %s", i, why);
    } else if (type != CF_EV_NOT_BEFORE && type != CF_EV_ALERT_HOLD) {
        return bad(err, errlen, "ev[%zu]: %s without a session", i, t);
    }
    e = cf_events_add(ev, (cf_event_type_t)type, at, s);
    cf_session_free(s);
    if (e == NULL)
        return bad(err, errlen, "out of memory");
    return event_extras(j, i, type, e, err, errlen);
}

int cf_wire_decode(const char *str, size_t len, cf_wire_msg_t *m, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(str, len, 0, &je), *a;
    const char *node;
    int64_t v;

    memset(m, 0, sizeof *m);
    if (!json_is_object(o))
        FAIL("not a JSON object");
    if (int_field(o, "v", &v) < 0 || v != 1)
        FAIL("unknown version");
    node = str_field(o, "node");
    if (node == NULL || strlen(node) != CF_NODE_ID_LEN)
        FAIL("bad node id");
    memcpy(m->node, node, CF_NODE_ID_LEN + 1);
    if (int_field(o, "ts", &m->ts_us) < 0)
        FAIL("bad ts");
    m->heartbeat = json_object_get(o, "hb") != NULL;
    m->keys = json_object_get(o, "keys") != NULL;
    a = json_object_get(o, "ev");
    if (a != NULL && !json_is_array(a))
        FAIL("ev is not an array");
    for (size_t i = 0; a != NULL && i < json_array_size(a); i++)
        if (decode_event(json_array_get(a, i), i, &m->ev, err, errlen) < 0)
            goto fail;
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    cf_wire_msg_fini(m);
    return CF_EPARSE;
}

void cf_wire_msg_fini(cf_wire_msg_t *m)
{
    cf_events_fini(&m->ev);
    memset(m, 0, sizeof *m);
}
