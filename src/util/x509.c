/* SPDX-License-Identifier: MIT
 *
 * Client certificates for RFC 8705 (util/x509.h).
 */
#include "util/x509.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"

#define DN_MAX 1024 /* longest DN text and longest value */

void cf_x509_x5t(X509 *x, char x5t[44])
{
    unsigned char *der = NULL;
    uint8_t h[CF_SHA256_LEN];
    int n = i2d_X509(x, &der);

    x5t[0] = '\0';
    if (n <= 0)
        return;
    cf_sha256(der, (size_t)n, h);
    OPENSSL_free(der);
    x5t[cf_b64url_encode(h, sizeof h, x5t)] = '\0';
}

/* %XX -> byte into @out (cap bytes); returns the length or -1. */
static long unescape(const char *in, size_t len, char *out, size_t cap)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;

        if (n >= cap)
            return -1;
        if (in[i] == '%' && i + 2 < len && (hi = cf_hex_digit(in[i + 1])) >= 0 &&
            (lo = cf_hex_digit(in[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = in[i];
        }
    }
    return (long)n;
}

X509 *cf_x509_from_pem(const char *pem, size_t len)
{
    char buf[16384];
    long n = unescape(pem, len, buf, sizeof buf);
    BIO *b;
    X509 *x;

    if (n <= 0)
        return NULL;
    b = BIO_new_mem_buf(buf, (int)n);
    if (b == NULL)
        return NULL;
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    return x;
}

/* RFC 4514 §3: characters that may follow a backslash as themselves. */
static int dn_special(char c)
{
    return c != '\0' && strchr(" \"#+,;<=>\\", c) != NULL;
}

/*
 * One "type=value" from @s up to an unescaped ',' (or the end) into @type
 * and @val (unescaped, @vlen bytes). Returns the characters consumed, or -1
 * with *@why set.
 */
static long dn_rdn(const char *s, char *type, size_t tcap, char *val, size_t *vlen,
                   const char **why)
{
    const char *s0 = s, *eq = strchr(s, '='), *p;
    size_t tl, n = 0, keep = 0;

    while (*s == ' ')
        s++;
    if (eq == NULL || eq == s) {
        *why = "each RDN must be TYPE=VALUE";
        return -1;
    }
    for (tl = (size_t)(eq - s); tl > 0 && s[tl - 1] == ' '; tl--)
        ;
    if (tl == 0 || tl >= tcap || strcspn(s, ",+\\") < (size_t)(eq - s)) {
        *why = "an RDN's type must be a name or a dotted OID";
        return -1;
    }
    memcpy(type, s, tl);
    type[tl] = '\0';
    for (p = eq + 1; *p == ' '; p++)
        ;
    if (*p == '#') {
        *why = "hex-encoded (#...) values are not supported";
        return -1;
    }
    for (; *p != '\0' && *p != ','; p++) {
        int hi, lo;

        if (n + 1 >= DN_MAX) {
            *why = "a value is too long";
            return -1;
        }
        if (*p == '+') {
            *why = "multi-valued RDNs (+) are not supported";
            return -1;
        }
        if (*p != '\\') {
            val[n++] = *p;
            if (*p != ' ')
                keep = n;
            continue;
        }
        if (dn_special(p[1])) {
            val[n++] = *++p;
        } else if ((hi = cf_hex_digit(p[1])) >= 0 && (lo = cf_hex_digit(p[2])) >= 0) {
            val[n++] = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *why = "a backslash must escape a special character or two hex digits";
            return -1;
        }
        keep = n; /* an escaped character, even a space, is kept */
    }
    *vlen = keep; /* unescaped trailing spaces are not part of the value */
    if (keep == 0) {
        *why = "an RDN has an empty value";
        return -1;
    }
    return (long)(p - s0);
}

/* Add type=value at the front of @name; types are case-insensitive (cn = CN). */
static int add_entry(X509_NAME *name, char *type, const char *val, size_t vlen)
{
    if (X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8, (const unsigned char *)val,
                                   (int)vlen, 0, 0) == 1)
        return 1;
    ERR_clear_error();
    for (char *t = type; *t != '\0'; t++)
        *t = (char)toupper((unsigned char)*t);
    return X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8, (const unsigned char *)val,
                                      (int)vlen, 0, 0);
}

