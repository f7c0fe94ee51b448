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
 * Their fields are documented by sub-tables (client_fields[] and friends)
 * next to their loaders, so the docs still come from one place.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/b64url.h"
#include "core/duration.h"
#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* The option table                                                          */
/* ------------------------------------------------------------------------ */

typedef enum {
    OPT_DURATION,
    OPT_STRING,
    OPT_UINT,
    OPT_BOOL,
    OPT_ADDR,
    OPT_ENUM,
    OPT_I64,      /* int64_t */
    OPT_CHOICE,   /* an int-sized enum: the n-th choice is stored as n + 1 (0 = unset) */
    OPT_RATE,     /* cf_rate_cfg_t: "N/DURATION" or "off" */
    OPT_KEYS,     /* unsigned CF_RLKEY_* bits from a list of key kinds */
    OPT_STRLIST,  /* char ** at off, size_t count at off2 */
    OPT_CIDRLIST, /* as OPT_STRLIST, every item a CIDR */
    OPT_CLIENTS,  /* node-level sections that build cfg->policy */
    OPT_ROLES,
    OPT_ROUTES,
} opt_kind_t;

typedef struct {
    const char *key;               /* dotted path: "session.idle_timeout" */
    opt_kind_t kind;
    const char *def;               /* default, spelled as in the file */
    size_t off;                    /* field offset; OPT_ADDR: the host buffer */
    size_t size;                   /* field size (buffer size for strings and the host) */
    size_t off2;                   /* OPT_ADDR: offset of the int port; lists: of the count */
    int64_t min, max;              /* DURATION: ms; UINT: value; STRING: min length. max 0 = none */
    const char *const *choices;    /* OPT_ENUM: NULL-terminated */
    const char *doc;               /* one sentence for docs/configuration.md */
} option_t;

#define FIELD(f) .off = offsetof(cf_config_t, f), .size = sizeof(((cf_config_t *)0)->f)

#define LIST(f, n) FIELD(f), .off2 = offsetof(cf_config_t, n)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
/* Stored as index + 1: the order matches cf_ip_binding_t and cf_risk_action_t. */
static const char *const ip_bindings[] = {"off", "prefix16", "prefix24", "exact", NULL};
static const char *const risk_actions[] = {"ignore", "step_up", "revoke", NULL};
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
     .doc = "Directory for the SQLite database and the signing key; created if missing."},
    {.key = "log_level", .kind = OPT_ENUM, .def = "info", FIELD(log_level), .choices = log_levels,
     .doc = "Least severe diagnostic log level written to stderr."},
    {.key = "clock_leeway", .kind = OPT_DURATION, .def = "30s", FIELD(clock_leeway),
     .doc = "Clock skew tolerated when checking the exp, nbf and iat claims of presented tokens."},

    {.key = "access_token.ttl", .kind = OPT_DURATION, .def = "10m", FIELD(access_ttl), .min = 1,
     .doc = "Lifetime of an access token unless a client asks for less."},
    {.key = "access_token.max_ttl", .kind = OPT_DURATION, .def = "15m", FIELD(access_max_ttl),
     .min = 1, .doc = "Longest access-token lifetime any client or per-session limit may ask for."},

    {.key = "session.idle_timeout", .kind = OPT_DURATION, .def = "30m", FIELD(idle_timeout),
     .min = 1, .doc = "A session ends after this long without activity."},
    {.key = "session.absolute_timeout", .kind = OPT_DURATION, .def = "12h",
     FIELD(absolute_timeout), .min = 1,
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

    {.key = "store.activity_flush", .kind = OPT_DURATION, .def = "1s", FIELD(activity_flush),
     .min = 1, .doc = "How often last-activity times, kept in memory, are written to the store."},
    {.key = "store.purge_interval", .kind = OPT_DURATION, .def = "60s", FIELD(purge_interval),
     .min = 1, .doc = "How often ended and expired sessions are purged from the store."},
    {.key = "store.purge_after", .kind = OPT_DURATION, .def = "1h", FIELD(purge_after),
     .doc = "Ended sessions are kept this long before purging, so their end reason stays "
            "visible."},

    {.key = "clients", .kind = OPT_CLIENTS, .def = "[]",
     .doc = "OAuth clients, a list (fields below); when set, unknown client ids are refused."},
    {.key = "roles", .kind = OPT_ROLES, .def = "{}",
     .doc = "Role name -> stricter lifetimes and risk rules for sessions holding that role."},
    {.key = "routes", .kind = OPT_ROUTES, .def = "[]",
     .doc = "Ordered route rules checked on /v1/check, first match wins; a request matching "
            "none is allowed by session rules only."},

    {.key = "risk.ip_binding", .kind = OPT_CHOICE, .def = "off", FIELD(policy.risk.ip_binding),
     .choices = ip_bindings,
     .doc = "How much of the session's creation address a request must share "
            "(IPv4 /32, /24, /16; IPv6 /128, /64, /48)."},
    {.key = "risk.on_ip_change", .kind = OPT_CHOICE, .def = "revoke",
     FIELD(policy.risk.on_ip_change), .choices = risk_actions,
     .doc = "What a request from outside the bound address gets: revoke ends the session, "
            "step_up asks for a fresh login, ignore allows it."},
    {.key = "risk.on_device_change", .kind = OPT_CHOICE, .def = "revoke",
     FIELD(policy.risk.on_device_change), .choices = risk_actions,
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
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

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

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
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
static const char *show(const char *s, size_t n, char *buf, size_t cap)
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

static void *field(void *cfg, size_t off)
{
    return (char *)cfg + off;
}

static const void *cfield(const void *cfg, size_t off)
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
static int parse_digits(const char *s, size_t n, uint64_t *out)
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
typedef struct loader loader_t;

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
static int find_bad_unit(const char *s, size_t n, size_t *at, size_t *len)
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
        if (why != NULL && strncmp(why, "unknown unit", 12) == 0 && find_bad_unit(s, n, &at, &len))
            say(msg, cap, "unknown unit '%s' (use ms, s, m, h or d)",
                show(s + at, len, shown, sizeof shown));
        else
            say(msg, cap, "%s", why != NULL ? why : "invalid duration");
        return CF_ECONFIG;
    }
    if (v < o->min) {
        if (o->min == 1) {
            say(msg, cap, "must be greater than 0");
        } else {
            if (cf_duration_format(o->min, lim, sizeof lim) < 0)
                lim[0] = '\0';
            say(msg, cap, "must be at least %s", lim);
        }
        return CF_ECONFIG;
    }
    if (o->max > 0 && v > o->max) {
        if (cf_duration_format(o->max, lim, sizeof lim) < 0)
            lim[0] = '\0';
        say(msg, cap, "must be at most %s", lim);
        return CF_ECONFIG;
    }
    *(cf_time_t *)field(cfg, o->off) = v;
    return 0;
}

