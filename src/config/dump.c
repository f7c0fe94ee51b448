/* SPDX-License-Identifier: MIT
 *
 * The way out of the sections: clients:, roles:, routes: and alerts.rules
 * written back as YAML that loads to the same policy (cf_config_dump()),
 * and the documentation rows of every section field (cf_config_doc()).
 * Reads a configuration, never changes one; calls only yaml.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/sections.h"
#include "core/alert.h"
#include "core/duration.h"

/* The documentation of every section field; printed under the section's row. */
typedef struct {
    const char *key, *type, *def, *doc;
} subdoc_t;

static const subdoc_t client_fields[] = {
    {"id", "string", "(required)", "Client id: 1-127 visible ASCII characters, unique."},
    {"type", "one of public, confidential", "public",
     "Confidential clients authenticate with a secret (HTTP Basic or client_secret_post)."},
    {"secret_hash", "string", "(none)",
     "Required for confidential clients, refused for public ones: "
     "pbkdf2-sha256$ITERATIONS$SALT$HASH as printed by `curfew hash-secret`."},
    {"allowed_grants", "list of refresh_token, client_credentials", "[refresh_token]",
     "Grant types the client may use; client_credentials needs a confidential client."},
    {"scope", "string", "\"\"", "Space-separated scopes a client_credentials token may get."},
    {"session.idle_timeout", "duration, >= 1s", "(global)",
     "Idle timeout for this client's sessions; only a shorter value than the global one counts."},
    {"session.absolute_timeout", "duration, >= 1s", "(global)",
     "Absolute timeout for this client's sessions; only a shorter value counts."},
    {"access_token.ttl", "duration, >= 1s", "(global)",
     "Access-token lifetime for this client; only a shorter value counts."},
    {"cookie", "bool", "false",
     "Cookie mode: the refresh token travels only in the refresh cookie (see cookie.*)."},
    {"risk.ip_binding", "one of off, prefix16, prefix24, exact", "(global)",
     "Overrides risk.ip_binding for this client's sessions."},
    {"risk.on_ip_change", "one of ignore, step_up, revoke", "(global)",
     "Overrides risk.on_ip_change for this client's sessions."},
    {"risk.on_device_change", "one of ignore, step_up, revoke", "(global)",
     "Overrides risk.on_device_change for this client's sessions."},
};

static const subdoc_t role_fields[] = {
    {"idle_timeout", "duration, >= 1s", "(global)",
     "Idle timeout for sessions holding the role; the strictest of all rules wins."},
    {"absolute_timeout", "duration, >= 1s", "(global)",
     "Absolute timeout for sessions holding the role; the strictest wins."},
    {"access_ttl", "duration, >= 1s", "(global)",
     "Access-token lifetime for sessions holding the role; the strictest wins."},
    {"risk.ip_binding", "one of off, prefix16, prefix24, exact", "(global)",
     "Applies when stricter than the global or client value."},
    {"risk.on_ip_change", "one of ignore, step_up, revoke", "(global)",
     "Applies when stricter (revoke > step_up > ignore)."},
    {"risk.on_device_change", "one of ignore, step_up, revoke", "(global)",
     "Applies when stricter (revoke > step_up > ignore)."},
};

static const subdoc_t route_fields[] = {
    {"host", "string", "(any)", "Host to match, case-insensitive, without port."},
    {"methods", "list of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE", "(any)",
     "Methods to match."},
    {"path", "string", "(any)", "Exact path to match (query ignored). At most one of path, "
                                "path_prefix and path_glob."},
    {"path_prefix", "string", "(none)", "Path prefix to match (plain string prefix)."},
    {"path_glob", "string", "(none)",
     "Glob to match: `*` is any run without '/', `**` any run including '/'."},
    {"require_roles", "list of strings", "[]", "The session must hold at least one (403 "
                                               "insufficient_role); each must be defined under "
                                               "roles: (`name: {}` will do)."},
    {"require_scopes", "list of strings", "[]",
     "The token must have every one (403 insufficient_scope)."},
    {"max_auth_age", "duration, > 0", "(none)",
     "Step-up: authentication older than this gets 401 step_up_required with max_age."},
    {"idle_timeout", "duration, > 0", "(none)",
     "A session idle this long is refused here (401 route_idle_timeout) but lives on."},
    {"anonymous", "bool", "false", "Allowed without a token; no other requirement may be set."},
    {"deny", "bool", "false", "Always refused: 403 route_denied."},
};

