/* SPDX-License-Identifier: MIT
 *
 * The types of section fields (the rows of clients[], roles.NAME,
 * routes[] and alerts.rules[] in options.c): for each, how its text is
 * checked and stored at the row's offset, and how it is written back for
 * the dump; types.c's table says which YAML node each expects. Strings are
 * heap memory, and an unset field is left out of the dump. Decides what a client id, a path, a secret hash or an alert kind
 * may be; knows no level and no row.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/sections.h"
#include "core/alert.h"
#include "core/b64url.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/path.h"
#include "core/policy.h"

#define AT(obj, o) ((char *)(obj) + (o)->off)
#define CAT(obj, o) ((const char *)(obj) + (o)->off)

static int key_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* ------------------------------------------------------------------------ */
/* Item checks: NULL or what is wrong                                        */
/* ------------------------------------------------------------------------ */

/* A name: role, scope, client id. Visible ASCII; no ',' (role lists) and no spaces (scopes). */
const char *cf__config_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 127)
        return "must be 1 to 127 characters";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ',')
            return "must be visible ASCII without spaces or commas";
    return NULL;
}

/* "'ITEM' WHY" into @msg when @why is set; 0 or CF_ECONFIG. */
static int item_why(const char *s, size_t n, const char *why, char *msg, size_t cap)
{
    char shown[64];

    if (why == NULL)
        return 0;
    cf__config_say(msg, cap, "'%s' %s", cf__config_show(s, n, shown, sizeof shown), why);
    return CF_ECONFIG;
}

int cf__config_name_item(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    (void)o;
    return item_why(s, n, cf__config_name_ok(s, n), msg, cap);
}

int cf__config_method_item(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    (void)o;
    return item_why(s, n,
                    cf_method_bit(s, n) != 0 ? NULL
                                             : "is not a method (use GET, HEAD, POST, PUT, "
                                               "PATCH, DELETE, OPTIONS, CONNECT or TRACE)",
                    msg, cap);
}

int cf__config_grant_item(const option_t *o, const char *s, size_t n, char *msg, size_t cap)
{
    (void)o;
    return item_why(s, n,
                    key_is(s, n, "refresh_token") || key_is(s, n, "client_credentials")
                        ? NULL
                        : "is not a grant (use refresh_token or client_credentials)",
                    msg, cap);
}

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
    if (cf__config_parse_digits(it, (size_t)(salt - it), &iters) < 0 || iters < 1 ||
        iters > 100000000)
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

/* ------------------------------------------------------------------------ */
/* Types: parse and print                                                    */
/* ------------------------------------------------------------------------ */

static int fail(char *msg, size_t cap, const char *what)
{
    cf__config_say(msg, cap, "%s", what);
    return CF_ECONFIG;
}

static int set_string(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                      size_t cap)
{
    char **p = (char **)AT(obj, o), *dup = strndup(s, n);

    if (dup == NULL) {
        cf__config_say(msg, cap, "out of memory");
        return CF_ENOMEM;
    }
    free(*p);
    *p = dup;
    return 0;
}

int cf__config_put_string(const option_t *o, const void *obj, FILE *out)
{
    const char *s = *(char *const *)CAT(obj, o);

    if (out != NULL)
        cf__config_put_quoted(out, s != NULL ? s : "");
    return s != NULL;
}

int cf__config_name_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                          size_t cap)
{
    if (cf__config_name_item(o, s, n, msg, cap) < 0)
        return CF_ECONFIG;
    return set_string(o, obj, s, n, msg, cap);
}

int cf__config_secret_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                            size_t cap)
{
    if (!secret_hash_ok(s, n))
        return fail(msg, cap, "expected pbkdf2-sha256$ITERATIONS$SALT$HASH (run curfew hash-secret)");
    return set_string(o, obj, s, n, msg, cap);
}

int cf__config_scope_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                           size_t cap)
{
    for (size_t j = 0; j < n; j++)
        if ((unsigned char)s[j] < 0x20 || (unsigned char)s[j] == 0x7f)
            return fail(msg, cap, "must not contain control characters");
    return set_string(o, obj, s, n, msg, cap);
}

int cf__config_host_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                          size_t cap)
{
    char shown[64];

    if (n == 0 || n > 255)
        return fail(msg, cap, "must be 1 to 255 characters");
    for (size_t i = 0; i < n; i++)
        if (!cf__config_host_char_ok(s[i], 0) &&
            !(s[0] == '[' && (s[i] == '[' || s[i] == ']' || cf__config_host_char_ok(s[i], 1)))) {
            cf__config_say(msg, cap, "'%s' is not a host name (write it without port)",
                           cf__config_show(s, n, shown, sizeof shown));
            return CF_ECONFIG;
        }
    return set_string(o, obj, s, n, msg, cap);
}