static int duration_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap)
{
    if (cf_duration_format(*(const cf_time_t *)cfield(cfg, o->off), buf, cap) < 0) {
        say(msg, msgcap, "must not be negative");
        return CF_ECONFIG;
    }
    return 0;
}

static int string_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                        size_t cap)
{
    char *dst = field(cfg, o->off);

    if (n >= o->size) {
        say(msg, cap, "too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    if (memchr(s, '\0', n) != NULL) {
        say(msg, cap, "must not contain NUL bytes");
        return CF_ECONFIG;
    }
    if ((int64_t)n < o->min) {
        say(msg, cap, "must not be empty");
        return CF_ECONFIG;
    }
    memcpy(dst, s, n);
    memset(dst + n, 0, o->size - n); /* no stale bytes: equal configs compare equal */
    return 0;
}

static int string_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                       char *msg, size_t msgcap)
{
    const char *src = cfield(cfg, o->off);
    const char *nul = memchr(src, '\0', o->size);
    size_t n = nul != NULL ? (size_t)(nul - src) : o->size;

    if (nul == NULL || n >= cap) {
        say(msg, msgcap, "too long (at most %zu bytes)", o->size - 1);
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

    if (parse_digits(s, n, &v) < 0 || (int64_t)v < 0 || (int64_t)v < o->min) {
        say(msg, cap, "expected a %s integer, got '%s'", o->min > 0 ? "positive" : "non-negative",
            show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    if ((o->max > 0 && (int64_t)v > o->max) || v > SIZE_MAX) {
        say(msg, cap, "must be at most %lld, got '%s'", (long long)o->max,
            show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(size_t *)field(cfg, o->off) = (size_t)v;
    return 0;
}

static int uint_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "%zu", *(const size_t *)cfield(cfg, o->off)); /* cap >> 21 digits */
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
        say(msg, cap, "expected true or false, got '%s'", show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(int *)field(cfg, o->off) = v;
    return 0;
}

static int bool_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    int v = *(const int *)cfield(cfg, o->off);

    if (v != 0 && v != 1) {
        say(msg, msgcap, "must be true or false");
        return CF_ECONFIG;
    }
    (void)snprintf(buf, cap, "%s", v ? "true" : "false");
    return 0;
}

static int host_char_ok(char c, int bracketed)
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
    if (hlen == 0 || plen == 0 || plen > 5 || parse_digits(port, plen, &p) < 0)
        goto bad;
    for (i = 0; i < hlen; i++)
        if (!host_char_ok(host[i], bracketed))
            goto bad;
    if (bracketed && memchr(host, ':', hlen) == NULL)
        goto bad;
    if (p < 1 || p > 65535) {
        say(msg, cap, "port must be between 1 and 65535");
        return CF_ECONFIG;
    }
    if (hlen >= o->size) {
        say(msg, cap, "host too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    memcpy(field(cfg, o->off), host, hlen);
    memset((char *)field(cfg, o->off) + hlen, 0, o->size - hlen);
    *(int *)field(cfg, o->off2) = (int)p;
    return 0;
bad:
    say(msg, cap, "expected HOST:PORT");
    return CF_ECONFIG;
}

static int addr_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    const char *host = cfield(cfg, o->off);
    int port = *(const int *)cfield(cfg, o->off2);
    int w;

    if (memchr(host, '\0', o->size) == NULL) {
        say(msg, msgcap, "host too long (at most %zu bytes)", o->size - 1);
        return CF_ECONFIG;
    }
    if (strchr(host, ':') != NULL)
        w = snprintf(buf, cap, "[%s]:%d", host, port);
    else
        w = snprintf(buf, cap, "%s:%d", host, port);
    if (w < 0 || (size_t)w >= cap) {
        say(msg, msgcap, "expected HOST:PORT");
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
            memcpy(field(cfg, o->off), s, n);
            memset((char *)field(cfg, o->off) + n, 0, o->size - n);
            return 0;
        }
    }
    list_choices(o, all, sizeof all);
    say(msg, cap, "expected one of %s, got '%s'", all, show(s, n, shown, sizeof shown));
    return CF_ECONFIG;
}

static int i64_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                     size_t cap)
{
    uint64_t v;
    char shown[64];

    if (parse_digits(s, n, &v) < 0 || v > INT64_MAX || (int64_t)v < o->min) {
        say(msg, cap, "expected a %s integer, got '%s'", o->min > 0 ? "positive" : "non-negative",
            show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (o->max > 0 && (int64_t)v > o->max) {
        say(msg, cap, "must be at most %lld, got '%s'", (long long)o->max,
            show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(int64_t *)field(cfg, o->off) = (int64_t)v;
    return 0;
}

static int i64_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                    size_t msgcap)
{
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "%lld", (long long)*(const int64_t *)cfield(cfg, o->off));
    return 0;
}

/* Index + 1 of the @n bytes at @s among @choices; 0 when not there. */
static int choice_index(const char *const *choices, const char *s, size_t n)
{
    for (int i = 0; choices[i] != NULL; i++)
        if (strlen(choices[i]) == n && memcmp(choices[i], s, n) == 0)
            return i + 1;
    return 0;
}

static void join_choices(const char *const *choices, char *buf, size_t cap)
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
    int v = choice_index(o->choices, s, n);
    char shown[64], all[128];

    if (v == 0) {
        join_choices(o->choices, all, sizeof all);
        say(msg, cap, "expected one of %s, got '%s'", all, show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    memcpy(field(cfg, o->off), &v, sizeof v);
    return 0;
}

static int choice_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                       char *msg, size_t msgcap)
{
    int v, n = 0;

    memcpy(&v, cfield(cfg, o->off), sizeof v);
    while (o->choices[n] != NULL)
        n++;
    if (v < 1 || v > n) {
        say(msg, msgcap, "not set");
        return CF_ECONFIG;
    }
    (void)snprintf(buf, cap, "%s", o->choices[v - 1]);
    return 0;
}

/*
 * "N/DURATION": N requests per DURATION ("10/1m", "100/1s"), or "off". N is
 * at least 1 and the duration at least 1ms, so the emission interval
 * DURATION / N the limiter uses is well defined.
 */
static int parse_rate(const char *s, size_t n, cf_rate_cfg_t *r, char *msg, size_t cap)
{
    const char *slash = memchr(s, '/', n);
    const char *why = NULL;
    uint64_t count;
    cf_time_t period;
    char shown[64];

    if (n == 3 && memcmp(s, "off", 3) == 0) {
        r->enabled = 0;
        r->count = 0;
        r->period = 0;
        return 0;
    }
    if (slash == NULL || parse_digits(s, (size_t)(slash - s), &count) < 0 || count < 1 ||
        count > 1000000000 ||
        cf_duration_parse(slash + 1, n - (size_t)(slash - s) - 1, &period, &why) < 0 ||
        period < 1) {
        say(msg, cap, "expected N/DURATION such as 10/1m, or off, got '%s'",
            show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    r->enabled = 1;
    r->count = (int64_t)count;
    r->period = period;
    return 0;
}

static int rate_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    cf_rate_cfg_t *r = field(cfg, o->off), tmp = *r;

    if (parse_rate(s, n, &tmp, msg, cap) < 0)
        return CF_ECONFIG;
    *r = tmp;
    return 0;
}

static int rate_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    const cf_rate_cfg_t *r = cfield(cfg, o->off);
    char d[32];

    if (!r->enabled) {
        (void)snprintf(buf, cap, "off");
        return 0;
    }
    if (r->count < 1 || r->period < 1 || cf_duration_format(r->period, d, sizeof d) < 0) {
        say(msg, msgcap, "expected N/DURATION such as 10/1m, or off");
        return CF_ECONFIG;
    }
    (void)snprintf(buf, cap, "%lld/%s", (long long)r->count, d);
    return 0;
}

/* Split "a, b,c" on commas; calls @fn per trimmed item; stops at its first error. */
static int each_item(const char *s, size_t n, int (*fn)(void *ctx, const char *it, size_t len),
                     void *ctx)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i, a, b;
        int rc;

        while (j < n && s[j] != ',')
            j++;
        a = i;
        b = j;
        while (a < b && s[a] == ' ')
            a++;
        while (b > a && s[b - 1] == ' ')
            b--;
        rc = fn(ctx, s + a, b - a);
        if (rc < 0)
            return rc;
        i = j + 1;
        if (j + 1 == n) /* "a," : a trailing empty item */
            return fn(ctx, s + n, 0);
    }
    return 0;
}

typedef struct {
    const option_t *o;
    unsigned bits;
    char *msg;
    size_t cap;
} keys_ctx_t;

static int key_kind_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    char shown[64], all[128];

    if (choice_index(o->choices, s, n) == 0) {
        join_choices(o->choices, all, sizeof all);
        say(msg, cap, "unknown key kind '%s' (use %s)", show(s, n, shown, sizeof shown), all);
        return CF_ECONFIG;
    }
    return 0;
}

