/* SPDX-License-Identifier: MIT
 *
 * Configuration: the option table and everything generated from it. Decides
 * what a config file means and whether it is acceptable; never applies half
 * a file (every load works on a copy) and never guesses (unknown keys,
 * duplicate keys, a list where a value belongs are errors, not warnings).
 *
 * Adding an option is adding one row to options[] below (and the field to
 * cf_config_t). Defaults are written in the row as the text a user would put
 * in the file, and are read by the same parser, so the docs show exactly
 * what the code does.
 *
 * Three rows are whole sections rather than values: clients:, roles: and
 * routes: take a YAML node, build the policy (core/policy.h) and own memory.
 * Their loaders, dumpers and field sub-tables (client_fields[] and friends)
 * live in sections.c, as do the list-valued types (rates, key kinds, string
 * and CIDR lists); this file keeps the table, the YAML walk, the scalar
 * types and the public entry points, and reaches them through the private
 * config/sections.h, so the docs still come from one place.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>
#include <openssl/crypto.h>

#include "config/sections.h"
#include "core/b64url.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/keyset.h"
#include "core/ratelimit.h"
#include "util/url.h"

/* ------------------------------------------------------------------------ */
/* The option table                                                          */
/* ------------------------------------------------------------------------ */

#define FIELD(f) .off = offsetof(cf_config_t, f), .size = sizeof(((cf_config_t *)0)->f)

#define LIST(f, n) FIELD(f), .off2 = offsetof(cf_config_t, n)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
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

/*
 * Options of one section must be adjacent: cf_config_dump() opens a section
 * when the prefix changes and would otherwise write it twice.
 */
static const option_t options[] = {
    {.key = "listen", .kind = OPT_ADDR, .def = "127.0.0.1:7070", FIELD(listen_host),
     .off2 = offsetof(cf_config_t, listen_port),
     .doc = "Address the HTTP API listens on, HOST:PORT; IPv6 as [::1]:7070."},
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

    {.key = "limits.max_connections", .kind = OPT_UINT, .def = "10000", FIELD(max_connections),
     .min = 1, .max = 1000000, .doc = "Open client connections above this are refused."},
    {.key = "limits.client_timeout", .kind = OPT_DURATION, .def = "30s", FIELD(client_timeout),
     .min = 1, .doc = "A connection idle between requests, or sending a request slowly, is "
                      "closed after this long."},
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

    {.key = "cluster.max_staleness", .kind = OPT_DURATION, .def = "2s", FIELD(max_staleness),
     .min = 1, .doc = "With Redis: a node that has not heard the bus (heartbeats included) for "
                      "this long refuses checks with 503 store_unavailable until it has "
                      "resynchronised."},
    {.key = "cluster.on_partition", .kind = OPT_ENUM, .def = "refuse", FIELD(on_partition),
     .choices = partition_modes,
     .doc = "What a stale node does with a check: refuse (503 store_unavailable), or "
            "revalidate the session against Redis when Redis still answers."},

    {.key = "clients", .kind = OPT_CLIENTS, .def = "[]",
     .doc = "OAuth clients, a list (fields below); when set, unknown client ids are refused."},
    {.key = "roles", .kind = OPT_ROLES, .def = "{}",
     .doc = "Role name -> stricter lifetimes and risk rules for sessions holding that role."},
    {.key = "routes", .kind = OPT_ROUTES, .def = "[]",
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

    {.key = "cookie.access_cookie", .kind = OPT_STRING, .def = "curfew_at", FIELD(access_cookie),
     .min = 1, .doc = "Cookie /v1/check reads the access token from when there is no "
                      "Authorization header, and cookie-mode clients receive it in."},
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

    {.key = "metrics.token", .kind = OPT_STRING, .def = "", FIELD(metrics_token),
     .doc = "Bearer token a scraper must send to GET /metrics; empty = /metrics is open."},

    {.key = "audit.path", .kind = OPT_STRING, .def = "", FIELD(audit_path),
     .doc = "File the JSON Lines audit log is appended to (docs/audit.md); - = stdout; "
            "empty = no audit log. Reopened on SIGHUP."},
    {.key = "audit.buffer", .kind = OPT_UINT, .def = "1048576", FIELD(audit_buffer),
     .min = 4096, .max = 1024 * 1024 * 1024,
     .doc = "Bytes of audit lines queued in memory for the writer; lines that do not fit are "
            "dropped and counted (curfew_audit_dropped_total)."},
    {.key = "alerts.webhook", .kind = OPT_URL, .def = "", FIELD(alert_webhook),
     .doc = "URL every alert is POSTed to as JSON (http://HOST[:PORT][/PATH]; retried 3 times "
            "with backoff); empty = no webhook. See the Alerts section of docs/operations.md."},
    {.key = "alerts.queue", .kind = OPT_UINT, .def = "256", FIELD(alert_queue), .min = 1,
     .max = 1000000,
     .doc = "Alerts waiting for the webhook at most; more are dropped, counted and logged."},
    {.key = "alerts.rules", .kind = OPT_ALERT_RULES, .def = "[]",
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
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))
_Static_assert(NOPTIONS <= CF_CONFIG_OPTIONS_MAX, "raise CF_CONFIG_OPTIONS_MAX");

/*
 * Order rules checked by cf_config_validate(): the value at @lo must not
 * exceed the one at @hi. Both are duration options.
 */
static const struct {
    const char *lo, *hi;
} order_rules[] = {
    {"access_token.ttl", "access_token.max_ttl"},
    {"session.idle_timeout", "session.absolute_timeout"},
};

/* Longest raw text of any value (data_dir plus slack), and of a dotted key. */
#define TEXT_MAX 600
#define KEY_MAX 128

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

void cf__config_say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap); /* truncation is acceptable for a message */
    va_end(ap);
}

/*
 * Copy user text for a message: at most 40 bytes, control bytes shown as '?',
 * "..." when cut, so a hostile file cannot put escapes or pages into a log.
 */
const char *cf__config_show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t i, o = 0, lim = n > 40 ? 40 : n;

    for (i = 0; i < lim && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (i < n && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

void *cf__config_field(void *cfg, size_t off)
{
    return (char *)cfg + off;
}

const void *cf__config_cfield(const void *cfg, size_t off)
{
    return (const char *)cfg + off;
}

static const option_t *find_option(const char *key, size_t n)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].key) == n && memcmp(options[i].key, key, n) == 0)
            return &options[i];
    return NULL;
}

/* Is @path (length @n) a section, i.e. a strict prefix "path." of some key? */
static int is_section(const char *path, size_t n)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strncmp(options[i].key, path, n) == 0 && options[i].key[n] == '.')
            return 1;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits only, no sign, no blanks; 0 and *out, or -1 (also on overflow past UINT64_MAX / 10). */
int cf__config_parse_digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Types: parse from text, format to text, describe                          */
/* ------------------------------------------------------------------------ */

