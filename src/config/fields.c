/* SPDX-License-Identifier: MIT
 *
 * The rows of every section level: clients[], roles.NAME, routes[] and
 * alerts.rules[]. A row names a key within its level, a type and the
 * offset of its field in the level's struct (nginx's command table); a type
 * declares the YAML node it expects and carries its parse and print
 * functions (Redis's standardConfig). Decides what each field may hold and
 * the few rules across the fields of one element (each level's check());
 * never walks YAML itself (sections.c does, for every level alike) and
 * never keeps a pointer into the YAML document.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/sections.h"
#include "core/alert.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/policy.h"

/* ------------------------------------------------------------------------ */
/* The rows                                                                  */
/* ------------------------------------------------------------------------ */

static const char *const client_types[] = {"public", "confidential", NULL};

#define CLIENT(f) .off = offsetof(cf_client_t, f)
#define ROLE(f) .off = offsetof(cf_role_t, f)
#define ROUTE(f) .off = offsetof(cf_route_t, f)
#define ALERT(f) .off = offsetof(cf_alert_rule_t, f)

/* The risk block, the same at the client and role levels. */
#define RISK_ROWS(LVL, ip_doc, ch_doc, dev_doc)                                                 \
    {"risk.ip_binding", &cf__ft_choice, LVL(risk.ip_binding), .arg = cf__config_ip_bindings,        \
     .doctype = "one of off, prefix16, prefix24, exact", .def = "(global)", .doc = ip_doc},    \
        {"risk.on_ip_change", &cf__ft_choice, LVL(risk.on_ip_change),                               \
         .arg = cf__config_risk_actions, .doctype = "one of ignore, step_up, revoke",          \
         .def = "(global)", .doc = ch_doc},                                                    \
        {"risk.on_device_change", &cf__ft_choice, LVL(risk.on_device_change),                       \
         .arg = cf__config_risk_actions, .doctype = "one of ignore, step_up, revoke",          \
         .def = "(global)", .doc = dev_doc}