static int keys_one(void *ctx, const char *s, size_t n)
{
    keys_ctx_t *k = ctx;
    unsigned bit;

    if (key_kind_ok(k->o, s, n, k->msg, k->cap) < 0)
        return CF_ECONFIG;
    bit = 1u << (choice_index(k->o->choices, s, n) - 1);
    if (k->bits & bit) {
        say(k->msg, k->cap, "'%.*s' is listed twice", (int)n, s);
        return CF_ECONFIG;
    }
    k->bits |= bit;
    return 0;
}

static int keys_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    keys_ctx_t k = {o, 0, msg, cap};
    char all[128];

    if (each_item(s, n, keys_one, &k) < 0)
        return CF_ECONFIG;
    if (k.bits == 0) {
        join_choices(o->choices, all, sizeof all);
        say(msg, cap, "expected at least one of %s", all);
        return CF_ECONFIG;
    }
    *(unsigned *)field(cfg, o->off) = k.bits;
    return 0;
}

static int keys_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    unsigned bits = *(const unsigned *)cfield(cfg, o->off);
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; o->choices[i] != NULL; i++) {
        if (bits & (1u << i)) {
            int w = snprintf(buf + len, cap - len, "%s%s", len > 0 ? "," : "", o->choices[i]);
            if (w < 0 || (size_t)w >= cap - len)
                break;
            len += (size_t)w;
        }
    }
    if (len == 0) {
        say(msg, msgcap, "expected at least one key kind");
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * A CIDR "ADDR/BITS" (IPv4 /0-/32, IPv6 /0-/128). Parsed here with
 * inet_pton so the config can be checked on its own; the server parses it
 * again into its own form when it starts.
 */
static int cidr_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    const char *slash = memchr(s, '/', n);
    char addr[INET6_ADDRSTRLEN + 1], shown[64];
    unsigned char bin[16];
    size_t alen;
    uint64_t bits;
    int v6;

    (void)o;
    if (slash == NULL)
        goto bad;
    alen = (size_t)(slash - s);
    if (alen == 0 || alen >= sizeof addr ||
        parse_digits(slash + 1, n - alen - 1, &bits) < 0 || n - alen - 1 > 3)
        goto bad;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    v6 = memchr(addr, ':', alen) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1 || bits > (v6 ? 128u : 32u))
        goto bad;
    return 0;
bad:
    say(msg, cap, "bad CIDR '%s' (expected ADDRESS/BITS such as 10.0.0.0/8 or ::1/128)",
        show(s, n, shown, sizeof shown));
    return CF_ECONFIG;
}

