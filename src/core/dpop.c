/* SPDX-License-Identifier: MIT
 *
 * DPoP proof verification and the proof-key cache (core/dpop.h; the jti
 * replay cache is dpop_replay.c). The order of the checks follows RFC 9449
 * §4.3; everything a client controls is bounded before it is parsed (the
 * proof's size, each member's type and length), and the key comes only from
 * the header's jwk, whose type pins the algorithm.
 */
#include "core/dpop.h"

#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"

#define MAX_JTI 256

static const char *str(json_t *o, const char *k, size_t *n)
{
    json_t *v = json_object_get(o, k);

    if (!json_is_string(v))
        return NULL;
    *n = json_string_length(v);
    return json_string_value(v);
}

/* P-256's parameters, built once: OpenSSL would rebuild the group from its name for every key. */
static CRYPTO_ONCE p256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_PKEY *p256_params;

static void p256_init(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &p256_params, EVP_PKEY_KEY_PARAMETERS, params) != 1)
        p256_params = NULL;
    EVP_PKEY_CTX_free(ctx);
}

/*
 * The P-256 public key of the uncompressed point @pt, or NULL when the point
 * is not on the curve (OpenSSL refuses it when setting it, and the quick
 * check again). The full public check would also multiply the point by the
 * group order, which on P-256 (cofactor 1) only confirms what on-the-curve
 * proves, and cost a third of each proof's verification (bench/check.sh
 * MODES=dpop). Duplicating the prebuilt parameters saves another tenth.
 */
static EVP_PKEY *p256_key(const uint8_t pt[65])
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *chk = NULL;

    if (CRYPTO_THREAD_run_once(&p256_once, p256_init) != 1 || p256_params == NULL ||
        (pk = EVP_PKEY_dup(p256_params)) == NULL)
        return NULL;
    if (EVP_PKEY_set1_encoded_public_key(pk, pt, 65) != 1 || (chk = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
        EVP_PKEY_public_check_quick(chk) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(chk);
    return pk;
}

/* A proof key as the key cache compares it: its type and raw public bytes. */
typedef struct {
    int ed;           /* 1: Ed25519, 0: P-256 */
    uint8_t raw[65];  /* Ed25519: x (32 bytes); P-256: 04 || x || y */
    size_t len;
    const char *x, *y; /* the jwk's members, for the thumbprint */
    size_t xn, yn;
} keymat_t;

/*
 * The public key material of the header's jwk, for @alg only: ES256 needs EC
 * P-256, EdDSA needs OKP Ed25519. A jwk carrying private members ("d" and the
 * RSA ones) is refused: a client that sends its private key has none left to
 * prove possession of. x and y decode canonically (core/b64url.h), so the
 * members' text and the key's bytes determine each other.
 */
static int jwk_material(json_t *jwk, const char *alg, keymat_t *m, const char **why)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};
    size_t n, got;
    const char *kty = str(jwk, "kty", &n), *crv = str(jwk, "crv", &n);

    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        if (json_object_get(jwk, priv[i]) != NULL) {
            *why = "the jwk holds a private key";
            return -1;
        }
    *why = "the jwk is not a P-256 (ES256) or Ed25519 (EdDSA) public key";
    m->ed = strcmp(alg, "EdDSA") == 0;
    m->x = str(jwk, "x", &m->xn);
    m->yn = 0;
    m->y = m->ed ? NULL : str(jwk, "y", &m->yn);
    if (kty == NULL || crv == NULL || m->x == NULL || strcmp(kty, m->ed ? "OKP" : "EC") != 0 ||
        strcmp(crv, m->ed ? "Ed25519" : "P-256") != 0)
        return -1;
    if (m->ed) {
        m->len = 32;
        return cf_b64url_decode(m->x, m->xn, m->raw, 32, &got) == 0 && got == 32 ? 0 : -1;
    }
    m->len = 65;
    m->raw[0] = 0x04;
    return m->y != NULL && cf_b64url_decode(m->x, m->xn, m->raw + 1, 32, &got) == 0 && got == 32 &&
                   cf_b64url_decode(m->y, m->yn, m->raw + 33, 32, &got) == 0 && got == 32
               ? 0
               : -1;
}

/* The key of @m imported into OpenSSL (a P-256 point off the curve: NULL). */
static EVP_PKEY *import_key(const keymat_t *m)
{
    return m->ed ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, m->raw, 32) : p256_key(m->raw);
}