/*
 * Every scalar type has two functions. parse() reads the raw text (not
 * NUL-terminated) and writes the field only when the whole text is valid,
 * otherwise it leaves @cfg alone and writes a message without the key. text()
 * writes the value as raw text, the inverse of parse(), and fails on a value
 * that cannot be written (a negative duration). Validation is text() followed
 * by parse() into a scratch copy, so the range rules live in one place.
 *
 * List-valued sections (clients:, roles:, routes:) will not fit this shape:
 * they take a YAML node, not text, and own memory. They belong in a kind of
 * their own with a node-level loader called from apply_node() (which
 * currently insists on a scalar), plus a cf_config_fini() to free them.
 */
typedef struct {
    const char *name; /* type column of the docs */
    int (*parse)(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                 size_t cap);
    int (*text)(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                size_t msgcap);
    int quote; /* dump writes the value double-quoted (lists: each item) */
    /*
     * Lists: the file gives a YAML sequence, the command line "a,b". item()
     * checks one item (its line is the one reported); parse() gets the items
     * joined with ','.
     */
    int (*item)(const option_t *o, const char *s, size_t n, char *msg, size_t cap);
    /* Sections (clients, roles, routes): a node loader and a dumper instead of text. */
    int (*load)(loader_t *ld, const yaml_node_t *v);
    void (*dump)(const cf_config_t *cfg, FILE *out);
} type_t;

/* Names the unit cf_duration_parse() refused: the first letter run that is not a unit. */
int cf__config_find_bad_unit(const char *s, size_t n, size_t *at, size_t *len)
{
    static const char *const units[] = {"ms", "s", "m", "h", "d"};
    size_t i = 0;

    while (i < n) {
        size_t j = i, u;
        while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')))
            j++;
        if (j == i) {
            i++;
            continue;
        }
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
            if (strlen(units[u]) == j - i && memcmp(units[u], s + i, j - i) == 0)
                break;
        if (u == sizeof(units) / sizeof(units[0])) {
            *at = i;
            *len = j - i;
            return 1;
        }
        i = j;
    }
    return 0;
}

static int duration_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                          size_t cap)
{
    const char *why = NULL;
    cf_time_t v = 0;
    char shown[64], lim[32];
    size_t at, len;

    if (cf_duration_parse(s, n, &v, &why) < 0) {
        if (why != NULL && strncmp(why, "unknown unit", 12) == 0 &&
            cf__config_find_bad_unit(s, n, &at, &len))
            cf__config_say(msg, cap, "unknown unit '%s' (use ms, s, m, h or d)",
                           cf__config_show(s + at, len, shown, sizeof shown));
        else
            cf__config_say(msg, cap, "%s", why != NULL ? why : "invalid duration");
        return CF_ECONFIG;
    }
    if (v < o->min) {
        if (v < 1) {
            cf__config_say(msg, cap, "must be greater than 0");
        } else {
            if (cf_duration_format(o->min, lim, sizeof lim) < 0)
                lim[0] = '\0';
            cf__config_say(msg, cap, "must be at least %s", lim);
        }
        return CF_ECONFIG;
    }
    if (o->max > 0 && v > o->max) {
        if (cf_duration_format(o->max, lim, sizeof lim) < 0)
            lim[0] = '\0';
        cf__config_say(msg, cap, "must be at most %s", lim);
        return CF_ECONFIG;
    }
    *(cf_time_t *)cf__config_field(cfg, o->off) = v;
    return 0;
}

static int duration_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap)
{
    if (cf_duration_format(*(const cf_time_t *)cf__config_cfield(cfg, o->off), buf, cap) < 0) {
        cf__config_say(msg, msgcap, "must not be negative");
        return CF_ECONFIG;
    }
    return 0;
}