/* Header names and origins: visible ASCII without ',' (the list separator) or spaces. */
static int token_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    char shown[64];

    if (n == 0) {
        say(msg, cap, "list items must not be empty");
        return CF_ECONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ',') {
            say(msg, cap, "'%s' must be visible ASCII without spaces or commas",
                show(s, n, shown, sizeof shown));
            return CF_ECONFIG;
        }
    }
    if (o->off == offsetof(cf_config_t, allowed_origins) &&
        !((n > 7 && memcmp(s, "http://", 7) == 0) || (n > 8 && memcmp(s, "https://", 8) == 0))) {
        say(msg, cap, "'%s' is not an origin (expected https://HOST[:PORT])",
            show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    return 0;
}

typedef struct {
    const option_t *o;
    char **v;
    size_t n;
    char *msg;
    size_t cap;
} strv_ctx_t;

static int strv_one(void *ctx, const char *s, size_t n)
{
    strv_ctx_t *c = ctx;
    int (*ok)(const option_t *, const char *, size_t, char *, size_t) =
        c->o->kind == OPT_CIDRLIST ? cidr_ok : token_ok;
    char *dup;

    if (n == 0) {
        say(c->msg, c->cap, "list items must not be empty");
        return CF_ECONFIG;
    }
    if (ok(c->o, s, n, c->msg, c->cap) < 0)
        return CF_ECONFIG;
    dup = strndup(s, n);
    if (dup == NULL) {
        say(c->msg, c->cap, "out of memory");
        return CF_ENOMEM;
    }
    c->v[c->n++] = dup; /* room for every comma-separated item was made up front */
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Replaces the list only when every item is valid; the old one is freed then. */
static int strlist_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                         size_t cap)
{
    char ***vp = field(cfg, o->off);
    size_t *np = field(cfg, o->off2), items = 1;
    strv_ctx_t c = {o, NULL, 0, msg, cap};
    int rc;

    for (size_t i = 0; i < n; i++)
        items += s[i] == ',';
    if (n > 0) {
        c.v = calloc(items, sizeof *c.v);
        if (c.v == NULL) {
            say(msg, cap, "out of memory");
            return CF_ENOMEM;
        }
        rc = each_item(s, n, strv_one, &c);
        if (rc < 0) {
            strv_free(c.v, c.n);
            return rc;
        }
    }
    strv_free(*vp, *np);
    *vp = c.v;
    *np = c.n;
    return 0;
}

static int strlist_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                        char *msg, size_t msgcap)
{
    char *const *v = *(char **const *)cfield(cfg, o->off);
    size_t n = *(const size_t *)cfield(cfg, o->off2), len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? "," : "", v[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            say(msg, msgcap, "list too long to show");
            return CF_ECONFIG;
        }
        len += (size_t)w;
    }
    return 0;
}

