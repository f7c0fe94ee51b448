/* SPDX-License-Identifier: MIT
 *
 * Access-token claims and refresh tokens. Decides the claim verdicts listed
 * in token.h from a payload whose signature jws.c has already verified. Must
 * never read a clock, never truncate a claim (a truncated sub could name
 * another user), and never let arithmetic on attacker-chosen times wrap.
 */
#include "core/token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/b64url.h"
#include "core/error.h"
#include "core/jsonw.h"

/* ---------------------------------------------------------------- checks */

/* Copy string member @v into @dst (@cap bytes). -1 unless @v is a string
 * without NUL that fits with its terminator. */
static int copy_str(const json_t *v, char *dst, size_t cap)
{
    const char *s;
    size_t n;

    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    n = json_string_length(v);
    if (memchr(s, '\0', n) != NULL || n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* A required identifier (sub, sid, jti): as copy_str, and never empty, since
 * the issuer never writes an empty one (check_spec); the verifier may not be
 * laxer than the issuer. */
static int id_str(const json_t *v, char *dst, size_t cap)
{
    return copy_str(v, dst, cap) == 0 && dst[0] != '\0' ? 0 : -1;
}

static int opt_str(const json_t *obj, const char *name, char *dst, size_t cap)
{
    const json_t *v = json_object_get(obj, name);

    if (v == NULL) {
        dst[0] = '\0';
        return 0;
    }
    return copy_str(v, dst, cap);
}

/* A string with no embedded NUL, so that strcmp() sees all of it. */
static int plain_str(const json_t *v)
{
    return json_is_string(v) && memchr(json_string_value(v), '\0', json_string_length(v)) == NULL;
}

static int get_date(const json_t *obj, const char *name, int required, int64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    json_int_t i;

    *out = 0;
    if (v == NULL)
        return required ? -1 : 0;
    if (!json_is_integer(v))
        return -1;
    i = json_integer_value(v);
    if (i < 0 || i > CF_TOKEN_MAX_NUMERICDATE)
        return -1;
    *out = (int64_t)i;
    return 0;
}

static int valid_role(const char *s, size_t n)
{
    return n > 0 && memchr(s, ' ', n) == NULL && memchr(s, '\0', n) == NULL;
}

/* Join the roles array into @dst, space-separated. */
static int get_roles(const json_t *obj, char *dst, size_t cap)
{
    const json_t *arr = json_object_get(obj, "roles"), *v;
    size_t len = 0, i;

    dst[0] = '\0';
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr))
        return -1;
    json_array_foreach(arr, i, v) {
        size_t n;

        if (!json_is_string(v))
            return -1;
        n = json_string_length(v);
        if (!valid_role(json_string_value(v), n))
            return -1;
        if (len + (len > 0) + n >= cap)
            return -1;
        if (len > 0)
            dst[len++] = ' ';
        memcpy(dst + len, json_string_value(v), n);
        len += n;
        dst[len] = '\0';
    }
    return 0;
}

/* cnf: absent, or {"jkt": thumbprint} or {"x5t#S256": thumbprint}; -1 malformed. */
static int get_cnf(const json_t *obj, cf_cnf_t *out)
{
    const json_t *cnf = json_object_get(obj, "cnf"), *jkt, *x5t;

    memset(out, 0, sizeof *out);
    if (cnf == NULL)
        return 0;
    if (!json_is_object(cnf))
        return -1;
    jkt = json_object_get(cnf, "jkt");
    x5t = json_object_get(cnf, "x5t#S256");
    if ((jkt == NULL) == (x5t == NULL))
        return -1; /* neither, or both: we never issue either */
    if (jkt != NULL)
        return json_is_string(jkt) ? cf_cnf_set(out, CF_CNF_JKT, json_string_value(jkt), json_string_length(jkt)) : -1;
    return json_is_string(x5t) ? cf_cnf_set(out, CF_CNF_X5T, json_string_value(x5t), json_string_length(x5t)) : -1;
}

