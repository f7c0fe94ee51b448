/* SPDX-License-Identifier: MIT
 *
 * The one option table: one row per option of the file at every level
 * (the root, and the elements of clients[], roles.NAME, routes[] and
 * alerts.rules[]), each naming its level, key path, type, default spelled
 * as in the file, place in the level's struct and one sentence of docs, in
 * the manner of nginx's command table. Defaults, parsing, command-line
 * overrides, the dump and docs/configuration.md are all generated from it
 * (config.c, walk.c, dump.c), so they cannot drift. Data and lookups only:
 * it parses nothing and calls into no other file of the module.
 */
#include <stddef.h>
#include <string.h>

#include "config/sections.h"
#include "core/alert.h"
#include "core/policy.h"

/* ------------------------------------------------------------------------ */
/* The option table                                                          */
/* ------------------------------------------------------------------------ */

#define FIELD(f) .off = offsetof(cf_config_t, f), .size = sizeof(((cf_config_t *)0)->f)

#define LIST(f, n) FIELD(f), .off2 = offsetof(cf_config_t, n)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};
static const char *const tls_client_modes[] = {"off", "optional", "required", NULL};
static const char *const partition_modes[] = {"refuse", "revalidate", NULL};
/* Stored as index + 1: the order matches cf_ip_binding_t and cf_risk_action_t. */
const char *const cf__config_ip_bindings[] = {"off", "prefix16", "prefix24", "exact", NULL};
const char *const cf__config_risk_actions[] = {"ignore", "step_up", "revoke", NULL};
static const char *const rl_keys[] = {"ip", "sub", "client_id", "session", "api_key", NULL};

/* One rate-limit class: rate, burst and key rows under rate_limits.NAME. */
#define RATE_ROWS(name, f, keydef, what)                                                         \
    {.key = "rate_limits." name ".rate", .kind = OPT_RATE, .def = "off", FIELD(f),              \
     .doc = "Rate limit of " what ", N/DURATION (10/1m is ten a minute); off = unlimited."},   \
        {.key = "rate_limits." name ".burst", .kind = OPT_I64, .def = "1", FIELD(f.burst),     \
         .min = 1, .max = 1000000000,                                                          \
         .doc = "How many " what " may come at once before the steady rate applies."},                \
        {.key = "rate_limits." name ".key", .kind = OPT_KEYS, .def = keydef, FIELD(f.keys),    \
         .choices = rl_keys,                                                                   \
         .doc = "What " what " are counted by; each combination of values has its own limit."}

static const char *const client_types[] = {"public", "confidential", NULL};
/* The order of cf_client_auth_method_t. */
static const char *const client_auth_methods[] = {"client_secret_basic", "client_secret_post",
                                                  "tls_client_auth", "self_signed_tls_client_auth",
                                                  NULL};
static const char *const route_activity[] = {"counts", "none", NULL};

#define CLIENT(f) .level = LVL_CLIENT, .off = offsetof(cf_client_t, f)
#define ROLE(f) .level = LVL_ROLE, .off = offsetof(cf_role_t, f)
#define ROUTE(f) .level = LVL_ROUTE, .off = offsetof(cf_route_t, f)
#define ALERT(f) .level = LVL_ALERT, .off = offsetof(cf_alert_rule_t, f)
#define PLISTEN(f) .level = LVL_PLISTEN, .off = offsetof(cf_proxy_listener_t, f)
#define UPSTREAM(f) .level = LVL_UPSTREAM, .off = offsetof(cf_proxy_upstream_t, f)
#define PROUTE(f) .level = LVL_PROUTE, .off = offsetof(cf_proxy_route_t, f)

static const char *const proxy_authorization[] = {"forward", "strip", NULL};
static const char *const proxy_activity[] = {"client", "any", "none", NULL};

/* The risk block, the same at the client and role levels. */
#define RISK_ROWS(LVL, ip_doc, ch_doc, dev_doc)                                                 \
    {.key = "risk.ip_binding", .kind = OPT_SCHOICE, LVL(risk.ip_binding), .choices = cf__config_ip_bindings,        \
     .doctype = "one of off, prefix16, prefix24, exact", .def = "(global)", .doc = ip_doc},    \
        {.key = "risk.on_ip_change", .kind = OPT_SCHOICE, LVL(risk.on_ip_change),                               \
         .choices = cf__config_risk_actions, .doctype = "one of ignore, step_up, revoke",          \
         .def = "(global)", .doc = ch_doc},                                                    \
        {.key = "risk.on_device_change", .kind = OPT_SCHOICE, LVL(risk.on_device_change),                       \
         .choices = cf__config_risk_actions, .doctype = "one of ignore, step_up, revoke",          \
         .def = "(global)", .doc = dev_doc}

/*
 * Options of one section must be adjacent: cf_config_dump() opens a section
 * when the prefix changes and would otherwise write it twice.
 */