static int section_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                         size_t cap)
{
    (void)cfg;
    (void)s;
    (void)n;
    (void)o;
    say(msg, cap, "can only be set in the config file");
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

static int clients_load(loader_t *ld, const yaml_node_t *v);
static int roles_load(loader_t *ld, const yaml_node_t *v);
static int routes_load(loader_t *ld, const yaml_node_t *v);
static void clients_dump(const cf_config_t *cfg, FILE *out);
static void roles_dump(const cf_config_t *cfg, FILE *out);
static void routes_dump(const cf_config_t *cfg, FILE *out);

static const type_t types[] = {
    [OPT_DURATION] = {"duration", duration_parse, duration_text, 0, NULL, NULL, NULL},
    [OPT_STRING] = {"string", string_parse, string_text, 1, NULL, NULL, NULL},
    [OPT_UINT] = {"integer", uint_parse, uint_text, 0, NULL, NULL, NULL},
    [OPT_BOOL] = {"bool", bool_parse, bool_text, 0, NULL, NULL, NULL},
    [OPT_ADDR] = {"HOST:PORT", addr_parse, addr_text, 1, NULL, NULL, NULL},
    [OPT_ENUM] = {"enum", enum_parse, string_text, 0, NULL, NULL, NULL},
    [OPT_I64] = {"integer", i64_parse, i64_text, 0, NULL, NULL, NULL},
    [OPT_CHOICE] = {"enum", choice_parse, choice_text, 0, NULL, NULL, NULL},
    [OPT_RATE] = {"N/DURATION or off", rate_parse, rate_text, 0, NULL, NULL, NULL},
    [OPT_KEYS] = {"list", keys_parse, keys_text, 0, key_kind_ok, NULL, NULL},
    [OPT_STRLIST] = {"list of strings", strlist_parse, strlist_text, 1, token_ok, NULL, NULL},
    [OPT_CIDRLIST] = {"list of CIDRs", strlist_parse, strlist_text, 1, cidr_ok, NULL, NULL},
    [OPT_CLIENTS] = {"list of clients", section_parse, section_text, 0, NULL, clients_load,
                     clients_dump},
    [OPT_ROLES] = {"mapping of roles", section_parse, section_text, 0, NULL, roles_load,
                   roles_dump},
    [OPT_ROUTES] = {"list of routes", section_parse, section_text, 0, NULL, routes_load,
                    routes_dump},
};

/* What a value of @o looks like, for "expected ..., got a list". */
static void expected(const option_t *o, char *buf, size_t cap)
{
    char all[128];

    switch (o->kind) {
    case OPT_DURATION:
        say(buf, cap, "a duration");
        break;
    case OPT_STRING:
        say(buf, cap, "a string");
        break;
    case OPT_UINT:
        say(buf, cap, "a %s integer", o->min > 0 ? "positive" : "non-negative");
        break;
    case OPT_BOOL:
        say(buf, cap, "true or false");
        break;
    case OPT_ADDR:
        say(buf, cap, "HOST:PORT");
        break;
    case OPT_ENUM:
        list_choices(o, all, sizeof all);
        say(buf, cap, "one of %s", all);
        break;
    case OPT_I64:
        say(buf, cap, "a %s integer", o->min > 0 ? "positive" : "non-negative");
        break;
    case OPT_CHOICE:
        join_choices(o->choices, all, sizeof all);
        say(buf, cap, "one of %s", all);
        break;
    case OPT_RATE:
        say(buf, cap, "N/DURATION or off");
        break;
    case OPT_KEYS:
        join_choices(o->choices, all, sizeof all);
        say(buf, cap, "a list of %s", all);
        break;
    case OPT_STRLIST:
        say(buf, cap, "a list of strings");
        break;
    case OPT_CIDRLIST:
        say(buf, cap, "a list of CIDRs");
        break;
    case OPT_CLIENTS:
    case OPT_ROUTES:
        say(buf, cap, "a list");
        break;
    case OPT_ROLES:
        say(buf, cap, "a mapping");
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
            strv_free(*(char ***)field(cfg, options[i].off),
                      *(size_t *)field(cfg, options[i].off2));
    memset(cfg, 0, sizeof *cfg);
}

int cf_config_copy(cf_config_t *dst, const cf_config_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < NOPTIONS; i++)
        if (is_list(&options[i])) {
            *(char ***)field(dst, options[i].off) = NULL;
            *(size_t *)field(dst, options[i].off2) = 0;
        }
    if (cf_policy_copy(&dst->policy, &src->policy) < 0)
        goto oom;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        size_t n = is_list(o) ? *(const size_t *)cfield(src, o->off2) : 0;
        char *const *v;
        char **d;

        if (n == 0)
            continue;
        /* Only list options hold a char ** at off; reading it for others is UB. */
        v = *(char **const *)cfield(src, o->off);
        d = calloc(n, sizeof *d);
        if (d == NULL)
            goto oom;
        *(char ***)field(dst, o->off) = d;
        for (size_t j = 0; j < n; j++) {
            d[j] = strdup(v[j]);
            if (d[j] == NULL)
                goto oom;
            *(size_t *)field(dst, o->off2) = j + 1;
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
        say(err, errlen, "unknown key '%s'", show(key, strlen(key), shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (value == NULL) {
        expected(o, msg, sizeof msg);
        say(err, errlen, "%s: expected %s, got nothing", o->key, msg);
        return CF_ECONFIG;
    }
    /* Shallow is enough: a list's parse() frees the old list only once it succeeded. */
    tmp = *cfg;
    rc = types[o->kind].parse(o, &tmp, value, strlen(value), msg, sizeof msg);
    if (rc < 0) {
        say(err, errlen, "%s: %s", o->key, msg);
        return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
    }
    derive(&tmp);
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

int cf_config_validate(const cf_config_t *cfg, char *err, size_t errlen)
{
    cf_config_t scratch = *cfg;
    char text[TEXT_MAX], msg[256];

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
            say(err, errlen, "%s: %s", o->key, msg);
            return CF_ECONFIG;
        }
    }
    for (size_t i = 0; i < sizeof(order_rules) / sizeof(order_rules[0]); i++) {
        const option_t *lo = must_find(order_rules[i].lo), *hi = must_find(order_rules[i].hi);
        cf_time_t a = *(const cf_time_t *)cfield(cfg, lo->off);
        cf_time_t b = *(const cf_time_t *)cfield(cfg, hi->off);
        char sa[32], sb[32];
        if (a > b) {
            if (cf_duration_format(a, sa, sizeof sa) < 0 || cf_duration_format(b, sb, sizeof sb) < 0)
                sa[0] = sb[0] = '\0'; /* unreachable: both passed the range check */
            say(err, errlen, "%s (%s) must not exceed %s (%s)", lo->key, sa, hi->key, sb);
            return CF_ECONFIG;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading YAML                                                              */
/* ------------------------------------------------------------------------ */

struct loader {
    yaml_document_t *doc;
    const char *name;
    cf_config_t *cfg; /* the copy being filled */
    char *err;
    size_t errlen;
};

static size_t line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE ? "a list" : n->type == YAML_MAPPING_NODE ? "a mapping"
                                                                                 : "a scalar";
}

/* A plain empty, "~" or "null" scalar: YAML's null, i.e. nothing was written. */
static int is_null(const yaml_node_t *n)
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
        say(ld->err, ld->errlen, "%s:%zu: %s: expected %s, got %s", ld->name, line, o->key, msg,
            is_null(v) ? "nothing" : node_kind(v));
        return CF_ECONFIG;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        const char *s;
        size_t n;

        if (item == NULL)
            return CF_ECONFIG;
        if (item->type != YAML_SCALAR_NODE || is_null(item)) {
            say(ld->err, ld->errlen, "%s:%zu: %s: list items must be plain values, not %s",
                ld->name, line_of(item), o->key,
                item->type == YAML_SCALAR_NODE ? "nothing" : node_kind(item));
            return CF_ECONFIG;
        }
        s = (const char *)item->data.scalar.value;
        n = item->data.scalar.length;
        if (memchr(s, ',', n) != NULL || memchr(s, '\0', n) != NULL || n == 0) {
            say(ld->err, ld->errlen, "%s:%zu: %s: list items must not be empty or contain ','",
                ld->name, line_of(item), o->key);
            return CF_ECONFIG;
        }
        if (t->item(o, s, n, msg, sizeof msg) < 0) {
            say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line_of(item), o->key, msg);
            return CF_ECONFIG;
        }
        total += n + 1;
    }
    joined = malloc(total);
    if (joined == NULL) {
        say(ld->err, ld->errlen, "%s: out of memory", ld->name);
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
        say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line, o->key, msg);
        return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
    }
    return 0;
}

/* Apply the value node @v of option @o; @line is the key's line (errors point at the key). */
static int apply_node(loader_t *ld, const option_t *o, size_t line, const yaml_node_t *v)
{
    char msg[256];

    if (is_node(o))
        return types[o->kind].load(ld, v);
    if (types[o->kind].item != NULL)
        return apply_list(ld, o, line, v);
    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        expected(o, msg, sizeof msg);
        say(ld->err, ld->errlen, "%s:%zu: %s: expected %s, got %s", ld->name, line, o->key, msg,
            v->type == YAML_SCALAR_NODE ? "nothing" : node_kind(v));
        return CF_ECONFIG;
    }
    if (types[o->kind].parse(o, ld->cfg, (const char *)v->data.scalar.value, v->data.scalar.length,
                             msg, sizeof msg) < 0) {
        say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line, o->key, msg);
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
            say(ld->err, ld->errlen, "%s:%zu: %s%skeys must be plain names, not %s", ld->name,
                line_of(k), prefix, plen > 0 ? ": " : "", node_kind(k));
            return CF_ECONFIG;
        }
        key = (const char *)k->data.scalar.value;
        klen = k->data.scalar.length;
        len = plen + (plen > 0) + klen;
        if (len >= sizeof path || klen == 0 || memchr(key, '.', klen) != NULL ||
            memchr(key, '\0', klen) != NULL) {
            char pshown[64], kshown[64];
            say(ld->err, ld->errlen, "%s:%zu: unknown key '%s%s%s'", ld->name, line_of(k),
                show(prefix, plen, pshown, sizeof pshown), plen > 0 ? "." : "",
                show(key, klen, kshown, sizeof kshown));
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
                say(ld->err, ld->errlen, "%s:%zu: duplicate key '%s' (first on line %zu)",
                    ld->name, line_of(k), show(path, len, shown, sizeof shown), line_of(kq));
                return CF_ECONFIG;
            }
        }

        o = find_option(path, len);
        if (o != NULL) {
            rc = apply_node(ld, o, line_of(k), v);
        } else if (is_section(path, len)) {
            if (v->type != YAML_MAPPING_NODE) {
                say(ld->err, ld->errlen, "%s:%zu: %s: expected a mapping", ld->name, line_of(k),
                    path);
                return CF_ECONFIG;
            }
            rc = walk_mapping(ld, v, path);
        } else {
            say(ld->err, ld->errlen, "%s:%zu: unknown key '%s'", ld->name, line_of(k),
                show(path, len, shown, sizeof shown));
            return CF_ECONFIG;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

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
    {"session.idle_timeout", "duration, > 0", "(global)",
     "Idle timeout for this client's sessions; only a shorter value than the global one counts."},
    {"session.absolute_timeout", "duration, > 0", "(global)",
     "Absolute timeout for this client's sessions; only a shorter value counts."},
    {"access_token.ttl", "duration, > 0", "(global)",
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
    {"idle_timeout", "duration, > 0", "(global)",
     "Idle timeout for sessions holding the role; the strictest of all rules wins."},
    {"absolute_timeout", "duration, > 0", "(global)",
     "Absolute timeout for sessions holding the role; the strictest wins."},
    {"access_ttl", "duration, > 0", "(global)",
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
                                               "insufficient_role)."},
    {"require_scopes", "list of strings", "[]",
     "The token must have every one (403 insufficient_scope)."},
    {"max_auth_age", "duration, > 0", "(none)",
     "Step-up: authentication older than this gets 401 step_up_required with max_age."},
    {"idle_timeout", "duration, > 0", "(none)",
     "A session idle this long is refused here (401 route_idle_timeout) but lives on."},
    {"anonymous", "bool", "false", "Allowed without a token; no other requirement may be set."},
    {"deny", "bool", "false", "Always refused: 403 route_denied."},
};

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
    say(ld->err, ld->errlen, "%s:%zu: %s", ld->name, line_of(n), msg);
    return CF_ECONFIG;
}

