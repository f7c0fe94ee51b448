/* SPDX-License-Identifier: MIT
 *
 * Policy: which lifetimes, risk rules and route requirements apply to a
 * request. Holds the configured clients, roles and routes as plain data and
 * makes three decisions from them: the effective limits of a session (the
 * strictest of every rule that applies, and which rule that was), the first
 * route a request matches, and what that route says about the request.
 *
 * Everything here is pure: no I/O, no clock, no logging. The config loader
 * builds a cf_policy_t; the shell asks it questions on the hot path, so
 * matching allocates nothing and touches only precomputed lengths. Never
 * loosen: a request, a client or a role can only make lifetimes shorter.
 */
#ifndef CF_CORE_POLICY_H
#define CF_CORE_POLICY_H

#include <stddef.h>

#include "core/clock.h"
#include "core/reason.h"
#include "core/session.h"

/* IP binding, ordered weakest to strictest (compare with <). */
typedef enum {
    CF_IPBIND_UNSET = 0,
    CF_IPBIND_OFF,
    CF_IPBIND_PREFIX16, /* IPv4 /16, IPv6 /48 */
    CF_IPBIND_PREFIX24, /* IPv4 /24, IPv6 /64 */
    CF_IPBIND_EXACT,
} cf_ip_binding_t;

/* What to do when the address or device of a session changes; ordered. */
typedef enum {
    CF_RISK_UNSET = 0,
    CF_RISK_IGNORE,
    CF_RISK_STEP_UP,
    CF_RISK_REVOKE,
} cf_risk_action_t;

/** Risk rules; a field left CF_*_UNSET does not override anything. */
typedef struct {
    cf_ip_binding_t ip_binding;
    cf_risk_action_t on_ip_change, on_device_change;
} cf_risk_policy_t;

/* Grant types a client may use (cf_client_t.grants). */
#define CF_GRANT_REFRESH_TOKEN 1u
#define CF_GRANT_CLIENT_CREDENTIALS 2u

typedef enum { CF_CLIENT_PUBLIC, CF_CLIENT_CONFIDENTIAL } cf_client_type_t;

/** How a confidential client authenticates (token_endpoint_auth_method; RFC 6749, RFC 8705 §2). */
typedef enum {
    CF_CLIENT_AUTH_SECRET_BASIC, /* a secret, in HTTP Basic or the form: either is accepted */
    CF_CLIENT_AUTH_SECRET_POST,  /* the same; the RFC 7591 name of the form variant */
    CF_CLIENT_AUTH_TLS,          /* a CA-issued certificate with the registered DN or SAN */
    CF_CLIENT_AUTH_SELF_SIGNED,  /* the registered certificate itself, by thumbprint */
} cf_client_auth_method_t;

/** One configured client. Strings are owned by the policy. */
typedef struct {
    char *id;
    cf_client_type_t type;
    char *secret_hash; /* "pbkdf2-sha256$..." for confidential clients, else NULL */
    unsigned grants;   /* CF_GRANT_* bits */
    char *scope;       /* space separated, "" when none; never NULL once loaded */
    cf_limits_t limits; /* 0 = unset */
    cf_risk_policy_t risk;
    cf_time_t apikey_max_lifetime; /* api_key_max_lifetime; 0 = unset */
    int cookie; /* cookie mode */
    char **origins;  /* allowed_origins: CORS origins of its browser app, canonical */
    size_t norigins;
    int auth_method; /* cf_client_auth_method_t */
    /* tls_client_auth: the registered subject DN (RFC 4514) or SAN, NULL unset; exactly one set */
    char *tls_dn, *tls_san_dns, *tls_san_uri, *tls_san_ip, *tls_san_email;
    char *tls_x5t; /* self_signed_tls_client_auth: x5t#S256 of the registered certificate */
    int line;   /* where it was configured, for messages and explain */
} cf_client_t;

/** One configured role. */
typedef struct {
    char *name;
    cf_limits_t limits; /* 0 = unset */
    cf_time_t apikey_max_lifetime; /* api_key_max_lifetime; 0 = unset */
    cf_risk_policy_t risk;
    int line;
} cf_role_t;

