/* SPDX-License-Identifier: MIT
 *
 * The types of options: for each, how its text is parsed into the field,
 * written back for the dump and validation, and described in messages and
 * docs, and the one type table (cf__config_types[]) naming the YAML node
 * each type expects and its functions, root and section types alike.
 * Decides what a value of each type may be; never walks YAML (the walker in
 * walk.c hands it text) and never holds a row of its own.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/sections.h"
#include "core/duration.h"
#include "core/error.h"
#include "util/url.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int duration_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
                          size_t cap)
{
    cf_time_t v = 0;
    char lim[32];

    if (cf__config_duration(s, n, &v, msg, cap) < 0)
        return CF_ECONFIG;
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

static int duration_text(const option_t *o, const void *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap)
{
    if (cf_duration_format(*(const cf_time_t *)cf__config_cfield(cfg, o->off), buf, cap) < 0) {
        cf__config_say(msg, msgcap, "must not be negative");
        return CF_ECONFIG;
    }
    return 0;
}

static int string_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int string_text(const option_t *o, const void *cfg, char *buf, size_t cap,
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

static int uint_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int uint_text(const option_t *o, const void *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "%zu",
                   *(const size_t *)cf__config_cfield(cfg, o->off)); /* cap >> 21 digits */
    return 0;
}

static int bool_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int bool_text(const option_t *o, const void *cfg, char *buf, size_t cap, char *msg,
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

static int addr_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
                      size_t cap);

typedef struct {
    char host[64];
    int port;
} saddr_t;

/* A section's HOST:PORT: checked by the root's reader, kept as the text it gave. */
int cf__config_saddr_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                           size_t cap)
{
    saddr_t a;
    struct in6_addr in6;
    const option_t tmp = {.off = offsetof(saddr_t, host), .size = sizeof a.host,
                          .off2 = offsetof(saddr_t, port)};
    char **p = (char **)((char *)obj + o->off), *dup;
    int rc = addr_parse(&tmp, &a, s, n, msg, cap);

    if (rc < 0)
        return rc;
    if (inet_pton(AF_INET, a.host, &in6) != 1 && inet_pton(AF_INET6, a.host, &in6) != 1) {
        cf__config_say(msg, cap, "'%s' is not an IP address (names are not resolved here)",
                       a.host);
        return CF_ECONFIG;
    }
    if ((dup = strndup(s, n)) == NULL) {
        cf__config_say(msg, cap, "out of memory");
        return CF_ENOMEM;
    }
    free(*p);
    *p = dup;
    return 0;
}

/* A DNS name: dot-separated labels of letters, digits and inner hyphens (RFC 1123). */
static int is_hostname(const char *h)
{
    size_t label = 0;

    for (const char *p = h;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-' || *(p - label) == '-')
                return 0;
            if (*p == '\0')
                return 1;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-') {
            label++;
        } else {
            return 0;
        }
    }
}

int cf__config_shost_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                           size_t cap)
{
    const char *colon = s[0] != '[' ? memchr(s, ':', n) : NULL;
    char name[254];
    size_t hlen = colon != NULL ? (size_t)(colon - s) : 0;
    uint64_t port;
    char **p = (char **)((char *)obj + o->off), *dup;

    if (colon == NULL || hlen >= sizeof name || strspn(s, "0123456789.") == hlen)
        return cf__config_saddr_parse(o, obj, s, n, msg, cap); /* an IP literal, or its error */
    memcpy(name, s, hlen);
    name[hlen] = '\0';
    if (!is_hostname(name) || n - hlen - 1 == 0 || n - hlen - 1 > 5 ||
        cf__config_parse_digits(colon + 1, n - hlen - 1, &port) < 0 || port < 1 || port > 65535) {
        cf__config_say(msg, cap, "expected HOST:PORT, HOST an IP address or a host name, "
                                 "PORT 1-65535");
        return CF_ECONFIG;
    }
    if ((dup = strndup(s, n)) == NULL) {
        cf__config_say(msg, cap, "out of memory");
        return CF_ENOMEM;
    }
    free(*p);
    *p = dup;
    return 0;
}