static int oom(loader_t *ld)
{
    say(ld->err, ld->errlen, "%s: out of memory", ld->name);
    return CF_ENOMEM;
}

/* The text of scalar @v for key @where, or an error at @k when @v is not a plain value. */
static int scalar(loader_t *ld, const char *where, const yaml_node_t *k, const yaml_node_t *v,
                  const char *what, const char **s, size_t *n)
{
    if (v->type != YAML_SCALAR_NODE || is_null(v))
        return fail_at(ld, k, "%s: expected %s, got %s", where, what,
                       v->type == YAML_SCALAR_NODE ? "nothing" : node_kind(v));
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
        if (why != NULL && strncmp(why, "unknown unit", 12) == 0 && find_bad_unit(s, n, &at, &len))
            return fail_at(ld, k, "%s: unknown unit '%s' (use ms, s, m, h or d)", where,
                           show(s + at, len, shown, sizeof shown));
        return fail_at(ld, k, "%s: %s", where, why != NULL ? why : "invalid duration");
    }
    if (t < 1)
        return fail_at(ld, k, "%s: must be greater than 0", where);
    *out = t;
    return 0;
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
                       show(s, n, shown, sizeof shown));
    return 0;
}

static int sub_choice(loader_t *ld, const char *where, const yaml_node_t *k,
                      const yaml_node_t *v, const char *const *choices, int *out)
{
    const char *s;
    size_t n;
    char shown[64], all[128];
    int i;

    join_choices(choices, all, sizeof all);
    if (scalar(ld, where, k, v, "a value", &s, &n) < 0)
        return CF_ECONFIG;
    i = choice_index(choices, s, n);
    if (i == 0)
        return fail_at(ld, k, "%s: expected one of %s, got '%s'", where, all,
                       show(s, n, shown, sizeof shown));
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
    if (is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(ld, at, "%s: expected a mapping, got %s", where, node_kind(map));
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
            return fail_at(ld, k, "%s: keys must be plain names, not %s", where, node_kind(k));
        key = (const char *)k->data.scalar.value;
        klen = k->data.scalar.length;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
            const yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
            if (kq != NULL && kq->type == YAML_SCALAR_NODE && kq->data.scalar.length == klen &&
                memcmp(kq->data.scalar.value, key, klen) == 0)
                return fail_at(ld, k, "duplicate key '%s.%s' (first on line %zu)", where,
                               show(key, klen, shown, sizeof shown), line_of(kq));
        }
        rc = fn(ld, obj, where, key, klen, k, v);
        if (rc == 1)
            return fail_at(ld, k, "unknown key '%s.%s'", where, show(key, klen, shown, sizeof shown));
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
    (void)snprintf(buf, cap, "%s.%.*s", where, (int)klen, key);
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
        if (sub_choice(ld, w, k, v, ip_bindings, &i) < 0)
            return CF_ECONFIG;
        r->ip_binding = (cf_ip_binding_t)i;
    } else if (key_is(key, klen, "on_ip_change")) {
        if (sub_choice(ld, w, k, v, risk_actions, &i) < 0)
            return CF_ECONFIG;
        r->on_ip_change = (cf_risk_action_t)i;
    } else if (key_is(key, klen, "on_device_change")) {
        if (sub_choice(ld, w, k, v, risk_actions, &i) < 0)
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
                       is_null(v) ? "nothing" : node_kind(v));
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
            strv_free(vec, n);
            return CF_ECONFIG;
        }
        why = ok(s, len);
        if (why != NULL) {
            strv_free(vec, n);
            return fail_at(ld, item, "%s: '%s' %s", where, show(s, len, shown, sizeof shown),
                           why);
        }
        for (size_t j = 0; j < n; j++)
            if (strlen(vec[j]) == len && memcmp(vec[j], s, len) == 0) {
                strv_free(vec, n);
                return fail_at(ld, item, "%s: '%s' is listed twice", where,
                               show(s, len, shown, sizeof shown));
            }
        vec[n] = strndup(s, len);
        if (vec[n] == NULL) {
            strv_free(vec, n);
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
    if (parse_digits(it, (size_t)(salt - it), &iters) < 0 || iters < 1 || iters > 100000000)
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
        return sub_duration(ld, w, k, v, &l->idle_timeout);
    if (key_is(key, klen, "absolute_timeout"))
        return sub_duration(ld, w, k, v, &l->absolute_timeout);
    return 1;
}

