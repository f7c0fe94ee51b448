/* SPDX-License-Identifier: MIT
 *
 * Configuration sections: the options that are whole YAML structures
 * rather than values. Decides what clients:, roles:, routes: and
 * alerts.rules mean (building the policy of core/policy.h and the alert
 * rules), and the rules between sections (a route's require_roles must name
 * a defined role). It must never leave a section half-applied (each is
 * built on the side and moved in only when all of it is valid), never keep
 * a pointer into the YAML document past the load, and never walk the option
 * table itself. Their dumpers and doc rows are in dump.c, the list-valued
 * types in lists.c.
 */
#include "config/sections.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/b64url.h"
#include "core/duration.h"
#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* Sections: clients, roles, routes                                          */
/* ------------------------------------------------------------------------ */

/*
 * These sections are YAML structures, not values, so they get loaders of
 * their own. Each builds its part of the policy in a local cf_policy_t,
 * which cf_policy_fini() frees on any error, and moves it into the config
 * copy only when the whole section is valid. Messages name the element the
 * way a reader finds it: "clients[1].secret_hash", "roles.admin.idle_timeout",
 * "routes[0].methods". The sub-tables below are the documentation of every
 * field; cf_config_doc() prints them under their section's row.
 */


static int fail_at(loader_t *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "NAME:LINE: " + message; always CF_ECONFIG. */
static int fail_at(loader_t *ld, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cf__config_say(ld->err, ld->errlen, "%s:%zu: %s", ld->name, cf__config_line_of(n), msg);
    return CF_ECONFIG;
}

static int oom(loader_t *ld)
{
    cf__config_say(ld->err, ld->errlen, "%s: out of memory", ld->name);
    return CF_ENOMEM;
}

/* The text of scalar @v for key @where, or an error at @k when @v is not a plain value. */
static int scalar(loader_t *ld, const char *where, const yaml_node_t *k, const yaml_node_t *v,
                  const char *what, const char **s, size_t *n)
{
    *s = ""; /* defined on every path, so callers never read garbage */
    *n = 0;
    if (v->type != YAML_SCALAR_NODE || cf__config_is_null(v))
        return fail_at(ld, k, "%s: expected %s, got %s", where, what,
                       v->type == YAML_SCALAR_NODE ? "nothing" : cf__config_node_kind(v));
    *s = (const char *)v->data.scalar.value;
    *n = v->data.scalar.length;
    if (memchr(*s, '\0', *n) != NULL)
        return fail_at(ld, k, "%s: must not contain NUL bytes", where);
    return 0;
}

static int sub_duration(loader_t *ld, const char *where, const yaml_node_t *k,
                        const yaml_node_t *v, cf_time_t *out)
{
    const char *s, *why = NULL;
    size_t n;
    cf_time_t t;

    if (scalar(ld, where, k, v, "a duration", &s, &n) < 0)
        return CF_ECONFIG;
    if (cf_duration_parse(s, n, &t, &why) < 0) {
        size_t at, len;
        char shown[64];
        if (why != NULL && strncmp(why, "unknown unit", 12) == 0 &&
            cf__config_find_bad_unit(s, n, &at, &len))
            return fail_at(ld, k, "%s: unknown unit '%s' (use ms, s, m, h or d)", where,
                           cf__config_show(s + at, len, shown, sizeof shown));
        return fail_at(ld, k, "%s: %s", where, why != NULL ? why : "invalid duration");
    }
    if (t < 1)
        return fail_at(ld, k, "%s: must be greater than 0", where);
    *out = t;
    return 0;
}

/*
 * A session or token lifetime: a duration of at least one second, since a
 * token's exp claim counts whole seconds (RFC 7519 NumericDate) and a
 * shorter lifetime would issue tokens that expire as they are issued.
 */
static int sub_lifetime(loader_t *ld, const char *where, const yaml_node_t *k,
                        const yaml_node_t *v, cf_time_t *out)
{
    cf_time_t t = 0;

    if (sub_duration(ld, where, k, v, &t) < 0)
        return CF_ECONFIG;
    if (t < CF_SEC)
        return fail_at(ld, k, "%s: must be at least 1s", where);
    *out = t;
    return 0;
}

/*
 * Idle and absolute timeouts given together at one level (a client, a role)
 * must agree. One alone never contradicts anything: at run time the
 * strictest value of every level wins and the idle timeout is held to the
 * absolute one (core/policy.c), so only two explicit values can clash.
 */
static int limits_agree(loader_t *ld, const yaml_node_t *at, const char *where,
                        const cf_limits_t *l)
{
    char si[32], sa[32];

    if (l->idle_timeout == 0 || l->absolute_timeout == 0 ||
        l->idle_timeout <= l->absolute_timeout)
        return 0;
    if (cf_duration_format(l->idle_timeout, si, sizeof si) < 0 ||
        cf_duration_format(l->absolute_timeout, sa, sizeof sa) < 0)
        si[0] = sa[0] = '\0'; /* unreachable: both parsed as durations */
    return fail_at(ld, at, "%sidle_timeout (%s) must not exceed %sabsolute_timeout (%s)", where,
                   si, where, sa);
}

static int sub_bool(loader_t *ld, const char *where, const yaml_node_t *k, const yaml_node_t *v,
                    int *out)
{
    const char *s;
    size_t n;
    char shown[64];

    if (scalar(ld, where, k, v, "true or false", &s, &n) < 0)
        return CF_ECONFIG;
    if (n == 4 && memcmp(s, "true", 4) == 0)
        *out = 1;
    else if (n == 5 && memcmp(s, "false", 5) == 0)
        *out = 0;
    else
        return fail_at(ld, k, "%s: expected true or false, got '%s'", where,
                       cf__config_show(s, n, shown, sizeof shown));
    return 0;
}

static int sub_choice(loader_t *ld, const char *where, const yaml_node_t *k,
                      const yaml_node_t *v, const char *const *choices, int *out)
{
    const char *s;
    size_t n;
    char shown[64], all[128];
    int i;

    cf__config_join_choices(choices, all, sizeof all);
    if (scalar(ld, where, k, v, "a value", &s, &n) < 0)
        return CF_ECONFIG;
    i = cf__config_choice_index(choices, s, n);
    if (i == 0)
        return fail_at(ld, k, "%s: expected one of %s, got '%s'", where, all,
                       cf__config_show(s, n, shown, sizeof shown));
    *out = i;
    return 0;
}

/*
 * Walk mapping @map at @where, calling @fn for each key. Keys must be plain
 * scalars without duplicates (checked against the earlier keys of the same
 * mapping). @fn returns 0, a negative error (already reported), or 1 for an
 * unknown key, reported here. A null value for @map is an empty mapping.
 */
typedef int (*pair_fn)(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                       const yaml_node_t *k, const yaml_node_t *v);

static int each_pair(loader_t *ld, const yaml_node_t *at, const yaml_node_t *map,
                     const char *where, pair_fn fn, void *obj)
{
    if (cf__config_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(ld, at, "%s: expected a mapping, got %s", where, cf__config_node_kind(map));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
        char shown[64];
        const char *key;
        size_t klen;
        int rc;

        if (k == NULL || v == NULL)
            return CF_ECONFIG;
        if (k->type != YAML_SCALAR_NODE)
            return fail_at(ld, k, "%s: keys must be plain names, not %s", where,
                           cf__config_node_kind(k));
        key = (const char *)k->data.scalar.value;
        klen = k->data.scalar.length;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
            const yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
            if (kq != NULL && kq->type == YAML_SCALAR_NODE && kq->data.scalar.length == klen &&
                memcmp(kq->data.scalar.value, key, klen) == 0)
                return fail_at(ld, k, "duplicate key '%s.%s' (first on line %zu)", where,
                               cf__config_show(key, klen, shown, sizeof shown),
                               cf__config_line_of(kq));
        }
        rc = fn(ld, obj, where, key, klen, k, v);
        if (rc == 1)
            return fail_at(ld, k, "unknown key '%s.%s'", where,
                           cf__config_show(key, klen, shown, sizeof shown));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int key_is(const char *key, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

/* "where.key" into @buf, for nested messages. */
static const char *sub_where(char *buf, size_t cap, const char *where, const char *key,
                             size_t klen)
{
    int len = snprintf(buf, cap, "%s.%.*s", where, (int)klen, key);

    if (len < 0 || (size_t)len >= cap)
        buf[cap - 1] = '\0'; /* cut: only a message's key gets shorter */
    return buf;
}

static int risk_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                     const yaml_node_t *k, const yaml_node_t *v)
{
    cf_risk_policy_t *r = obj;
    char w[160];
    int i;

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "ip_binding")) {
        if (sub_choice(ld, w, k, v, cf__config_ip_bindings, &i) < 0)
            return CF_ECONFIG;
        r->ip_binding = (cf_ip_binding_t)i;
    } else if (key_is(key, klen, "on_ip_change")) {
        if (sub_choice(ld, w, k, v, cf__config_risk_actions, &i) < 0)
            return CF_ECONFIG;
        r->on_ip_change = (cf_risk_action_t)i;
    } else if (key_is(key, klen, "on_device_change")) {
        if (sub_choice(ld, w, k, v, cf__config_risk_actions, &i) < 0)
            return CF_ECONFIG;
        r->on_device_change = (cf_risk_action_t)i;
    } else {
        return 1;
    }
    return 0;
}