static int addr_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int addr_text(const option_t *o, const void *cfg, char *buf, size_t cap, char *msg,
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
static void cf__config_list_choices(const option_t *o, char *buf, size_t cap)
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

static int enum_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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
    cf__config_list_choices(o, all, sizeof all);
    cf__config_say(msg, cap, "expected one of %s, got '%s'", all,
                   cf__config_show(s, n, shown, sizeof shown));
    return CF_ECONFIG;
}

static int i64_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int i64_text(const option_t *o, const void *cfg, char *buf, size_t cap, char *msg,
                    size_t msgcap)
{
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "%lld", (long long)*(const int64_t *)cf__config_cfield(cfg, o->off));
    return 0;
}

static int auto_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
                      size_t cap)
{
    if (n == 4 && memcmp(s, "auto", 4) == 0) {
        *(int64_t *)cf__config_field(cfg, o->off) = -1;
        return 0;
    }
    if (i64_parse(o, cfg, s, n, msg, cap) == 0)
        return 0;
    cf__config_say(msg + strlen(msg), cap - strlen(msg), " (or auto)");
    return CF_ECONFIG;
}

static int auto_text(const option_t *o, const void *cfg, char *buf, size_t cap, char *msg,
                     size_t msgcap)
{
    if (*(const int64_t *)cf__config_cfield(cfg, o->off) < 0) {
        (void)snprintf(buf, cap, "auto");
        return 0;
    }
    return i64_text(o, cfg, buf, cap, msg, msgcap);
}

_Static_assert(sizeof(cf_ip_binding_t) == sizeof(int) && sizeof(cf_risk_action_t) == sizeof(int),
               "OPT_CHOICE stores an int");