static int string_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                        size_t cap)
{
    char *dst = cf__config_field(cfg, o->off);

    if (n >= o->size) {
        cf__config_say(msg, cap, "too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    if (memchr(s, '\0', n) != NULL) {
        cf__config_say(msg, cap, "must not contain NUL bytes");
        return CF_ECONFIG;
    }
    if ((int64_t)n < o->min) {
        cf__config_say(msg, cap, "must not be empty");
        return CF_ECONFIG;
    }
    memcpy(dst, s, n);
    memset(dst + n, 0, o->size - n); /* no stale bytes: equal configs compare equal */
    return 0;
}

static int string_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                       char *msg, size_t msgcap)
{
    const char *src = cf__config_cfield(cfg, o->off);
    const char *nul = memchr(src, '\0', o->size);
    size_t n = nul != NULL ? (size_t)(nul - src) : o->size;

    if (nul == NULL || n >= cap) {
        cf__config_say(msg, msgcap, "too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    memcpy(buf, src, n + 1);
    return 0;
}

static int uint_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    uint64_t v;
    char shown[64];

    if (cf__config_parse_digits(s, n, &v) < 0 || (int64_t)v < 0 || (int64_t)v < o->min) {
        cf__config_say(msg, cap, "expected a %s integer, got '%s'",
                       o->min > 0 ? "positive" : "non-negative",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    if ((o->max > 0 && (int64_t)v > o->max) || v > SIZE_MAX) {
        cf__config_say(msg, cap, "must be at most %lld, got '%s'", (long long)o->max,
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(size_t *)cf__config_field(cfg, o->off) = (size_t)v;
    return 0;
}

static int uint_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "%zu",
                   *(const size_t *)cf__config_cfield(cfg, o->off)); /* cap >> 21 digits */
    return 0;
}

static int bool_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    char shown[64];
    int v;

    if (n == 4 && memcmp(s, "true", 4) == 0) {
        v = 1;
    } else if (n == 5 && memcmp(s, "false", 5) == 0) {
        v = 0;
    } else {
        cf__config_say(msg, cap, "expected true or false, got '%s'",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(int *)cf__config_field(cfg, o->off) = v;
    return 0;
}

static int bool_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    int v = *(const int *)cf__config_cfield(cfg, o->off);

    if (v != 0 && v != 1) {
        cf__config_say(msg, msgcap, "must be true or false");
        return CF_ECONFIG;
    }
    (void)snprintf(buf, cap, "%s", v ? "true" : "false");
    return 0;
}

int cf__config_host_char_ok(char c, int bracketed)
{
    if (bracketed)
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
               c == '.';
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '_';
}

/*
 * "host:port", or "[v6]:port" for IPv6 literals. The host is stored without
 * brackets; a host containing ':' is IPv6 by construction. Port 0 ("any free
 * port") is refused: the server would log and advertise a port it is not on.
 */
/*
 * An address literal must be one: "256.1.1.1" passes the host-character
 * test, but the server would only learn at bind time that no resolver knows
 * it. Names (with a letter) are left to the resolver. @host fits the field.
 */
static int literal_ok(const char *host, size_t hlen, int bracketed)
{
    unsigned char addr[16];
    char buf[64];
    size_t i;

    for (i = 0; i < hlen && !bracketed; i++)
        if (!is_digit(host[i]) && host[i] != '.')
            return 1;
    if (hlen >= sizeof buf)
        return 0;
    memcpy(buf, host, hlen);
    buf[hlen] = '\0';
    return inet_pton(bracketed ? AF_INET6 : AF_INET, buf, addr) == 1;
}

static int addr_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    const char *host, *port;
    size_t hlen, plen, i;
    int bracketed = n > 0 && s[0] == '[';
    uint64_t p;

    if (bracketed) {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL || (size_t)(rb - s) + 1 >= n || rb[1] != ':')
            goto bad;
        host = s + 1;
        hlen = (size_t)(rb - host);
        port = rb + 2;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon == NULL)
            goto bad;
        host = s;
        hlen = (size_t)(colon - s);
        port = colon + 1;
    }
    plen = n - (size_t)(port - s);
    if (hlen == 0 || plen == 0 || plen > 5 || cf__config_parse_digits(port, plen, &p) < 0)
        goto bad;
    for (i = 0; i < hlen; i++)
        if (!cf__config_host_char_ok(host[i], bracketed))
            goto bad;
    if (bracketed && memchr(host, ':', hlen) == NULL)
        goto bad;
    if (p < 1 || p > 65535) {
        cf__config_say(msg, cap, "port must be between 1 and 65535");
        return CF_ECONFIG;
    }
    if (hlen >= o->size) {
        cf__config_say(msg, cap, "host too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    if (!literal_ok(host, hlen, bracketed)) {
        cf__config_say(msg, cap, "'%.*s' is not an IP%s address", (int)hlen, host,
                       bracketed ? "v6" : "v4");
        return CF_ECONFIG;
    }
    memcpy(cf__config_field(cfg, o->off), host, hlen);
    memset((char *)cf__config_field(cfg, o->off) + hlen, 0, o->size - hlen);
    *(int *)cf__config_field(cfg, o->off2) = (int)p;
    return 0;
bad:
    cf__config_say(msg, cap, "expected HOST:PORT");
    return CF_ECONFIG;
}

static int addr_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    const char *host = cf__config_cfield(cfg, o->off);
    int port = *(const int *)cf__config_cfield(cfg, o->off2);
    int w;

    if (memchr(host, '\0', o->size) == NULL) {
        cf__config_say(msg, msgcap, "host too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    if (strchr(host, ':') != NULL)
        w = snprintf(buf, cap, "[%s]:%d", host, port);
    else
        w = snprintf(buf, cap, "%s:%d", host, port);
    if (w < 0 || (size_t)w >= cap) {
        cf__config_say(msg, msgcap, "expected HOST:PORT");
        return CF_ECONFIG;
    }
    return 0;
}

/* "debug, info, warn, error" */
static void list_choices(const option_t *o, char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; o->choices[i] != NULL; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? ", " : "", o->choices[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
}

static int enum_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    char shown[64], all[128];

    for (size_t i = 0; o->choices[i] != NULL; i++) {
        size_t len = strlen(o->choices[i]);
        if (len == n && memcmp(o->choices[i], s, n) == 0 && len < o->size) {
            memcpy(cf__config_field(cfg, o->off), s, n);
            memset((char *)cf__config_field(cfg, o->off) + n, 0, o->size - n);
            return 0;
        }
    }
    list_choices(o, all, sizeof all);
    cf__config_say(msg, cap, "expected one of %s, got '%s'", all,
                   cf__config_show(s, n, shown, sizeof shown));
    return CF_ECONFIG;
}

static int i64_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                     size_t cap)
{
    uint64_t v;
    char shown[64];

    if (cf__config_parse_digits(s, n, &v) < 0 || v > INT64_MAX || (int64_t)v < o->min) {
        cf__config_say(msg, cap, "expected a %s integer, got '%s'",
                       o->min > 0 ? "positive" : "non-negative",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (o->max > 0 && (int64_t)v > o->max) {
        cf__config_say(msg, cap, "must be at most %lld, got '%s'", (long long)o->max,
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(int64_t *)cf__config_field(cfg, o->off) = (int64_t)v;
    return 0;
}

static int i64_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                    size_t msgcap)
{
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "%lld", (long long)*(const int64_t *)cf__config_cfield(cfg, o->off));
    return 0;
}

/* Index + 1 of the @n bytes at @s among @choices; 0 when not there. */
int cf__config_choice_index(const char *const *choices, const char *s, size_t n)
{
    for (int i = 0; choices[i] != NULL; i++)
        if (strlen(choices[i]) == n && memcmp(choices[i], s, n) == 0)
            return i + 1;
    return 0;
}

void cf__config_join_choices(const char *const *choices, char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; choices[i] != NULL; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? ", " : "", choices[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
}

_Static_assert(sizeof(cf_ip_binding_t) == sizeof(int) && sizeof(cf_risk_action_t) == sizeof(int),
               "OPT_CHOICE stores an int");

static int choice_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                        size_t cap)
{
    int v = cf__config_choice_index(o->choices, s, n);
    char shown[64], all[128];

    if (v == 0) {
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(msg, cap, "expected one of %s, got '%s'", all,
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    memcpy(cf__config_field(cfg, o->off), &v, sizeof v);
    return 0;
}

static int choice_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                       char *msg, size_t msgcap)
{
    int v, n = 0;

    memcpy(&v, cf__config_cfield(cfg, o->off), sizeof v);
    while (o->choices[n] != NULL)
        n++;
    if (v < 1 || v > n) {
        cf__config_say(msg, msgcap, "not set");
        return CF_ECONFIG;
    }
    (void)snprintf(buf, cap, "%s", o->choices[v - 1]);
    return 0;
}

/* An OPT_STRING that is empty or an http:// URL the webhook can POST to. */
static int url_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                     size_t cap)
{
    char url[1024];
    cf_http_url_t parsed;
    const char *why;

    if (n > 0 && n < sizeof url && memchr(s, '\0', n) == NULL) {
        memcpy(url, s, n);
        url[n] = '\0';
        why = cf_url_parse_http(url, &parsed);
        if (why != NULL) {
            cf__config_say(msg, cap, "%s", why);
            return CF_ECONFIG;
        }
    }
    return string_parse(o, cfg, s, n, msg, cap);
}

static int store_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                       size_t cap)
{
    char url[600], why[128];
    cf_redis_url_t parsed;

    if (n == 0 || n >= sizeof url || memchr(s, '\0', n) != NULL) {
        cf__config_say(msg, cap, "expected sqlite or redis://HOST[:PORT][/DB]");
        return CF_ECONFIG;
    }
    memcpy(url, s, n);
    url[n] = '\0';
    if (strcmp(url, "sqlite") != 0 && cf_url_parse_redis(url, &parsed, why, sizeof why) < 0) {
        cf__config_say(msg, cap, "'%s' is neither sqlite nor a Redis URL: %s",
                       strncmp(url, "redis://", 8) == 0 ? "redis://..." : url, why);
        return CF_ECONFIG;
    }
    return string_parse(o, cfg, s, n, msg, cap);
}

static int section_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                         size_t cap)
{
    (void)cfg;
    (void)s;
    (void)n;
    (void)o;
    cf__config_say(msg, cap, "can only be set in the config file");
    return CF_ECONFIG;
}

static int section_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                        char *msg, size_t msgcap)
{
    (void)o;
    (void)cfg;
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "(section)");
    return 0;
}

