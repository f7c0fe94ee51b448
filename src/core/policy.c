/* SPDX-License-Identifier: MIT
 *
 * Policy decisions: effective lifetimes and risk (strictest wins, with the
 * rule each value came from), first-match route lookup, and route verdicts.
 * Pure: no I/O, no clock, no logging; only cf_policy_copy() allocates
 * (cf_policy_explain(), the text for `curfew policy explain`, lives in
 * explain.c). Matching is on the check hot path and allocates nothing.
 */
#include "core/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"
#include "core/error.h"
#include "core/path.h"

/* ------------------------------------------------------------------------ */
/* Ownership                                                                 */
/* ------------------------------------------------------------------------ */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void cf_policy_fini(cf_policy_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nclients; i++) {
        free(p->clients[i].id);
        free(p->clients[i].secret_hash);
        free(p->clients[i].scope);
        free_strv(p->clients[i].origins, p->clients[i].norigins);
        free(p->clients[i].tls_dn);
        free(p->clients[i].tls_san_dns);
        free(p->clients[i].tls_san_uri);
        free(p->clients[i].tls_san_ip);
        free(p->clients[i].tls_san_email);
        free(p->clients[i].tls_x5t);
    }
    free(p->clients);
    for (size_t i = 0; i < p->nroles; i++)
        free(p->roles[i].name);
    free(p->roles);
    for (size_t i = 0; i < p->nroutes; i++) {
        cf_route_t *r = &p->routes[i];
        free(r->host);
        free(r->path);
        free_strv(r->require_roles, r->nrequire_roles);
        free_strv(r->require_scopes, r->nrequire_scopes);
    }
    free(p->routes);
    memset(p, 0, sizeof *p);
}

/* strdup that keeps NULL as NULL; sets *@fail when out of memory. */
static char *dup_opt(const char *s, int *fail)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *fail = 1;
    return d;
}