/*
 * RFC 7638 §3.2: the required members only, in lexicographic order, no
 * whitespace, hashed with SHA-256. @y is NULL for OKP. The member values are
 * base64url or a curve name checked by the caller, so nothing needs escaping.
 */
static int thumb(const char *kty, const char *crv, size_t cn, const char *x, size_t xn,
                 const char *y, size_t yn, uint8_t h[CF_SHA256_LEN])
{
    char buf[256];
    int w;

    if (xn >= 64 || cn >= 16 || yn >= 64)
        return CF_EINVAL;
    if (y != NULL)
        w = snprintf(buf, sizeof buf, "{\"crv\":\"%.*s\",\"kty\":\"%s\",\"x\":\"%.*s\",\"y\":\"%.*s\"}",
                     (int)cn, crv, kty, (int)xn, x, (int)yn, y);
    else
        w = snprintf(buf, sizeof buf, "{\"crv\":\"%.*s\",\"kty\":\"%s\",\"x\":\"%.*s\"}", (int)cn, crv,
                     kty, (int)xn, x);
    if (w <= 0 || (size_t)w >= sizeof buf)
        return CF_EINVAL;
    cf_sha256(buf, (size_t)w, h);
    return 0;
}

static void jkt_text(const uint8_t h[CF_SHA256_LEN], char out[CF_DPOP_JKT_LEN + 1])
{
    out[cf_b64url_encode(h, CF_SHA256_LEN, out)] = '\0';
}

/* One DER INTEGER of the unsigned big-endian @v (32 bytes) at @out; its length. */
static size_t der_int(const uint8_t *v, uint8_t *out)
{
    size_t i = 0, n;

    while (i < 31 && v[i] == 0) /* minimal: no leading zero bytes, but at least one byte */
        i++;
    n = 32 - i;
    out[0] = 0x02;
    if (v[i] & 0x80) { /* a zero byte keeps it positive */
        out[1] = (uint8_t)(n + 1);
        out[2] = 0;
        memcpy(out + 3, v + i, n);
        return n + 3;
    }
    out[1] = (uint8_t)n;
    memcpy(out + 2, v + i, n);
    return n + 2;
}

/*
 * Verify @sig over @msg with @pk. ES256 signatures are r||s (64 bytes), made
 * DER here, and verified over the message's SHA-256 through @vctx (an
 * EVP_PKEY_verify context of @pk, reusable: the key cache keeps one).
 */
static int sig_ok(EVP_PKEY *pk, EVP_PKEY_CTX *vctx, int ed, const uint8_t *sig, size_t slen,
                  const char *msg, size_t mlen)
{
    EVP_MD_CTX *md;
    uint8_t der[2 + 2 * 35], h[CF_SHA256_LEN];
    size_t dlen;
    int ok;

    if (slen != 64)
        return 0;
    if (!ed) {
        dlen = der_int(sig, der + 2);
        dlen += der_int(sig + 32, der + 2 + dlen);
        der[0] = 0x30; /* SEQUENCE, at most 70 bytes: a short length */
        der[1] = (uint8_t)dlen;
        cf_sha256(msg, mlen, h);
        return vctx != NULL && EVP_PKEY_verify(vctx, der, dlen + 2, h, sizeof h) == 1;
    }
    if ((md = EVP_MD_CTX_new()) == NULL)
        return 0;
    ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
         EVP_DigestVerify(md, sig, slen, (const unsigned char *)msg, mlen) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* An ES256 verify context for @pk (NULL for Ed25519, or when out of memory). */
static EVP_PKEY_CTX *verify_ctx(EVP_PKEY *pk, int ed)
{
    EVP_PKEY_CTX *c = ed ? NULL : EVP_PKEY_CTX_new(pk, NULL);

    if (c != NULL && (EVP_PKEY_verify_init(c) != 1 || EVP_PKEY_CTX_set_signature_md(c, cf_sha256_md()) != 1)) {
        EVP_PKEY_CTX_free(c);
        c = NULL;
    }
    return c;
}

int cf_dpop_jwk_thumbprint(const char *jwk_json, size_t len, char out[CF_DPOP_JKT_LEN + 1])
{
    json_t *j = json_loadb(jwk_json, len, JSON_REJECT_DUPLICATES, NULL);
    uint8_t h[CF_SHA256_LEN];
    size_t kn = 0, cn = 0, xn = 0, yn = 0;
    const char *kty, *crv, *x, *y = NULL;
    int rc = CF_EINVAL;

    if (j == NULL)
        return CF_EINVAL;
    kty = str(j, "kty", &kn);
    crv = str(j, "crv", &cn);
    x = str(j, "x", &xn);
    if (kty != NULL && strcmp(kty, "EC") == 0)
        y = str(j, "y", &yn);
    if (kty != NULL && crv != NULL && x != NULL &&
        ((strcmp(kty, "EC") == 0 && y != NULL) || strcmp(kty, "OKP") == 0) &&
        strlen(crv) == cn && strlen(x) == xn && (y == NULL || strlen(y) == yn))
        rc = thumb(kty, crv, cn, x, xn, y, yn, h);
    json_decref(j);
    if (rc == 0)
        jkt_text(h, out);
    return rc;
}

/* ------------------------------------------------------------------ htu */

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* RFC 3986 §5.2.4 on @p (NUL-terminated, starting with '/'), in place. */
static void remove_dots(char *p)
{
    char *in = p, *out = p;

    while (*in != '\0') {
        if (strncmp(in, "/./", 3) == 0) {
            in += 2;
        } else if (strcmp(in, "/.") == 0) {
            in += 1;
            *in = '/';
        } else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            in += in[3] == '/' ? 3 : 2;
            *in = '/';
            while (out > p && *--out != '/') /* drop the last output segment */
                ;
        } else {
            do
                *out++ = *in++;
            while (*in != '\0' && *in != '/');
        }
    }
    *out = '\0';
    if (p[0] == '\0')
        strcpy(p, "/");
}