/* The choices of @o as the index + 1 of the value; 0 = not set. */
int cf__config_schoice_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                             size_t cap)
{
    char shown[64], all[128];
    int i = cf__config_choice_index(o->choices, s, n);

    if (i == 0) {
        cf__config_join_choices(o->choices, all, sizeof all);
        cf__config_say(msg, cap, "expected one of %s, got '%s'", all,
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(int *)AT(obj, o) = i;
    return 0;
}

int cf__config_put_schoice(const option_t *o, const void *obj, FILE *out)
{
    int v = *(const int *)CAT(obj, o);

    if (v == 0)
        return 0;
    if (out != NULL)
        fputs(o->choices[v - 1], out);
    return 1;
}

/* As schoice, stored as the index itself: an enum whose first value is the default. */
int cf__config_senum_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                           size_t cap)
{
    int rc = cf__config_schoice_parse(o, obj, s, n, msg, cap);

    if (rc == 0)
        *(int *)AT(obj, o) -= 1;
    return rc;
}

int cf__config_put_senum(const option_t *o, const void *obj, FILE *out)
{
    if (out != NULL)
        fputs(o->choices[*(const int *)CAT(obj, o)], out);
    return 1;
}

int cf__config_sbool_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                           size_t cap)
{
    char shown[64];

    if (key_is(s, n, "true") || key_is(s, n, "false")) {
        *(int *)AT(obj, o) = n == 4;
        return 0;
    }
    cf__config_say(msg, cap, "expected true or false, got '%s'",
                   cf__config_show(s, n, shown, sizeof shown));
    return CF_ECONFIG;
}

int cf__config_put_sbool(const option_t *o, const void *obj, FILE *out)
{
    int v = *(const int *)CAT(obj, o);

    if (out != NULL)
        fputs(v ? "true" : "false", out);
    return v;
}

int cf__config_sduration_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                               size_t cap)
{
    cf_time_t t = 0;

    if (cf__config_duration(s, n, &t, msg, cap) < 0)
        return CF_ECONFIG;
    if (t < 1)
        return fail(msg, cap, "must be greater than 0");
    *(cf_time_t *)AT(obj, o) = t;
    return 0;
}

/*
 * A session or token lifetime: a duration of at least one second, since a
 * token's exp claim counts whole seconds (RFC 7519 NumericDate) and a
 * shorter lifetime would issue tokens that expire as they are issued.
 */
int cf__config_lifetime_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                              size_t cap)
{
    cf_time_t old = *(cf_time_t *)AT(obj, o);
    int rc = cf__config_sduration_parse(o, obj, s, n, msg, cap);

    if (rc == 0 && *(cf_time_t *)AT(obj, o) < CF_SEC) {
        *(cf_time_t *)AT(obj, o) = old;
        return fail(msg, cap, "must be at least 1s");
    }
    return rc;
}

int cf__config_put_sduration(const option_t *o, const void *obj, FILE *out)
{
    cf_time_t v = *(const cf_time_t *)CAT(obj, o);
    char d[32];

    if (out != NULL) {
        if (cf_duration_format(v, d, sizeof d) < 0)
            fputs("null  # invalid: negative", out);
        else
            fputs(d, out);
    }
    return v > 0;
}

/*
 * /v1/check matches rules against the request path in normal form
 * (cf_path_normalize(): `%61` decoded, `%3a` upper-cased, `//` merged, dot
 * segments and `;params` removed). A rule spelled otherwise can never match
 * anything, so a deny or require_roles rule written `/%61dmin/` or
 * `/public/../admin` would protect nothing, in silence. Refuse it and show
 * the form to write. @s (@n <= CF_POLICY_PATH_MAX bytes) passed path_text_ok().
 */
static int path_normal_ok(const char *s, size_t n, char *msg, size_t cap)
{
    char norm[CF_POLICY_PATH_MAX + 2], shown[64];
    size_t nlen;

    if (cf_path_normalize(s, n, norm, &nlen) < 0) {
        cf__config_say(msg, cap,
                       "'%s' can never match: /v1/check refuses such a path with 400 "
                       "invalid_path",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (nlen != n || memcmp(norm, s, n) != 0) {
        cf__config_say(msg, cap,
                       "'%s' is not in normal form (requests are matched as '%s'), so it would "
                       "never match; write '%s'",
                       cf__config_show(s, n, shown, sizeof shown), norm, norm);
        return CF_ECONFIG;
    }
    return 0;
}

/* path, path_prefix, path_glob: one string and its kind (->off2, ->tag); at most one is given. */
int cf__config_path_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                          size_t cap)
{
    int rc = item_why(s, n, path_text_ok(s, n), msg, cap);

    if (rc == 0)
        rc = path_normal_ok(s, n, msg, cap);
    if (rc == 0)
        rc = set_string(o, obj, s, n, msg, cap);
    if (rc == 0)
        *(cf_path_kind_t *)((char *)obj + o->off2) = (cf_path_kind_t)o->tag;
    return rc;
}

int cf__config_put_path(const option_t *o, const void *obj, FILE *out)
{
    cf_path_kind_t kind = *(const cf_path_kind_t *)((const char *)obj + o->off2);

    if (kind != (cf_path_kind_t)o->tag)
        return 0;
    return cf__config_put_string(o, obj, out);
}

int cf__config_put_names(const option_t *o, const void *obj, FILE *out)
{
    size_t n = *(const size_t *)((const char *)obj + o->off2);

    if (out != NULL)
        cf__config_put_strv(out, *(char *const *const *)CAT(obj, o), n);
    return n > 0;
}

/* "a,b" of checked items (no blanks, no empty ones) to the bits @bit gives each. */
static unsigned item_bits(const char *s, size_t n, unsigned (*bit)(const char *, size_t))
{
    unsigned bits = 0;
    size_t i = 0;

    while (i < n) {
        const char *comma = memchr(s + i, ',', n - i);
        size_t end = comma != NULL ? (size_t)(comma - s) : n;
        bits |= bit(s + i, end - i);
        i = end + 1;
    }
    return bits;
}

static unsigned grant_bit(const char *s, size_t n)
{
    return key_is(s, n, "refresh_token") ? CF_GRANT_REFRESH_TOKEN : CF_GRANT_CLIENT_CREDENTIALS;
}

static unsigned method_bit(const char *s, size_t n)
{
    return cf_method_bit(s, n);
}

int cf__config_grants_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                            size_t cap)
{
    (void)msg;
    (void)cap;
    *(unsigned *)AT(obj, o) = item_bits(s, n, grant_bit);
    return 0;
}