static int access_pair(loader_t *ld, void *obj, const char *where, const char *key, size_t klen,
                       const yaml_node_t *k, const yaml_node_t *v)
{
    cf_limits_t *l = obj;
    char w[160];

    sub_where(w, sizeof w, where, key, klen);
    if (key_is(key, klen, "ttl"))
        return sub_duration(ld, w, k, v, &l->access_ttl);
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
            return fail_at(ld, k, "%s: '%s' %s", w, show(s, n, shown, sizeof shown), why);
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
        strv_free(g, ng);
        cx->grants_key = k;
        return 0;
    }
    if (key_is(key, klen, "scope")) {
        if (v->type == YAML_SCALAR_NODE && !is_null(v) && v->data.scalar.length == 0) {
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

static int clients_load(loader_t *ld, const yaml_node_t *v)
{
    cf_policy_t np = {0}, old = {0};
    size_t count;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE && !is_null(v))
        return fail_at(ld, v, "clients: expected a list, got %s", node_kind(v));
    count = is_null(v) ? 0 : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
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
            rc = fail_at(ld, item, "%s: expected a mapping, got %s", where, node_kind(item));
            goto fail;
        }
        c->line = (int)line_of(item);
        c->grants = CF_GRANT_REFRESH_TOKEN;
        rc = each_pair(ld, item, item, where, client_pair, &cx);
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
        if (c->type == CF_CLIENT_CONFIDENTIAL && c->secret_hash == NULL) {
            rc = fail_at(ld, cx.type_key, "%s: a confidential client needs secret_hash", where);
            goto fail;
        }
        if (c->type == CF_CLIENT_PUBLIC && c->secret_hash != NULL) {
            rc = fail_at(ld, cx.secret_key,
                         "%s: secret_hash is only for confidential clients (add type: "
                         "confidential)",
                         where);
            goto fail;
        }
        if ((c->grants & CF_GRANT_CLIENT_CREDENTIALS) && c->type != CF_CLIENT_CONFIDENTIAL) {
            rc = fail_at(ld, cx.grants_key,
                         "%s: client_credentials needs a confidential client", where);
            goto fail;
        }
        if (c->grants == 0) {
            rc = fail_at(ld, cx.grants_key, "%s.allowed_grants: must not be empty", where);
            goto fail;
        }
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
        return sub_duration(ld, w, k, v, &r->limits.idle_timeout);
    if (key_is(key, klen, "absolute_timeout"))
        return sub_duration(ld, w, k, v, &r->limits.absolute_timeout);
    if (key_is(key, klen, "access_ttl"))
        return sub_duration(ld, w, k, v, &r->limits.access_ttl);
    if (key_is(key, klen, "risk"))
        return each_pair(ld, k, v, w, risk_pair, &r->risk);
    return 1;
}

static int roles_load(loader_t *ld, const yaml_node_t *v)
{
    cf_policy_t np = {0}, old = {0};
    size_t count;
    int rc;

    if (v->type != YAML_MAPPING_NODE && !is_null(v))
        return fail_at(ld, v, "roles: expected a mapping of role names, got %s", node_kind(v));
    count = is_null(v) ? 0 : (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
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
            rc = fail_at(ld, k, "roles: '%s' %s", show(name, n, shown, sizeof shown), why);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strlen(np.roles[j].name) == n && memcmp(np.roles[j].name, name, n) == 0) {
                rc = fail_at(ld, k, "duplicate key 'roles.%s' (first on line %d)",
                             show(name, n, shown, sizeof shown), np.roles[j].line);
                goto fail;
            }
        r->name = strndup(name, n);
        if (r->name == NULL) {
            rc = oom(ld);
            goto fail;
        }
        r->line = (int)line_of(k);
        (void)snprintf(where, sizeof where, "roles.%s", r->name);
        rc = each_pair(ld, k, val, where, role_pair, r);
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
            if (!host_char_ok(s[i], 0) && !(s[0] == '[' && (s[i] == '[' || s[i] == ']' ||
                                                            host_char_ok(s[i], 1))))
                return fail_at(ld, k, "%s: '%s' is not a host name (write it without port)", w,
                               show(s, n, shown, sizeof shown));
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
        strv_free(m, nm);
        return 0;
    }
    if (key_is(key, klen, "path") || key_is(key, klen, "path_prefix") ||
        key_is(key, klen, "path_glob")) {
        if (rx->path_key != NULL)
            return fail_at(ld, k, "%s: only one of path, path_prefix and path_glob may be set "
                                  "(%s on line %zu)",
                           w, rx->path_name, line_of(rx->path_key));
        if (scalar(ld, w, k, v, "a path", &s, &n) < 0)
            return CF_ECONFIG;
        why = path_text_ok(s, n);
        if (why != NULL)
            return fail_at(ld, k, "%s: '%s' %s", w, show(s, n, shown, sizeof shown), why);
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
        strv_free(r->require_roles, r->nrequire_roles);
        r->require_roles = NULL;
        r->nrequire_roles = 0;
        return sub_strv(ld, w, k, v, name_ok, &r->require_roles, &r->nrequire_roles);
    }
    if (key_is(key, klen, "require_scopes")) {
        strv_free(r->require_scopes, r->nrequire_scopes);
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

static int routes_load(loader_t *ld, const yaml_node_t *v)
{
    cf_policy_t np = {0}, old = {0};
    size_t count;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE && !is_null(v))
        return fail_at(ld, v, "routes: expected a list, got %s", node_kind(v));
    count = is_null(v) ? 0 : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
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
            rc = fail_at(ld, item, "%s: expected a mapping, got %s", where, node_kind(item));
            goto fail;
        }
        r->line = (int)line_of(item);
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