/*
 * A list of strings at @where into a fresh char ** (NULL when empty). Every
 * item goes through @ok, which returns a message or NULL.
 */
static int sub_strv(loader_t *ld, const char *where, const yaml_node_t *k, const yaml_node_t *v,
                    const char *(*ok)(const char *s, size_t n), char ***out, size_t *nout)
{
    size_t cap, n = 0;
    char **vec;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, k, "%s: expected a list, got %s", where,
                       cf__config_is_null(v) ? "nothing" : cf__config_node_kind(v));
    cap = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (cap == 0) {
        *out = NULL;
        *nout = 0;
        return 0;
    }
    vec = calloc(cap, sizeof *vec);
    if (vec == NULL)
        return oom(ld);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        const char *s, *why;
        size_t len;
        char shown[64];

        if (item == NULL || scalar(ld, where, item, item, "a plain value", &s, &len) < 0) {
            cf__config_strv_free(vec, n);
            return CF_ECONFIG;
        }
        why = ok(s, len);
        if (why != NULL) {
            cf__config_strv_free(vec, n);
            return fail_at(ld, item, "%s: '%s' %s", where,
                           cf__config_show(s, len, shown, sizeof shown), why);
        }
        for (size_t j = 0; j < n; j++)
            if (strlen(vec[j]) == len && memcmp(vec[j], s, len) == 0) {
                cf__config_strv_free(vec, n);
                return fail_at(ld, item, "%s: '%s' is listed twice", where,
                               cf__config_show(s, len, shown, sizeof shown));
            }
        vec[n] = strndup(s, len);
        if (vec[n] == NULL) {
            cf__config_strv_free(vec, n);
            return oom(ld);
        }
        n++;
    }
    *out = vec;
    *nout = n;
    return 0;
}