/* HTTP methods a route matches (cf_route_t.methods); 0 means any. */
#define CF_METHOD_GET (1u << 0)
#define CF_METHOD_HEAD (1u << 1)
#define CF_METHOD_POST (1u << 2)
#define CF_METHOD_PUT (1u << 3)
#define CF_METHOD_PATCH (1u << 4)
#define CF_METHOD_DELETE (1u << 5)
#define CF_METHOD_OPTIONS (1u << 6)
#define CF_METHOD_CONNECT (1u << 7)
#define CF_METHOD_TRACE (1u << 8)

/* A route's `activity`: polling and background sync are decided but keep nothing alive. */
typedef enum { CF_ACTIVITY_COUNTS, CF_ACTIVITY_NONE } cf_route_activity_t;

typedef enum { CF_PATH_ANY, CF_PATH_EXACT, CF_PATH_PREFIX, CF_PATH_GLOB } cf_path_kind_t;

/** Longest route path or glob; a longer glob never matches. */
#define CF_POLICY_PATH_MAX 1024

/**
 * One route rule. Strings and arrays are owned by the policy. host_len and
 * path_len are derived: cf_policy_prepare() fills them, and cf_policy_match()
 * relies on them.
 */
typedef struct {
    char *host;       /* NULL = any host; compared case-insensitively, without port */
    unsigned methods; /* CF_METHOD_* bits, 0 = any */
    cf_path_kind_t path_kind;
    char *path; /* NULL when path_kind is CF_PATH_ANY */
    char **require_roles;
    size_t nrequire_roles;
    char **require_scopes;
    size_t nrequire_scopes;
    cf_time_t max_auth_age, idle_timeout; /* 0 = none */
    int anonymous, deny;
    int activity; /* cf_route_activity_t: do allowed requests here extend the idle deadline? */
    int line;
    size_t host_len, path_len; /* derived, see cf_policy_prepare() */
} cf_route_t;

/** The whole policy. Arrays are owned; cf_policy_fini() frees them. */
typedef struct {
    cf_client_t *clients;
    size_t nclients;
    cf_role_t *roles;
    size_t nroles;
    cf_route_t *routes;
    size_t nroutes;
    cf_risk_policy_t risk; /* global, from the `risk:` section */
} cf_policy_t;

/** Free everything @p owns and zero it. Safe on a zeroed policy and on NULL. */
void cf_policy_fini(cf_policy_t *p);

/**
 * Deep-copy @src into @dst (which is overwritten, not freed first). Returns
 * 0, or CF_ENOMEM with @dst zeroed (nothing leaks).
 */
int cf_policy_copy(cf_policy_t *dst, const cf_policy_t *src);

/**
 * Fill the derived fields (route host and path lengths) from the strings.
 * Call after building or changing the policy, before matching. Never fails.
 */
void cf_policy_prepare(cf_policy_t *p);

/** The client with id @id, or NULL. Borrowed from @p. */
const cf_client_t *cf_policy_client(const cf_policy_t *p, const char *id);

/** The role named by @len bytes at @name, or NULL. Borrowed from @p. */
const cf_role_t *cf_policy_role(const cf_policy_t *p, const char *name, size_t len);

/** The CF_METHOD_* bit of the @len-byte method @name (case-sensitive, RFC 9110); 0 if unknown. */
unsigned cf_method_bit(const char *name, size_t len);

/** The wire name of the single CF_METHOD_* bit @bit ("GET", ...), or NULL. */
const char *cf_method_name(unsigned bit);

/** Wire names of risk values ("exact", "step_up", ...); "unset" for UNSET, never NULL. */
const char *cf_ip_binding_name(cf_ip_binding_t b);
const char *cf_risk_action_name(cf_risk_action_t a);

/** Effective limits and risk of a session, each with the rule it came from. */
typedef struct {
    cf_limits_t limits;
    cf_risk_policy_t risk; /* never UNSET */
    char idle_from[80], absolute_from[80], access_from[80];
    char ip_binding_from[80], on_ip_change_from[80], on_device_change_from[80];
} cf_effective_t;

/**
 * Effective limits and risk for a session of @client (may be NULL) holding
 * the comma-separated @roles_csv (NULL or "" for none), asking for
 * @requested (may be NULL; 0 fields = not asked).
 *
 * Limits: the strictest of @global ("session.idle_timeout",
 * "session.absolute_timeout", "access_token.ttl"), the client's ("client
 * ID"), every configured role held ("role NAME"; unknown roles contribute
 * nothing) and the request ("request"), field by field; the access TTL is
 * held to @max_access_ttl ("access_token.max_ttl", when > 0), and the idle
 * timeout never exceeds the absolute one (it then names the absolute's rule).
 * On a tie the earlier rule keeps the credit.
 *
 * Risk: built-in "default" (ip_binding off, both actions revoke), then the
 * global risk ("risk (global)") where set, then the client's where set (may
 * loosen), then each role's where stricter. Pure; never fails.
 */