static const cf__field_t client_fields[] = {
    {"id", &cf__ft_name, CLIENT(id), .doctype = "string", .def = "(required)",
     .doc = "Client id: 1-127 visible ASCII characters, unique."},
    {"type", &cf__ft_enum, CLIENT(type), .arg = client_types, .always = 1,
     .doctype = "one of public, confidential", .def = "public",
     .doc = "Confidential clients authenticate with a secret (HTTP Basic or "
            "client_secret_post)."},
    {"secret_hash", &cf__ft_secret, CLIENT(secret_hash), .doctype = "string", .def = "(none)",
     .doc = "Required for confidential clients, refused for public ones: "
            "pbkdf2-sha256$ITERATIONS$SALT$HASH as printed by `curfew hash-secret`."},
    {"allowed_grants", &cf__ft_grants, CLIENT(grants), .always = 1,
     .doctype = "list of refresh_token, client_credentials", .def = "[refresh_token]",
     .doc = "Grant types the client may use; client_credentials needs a confidential client."},
    {"scope", &cf__ft_scope, CLIENT(scope), .always = 1, .doctype = "string", .def = "\"\"",
     .doc = "Space-separated scopes a client_credentials token may get."},
    {"session.idle_timeout", &cf__ft_lifetime, CLIENT(limits.idle_timeout),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Idle timeout for this client's sessions; only a shorter value than the global one "
            "counts."},
    {"session.absolute_timeout", &cf__ft_lifetime, CLIENT(limits.absolute_timeout),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Absolute timeout for this client's sessions; only a shorter value counts."},
    {"access_token.ttl", &cf__ft_lifetime, CLIENT(limits.access_ttl), .doctype = "duration, >= 1s",
     .def = "(global)", .doc = "Access-token lifetime for this client; only a shorter value counts."},
    {"cookie", &cf__ft_bool, CLIENT(cookie), .always = 1, .doctype = "bool", .def = "false",
     .doc = "Cookie mode: the refresh token travels only in the refresh cookie (see cookie.*)."},
    RISK_ROWS(CLIENT, "Overrides risk.ip_binding for this client's sessions.",
              "Overrides risk.on_ip_change for this client's sessions.",
              "Overrides risk.on_device_change for this client's sessions."),
};

static const cf__field_t role_fields[] = {
    {"idle_timeout", &cf__ft_lifetime, ROLE(limits.idle_timeout), .doctype = "duration, >= 1s",
     .def = "(global)",
     .doc = "Idle timeout for sessions holding the role; the strictest of all rules wins."},
    {"absolute_timeout", &cf__ft_lifetime, ROLE(limits.absolute_timeout),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Absolute timeout for sessions holding the role; the strictest wins."},
    {"access_ttl", &cf__ft_lifetime, ROLE(limits.access_ttl), .doctype = "duration, >= 1s",
     .def = "(global)",
     .doc = "Access-token lifetime for sessions holding the role; the strictest wins."},
    RISK_ROWS(ROLE, "Applies when stricter than the global or client value.",
              "Applies when stricter (revoke > step_up > ignore).",
              "Applies when stricter (revoke > step_up > ignore)."),
};

#define PATH_ROW(key, kind, def_, doc_)                                                          \
    {key, &cf__ft_path, ROUTE(path), .off2 = offsetof(cf_route_t, path_kind),                        \
     .arg = (const void *)(intptr_t)(kind), .doctype = "string", .def = def_, .doc = doc_}

static const cf__field_t route_fields[] = {
    {"host", &cf__ft_host, ROUTE(host), .doctype = "string", .def = "(any)",
     .doc = "Host to match, case-insensitive, without port."},
    {"methods", &cf__ft_methods, ROUTE(methods),
     .doctype = "list of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE",
     .def = "(any)", .doc = "Methods to match."},
    PATH_ROW("path", CF_PATH_EXACT, "(any)",
             "Exact path to match (query ignored). At most one of path, path_prefix and "
             "path_glob."),
    PATH_ROW("path_prefix", CF_PATH_PREFIX, "(none)", "Path prefix to match (plain string prefix)."),
    PATH_ROW("path_glob", CF_PATH_GLOB, "(none)",
             "Glob to match: `*` is any run without '/', `**` any run including '/'."),
    {"require_roles", &cf__ft_names, ROUTE(require_roles), .off2 = offsetof(cf_route_t, nrequire_roles),
     .doctype = "list of strings", .def = "[]",
     .doc = "The session must hold at least one (403 insufficient_role); each must be defined "
            "under roles: (`name: {}` will do)."},
    {"require_scopes", &cf__ft_names, ROUTE(require_scopes),
     .off2 = offsetof(cf_route_t, nrequire_scopes), .doctype = "list of strings", .def = "[]",
     .doc = "The token must have every one (403 insufficient_scope)."},
    {"max_auth_age", &cf__ft_duration, ROUTE(max_auth_age), .doctype = "duration, > 0",
     .def = "(none)",
     .doc = "Step-up: authentication older than this gets 401 step_up_required with max_age."},
    {"idle_timeout", &cf__ft_duration, ROUTE(idle_timeout), .doctype = "duration, > 0",
     .def = "(none)",
     .doc = "A session idle this long is refused here (401 route_idle_timeout) but lives on."},
    {"anonymous", &cf__ft_bool, ROUTE(anonymous), .doctype = "bool", .def = "false",
     .doc = "Allowed without a token; no other requirement may be set."},
    {"deny", &cf__ft_bool, ROUTE(deny), .doctype = "bool", .def = "false",
     .doc = "Always refused: 403 route_denied."},
};

static const cf__field_t alert_fields[] = {
    {"kind", &cf__ft_alert_kind, ALERT(kind), .always = 1,
     .doctype = "one of refresh_reuse, check_failures_per_ip, check_failures_per_subject, "
                "refresh_rate_per_session, concurrent_sessions_per_subject, idle_timeout_spike",
     .def = "(required)",
     .doc = "What is counted, and per what key (see docs/operations.md, Alerts); refresh_reuse "
            "fires on every reuse."},
    {"threshold", &cf__ft_threshold, ALERT(threshold), .always = 1, .doctype = "integer, 1-1000",
     .def = "1", .doc = "Fires when this many occur for one key within window."},
    {"window", &cf__ft_duration, ALERT(window), .always = 1, .doctype = "duration, > 0", .def = "1m",
     .doc = "The sliding window; after firing, a rule stays quiet for that key for one window."},
    {"action", &cf__ft_alert_action, ALERT(action), .always = 1,
     .doctype = "one of none, revoke_session, revoke_subject, disable_refresh", .def = "none",
     .doc = "Automatic action on firing, for the session or subject the alert names."},
    {"action_duration", &cf__ft_duration, ALERT(action_duration), .doctype = "duration, > 0",
     .def = "15m",
     .doc = "disable_refresh: how long the subject's refreshes are refused (400 "
            "refresh_disabled)."},
};

/* ------------------------------------------------------------------------ */
/* Rules across fields, and where each level's elements live                 */
/* ------------------------------------------------------------------------ */

/* The key node of field @key of element @it at level @fields, or NULL when not given. */
static const yaml_node_t *seen(const cf__item_t *it, const cf__field_t *fields, size_t n,
                               const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].key, key) == 0)
            return it->seen[i];
    return NULL;
}

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NFIELDS(client_fields) <= CF__FIELDS_MAX && NFIELDS(route_fields) <= CF__FIELDS_MAX,
               "raise CF__FIELDS_MAX");

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
    return cf__config_fail_at(ld, at, "%sidle_timeout (%s) must not exceed %sabsolute_timeout (%s)",
                              where, si, where, sa);
}