/* A name: role, scope, method. Visible ASCII; no ',' (role lists) and no spaces (scopes). */
static const char *name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 127)
        return "must be 1 to 127 characters";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ',')
            return "must be visible ASCII without spaces or commas";
    return NULL;
}

static const char *method_ok(const char *s, size_t n)
{
    return cf_method_bit(s, n) != 0 ? NULL
                                    : "is not a method (use GET, HEAD, POST, PUT, PATCH, "
                                      "DELETE, OPTIONS, CONNECT or TRACE)";
}

static const char *grant_ok(const char *s, size_t n)
{
    return key_is(s, n, "refresh_token") || key_is(s, n, "client_credentials")
               ? NULL
               : "is not a grant (use refresh_token or client_credentials)";
}

/* Replace part of a policy: free what the old arrays held through a scratch policy. */
static void drop(cf_policy_t *scratch)
{
    cf_policy_fini(scratch);
}

/* ---- clients ----------------------------------------------------------- */

typedef struct {
    cf_client_t *c;
    const yaml_node_t *secret_key; /* for the confidential/public rule's line */
    const yaml_node_t *type_key, *grants_key;
} client_ctx_t;

/*
 * pbkdf2-sha256$ITERATIONS$SALT$HASH with SALT and HASH base64url (no
 * padding), the hash 32 bytes. Checked here so that a typo fails at start-up
 * rather than on the first login.
 */
static int secret_hash_ok(const char *s, size_t n)
{
    static const char pfx[] = "pbkdf2-sha256$";
    const char *it, *salt, *hash, *end = s + n;
    uint64_t iters;
    uint8_t buf[128];
    size_t outlen;

    if (n < sizeof pfx - 1 || memcmp(s, pfx, sizeof pfx - 1) != 0)
        return 0;
    it = s + sizeof pfx - 1;
    salt = memchr(it, '$', (size_t)(end - it));
    if (salt == NULL)
        return 0;
    if (cf__config_parse_digits(it, (size_t)(salt - it), &iters) < 0 || iters < 1 ||
        iters > 100000000)
        return 0;
    salt++;
    hash = memchr(salt, '$', (size_t)(end - salt));
    if (hash == NULL || hash == salt)
        return 0;
    if (cf_b64url_decode(salt, (size_t)(hash - salt), buf, sizeof buf, &outlen) < 0 || outlen < 8)
        return 0;
    hash++;
    if (cf_b64url_decode(hash, (size_t)(end - hash), buf, sizeof buf, &outlen) < 0 ||
        outlen != 32)
        return 0;
    return 1;
}