/* HOST[:PORT] from @url at *@i into @out at *@o: host lower-cased, the default port dropped. */
static int authority(const char *url, size_t len, size_t *i, int https, char *out, size_t cap,
                     size_t *o)
{
    size_t hstart = *i, k = *i, plen;
    const char *port;
    long pv;

    if (k < len && url[k] == '[') {
        /* An IPv6 literal: hex digits, ':' and '.' only (no zone id, no
         * IPvFuture), and the authority ends at its ']' (the fuzzer found
         * NULs inside and "[::1]v1/x" read as "[::1]/v1/x"). */
        for (k++; k < len && url[k] != ']'; k++)
            if (!isxdigit((unsigned char)url[k]) && url[k] != ':' && url[k] != '.')
                return CF_EINVAL;
        if (k == len || k == hstart + 1)
            return CF_EINVAL;
        k++;
        if (k < len && url[k] != ':' && url[k] != '/' && url[k] != '?' && url[k] != '#')
            return CF_EINVAL;
    } else {
        for (; k < len && url[k] != ':' && url[k] != '/' && url[k] != '?' && url[k] != '#'; k++)
            if (url[k] == '@' || (unsigned char)url[k] <= 0x20 || (unsigned char)url[k] >= 0x7f ||
                url[k] == '%' || url[k] == '\\' || url[k] == '[' || url[k] == ']')
                return CF_EINVAL; /* userinfo, spaces and encoded hosts are not ours to guess */
    }
    if (k == hstart || *o + (k - hstart) + 8 >= cap)
        return CF_EINVAL;
    for (size_t j = hstart; j < k; j++)
        out[(*o)++] = lower(url[j]);
    if (k < len && url[k] == ':') {
        port = url + ++k;
        while (k < len && url[k] >= '0' && url[k] <= '9')
            k++;
        plen = (size_t)(url + k - port);
        if (plen > 5 || (k < len && url[k] != '/' && url[k] != '?' && url[k] != '#'))
            return CF_EINVAL;
        while (plen > 1 && port[0] == '0')
            port++, plen--;
        /* By hand within @len: strtol read on past a port that ends the URL (found by fuzz_dpop). */
        pv = 0;
        for (size_t j = 0; j < plen; j++)
            pv = pv * 10 + (port[j] - '0');
        if (plen > 0 && (pv == 0 || pv > 65535))
            return CF_EINVAL;
        if (plen > 0 && pv != (https ? 443 : 80)) {
            out[(*o)++] = ':';
            memcpy(out + *o, port, plen);
            *o += plen;
        }
    }
    *i = k;
    return 0;
}

