/* SPDX-License-Identifier: MIT
 *
 * The types of section fields (fields.c): for each, the YAML node it
 * expects (a plain value, or a list of plain values), how its text is
 * checked and stored at the row's offset, and how it is written back for
 * the dump. Decides what a client id, a path, a secret hash or an alert kind
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

#define AT(obj, f) ((char *)(obj) + (f)->off)
#define CAT(obj, f) ((const char *)(obj) + (f)->off)

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

static int set_string(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *s, size_t n)
{
    char **p = (char **)AT(it->obj, f);

    free(*p);
    *p = strndup(s, n);
    return *p != NULL ? 0 : cf__config_oom(ld);
}

static int put_string(const cf__field_t *f, const void *obj, FILE *out)
{
    const char *s = *(char *const *)CAT(obj, f);

    if (out != NULL)
        cf__config_put_quoted(out, s != NULL ? s : "");
    return s != NULL;
}

static int name_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                      const yaml_node_t *k, const char *s, size_t n)
{
    const char *why = cf__config_name_ok(s, n);
    char shown[64];

    if (why != NULL)
        return cf__config_fail_at(ld, k, "%s: '%s' %s", w,
                                  cf__config_show(s, n, shown, sizeof shown), why);
    return set_string(ld, f, it, s, n);
}

static int secret_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                        const yaml_node_t *k, const char *s, size_t n)
{
    if (!secret_hash_ok(s, n))
        return cf__config_fail_at(ld, k,
                                  "%s: expected pbkdf2-sha256$ITERATIONS$SALT$HASH "
                                  "(run curfew hash-secret)",
                                  w);
    return set_string(ld, f, it, s, n);
}

static int scope_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                       const yaml_node_t *k, const char *s, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if ((unsigned char)s[j] < 0x20 || (unsigned char)s[j] == 0x7f)
            return cf__config_fail_at(ld, k, "%s: must not contain control characters", w);
    return set_string(ld, f, it, s, n);
}

static int host_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                      const yaml_node_t *k, const char *s, size_t n)
{
    char shown[64];

    if (n == 0 || n > 255)
        return cf__config_fail_at(ld, k, "%s: must be 1 to 255 characters", w);
    for (size_t i = 0; i < n; i++)
        if (!cf__config_host_char_ok(s[i], 0) &&
            !(s[0] == '[' && (s[i] == '[' || s[i] == ']' || cf__config_host_char_ok(s[i], 1))))
            return cf__config_fail_at(ld, k, "%s: '%s' is not a host name (write it without port)",
                                      w, cf__config_show(s, n, shown, sizeof shown));
    return set_string(ld, f, it, s, n);
}

/* The choices of @f (->arg) as the index + 1 of the value; 0 = not set. */
static int choice_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                        const yaml_node_t *k, const char *s, size_t n)
{
    const char *const *choices = f->arg;
    char shown[64], all[128];
    int i = cf__config_choice_index(choices, s, n);

    if (i == 0) {
        cf__config_join_choices(choices, all, sizeof all);
        return cf__config_fail_at(ld, k, "%s: expected one of %s, got '%s'", w, all,
                                  cf__config_show(s, n, shown, sizeof shown));
    }
    *(int *)AT(it->obj, f) = i;
    return 0;
}

static int put_choice(const cf__field_t *f, const void *obj, FILE *out)
{
    const char *const *choices = f->arg;
    int v = *(const int *)CAT(obj, f);

    if (v == 0)
        return 0;
    if (out != NULL)
        fputs(choices[v - 1], out);
    return 1;
}

/* As choice, stored as the index itself: an enum whose first value is the default. */
static int enum_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                      const yaml_node_t *k, const char *s, size_t n)
{
    int rc = choice_parse(ld, f, it, w, k, s, n);

    if (rc == 0)
        *(int *)AT(it->obj, f) -= 1;
    return rc;
}

static int put_enum(const cf__field_t *f, const void *obj, FILE *out)
{
    const char *const *choices = f->arg;

    if (out != NULL)
        fputs(choices[*(const int *)CAT(obj, f)], out);
    return 1;
}

static int bool_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                      const yaml_node_t *k, const char *s, size_t n)
{
    char shown[64];

    if (key_is(s, n, "true") || key_is(s, n, "false")) {
        *(int *)AT(it->obj, f) = n == 4;
        return 0;
    }
    return cf__config_fail_at(ld, k, "%s: expected true or false, got '%s'", w,
                              cf__config_show(s, n, shown, sizeof shown));
}

static int put_bool(const cf__field_t *f, const void *obj, FILE *out)
{
    int v = *(const int *)CAT(obj, f);

    if (out != NULL)
        fputs(v ? "true" : "false", out);
    return v;
}