static int limits_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                       const yaml_node_t *k, const yaml_node_t *v)
{
    cf_limits_t *l = obj;
    char w[160];

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "idle_timeout"))
        return sub_lifetime(ld, w, k, v, &l->idle_timeout);
    if (key_is(key, klen, "absolute_timeout"))
        return sub_lifetime(ld, w, k, v, &l->absolute_timeout);
    return 1;
}

static int access_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                       const yaml_node_t *k, const yaml_node_t *v)
{
    cf_limits_t *l = obj;
    char w[160];

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "ttl"))
        return sub_lifetime(ld, w, k, v, &l->access_ttl);
    return 1;
}

static int client_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                       const yaml_node_t *k, const yaml_node_t *v)
{
    client_ctx_t *cx = obj;
    cf_client_t *c = cx->c;
    char w[160], shown[64];
    const char *s, *why;
    size_t n;
    int i;

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "id")) {
        if (scalar(ld, w, k, v, "a string", &s, &n) < 0)
            return CF_ECONFIG;
        why = name_ok(s, n);
        if (why != NULL)
            return fail_at(ld, k, "%s: '%s' %s", w, cf__config_show(s, n, shown, sizeof shown),
                           why);
        c->id = strndup(s, n);
        return c->id != NULL ? 0 : oom(ld);
    }
    if (key_is(key, klen, "type")) {
        static const char *const kinds[] = {"public", "confidential", NULL};
        if (sub_choice(ld, w, k, v, kinds, &i) < 0)
            return CF_ECONFIG;
        c->type = i == 2 ? CF_CLIENT_CONFIDENTIAL : CF_CLIENT_PUBLIC;
        cx->type_key = k;
        return 0;
    }
    if (key_is(key, klen, "secret_hash")) {
        if (scalar(ld, w, k, v, "a string", &s, &n) < 0)
            return CF_ECONFIG;
        if (!secret_hash_ok(s, n))
            return fail_at(ld, k,
                           "%s: expected pbkdf2-sha256$ITERATIONS$SALT$HASH "
                           "(run curfew hash-secret)",
                           w);
        c->secret_hash = strndup(s, n);
        cx->secret_key = k;
        return c->secret_hash != NULL ? 0 : oom(ld);
    }
    if (key_is(key, klen, "allowed_grants")) {
        char **g = NULL;
        size_t ng = 0;
        if (sub_strv(ld, w, k, v, grant_ok, &g, &ng) < 0)
            return CF_ECONFIG;
        c->grants = 0;
        for (size_t j = 0; j < ng; j++)
            c->grants |= strcmp(g[j], "refresh_token") == 0 ? CF_GRANT_REFRESH_TOKEN
                                                            : CF_GRANT_CLIENT_CREDENTIALS;
        cf__config_strv_free(g, ng);
        cx->grants_key = k;
        return 0;
    }
    if (key_is(key, klen, "scope")) {
        if (v->type == YAML_SCALAR_NODE && !cf__config_is_null(v) && v->data.scalar.length == 0) {
            s = "";
            n = 0;
        } else if (scalar(ld, w, k, v, "a string", &s, &n) < 0) {
            return CF_ECONFIG;
        }
        for (size_t j = 0; j < n; j++)
            if ((unsigned char)s[j] < 0x20 || (unsigned char)s[j] == 0x7f)
                return fail_at(ld, k, "%s: must not contain control characters", w);
        free(c->scope);
        c->scope = strndup(s, n);
        return c->scope != NULL ? 0 : oom(ld);
    }
    if (key_is(key, klen, "session"))
        return each_pair(ld, k, v, w, limits_pair, &c->limits);
    if (key_is(key, klen, "access_token"))
        return each_pair(ld, k, v, w, access_pair, &c->limits);
    if (key_is(key, klen, "cookie"))
        return sub_bool(ld, w, k, v, &c->cookie);
    if (key_is(key, klen, "risk"))
        return each_pair(ld, k, v, w, risk_pair, &c->risk);
    return 1;
}

/* Rules between the fields of one client: type, secret and grants must fit together. */
static int client_fields_agree(loader_t *ld, const client_ctx_t *cx, const char *where)
{
    const cf_client_t *c = cx->c;

    if (c->type == CF_CLIENT_CONFIDENTIAL && c->secret_hash == NULL)
        return fail_at(ld, cx->type_key, "%s: a confidential client needs secret_hash", where);
    if (c->type == CF_CLIENT_PUBLIC && c->secret_hash != NULL)
        return fail_at(ld, cx->secret_key,
                       "%s: secret_hash is only for confidential clients (add type: "
                       "confidential)",
                       where);
    if ((c->grants & CF_GRANT_CLIENT_CREDENTIALS) && c->type != CF_CLIENT_CONFIDENTIAL)
        return fail_at(ld, cx->grants_key, "%s: client_credentials needs a confidential client",
                       where);
    if (c->grants == 0)
        return fail_at(ld, cx->grants_key, "%s.allowed_grants: must not be empty", where);
    return 0;
}