static const subdoc_t alert_fields[] = {
    {"kind",
     "one of refresh_reuse, check_failures_per_ip, check_failures_per_subject, "
     "refresh_rate_per_session, concurrent_sessions_per_subject, idle_timeout_spike",
     "(required)",
     "What is counted, and per what key (see docs/operations.md, Alerts); refresh_reuse "
     "fires on every reuse."},
    {"threshold", "integer, 1-1000", "1", "Fires when this many occur for one key within window."},
    {"window", "duration, > 0", "1m",
     "The sliding window; after firing, a rule stays quiet for that key for one window."},
    {"action", "one of none, revoke_session, revoke_subject, disable_refresh", "none",
     "Automatic action on firing, for the session or subject the alert names."},
    {"action_duration", "duration, > 0", "15m",
     "disable_refresh: how long the subject's refreshes are refused (400 refresh_disabled)."},
};

/* ------------------------------------------------------------------------ */
/* Dump                                                                     */
/* ------------------------------------------------------------------------ */

/* "[a, b]" with each item double-quoted. */
void cf__config_put_strv(FILE *out, char *const *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", out);
        cf__config_put_quoted(out, v[i]);
    }
    fputc(']', out);
}

static void put_duration(FILE *out, int indent, const char *key, cf_time_t v)
{
    char d[32];

    if (cf_duration_format(v, d, sizeof d) < 0)
        fprintf(out, "%*s%s: null  # invalid: negative\n", indent, "", key);
    else
        fprintf(out, "%*s%s: %s\n", indent, "", key, d);
}

static void put_risk(FILE *out, int indent, const cf_risk_policy_t *r)
{
    if (r->ip_binding == CF_IPBIND_UNSET && r->on_ip_change == CF_RISK_UNSET &&
        r->on_device_change == CF_RISK_UNSET)
        return;
    fprintf(out, "%*srisk:\n", indent, "");
    if (r->ip_binding != CF_IPBIND_UNSET)
        fprintf(out, "%*sip_binding: %s\n", indent + 2, "", cf_ip_binding_name(r->ip_binding));
    if (r->on_ip_change != CF_RISK_UNSET)
        fprintf(out, "%*son_ip_change: %s\n", indent + 2, "",
                cf_risk_action_name(r->on_ip_change));
    if (r->on_device_change != CF_RISK_UNSET)
        fprintf(out, "%*son_device_change: %s\n", indent + 2, "",
                cf_risk_action_name(r->on_device_change));
}

void cf__config_clients_dump(const cf_config_t *cfg, FILE *out)
{
    const cf_policy_t *p = &cfg->policy;

    if (p->nclients == 0) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < p->nclients; i++) {
        const cf_client_t *c = &p->clients[i];
        const char *sep = "";

        fputs("  - id: ", out);
        cf__config_put_quoted(out, c->id);
        fprintf(out, "\n    type: %s\n",
                c->type == CF_CLIENT_CONFIDENTIAL ? "confidential" : "public");
        if (c->secret_hash != NULL) {
            fputs("    secret_hash: ", out);
            cf__config_put_quoted(out, c->secret_hash);
            fputc('\n', out);
        }
        fputs("    allowed_grants: [", out);
        if (c->grants & CF_GRANT_REFRESH_TOKEN) {
            fputs("refresh_token", out);
            sep = ", ";
        }
        if (c->grants & CF_GRANT_CLIENT_CREDENTIALS)
            fprintf(out, "%sclient_credentials", sep);
        fputs("]\n    scope: ", out);
        cf__config_put_quoted(out, c->scope != NULL ? c->scope : "");
        fprintf(out, "\n    cookie: %s\n", c->cookie ? "true" : "false");
        if (c->limits.idle_timeout > 0 || c->limits.absolute_timeout > 0) {
            fputs("    session:\n", out);
            if (c->limits.idle_timeout > 0)
                put_duration(out, 6, "idle_timeout", c->limits.idle_timeout);
            if (c->limits.absolute_timeout > 0)
                put_duration(out, 6, "absolute_timeout", c->limits.absolute_timeout);
        }
        if (c->limits.access_ttl > 0) {
            fputs("    access_token:\n", out);
            put_duration(out, 6, "ttl", c->limits.access_ttl);
        }
        put_risk(out, 4, &c->risk);
    }
}

