/* SPDX-License-Identifier: MIT
 *
 * The rules no row can state, written by hand: across the fields of one
 * section element (a confidential client needs a secret, an anonymous route
 * requires nothing, each level's shape in levels[]), across sections (a
 * route's required role is defined), and across options, checked once the
 * whole configuration is known:
 * defaults yielding to given values, order rules (ttl <= max_ttl, idle <=
 * absolute), ranges re-checked through each type, rate limits the limiter
 * can hold, and the files the server opens at start. `curfew config check`
 * and `curfew serve` both run these, so they refuse the same things with the
 * same FILE:LINE message. Reads the file system (stat, the KEK file);
 * never changes a configuration except in cf__config_yield_defaults().
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "config/sections.h"
#include "core/alert.h"
#include "core/policy.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/keyset.h"
#include "core/ratelimit.h"
#include "core/b64url.h"
#include "util/tls.h"
#include "util/x509.h"

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

static const option_t *must_find(const char *key)
{
    const option_t *o = cf__config_find(key, strlen(key));

    if (o == NULL || o->kind != OPT_DURATION) {
        fprintf(stderr, "curfew: config rule names unknown duration '%s'\n", key);
        abort(); /* a typo in order_rules[]; any test run catches it */
    }
    return o;
}

static uint32_t line_of_option(const cf_config_t *cfg, const option_t *o)
{
    return cfg->set_line[o - cf__config_options];
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
void cf__config_yield_defaults(cf_config_t *cfg)
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
    for (size_t i = 0; i < cf__config_nroot; i++) {
        const option_t *o = &cf__config_options[i];
        const type_t *t = cf__config_type(o);
        if (cf__config_is_list(o) || cf__config_is_node(o))
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
                       where_set(cfg, cf__config_find("keys.rotate_every", 16), at, sizeof at), sr,
                       st, sl);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Every enabled rate limit must be one the limiter can hold: the emission
 * interval (period / count, rounded up) times the burst is its tolerance,
 * and cf_gcra_init() refuses one past the longest duration. The rate row is
 * followed by its burst row in cf__config_options[] (RATE_ROWS).
 */
static int check_rates(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300], d[32];

    for (size_t i = 0; i < cf__config_nroot; i++) {
        const option_t *o = &cf__config_options[i];
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
                       where_set(cfg, set_one(cfg, &cf__config_options[i + 1], o), at, sizeof at),
                       cf__config_options[i + 1].key, (long long)r->burst, (long long)r->count, d);
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
                       where_set(cfg, cf__config_find("keys.kek_file", 13), at, sizeof at),
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
                       where_set(cfg, cf__config_find("keys.kek_file", 13), at, sizeof at),
                       cfg->kek_file);
        return CF_ECONFIG;
    }
    return 0;
}

static int check_tls_fields(const cf_config_t *cfg, char *err, size_t errlen);

/*
 * The CA files of mtls.client_ca and alerts.webhook_ca must hold
 * certificates, and a tls_client_auth client needs some CA to chain to.
 */
static int check_ca_files(const cf_config_t *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"mtls.client_ca", "alerts.webhook_ca"};
    const char *const paths[] = {cfg->mtls_client_ca, cfg->alert_webhook_ca};
    char at[300];

    for (size_t i = 0; i < 2; i++) {
        X509_STORE *st;

        if (paths[i][0] == '\0')
            continue;
        st = cf_x509_store_load(paths[i]);
        if (st == NULL) {
            cf__config_say(err, errlen, "%s%s: no PEM CA certificate in '%s'",
                           where_set(cfg, cf__config_find(keys[i], strlen(keys[i])), at, sizeof at),
                           keys[i], paths[i]);
            return CF_ECONFIG;
        }
        X509_STORE_free(st);
    }
    if (cfg->tls_client_ca[0] != '\0' || cfg->mtls_client_ca[0] != '\0')
        return 0;
    for (size_t i = 0; i < cfg->policy.nclients; i++)
        if (cfg->policy.clients[i].auth_method == CF_CLIENT_AUTH_TLS) {
            cf__config_say(err, errlen,
                           "%s:%d: client '%s' uses tls_client_auth: set tls.client_ca or "
                           "mtls.client_ca (the CAs its certificate must chain to)",
                           cfg->source[0] ? cfg->source : "config", cfg->policy.clients[i].line,
                           cfg->policy.clients[i].id);
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
    int rc;
    char at[300], dir[sizeof cfg->audit_path];
    const char *slash = strrchr(cfg->audit_path, '/');
    struct stat st;

    if (cfg->audit_path[0] != '\0' && strcmp(cfg->audit_path, "-") != 0) {
        size_t n = slash == NULL ? 1 : slash == cfg->audit_path ? 1 : (size_t)(slash - cfg->audit_path);
        memcpy(dir, slash == NULL ? "." : cfg->audit_path, n);
        dir[n] = '\0';
        if (slash != NULL && slash[1] == '\0') {
            cf__config_say(err, errlen, "%saudit.path: '%s' names a directory, not a file",
                           where_set(cfg, cf__config_find("audit.path", 10), at, sizeof at),
                           cfg->audit_path);
            return CF_ECONFIG;
        }
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cf__config_say(err, errlen, "%saudit.path: directory '%s' %s",
                           where_set(cfg, cf__config_find("audit.path", 10), at, sizeof at), dir,
                           stat(dir, &st) < 0 ? strerror(errno) : "is not a directory");
            return CF_ECONFIG;
        }
    }
    rc = check_kek_file(cfg, err, errlen);
    if (rc == 0 && cfg->tls_cert[0] != '\0') {
        SSL_CTX *ctx = NULL;

        rc = cf_config_tls_ctx(cfg, &ctx, err, errlen);
        SSL_CTX_free(ctx);
    } else if (rc == 0) {
        rc = check_tls_fields(cfg, err, errlen);
    }
    return rc == 0 ? check_ca_files(cfg, err, errlen) : rc;
}