int cf__config_clients_load(loader_t *ld, const yaml_node_t *v)
{
    cf_policy_t np = {0}, old = {0};
    size_t count;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE && !cf__config_is_null(v))
        return fail_at(ld, v, "clients: expected a list, got %s", cf__config_node_kind(v));
    count = cf__config_is_null(v)
                ? 0
                : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (count > 0) {
        np.clients = calloc(count, sizeof *np.clients);
        if (np.clients == NULL)
            return oom(ld);
    }
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
        client_ctx_t cx = {&np.clients[i], NULL, NULL, NULL};
        cf_client_t *c = &np.clients[i];
        char where[32];

        np.nclients = i + 1;
        (void)snprintf(where, sizeof where, "clients[%zu]", i);
        if (item == NULL) {
            rc = CF_ECONFIG;
            goto fail;
        }
        if (item->type != YAML_MAPPING_NODE) {
            rc = fail_at(ld, item, "%s: expected a mapping, got %s", where,
                         cf__config_node_kind(item));
            goto fail;
        }
        c->line = (int)cf__config_line_of(item);
        c->grants = CF_GRANT_REFRESH_TOKEN;
        rc = each_pair(ld, item, item, where, client_pair, &cx);
        if (rc == 0) {
            char lw[48];
            (void)snprintf(lw, sizeof lw, "%s.session.", where);
            rc = limits_agree(ld, item, lw, &c->limits);
        }
        if (rc < 0)
            goto fail;
        if (c->scope == NULL) {
            c->scope = strdup("");
            if (c->scope == NULL) {
                rc = oom(ld);
                goto fail;
            }
        }
        if (c->id == NULL) {
            rc = fail_at(ld, item, "%s: id is required", where);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(np.clients[j].id, c->id) == 0) {
                rc = fail_at(ld, item, "%s: duplicate client id '%s' (first on line %d)", where,
                             c->id, np.clients[j].line);
                goto fail;
            }
        rc = client_fields_agree(ld, &cx, where);
        if (rc < 0)
            goto fail;
    }
    old.clients = ld->cfg->policy.clients;
    old.nclients = ld->cfg->policy.nclients;
    drop(&old);
    ld->cfg->policy.clients = np.clients;
    ld->cfg->policy.nclients = np.nclients;
    return 0;
fail:
    drop(&np);
    return rc;
}

/* ---- roles ------------------------------------------------------------- */

static int role_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                     const yaml_node_t *k, const yaml_node_t *v)
{
    cf_role_t *r = obj;
    char w[160];

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "idle_timeout"))
        return sub_lifetime(ld, w, k, v, &r->limits.idle_timeout);
    if (key_is(key, klen, "absolute_timeout"))
        return sub_lifetime(ld, w, k, v, &r->limits.absolute_timeout);
    if (key_is(key, klen, "access_ttl"))
        return sub_lifetime(ld, w, k, v, &r->limits.access_ttl);
    if (key_is(key, klen, "risk"))
        return each_pair(ld, k, v, w, risk_pair, &r->risk);
    return 1;
}