static const type_t types[] = {
    [OPT_DURATION] = {"duration", duration_parse, duration_text, 0, NULL, NULL, NULL},
    [OPT_STRING] = {"string", string_parse, string_text, 1, NULL, NULL, NULL},
    [OPT_UINT] = {"integer", uint_parse, uint_text, 0, NULL, NULL, NULL},
    [OPT_BOOL] = {"bool", bool_parse, bool_text, 0, NULL, NULL, NULL},
    [OPT_ADDR] = {"HOST:PORT", addr_parse, addr_text, 1, NULL, NULL, NULL},
    [OPT_ENUM] = {"enum", enum_parse, string_text, 0, NULL, NULL, NULL},
    [OPT_I64] = {"integer", i64_parse, i64_text, 0, NULL, NULL, NULL},
    [OPT_CHOICE] = {"enum", choice_parse, choice_text, 0, NULL, NULL, NULL},
    [OPT_RATE] = {"N/DURATION or off", cf__config_rate_parse, cf__config_rate_text, 0, NULL, NULL,
                  NULL},
    [OPT_KEYS] = {"list", cf__config_keys_parse, cf__config_keys_text, 0, cf__config_key_kind_ok,
                  NULL, NULL},
    [OPT_STRLIST] = {"list of strings", cf__config_strlist_parse, cf__config_strlist_text, 1,
                     cf__config_token_ok, NULL, NULL},
    [OPT_CIDRLIST] = {"list of CIDRs", cf__config_strlist_parse, cf__config_strlist_text, 1,
                      cf__config_cidr_ok, NULL, NULL},
    [OPT_CLIENTS] = {"list of clients", section_parse, section_text, 0, NULL,
                     cf__config_clients_load, cf__config_clients_dump},
    [OPT_ROLES] = {"mapping of roles", section_parse, section_text, 0, NULL, cf__config_roles_load,
                   cf__config_roles_dump},
    [OPT_ROUTES] = {"list of routes", section_parse, section_text, 0, NULL, cf__config_routes_load,
                    cf__config_routes_dump},
    [OPT_URL] = {"http URL", url_parse, string_text, 1, NULL, NULL, NULL},
    [OPT_STORE] = {"sqlite or redis URL", store_parse, string_text, 1, NULL, NULL, NULL},
    [OPT_ALERT_RULES] = {"list of rules", section_parse, section_text, 0, NULL,
                         cf__config_alerts_load, cf__config_alerts_dump},
};

/* What a value of @o looks like, for "expected ..., got a list". */
static void expected(const option_t *o, char *buf, size_t cap)
{
    char all[128];

    switch (o->kind) {
    case OPT_DURATION:
        cf__config_say(buf, cap, "a duration");
        break;
    case OPT_STRING:
    case OPT_URL:
    case OPT_STORE:
        cf__config_say(buf, cap, "a string");
        break;
    case OPT_UINT:
        cf__config_say(buf, cap, "a %s integer", o->min > 0 ? "positive" : "non-negative");
        break;
    case OPT_BOOL:
        cf__config_say(buf, cap, "true or false");
        break;
    case OPT_ADDR:
        cf__config_say(buf, cap, "HOST:PORT");
        break;
    case OPT_ENUM:
        list_choices(o, all, sizeof all);
        cf__config_say(buf, cap, "one of %s", all);
        break;
    case OPT_I64:
        cf__config_say(buf, cap, "a %s integer", o->min > 0 ? "positive" : "non-negative");
        break;
    case OPT_CHOICE:
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(buf, cap, "one of %s", all);
        break;
    case OPT_RATE:
        cf__config_say(buf, cap, "N/DURATION or off");
        break;
    case OPT_KEYS:
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(buf, cap, "a list of %s", all);
        break;
    case OPT_STRLIST:
        cf__config_say(buf, cap, "a list of strings");
        break;
    case OPT_CIDRLIST:
        cf__config_say(buf, cap, "a list of CIDRs");
        break;
    case OPT_CLIENTS:
    case OPT_ROUTES:
    case OPT_ALERT_RULES:
        cf__config_say(buf, cap, "a list");
        break;
    case OPT_ROLES:
        cf__config_say(buf, cap, "a mapping");
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Defaults, set, validate                                                   */
/* ------------------------------------------------------------------------ */

/* Fields that follow from others; run after anything that changes options. */
static void derive(cf_config_t *cfg)
{
    cfg->lockout_enabled = cfg->lockout_max_failures > 0;
}

static int is_list(const option_t *o)
{
    return o->kind == OPT_STRLIST || o->kind == OPT_CIDRLIST;
}

static int is_node(const option_t *o)
{
    return types[o->kind].load != NULL;
}

void cf_config_fini(cf_config_t *cfg)
{
    if (cfg == NULL)
        return;
    cf_policy_fini(&cfg->policy);
    for (size_t i = 0; i < NOPTIONS; i++)
        if (is_list(&options[i]))
            cf__config_strv_free(*(char ***)cf__config_field(cfg, options[i].off),
                                 *(size_t *)cf__config_field(cfg, options[i].off2));
    memset(cfg, 0, sizeof *cfg);
}

int cf_config_copy(cf_config_t *dst, const cf_config_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < NOPTIONS; i++)
        if (is_list(&options[i])) {
            *(char ***)cf__config_field(dst, options[i].off) = NULL;
            *(size_t *)cf__config_field(dst, options[i].off2) = 0;
        }
    if (cf_policy_copy(&dst->policy, &src->policy) < 0)
        goto oom;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        size_t n = is_list(o) ? *(const size_t *)cf__config_cfield(src, o->off2) : 0;
        char *const *v;
        char **d;

        if (n == 0)
            continue;
        /* Only list options hold a char ** at off; reading it for others is UB. */
        v = *(char **const *)cf__config_cfield(src, o->off);
        d = calloc(n, sizeof *d);
        if (d == NULL)
            goto oom;
        *(char ***)cf__config_field(dst, o->off) = d;
        for (size_t j = 0; j < n; j++) {
            d[j] = strdup(v[j]);
            if (d[j] == NULL)
                goto oom;
            *(size_t *)cf__config_field(dst, o->off2) = j + 1;
        }
    }
    cf_policy_prepare(&dst->policy);
    return 0;
oom:
    cf_config_fini(dst);
    return CF_ENOMEM;
}

void cf_config_defaults(cf_config_t *cfg)
{
    char msg[128];

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        if (is_node(o))
            continue; /* empty: memset did it */
        /* A default that does not parse is a bug in the table, caught by any test run. */
        if (types[o->kind].parse(o, cfg, o->def, strlen(o->def), msg, sizeof msg) < 0) {
            fprintf(stderr, "curfew: bad default for %s: %s\n", o->key, msg);
            abort();
        }
    }
    derive(cfg);
}