static int duration_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                          const yaml_node_t *k, const char *s, size_t n)
{
    const char *why = NULL;
    cf_time_t t = 0;
    size_t at, len;
    char shown[64];

    if (cf_duration_parse(s, n, &t, &why) < 0) {
        if (why != NULL && strncmp(why, "unknown unit", 12) == 0 &&
            cf__config_find_bad_unit(s, n, &at, &len))
            return cf__config_fail_at(ld, k, "%s: unknown unit '%s' (use ms, s, m, h or d)", w,
                                      cf__config_show(s + at, len, shown, sizeof shown));
        return cf__config_fail_at(ld, k, "%s: %s", w, why != NULL ? why : "invalid duration");
    }
    if (t < 1)
        return cf__config_fail_at(ld, k, "%s: must be greater than 0", w);
    *(cf_time_t *)AT(it->obj, f) = t;
    return 0;
}

/*
 * A session or token lifetime: a duration of at least one second, since a
 * token's exp claim counts whole seconds (RFC 7519 NumericDate) and a
 * shorter lifetime would issue tokens that expire as they are issued.
 */
static int lifetime_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                          const yaml_node_t *k, const char *s, size_t n)
{
    int rc = duration_parse(ld, f, it, w, k, s, n);

    if (rc == 0 && *(cf_time_t *)AT(it->obj, f) < CF_SEC)
        return cf__config_fail_at(ld, k, "%s: must be at least 1s", w);
    return rc;
}

static int put_duration(const cf__field_t *f, const void *obj, FILE *out)
{
    cf_time_t v = *(const cf_time_t *)CAT(obj, f);
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
static int path_normal_ok(loader_t *ld, const yaml_node_t *k, const char *w, const char *s,
                          size_t n)
{
    char norm[CF_POLICY_PATH_MAX + 2], shown[64];
    size_t nlen;

    if (cf_path_normalize(s, n, norm, &nlen) < 0)
        return cf__config_fail_at(ld, k,
                                  "%s: '%s' can never match: /v1/check refuses such a path with "
                                  "400 invalid_path",
                                  w, cf__config_show(s, n, shown, sizeof shown));
    if (nlen != n || memcmp(norm, s, n) != 0)
        return cf__config_fail_at(ld, k,
                                  "%s: '%s' is not in normal form (requests are matched as '%s'), "
                                  "so it would never match; write '%s'",
                                  w, cf__config_show(s, n, shown, sizeof shown), norm, norm);
    return 0;
}

/* path, path_prefix, path_glob: one string and its kind (->off2, ->arg); at most one is given. */
static int path_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                      const yaml_node_t *k, const char *s, size_t n)
{
    const char *why = path_text_ok(s, n);
    char shown[64];

    if (why != NULL)
        return cf__config_fail_at(ld, k, "%s: '%s' %s", w,
                                  cf__config_show(s, n, shown, sizeof shown), why);
    if (path_normal_ok(ld, k, w, s, n) < 0)
        return CF_ECONFIG;
    *(cf_path_kind_t *)((char *)it->obj + f->off2) = (cf_path_kind_t)(intptr_t)f->arg;
    return set_string(ld, f, it, s, n);
}

static int put_path(const cf__field_t *f, const void *obj, FILE *out)
{
    cf_path_kind_t kind = *(const cf_path_kind_t *)((const char *)obj + f->off2);

    if (kind != (cf_path_kind_t)(intptr_t)f->arg)
        return 0;
    return put_string(f, obj, out);
}

static int names_take(loader_t *ld, const cf__field_t *f, cf__item_t *it, char **v, size_t n)
{
    char ***p = (char ***)AT(it->obj, f);
    size_t *np = (size_t *)((char *)it->obj + f->off2);

    (void)ld;
    cf__config_strv_free(*p, *np);
    *p = v;
    *np = n;
    return 0;
}

static int put_names(const cf__field_t *f, const void *obj, FILE *out)
{
    size_t n = *(const size_t *)((const char *)obj + f->off2);

    if (out != NULL)
        cf__config_put_strv(out, *(char *const *const *)CAT(obj, f), n);
    return n > 0;
}

static int grants_take(loader_t *ld, const cf__field_t *f, cf__item_t *it, char **v, size_t n)
{
    unsigned bits = 0;

    (void)ld;
    for (size_t j = 0; j < n; j++)
        bits |= strcmp(v[j], "refresh_token") == 0 ? CF_GRANT_REFRESH_TOKEN
                                                   : CF_GRANT_CLIENT_CREDENTIALS;
    cf__config_strv_free(v, n);
    *(unsigned *)AT(it->obj, f) = bits;
    return 0;
}

static int put_grants(const cf__field_t *f, const void *obj, FILE *out)
{
    unsigned g = *(const unsigned *)CAT(obj, f);

    if (out != NULL)
        fprintf(out, "[%s%s%s]", g & CF_GRANT_REFRESH_TOKEN ? "refresh_token" : "",
                (g & CF_GRANT_REFRESH_TOKEN) && (g & CF_GRANT_CLIENT_CREDENTIALS) ? ", " : "",
                g & CF_GRANT_CLIENT_CREDENTIALS ? "client_credentials" : "");
    return g != 0;
}

static int methods_take(loader_t *ld, const cf__field_t *f, cf__item_t *it, char **v, size_t n)
{
    unsigned bits = 0;

    (void)ld;
    for (size_t j = 0; j < n; j++)
        bits |= cf_method_bit(v[j], strlen(v[j]));
    cf__config_strv_free(v, n);
    *(unsigned *)AT(it->obj, f) = bits;
    return 0;
}