static void client_init(void *obj)
{
    ((cf_client_t *)obj)->grants = CF_GRANT_REFRESH_TOKEN;
}

/* Type, secret and grants must fit together; ids are unique. */
static int client_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_client_t *all = items;
    cf_client_t *c = it->obj;
    char lw[192];

    (void)snprintf(lw, sizeof lw, "%s.session.", it->where);
    if (limits_agree(ld, it->at, lw, &c->limits) < 0)
        return CF_ECONFIG;
    if (c->scope == NULL && (c->scope = strdup("")) == NULL)
        return cf__config_oom(ld);
    if (c->id == NULL)
        return cf__config_fail_at(ld, it->at, "%s: id is required", it->where);
    for (size_t j = 0; j < i; j++)
        if (strcmp(all[j].id, c->id) == 0)
            return cf__config_fail_at(ld, it->at, "%s: duplicate client id '%s' (first on line %d)",
                                      it->where, c->id, all[j].line);
    if (c->type == CF_CLIENT_CONFIDENTIAL && c->secret_hash == NULL)
        return cf__config_fail_at(ld, seen(it, client_fields, NFIELDS(client_fields), "type"),
                                  "%s: a confidential client needs secret_hash", it->where);
    if (c->type == CF_CLIENT_PUBLIC && c->secret_hash != NULL)
        return cf__config_fail_at(
            ld, seen(it, client_fields, NFIELDS(client_fields), "secret_hash"),
            "%s: secret_hash is only for confidential clients (add type: confidential)",
            it->where);
    if ((c->grants & CF_GRANT_CLIENT_CREDENTIALS) && c->type != CF_CLIENT_CONFIDENTIAL)
        return cf__config_fail_at(ld, seen(it, client_fields, NFIELDS(client_fields),
                                           "allowed_grants"),
                                  "%s: client_credentials needs a confidential client", it->where);
    if (c->grants == 0)
        return cf__config_fail_at(ld, seen(it, client_fields, NFIELDS(client_fields),
                                           "allowed_grants"),
                                  "%s.allowed_grants: must not be empty", it->where);
    return 0;
}

static int role_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    char lw[192];

    (void)items;
    (void)i;
    (void)snprintf(lw, sizeof lw, "%s.", it->where);
    return limits_agree(ld, it->at, lw, &((cf_role_t *)it->obj)->limits);
}

static int route_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_route_t *r = it->obj;

    (void)items;
    (void)i;
    if (r->anonymous && r->deny)
        return cf__config_fail_at(ld, it->at, "%s: anonymous and deny cannot both be true",
                                  it->where);
    if (r->anonymous && (r->nrequire_roles > 0 || r->nrequire_scopes > 0 || r->max_auth_age > 0 ||
                         r->idle_timeout > 0))
        return cf__config_fail_at(ld, it->at,
                                  "%s: an anonymous route looks at no token, so it cannot "
                                  "require roles, scopes, max_auth_age or idle_timeout",
                                  it->where);
    return 0;
}

static void alert_init(void *obj)
{
    cf_alert_rule_t *r = obj;

    r->kind = CF_ALERT__COUNT; /* required: caught by alert_check() */
    r->threshold = 1;
    r->window = CF_MIN;
    r->action = CF_ALERT_ACT_NONE;
}