int cf_config_set(cf_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const option_t *o = find_option(key, strlen(key));
    cf_config_t tmp;
    char msg[256], shown[64];
    int rc;

    if (o == NULL) {
        cf__config_say(err, errlen, "unknown key '%s'",
                       cf__config_show(key, strlen(key), shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (value == NULL) {
        expected(o, msg, sizeof msg);
        cf__config_say(err, errlen, "%s: expected %s, got nothing", o->key, msg);
        return CF_ECONFIG;
    }
    /* Shallow is enough: a list's parse() frees the old list only once it succeeded. */
    tmp = *cfg;
    rc = types[o->kind].parse(o, &tmp, value, strlen(value), msg, sizeof msg);
    if (rc < 0) {
        cf__config_say(err, errlen, "%s: %s", o->key, msg);
        return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
    }
    derive(&tmp);
    tmp.set_line[o - options] = CF_CONFIG_LINE_CLI;
    *cfg = tmp;
    return 0;
}

static const option_t *must_find(const char *key)
{
    const option_t *o = find_option(key, strlen(key));

    if (o == NULL || o->kind != OPT_DURATION) {
        fprintf(stderr, "curfew: config rule names unknown duration '%s'\n", key);
        abort(); /* a typo in order_rules[]; any test run catches it */
    }
    return o;
}

static uint32_t line_of_option(const cf_config_t *cfg, const option_t *o)
{
    return cfg->set_line[o - options];
}

/*
 * A default yields to an explicit value. `session.absolute_timeout: 3s`
 * alone means what it says; refusing it because the *default* idle timeout
 * (30m) is longer would make the user spell out a second value they never
 * cared about. So when exactly one side of an order rule was given and the
 * other side's default contradicts it, the default moves to the given
 * value, and a note says so (serve logs it). Two given values that
 * contradict each other stay an error, reported by cf_config_validate().
 */
static void yield_defaults(cf_config_t *cfg)
{
    for (size_t i = 0; i < sizeof(order_rules) / sizeof(order_rules[0]); i++) {
        const option_t *lo = must_find(order_rules[i].lo), *hi = must_find(order_rules[i].hi);
        cf_time_t *a = cf__config_field(cfg, lo->off), *b = cf__config_field(cfg, hi->off);
        int lo_set = line_of_option(cfg, lo) != 0, hi_set = line_of_option(cfg, hi) != 0;
        const option_t *moved, *by;
        char was[32], now[32];

        if (*a <= *b || lo_set == hi_set)
            continue;
        moved = lo_set ? hi : lo;
        by = lo_set ? lo : hi;
        if (cf_duration_format(lo_set ? *b : *a, was, sizeof was) < 0)
            was[0] = '\0';
        if (lo_set)
            *b = *a;
        else
            *a = *b;
        if (cf_duration_format(*a, now, sizeof now) < 0)
            now[0] = '\0';
        if (cfg->nnotes < CF_CONFIG_NOTES_MAX)
            (void)snprintf(cfg->notes[cfg->nnotes++], sizeof cfg->notes[0],
                           "event=config_default_yielded key=%s value=%s default=%s because=%s",
                           moved->key, now, was, by->key);
    }
}

/*
 * "FILE:LINE: " for a message about option @o of @cfg: the file it came
 * from and the line it was set on; "FILE: " for a default, "command line: "
 * for an override, "" when @cfg came from no file.
 */
static const char *where_set(const cf_config_t *cfg, const option_t *o, char *buf, size_t cap)
{
    uint32_t line = o != NULL ? line_of_option(cfg, o) : 0;

    if (line == CF_CONFIG_LINE_CLI)
        (void)snprintf(buf, cap, "command line: ");
    else if (cfg->source[0] == '\0')
        buf[0] = '\0';
    else if (line == 0)
        (void)snprintf(buf, cap, "%s: ", cfg->source);
    else
        (void)snprintf(buf, cap, "%s:%u: ", cfg->source, (unsigned)line);
    return buf;
}

/* The one of @a and @b that was set in the file (@a when both or neither were). */
static const option_t *set_one(const cf_config_t *cfg, const option_t *a, const option_t *b)
{
    return line_of_option(cfg, a) == 0 && line_of_option(cfg, b) != 0 ? b : a;
}

static int check_ranges(const cf_config_t *cfg, char *err, size_t errlen)
{
    cf_config_t scratch = *cfg;
    char text[TEXT_MAX], msg[256], at[300];

    /*
     * Ranges: what text() writes must parse back, under the same rules as the
     * file. String lists and sections were checked item by item when they
     * were read, and re-parsing them into the shallow scratch copy would free
     * the caller's memory, so they are skipped.
     */
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        const type_t *t = &types[o->kind];
        if (is_list(o) || is_node(o))
            continue;
        if (t->text(o, cfg, text, sizeof text, msg, sizeof msg) < 0 ||
            t->parse(o, &scratch, text, strlen(text), msg, sizeof msg) < 0) {
            cf__config_say(err, errlen, "%s%s: %s", where_set(cfg, o, at, sizeof at), o->key,
                           msg);
            return CF_ECONFIG;
        }
    }
    return 0;
}

static int check_order(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300];

    for (size_t i = 0; i < sizeof(order_rules) / sizeof(order_rules[0]); i++) {
        const option_t *lo = must_find(order_rules[i].lo), *hi = must_find(order_rules[i].hi);
        cf_time_t a = *(const cf_time_t *)cf__config_cfield(cfg, lo->off);
        cf_time_t b = *(const cf_time_t *)cf__config_cfield(cfg, hi->off);
        char sa[32], sb[32];
        if (a > b) {
            if (cf_duration_format(a, sa, sizeof sa) < 0 || cf_duration_format(b, sb, sizeof sb) < 0)
                sa[0] = sb[0] = '\0'; /* unreachable: both passed the range check */
            cf__config_say(err, errlen, "%s%s (%s) must not exceed %s (%s)",
                           where_set(cfg, set_one(cfg, lo, hi), at, sizeof at), lo->key, sa,
                           hi->key, sb);
            return CF_ECONFIG;
        }
    }
    /*
     * A rotated-out key verifies for access_token.max_ttl + clock_leeway. An
     * automatic rotation sooner than that would pile up keys that all still
     * verify (and a JWKS that keeps growing), which is never what was meant.
     */
    if (cfg->key_rotate_every > 0 &&
        cfg->key_rotate_every <= cfg->access_max_ttl + cfg->clock_leeway) {
        char sr[32], st[32], sl[32];
        if (cf_duration_format(cfg->key_rotate_every, sr, sizeof sr) < 0 ||
            cf_duration_format(cfg->access_max_ttl, st, sizeof st) < 0 ||
            cf_duration_format(cfg->clock_leeway, sl, sizeof sl) < 0)
            sr[0] = st[0] = sl[0] = '\0'; /* unreachable: all passed the range check */
        cf__config_say(err, errlen,
                       "%skeys.rotate_every (%s) must exceed access_token.max_ttl (%s) + "
                       "clock_leeway (%s), the time a rotated-out key keeps verifying; 0s = off",
                       where_set(cfg, find_option("keys.rotate_every", 16), at, sizeof at), sr,
                       st, sl);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Every enabled rate limit must be one the limiter can hold: the emission
 * interval (period / count, rounded up) times the burst is its tolerance,
 * and cf_gcra_init() refuses one past the longest duration. The rate row is
 * followed by its burst row in options[] (RATE_ROWS).
 */
static int check_rates(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300], d[32];

    for (size_t i = 0; i + 1 < NOPTIONS; i++) {
        const option_t *o = &options[i];
        const cf_rate_cfg_t *r = cf__config_cfield(cfg, o->off);
        cf_gcra_t g;

        if (o->kind != OPT_RATE || !r->enabled ||
            cf_gcra_init(&g, r->count, r->period, r->burst) == 0)
            continue;
        if (cf_duration_format(r->period, d, sizeof d) < 0)
            d[0] = '\0';
        cf__config_say(err, errlen,
                       "%s%s: %lld with rate %lld/%s lets a key wait past the longest duration "
                       "(36500d); lower the burst or raise the rate",
                       where_set(cfg, set_one(cfg, &options[i + 1], o), at, sizeof at),
                       options[i + 1].key, (long long)r->burst, (long long)r->count, d);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * keys.kek_file as the server reads it at start (api/keys.c): at most 1 KiB
 * holding one key. CURFEW_KEK, when set, wins and the file is not read.
 */
static int check_kek_file(const cf_config_t *cfg, char *err, size_t errlen)
{
    const char *env = getenv("CURFEW_KEK");
    char at[300], text[1025];
    uint8_t kek[CF_KEK_LEN];
    FILE *f;
    size_t n;
    int rc;

    if (cfg->kek_file[0] == '\0' || (env != NULL && env[0] != '\0'))
        return 0;
    f = fopen(cfg->kek_file, "rb");
    if (f == NULL) {
        cf__config_say(err, errlen, "%skeys.kek_file: cannot open '%s': %s",
                       where_set(cfg, find_option("keys.kek_file", 13), at, sizeof at),
                       cfg->kek_file, strerror(errno));
        return CF_ECONFIG;
    }
    n = fread(text, 1, sizeof text, f);
    (void)fclose(f); /* opened for reading: nothing to lose */
    rc = n < sizeof text ? cf_keyset_kek_parse(text, n, kek) : CF_ETOOBIG;
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(kek, sizeof kek);
    if (rc < 0) {
        cf__config_say(err, errlen,
                       "%skeys.kek_file: '%s' does not hold a key (expected 32 bytes written as "
                       "64 hex digits, base64url or base64)",
                       where_set(cfg, find_option("keys.kek_file", 13), at, sizeof at),
                       cfg->kek_file);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Files the server opens at start, checked here so that `curfew config
 * check` refuses what `curfew serve` would: the audit log's directory must
 * exist (the log itself is created), and a key-encryption-key file must be
 * readable and hold a key unless CURFEW_KEK, which wins, is set.
 */
static int check_files(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300], dir[sizeof cfg->audit_path];
    const char *slash = strrchr(cfg->audit_path, '/');
    struct stat st;

    if (cfg->audit_path[0] != '\0' && strcmp(cfg->audit_path, "-") != 0) {
        size_t n = slash == NULL ? 1 : slash == cfg->audit_path ? 1 : (size_t)(slash - cfg->audit_path);
        memcpy(dir, slash == NULL ? "." : cfg->audit_path, n);
        dir[n] = '\0';
        if (slash != NULL && slash[1] == '\0') {
            cf__config_say(err, errlen, "%saudit.path: '%s' names a directory, not a file",
                           where_set(cfg, find_option("audit.path", 10), at, sizeof at),
                           cfg->audit_path);
            return CF_ECONFIG;
        }
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cf__config_say(err, errlen, "%saudit.path: directory '%s' %s",
                           where_set(cfg, find_option("audit.path", 10), at, sizeof at), dir,
                           stat(dir, &st) < 0 ? strerror(errno) : "is not a directory");
            return CF_ECONFIG;
        }
    }
    return check_kek_file(cfg, err, errlen);
}

int cf_config_validate(const cf_config_t *cfg, char *err, size_t errlen)
{
    int rc = check_ranges(cfg, err, errlen);

    if (rc == 0)
        rc = check_order(cfg, err, errlen);
    if (rc == 0)
        rc = check_rates(cfg, err, errlen);
    if (rc == 0)
        rc = check_files(cfg, err, errlen);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Loading YAML                                                              */
/* ------------------------------------------------------------------------ */

size_t cf__config_line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

const char *cf__config_node_kind(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE ? "a list" : n->type == YAML_MAPPING_NODE ? "a mapping"
                                                                                 : "a scalar";
}

/* A plain empty, "~" or "null" scalar: YAML's null, i.e. nothing was written. */
int cf__config_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return len == 0 || (len == 1 && v[0] == '~') ||
           (len == 4 && (memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 ||
                         memcmp(v, "NULL", 4) == 0));
}

/*
 * A list option from a YAML sequence: each item is checked where it stands
 * (so the message has its line), then the items go to parse() joined by ','.
 */
static int apply_list(loader_t *ld, const option_t *o, size_t line, const yaml_node_t *v)
{
    const type_t *t = &types[o->kind];
    char msg[256], *joined = NULL;
    size_t total = 1, len = 0;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE) {
        expected(o, msg, sizeof msg);
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: expected %s, got %s", ld->name, line,
                       o->key, msg, cf__config_is_null(v) ? "nothing" : cf__config_node_kind(v));
        return CF_ECONFIG;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        const char *s;
        size_t n;

        if (item == NULL)
            return CF_ECONFIG;
        if (item->type != YAML_SCALAR_NODE || cf__config_is_null(item)) {
            cf__config_say(ld->err, ld->errlen,
                           "%s:%zu: %s: list items must be plain values, not %s", ld->name,
                           cf__config_line_of(item), o->key,
                           item->type == YAML_SCALAR_NODE ? "nothing" : cf__config_node_kind(item));
            return CF_ECONFIG;
        }
        s = (const char *)item->data.scalar.value;
        n = item->data.scalar.length;
        if (memchr(s, ',', n) != NULL || memchr(s, '\0', n) != NULL || n == 0) {
            cf__config_say(ld->err, ld->errlen,
                           "%s:%zu: %s: list items must not be empty or contain ','", ld->name,
                           cf__config_line_of(item), o->key);
            return CF_ECONFIG;
        }
        if (t->item(o, s, n, msg, sizeof msg) < 0) {
            cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name,
                           cf__config_line_of(item), o->key, msg);
            return CF_ECONFIG;
        }
        total += n + 1;
    }
    joined = malloc(total);
    if (joined == NULL) {
        cf__config_say(ld->err, ld->errlen, "%s: out of memory", ld->name);
        return CF_ENOMEM;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        if (len > 0)
            joined[len++] = ',';
        memcpy(joined + len, item->data.scalar.value, item->data.scalar.length);
        len += item->data.scalar.length;
    }
    joined[len] = '\0';
    rc = t->parse(o, ld->cfg, joined, len, msg, sizeof msg);
    free(joined);
    if (rc < 0) {
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line, o->key, msg);
        return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
    }
    return 0;
}