/* aud: 1 matches, 0 does not, -1 malformed. */
static int aud_matches(const json_t *aud, const char *want)
{
    const json_t *v;
    size_t i;
    int found = 0;

    if (plain_str(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return -1;
    json_array_foreach(aud, i, v) {
        if (!plain_str(v))
            return -1; /* check every element's type, even after a match */
        if (strcmp(json_string_value(v), want) == 0)
            found = 1;
    }
    return found;
}

static cf_time_t sat_add(cf_time_t a, cf_time_t b)
{
    cf_time_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int cf_token_check_claims(const json_t *payload, const cf_token_expect_t *exp, cf_time_t now,
                          cf_access_claims_t *out, cf_reason_t *why)
{
    const json_t *iss, *aud;
    cf_access_claims_t c;
    int m;

    if (exp == NULL || out == NULL || why == NULL || exp->issuer == NULL || exp->audience == NULL ||
        exp->leeway < 0)
        return CF_EINVAL;
    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    *why = CF_REASON_MALFORMED_TOKEN;

    if (!json_is_object(payload))
        return 0;
    iss = json_object_get(payload, "iss");
    aud = json_object_get(payload, "aud");
    if (!plain_str(iss) || aud == NULL)
        return 0;
    if (id_str(json_object_get(payload, "sub"), c.sub, sizeof(c.sub)) < 0 ||
        id_str(json_object_get(payload, "sid"), c.sid, sizeof(c.sid)) < 0 ||
        id_str(json_object_get(payload, "jti"), c.jti, sizeof(c.jti)) < 0 ||
        opt_str(payload, "client_id", c.client_id, sizeof(c.client_id)) < 0 ||
        opt_str(payload, "scope", c.scope, sizeof(c.scope)) < 0 ||
        get_roles(payload, c.roles, sizeof(c.roles)) < 0 ||
        get_date(payload, "exp", 1, &c.exp) < 0 || get_date(payload, "iat", 1, &c.iat) < 0 ||
        get_date(payload, "nbf", 0, &c.nbf) < 0 ||
        get_date(payload, "auth_time", 0, &c.auth_time) < 0 || get_cnf(payload, &c.cnf) < 0)
        return 0;
    m = aud_matches(aud, exp->audience);
    if (m < 0)
        return 0;
    *out = c;

    if (strcmp(json_string_value(iss), exp->issuer) != 0) {
        *why = CF_REASON_WRONG_ISSUER;
        return 0;
    }
    if (m == 0) {
        *why = CF_REASON_WRONG_AUDIENCE;
        return 0;
    }
    *why = cf_token_check_time(c.exp, c.iat, c.nbf, now, exp->leeway, exp->leeway);
    return 0;
}

/* Seconds to milliseconds, saturating: the cache hands in whatever it holds. */
static cf_time_t sec_ms(int64_t s)
{
    cf_time_t r;

    if (__builtin_mul_overflow(s, (int64_t)CF_SEC, &r))
        return s > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

cf_reason_t cf_token_check_time(int64_t exp, int64_t iat, int64_t nbf, cf_time_t now,
                                cf_time_t leeway, cf_time_t ahead)
{
    cf_time_t now_ahead;

    if (leeway < 0)
        leeway = 0;
    if (ahead < leeway)
        ahead = leeway;
    if (now >= sat_add(sec_ms(exp), leeway))
        return CF_REASON_TOKEN_EXPIRED;
    now_ahead = sat_add(now, ahead);
    if ((nbf != 0 && now_ahead < sec_ms(nbf)) || now_ahead < sec_ms(iat))
        return CF_REASON_TOKEN_NOT_YET_VALID;
    return CF_REASON_NONE;
}

/* --------------------------------------------------------------- builder */

static int date_ok(int64_t t)
{
    return t >= 0 && t <= CF_TOKEN_MAX_NUMERICDATE;
}

static int nonempty_fits(const char *s, size_t cap)
{
    return s != NULL && s[0] != '\0' && strlen(s) < cap;
}

static int check_spec(const cf_access_token_spec_t *s)
{
    const cf_access_claims_t *c = NULL; /* only for the field sizes */
    size_t roles_len = 0;

    if (s->issuer == NULL || s->issuer[0] == '\0' || s->audience == NULL || s->audience[0] == '\0')
        return CF_EINVAL;
    if (!nonempty_fits(s->sub, sizeof(c->sub)) || !nonempty_fits(s->sid, sizeof(c->sid)) ||
        !nonempty_fits(s->jti, sizeof(c->jti)))
        return CF_EINVAL;
    if (s->client_id != NULL && strlen(s->client_id) >= sizeof(c->client_id))
        return CF_EINVAL;
    if (s->scope != NULL && strlen(s->scope) >= sizeof(c->scope))
        return CF_EINVAL;
    if (s->nroles > 0 && s->roles == NULL)
        return CF_EINVAL;
    for (size_t i = 0; i < s->nroles; i++) {
        if (s->roles[i] == NULL || !valid_role(s->roles[i], strlen(s->roles[i])))
            return CF_EINVAL;
        roles_len += (i > 0) + strlen(s->roles[i]);
        if (roles_len >= sizeof(c->roles))
            return CF_EINVAL;
    }
    if (!date_ok(s->iat) || !date_ok(s->exp) || !date_ok(s->auth_time) || s->exp <= s->iat)
        return CF_EINVAL;
    return 0;
}

/* A bound on the payload's length: every string escaped at worst, every number 20 digits. */
static size_t payload_max(const cf_access_token_spec_t *spec)
{
    const char *strs[] = {spec->issuer, spec->sub, spec->audience, spec->jti, spec->client_id,
                          spec->sid, spec->scope, spec->cnf != NULL ? spec->cnf->v : NULL};
    size_t n = 256 + 3 * 21; /* member names, punctuation, exp, iat, auth_time */

    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strs[i] != NULL)
            n += cf_jsonw_str_max(strlen(strs[i]));
    for (size_t i = 0; i < spec->nroles; i++)
        n += 1 + cf_jsonw_str_max(strlen(spec->roles[i]));
    return n;
}

/*
 * Written by hand (jsonw.h) rather than through jansson: this runs for every
 * token issued, on the loop, and a fixed shape needs no tree. The bytes are
 * those json_dumps(JSON_COMPACT) wrote for the same members
 * (tests/unit/test_token.c compares them).
 */
int cf_token_access_payload(const cf_access_token_spec_t *spec, char **json_out)
{
    cf_jsonw_t w;
    size_t cap;
    char *buf;
    int rc;

    *json_out = NULL;
    rc = check_spec(spec);
    if (rc < 0)
        return rc;
    cap = payload_max(spec);
    buf = malloc(cap);
    if (buf == NULL)
        return CF_ENOMEM;
    cf_jsonw_init(&w, buf, cap);
    /* Member order follows RFC 9068 section 2.2 for readability of tokens. */
    cf_jsonw_raw(&w, "{\"iss\":", 7);
    cf_jsonw_str(&w, spec->issuer);
    cf_jsonw_raw(&w, ",\"sub\":", 7);
    cf_jsonw_str(&w, spec->sub);
    cf_jsonw_raw(&w, ",\"aud\":", 7);
    cf_jsonw_str(&w, spec->audience);
    cf_jsonw_raw(&w, ",\"exp\":", 7);
    cf_jsonw_int(&w, spec->exp);
    cf_jsonw_raw(&w, ",\"iat\":", 7);
    cf_jsonw_int(&w, spec->iat);
    cf_jsonw_raw(&w, ",\"jti\":", 7);
    cf_jsonw_str(&w, spec->jti);
    if (spec->client_id != NULL) {
        cf_jsonw_raw(&w, ",\"client_id\":", 13);
        cf_jsonw_str(&w, spec->client_id);
    }
    cf_jsonw_raw(&w, ",\"sid\":", 7);
    cf_jsonw_str(&w, spec->sid);
    if (spec->scope != NULL) {
        cf_jsonw_raw(&w, ",\"scope\":", 9);
        cf_jsonw_str(&w, spec->scope);
    }
    cf_jsonw_raw(&w, ",\"roles\":[", 10);
    for (size_t i = 0; i < spec->nroles; i++) {
        if (i > 0)
            cf_jsonw_raw(&w, ",", 1);
        cf_jsonw_str(&w, spec->roles[i]);
    }
    cf_jsonw_raw(&w, "]", 1);
    if (spec->auth_time != 0) {
        cf_jsonw_raw(&w, ",\"auth_time\":", 13);
        cf_jsonw_int(&w, spec->auth_time);
    }
    if (spec->cnf != NULL && spec->cnf->kind != CF_CNF_NONE) {
        if (spec->cnf->kind == CF_CNF_JKT)
            cf_jsonw_raw(&w, ",\"cnf\":{\"jkt\":", 14);
        else
            cf_jsonw_raw(&w, ",\"cnf\":{\"x5t#S256\":", 19);
        cf_jsonw_str(&w, spec->cnf->v);
        cf_jsonw_raw(&w, "}", 1);
    }
    cf_jsonw_raw(&w, "}", 1);
    if (w.err != 0) {
        free(buf);
        return w.err; /* CF_EINVAL: invalid UTF-8 (CF_ETOOBIG cannot happen: see payload_max) */
    }
    *json_out = buf;
    return 0;
}

/* --------------------------------------------------------------- refresh */

void cf_refresh_token_encode(const uint8_t raw[CF_REFRESH_RAW_LEN], char out[CF_REFRESH_TOKEN_LEN + 1])
{
    (void)cf_b64url_encode(raw, CF_REFRESH_RAW_LEN, out); /* always 43 */
}

void cf_refresh_token_hash(const char *tok, size_t len, uint8_t out[CF_SHA256_LEN])
{
    cf_sha256(tok, len, out);
}

int cf_refresh_token_wellformed(const char *tok, size_t len)
{
    uint8_t raw[CF_REFRESH_RAW_LEN];
    size_t n = 0;
    int ok;

    if (tok == NULL || len != CF_REFRESH_TOKEN_LEN)
        return 0;
    ok = cf_b64url_decode(tok, len, raw, sizeof(raw), &n) == 0 && n == CF_REFRESH_RAW_LEN;
    OPENSSL_cleanse(raw, sizeof(raw)); /* the raw bytes are the secret */
    return ok;
}