static int alert_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    cf_alert_rule_t *r = it->obj;

    (void)items;
    (void)i;
    if (r->kind == CF_ALERT__COUNT)
        return cf__config_fail_at(ld, it->at, "%s: kind is required", it->where);
    if (r->action == CF_ALERT_ACT_REVOKE_SESSION && r->kind != CF_ALERT_REFRESH_REUSE &&
        r->kind != CF_ALERT_REFRESH_RATE_PER_SESSION)
        return cf__config_fail_at(ld, it->at,
                                  "%s: revoke_session needs a per-session rule "
                                  "(refresh_reuse or refresh_rate_per_session)",
                                  it->where);
    if ((r->action == CF_ALERT_ACT_REVOKE_SUBJECT || r->action == CF_ALERT_ACT_DISABLE_REFRESH) &&
        (r->kind == CF_ALERT_CHECK_FAILURES_PER_IP || r->kind == CF_ALERT_IDLE_TIMEOUT_SPIKE))
        return cf__config_fail_at(ld, it->at, "%s: %s needs a rule that names a subject",
                                  it->where, cf_alert_action_name(r->action));
    if (r->action == CF_ALERT_ACT_DISABLE_REFRESH && r->action_duration == 0)
        r->action_duration = 15 * CF_MIN;
    return 0;
}

/*
 * Installing and discarding go through a scratch policy, so that
 * cf_policy_fini() stays the one place that knows what a client, role or
 * route owns.
 */
#define POLICY_PART(part, type)                                                                  \
    static void part##_install(cf_config_t *cfg, void *items, size_t n)                        \
    {                                                                                           \
        cf_policy_t old = {0};                                                                  \
        old.part = cfg->policy.part;                                                            \
        old.n##part = cfg->policy.n##part;                                                      \
        cf_policy_fini(&old);                                                                   \
        cfg->policy.part = items;                                                               \
        cfg->policy.n##part = n;                                                                \
    }                                                                                           \
    static void part##_discard(void *items, size_t n)                                          \
    {                                                                                           \
        cf_policy_t p = {0};                                                                    \
        p.part = items;                                                                         \
        p.n##part = n;                                                                          \
        cf_policy_fini(&p);                                                                     \
    }                                                                                           \
    static const void *part##_get(const cf_config_t *cfg, size_t *n)                           \
    {                                                                                           \
        *n = cfg->policy.n##part;                                                               \
        return cfg->policy.part;                                                                \
    }

POLICY_PART(clients, cf_client_t)
POLICY_PART(roles, cf_role_t)
POLICY_PART(routes, cf_route_t)

static void alerts_install(cf_config_t *cfg, void *items, size_t n)
{
    if (n > 0)
        memcpy(cfg->alert_rules, items, n * sizeof cfg->alert_rules[0]);
    cfg->nalert_rules = n;
    free(items);
}

static void alerts_discard(void *items, size_t n)
{
    (void)n;
    free(items); /* rules own no memory */
}

static const void *alerts_get(const cf_config_t *cfg, size_t *n)
{
    *n = cfg->nalert_rules;
    return cfg->alert_rules;
}

static const cf__level_t levels[] = {
    {.kind = OPT_CLIENTS, .name = "clients", .doc_prefix = "clients[].", .expect = "a list",
     .fields = client_fields, .nfields = NFIELDS(client_fields), .size = sizeof(cf_client_t),
     .line_off = offsetof(cf_client_t, line), .empty = " []", .init = client_init,
     .check = client_check, .install = clients_install, .discard = clients_discard,
     .get = clients_get},
    {.kind = OPT_ROLES, .name = "roles", .doc_prefix = "roles.NAME.", .fields = role_fields,
     .nfields = NFIELDS(role_fields), .expect = "a mapping of role names", .named = 1,
     .name_what = "a role name", .name_ok = cf__config_name_ok, .size = sizeof(cf_role_t),
     .name_off = offsetof(cf_role_t, name), .line_off = offsetof(cf_role_t, line), .empty = " {}",
     .check = role_check, .install = roles_install, .discard = roles_discard, .get = roles_get},
    {.kind = OPT_ROUTES, .name = "routes", .doc_prefix = "routes[].", .expect = "a list",
     .fields = route_fields,
     .nfields = NFIELDS(route_fields), .size = sizeof(cf_route_t),
     .line_off = offsetof(cf_route_t, line), .empty = " []", .check = route_check,
     .install = routes_install, .discard = routes_discard, .get = routes_get},
    {.kind = OPT_ALERT_RULES, .name = "alerts.rules", .doc_prefix = "alerts.rules[].",
     .expect = "a list",
     .fields = alert_fields, .nfields = NFIELDS(alert_fields), .size = sizeof(cf_alert_rule_t),
     .line_off = offsetof(cf_alert_rule_t, line), .max = CF_CONFIG_ALERT_RULES_MAX,
     .empty = " []", .init = alert_init, .check = alert_check, .install = alerts_install,
     .discard = alerts_discard, .get = alerts_get},
};

const cf__level_t *cf__config_level(opt_kind_t kind)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].kind == kind)
            return &levels[i];
    return NULL;
}