/* Apply the value node @v of option @o; @line is the key's line (errors point at the key). */
static int apply_node(loader_t *ld, const option_t *o, size_t line, const yaml_node_t *v)
{
    char msg[256];

    /* Before the value is applied: a failed load discards the copy anyway. */
    ld->cfg->set_line[o - options] = (uint32_t)line;
    if (is_node(o))
        return types[o->kind].load(ld, v);
    if (types[o->kind].item != NULL)
        return apply_list(ld, o, line, v);
    if (v->type != YAML_SCALAR_NODE || cf__config_is_null(v)) {
        expected(o, msg, sizeof msg);
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: expected %s, got %s", ld->name, line,
                       o->key, msg,
                       v->type == YAML_SCALAR_NODE ? "nothing" : cf__config_node_kind(v));
        return CF_ECONFIG;
    }
    if (types[o->kind].parse(o, ld->cfg, (const char *)v->data.scalar.value, v->data.scalar.length,
                             msg, sizeof msg) < 0) {
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line, o->key, msg);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Walk mapping @map whose keys live under @prefix ("" at the top). A key is
 * either an option, applied at once, or a section, walked in turn. Recursion
 * only follows known sections, so its depth is that of the deepest key and
 * an alias cannot make it loop. Duplicates are checked against the earlier
 * keys of the same mapping; those were all valid, so that is at most
 * NOPTIONS comparisons per key whatever the file holds.
 */