void cf_policy_resolve(const cf_policy_t *p, const cf_limits_t *global, cf_time_t max_access_ttl,
                       const cf_client_t *client, const char *roles_csv,
                       const cf_limits_t *requested, cf_effective_t *out);

/**
 * The first route of @p that matches the request, or NULL. @host (may be
 * NULL/empty = unknown; then only host-less routes match) is compared
 * case-insensitively with any ":port" ignored; @method exactly (an unknown
 * method matches only routes without methods); @path up to any '?'. When a
 * route matches and @index is not NULL, *@index is its position. Requires
 * cf_policy_prepare(); allocates nothing; linear in the number of routes,
 * and a glob costs O(path * pattern) at worst, never exponential.
 * @path must be what cf_path_normalize() made of the client's path: rules
 * compare strings, so a raw `/public/../admin` would match `/public/`.
 */
const cf_route_t *cf_policy_match(const cf_policy_t *p, const char *host, size_t hlen,
                                  const char *method, size_t mlen, const char *path, size_t plen,
                                  size_t *index);

/**
 * Does glob @pat (@m bytes) match all of @s (@n bytes)? '*' matches any run
 * without '/', '**' any run including '/', everything else itself. Usually
 * O(n + m), never worse than O(n * m); patterns longer than
 * CF_POLICY_PATH_MAX never match. Pure.
 */
int cf_glob_match(const char *pat, size_t m, const char *s, size_t n);

typedef enum {
    CF_ROUTE_PASS,      /* the route has nothing against the request */
    CF_ROUTE_ANONYMOUS, /* allowed without looking at any token */
    CF_ROUTE_DENY,      /* closed: 403 route_denied */
    CF_ROUTE_FORBIDDEN, /* missing role or scope: 403 */
    CF_ROUTE_STEP_UP,   /* authentication too old: 401 RFC 9470 challenge */
    CF_ROUTE_IDLE,      /* idle too long for this route: 401, session lives */
} cf_route_verdict_t;

/**
 * What route @r (NULL = no route) says about a request by a session holding
 * @roles_csv (comma separated) and a token with @scope (space separated),
 * authenticated at @auth_time, last active at @last_activity, at @now.
 *
 * In order: deny -> DENY (ROUTE_DENIED); anonymous -> ANONYMOUS; none of the
 * required roles held -> FORBIDDEN (INSUFFICIENT_ROLE); any required scope
 * missing -> FORBIDDEN (INSUFFICIENT_SCOPE); now - auth_time >= max_auth_age
 * -> STEP_UP (STEP_UP_REQUIRED); now - last_activity >= idle_timeout -> IDLE
 * (ROUTE_IDLE_TIMEOUT); else PASS. *@why (if not NULL) gets the reason,
 * CF_REASON_NONE for PASS and ANONYMOUS. NULL strings mean none. Pure.
 */
cf_route_verdict_t cf_route_decide(const cf_route_t *r, const char *roles_csv, const char *scope,
                                   cf_time_t auth_time, cf_time_t last_activity, cf_time_t now,
                                   cf_reason_t *why);

/**
 * Human-readable explanation for `curfew policy explain`: the effective
 * limits and risk for @client_id (NULL = no client) and @roles_csv, each with
 * its rule, then the first route matching @host (may be NULL), @method and
 * @path (the matching "routes[i] (line N)" with its requirements, or "no
 * route matches"). Arguments as for cf_policy_resolve() and
 * cf_policy_match(), strings NUL-terminated.
 *
 * Returns 0 with *@out a malloc'd NUL-terminated text the caller frees;
 * CF_ENOENT if @client_id names no configured client; CF_ENOMEM. On error
 * *@out is NULL.
 */
int cf_policy_explain(const cf_policy_t *p, const cf_limits_t *global, cf_time_t max_access_ttl,
                      const char *client_id, const char *roles_csv, const char *host,
                      const char *method, const char *path, char **out);

#endif