static char **dup_strv(char *const *v, size_t n, int *fail)
{
    char **d;

    if (n == 0)
        return NULL;
    d = calloc(n, sizeof *d);
    if (d == NULL) {
        *fail = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = dup_opt(v[i], fail);
    return d;
}

/*
 * Copy element by element into zeroed arrays whose counts are set first, so
 * that a failure half-way leaves a structure cf_policy_fini() frees exactly.
 */
int cf_policy_copy(cf_policy_t *dst, const cf_policy_t *src)
{
    int fail = 0;

    memset(dst, 0, sizeof *dst);
    dst->risk = src->risk;
    if (src->nclients > 0) {
        dst->clients = calloc(src->nclients, sizeof *dst->clients);
        if (dst->clients == NULL)
            goto oom;
        dst->nclients = src->nclients;
        for (size_t i = 0; i < src->nclients; i++) {
            cf_client_t *c = &dst->clients[i];
            *c = src->clients[i];
            c->id = dup_opt(src->clients[i].id, &fail);
            c->secret_hash = dup_opt(src->clients[i].secret_hash, &fail);
            c->scope = dup_opt(src->clients[i].scope, &fail);
            c->origins = dup_strv(src->clients[i].origins, src->clients[i].norigins, &fail);
            if (c->origins == NULL)
                c->norigins = 0;
            c->tls_dn = dup_opt(src->clients[i].tls_dn, &fail);
            c->tls_san_dns = dup_opt(src->clients[i].tls_san_dns, &fail);
            c->tls_san_uri = dup_opt(src->clients[i].tls_san_uri, &fail);
            c->tls_san_ip = dup_opt(src->clients[i].tls_san_ip, &fail);
            c->tls_san_email = dup_opt(src->clients[i].tls_san_email, &fail);
            c->tls_x5t = dup_opt(src->clients[i].tls_x5t, &fail);
        }
    }
    if (src->nroles > 0) {
        dst->roles = calloc(src->nroles, sizeof *dst->roles);
        if (dst->roles == NULL)
            goto oom;
        dst->nroles = src->nroles;
        for (size_t i = 0; i < src->nroles; i++) {
            dst->roles[i] = src->roles[i];
            dst->roles[i].name = dup_opt(src->roles[i].name, &fail);
        }
    }
    if (src->nroutes > 0) {
        dst->routes = calloc(src->nroutes, sizeof *dst->routes);
        if (dst->routes == NULL)
            goto oom;
        dst->nroutes = src->nroutes;
        for (size_t i = 0; i < src->nroutes; i++) {
            const cf_route_t *s = &src->routes[i];
            cf_route_t *r = &dst->routes[i];
            *r = *s;
            r->host = dup_opt(s->host, &fail);
            r->path = dup_opt(s->path, &fail);
            r->require_roles = dup_strv(s->require_roles, s->nrequire_roles, &fail);
            if (r->require_roles == NULL)
                r->nrequire_roles = 0;
            r->require_scopes = dup_strv(s->require_scopes, s->nrequire_scopes, &fail);
            if (r->require_scopes == NULL)
                r->nrequire_scopes = 0;
        }
    }
    if (fail)
        goto oom;
    return 0;
oom:
    cf_policy_fini(dst);
    return CF_ENOMEM;
}

void cf_policy_prepare(cf_policy_t *p)
{
    for (size_t i = 0; i < p->nroutes; i++) {
        cf_route_t *r = &p->routes[i];
        r->host_len = r->host != NULL ? strlen(r->host) : 0;
        r->path_len = r->path != NULL ? strlen(r->path) : 0;
        if (r->path == NULL)
            r->path_kind = CF_PATH_ANY;
    }
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */
/* ------------------------------------------------------------------------ */

const cf_client_t *cf_policy_client(const cf_policy_t *p, const char *id)
{
    if (p == NULL || id == NULL)
        return NULL;
    for (size_t i = 0; i < p->nclients; i++)
        if (strcmp(p->clients[i].id, id) == 0)
            return &p->clients[i];
    return NULL;
}

const cf_role_t *cf_policy_role(const cf_policy_t *p, const char *name, size_t len)
{
    if (p == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < p->nroles; i++) {
        const char *n = p->roles[i].name;
        if (strncmp(n, name, len) == 0 && n[len] == '\0')
            return &p->roles[i];
    }
    return NULL;
}

static const struct {
    const char *name;
    size_t len;
    unsigned bit;
} methods[] = {
    {"GET", 3, CF_METHOD_GET},         {"HEAD", 4, CF_METHOD_HEAD},
    {"POST", 4, CF_METHOD_POST},       {"PUT", 3, CF_METHOD_PUT},
    {"PATCH", 5, CF_METHOD_PATCH},     {"DELETE", 6, CF_METHOD_DELETE},
    {"OPTIONS", 7, CF_METHOD_OPTIONS}, {"CONNECT", 7, CF_METHOD_CONNECT},
    {"TRACE", 5, CF_METHOD_TRACE},
};

unsigned cf_method_bit(const char *name, size_t len)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].len == len && memcmp(methods[i].name, name, len) == 0)
            return methods[i].bit;
    return 0;
}

const char *cf_method_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].bit == bit)
            return methods[i].name;
    return NULL;
}

const char *cf_ip_binding_name(cf_ip_binding_t b)
{
    switch (b) {
    case CF_IPBIND_OFF:
        return "off";
    case CF_IPBIND_PREFIX16:
        return "prefix16";
    case CF_IPBIND_PREFIX24:
        return "prefix24";
    case CF_IPBIND_EXACT:
        return "exact";
    case CF_IPBIND_UNSET:
        break;
    }
    return "unset";
}

const char *cf_risk_action_name(cf_risk_action_t a)
{
    switch (a) {
    case CF_RISK_IGNORE:
        return "ignore";
    case CF_RISK_STEP_UP:
        return "step_up";
    case CF_RISK_REVOKE:
        return "revoke";
    case CF_RISK_UNSET:
        break;
    }
    return "unset";
}

/* ------------------------------------------------------------------------ */
/* Resolution                                                                */
/* ------------------------------------------------------------------------ */

