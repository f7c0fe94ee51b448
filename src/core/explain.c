/* SPDX-License-Identifier: MIT
 *
 * cf_policy_explain() (declared in policy.h): the text `curfew policy
 * explain` prints, built from the same decisions the server makes
 * (cf_policy_resolve, cf_policy_match) so that it can never explain a rule
 * the server does not apply. Apart from policy.c because it is the only part
 * of policy that allocates and formats text; nothing here is on the check
 * path. Pure: no I/O, no clock, no logging.
 */
#include "core/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"
#include "core/error.h"
#include "core/path.h"

/* A growing text; the first failed allocation sets oom and stops all output. */
typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} text_t;

static void put(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text_t *t, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (t->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        w = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)w < t->cap - t->len) {
            t->len += (size_t)w;
            return;
        }
        size_t ncap = t->cap * 2 > t->len + (size_t)w + 1 ? t->cap * 2 : t->len + (size_t)w + 1;
        char *nb = realloc(t->buf, ncap);
        if (nb == NULL) {
            t->oom = 1;
            return;
        }
        t->buf = nb;
        t->cap = ncap;
    }
}

static const char *dur(cf_time_t v, char *buf, size_t cap)
{
    if (cf_duration_format(v, buf, cap) < 0)
        (void)snprintf(buf, cap, "%lldms", (long long)v); /* negative: shown raw */
    return buf;
}

static void put_list(text_t *t, char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(t, "%s%s", i > 0 ? ", " : "", v[i]);
}

/* "  methods: GET, POST\n", in the order of the CF_METHOD_* bits. */
static void put_methods(text_t *t, unsigned methods)
{
    int first = 1;

    put(t, "  methods: ");
    if (methods == 0)
        put(t, "any");
    for (unsigned bit = CF_METHOD_GET; bit <= CF_METHOD_TRACE; bit <<= 1)
        if (methods & bit) {
            put(t, "%s%s", first ? "" : ", ", cf_method_name(bit));
            first = 0;
        }
    put(t, "\n");
}

static void explain_route(text_t *t, const cf_route_t *r, size_t index)
{
    static const char *const kinds[] = {"any path", "path", "path_prefix", "path_glob"};
    char d[32];

    put(t, "route: routes[%zu] (line %d)\n", index, r->line);
    put(t, "  host: %s\n", r->host != NULL ? r->host : "any");
    put_methods(t, r->methods);
    if (r->path_kind == CF_PATH_ANY)
        put(t, "  path: any\n");
    else
        put(t, "  %s: %s\n", kinds[r->path_kind], r->path);
    if (r->deny)
        put(t, "  deny: every request is refused (route_denied)\n");
    if (r->anonymous)
        put(t, "  anonymous: allowed without a token\n");
    if (r->nrequire_roles > 0) {
        put(t, "  require_roles (any of): ");
        put_list(t, r->require_roles, r->nrequire_roles);
        put(t, "\n");
    }
    if (r->nrequire_scopes > 0) {
        put(t, "  require_scopes (all of): ");
        put_list(t, r->require_scopes, r->nrequire_scopes);
        put(t, "\n");
    }
    if (r->max_auth_age > 0)
        put(t, "  max_auth_age: %s (older authentication -> step_up_required)\n",
            dur(r->max_auth_age, d, sizeof d));
    if (r->idle_timeout > 0)
        put(t, "  idle_timeout: %s (idle longer -> route_idle_timeout)\n",
            dur(r->idle_timeout, d, sizeof d));
}

/* The client and roles asked about, with a note for each role no rule names. */
static void explain_who(text_t *t, const cf_policy_t *p, const cf_client_t *client,
                        const char *roles_csv)
{
    put(t, "client: %s\n", client != NULL ? client->id : "(none)");
    put(t, "roles: %s\n", roles_csv != NULL && roles_csv[0] != '\0' ? roles_csv : "(none)");
    for (const char *s = roles_csv; s != NULL && *s != '\0';) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (len > 0 && cf_policy_role(p, s, len) == NULL)
            put(t, "  note: role '%.*s' is not configured; it changes no limit\n", (int)len, s);
        s = comma != NULL ? comma + 1 : s + len;
    }
}