/* tls.*: both files or neither; the client options only with them (a dump's defaults pass). */
static int check_tls_fields(const cf_config_t *cfg, char *err, size_t errlen)
{
    const char *stray = cfg->tls_key[0] != '\0'                  ? "tls.key"
                        : cfg->tls_client_ca[0] != '\0'          ? "tls.client_ca"
                        : strcmp(cfg->tls_client_certs, "off") != 0 ? "tls.client_certs"
                                                                   : NULL;
    char at[300];

    if (cfg->tls_cert[0] != '\0' && cfg->tls_key[0] == '\0') {
        cf__config_say(err, errlen, "%stls.cert: tls.key must be set too",
                       where_set(cfg, cf__config_find("tls.cert", 8), at, sizeof at));
        return CF_ECONFIG;
    }
    if (cfg->tls_cert[0] != '\0' || stray == NULL)
        return 0;
    cf__config_say(err, errlen, "%s%s: only meaningful with tls.cert (HTTPS)",
                   where_set(cfg, cf__config_find(stray, strlen(stray)), at, sizeof at), stray);
    return CF_ECONFIG;
}

int cf_config_tls_ctx(const cf_config_t *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    static const char *const keys[] = {"tls.cert", "tls.key", "tls.client_ca"};
    cf_tls_opts_t o = {
        .cert = cfg->tls_cert,
        .key = cfg->tls_key,
        .client_ca = cfg->tls_client_ca,
        .min_version = strcmp(cfg->tls_min_version, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION,
        .client_mode = strcmp(cfg->tls_client_certs, "required") == 0   ? CF_TLS_CLIENT_REQUIRED
                       : strcmp(cfg->tls_client_certs, "optional") == 0 ? CF_TLS_CLIENT_OPTIONAL
                                                                        : CF_TLS_CLIENT_OFF,
    };
    cf_tls_field_t field = CF_TLS_FIELD_CERT;
    char msg[700], at[300];
    int rc = check_tls_fields(cfg, err, errlen);

    *out = NULL;
    if (rc < 0)
        return rc;
    rc = cf_tls_ctx_new(&o, out, &field, msg, sizeof msg);
    if (rc < 0)
        cf__config_say(err, errlen, "%s%s: %s",
                       where_set(cfg, cf__config_find(keys[field], strlen(keys[field])), at,
                                 sizeof at),
                       keys[field], msg);
    return rc;
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
/* Rules across fields, and where each level's elements live                 */
/* ------------------------------------------------------------------------ */

/* The key node of row @key of element @it, or NULL when it was not given. */
static const yaml_node_t *seen(const cf__item_t *it, const char *key)
{
    for (size_t i = 0; i < CF__FIELDS_MAX && it->rows[i].level == it->rows[0].level; i++)
        if (strcmp(it->rows[i].key, key) == 0)
            return it->seen[i];
    return NULL;
}

/*
 * Idle and absolute timeouts given together at one level (a client, a role)
 * must agree. One alone never contradicts anything: at run time the
 * strictest value of every level wins and the idle timeout is held to the
 * absolute one (core/policy.c), so only two explicit values can clash.
 */
static int limits_agree(loader_t *ld, const yaml_node_t *at, const char *where,
                        const cf_limits_t *l)
{
    char si[32], sa[32];

    if (l->idle_timeout == 0 || l->absolute_timeout == 0 ||
        l->idle_timeout <= l->absolute_timeout)
        return 0;
    if (cf_duration_format(l->idle_timeout, si, sizeof si) < 0 ||
        cf_duration_format(l->absolute_timeout, sa, sizeof sa) < 0)
        si[0] = sa[0] = '\0'; /* unreachable: both parsed as durations */
    return cf__config_fail_at(ld, at, "%sidle_timeout (%s) must not exceed %sabsolute_timeout (%s)",
                              where, si, where, sa);
}

static void client_init(void *obj)
{
    ((cf_client_t *)obj)->grants = CF_GRANT_REFRESH_TOKEN;
}

/*
 * token_endpoint_auth_method and what it needs (RFC 8705 §2.1.2): a secret
 * or a certificate, never both; tls_client_auth exactly one registered name,
 * well formed; self_signed a thumbprint. A public client has none of them.
 */
static int client_tls_check(loader_t *ld, cf__item_t *it)
{
    static const char *const names[] = {"tls_client_auth_subject_dn", "tls_client_auth_san_dns",
                                        "tls_client_auth_san_uri", "tls_client_auth_san_ip",
                                        "tls_client_auth_san_email"};
    const cf_client_t *c = it->obj;
    const char *const vals[] = {c->tls_dn, c->tls_san_dns, c->tls_san_uri, c->tls_san_ip,
                                c->tls_san_email};
    int tls = c->auth_method == CF_CLIENT_AUTH_TLS, self = c->auth_method == CF_CLIENT_AUTH_SELF_SIGNED;
    size_t nset = 0, last = 0;
    X509_NAME *dn = NULL;
    const char *why = "";
    uint8_t x5t[64];
    size_t x5t_len = 0;

    for (size_t i = 0; i < 5; i++)
        if (vals[i] != NULL) {
            nset++;
            last = i;
        }
    if ((tls || self) && c->type != CF_CLIENT_CONFIDENTIAL)
        return cf__config_fail_at(ld, seen(it, "token_endpoint_auth_method"),
                                  "%s: certificate authentication is for confidential clients "
                                  "(add type: confidential)", it->where);
    if ((tls || self) && c->secret_hash != NULL)
        return cf__config_fail_at(ld, seen(it, "secret_hash"),
                                  "%s: a client that authenticates with its certificate has no "
                                  "secret_hash (one method per client)", it->where);
    if (!tls && nset > 0)
        return cf__config_fail_at(ld, seen(it, names[last]),
                                  "%s.%s: only with token_endpoint_auth_method: tls_client_auth",
                                  it->where, names[last]);
    if (!self && c->tls_x5t != NULL)
        return cf__config_fail_at(ld, seen(it, "tls_client_auth_x5t_s256"),
                                  "%s.tls_client_auth_x5t_s256: only with "
                                  "token_endpoint_auth_method: self_signed_tls_client_auth",
                                  it->where);
    if (tls && nset != 1)
        return cf__config_fail_at(ld, seen(it, nset ? names[last] : "token_endpoint_auth_method"),
                                  "%s: tls_client_auth needs exactly one of "
                                  "tls_client_auth_subject_dn and tls_client_auth_san_* (%zu set)",
                                  it->where, nset);
    if (tls && last == 0) {
        if (cf_x509_dn_parse(c->tls_dn, &dn, &why) < 0)
            return cf__config_fail_at(ld, seen(it, names[0]), "%s.%s: '%s' is not an RFC 4514 "
                                      "DN: %s", it->where, names[0], c->tls_dn, why);
        X509_NAME_free(dn);
    } else if (tls && !cf_x509_san_ok((cf_x509_san_t)(last - 1), vals[last])) {
        return cf__config_fail_at(ld, seen(it, names[last]), "%s.%s: '%s' is not an IP address",
                                  it->where, names[last], vals[last]);
    }
    if (self && (c->tls_x5t == NULL || strlen(c->tls_x5t) != 43 ||
                 cf_b64url_decode(c->tls_x5t, 43, x5t, sizeof x5t, &x5t_len) < 0 ||
                 x5t_len != 32))
        return cf__config_fail_at(ld, seen(it, c->tls_x5t ? "tls_client_auth_x5t_s256"
                                                          : "token_endpoint_auth_method"),
                                  "%s: self_signed_tls_client_auth needs tls_client_auth_x5t_s256: "
                                  "43 base64url characters (SHA-256 of the certificate's DER)",
                                  it->where);
    return 0;
}

/* Type, secret and grants must fit together; ids are unique. */
static int client_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_client_t *all = items;
    cf_client_t *c = it->obj;
    char lw[192];

    (void)snprintf(lw, sizeof lw, "%s.session.", it->where);
    if (limits_agree(ld, it->at, lw, &c->limits) < 0)
        return CF_ECONFIG;
    if (c->scope == NULL && (c->scope = strdup("")) == NULL)
        return cf__config_oom(ld);
    if (c->id == NULL)
        return cf__config_fail_at(ld, it->at, "%s: id is required", it->where);
    for (size_t j = 0; j < i; j++)
        if (strcmp(all[j].id, c->id) == 0)
            return cf__config_fail_at(ld, it->at, "%s: duplicate client id '%s' (first on line %d)",
                                      it->where, c->id, all[j].line);
    if (client_tls_check(ld, it) < 0)
        return CF_ECONFIG;
    if (c->type == CF_CLIENT_CONFIDENTIAL && c->secret_hash == NULL &&
        c->auth_method <= CF_CLIENT_AUTH_SECRET_POST)
        return cf__config_fail_at(ld, seen(it, "type"),
                                  "%s: a confidential client needs secret_hash", it->where);
    if (c->type == CF_CLIENT_PUBLIC && c->secret_hash != NULL)
        return cf__config_fail_at(
            ld, seen(it, "secret_hash"),
            "%s: secret_hash is only for confidential clients (add type: confidential)",
            it->where);
    if ((c->grants & CF_GRANT_CLIENT_CREDENTIALS) && c->type != CF_CLIENT_CONFIDENTIAL)
        return cf__config_fail_at(ld, seen(it, "allowed_grants"),
                                  "%s: client_credentials needs a confidential client", it->where);
    if (c->grants == 0)
        return cf__config_fail_at(ld, seen(it, "allowed_grants"),
                                  "%s.allowed_grants: must not be empty", it->where);
    return 0;
}

static int role_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    char lw[192];

    (void)items;
    (void)i;
    (void)snprintf(lw, sizeof lw, "%s.", it->where);
    return limits_agree(ld, it->at, lw, &((cf_role_t *)it->obj)->limits);
}