static int walk_mapping(loader_t *ld, const yaml_node_t *map, const char *prefix)
{
    const size_t plen = strlen(prefix);

    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
        char path[KEY_MAX], shown[64];
        const char *key;
        size_t klen, len;
        const option_t *o;
        int rc;

        if (k == NULL || v == NULL)
            return CF_ECONFIG; /* libyaml guarantees both; be safe rather than crash */
        if (k->type != YAML_SCALAR_NODE) {
            cf__config_say(ld->err, ld->errlen, "%s:%zu: %s%skeys must be plain names, not %s",
                           ld->name, cf__config_line_of(k), prefix, plen > 0 ? ": " : "",
                           cf__config_node_kind(k));
            return CF_ECONFIG;
        }
        key = (const char *)k->data.scalar.value;
        klen = k->data.scalar.length;
        len = plen + (plen > 0) + klen;
        if (len >= sizeof path || klen == 0 || memchr(key, '.', klen) != NULL ||
            memchr(key, '\0', klen) != NULL) {
            char pshown[64], kshown[64];
            cf__config_say(ld->err, ld->errlen, "%s:%zu: unknown key '%s%s%s'", ld->name,
                           cf__config_line_of(k),
                           cf__config_show(prefix, plen, pshown, sizeof pshown),
                           plen > 0 ? "." : "", cf__config_show(key, klen, kshown, sizeof kshown));
            return CF_ECONFIG;
        }
        memcpy(path, prefix, plen);
        if (plen > 0)
            path[plen] = '.';
        memcpy(path + plen + (plen > 0), key, klen);
        path[len] = '\0';

        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
            const yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
            if (kq != NULL && kq->type == YAML_SCALAR_NODE && kq->data.scalar.length == klen &&
                memcmp(kq->data.scalar.value, key, klen) == 0) {
                cf__config_say(
                    ld->err, ld->errlen, "%s:%zu: duplicate key '%s' (first on line %zu)", ld->name,
                    cf__config_line_of(k), cf__config_show(path, len, shown, sizeof shown),
                    cf__config_line_of(kq));
                return CF_ECONFIG;
            }
        }

        o = find_option(path, len);
        if (o != NULL) {
            rc = apply_node(ld, o, cf__config_line_of(k), v);
        } else if (is_section(path, len) && v->type == YAML_SCALAR_NODE && len == 5 &&
                   memcmp(path, "store", 5) == 0) {
            /* Shorthand: `store: redis://...` (or `store: sqlite`) sets store.url. */
            rc = apply_node(ld, find_option("store.url", 9), cf__config_line_of(k), v);
        } else if (is_section(path, len)) {
            if (v->type != YAML_MAPPING_NODE) {
                cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: expected a mapping", ld->name,
                               cf__config_line_of(k), path);
                return CF_ECONFIG;
            }
            rc = walk_mapping(ld, v, path);
        } else {
            cf__config_say(ld->err, ld->errlen, "%s:%zu: unknown key '%s'", ld->name,
                           cf__config_line_of(k), cf__config_show(path, len, shown, sizeof shown));
            return CF_ECONFIG;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *buf, size_t len, const char *name,
                        char *err, size_t errlen)
{
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    size_t line = p->problem_mark.line + 1;

    if (p->error == YAML_MEMORY_ERROR) {
        cf__config_say(err, errlen, "%s: out of memory", name);
        return CF_ENOMEM;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count the lines ourselves. */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += buf[i] == '\n';
    }
    if (p->context != NULL)
        cf__config_say(err, errlen, "%s:%zu: %s (%s)", name, line, problem, p->context);
    else
        cf__config_say(err, errlen, "%s:%zu: %s", name, line, problem);
    return CF_ECONFIG;
}

int cf_config_load_buffer(const char *buf, size_t len, const char *name, cf_config_t *cfg,
                          char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int have_doc = 0, have_extra = 0, rc = 0;
    cf_config_t tmp;
    const yaml_node_t *root, *root2;
    loader_t ld = {&doc, name, &tmp, err, errlen};

    if (len > CF_CONFIG_MAX_FILE) {
        cf__config_say(err, errlen, "%s: file too large (at most %d bytes)", name,
                       CF_CONFIG_MAX_FILE);
        return CF_ECONFIG;
    }
    /* A deep copy: sections and lists replaced by the file free the copy's, not @cfg's. */
    if (cf_config_copy(&tmp, cfg) < 0) {
        cf__config_say(err, errlen, "%s: out of memory", name);
        return CF_ENOMEM;
    }
    if (!yaml_parser_initialize(&parser)) {
        cf__config_say(err, errlen, "%s: out of memory", name);
        cf_config_fini(&tmp);
        return CF_ENOMEM;
    }
    /* libyaml asserts on a NULL input even when it is empty. */
    yaml_parser_set_input_string(&parser, (const unsigned char *)(buf != NULL ? buf : ""), len);

    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&parser, buf, len, name, err, errlen);
        goto done;
    }
    have_doc = 1;
    if (!yaml_parser_load(&parser, &extra)) {
        rc = syntax_error(&parser, buf, len, name, err, errlen);
        goto done;
    }
    have_extra = 1;
    root2 = yaml_document_get_root_node(&extra);
    if (root2 != NULL) {
        cf__config_say(err, errlen, "%s:%zu: only one YAML document is allowed", name,
                       cf__config_line_of(root2));
        rc = CF_ECONFIG;
        goto done;
    }

    root = yaml_document_get_root_node(&doc);
    if (root == NULL || cf__config_is_null(root))
        goto done; /* empty file, or comments only: nothing to change */
    if (root->type != YAML_MAPPING_NODE) {
        cf__config_say(err, errlen,
                       "%s:%zu: expected a mapping of options at the top level, got %s", name,
                       cf__config_line_of(root), cf__config_node_kind(root));
        rc = CF_ECONFIG;
        goto done;
    }
    rc = walk_mapping(&ld, root, "");
    if (rc == 0)
        rc = cf__config_check_policy(&ld);