/* Each effective limit and risk setting with the rule it came from. */
static void explain_limits(text_t *t, const cf_effective_t *eff)
{
    char d[32];

    put(t, "effective limits:\n");
    put(t, "  idle_timeout: %s (from %s)\n", dur(eff->limits.idle_timeout, d, sizeof d),
        eff->idle_from);
    put(t, "  absolute_timeout: %s (from %s)\n", dur(eff->limits.absolute_timeout, d, sizeof d),
        eff->absolute_from);
    put(t, "  access_ttl: %s (from %s)\n", dur(eff->limits.access_ttl, d, sizeof d),
        eff->access_from);
    put(t, "  ip_binding: %s (from %s)\n", cf_ip_binding_name(eff->risk.ip_binding),
        eff->ip_binding_from);
    put(t, "  on_ip_change: %s (from %s)\n", cf_risk_action_name(eff->risk.on_ip_change),
        eff->on_ip_change_from);
    put(t, "  on_device_change: %s (from %s)\n", cf_risk_action_name(eff->risk.on_device_change),
        eff->on_device_change_from);
}

/* The request and the route it matches, matched as /v1/check matches it: on the normalized path. */
static int explain_request(text_t *t, const cf_policy_t *p, const char *host, const char *method,
                           const char *path)
{
    const cf_route_t *route;
    size_t index = 0, nlen;
    char *norm;

    put(t, "request: %s %s%s%s\n", method, path, host != NULL ? " host " : "",
        host != NULL ? host : "");
    norm = malloc(strlen(path) + 2);
    if (norm == NULL)
        return CF_ENOMEM;
    if (cf_path_normalize(path, strlen(path), norm, &nlen) < 0) {
        put(t, "route: none; /v1/check refuses this path with 400 (invalid_path)\n");
    } else {
        if (strcmp(norm, path) != 0)
            put(t, "normalized path: %s\n", norm);
        route = cf_policy_match(p, host, host != NULL ? strlen(host) : 0, method, strlen(method),
                                norm, nlen, &index);
        if (route == NULL)
            put(t, "route: no route matches (session rules only)\n");
        else
            explain_route(t, route, index);
        /* Whether this request keeps its session alive (issue 13: only people's requests do). */
        if (route != NULL && route->activity == CF_ACTIVITY_NONE)
            put(t, "activity: none (from routes[%zu]): allowed, but does not extend the idle "
                   "deadline\n", index);
        else
            put(t, "activity: counts: an allowed request extends the idle deadline\n");
    }
    free(norm);
    return 0;
}

int cf_policy_explain(const cf_policy_t *p, const cf_limits_t *global, cf_time_t max_access_ttl,
                      const char *client_id, const char *roles_csv, const char *host,
                      const char *method, const char *path, char **out)
{
    const cf_client_t *client = NULL;
    cf_effective_t eff;
    text_t t = {NULL, 0, 0, 0};

    *out = NULL;
    if (client_id != NULL && client_id[0] != '\0') {
        client = cf_policy_client(p, client_id);
        if (client == NULL)
            return CF_ENOENT;
    }
    t.buf = malloc(512);
    if (t.buf == NULL)
        return CF_ENOMEM;
    t.cap = 512;
    t.buf[0] = '\0';

    cf_policy_resolve(p, global, max_access_ttl, client, roles_csv, NULL, &eff);
    explain_who(&t, p, client, roles_csv);
    explain_limits(&t, &eff);
    if (explain_request(&t, p, host, method != NULL ? method : "GET", path != NULL ? path : "/") < 0 ||
        t.oom) {
        free(t.buf);
        return CF_ENOMEM;
    }
    *out = t.buf;
    return 0;
}