static int route_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_route_t *r = it->obj;

    (void)items;
    (void)i;
    if (r->anonymous && r->deny)
        return cf__config_fail_at(ld, it->at, "%s: anonymous and deny cannot both be true",
                                  it->where);
    if (r->anonymous && (r->nrequire_roles > 0 || r->nrequire_scopes > 0 || r->max_auth_age > 0 ||
                         r->idle_timeout > 0))
        return cf__config_fail_at(ld, it->at,
                                  "%s: an anonymous route looks at no token, so it cannot "
                                  "require roles, scopes, max_auth_age or idle_timeout",
                                  it->where);
    return 0;
}

static void alert_init(void *obj)
{
    cf_alert_rule_t *r = obj;

    r->kind = CF_ALERT__COUNT; /* required: caught by alert_check() */
    r->threshold = 1;
    r->window = CF_MIN;
    r->action = CF_ALERT_ACT_NONE;
}

static int alert_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    cf_alert_rule_t *r = it->obj;

    (void)items;
    (void)i;
    if (r->kind == CF_ALERT__COUNT)
        return cf__config_fail_at(ld, it->at, "%s: kind is required", it->where);
    if (r->action == CF_ALERT_ACT_REVOKE_SESSION && r->kind != CF_ALERT_REFRESH_REUSE &&
        r->kind != CF_ALERT_REFRESH_RATE_PER_SESSION)
        return cf__config_fail_at(ld, it->at,
                                  "%s: revoke_session needs a per-session rule "
                                  "(refresh_reuse or refresh_rate_per_session)",
                                  it->where);
    if ((r->action == CF_ALERT_ACT_REVOKE_SUBJECT || r->action == CF_ALERT_ACT_DISABLE_REFRESH) &&
        (r->kind == CF_ALERT_CHECK_FAILURES_PER_IP || r->kind == CF_ALERT_IDLE_TIMEOUT_SPIKE))
        return cf__config_fail_at(ld, it->at, "%s: %s needs a rule that names a subject",
                                  it->where, cf_alert_action_name(r->action));
    if (r->action == CF_ALERT_ACT_DISABLE_REFRESH && r->action_duration == 0)
        r->action_duration = 15 * CF_MIN;
    return 0;
}