int cf__config_roles_load(loader_t *ld, const yaml_node_t *v)
{
    cf_policy_t np = {0}, old = {0};
    size_t count;
    int rc;

    if (v->type != YAML_MAPPING_NODE && !cf__config_is_null(v))
        return fail_at(ld, v, "roles: expected a mapping of role names, got %s",
                       cf__config_node_kind(v));
    count = cf__config_is_null(v)
                ? 0
                : (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (count > 0) {
        np.roles = calloc(count, sizeof *np.roles);
        if (np.roles == NULL)
            return oom(ld);
    }
    for (size_t i = 0; i < count; i++) {
        const yaml_node_pair_t *pair = &v->data.mapping.pairs.start[i];
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, pair->value);
        cf_role_t *r = &np.roles[i];
        const char *name, *why;
        size_t n;
        char where[160], shown[64];

        np.nroles = i + 1;
        if (k == NULL || val == NULL) {
            rc = CF_ECONFIG;
            goto fail;
        }
        rc = scalar(ld, "roles", k, k, "a role name", &name, &n);
        if (rc < 0)
            goto fail;
        why = name_ok(name, n);
        if (why != NULL) {
            rc = fail_at(ld, k, "roles: '%s' %s", cf__config_show(name, n, shown, sizeof shown),
                         why);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strlen(np.roles[j].name) == n && memcmp(np.roles[j].name, name, n) == 0) {
                rc = fail_at(ld, k, "duplicate key 'roles.%s' (first on line %d)",
                             cf__config_show(name, n, shown, sizeof shown), np.roles[j].line);
                goto fail;
            }
        r->name = strndup(name, n);
        if (r->name == NULL) {
            rc = oom(ld);
            goto fail;
        }
        r->line = (int)cf__config_line_of(k);
        (void)snprintf(where, sizeof where, "roles.%s", r->name);
        rc = each_pair(ld, k, val, where, role_pair, r);
        if (rc == 0) {
            (void)snprintf(where, sizeof where, "roles.%s.", r->name);
            rc = limits_agree(ld, k, where, &r->limits);
        }
        if (rc < 0)
            goto fail;
    }
    old.roles = ld->cfg->policy.roles;
    old.nroles = ld->cfg->policy.nroles;
    drop(&old);
    ld->cfg->policy.roles = np.roles;
    ld->cfg->policy.nroles = np.nroles;
    return 0;
fail:
    drop(&np);
    return rc;
}

/* ---- alerts.rules ------------------------------------------------------ */

static int alert_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                      const yaml_node_t *k, const yaml_node_t *v)
{
    cf_alert_rule_t *r = obj;
    const char *s;
    size_t n;
    uint64_t u;
    char w[160], shown[64];

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "kind")) {
        if (scalar(ld, w, k, v, "a rule kind", &s, &n) < 0)
            return CF_ECONFIG;
        r->kind = cf_alert_kind_from_name(s, n);
        if (r->kind == CF_ALERT__COUNT)
            return fail_at(ld, k, "%s: '%s' is not a rule kind (use refresh_reuse, "
                                  "check_failures_per_ip, check_failures_per_subject, "
                                  "refresh_rate_per_session, concurrent_sessions_per_subject "
                                  "or idle_timeout_spike)",
                           w, cf__config_show(s, n, shown, sizeof shown));
    } else if (key_is(key, klen, "threshold")) {
        if (scalar(ld, w, k, v, "an integer", &s, &n) < 0)
            return CF_ECONFIG;
        if (cf__config_parse_digits(s, n, &u) < 0 || u < 1 || u > CF_ALERT_THRESHOLD_MAX)
            return fail_at(ld, k, "%s: expected an integer from 1 to %d, got '%s'", w,
                           CF_ALERT_THRESHOLD_MAX, cf__config_show(s, n, shown, sizeof shown));
        r->threshold = (uint32_t)u;
    } else if (key_is(key, klen, "window")) {
        return sub_duration(ld, w, k, v, &r->window);
    } else if (key_is(key, klen, "action")) {
        if (scalar(ld, w, k, v, "an action", &s, &n) < 0)
            return CF_ECONFIG;
        r->action = cf_alert_action_from_name(s, n);
        if (r->action == CF_ALERT_ACT__COUNT)
            return fail_at(ld, k, "%s: '%s' is not an action (use none, revoke_session, "
                                  "revoke_subject or disable_refresh)",
                           w, cf__config_show(s, n, shown, sizeof shown));
    } else if (key_is(key, klen, "action_duration")) {
        return sub_duration(ld, w, k, v, &r->action_duration);
    } else {
        return 1;
    }
    return 0;
}