int cf__config_put_grants(const option_t *o, const void *obj, FILE *out)
{
    unsigned g = *(const unsigned *)CAT(obj, o);

    if (out != NULL)
        fprintf(out, "[%s%s%s]", g & CF_GRANT_REFRESH_TOKEN ? "refresh_token" : "",
                (g & CF_GRANT_REFRESH_TOKEN) && (g & CF_GRANT_CLIENT_CREDENTIALS) ? ", " : "",
                g & CF_GRANT_CLIENT_CREDENTIALS ? "client_credentials" : "");
    return g != 0;
}

int cf__config_methods_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                             size_t cap)
{
    (void)msg;
    (void)cap;
    *(unsigned *)AT(obj, o) = item_bits(s, n, method_bit);
    return 0;
}

int cf__config_put_methods(const option_t *o, const void *obj, FILE *out)
{
    static const char *const names[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                        "DELETE", "OPTIONS", "CONNECT", "TRACE"};
    unsigned m = *(const unsigned *)CAT(obj, o);
    const char *sep = "";

    if (out == NULL)
        return m != 0;
    fputc('[', out);
    for (size_t b = 0; b < sizeof names / sizeof names[0]; b++)
        if (m & (1u << b)) {
            fprintf(out, "%s%s", sep, names[b]);
            sep = ", ";
        }
    fputc(']', out);
    return 1;
}

int cf__config_alert_kind_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                                size_t cap)
{
    cf_alert_kind_t kind = cf_alert_kind_from_name(s, n);
    char shown[64];

    if (kind == CF_ALERT__COUNT) {
        cf__config_say(msg, cap,
                       "'%s' is not a rule kind (use refresh_reuse, check_failures_per_ip, "
                       "check_failures_per_subject, refresh_rate_per_session, "
                       "concurrent_sessions_per_subject or idle_timeout_spike)",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(cf_alert_kind_t *)AT(obj, o) = kind;
    return 0;
}

int cf__config_put_alert_kind(const option_t *o, const void *obj, FILE *out)
{
    if (out != NULL)
        fputs(cf_alert_kind_name(*(const cf_alert_kind_t *)CAT(obj, o)), out);
    return 1;
}

int cf__config_threshold_parse(const option_t *o, void *obj, const char *s, size_t n, char *msg,
                               size_t cap)
{
    uint64_t u;
    char shown[64];

    if (cf__config_parse_digits(s, n, &u) < 0 || u < 1 || u > CF_ALERT_THRESHOLD_MAX) {
        cf__config_say(msg, cap, "expected an integer from 1 to %d, got '%s'",
                       CF_ALERT_THRESHOLD_MAX, cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(uint32_t *)AT(obj, o) = (uint32_t)u;
    return 0;
}

int cf__config_put_threshold(const option_t *o, const void *obj, FILE *out)
{
    if (out != NULL)
        fprintf(out, "%u", (unsigned)*(const uint32_t *)CAT(obj, o));
    return 1;
}

int cf__config_alert_action_parse(const option_t *o, void *obj, const char *s, size_t n,
                                  char *msg, size_t cap)
{
    cf_alert_action_t a = cf_alert_action_from_name(s, n);
    char shown[64];

    if (a == CF_ALERT_ACT__COUNT) {
        cf__config_say(msg, cap,
                       "'%s' is not an action (use none, revoke_session, revoke_subject or "
                       "disable_refresh)",
                       cf__config_show(s, n, shown, sizeof shown));
        return CF_ECONFIG;
    }
    *(cf_alert_action_t *)AT(obj, o) = a;
    return 0;
}

int cf__config_put_alert_action(const option_t *o, const void *obj, FILE *out)
{
    if (out != NULL)
        fputs(cf_alert_action_name(*(const cf_alert_action_t *)CAT(obj, o)), out);
    return 1;
}

_Static_assert(sizeof(cf_client_type_t) == sizeof(int) && sizeof(cf_ip_binding_t) == sizeof(int) &&
                   sizeof(cf_risk_action_t) == sizeof(int),
               "enum fields are written through an int *");