/*
 * Installing and discarding go through a scratch policy, so that
 * cf_policy_fini() stays the one place that knows what a client, role or
 * route owns.
 */
#define POLICY_PART(part, type)                                                                  \
    static void part##_install(cf_config_t *cfg, void *items, size_t n)                        \
    {                                                                                           \
        cf_policy_t old = {0};                                                                  \
        old.part = cfg->policy.part;                                                            \
        old.n##part = cfg->policy.n##part;                                                      \
        cf_policy_fini(&old);                                                                   \
        cfg->policy.part = items;                                                               \
        cfg->policy.n##part = n;                                                                \
    }                                                                                           \
    static void part##_discard(void *items, size_t n)                                          \
    {                                                                                           \
        cf_policy_t p = {0};                                                                    \
        p.part = items;                                                                         \
        p.n##part = n;                                                                          \
        cf_policy_fini(&p);                                                                     \
    }                                                                                           \
    static const void *part##_get(const cf_config_t *cfg, size_t *n)                           \
    {                                                                                           \
        *n = cfg->policy.n##part;                                                               \
        return cfg->policy.part;                                                                \
    }

POLICY_PART(clients, cf_client_t)
POLICY_PART(roles, cf_role_t)
POLICY_PART(routes, cf_route_t)

static void alerts_install(cf_config_t *cfg, void *items, size_t n)
{
    if (n > 0)
        memcpy(cfg->alert_rules, items, n * sizeof cfg->alert_rules[0]);
    cfg->nalert_rules = n;
    free(items);
}

