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
 */
#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/duration.h"
#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* The option table                                                          */
/* ------------------------------------------------------------------------ */

typedef enum { OPT_DURATION, OPT_STRING, OPT_UINT, OPT_BOOL, OPT_ADDR, OPT_ENUM } opt_kind_t;

typedef struct {
    const char *key;               /* dotted path: "session.idle_timeout" */
    opt_kind_t kind;
    const char *def;               /* default, spelled as in the file */
    size_t off;                    /* field offset; OPT_ADDR: the host buffer */
    size_t size;                   /* field size (buffer size for strings and the host) */
    size_t off2;                   /* OPT_ADDR: offset of the int port */
    int64_t min, max;              /* DURATION: ms; UINT: value; STRING: min length. max 0 = none */
    const char *const *choices;    /* OPT_ENUM: NULL-terminated */
    const char *doc;               /* one sentence for docs/configuration.md */
} option_t;

#define FIELD(f) .off = offsetof(cf_config_t, f), .size = sizeof(((cf_config_t *)0)->f)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

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
typedef struct {
    const char *name; /* type column of the docs */
    int (*parse)(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                 size_t cap);
    int (*text)(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                size_t msgcap);
    int quote; /* dump writes the value double-quoted */
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

static const type_t types[] = {
    [OPT_DURATION] = {"duration", duration_parse, duration_text, 0},
    [OPT_STRING] = {"string", string_parse, string_text, 1},
    [OPT_UINT] = {"integer", uint_parse, uint_text, 0},
    [OPT_BOOL] = {"bool", bool_parse, bool_text, 0},
    [OPT_ADDR] = {"HOST:PORT", addr_parse, addr_text, 1},
    [OPT_ENUM] = {"enum", enum_parse, string_text, 0},
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
    }
}

/* ------------------------------------------------------------------------ */
/* Defaults, set, validate                                                   */
/* ------------------------------------------------------------------------ */

void cf_config_defaults(cf_config_t *cfg)
{
    char msg[128];

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        /* A default that does not parse is a bug in the table, caught by any test run. */
        if (types[o->kind].parse(o, cfg, o->def, strlen(o->def), msg, sizeof msg) < 0) {
            fprintf(stderr, "curfew: bad default for %s: %s\n", o->key, msg);
            abort();
        }
    }
}

int cf_config_set(cf_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const option_t *o = find_option(key, strlen(key));
    cf_config_t tmp;
    char msg[256], shown[64];

    if (o == NULL) {
        say(err, errlen, "unknown key '%s'", show(key, strlen(key), shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (value == NULL) {
        expected(o, msg, sizeof msg);
        say(err, errlen, "%s: expected %s, got nothing", o->key, msg);
        return CF_ECONFIG;
    }
    tmp = *cfg;
    if (types[o->kind].parse(o, &tmp, value, strlen(value), msg, sizeof msg) < 0) {
        say(err, errlen, "%s: %s", o->key, msg);
        return CF_ECONFIG;
    }
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

    /* Ranges: what text() writes must parse back, under the same rules as the file. */
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        const type_t *t = &types[o->kind];
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

typedef struct {
    yaml_document_t *doc;
    const char *name;
    cf_config_t *cfg; /* the copy being filled */
    char *err;
    size_t errlen;
} loader_t;

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

/* Apply the value node @v of option @o; @line is the key's line (errors point at the key). */
static int apply_node(loader_t *ld, const option_t *o, size_t line, const yaml_node_t *v)
{
    char msg[256];

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
    cf_config_t tmp = *cfg;
    const yaml_node_t *root, *root2;
    loader_t ld = {&doc, name, &tmp, err, errlen};

    if (len > CF_CONFIG_MAX_FILE) {
        say(err, errlen, "%s: file too large (at most %d bytes)", name, CF_CONFIG_MAX_FILE);
        return CF_ECONFIG;
    }
    if (!yaml_parser_initialize(&parser)) {
        say(err, errlen, "%s: out of memory", name);
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
    if (rc == 0)
        *cfg = tmp;
done:
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
        fprintf(out, "%*s%s: ", (int)(2 * depth), "", o->key + (sec > 0 ? sec + 1 : 0));
        if (types[o->kind].text(o, cfg, text, sizeof text, msg, sizeof msg) < 0)
            fprintf(out, "null  # invalid: %s", msg); /* fails to load back, as it should */
        else if (types[o->kind].quote)
            put_quoted(out, text);
        else
            fputs(text, out);
        fputc('\n', out);
        prev = o->key;
        prev_sec = sec;
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
        } else {
            fputs(types[o->kind].name, out);
        }
        if (o->kind == OPT_UINT && o->max > 0)
            fprintf(out, ", %lld to %lld", (long long)o->min, (long long)o->max);
        else if (o->kind == OPT_DURATION && o->min == 1)
            fputs(", > 0", out);
        fprintf(out, " | `%s` | %s |\n", o->def, o->doc);
    }
}