static void set_from(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_from(char *dst, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(dst, 80, fmt, ap); /* a long client id is cut; it is a label */
    va_end(ap);
}

/* Take @v for *@cur when set (> 0) and strictly shorter; the label then names @who. */
static void tighten(cf_time_t *cur, char *from, cf_time_t v, const char *kind, const char *who,
                    size_t wlen)
{
    if (v > 0 && v < *cur) {
        *cur = v;
        if (who != NULL)
            set_from(from, "%s %.*s", kind, (int)wlen, who);
        else
            set_from(from, "%s", kind);
    }
}

static void apply_limits(cf_effective_t *out, const cf_limits_t *l, const char *kind,
                         const char *who, size_t wlen)
{
    tighten(&out->limits.idle_timeout, out->idle_from, l->idle_timeout, kind, who, wlen);
    tighten(&out->limits.absolute_timeout, out->absolute_from, l->absolute_timeout, kind, who,
            wlen);
    tighten(&out->limits.access_ttl, out->access_from, l->access_ttl, kind, who, wlen);
}

/* Override the risk fields that @r sets; with @only_stricter, only those stricter than now. */
static void apply_risk(cf_effective_t *out, const cf_risk_policy_t *r, int only_stricter,
                       const char *kind, const char *who, size_t wlen)
{
    char label[80];

    if (who != NULL)
        set_from(label, "%s %.*s", kind, (int)wlen, who);
    else
        set_from(label, "%s", kind);
    if (r->ip_binding != CF_IPBIND_UNSET &&
        (!only_stricter || r->ip_binding > out->risk.ip_binding)) {
        out->risk.ip_binding = r->ip_binding;
        memcpy(out->ip_binding_from, label, sizeof label);
    }
    if (r->on_ip_change != CF_RISK_UNSET &&
        (!only_stricter || r->on_ip_change > out->risk.on_ip_change)) {
        out->risk.on_ip_change = r->on_ip_change;
        memcpy(out->on_ip_change_from, label, sizeof label);
    }
    if (r->on_device_change != CF_RISK_UNSET &&
        (!only_stricter || r->on_device_change > out->risk.on_device_change)) {
        out->risk.on_device_change = r->on_device_change;
        memcpy(out->on_device_change_from, label, sizeof label);
    }
}

void cf_policy_resolve(const cf_policy_t *p, const cf_limits_t *global, cf_time_t max_access_ttl,
                       const cf_client_t *client, const char *roles_csv,
                       const cf_limits_t *requested, cf_effective_t *out)
{
    static const cf_risk_policy_t builtin = {CF_IPBIND_OFF, CF_RISK_REVOKE, CF_RISK_REVOKE};

    memset(out, 0, sizeof *out);
    out->limits = *global;
    set_from(out->idle_from, "session.idle_timeout");
    set_from(out->absolute_from, "session.absolute_timeout");
    set_from(out->access_from, "access_token.ttl");
    apply_risk(out, &builtin, 0, "default", NULL, 0);
    if (p != NULL)
        apply_risk(out, &p->risk, 0, "risk (global)", NULL, 0);

    if (client != NULL) {
        size_t idlen = strlen(client->id);
        apply_limits(out, &client->limits, "client", client->id, idlen);
        apply_risk(out, &client->risk, 0, "client", client->id, idlen);
    }

    /* Roles in the order held; a role named twice is simply applied twice. */
    for (const char *s = roles_csv; s != NULL && *s != '\0';) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        const cf_role_t *role = len > 0 ? cf_policy_role(p, s, len) : NULL;

        if (role != NULL) {
            apply_limits(out, &role->limits, "role", role->name, strlen(role->name));
            apply_risk(out, &role->risk, 1, "role", role->name, strlen(role->name));
        }
        s = comma != NULL ? comma + 1 : s + len;
    }

    if (requested != NULL)
        apply_limits(out, requested, "request", NULL, 0);
    if (max_access_ttl > 0 && out->limits.access_ttl > max_access_ttl) {
        out->limits.access_ttl = max_access_ttl;
        set_from(out->access_from, "access_token.max_ttl");
    }
    if (out->limits.idle_timeout > out->limits.absolute_timeout) {
        out->limits.idle_timeout = out->limits.absolute_timeout;
        memcpy(out->idle_from, out->absolute_from, sizeof out->idle_from);
    }
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                  */
/* ------------------------------------------------------------------------ */

/* A '*' at @j of @pat that is part of a '**' run. */
static int in_double_star(const char *pat, size_t m, size_t j)
{
    return (j + 1 < m && pat[j + 1] == '*') || (j > 0 && pat[j - 1] == '*');
}

/*
 * The reference matcher: a set of pattern positions advanced one text byte
 * at a time (an NFA simulation). Always O(n * m), no backtracking at all;
 * used when the fast path below runs out of its step budget. Patterns are
 * capped at CF_POLICY_PATH_MAX bytes by the config, so the state fits the
 * stack.
 */
#define CF_GLOB_MAX CF_POLICY_PATH_MAX

static int glob_nfa(const char *pat, size_t m, const char *s, size_t n)
{
    unsigned char a[CF_GLOB_MAX + 1], b[CF_GLOB_MAX + 1];
    unsigned char *cur = a, *nxt = b, *tmp;
    int any;

    if (m > CF_GLOB_MAX)
        return 0; /* refused by the config loader; never matches */
    memset(cur, 0, m + 1);
    cur[0] = 1;
    for (size_t i = 0;; i++) {
        for (size_t j = 0; j < m; j++) /* a star may match nothing */
            if (cur[j] && pat[j] == '*')
                cur[j + 1] = 1;
        if (i == n)
            return cur[m];
        memset(nxt, 0, m + 1);
        any = 0;
        for (size_t j = 0; j < m; j++) {
            if (!cur[j])
                continue;
            if (pat[j] == '*') {
                if (s[i] != '/' || in_double_star(pat, m, j))
                    nxt[j] = any = 1;
            } else if (pat[j] == s[i]) {
                nxt[j + 1] = any = 1;
            }
        }
        if (!any)
            return 0;
        tmp = cur, cur = nxt, nxt = tmp;
    }
}

/*
 * The fast path: the classic wildcard algorithm, which remembers only the
 * most recent star and on a mismatch lets it swallow one more character,
 * with two resume points instead of one:
 *
 * - a '**' splits the pattern into chunks. Matching the next chunk as early
 *   as possible is always safe, since '**' can absorb any text before a later
 *   match; so on failure the '**' swallows one more character and the chunk
 *   after it starts over.
 * - inside a chunk a '*' stays within one path segment. An earlier '*' never
 *   needs to grow once a later one is reached: either the literal text between
 *   them holds a '/', which pins the earlier star's extent, or it does not, and
 *   then the later star (in the same segment) can absorb the difference. When
 *   the latest '*' would have to cross a '/', only the '**' can help.
 *
 * Usually this is O(n + m), but a '**' restarting a chunk whose '*' runs to
 * the end of each segment can make it quadratic in the path. The step budget
 * catches that, and the NFA above answers instead: same result, O(n * m).
 * Returns 1 or 0, or -1 when the budget ran out.
 */
static int glob_fast(const char *pat, size_t m, const char *s, size_t n)
{
    size_t p = 0, t = 0;
    size_t star_p = 0, star_t = 0, dstar_p = 0, dstar_t = 0;
    size_t budget = 4 * (n + m) + 64;
    int have_star = 0, have_dstar = 0;

    while (t < n) {
        if (budget-- == 0)
            return -1;
        if (p < m && pat[p] == '*') {
            if (p + 1 < m && pat[p + 1] == '*') {
                while (p < m && pat[p] == '*')
                    p++;
                have_dstar = 1;
                dstar_p = p;
                dstar_t = t;
                have_star = 0;
            } else {
                p++;
                have_star = 1;
                star_p = p;
                star_t = t;
            }
            continue;
        }
        if (p < m && pat[p] == s[t]) {
            p++;
            t++;
            continue;
        }
        if (have_star && s[star_t] != '/') {
            star_t++;
            t = star_t;
            p = star_p;
            continue;
        }
        if (have_dstar) {
            dstar_t++;
            t = dstar_t;
            p = dstar_p;
            have_star = 0;
            continue;
        }
        return 0;
    }
    while (p < m && pat[p] == '*')
        p++;
    return p == m;
}

int cf_glob_match(const char *pat, size_t m, const char *s, size_t n)
{
    int rc = glob_fast(pat, m, s, n);

    return rc >= 0 ? rc : glob_nfa(pat, m, s, n);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * Length of @h without a trailing ":port": "a.example:8443" -> "a.example",
 * "[::1]:80" -> "[::1]". An unbracketed IPv6 literal ("::1") has no port.
 */
static size_t host_without_port(const char *h, size_t n)
{
    const char *colon = n > 0 ? memrchr(h, ':', n) : NULL;
    size_t at;

    if (colon == NULL)
        return n;
    at = (size_t)(colon - h);
    if (h[0] == '[')
        return at > 0 && h[at - 1] == ']' ? at : n;
    if (memchr(h, ':', at) != NULL)
        return n;
    return at;
}

static int host_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int path_matches(const cf_route_t *r, const char *path, size_t plen)
{
    switch (r->path_kind) {
    case CF_PATH_ANY:
        return 1;
    case CF_PATH_EXACT:
        return plen == r->path_len && memcmp(path, r->path, plen) == 0;
    case CF_PATH_PREFIX:
        return plen >= r->path_len && memcmp(path, r->path, r->path_len) == 0;
    case CF_PATH_GLOB:
        return cf_glob_match(r->path, r->path_len, path, plen);
    }
    return 0;
}

const cf_route_t *cf_policy_match(const cf_policy_t *p, const char *host, size_t hlen,
                                  const char *method, size_t mlen, const char *path, size_t plen,
                                  size_t *index)
{
    unsigned mbit = cf_method_bit(method, mlen);
    const char *q;

    if (p == NULL || p->nroutes == 0)
        return NULL;
    if (host == NULL)
        hlen = 0;
    else
        hlen = host_without_port(host, hlen);
    if (path == NULL) {
        path = "/";
        plen = 1;
    }
    q = memchr(path, '?', plen);
    if (q != NULL)
        plen = (size_t)(q - path);

    for (size_t i = 0; i < p->nroutes; i++) {
        const cf_route_t *r = &p->routes[i];

        if (r->methods != 0 && (r->methods & mbit) == 0)
            continue;
        if (!path_matches(r, path, plen))
            continue;
        if (r->host != NULL && !host_equal(r->host, r->host_len, host, hlen))
            continue;
        if (index != NULL)
            *index = i;
        return r;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Route verdicts                                                            */
/* ------------------------------------------------------------------------ */

/* Is @tok one of the @sep-separated items of @list? */
static int has_item(const char *list, char sep, const char *tok)
{
    size_t tlen = strlen(tok);

    if (list == NULL || tlen == 0)
        return 0;
    for (const char *s = list; *s != '\0';) {
        const char *e = strchr(s, sep);
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (len == tlen && memcmp(s, tok, len) == 0)
            return 1;
        if (e == NULL)
            break;
        s = e + 1;
    }
    return 0;
}

static cf_route_verdict_t verdict(cf_route_verdict_t v, cf_reason_t r, cf_reason_t *why)
{
    if (why != NULL)
        *why = r;
    return v;
}

cf_route_verdict_t cf_route_decide(const cf_route_t *r, const char *roles_csv, const char *scope,
                                   cf_time_t auth_time, cf_time_t last_activity, cf_time_t now,
                                   cf_reason_t *why)
{
    if (r == NULL)
        return verdict(CF_ROUTE_PASS, CF_REASON_NONE, why);
    if (r->deny)
        return verdict(CF_ROUTE_DENY, CF_REASON_ROUTE_DENIED, why);
    if (r->anonymous)
        return verdict(CF_ROUTE_ANONYMOUS, CF_REASON_NONE, why);
    if (r->nrequire_roles > 0) {
        size_t i;
        for (i = 0; i < r->nrequire_roles; i++)
            if (has_item(roles_csv, ',', r->require_roles[i]))
                break;
        if (i == r->nrequire_roles)
            return verdict(CF_ROUTE_FORBIDDEN, CF_REASON_INSUFFICIENT_ROLE, why);
    }
    for (size_t i = 0; i < r->nrequire_scopes; i++)
        if (!has_item(scope, ' ', r->require_scopes[i]))
            return verdict(CF_ROUTE_FORBIDDEN, CF_REASON_INSUFFICIENT_SCOPE, why);
    if (r->max_auth_age > 0 && now - auth_time >= r->max_auth_age)
        return verdict(CF_ROUTE_STEP_UP, CF_REASON_STEP_UP_REQUIRED, why);
    if (r->idle_timeout > 0 && now - last_activity >= r->idle_timeout)
        return verdict(CF_ROUTE_IDLE, CF_REASON_ROUTE_IDLE_TIMEOUT, why);
    return verdict(CF_ROUTE_PASS, CF_REASON_NONE, why);
}