int cf__config_alerts_load(loader_t *ld, const yaml_node_t *v)
{
    cf_alert_rule_t rules[CF_CONFIG_ALERT_RULES_MAX];
    size_t n = 0;

    if (cf__config_is_null(v)) {
        ld->cfg->nalert_rules = 0;
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, v, "alerts.rules: expected a list, got %s", cf__config_node_kind(v));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        cf_alert_rule_t *r = &rules[n];
        char where[64];
        int rc;

        if (item == NULL)
            return CF_ECONFIG;
        if (n == CF_CONFIG_ALERT_RULES_MAX)
            return fail_at(ld, item, "alerts.rules: at most %d rules", CF_CONFIG_ALERT_RULES_MAX);
        (void)snprintf(where, sizeof where, "alerts.rules[%zu]", n);
        if (item->type != YAML_MAPPING_NODE)
            return fail_at(ld, item, "%s: expected a mapping, got %s", where,
                           cf__config_node_kind(item));
        memset(r, 0, sizeof *r);
        r->kind = CF_ALERT__COUNT;
        r->threshold = 1;
        r->window = CF_MIN;
        r->action = CF_ALERT_ACT_NONE;
        r->line = (int)cf__config_line_of(item);
        rc = each_pair(ld, item, item, where, alert_pair, r);
        if (rc < 0)
            return rc;
        if (r->kind == CF_ALERT__COUNT)
            return fail_at(ld, item, "%s: kind is required", where);
        if (r->action == CF_ALERT_ACT_REVOKE_SESSION &&
            r->kind != CF_ALERT_REFRESH_REUSE && r->kind != CF_ALERT_REFRESH_RATE_PER_SESSION)
            return fail_at(ld, item, "%s: revoke_session needs a per-session rule "
                                     "(refresh_reuse or refresh_rate_per_session)", where);
        if ((r->action == CF_ALERT_ACT_REVOKE_SUBJECT || r->action == CF_ALERT_ACT_DISABLE_REFRESH) &&
            (r->kind == CF_ALERT_CHECK_FAILURES_PER_IP || r->kind == CF_ALERT_IDLE_TIMEOUT_SPIKE))
            return fail_at(ld, item, "%s: %s needs a rule that names a subject", where,
                           cf_alert_action_name(r->action));
        if (r->action == CF_ALERT_ACT_DISABLE_REFRESH && r->action_duration == 0)
            r->action_duration = 15 * CF_MIN;
        n++;
    }
    memcpy(ld->cfg->alert_rules, rules, n * sizeof rules[0]);
    ld->cfg->nalert_rules = n;
    return 0;
}


/* ---- routes ------------------------------------------------------------ */

typedef struct {
    cf_route_t *r;
    const yaml_node_t *path_key; /* the first of path, path_prefix, path_glob */
    const char *path_name;
} route_ctx_t;

/* A path or glob: starts with '/', visible ASCII, no '?' (queries are not matched). */
static const char *path_text_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] != '/')
        return "must start with '/'";
    if (n > CF_POLICY_PATH_MAX)
        return "is too long (at most 1024 characters)";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '?' ||
            s[i] == '#')
            return "must be visible ASCII without spaces, '?' or '#'";
    return NULL;
}

static int route_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                      const yaml_node_t *k, const yaml_node_t *v)
{
    route_ctx_t *rx = obj;
    cf_route_t *r = rx->r;
    char w[160], shown[64];
    const char *s, *why;
    size_t n;

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "host")) {
        if (scalar(ld, w, k, v, "a host name", &s, &n) < 0)
            return CF_ECONFIG;
        if (n == 0 || n > 255)
            return fail_at(ld, k, "%s: must be 1 to 255 characters", w);
        for (size_t i = 0; i < n; i++)
            if (!cf__config_host_char_ok(s[i], 0) &&
                !(s[0] == '[' && (s[i] == '[' || s[i] == ']' || cf__config_host_char_ok(s[i], 1))))
                return fail_at(ld, k, "%s: '%s' is not a host name (write it without port)", w,
                               cf__config_show(s, n, shown, sizeof shown));
        r->host = strndup(s, n);
        return r->host != NULL ? 0 : oom(ld);
    }
    if (key_is(key, klen, "methods")) {
        char **m = NULL;
        size_t nm = 0;
        if (sub_strv(ld, w, k, v, method_ok, &m, &nm) < 0)
            return CF_ECONFIG;
        r->methods = 0;
        for (size_t i = 0; i < nm; i++)
            r->methods |= cf_method_bit(m[i], strlen(m[i]));
        cf__config_strv_free(m, nm);
        return 0;
    }
    if (key_is(key, klen, "path") || key_is(key, klen, "path_prefix") ||
        key_is(key, klen, "path_glob")) {
        if (rx->path_key != NULL)
            return fail_at(ld, k,
                           "%s: only one of path, path_prefix and path_glob may be set "
                           "(%s on line %zu)",
                           w, rx->path_name, cf__config_line_of(rx->path_key));
        if (scalar(ld, w, k, v, "a path", &s, &n) < 0)
            return CF_ECONFIG;
        why = path_text_ok(s, n);
        if (why != NULL)
            return fail_at(ld, k, "%s: '%s' %s", w, cf__config_show(s, n, shown, sizeof shown),
                           why);
        r->path = strndup(s, n);
        if (r->path == NULL)
            return oom(ld);
        r->path_kind = klen == 4 ? CF_PATH_EXACT : key[5] == 'p' ? CF_PATH_PREFIX : CF_PATH_GLOB;
        rx->path_key = k;
        rx->path_name = r->path_kind == CF_PATH_EXACT    ? "path"
                        : r->path_kind == CF_PATH_PREFIX ? "path_prefix"
                                                         : "path_glob";
        return 0;
    }
    if (key_is(key, klen, "require_roles")) {
        cf__config_strv_free(r->require_roles, r->nrequire_roles);
        r->require_roles = NULL;
        r->nrequire_roles = 0;
        return sub_strv(ld, w, k, v, name_ok, &r->require_roles, &r->nrequire_roles);
    }
    if (key_is(key, klen, "require_scopes")) {
        cf__config_strv_free(r->require_scopes, r->nrequire_scopes);
        r->require_scopes = NULL;
        r->nrequire_scopes = 0;
        return sub_strv(ld, w, k, v, name_ok, &r->require_scopes, &r->nrequire_scopes);
    }
    if (key_is(key, klen, "max_auth_age"))
        return sub_duration(ld, w, k, v, &r->max_auth_age);
    if (key_is(key, klen, "idle_timeout"))
        return sub_duration(ld, w, k, v, &r->idle_timeout);
    if (key_is(key, klen, "anonymous"))
        return sub_bool(ld, w, k, v, &r->anonymous);
    if (key_is(key, klen, "deny"))
        return sub_bool(ld, w, k, v, &r->deny);
    return 1;
}