int cf_dpop_htu_normalize(const char *url, size_t len, char *out, size_t cap)
{
    size_t i, o, pstart;
    int https;

    if (cap < 16 || len == 0)
        return CF_EINVAL;
    if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
        https = 1, i = 8;
    else if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
        https = 0, i = 7;
    else
        return CF_EINVAL;
    o = (size_t)snprintf(out, cap, "%s://", https ? "https" : "http");
    if (authority(url, len, &i, https, out, cap, &o) < 0)
        return CF_EINVAL;
    pstart = o;
    if (i >= len || url[i] != '/')
        out[o++] = '/';
    for (; i < len && url[i] != '?' && url[i] != '#'; i++) {
        unsigned char c = (unsigned char)url[i];
        int hi, lo;

        if (o + 4 >= cap || c <= 0x20 || c >= 0x7f)
            return CF_EINVAL;
        if (c != '%') {
            out[o++] = (char)c;
            continue;
        }
        hi = i + 2 < len ? cf_hex_digit(url[i + 1]) : -1;
        lo = i + 2 < len ? cf_hex_digit(url[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return CF_EINVAL;
        i += 2;
        if (unreserved(hi << 4 | lo))
            out[o++] = (char)(hi << 4 | lo);
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", hi << 4 | lo);
    }
    out[o] = '\0';
    remove_dots(out + pstart);
    return 0;
}

/* -------------------------------------------------------------- the proof */

typedef struct {
    json_t *hdr, *claims;
    const char *alg;
    uint8_t sig[64];
    size_t slen;
    size_t signed_len; /* header.payload */
} parts_t;

static cf_reason_t parse(const cf_dpop_input_t *in, parts_t *p, const char **why)
{
    const char *d1, *d2, *tok = in->proof;
    size_t n = in->proof_len, hl, pl, got, tl;
    uint8_t buf[CF_DPOP_MAX_PROOF];

    *why = "the DPoP proof is not a compact JWS";
    if (n == 0 || n > CF_DPOP_MAX_PROOF) {
        *why = n == 0 ? "the DPoP header is empty" : "the DPoP proof is too large";
        return CF_REASON_DPOP_INVALID;
    }
    d1 = memchr(tok, '.', n);
    d2 = d1 != NULL ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)) != NULL)
        return CF_REASON_DPOP_INVALID;
    hl = (size_t)(d1 - tok);
    pl = (size_t)(d2 - d1 - 1);
    p->signed_len = (size_t)(d2 - tok);
    if (cf_b64url_decode(tok, hl, buf, sizeof buf, &got) < 0 ||
        (p->hdr = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
        !json_is_object(p->hdr))
        return CF_REASON_DPOP_INVALID;
    if (cf_b64url_decode(d1 + 1, pl, buf, sizeof buf, &got) < 0 ||
        (p->claims = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
        !json_is_object(p->claims))
        return CF_REASON_DPOP_INVALID;
    if (cf_b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - tok), p->sig, sizeof p->sig, &p->slen) < 0)
        return CF_REASON_DPOP_INVALID;
    p->alg = str(p->hdr, "alg", &tl);
    {
        const char *typ = str(p->hdr, "typ", &tl);

        *why = "the DPoP proof's typ is not dpop+jwt";
        if (typ == NULL || strcasecmp(typ, "dpop+jwt") != 0)
            return CF_REASON_DPOP_INVALID;
    }
    *why = "the DPoP proof's alg is not ES256 or EdDSA";
    if (p->alg == NULL || (strcmp(p->alg, "ES256") != 0 && strcmp(p->alg, "EdDSA") != 0))
        return CF_REASON_DPOP_INVALID;
    *why = "the DPoP proof's header has no jwk object";
    if (!json_is_object(json_object_get(p->hdr, "jwk")))
        return CF_REASON_DPOP_INVALID;
    return CF_REASON_NONE;
}