static int put_methods(const cf__field_t *f, const void *obj, FILE *out)
{
    static const char *const names[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                        "DELETE", "OPTIONS", "CONNECT", "TRACE"};
    unsigned m = *(const unsigned *)CAT(obj, f);
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

static int alert_kind_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                            const yaml_node_t *k, const char *s, size_t n)
{
    cf_alert_kind_t kind = cf_alert_kind_from_name(s, n);
    char shown[64];

    if (kind == CF_ALERT__COUNT)
        return cf__config_fail_at(ld, k,
                                  "%s: '%s' is not a rule kind (use refresh_reuse, "
                                  "check_failures_per_ip, check_failures_per_subject, "
                                  "refresh_rate_per_session, concurrent_sessions_per_subject "
                                  "or idle_timeout_spike)",
                                  w, cf__config_show(s, n, shown, sizeof shown));
    *(cf_alert_kind_t *)AT(it->obj, f) = kind;
    return 0;
}

static int put_alert_kind(const cf__field_t *f, const void *obj, FILE *out)
{
    if (out != NULL)
        fputs(cf_alert_kind_name(*(const cf_alert_kind_t *)CAT(obj, f)), out);
    return 1;
}

static int threshold_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                           const yaml_node_t *k, const char *s, size_t n)
{
    uint64_t u;
    char shown[64];

    if (cf__config_parse_digits(s, n, &u) < 0 || u < 1 || u > CF_ALERT_THRESHOLD_MAX)
        return cf__config_fail_at(ld, k, "%s: expected an integer from 1 to %d, got '%s'", w,
                                  CF_ALERT_THRESHOLD_MAX,
                                  cf__config_show(s, n, shown, sizeof shown));
    *(uint32_t *)AT(it->obj, f) = (uint32_t)u;
    return 0;
}

static int put_threshold(const cf__field_t *f, const void *obj, FILE *out)
{
    if (out != NULL)
        fprintf(out, "%u", (unsigned)*(const uint32_t *)CAT(obj, f));
    return 1;
}

static int alert_action_parse(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                              const yaml_node_t *k, const char *s, size_t n)
{
    cf_alert_action_t a = cf_alert_action_from_name(s, n);
    char shown[64];

    if (a == CF_ALERT_ACT__COUNT)
        return cf__config_fail_at(ld, k,
                                  "%s: '%s' is not an action (use none, revoke_session, "
                                  "revoke_subject or disable_refresh)",
                                  w, cf__config_show(s, n, shown, sizeof shown));
    *(cf_alert_action_t *)AT(it->obj, f) = a;
    return 0;
}

static int put_alert_action(const cf__field_t *f, const void *obj, FILE *out)
{
    if (out != NULL)
        fputs(cf_alert_action_name(*(const cf_alert_action_t *)CAT(obj, f)), out);
    return 1;
}

/* {what, parse, item_ok, take, put}: a NULL what is a list of plain values. */
const cf__ftype_t cf__ft_name = {"a string", name_parse, NULL, NULL, put_string};
const cf__ftype_t cf__ft_secret = {"a string", secret_parse, NULL, NULL, put_string};
const cf__ftype_t cf__ft_scope = {"a string", scope_parse, NULL, NULL, put_string};
const cf__ftype_t cf__ft_host = {"a host name", host_parse, NULL, NULL, put_string};
const cf__ftype_t cf__ft_choice = {"a value", choice_parse, NULL, NULL, put_choice};
const cf__ftype_t cf__ft_enum = {"a value", enum_parse, NULL, NULL, put_enum};
const cf__ftype_t cf__ft_bool = {"true or false", bool_parse, NULL, NULL, put_bool};
const cf__ftype_t cf__ft_duration = {"a duration", duration_parse, NULL, NULL, put_duration};
const cf__ftype_t cf__ft_lifetime = {"a duration", lifetime_parse, NULL, NULL, put_duration};
const cf__ftype_t cf__ft_path = {"a path", path_parse, NULL, NULL, put_path};
const cf__ftype_t cf__ft_names = {NULL, NULL, cf__config_name_ok, names_take, put_names};
const cf__ftype_t cf__ft_grants = {NULL, NULL, grant_ok, grants_take, put_grants};
const cf__ftype_t cf__ft_methods = {NULL, NULL, method_ok, methods_take, put_methods};
const cf__ftype_t cf__ft_alert_kind = {"a rule kind", alert_kind_parse, NULL, NULL,
                                         put_alert_kind};
const cf__ftype_t cf__ft_threshold = {"an integer", threshold_parse, NULL, NULL, put_threshold};
const cf__ftype_t cf__ft_alert_action = {"an action", alert_action_parse, NULL, NULL,
                                           put_alert_action};

_Static_assert(sizeof(cf_client_type_t) == sizeof(int) && sizeof(cf_ip_binding_t) == sizeof(int) &&
                   sizeof(cf_risk_action_t) == sizeof(int),
               "enum fields are written through an int *");

