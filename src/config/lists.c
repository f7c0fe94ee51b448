/* SPDX-License-Identifier: MIT
 *
 * List-valued option types: rates (rate_limits.*.rate), key-kind lists
 * (rate_limits.*.key), CIDR lists (risk.trusted_proxies) and header or
 * origin lists (risk.device_headers, cookie.allowed_origins). Decides what
 * each may hold; parse() replaces a list only when every item is valid.
 * Calls only the shared helpers of yaml.c.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/sections.h"
#include "core/duration.h"
#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* List-valued options: rate_limits.*, risk.*, cookie.*                     */
/* ------------------------------------------------------------------------ */

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
    if (slash == NULL || cf__config_parse_digits(s, (size_t)(slash - s), &count) < 0 || count < 1 ||
        count > 1000000000 ||
        cf_duration_parse(slash + 1, n - (size_t)(slash - s) - 1, &period, &why) < 0 ||
        period < 1) {
        cf__config_say(msg, cap, "expected N/DURATION such as 10/1m, or off, got '%s'",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    /* The limiter counts whole milliseconds (core/ratelimit.c): finer is refused, not unlimited. */
    if ((cf_time_t)count > period) {
        cf__config_say(msg, cap,
                       "'%s' is more than one request per millisecond, the finest rate the "
                       "limiter counts",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    r->enabled = 1;
    r->count = (int64_t)count;
    r->period = period;
    return 0;
}

int cf__config_rate_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
                          size_t cap)
{
    cf_rate_cfg_t *r = cf__config_field(cfg, o->off), tmp = *r;

    if (parse_rate(s, n, &tmp, msg, cap) < 0)
        return CF_ECONFIG;
    *r = tmp;
    return 0;
}

int cf__config_rate_text(const option_t *o, const void *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap)
{
    const cf_rate_cfg_t *r = cf__config_cfield(cfg, o->off);
    char d[32];

    if (!r->enabled) {
        (void)snprintf(buf, cap, "off");
        return 0;
    }
    if (r->count < 1 || r->period < 1 || cf_duration_format(r->period, d, sizeof d) < 0) {
        cf__config_say(msg, msgcap, "expected N/DURATION such as 10/1m, or off");
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

int cf__config_key_kind_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    char shown[64], all[128];

    if (cf__config_choice_index(o->choices, s, n) == 0) {
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(msg, cap, "unknown key kind '%s' (use %s)",
                       cf__config_show(s, n, shown, sizeof shown), all);
        return CF_ECONFIG;
    }
    return 0;
}

static int keys_one(void *ctx, const char *s, size_t n)
{
    keys_ctx_t *k = ctx;
    unsigned bit;

    if (cf__config_key_kind_ok(k->o, s, n, k->msg, k->cap) < 0)
        return CF_ECONFIG;
    bit = 1u << (cf__config_choice_index(k->o->choices, s, n) - 1);
    if (k->bits & bit) {
        cf__config_say(k->msg, k->cap, "'%.*s' is listed twice", (int)n, s);
        return CF_ECONFIG;
    }
    k->bits |= bit;
    return 0;
}

int cf__config_keys_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
                          size_t cap)
{
    keys_ctx_t k = {o, 0, msg, cap};
    char all[128];

    if (each_item(s, n, keys_one, &k) < 0)
        return CF_ECONFIG;
    if (k.bits == 0) {
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(msg, cap, "expected at least one of %s", all);
        return CF_ECONFIG;
    }
    *(unsigned *)cf__config_field(cfg, o->off) = k.bits;
    return 0;
}

int cf__config_keys_text(const option_t *o, const void *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap)
{
    unsigned bits = *(const unsigned *)cf__config_cfield(cfg, o->off);
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
        cf__config_say(msg, msgcap, "expected at least one key kind");
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * A CIDR "ADDR/BITS" (IPv4 /0-/32, IPv6 /0-/128). Parsed here with
 * inet_pton so the config can be checked on its own; the server parses it
 * again into its own form when it starts.
 */
int cf__config_cidr_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
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
        cf__config_parse_digits(slash + 1, n - alen - 1, &bits) < 0 || n - alen - 1 > 3)
        goto bad;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    v6 = memchr(addr, ':', alen) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1 || bits > (v6 ? 128u : 32u))
        goto bad;
    return 0;
bad:
    cf__config_say(msg, cap, "bad CIDR '%s' (expected ADDRESS/BITS such as 10.0.0.0/8 or ::1/128)",
                   cf__config_show(s, n, shown, sizeof shown));
    return CF_ECONFIG;
}

/*
 * Why @s (@n bytes, starting "http://" or "https://") is not an origin as a
 * browser sends it in the Origin header, or NULL when it is one. The header
 * is compared byte for byte (api/guard.c), so anything a browser never
 * sends (a path, even a lone '/', a query, user info, capitals, the default
 * port) would silently never match.
 */