int cf_x509_dn_parse(const char *dn, X509_NAME **out, const char **why)
{
    X509_NAME *name;
    const char *p = dn;
    char type[64], val[DN_MAX];

    *out = NULL;
    *why = dn == NULL || dn[0] == '\0' ? "empty" : "longer than 1023 bytes";
    if (dn == NULL || dn[0] == '\0' || strlen(dn) >= DN_MAX)
        return CF_EINVAL;
    name = X509_NAME_new();
    if (name == NULL)
        return CF_ENOMEM;
    for (;;) {
        const char *start = p;
        size_t vlen = 0;
        long used;

        while (*start == ' ')
            start++;
        used = dn_rdn(start, type, sizeof type, val, &vlen, why);
        if (used < 0)
            goto bad;
        /* RFC 4514 writes the last RDN first: each one goes in front of those before it. */
        if (add_entry(name, type, val, vlen) != 1) {
            *why = "unknown attribute type";
            goto bad;
        }
        p = start + used;
        if (*p == '\0')
            break;
        p++; /* the ',' */
    }
    ERR_clear_error();
    *out = name;
    return 0;
bad:
    ERR_clear_error();
    X509_NAME_free(name);
    return CF_EINVAL;
}

int cf_x509_dn_match(X509 *x, const char *dn)
{
    X509_NAME *want = NULL;
    const char *why;
    int ok;

    if (x == NULL || cf_x509_dn_parse(dn, &want, &why) < 0)
        return 0;
    /* Canonical encodings, RDN by RDN (what OpenSSL itself uses to match issuers). */
    ok = X509_NAME_cmp(X509_get_subject_name(x), want) == 0;
    X509_NAME_free(want);
    ERR_clear_error();
    return ok;
}

/* The GENERAL_NAME type of @kind. */
static int gen_type(cf_x509_san_t kind)
{
    static const int types[] = {[CF_X509_SAN_DNS] = GEN_DNS,
                                [CF_X509_SAN_URI] = GEN_URI,
                                [CF_X509_SAN_IP] = GEN_IPADD,
                                [CF_X509_SAN_EMAIL] = GEN_EMAIL};
    return types[kind];
}

/* @want as address bytes (4 or 16) into @out; the length or 0. */
static size_t ip_bytes(const char *want, unsigned char out[16])
{
    if (inet_pton(AF_INET, want, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, want, out) == 1)
        return 16;
    return 0;
}

int cf_x509_san_ok(cf_x509_san_t kind, const char *want)
{
    unsigned char ip[16];

    if (want == NULL || want[0] == '\0')
        return 0;
    return kind != CF_X509_SAN_IP || ip_bytes(want, ip) > 0;
}

static int san_equal(cf_x509_san_t kind, const ASN1_STRING *s, const char *want)
{
    const unsigned char *d = ASN1_STRING_get0_data(s);
    size_t n = (size_t)ASN1_STRING_length(s), wl = strlen(want);
    unsigned char ip[16];

    if (kind == CF_X509_SAN_IP) {
        size_t il = ip_bytes(want, ip);
        return il > 0 && il == n && memcmp(d, ip, n) == 0;
    }
    if (n != wl || memchr(d, '\0', n) != NULL)
        return 0;
    return kind == CF_X509_SAN_DNS ? strncasecmp((const char *)d, want, n) == 0
                                   : memcmp(d, want, n) == 0;
}

int cf_x509_san_match(X509 *x, cf_x509_san_t kind, const char *want)
{
    GENERAL_NAMES *names;
    int found = 0;

    if (x == NULL || !cf_x509_san_ok(kind, want))
        return 0;
    names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && !found; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        int type;
        const ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);

        found = type == gen_type(kind) && s != NULL && san_equal(kind, s, want);
    }
    GENERAL_NAMES_free(names);
    ERR_clear_error();
    return found;
}

int cf_x509_valid_at(X509 *x, int64_t now)
{
    time_t t = (time_t)now;

    return x != NULL && X509_cmp_time(X509_get0_notBefore(x), &t) < 0 &&
           X509_cmp_time(X509_get0_notAfter(x), &t) > 0;
}

X509_STORE *cf_x509_store_load(const char *path)
{
    X509_STORE *st = X509_STORE_new();

    if (st != NULL && X509_STORE_load_file(st, path) != 1) {
        X509_STORE_free(st);
        st = NULL;
    }
    ERR_clear_error();
    return st;
}

int cf_x509_verify(X509_STORE *store, X509 *x, int64_t now)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;

    if (ctx != NULL && store != NULL && x != NULL && X509_STORE_CTX_init(ctx, store, x, NULL) == 1) {
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);

        X509_VERIFY_PARAM_set_time(param, (time_t)now);
        (void)X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        ok = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}