static int choice_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int choice_text(const option_t *o, const void *cfg, char *buf, size_t cap,
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
static int url_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int store_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
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

static int section_parse(const option_t *o, void *cfg, const char *s, size_t n, char *msg,
                         size_t cap)
{
    (void)cfg;
    (void)s;
    (void)n;
    (void)o;
    cf__config_say(msg, cap, "can only be set in the config file");
    return CF_ECONFIG;
}

static int section_text(const option_t *o, const void *cfg, char *buf, size_t cap,
                        char *msg, size_t msgcap)
{
    (void)o;
    (void)cfg;
    (void)msg;
    (void)msgcap;
    (void)snprintf(buf, cap, "(section)");
    return 0;
}

/*
 * The print functions of root types: the value as text() writes it, plain
 * or double-quoted; a value text() refuses is written as a null that fails
 * to load back, as it should.
 */
static int put_text(const option_t *o, const void *obj, FILE *out, int quote)
{
    char text[TEXT_MAX], msg[128];

    if (out == NULL)
        return 1;
    if (cf__config_types[o->kind].text(o, obj, text, sizeof text, msg, sizeof msg) < 0)
        fprintf(out, "null  # invalid: %s", msg);
    else if (quote)
        cf__config_put_quoted(out, text);
    else
        fputs(text, out);
    return 1;
}

static int put_plain(const option_t *o, const void *obj, FILE *out)
{
    return put_text(o, obj, out, 0);
}

static int put_quoted(const option_t *o, const void *obj, FILE *out)
{
    return put_text(o, obj, out, 1);
}

/* "ip,sub" -> [ip,sub]: plain names, valid YAML. */
static int put_keys(const option_t *o, const void *obj, FILE *out)
{
    if (out != NULL)
        fputc('[', out);
    (void)put_text(o, obj, out, 0);
    if (out != NULL)
        fputc(']', out);
    return 1;
}

static int put_strlist(const option_t *o, const void *obj, FILE *out)
{
    if (out != NULL)
        cf__config_put_strv(out, *(char **const *)cf__config_cfield(obj, o->off),
                            *(const size_t *)cf__config_cfield(obj, o->off2));
    return 1;
}

#define SCALAR(name, parse, text, put) {name, NODE_SCALAR, NULL, parse, text, put, NULL}
#define LIST(name, parse, text, put, item) {name, NODE_LIST, NULL, parse, text, put, item}
#define FIELD(what, parse, put) {NULL, NODE_SCALAR, what, parse, NULL, put, NULL}
#define FLIST(parse, put, item) {NULL, NODE_LIST, "a list", parse, NULL, put, item}

const type_t cf__config_types[] = {
    [OPT_DURATION] = SCALAR("duration", duration_parse, duration_text, put_plain),
    [OPT_STRING] = SCALAR("string", string_parse, string_text, put_quoted),
    [OPT_UINT] = SCALAR("integer", uint_parse, uint_text, put_plain),
    [OPT_BOOL] = SCALAR("bool", bool_parse, bool_text, put_plain),
    [OPT_ADDR] = SCALAR("HOST:PORT", addr_parse, addr_text, put_quoted),
    [OPT_ENUM] = SCALAR("enum", enum_parse, string_text, put_plain),
    [OPT_I64] = SCALAR("integer", i64_parse, i64_text, put_plain),
    [OPT_AUTO] = SCALAR("auto or integer", auto_parse, auto_text, put_plain),
    [OPT_CHOICE] = SCALAR("enum", choice_parse, choice_text, put_plain),
    [OPT_RATE] = SCALAR("N/DURATION or off", cf__config_rate_parse, cf__config_rate_text,
                        put_plain),
    [OPT_KEYS] = LIST("list", cf__config_keys_parse, cf__config_keys_text, put_keys,
                      cf__config_key_kind_ok),
    [OPT_STRLIST] = LIST("list of strings", cf__config_strlist_parse, cf__config_strlist_text,
                         put_strlist, cf__config_token_ok),
    [OPT_CIDRLIST] = LIST("list of CIDRs", cf__config_strlist_parse, cf__config_strlist_text,
                          put_strlist, cf__config_cidr_ok),
    [OPT_SECTION] = {"section", NODE_SECTION, NULL, section_parse, section_text, NULL, NULL},
    [OPT_URL] = SCALAR("http URL", url_parse, string_text, put_quoted),
    [OPT_STORE] = SCALAR("sqlite or redis URL", store_parse, string_text, put_quoted),
    [OPT_NAME] = FIELD("a string", cf__config_name_parse, cf__config_put_string),
    [OPT_SECRET] = FIELD("a string", cf__config_secret_parse, cf__config_put_string),
    [OPT_SCOPE] = FIELD("a string", cf__config_scope_parse, cf__config_put_string),
    [OPT_HOST] = FIELD("a host name", cf__config_host_parse, cf__config_put_string),
    [OPT_SCHOICE] = FIELD("a value", cf__config_schoice_parse, cf__config_put_schoice),
    [OPT_SENUM] = FIELD("a value", cf__config_senum_parse, cf__config_put_senum),
    [OPT_SBOOL] = FIELD("true or false", cf__config_sbool_parse, cf__config_put_sbool),
    [OPT_SDURATION] = FIELD("a duration", cf__config_sduration_parse, cf__config_put_sduration),
    [OPT_LIFETIME] = FIELD("a duration", cf__config_lifetime_parse, cf__config_put_sduration),
    [OPT_PATH] = FIELD("a path", cf__config_path_parse, cf__config_put_path),
    [OPT_NAMES] = FLIST(cf__config_strlist_parse, cf__config_put_names, cf__config_name_item),
    [OPT_ORIGINS] = FLIST(cf__config_strlist_parse, cf__config_put_names, cf__config_origin_item),
    [OPT_GRANTS] = FLIST(cf__config_grants_parse, cf__config_put_grants, cf__config_grant_item),
    [OPT_METHODS] = FLIST(cf__config_methods_parse, cf__config_put_methods,
                          cf__config_method_item),
    [OPT_ALERT_KIND] = FIELD("a rule kind", cf__config_alert_kind_parse,
                             cf__config_put_alert_kind),
    [OPT_THRESHOLD] = FIELD("an integer", cf__config_threshold_parse, cf__config_put_threshold),
    [OPT_ALERT_ACTION] = FIELD("an action", cf__config_alert_action_parse,
                               cf__config_put_alert_action),
    [OPT_SADDR] = FIELD("HOST:PORT", cf__config_saddr_parse, cf__config_put_string),
    [OPT_SHOST] = FIELD("HOST:PORT", cf__config_shost_parse, cf__config_put_string),
};
_Static_assert(sizeof cf__config_types / sizeof cf__config_types[0] == OPT__COUNT,
               "a type for every kind");

const type_t *cf__config_type(const option_t *o)
{
    return &cf__config_types[o->kind];
}

/* What a value of @o looks like, for "expected ..., got a list". */
void cf__config_expected(const option_t *o, char *buf, size_t cap)
{
    char all[128];

    switch (o->kind) {
    case OPT_STRING:
    case OPT_URL:
    case OPT_STORE:
        cf__config_say(buf, cap, "a string");
        break;
    case OPT_UINT:
    case OPT_I64:
        cf__config_say(buf, cap, "a %s integer", o->min > 0 ? "positive" : "non-negative");
        break;
    case OPT_AUTO:
        cf__config_say(buf, cap, "auto or a non-negative integer");
        break;
    case OPT_ADDR:
        cf__config_say(buf, cap, "HOST:PORT");
        break;
    case OPT_ENUM:
        cf__config_list_choices(o, all, sizeof all);
        cf__config_say(buf, cap, "one of %s", all);
        break;
    case OPT_CHOICE:
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(buf, cap, "one of %s", all);
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
    default:
        /* Section fields say it with one noun per type. */
        cf__config_say(buf, cap, "%s", o->kind == OPT_DURATION ? "a duration"
                                       : o->kind == OPT_BOOL   ? "true or false"
                                       : o->kind == OPT_RATE   ? "N/DURATION or off"
                                       : cf__config_types[o->kind].what != NULL
                                           ? cf__config_types[o->kind].what
                                           : "a value");
        break;
    }
}

/* The docs' type column: "one of a, b", "integer, 1 to 10", "duration, > 0". */
void cf__config_doctype(const option_t *o, char *buf, size_t cap)
{
    char all[128], range[64] = "";

    if (o->doctype != NULL) {
        cf__config_say(buf, cap, "%s", o->doctype);
        return;
    }
    if ((o->kind == OPT_UINT || o->kind == OPT_I64 || o->kind == OPT_AUTO) && o->max > 0)
        (void)snprintf(range, sizeof range, ", %lld to %lld", (long long)o->min,
                       (long long)o->max);
    else if (o->kind == OPT_DURATION && o->min == 1)
        (void)snprintf(range, sizeof range, ", > 0");
    else if (o->kind == OPT_DURATION && o->min == CF_SEC)
        (void)snprintf(range, sizeof range, ", >= 1s");
    if (o->kind == OPT_ENUM) {
        cf__config_list_choices(o, all, sizeof all);
        cf__config_say(buf, cap, "one of %s%s", all, range);
    } else if (o->kind == OPT_CHOICE || o->kind == OPT_KEYS) {
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(buf, cap, "%s %s%s", o->kind == OPT_KEYS ? "list of" : "one of", all,
                       range);
    } else {
        cf__config_say(buf, cap, "%s%s", cf__config_types[o->kind].name, range);
    }
}

int cf__config_is_list(const option_t *o)
{
    return o->kind == OPT_STRLIST || o->kind == OPT_CIDRLIST;
}

int cf__config_is_node(const option_t *o)
{
    return cf__config_types[o->kind].node == NODE_SECTION;
}