static const char *origin_why(const char *s, size_t n)
{
    size_t i = s[4] == 's' ? 8 : 7, host = i, colon = 0;
    int bracketed = i < n && s[i] == '[';
    uint64_t port;

    for (; i < n; i++) {
        char c = s[i];
        if (c == '/' || c == '?' || c == '#')
            return "a path, query or fragment (even a trailing '/') is not part of an origin";
        if (c == '@')
            return "user info is not part of an origin";
        if (c >= 'A' && c <= 'Z')
            return "browsers send the scheme and host in lower case";
        if (c == ']')
            bracketed = 0;
        else if (c == ':' && !bracketed)
            colon = i;
        else if (colon == 0 && !cf__config_host_char_ok(c, bracketed) && c != '[')
            return "the host holds a character no host name has";
    }
    if ((colon != 0 ? colon : n) == host)
        return "the host is missing";
    if (colon == 0)
        return NULL;
    if (cf__config_parse_digits(s + colon + 1, n - colon - 1, &port) < 0 || port < 1 ||
        port > 65535 || s[colon + 1] == '0')
        return "the port must be a number from 1 to 65535";
    if (port == (s[4] == 's' ? 443u : 80u))
        return "browsers leave out the scheme's default port";
    return NULL;
}

/* Header names and origins: visible ASCII without ',' (the list separator) or spaces. */
int cf__config_token_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    char shown[64];

    if (n == 0) {
        cf__config_say(msg, cap, "list items must not be empty");
        return CF_ECONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ',') {
            cf__config_say(msg, cap, "'%s' must be visible ASCII without spaces or commas",
                           cf__config_show(s, n, shown, sizeof shown));
            return CF_ECONFIG;
        }
    }
    if (o->level == LVL_ROOT && (o->off == offsetof(cf_config_t, allowed_origins) ||
                                 o->off == offsetof(cf_config_t, cors_origins)))
        return cf__config_origin_item(o, s, n, msg, cap);
    return 0;
}

int cf__config_origin_item(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    char shown[64];
    const char *why = NULL;

    (void)o;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ',')
            why = "an origin is visible ASCII without spaces or commas";
    if (why == NULL &&
        !((n > 7 && memcmp(s, "http://", 7) == 0) || (n > 8 && memcmp(s, "https://", 8) == 0))) {
        cf__config_say(msg, cap, "'%s' is not an origin (expected https://HOST[:PORT])",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (why == NULL)
        why = origin_why(s, n);
    if (why != NULL) {
        cf__config_say(msg, cap, "'%s' is not an origin (expected https://HOST[:PORT]): %s",
                       cf__config_show(s, n, shown, sizeof shown), why);
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
        c->o->kind == OPT_CIDRLIST ? cf__config_cidr_ok
        : c->o->kind == OPT_NAMES  ? cf__config_name_item
        : c->o->kind == OPT_ORIGINS ? cf__config_origin_item
                                   : cf__config_token_ok;
    char *dup;

    if (n == 0) {
        cf__config_say(c->msg, c->cap, "list items must not be empty");
        return CF_ECONFIG;
    }
    if (ok(c->o, s, n, c->msg, c->cap) < 0)
        return CF_ECONFIG;
    dup = strndup(s, n);
    if (dup == NULL) {
        cf__config_say(c->msg, c->cap, "out of memory");
        return CF_ENOMEM;
    }
    c->v[c->n++] = dup; /* room for every comma-separated item was made up front */
    return 0;
}

void cf__config_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Replaces the list only when every item is valid; the old one is freed then. */
int cf__config_strlist_parse(const option_t *o, void *cfg, const char *s, size_t n,
                             char *msg, size_t cap)
{
    char ***vp = cf__config_field(cfg, o->off);
    size_t *np = cf__config_field(cfg, o->off2), items = 1;
    strv_ctx_t c = {o, NULL, 0, msg, cap};
    int rc;

    for (size_t i = 0; i < n; i++)
        items += s[i] == ',';
    if (n > 0) {
        c.v = calloc(items, sizeof *c.v);
        if (c.v == NULL) {
            cf__config_say(msg, cap, "out of memory");
            return CF_ENOMEM;
        }
        rc = each_item(s, n, strv_one, &c);
        if (rc < 0) {
            cf__config_strv_free(c.v, c.n);
            return rc;
        }
    }
    cf__config_strv_free(*vp, *np);
    *vp = c.v;
    *np = c.n;
    return 0;
}

int cf__config_strlist_text(const option_t *o, const void *cfg, char *buf, size_t cap,
                            char *msg, size_t msgcap)
{
    char *const *v = *(char **const *)cf__config_cfield(cfg, o->off);
    size_t n = *(const size_t *)cf__config_cfield(cfg, o->off2), len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? "," : "", v[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            cf__config_say(msg, msgcap, "list too long to show");
            return CF_ECONFIG;
        }
        len += (size_t)w;
    }
    return 0;
}