const option_t cf__config_options[] = {
    {.key = "listen", .kind = OPT_ADDR, .def = "127.0.0.1:7070", FIELD(listen_host),
     .off2 = offsetof(cf_config_t, listen_port),
     .doc = "Address the HTTP API listens on, HOST:PORT; IPv6 as [::1]:7070."},
    {.key = "tls.cert", .kind = OPT_STRING, .def = "", FIELD(tls_cert),
     .doc = "PEM certificate chain (leaf first) of the API listener; set with tls.key to serve "
            "HTTPS (TLS 1.2 and 1.3 only); empty = plain HTTP. Re-read on SIGHUP."},
    {.key = "tls.key", .kind = OPT_STRING, .def = "", FIELD(tls_key),
     .doc = "PEM private key of tls.cert; re-read on SIGHUP."},
    {.key = "tls.client_ca", .kind = OPT_STRING, .def = "", FIELD(tls_client_ca),
     .doc = "PEM CA certificates client certificates are checked against (tls_client_auth by "
            "subject DN needs a certificate that chains to one of them)."},
    {.key = "tls.min_version", .kind = OPT_ENUM, .def = "1.2", FIELD(tls_min_version),
     .choices = tls_versions, .doc = "Oldest TLS version accepted."},
    {.key = "tls.client_certs", .kind = OPT_ENUM, .def = "off", FIELD(tls_client_certs),
     .choices = tls_client_modes,
     .doc = "Whether the listener asks clients for a certificate (RFC 8705 mutual TLS): off, "
            "optional (served without one) or required (the handshake fails without one). A chain "
            "of more than 10 certificates or 32 KiB fails the handshake."},
    {.key = "mtls.client_ca", .kind = OPT_STRING, .def = "", FIELD(mtls_client_ca),
     .doc = "PEM CA certificates a client certificate forwarded by a trusted proxy "
            "(risk.trusted_proxies, X-SSL-Client-Cert) must chain to for tls_client_auth; "
            "empty = tls.client_ca. Re-read on SIGHUP."},
    {.key = "issuer", .kind = OPT_STRING, .def = "http://127.0.0.1:7070", FIELD(issuer), .min = 1,
     .doc = "Value of the iss claim in issued tokens and the one required in presented tokens."},
    {.key = "audience", .kind = OPT_STRING, .def = "curfew", FIELD(audience), .min = 1,
     .doc = "Value of the aud claim in issued tokens and the one required in presented tokens."},
    {.key = "data_dir", .kind = OPT_STRING, .def = "./data", FIELD(data_dir), .min = 1,
     .doc = "Directory for the SQLite database and the signing keys; created if missing."},
    {.key = "log_level", .kind = OPT_ENUM, .def = "info", FIELD(log_level), .choices = log_levels,
     .doc = "Least severe diagnostic log level written to stderr."},
    {.key = "clock_leeway", .kind = OPT_DURATION, .def = "30s", FIELD(clock_leeway),
     .doc = "Clock skew tolerated when checking the exp, nbf and iat claims of presented tokens."},

    {.key = "clock_step_hold", .kind = OPT_DURATION, .def = "5m", FIELD(clock_step_hold), .min = 1,
     .doc = "After the wall clock jumps forward by more than 5s, sessions its new time alone has "
            "expired are refused but not ended for good until the jump has lasted this long "
            "(see Clock steps in operations.md)."},
    {.key = "access_token.ttl", .kind = OPT_DURATION, .def = "10m", FIELD(access_ttl), .min = CF_SEC,
     .doc = "Lifetime of an access token unless a client asks for less."},
    {.key = "access_token.max_ttl", .kind = OPT_DURATION, .def = "15m", FIELD(access_max_ttl),
     .min = CF_SEC, .doc = "Longest access-token lifetime any client or per-session limit may ask for."},

    {.key = "session.idle_timeout", .kind = OPT_DURATION, .def = "30m", FIELD(idle_timeout),
     .min = CF_SEC, .doc = "A session ends after this long without activity."},
    {.key = "session.absolute_timeout", .kind = OPT_DURATION, .def = "12h",
     FIELD(absolute_timeout), .min = CF_SEC,
     .doc = "A session ends this long after it started, however active it is."},

    {.key = "refresh_token.reuse_grace", .kind = OPT_DURATION, .def = "0s", FIELD(reuse_grace),
     .doc = "How long a just-rotated refresh token may be presented again (racing retries) "
            "before reuse revokes the session; 0s allows no reuse."},
    {.key = "dpop.window", .kind = OPT_DURATION, .def = "60s", FIELD(dpop_window), .min = CF_SEC,
     .max = 3600 * CF_SEC,
     .doc = "How old a DPoP proof's iat may be (RFC 9449 §11.1); clock_leeway is allowed ahead. "
            "Its jti is remembered for one to two spans of the window + clock_leeway; a proof "
            "whose iat is before the server started is refused."},
    {.key = "dpop.replay_cache", .kind = OPT_UINT, .def = "1500000", FIELD(dpop_replay_cache),
     .min = 16, .max = 10000000,
     .doc = "DPoP proof jtis remembered per dpop.window: size it to the peak rate of new proofs "
            "x the window (the default: 25,000/s over 60s). The table is scaled to the window + "
            "clock_leeway (at most 10,000,000): 24 B each (54 MB by default), taken as proofs "
            "arrive. When full, replays are still refused and new proofs are refused "
            "(dpop_invalid, counted in curfew_dpop_replay_cache_full_total, logged once per "
            "window) until the window turns. Restart to change."},
    {.key = "dpop.nonce", .kind = OPT_BOOL, .def = "false", FIELD(dpop_nonce),
     .doc = "Require server-provided nonces in DPoP proofs (RFC 9449 §8-9): a proof without the "
            "current one is refused with use_dpop_nonce and a DPoP-Nonce header; nonces change "
            "every dpop.window."},
    {.key = "verify_threads", .kind = OPT_AUTO, .def = "auto", FIELD(verify_threads), .max = 256,
     .doctype = "auto or integer, 0 to 256",
     .doc = "Threads that verify DPoP proof signatures while the event loop serves other "
            "requests; auto = the CPUs curfew may use, 0 = verify on the loop thread. Past 256 "
            "proofs waiting per thread, the loop verifies the next ones itself (back-pressure, "
            "never a refusal), counted in curfew_dpop_verify_inline_total. Restart to change."},

    {.key = "limits.max_connections", .kind = OPT_UINT, .def = "10000", FIELD(max_connections),
     .min = 1, .max = 1000000, .doc = "Open client connections above this are refused."},
    {.key = "limits.client_timeout", .kind = OPT_DURATION, .def = "30s", FIELD(client_timeout),
     .min = 1, .doc = "A connection idle between requests, or sending a request slowly, is "
                      "closed after this long; on TLS, the handshake and each TLS record begun "
                      "must also arrive whole within it."},
    {.key = "limits.max_header_bytes", .kind = OPT_UINT, .def = "8192", FIELD(max_header_bytes),
     .min = 1, .max = 1024 * 1024, .doc = "Largest request line plus headers accepted, in bytes."},
    {.key = "limits.max_body_bytes", .kind = OPT_UINT, .def = "16384", FIELD(max_body_bytes),
     .min = 1, .max = 64 * 1024 * 1024, .doc = "Largest request body accepted, in bytes."},

    {.key = "store.url", .kind = OPT_STORE, .def = "sqlite", FIELD(store_url),
     .doc = "Where sessions live: sqlite (a file in data_dir, one node) or "
            "redis://[:PASSWORD@]HOST[:PORT][/DB], shared by every node of a cluster."},
    {.key = "store.activity_flush", .kind = OPT_DURATION, .def = "1s", FIELD(activity_flush),
     .min = 1, .doc = "How often last-activity times, kept in memory, are written to the store."},
    {.key = "store.purge_interval", .kind = OPT_DURATION, .def = "60s", FIELD(purge_interval),
     .min = 1, .doc = "How often ended and expired sessions are purged from the store."},
    {.key = "store.purge_after", .kind = OPT_DURATION, .def = "1h", FIELD(purge_after),
     .doc = "Ended sessions are kept this long before purging, so their end reason stays "
            "visible."},

    {.key = "check.cache_max_age", .kind = OPT_DURATION, .def = "0s", FIELD(check_cache_max_age),
     .max = 60 * CF_SEC,
     .doc = "Let a proxy cache an allowed /v1/check this long (whole seconds; Cache-Control: "
            "private, max-age and X-Accel-Expires), never past the token's, idle or absolute "
            "deadline; a revocation then takes effect through the cache within this bound. "
            "Allows decided by a DPoP proof or a client certificate are never cacheable. "
            "0s = every answer is Cache-Control: no-store. Reloadable."},
    {.key = "cluster.max_staleness", .kind = OPT_DURATION, .def = "2s", FIELD(max_staleness),
     .min = 1, .doc = "With Redis: a node that has not heard the bus (heartbeats included) for "
                      "this long refuses checks with 503 store_unavailable until it has "
                      "resynchronised."},
    {.key = "cluster.on_partition", .kind = OPT_ENUM, .def = "refuse", FIELD(on_partition),
     .choices = partition_modes,
     .doc = "What a stale node does with a check: refuse (503 store_unavailable), or "
            "revalidate the session against Redis when Redis still answers."},

    {.key = "clients", .kind = OPT_SECTION, .tag = LVL_CLIENT, .def = "[]",
     .doctype = "list of clients",
     .doc = "OAuth clients, a list (fields below); when set, unknown client ids are refused."},
    {.key = "roles", .kind = OPT_SECTION, .tag = LVL_ROLE, .def = "{}",
     .doctype = "mapping of roles",
     .doc = "Role name -> stricter lifetimes and risk rules for sessions holding that role."},
    {.key = "routes", .kind = OPT_SECTION, .tag = LVL_ROUTE, .def = "[]",
     .doctype = "list of routes",
     .doc = "Ordered route rules checked on /v1/check, first match wins; a request matching "
            "none is allowed by session rules only."},

    {.key = "risk.ip_binding", .kind = OPT_CHOICE, .def = "off", FIELD(policy.risk.ip_binding),
     .choices = cf__config_ip_bindings,
     .doc = "How much of the session's creation address a request must share "
            "(IPv4 /32, /24, /16; IPv6 /128, /64, /48)."},
    {.key = "risk.on_ip_change", .kind = OPT_CHOICE, .def = "revoke",
     FIELD(policy.risk.on_ip_change), .choices = cf__config_risk_actions,
     .doc = "What a request from outside the bound address gets: revoke ends the session, "
            "step_up asks for a fresh login, ignore allows it."},
    {.key = "risk.on_device_change", .kind = OPT_CHOICE, .def = "revoke",
     FIELD(policy.risk.on_device_change), .choices = cf__config_risk_actions,
     .doc = "What a request from another device gets (only when a device is known)."},
    {.key = "risk.trusted_proxies", .kind = OPT_CIDRLIST, .def = "",
     LIST(trusted_proxies, ntrusted),
     .doc = "Peers (CIDRs) whose X-Forwarded-For / X-Real-IP headers are believed; "
            "empty trusts nobody."},
    {.key = "risk.device_header", .kind = OPT_STRING, .def = "", FIELD(device_header),
     .doc = "Header carrying a device id (e.g. X-Device-Id); empty = use device_headers."},
    {.key = "risk.device_headers", .kind = OPT_STRLIST, .def = "",
     LIST(device_headers, ndevice_headers),
     .doc = "Headers hashed (SHA-256) into a device id when device_header is empty; "
            "empty = no device binding."},

    RATE_ROWS("refresh", rl_refresh, "ip", "refresh requests"),
    RATE_ROWS("session_create", rl_session_create, "api_key", "session creations"),
    RATE_ROWS("check_failures", rl_check_failures, "ip", "refused checks"),
    RATE_ROWS("client_credentials", rl_client_credentials, "client_id",
              "client_credentials grants"),
    {.key = "rate_limits.max_keys", .kind = OPT_UINT, .def = "100000", FIELD(rl_max_keys),
     .min = 1, .max = 100000000,
     .doc = "Most keys tracked per rate-limit class; the least recently used is evicted."},

    {.key = "lockout.max_failures", .kind = OPT_I64, .def = "0", FIELD(lockout_max_failures),
     .max = 1000000000,
     .doc = "Failed refreshes or checks from one IP within lockout.window that lock it out; "
            "0 = lockout off."},
    {.key = "lockout.window", .kind = OPT_DURATION, .def = "1m", FIELD(lockout_window), .min = 1,
     .doc = "Window in which lockout.max_failures failures are counted."},
    {.key = "lockout.duration", .kind = OPT_DURATION, .def = "5m", FIELD(lockout_duration),
     .min = 1, .doc = "How long a locked-out IP gets 429 locked_out."},

    {.key = "cookie.access_cookie", .kind = OPT_STRING, .def = "__Host-curfew_at",
     FIELD(access_cookie), .min = 1,
     .doc = "Cookie /v1/check and /v1/logout read the access token from when there is no "
            "Authorization header, and cookie-mode clients receive it in (Path=/, Secure, "
            "HttpOnly, SameSite=Strict)."},
    {.key = "cookie.refresh_cookie", .kind = OPT_STRING, .def = "__Host-curfew_rt",
     FIELD(refresh_cookie), .min = 1,
     .doc = "Cookie carrying the refresh token of cookie-mode clients (Path=/, Secure, "
            "HttpOnly, SameSite=Strict)."},
    {.key = "cookie.allowed_origins", .kind = OPT_STRLIST, .def = "",
     LIST(allowed_origins, nallowed_origins),
     .doc = "Origin values (https://app.example.com) accepted on state-changing cookie "
            "requests."},
    {.key = "cookie.csrf_header", .kind = OPT_STRING, .def = "X-CSRF", FIELD(csrf_header),
     .min = 1, .doc = "A state-changing cookie request carrying this header (any non-empty "
                      "value) is accepted without a matching Origin."},

    {.key = "cors.allowed_origins", .kind = OPT_STRLIST, .def = "",
     LIST(cors_origins, ncors_origins),
     .doc = "Origins (https://app.example.com) whose browser scripts may call /oauth/token, "
            "/oauth/revoke and /v1/logout: their preflight (OPTIONS) is answered 204 and their "
            "answers carry Access-Control-Allow-Origin, whatever the client. Compared on scheme, "
            "host and port; an origin in neither this list nor any clients[].allowed_origins "
            "gets 403 origin_not_allowed, preflight or call. Reloadable."},
    {.key = "cors.allow_credentials", .kind = OPT_BOOL, .def = "false", FIELD(cors_credentials),
     .doc = "Send Access-Control-Allow-Credentials: true to every allowed origin, so that a "
            "fetch(..., {credentials: 'include'}) carries and receives the cookies; without it, "
            "only a cookie-mode client's origins get it."},
    {.key = "cors.max_age", .kind = OPT_DURATION, .def = "10m", FIELD(cors_max_age),
     .max = 86400 * CF_SEC,
     .doc = "How long a browser may reuse a preflight answer (Access-Control-Max-Age, whole "
            "seconds); browsers cap it lower (Chromium at 2h)."},

    {.key = "metrics.token", .kind = OPT_STRING, .def = "", FIELD(metrics_token),
     .doc = "Bearer token a scraper must send to GET /metrics; empty = /metrics is open."},

    {.key = "audit.path", .kind = OPT_STRING, .def = "", FIELD(audit_path),
     .doc = "File the JSON Lines audit log is appended to (docs/audit.md); - = stdout; "
            "empty = no audit log. Reopened on SIGHUP."},
    {.key = "audit.buffer", .kind = OPT_UINT, .def = "1048576", FIELD(audit_buffer),
     .min = 4096, .max = 1024 * 1024 * 1024,
     .doc = "Bytes of audit lines queued in memory for the writer; lines that do not fit are "
            "dropped and counted (curfew_audit_dropped_total)."},
    {.key = "tuning.measure", .kind = OPT_BOOL, .def = "true", FIELD(measure),
     .doc = "Measure timeouts: the idle-gap histogram (curfew_idle_gap_seconds), the "
            "activity_gap audit lines and the re-login tracker (curfew_relogins_total, "
            "curfew_timeouts_without_return_total). false = none of that work is done "
            "(docs/tuning.md); the background header and routes' activity still apply. "
            "Reloadable."},
    {.key = "tuning.activity_gap", .kind = OPT_DURATION, .def = "60s", FIELD(activity_gap),
     .min = CF_SEC,
     .doc = "A request after a silence at least this long writes an activity_gap line to the "
            "audit log (at most one per session per this long), which `curfew tune` replays; "
            "shorter silences are not recorded, so candidates shorter than this are not measured."},
    {.key = "tuning.relogin_window", .kind = OPT_DURATION, .def = "30m", FIELD(relogin_window),
     .doc = "A new session of the same subject within this long after a timeout is a forced "
            "re-login (curfew_relogins_total); none is a timeout without return."},
    {.key = "tuning.relogin_subjects", .kind = OPT_UINT, .def = "100000", FIELD(relogin_subjects),
     .min = 1, .max = 100000000,
     .doc = "Subjects remembered for re-login counting at most; the least recently seen are "
            "forgotten first (curfew_relogin_evicted_total)."},
    {.key = "tuning.background_header", .kind = OPT_STRING, .def = "X-Curfew-Background",
     FIELD(background_header), .min = 1,
     .doc = "A check carrying this header with value 1 is decided as usual but does not extend "
            "the session's idle deadline (background work, not a person)."},
    {.key = "alerts.webhook", .kind = OPT_URL, .def = "", FIELD(alert_webhook),
     .doc = "URL every alert is POSTed to as JSON (http[s]://HOST[:PORT][/PATH]; retried 3 times "
            "with backoff); https:// verifies the receiver's certificate and host name; empty = "
            "no webhook. See the Alerts section of docs/operations.md."},
    {.key = "alerts.webhook_ca", .kind = OPT_STRING, .def = "", FIELD(alert_webhook_ca),
     .doc = "PEM CA certificates an https:// alerts.webhook must chain to; empty = the system's "
            "CAs."},
    {.key = "alerts.queue", .kind = OPT_UINT, .def = "256", FIELD(alert_queue), .min = 1,
     .max = 1000000,
     .doc = "Alerts waiting for the webhook at most; more are dropped, counted and logged."},
    {.key = "alerts.rules", .kind = OPT_SECTION, .tag = LVL_ALERT, .def = "[]",
     .doctype = "list of rules",
     .doc = "Alert rules over the event stream, a list (fields below); each firing is POSTed "
            "to alerts.webhook and written to the audit log."},

    {.key = "keys.rotate_every", .kind = OPT_DURATION, .def = "0s", FIELD(key_rotate_every),
     .doc = "Make a new signing key active this long after the current one was activated; "
            "0s = only `curfew keys rotate`. Must exceed access_token.max_ttl + clock_leeway, "
            "the time an old key is kept for verification."},
    {.key = "keys.kek_file", .kind = OPT_STRING, .def = "", FIELD(kek_file),
     .doc = "File holding the key-encryption key (32 bytes as 64 hex digits or base64) that "
            "encrypts the private keys in DATA_DIR/keyset.json; the CURFEW_KEK environment "
            "variable takes precedence; empty and no CURFEW_KEK = keys stored in clear (0600)."},

    {.key = "api_keys.header", .kind = OPT_STRING, .def = "X-API-Key", FIELD(apikey_header),
     .min = 1, .doc = "Header /v1/check reads an API key from (besides Authorization: Bearer "
                      "cfk_...). API keys are for services; the admin key is CURFEW_ADMIN_KEY."},
    {.key = "api_keys.require_expiry", .kind = OPT_BOOL, .def = "true",
     FIELD(apikey_require_expiry),
     .doc = "Refuse to create an API key that never expires (400 expiry_required)."},
    {.key = "api_keys.max_lifetime", .kind = OPT_DURATION, .def = "365d",
     FIELD(apikey_max_lifetime),
     .doc = "Longest lifetime an API key may be created or rotated with (400 lifetime_too_long); "
            "0s = no maximum. Clients and roles may set a shorter api_key_max_lifetime."},
    {.key = "api_keys.default_lifetime", .kind = OPT_DURATION, .def = "90d",
     FIELD(apikey_default_lifetime),
     .doc = "Lifetime of an API key whose creation names no expires_in (cut to the maximum); "
            "0s = none."},
    {.key = "api_keys.idle_expiry", .kind = OPT_DURATION, .def = "0s", FIELD(apikey_idle_expiry),
     .doc = "An API key unused this long expires (key_idle_expired); a key may ask for less; "
            "0s = no idle expiry unless the key asks for one."},
    {.key = "api_keys.rotation_overlap", .kind = OPT_DURATION, .def = "24h",
     FIELD(apikey_overlap),
     .doc = "How long the old secret keeps working after a rotation (a rotation may ask for "
            "less)."},
    {.key = "api_keys.warn_before", .kind = OPT_DURATION, .def = "7d",
     FIELD(apikey_warn_before),
     .doc = "An apikey_expiring event (audit log, alerts.webhook) is emitted this long before "
            "a key expires; 0s = no warning."},
    {.key = "api_keys.rate", .kind = OPT_RATE, .def = "off", FIELD(rl_apikey),
     .doc = "Rate limit of /v1/check per API key, N/DURATION; off = unlimited (429 "
            "rate_limited)."},
    {.key = "api_keys.burst", .kind = OPT_I64, .def = "1", FIELD(rl_apikey.burst), .min = 1,
     .max = 1000000000, .doc = "How many checks one API key may make at once before api_keys.rate "
                               "applies."},
    {.key = "api_keys.quota_per_day", .kind = OPT_I64, .def = "0", FIELD(apikey_quota_day),
     .max = 1000000000000LL,
     .doc = "Allowed checks per API key per UTC day (429 quota_exceeded until midnight UTC); "
            "0 = none. A key may ask for less."},
    {.key = "api_keys.quota_per_month", .kind = OPT_I64, .def = "0", FIELD(apikey_quota_month),
     .max = 1000000000000LL,
     .doc = "Allowed checks per API key per UTC calendar month; 0 = none. A key may ask for "
            "less."},

    {.key = "proxy.listeners", .kind = OPT_SECTION, .tag = LVL_PLISTEN, .def = "[]",
     .doctype = "list of listeners",
     .doc = "Addresses the enforcing reverse proxy listens on (docs/proxy.md); none = no proxy."},
    {.key = "proxy.upstreams", .kind = OPT_SECTION, .tag = LVL_UPSTREAM, .def = "{}",
     .doctype = "mapping of upstream names",
     .doc = "Servers proxied requests go to, by name (fields below)."},
    {.key = "proxy.routes", .kind = OPT_SECTION, .tag = LVL_PROUTE, .def = "[]",
     .doctype = "list of proxy routes",
     .doc = "Host and path prefix to an upstream, first match wins; a request no route matches "
            "gets 404. The route policies (routes:) apply to proxied requests as to /v1/check."},
    {.key = "proxy.max_connections", .kind = OPT_UINT, .def = "10000",
     FIELD(proxy_max_connections), .min = 1, .max = 1000000,
     .doc = "Client connections the proxy holds open at most (tunnels included); more get 503."},
    {.key = "proxy.max_connections_per_address", .kind = OPT_UINT, .def = "1000",
     FIELD(proxy_max_per_address), .min = 1, .max = 1000000,
     .doc = "Client connections from one address at most; more get 503."},
    {.key = "proxy.max_body_bytes", .kind = OPT_UINT, .def = "104857600",
     FIELD(proxy_max_body_bytes), .min = 0, .max = 0,
     .doc = "Largest request body the proxy forwards (streamed, never buffered); 0 = no limit; "
            "over it: 413."},
    {.key = "proxy.idle_timeout", .kind = OPT_DURATION, .def = "60s", FIELD(proxy_idle_timeout),
     .min = CF_SEC,
     .doc = "A client connection with no request in flight, and a request or response that "
            "moves no byte, is closed after this long (tunnels follow their session instead)."},

    /* ---- the rows of the section levels ---- */

    /* clients[]: cf_client_t */
    {.key = "id", .kind = OPT_NAME, CLIENT(id), .doctype = "string", .def = "(required)",
     .doc = "Client id: 1-127 visible ASCII characters, unique."},
    {.key = "type", .kind = OPT_SENUM, CLIENT(type), .choices = client_types, .always = 1,
     .doctype = "one of public, confidential", .def = "public",
     .doc = "Confidential clients authenticate with a secret (HTTP Basic or "
            "client_secret_post) or a TLS client certificate (token_endpoint_auth_method)."},
    {.key = "token_endpoint_auth_method", .kind = OPT_SENUM, CLIENT(auth_method),
     .choices = client_auth_methods, .always = 1,
     .doctype = "one of client_secret_basic, client_secret_post, tls_client_auth, "
                "self_signed_tls_client_auth",
     .def = "client_secret_basic",
     .doc = "How a confidential client authenticates: a secret (either secret method is "
            "accepted), or its TLS client certificate (RFC 8705 §2): one issued by tls.client_ca "
            "(or mtls.client_ca) with the registered tls_client_auth_subject_dn or SAN, or the "
            "registered self-signed one (tls_client_auth_x5t_s256)."},
    {.key = "secret_hash", .kind = OPT_SECRET, CLIENT(secret_hash), .doctype = "string", .def = "(none)",
     .doc = "Required for confidential clients that authenticate with a secret, refused for "
            "the others: pbkdf2-sha256$ITERATIONS$SALT$HASH as printed by `curfew hash-secret`."},
    {.key = "tls_client_auth_subject_dn", .kind = OPT_SCOPE, CLIENT(tls_dn), .doctype = "string",
     .def = "(none)",
     .doc = "tls_client_auth: the certificate's subject DN, RFC 4514 (`CN=svc,O=Example`, most "
            "specific first), compared RDN by RDN. Exactly one of this and the tls_client_auth_san_* "
            "options."},
    {.key = "tls_client_auth_san_dns", .kind = OPT_SCOPE, CLIENT(tls_san_dns), .doctype = "string",
     .def = "(none)", .doc = "tls_client_auth: a dNSName SAN the certificate must hold (no wildcards)."},
    {.key = "tls_client_auth_san_uri", .kind = OPT_SCOPE, CLIENT(tls_san_uri), .doctype = "string",
     .def = "(none)", .doc = "tls_client_auth: a URI SAN the certificate must hold (exact)."},
    {.key = "tls_client_auth_san_ip", .kind = OPT_SCOPE, CLIENT(tls_san_ip), .doctype = "string",
     .def = "(none)", .doc = "tls_client_auth: an iPAddress SAN (IPv4 or IPv6) the certificate must hold."},
    {.key = "tls_client_auth_san_email", .kind = OPT_SCOPE, CLIENT(tls_san_email),
     .doctype = "string", .def = "(none)",
     .doc = "tls_client_auth: an rfc822Name SAN the certificate must hold (exact)."},
    {.key = "tls_client_auth_x5t_s256", .kind = OPT_SCOPE, CLIENT(tls_x5t), .doctype = "string",
     .def = "(none)",
     .doc = "self_signed_tls_client_auth: base64url SHA-256 of the registered certificate's DER "
            "(x5t#S256, `openssl x509 -outform DER | openssl dgst -sha256 -binary | basenc "
            "--base64url`, without `=`)."},
    {.key = "allowed_grants", .kind = OPT_GRANTS, CLIENT(grants), .always = 1,
     .doctype = "list of refresh_token, client_credentials", .def = "[refresh_token]",
     .doc = "Grant types the client may use; client_credentials needs a confidential client."},
    {.key = "scope", .kind = OPT_SCOPE, CLIENT(scope), .always = 1, .doctype = "string", .def = "\"\"",
     .doc = "Space-separated scopes a client_credentials token may get."},
    {.key = "session.idle_timeout", .kind = OPT_LIFETIME, CLIENT(limits.idle_timeout),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Idle timeout for this client's sessions; only a shorter value than the global one "
            "counts."},
    {.key = "session.absolute_timeout", .kind = OPT_LIFETIME, CLIENT(limits.absolute_timeout),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Absolute timeout for this client's sessions; only a shorter value counts."},
    {.key = "access_token.ttl", .kind = OPT_LIFETIME, CLIENT(limits.access_ttl), .doctype = "duration, >= 1s",
     .def = "(global)", .doc = "Access-token lifetime for this client; only a shorter value counts."},
    {.key = "api_key_max_lifetime", .kind = OPT_LIFETIME, CLIENT(apikey_max_lifetime),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Longest lifetime of an API key of this client; only a shorter value counts."},
    {.key = "cookie", .kind = OPT_SBOOL, CLIENT(cookie), .always = 1, .doctype = "bool", .def = "false",
     .doc = "Cookie mode: the refresh token travels only in the refresh cookie (see cookie.*)."},
    {.key = "allowed_origins", .kind = OPT_ORIGINS, CLIENT(origins), .off2 = offsetof(cf_client_t, norigins),
     .doctype = "list of origins", .def = "[]",
     .doc = "Origins (https://app.example.com) of this client's single-page app: their preflight "
            "is answered (as for cors.allowed_origins) and their calls to /oauth/token, "
            "/oauth/revoke and /v1/logout for this client carry Access-Control-Allow-Origin, "
            "with Access-Control-Allow-Credentials when the client is in cookie mode; the "
            "same origin with another client's token is 403 origin_not_allowed. Reloadable."},
    RISK_ROWS(CLIENT, "Overrides risk.ip_binding for this client's sessions.",
              "Overrides risk.on_ip_change for this client's sessions.",
              "Overrides risk.on_device_change for this client's sessions."),

    /* roles.NAME: cf_role_t */
    {.key = "idle_timeout", .kind = OPT_LIFETIME, ROLE(limits.idle_timeout), .doctype = "duration, >= 1s",
     .def = "(global)",
     .doc = "Idle timeout for sessions holding the role; the strictest of all rules wins."},
    {.key = "absolute_timeout", .kind = OPT_LIFETIME, ROLE(limits.absolute_timeout),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Absolute timeout for sessions holding the role; the strictest wins."},
    {.key = "access_ttl", .kind = OPT_LIFETIME, ROLE(limits.access_ttl), .doctype = "duration, >= 1s",
     .def = "(global)",
     .doc = "Access-token lifetime for sessions holding the role; the strictest wins."},
    {.key = "api_key_max_lifetime", .kind = OPT_LIFETIME, ROLE(apikey_max_lifetime),
     .doctype = "duration, >= 1s", .def = "(global)",
     .doc = "Longest lifetime of an API key holding the role; the strictest wins."},
    RISK_ROWS(ROLE, "Applies when stricter than the global or client value.",
              "Applies when stricter (revoke > step_up > ignore).",
              "Applies when stricter (revoke > step_up > ignore)."),

#define PATH_ROW(k_, pk_, def_, doc_)                                                          \
    {.key = k_, .kind = OPT_PATH, ROUTE(path), .off2 = offsetof(cf_route_t, path_kind),                        \
     .tag = (pk_), .excl = 1, .doctype = "string", .def = def_, .doc = doc_}

    /* routes[]: cf_route_t */
    {.key = "host", .kind = OPT_HOST, ROUTE(host), .doctype = "string", .def = "(any)",
     .doc = "Host to match, case-insensitive, without port."},
    {.key = "methods", .kind = OPT_METHODS, ROUTE(methods),
     .doctype = "list of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE",
     .def = "(any)", .doc = "Methods to match."},
    PATH_ROW("path", CF_PATH_EXACT, "(any)",
             "Exact path to match (query ignored). At most one of path, path_prefix and "
             "path_glob."),
    PATH_ROW("path_prefix", CF_PATH_PREFIX, "(none)", "Path prefix to match (plain string prefix)."),
    PATH_ROW("path_glob", CF_PATH_GLOB, "(none)",
             "Glob to match: `*` is any run without '/', `**` any run including '/'."),
    {.key = "require_roles", .kind = OPT_NAMES, ROUTE(require_roles), .off2 = offsetof(cf_route_t, nrequire_roles),
     .doctype = "list of strings", .def = "[]",
     .doc = "The session must hold at least one (403 insufficient_role); each must be defined "
            "under roles: (`name: {}` will do)."},
    {.key = "require_scopes", .kind = OPT_NAMES, ROUTE(require_scopes),
     .off2 = offsetof(cf_route_t, nrequire_scopes), .doctype = "list of strings", .def = "[]",
     .doc = "The token must have every one (403 insufficient_scope)."},
    {.key = "max_auth_age", .kind = OPT_SDURATION, ROUTE(max_auth_age), .doctype = "duration, > 0",
     .def = "(none)",
     .doc = "Step-up: authentication older than this gets 401 step_up_required with max_age."},
    {.key = "idle_timeout", .kind = OPT_SDURATION, ROUTE(idle_timeout), .doctype = "duration, > 0",
     .def = "(none)",
     .doc = "A session idle this long is refused here (401 route_idle_timeout) but lives on."},
    {.key = "anonymous", .kind = OPT_SBOOL, ROUTE(anonymous), .doctype = "bool", .def = "false",
     .doc = "Allowed without a token; no other requirement may be set."},
    {.key = "deny", .kind = OPT_SBOOL, ROUTE(deny), .doctype = "bool", .def = "false",
     .doc = "Always refused: 403 route_denied."},
    {.key = "activity", .kind = OPT_SENUM, ROUTE(activity), .choices = route_activity,
     .doctype = "one of counts, none", .def = "counts",
     .doc = "none: requests here (polling, heartbeats, background sync) are decided as usual "
            "but do not extend the session's idle deadline."},

    /* alerts.rules[]: cf_alert_rule_t */
    {.key = "kind", .kind = OPT_ALERT_KIND, ALERT(kind), .always = 1,
     .doctype = "one of refresh_reuse, check_failures_per_ip, check_failures_per_subject, "
                "refresh_rate_per_session, concurrent_sessions_per_subject, idle_timeout_spike",
     .def = "(required)",
     .doc = "What is counted, and per what key (see docs/operations.md, Alerts); refresh_reuse "
            "fires on every reuse."},
    {.key = "threshold", .kind = OPT_THRESHOLD, ALERT(threshold), .always = 1, .doctype = "integer, 1-1000",
     .def = "1", .doc = "Fires when this many occur for one key within window."},
    {.key = "window", .kind = OPT_SDURATION, ALERT(window), .always = 1, .doctype = "duration, > 0", .def = "1m",
     .doc = "The sliding window; after firing, a rule stays quiet for that key for one window."},
    {.key = "action", .kind = OPT_ALERT_ACTION, ALERT(action), .always = 1,
     .doctype = "one of none, revoke_session, revoke_subject, disable_refresh", .def = "none",
     .doc = "Automatic action on firing, for the session or subject the alert names."},
    {.key = "action_duration", .kind = OPT_SDURATION, ALERT(action_duration), .doctype = "duration, > 0",
     .def = "15m",
     .doc = "disable_refresh: how long the subject's refreshes are refused (400 "
            "refresh_disabled)."},

    /* proxy.listeners[]: cf_proxy_listener_t */
    {.key = "listen", .kind = OPT_SADDR, PLISTEN(listen), .doctype = "HOST:PORT", .def = "(required)",
     .doc = "Address to accept proxied clients on; IPv6 as [::1]:8080."},

    /* proxy.upstreams.NAME: cf_proxy_upstream_t */
    {.key = "address", .kind = OPT_SHOST, UPSTREAM(address), .doctype = "HOST:PORT",
     .def = "(required)", .doc = "The upstream server: an IP address or a host name (resolved "
                                 "once, at start: its first IPv4 address, else its first IPv6 one) "
                                 "and a port."},
    {.key = "pool", .kind = OPT_THRESHOLD, UPSTREAM(pool), .always = 1, .doctype = "integer, 1-1000",
     .def = "32", .doc = "Idle keep-alive connections to the upstream kept for reuse."},
    {.key = "connect_timeout", .kind = OPT_SDURATION, UPSTREAM(connect_timeout),
     .doctype = "duration, > 0", .def = "5s",
     .doc = "A connection not established in this time answers 502 upstream_unavailable."},
    {.key = "read_timeout", .kind = OPT_SDURATION, UPSTREAM(read_timeout),
     .doctype = "duration, > 0", .def = "60s",
     .doc = "A response head not received in this time answers 504 upstream_timeout."},

    /* proxy.routes[]: cf_proxy_route_t */
    {.key = "host", .kind = OPT_HOST, PROUTE(host), .doctype = "string", .def = "(any)",
     .doc = "Host to match, case-insensitive, without port."},
    {.key = "path_prefix", .kind = OPT_PATH, PROUTE(path_prefix),
     .off2 = offsetof(cf_proxy_route_t, path_kind), .tag = CF_PATH_PREFIX, .doctype = "string",
     .def = "/", .doc = "Path prefix to match, in normal form, on the normalized request path."},
    {.key = "upstream", .kind = OPT_NAME, PROUTE(upstream), .doctype = "string", .def = "(required)",
     .doc = "Name of the upstream under proxy.upstreams."},
    {.key = "authorization", .kind = OPT_SENUM, PROUTE(strip_authorization),
     .choices = proxy_authorization, .doctype = "one of forward, strip", .def = "forward",
     .doc = "Whether the client's Authorization header reaches the upstream."},
    {.key = "cut_on_token_expiry", .kind = OPT_SBOOL, PROUTE(cut_on_token_expiry),
     .doctype = "bool", .def = "false",
     .doc = "Cut a tunnel when the access token it opened with expires; false = tunnels "
            "follow the session."},
    {.key = "activity", .kind = OPT_SENUM, PROUTE(activity), .choices = proxy_activity,
     .doctype = "one of client, any, none", .def = "client",
     .doc = "Which bytes on a tunnel count as session activity (keep it from idling out)."},
};
#define NOPTIONS (sizeof(cf__config_options) / sizeof(cf__config_options[0]))
const size_t cf__config_noptions = NOPTIONS;
/* The root rows come first; set_line has one slot per root row. */
#define NROOT 97
const size_t cf__config_nroot = NROOT;
_Static_assert(NROOT <= CF_CONFIG_OPTIONS_MAX, "raise CF_CONFIG_OPTIONS_MAX");

const option_t *cf__config_rows(level_id_t lvl, size_t *n)
{
    const option_t *first = NULL;

    /* The first run of the level's rows; cf_config_defaults() checks there is one run. */
    *n = 0;
    for (size_t i = 0; i < cf__config_noptions; i++) {
        if (cf__config_options[i].level == lvl) {
            if (first == NULL)
                first = &cf__config_options[i];
            (*n)++;
        } else if (first != NULL) {
            break;
        }
    }
    return first;
}

const option_t *cf__config_find_at(level_id_t lvl, const char *key, size_t n)
{
    size_t count;
    const option_t *rows = cf__config_rows(lvl, &count);

    for (size_t i = 0; i < count; i++)
        if (strlen(rows[i].key) == n && memcmp(rows[i].key, key, n) == 0)
            return &rows[i];
    return NULL;
}

const option_t *cf__config_find(const char *key, size_t n)
{
    return cf__config_find_at(LVL_ROOT, key, n);
}

/* Is @path (length @n) a block of level @lvl, i.e. a strict prefix "path." of some key? */
int cf__config_is_block(level_id_t lvl, const char *path, size_t n)
{
    size_t count;
    const option_t *rows = cf__config_rows(lvl, &count);

    for (size_t i = 0; i < count; i++)
        if (strncmp(rows[i].key, path, n) == 0 && rows[i].key[n] == '.')
            return 1;
    return 0;
}