/* htm, htu, iat, ath and nonce against the request. */
static cf_reason_t claims(const cf_dpop_input_t *in, json_t *c, cf_dpop_proof_t *out, const char **why)
{
    char want[CF_DPOP_MAX_URL], got[CF_DPOP_MAX_URL], ath[CF_DPOP_JKT_LEN + 1];
    uint8_t h[CF_SHA256_LEN];
    size_t n;
    const char *s;
    json_t *iat = json_object_get(c, "iat");

    s = str(c, "jti", &n);
    *why = "the DPoP proof has no jti (or one over 256 bytes)";
    if (s == NULL || n == 0 || n > MAX_JTI)
        return CF_REASON_DPOP_INVALID;
    cf_sha256(s, n, h);
    memcpy(out->jti_hash, h, sizeof out->jti_hash);
    s = str(c, "htm", &n);
    *why = "the DPoP proof's htm is not this request's method";
    if (s == NULL || n != in->htm_len || memcmp(s, in->htm, n) != 0)
        return CF_REASON_DPOP_INVALID;
    s = str(c, "htu", &n);
    *why = "the DPoP proof's htu is not this request's URL";
    if (s == NULL || cf_dpop_htu_normalize(s, n, got, sizeof got) < 0 ||
        cf_dpop_htu_normalize(in->htu, in->htu_len, want, sizeof want) < 0 || strcmp(got, want) != 0)
        return CF_REASON_DPOP_INVALID;
    *why = "the DPoP proof's iat is not an integer within the accepted window";
    if (!json_is_integer(iat) || json_integer_value(iat) < in->now - in->window ||
        json_integer_value(iat) > in->now + in->leeway)
        return CF_REASON_DPOP_INVALID;
    /* The replay cache is in memory and began at not_before: it cannot tell
     * whether an older proof was spent before a restart. */
    *why = "the DPoP proof was made before this server started; make a new one";
    if (json_integer_value(iat) < in->not_before)
        return CF_REASON_DPOP_INVALID;
    out->iat = json_integer_value(iat);
    if (in->access_token != NULL) {
        s = str(c, "ath", &n);
        cf_sha256(in->access_token, in->at_len, h);
        ath[cf_b64url_encode(h, sizeof h, ath)] = '\0';
        *why = "the DPoP proof's ath is not the hash of this access token";
        if (s == NULL || n != CF_DPOP_JKT_LEN || !cf_ct_equal(s, ath, n))
            return CF_REASON_DPOP_INVALID;
    }
    if (in->nonce != NULL) {
        s = str(c, "nonce", &n);
        *why = "the DPoP proof must carry the server's nonce (DPoP-Nonce)";
        if (s == NULL || n != in->nonce_len || !cf_ct_equal(s, in->nonce, n))
            return CF_REASON_USE_DPOP_NONCE;
    }
    return CF_REASON_NONE;
}

/* ------------------------------------------------------------- key cache */

#define KEY_WAYS 4 /* a set-associative table: a set's least recently used key goes */

typedef struct {
    uint64_t used; /* 0: empty */
    EVP_PKEY *pk;
    EVP_PKEY_CTX *vctx; /* ES256: its verify context */
    keymat_t m; /* only ed, raw and len are kept */
} key_entry_t;

struct cf_dpop_keys {
    size_t sets;
    uint64_t tick;
    cf_dpop_keys_stats_t st;
    key_entry_t *e; /* sets * KEY_WAYS */
};

cf_dpop_keys_t *cf_dpop_keys_new(size_t entries)
{
    cf_dpop_keys_t *k = calloc(1, sizeof *k);

    if (k == NULL || entries == 0 || entries > ((size_t)1 << 20)) {
        free(k);
        return NULL;
    }
    k->sets = (entries + KEY_WAYS - 1) / KEY_WAYS;
    k->e = calloc(k->sets * KEY_WAYS, sizeof *k->e);
    if (k->e == NULL) {
        free(k);
        return NULL;
    }
    return k;
}

void cf_dpop_keys_free(cf_dpop_keys_t *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->sets * KEY_WAYS; i++) {
        EVP_PKEY_CTX_free(k->e[i].vctx);
        EVP_PKEY_free(k->e[i].pk);
    }
    free(k->e);
    free(k);
}

void cf_dpop_keys_stats(const cf_dpop_keys_t *k, cf_dpop_keys_stats_t *out)
{
    *out = k->st;
}

/* @h (the key's thumbprint) picks the set; the key's own bytes decide a hit. */
static key_entry_t *key_set(cf_dpop_keys_t *k, const uint8_t h[CF_SHA256_LEN])
{
    uint64_t v;

    memcpy(&v, h, sizeof v);
    return k->e + (v % k->sets) * KEY_WAYS;
}