done:
    if (rc == 0) {
        (void)snprintf(tmp.source, sizeof tmp.source, "%s", name);
        yield_defaults(&tmp);
        derive(&tmp);
        cf_policy_prepare(&tmp.policy);
        cf_config_fini(cfg);
        *cfg = tmp;
    } else {
        cf_config_fini(&tmp);
    }
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int cf_config_load(const char *path, cf_config_t *cfg, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        cf__config_say(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return CF_ECONFIG;
    }
    /* One byte past the cap tells "too large" from "exactly at the cap". */
    buf = malloc(CF_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        cf__config_say(err, errlen, "%s: out of memory", path);
        rc = CF_ENOMEM;
        goto done;
    }
    len = fread(buf, 1, CF_CONFIG_MAX_FILE + 1, f);
    if (ferror(f)) {
        cf__config_say(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = CF_ECONFIG;
        goto done;
    }
    rc = cf_config_load_buffer(buf, len, path, cfg, err, errlen);
done:
    free(buf);
    (void)fclose(f); /* opened for reading: nothing to flush, nothing to lose */
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Dump and docs                                                             */
/* ------------------------------------------------------------------------ */

/* Decode one UTF-8 sequence at @s (of @n bytes); its length, or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    *cp = c;
    return len;
}

/* Characters libyaml accepts raw inside a double-quoted scalar without folding them. */
static int yaml_printable(uint32_t c)
{
    return (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff && c != 0x2028 && c != 0x2029) ||
           (c >= 0xe000 && c <= 0xfffd && c != 0xfeff) || (c >= 0x10000 && c <= 0x10ffff);
}

/*
 * Write @s as a YAML double-quoted scalar that reads back to the same bytes:
 * quotes and backslashes escaped, anything libyaml would refuse or fold
 * (controls, NEL, line and paragraph separators, BOM) as a \x, \u or \U escape.
 * Bytes that are not UTF-8 cannot be represented and are written raw.
 */
void cf__config_put_quoted(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    fputc('"', out);
    while (n > 0) {
        uint32_t cp;
        size_t len = utf8_decode(p, n, &cp);

        if (len == 0) {
            fputc(*p, out);
            len = 1;
        } else if (cp == '"' || cp == '\\') {
            fprintf(out, "\\%c", (int)cp);
        } else if (yaml_printable(cp)) {
            fwrite(p, 1, len, out);
        } else if (cp <= 0xff) {
            fprintf(out, "\\x%02X", (unsigned)cp);
        } else if (cp <= 0xffff) {
            fprintf(out, "\\u%04X", (unsigned)cp);
        } else {
            fprintf(out, "\\U%08X", (unsigned)cp);
        }
        p += len;
        n -= len;
    }
    fputc('"', out);
}

/* Length of the section part of @key ("session" in "session.idle_timeout"; 0 at the top). */
static size_t section_len(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot != NULL ? (size_t)(dot - key) : 0;
}

void cf_config_dump(const cf_config_t *cfg, FILE *out)
{
    const char *prev = "";
    size_t prev_sec = 0;

    fputs("# curfew effective configuration\n", out);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        size_t sec = section_len(o->key), common = 0, depth = 0, start;
        char text[TEXT_MAX], msg[128];

        /* Sections already open: whole components shared with the previous key's section. */
        for (size_t j = 0; j < sec && j < prev_sec && o->key[j] == prev[j]; j++)
            if (j + 1 == sec || o->key[j + 1] == '.')
                if (j + 1 == prev_sec || prev[j + 1] == '.')
                    common = j + 1;
        for (size_t j = 0; j < common; j++)
            depth += o->key[j] == '.';
        if (common > 0)
            depth++;
        /* Open the rest, one component per line. */
        start = common > 0 ? common + 1 : 0;
        while (start < sec) {
            const char *dot = memchr(o->key + start, '.', sec - start);
            size_t end = dot != NULL ? (size_t)(dot - o->key) : sec;
            fprintf(out, "%*s%.*s:\n", (int)(2 * depth), "", (int)(end - start), o->key + start);
            depth++;
            start = end + 1;
        }
        fprintf(out, "%*s%s:", (int)(2 * depth), "", o->key + (sec > 0 ? sec + 1 : 0));
        prev = o->key;
        prev_sec = sec;
        if (is_node(o)) {
            types[o->kind].dump(cfg, out); /* writes the rest, newline included */
            continue;
        }
        fputc(' ', out);
        if (is_list(o)) {
            cf__config_put_strv(out, *(char **const *)cf__config_cfield(cfg, o->off),
                                *(const size_t *)cf__config_cfield(cfg, o->off2));
            fputc('\n', out);
            continue;
        }
        if (types[o->kind].text(o, cfg, text, sizeof text, msg, sizeof msg) < 0)
            fprintf(out, "null  # invalid: %s", msg); /* fails to load back, as it should */
        else if (o->kind == OPT_KEYS)
            fprintf(out, "[%s]", text); /* "ip,sub" -> [ip,sub]: plain names, valid YAML */
        else if (types[o->kind].quote)
            cf__config_put_quoted(out, text);
        else
            fputs(text, out);
        fputc('\n', out);
    }
}

void cf_config_doc(FILE *out)
{
    fputs("| Key | Type | Default | Description |\n"
          "|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        char all[128];

        fprintf(out, "| `%s` | ", o->key);
        if (o->kind == OPT_ENUM) {
            list_choices(o, all, sizeof all);
            fprintf(out, "one of %s", all);
        } else if (o->kind == OPT_CHOICE) {
            cf__config_join_choices(o->choices, all, sizeof all);
            fprintf(out, "one of %s", all);
        } else if (o->kind == OPT_KEYS) {
            cf__config_join_choices(o->choices, all, sizeof all);
            fprintf(out, "list of %s", all);
        } else {
            fputs(types[o->kind].name, out);
        }
        if ((o->kind == OPT_UINT || o->kind == OPT_I64) && o->max > 0)
            fprintf(out, ", %lld to %lld", (long long)o->min, (long long)o->max);
        else if (o->kind == OPT_DURATION && o->min == 1)
            fputs(", > 0", out);
        else if (o->kind == OPT_DURATION && o->min == CF_SEC)
            fputs(", >= 1s", out);
        if (is_list(o) && o->def[0] == '\0')
            fprintf(out, " | `[]` | %s |\n", o->doc);
        else if (o->def[0] == '\0')
            fprintf(out, " | `\"\"` | %s |\n", o->doc);
        else if (o->kind == OPT_KEYS)
            fprintf(out, " | `[%s]` | %s |\n", o->def, o->doc);
        else
            fprintf(out, " | `%s` | %s |\n", o->def, o->doc);
        if (is_node(o))
            cf__config_doc_fields(out, o);
    }
}