static void alerts_discard(void *items, size_t n)
{
    (void)n;
    free(items); /* rules own no memory */
}

static const void *alerts_get(const cf_config_t *cfg, size_t *n)
{
    *n = cfg->nalert_rules;
    return cfg->alert_rules;
}

static const cf__level_t levels[] = {
    {.id = LVL_CLIENT, .name = "clients", .doc_prefix = "clients[].", .expect = "a list", .size = sizeof(cf_client_t),
     .line_off = offsetof(cf_client_t, line), .empty = " []", .init = client_init,
     .check = client_check, .install = clients_install, .discard = clients_discard,
     .get = clients_get},
    {.id = LVL_ROLE, .name = "roles", .doc_prefix = "roles.NAME.", .expect = "a mapping of role names", .named = 1,
     .name_what = "a role name", .name_ok = cf__config_name_ok, .size = sizeof(cf_role_t),
     .name_off = offsetof(cf_role_t, name), .line_off = offsetof(cf_role_t, line), .empty = " {}",
     .check = role_check, .install = roles_install, .discard = roles_discard, .get = roles_get},
    {.id = LVL_ROUTE, .name = "routes", .doc_prefix = "routes[].", .expect = "a list", .size = sizeof(cf_route_t),
     .line_off = offsetof(cf_route_t, line), .empty = " []", .check = route_check,
     .install = routes_install, .discard = routes_discard, .get = routes_get},
    {.id = LVL_ALERT, .name = "alerts.rules", .doc_prefix = "alerts.rules[].",
     .expect = "a list", .size = sizeof(cf_alert_rule_t),
     .line_off = offsetof(cf_alert_rule_t, line), .max = CF_CONFIG_ALERT_RULES_MAX,
     .empty = " []", .init = alert_init, .check = alert_check, .install = alerts_install,
     .discard = alerts_discard, .get = alerts_get},
};

const cf__level_t *cf__config_level(level_id_t id)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].id == id)
            return &levels[i];
    return cf__config_proxy_level(id);
}

/* ------------------------------------------------------------------------ */
/* Rules across sections                                                     */
/* ------------------------------------------------------------------------ */

static int role_defined(const cf_policy_t *p, const char *name)
{
    for (size_t i = 0; i < p->nroles; i++)
        if (strcmp(p->roles[i].name, name) == 0)
            return 1;
    return 0;
}

int cf__config_check_policy(loader_t *ld)
{
    const cf_policy_t *p = &ld->cfg->policy;

    /*
     * A route requiring a role that no roles: entry defines is almost always
     * a typo ("admins" for "admin"), and it fails closed in silence: every
     * session is refused there. Requiring the role to be declared, even as
     * `name: {}`, turns the typo into a message.
     */
    for (size_t i = 0; i < p->nroutes; i++)
        for (size_t j = 0; j < p->routes[i].nrequire_roles; j++) {
            const char *name = p->routes[i].require_roles[j];
            if (role_defined(p, name))
                continue;
            cf__config_say(ld->err, ld->errlen,
                           "%s:%d: routes[%zu].require_roles: role '%s' is not defined under "
                           "roles: (declare it, e.g. `%s: {}`)",
                           ld->name, p->routes[i].line, i, name, name);
            return CF_ECONFIG;
        }
    return cf__config_check_proxy(ld);
}