static key_entry_t *key_find(cf_dpop_keys_t *k, const uint8_t h[CF_SHA256_LEN], const keymat_t *m)
{
    key_entry_t *set = key_set(k, h);

    for (int i = 0; i < KEY_WAYS; i++)
        if (set[i].used != 0 && set[i].m.ed == m->ed && set[i].m.len == m->len &&
            memcmp(set[i].m.raw, m->raw, m->len) == 0) {
            set[i].used = ++k->tick;
            k->st.hits++;
            return &set[i];
        }
    k->st.misses++;
    return NULL;
}

/* Keep @pk and @vctx (owned from now on) for @m, in place of its set's least recently used key. */
static void key_keep(cf_dpop_keys_t *k, const uint8_t h[CF_SHA256_LEN], const keymat_t *m, EVP_PKEY *pk,
                     EVP_PKEY_CTX *vctx)
{
    key_entry_t *set = key_set(k, h), *old = set;

    for (int i = 1; i < KEY_WAYS; i++)
        if (set[i].used < old->used)
            old = &set[i];
    if (old->used != 0) {
        EVP_PKEY_CTX_free(old->vctx);
        EVP_PKEY_free(old->pk);
        k->st.evictions++;
    } else {
        k->st.entries++;
    }
    old->used = ++k->tick;
    old->pk = pk;
    old->vctx = vctx;
    old->m.ed = m->ed;
    old->m.len = m->len;
    memcpy(old->m.raw, m->raw, m->len);
}

/* ------------------------------------------------------------ the verify */

/* The jwk's key, thumbprint and signature over the proof (@p parsed). */
static cf_reason_t key_and_signature(const cf_dpop_input_t *in, parts_t *p, cf_dpop_proof_t *out,
                                     const char **why)
{
    keymat_t m;
    uint8_t h[CF_SHA256_LEN];
    key_entry_t *e;
    EVP_PKEY *pk;
    EVP_PKEY_CTX *vctx;
    int ok;

    if (jwk_material(json_object_get(p->hdr, "jwk"), p->alg, &m, why) < 0)
        return CF_REASON_DPOP_INVALID;
    *why = "the DPoP proof's jwk has no thumbprint";
    if (thumb(m.ed ? "OKP" : "EC", m.ed ? "Ed25519" : "P-256", m.ed ? 7 : 5, m.x, m.xn, m.y, m.yn, h) < 0)
        return CF_REASON_DPOP_INVALID;
    jkt_text(h, out->jkt);
    if (in->keys != NULL && (e = key_find(in->keys, h, &m)) != NULL) {
        *why = "the DPoP proof's signature does not verify with its jwk";
        return sig_ok(e->pk, e->vctx, m.ed, p->sig, p->slen, in->proof, p->signed_len)
                   ? CF_REASON_NONE
                   : CF_REASON_DPOP_INVALID;
    }
    *why = "the jwk is not a P-256 (ES256) or Ed25519 (EdDSA) public key";
    if ((pk = import_key(&m)) == NULL)
        return CF_REASON_DPOP_INVALID;
    vctx = verify_ctx(pk, m.ed);
    *why = "the DPoP proof's signature does not verify with its jwk";
    ok = sig_ok(pk, vctx, m.ed, p->sig, p->slen, in->proof, p->signed_len);
    /* Only a key that signed a proof is kept: junk cannot churn the cache. */
    if (ok && in->keys != NULL) {
        key_keep(in->keys, h, &m, pk, vctx);
    } else {
        EVP_PKEY_CTX_free(vctx);
        EVP_PKEY_free(pk);
    }
    return ok ? CF_REASON_NONE : CF_REASON_DPOP_INVALID;
}

cf_reason_t cf_dpop_verify(const cf_dpop_input_t *in, cf_dpop_proof_t *out, const char **why)
{
    parts_t p = {0};
    cf_reason_t r;

    memset(out, 0, sizeof *out);
    r = parse(in, &p, why);
    if (r == CF_REASON_NONE)
        r = key_and_signature(in, &p, out, why);
    if (r == CF_REASON_NONE)
        r = claims(in, p.claims, out, why);
    if (r == CF_REASON_NONE)
        *why = "ok";
    else
        memset(out->jkt, 0, sizeof out->jkt);
    json_decref(p.hdr);
    json_decref(p.claims);
    return r;
}