void cf__config_roles_dump(const cf_config_t *cfg, FILE *out)
{
    const cf_policy_t *p = &cfg->policy;

    if (p->nroles == 0) {
        fputs(" {}\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < p->nroles; i++) {
        const cf_role_t *r = &p->roles[i];
        const cf_risk_policy_t *k = &r->risk;
        int empty = r->limits.idle_timeout == 0 && r->limits.absolute_timeout == 0 &&
                    r->limits.access_ttl == 0 && k->ip_binding == CF_IPBIND_UNSET &&
                    k->on_ip_change == CF_RISK_UNSET && k->on_device_change == CF_RISK_UNSET;

        fputs("  ", out);
        cf__config_put_quoted(out, r->name);
        fputs(empty ? ": {}\n" : ":\n", out);
        if (r->limits.idle_timeout > 0)
            put_duration(out, 4, "idle_timeout", r->limits.idle_timeout);
        if (r->limits.absolute_timeout > 0)
            put_duration(out, 4, "absolute_timeout", r->limits.absolute_timeout);
        if (r->limits.access_ttl > 0)
            put_duration(out, 4, "access_ttl", r->limits.access_ttl);
        put_risk(out, 4, k);
    }
}

void cf__config_routes_dump(const cf_config_t *cfg, FILE *out)
{
    static const char *const path_keys[] = {"", "path", "path_prefix", "path_glob"};
    static const char *const mnames[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                         "DELETE", "OPTIONS", "CONNECT", "TRACE"};
    const cf_policy_t *p = &cfg->policy;

    if (p->nroutes == 0) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < p->nroutes; i++) {
        const cf_route_t *r = &p->routes[i];
        int first = 1; /* the first key of the item carries the dash */

#define NEXT_KEY() (fputs(first ? "  - " : "    ", out), first = 0)
        if (r->host != NULL) {
            NEXT_KEY();
            fputs("host: ", out);
            cf__config_put_quoted(out, r->host);
            fputc('\n', out);
        }
        if (r->methods != 0) {
            const char *sep = "";
            NEXT_KEY();
            fputs("methods: [", out);
            for (size_t b = 0; b < sizeof mnames / sizeof mnames[0]; b++)
                if (r->methods & (1u << b)) {
                    fprintf(out, "%s%s", sep, mnames[b]);
                    sep = ", ";
                }
            fputs("]\n", out);
        }
        if (r->path_kind != CF_PATH_ANY && r->path != NULL) {
            NEXT_KEY();
            fprintf(out, "%s: ", path_keys[r->path_kind]);
            cf__config_put_quoted(out, r->path);
            fputc('\n', out);
        }
        if (r->nrequire_roles > 0) {
            NEXT_KEY();
            fputs("require_roles: ", out);
            cf__config_put_strv(out, r->require_roles, r->nrequire_roles);
            fputc('\n', out);
        }
        if (r->nrequire_scopes > 0) {
            NEXT_KEY();
            fputs("require_scopes: ", out);
            cf__config_put_strv(out, r->require_scopes, r->nrequire_scopes);
            fputc('\n', out);
        }
        if (r->max_auth_age > 0) {
            NEXT_KEY();
            put_duration(out, 0, "max_auth_age", r->max_auth_age);
        }
        if (r->idle_timeout > 0) {
            NEXT_KEY();
            put_duration(out, 0, "idle_timeout", r->idle_timeout);
        }
        if (r->anonymous) {
            NEXT_KEY();
            fputs("anonymous: true\n", out);
        }
        if (r->deny) {
            NEXT_KEY();
            fputs("deny: true\n", out);
        }
        if (first)
            fputs("  - {}\n", out); /* a route without conditions matches everything */
#undef NEXT_KEY
    }
}

void cf__config_alerts_dump(const cf_config_t *cfg, FILE *out)
{
    if (cfg->nalert_rules == 0) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < cfg->nalert_rules; i++) {
        const cf_alert_rule_t *r = &cfg->alert_rules[i];

        fprintf(out, "  - kind: %s\n", cf_alert_kind_name(r->kind));
        fprintf(out, "    threshold: %u\n", (unsigned)r->threshold);
        put_duration(out, 4, "window", r->window);
        fprintf(out, "    action: %s\n", cf_alert_action_name(r->action));
        if (r->action_duration > 0)
            put_duration(out, 4, "action_duration", r->action_duration);
    }
}

/* ------------------------------------------------------------------------ */
/* Docs                                                                     */
/* ------------------------------------------------------------------------ */

/* The rows of a section's fields: `clients[].id`, `roles.NAME.idle_timeout`, `routes[].path`. */
void cf__config_doc_fields(FILE *out, const option_t *o)
{
    const subdoc_t *f;
    size_t n;
    const char *pfx;

    switch (o->kind) {
    case OPT_CLIENTS:
        f = client_fields, n = sizeof client_fields / sizeof client_fields[0], pfx = "clients[].";
        break;
    case OPT_ROLES:
        f = role_fields, n = sizeof role_fields / sizeof role_fields[0], pfx = "roles.NAME.";
        break;
    case OPT_ALERT_RULES:
        f = alert_fields, n = sizeof alert_fields / sizeof alert_fields[0],
        pfx = "alerts.rules[].";
        break;
    case OPT_ROUTES:
        f = route_fields, n = sizeof route_fields / sizeof route_fields[0], pfx = "routes[].";
        break;
    default:
        return;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(out, "| `%s%s` | %s | `%s` | %s |\n", pfx, f[i].key, f[i].type, f[i].def,
                f[i].doc);
}