static int syntax_error(const yaml_parser_t *p, const char *buf, size_t len, const char *name,
                        char *err, size_t errlen)
{
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    size_t line = p->problem_mark.line + 1;

    if (p->error == YAML_MEMORY_ERROR) {
        say(err, errlen, "%s: out of memory", name);
        return CF_ENOMEM;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count the lines ourselves. */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += buf[i] == '\n';
    }
    if (p->context != NULL)
        say(err, errlen, "%s:%zu: %s (%s)", name, line, problem, p->context);
    else
        say(err, errlen, "%s:%zu: %s", name, line, problem);
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
        say(err, errlen, "%s: file too large (at most %d bytes)", name, CF_CONFIG_MAX_FILE);
        return CF_ECONFIG;
    }
    /* A deep copy: sections and lists replaced by the file free the copy's, not @cfg's. */
    if (cf_config_copy(&tmp, cfg) < 0) {
        say(err, errlen, "%s: out of memory", name);
        return CF_ENOMEM;
    }
    if (!yaml_parser_initialize(&parser)) {
        say(err, errlen, "%s: out of memory", name);
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
        say(err, errlen, "%s:%zu: only one YAML document is allowed", name, line_of(root2));
        rc = CF_ECONFIG;
        goto done;
    }

    root = yaml_document_get_root_node(&doc);
    if (root == NULL || is_null(root))
        goto done; /* empty file, or comments only: nothing to change */
    if (root->type != YAML_MAPPING_NODE) {
        say(err, errlen, "%s:%zu: expected a mapping of options at the top level, got %s", name,
            line_of(root), node_kind(root));
        rc = CF_ECONFIG;
        goto done;
    }
    rc = walk_mapping(&ld, root, "");
done:
    if (rc == 0) {
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
        say(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return CF_ECONFIG;
    }
    /* One byte past the cap tells "too large" from "exactly at the cap". */
    buf = malloc(CF_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        say(err, errlen, "%s: out of memory", path);
        rc = CF_ENOMEM;
        goto done;
    }
    len = fread(buf, 1, CF_CONFIG_MAX_FILE + 1, f);
    if (ferror(f)) {
        say(err, errlen, "%s: cannot read: %s", path, strerror(errno));
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
static void put_quoted(FILE *out, const char *s)
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

/* "[a, b]" with each item double-quoted. */
static void put_strv(FILE *out, char *const *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", out);
        put_quoted(out, v[i]);
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

static void clients_dump(const cf_config_t *cfg, FILE *out)
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
        put_quoted(out, c->id);
        fprintf(out, "\n    type: %s\n",
                c->type == CF_CLIENT_CONFIDENTIAL ? "confidential" : "public");
        if (c->secret_hash != NULL) {
            fputs("    secret_hash: ", out);
            put_quoted(out, c->secret_hash);
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
        put_quoted(out, c->scope != NULL ? c->scope : "");
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

static void roles_dump(const cf_config_t *cfg, FILE *out)
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
        put_quoted(out, r->name);
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

static void routes_dump(const cf_config_t *cfg, FILE *out)
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
            put_quoted(out, r->host);
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
            put_quoted(out, r->path);
            fputc('\n', out);
        }
        if (r->nrequire_roles > 0) {
            NEXT_KEY();
            fputs("require_roles: ", out);
            put_strv(out, r->require_roles, r->nrequire_roles);
            fputc('\n', out);
        }
        if (r->nrequire_scopes > 0) {
            NEXT_KEY();
            fputs("require_scopes: ", out);
            put_strv(out, r->require_scopes, r->nrequire_scopes);
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
            put_strv(out, *(char **const *)cfield(cfg, o->off),
                     *(const size_t *)cfield(cfg, o->off2));
            fputc('\n', out);
            continue;
        }
        if (types[o->kind].text(o, cfg, text, sizeof text, msg, sizeof msg) < 0)
            fprintf(out, "null  # invalid: %s", msg); /* fails to load back, as it should */
        else if (o->kind == OPT_KEYS)
            fprintf(out, "[%s]", text); /* "ip,sub" -> [ip,sub]: plain names, valid YAML */
        else if (types[o->kind].quote)
            put_quoted(out, text);
        else
            fputs(text, out);
        fputc('\n', out);
    }
}

/* The rows of a section's fields: `clients[].id`, `roles.NAME.idle_timeout`, `routes[].path`. */
static void doc_fields(FILE *out, const option_t *o)
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
            join_choices(o->choices, all, sizeof all);
            fprintf(out, "one of %s", all);
        } else if (o->kind == OPT_KEYS) {
            join_choices(o->choices, all, sizeof all);
            fprintf(out, "list of %s", all);
        } else {
            fputs(types[o->kind].name, out);
        }
        if ((o->kind == OPT_UINT || o->kind == OPT_I64) && o->max > 0)
            fprintf(out, ", %lld to %lld", (long long)o->min, (long long)o->max);
        else if (o->kind == OPT_DURATION && o->min == 1)
            fputs(", > 0", out);
        if (is_list(o) && o->def[0] == '\0')
            fprintf(out, " | `[]` | %s |\n", o->doc);
        else if (o->def[0] == '\0')
            fprintf(out, " | `\"\"` | %s |\n", o->doc);
        else if (o->kind == OPT_KEYS)
            fprintf(out, " | `[%s]` | %s |\n", o->def, o->doc);
        else
            fprintf(out, " | `%s` | %s |\n", o->def, o->doc);
        if (is_node(o))
            doc_fields(out, o);
    }
}