int cf__config_routes_load(loader_t *ld, const yaml_node_t *v)
{
    cf_policy_t np = {0}, old = {0};
    size_t count;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE && !cf__config_is_null(v))
        return fail_at(ld, v, "routes: expected a list, got %s", cf__config_node_kind(v));
    count = cf__config_is_null(v)
                ? 0
                : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (count > 0) {
        np.routes = calloc(count, sizeof *np.routes);
        if (np.routes == NULL)
            return oom(ld);
    }
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
        cf_route_t *r = &np.routes[i];
        route_ctx_t rx = {r, NULL, NULL};
        char where[32];

        np.nroutes = i + 1;
        (void)snprintf(where, sizeof where, "routes[%zu]", i);
        if (item == NULL) {
            rc = CF_ECONFIG;
            goto fail;
        }
        if (item->type != YAML_MAPPING_NODE) {
            rc = fail_at(ld, item, "%s: expected a mapping, got %s", where,
                         cf__config_node_kind(item));
            goto fail;
        }
        r->line = (int)cf__config_line_of(item);
        rc = each_pair(ld, item, item, where, route_pair, &rx);
        if (rc < 0)
            goto fail;
        if (r->anonymous && r->deny) {
            rc = fail_at(ld, item, "%s: anonymous and deny cannot both be true", where);
            goto fail;
        }
        if (r->anonymous && (r->nrequire_roles > 0 || r->nrequire_scopes > 0 ||
                             r->max_auth_age > 0 || r->idle_timeout > 0)) {
            rc = fail_at(ld, item,
                         "%s: an anonymous route looks at no token, so it cannot require "
                         "roles, scopes, max_auth_age or idle_timeout",
                         where);
            goto fail;
        }
    }
    old.routes = ld->cfg->policy.routes;
    old.nroutes = ld->cfg->policy.nroutes;
    drop(&old);
    ld->cfg->policy.routes = np.routes;
    ld->cfg->policy.nroutes = np.nroutes;
    return 0;
fail:
    drop(&np);
    return rc;
}

/* ---- rules across sections -------------------------------------------- */

static int role_defined(const cf_policy_t *p, const char *name)
{
    for (size_t i = 0; i < p->nroles; i++)
        if (strcmp(p->roles[i].name, name) == 0)
            return 1;
    return 0;
}

int cf__config_check_policy(loader_t *ld)
{
    const cf_policy_t *p = &ld->cfg->policy;

    /*
     * A route requiring a role that no roles: entry defines is almost always
     * a typo ("admins" for "admin"), and it fails closed in silence: every
     * session is refused there. Requiring the role to be declared, even as
     * `name: {}`, turns the typo into a message.
     */
    for (size_t i = 0; i < p->nroutes; i++)
        for (size_t j = 0; j < p->routes[i].nrequire_roles; j++) {
            const char *name = p->routes[i].require_roles[j];
            if (role_defined(p, name))
                continue;
            cf__config_say(ld->err, ld->errlen,
                           "%s:%d: routes[%zu].require_roles: role '%s' is not defined under "
                           "roles: (declare it, e.g. `%s: {}`)",
                           ld->name, p->routes[i].line, i, name, name);
            return CF_ECONFIG;
        }
    return 0;
}
